"""Tear-sheet charts label what they show: each year's bars, each percent tick, the CAGR row.

QuantStats' figures are caught as they are saved (``Figure.savefig``), so these tests read the
labels the HTML actually embeds, whatever mends them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from maxent_portfolio.reporting.tearsheet import percent_label, write_tearsheet

YEARS = list(range(2014, 2023))


@dataclass
class AxesLabels:
    """What one saved axes shows: figure title, ticks and their labels, bar group centres."""

    title: str
    xticks: list[float]
    xlabels: list[str]
    yticks: list[float]
    ylabels: list[str]
    bar_centers: list[float]


def _labels(fig: Figure) -> list[AxesLabels]:
    """Read after ``savefig``: tick labels are final only once the figure is drawn."""
    suptitle = fig._suptitle.get_text() if fig._suptitle is not None else ""
    out = []
    for ax in fig.axes:
        bars = [c.patches for c in ax.containers if isinstance(c, BarContainer)]
        centers = (np.array([[p.get_x() + p.get_width() / 2 for p in b] for b in bars])
                   .mean(axis=0).tolist() if bars and len({len(b) for b in bars}) == 1 else [])
        out.append(AxesLabels(
            f"{suptitle}|{ax.get_title()}", [float(t) for t in ax.get_xticks()],
            [t.get_text() for t in ax.get_xticklabels()], [float(t) for t in ax.get_yticks()],
            [t.get_text() for t in ax.get_yticklabels()], centers))
    return out


def _charts() -> tuple[object, ...]:
    from quantstats._plotting import core

    return core.plot_returns_bars, core.plot_histogram, core.plot_distribution


@pytest.fixture(scope="module")
def sheet(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[AxesLabels]]:
    """Page and saved axes of a nine-year weekly tear sheet (2014-2022) with a benchmark."""
    charts = _charts()
    rng = np.random.default_rng(3)
    # Weekly returns: nine years of bars at a fifth of the drawing time of daily ones.
    index = pd.date_range(f"{YEARS[0]}-01-03", f"{YEARS[-1]}-12-30", freq="W-FRI")
    returns = pd.Series(rng.normal(2e-3, 0.022, len(index)), index=index, name="sac")
    bench = pd.Series(rng.normal(1.5e-3, 0.025, len(index)), index=index, name="MKT")
    saved: list[AxesLabels] = []
    original = Figure.savefig

    def spy(self: Figure, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)
        saved.extend(_labels(self))

    path = tmp_path_factory.mktemp("sheet") / "sac.html"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Figure, "savefig", spy)
        write_tearsheet(returns, bench, path, title="sac: nine years", periods_per_year=52)
    assert _charts() == charts  # QuantStats' own functions are back
    return path.read_text(encoding="utf-8"), saved


def _one(saved: list[AxesLabels], title: str) -> AxesLabels:
    found = [a for a in saved if title in a.title]
    assert len(found) == 1, [a.title for a in saved]
    return found[0]


def test_each_yearly_bar_pair_is_labelled_with_its_year(
        sheet: tuple[str, list[AxesLabels]]) -> None:
    eoy = _one(sheet[1], "EOY Returns")
    assert len(eoy.bar_centers) == len(YEARS)
    shown = {round(t, 6): label for t, label in zip(eoy.xticks, eoy.xlabels, strict=True)
             if label}
    assert len(shown) == len(YEARS)
    for year, center in zip(YEARS, eoy.bar_centers, strict=True):
        assert shown.get(round(center, 6)) == str(year), (year, center, shown)


def test_monthly_heatmap_rows_are_the_years(sheet: tuple[str, list[AxesLabels]]) -> None:
    heatmap = _one(sheet[1], "Monthly Returns (%)")
    assert heatmap.ylabels == [str(y) for y in YEARS]
    np.testing.assert_allclose(heatmap.yticks, np.arange(len(YEARS)) + 0.5)
    assert heatmap.xlabels[0] == "JAN" and heatmap.xlabels[-1] == "DEC"


@pytest.mark.parametrize(("title", "axis"), [("Distribution of Monthly Returns", "x"),
                                             ("Return Quantiles", "y")])
def test_percent_ticks_read_their_value(sheet: tuple[str, list[AxesLabels]], title: str,
                                        axis: str) -> None:
    chart = _one(sheet[1], title)
    ticks, labels = (chart.xticks, chart.xlabels) if axis == "x" else (chart.yticks, chart.ylabels)
    assert len(ticks) >= 3
    for tick, label in zip(ticks, labels, strict=True):
        assert label.endswith("%"), label
        shown = float(label[:-1].replace("\u2212", "-").replace(",", ""))
        assert shown == pytest.approx(tick * 100, abs=1e-6), (tick, label)


def _percent(label: str) -> float | None:
    """The number a tick label like "-2.5%" shows, or None for other labels ("1.2K%", "JAN")."""
    text = label.replace("\u2212", "-").replace(",", "")
    try:
        return float(text[:-1]) if text.endswith("%") else None
    except ValueError:
        return None


def test_every_percent_tick_of_every_chart_reads_its_value(
        sheet: tuple[str, list[AxesLabels]]) -> None:
    checked = 0
    for chart in sheet[1]:
        for ticks, labels in ((chart.xticks, chart.xlabels), (chart.yticks, chart.ylabels)):
            for tick, label in zip(ticks, labels, strict=True):
                shown = _percent(label)
                if shown is not None:
                    assert shown == pytest.approx(tick * 100, abs=1e-6), (chart.title, label)
                    checked += 1
    assert checked > 50


def test_quantstats_percent_axes_round_while_a_sheet_is_drawn() -> None:
    from quantstats._plotting import core

    from maxent_portfolio.reporting.tearsheet import mended_charts

    original = core.format_pct_axis  # QuantStats 0.0.86 labels 0.5% "0%"
    with mended_charts():
        assert [core.format_pct_axis(x, None) for x in (0.005, 0.015, -0.025, 0.3, 12.0)] == \
            ["0.5%", "1.5%", "-2.5%", "30%", "1.2K%"]
    assert core.format_pct_axis is original


def test_cagr_label_has_no_missing_glyph(sheet: tuple[str, list[AxesLabels]]) -> None:
    page = sheet[0]
    assert "<td>CAGR</td>" in page
    assert "\ufe6a" not in page


def test_percent_label_rounds_with_few_decimals() -> None:
    assert [percent_label(x) for x in (0.05, 0.1 - 1e-12, -0.15, 0.025, 0.0, 0.001234)] == \
        ["5%", "10%", "-15%", "2.5%", "0%", "0.12%"]
