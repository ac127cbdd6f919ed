"""The backtest engine against hand-worked arithmetic and its own contracts."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from maxent_portfolio.backtest.engine import decided_weights, run_backtest
from maxent_portfolio.backtest.walkforward import Fold, TrainTestSplit, WalkForward
from maxent_portfolio.errors import ConfigError, DataError, StrategyError
from maxent_portfolio.limits import LimitsConfig
from maxent_portfolio.rebalance import Schedule
from maxent_portfolio.strategies.base import CASH, Strategy, validate_weights
from maxent_portfolio.strategies.baselines import EqualWeight


class Fixed(Strategy):
    name = "fixed"
    stateless = True

    def __init__(self, weights: dict[str, float]) -> None:
        self.weights = weights

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        return pd.Series(self.weights)


class FixedSequential(Fixed):
    name = "fixed-seq"
    stateless = False


def _hand_market() -> pd.DataFrame:
    idx = pd.bdate_range("2021-01-04", periods=5)
    return pd.DataFrame(
        {"A": [0.0, 0.10, 0.0, -0.10, 0.05],
         "B": [0.0, 0.0, 0.20, 0.0, -0.05],
         "C": [0.0, -0.10, 0.0, 0.10, 0.0]}, index=idx)


@pytest.mark.parametrize("cls", [Fixed, FixedSequential])
def test_three_assets_five_days_worked_by_hand(cls: type[Fixed]) -> None:
    r = _hand_market()
    res = run_backtest(r, cls({"A": 0.5, "B": 0.3, "C": 0.2}), splits=[Fold(0, 1, 1, 5)],
                       rebalance="every:2", cost_bps=10.0)
    c = 0.001
    # t=0: buy from cash, turnover 1. Day 1: A +10%, C -10%.
    net1 = (1 - c * 1.0) * (1 + 0.5 * 0.10 - 0.2 * 0.10) - 1
    # Day 2 held (no rebalance): positions 0.55, 0.30, 0.18 -> 0.55, 0.36, 0.18.
    net2 = (0.55 + 0.36 + 0.18) / (0.55 + 0.30 + 0.18) - 1
    # t=2 rebalance from drifted (0.55, 0.36, 0.18)/1.09 back to (0.5, 0.3, 0.2).
    turnover2 = (abs(0.5 * 1.09 - 0.55) + abs(0.3 * 1.09 - 0.36) + abs(0.2 * 1.09 - 0.18)) / 1.09
    net3 = (1 - c * turnover2) * (1 - 0.5 * 0.10 + 0.2 * 0.10) - 1
    net4 = (0.45 * 1.05 + 0.30 * 0.95 + 0.22) / (0.45 + 0.30 + 0.22) - 1
    np.testing.assert_allclose(res.returns.to_numpy(), [net1, net2, net3, net4], rtol=0,
                               atol=1e-15)
    np.testing.assert_allclose(res.turnover.to_numpy(), [1.0, turnover2], atol=1e-15)
    np.testing.assert_allclose(res.costs.to_numpy(), [c, c * turnover2], atol=1e-18)
    assert list(res.returns.index) == list(r.index[1:])
    assert list(res.targets.index) == [r.index[0], r.index[2]]
    np.testing.assert_allclose(res.drifted.iloc[1][["A", "B", "C"]].to_numpy(),
                               np.array([0.55, 0.36, 0.18]) / 1.09, atol=1e-15)
    np.testing.assert_allclose(res.equity.iloc[-1],
                               np.prod([1 + x for x in (net1, net2, net3, net4)]))


def test_vectorised_and_sequential_paths_agree(synthetic_returns: pd.DataFrame) -> None:
    w = {"AAA": 0.4, "BBB": 0.1, "CCC": 0.2, "DDD": 0.2, "EEE": 0.1}
    kw = dict(splits=WalkForward(train=250, test=200), cost_bps=7.0)
    for schedule in ("daily", "weekly", "monthly", "every:3"):
        a = run_backtest(synthetic_returns, Fixed(w), rebalance=schedule, **kw)
        b = run_backtest(synthetic_returns, FixedSequential(w), rebalance=schedule, **kw)
        np.testing.assert_allclose(a.returns, b.returns, rtol=0, atol=1e-15)
        np.testing.assert_allclose(a.holdings, b.holdings, rtol=0, atol=1e-15)


def test_monthly_rebalances_on_last_trading_day(synthetic_returns: pd.DataFrame) -> None:
    res = run_backtest(synthetic_returns, EqualWeight(), splits=TrainTestSplit(0.5),
                       rebalance="monthly")
    dates = res.targets.index[1:]
    nxt = [synthetic_returns.index[synthetic_returns.index.get_loc(d) + 1] for d in dates]
    assert all(d.month != n.month for d, n in zip(dates, nxt, strict=True))
    assert len(dates) >= 25


def test_costs_lower_returns_by_exactly_the_cost(synthetic_returns: pd.DataFrame) -> None:
    free = run_backtest(synthetic_returns, EqualWeight(), cost_bps=0.0,
                        splits=WalkForward(250, 250))
    paid = run_backtest(synthetic_returns, EqualWeight(), cost_bps=25.0, slippage_bps=5.0,
                        splits=WalkForward(250, 250))
    np.testing.assert_allclose(free.gross_returns, paid.gross_returns, atol=1e-15)
    first = paid.targets.index.map(lambda d: synthetic_returns.index.get_loc(d) + 1)
    expected = (1 - paid.costs.to_numpy()) * (1 + free.returns.iloc[
        [free.returns.index.get_loc(synthetic_returns.index[i]) for i in first]].to_numpy()) - 1
    got = paid.returns.loc[synthetic_returns.index[first]].to_numpy()
    np.testing.assert_allclose(got, expected, atol=1e-15)
    np.testing.assert_allclose(paid.costs, paid.turnover * 30e-4, atol=1e-15)


def test_per_asset_costs_and_cash_return(synthetic_returns: pd.DataFrame) -> None:
    costs = pd.Series([0, 0, 0, 0, 100.0], index=synthetic_returns.columns)
    res = run_backtest(synthetic_returns, Fixed({"EEE": 0.5, CASH: 0.5}), cost_bps=costs,
                       cash_return=0.0001, splits=[Fold(0, 10, 10, 12)], rebalance="daily")
    # Buying 0.5 of EEE at 100 bps costs 0.005; cash earns 1 bp.
    r1 = synthetic_returns["EEE"].iloc[10]
    np.testing.assert_allclose(res.returns.iloc[0], (1 - 0.005) * (1 + 0.5 * r1 + 0.5e-4) - 1)


def test_drift_threshold_rebalances_only_when_drifted(synthetic_returns: pd.DataFrame) -> None:
    res = run_backtest(synthetic_returns, Fixed({"AAA": 0.5, "DDD": 0.5}),
                       rebalance="drift:0.02", splits=TrainTestSplit(0.5))
    held = res.holdings[["AAA", "DDD"]]
    # Weights held over a period were drifted at most the threshold, or were just reset.
    assert (held.sub(0.5).abs().max(axis=1) <= 0.02 + 1e-12).all()
    assert 1 < len(res.targets) < len(res.returns) / 3


def test_strategy_output_is_validated() -> None:
    cols = ["A", "B", CASH]
    day = pd.Timestamp("2020-03-02")
    cases = {
        "unknown assets ZZZ": pd.Series({"A": 0.5, "ZZZ": 0.5}),
        "non-finite weight for B": pd.Series({"A": 0.5, "B": np.nan}),
        "negative weights": pd.Series({"A": 1.5, "B": -0.5}),
        "sum to 0.9": pd.Series({"A": 0.5, "B": 0.4}),
        "pandas Series": [0.5, 0.5],
    }
    for fragment, w in cases.items():
        with pytest.raises(StrategyError, match=fragment) as info:
            validate_weights(w, cols, "my-strat", day)
        assert "my-strat" in str(info.value) and "2020-03-02" in str(info.value)


def test_strategy_exception_names_strategy_date_and_line(synthetic_returns: pd.DataFrame
                                                         ) -> None:
    class Broken(Strategy):
        name = "broken"

        def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
            raise ValueError("boom")

    with pytest.raises(StrategyError, match=r"'broken' failed in allocate on .*boom.*"
                                            r"test_engine.py:\d+"):
        run_backtest(synthetic_returns, Broken(), splits=TrainTestSplit(0.5))


def test_limits_project_each_decision_onto_the_nearest_feasible_weights() -> None:
    """Hand-worked: x = (0.7, 0.2, 0.1, 0) under max_weight 0.4 projects to w = clip(x - tau)
    with A at 0.4: 0.2 - tau + 0.1 - tau + max(0 - tau, 0) = 0.6 gives tau = -0.1 (cash
    0.1 >= 0, free): (0.4, 0.3, 0.2, 0.1). Trivial limits leave the weights untouched."""
    w = np.array([0.7, 0.2, 0.1, 0.0])
    limits = LimitsConfig(max_weight=0.4).resolve(["A", "B", "C"])
    np.testing.assert_allclose(decided_weights(w, limits), [0.4, 0.3, 0.2, 0.1], atol=1e-15)
    assert decided_weights(w, LimitsConfig().resolve(["A", "B", "C"])) is w
    assert decided_weights(w, None) is w


def test_limits_of_other_assets_are_refused(synthetic_returns: pd.DataFrame) -> None:
    limits = LimitsConfig(max_weight=0.5).resolve(["X", "Y"])
    with pytest.raises(ConfigError, match="other assets"):
        run_backtest(synthetic_returns, EqualWeight(), splits=TrainTestSplit(0.5), limits=limits)


def test_schedule_and_split_errors() -> None:
    with pytest.raises(ConfigError, match="fortnightly"):
        Schedule.parse("fortnightly")
    with pytest.raises(ConfigError, match="every:0"):
        Schedule.parse("every:0")
    assert Schedule.parse(5) == Schedule("every", k=5)
    with pytest.raises(DataError, match=r"need more than 757 periods.*have 300"):
        WalkForward().split(300)
    with pytest.raises(ConfigError, match="overlapping"):
        WalkForward(100, 50, step=20).split(1000)


def test_walk_forward_folds_cover_the_tail() -> None:
    folds = WalkForward(train=100, test=50, purge=5).split(320)
    assert folds[0] == Fold(0, 100, 105, 155)
    assert folds[-1].test_end == 320
    assert all(b.test_start == a.test_end for a, b in itertools.pairwise(folds))
    rolling = WalkForward(train=100, test=50, expanding=False).split(320)
    assert all(f.train_end - f.train_start == 100 for f in rolling)
