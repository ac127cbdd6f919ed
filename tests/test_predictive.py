"""The predict-then-optimise baseline `ridge-kelly` (strategies/predictive.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from maxent_portfolio.backtest import WalkForward, run_backtest
from maxent_portfolio.data.synthetic import planted_market
from maxent_portfolio.envs.features import FEATURE_NAMES
from maxent_portfolio.strategies import EqualWeight
from maxent_portfolio.strategies.predictive import (
    RidgeKelly,
    forward_log_returns,
    rebalance_horizon,
    ridge,
)
from maxent_portfolio.strategies.registry import get_strategy


def test_forward_log_returns_by_hand() -> None:
    x = np.array([[0.1], [0.2], [0.3], [0.4]])
    np.testing.assert_allclose(forward_log_returns(x, 2)[:, 0], [0.5, 0.7, np.nan, np.nan])
    np.testing.assert_allclose(forward_log_returns(x, 1)[:, 0], [0.2, 0.3, 0.4, np.nan])


def test_ridge_matches_scikit_learn_on_standardised_features() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(0, [1.0, 5.0, 0.1], (400, 3)) + np.array([0.0, 2.0, -1.0])
    target = features @ [0.3, -0.1, 2.0] + rng.normal(0, 0.5, 400)
    beta, intercept, center, scale = ridge(features, target, alpha=0.05)
    z = (features - features.mean(axis=0)) / features.std(axis=0)
    reference = Ridge(alpha=0.05 * len(z)).fit(z, target)
    np.testing.assert_allclose(beta, reference.coef_, rtol=1e-10)
    assert intercept + ((features[:5] - center) / scale) @ beta == pytest.approx(
        reference.predict(z[:5]))


def test_horizon_is_the_spacing_of_the_rebalance_dates() -> None:
    days = pd.bdate_range("2010-01-01", "2012-12-31")
    assert rebalance_horizon(days, "monthly") in (21, 22)
    assert rebalance_horizon(days, "weekly") == 5
    assert rebalance_horizon(days, "daily") == 1


def test_it_finds_a_planted_momentum_signal_and_beats_one_over_n() -> None:
    market = planted_market(8, 16 * 252, signal_strength=0.6, seed=4)
    strategy = RidgeKelly().fit(market.returns.iloc[: 8 * 252])
    assert strategy.horizon_ in (21, 22, 23)
    # The signal is mom_20: its coefficient is positive and the largest in size.
    mom_20 = FEATURE_NAMES.index("mom_20")
    assert strategy.beta_[mom_20] > 0
    assert np.argmax(np.abs(strategy.beta_)) == mom_20
    splits = WalkForward(train=4 * 252, test=4 * 252)
    learned, naive = (run_backtest(market.returns, s, splits=splits, rebalance="monthly",
                                   cost_bps=10) for s in (RidgeKelly(), EqualWeight()))
    excess = (np.log1p(learned.returns) - np.log1p(naive.returns)).mean() * 252
    assert excess > 0.05


def test_registered_and_built_from_the_run_options() -> None:
    from maxent_portfolio.config import resolve_config
    from maxent_portfolio.strategies.base import StrategyContext

    config = resolve_config(overrides={"env.lookback": 30, "schedule.rebalance": "weekly"})
    strategy = get_strategy("ridge-kelly")
    assert isinstance(strategy, RidgeKelly)
    built = RidgeKelly.from_context(StrategyContext(config, periods_per_year=52))
    assert (built.lookback, built.rebalance, built.periods_per_year) == (30, "weekly", 52)
