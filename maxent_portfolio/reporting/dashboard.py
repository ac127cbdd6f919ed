"""The self-contained comparison dashboard, ``index.html`` of a run.

One HTML file with inline CSS, inline SVG charts (matplotlib, see :mod:`.plots`) and a little
vanilla JavaScript (table sorting, legend toggles). It loads nothing from anywhere, so it works
offline and from a ``file://`` URL. The page, its CSS and its JavaScript are package templates
(``templates/dashboard.html.j2``, ``dashboard.css``, ``dashboard.js``) rendered by Jinja with
autoescaping on; the page's cards are a list of :class:`Section`, so a new section is one entry.
The page is built from :mod:`.templating` (escaping, Jinja), :mod:`.series` (what is drawn),
:mod:`.formatting` (how a metric reads) and :mod:`.fragments` (the HTML pieces).

Every user-supplied string (strategy and asset names, config values, provenance, links) is
HTML-escaped, by the template or by :func:`.templating.esc` in the fragments passed as
``Markup``; JSON embedded for scripts has ``<``, ``>`` and ``&`` escaped as ``\\u003c`` etc. so
no value can close the ``<script>`` element. Charts draw no user text at all: their legends are
HTML.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup

from maxent_portfolio.backtest.engine import BacktestResult
from maxent_portfolio.files import write_text
from maxent_portfolio.measures import effective_n_series
from maxent_portfolio.reporting import plots
from maxent_portfolio.reporting.formatting import (
    HIDDEN_COLUMNS,
    as_number,
    column_label,
    format_metric,
    metric_descriptions,
)
from maxent_portfolio.reporting.fragments import (
    allocation_colors,
    asset_legend,
    folds_html,
    legend_html,
    metrics_table_html,
    provenance_html,
    robustness_table_html,
    tearsheets_html,
)
from maxent_portfolio.reporting.series import (
    MAX_ALLOCATION_POINTS,
    SeriesInfo,
    benchmark_equity,
    evidence_mix,
    fold_starts,
    group_weights,
    menu_probabilities,
    pick_allocation,
    policy_entropy,
    series_styles,
    thin_rows,
    time_range,
    turnover_by_year,
    with_timezone_of,
)
from maxent_portfolio.reporting.templating import environment, esc, jsonable, script_json, trusted


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
        colors = allocation_colors(list(probs.columns))
        svg = plots.figure_to_svg(plots.menu_figure(probs, policy_entropy(r), colors, xlim,
                                                    folds), f"fig-menu-{i}")
        parts.append(f"<h3>{esc(r.name)}</h3>" + asset_legend(list(probs.columns), colors)
                     + f"<figure>{svg}</figure>")
    return Section("menu", "Menu", "Menu probabilities and entropy", trusted(
        '<p class="muted">The probability the policy gives each menu strategy at each decision '
        "(the weights held are the mixture of the strategies' weights by these probabilities) "
        "and the mixture's entropy, which the temperature holds near the --diversification "
        "target. With several seeds, their mean.</p>", *parts))


def placebo_section(results: Sequence[BacktestResult], metrics: pd.DataFrame,
                    info: Mapping[str, SeriesInfo]) -> Section | None:
    """The card of permutation placebos: per learned strategy with placebos, the histogram
    of their Sharpe ratios and the strategy's own (from ``metrics``), or None without any."""
    rows = metrics.set_index("strategy") if "strategy" in metrics.columns else pd.DataFrame()
    parts = []
    placebos = [(r, r.placebo) for r in results if r.placebo is not None]
    for i, (r, placebo) in enumerate(placebos):
        own = as_number(rows["sharpe"].get(r.name)) if "sharpe" in rows.columns else None
        pct = as_number(rows["placebo_pct"].get(r.name)) if "placebo_pct" in rows.columns \
            else None
        svg = plots.figure_to_svg(plots.placebo_figure(
            placebo.to_numpy(dtype=float), float("nan") if own is None else own,
            info[r.name].style.color), f"fig-placebo-{i}")
        where = "" if pct is None else (
            f" \u00b7 Sharpe {format_metric('sharpe', own)}, placebo percentile "
            f"{format_metric('placebo_pct', pct)}")
        parts.append(f"<h3>{esc(r.name)}{where}</h3><figure>{svg}</figure>")
    if not parts:
        return None
    return Section("placebo", "Placebo", "Permutation placebos", trusted(
        '<p class="muted">Each placebo holds the strategy\'s own target weights with the asset '
        "labels shuffled, one random permutation per walk-forward fold (cash stays cash), "
        "traded on the same dates through the same costs: the same concentration, cash and "
        "trading, and no knowledge of which asset is which. A learned strategy shows skill "
        "only where its Sharpe stands above its placebos' (the <em>Placebo percentile</em> "
        "column: without skill it is equally likely to fall anywhere from 0 to 100, so "
        "95 or more is the 5% test).</p>", *parts))


@dataclass(frozen=True)
class Robustness:
    """A run's stress test, as ``stress`` wrote it in ``RUN_DIR/stress/``.

    Attributes
    ----------
    scenarios : pd.DataFrame
        ``scenarios.csv``: ``scenario``, ``strategy`` and the figures, one row per pair.
    summary : pd.DataFrame
        ``summary.csv``: one row per strategy.
    wealth : pd.DataFrame
        ``wealth.csv``: ``strategy``, ``date`` and the quantiles ``q05`` ... ``q95`` of growth.
    """

    scenarios: pd.DataFrame
    summary: pd.DataFrame
    wealth: pd.DataFrame


def robustness_section(robustness: Robustness, results: Sequence[BacktestResult],
                       metrics: pd.DataFrame,
                       info: Mapping[str, SeriesInfo] | None = None) -> Section:
    """The card of a stress test: the table of ``summary.csv``, each strategy's Sharpe
    distribution across scenarios and the fan chart of its wealth, the run's own path marked;
    each strategy in its colour of the page (``info``), a strategy the run lacks in the next
    free one."""
    summary = robustness.summary
    names = [str(n) for n in summary["strategy"]]
    styles = info or {}
    spare = iter(plots.PALETTE[(len(styles) + i) % len(plots.PALETTE)]
                 for i in range(len(names)))
    colors = [styles[n].style.color if n in styles else next(spare) for n in names]
    own_rows = metrics.set_index("strategy") if "strategy" in metrics.columns else pd.DataFrame()
    own = [as_number(own_rows["sharpe"].get(n)) if "sharpe" in own_rows.columns else None
           for n in names]
    by_name = {r.name: r for r in results}
    sharpes = [robustness.scenarios.loc[robustness.scenarios["strategy"] == n, "sharpe"]
               .to_numpy(dtype=float) for n in names]
    box = plots.figure_to_svg(plots.sharpe_distribution_figure(
        sharpes, [float("nan") if v is None else v for v in own], colors), "fig-robust-sharpe")
    bands = []
    for name in names:
        rows = robustness.wealth[robustness.wealth["strategy"] == name]
        bands.append(rows.set_index(pd.DatetimeIndex(rows["date"]))[
            ["q05", "q25", "q50", "q75", "q95"]])
    paths = [by_name[n].equity if n in by_name else None for n in names]
    fan = plots.figure_to_svg(plots.fan_figure(bands, paths, colors), "fig-robust-fan")
    legend = asset_legend([f"{i + 1}. {n}" for i, n in enumerate(names)], colors)
    count = int(summary["scenarios"].max())
    threshold = as_number(summary["drawdown_threshold"].iloc[0]) \
        if "drawdown_threshold" in summary.columns else None
    beyond = "" if threshold is None else f" deeper than {threshold:.0%}"
    return Section("robustness", "Robustness", "Robustness: scenario markets", trusted(
        f'<p class="muted">Every strategy re-evaluated on the same {count} scenario markets of '
        "the test windows (<code>maxent-portfolio stress</code>; "
        "<code>stress/scenarios.csv</code>), each fold's agent as trained and each baseline "
        "refit on the fold's own training window. <em>Beats 1/N</em>: the share of scenarios "
        "in which the strategy's Sharpe exceeds equal-weight's on the same path (paired); "
        f"<em>P(MaxDD beyond)</em>: the share with a maximum drawdown{esc(beyond)}.</p>",
        robustness_table_html(summary), legend, f"<figure>{box}</figure>",
        '<p class="muted">Wealth (growth of 1, log scale) across scenarios: median line, '
        "25-75% and 5-95% bands; dotted black, the run's own path.</p>",
        f"<figure>{fan}</figure>"))


# ----------------------------------------------------------------------------- page
def render_dashboard(results: Sequence[BacktestResult], metrics: pd.DataFrame,
                     benchmark: pd.Series | None, config: Mapping[str, Any],
                     tearsheets: Mapping[str, str], title: str,
                     provenance: Mapping[str, Any], reference: str | None = "equal-weight",
                     descriptions: Mapping[str, str] | None = None,
                     allocation_of: str = "sac", robustness: Robustness | None = None) -> str:
    """The dashboard as one HTML string. See :func:`write_dashboard` for the parameters."""
    if not results:
        raise ValueError("the dashboard needs at least one backtest result")
    descriptions = metric_descriptions() if descriptions is None else dict(descriptions)
    bench_name = None
    if benchmark is not None:
        bench_name = str(benchmark.name) if benchmark.name is not None else "benchmark"
    info = series_styles(results, bench_name)
    xlim = time_range(results)
    folds = list(with_timezone_of(pd.DatetimeIndex(fold_starts(results)), xlim[0]))
    benchmark_rows = ["benchmark"] + ([bench_name] if bench_name else [])

    # Equity and drawdown
    equity = {r.name: r.equity for r in results if len(r.returns)}
    bench_equity = None if benchmark is None else benchmark_equity(benchmark, xlim)
    if bench_equity is not None and bench_name is not None and bench_name not in equity:
        equity[bench_name] = bench_equity
    styles = {k: v.style for k, v in info.items()}
    equity_svg = plots.figure_to_svg(
        plots.equity_drawdown_figure(equity, styles, xlim, folds), "fig-equity")

    # Allocation
    chosen, preferred = pick_allocation(results, allocation_of, reference)
    allocation = None
    if chosen is not None and len(chosen.holdings):
        grouped = thin_rows(group_weights(chosen.holdings), MAX_ALLOCATION_POINTS)
        colors = allocation_colors(list(grouped.columns))
        svg = plots.figure_to_svg(plots.allocation_figure(grouped, colors, xlim, folds),
                                  "fig-allocation")
        note = "" if preferred else (
            f'<p class="note">No SAC result in this run: showing the allocation of '
            f"<strong>{esc(chosen.name)}</strong> instead.</p>")
        allocation = Section(
            "allocation", "Allocation", f"Allocation over time: {chosen.name}", trusted(
                note, '<p class="muted">Weights held each period (after rebalancing, drifting '
                "with prices in between).</p>", asset_legend(list(grouped.columns), colors),
                f"<figure>{svg}</figure>"))

    menu = menu_section(results, xlim, folds)

    # Diversification and entropy
    eff = {r.name: effective_n_series(r.holdings) for r in results if len(r.holdings)}
    entropy = {r.name: series for r in results
               if (series := policy_entropy(r)) is not None}
    mix = {r.name: series for r in results if (series := evidence_mix(r)) is not None}
    div_svg = plots.figure_to_svg(
        plots.diversification_figure(eff, entropy, styles, xlim, folds, mix),
        "fig-diversification")
    entropy_note = "" if entropy else (
        '<p class="muted">No strategy in this run reports a policy entropy.</p>')

    # Turnover
    annual = turnover_by_year([r for r in results if len(r.turnover)])
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
        learning = Section("learning", "Learning", "Learning curves", trusted(
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
        f"<dt>{esc(column_label(c, reference))}</dt><dd>{esc(descriptions[c])}</dd>"
        for c in metrics.columns if c in descriptions and c not in ("strategy", *HIDDEN_COLUMNS))
    config_text = json.dumps(jsonable(config), indent=2, ensure_ascii=False)
    sections = [
        Section("metrics", "Metrics", "Metrics", trusted(
            metrics_table_html(metrics, info, tearsheets, descriptions, reference,
                               benchmark_rows),
            '<p class="note"><span class="best-key">Highlighted</span>: best in the column among '
            "investable strategies (the benchmark and hindsight rows excluded). Click a header to "
            "sort; hover it for its definition. Names link to tear sheets.</p>",
            f"<details><summary>Metric definitions</summary><dl>{definitions}</dl></details>"
            if definitions else "")),
        Section("performance", "Equity", "Equity and drawdowns", trusted(
            legend_html(info, chart_keys), f"<figure>{equity_svg}</figure>",
            '<p class="muted">Dashed grey lines: start of each walk-forward test window.</p>')),
        *([allocation] if allocation else []),
        *([menu] if menu else []),
        Section("diversification", "Diversification", "Diversification and policy entropy",
                trusted(legend_html(info, strategy_keys), entropy_note,
                         f"<figure>{div_svg}</figure>")),
        Section("turnover", "Turnover", "Turnover", trusted(
            legend_html(info, strategy_keys), f"<figure>{turnover_svg}</figure>")),
        *([learning] if learning else []),
        *([placebo] if (placebo := placebo_section(results, metrics, info)) else []),
        *([robustness_section(robustness, results, metrics, info)] if robustness is not None
          else []),
        Section("folds", "Folds", "Walk-forward folds", trusted(folds_html(all_folds))),
        Section("tearsheets", "Tear sheets", "Tear sheets",
                trusted(tearsheets_html(tearsheets, info))),
        Section("config", "Config", "Configuration", Markup("<pre>{}</pre>").format(config_text)),
        Section("provenance", "Provenance", "Provenance", trusted(provenance_html(provenance))),
    ]
    # script_json leaves no "<", ">" or "&", so it is safe raw inside <script>; HTML-escaping it
    # would corrupt the JSON (a script element's text is not entity-decoded).
    return environment().get_template("dashboard.html.j2").render(
        title=title, summary=summary, sections=sections, data=Markup(script_json(run_data)))


def write_dashboard(path: Path | str, results: Sequence[BacktestResult], metrics: pd.DataFrame,
                    benchmark: pd.Series | None, config: Mapping[str, Any],
                    tearsheets: Mapping[str, str], title: str, provenance: Mapping[str, Any],
                    reference: str | None = "equal-weight",
                    descriptions: Mapping[str, str] | None = None,
                    allocation_of: str = "sac", robustness: Robustness | None = None) -> Path:
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
    robustness : Robustness, optional
        The run's stress test: a Robustness card when given.

    Returns
    -------
    Path
        ``path``.
    """
    page = render_dashboard(results, metrics, benchmark, config, tearsheets, title, provenance,
                            reference, descriptions, allocation_of, robustness)
    target = Path(path)
    write_text(target, page)
    return target


__all__ = ["Robustness", "Section", "menu_section", "placebo_section", "render_dashboard",
           "robustness_section", "write_dashboard"]
