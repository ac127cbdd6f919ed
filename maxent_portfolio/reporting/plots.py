"""Reusable matplotlib figures for the reports, and their conversion to inline SVG.

Figures are built with :class:`matplotlib.figure.Figure` directly, never through pyplot: no
global figure registry, no GUI backend, nothing to close. They draw no user-supplied text
(strategy or asset names): legends are rendered in HTML by the dashboard, so nothing a user
names can reach matplotlib's mathtext parser or the SVG.
Every time-axis figure uses the same width, margins and x range, so charts stacked in a page
line up and their walk-forward fold markers coincide.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib
import matplotlib.dates as mdates
import matplotlib.style
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

WIDTH_IN = 12.0
"""Width of every figure, in inches (72 SVG points each)."""
LEFT, RIGHT = 0.065, 0.985
"""Figure-fraction margins shared by all time charts so their x axes align."""

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#ad494a", "#637939", "#e7ba52",
           "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363")
"""Series colours, in order of use (tab10 then darker/lighter companions)."""
BENCHMARK_COLOR = "#111111"
CASH_COLOR = "#c7c7c7"
OTHER_COLOR = "#9e9e9e"

_STYLE: dict[Any, Any] = {  # keys are matplotlib rcParams
    "font.size": 10.0,
    "axes.titlesize": 11.0,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 10.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#888888",
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.8,
    "xtick.color": "#444444",
    "ytick.color": "#444444",
    "svg.fonttype": "path",
    "svg.hashsalt": "maxent-portfolio",
    "path.simplify": True,
    "path.simplify_threshold": 0.5,
}


@dataclass(frozen=True)
class LineStyle:
    """How one series is drawn.

    Attributes
    ----------
    color : str
        Any matplotlib colour.
    dashes : str
        A matplotlib line style: ``"-"``, ``"--"``, ``":"``.
    width : float
        Line width in points.
    gid : str
        Group id of the artist in the SVG, so a page can show or hide the series.
    """

    color: str
    dashes: str = "-"
    width: float = 1.4
    gid: str = ""


@contextmanager
def quiet_matplotlib() -> Iterator[None]:
    """Silence matplotlib's font-fallback logging and plotting (and plotting libraries')
    warnings inside the block."""
    logger = logging.getLogger("matplotlib.font_manager")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", DeprecationWarning)  # seaborn/quantstats vs mpl
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def styled(extra: dict[Any, Any] | None = None) -> AbstractContextManager[None]:
    """Matplotlib's defaults plus this module's style, whatever the global rcParams hold.

    Libraries such as seaborn (used by QuantStats) change the global rcParams; starting from
    ``"default"`` keeps these figures identical regardless.
    """
    return matplotlib.style.context(["default", _STYLE, extra or {}])


def figure_to_svg(fig: Figure, prefix: str) -> str:
    """Render ``fig`` as an SVG fragment fit for inlining in HTML.

    The XML prolog, DOCTYPE, metadata and namespace declarations are dropped (HTML5 needs none
    of them, and they hold the only URLs matplotlib writes); every ``id`` and reference to one is
    prefixed with ``prefix`` so several inlined figures cannot collide.

    Parameters
    ----------
    fig : Figure
    prefix : str
        A token of ``[A-Za-z0-9_-]`` unique within the page.

    Returns
    -------
    str
        ``<svg ...>...</svg>`` with a ``viewBox`` and no fixed size.
    """
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", prefix):
        raise ValueError(f"invalid SVG id prefix {prefix!r}")
    buffer = io.StringIO()
    with quiet_matplotlib(), styled({"svg.hashsalt": prefix}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    svg = re.sub(r'\s(width|height)="[^"]*pt"', "", svg, count=2)
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", svg)
    svg = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', svg)
    return svg.replace("<svg", f'<svg class="chart" role="img" data-figure="{prefix}"', 1)


def _new_figure(height: float, rows: int = 1,
                height_ratios: Sequence[float] | None = None) -> tuple[Figure, list[Axes]]:
    with styled():
        fig = Figure(figsize=(WIDTH_IN, height))
        axes = fig.subplots(rows, 1, sharex=True, squeeze=False, height_ratios=height_ratios)
    return fig, [ax for row in axes for ax in row]


def _decorate_time_axes(fig: Figure, axes: Sequence[Axes], xlim: tuple[pd.Timestamp, pd.Timestamp],
                        folds: Sequence[pd.Timestamp], bottom: float = 0.08,
                        top: float = 0.94) -> None:
    """Shared x range, date ticks, fold markers and fixed margins."""
    left, right = float(mdates.date2num(xlim[0])), float(mdates.date2num(xlim[1]))
    marks = [float(mdates.date2num(when)) for when in folds]
    for ax in axes:
        ax.set_xlim(left, right)
        for i, when in enumerate(marks):
            ax.axvline(when, color="#6b6b6b", linestyle=(0, (3, 3)), linewidth=0.9, zorder=1)
            if ax is axes[0]:
                label = f"fold {i + 1}" if len(marks) <= 10 else str(i + 1)
                ax.annotate(label, xy=(when, 1.0), xycoords=("data", "axes fraction"),
                            xytext=(3, -2), textcoords="offset points", va="top", ha="left",
                            fontsize=8, color="#555555")
    locator = mdates.AutoDateLocator(minticks=4, maxticks=12)
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    fig.subplots_adjust(left=LEFT, right=RIGHT, bottom=bottom, top=top, hspace=0.12)


def _line(ax: Axes, series: pd.Series, style: LineStyle) -> None:
    (artist,) = ax.plot(series.index, series.to_numpy(dtype=float), color=style.color,
                        linestyle=style.dashes, linewidth=style.width)
    if style.gid:
        artist.set_gid(style.gid)


def drawdown(equity: pd.Series) -> pd.Series:
    """Fractional drawdown from the running peak (0 at a peak, negative below it)."""
    return equity / equity.cummax() - 1.0


def equity_drawdown_figure(equity: Mapping[str, pd.Series], styles: Mapping[str, LineStyle],
                           xlim: tuple[pd.Timestamp, pd.Timestamp],
                           folds: Sequence[pd.Timestamp]) -> Figure:
    """Equity curves on a log scale above their drawdowns, on one shared x axis.

    Parameters
    ----------
    equity : mapping of str to pd.Series
        Growth of 1 for each series, indexed by date.
    styles : mapping of str to LineStyle
        How to draw each key of ``equity``.
    xlim : (Timestamp, Timestamp)
    folds : sequence of Timestamp
        Where each walk-forward test window starts; drawn as vertical lines.
    """
    fig, (top, bottom) = _new_figure(7.0, rows=2, height_ratios=(2.2, 1.0))
    with styled():
        for key, curve in equity.items():
            _line(top, curve, styles[key])
            _line(bottom, drawdown(curve) * 100.0, styles[key])
        _log_growth_axis(top)
        top.set_ylabel("growth of 1 (log scale)")
        top.set_title("Equity, net of costs")
        bottom.set_ylabel("drawdown (%)")
        bottom.set_title("Drawdown from running peak")
        bottom.set_ylim(top=0.5)
        _decorate_time_axes(fig, [top, bottom], xlim, folds, bottom=0.06, top=0.95)
    return fig


def _growth_label(value: float, _pos: int | None = None) -> str:
    return f"{value:.3g}"


def _log_growth_axis(ax: Axes) -> None:
    """Log y axis with readable labels: plain ``nice'' ticks when the range is under a decade
    and a half (log decades alone would leave it unlabelled), decades with 2-5 subdivisions
    beyond."""
    ax.set_yscale("log")
    low, high = ax.get_ylim()
    if low > 0 and high / low < 30:
        ax.yaxis.set_major_locator(mticker.MaxNLocator(nbins=7, steps=[1, 2, 2.5, 5, 10]))
        ax.yaxis.set_minor_locator(mticker.NullLocator())
    else:
        ax.yaxis.set_major_locator(mticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_minor_locator(mticker.LogLocator(base=10, subs="auto"))
        ax.yaxis.set_minor_formatter(mticker.NullFormatter())
    ax.yaxis.set_major_formatter(mticker.FuncFormatter(_growth_label))


def allocation_figure(weights: pd.DataFrame, colors: Sequence[str],
                      xlim: tuple[pd.Timestamp, pd.Timestamp],
                      folds: Sequence[pd.Timestamp]) -> Figure:
    """Stacked area of portfolio weights over time.

    Parameters
    ----------
    weights : pd.DataFrame of shape (n_dates, n_groups)
        Weights per date, rows summing to 1.
    colors : sequence of str
        One colour per column of ``weights``.
    """
    fig, (ax,) = _new_figure(4.2)
    with styled():
        values = np.clip(weights.to_numpy(dtype=float).T * 100.0, 0.0, None)
        ax.stackplot(weights.index, values, colors=list(colors), linewidth=0.0)
        ax.set_ylim(0.0, 100.0)
        ax.set_ylabel("weight (%)")
        ax.set_title("Weights held")
        ax.grid(False)
        ax.set_axisbelow(False)
        _decorate_time_axes(fig, [ax], xlim, folds, bottom=0.1, top=0.92)
    return fig


def menu_figure(probabilities: pd.DataFrame, entropy: pd.Series | None, colors: Sequence[str],
                xlim: tuple[pd.Timestamp, pd.Timestamp],
                folds: Sequence[pd.Timestamp]) -> Figure:
    """A menu policy's probabilities as a stacked area and, below, the mixture's entropy.

    Parameters
    ----------
    probabilities : pd.DataFrame of shape (n_decisions, K)
        ``pi(k|s)`` per decision date, one column per menu strategy, rows summing to 1.
    entropy : pd.Series or None
        ``-sum_k pi log pi`` per decision date (nats); drawn against ``log K``, the even blend's.
    colors : sequence of str
        One colour per column.
    """
    rows = 2 if entropy is not None else 1
    fig, axes = _new_figure(6.0 if rows == 2 else 4.2, rows=rows,
                            height_ratios=(1.6, 1.0) if rows == 2 else None)
    with styled():
        values = np.clip(probabilities.to_numpy(dtype=float).T * 100.0, 0.0, None)
        axes[0].stackplot(probabilities.index, values, colors=list(colors), linewidth=0.0,
                          step="post")
        axes[0].set_ylim(0.0, 100.0)
        axes[0].set_ylabel("probability (%)")
        axes[0].set_title("Menu probabilities π(k | s) at each decision")
        axes[0].grid(False)
        axes[0].set_axisbelow(False)
        if entropy is not None:
            axes[1].plot(entropy.index, entropy.to_numpy(dtype=float), color="black", lw=1.0,
                         drawstyle="steps-post")
            log_k = float(np.log(probabilities.shape[1]))
            axes[1].axhline(log_k, color="grey", lw=0.8, ls="--")
            axes[1].set_ylim(0.0, 1.08 * log_k)
            axes[1].set_ylabel("entropy (nats)")
            axes[1].set_title("Entropy of the mixture (dashed: log K, the even blend)")
        _decorate_time_axes(fig, axes, xlim, folds, bottom=0.08 if rows == 2 else 0.1,
                            top=0.94 if rows == 2 else 0.92)
    return fig


def diversification_figure(effective_n: Mapping[str, pd.Series],
                           entropy: Mapping[str, pd.Series], styles: Mapping[str, LineStyle],
                           xlim: tuple[pd.Timestamp, pd.Timestamp],
                           folds: Sequence[pd.Timestamp],
                           mix: Mapping[str, pd.Series] | None = None) -> Figure:
    """Effective number of holdings for every series and, when given, the policy entropy and
    the evidence mix.

    Parameters
    ----------
    effective_n : mapping of str to pd.Series
        ``1 / sum(w**2)`` over time per strategy.
    entropy : mapping of str to pd.Series
        Policy entropy over time per strategy that reports one; may be empty.
    mix : mapping of str to pd.Series, optional
        The weight of the policy in what is held, the rest 1/N (``--shrinkage evidence``), per
        strategy that reports one; may be empty.
    """
    mix = mix or {}
    panels = [p for p, given in (("entropy", entropy), ("mix", mix)) if given]
    rows = 1 + len(panels)
    fig, axes = _new_figure(3.6 + 2.4 * len(panels), rows=rows,
                            height_ratios=(1.3, *([1.0] * len(panels))) if panels else None)
    with styled():
        for key, series in effective_n.items():
            _line(axes[0], series, styles[key])
        axes[0].set_ylabel("effective N")
        axes[0].set_title("Effective number of holdings, 1 / \u03a3 w\u00b2")
        axes[0].set_ylim(bottom=0.0)
        for ax, panel in zip(axes[1:], panels, strict=True):
            if panel == "entropy":
                for key, series in entropy.items():
                    _line(ax, series, styles[key])
                ax.set_ylabel("entropy (nats)")
                ax.set_title("Policy entropy")
            else:
                for key, series in mix.items():
                    _line(ax, series, styles[key])
                ax.set_ylim(-0.05, 1.05)
                ax.set_ylabel("mix")
                ax.set_title("Evidence mix: the policy's weight in what is held (the rest 1/N)")
        _decorate_time_axes(fig, axes, xlim, folds, bottom={1: 0.13, 2: 0.08, 3: 0.06}[rows],
                            top={1: 0.89, 2: 0.94, 3: 0.95}[rows])
    return fig


def learning_figure(curves: pd.DataFrame) -> Figure:
    """A learning strategy's training curves against transitions, one thin line per fold.

    Parameters
    ----------
    curves : pd.DataFrame
        Rows of ``learning.csv`` (one strategy, every seed): ``fold``, ``transitions``,
        ``val_growth``, ``entropy``, ``effective_n``, ``alpha``. Seeds are summarised by their
        median at each (fold, transitions); the thick line is the median over folds.
    """
    panels = (("val_growth", "validation\nlog growth / yr"), ("entropy", "policy entropy"),
              ("effective_n", "policy\neffective N"), ("alpha", "temperature \u03b1"))
    fig, axes = _new_figure(7.6, rows=4)
    median = curves.groupby(["fold", "transitions"])[[p for p, _ in panels]].median()
    folds = sorted(median.index.get_level_values(0).unique())
    colors = matplotlib.colormaps["viridis"](np.linspace(0.1, 0.9, max(len(folds), 1)))
    with styled():
        for ax, (column, label) in zip(axes, panels, strict=True):
            for fold, color in zip(folds, colors, strict=True):
                line = median.loc[fold, column].dropna()
                ax.plot(line.index, line.to_numpy(), color=color, lw=0.8, alpha=0.7)
            overall = median[column].groupby(level="transitions").median().dropna()
            ax.plot(overall.index, overall.to_numpy(), color="black", lw=2.0)
            ax.set_ylabel(label)
        axes[3].set_yscale("log")
        axes[3].set_xlabel("training transitions in the fold")
        axes[0].axhline(0.0, color="grey", lw=0.6)
        axes[0].set_title("Learning curves: one line per fold (early folds purple, late "
                          "yellow), black the median")
        fig.subplots_adjust(left=LEFT, right=RIGHT, bottom=0.07, top=0.95)
    return fig


def turnover_figure(annual: pd.DataFrame, styles: Mapping[str, LineStyle]) -> Figure:
    """Grouped bars of two-way turnover (buys plus sells) per calendar year.

    Parameters
    ----------
    annual : pd.DataFrame of shape (n_years, n_strategies)
        Summed two-way turnover per year (index) and strategy (columns, keys of ``styles``).
    """
    fig, (ax,) = _new_figure(3.8)
    with styled():
        n = max(annual.shape[1], 1)
        width = 0.8 / n
        x = np.arange(len(annual.index))
        for j, key in enumerate(annual.columns):
            style = styles[key]
            solid = style.dashes == "-"
            bars = ax.bar(x - 0.4 + width * (j + 0.5), annual[key].to_numpy(dtype=float) * 100.0,
                          width=width, color=style.color, alpha=0.9 if solid else 0.55,
                          hatch=None if solid else "//", edgecolor="white", linewidth=0.3)
            if style.gid:
                for k, patch in enumerate(bars.patches):
                    patch.set_gid(f"{style.gid}-bar-{k}")
        ax.set_xticks(x, [str(v) for v in annual.index])
        ax.set_xlim(-0.6, len(x) - 0.4)
        ax.set_ylabel("turnover, buys + sells (%)")
        ax.set_title("Turnover per calendar year")
        ax.grid(axis="x", visible=False)
        fig.subplots_adjust(left=LEFT, right=RIGHT, bottom=0.1, top=0.9)
    return fig


def placebo_figure(placebo: np.ndarray, sharpe: float, color: str) -> Figure:
    """Histogram of a strategy's placebo Sharpe ratios, the strategy's own marked.

    Parameters
    ----------
    placebo : ndarray of shape (n_placebos,)
        Annualised Sharpe ratio of each permutation placebo (non-finite ones are left out).
    sharpe : float
        The strategy's annualised Sharpe ratio (a vertical line; none if not finite).
    color : str
        The strategy's colour.
    """
    values = np.asarray(placebo, dtype=float)
    values = values[np.isfinite(values)]
    fig, (ax,) = _new_figure(2.6)
    with styled():
        if values.size:
            ax.hist(values, bins=min(40, max(10, values.size // 8)), color=OTHER_COLOR,
                    edgecolor="white", linewidth=0.4)
        ax.yaxis.set_major_locator(mticker.MaxNLocator(integer=True))
        if np.isfinite(sharpe):
            ax.axvline(sharpe, color=color, linewidth=2.4)
        ax.set_xlabel("annualised Sharpe ratio")
        ax.set_ylabel("placebos")
        ax.set_title(f"Sharpe of {values.size} placebos (grey) and of the strategy (line)")
        ax.grid(axis="x", visible=False)
        fig.subplots_adjust(left=LEFT, right=RIGHT, bottom=0.2, top=0.85)
    return fig


def sharpe_distribution_figure(values: Sequence[np.ndarray], own: Sequence[float],
                               colors: Sequence[str]) -> Figure:
    """Each strategy's Sharpe ratio across scenarios: a box of the 25-75% quantiles, whiskers
    at 5% and 95%, the median a line and the run's own path a dot; one row per strategy, top
    to bottom in order (the names are the HTML legend's).

    Parameters
    ----------
    values : sequence of ndarray of shape (n_scenarios,)
    own : sequence of float
        The Sharpe ratio of the run's own path (not drawn if not finite).
    colors : sequence of str
    """
    n = len(values)
    fig, (ax,) = _new_figure(0.9 + 0.42 * n)
    with styled():
        rows = np.arange(n)[::-1]
        for i, color in enumerate(colors):
            q05, q25, q50, q75, q95 = np.quantile(np.asarray(values[i], dtype=float),
                                                  (0.05, 0.25, 0.5, 0.75, 0.95))
            ax.hlines(rows[i], q05, q95, color=color, linewidth=1.2)
            ax.vlines([q05, q95], rows[i] - 0.15, rows[i] + 0.15, color=color, linewidth=1.2)
            ax.barh(rows[i], q75 - q25, left=q25, height=0.55, color=color, alpha=0.35,
                    edgecolor=color)
            ax.vlines(q50, rows[i] - 0.275, rows[i] + 0.275, color=color, linewidth=2.2)
            if np.isfinite(own[i]):
                ax.plot([own[i]], [rows[i]], "o", color=BENCHMARK_COLOR, markersize=4.5)
        ax.set_yticks(rows, [str(i + 1) for i in range(n)])
        ax.set_ylabel("strategy (legend order)")
        ax.set_xlabel("annualised Sharpe ratio")
        ax.set_title("Sharpe across scenarios: box 25-75%, whiskers 5-95%, dot the run's own "
                     "path")
        ax.grid(axis="y", visible=False)
        fig.subplots_adjust(left=LEFT, right=RIGHT, bottom=0.55 / (0.9 + 0.42 * n) + 0.08,
                            top=1 - 0.35 / (0.9 + 0.42 * n))
    return fig


def fan_figure(bands: Sequence[pd.DataFrame], own: Sequence[pd.Series | None],
               colors: Sequence[str], columns: int = 3) -> Figure:
    """Small multiples of wealth across scenarios, one panel per strategy (in legend order,
    numbered): the 5-95% and 25-75% bands shaded, the median a line, the run's own path
    dotted black.

    Parameters
    ----------
    bands : sequence of pd.DataFrame
        Indexed by date, columns ``q05``, ``q25``, ``q50``, ``q75``, ``q95``: quantiles of
        growth of 1 across scenarios.
    own : sequence of pd.Series or None
        Growth of 1 on the run's own path.
    colors : sequence of str
    columns : int
        Panels per row.
    """
    n = len(bands)
    rows = max(1, -(-n // columns))
    with styled():
        fig = Figure(figsize=(WIDTH_IN, 2.4 * rows + 0.4))
        grid = fig.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
        axes = [ax for row in grid for ax in row]
        for i, ax in enumerate(axes):
            if i >= n:
                ax.set_visible(False)
                continue
            band, color = bands[i], colors[i]
            x = band.index
            ax.fill_between(x, band["q05"], band["q95"], color=color, alpha=0.15, linewidth=0)
            ax.fill_between(x, band["q25"], band["q75"], color=color, alpha=0.3, linewidth=0)
            ax.plot(x, band["q50"], color=color, linewidth=1.6)
            if own[i] is not None:
                path = own[i]
                assert path is not None
                ax.plot(path.index, path.to_numpy(dtype=float), color=BENCHMARK_COLOR,
                        linestyle=":", linewidth=1.2)
            ax.set_title(f"{i + 1}", loc="left")
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(mticker.FuncFormatter(_growth_label))
            ax.yaxis.set_minor_formatter(mticker.NullFormatter())
        locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
        for ax in axes:
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        fig.subplots_adjust(left=LEFT, right=RIGHT, bottom=0.35 / (2.4 * rows + 0.4) + 0.04,
                            top=1 - 0.3 / (2.4 * rows + 0.4), hspace=0.3, wspace=0.08)
    return fig


__all__ = [
    "BENCHMARK_COLOR",
    "CASH_COLOR",
    "OTHER_COLOR",
    "PALETTE",
    "LineStyle",
    "allocation_figure",
    "diversification_figure",
    "drawdown",
    "equity_drawdown_figure",
    "fan_figure",
    "figure_to_svg",
    "learning_figure",
    "placebo_figure",
    "quiet_matplotlib",
    "sharpe_distribution_figure",
    "turnover_figure",
]
