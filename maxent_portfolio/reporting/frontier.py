"""``frontier.html``: a sweep's entropy frontier, self-contained and offline.

Two inline SVG charts (matplotlib): Sharpe net of costs against mean effective N, one point
per grid setting with its seeds' range as error bars and its dial value annotated, with 1/N,
min-variance and the benchmark marked; and Sharpe against the dial. Then the statistics (DSR
of the best cell, PBO of choosing the best setting), the seed spread and the cells' table.
The charts draw only numbers and the package's own labels; every user string (the universe's
name) goes through the template's autoescaping.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib.figure import Figure

from maxent_portfolio.files import write_text
from maxent_portfolio.reporting import plots
from maxent_portfolio.reporting.templating import environment, esc

if TYPE_CHECKING:
    from maxent_portfolio.sweep.run import SweepOutcome

SYMBOL = {"alpha": "\u03b1", "diversification": "d"}


def fmt(value: Any, digits: int = 2) -> str:
    """A number for a table: fixed digits, ``-`` for a missing one."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def cost_label(cost: float | None) -> str:
    return "run costs" if cost is None or (isinstance(cost, float) and math.isnan(cost)) \
        else f"{cost:g} bps"


def _costs(settings: pd.DataFrame) -> list[float]:
    return list(pd.unique(settings["cost_bps"]))


def _same_cost(frame: pd.DataFrame, cost: float) -> pd.DataFrame:
    costs = frame["cost_bps"].astype(float)
    return frame[(costs == cost) | (costs.isna() & (isinstance(cost, float) and math.isnan(cost)))]


def _cost_curves(settings: pd.DataFrame, by: str
                 ) -> Iterator[tuple[str, float, pd.DataFrame, np.ndarray, np.ndarray]]:
    """Per cost level: its colour, the cost, its settings sorted by ``by``, and their ``by``
    values and mean Sharpe ratios (the x and y of its curve)."""
    for i, cost in enumerate(_costs(settings)):
        rows = _same_cost(settings, cost).sort_values(by)
        yield (plots.PALETTE[i % len(plots.PALETTE)], cost, rows, rows[by].to_numpy(float),
               rows["sharpe"].to_numpy(float))


def frontier_figure(settings: pd.DataFrame, references: pd.DataFrame, dial: str) -> Figure:
    """Sharpe (mean of seeds, bars over their range) against mean effective N per setting."""
    with plots.styled():
        fig = Figure(figsize=(plots.WIDTH_IN, 5.2))
        ax = fig.subplots()
        for color, cost, rows, x, y in _cost_curves(settings, "effective_n"):
            ax.errorbar(x, y, yerr=[y - rows["sharpe_min"], rows["sharpe_max"] - y],
                        xerr=[x - rows["effective_n_min"], rows["effective_n_max"] - x],
                        fmt="o-", color=color, capsize=3, linewidth=1.2, markersize=6,
                        label=f"sac, {cost_label(cost)}")
            for k, (_, row) in enumerate(rows.iterrows()):
                # Staggered, so settings that land on one point stay readable.
                ax.annotate(f"{SYMBOL[dial]}={row[dial]:g}", (row["effective_n"], row["sharpe"]),
                            xytext=(6, 4 + 10 * (k % 4)), textcoords="offset points",
                            fontsize=8, color=color)
            for name, marker, label in (("equal-weight", "s", "1/N"),
                                        ("min-variance", "^", "min-variance")):
                ref = _same_cost(references[references["name"] == name], cost)
                if len(ref):
                    ax.plot(ref["effective_n"], ref["sharpe"], marker=marker, linestyle="none",
                            markersize=9, markerfacecolor="white", markeredgecolor=color,
                            markeredgewidth=1.6, label=f"{label}, {cost_label(cost)}")
        _benchmark_line(ax, references)
        ax.set_xlabel("mean effective N (1 / sum w\u00b2, cash counted)")
        ax.set_ylabel("Sharpe ratio, net of costs")
        _legend_below(ax)
        fig.subplots_adjust(left=plots.LEFT, right=plots.RIGHT, bottom=0.2, top=0.96)
    return fig


def _legend_below(ax: Any) -> None:
    """The legend under the axes, clear of the points."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=4, fontsize=8,
              frameon=False)


def _benchmark_line(ax: Any, references: pd.DataFrame) -> None:
    bench = references[references["name"] == "benchmark"]
    if len(bench) and np.isfinite(bench["sharpe"].iloc[0]):
        ax.axhline(float(bench["sharpe"].iloc[0]), color=plots.BENCHMARK_COLOR,
                   linestyle="--", linewidth=1.0, label="benchmark")


def dial_figure(settings: pd.DataFrame, references: pd.DataFrame, dial: str) -> Figure:
    """Sharpe (mean of seeds, bars over their range) against the dial value per cost."""
    with plots.styled():
        fig = Figure(figsize=(plots.WIDTH_IN, 4.2))
        ax = fig.subplots()
        for color, cost, rows, x, y in _cost_curves(settings, dial):
            ax.errorbar(x, y, yerr=[y - rows["sharpe_min"], rows["sharpe_max"] - y], fmt="o-",
                        color=color, capsize=3, label=f"sac, {cost_label(cost)}")
            for name, dashes, label in (("equal-weight", ":", "1/N"),
                                        ("min-variance", "-.", "min-variance")):
                ref = _same_cost(references[references["name"] == name], cost)
                if len(ref):
                    ax.axhline(float(ref["sharpe"].iloc[0]), color=color, linestyle=dashes,
                               linewidth=1.0, label=f"{label}, {cost_label(cost)}")
        _benchmark_line(ax, references)
        values = settings[dial].to_numpy(float)
        if dial == "alpha" and len(values) > 1 and values.max() / values.min() >= 10:
            ax.set_xscale("log")
        ax.set_xlabel("temperature \u03b1 (fixed)" if dial == "alpha"
                      else "diversification dial d (entropy target)")
        ax.set_ylabel("Sharpe ratio, net of costs")
        _legend_below(ax)
        fig.subplots_adjust(left=plots.LEFT, right=plots.RIGHT, bottom=0.25, top=0.95)
    return fig


def _mean_or_nan(values: pd.Series) -> float:
    return float(np.mean(values.to_numpy(dtype=float)))


def robustness_figure(table: pd.DataFrame, dial: str) -> Figure:
    """The dial's robustness curve: win rate against 1/N and the 5% quantile of Sharpe over the
    scenarios, against mean effective N, per cost (means over seeds); the blend control dashed,
    from the coldest setting through its blends matched to each hotter one."""
    columns = ["effective_n", "win_rate_vs_equal_weight", "sharpe_q05"]
    blend = [f"blend_{c}" for c in columns]
    # NaN stays NaN: a setting whose blend is missing for one seed (lambda > 1) gets no point,
    # rather than the mean of the other seeds' blends.
    means = table.groupby(["cost_bps", dial], sort=True, dropna=False)[columns + blend].agg(
        _mean_or_nan).reset_index()
    with plots.styled():
        fig = Figure(figsize=(plots.WIDTH_IN, 4.4))
        axes = fig.subplots(1, 2)
        for i, cost in enumerate(_costs(means)):
            rows = _same_cost(means, cost)
            color = plots.PALETTE[i % len(plots.PALETTE)]
            label = cost_label(cost)
            cold = rows.iloc[:1]  # sorted by the dial: the coldest first
            for ax, column in zip(axes, columns[1:], strict=True):
                ax.plot(rows["effective_n"], rows[column], "o-", color=color,
                        label=f"sac, {label}")
                for _, row in rows.iterrows():
                    ax.annotate(f"{SYMBOL[dial]}={row[dial]:g}", (row["effective_n"], row[column]),
                                xytext=(5, 4), textcoords="offset points", fontsize=8,
                                color=color)
                x = np.append(cold["effective_n"], rows["blend_effective_n"].iloc[1:])
                y = np.append(cold[column], rows[f"blend_{column}"].iloc[1:])
                keep = np.isfinite(x) & np.isfinite(y)
                ax.plot(x[keep], y[keep], "s--", color=color, markerfacecolor="white",
                        label=f"blend control, {label}")
        axes[0].axhline(0.5, color=plots.BENCHMARK_COLOR, linestyle=":", linewidth=1.0)
        axes[0].set_ylabel("win rate against 1/N (paired Sharpe)")
        axes[1].set_ylabel("Sharpe, 5% quantile over scenarios")
        for ax in axes:
            ax.set_xlabel("mean effective N (run's own path)")
        _legend_below(axes[0])
        fig.subplots_adjust(left=plots.LEFT, right=plots.RIGHT, bottom=0.3, top=0.95,
                            wspace=0.3)
    return fig


def table_html(frame: pd.DataFrame, digits: dict[str, int] | None = None,
               name_columns: Sequence[str] = ()) -> str:
    """A plain HTML table of ``frame``, every cell escaped; numbers right-aligned."""
    digits = digits or {}
    head = "".join(f'<th class="{"name" if c in name_columns else "num"}"><button>{esc(c)}'
                   "</button></th>" for c in frame.columns)
    body = []
    for _, row in frame.iterrows():
        cells = []
        for c in frame.columns:
            v = row[c]
            if c in name_columns or isinstance(v, str):
                cells.append(f"<td>{esc(v)}</td>")
            elif isinstance(v, int | np.integer):
                cells.append(f'<td class="num">{int(v)}</td>')
            else:
                cells.append(f'<td class="num">{esc(fmt(float(v), digits.get(c, 3)))}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<div class="table-wrap"><table class="metrics"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def render_frontier(outcome: SweepOutcome) -> str:
    """The page as a string."""
    plan, stats = outcome.plan, outcome.statistics
    dial, market = plan.sweep.dial, plan.data.market
    cells = outcome.table.drop(columns="cell")
    refs = outcome.references.drop(columns="column")
    first, last = outcome.returns.index[0].date(), outcome.returns.index[-1].date()
    n_costs = len(plan.sweep.cost_bps or [None])
    summary = (f"{len(plan.cells)} cells: {len(plan.sweep.dial_values)} {dial} values x "
               f"{n_costs} cost level{'s' if n_costs > 1 else ''} x {plan.sweep.seeds} seeds; "
               f"sac out of sample {first} to {last}, {len(plan.data.folds)} folds")
    bench = market.benchmark
    page = environment().get_template("frontier.html.j2").render(
        title=f"Entropy frontier: {market.name}", summary=summary, dial=dial,
        seeds=plan.sweep.seeds, benchmark="none" if bench is None else str(bench.name),
        stats=stats, partitions=plan.sweep.pbo_partitions, fmt=fmt, cost_label=cost_label,
        frontier_svg=Markup(plots.figure_to_svg(
            frontier_figure(outcome.settings, outcome.references, dial), "frontier")),
        dial_svg=Markup(plots.figure_to_svg(
            dial_figure(outcome.settings, outcome.references, dial), "dial")),
        scenarios=plan.sweep.scenarios,
        robustness_svg=Markup(plots.figure_to_svg(
            robustness_figure(outcome.table, dial), "robustness"))
        if plan.sweep.scenarios else None,
        settings_table=Markup(table_html(outcome.settings, {"seeds": 0})),
        cells_table=Markup(table_html(cells, {"seed": 0, "train_seconds": 1})),
        references_table=Markup(table_html(refs, name_columns=("name",))))
    return str(page)


def write_frontier(outcome: SweepOutcome, path: Path) -> Path:
    """Write ``frontier.html`` atomically."""
    write_text(path, render_frontier(outcome))
    return path


__all__ = ["dial_figure", "frontier_figure", "render_frontier", "robustness_figure", "table_html",
           "write_frontier"]
