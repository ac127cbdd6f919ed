"""`backtest`, `strategies` and `report` commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from maxent_portfolio.cli import app, err, out
from maxent_portfolio.config import REBALANCE_HELP, resolve_config
from maxent_portfolio.errors import ConfigError

if TYPE_CHECKING:
    from maxent_portfolio.runner import RunOutcome

# Terminal table: the key columns under short headers (the CSV and dashboard have them all).
_SHOWN = {"cagr": "CAGR", "volatility": "Vol", "sharpe": "Sharpe", "sortino": "Sortino",
          "max_drawdown": "MaxDD", "calmar": "Calmar", "turnover": "Turn/yr",
          "effective_n": "EffN", "p_sharpe_vs_ref": "p(SR=ref)", "dsr": "DSR"}


class RichProgress:
    """One progress bar over folds x strategies x training steps, with time remaining."""

    def __init__(self) -> None:
        self.bar = Progress(TextColumn("[bold]{task.description:<44}"), BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"),
                            TimeRemainingColumn(), console=err, transient=False)
        self.task = self.bar.add_task("starting", total=None)

    def start(self, total: float) -> None:
        self.bar.update(self.task, total=total)

    def advance(self, amount: float, description: str) -> None:
        self.bar.update(self.task, advance=amount, description=description[:44])


def metrics_rich_table(metrics: pd.DataFrame, title: str) -> Table:
    """The key columns of the metrics table, formatted for a terminal."""
    table = Table(title=title, header_style="bold", title_justify="left", pad_edge=False,
                  caption="* not investable (hindsight).  p(SR=ref): Ledoit-Wolf p-value of "
                          "the Sharpe difference against equal-weight.", caption_justify="left")
    table.add_column("strategy", no_wrap=True)
    cols = [c for c in _SHOWN if c in metrics.columns]
    for c in cols:
        table.add_column(_SHOWN[c], justify="right", no_wrap=True)
    pct = {"cagr", "volatility", "max_drawdown"}
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
            else:
                cells.append(f"{v:.2f}")
        table.add_row(*cells)
    return table


@app.command(rich_help_panel="Backtesting")
def backtest(
    universe: str = typer.Option(None, "--universe", "-u",
                                 help="Universe name (see `universes`) or a YAML/CSV path. "
                                      "[default: sp500-20]"),
    strategies: str = typer.Option(
        None, "--strategies", "-s",
        help="Comma-separated strategies (see `strategies`). [default: sac, equal-weight, "
             "buy-and-hold, inverse-volatility, min-variance, hrp, eg]"),
    preset: str = typer.Option(None, "--preset",
                               help="quick (default: 2010 on, 2-year refits, short training; "
                                    "minutes) or full (whole history, yearly refits, 3 seeds)."),
    config: Path = typer.Option(None, "--config", "-c",
                                help="TOML/YAML/JSON file holding any of these options; flags "
                                     "override it. Examples in strategies/*.toml."),
    start: str = typer.Option(None, help="First date used, training included (YYYY-MM-DD)."),
    end: str = typer.Option(None, help="Last date used (YYYY-MM-DD)."),
    rebalance: str = typer.Option(None, help=f"Rebalance schedule: {REBALANCE_HELP}. "
                                             "[default: monthly]"),
    cost_bps: float = typer.Option(None, "--cost-bps",
                                   help="Cost per unit traded, basis points. [default: 10]"),
    slippage_bps: float = typer.Option(None, "--slippage-bps",
                                       help="Extra cost per unit traded, bps. [default: 0]"),
    max_weight: float = typer.Option(None, "--max-weight", help="Cap on any asset's weight."),
    train_years: float = typer.Option(None, "--train-years",
                                      help="First training window, years (then expanding)."),
    test_years: float = typer.Option(None, "--test-years",
                                     help="Test window per fold = refit interval, years."),
    purge_days: int = typer.Option(None, "--purge-days",
                                   help="Periods embargoed between train and test."),
    rolling: bool = typer.Option(None, "--rolling/--expanding",
                                 help="Rolling or expanding training windows."),
    rf: float = typer.Option(None, "--rf", help="Annual risk-free rate. [default: 0]"),
    seed: int = typer.Option(None, "--seed", help="Base random seed. [default: 0]"),
    seeds: int = typer.Option(None, "--seeds", help="SAC agents per fold (each reported, "
                                                    "plus their mean). [default: the "
                                                    "preset's: quick 1, full 3]"),
    train_steps: int = typer.Option(None, "--train-steps", help="SAC env steps per fold. "
                                    "[default: the preset's: quick 6000, full 2000]"),
    alpha: float = typer.Option(None, "--alpha", help="Fixed SAC temperature (higher = more "
                                                      "diversified). [default: automatic]"),
    diversification: float = typer.Option(
        None, "--diversification",
        help="SAC diversification dial in (0,1]: sets the entropy target to that of a "
             "symmetric policy holding 1 + d*(N_peak - 1) effective assets; higher holds more "
             "names. [default: 0.5]"),
    policy: str = typer.Option(None, "--policy", help="dirichlet or logistic-normal."),
    device: str = typer.Option(None, "--device", help="cpu, cuda or auto (cuda when "
                                                           "available). [default: auto]"),
    plugin: list[Path] = typer.Option(None, "--plugin",
                                      help="Extra plug-in file with Strategy classes."),
    out_dir: Path = typer.Option(None, "--out", "-o",
                                 help="Run directory (must not exist). [default: "
                                      "reports/TIMESTAMP-UNIVERSE/]"),
    no_html: bool = typer.Option(False, "--no-html", help="Skip the HTML report."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress, no table: print "
                                                            "only the report path."),
) -> None:
    """Walk strategies forward on one engine and write a report.

    Every strategy is refit on each training window and trades the following test window,
    out of sample, net of costs, with weights chosen at a close earning the next period's
    return. The run directory gets metrics.csv, returns.csv, weights/, config.json,
    provenance.json and an HTML dashboard (index.html) with a tear sheet per strategy.

    Example: maxent-portfolio backtest -s equal-weight,min-variance,eg --rebalance weekly
    """
    from maxent_portfolio.runner import backtest_to_directory, prepare

    strategy_list = [s.strip() for s in strategies.split(",") if s.strip()] \
        if strategies else None
    cfg = resolve_config(
        config, universe=universe, strategies=strategy_list, preset=preset, start=start,
        end=end, rebalance=rebalance, cost_bps=cost_bps, slippage_bps=slippage_bps,
        max_weight=max_weight, train_years=train_years, test_years=test_years,
        purge_days=purge_days, rolling=rolling, rf=rf, seed=seed, seeds=seeds,
        train_steps=train_steps, alpha=alpha, diversification=diversification, policy=policy,
        device=device, plugins=[str(p) for p in plugin] if plugin else None)
    render = None if no_html else _render_html
    # Fail fast, before any progress display, on everything a user can get wrong.
    if out_dir is not None and out_dir.exists():
        raise ConfigError(f"run directory {out_dir} already exists; choose another --out")
    market = prepare(cfg)
    if quiet:
        outcome, path = backtest_to_directory(cfg, out_dir, render=render, market=market)
    else:
        display = RichProgress()
        with display.bar:
            outcome, path = backtest_to_directory(cfg, out_dir, progress=display,
                                                  render=render, market=market)
    if not quiet:
        out.print(metrics_rich_table(
            outcome.metrics, f"{outcome.market.name}: out of sample "
            f"{outcome.results[0].returns.index[0].date()} to "
            f"{outcome.results[0].returns.index[-1].date()}, net of {cfg.cost_bps:g} bps"))
    target = path / "index.html" if (path / "index.html").exists() else path
    out.print(str(target), markup=False, highlight=False)


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
    from maxent_portfolio.strategies.registry import available_strategies

    load_plugins(plugin or [])
    table = Table(header_style="bold")
    table.add_column("name")
    table.add_column("description")
    table.add_column("source")
    for name, cls in sorted(available_strategies().items()):
        source = "built-in" if cls.__module__.startswith("maxent_portfolio.") else "plug-in"
        table.add_row(name, cls.description, source)
    out.print(table)
