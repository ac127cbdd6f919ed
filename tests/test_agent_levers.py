"""The agent's levers: execution (partial rebalancing, no-trade band), the exact one-step model
and the reference policy, each checked against an independent computation."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from support import PLAIN_SAC, random_returns
from torch import Tensor, nn

from maxent_portfolio.agents import SAC, Agent, SACConfig, train
from maxent_portfolio.agents.buffer import ReplayBufferSamples
from maxent_portfolio.agents.calibration import reference_kl_budget, symmetric_dirichlet_kl
from maxent_portfolio.agents.distributions import reference_log_density
from maxent_portfolio.arithmetic import partial_rebalance
from maxent_portfolio.envs import PortfolioEnv, PortfolioVectorEnv
from maxent_portfolio.envs.dynamics import OneStepModel
from maxent_portfolio.errors import ConfigError
from maxent_portfolio.strategies.base import CASH
from maxent_portfolio.strategies.sac import SACStrategy

torch.set_num_threads(1)


def _vector_env(seed: int = 0, **kw: object) -> PortfolioVectorEnv:
    options: dict[str, object] = dict(lookback=10, episode_length=10,
                                      cost_bps=np.array([10.0, 25.0, 5.0]))
    options.update(kw)
    universe = random_returns(300, mean=0.0004, vol=0.012)
    return PortfolioVectorEnv(num_envs=2, universe=universe, seed=seed, **options)  # type: ignore[arg-type]


def _tiny(**kw: object) -> SACConfig:
    base: dict[str, object] = dict(total_steps=30, num_envs=2, learning_starts=8, batch_size=16,
                                   hidden=(16, 16), utd_ratio=1.0, log_every=5, seed=3,
                                   **PLAIN_SAC)
    base.update(kw)
    return SACConfig.from_dict(base)


# --- execution ----------------------------------------------------------------------------------

def test_partial_rebalance_by_hand() -> None:
    drifted = np.array([[0.5, 0.3, 0.2]])
    target = np.array([[0.2, 0.3, 0.5]])
    np.testing.assert_allclose(partial_rebalance(target, drifted, 0.5), [[0.35, 0.3, 0.35]])
    # The half-way trade turns over |0.35 - 0.5| + 0 = 0.15 of the risky book.
    np.testing.assert_array_equal(partial_rebalance(target, drifted, 0.5, 0.2), drifted)
    np.testing.assert_allclose(partial_rebalance(target, drifted, 0.5, 0.1), [[0.35, 0.3, 0.35]])
    assert partial_rebalance(target, drifted) is target  # full rebalance: the target itself


def test_a_book_in_cash_invests_in_full_with_invest_from_cash() -> None:
    cash = np.array([[0.0, 0.0, 1.0], [0.1, 0.0, 0.9]])
    target = np.array([[0.2, 0.3, 0.5], [0.2, 0.3, 0.5]])
    # All cash: the whole way; a book partly invested: a quarter of the way, as before.
    np.testing.assert_allclose(partial_rebalance(target, cash, 0.25, 0.05, True),
                               [[0.2, 0.3, 0.5], [0.125, 0.075, 0.8]])
    np.testing.assert_allclose(partial_rebalance(target, cash, 0.25, 0.05),
                               [[0.05, 0.075, 0.875], [0.125, 0.075, 0.8]])


def test_the_torch_execution_is_the_numpy_one() -> None:
    rng = np.random.default_rng(3)
    target, drifted = rng.dirichlet(np.ones(5), 64), rng.dirichlet(np.full(5, 0.3), 64)
    drifted[:4] = np.eye(5)[-1]  # books in cash
    for rate, band, cash in itertools.product((1.0, 0.25), (0.0, 0.05, 0.3), (False, True)):
        expected = partial_rebalance(target, drifted, rate, band, cash)
        got = partial_rebalance(torch.as_tensor(target), torch.as_tensor(drifted), rate, band,
                                cash)
        np.testing.assert_array_equal(got.numpy(), expected)


def test_env_trades_the_fraction_and_respects_the_band() -> None:
    start = np.array([0.4, 0.3, 0.2, 0.1])
    target = np.array([0.1, 0.2, 0.3, 0.4])
    full_turnover = np.abs(target - start)[:-1].sum()  # 0.5
    for rate, band, expected in [(1.0, 0.0, full_turnover), (0.25, 0.0, 0.25 * full_turnover),
                                 (0.25, 0.2, 0.0), (0.5, 0.2, 0.5 * full_turnover)]:
        env = PortfolioEnv(universe=random_returns(300, mean=0.0004, vol=0.012), lookback=10,
                           episode_length=5, trade_rate=rate, no_trade_band=band)
        env.reset(seed=0, options={"weights": start})
        _, _, _, _, info = env.step(target)
        assert info["turnover"] == pytest.approx(expected)


@pytest.mark.parametrize(("field", "value"), [("trade_rate", 0.0), ("trade_rate", 1.5),
                                              ("no_trade_band", -0.1)])
def test_bad_execution_options_are_one_line_errors(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=field.replace("_", "-")) as info:
        SACStrategy(**{field: value})
    assert "\n" not in str(info.value)


def test_allocate_executes_as_the_env_does() -> None:
    returns = random_returns(300, 3, mean=0.0004, vol=0.012)
    strategy = SACStrategy(train_steps=40, lookback=10, episode_length=5, num_envs=2,
                           learning_starts=5, batch_size=8, device="cpu", trade_rate=0.3,
                           no_trade_band=0.0, seed=1, shrinkage="none")
    strategy.fit(returns.iloc[:200])
    current = pd.Series([0.7, 0.1, 0.1, 0.1], index=["A0", "A1", "A2", CASH])
    weights = strategy.allocate(returns.iloc[:220], current)
    from maxent_portfolio.envs import latest_observation

    assert strategy.agent_ is not None
    obs = latest_observation(returns.iloc[:220].to_numpy(), current.to_numpy(), 10, 252)
    target = strategy.agent_.act(obs)
    np.testing.assert_allclose(weights.to_numpy(), current.to_numpy()
                               + 0.3 * (target - current.to_numpy()), atol=1e-12)


# --- the one-step model -------------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    {}, {"decision_period": "monthly"}, {"decision_period": "weekly", "trade_rate": 0.3,
                                         "no_trade_band": 0.05},
    {"reward": "drawdown", "risk_aversion": 2.0}])
def test_model_reward_equals_the_env_step_reward(options: dict[str, object]) -> None:
    env = _vector_env(**options)
    model = OneStepModel.from_env(env)
    rng = np.random.default_rng(5)
    obs, _ = env.reset(seed=2)
    for _ in range(25):  # through several autoresets
        actions = rng.dirichlet(np.full(4, 0.6), size=2)
        predicted = model.step(torch.as_tensor(env.positions), torch.as_tensor(obs),
                               torch.as_tensor(actions))
        obs, rewards, _, _, _ = env.step(actions)
        np.testing.assert_allclose(predicted.rewards.numpy(), rewards, rtol=0, atol=1e-9)
        assert predicted.valid.all()


def test_model_refuses_rewards_with_moving_moments() -> None:
    with pytest.raises(ConfigError, match="dsr") as info:
        OneStepModel.from_env(_vector_env(reward="dsr"))
    assert "\n" not in str(info.value)


class _Constant(nn.Module):
    """A twin critic answering (q1, q2) whatever the input."""

    def __init__(self, q1: float, q2: float) -> None:
        super().__init__()
        self.q = torch.tensor([q1, q2])

    def forward(self, obs: Tensor, actions: Tensor) -> Tensor:
        return self.q[:, None].expand(2, obs.shape[0])


def _batch(env: PortfolioVectorEnv, n: int = 6) -> ReplayBufferSamples:
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=1)
    positions = env.positions
    actions = rng.dirichlet(np.ones(4), size=2)
    next_obs, rewards, _, _, _ = env.step(actions)
    rep = (n + 1) // 2
    def stack(x: np.ndarray, dtype: torch.dtype = torch.float32) -> Tensor:
        return torch.as_tensor(np.concatenate([x] * rep)[:n], dtype=dtype)
    return ReplayBufferSamples(stack(obs), stack(actions), stack(next_obs), stack(rewards),
                               torch.zeros(n), stack(positions, torch.int64))


@pytest.mark.parametrize("mode", ["replay", "one-step", "reference", "one-step+reference"])
def test_soft_bellman_target_by_hand(mode: str) -> None:
    env = _vector_env(decision_period="weekly", trade_rate=0.5)
    one_step, reference = "one-step" in mode, ("reference" in mode) * 3.0 or None
    config = _tiny(alpha=0.2, gamma=0.9, reward_scale=10.0, one_step_model=one_step,
                   reference=reference)
    sac = SAC(env.n_assets, env.n_features, config)
    sac.qf_target = _Constant(0.7, 0.4)
    if one_step:
        sac.model = OneStepModel.from_env(env)
    batch = _batch(env)
    torch.manual_seed(11)
    y = sac.critic_target(batch)
    torch.manual_seed(11)
    with torch.no_grad():
        draw = sac.head.sample(sac.actor(batch.next_observations))  # the same a' ~ pi(.|s')
    a_next = draw.action.double().numpy()
    log_pi = draw.log_prob.double().numpy()
    if reference:
        w = np.exp(draw.log_weights.double().numpy())
        w /= w.sum(-1, keepdims=True)
        log_pi = log_pi - np.array([stats.dirichlet.logpdf(row, np.full(4, 3.0)) for row in w])
    bonus = 0.4 - 0.2 * log_pi  # min of the twin targets, less alpha log pi
    if one_step:
        # r(s', a'): trade half-way from the next state's weights, pay the costs, hold a week.
        following = env.env.clock.following[batch.positions.numpy()]
        growth = env.env.held_growth[following]
        drifted = batch.next_observations.double().numpy()[:, -4:]
        drifted /= drifted.sum(-1, keepdims=True)
        traded = drifted + 0.5 * (a_next - drifted)
        cost = (np.abs(traded - drifted)[:, :-1] * np.array([10.0, 25.0, 5.0]) / 1e4).sum(-1)
        reward = np.log((1 - cost) * (traded * growth).sum(-1))
        expected = 0.9 * (10.0 * reward + bonus)
    else:
        expected = 10.0 * batch.rewards.double().numpy() + 0.9 * bonus
    np.testing.assert_allclose(y.double().numpy(), expected, rtol=1e-5, atol=1e-5)


def test_actor_gradient_reaches_through_the_exact_cost() -> None:
    env = _vector_env(cost_bps=500.0)
    sac = SAC(env.n_assets, env.n_features, _tiny(one_step_model=True, alpha=0.1))
    sac.model = OneStepModel.from_env(env)
    batch = _batch(env)
    actions = torch.full((6, 4), 0.25, dtype=torch.float64, requires_grad=True)
    reward = sac.model.step(batch.positions, batch.observations, actions).rewards.sum()
    reward.backward()
    assert actions.grad is not None and torch.isfinite(actions.grad).all()
    assert actions.grad.abs().sum() > 0


@pytest.mark.parametrize("options", [{"one_step_model": True},
                                     {"one_step_model": True, "reference": 4.0},
                                     {"reference": 2.0, "policy": "logistic-normal"}])
def test_resume_is_bit_exact_with_the_levers(options: dict[str, object], tmp_path: Path) -> None:
    config = _tiny(total_steps=26, **options)
    env_options = {"trade_rate": 0.5, "no_trade_band": 0.01, "decision_period": "every:2"}
    full = train(_vector_env(**env_options), config, progress=False)
    path = tmp_path / "ckpt.pt"
    part = train(_vector_env(**env_options), config, progress=False, checkpoint_path=path,
                 callback=lambda step, agent: step == 13)
    assert part.interrupted
    resumed = train(_vector_env(**env_options), config, progress=False, checkpoint_path=path,
                    resume=True)
    assert _same(full, resumed)


def _same(a: Agent, b: Agent) -> bool:
    sa, sb = a.algorithm.state_dict(), b.algorithm.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --- the reference policy -----------------------------------------------------------------------

def test_reference_density_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(5), size=4)
    ours = reference_log_density(torch.as_tensor(np.log(w)), 2.5).numpy()
    theirs = [stats.dirichlet.logpdf(row, np.full(5, 2.5)) for row in w]
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)


def test_symmetric_dirichlet_kl_matches_monte_carlo() -> None:
    rng = np.random.default_rng(1)
    k, a, b = 6, 0.4, 3.0
    w = rng.dirichlet(np.full(k, a), size=200_000)
    w = np.clip(w, 1e-300, None)
    log_ratio = (stats.dirichlet.logpdf(w.T, np.full(k, a))
                 - stats.dirichlet.logpdf(w.T, np.full(k, b)))
    assert symmetric_dirichlet_kl(k, a, b) == pytest.approx(log_ratio.mean(), rel=0.02)


def test_the_kl_budget_shrinks_as_the_dial_rises() -> None:
    budgets = [reference_kl_budget(21, d, 5.0) for d in (0.1, 0.25, 0.5, 0.75, 1.0)]
    assert all(x > y > 0 for x, y in itertools.pairwise(budgets))


def test_a_reference_changes_the_temperature_target_and_the_hot_end_is_equal_weight() -> None:
    env = _vector_env()
    plain = SAC(env.n_assets, env.n_features, _tiny())
    relative = SAC(env.n_assets, env.n_features, _tiny(reference=4.0))
    assert relative.target_entropy == pytest.approx(-reference_kl_budget(4, 0.5, 4.0))
    assert relative.target_entropy != plain.target_entropy
    # With a huge temperature the actor only minimises KL(pi || reference): it moves to the
    # reference, whose mean is equal weights.
    hot = SAC(env.n_assets, env.n_features, _tiny(reference=4.0, alpha=1e3, q_lr=1e-9,
                                                  policy_lr=3e-2))
    batch = _batch(env, n=32)
    for _ in range(300):
        hot.update(batch)
    mean = hot.act(batch.observations, deterministic=True)
    np.testing.assert_allclose(mean.numpy(), 0.25, atol=0.03)
