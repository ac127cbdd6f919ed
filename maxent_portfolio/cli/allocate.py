"""The ``allocate`` command: tomorrow's weights, and the orders that take a book there.

Its own options are generated from :class:`~maxent_portfolio.allocation.AllocateConfig`;
without a run directory the run's options (universe, walk-forward window, costs, cap) come
from the option tree, as for ``backtest``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.table import Table

from maxent_portfolio.allocate.config import UNSET_MEANS, AllocateConfig
from maxent_portfolio.cli.app import app, out, warn_about
from maxent_portfolio.cli.options import CONFIG_OPTION, section_options, tree_options
from maxent_portfolio.config import shown
from maxent_portfolio.errors import ConfigError

RUN_PARTS = ("data", "costs", "walk_forward", "limits", "menu", "preset", "plugins",
             "seed")
"""The run's options ``allocate`` takes without a run directory (a run directory fixes them)."""

EPILOG = """Examples:

maxent-portfolio backtest -s sac,min-variance --train-steps 2000 --out runs/sp

maxent-portfolio allocate runs/sp --strategy sac --holdings docs/examples/holdings.csv --out
today  (the orders that take the book in holdings.csv to sac's weights for the next day)

maxent-portfolio allocate runs/sp --strategy min-variance --as-of 2021-06-30 --out check
(a date the run decided on, from the run's own book: exactly the row of its weights file)

maxent-portfolio allocate --strategy min-variance --universe sp500-20 --out mv  (no run
directory: refit on the --train-years window ending at the as-of date)

A holdings file lists ticker and shares (or weight) per asset, cash on a CASH row in
currency, and optionally the date of the book: see docs/allocate.md.
"""


def _default(name: str) -> str:
    default = AllocateConfig.model_fields[name].get_default()
    return UNSET_MEANS.get(name, "none") if default is None else shown(default)


def allocation_table(table: pd.DataFrame) -> Table:
    """The weights before, aimed for and traded to, per asset, for a terminal."""
    rich = Table(header_style="bold", pad_edge=False)
    for column, label in (("ticker", "asset"), ("current", "held"), ("target", "target"),
                          ("executed", "executed")):
        rich.add_column(label, justify="left" if column == "ticker" else "right")
    for row in table.itertuples(index=False):
        rich.add_row(str(row.ticker), f"{row.current:.2%}", f"{row.target:.2%}",
                     f"{row.executed:.2%}")
    return rich


def orders_rich_table(orders: pd.DataFrame) -> Table:
    """The orders (assets traded only), for a terminal."""
    rich = Table(header_style="bold", pad_edge=False)
    for label in ("asset", "side", "shares", "price", "value", "cost"):
        rich.add_column(label, justify="left" if label in ("asset", "side") else "right")
    for row in orders[orders.side != "none"].itertuples(index=False):
        rich.add_row(str(row.ticker), str(row.side), f"{row.shares:,.6g}", f"{row.price:,.2f}",
                     f"{row.value:,.2f}", f"{row.cost:,.2f}")
    return rich


@app.command(rich_help_panel="Backtesting", epilog=EPILOG)
@tree_options(*RUN_PARTS)
@section_options(AllocateConfig, "settings", "Allocation and orders", default=_default)
def allocate(
    settings: dict[str, Any],
    overrides: dict[str, Any],
    run_dir: Path = typer.Argument(None, help="A run directory written by `backtest` (its "
                                   "options, folds and saved agents). Leave it out to decide "
                                   "with a rule-based strategy on the options given."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Directory to write (must not "
                                 "exist): allocation.csv, allocation.json, and orders.csv "
                                 "with --holdings."),
    config: Path = CONFIG_OPTION,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No table: print only the "
                                                            "directory's path."),
) -> None:
    """Tomorrow's weights of a strategy, and the orders that take your book there.

    The strategy decides at the close of the as-of date exactly as in its backtest: its
    target, then its own execution rule from the book held (sac's --trade-rate and
    --no-trade-band), then the run's limits. With a run directory a learning strategy
    uses the fold's saved agent; a rule-based one refits on the training window ending at
    the as-of date (inside the run's period: the fold's, as the run did). With --holdings the
    decision trades from your book, and orders.csv lists the shares to buy and sell (whole
    lots or fractional), each with its cost at the run's --cost-bps.
    """
    from maxent_portfolio.allocate.decision import (
        allocate as decide,
    )
    from maxent_portfolio.allocate.decision import (
        check_out,
        prepare_allocation,
        write_allocation,
    )
    from maxent_portfolio.config import resolve_config

    options = AllocateConfig.build(settings)
    if run_dir is not None and (overrides or config is not None):
        given = "--config" if config is not None else \
            "--" + next(iter(overrides)).rsplit(".", 1)[-1].replace("_", "-")
        raise ConfigError(f"{given} sets a run's option, and the run directory {run_dir} "
                          "fixes them (its config.json): leave it out, or allocate without "
                          "a run directory")
    run_config = None if run_dir is not None else resolve_config(config, overrides)
    check_out(out_dir)
    request = prepare_allocation(options, run_dir, run_config)
    warn_about(request.market.warnings)
    allocation = decide(request)
    summary = write_allocation(allocation, request, out_dir)
    if not quiet:
        rule = allocation.execution
        out.print(f"{allocation.strategy} on {allocation.universe}, decided at the "
                  f"{allocation.as_of.date()} close by {allocation.decided_by['model']}, from "
                  f"{allocation.book}; trade rate {rule['trade_rate']:g}, no-trade band "
                  f"{rule['no_trade_band']:g}, turnover {summary['turnover']:.1%}",
                  markup=False, soft_wrap=True)
        out.print(allocation_table(allocation.table()))
        if summary["orders"] is not None:
            done = summary["orders"]
            out.print(f"orders: bought {done['bought']:,.2f}, sold {done['sold']:,.2f}, cost "
                      f"{done['cost']:,.2f}, cash after {done['cash_after']:,.2f}",
                      markup=False)
            out.print(orders_rich_table(pd.read_csv(out_dir / "orders.csv")))
        for line in summary["notes"]:
            out.print(f"note: {line}", markup=False)
    out.print(str(out_dir), markup=False, highlight=False)
