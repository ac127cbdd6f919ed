"""`config`: every key a ``--config`` file may hold, with its section, flag, default and meaning.

Generated from the option tree (:data:`~maxent_portfolio.config.OPTIONS`), the sweep's grid
(:class:`~maxent_portfolio.sweep.config.SweepConfig`) and the stress test's scenarios
(:class:`~maxent_portfolio.stress.config.StressConfig`), so the file-only keys (``gamma``,
``batch_size``, ...) are documented where the flags are.
"""

from __future__ import annotations

import typer
from rich import box
from rich.table import Table

from maxent_portfolio.cli.app import app, out
from maxent_portfolio.config import OPTIONS, preset_default
from maxent_portfolio.errors import ConfigError
from maxent_portfolio.stress.config import StressConfig, stress_default
from maxent_portfolio.sweep.config import SweepConfig, grid_default

TOP_LEVEL = "(top)"
"""The section column of a run-level key (``seeds``, ``strategies``, ...)."""


def option_rows() -> list[tuple[str, str, str, str, str]]:
    """``(section, key, flag, default, meaning)`` of every key: the run's, the sweep's, then
    the stress test's."""
    rows = []
    for spec in OPTIONS.values():
        section = spec.path.rpartition(".")[0] or TOP_LEVEL
        flag = "(file only)" if spec.file_only else spec.flag
        rows.append((section, spec.name, flag, preset_default(spec), spec.help))
    for name, info in SweepConfig.model_fields.items():
        rows.append(("sweep", name, f"sweep --{name.replace('_', '-')}", grid_default(name),
                     str(info.description)))
    for name, info in StressConfig.model_fields.items():
        rows.append(("stress", name, f"stress --{name.replace('_', '-')}",
                     stress_default(name), str(info.description)))
    return rows


@app.command("config", rich_help_panel="Backtesting")
def list_config(
    section: str = typer.Option(None, "--section", metavar="<section>",
                                help="Only this section's keys (data, costs, walk_forward, "
                                     "schedule, env, sac, menu, report, sweep, stress, or top)."),
) -> None:
    """List every key of a --config file: its section, flag, default and meaning.

    A key goes in its section's table ([sac] gamma = 0.95) or flat (gamma = 0.95); the run-level
    ones, section (top), at the top of the file; the sweep's grid in a [sweep] table, the
    stress test's scenarios in a [stress] table. Keys marked (file only) have no flag. A
    default written "quick X, full Y" is the preset's.

    Example: maxent-portfolio config --section sac
    """
    rows = option_rows()
    if section is not None:
        wanted = TOP_LEVEL if section.strip("()") == "top" else section.replace("-", "_")
        rows = [row for row in rows if row[0] == wanted]
        if not rows:
            sections = dict.fromkeys(row[0].strip("()") for row in option_rows())
            raise ConfigError(f"unknown section {section!r}: use one of {', '.join(sections)}")
    table = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column in ("section", "key", "flag", "default", "meaning"):
        table.add_column(column, no_wrap=column in ("section", "key"), overflow="fold")
    for row in rows:
        table.add_row(*row)
    out.print(table)
