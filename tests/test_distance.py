"""The distance from 1/N (active share, tracking error) and the permutation placebo: hand-worked
examples, pandas, and the engine run on relabelled strategies."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_run import HOSTILE_STRATEGY, make_run
from rich.console import Console
from support import cli

from maxent_portfolio import measures as m
from maxent_portfolio.arithmetic import CostModel
from maxent_portfolio.backtest import placebo as placebo_module
from maxent_portfolio.backtest import run_backtest
from maxent_portfolio.backtest.engine import BacktestResult
from maxent_portfolio.backtest.placebo import (
    draw_permutations,
    placebo_returns,
    placebo_sharpes,
    run_placebos,
)
from maxent_portfolio.backtest.store import load_results
from maxent_portfolio.backtest.walkforward import Fold
from maxent_portfolio.cli.backtest import metrics_rich_table
from maxent_portfolio.config import RunConfig, resolve_config
from maxent_portfolio.data.market import MarketData
from maxent_portfolio.errors import DataError
from maxent_portfolio.rebalance import CASH
from maxent_portfolio.reporting import dashboard as dash
from maxent_portfolio.reporting import plots
from maxent_portfolio.reporting.render import render_run, rerender
from maxent_portfolio.reporting.templating import esc
from maxent_portfolio.rundir import backtest_to_directory
from maxent_portfolio.runner import RunOutcome, prepare
from maxent_portfolio.seeding import placebo_seed
from maxent_portfolio.strategies.base import Strategy
from maxent_portfolio.strategies.baselines import EqualWeight
from maxent_portfolio.strategies.registry import available_strategies

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


def test_a_placebo_equal_to_the_last_bits_is_a_tie() -> None:
    """1/N's label shuffles are 1/N: their Sharpe ratios differ from its own by rounding only,
    so an agent that holds 1/N sits at the 50th percentile, not the 100th (an earlier version
    said 100, a claim of skill for holding 1/N)."""
    rng = np.random.default_rng(0)
    returns = rng.normal(0.0004, 0.01, size=(500, 5))
    own = returns.mean(1)
    shuffles = [returns[:, rng.permutation(5)].mean(1) for _ in range(50)]
    ratio = [m.sharpe(pd.Series(r), 252) for r in shuffles]
    assert any(r != m.sharpe(pd.Series(own), 252) for r in ratio)  # rounding differs ...
    assert m.placebo_percentile(m.sharpe(pd.Series(own), 252), ratio) == 50.0  # ... a tie


# ----------------------------------------------------------------------------- tables
TILT = [[0.1, 0.15, 0.2, 0.25, 0.3, 0.0]]
"""Fixed weights on the five assets of ``synthetic_returns``, no cash."""


def test_metrics_table_distance_columns(synthetic_returns: pd.DataFrame) -> None:
    folds = [Fold(0, 400, 400, 1200)]
    ew = run_backtest(synthetic_returns, EqualWeight(), splits=folds)
    tilt = run_backtest(synthetic_returns, _FoldBook(TILT), splits=folds)
    bench = synthetic_returns["AAA"]
    rows = m.metrics_table([ew, tilt], benchmark=bench).set_index("strategy")
    te = (tilt.returns - ew.returns).std() * math.sqrt(252)
    assert rows.loc["book", "tracking_error"] == pytest.approx(te, rel=1e-12)
    assert rows.loc["equal-weight", "tracking_error"] == 0.0
    bench_te = (bench.iloc[400:] - ew.returns).std() * math.sqrt(252)
    assert rows.loc["benchmark", "tracking_error"] == pytest.approx(bench_te, rel=1e-12)
    # Active share, row by row in plain Python over the daily holdings.
    held = tilt.holdings.to_numpy()
    by_hand = sum(0.5 * (sum(abs(w - 0.2) for w in row[:-1]) + row[-1]) for row in held)
    assert rows.loc["book", "active_share"] == pytest.approx(by_hand / len(held), rel=1e-12)
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
    tilt = run_backtest(synthetic_returns, _FoldBook(TILT), splits=[Fold(0, 400, 400, 1200)])
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


# ----------------------------------------------------------------------------- a run
@pytest.fixture(scope="module")
def tiny_market() -> MarketData:
    rng = np.random.default_rng(7)
    idx = pd.bdate_range("2010-01-04", periods=1000)
    data = rng.normal([3e-4, 1e-4, 4e-4, 2e-4], [0.01, 0.012, 0.015, 0.008], (1000, 4))
    return MarketData.from_returns(pd.DataFrame(data, index=idx, columns=list("WXYZ")),
                                   name="tiny")


def _config(**extra: object) -> RunConfig:
    return resolve_config(overrides={
        "strategies": ["equal-weight", "ridge-kelly"], "walk_forward.train_years": 1.0,
        "walk_forward.test_years": 1.0, "report.placebos": 40, "seed": 5, **extra})


@pytest.fixture(scope="module")
def tiny_run(tiny_market: MarketData, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[RunOutcome, Path]:
    folder = tmp_path_factory.mktemp("runs") / "run"
    return backtest_to_directory(prepare(_config(), tiny_market), folder, render=render_run)


def test_a_run_reports_the_distance_and_the_placebo(tiny_run: tuple[RunOutcome, Path],
                                                    tiny_market: MarketData) -> None:
    outcome, folder = tiny_run
    ew, rk = outcome.results
    assert rk.learned and not ew.learned and ew.placebo is None
    assert rk.placebo is not None and len(rk.placebo) == 40
    rows = pd.read_csv(folder / "metrics.csv").set_index("strategy")
    # The percentile, by hand: placebos strictly below the Sharpe, ties counting half.
    sr = rows.loc["ridge-kelly", "sharpe"]
    below = sum(1.0 if s < sr else 0.5 if s == sr else 0.0 for s in rk.placebo)
    assert rows.loc["ridge-kelly", "placebo_pct"] == pytest.approx(100 * below / 40, abs=1e-9)
    assert math.isnan(rows.loc["equal-weight", "placebo_pct"])
    assert rows.loc["equal-weight", "tracking_error"] == 0.0
    assert rows.loc["ridge-kelly", "tracking_error"] == pytest.approx(
        (rk.returns - ew.returns).std() * math.sqrt(252), rel=1e-9)
    assert rows.loc["ridge-kelly", "active_share"] > rows.loc["equal-weight", "active_share"]
    # The run's placebos are the permutations drawn from --seed through seeding.placebo_seed.
    perms = draw_permutations(np.random.default_rng(placebo_seed(5)), 40,
                              len(outcome.folds), 4)
    again = run_placebos([rk], tiny_market.returns, outcome.config.costs, perms)
    pd.testing.assert_series_equal(again["ridge-kelly"], rk.placebo, check_names=False)
    # Under the identity the replay is the strategy, bit for bit.
    identity = np.broadcast_to(np.arange(4), (1, len(outcome.folds), 4))
    np.testing.assert_array_equal(
        placebo_returns(rk, tiny_market.returns, identity, outcome.config.costs)[0],
        rk.returns.to_numpy())
    prov = json.loads((folder / "provenance.json").read_text())
    assert prov["seeds"]["placebo"] == placebo_seed(5)


def test_the_report_redraws_the_placebos_without_recomputing(
        tiny_run: tuple[RunOutcome, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    outcome, folder = tiny_run
    stored = {r.name: r for r in load_results(folder / "results")}
    assert stored["ridge-kelly"].learned and stored["equal-weight"].placebo is None
    placebo = stored["ridge-kelly"].placebo
    assert placebo is not None
    np.testing.assert_array_equal(placebo.to_numpy(), outcome.results[1].placebo.to_numpy())
    first = (folder / "index.html").read_text(encoding="utf-8")
    assert first.count('data-figure="fig-placebo-') == 1
    assert '<section id="placebo">' in first and "Placebo percentile" in first

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the report replayed the placebos")

    monkeypatch.setattr(placebo_module, "placebo_returns", refuse)
    monkeypatch.setattr(placebo_module, "run_placebos", refuse)
    (folder / "index.html").unlink()
    page = rerender(folder).read_text(encoding="utf-8")
    assert page.count('data-figure="fig-placebo-') == 1


def test_zero_placebos_skips_them(tiny_market: MarketData, tmp_path: Path) -> None:
    outcome, folder = backtest_to_directory(prepare(_config(**{"report.placebos": 0}),
                                                    tiny_market), tmp_path / "run")
    assert all(r.placebo is None for r in outcome.results)
    assert outcome.metrics["placebo_pct"].isna().all()
    assert not list((folder / "results").glob("*.placebo.parquet"))


# ----------------------------------------------------------------------------- dashboard
def test_the_dashboard_draws_each_learned_strategys_placebos() -> None:
    run = make_run()
    sac, hostile = run.results[1], run.results[3]
    sac.placebo = pd.Series(np.linspace(-1.0, 1.0, 50))
    hostile.placebo = pd.Series(np.linspace(-0.5, 0.5, 50))
    metrics = run.metrics.assign(placebo_pct=[np.nan, 87.0, np.nan, 12.0, np.nan])
    page = dash.render_dashboard(run.results, metrics, run.benchmark, {}, {}, "t", {})
    assert page.count('data-figure="fig-placebo-') == 2
    section = page[page.index('<section id="placebo">'):]
    assert "<h3>sac \u00b7 Sharpe" in section and "placebo percentile 87" in section
    assert f"<h3>{esc(HOSTILE_STRATEGY)}" in section and "<script>alert" not in page
    # The strategy's own Sharpe is the vertical line over the histogram.
    own = float(metrics.set_index("strategy").loc["sac", "sharpe"])
    fig = plots.placebo_figure(sac.placebo.to_numpy(), own, "#123456")
    lines = fig.axes[0].lines
    assert len(lines) == 1 and set(lines[0].get_xdata()) == {own}
    assert sum(p.get_height() for p in fig.axes[0].patches) == 50  # every placebo counted
    for r in run.results:
        r.placebo = None
    plain = dash.render_dashboard(run.results, metrics, run.benchmark, {}, {}, "t", {})
    assert '<section id="placebo">' not in plain


def test_the_terminal_table_shows_the_distance_and_the_placebo(
        tiny_run: tuple[RunOutcome, Path]) -> None:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(metrics_rich_table(tiny_run[0].metrics, "t"))
    text = console.export_text()
    assert "ActSh" in text and "TE" in text and "Placebo" in text
    rk = tiny_run[0].metrics.set_index("strategy").loc["ridge-kelly"]
    line = next(x for x in text.splitlines() if x.startswith("\u2502ridge-kelly"))
    cells = [c.strip() for c in line.strip("\u2502").split("\u2502")]
    assert cells[8] == f"{rk['active_share']:.1%}" and cells[-1] == f"{rk['placebo_pct']:.0f}"


def test_the_learned_strategies_are_the_ones_that_learn() -> None:
    classes = available_strategies()
    learned = {name for name, cls in classes.items() if cls.learned}
    assert learned == {"sac", "sac-discrete", "ridge-kelly"}


def test_the_cli_writes_the_new_columns(tmp_path: Path, tiny_market: MarketData) -> None:
    tiny_market.returns.to_csv(tmp_path / "tiny.csv", index_label="date")
    out = tmp_path / "run"
    res = cli("backtest", "-u", str(tmp_path / "tiny.csv"), "-s", "equal-weight,ridge-kelly",
              "--train-years", "1", "--test-years", "1", "--placebos", "25", "--no-html",
              "--out", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "ActSh" in res.stdout and "Placebo" in res.stdout
    rows = pd.read_csv(out / "metrics.csv").set_index("strategy")
    assert rows[["active_share", "tracking_error"]].notna().all().all()
    assert math.isnan(rows.loc["equal-weight", "placebo_pct"])
    placebo = pd.read_parquet(out / "results" / "ridge-kelly.placebo.parquet")
    assert len(placebo) == 25
    assert rows.loc["ridge-kelly", "placebo_pct"] == pytest.approx(m.placebo_percentile(
        rows.loc["ridge-kelly", "sharpe"], placebo["placebo_sharpe"]), abs=1e-9)
