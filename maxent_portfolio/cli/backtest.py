"""`backtest`, `strategies` and `report` commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import typer
from rich.table import Table

from maxent_portfolio.cli.app import app, note, out, warn_about
from maxent_portfolio.cli.options import CONFIG_OPTION, tree_options
from maxent_portfolio.cli.progress import RichProgress
from maxent_portfolio.config import RunConfig, resolve_with_sources
from maxent_portfolio.files import check_writable_dir

if TYPE_CHECKING:
    from maxent_portfolio.runner import RunOutcome

# Terminal table: the key columns under short headers (the CSV and dashboard have them all).
_SHOWN = {"cagr": "CAGR", "volatility": "Vol", "sharpe": "Sharpe", "max_drawdown": "MaxDD",
          "calmar": "Calmar", "turnover": "Turn/yr", "effective_n": "EffN",
          "active_share": "ActSh", "tracking_error": "TE", "p_sharpe_vs_ref": "p(SR=ref)",
          "dsr": "DSR", "placebo_pct": "Placebo"}


def metrics_rich_table(metrics: pd.DataFrame, title: str) -> Table:
    """The key columns of the metrics table, formatted for a terminal."""
    table = Table(title=title, header_style="bold", title_justify="left", pad_edge=False,
                  caption="* not investable (hindsight).  ActSh: active share against 1/N "
                          "(cash a position).  TE: tracking error against equal-weight.  "
                          "p(SR=ref): Ledoit-Wolf p-value of the Sharpe difference against "
                          "equal-weight.  Placebo: percentile of the Sharpe among the "
                          "strategy's permutation placebos (learned strategies).",
                  caption_justify="left")
    table.add_column("strategy", no_wrap=True)
    cols = [c for c in _SHOWN if c in metrics.columns]
    for c in cols:
        table.add_column(_SHOWN[c], justify="right", no_wrap=True)
    pct = {"cagr", "volatility", "max_drawdown", "active_share", "tracking_error"}
    for _, row in metrics.iterrows():
        investable = bool(row.get("investable", True))
        cells = [f"{row['strategy']}{'' if investable else '*'}"]
        for c in cols:
            v = row[c]
            if pd.isna(v):
                cells.append("-")
            elif c in pct:
                cells.append(f"{v:.1%}")
            elif c.startswith("p_") or c == "dsr":
                cells.append(f"{v:.3f}")
            elif c == "placebo_pct":
                cells.append(f"{v:.0f}")
            else:
                cells.append(f"{v:.2f}")
        table.add_row(*cells)
    return table


@app.command(rich_help_panel="Backtesting")
@tree_options("", "data", "costs", "walk_forward", "schedule", "limits", "env", "sac", "menu",
              "report")
def backtest(
    overrides: dict[str, Any],
    config: Path = CONFIG_OPTION,
    out_dir: Path = typer.Option(None, "--out", "-o",
                                 help="Run directory (must not exist). [default: "
                                      "reports/TIMESTAMP-UNIVERSE/]"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress, no table: print "
                                                            "only the report path."),
) -> None:
    """Walk strategies forward on one engine and write a report.

    Every strategy is refit on each training window and trades the following test window,
    out of sample, net of costs, with weights chosen at a close earning the next period's
    return. The run directory gets metrics.csv, returns.csv, weights/, config.json,
    provenance.json and an HTML dashboard (index.html) with a tear sheet per strategy.
    The agents of a learning strategy (one per --seeds) train in --jobs worker processes at
    once, the other strategies meanwhile; the numbers do not depend on --jobs.

    Example: maxent-portfolio backtest -s equal-weight,min-variance,eg --rebalance weekly
    """
    from maxent_portfolio.rundir import backtest_to_directory
    from maxent_portfolio.runner import prepare

    cfg, sources = resolve_with_sources(config, overrides)
    render = _render_html if cfg.report.html else None
    # Fail fast, before any progress display, on everything a user can get wrong.
    if out_dir is not None:
        check_writable_dir(out_dir)
    plan = prepare(cfg)
    if {"sac", "sac-discrete"} & set(cfg.strategies):  # the learners of the [sac] section
        note(cfg.sac.warm_up_note())
    warn_about(plan.market.warnings)
    if quiet:
        outcome, path = backtest_to_directory(plan, out_dir, render=render, sources=sources)
    else:
        with RichProgress() as display:
            outcome, path = backtest_to_directory(plan, out_dir, progress=display,
                                                  render=render, sources=sources)
    if not quiet:
        out.print(metrics_rich_table(
            outcome.metrics, f"{outcome.market.name}: out of sample "
            f"{outcome.results[0].returns.index[0].date()} to "
            f"{outcome.results[0].returns.index[-1].date()}, {run_costs(cfg)}"))
    target = path / "index.html" if (path / "index.html").exists() else path
    out.print(str(target), markup=False, highlight=False)


def run_costs(cfg: RunConfig) -> str:
    """"net of 10 bps" as the table title says it."""
    cost = cfg.costs.cost_bps
    shown = f"{cost + cfg.costs.slippage_bps:g} bps" if isinstance(cost, float) else \
        "per-asset costs"
    return f"net of {shown}"


def _render_html(outcome: RunOutcome, folder: Path) -> None:
    from maxent_portfolio.reporting.render import render_run

    render_run(outcome, folder)


@app.command(rich_help_panel="Backtesting")
def report(run_dir: Path = typer.Argument(..., help="A run directory written by `backtest`.")
           ) -> None:
    """Render a run's HTML report again from its stored results, without recomputing."""
    from maxent_portfolio.reporting.render import rerender

    out.print(str(rerender(run_dir)), markup=False, highlight=False)


@app.command("strategies", rich_help_panel="Backtesting")
def list_strategies(
    plugin: list[Path] = typer.Option(None, "--plugin", help="Extra plug-in file to load."),
) -> None:
    """List built-in and plug-in strategies with a one-line description."""
    from maxent_portfolio.strategies.plugins import load_plugins
    from maxent_portfolio.strategies.registry import broken_plugins, catalogue

    load_plugins(plugin or [])
    table = Table(header_style="bold")
    table.add_column("name")
    table.add_column("description")
    table.add_column("source")
    for name, (where, description) in sorted(catalogue().items()):
        source = "built-in" if where.startswith("maxent_portfolio.") else "plug-in"
        table.add_row(name, description, source)
    for path, error in sorted(broken_plugins().items()):
        table.add_row(path.stem, str(error), "broken plug-in")
    out.print(table)
