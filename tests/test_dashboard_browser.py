"""The dashboard in a real browser: headless Chromium renders it without errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import browser
import pytest
from report_run import make_run

from maxent_portfolio.reporting.dashboard import write_dashboard
from maxent_portfolio.reporting.tearsheet import write_tearsheet

pytestmark = pytest.mark.slow

PWNED_ASSET = '<img src=x onerror="window.pwned=1">'


@pytest.fixture(scope="session")
def chromium() -> str:
    """Chromium's path; installs Debian's package when missing, else skips with the reason."""
    path, reason = browser.ensure_chromium()
    if path is None:
        pytest.skip(f"headless Chromium unavailable: {reason}")
    return path


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = make_run(n_days=620, hostile_asset=PWNED_ASSET)
    path = tmp_path_factory.mktemp("browser") / "index.html"
    write_dashboard(path, run.results, run.metrics, run.benchmark, run.config, run.tearsheets,
                    "Browser check", run.provenance)
    return path


def test_screenshot_is_not_blank_and_logs_no_errors(chromium: str, dashboard: Path,
                                                    tmp_path: Path) -> None:
    shot = tmp_path / "dashboard.png"
    log = browser.screenshot(chromium, dashboard.as_uri(), shot, size=(1400, 2400))
    assert browser.stderr_errors(log) == []
    assert shot.stat().st_size > 10_000
    assert not browser.png_is_blank(shot)


@pytest.mark.skipif(importlib.util.find_spec("websockets") is None,
                    reason="websockets is needed to drive the DevTools protocol")
def test_page_scripts_run_cleanly_sort_and_toggle(chromium: str, dashboard: Path) -> None:
    with browser.open_page(chromium, dashboard.as_uri()) as page:
        assert page.evaluate("document.querySelectorAll('svg.chart').length") == 4
        assert page.evaluate("typeof window.pwned") == "undefined"
        assert page.evaluate("document.querySelectorAll('main img').length") == 0

        names = ("Array.from(document.querySelectorAll('#metrics-table tbody tr'))"
                 ".map(r => r.cells[0].getAttribute('data-value'))")
        values = ("Array.from(document.querySelectorAll('#metrics-table tbody tr'))"
                  ".map(r => r.cells[COL].getAttribute('data-value'))")
        col = page.evaluate(
            "Array.from(document.querySelectorAll('#metrics-table thead th'))"
            ".findIndex(th => th.textContent.trim() === 'Sharpe')")
        assert col > 0
        before = page.evaluate(names)
        click = f"document.querySelectorAll('#metrics-table thead th')[{col}]" \
                ".querySelector('button').click()"
        page.evaluate(click)
        ascending = [float(v) for v in page.evaluate(values.replace("COL", str(col)))]
        assert ascending == sorted(ascending)
        page.evaluate(click)
        descending = [float(v) for v in page.evaluate(values.replace("COL", str(col)))]
        assert descending == sorted(descending, reverse=True)
        assert sorted(page.evaluate(names)) == sorted(before)

        hidden = ("document.querySelectorAll('svg.chart [id$=\"-series-1\"], "
                  "svg.chart [id*=\"-series-1-\"]')")
        assert page.evaluate(f"{hidden}.length") >= 4  # equity, drawdown, eff. N, entropy, bars
        page.evaluate("document.querySelector('button[data-series=\"series-1\"]').click()")
        assert page.evaluate(f"Array.from({hidden}).every(e => e.style.display === 'none')")
        assert page.evaluate("document.querySelectorAll('button[data-series=\"series-1\"]"
                             "[aria-pressed=\"false\"]').length") == 3

        page.evaluate("document.getElementById('show-all-metrics').click()")
        assert page.evaluate("document.getElementById('metrics-table').classList"
                             ".contains('all')")
        assert page.errors == []


def test_tearsheet_renders_without_errors(chromium: str, tmp_path: Path) -> None:
    run = make_run(n_days=420)
    sheet = write_tearsheet(run.results[1].returns, run.benchmark, tmp_path / "sac.html",
                            title="sac: browser check")
    shot = tmp_path / "sheet.png"
    log = browser.screenshot(chromium, sheet.as_uri(), shot, size=(1200, 1600))
    assert browser.stderr_errors(log) == []
    assert not browser.png_is_blank(shot)
