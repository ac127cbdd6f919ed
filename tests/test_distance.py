"""The distance from 1/N (active share, tracking error) and the permutation placebo: hand-worked
examples, pandas, and the engine run on relabelled strategies."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from maxent_portfolio import measures as m
from maxent_portfolio.arithmetic import CostModel
from maxent_portfolio.backtest import run_backtest
from maxent_portfolio.backtest.engine import BacktestResult
from maxent_portfolio.backtest.placebo import (
    draw_permutations,
    placebo_returns,
    placebo_sharpes,
    run_placebos,
)
from maxent_portfolio.backtest.walkforward import Fold
from maxent_portfolio.errors import DataError
from maxent_portfolio.rebalance import CASH
from maxent_portfolio.strategies.base import Strategy
from maxent_portfolio.strategies.baselines import EqualWeight

HAND = pd.DataFrame([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.5, 0.25, 0.25], [0.0, 0.0, 1.0]],
                    columns=["A", "B", CASH])


# ----------------------------------------------------------------------------- active share
def test_active_share_of_a_hand_example() -> None:
    # 1/N = (0.5, 0.5) and no cash. Row by row, half of sum |w - (0.5, 0.5, 0)|:
    # 0; (0.5 + 0.5 + 0) / 2 = 0.5; (0 + 0.25 + 0.25) / 2 = 0.25; (0.5 + 0.5 + 1) / 2 = 1.
    assert m.active_share(HAND) == pytest.approx((0 + 0.5 + 0.25 + 1) / 4, abs=1e-15)
    assert m.active_share(HAND.to_numpy()) == m.active_share(HAND)


@pytest.mark.parametrize(("row", "expected"), [
    ([0.25, 0.25, 0.25, 0.25, 0.0], 0.0),   # 1/N itself
    ([1.0, 0.0, 0.0, 0.0, 0.0], 0.75),      # all in one of four: 1 - 1/N
    ([0.0, 0.0, 0.0, 0.0, 1.0], 1.0),       # all cash
    ([0.2, 0.2, 0.2, 0.2, 0.2], 0.2),       # 1/N scaled down by a 20% cash position
])
def test_active_share_extremes(row: list[float], expected: float) -> None:
    assert m.active_share(np.array([row])) == pytest.approx(expected, abs=1e-15)


def test_active_share_refuses_bad_weights() -> None:
    with pytest.raises(DataError, match="NaN"):
        m.active_share(np.array([[0.5, np.nan, 0.5]]))
    with pytest.raises(DataError, match="risky asset"):
        m.active_share(np.ones((3, 1)))


# ----------------------------------------------------------------------------- tracking error
def test_tracking_error_equals_pandas_on_the_shared_dates() -> None:
    rng = np.random.default_rng(5)
    idx = pd.bdate_range("2020-01-01", periods=300)
    a = pd.Series(rng.normal(5e-4, 0.01, 300), index=idx)
    b = pd.Series(rng.normal(3e-4, 0.012, 280), index=idx[20:])  # starts later
    expected = (a - b).dropna().std() * math.sqrt(252)  # pandas: ddof=1, aligned on dates
    assert m.tracking_error(a, b, 252) == pytest.approx(expected, rel=1e-12)
    assert m.tracking_error(a, a, 252) == 0.0
    assert math.isnan(m.tracking_error(a.iloc[:21], b, 252))  # one shared date


# ----------------------------------------------------------------------------- percentile
def test_placebo_percentile_is_a_mid_rank_count() -> None:
    # Finite placebos 0.5, 1.0, 2.0, 0.9: two below 1.0, one equal -> (2 + 0.5) / 4.
    assert m.placebo_percentile(1.0, [0.5, 1.0, 2.0, np.nan, 0.9]) == 62.5
    assert m.placebo_percentile(3.0, [0.5, 1.0]) == 100.0
    assert m.placebo_percentile(0.0, [0.5, 1.0]) == 0.0
    assert math.isnan(m.placebo_percentile(float("nan"), [0.5]))
    assert math.isnan(m.placebo_percentile(1.0, [np.nan]))


# ----------------------------------------------------------------------------- tables
class _Tilted(Strategy):
    name = "tilted"
    stateless = True

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        w = np.linspace(1.0, 2.0, history.shape[1])
        return pd.Series(w / w.sum(), index=history.columns)


def test_metrics_table_distance_columns(synthetic_returns: pd.DataFrame) -> None:
    folds = [Fold(0, 400, 400, 1200)]
    ew = run_backtest(synthetic_returns, EqualWeight(), splits=folds)
    tilt = run_backtest(synthetic_returns, _Tilted(), splits=folds)
    bench = synthetic_returns["AAA"]
    rows = m.metrics_table([ew, tilt], benchmark=bench).set_index("strategy")
    te = (tilt.returns - ew.returns).std() * math.sqrt(252)
    assert rows.loc["tilted", "tracking_error"] == pytest.approx(te, rel=1e-12)
    assert rows.loc["equal-weight", "tracking_error"] == 0.0
    bench_te = (bench.iloc[400:] - ew.returns).std() * math.sqrt(252)
    assert rows.loc["benchmark", "tracking_error"] == pytest.approx(bench_te, rel=1e-12)
    # Active share, row by row in plain Python over the daily holdings.
    held = tilt.holdings.to_numpy()
    by_hand = sum(0.5 * (sum(abs(w - 0.2) for w in row[:-1]) + row[-1]) for row in held)
    assert rows.loc["tilted", "active_share"] == pytest.approx(by_hand / len(held), rel=1e-12)
    # 1/N drifts away from 1/N between its monthly rebalances, never far.
    assert 0 < rows.loc["equal-weight", "active_share"] < 0.02
    assert math.isnan(rows.loc["benchmark", "active_share"])
    assert rows["placebo_pct"].isna().all()  # nothing here learned
    # Without an equal-weight row there is nothing to track: NaN, not a guess.
    alone = m.metrics_table([tilt], reference=None)
    assert alone["tracking_error"].isna().all()
    assert alone["active_share"].notna().all()


def test_summarize_takes_the_placebo_percentile_of_the_sharpe(synthetic_returns: pd.DataFrame
                                                              ) -> None:
    tilt = run_backtest(synthetic_returns, _Tilted(), splits=[Fold(0, 400, 400, 1200)])
    sr = m.sharpe(tilt.returns, 252)
    tilt.placebo = pd.Series([sr - 1, sr + 1, sr - 0.5, sr - 0.1, np.nan])
    assert m.summarize(tilt)["placebo_pct"] == pytest.approx(75.0)  # 3 of 4 below


# ----------------------------------------------------------------------------- placebo replay
class _Chooser(Strategy):
    """Seeded random targets with cash that depend on the current weights: stateful."""

    name = "chooser"

    def __init__(self) -> None:
        self.rng = np.random.default_rng(3)

    def reset(self) -> None:
        self.rng = np.random.default_rng(3)

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        w = 0.5 * current.to_numpy() + 0.5 * self.rng.dirichlet(np.ones(len(current)))
        return pd.Series(w, index=current.index)


COSTS = CostModel(cost_bps={"AAA": 5.0, "BBB": 10.0, "CCC": 20.0, "DDD": 0.0, "EEE": 40.0},
                  slippage_bps=2.0)


@pytest.mark.parametrize("schedule", ["monthly", "daily", "weekly", "drift:0.05"])
def test_the_identity_permutation_replays_the_strategy_exactly(
        synthetic_returns: pd.DataFrame, schedule: str) -> None:
    folds = [Fold(0, 300, 300, 600), Fold(0, 600, 610, 900), Fold(0, 900, 900, 1200)]
    res = run_backtest(synthetic_returns, _Chooser(), splits=folds, rebalance=schedule,
                       costs=COSTS)
    identity = np.broadcast_to(np.arange(5), (2, 3, 5))
    paths = placebo_returns(res, synthetic_returns, identity, COSTS)
    assert paths.shape == (2, len(res.returns))
    np.testing.assert_array_equal(paths[0], res.returns.to_numpy())  # bit for bit
    np.testing.assert_array_equal(paths[1], res.returns.to_numpy())


class _FoldBook(Strategy):
    """Fixed weights with cash per fold, each fold's given explicitly: ``books[i]``."""

    name = "book"

    def __init__(self, books: list[list[float]]) -> None:
        self.books = books
        self.fold = -1

    def reset(self) -> None:
        self.fold = -1

    def fit(self, train: pd.DataFrame) -> None:
        self.fold += 1

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        return pd.Series(self.books[self.fold], index=current.index)


def test_a_placebo_is_the_strategy_with_relabelled_assets(synthetic_returns: pd.DataFrame
                                                          ) -> None:
    # Fold 1 swaps AAA and CCC and rotates the rest; fold 2 keeps every label. The placebo
    # must be the engine's own run of the strategy that holds the relabelled weights.
    folds = [Fold(0, 300, 300, 700), Fold(0, 700, 700, 1200)]
    book = [[0.4, 0.3, 0.1, 0.0, 0.05, 0.15], [0.05, 0.05, 0.6, 0.2, 0.0, 0.1]]
    perm = np.array([[[2, 3, 0, 4, 1], [0, 1, 2, 3, 4]]])
    original = run_backtest(synthetic_returns, _FoldBook(book), splits=folds, costs=COSTS)
    moved = [[book[0][j] for j in perm[0, 0]] + [book[0][-1]], book[1]]
    assert moved[0] == [0.1, 0.0, 0.4, 0.05, 0.3, 0.15]  # asset i gets weight of perm[i]
    expected = run_backtest(synthetic_returns, _FoldBook(moved), splits=folds, costs=COSTS)
    paths = placebo_returns(original, synthetic_returns, perm, COSTS)
    np.testing.assert_allclose(paths[0], expected.returns.to_numpy(), rtol=0, atol=1e-15)


def test_permutations_are_uniform_and_seeded() -> None:
    perms = draw_permutations(np.random.default_rng(1), 3000, 2, 3)
    assert perms.shape == (3000, 2, 3)
    assert (np.sort(perms, axis=-1) == np.arange(3)).all()
    # Each of the 3! orders about 1/6 of the time, in every fold.
    codes = perms[..., 0] * 3 + perms[..., 1]
    counts = np.array([[np.count_nonzero(codes[:, f] == c) for c in np.unique(codes)]
                       for f in range(2)])
    assert counts.shape == (2, 6) and (np.abs(counts / 3000 - 1 / 6) < 0.03).all()
    again = draw_permutations(np.random.default_rng(1), 3000, 2, 3)
    np.testing.assert_array_equal(perms, again)


def test_the_mean_of_seeds_gets_the_mean_of_their_placebos(synthetic_returns: pd.DataFrame
                                                           ) -> None:
    folds = [Fold(0, 300, 300, 700), Fold(0, 700, 700, 1200)]
    runs = []
    for i, books in enumerate(([[0.5, 0.2, 0.1, 0.1, 0.0, 0.1]] * 2,
                               [[0.0, 0.1, 0.2, 0.3, 0.4, 0.0]] * 2)):
        res = run_backtest(synthetic_returns, _FoldBook(books), splits=folds, costs=COSTS)
        res.name, res.learned = f"book-seed{i}", True
        runs.append(res)
    mean = BacktestResult(**{**vars(runs[0]), "name": "book",
                             "returns": (runs[0].returns + runs[1].returns) / 2})
    perms = draw_permutations(np.random.default_rng(0), 40, 2, 5)
    sharpes = run_placebos([mean, *runs], synthetic_returns, COSTS, perms,
                           means={"book": ["book-seed0", "book-seed1"]})
    assert set(sharpes) == {"book", "book-seed0", "book-seed1"}
    paths = [placebo_returns(r, synthetic_returns, perms, COSTS) for r in runs]
    expected = placebo_sharpes((paths[0] + paths[1]) / 2, mean.returns.index, 252)
    pd.testing.assert_series_equal(sharpes["book"], expected, rtol=1e-12)
    assert sharpes["book-seed0"].iloc[7] == pytest.approx(
        m.sharpe(pd.Series(paths[0][7], index=runs[0].returns.index), 252), abs=0)
