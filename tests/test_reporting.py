"""HTML reporting: the QuantStats tear sheets and the comparison dashboard."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_run import HOSTILE_ASSET, HOSTILE_CONFIG, HOSTILE_STRATEGY, Run, make_run

from maxent_portfolio.backtest.engine import BacktestResult
from maxent_portfolio.measures import effective_n, effective_n_series
from maxent_portfolio.reporting import dashboard as dash
from maxent_portfolio.reporting import formatting, fragments, plots, series, templating
from maxent_portfolio.reporting.tearsheet import prepare_inputs, write_tearsheet


@pytest.fixture(scope="module")
def run() -> Run:
    return make_run()


@pytest.fixture(scope="module")
def page(run: Run, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("dash") / "index.html"
    dash.write_dashboard(path, run.results, run.metrics, run.benchmark, run.config,
                         run.tearsheets, f"Synthetic run {HOSTILE_ASSET}", run.provenance)
    return path.read_text(encoding="utf-8")


def _metrics_rows(page: str) -> list[str]:
    table = re.search(r'<table class="sortable metrics".*?</table>', page, flags=re.S)
    assert table is not None
    body = re.search(r"<tbody>(.*)</tbody>", table.group(0), flags=re.S)
    assert body is not None
    return re.findall(r"<tr\b.*?</tr>", body.group(1), flags=re.S)


# ----------------------------------------------------------------------------- dashboard
def test_dashboard_names_every_strategy_with_one_row_each(run: Run, page: str) -> None:
    rows = _metrics_rows(page)
    assert len(rows) == len(run.metrics) == len(run.results) + 1
    for res, row in zip(run.results, rows, strict=False):
        assert templating.esc(res.name) in row
    assert "benchmark" in rows[-1]
    assert page.count('<svg class="chart"') == 4  # equity+drawdown, allocation, diversity, turnover


def test_hostile_names_come_out_escaped(page: str) -> None:
    assert not re.search(r"<img\s+src=x", page, flags=re.I)
    assert "<script>alert" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # the asset, in the allocation legend
    assert "&lt;script&gt;alert(&#39;s&#39;)&lt;/script&gt;" in page  # markupsafe's entities
    # Only the page's own two script elements close.
    assert page.count("</script>") == 2
    data = re.search(r'<script type="application/json" id="run-data">(.*?)</script>', page,
                     flags=re.S)
    assert data is not None and "<" not in data.group(1)
    parsed = json.loads(data.group(1))
    assert parsed["config"]["note"] == HOSTILE_CONFIG
    assert HOSTILE_STRATEGY in [s["name"] for s in parsed["strategies"]]


def test_sections_make_both_navigation_and_body(page: str) -> None:
    nav = re.search(r"<nav>(.*?)</nav>", page, flags=re.S)
    assert nav is not None
    links = re.findall(r'<a href="#([^"]+)">', nav.group(1))
    assert links == re.findall(r'<section id="([^"]+)"><h2>', page)
    assert links[:3] == ["metrics", "performance", "allocation"] and "provenance" in links


def test_page_carries_the_packaged_css_and_js_verbatim(page: str) -> None:
    from importlib.resources import files

    templates = files("maxent_portfolio.reporting") / "templates"
    for name in ("dashboard.css", "dashboard.js"):
        text = (templates / name).read_text(encoding="utf-8")
        assert len(text) > 1000 and text in page, name


def test_dashboard_references_nothing_remote(page: str) -> None:
    remote = re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:[a-z]+:)?//""", page, flags=re.I)
    assert remote == []
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"<(?:link|iframe|object|embed)\b", page, flags=re.I)
    assert re.search(r"<script\s+src", page, flags=re.I) is None


def test_rows_are_marked_and_best_is_among_investable(run: Run) -> None:
    metrics = run.metrics.copy()
    metrics["sharpe"] = [0.5, 0.9, 3.0, 0.2, 5.0]  # hindsight and benchmark rows are higher
    text = fragments.metrics_table_html(metrics, series.series_styles(run.results, "MKT"),
                                        run.tearsheets, {"sharpe": "Annualised Sharpe <ratio>"},
                                        "equal-weight", ["benchmark", "MKT"])
    rows = _metrics_rows(text)
    header = re.search(r"<thead>.*?</thead>", text, flags=re.S)
    assert header is not None
    names = re.findall(r"<th scope=\"col\"[^>]*>", header.group(0))
    sharpe_col = next(i for i, h in enumerate(names) if "Sharpe &lt;ratio&gt;" in h)
    cells = [re.findall(r"<t[hd]\b[^>]*>", row) for row in rows]
    best = [i for i, c in enumerate(cells) if "best" in c[sharpe_col]]
    assert best == [1]  # sac: 0.9 beats the investable rows, not bcrp (3.0) or benchmark (5.0)
    assert 'class="reference"' in rows[0] and "reference</span>" in rows[0]
    assert 'class="not-investable"' in rows[2] and "not investable</span>" in rows[2]
    assert 'class="benchmark"' in rows[4]
    assert 'title="Annualised Sharpe &lt;ratio&gt;"' in text
    assert 'href="tearsheets/1.html"' in rows[1]


def test_headers_take_tooltips_from_measures(run: Run) -> None:
    measures = pytest.importorskip("maxent_portfolio.measures")
    descriptions = measures.METRIC_DESCRIPTIONS
    assert formatting.metric_descriptions() == descriptions
    page = dash.render_dashboard(run.results, run.metrics, run.benchmark, {}, {}, "t", {})
    assert f'title="{templating.esc(descriptions["sharpe"])}"' in page
    assert f"<dd>{templating.esc(descriptions['dsr'])}</dd>" in page


def test_dashboard_renders_the_real_metrics_table(run: Run) -> None:
    measures = pytest.importorskip("maxent_portfolio.measures")
    table = measures.metrics_table(run.results, reference="equal-weight",
                                   benchmark=run.benchmark)
    page = dash.render_dashboard(run.results, table, run.benchmark, run.config, run.tearsheets,
                                 "real", run.provenance)
    rows = _metrics_rows(page)
    assert len(rows) == len(table)
    assert "not investable</span>" in rows[2]
    shown = [c for c in table.columns if c not in ("strategy", "investable")]
    assert page.count('<th scope="col" class="num') == len(shown)


def test_allocation_prefers_sac_then_says_which(run: Run) -> None:
    chosen, preferred = series.pick_allocation(run.results)
    assert chosen is run.results[1] and preferred
    renamed = [r for r in run.results if r.name != "sac"]
    chosen, preferred = series.pick_allocation(renamed)
    assert chosen is not None and chosen.name == HOSTILE_STRATEGY and not preferred
    page = dash.render_dashboard(renamed, run.metrics, None, {}, {}, "t", {})
    assert "No SAC result in this run" in page
    assert f"Allocation over time: {templating.esc(HOSTILE_STRATEGY)}" in page
    assert "No strategy in this run reports a policy entropy" in page


def test_fold_boundaries_and_entropy_are_drawn(run: Run, page: str) -> None:
    starts = series.fold_starts(run.results)
    assert [str(s.date()) for s in starts] == [f["test_start"] for f in run.results[0].folds]
    sac = run.results[1]
    fig = plots.diversification_figure({"sac": effective_n_series(sac.holdings)},
                                       {"sac": sac.extras["policy_entropy"]},
                                       {"sac": plots.LineStyle("#000", gid="series-1")},
                                       series.time_range(run.results), starts)
    assert len(fig.axes) == 2
    vertical = [ln for ln in fig.axes[0].lines if len(set(ln.get_xdata())) == 1]
    assert len(vertical) == len(starts)
    svg = plots.figure_to_svg(fig, "fig-x")
    assert svg.count('id="fig-x-series-1"') == 2  # effective N and entropy lines


def test_the_evidence_mix_gets_its_own_panel(run: Run) -> None:
    sac = run.results[1]
    mix = pd.Series(np.where(np.arange(len(sac.targets)) < 3, 0.0, 0.6), index=sac.targets.index)
    shrunk = BacktestResult(**{**vars(sac), "extras": {**sac.extras, "evidence_mix": mix}})
    found = series.evidence_mix(shrunk)
    assert found is not None and found.tolist() == mix.tolist()
    assert series.evidence_mix(sac) is None
    fig = plots.diversification_figure({"sac": effective_n_series(sac.holdings)},
                                       {"sac": sac.extras["policy_entropy"]},
                                       {"sac": plots.LineStyle("#000", gid="series-1")},
                                       series.time_range(run.results),
                                       series.fold_starts(run.results), {"sac": found})
    assert len(fig.axes) == 3 and fig.axes[2].get_title(loc="left").startswith("Evidence mix")
    assert fig.axes[2].lines[0].get_ydata().tolist() == mix.tolist()


def test_policy_entropy_is_read_from_either_key(run: Run) -> None:
    sac = run.results[1]
    direct = series.policy_entropy(sac)
    assert direct is not None and direct.equals(sac.extras["policy_entropy"])
    other = BacktestResult(**{**vars(sac), "extras": {"entropy": sac.extras["policy_entropy"]}})
    found = series.policy_entropy(other)
    assert found is not None and found.tolist() == sac.extras["policy_entropy"].tolist()
    empty = BacktestResult(**{**vars(sac), "extras": {"entropy": pd.Series([np.nan])}})
    assert series.policy_entropy(empty) is None


def test_svg_fragments_have_unique_prefixed_ids(run: Run) -> None:
    style = {"a": plots.LineStyle("#123456", gid="series-0")}
    curve = {"a": run.results[0].equity}
    xlim = series.time_range(run.results)
    one = plots.figure_to_svg(plots.equity_drawdown_figure(curve, style, xlim, []), "fig-a")
    two = plots.figure_to_svg(plots.equity_drawdown_figure(curve, style, xlim, []), "fig-b")
    ids_one = set(re.findall(r'\bid="([^"]+)"', one))
    ids_two = set(re.findall(r'\bid="([^"]+)"', two))
    assert ids_one and not ids_one & ids_two
    assert all(i.startswith("fig-a-") for i in ids_one)
    refs = re.findall(r'(?:href="#|url\(#)([^")]+)', one)
    assert refs and set(refs) <= ids_one
    assert one.startswith('<svg class="chart"') and "http" not in one
    with pytest.raises(ValueError):
        plots.figure_to_svg(plots.turnover_figure(pd.DataFrame({"a": [1.0]}), style), "1bad")


def test_weights_helpers() -> None:
    index = pd.bdate_range("2020-01-01", periods=3)
    equal = pd.DataFrame(0.25, index=index, columns=["A", "B", "C", "CASH"])
    assert np.allclose(effective_n_series(equal), 4.0)
    rng = np.random.default_rng(0)
    raw = rng.dirichlet(np.ones(16), size=3)
    holdings = pd.DataFrame(raw, index=index, columns=[f"X{i}" for i in range(15)] + ["CASH"])
    grouped = series.group_weights(holdings, max_groups=6)
    assert list(grouped.columns[-2:]) == ["other (10 assets)", "CASH"]
    assert grouped.shape[1] == 7 and np.allclose(grouped.sum(axis=1), 1.0)
    no_cash = holdings.assign(CASH=0.0)
    assert "CASH" not in series.group_weights(no_cash, max_groups=20).columns


def test_effective_n_per_date_is_the_metric_per_date(run: Run) -> None:
    # The dashboard's chart and the metrics table's "effective_n" are one definition.
    sac = run.results[1]
    series = effective_n_series(sac.holdings)
    w = sac.holdings.to_numpy()
    np.testing.assert_array_equal(series.to_numpy(), 1.0 / np.sum(w**2, axis=1))
    assert series.index.equals(sac.holdings.index) and series.name == "effective_n"
    assert float(series.mean()) == pytest.approx(effective_n(sac.holdings), rel=1e-14)
    assert np.isnan(effective_n_series(sac.holdings.iloc[:2] * 0.0)).all()


def test_turnover_by_year_sums_each_calendar_year(run: Run) -> None:
    table = series.turnover_by_year(run.results)
    eq = run.results[0].turnover
    years = pd.DatetimeIndex(eq.index).year
    assert table.loc[years[0], "equal-weight"] == pytest.approx(eq[years == years[0]].sum())
    assert list(table.columns) == [r.name for r in run.results]


def test_script_json_and_links_are_safe() -> None:
    text = templating.script_json({"a": "</script><!--x-->&", "b": float("nan"), "c": ("\u2028",)})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": "</script><!--x-->&", "b": None, "c": ["\u2028"]}
    for bad in ("https://example.org/x.html", "//host/x", "javascript:alert(1)", "/etc/passwd"):
        with pytest.raises(ValueError):
            templating.safe_link(bad)
    assert templating.safe_link('tearsheets/a"b.html') == "tearsheets/a&#34;b.html"


def test_format_metric() -> None:
    assert formatting.format_metric("cagr", 0.0834) == "8.3%"
    assert formatting.format_metric("p_sharpe_vs_ref", 0.0004) == "<0.001"
    assert formatting.format_metric("dsr", 0.98765) == "0.988"
    assert formatting.format_metric("sharpe", float("nan")) == "\u2014"
    assert formatting.format_metric("max_dd_days", 812.0) == "812"
    assert formatting.format_metric("calmar", 1.234) == "1.23"


def test_write_dashboard_is_atomic_and_readable(run: Run, tmp_path: Path) -> None:
    target = tmp_path / "out" / "index.html"
    returned = dash.write_dashboard(target, run.results, run.metrics, None, {}, {}, "t", {})
    assert returned == target and target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in target.parent.iterdir()) == ["index.html"]
    assert target.stat().st_mode & 0o044 == 0o044
    with pytest.raises(ValueError):
        dash.write_dashboard(target, run.results, run.metrics, None, {},
                             {"sac": "https://evil.example/x.html"}, "t", {})
    assert sorted(p.name for p in target.parent.iterdir()) == ["index.html"]


# ----------------------------------------------------------------------------- tear sheets
def test_figures_ignore_global_rcparams(run: Run) -> None:
    import matplotlib

    annual = series.turnover_by_year(run.results[:1])
    style = {"equal-weight": plots.LineStyle("#123456", gid="series-0")}
    plain = plots.figure_to_svg(plots.turnover_figure(annual, style), "fig-t")
    with matplotlib.rc_context({"xtick.labelsize": 20.0, "axes.facecolor": "#ff0000",
                                "patch.force_edgecolor": True}):
        seaborned = plots.figure_to_svg(plots.turnover_figure(annual, style), "fig-t")
    assert seaborned == plain


@pytest.fixture(scope="module")
def tearsheet(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, pd.Series, pd.Series]:
    rng = np.random.default_rng(5)
    index = pd.bdate_range("2019-01-01", periods=320, tz="America/New_York")
    returns = pd.Series(rng.normal(0.0005, 0.01, len(index)), index=index)
    benchmark = pd.Series(rng.normal(0.0004, 0.012, len(index)), index=index,
                          name=f"bench{HOSTILE_ASSET}")
    path = tmp_path_factory.mktemp("sheets") / "sac.html"
    import matplotlib

    before = dict(matplotlib.rcParams)
    write_tearsheet(returns, benchmark, path, title="sac: synthetic run", name="sac")
    changed = [k for k, v in matplotlib.rcParams.items()
               if str(before[k]) != str(v) and not k.startswith("backend")]  # Agg is forced
    assert changed == [], "QuantStats' styling leaked into the caller's rcParams"
    return path.read_text(encoding="utf-8"), returns, benchmark


def _qs_metric(page: str, label: str) -> list[str]:
    row = re.search(rf"<tr><td>{re.escape(label)}</td>(.*?)</tr>", page, flags=re.S)
    assert row is not None, label
    return re.findall(r"<td>(.*?)</td>", row.group(1))


def test_tearsheet_names_strategy_and_compares_to_series_benchmark(
        tearsheet: tuple[str, pd.Series, pd.Series]) -> None:
    page, returns, benchmark = tearsheet
    assert "<title>sac: synthetic run</title>" in page
    assert "<h1>sac: synthetic run" in page
    assert "<th>sac</th>" in page
    # QuantStats puts the benchmark column first; it must be the Series, not zeros.
    bench_vol, strat_vol = _qs_metric(page, "Volatility (ann.)")
    expected = benchmark.std() * np.sqrt(252) * 100
    assert float(bench_vol.rstrip("%")) == pytest.approx(expected, rel=0.02)
    assert float(strat_vol.rstrip("%")) == pytest.approx(returns.std() * np.sqrt(252) * 100,
                                                         rel=0.02)
    bench_total, _ = _qs_metric(page, "Cumulative Return")
    assert float(bench_total.rstrip("%")) == pytest.approx(
        ((1 + benchmark).prod() - 1) * 100, abs=0.02)


def test_tearsheet_is_offline_clean(tearsheet: tuple[str, pd.Series, pd.Series]) -> None:
    page, _, _ = tearsheet
    remote = re.findall(r"""<(?:link|script|img)\b[^>]*(?:src|href)=["']?(?:https?:)?//""", page,
                        flags=re.I)
    assert remote == []
    assert "onload=" not in page  # QuantStats' save() hook is undefined outside download mode


def test_tearsheet_escapes_names(tearsheet: tuple[str, pd.Series, pd.Series]) -> None:
    page, _, _ = tearsheet
    assert not re.search(r"<img\s+src=x", page, flags=re.I)
    assert "BENCH&lt;IMG SRC=X ONERROR=ALERT(1)&gt;" in page


def test_tearsheet_refuses_a_ticker_and_leaves_nothing(tmp_path: Path) -> None:
    returns = pd.Series([0.01, -0.02, 0.005], index=pd.bdate_range("2020-01-01", periods=3))
    with pytest.raises(TypeError, match="Series"):
        write_tearsheet(returns, "SPY", tmp_path / "x.html", title="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shares fewer"):
        write_tearsheet(returns, pd.Series([0.01], index=[pd.Timestamp("1999-01-01")]),
                        tmp_path / "x.html", title="x")
    assert list(tmp_path.iterdir()) == []


def test_prepare_inputs_aligns_and_strips_timezones() -> None:
    index = pd.bdate_range("2021-01-01", periods=5, tz="UTC")
    returns = pd.Series([0.01, 0.02, np.nan, 0.0, -0.01], index=index)
    bench = pd.Series([0.01, 0.0, 0.03], index=index[[0, 1, 3]].tz_convert("Asia/Tokyo"))
    clean, aligned = prepare_inputs(returns, bench.rename(None), "s")
    assert clean.index.tz is None and clean.name == "s" and len(clean) == 4
    assert aligned is not None and aligned.index.equals(clean.index)
    assert aligned.name == "benchmark"
    assert aligned.tolist() == [0.01, 0.0, 0.03, 0.0]


def test_benchmark_time_zone_need_not_match_results(run: Run) -> None:
    aware = run.benchmark.tz_localize("America/New_York")
    page = dash.render_dashboard(run.results, run.metrics, aware, {}, {}, "tz", {})
    assert "MKT<span class=\"muted\"> (benchmark)</span>" in page
    xlim = series.time_range(run.results)
    curve = series.benchmark_equity(aware, xlim)
    assert curve is not None and curve.index.tz is None
    assert curve.index[0] >= xlim[0] and curve.index[-1] <= xlim[1]


def test_a_benchmark_named_like_the_strategy_gets_its_own_label(tmp_path: Path) -> None:
    """factor-etfs is benchmarked on equal-weight: its equal-weight sheet must still render."""
    rng = np.random.default_rng(5)
    index = pd.bdate_range("2020-01-01", periods=300)
    returns = pd.Series(rng.normal(0.0004, 0.01, 300), index=index)
    bench = pd.Series(rng.normal(0.0003, 0.01, 300), index=index, name="equal-weight")
    path = write_tearsheet(returns, bench, tmp_path / "equal-weight.html",
                           title="equal-weight: run", name="equal-weight")
    page = path.read_text(encoding="utf-8")
    assert "benchmark (equal-weight)" in page
