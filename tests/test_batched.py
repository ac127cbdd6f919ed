"""Batched seeds: A agents in one network, each its own seed, stream, temperature and state."""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from support import LEVERS, random_returns, tiny_config, validation_env, vector_env

from maxent_portfolio.agents import Agent, train
from maxent_portfolio.agents.batched_sac import AgentStreams, BatchedSAC
from maxent_portfolio.agents.buffer import BatchedReplayBuffer, ReplayBuffer
from maxent_portfolio.agents.loop import evaluate
from maxent_portfolio.agents.training import train_batched
from maxent_portfolio.envs import PortfolioEnv
from maxent_portfolio.errors import ConfigError, DataError

torch.set_num_threads(1)


def _batched(seeds: list[int], **kw: object) -> list[Agent]:
    configs = [tiny_config(seed=s, **kw) for s in seeds]
    return train_batched(vector_env(len(seeds) * configs[0].num_envs), configs, progress=False)


def _state(agent: Agent) -> dict[str, torch.Tensor]:
    return agent.algorithm.state_dict()


def _equal(a: Agent, b: Agent) -> bool:
    sa, sb = _state(a), _state(b)
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_agent_streams_start_where_manual_seed_leaves_the_default_generator() -> None:
    streams = AgentStreams([7, 8], torch.device("cpu"))
    torch.manual_seed(123)
    drawn = streams.draw(1, lambda: torch.rand(3))
    after_draw = torch.rand(2)  # the caller's generator is back where it was
    torch.manual_seed(123)
    assert torch.equal(after_draw, torch.rand(2))
    torch.manual_seed(8)
    assert torch.equal(drawn, torch.rand(3))
    assert torch.equal(streams.draw(1, lambda: torch.rand(2)), torch.rand(2))  # it continues


@pytest.mark.parametrize("network", ["shared", "mlp"])
def test_a_batched_agent_matches_its_solo_run(network: str) -> None:
    """Same draws exactly (warm-up transitions equal bit for bit); after the first updates the
    weights agree to float tolerance (batched matmul kernels round differently)."""
    agents = _batched([3, 11], network=network, total_steps=12)
    for a, seed in enumerate((3, 11)):
        config = tiny_config(seed=seed, network=network, total_steps=12)
        solo = train(vector_env(2), config, progress=False)
        assert solo.buffer is not None and agents[a].buffer is not None
        warm = config.warm_up * 2  # warm-up x num_envs transitions drawn before any update
        for name in ("observations", "actions", "rewards", "next_observations"):
            assert torch.equal(getattr(solo.buffer, name)[:warm],
                               getattr(agents[a].buffer, name)[:warm]), name
        for key, value in _state(solo).items():
            torch.testing.assert_close(_state(agents[a])[key], value, rtol=1e-4, atol=1e-5,
                                       msg=key)
        assert agents[a].step == solo.step == 12
        assert [r["step"] for r in agents[a].history] == [r["step"] for r in solo.history]


def test_batched_agents_are_deterministic_for_their_seeds() -> None:
    first, second = _batched([3, 4]), _batched([3, 4])
    assert all(_equal(a, b) for a, b in zip(first, second, strict=True))
    assert not _equal(first[0], first[1])


def test_changing_one_seed_leaves_every_other_agent_bit_identical() -> None:
    before, after = _batched([3, 4, 5]), _batched([3, 9, 5])
    assert _equal(before[0], after[0]) and _equal(before[2], after[2])
    assert not _equal(before[1], after[1])
    np.testing.assert_equal(before[0].history, after[0].history)  # NaN == NaN here


def test_a_grid_of_temperatures_and_dials_in_one_batch() -> None:
    configs = [tiny_config(seed=1, alpha=0.05), tiny_config(seed=1, diversification=0.2),
               tiny_config(seed=1, alpha=2.0), tiny_config(seed=1, diversification=0.9)]
    agents = train_batched(vector_env(8), configs, progress=False)
    fixed = [a.history[-1]["alpha"] for a in (agents[0], agents[2])]
    assert fixed == pytest.approx([0.05, 2.0], rel=1e-6)
    for agent in (agents[0], agents[2]):  # a fixed temperature's log_alpha never moves
        fixed_log_alpha = float(torch.tensor(math.log(agent.config.alpha or 0)))
        assert float(agent.algorithm.log_alpha) == fixed_log_alpha
    tuned = [a.history[-1]["alpha"] for a in (agents[1], agents[3])]
    assert all(t != pytest.approx(0.1) for t in tuned)  # moved from initial_alpha
    solo_targets = [a.algorithm.target_entropy for a in agents]
    assert solo_targets[1] < solo_targets[3]
    model = BatchedSAC(3, 4, configs)
    torch.testing.assert_close(model.target_entropy, torch.tensor(solo_targets))
    assert model.autotune.tolist() == [False, True, False, True]


def test_configs_may_differ_only_in_per_agent_fields() -> None:
    with pytest.raises(ConfigError, match="differs from config 0 in batch_size, hidden"):
        train_batched(vector_env(4), [tiny_config(), tiny_config(batch_size=8, hidden=(8,))],
                      progress=False)
    with pytest.raises(ConfigError, match="2 agents of num_envs 2 need 4"):
        train_batched(vector_env(3), [tiny_config(), tiny_config(seed=4)], progress=False)
    with pytest.raises(ConfigError, match="at least one config"):
        train_batched(vector_env(2), [], progress=False)


def test_interrupted_then_resumed_batched_run_is_bit_exact(tmp_path: Path) -> None:
    full = _batched([3, 4], total_steps=24)
    path = tmp_path / "batch.pt"
    configs = [tiny_config(seed=s, total_steps=24, checkpoint_every=7) for s in (3, 4)]
    stopped = train_batched(vector_env(4), configs, progress=False, checkpoint_path=path,
                            callback=lambda step, agents: step == 13)
    assert all(a.interrupted and a.step == 13 for a in stopped)
    resumed = train_batched(vector_env(4), configs, progress=False, checkpoint_path=path,
                            resume=True)
    assert all(_equal(a, b) for a, b in zip(full, resumed, strict=True))
    np.testing.assert_equal([a.history for a in full], [a.history for a in resumed])
    with pytest.raises(ConfigError, match="cannot resume"):
        train_batched(vector_env(4), [tiny_config(seed=3, total_steps=24),
                                      tiny_config(seed=5, total_steps=24)],
                      progress=False, checkpoint_path=path, resume=True)
    with pytest.raises(ConfigError, match="not a batched run of 3 agents"):
        train_batched(vector_env(6),
                      [*configs, tiny_config(seed=5, total_steps=24, checkpoint_every=7)],
                      progress=False, checkpoint_path=path, resume=True)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match="corrupt checkpoint"):
        train_batched(vector_env(4), configs, progress=False, checkpoint_path=path, resume=True)


def test_returned_agents_save_load_act_and_evaluate(tmp_path: Path) -> None:
    eval_env = PortfolioEnv(universe=random_returns(80, seed=5), lookback=10, episode_length=None)
    configs = [tiny_config(seed=s, eval_every=10) for s in (3, 4)]
    agents = train_batched(random_returns(), configs, env_options={"lookback": 10,
                                                            "episode_length": 10},
                           eval_env=eval_env, progress=False)
    obs = vector_env(2).reset(seed=0)[0]
    for agent in agents:
        assert "eval_log_growth" in agent.history[-1]
        agent.save(tmp_path / "a.pt")
        loaded = Agent.load(tmp_path / "a.pt")
        np.testing.assert_array_equal(loaded.act(obs), agent.act(obs))
        entropy, neff = agent.policy_stats(obs)
        assert np.isfinite(entropy).all() and (neff >= 1).all()
    assert not np.allclose(agents[0].act(obs), agents[1].act(obs))


def test_batched_buffer_member_views_and_state_round_trip() -> None:
    buf = BatchedReplayBuffer(2, 5, 3, 2)
    obs = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    buf.add(obs, obs + 1, torch.ones(2, 4, 2), torch.arange(8.).reshape(2, 4), torch.zeros(2, 4))
    buf.add(obs[:, :2], obs[:, :2], torch.ones(2, 2, 2), torch.zeros(2, 2), torch.ones(2, 2))
    assert len(buf) == 5 and buf.full and buf.pos == 1
    solo = ReplayBuffer(5, 3, 2)
    solo.add(obs[1], obs[1] + 1, torch.ones(4, 2), torch.arange(4., 8.), torch.zeros(4))
    solo.add(obs[1, :2], obs[1, :2], torch.ones(2, 2), torch.zeros(2), torch.ones(2))
    member = buf.member(1)
    assert torch.equal(member.observations, solo.observations)
    assert torch.equal(member.dones, solo.dones) and len(member) == len(solo)
    batch = buf.sample(6, lambda a, fn: fn())
    assert batch.observations.shape == (2, 6, 3) and batch.rewards.shape == (2, 6)
    # every sampled row of agent a is one of agent a's stored rows
    assert set(batch.rewards[1].tolist()) <= set(buf.storage["rewards"][1].tolist())
    assert set(batch.rewards[0].tolist()) <= set(buf.storage["rewards"][0].tolist())
    copy = BatchedReplayBuffer(2, 5, 3, 2)
    copy.load_state_dict(buf.state_dict())
    assert all(torch.equal(x, y) for x, y in zip(copy.storage.values(), buf.storage.values(),
                                                 strict=True))


@pytest.mark.parametrize("network", ["shared", "mlp"])
def test_batched_forwards_equal_each_agents_own_networks(network: str) -> None:
    """``batched``/``batched_pair`` with stacked parameters = every member's own forward."""
    model = BatchedSAC(3, 4, [tiny_config(seed=s, network=network) for s in (1, 2, 3)])
    model.use_vmap = False
    gen = torch.Generator().manual_seed(0)
    obs = torch.randn(3, 5, model.obs_dim, generator=gen)
    action = torch.softmax(torch.randn(3, 5, model.k, generator=gen), -1)
    pi = torch.softmax(torch.randn(3, 5, model.k, generator=gen), -1)
    x, q_target = model.actor(obs), model.qf_target(obs, action)
    q, q_pi = model.qf_pair(obs, action, pi)
    for a, sac in enumerate(model.members):
        torch.testing.assert_close(x[a], sac.actor(obs[a]))
        torch.testing.assert_close(q_target[a], sac.qf_target(obs[a], action[a]))
        torch.testing.assert_close(q[a], sac.qf(obs[a], action[a]))
        torch.testing.assert_close(q_pi[a], sac.qf(obs[a], pi[a]))
    model.use_vmap = True  # the torch.func path computes the same numbers
    torch.testing.assert_close(model.actor(obs), x)
    torch.testing.assert_close(model.qf_pair(obs, action, pi)[1], q_pi)


def test_warm_start_takes_each_previous_agents_networks() -> None:
    previous = _batched([3, 4])
    configs = [tiny_config(seed=s, total_steps=0) for s in (5, 6)]
    started = train_batched(vector_env(4), configs, progress=False, init_from=previous)
    assert all(_equal(a, b) for a, b in zip(started, previous, strict=True))
    with pytest.raises(ConfigError, match="init_from has 1 agents for 2 configs"):
        train_batched(vector_env(4), configs, progress=False, init_from=previous[:1])


def test_sigterm_checkpoints_the_batch_and_stops(tmp_path: Path) -> None:
    def terminate(step: int, agents: list[Agent]) -> bool:
        if step == 6:
            os.kill(os.getpid(), signal.SIGTERM)
        return False

    path = tmp_path / "batch.pt"
    agents = train_batched(vector_env(4), [tiny_config(seed=1), tiny_config(seed=2)],
                           progress=False, checkpoint_path=path, callback=terminate)
    assert [(a.interrupted, a.step) for a in agents] == [(True, 6), (True, 6)]
    assert path.exists()


@pytest.mark.parametrize("levers", LEVERS)
def test_batched_agents_with_the_levers_match_their_solo_runs(levers: dict[str, object]) -> None:
    """The one-step model, the reference policy and best-validation selection, batched: each
    agent follows its solo run (float tolerance), records and selected snapshot included."""
    configs = [tiny_config(seed=s, total_steps=16, eval_every=4, **levers) for s in (3, 11)]
    agents = train_batched(vector_env(4), configs, progress=False, eval_env=validation_env())
    for agent, config in zip(agents, configs, strict=True):
        solo = train(vector_env(2), config, progress=False, eval_env=validation_env())
        assert solo.buffer is not None and agent.buffer is not None
        if config.one_step_model:
            assert torch.equal(agent.buffer.positions, solo.buffer.positions)
        for key, value in _state(solo).items():
            torch.testing.assert_close(_state(agent)[key], value, rtol=1e-4, atol=1e-5, msg=key)
        assert agent.selected_step == solo.selected_step
        assert [sorted(r) for r in agent.history] == [sorted(r) for r in solo.history]
        for mine, theirs in zip(agent.history, solo.history, strict=True):
            for key, value in theirs.items():
                assert mine[key] == pytest.approx(value, rel=1e-3, abs=1e-4, nan_ok=True), key


def test_best_validation_batched_keeps_each_agents_own_best_snapshot() -> None:
    configs = [tiny_config(seed=s, total_steps=20, eval_every=4, model_selection="best-validation")
               for s in (3, 4)]
    agents = train_batched(vector_env(4), configs, progress=False, eval_env=validation_env())
    for agent in agents:
        growth = {int(r["step"]): r["eval_log_growth"] for r in agent.history
                  if "eval_log_growth" in r}
        assert agent.selected_step == max(growth, key=lambda k: growth[k])
        # the kept networks score the recorded best growth on the validation slice
        replay = evaluate(agent.algorithm, validation_env(), "cpu", agent.config.seed)
        assert replay["eval_log_growth"] == pytest.approx(growth[agent.selected_step], rel=1e-9)


def test_resumed_batched_run_with_the_levers_is_bit_exact(tmp_path: Path) -> None:
    levers = LEVERS[-1]
    configs = [tiny_config(seed=s, total_steps=24, eval_every=6, checkpoint_every=5, **levers)
               for s in (3, 4)]
    full = train_batched(vector_env(4), configs, progress=False, eval_env=validation_env())
    path = tmp_path / "batch.pt"
    stopped = train_batched(vector_env(4), configs, progress=False, checkpoint_path=path,
                            eval_env=validation_env(), callback=lambda step, agents: step == 15)
    assert all(a.interrupted for a in stopped)
    resumed = train_batched(vector_env(4), configs, progress=False, checkpoint_path=path,
                            resume=True, eval_env=validation_env())
    assert all(_equal(a, b) for a, b in zip(full, resumed, strict=True))
    assert [a.selected_step for a in full] == [a.selected_step for a in resumed]
    np.testing.assert_equal([a.history for a in full], [a.history for a in resumed])
