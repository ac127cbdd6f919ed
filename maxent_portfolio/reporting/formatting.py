"""How the metrics table shows a metric: labels, number formats, which value is best."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

PRIMARY_COLUMNS = ("cagr", "volatility", "sharpe", "max_drawdown", "turnover", "effective_n",
                   "active_share", "tracking_error", "p_sharpe_vs_ref", "dsr", "placebo_pct")
"""Metrics shown by default (as many as fit the page's width, as the terminal table shows); the
table's other columns, Sortino and Calmar among them, appear with "show all metrics"."""
HIDDEN_COLUMNS = ("investable",)
"""Columns used to mark rows, never shown as metrics."""

LABELS = {
    "strategy": "Strategy", "total_return": "Total return", "cagr": "CAGR",
    "volatility": "Volatility", "sharpe": "Sharpe", "sortino": "Sortino",
    "max_drawdown": "Max drawdown", "max_dd_duration": "Max DD length",
    "max_dd_days": "Max DD days", "calmar": "Calmar", "var_95": "VaR 95%", "cvar_95": "CVaR 95%",
    "hit_rate": "Hit rate", "turnover": "Turnover / yr", "cost_drag": "Cost drag",
    "effective_n": "Effective N", "entropy": "Weight entropy",
    "active_share": "Active share vs 1/N", "tracking_error": "Tracking error vs 1/N",
    "placebo_pct": "Placebo percentile", "psr": "PSR",
    "dsr": "Deflated Sharpe", "p_sharpe_vs_ref": "p \u0394Sharpe",
    "p_jk_memmel": "p \u0394Sharpe (JKM)",
}
PERCENT = frozenset({"total_return", "cagr", "volatility", "max_drawdown", "var_95", "cvar_95",
                     "hit_rate", "turnover", "cost_drag", "active_share",
                     "tracking_error"})
PROBABILITY = frozenset({"psr", "dsr", "p_sharpe_vs_ref", "p_jk_memmel"})
INTEGER = frozenset({"max_dd_duration", "max_dd_days", "placebo_pct"})
HIGHER_IS_BETTER = frozenset({"total_return", "cagr", "sharpe", "sortino", "max_drawdown",
                              "calmar", "var_95", "cvar_95", "hit_rate", "psr", "dsr"})
LOWER_IS_BETTER = frozenset({"volatility", "turnover", "cost_drag", "max_dd_duration",
                             "max_dd_days"})
"""Columns whose best value is highlighted; p-values, effective N, entropy, the distance from
1/N and the placebo percentile describe rather than rank, so they are left plain. Drawdowns
and VaR are negative, so higher is better."""


def as_bool(value: object) -> bool | None:
    """A table cell read as a flag (bools, numbers, "true"/"no"/...), None if it is not one."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        return True if text in ("true", "1", "1.0", "yes") else \
            False if text in ("false", "0", "0.0", "no") else None
    if isinstance(value, int | float | np.integer | np.floating) and not pd.isna(value):
        return bool(value)
    return None


def metric_descriptions() -> dict[str, str]:
    """``maxent_portfolio.measures.METRIC_DESCRIPTIONS``, or an empty dict if unavailable."""
    try:
        from maxent_portfolio import measures
    except ImportError:
        return {}
    return {str(k): str(v) for k, v in getattr(measures, "METRIC_DESCRIPTIONS", {}).items()}


def as_number(value: object) -> float | None:
    """A table cell as a finite float, None for a bool, missing, text or non-finite value."""
    if isinstance(value, bool | np.bool_) or value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def format_metric(column: str, value: object) -> str:
    """Display text of one metric cell (unescaped)."""
    number = as_number(value)
    if number is None:
        if isinstance(value, bool | np.bool_):
            return "yes" if value else "no"
        return "\u2014" if value is None or (isinstance(value, float) and math.isnan(value)) \
            or str(value) in ("", "nan", "NaN", "None") else str(value)
    if column in PERCENT:
        return f"{number * 100:.1f}%"
    if column in PROBABILITY:
        return "<0.001" if 0 <= number < 0.001 else f"{number:.3f}"
    if column in INTEGER:
        return f"{number:,.0f}"
    if number != 0 and abs(number) < 0.01:
        return f"{number:.2g}"
    return f"{number:,.2f}"


def column_label(column: str, reference: str | None) -> str:
    """Header text of a metric column; p-value columns name the reference strategy."""
    label = LABELS.get(column, column.replace("_", " ").capitalize())
    if column.startswith("p_sharpe") and reference:
        label = f"{label} vs {reference}"
    return label


def best_rows(values: list[float | None], column: str, eligible: list[bool]) -> set[int]:
    """Row positions holding the best value of ``column`` among eligible rows."""
    if column not in HIGHER_IS_BETTER and column not in LOWER_IS_BETTER:
        return set()
    candidates = [(i, v) for i, v in enumerate(values) if v is not None and eligible[i]]
    if len(candidates) < 2:
        return set()
    pick = max if column in HIGHER_IS_BETTER else min
    best = pick(v for _, v in candidates)
    return {i for i, v in candidates if math.isclose(v, best, rel_tol=1e-12, abs_tol=1e-15)}


__all__ = ["HIDDEN_COLUMNS", "HIGHER_IS_BETTER", "INTEGER", "LABELS", "LOWER_IS_BETTER", "PERCENT",
    "PRIMARY_COLUMNS", "PROBABILITY", "as_bool", "as_number", "best_rows", "column_label",
    "format_metric", "metric_descriptions"]
