"""The ``sweep`` command: the entropy frontier over a grid of SAC backtests.

Its grid flags are generated from :class:`~maxent_portfolio.sweep.config.SweepConfig`; every
backtest option applies too (from the option tree), except those the grid replaces
(``--alpha``, ``--diversification``, ``--cost-bps``, ``--seeds``, ``--jobs``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from maxent_portfolio.cli.app import app, note, out, warn_about
from maxent_portfolio.cli.options import (
    CONFIG_OPTION,
    flag_specs,
    section_options,
    tree_options,
)
from maxent_portfolio.cli.progress import RichProgress
from maxent_portfolio.files import check_writable_dir
from maxent_portfolio.sweep.config import SweepConfig, grid_default

GRID = tuple(SweepConfig.model_fields)
RUN_PARTS = [spec.path for spec in flag_specs(
    ["data", "costs", "walk_forward", "schedule", "limits", "env", "sac", "report", "preset",
     "plugins", "seed"]) if spec.name not in GRID]
"""The backtest options a sweep takes: all but the run-level ones the grid replaces."""


grid_options = section_options(SweepConfig, "grid", "The grid (also keys of the sweep table "
                               "of --config)", default=grid_default)
"""One flag per :class:`SweepConfig` field (its help and default) for a command taking
``grid``: the values given, None for those not given."""


@app.command(rich_help_panel="Backtesting")
@tree_options(*RUN_PARTS)
@grid_options
def sweep(
    grid: dict[str, Any],
    overrides: dict[str, Any],
    config: Path = CONFIG_OPTION,
    out_dir: Path = typer.Option(None, "--out", "-o", help="Sweep directory: created, or "
                                 "resumed when it holds this same sweep. [default: "
                                 "reports/TIMESTAMP-UNIVERSE-sweep/]"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress, no summary: print "
                                                            "only the frontier's path."),
) -> None:
    """The entropy frontier: sac over a grid of dial values x costs x seeds, judged out of
    sample.

    Each cell is one walk-forward backtest of sac at one grid point and one seed, on the
    run's data, engine and folds; equal-weight, min-variance and the benchmark are computed
    once as reference points. Finished cells are stored as they complete, so the same
    command with the same --out resumes after Ctrl-C. The directory gets sweep.csv (one row
    per cell), settings.csv (the seed spread per setting), summary.json (the DSR of the best
    cell, the PBO of choosing the best setting) and frontier.html.

    With --scenarios N, every cell's agents also meet the same N scenario markets (stress's
    bootstrap), paired with 1/N: sweep.csv gains each cell's win rate against 1/N and Sharpe
    quantiles, beside the blend control (the coldest setting mixed with 1/N at the cell's
    active share), and frontier.html the dial's robustness curve.

    Example: maxent-portfolio sweep --diversification 0.25,0.5,1 --seeds 3 --jobs 2
    """
    from maxent_portfolio.rundir import default_run_dir
    from maxent_portfolio.sweep.config import resolve_sweep
    from maxent_portfolio.sweep.run import prepare_sweep, run_sweep

    run_config, sweep_config = resolve_sweep(config, overrides, grid)
    if out_dir is not None and not out_dir.exists():  # an existing one may be resumed
        check_writable_dir(out_dir, "sweep directory")
    plan = prepare_sweep(run_config, sweep_config)

    def started() -> None:  # said once the directory is accepted, so a refusal is one line
        note(run_config.sac.warm_up_note())
        warn_about(plan.data.market.warnings)

    folder = out_dir
    if folder is None:
        base = default_run_dir(run_config)
        folder = base.with_name(f"{base.name}-sweep")
    render = _render_frontier if run_config.report.html else None
    if quiet:
        outcome = run_sweep(plan, folder, render=render, started=started)
    else:
        with RichProgress() as display:
            outcome = run_sweep(plan, folder, progress=display, render=render,
                                started=started)
        _print_summary(outcome.statistics, len(outcome.computed))
    target = folder / "frontier.html" if (folder / "frontier.html").exists() else folder
    out.print(str(target), markup=False, highlight=False)


def _render_frontier(outcome: Any, folder: Path) -> None:
    from maxent_portfolio.reporting.frontier import write_frontier

    write_frontier(outcome, folder / "frontier.html")


def _print_summary(stats: dict[str, Any], computed: int) -> None:
    out.print(f"{stats['cells']} cells ({computed} computed now); best cell "
              f"{stats['best_cell']}: Sharpe {stats['best_cell_sharpe']:.2f}, DSR over "
              f"{stats['cells']} trials {stats['dsr_best_cell']:.3f}", markup=False,
              soft_wrap=True)
    for row in stats["per_cost"]:
        cost = "run costs" if row["cost_bps"] is None else f"{row['cost_bps']:g} bps"
        ew = row["equal_weight_sharpe"]
        out.print(f"{cost}: best {stats['dial']} {row['best_setting']:g}, Sharpe "
                  f"{row['best_setting_sharpe']:.2f} (mean of seeds) vs 1/N "
                  f"{'-' if ew is None else f'{ew:.2f}'}, p = {row['p_vs_equal_weight']:.3f}; "
                  f"PBO {row['pbo']:.2f}", markup=False, soft_wrap=True)
