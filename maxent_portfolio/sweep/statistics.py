"""The sweep's honest statistics: seed spread per setting, the DSR of the best cell with
every cell as a trial, and the PBO of choosing the best setting (CSCV). Pure functions of
the cells' table and returns."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from maxent_portfolio.errors import UserError
from maxent_portfolio.measures import (
    deflated_sharpe_ratio,
    probability_of_backtest_overfitting,
    sharpe,
    summarize_returns,
)


def seed_spread(table: pd.DataFrame, dial: str) -> pd.DataFrame:
    """One row per grid setting (dial value, cost): the seeds' Sharpe mean, min, max and
    range, mean effective N (with its min and max), mean turnover and policy entropy.

    Parameters
    ----------
    table : pd.DataFrame
        ``sweep.csv``: one row per cell with columns ``dial``, ``cost_bps``, ``seed`` and the
        cell measures.
    dial : str
        ``alpha`` or ``diversification``.
    """
    grouped = table.groupby([dial, "cost_bps"], sort=False, dropna=False)
    out = grouped.agg(seeds=("seed", "size"), sharpe=("sharpe", "mean"),
                      sharpe_min=("sharpe", "min"), sharpe_max=("sharpe", "max"),
                      effective_n=("effective_n", "mean"),
                      effective_n_min=("effective_n", "min"),
                      effective_n_max=("effective_n", "max"),
                      turnover=("turnover", "mean"),
                      policy_entropy=("policy_entropy", "mean")).reset_index()
    position = list(out.columns).index("sharpe_max") + 1
    out.insert(position, "sharpe_range", out["sharpe_max"] - out["sharpe_min"])
    return out


def setting_returns(returns: pd.DataFrame, table: pd.DataFrame, dial: str,
                    cost: float) -> pd.DataFrame:
    """Per-date returns of each setting at ``cost``: the equal-capital mean of its seeds'
    portfolios (columns named by dial value), on the dates every cell shares."""
    rows = table[(table["cost_bps"] == cost) | (table["cost_bps"].isna() & np.isnan(cost))]
    columns = {}
    for value, group in rows.groupby(dial, sort=False):
        columns[value] = returns[list(group["cell"])].mean(axis=1)
    return pd.DataFrame(columns).dropna()


def frontier_statistics(table: pd.DataFrame, returns: pd.DataFrame, dial: str,
                        references: pd.DataFrame, periods_per_year: int, rf: float,
                        partitions: int) -> dict[str, Any]:
    """Best cell and its DSR over all cells, and per cost the best setting, its Sharpe
    against 1/N (Ledoit-Wolf p-value of its seeds' mean portfolio) and the PBO of choosing
    it.

    Parameters
    ----------
    table : pd.DataFrame
        ``sweep.csv`` plus a ``cell`` column naming each cell's column of ``returns``.
    returns : pd.DataFrame of shape (T, n_cells)
        The cells' net out-of-sample returns.
    references : pd.DataFrame
        One row per reference point (``name``, ``cost_bps``, ``sharpe``, ...) with its returns
        in ``returns`` under ``column``.
    partitions : int
        ``S`` of the CSCV.
    """
    sharpes = table["sharpe"].to_numpy(dtype=float)
    best = int(np.nanargmax(sharpes))
    best_row = table.iloc[best]
    variance = float(np.nanvar(sharpes, ddof=1)) if len(table) > 1 else 0.0
    dsr = deflated_sharpe_ratio(returns[best_row["cell"]].dropna(), periods_per_year,
                                n_trials=max(len(table), 1), trial_sharpe_var=variance, rf=rf)
    per_cost = []
    for cost in pd.unique(table["cost_bps"]):
        settings = setting_returns(returns, table, dial, float(cost))
        scores = {value: sharpe(settings[value], periods_per_year, rf)
                  for value in settings.columns}
        chosen = max(scores, key=lambda v: scores[v])
        equal = references[(references["name"] == "equal-weight")
                            & ((references["cost_bps"] == cost)
                               | (references["cost_bps"].isna() & pd.isna(cost)))]
        ew = returns[equal["column"].iloc[0]] if len(equal) else None
        p_value = float("nan")
        if ew is not None:
            p_value = summarize_returns(settings[chosen], periods_per_year, rf,
                                        reference=ew)["p_sharpe_vs_ref"]
        pbo, note = float("nan"), ""
        if settings.shape[1] < 2:
            note = "one setting: nothing is chosen"
        elif (settings.to_numpy() == settings.to_numpy()[:, :1]).all():
            # Every split is then a tie at the median (lambda = 0), counted as overfit.
            note = "the settings' returns are identical: the dial changed nothing"
        if settings.shape[1] >= 2:
            try:
                result = probability_of_backtest_overfitting(settings.to_numpy(), partitions)
                pbo = result.pbo
            except UserError as exc:
                note = str(exc)
        per_cost.append({
            "cost_bps": None if pd.isna(cost) else float(cost), "best_setting": float(chosen),
            "best_setting_sharpe": scores[chosen],
            "equal_weight_sharpe": float(equal["sharpe"].iloc[0]) if len(equal) else None,
            "p_vs_equal_weight": p_value, "pbo": pbo, "pbo_note": note,
            "pbo_partitions": partitions, "settings": len(scores)})
    return {"dial": dial, "cells": len(table), "best_cell": str(best_row["cell"]),
            "best_cell_sharpe": float(sharpes[best]), "dsr_best_cell": dsr,
            "trial_sharpe_variance": variance, "per_cost": per_cost}


__all__ = ["frontier_statistics", "seed_spread", "setting_returns"]
