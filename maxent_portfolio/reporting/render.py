"""Render a run's HTML report (tear sheets + dashboard), fresh or from stored results."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from maxent_portfolio.backtest.engine import BacktestResult
from maxent_portfolio.backtest.store import load_results, safe_name
from maxent_portfolio.errors import DataError

if TYPE_CHECKING:
    from maxent_portfolio.runner import RunOutcome


def render(folder: Path, results: list[BacktestResult], metrics: pd.DataFrame,
           benchmark: pd.Series | None, config: dict[str, Any], provenance: dict[str, Any],
           title: str, rf: float = 0.0) -> Path:
    """Write ``tearsheets/<strategy>.html`` and ``index.html`` into ``folder``."""
    from maxent_portfolio.reporting.dashboard import write_dashboard
    from maxent_portfolio.reporting.tearsheet import write_tearsheet

    sheets = folder / "tearsheets"
    sheets.mkdir(exist_ok=True)
    links: dict[str, str] = {}
    for res in results:
        file = f"{safe_name(res.name)}.html"
        bench = None if benchmark is None else benchmark.reindex(res.returns.index)
        label = res.name if res.investable else f"{res.name} (not investable)"
        write_tearsheet(res.returns, bench, sheets / file, title=f"{label}: {title}", rf=rf,
                        periods_per_year=res.periods_per_year)
        links[res.name] = f"tearsheets/{file}"
    index = folder / "index.html"
    write_dashboard(index, results, metrics, benchmark, config, links, title, provenance)
    return index


def render_run(outcome: RunOutcome, folder: Path) -> Path:
    """Render a freshly computed run into its (temporary) run directory."""
    from maxent_portfolio.runner import provenance

    cfg = outcome.config
    title = f"{outcome.market.name}, net of {cfg.cost_bps:g} bps, {cfg.rebalance} rebalancing"
    return render(folder, outcome.results, outcome.metrics, outcome.market.benchmark,
                  cfg.to_dict(), provenance(outcome), title, rf=cfg.rf)


def rerender(run_dir: Path) -> Path:
    """Render the report of an existing run directory again from its stored results."""
    if not (run_dir / "results" / "results.json").is_file():
        raise DataError(f"{run_dir} is not a maxent-portfolio run directory "
                        "(no results/results.json)")
    results = load_results(run_dir / "results")
    try:
        metrics = pd.read_csv(run_dir / "metrics.csv")
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        prov = json.loads((run_dir / "provenance.json").read_text(encoding="utf-8"))
        bench_file = run_dir / "results" / "benchmark.parquet"
        benchmark = pd.read_parquet(bench_file)["benchmark"] if bench_file.exists() else None
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"cannot read the stored run in {run_dir}: {exc}") from exc
    title = (f"{prov.get('universe', config.get('universe'))}, net of "
             f"{config.get('cost_bps', 0):g} bps, {config.get('rebalance')} rebalancing")
    # Render beside the run, then swap the HTML in, so a failure leaves the old report.
    tmp = Path(tempfile.mkdtemp(prefix=".render-", dir=run_dir))
    try:
        render(tmp, results, metrics, benchmark, config, prov, title,
               rf=float(config.get("rf", 0.0)))
        old = run_dir / "tearsheets"
        if old.exists():
            shutil.rmtree(old)
        os.replace(tmp / "tearsheets", old)
        os.replace(tmp / "index.html", run_dir / "index.html")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return run_dir / "index.html"
