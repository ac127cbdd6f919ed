"""The series a report draws: styles per strategy, grouped weights, turnover by year, policy
entropy, menu probabilities, fold starts and the common time range."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from maxent_portfolio.backtest.engine import BacktestResult
from maxent_portfolio.rebalance import CASH
from maxent_portfolio.reporting import plots
from maxent_portfolio.reporting.plots import LineStyle

MAX_ALLOCATION_GROUPS = 10
"""Most assets shown one by one in the allocation chart; the rest are summed as "other"."""
MAX_ALLOCATION_POINTS = 1200
"""Dates kept in the allocation chart (evenly thinned beyond), to bound the SVG size."""

ENTROPY_KEYS = ("policy_entropy", "entropy")
"""Keys of ``BacktestResult.extras`` read as the policy entropy (SAC writes the first)."""


@dataclass(frozen=True)
class SeriesInfo:
    """How one strategy (or the benchmark) appears throughout the dashboard."""

    name: str
    style: LineStyle
    investable: bool = True
    benchmark: bool = False


def series_styles(results: Sequence[BacktestResult], benchmark_name: str | None
                  ) -> dict[str, SeriesInfo]:
    """Stable colours in result order; hindsight benchmarks dashed, the benchmark black."""
    info: dict[str, SeriesInfo] = {}
    for i, res in enumerate(results):
        color = plots.PALETTE[i % len(plots.PALETTE)]
        sac = res.name.lower().startswith("sac")
        style = LineStyle(color=color, dashes="-" if res.investable else "--",
                          width=2.0 if sac else 1.3, gid=f"series-{i}")
        info[res.name] = SeriesInfo(res.name, style, bool(res.investable))
    if benchmark_name is not None and benchmark_name not in info:
        info[benchmark_name] = SeriesInfo(
            benchmark_name, LineStyle(plots.BENCHMARK_COLOR, ":", 1.6, f"series-{len(results)}"),
            benchmark=True)
    return info


def group_weights(holdings: pd.DataFrame, max_groups: int = MAX_ALLOCATION_GROUPS
                  ) -> pd.DataFrame:
    """Weights for a stacked chart: the largest assets by mean weight, the rest as "other".

    Cash is kept as its own last column when ever held and dropped otherwise. Columns come out
    in descending mean weight, then ``other (k assets)``, then cash. Column labels are the
    original (unescaped) names.
    """
    assets = [c for c in holdings.columns if c != CASH]
    frame = holdings[assets].astype(float)
    order = frame.mean().sort_values(ascending=False, kind="stable").index.tolist()
    if len(order) > max_groups:
        keep, rest = order[: max_groups - 1], order[max_groups - 1:]
        grouped = frame[keep].copy()
        grouped[f"other ({len(rest)} assets)"] = frame[rest].sum(axis=1)
    else:
        grouped = frame[order].copy()
    if CASH in holdings.columns and float(holdings[CASH].abs().max()) > 1e-9:
        grouped[CASH] = holdings[CASH].astype(float)
    return grouped


def turnover_by_year(results: Sequence[BacktestResult]) -> pd.DataFrame:
    """Two-way turnover (buys plus sells) per calendar year (rows) by strategy (columns)."""
    columns = {}
    for res in results:
        turnover = res.turnover.astype(float)
        years = pd.DatetimeIndex(turnover.index).year
        columns[res.name] = turnover.groupby(years).sum()
    table = pd.DataFrame(columns).sort_index().fillna(0.0)
    table.index = table.index.astype(int)
    return table


def pick_allocation(results: Sequence[BacktestResult], prefer: str = "sac",
                    reference: str | None = "equal-weight") -> tuple[BacktestResult | None, bool]:
    """The result whose allocation the dashboard shows, and whether it is the preferred one.

    ``prefer`` itself, else the first result whose name starts with it, else the first
    investable result other than ``reference``, else the first result.
    """
    for res in results:
        if res.name == prefer:
            return res, True
    for res in results:
        if res.name.lower().startswith(prefer.lower()):
            return res, True
    fallback = [r for r in results if r.investable and r.name != reference] or list(results)
    return (fallback[0] if fallback else None), False


def _dated_floats(series: object) -> pd.Series | None:
    """An ``extras`` entry as floats by sorted date, or None when it holds none."""
    if not isinstance(series, pd.Series):
        return None
    values = pd.to_numeric(series, errors="coerce").dropna()
    if not len(values):
        return None
    values.index = pd.DatetimeIndex(values.index)
    return values.sort_index()


def policy_entropy(result: BacktestResult) -> pd.Series | None:
    """The policy entropy a strategy reported in ``extras`` (first of
    :data:`ENTROPY_KEYS` present), as floats by date, or None."""
    for key in ENTROPY_KEYS:
        if (values := _dated_floats(result.extras.get(key))) is not None:
            return values
    return None


def evidence_mix(result: BacktestResult) -> pd.Series | None:
    """The evidence mix a strategy reported in ``extras`` (``evidence_mix``: ``sac
    --shrinkage evidence``), as floats by date, or None."""
    return _dated_floats(result.extras.get("evidence_mix"))


MENU_PREFIX = "menu:"
"""Prefix of the ``extras`` keys holding a menu policy's probabilities (``sac-discrete``)."""


def menu_probabilities(result: BacktestResult) -> pd.DataFrame | None:
    """A menu policy's probabilities by date (one column per menu strategy), or None."""
    columns = {k[len(MENU_PREFIX):]: pd.to_numeric(v, errors="coerce")
               for k, v in result.extras.items()
               if k.startswith(MENU_PREFIX) and isinstance(v, pd.Series)}
    if not columns:
        return None
    frame = pd.DataFrame(columns).dropna()
    if frame.empty:
        return None
    frame.index = pd.DatetimeIndex(frame.index)
    return frame.sort_index()


def fold_starts(results: Sequence[BacktestResult]) -> list[pd.Timestamp]:
    """Distinct test-window start dates of the walk-forward folds of all results."""
    starts = {pd.Timestamp(f["test_start"]) for res in results for f in res.folds
              if f.get("test_start")}
    return sorted(starts)


def time_range(results: Sequence[BacktestResult]) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last out-of-sample date over all results with returns."""
    starts = [r.returns.index.min() for r in results if len(r.returns)]
    ends = [r.returns.index.max() for r in results if len(r.returns)]
    if not starts:
        raise ValueError("the dashboard needs at least one result with returns")
    return pd.Timestamp(min(starts)), pd.Timestamp(max(ends))


def benchmark_equity(benchmark: pd.Series, xlim: tuple[pd.Timestamp, pd.Timestamp]
                      ) -> pd.Series | None:
    """Benchmark equity (from 1) over ``xlim``, in its time zone; None with under 2 returns."""
    bench = pd.to_numeric(benchmark, errors="coerce").dropna()
    bench.index = with_timezone_of(pd.DatetimeIndex(bench.index), xlim[0])
    bench = bench.sort_index().loc[xlim[0]: xlim[1]]
    return (1.0 + bench).cumprod() if len(bench) >= 2 else None


def with_timezone_of(index: pd.DatetimeIndex, reference: pd.Timestamp) -> pd.DatetimeIndex:
    """``index`` with the time zone (or none) of ``reference``, keeping wall-clock dates."""
    if reference.tz is None:
        return index.tz_localize(None) if index.tz is not None else index
    return index.tz_convert(reference.tz) if index.tz is not None \
        else index.tz_localize(reference.tz)


def thin_rows(frame: pd.DataFrame, limit: int) -> pd.DataFrame:
    """At most about ``limit`` evenly spaced rows of ``frame``, the last one always kept."""
    if len(frame) <= limit:
        return frame
    step = math.ceil(len(frame) / limit)
    keep = np.unique(np.append(np.arange(0, len(frame), step), len(frame) - 1))
    return frame.iloc[keep]


__all__ = ["CASH", "ENTROPY_KEYS", "MAX_ALLOCATION_GROUPS", "MAX_ALLOCATION_POINTS", "MENU_PREFIX",
    "SeriesInfo", "benchmark_equity", "evidence_mix", "fold_starts", "group_weights",
    "menu_probabilities",
    "pick_allocation", "policy_entropy", "series_styles", "thin_rows", "time_range",
    "turnover_by_year", "with_timezone_of"]
