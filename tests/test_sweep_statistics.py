"""The sweep's statistics against independent computations: seed spread, DSR, best setting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from maxent_portfolio.measures import probability_of_backtest_overfitting
from maxent_portfolio.sweep.statistics import frontier_statistics, seed_spread

PPY = 252


def _sweep(identical: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Three dial values x two seeds of random returns, the table of their Sharpes, and 1/N."""
    rng = np.random.default_rng(5)
    idx = pd.bdate_range("2015-01-01", periods=480)
    rows, columns = [], {}
    base = rng.normal(0.0004, 0.01, size=480)
    for value, drift in ((0.25, 0.0), (0.5, 0.0003), (1.0, -0.0002)):
        for seed in (0, 1):
            key = f"d={value}_seed={seed}"
            r = base if identical else rng.normal(0.0003 + drift, 0.01, size=480)
            columns[key] = pd.Series(r, index=idx)
            sharpe = r.mean() / r.std(ddof=1) * np.sqrt(PPY)
            rows.append({"diversification": value, "cost_bps": 10.0, "seed": seed,
                         "sharpe": sharpe, "effective_n": 2.0 + value + seed,
                         "turnover": 1.0, "policy_entropy": -1.0, "cell": key})
    columns["ew"] = pd.Series(rng.normal(0.0003, 0.01, size=480), index=idx)
    references = pd.DataFrame([{"name": "equal-weight", "cost_bps": 10.0, "column": "ew",
                                "sharpe": 0.4, "effective_n": 3.0, "turnover": 0.5}])
    return pd.DataFrame(rows), pd.DataFrame(columns), references


def test_seed_spread_per_setting() -> None:
    table, _, _ = _sweep()
    spread = seed_spread(table, "diversification")
    assert list(spread["diversification"]) == [0.25, 0.5, 1.0]
    first = table[table["diversification"] == 0.25]["sharpe"].to_numpy()
    row = spread.iloc[0]
    assert row["seeds"] == 2 and row["sharpe"] == pytest.approx(first.mean())
    assert row["sharpe_range"] == pytest.approx(abs(first[0] - first[1]))
    # effective N of the seeds is 2 + d and 3 + d: mean 2.5 + d, range [2 + d, 3 + d]
    assert (row["effective_n"], row["effective_n_min"], row["effective_n_max"]) == \
        pytest.approx((2.75, 2.25, 3.25))


def test_dsr_of_the_best_cell_and_pbo_of_the_best_setting() -> None:
    table, returns, references = _sweep()
    out = frontier_statistics(table, returns, "diversification", references, PPY, 0.0, 4)
    best = table.loc[table["sharpe"].idxmax()]
    assert out["best_cell"] == best["cell"] and out["cells"] == 6
    # DSR (Bailey & Lopez de Prado 2014) by hand: the expected best of N = 6 skill-less trials,
    # per period, then the PSR of the best cell's returns against it.
    r = returns[best["cell"]].to_numpy()
    n, var = 6, np.var(table["sharpe"], ddof=1) / PPY
    gamma = 0.5772156649015329
    sr0 = np.sqrt(var) * ((1 - gamma) * stats.norm.ppf(1 - 1 / n)
                          + gamma * stats.norm.ppf(1 - 1 / (n * np.e)))
    sr = r.mean() / r.std(ddof=1)
    skew, kurt = stats.skew(r), stats.kurtosis(r, fisher=False)
    z = (sr - sr0) * np.sqrt(len(r) - 1) / np.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    assert out["dsr_best_cell"] == pytest.approx(stats.norm.cdf(z), abs=1e-9)
    # The candidates of the PBO are the settings, each its seeds' equal-capital portfolio.
    means = np.column_stack([returns[[f"d={v}_seed=0", f"d={v}_seed=1"]].to_numpy().mean(axis=1)
                             for v in (0.25, 0.5, 1.0)])
    sharpes = means.mean(axis=0) / means.std(axis=0, ddof=1)
    (row,) = out["per_cost"]
    assert row["best_setting"] == (0.25, 0.5, 1.0)[int(np.argmax(sharpes))]
    assert row["pbo"] == probability_of_backtest_overfitting(means, 4).pbo
    assert row["settings"] == 3 and row["equal_weight_sharpe"] == 0.4
    assert 0 <= row["p_vs_equal_weight"] <= 1 and row["pbo_note"] == ""


def test_a_dial_that_changes_nothing_is_said_so() -> None:
    table, returns, references = _sweep(identical=True)
    (row,) = frontier_statistics(table, returns, "diversification", references, PPY, 0.0,
                                 4)["per_cost"]
    assert row["pbo"] == 1.0 and "identical" in row["pbo_note"]
