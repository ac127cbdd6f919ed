"""Baselines against independent computations: skfolio built here, or formulas by hand."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from skfolio.moments import LedoitWolf
from skfolio.optimization import HierarchicalRiskParity as SkHRP
from skfolio.optimization import MeanRisk, ObjectiveFunction, RiskBudgeting
from skfolio.prior import EmpiricalPrior

from maxent_portfolio.backtest.engine import run_backtest
from maxent_portfolio.backtest.walkforward import WalkForward
from maxent_portfolio.errors import ConfigError
from maxent_portfolio.strategies import (
    STRATEGIES,
    BuyAndHold,
    HierarchicalRiskParity,
    InverseVolatility,
    MaximumSharpe,
    MinimumVariance,
    Momentum,
    RandomWeights,
    RiskParity,
    Strategy,
    available_strategies,
    get_strategy,
    register,
)
from maxent_portfolio.strategies.base import CASH

NAMES = ["equal-weight", "buy-and-hold", "inverse-volatility", "min-variance", "max-sharpe",
         "risk-parity", "hrp", "momentum", "random", "eg", "ons", "olmar", "pamr", "bcrp"]


def _hold(columns: pd.Index) -> pd.Series:
    return pd.Series(0.0, index=[*columns, CASH])


def test_min_variance_equals_skfolio_ledoit_wolf(synthetic_returns: pd.DataFrame) -> None:
    history = synthetic_returns.iloc[:700]
    got = MinimumVariance(window=252, refit="rebalance").allocate(history, _hold(history.columns))
    expected = MeanRisk(objective_function=ObjectiveFunction.MINIMIZE_RISK,
                        prior_estimator=EmpiricalPrior(covariance_estimator=LedoitWolf())
                        ).fit(history.iloc[-252:]).weights_
    np.testing.assert_allclose(got.to_numpy(), expected, atol=1e-6)
    assert list(got.index) == list(history.columns)


@pytest.mark.parametrize(("cls", "reference"), [
    (MaximumSharpe, lambda: MeanRisk(objective_function=ObjectiveFunction.MAXIMIZE_RATIO)),
    (RiskParity, lambda: RiskBudgeting()),
    (HierarchicalRiskParity, lambda: SkHRP()),
])
def test_optimisers_equal_skfolio_on_trailing_window(
        synthetic_returns: pd.DataFrame, cls: type, reference: object) -> None:
    history = synthetic_returns.iloc[:500]
    got = cls(window=200, refit="rebalance").allocate(history, _hold(history.columns))
    expected = reference().fit(history.iloc[-200:]).weights_  # type: ignore[operator]
    np.testing.assert_allclose(got.to_numpy(), expected, atol=1e-6)


def test_risk_parity_equalises_risk_contributions(synthetic_returns: pd.DataFrame) -> None:
    history = synthetic_returns.iloc[:400]
    strat = RiskParity(window=400, refit="rebalance")
    w = strat.allocate(history, _hold(history.columns)).to_numpy()
    cov = np.cov(history.to_numpy(), rowvar=False)
    contrib = w * (cov @ w)  # Maillard et al. (2010): RC_i = w_i (Sigma w)_i
    np.testing.assert_allclose(contrib / contrib.sum(), 0.2, atol=1e-4)


def test_inverse_volatility_by_hand(synthetic_returns: pd.DataFrame) -> None:
    history = synthetic_returns.iloc[:300]
    got = InverseVolatility(window=100).allocate(history, _hold(history.columns))
    inv = 1.0 / history.iloc[-100:].std()  # pandas std: ddof = 1
    pd.testing.assert_series_equal(got, inv / inv.sum(), check_names=False, atol=1e-12)


def test_fold_refit_holds_the_training_window_estimate(synthetic_returns: pd.DataFrame) -> None:
    res = run_backtest(synthetic_returns, MinimumVariance(window=150),
                       splits=WalkForward(train=400, test=300), rebalance="monthly")
    for start in (400, 700):  # one estimate per fold, on the last 150 training periods
        expected = MeanRisk(prior_estimator=EmpiricalPrior(covariance_estimator=LedoitWolf())
                            ).fit(synthetic_returns.iloc[start - 150: start]).weights_
        fold = res.targets.loc[synthetic_returns.index[start - 1]:
                               synthetic_returns.index[start + 298]]
        assert len(fold) > 10
        np.testing.assert_allclose(fold.iloc[:, :-1].to_numpy(),
                                   np.tile(expected, (len(fold), 1)), atol=1e-6)


def test_max_sharpe_falls_back_to_inverse_vol_when_infeasible() -> None:
    rng = np.random.default_rng(5)
    returns = pd.DataFrame(rng.normal(-0.01, [0.01, 0.02, 0.04], (120, 3)),
                           index=pd.bdate_range("2020-01-01", periods=120), columns=list("ABC"))
    strat = MaximumSharpe(refit="rebalance")
    with pytest.warns(RuntimeWarning, match="falling back"):
        got = strat.allocate(returns, _hold(returns.columns))
    inv = 1.0 / returns.std()
    np.testing.assert_allclose(got.to_numpy(), (inv / inv.sum()).to_numpy(), atol=1e-12)
    assert strat.n_fallbacks_ == 1
    assert strat.fallbacks_[0][0] == returns.index[-1]
    strat.reset()
    assert strat.n_fallbacks_ == 0


def test_singular_covariance_falls_back_to_equal_weight() -> None:
    rng = np.random.default_rng(6)
    data = rng.normal(0.001, 0.01, (100, 3))
    data[:, 1] = 0.0  # a zero-variance asset: no covariance-based optimiser is defined
    returns = pd.DataFrame(data, index=pd.bdate_range("2020-01-01", periods=100),
                           columns=list("ABC"))
    for cls in (MaximumSharpe, RiskParity, HierarchicalRiskParity, InverseVolatility):
        strat = cls(refit="rebalance")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = strat.allocate(returns, _hold(returns.columns))
        np.testing.assert_allclose(got.to_numpy(), 1 / 3, atol=1e-12)
        assert strat.n_fallbacks_ == 1, cls.name
    # Ledoit-Wolf shrinkage keeps the covariance positive definite: min-variance is still
    # defined and loads on the riskless asset.
    strat = MinimumVariance(refit="rebalance")
    got = strat.allocate(returns, _hold(returns.columns))
    assert strat.n_fallbacks_ == 0
    assert got.idxmax() == "B"


def test_momentum_picks_top_k_of_12_1_returns() -> None:
    n_days, n_assets = 300, 8
    idx = pd.bdate_range("2019-01-01", periods=n_days)
    data = np.zeros((n_days, n_assets))
    drift = np.array([0.1, 0.5, -0.2, 0.3, 0.0, 0.2, -0.1, 0.4]) / 100
    data[:] = drift
    data[-21:, 0] = 0.05  # a late spike inside the skipped month must not count
    data[: n_days - 252, 2] = 0.5  # a spike before the 12-month window must not count
    returns = pd.DataFrame(data, index=idx, columns=[f"A{i}" for i in range(n_assets)])
    got = Momentum().allocate(returns, _hold(returns.columns))
    expected = np.zeros(n_assets)
    expected[[1, 7]] = 0.5  # top k = 8 // 4 = 2 by drift
    np.testing.assert_allclose(got.to_numpy(), expected)
    got3 = Momentum(k=3).allocate(returns, _hold(returns.columns))
    assert set(np.flatnonzero(got3.to_numpy())) == {1, 3, 7}


def test_random_is_reproducible_from_seed(synthetic_returns: pd.DataFrame) -> None:
    splits = WalkForward(train=600, test=200)
    strat = RandomWeights(seed=11)
    first = run_backtest(synthetic_returns, strat, splits=splits).targets
    again = run_backtest(synthetic_returns, strat, splits=splits).targets  # reset() rewinds
    fresh = run_backtest(synthetic_returns, RandomWeights(seed=11), splits=splits).targets
    other = run_backtest(synthetic_returns, RandomWeights(seed=12), splits=splits).targets
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_frame_equal(first, fresh)
    assert not np.allclose(first.to_numpy(), other.to_numpy())
    assert first.iloc[:, :-1].std().min() > 0.01  # really random across rebalances


def test_buy_and_hold_never_trades_after_the_first_rebalance(
        synthetic_returns: pd.DataFrame) -> None:
    res = run_backtest(synthetic_returns, BuyAndHold(), splits=WalkForward(train=300, test=200),
                       rebalance="monthly", cost_bps=10.0)
    np.testing.assert_allclose(res.targets.iloc[0, :-1], 0.2)
    assert res.turnover.iloc[0] == pytest.approx(1.0)
    np.testing.assert_allclose(res.turnover.iloc[1:], 0.0, atol=1e-12)
    # Weights drift with prices: hand-compound 1/N to the last decision date.
    growth = (1.0 + synthetic_returns.iloc[300: synthetic_returns.index.get_loc(
        res.targets.index[-1]) + 1]).prod()
    np.testing.assert_allclose(res.targets.iloc[-1, :-1], growth / growth.sum(), atol=1e-10)


def test_registry_has_every_baseline_with_a_description() -> None:
    assert set(NAMES) <= set(STRATEGIES)
    for name in NAMES:
        cls = available_strategies()[name]
        assert cls.name == name
        assert cls.description and "\n" not in cls.description
        assert isinstance(get_strategy(name), Strategy)
    assert not STRATEGIES["bcrp"].investable
    assert "not investable" in STRATEGIES["bcrp"].description
    assert all(cls.investable for name, cls in STRATEGIES.items() if name in NAMES[:-1])


def test_get_strategy_passes_params_and_rejects_unknown_names() -> None:
    assert get_strategy("eg", eta=0.2).eta == 0.2  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match=r"unknown strategy 'nope'.*equal-weight.*bcrp"):
        get_strategy("nope")
    with pytest.raises(ConfigError, match="invalid parameters"):
        get_strategy("momentum", bogus=1)


def test_register_plugins() -> None:
    class Plugin(Strategy):
        name = "test-plugin"
        description = "all in the first asset"

        def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
            return pd.Series(1.0, index=history.columns[:1])

    try:
        assert register(Plugin) is Plugin
        assert isinstance(get_strategy("test-plugin"), Plugin)
        register(Plugin)  # idempotent for the same class

        class Clash(Plugin):
            pass

        with pytest.raises(ConfigError, match="already registered"):
            register(Clash)
        register(Clash, replace=True)
        assert STRATEGIES["test-plugin"] is Clash
        with pytest.raises(ConfigError, match="Strategy subclasses"):
            register(int)  # type: ignore[type-var]
    finally:
        STRATEGIES.pop("test-plugin", None)
    assert "test-plugin" not in available_strategies()
