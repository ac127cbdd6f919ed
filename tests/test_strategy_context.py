"""One way to build a strategy: the run's context reaches baselines, SAC and plug-ins alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from maxent_portfolio.config import resolve_config
from maxent_portfolio.runner import context, prepare
from maxent_portfolio.strategies.base import CASH, Strategy, StrategyContext
from maxent_portfolio.strategies.registry import build_strategy, register


def _monthly_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    dates = pd.date_range("2005-01-31", periods=150, freq="ME")
    prices = 100 * np.exp(np.cumsum(rng.normal(0.006, 0.05, (150, 3)), axis=0))
    frame = pd.DataFrame(prices, index=dates, columns=["AAA", "BBB", "CCC"])
    frame.index.name = "date"
    path = tmp_path / "monthly.csv"
    frame.to_csv(path)
    return path


def test_sac_on_a_monthly_universe_allocates_from_the_training_envs_observation(
        tmp_path: Path) -> None:
    """Issue #10: SAC's features were annualised as daily on monthly data (sqrt(252/12) off)."""
    from maxent_portfolio.data.market import MarketData
    from maxent_portfolio.envs import PortfolioEnv

    config = resolve_config(overrides={
        "data.universe": str(_monthly_csv(tmp_path)), "strategies": ["sac"],
        "walk_forward.train_years": 6.0, "walk_forward.test_years": 2.0, "env.lookback": 12,
        "env.episode_length": 24, "sac.train_steps": 16, "sac.num_envs": 2,
        "sac.learning_starts": 2, "sac.batch_size": 8, "sac.hidden": (8, 8),
        "sac.device": "cpu", "sac.validation_fraction": 0.0})
    plan = prepare(config)
    assert plan.market.periods_per_year == 12
    strategy = build_strategy("sac", context(plan, plan.jobs[0]))
    returns = plan.market.returns
    strategy.fit(returns.iloc[:72])
    seen: list[np.ndarray] = []
    act = strategy.agent_.act
    strategy.agent_.act = lambda obs, deterministic=True: (seen.append(obs), act(obs))[1]
    t = 90
    current = pd.Series([0.3, 0.3, 0.2, 0.2], index=[*returns.columns, CASH])
    strategy.allocate(returns.iloc[: t + 1], current)

    def env_observation(ppy: int) -> np.ndarray:
        env = PortfolioEnv(universe=MarketData.from_returns(returns, periods_per_year=ppy),
                           lookback=12, episode_length=None)
        return env.observation_at(t, current.to_numpy())

    np.testing.assert_allclose(seen[0], env_observation(12), atol=1e-5)
    assert not np.allclose(seen[0], env_observation(252), atol=1e-3)  # the bug's features


def test_the_agent_trains_on_the_costs_it_is_judged_on() -> None:
    """Issue #10: slippage never reached the agent's training env."""
    config = resolve_config(overrides={"costs.cost_bps": 10.0, "costs.slippage_bps": 5.0})
    strategy = build_strategy("sac", StrategyContext(config, 252, 0))
    assert strategy.costs.bps(["A", "B"]).tolist() == [15.0, 15.0]
    engine_rate = config.costs.rate(["A", "B"])
    assert engine_rate == pytest.approx(15e-4)


def test_random_gets_its_seed_and_plugins_get_the_same_context() -> None:
    config = resolve_config()
    random = build_strategy("random", StrategyContext(config, 252, seed=11))
    assert random.seed == 11  # type: ignore[attr-defined]

    class Seen(Strategy):
        name = "context-spy"
        description = "records its context"
        contexts: list[StrategyContext] = []  # noqa: RUF012

        @classmethod
        def from_context(cls, ctx: StrategyContext) -> Seen:
            cls.contexts.append(ctx)
            return cls()

        def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
            return pd.Series(1 / history.shape[1], index=history.columns)

    register(Seen, replace=True)
    ctx = StrategyContext(config, 12, seed=5)
    assert isinstance(build_strategy("context-spy", ctx), Seen)
    assert Seen.contexts == [ctx]
