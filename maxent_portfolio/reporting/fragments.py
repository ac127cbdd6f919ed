"""HTML fragments of the dashboard: the metrics table, legends, provenance, folds and tear-sheet
links. Every user string in them goes through :func:`.templating.esc`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from maxent_portfolio.reporting import plots
from maxent_portfolio.reporting.formatting import (
    HIDDEN_COLUMNS,
    PRIMARY_COLUMNS,
    as_bool,
    as_number,
    best_rows,
    column_label,
    format_metric,
)
from maxent_portfolio.reporting.plots import LineStyle
from maxent_portfolio.reporting.series import CASH, SeriesInfo
from maxent_portfolio.reporting.templating import esc, safe_link


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
        flag = as_bool(frame.at[i, "investable"]) if "investable" in frame.columns else None
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
                    f"{esc(column_label(col, reference))}</button></th>")

    cells: dict[str, list[float | None]] = {c: [as_number(v) for v in frame[c]] for c in columns}
    best = {c: best_rows(cells[c], c, eligible) for c in columns}
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
        swatch = line_swatch(info[name].style) if name in info else ""
        label = esc(name)
        aliases = [b for b in benchmark_names if b != name and b in info]
        if is_benchmark[i] and aliases:
            swatch = line_swatch(info[aliases[0]].style)
            label += f' <span class="muted">{esc(aliases[0])}</span>'
        if name in tearsheets:
            label = (f'<a href="{safe_link(tearsheets[name])}" title="QuantStats tear sheet">'
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


def line_swatch(style: LineStyle) -> str:
    """A short inline SVG line in a series' colour, dashes and width."""
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
                     f'{line_swatch(item.style)}{esc(key)}<span class="muted">{esc(note)}</span>'
                     "</button>")
    return f'<div class="legend" role="group" aria-label="series">{"".join(items)}</div>'


ROBUSTNESS_COLUMNS = (
    ("sharpe_q50", "Sharpe, median", "sharpe"), ("sharpe_q05", "Sharpe, 5%", "sharpe"),
    ("sharpe_q95", "Sharpe, 95%", "sharpe"), ("p_beat_equal_weight", "Beats 1/N", "share"),
    ("cagr_q50", "CAGR, median", "cagr"), ("max_drawdown_q50", "MaxDD, median", "max_drawdown"),
    ("max_drawdown_q05", "MaxDD, 5%", "max_drawdown"),
    ("p_drawdown_beyond", "P(MaxDD beyond)", "share"), ("cvar_95_q50", "CVaR 95, median",
                                                        "cvar_95"))
"""``summary.csv`` columns the Robustness table shows: (column, header, metric format)."""


def robustness_table_html(summary: pd.DataFrame) -> str:
    """The Robustness card's table: one row per strategy of ``summary.csv``."""
    head = "".join(f'<th scope="col" class="num">{esc(title)}</th>'
                   for _, title, _ in ROBUSTNESS_COLUMNS)
    rows = []
    for _, row in summary.iterrows():
        cells = []
        for column, _, kind in ROBUSTNESS_COLUMNS:
            value = as_number(row.get(column))
            text = "-" if value is None else f"{value:.0%}" if kind == "share" \
                else format_metric(kind, value)
            cells.append(f'<td class="num">{esc(text)}</td>')
        rows.append(f'<tr><th scope="row" class="name">{esc(row["strategy"])}</th>'
                    f'{"".join(cells)}</tr>')
    return (f'<table class="robustness"><thead><tr><th scope="col" class="name">Strategy</th>'
            f'{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def asset_legend(columns: Sequence[str], colors: Sequence[str]) -> str:
    """Static legend of colour boxes for a stacked chart's columns."""
    items = [f'<span class="legend-item static"><span class="box" style="background:{esc(c)}">'
             f"</span>{esc(name)}</span>" for name, c in zip(columns, colors, strict=True)]
    return f'<div class="legend">{"".join(items)}</div>'


def allocation_colors(columns: Sequence[str]) -> list[str]:
    """Colours of a stacked chart's columns: cash and "other" fixed, assets from the palette."""
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
        swatch = line_swatch(info[name].style) if name in info else ""
        note = "" if name not in info or info[name].investable else \
            ' <span class="badge hindsight">not investable</span>'
        items.append(f'<li>{swatch}<a href="{safe_link(link)}">{esc(name)}</a>{note}</li>')
    return f'<ul class="sheets">{"".join(items)}</ul>'


__all__ = [
    "ROBUSTNESS_COLUMNS", "allocation_colors", "asset_legend", "folds_html", "legend_html",
    "line_swatch", "metrics_table_html", "provenance_html", "robustness_table_html",
    "tearsheets_html"]
