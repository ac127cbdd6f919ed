"""Risk and performance measures against quantstats and hand-worked examples."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import quantstats as qs

from maxent_portfolio import measures as m
from maxent_portfolio.backtest.engine import BacktestResult, run_backtest
from maxent_portfolio.backtest.walkforward import Fold
from maxent_portfolio.errors import ConfigError, DataError
from maxent_portfolio.strategies.base import CASH, Strategy
from maxent_portfolio.strategies.baselines import EqualWeight

P = 252


@pytest.fixture
def daily() -> pd.Series:
    rng = np.random.default_rng(11)
    idx = pd.bdate_range("2015-01-05", periods=600)
    return pd.Series(rng.normal(4e-4, 0.011, len(idx)), index=idx, name="s")


def _hand_result(name: str = "hand", investable: bool = True) -> BacktestResult:
    """Four periods, P = 4 (one year): gross 1% each period, a 0.1% cost at the start."""
    idx = pd.bdate_range("2021-01-04", periods=4)
    gross = pd.Series([0.01] * 4, index=idx)
    net = gross.copy()
    net.iloc[0] = (1 - 0.001) * 1.01 - 1
    holdings = pd.DataFrame([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0],
                             [0.5, 0.25, 0.25], [0.0, 0.0, 1.0]],
                            index=idx, columns=["A", "B", CASH])
    dec = idx[[0, 2]]
    return BacktestResult(name=name, returns=net, gross_returns=gross, holdings=holdings,
                          targets=holdings.iloc[[0, 2]], drifted=holdings.iloc[[0, 2]],
                          turnover=pd.Series([1.0, 0.6], index=dec),
                          costs=pd.Series([0.001, 0.0], index=dec), folds=[],
                          investable=investable, periods_per_year=4)


# ----------------------------------------------------------------------------- quantstats
@pytest.mark.parametrize("rf", [0.0, 0.03])
def test_sharpe_and_sortino_equal_quantstats(daily: pd.Series, rf: float) -> None:
    # Both take an annual rf, de-annualised geometrically over P periods.
    assert m.sharpe(daily, P, rf) == pytest.approx(qs.stats.sharpe(daily, rf=rf, periods=P),
                                                   abs=1e-10)
    assert m.sortino(daily, P, rf) == pytest.approx(qs.stats.sortino(daily, rf=rf, periods=P),
                                                    abs=1e-10)


def test_volatility_cagr_drawdown_calmar_equal_quantstats(daily: pd.Series) -> None:
    assert m.volatility(daily, P) == pytest.approx(qs.stats.volatility(daily, periods=P),
                                                   abs=1e-10)
    # quantstats 0.0.86 counts years as n / periods, like us (not calendar years).
    assert m.cagr(daily, P) == pytest.approx(qs.stats.cagr(daily, periods=P), abs=1e-10)
    assert m.max_drawdown(daily) == pytest.approx(qs.stats.max_drawdown(daily), abs=1e-10)
    assert m.calmar(daily, P) == pytest.approx(qs.stats.calmar(daily, periods=P), abs=1e-10)
    assert m.total_return(daily) == pytest.approx(qs.stats.comp(daily), abs=1e-10)


def test_cagr_with_weekly_periods_equals_quantstats(daily: pd.Series) -> None:
    weekly = daily.iloc[::5]
    assert m.cagr(weekly, 52) == pytest.approx(qs.stats.cagr(weekly, periods=52), abs=1e-10)


def test_first_period_loss_counts_as_drawdown() -> None:
    r = pd.Series([-0.1, 0.05, 0.02], index=pd.bdate_range("2021-01-04", periods=3))
    assert m.max_drawdown(r) == pytest.approx(-0.1, abs=1e-15)
    assert m.max_drawdown(r) == pytest.approx(qs.stats.max_drawdown(r), abs=1e-12)


def test_historical_var_and_cvar(daily: pd.Series) -> None:
    assert m.var(daily, 0.95) == pytest.approx(daily.quantile(0.05), abs=1e-15)
    assert m.cvar(daily, 0.95) == pytest.approx(
        qs.stats.cvar(daily, confidence=0.95, method="historical"), abs=1e-12)
    # 20 values -0.10, -0.09, ..., 0.09: the 5% quantile at position 0.95 interpolates.
    r = np.arange(-10, 10) / 100
    assert m.var(r) == pytest.approx(-0.10 + 0.95 * 0.01, abs=1e-15)
    assert m.cvar(r) == pytest.approx(-0.10, abs=1e-15)
    assert m.cvar(r) <= m.var(r)


def test_hit_rate_counts_zero_periods_unlike_quantstats() -> None:
    r = pd.Series([0.01, 0.0, -0.02, 0.03, 0.0, 0.01, -0.01, 0.02],
                  index=pd.bdate_range("2021-01-04", periods=8))
    assert m.hit_rate(r) == pytest.approx(4 / 8)
    # quantstats divides by the non-zero periods only: convert between the two.
    n, nonzero = len(r), int((r != 0).sum())
    assert m.hit_rate(r) * n == pytest.approx(qs.stats.win_rate(r) * nonzero, abs=1e-12)


def test_per_period_rf_array_is_subtracted_as_is(daily: pd.Series) -> None:
    rates = np.linspace(0.0, 2e-4, len(daily))
    x = daily.to_numpy() - rates
    assert m.sharpe(daily, P, rates) == pytest.approx(
        x.mean() / x.std(ddof=1) * math.sqrt(P), abs=1e-12)
    # Annual 3% as a scalar equals the per-period rate (1.03)^(1/252) - 1 as an array.
    per = np.full(len(daily), 1.03 ** (1 / P) - 1)
    assert m.sharpe(daily, P, 0.03) == pytest.approx(m.sharpe(daily, P, per), abs=1e-14)


# ----------------------------------------------------------------------------- hand-worked
def test_drawdown_duration_in_periods_and_days() -> None:
    idx = pd.bdate_range("2021-01-04", periods=8)  # Mon 4 .. Fri 8, Mon 11 .. Wed 13
    r = pd.Series([0.1, -0.1, 0.05, 0.1, -0.2, 0.0, 0.01, 0.3], index=idx)
    # Equity 1.1, .99, 1.0395, 1.14345 (peak), .91476, .91476, .92391, 1.20108 (recovered).
    assert m.max_drawdown_duration(r) == 3
    # Peak closed Thu Jan 7, back above it Wed Jan 13: 6 calendar days.
    assert m.max_drawdown_days(r) == 6.0
    assert m.max_drawdown(r) == pytest.approx(0.8 - 1, abs=1e-12)
    never = pd.Series([-0.1, 0.05], index=pd.bdate_range("2021-01-04", periods=2))
    assert m.max_drawdown_duration(never) == 2
    assert m.max_drawdown_days(never) == 2.0  # from Jan 3 (one step before) to Jan 5
    assert m.max_drawdown_days(r.to_numpy()) != m.max_drawdown_days(r.to_numpy())  # NaN
    up = pd.Series([0.01, 0.02], index=idx[:2])
    assert m.max_drawdown_duration(up) == 0 and m.max_drawdown_days(up) == 0.0
    assert math.isnan(m.calmar(up, P))


def test_effective_n_and_entropy_hand_worked() -> None:
    w = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.5, 0.25, 0.25], [0.0, 0.0, 1.0]])
    # 1/sum w^2: 2, 1, 1/0.375 = 8/3, 1 (all cash is one holding).
    assert m.effective_n(w) == pytest.approx((2 + 1 + 8 / 3 + 1) / 4, abs=1e-15)
    # -sum w ln w: ln 2, 0, 0.5 ln 2 + 2 * 0.25 ln 4 = 1.5 ln 2, 0.
    assert m.weight_entropy(w) == pytest.approx((math.log(2) + 1.5 * math.log(2)) / 4,
                                                abs=1e-15)
    with pytest.raises(DataError):
        m.effective_n(np.array([[1.5, -0.5]]))


def test_turnover_annualised_hand_worked() -> None:
    # 1.5 of two-way turnover over 126 daily periods = half a year -> 3.0 per year.
    assert m.annual_turnover([1.0, 0.2, 0.3], n_periods=126, periods_per_year=P) == \
        pytest.approx(3.0)
    assert m.annual_turnover([0.4] * 12, n_periods=24, periods_per_year=12) == pytest.approx(2.4)


def test_summarize_a_hand_result() -> None:
    s = m.summarize(_hand_result())
    assert set(s) == set(m.METRIC_DESCRIPTIONS) - {"strategy"}
    # One year (4 periods, P = 4): gross grows 1.01^4, net 0.999 * 1.01^4.
    assert s["cagr"] == pytest.approx(0.999 * 1.01**4 - 1, abs=1e-15)
    assert s["total_return"] == pytest.approx(s["cagr"], abs=1e-15)
    assert s["cost_drag"] == pytest.approx(0.001 * 1.01**4, abs=1e-15)
    assert s["turnover"] == pytest.approx(1.6)
    assert s["effective_n"] == pytest.approx((2 + 1 + 8 / 3 + 1) / 4)
    assert s["entropy"] == pytest.approx(2.5 * math.log(2) / 4)
    assert s["hit_rate"] == 1.0 and s["max_drawdown"] == 0.0 and s["investable"] == 1.0
    assert math.isnan(s["p_sharpe_vs_ref"]) and math.isnan(s["p_jk_memmel"])
    assert m.summarize(_hand_result(investable=False))["investable"] == 0.0


# ----------------------------------------------------------------------------- tables
class _Tilted(Strategy):
    name = "tilted"
    stateless = True

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        w = np.linspace(1.0, 2.0, history.shape[1])
        return pd.Series(w / w.sum(), index=history.columns)


def test_metrics_table_rows_columns_and_reference(synthetic_returns: pd.DataFrame) -> None:
    folds = [Fold(0, 400, 400, 1200)]
    ew = run_backtest(synthetic_returns, EqualWeight(), splits=folds)
    tilt = run_backtest(synthetic_returns, _Tilted(), splits=folds)
    bench = synthetic_returns["AAA"]
    table = m.metrics_table([ew, tilt], benchmark=bench)
    assert list(table.columns) == list(m.METRIC_DESCRIPTIONS)
    assert list(table["strategy"]) == ["equal-weight", "tilted", "benchmark"]
    rows = table.set_index("strategy")
    assert rows.loc["equal-weight", ["p_sharpe_vs_ref", "p_jk_memmel"]].isna().all()
    assert rows.loc["tilted", ["p_sharpe_vs_ref", "p_jk_memmel"]].between(0, 1).all()
    assert rows.loc["benchmark", ["turnover", "effective_n", "entropy", "cost_drag"]].isna().all()
    # The benchmark is judged on the out-of-sample dates only.
    oos = bench.iloc[400:]
    assert rows.loc["benchmark", "sharpe"] == pytest.approx(qs.stats.sharpe(oos), abs=1e-10)
    assert rows.loc["tilted", "sharpe"] == pytest.approx(qs.stats.sharpe(tilt.returns),
                                                         abs=1e-10)
    assert rows.loc["equal-weight", "effective_n"] == pytest.approx(5.0, abs=0.05)
    assert table["investable"].dtype == bool
    # Trials default to the table's investable strategies, so DSR <= PSR.
    assert (rows["dsr"] <= rows["psr"] + 1e-12).all()
    single = m.metrics_table([ew, tilt], n_trials=1).set_index("strategy")
    np.testing.assert_allclose(single["dsr"], single["psr"])
    none = m.metrics_table([ew, tilt], reference=None)
    assert none[["p_sharpe_vs_ref", "p_jk_memmel"]].isna().all().all()


def test_metrics_table_refuses_bad_input() -> None:
    res = _hand_result("a")
    with pytest.raises(ConfigError, match="reference"):
        m.metrics_table([res])
    with pytest.raises(ConfigError, match="duplicate"):
        m.metrics_table([res, _hand_result("a")], reference=None)
    with pytest.raises(ConfigError):
        m.metrics_table([], reference=None)


def test_descriptions_are_one_line() -> None:
    assert all(d and "\n" not in d for d in m.METRIC_DESCRIPTIONS.values())


# ----------------------------------------------------------------------------- validation
def test_bad_inputs_raise_user_errors(daily: pd.Series) -> None:
    with pytest.raises(DataError):
        m.sharpe([0.01, float("nan")], P)
    with pytest.raises(DataError):
        m.cagr([], P)
    with pytest.raises(DataError):
        m.volatility(np.zeros((3, 2)), P)
    with pytest.raises(ConfigError):
        m.sharpe(daily, 0)
    with pytest.raises(ConfigError):
        m.sharpe(daily, P, rf=np.zeros(3))
    with pytest.raises(ConfigError):
        m.var(daily, 1.5)


def test_degenerate_series_give_nan_not_errors() -> None:
    flat = np.zeros(10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(m.sharpe(flat, P))
        assert math.isnan(m.sortino(flat, P))
        assert m.hit_rate(flat) == 0.0
        assert math.isnan(m.cagr([-1.0, 0.1], P))


def test_turnover_is_two_way_and_described_so(synthetic_returns: pd.DataFrame) -> None:
    # A full switch from one stock to another trades 1.0 out and 1.0 in: turnover 2.0.
    assert "two-way" in m.METRIC_DESCRIPTIONS["turnover"]
    assert "one-way" not in m.METRIC_DESCRIPTIONS["turnover"]

    class Switch(Strategy):
        name, description = "switch", "first asset, then the second"

        def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
            return pd.Series({history.columns[len(history) % 2]: 1.0})

    returns = synthetic_returns.iloc[:40, :2]
    res = run_backtest(returns, Switch(), splits=[Fold(0, 10, 10, 40)], rebalance="every:5",
                       cost_bps=0.0)
    np.testing.assert_allclose(res.turnover.to_numpy()[1:], 2.0, atol=1e-12)


def test_expected_max_sharpe_hand_worked() -> None:
    # Bailey & Lopez de Prado (2014): E[max SR] = sqrt(V) [(1 - g) Z^-1(1 - 1/N)
    # + g Z^-1(1 - 1/(N e))]. N = 10, sd 0.5: Z^-1(0.9) = 1.28155, Z^-1(1 - 1/(10 e)) = 1.78924;
    # 0.42278 * 1.28155 + 0.57722 * 1.78924 = 1.57460, times 0.5 = 0.78730.
    assert m.expected_max_sharpe(10, 0.25, P) == pytest.approx(0.78730, abs=2e-5)
    assert m.expected_max_sharpe(1, 0.25, P) == 0.0


@pytest.mark.parametrize("n_trials", [1.05, 1.2, 1.28])
def test_fractional_trials_never_deflate_above_the_psr(daily: pd.Series, n_trials: float) -> None:
    # At N = 1.2 the bracket is 0.42278 * -0.96742 + 0.57722 * 0.50561 = -0.117 < 0, but the
    # expected best of N >= 1 zero-mean trials is >= 0: the benchmark is floored at 0.
    assert m.expected_max_sharpe(n_trials, 0.25, P) == 0.0
    psr = m.probabilistic_sharpe_ratio(daily, P)
    assert m.deflated_sharpe_ratio(daily, P, n_trials, 0.25) == pytest.approx(psr, abs=1e-15)
    row = m.summarize_returns(daily, P, n_trials=n_trials, trial_sharpes=[0.1, 0.6, 1.1])
    assert row["dsr"] <= row["psr"] + 1e-15
