"""``frontier.html``: escaped names, offline, and clean in headless Chromium."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import browser
import numpy as np
import pandas as pd
import pytest

from maxent_portfolio.data.market import MarketData
from maxent_portfolio.reporting.frontier import render_frontier, write_frontier
from maxent_portfolio.sweep import SweepOutcome, prepare_sweep, resolve_sweep, run_sweep

HOSTILE = '<img src=x onerror="window.pwned=1">'



@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> SweepOutcome:
    """Two settings x two seeds on a market named like an attack, with a benchmark."""
    rng = np.random.default_rng(11)
    idx = pd.bdate_range("2012-01-02", periods=620)
    returns = pd.DataFrame(rng.normal(0.0003, 0.01, size=(620, 3)), index=idx,
                           columns=["A", "B", "C"])
    bench = pd.Series(rng.normal(0.0002, 0.009, size=620), index=idx, name="index")
    market = MarketData.from_returns(returns, name=HOSTILE, benchmark=bench)
    run, sweep = resolve_sweep(None, {"walk_forward.train_years": 1.0,
                                      "walk_forward.test_years": 1.0, "sac.train_steps": 64,
                                      "sac.device": "cpu", "env.lookback": 20},
                               {"alpha": [0.01, 1.0], "seeds": 2, "jobs": 1,
                                "cost_bps": [5.0, 25.0]})
    folder = tmp_path_factory.mktemp("frontier") / "sweep"
    return run_sweep(prepare_sweep(run, sweep, market), folder)


def test_names_are_escaped_and_nothing_is_loaded(outcome: SweepOutcome) -> None:
    page = render_frontier(outcome)
    assert HOSTILE not in page and "&lt;img src=x onerror=" in page
    assert page.count("<svg") == 2 and "<script" not in page
    assert "src=" not in page.replace("&lt;img src=x", "")  # no image, script or font to fetch
    # Every setting is a row of the seed spread; every cell of the cells' table.
    assert len(outcome.settings) == 4 and (outcome.settings["seeds"] == 2).all()
    assert page.count("<tr>") >= 1 + 4 + 8 + 5  # stats, settings, cells, references


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("websockets") is None,
                    reason="websockets is needed to drive the DevTools protocol")
def test_frontier_renders_in_chromium_without_errors(outcome: SweepOutcome,
                                                     tmp_path: Path) -> None:
    path, reason = browser.ensure_chromium()
    if path is None:
        pytest.skip(f"headless Chromium unavailable: {reason}")
    page = write_frontier(outcome, tmp_path / "frontier.html")
    with browser.open_page(path, page.as_uri()) as tab:
        assert tab.evaluate("document.querySelectorAll('svg.chart').length") == 2
        assert tab.evaluate("typeof window.pwned") == "undefined"
        assert tab.evaluate("document.querySelectorAll('main img').length") == 0
        assert tab.evaluate("document.title").endswith(HOSTILE)  # shown as text
        assert tab.errors == []
    shot = tmp_path / "frontier.png"
    log = browser.screenshot(path, page.as_uri(), shot, size=(1400, 2000))
    assert browser.stderr_errors(log) == [] and not browser.png_is_blank(shot)
