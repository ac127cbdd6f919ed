"""The self-contained comparison dashboard, ``index.html`` of a run.

One HTML file with inline CSS, inline SVG charts (matplotlib, see :mod:`.plots`) and a little
vanilla JavaScript (table sorting, legend toggles). It loads nothing from anywhere, so it works
offline and from a ``file://`` URL. The page, its CSS and its JavaScript are package templates
(``templates/dashboard.html.j2``, ``dashboard.css``, ``dashboard.js``) rendered by Jinja with
autoescaping on; the page's cards are a list of :class:`Section`, so a new section is one entry.

Every user-supplied string (strategy and asset names, config values, provenance, links) is
HTML-escaped, by the template or by :func:`esc` in the fragments passed as ``Markup``; JSON
embedded for scripts has ``<``, ``>`` and ``&`` escaped as ``\\u003c`` etc. so no value can close
the ``<script>`` element. Charts draw no user text at all: their legends are
HTML.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from maxent_portfolio.backtest.engine import BacktestResult
from maxent_portfolio.files import write_text
from maxent_portfolio.measures import effective_n_series
from maxent_portfolio.rebalance import CASH
from maxent_portfolio.reporting import plots
from maxent_portfolio.reporting.plots import LineStyle

MAX_ALLOCATION_GROUPS = 10
"""Most assets shown one by one in the allocation chart; the rest are summed as "other"."""
MAX_ALLOCATION_POINTS = 1200
"""Dates kept in the allocation chart (evenly thinned beyond), to bound the SVG size."""

ENTROPY_KEYS = ("policy_entropy", "entropy")
"""Keys of ``BacktestResult.extras`` read as the policy entropy (SAC writes the first)."""
PRIMARY_COLUMNS = ("cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar",
                   "turnover", "effective_n", "p_sharpe_vs_ref", "dsr")
"""Metrics shown by default; the table's other columns appear with "show all metrics"."""
HIDDEN_COLUMNS = ("investable",)
"""Columns used to mark rows, never shown as metrics."""

LABELS = {
    "strategy": "Strategy", "total_return": "Total return", "cagr": "CAGR",
    "volatility": "Volatility", "sharpe": "Sharpe", "sortino": "Sortino",
    "max_drawdown": "Max drawdown", "max_dd_duration": "Max DD length",
    "max_dd_days": "Max DD days", "calmar": "Calmar", "var_95": "VaR 95%", "cvar_95": "CVaR 95%",
    "hit_rate": "Hit rate", "turnover": "Turnover / yr", "cost_drag": "Cost drag",
    "effective_n": "Effective N", "entropy": "Weight entropy", "psr": "PSR",
    "dsr": "Deflated Sharpe", "p_sharpe_vs_ref": "p \u0394Sharpe",
    "p_jk_memmel": "p \u0394Sharpe (JKM)",
}
PERCENT = frozenset({"total_return", "cagr", "volatility", "max_drawdown", "var_95", "cvar_95",
                     "hit_rate", "turnover", "cost_drag"})
PROBABILITY = frozenset({"psr", "dsr", "p_sharpe_vs_ref", "p_jk_memmel"})
INTEGER = frozenset({"max_dd_duration", "max_dd_days"})
HIGHER_IS_BETTER = frozenset({"total_return", "cagr", "sharpe", "sortino", "max_drawdown",
                              "calmar", "var_95", "cvar_95", "hit_rate", "psr", "dsr"})
LOWER_IS_BETTER = frozenset({"volatility", "turnover", "cost_drag", "max_dd_duration",
                             "max_dd_days"})
"""Columns whose best value is highlighted; p-values, effective N and entropy describe rather
than rank, so they are left plain. Drawdowns and VaR are negative, so higher is better."""


# ----------------------------------------------------------------------------- escaping
def esc(value: object) -> str:
    """HTML-escape ``str(value)``, quotes included (safe in text and attribute values).

    The same escaping as the template's autoescape (:func:`markupsafe.escape`); ``str`` first,
    so an object claiming to be HTML (``__html__``) is escaped all the same.
    """
    return str(escape(str(value)))


def _trusted(*fragments: str) -> Markup:
    """Join HTML built by this module's helpers, every user string in it already :func:`esc`\\ d,
    into one fragment the template inserts as is."""
    return Markup("".join(fragments))


@functools.cache
def _environment() -> jinja2.Environment:
    """The Jinja environment of the package's ``templates/``; autoescaping every expression."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("maxent_portfolio.reporting", "templates"),
        autoescape=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)


def script_json(data: object) -> str:
    """JSON safe to place inside ``<script type="application/json">``.

    ``<``, ``>``, ``&`` and the JavaScript line separators are written as ``\\uXXXX`` escapes, so
    ``</script>`` or ``<!--`` in any value cannot end or alter the element. NaN and infinities
    become ``null`` so the text is strict JSON.
    """
    text = json.dumps(_jsonable(data), ensure_ascii=False, allow_nan=False, indent=None)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                       ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, code)
    return text


def _jsonable(value: object) -> Any:
    """Plain JSON types: mappings, lists, str, finite numbers, bool, None (else ``str``)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _safe_link(link: str) -> str:
    """A relative link, escaped for an ``href``; absolute URLs and schemes are refused."""
    parts = urlsplit(link)
    if parts.scheme or parts.netloc or link.startswith(("/", "\\")):
        raise ValueError(f"tear sheet links must be relative paths, got {link!r}")
    return esc(link)


# ----------------------------------------------------------------------------- data helpers
@dataclass(frozen=True)
class Section:
    """One card of the dashboard; the page's navigation and body are both made from the list.

    Attributes
    ----------
    id : str
        Anchor of the ``<section>`` and target of its navigation link.
    nav : str
        Navigation label (escaped).
    title : str
        ``<h2>`` heading (escaped).
    html : Markup
        Body after the heading, trusted as is: build it from escaped fragments only.
    """

    id: str
    nav: str
    title: str
    html: Markup


@dataclass(frozen=True)
class SeriesInfo:
    """How one strategy (or the benchmark) appears throughout the dashboard."""

    name: str
    style: LineStyle
    investable: bool = True
    benchmark: bool = False


def _styles(results: Sequence[BacktestResult], benchmark_name: str | None
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


def annual_turnover(results: Sequence[BacktestResult]) -> pd.DataFrame:
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


def policy_entropy(result: BacktestResult) -> pd.Series | None:
    """The policy entropy a strategy reported in ``extras`` (first of
    :data:`ENTROPY_KEYS` present), as floats by date, or None."""
    for key in ENTROPY_KEYS:
        series = result.extras.get(key)
        if isinstance(series, pd.Series):
            values = pd.to_numeric(series, errors="coerce").dropna()
            if len(values):
                values.index = pd.DatetimeIndex(values.index)
                return values.sort_index()
    return None


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


def menu_section(results: Sequence[BacktestResult], xlim: tuple[pd.Timestamp, pd.Timestamp],
                 folds: Sequence[pd.Timestamp]) -> Section | None:
    """The card of menu probabilities and mixture entropy, one figure per menu strategy
    (the mean over seeds when there are several), or None without one."""
    chosen: dict[str, BacktestResult] = {}
    for r in results:
        base = r.name.split("-seed")[0]
        if menu_probabilities(r) is not None and (base not in chosen or r.name == base):
            chosen[base] = r
    if not chosen:
        return None
    parts = []
    for i, r in enumerate(chosen.values()):
        probs = menu_probabilities(r)
        assert probs is not None
        colors = _allocation_colors(list(probs.columns))
        svg = plots.figure_to_svg(plots.menu_figure(probs, policy_entropy(r), colors, xlim,
                                                    folds), f"fig-menu-{i}")
        parts.append(f"<h3>{esc(r.name)}</h3>" + _asset_legend(list(probs.columns), colors)
                     + f"<figure>{svg}</figure>")
    return Section("menu", "Menu", "Menu probabilities and entropy", _trusted(
        '<p class="muted">The probability the policy gives each menu strategy at each decision '
        "(the weights held are the mixture of the strategies' weights by these probabilities) "
        "and the mixture's entropy, which the temperature holds near the --diversification "
        "target. With several seeds, their mean.</p>", *parts))


def fold_starts(results: Sequence[BacktestResult]) -> list[pd.Timestamp]:
    """Distinct test-window start dates of the walk-forward folds of all results."""
    starts = {pd.Timestamp(f["test_start"]) for res in results for f in res.folds
              if f.get("test_start")}
    return sorted(starts)


def _time_range(results: Sequence[BacktestResult]) -> tuple[pd.Timestamp, pd.Timestamp]:
    starts = [r.returns.index.min() for r in results if len(r.returns)]
    ends = [r.returns.index.max() for r in results if len(r.returns)]
    if not starts:
        raise ValueError("the dashboard needs at least one result with returns")
    return pd.Timestamp(min(starts)), pd.Timestamp(max(ends))


def _benchmark_equity(benchmark: pd.Series, xlim: tuple[pd.Timestamp, pd.Timestamp]
                      ) -> pd.Series | None:
    bench = pd.to_numeric(benchmark, errors="coerce").dropna()
    bench.index = _like(pd.DatetimeIndex(bench.index), xlim[0])
    bench = bench.sort_index().loc[xlim[0]: xlim[1]]
    return (1.0 + bench).cumprod() if len(bench) >= 2 else None


def _like(index: pd.DatetimeIndex, reference: pd.Timestamp) -> pd.DatetimeIndex:
    """``index`` with the time zone (or none) of ``reference``, keeping wall-clock dates."""
    if reference.tz is None:
        return index.tz_localize(None) if index.tz is not None else index
    return index.tz_convert(reference.tz) if index.tz is not None \
        else index.tz_localize(reference.tz)


def _as_bool(value: object) -> bool | None:
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


# ----------------------------------------------------------------------------- formatting
def _number(value: object) -> float | None:
    if isinstance(value, bool | np.bool_) or value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def format_metric(column: str, value: object) -> str:
    """Display text of one metric cell (unescaped)."""
    number = _number(value)
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


def _label(column: str, reference: str | None) -> str:
    label = LABELS.get(column, column.replace("_", " ").capitalize())
    if column.startswith("p_sharpe") and reference:
        label = f"{label} vs {reference}"
    return label


def _best_rows(values: list[float | None], column: str, eligible: list[bool]) -> set[int]:
    """Row positions holding the best value of ``column`` among eligible rows."""
    if column not in HIGHER_IS_BETTER and column not in LOWER_IS_BETTER:
        return set()
    candidates = [(i, v) for i, v in enumerate(values) if v is not None and eligible[i]]
    if len(candidates) < 2:
        return set()
    pick = max if column in HIGHER_IS_BETTER else min
    best = pick(v for _, v in candidates)
    return {i for i, v in candidates if math.isclose(v, best, rel_tol=1e-12, abs_tol=1e-15)}


# ----------------------------------------------------------------------------- sections
def metrics_table_html(metrics: pd.DataFrame, info: Mapping[str, SeriesInfo],
                       tearsheets: Mapping[str, str], descriptions: Mapping[str, str],
                       reference: str | None, benchmark_names: Sequence[str]) -> str:
    """The sortable metrics ``<table>``, one row per row of ``metrics``."""
    if "strategy" not in metrics.columns:
        raise ValueError("the metrics table needs a 'strategy' column")
    frame = metrics.reset_index(drop=True)
    columns = [c for c in frame.columns if c != "strategy" and c not in HIDDEN_COLUMNS]
    names = [str(n) for n in frame["strategy"]]
    investable = []
    for i, name in enumerate(names):
        flag = _as_bool(frame.at[i, "investable"]) if "investable" in frame.columns else None
        if name in info and not info[name].benchmark:
            flag = info[name].investable if flag is None else flag and info[name].investable
        investable.append(True if flag is None else flag)
    is_benchmark = [n in benchmark_names for n in names]
    eligible = [inv and not bench for inv, bench in zip(investable, is_benchmark, strict=True)]

    head = ['<th scope="col" class="name" data-type="text"><button type="button">Strategy'
            '</button></th>']
    for col in columns:
        extra = "" if col in PRIMARY_COLUMNS else " extra"
        tip = descriptions.get(col)
        title = f' title="{esc(tip)}"' if tip else ""
        hint = " has-tip" if tip else ""
        head.append(f'<th scope="col" class="num{extra}{hint}"{title}><button type="button">'
                    f"{esc(_label(col, reference))}</button></th>")

    cells: dict[str, list[float | None]] = {c: [_number(v) for v in frame[c]] for c in columns}
    best = {c: _best_rows(cells[c], c, eligible) for c in columns}
    rows = []
    for i, name in enumerate(names):
        classes, badges = [], []
        if not investable[i]:
            classes.append("not-investable")
            badges.append('<span class="badge hindsight" title="Fit on the window it is judged '
                          'on: a hindsight benchmark that could not have been traded">'
                          "not investable</span>")
        if reference is not None and name == reference:
            classes.append("reference")
            badges.append('<span class="badge ref" title="The p-values test each Sharpe ratio '
                          'against this strategy">reference</span>')
        if is_benchmark[i]:
            classes.append("benchmark")
            badges.append('<span class="badge bench" title="Market benchmark (plain returns, '
                          'no trading)">benchmark</span>')
        swatch = _swatch(info[name].style) if name in info else ""
        label = esc(name)
        aliases = [b for b in benchmark_names if b != name and b in info]
        if is_benchmark[i] and aliases:
            swatch = _swatch(info[aliases[0]].style)
            label += f' <span class="muted">{esc(aliases[0])}</span>'
        if name in tearsheets:
            label = (f'<a href="{_safe_link(tearsheets[name])}" title="QuantStats tear sheet">'
                     f"{label}</a>")
        row = [f'<th scope="row" class="name" data-value="{esc(name)}">{swatch}{label}'
               f'{" " if badges else ""}{"".join(badges)}</th>']
        for col in columns:
            number = cells[col][i]
            value = "" if number is None else repr(number)
            cls = ["num"] + ([] if col in PRIMARY_COLUMNS else ["extra"])
            if i in best[col]:
                cls.append("best")
            row.append(f'<td class="{" ".join(cls)}" data-value="{esc(value)}">'
                       f"{esc(format_metric(col, frame.at[i, col]))}</td>")
        rows.append(f'<tr class="{" ".join(classes)}">{"".join(row)}</tr>')
    n_extra = sum(c not in PRIMARY_COLUMNS for c in columns)
    toggle = (f'<label class="toggle"><input type="checkbox" id="show-all-metrics"> show all '
              f"{len(columns)} metrics ({n_extra} more)</label>" if n_extra else "")
    return (f'{toggle}<div class="table-wrap"><table class="sortable metrics" id="metrics-table">'
            f'<thead><tr>{"".join(head)}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def _swatch(style: LineStyle) -> str:
    dash = {"--": ' stroke-dasharray="5 3"', ":": ' stroke-dasharray="1.5 2.5"'}.get(
        style.dashes, "")
    width = min(style.width, 2.2) + 1.0
    return (f'<svg class="swatch" viewBox="0 0 22 10" aria-hidden="true"><line x1="1" y1="5" '
            f'x2="21" y2="5" stroke="{esc(style.color)}" stroke-width="{width:.1f}"{dash} '
            'stroke-linecap="round"/></svg>')


def legend_html(info: Mapping[str, SeriesInfo], keys: Sequence[str]) -> str:
    """Clickable legend; a click hides or shows that series in every chart."""
    items = []
    for key in keys:
        item = info[key]
        note = " (not investable)" if not item.investable else " (benchmark)" \
            if item.benchmark else ""
        items.append(f'<button type="button" class="legend-item" aria-pressed="true" '
                     f'data-series="{esc(item.style.gid)}" title="click to hide or show">'
                     f'{_swatch(item.style)}{esc(key)}<span class="muted">{esc(note)}</span>'
                     "</button>")
    return f'<div class="legend" role="group" aria-label="series">{"".join(items)}</div>'


def _asset_legend(columns: Sequence[str], colors: Sequence[str]) -> str:
    items = [f'<span class="legend-item static"><span class="box" style="background:{esc(c)}">'
             f"</span>{esc(name)}</span>" for name, c in zip(columns, colors, strict=True)]
    return f'<div class="legend">{"".join(items)}</div>'


def _allocation_colors(columns: Sequence[str]) -> list[str]:
    colors, i = [], 0
    for col in columns:
        if col == CASH:
            colors.append(plots.CASH_COLOR)
        elif str(col).startswith("other ("):
            colors.append(plots.OTHER_COLOR)
        else:
            colors.append(plots.PALETTE[i % len(plots.PALETTE)])
            i += 1
    return colors


def _thin(frame: pd.DataFrame, limit: int) -> pd.DataFrame:
    if len(frame) <= limit:
        return frame
    step = math.ceil(len(frame) / limit)
    keep = np.unique(np.append(np.arange(0, len(frame), step), len(frame) - 1))
    return frame.iloc[keep]


def _value_html(value: object) -> str:
    """A provenance value: nested mappings as tables, lists of scalars joined, else text."""
    if isinstance(value, Mapping):
        if not value:
            return '<span class="muted">none</span>'
        rows = "".join(f"<tr><th>{esc(k)}</th><td>{_value_html(v)}</td></tr>"
                       for k, v in value.items())
        return f'<table class="kv nested">{rows}</table>'
    if isinstance(value, list | tuple):
        if not value:
            return '<span class="muted">none</span>'
        if all(isinstance(v, Mapping) for v in value):
            return "".join(_value_html(v) for v in value)
        return esc(", ".join(str(v) for v in value))
    return esc(value)


def provenance_html(provenance: Mapping[str, Any]) -> str:
    """Key/value table of the run's provenance."""
    if not provenance:
        return '<p class="muted">No provenance recorded.</p>'
    rows = []
    for key, value in provenance.items():
        if key == "folds":
            continue  # shown in its own section
        rows.append(f'<tr><th scope="row">{esc(key)}</th><td>{_value_html(value)}</td></tr>')
    return f'<table class="kv">{"".join(rows)}</table>'


def folds_html(folds: Sequence[Mapping[str, str]]) -> str:
    """Table of walk-forward folds (train and test windows)."""
    if not folds:
        return '<p class="muted">No walk-forward folds recorded.</p>'
    rows = "".join(
        f'<tr><td class="num">{i + 1}</td><td>{esc(f.get("train_start", ""))}</td>'
        f'<td>{esc(f.get("train_end", ""))}</td><td>{esc(f.get("test_start", ""))}</td>'
        f'<td>{esc(f.get("test_end", ""))}</td></tr>' for i, f in enumerate(folds))
    return ('<table class="plain"><thead><tr><th>Fold</th><th>Train from</th><th>Train to</th>'
            f"<th>Test from</th><th>Test to</th></tr></thead><tbody>{rows}</tbody></table>")


def tearsheets_html(tearsheets: Mapping[str, str], info: Mapping[str, SeriesInfo]) -> str:
    """List of links to the tear sheets."""
    if not tearsheets:
        return '<p class="muted">No tear sheets were written.</p>'
    items = []
    for name, link in tearsheets.items():
        swatch = _swatch(info[name].style) if name in info else ""
        note = "" if name not in info or info[name].investable else \
            ' <span class="badge hindsight">not investable</span>'
        items.append(f'<li>{swatch}<a href="{_safe_link(link)}">{esc(name)}</a>{note}</li>')
    return f'<ul class="sheets">{"".join(items)}</ul>'


# ----------------------------------------------------------------------------- page
def render_dashboard(results: Sequence[BacktestResult], metrics: pd.DataFrame,
                     benchmark: pd.Series | None, config: Mapping[str, Any],
                     tearsheets: Mapping[str, str], title: str,
                     provenance: Mapping[str, Any], reference: str | None = "equal-weight",
                     descriptions: Mapping[str, str] | None = None,
                     allocation_of: str = "sac") -> str:
    """The dashboard as one HTML string. See :func:`write_dashboard` for the parameters."""
    if not results:
        raise ValueError("the dashboard needs at least one backtest result")
    descriptions = metric_descriptions() if descriptions is None else dict(descriptions)
    bench_name = None
    if benchmark is not None:
        bench_name = str(benchmark.name) if benchmark.name is not None else "benchmark"
    info = _styles(results, bench_name)
    xlim = _time_range(results)
    folds = list(_like(pd.DatetimeIndex(fold_starts(results)), xlim[0]))
    benchmark_rows = ["benchmark"] + ([bench_name] if bench_name else [])

    # Equity and drawdown
    equity = {r.name: r.equity for r in results if len(r.returns)}
    bench_equity = None if benchmark is None else _benchmark_equity(benchmark, xlim)
    if bench_equity is not None and bench_name is not None and bench_name not in equity:
        equity[bench_name] = bench_equity
    styles = {k: v.style for k, v in info.items()}
    equity_svg = plots.figure_to_svg(
        plots.equity_drawdown_figure(equity, styles, xlim, folds), "fig-equity")

    # Allocation
    chosen, preferred = pick_allocation(results, allocation_of, reference)
    allocation = None
    if chosen is not None and len(chosen.holdings):
        grouped = _thin(group_weights(chosen.holdings), MAX_ALLOCATION_POINTS)
        colors = _allocation_colors(list(grouped.columns))
        svg = plots.figure_to_svg(plots.allocation_figure(grouped, colors, xlim, folds),
                                  "fig-allocation")
        note = "" if preferred else (
            f'<p class="note">No SAC result in this run: showing the allocation of '
            f"<strong>{esc(chosen.name)}</strong> instead.</p>")
        allocation = Section(
            "allocation", "Allocation", f"Allocation over time: {chosen.name}", _trusted(
                note, '<p class="muted">Weights held each period (after rebalancing, drifting '
                "with prices in between).</p>", _asset_legend(list(grouped.columns), colors),
                f"<figure>{svg}</figure>"))

    menu = menu_section(results, xlim, folds)

    # Diversification and entropy
    eff = {r.name: effective_n_series(r.holdings) for r in results if len(r.holdings)}
    entropy = {r.name: series for r in results
               if (series := policy_entropy(r)) is not None}
    div_svg = plots.figure_to_svg(
        plots.diversification_figure(eff, entropy, styles, xlim, folds), "fig-diversification")
    entropy_note = "" if entropy else (
        '<p class="muted">No strategy in this run reports a policy entropy.</p>')

    # Turnover
    annual = annual_turnover([r for r in results if len(r.turnover)])
    turnover_svg = plots.figure_to_svg(plots.turnover_figure(annual, styles), "fig-turnover") \
        if not annual.empty else '<p class="muted">No rebalances recorded.</p>'

    # Learning curves (every seed of a learning strategy, gathered under its name)
    learning_parts: dict[str, list[pd.DataFrame]] = {}
    for r in results:
        if r.learning is not None and len(r.learning):
            base = r.name.split("-seed")[0]
            learning_parts.setdefault(base, []).append(r.learning)
    learning = None
    if learning_parts:
        figures = "".join(
            f"<h3>{esc(name)}</h3><figure>"
            + plots.figure_to_svg(plots.learning_figure(pd.concat(parts)), f"fig-learning-{i}")
            + "</figure>" for i, (name, parts) in enumerate(learning_parts.items()))
        learning = Section("learning", "Learning", "Learning curves", _trusted(
            '<p class="muted">Per walk-forward fold, against training transitions: the '
            "deterministic policy's log growth on the validation slice (the tail of the training "
            "window, never test data), the policy's entropy and effective N, and the "
            "temperature. The numbers are in <code>learning.csv</code>.</p>", figures))

    strategy_keys = [r.name for r in results]
    chart_keys = strategy_keys + ([bench_name] if bench_name in equity and bench_name
                                  not in strategy_keys else [])
    all_folds = results[0].folds
    period = f"{xlim[0].date()} \u2013 {xlim[1].date()}"
    summary = (f"{len(results)} strategies \u00b7 out of sample {period} \u00b7 "
               f"{len(all_folds)} walk-forward fold{'s' if len(all_folds) != 1 else ''}")
    run_data = {
        "title": title, "period": [str(xlim[0].date()), str(xlim[1].date())],
        "strategies": [{"name": k, "investable": info[k].investable, "color": info[k].style.color,
                        "tearsheet": tearsheets.get(k)} for k in strategy_keys],
        "benchmark": bench_name, "reference": reference, "folds": all_folds,
        "config": config, "provenance": provenance,
    }
    definitions = "".join(
        f"<dt>{esc(_label(c, reference))}</dt><dd>{esc(descriptions[c])}</dd>"
        for c in metrics.columns if c in descriptions and c not in ("strategy", *HIDDEN_COLUMNS))
    config_text = json.dumps(_jsonable(config), indent=2, ensure_ascii=False)
    sections = [
        Section("metrics", "Metrics", "Metrics", _trusted(
            metrics_table_html(metrics, info, tearsheets, descriptions, reference,
                               benchmark_rows),
            '<p class="note"><span class="best-key">Highlighted</span>: best in the column among '
            "investable strategies (the benchmark and hindsight rows excluded). Click a header to "
            "sort; hover it for its definition. Names link to tear sheets.</p>",
            f"<details><summary>Metric definitions</summary><dl>{definitions}</dl></details>"
            if definitions else "")),
        Section("performance", "Equity", "Equity and drawdowns", _trusted(
            legend_html(info, chart_keys), f"<figure>{equity_svg}</figure>",
            '<p class="muted">Dashed grey lines: start of each walk-forward test window.</p>')),
        *([allocation] if allocation else []),
        *([menu] if menu else []),
        Section("diversification", "Diversification", "Diversification and policy entropy",
                _trusted(legend_html(info, strategy_keys), entropy_note,
                         f"<figure>{div_svg}</figure>")),
        Section("turnover", "Turnover", "Turnover", _trusted(
            legend_html(info, strategy_keys), f"<figure>{turnover_svg}</figure>")),
        *([learning] if learning else []),
        Section("folds", "Folds", "Walk-forward folds", _trusted(folds_html(all_folds))),
        Section("tearsheets", "Tear sheets", "Tear sheets",
                _trusted(tearsheets_html(tearsheets, info))),
        Section("config", "Config", "Configuration", Markup("<pre>{}</pre>").format(config_text)),
        Section("provenance", "Provenance", "Provenance", _trusted(provenance_html(provenance))),
    ]
    # script_json leaves no "<", ">" or "&", so it is safe raw inside <script>; HTML-escaping it
    # would corrupt the JSON (a script element's text is not entity-decoded).
    return _environment().get_template("dashboard.html.j2").render(
        title=title, summary=summary, sections=sections, data=Markup(script_json(run_data)))


def write_dashboard(path: Path | str, results: Sequence[BacktestResult], metrics: pd.DataFrame,
                    benchmark: pd.Series | None, config: Mapping[str, Any],
                    tearsheets: Mapping[str, str], title: str, provenance: Mapping[str, Any],
                    reference: str | None = "equal-weight",
                    descriptions: Mapping[str, str] | None = None,
                    allocation_of: str = "sac") -> Path:
    """Write the self-contained comparison dashboard, atomically.

    Parameters
    ----------
    path : Path or str
        Output file (``index.html``); written to a temporary file beside it, then
        :func:`os.replace`\\ d.
    results : sequence of BacktestResult
        Every strategy of the run, in display order.
    metrics : pd.DataFrame
        :func:`maxent_portfolio.measures.metrics_table` output: a ``strategy`` column, then
        metrics; an ``investable`` column, if present, marks hindsight rows. Rows named
        ``benchmark`` (or the benchmark's name) are marked as the benchmark.
    benchmark : pd.Series or None
        Benchmark simple returns, drawn dotted black on the equity and drawdown charts.
    config : mapping
        The run's configuration, shown as JSON.
    tearsheets : mapping of str to str
        Strategy name to a relative link to its tear sheet.
    title : str
    provenance : mapping
        Package versions, data hash, seeds, folds, ...
    reference : str or None
        Strategy the Sharpe-difference p-values are against; its row is marked.
    descriptions : mapping of str to str, optional
        Header tooltips; default :data:`maxent_portfolio.measures.METRIC_DESCRIPTIONS`.
    allocation_of : str
        Whose allocation to chart: this name, else the first name starting with it, else the
        first investable non-reference strategy (the page says so).

    Returns
    -------
    Path
        ``path``.
    """
    page = render_dashboard(results, metrics, benchmark, config, tearsheets, title, provenance,
                            reference, descriptions, allocation_of)
    target = Path(path)
    write_text(target, page)
    return target


__all__ = [
    "Section", "SeriesInfo", "annual_turnover", "esc", "fold_starts", "format_metric",
    "group_weights", "legend_html", "menu_probabilities", "menu_section", "metric_descriptions",
    "metrics_table_html", "pick_allocation", "policy_entropy", "render_dashboard", "script_json",
    "write_dashboard",
]
