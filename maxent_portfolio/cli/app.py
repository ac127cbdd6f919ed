"""The ``maxent-portfolio`` typer app and its consoles, which every command module registers on.

Its own module, below the command modules and :mod:`maxent_portfolio.cli` (which imports them
all), so that no command imports the package that imports it.
"""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console

app = typer.Typer(
    name="maxent-portfolio",
    help=(
        "Backtest portfolio allocation with maximum-entropy reinforcement learning.\n\n"
        "A Soft Actor-Critic agent allocates on the simplex and is judged against classical "
        "baselines, out of sample and net of costs, on one walk-forward engine.\n\n"
        "Start with:  maxent-portfolio universes   then   maxent-portfolio backtest"
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False)


def fit_output_width() -> None:
    """Size ``out`` for this invocation: ``COLUMNS`` or the terminal when there is one, else 160
    columns, so piped or logged tables are not wrapped at 80 and stay readable in CI logs. Read
    at each call, not at import, as one process may run several commands (tests, notebooks)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        out.width = int(columns)
    elif sys.stdout.isatty():
        out.width = os.get_terminal_size(sys.stdout.fileno()).columns
    else:
        out.width = 160
state: dict[str, bool] = {"verbose": False, "terminated": False}
"""This process's ``--verbose`` and whether a SIGTERM arrived."""


def note(message: str | None) -> None:
    """A one-line note on stderr (nothing for None): a run goes on, changed as it says."""
    if message:
        err.print(f"note: {message}", markup=False, highlight=False)


def warn_about(warnings: tuple[str, ...]) -> None:
    """Print what the data's validation kept but flags (price spikes), one line each."""
    for line in warnings:
        err.print(f"warning: {line}", markup=False)


@app.callback()
def root(
    verbose: bool = typer.Option(False, "--verbose", "-v",
                                 help="Show full tracebacks instead of one-line errors."),
) -> None:
    state["verbose"] = verbose


__all__ = ["app", "err", "note", "out", "root", "state", "warn_about"]
