"""SAC mechanics: soft target, losses, config, checkpoints, determinism, resume, the strategy."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from support import PLAIN_SAC, random_returns

from maxent_portfolio.agents import SAC, Agent, SACConfig, load_checkpoint, soft_target, train
from maxent_portfolio.agents.buffer import ReplayBufferSamples
from maxent_portfolio.agents.loop import final_observations
from maxent_portfolio.envs import PortfolioVectorEnv
from maxent_portfolio.errors import ConfigError, DataError
from maxent_portfolio.seeding import fold_seed

torch.set_num_threads(1)
F = 7


def _env(seed: int = 0, episode_length: int = 10) -> PortfolioVectorEnv:
    return PortfolioVectorEnv(num_envs=2, universe=random_returns(), lookback=10,
                              episode_length=episode_length, seed=seed)


def _tiny(**kw: object) -> SACConfig:
    base: dict[str, object] = dict(total_steps=30, num_envs=2, learning_starts=8, batch_size=16,
                                   hidden=(16, 16), utd_ratio=1.0, log_every=5, seed=3,
                                   **PLAIN_SAC)
    base.update(kw)
    return SACConfig.from_dict(base)


def _same_weights(a: Agent, b: Agent) -> bool:
    sa, sb = a.algorithm.state_dict(), b.algorithm.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_soft_target_by_hand() -> None:
    """y = r + gamma (1 - done) (min(Q1', Q2') - alpha log pi)."""
    y = soft_target(torch.tensor([1.0, 1.0, -0.5]), torch.tensor([0.0, 1.0, 0.0]),
                    torch.tensor([2.0, 2.0, 4.0]), torch.tensor([-1.0, -1.0, 0.5]), 0.5, 0.9)
    # 1 + 0.9 (2 + 0.5) = 3.25 ; terminated: 1 ; -0.5 + 0.9 (4 - 0.25) = 2.875
    torch.testing.assert_close(y, torch.tensor([3.25, 1.0, 2.875]))


@pytest.mark.parametrize("policy", ["dirichlet", "logistic-normal"])
@pytest.mark.parametrize("network", ["shared", "mlp"])
def test_critic_loss_equals_an_independent_computation(policy: str, network: str) -> None:
    torch.manual_seed(0)
    config = _tiny(policy=policy, network=network, gamma=0.8, reward_scale=10.0, alpha=0.3)
    sac = SAC(3, F, config)
    b, k = 6, 4
    obs = torch.cat([torch.randn(b, 3 * F), torch.full((b, k), 0.25)], -1)
    batch = ReplayBufferSamples(obs, torch.full((b, k), 0.25), obs.flip(0),
                                torch.linspace(-0.01, 0.01, b), torch.tensor([0., 1, 0, 0, 1, 0]))
    torch.manual_seed(11)
    losses = sac.losses(batch)
    torch.manual_seed(11)  # the next-state policy sample is the first draw of `losses`
    with torch.no_grad():
        next_pi = sac.head.sample(sac.actor(batch.next_observations))
        q_next = sac.qf_target(batch.next_observations, next_pi.action)
        q = sac.qf(batch.observations, batch.actions)
    expected = 0.0
    for i in range(b):
        q1n, q2n = float(q_next[0, i]), float(q_next[1, i])
        y = 10.0 * float(batch.rewards[i]) + 0.8 * (1 - float(batch.dones[i])) * (
            min(q1n, q2n) - 0.3 * float(next_pi.log_prob[i]))
        expected += ((float(q[0, i]) - y) ** 2 + (float(q[1, i]) - y) ** 2) / b
    assert float(losses.qf_loss.detach()) == pytest.approx(expected, rel=1e-5)


def test_each_loss_moves_only_its_own_parameters() -> None:
    torch.manual_seed(1)
    sac = SAC(3, F, _tiny())
    b = 8
    obs = torch.cat([torch.randn(b, 3 * F), torch.full((b, 4), 0.25)], -1)
    batch = ReplayBufferSamples(obs, torch.full((b, 4), 0.25), obs, torch.zeros(b), torch.zeros(b))
    out = sac.losses(batch)
    actor_grads = torch.autograd.grad(out.actor_loss, list(sac.qf.parameters()),
                                      allow_unused=True)
    assert all(g is None for g in actor_grads)  # the actor loss sees frozen critics
    qf_grads = torch.autograd.grad(out.qf_loss, list(sac.actor.parameters()), allow_unused=True)
    assert all(g is None for g in qf_grads)
    (g_alpha,) = torch.autograd.grad(out.alpha_loss, [sac.log_alpha])
    expected = -float((out.log_prob.detach() + sac.target_entropy).mean())
    assert float(g_alpha) == pytest.approx(expected, rel=1e-5)


def test_fixed_alpha_mode_never_changes_alpha() -> None:
    agent = train(_env(), _tiny(alpha=0.05), progress=False)
    assert float(agent.algorithm.alpha) == pytest.approx(0.05)
    assert all(r["alpha"] == pytest.approx(0.05) for r in agent.history)


def test_truncation_bootstraps_and_the_buffer_storesfinal_observations() -> None:
    env = _env(episode_length=5)
    agent = train(env, _tiny(total_steps=12, learning_starts=12), progress=False)
    buf = agent.buffer
    assert buf is not None and len(buf) == 24
    assert float(buf.dones.sum()) == 0.0  # truncations are never stored as done
    # Every stored next observation continues its own episode: the weights part of s' is
    # the drifted weights of the action taken, never a fresh all-cash reset observation.
    n = 3 * F
    next_w = buf.next_observations[:24, n:]
    assert float(next_w[:, -1].max()) < 0.999


def test_final_observations_uses_final_obs_rows() -> None:
    obs = np.zeros((3, 2), dtype=np.float32)
    final = np.arange(6, dtype=np.float32).reshape(3, 2)
    out = final_observations(obs, {"final_obs": final, "_final_obs": np.array([0, 1, 0], bool)})
    np.testing.assert_array_equal(out, [[0, 0], [2, 3], [0, 0]])
    assert final_observations(obs, {}) is obs


def test_same_seed_is_deterministic_and_another_seed_differs() -> None:
    a = train(_env(), _tiny(), progress=False)
    b = train(_env(), _tiny(), progress=False)
    c = train(_env(), _tiny(seed=4), progress=False)
    assert _same_weights(a, b)
    assert not _same_weights(a, c)


@pytest.mark.parametrize("policy", ["dirichlet", "logistic-normal"])
def test_interrupted_then_resumed_run_equals_an_uninterrupted_run(policy: str,
                                                                  tmp_path: Path) -> None:
    config = _tiny(policy=policy, total_steps=26)
    full = train(_env(), config, progress=False)
    path = tmp_path / "ckpt.pt"
    # Stop mid-episode (episodes are 10 steps) and after learning has started.
    part = train(_env(), config, progress=False, checkpoint_path=path,
                 callback=lambda step, agent: step == 13)
    assert part.interrupted and part.step == 13 and path.exists()
    assert not _same_weights(full, part)
    resumed = train(_env(), config, progress=False, checkpoint_path=path, resume=True)
    assert resumed.step == 26 and not resumed.interrupted
    assert _same_weights(full, resumed)
    assert [r["step"] for r in resumed.history] == [r["step"] for r in full.history]


def test_checkpoint_keeps_the_env_state_dict_and_resumes_shaped_rewards(tmp_path: Path
                                                                         ) -> None:
    """The loop saves the env through its public ``state_dict`` (reward moments included)."""
    def dsr_env() -> PortfolioVectorEnv:
        return PortfolioVectorEnv(num_envs=2, universe=random_returns(), lookback=10,
                                  episode_length=10, reward="dsr", seed=0)

    config = _tiny(total_steps=20)
    full = train(dsr_env(), config, progress=False)
    path = tmp_path / "dsr.pt"
    env = dsr_env()
    train(env, config, progress=False, checkpoint_path=path,
          callback=lambda step, agent: step == 13)
    saved = load_checkpoint(path)["env"]
    assert saved == {"kind": "state_dict", "state": env.state_dict()}
    assert saved["state"]["reward_second"] != [0.0, 0.0]  # the DSR moments are in it
    resumed = train(dsr_env(), config, progress=False, checkpoint_path=path, resume=True)
    assert _same_weights(full, resumed)
    np.testing.assert_array_equal([r["episode_return"] for r in resumed.history],
                                  [r["episode_return"] for r in full.history])


def test_sigterm_saves_a_checkpoint_and_stops_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "run.pt"

    def send(step: int, agent: Agent) -> bool:
        if step == 5:
            os.kill(os.getpid(), signal.SIGTERM)
        return False

    agent = train(_env(), _tiny(), progress=False, checkpoint_path=path, callback=send)
    assert agent.interrupted and agent.step == 5
    assert load_checkpoint(path)["step"] == 5
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored


def test_checkpoint_round_trip_and_corrupt_files(tmp_path: Path) -> None:
    agent = train(_env(), _tiny(total_steps=12), progress=False)
    path = tmp_path / "agent.pt"
    agent.save(path)
    loaded = Agent.load(path)
    assert _same_weights(agent, loaded)
    obs = np.concatenate([np.zeros(3 * F, np.float32), np.full(4, 0.25, np.float32)])
    np.testing.assert_allclose(loaded.act(obs), agent.act(obs))

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:200])
    for bad in (garbage, truncated):
        with pytest.raises(DataError) as info:
            Agent.load(bad)
        message = str(info.value)
        assert str(bad) in message and "\n" not in message
    with pytest.raises(DataError, match="not found"):
        Agent.load(tmp_path / "missing.pt")


def test_an_agent_trained_on_a_gpu_loads_and_acts_on_a_cpu(tmp_path: Path) -> None:
    agent = train(_env(), _tiny(total_steps=6), progress=False)
    obs = np.concatenate([np.zeros(3 * F, np.float32), np.full(4, 0.25, np.float32)])
    expected = agent.act(obs)
    agent.config = agent.config.model_copy(update={"device": "cuda"})  # as a GPU run saves it
    path = tmp_path / "gpu.pt"
    agent.save(path)
    loaded = Agent.load(path)
    assert loaded.config.device == "cpu"
    np.testing.assert_allclose(loaded.act(obs), expected)
    if not torch.cuda.is_available():
        assert Agent.load(path, device="auto").config.device == "cpu"
        with pytest.raises(ConfigError, match="CUDA is not available"):
            Agent.load(path, device="cuda")


def test_agent_actions_are_on_the_simplex_and_stats_are_finite() -> None:
    agent = train(_env(), _tiny(total_steps=10), progress=False)
    obs = np.random.default_rng(0).normal(size=(5, 3 * F + 4)).astype(np.float32)
    obs[:, -4:] = 0.25
    for det in (True, False):
        w = agent.act(obs, deterministic=det)
        assert w.shape == (5, 4) and (w >= 0).all()
        np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-12)
    entropy, neff = agent.policy_stats(obs)
    assert np.isfinite(entropy).all() and ((neff >= 1) & (neff <= 4 + 1e-6)).all()


@pytest.mark.parametrize("field,value,match", [
    ("gamma", 1.0, "gamma"), ("tau", 0.0, "tau"), ("batch_size", 0, "batch-size 0: must be >= 1"),
    ("policy", "beta", "invalid policy 'beta'"), ("network", "cnn", "invalid network 'cnn'"),
    ("diversification", 0.0, "diversification"), ("utd_ratio", 0.0, "utd-ratio"),
    ("alpha", -1.0, "alpha")])
def test_bad_config_is_a_one_line_config_error(field: str, value: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        _tiny(**{field: value}).validate()
    assert "\n" not in str(info.value)


def test_sac_strategy_in_a_walk_forward_backtest(tmp_path: Path) -> None:
    from maxent_portfolio.backtest.engine import run_backtest
    from maxent_portfolio.backtest.walkforward import WalkForward
    from maxent_portfolio.strategies.sac import SACStrategy

    returns = random_returns(n=400, n_assets=3, seed=2)
    strategy = SACStrategy(train_steps=40, seed=1, lookback=10, num_envs=2, episode_length=20,
                           device="cpu", hidden=(16, 16), batch_size=16, learning_starts=5)
    strategy.checkpoint_dir = tmp_path
    calls: list[int] = []
    strategy.progress_callback = lambda n, status: calls.append(n)
    result = run_backtest(returns, strategy, splits=WalkForward(train=200, test=100),
                          rebalance="weekly")
    assert len(result.folds) == 2 and (tmp_path / "fold-1.pt").exists()
    assert sum(calls) == 3 * 40  # train_steps per fold, and the first fold's evidence agent
    n_dec = len(result.targets)
    assert len(strategy.entropy_) == len(strategy.effective_n_) == n_dec
    extras = strategy.extras()
    assert set(result.extras) == {"policy_entropy", "effective_n", "evidence_mix",
                                  "evidence_excess", "evidence_bound"}  # the engine picks them up
    assert list(extras["effective_n"].index) == list(result.targets.index)
    assert ((extras["effective_n"] >= 1) & (extras["effective_n"] <= 4 + 1e-6)).all()
    assert list(result.targets.columns) == ["A0", "A1", "A2", "CASH"]
    assert strategy.name == "sac" and "train_steps=40" in repr(strategy)
    # Validation ran on the end of the last training window, never on its test window.
    assert any("eval_log_growth" in r for r in strategy.agent_.history)
    first, last = strategy.validation_window_
    train_end = returns.index[299]
    assert returns.index[240] <= first < last <= train_end


def test_sac_strategy_allocate_matches_the_env_observation() -> None:
    """allocate's observation equals the env's at the same date, so the actions agree."""
    from maxent_portfolio.envs import PortfolioEnv
    from maxent_portfolio.strategies.base import CASH
    from maxent_portfolio.strategies.sac import SACStrategy

    returns = random_returns(n=200, seed=3)
    strategy = SACStrategy(train_steps=20, lookback=10, num_envs=2, episode_length=10,
                           device="cpu", validation_fraction=0.0, hidden=(8, 8),
                           learning_starts=5, batch_size=8, trade_rate=1.0,
                           no_trade_band=0.0,  # full execution: allocate returns the action
                           shrinkage="none")  # ... and the policy's, unmixed
    strategy.fit(returns)
    t = 150
    current = pd.Series([0.2, 0.3, 0.1, 0.4], index=[*returns.columns, CASH])
    w = strategy.allocate(returns.iloc[: t + 1], current)
    env = PortfolioEnv(universe=returns, lookback=10, episode_length=None)
    # env positions index the returns rows; the features of row t use rows t-9..t
    expected = strategy.agent_.act(env.observation_at(t, current.to_numpy()))
    np.testing.assert_allclose(w.to_numpy(), expected, atol=1e-5)
    assert abs(w.sum() - 1) < 1e-9 and (w >= 0).all()


def test_sac_strategy_rejects_bad_options() -> None:
    from maxent_portfolio.strategies.sac import SACStrategy

    with pytest.raises(ConfigError, match="device"):
        SACStrategy(device="tpu").sac_config()
    with pytest.raises(ConfigError, match="train-steps"):
        SACStrategy(train_steps=0).sac_config()
    with pytest.raises(ConfigError, match="diversification"):
        SACStrategy(diversification=2.0).sac_config()


@pytest.mark.parametrize("warm_start", [True, False])
def test_sac_strategy_warm_starts_from_the_previous_fold(warm_start: bool,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import maxent_portfolio.strategies.sac as module

    seen: list[object] = []
    real_train = module.train

    def spy(*args: object, **kwargs: object) -> Agent:
        seen.append(kwargs.get("init_from"))
        return real_train(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "train", spy)
    strategy = module.SACStrategy(train_steps=10, lookback=10, num_envs=2, episode_length=10,
                                  device="cpu", warm_start=warm_start, hidden=(8, 8),
                                  learning_starts=2, batch_size=8,
                                  shrinkage="none")  # no first-fold evidence agent
    returns = random_returns(n=200, seed=4)
    strategy.fit(returns.iloc[:120])
    first = strategy.agent_
    strategy.fit(returns)
    assert seen[0] is None
    assert seen[1] is (first if warm_start else None)
    assert strategy.sac_config(0).seed == strategy.seed
    assert strategy.sac_config(1).seed == fold_seed(strategy.seed, 1) != strategy.seed


def test_agents_of_a_multi_seed_run_never_share_a_fold_seed() -> None:
    used = [fold_seed(seed, fold) for seed in range(10) for fold in range(60)]
    assert len(set(used)) == len(used)
    assert all(0 <= s < 2**31 for s in used)


def test_resume_refuses_a_checkpoint_with_other_settings(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pt"
    train(_env(), _tiny(total_steps=10), progress=False, checkpoint_path=path)
    longer = train(_env(), _tiny(total_steps=14), progress=False, checkpoint_path=path,
                   resume=True)  # more steps: allowed
    assert longer.step == 14
    with pytest.raises(ConfigError, match="gamma"):
        train(_env(), _tiny(total_steps=20, gamma=0.5), progress=False, checkpoint_path=path,
              resume=True)


def test_env_and_config_must_agree_on_num_envs() -> None:
    with pytest.raises(ConfigError, match="num_envs"):
        train(_env(), _tiny(num_envs=3), progress=False)


def test_ctrl_c_during_a_strategy_fit_checkpoints_then_interrupts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """In a backtest, Ctrl-C saves the fold's checkpoint and still stops the backtest."""
    # Python raises KeyboardInterrupt only if SIGINT was not ignored when it started (as in a
    # background job of a shell without job control): install the handler it would have.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    import maxent_portfolio.strategies.sac as module

    real_train = module.train

    def interrupting(*args: object, **kwargs: object) -> Agent:
        def ctrl_c(step: int, agent: Agent) -> bool:
            if step == 4:
                os.kill(os.getpid(), signal.SIGINT)
            return False

        kwargs["callback"] = ctrl_c
        return real_train(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "train", interrupting)
    strategy = module.SACStrategy(train_steps=40, lookback=10, num_envs=2, episode_length=10,
                                  device="cpu", hidden=(8, 8), batch_size=8,
                                  shrinkage="none")  # the evidence agent keeps no checkpoint
    strategy.checkpoint_dir = tmp_path
    with pytest.raises(KeyboardInterrupt):
        strategy.fit(random_returns(n=150, seed=5))
    assert load_checkpoint(tmp_path / "fold-0.pt")["step"] == 4


def test_progress_bar_shows_the_training_statistics(capsys: pytest.CaptureFixture[str]) -> None:
    train(_env(), _tiny(total_steps=20), progress=True)
    shown = capsys.readouterr().out
    for field in ("SAC", "20/20", "alpha", "H ", "N_eff"):
        assert field in shown, shown


def test_device_auto_means_cuda_when_available(monkeypatch: pytest.MonkeyPatch) -> None:
    from maxent_portfolio.strategies.sac import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda" and resolve_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        resolve_device("tpu")


def test_warm_start_copies_the_previous_agent_then_trains_on() -> None:
    first = train(_env(), _tiny(total_steps=12), progress=False)
    copied = train(_env(seed=1), _tiny(total_steps=0, seed=9), progress=False, init_from=first)
    assert _same_weights(first, copied)  # networks, targets and temperature, before any step
    cold = train(_env(seed=1), _tiny(total_steps=0, seed=9), progress=False)
    assert not _same_weights(first, cold)
    warm = train(_env(seed=1), _tiny(total_steps=12, seed=9), progress=False, init_from=first)
    assert not _same_weights(first, warm)


def test_agents_seeded_s_and_s_plus_1_share_no_episode_stream() -> None:
    from gymnasium.utils import seeding

    from maxent_portfolio.agents import env_seeds, seed_everything

    assert not set(env_seeds(0, 4)) & set(env_seeds(1, 4))
    env = _env()
    seed_everything(7, env)
    for rng, sub_seed in zip(env._rngs, env_seeds(7, env.num_envs), strict=True):
        fresh = seeding.np_random(sub_seed)[0]  # the same PCG64 stream (reset has drawn from it)
        assert rng.bit_generator.state["state"]["inc"] == fresh.bit_generator.state["state"]["inc"]


def test_the_public_names_import_from_agents() -> None:
    import maxent_portfolio.agents as agents

    names = ("SAC", "Agent", "SACConfig", "train", "resolve_device", "env_seeds",
             "seed_everything", "load_checkpoint", "polyak_update", "soft_target")
    assert set(names) <= set(agents.__all__)
    assert all(hasattr(agents, name) for name in agents.__all__)
