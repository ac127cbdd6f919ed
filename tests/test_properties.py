"""Property-based tests (hypothesis) of the CSV loader and the backtest engine.

Random tables either load or are refused with a user error; every backtest that runs keeps
positive wealth, bounded non-negative costs, weights on the simplex, the drift identity, and
does not depend on the order of the asset columns. Deterministic (``derandomize``) and small.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from maxent_portfolio.backtest.engine import BacktestResult, run_backtest
from maxent_portfolio.backtest.walkforward import TrainTestSplit, WalkForward
from maxent_portfolio.data import load_universe
from maxent_portfolio.errors import ConfigError, DataError
from maxent_portfolio.limits import LimitsConfig
from maxent_portfolio.strategies.base import CASH, Strategy
from maxent_portfolio.strategies.baselines import (
    BuyAndHold,
    EqualWeight,
    InverseVolatility,
    RandomWeights,
)

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
INVERSE_VOL_FALLBACKS = pytest.mark.filterwarnings(
    "ignore:inverse-volatility. estimation failed:RuntimeWarning")
"""Short random windows can have zero volatility; the strategy falls back and says so."""
NAMES = ("AAA", "BBB", "CCC", "DDD")
FREQUENCIES = {"B": 252, "W-FRI": 52, "ME": 12}


# ----------------------------------------------------------------------------- loader
@st.composite
def csv_tables(draw: st.DrawFn) -> pd.DataFrame:
    """Prices or returns, possibly with NaN, inf, zeros, negatives, unsorted or repeated dates."""
    n = draw(st.integers(1, 40))
    m = draw(st.integers(1, 4))
    freq = draw(st.sampled_from(sorted(FREQUENCIES)))
    prices = draw(st.booleans())
    values = draw(st.sampled_from([
        st.floats(0.5, 500.0), st.floats(-0.2, 0.2),  # clean prices / returns
        st.one_of(st.floats(-5.0, 500.0), st.sampled_from([0.0, np.nan, np.inf, -np.inf])),
        st.floats(allow_nan=True, allow_infinity=True, width=32),
    ]))
    data = draw(arrays(np.float64, (n, m), elements=values))
    if prices and draw(st.booleans()):
        data = np.abs(data) + 1.0  # a positive table most of the time
    index = pd.date_range("2015-01-01", periods=n, freq=freq, name="date")
    order = draw(st.sampled_from(["sorted", "reversed", "repeat"]))
    if order == "reversed":
        index = index[::-1]
    elif order == "repeat" and n > 1:
        index = index.insert(1, index[0])[:n]
    return pd.DataFrame(data, index=index, columns=list(NAMES[:m]))


@SETTINGS
@given(table=csv_tables(), kind=st.sampled_from(["auto", "prices", "returns"]))
def test_any_csv_loads_or_is_refused_with_a_user_error(table: pd.DataFrame, kind: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        path = Path(tmp) / "t.csv"
        table.to_csv(path)
        target = path
        if kind != "auto":
            target = Path(tmp) / "u.yaml"
            target.write_text(f"source: csv\npath: t.csv\nkind: {kind}\n")
        try:
            market = load_universe(str(target))
        except (DataError, ConfigError) as exc:
            assert "\n" not in str(exc)
            return
    prices = market.prices.to_numpy()
    assert np.isfinite(prices).all() and (prices > 0).all()
    assert np.isfinite(market.returns.to_numpy()).all()
    assert market.prices.index.is_monotonic_increasing and market.prices.index.is_unique
    assert market.periods_per_year in (12, 52, 252)
    assert list(market.returns.columns) == list(market.prices.columns)


# ----------------------------------------------------------------------------- engine
class DirichletWeights(Strategy):
    """Random weights over the assets and cash, some exactly zero: stresses the simplex."""

    name = "dirichlet"
    description = "random weights, cash included"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def reset(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        w = self.rng.dirichlet(np.full(history.shape[1] + 1, 0.5))
        w[w < 0.05] = 0.0
        return pd.Series(w / w.sum(), index=[*history.columns, CASH])


SYMMETRIC = {"equal-weight": EqualWeight, "buy-and-hold": BuyAndHold,
             "inverse-volatility": lambda: InverseVolatility(window=20)}
ANY = {**SYMMETRIC, "random": lambda: RandomWeights(seed=3), "dirichlet": DirichletWeights}
SCHEDULES = st.one_of(st.sampled_from(["daily", "weekly", "monthly", "quarterly"]),
                      st.integers(1, 10).map(lambda k: f"every:{k}"),
                      st.floats(0.01, 0.5).map(lambda x: f"drift:{x:.3f}"))


@st.composite
def returns_tables(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(30, 60))
    m = draw(st.integers(1, 4))
    data = draw(arrays(np.float64, (n, m), elements=st.floats(-0.9, 1.5)))
    index = pd.bdate_range("2019-12-02", periods=n, name="date")
    return pd.DataFrame(data, index=index, columns=list(NAMES[:m]))


def _splits(n: int, walk: bool) -> WalkForward | TrainTestSplit:
    return WalkForward(train=n // 3, test=n // 4) if walk else TrainTestSplit(0.4)


def _check_invariants(res: BacktestResult, returns: pd.DataFrame, rate: float) -> None:
    tol = 1e-9
    assert (1.0 + res.returns > 0).all() and (res.equity > 0).all()
    costs = res.costs.to_numpy()
    assert (costs >= 0).all() and (costs <= rate * 2 + tol).all()
    # The costs are what separates net from gross wealth: prod(1 + net) = prod(1 + gross)
    # prod(1 - cost).
    np.testing.assert_allclose(np.log1p(res.returns).sum() - np.log1p(res.gross_returns).sum(),
                               np.log1p(-costs).sum(), rtol=1e-9, atol=1e-12)
    turnover = res.turnover.to_numpy()
    assert (turnover >= 0).all() and (turnover <= 2 + tol).all()
    for frame in (res.holdings, res.targets, res.drifted):
        w = frame.to_numpy()
        assert (w >= -tol).all()
        np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=tol)


@INVERSE_VOL_FALLBACKS
@SETTINGS
@given(returns=returns_tables(), name=st.sampled_from(sorted(ANY)), schedule=SCHEDULES,
       cost_bps=st.floats(0.0, 300.0), slippage_bps=st.sampled_from([0.0, 5.0]),
       max_weight=st.one_of(st.none(), st.floats(0.2, 1.0)), walk=st.booleans())
def test_backtests_keep_wealth_costs_and_simplex(returns: pd.DataFrame, name: str,
                                                 schedule: str, cost_bps: float,
                                                 slippage_bps: float, max_weight: float | None,
                                                 walk: bool) -> None:
    limits = None if max_weight is None else \
        LimitsConfig(max_weight=max_weight).resolve(list(returns.columns))
    res = run_backtest(returns, ANY[name](), splits=_splits(len(returns), walk),
                       rebalance=schedule, cost_bps=cost_bps, slippage_bps=slippage_bps,
                       limits=limits)
    _check_invariants(res, returns, (cost_bps + slippage_bps) / 1e4)
    if limits is not None:
        assert (limits.violation(res.targets.to_numpy()) <= 1e-9).all()


@INVERSE_VOL_FALLBACKS
@SETTINGS
@given(returns=returns_tables(), name=st.sampled_from(sorted(ANY)), schedule=SCHEDULES,
       walk=st.booleans())
def test_zero_cost_obeys_the_drift_identity(returns: pd.DataFrame, name: str, schedule: str,
                                            walk: bool) -> None:
    res = run_backtest(returns, ANY[name](), splits=_splits(len(returns), walk),
                       rebalance=schedule, cost_bps=0.0)
    np.testing.assert_array_equal(res.returns.to_numpy(), res.gross_returns.to_numpy())
    h = res.holdings.to_numpy()
    r = np.column_stack([returns.loc[res.holdings.index].to_numpy(), np.zeros(len(h))])
    gross = res.gross_returns.to_numpy()
    # Each period earns the weights held over it.
    np.testing.assert_allclose(gross, (h * r).sum(axis=1), rtol=1e-9, atol=1e-12)
    # Between rebalances the weights move with prices: w' = w (1 + r) / (1 + g).
    position = returns.index.get_indexer(res.holdings.index)
    decided = res.holdings.index.isin(res.targets.index)
    for i in range(len(h) - 1):
        if position[i + 1] == position[i] + 1 and not decided[i]:
            np.testing.assert_allclose(h[i + 1], h[i] * (1 + r[i]) / (1 + gross[i]),
                                       rtol=1e-9, atol=1e-12)


@INVERSE_VOL_FALLBACKS
@SETTINGS
@given(returns=returns_tables(), name=st.sampled_from(sorted(SYMMETRIC)), schedule=SCHEDULES,
       cost_bps=st.floats(0.0, 100.0), data=st.data())
def test_results_do_not_depend_on_column_order(returns: pd.DataFrame, name: str,
                                               schedule: str, cost_bps: float,
                                               data: st.DataObject) -> None:
    order = data.draw(st.permutations(list(returns.columns)))
    splits = TrainTestSplit(0.4)
    a = run_backtest(returns, SYMMETRIC[name](), splits=splits, rebalance=schedule,
                     cost_bps=cost_bps)
    b = run_backtest(returns[order], SYMMETRIC[name](), splits=splits, rebalance=schedule,
                     cost_bps=cost_bps)
    np.testing.assert_allclose(b.returns.to_numpy(), a.returns.to_numpy(), rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(b.costs.to_numpy(), a.costs.to_numpy(), rtol=1e-9, atol=1e-15)
    assert b.targets.index.equals(a.targets.index)
    for frame in ("holdings", "targets", "drifted"):
        pd.testing.assert_frame_equal(getattr(b, frame)[[*order, CASH]],
                                      getattr(a, frame)[[*order, CASH]], rtol=1e-9,
                                      atol=1e-12)


@SETTINGS
@given(returns=returns_tables(),
       cost_bps=st.sampled_from([-1.0, float("nan"), float("inf")]),
       schedule=st.sampled_from(["every:0", "drift:0", "drift:1.5", "hourly", "every:x"]),
       which=st.sampled_from(["cost", "schedule"]))
def test_bad_costs_and_schedules_are_config_errors(returns: pd.DataFrame, cost_bps: float,
                                                   schedule: str, which: str) -> None:
    kwargs: dict[str, object] = {"cost_bps": cost_bps} if which == "cost" \
        else {"rebalance": schedule}
    try:
        run_backtest(returns, EqualWeight(), splits=TrainTestSplit(0.4), **kwargs)
    except ConfigError as exc:
        assert "\n" not in str(exc)
    else:
        raise AssertionError(f"{kwargs} was accepted")
