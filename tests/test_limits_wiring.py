"""Limits met where every strategy decides (issue 25, part A).

Every registered strategy, and a plug-in, meets every limit at every decision of a backtest;
the constrained min-variance is cvxpy's optimum; the agent's env, its one-step model (torch)
and the backtest execute one projection; trivial limits change nothing, bit for bit.
"""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.covariance import LedoitWolf
from support import PLAIN_SAC, random_returns

from maxent_portfolio.backtest.engine import run_backtest
from maxent_portfolio.backtest.walkforward import WalkForward
from maxent_portfolio.config import resolve_config
from maxent_portfolio.envs import PortfolioVectorEnv
from maxent_portfolio.envs.config import EnvConfig
from maxent_portfolio.envs.dynamics import OneStepModel
from maxent_portfolio.limits import Limits, LimitsConfig, project, project_tensor
from maxent_portfolio.strategies.base import CASH, Strategy, StrategyContext
from maxent_portfolio.strategies.baselines import MinimumVariance
from maxent_portfolio.strategies.registry import available_strategies, register

torch.set_num_threads(1)

ASSETS = ["A0", "A1", "A2", "A3", "A4"]
SLACK = 1e-9
"""What "meets a limit" allows for rounding and solver tolerance (the projection is exact to
about 1e-15; skfolio's solutions are projected too)."""
LIMITS = {"min_weight": 0.05, "max_weight": 0.3, "max_cash": 0.1,
          "groups": {"first": ["A0", "A1"]}, "group_caps": {"first": 0.35}}
"""Bounds, a group cap and a cash cap that 1/N (0.4 in the group) and most strategies break."""


def limits_of(options: dict[str, object] = LIMITS, assets: list[str] = ASSETS) -> Limits:
    return LimitsConfig.model_validate(options).resolve(assets)


class Concentrated(Strategy):
    """A plug-in that ignores the limits: everything in the first asset."""

    name = "test-concentrated"
    description = "all in the first asset"

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        return pd.Series({history.columns[0]: 1.0})


RUN = {"limits.min_weight": 0.05, "limits.max_weight": 0.3, "limits.max_cash": 0.1,
       "limits.groups": LIMITS["groups"], "limits.group_caps": LIMITS["group_caps"],
       "sac.train_steps": 60, "sac.num_envs": 2, "sac.validation_fraction": 0.0,
       "env.lookback": 10, "env.episode_length": 20,
       "menu.menu_refit_every": 100, "menu.menu": ["equal-weight", "min-variance", "momentum"]}
"""A run's options: the limits, and the agents' tiniest budgets."""


def backtest_under_limits(strategy: type[Strategy], seeds: int = 1) -> None:
    """Backtest ``strategy`` built for a run with :data:`RUN` (``seeds`` of it, trained as one
    seed group): every target, hence every weight held right after a decision, meets the
    bounds, the group cap, the cash cap and the budget."""
    returns = random_returns(420, n_assets=len(ASSETS), seed=4)
    batched = {f"sac.{k}": v for k, v in PLAIN_SAC.items()} if seeds > 1 else {}
    config = resolve_config(overrides={**RUN, **batched, "sac.seed_batch": seeds},
                            presets=False)  # the batched network trains textbook SAC
    limits = config.limits.resolve(ASSETS)
    members = [strategy.from_context(StrategyContext(config, 252, seed))
               for seed in range(seeds)]
    strategy.join(members)
    for member in members:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # optimiser fallbacks: covered
            result = run_backtest(returns, member,
                                  splits=WalkForward(train=250, test=80).split(len(returns)),
                                  rebalance="weekly", costs=config.costs, limits=limits)
        assert len(result.targets) == 37
        assert limits.violation(result.targets.to_numpy()).max() <= SLACK, strategy.name


@pytest.mark.parametrize("name", [*sorted(name for name, cls in available_strategies().items()
                                          if not cls.seeded), "a plug-in"])
def test_every_strategy_meets_every_limit_at_every_decision(name: str) -> None:
    """Every registered strategy but the learning agents (below), and a plug-in that ignores
    the limits (1/N breaks them too: 0.4 in the capped group)."""
    if name == "a plug-in":
        register(Concentrated)
        unlimited = run_backtest(random_returns(420, n_assets=len(ASSETS), seed=4),
                                 Concentrated(), splits=WalkForward(train=250, test=80))
        assert limits_of().violation(unlimited.targets.to_numpy()).min() > 0.5  # it binds
    backtest_under_limits(available_strategies()[Concentrated.name if name == "a plug-in"
                                                 else name])


@pytest.mark.slow
def test_the_learning_agents_meet_every_limit_at_every_decision() -> None:
    """``sac`` and ``sac-discrete`` (every seeded strategy of the registry), tiny budgets: they
    train in the env that executes under the limits and decide through it; ``sac`` also as
    two seeds trained as one batched network (the seed-batched trainer)."""
    seeded = [cls for cls in available_strategies().values() if cls.seeded]
    assert {cls.name for cls in seeded} >= {"sac", "sac-discrete"}
    for cls in seeded:
        backtest_under_limits(cls)
    backtest_under_limits(available_strategies()["sac"], seeds=2)


def _mean_variance_qp(x: np.ndarray, limits: Limits) -> np.ndarray:
    """Minimum variance under the limits by cvxpy, on sklearn's Ledoit-Wolf covariance: the
    risky weights sum to the most the limits allow (here below 1), cash holds the rest."""
    sigma = LedoitWolf().fit(x).covariance_
    n = x.shape[1]
    w = cp.Variable(n)
    budget = min(1.0, limits.highest_total() - limits.upper[-1])
    constraints = [w >= limits.lower[:-1], w <= limits.upper[:-1], cp.sum(w) == budget]
    constraints += [cp.sum(w[np.flatnonzero(row[:-1])]) <= cap
                    for row, cap in zip(limits.membership, limits.caps, strict=True)]
    cp.Problem(cp.Minimize(cp.quad_form(w, cp.psd_wrap(sigma))), constraints).solve(
        solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return np.append(w.value, 1.0 - budget)


@pytest.mark.parametrize("options", [
    {"min_weight": 0.05, "max_weight": 0.35, "groups": {"g": ["A1", "A3"]},
     "group_caps": {"g": 0.3}},
    {"max_weight": 0.25, "max_cash": 0.2, "min_weight": {"A2": 0.1},
     "groups": {"g": ["A0", "A1", "A2"]}, "group_caps": {"g": 0.4}}],
    ids=["bounds-and-group", "capped-below-the-whole-book"])
def test_constrained_min_variance_matches_cvxpy(options: dict[str, object]) -> None:
    """The optimiser solves under the limits (skfolio's own constraints), not projected
    after: its weights are cvxpy's optimum to 1e-6. The second case caps the risky total at
    0.9 (0.4 in the group, 0.25 for each other asset), so it also checks the budget scaling
    (cash 0.1)."""
    rng = np.random.default_rng(9)  # distinct volatilities: a well-determined optimum
    returns = pd.DataFrame(rng.normal(0.0003, [0.01, 0.015, 0.008, 0.02, 0.012], (300, 5)),
                           index=pd.bdate_range("2015-01-01", periods=300), columns=ASSETS)
    limits = limits_of(options)
    strategy = MinimumVariance(limits=LimitsConfig.model_validate(options)).fit(returns)
    w = strategy.allocate(returns, pd.Series(dtype=float)).reindex([*ASSETS, CASH],
                                                                    fill_value=0.0)
    expected = _mean_variance_qp(returns.to_numpy()[-252:], limits)
    np.testing.assert_allclose(w.to_numpy(), expected, atol=1e-6)
    assert strategy.n_fallbacks_ == 0
    # the projection of the unconstrained optimum is a different portfolio
    free = MinimumVariance().fit(returns).allocate(returns, pd.Series(dtype=float))
    projected = project(free.reindex([*ASSETS, CASH], fill_value=0.0).to_numpy(), limits)
    assert np.abs(projected - expected).max() > 1e-3


def _env(limits: Limits | None, **options: object) -> PortfolioVectorEnv:
    config = EnvConfig().replace(lookback=10, episode_length=12,
                                 **{"decision_period": "daily", **options}).with_limits(limits)
    universe = random_returns(300, n_assets=len(ASSETS), mean=0.0004, vol=0.012)
    return PortfolioVectorEnv.from_config(universe, config, num_envs=3, seed=1,
                                          cost_bps=np.array([10.0, 25.0, 5.0, 8.0, 12.0]))


@pytest.mark.parametrize("options", [
    {"trade_rate": 1.0, "no_trade_band": 0.0},
    {"trade_rate": 0.3, "no_trade_band": 0.05, "decision_period": "weekly"},
    {"trade_rate": 0.5, "no_trade_band": 0.0, "reward": "drawdown", "invest_from_cash": True}],
    ids=["full-trades", "partial-with-band", "drawdown"])
def test_one_step_model_reward_equals_the_env_reward_under_limits(
        options: dict[str, object]) -> None:
    """The env executes under the limits (numpy), the one-step model through the torch
    projection: the same rewards at every step, and different from the unlimited env's."""
    limits = limits_of()
    env, free = _env(limits, **options), _env(None, **options)
    model = OneStepModel.from_env(env)
    rng = np.random.default_rng(5)
    obs, info = env.reset(seed=2)
    free.reset(seed=2)
    differ = 0.0
    for _ in range(30):  # through autoresets
        actions = rng.dirichlet(np.full(len(ASSETS) + 1, 0.5), size=3)
        traded = env.config.execute(actions, info["weights"])
        assert limits.violation(traded).max() <= SLACK
        predicted = model.step(torch.as_tensor(env.positions), torch.as_tensor(obs),
                               torch.as_tensor(actions))
        obs, rewards, _, _, info = env.step(actions)
        _, free_rewards, _, _, _ = free.step(actions)
        np.testing.assert_allclose(predicted.rewards.numpy(), rewards, rtol=0, atol=1e-9)
        differ = max(differ, float(np.abs(rewards - free_rewards).max()))
    assert differ > 1e-4


def test_the_model_reward_is_differentiable_through_the_projection() -> None:
    env = _env(limits_of(), trade_rate=0.5, no_trade_band=0.0)
    model = OneStepModel.from_env(env)
    obs, _ = env.reset(seed=0)
    actions = torch.as_tensor(np.random.default_rng(1).dirichlet(np.ones(6), size=3),
                              dtype=torch.float64).requires_grad_(True)
    model.step(torch.as_tensor(env.positions), torch.as_tensor(obs), actions).rewards.sum(
        ).backward()
    assert actions.grad is not None and torch.isfinite(actions.grad).all()
    assert actions.grad.abs().max() > 0


@pytest.mark.parametrize("grouped", [False, True], ids=["bounds", "bounds-and-group"])
def test_torch_projection_equals_numpy_and_has_its_exact_jacobian(grouped: bool) -> None:
    options = dict(LIMITS) if grouped else {k: v for k, v in LIMITS.items()
                                            if k not in ("groups", "group_caps")}
    limits = limits_of(options)
    points = np.random.default_rng(3).normal(0.15, 0.3, size=(40, len(ASSETS) + 1))
    np.testing.assert_allclose(project_tensor(torch.as_tensor(points), limits).numpy(),
                               project(points, limits), rtol=0, atol=1e-14)
    x = torch.as_tensor(points[:4]).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z: project_tensor(z, limits), (x,))


def test_execution_guarantees_from_feasible_and_infeasible_books() -> None:
    """From a book that meets the limits, a partial trade toward the projected target meets
    them without a second projection (convexity); from one that drifted out (A0 at 0.6), the
    traded weights are projected back, even when the band skips the trade."""
    limits = limits_of()
    config = EnvConfig().replace(trade_rate=0.25, no_trade_band=0.05)
    bound = config.with_limits(limits)
    target = np.array([[0.9, 0.0, 0.0, 0.0, 0.1, 0.0]])
    goal = project(target, limits)
    feasible = np.array([[0.15, 0.15, 0.2, 0.2, 0.25, 0.05]])
    np.testing.assert_allclose(bound.execute(target, feasible), config.execute(goal, feasible),
                               atol=1e-15)
    drifted = np.array([[0.6, 0.1, 0.1, 0.1, 0.1, 0.0]])
    assert limits.violation(config.execute(goal, drifted)).max() > 0.1  # without the 2nd step
    assert limits.violation(bound.execute(target, drifted)).max() <= SLACK
    assert limits.violation(bound.execute(drifted, drifted)).max() <= SLACK  # a skipped trade


def test_trivial_limits_change_nothing_bit_for_bit() -> None:
    returns = random_returns(400, n_assets=3, seed=2)
    folds = WalkForward(train=200, test=100).split(len(returns))
    trivial = LimitsConfig().resolve(list(returns.columns))
    assert trivial.trivial and EnvConfig().with_limits(trivial).limits is None
    for name in ("equal-weight", "eg", "min-variance"):
        cls = available_strategies()[name]
        with_limits = run_backtest(returns, cls(), splits=folds, limits=trivial)
        without = run_backtest(returns, cls(), splits=folds)
        np.testing.assert_array_equal(with_limits.returns.to_numpy(), without.returns.to_numpy())
        np.testing.assert_array_equal(with_limits.targets.to_numpy(), without.targets.to_numpy())
