"""``allocate``: tomorrow's weights as the backtest chooses them, and the orders to get there."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from sklearn.covariance import LedoitWolf

from maxent_portfolio.backtest.engine import books_before, extended_returns, run_backtest
from maxent_portfolio.backtest.walkforward import WalkForward
from maxent_portfolio.cli import main
from maxent_portfolio.rebalance import CASH, Schedule
from maxent_portfolio.strategies.base import Strategy

ASSETS = ["AAA", "BBB", "CCC", "DDD"]


def _prices(path: Path, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` business days of 4 assets with distinct volatilities, written to ``path``."""
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2014-01-02", periods=n, name="date")
    sigma = np.array([0.006, 0.01, 0.014, 0.02])
    frame = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0.0003, sigma, (n, 4)), axis=0)),
                         index=index, columns=ASSETS).round(4)
    frame.to_csv(path)
    return frame


def _quiet(args: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return main(args)


def _weights(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "allocation.csv", index_col="ticker")


def test_without_a_run_min_variance_refits_on_the_window_ending_at_the_as_of_date(
        tmp_path: Path) -> None:
    prices = _prices(tmp_path / "p.csv", 400)
    as_of = prices.index[330]
    code = _quiet(["allocate", "--strategy", "min-variance", "-u", str(tmp_path / "p.csv"),
                   "--train-years", "1", "--as-of", str(as_of.date()), "--out",
                   str(tmp_path / "mv")])
    assert code == 0
    summary = json.loads((tmp_path / "mv" / "allocation.json").read_text())
    assert summary["decided_by"]["model"] == "refit"
    assert summary["decided_by"]["train_end"] == str(as_of.date())
    # Independent: the long-only minimum-variance portfolio of the Ledoit-Wolf covariance
    # (scikit-learn's) of the last 252 returns up to the as-of date (min-variance's
    # estimation window), by scipy's SLSQP.
    window = prices.pct_change().loc[:as_of].iloc[-252:].to_numpy()
    cov = LedoitWolf().fit(window).covariance_
    solved = minimize(lambda w: w @ cov @ w, np.full(4, 0.25), jac=lambda w: 2 * cov @ w,
                      bounds=[(0, 1)] * 4, method="SLSQP", options={"ftol": 1e-15},
                      constraints={"type": "eq", "fun": lambda w: w.sum() - 1})
    weights = _weights(tmp_path / "mv")
    chosen = weights.loc[ASSETS, "executed"].to_numpy()
    # skfolio's conic solver stops within 1e-4 of the optimum's weights (7e-5 here); the
    # variances agree to 1e-7.
    np.testing.assert_allclose(chosen, solved.x, atol=1e-4)
    assert chosen @ cov @ chosen == pytest.approx(solved.x @ cov @ solved.x, rel=1e-7)
    # From all cash (no holdings), a rule trades all the way: executed is the target.
    np.testing.assert_array_equal(weights["executed"], weights["target"])
    assert weights.loc["CASH", "current"] == 1.0 and summary["orders"] is None


def test_a_weight_cap_and_a_holdings_file_give_the_orders_worked_by_hand(
        tmp_path: Path) -> None:
    prices = _prices(tmp_path / "p.csv", 300)
    last = prices.index[-1]
    # 4 assets at 1/4 each, capped at 0.2: the nearest feasible weights are 0.2 each and 0.2
    # in cash (every asset capped).
    (tmp_path / "book.csv").write_text(f"ticker,shares,date\nAAA,10,{last.date()}\n"
                                       f"CASH,5000,{last.date()}\n")
    code = _quiet(["allocate", "--strategy", "equal-weight", "-u", str(tmp_path / "p.csv"),
                   "--train-years", "1", "--max-weight", "0.2", "--holdings",
                   str(tmp_path / "book.csv"), "--out", str(tmp_path / "ew")])
    assert code == 0
    np.testing.assert_allclose(_weights(tmp_path / "ew")["executed"], [0.2] * 5)
    close = prices.iloc[-1]
    value = 10 * close["AAA"] + 5000
    orders = pd.read_csv(tmp_path / "ew" / "orders.csv", index_col="ticker")
    wanted = 0.2 * value / close
    np.testing.assert_array_equal(orders["shares_after"], np.round(wanted))
    np.testing.assert_allclose(orders["cost"], orders["shares"] * close * 10 / 1e4)
    summary = json.loads((tmp_path / "ew" / "allocation.json").read_text())
    assert summary["execution"]["limits"]["max_weight"]["AAA"] == 0.2
    assert summary["execution"]["trade_rate"] == 1.0
    assert summary["orders"]["value_before"] == pytest.approx(value)


STRATEGIES = ["sac", "sac-discrete", "min-variance", "eg", "buy-and-hold"]


@pytest.mark.slow
def test_allocate_at_a_run_date_gives_the_run_weights_and_tomorrow_from_later_data(
        tmp_path: Path) -> None:
    """One tiny run (2 folds, 200 steps): at the run's decision dates ``allocate`` gives
    exactly the weights file's rows; on data past the run, sac keeps the last fold's agent and
    a rule refits on the window ending at the as-of date; orders reach the executed weights
    within one share."""
    prices = _prices(tmp_path / "p.csv", 540)
    end = prices.index[504]  # the run: 504 returns, 1-year training, two half-year folds
    run = tmp_path / "run"
    assert _quiet(["backtest", "-u", str(tmp_path / "p.csv"), "--end", str(end.date()),
                   "-s", ",".join(STRATEGIES), "--train-years", "1", "--test-years", "0.5",
                   "--train-steps", "200", "--lookback", "20", "--rebalance", "weekly",
                   "--placebos", "0", "--jobs", "1", "--no-html", "--quiet", "--out",
                   str(run)]) == 0
    from maxent_portfolio.allocate.config import AllocateConfig
    from maxent_portfolio.allocate.decision import allocate, prepare_allocation

    folds = json.loads((run / "provenance.json").read_text())["folds"]
    assert len(folds) == 2
    for name in STRATEGIES:
        recorded = pd.read_csv(run / "weights" / f"{name}.csv", index_col="date",
                               parse_dates=True)
        trades = pd.read_parquet(run / "results" / f"{name}.trades.parquet")
        traded = trades.index[(trades.turnover > 0) & (trades.index > recorded.index[30])]
        # The first decision of each fold, one that traded in the second, the last.
        firsts = [recorded.index[recorded.index < fold["test_start"]][-1] for fold in folds]
        dates = [*firsts, traded[0], recorded.index[-1]]
        for date in dates:
            request = prepare_allocation(AllocateConfig(strategy=name, as_of=str(date.date())),
                                         run)
            decided = allocate(request)
            np.testing.assert_array_equal(decided.executed, recorded.loc[date].to_numpy(),
                                          err_msg=f"{name} at {date.date()}")
        assert request.notes == []  # the data are the run's
    # The latest data (the whole CSV, past the run's --end; also as --data) and a book.
    last = prices.index[-1]
    (tmp_path / "book.csv").write_text(f"ticker,shares,date\nAAA,40,{last.date()}\n"
                                       f"CCC,15,{last.date()}\nCASH,9000,{last.date()}\n")
    for name, model, data in (("sac", "fold 1 of the run", ["--data", str(tmp_path / "p.csv")]),
                              ("min-variance", "refit", [])):
        out = tmp_path / f"later-{name}"
        assert _quiet(["allocate", str(run), "--strategy", name, *data, "--holdings",
                       str(tmp_path / "book.csv"), "--out", str(out)]) == 0
        summary = json.loads((out / "allocation.json").read_text())
        assert summary["decided_by"]["model"] == model and summary["as_of"] == str(last.date())
        if model == "refit":
            assert summary["decided_by"]["train_end"] == str(last.date())
        weights, orders = _weights(out), pd.read_csv(out / "orders.csv", index_col="ticker")
        value = summary["orders"]["value_before"]
        wanted = weights.loc[ASSETS, "executed"] * value / prices.iloc[-1]
        assert (np.abs(orders["shares_after"] - wanted) <= 1.0).all()


class _Recorder(Strategy):
    """Tilts towards the first asset and records the ``current`` book the engine hands it."""

    name = "recorder"

    def reset(self) -> None:
        self.books: list[np.ndarray] = []

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        self.books.append(current.to_numpy(dtype=float).copy())
        n = history.shape[1]
        w = np.full(n + 1, 0.5 / n)
        w[0] += 0.5 * (len(history) % 3) / 2  # a different target each time
        return pd.Series(w / w.sum(), index=[*history.columns, CASH])


@pytest.mark.parametrize("schedule", ["weekly", "every:3", "drift:0.01"])
def test_the_run_books_are_bitwise_the_books_the_engine_handed_each_decision(
        schedule: str) -> None:
    rng = np.random.default_rng(3)
    index = pd.bdate_range("2015-01-02", periods=160)
    # 20 assets: enough for the batched replay of the stored books to differ in the last bit
    returns = pd.DataFrame(rng.normal(0.0005, 0.02, (160, 20)), index=index,
                           columns=[f"A{i}" for i in range(20)])
    strategy = _Recorder()
    splits = WalkForward(train=40, test=40)
    result = run_backtest(returns, strategy, splits=splits, rebalance=schedule)
    folds = splits.split(len(returns))
    decisions = index.get_indexer(result.targets.index)
    last = np.array([next(f.test_end - 2 for f in folds if f.test_start - 1 <= d <= f.test_end - 2)
                     for d in decisions])
    books = books_before(result.targets.to_numpy(), decisions, last, extended_returns(returns),
                         Schedule.parse(schedule))
    np.testing.assert_array_equal(books, np.array(strategy.books))
