"""``maxent-portfolio sweep``: the entropy frontier, a grid of SAC backtests over the
diversification dial (or the temperature), costs and seeds, judged out of sample with the
deflated Sharpe ratio and the probability of backtest overfitting.

Names are imported on first use, so the CLI reads the grid's options
(:mod:`maxent_portfolio.sweep.config`) without loading the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from maxent_portfolio.lazy import exported, homes

if TYPE_CHECKING:
    from maxent_portfolio.sweep.cells import Cell, CellResult, SweepData, grid_cells, run_cells
    from maxent_portfolio.sweep.config import SweepConfig, build_sweep, resolve_sweep
    from maxent_portfolio.sweep.run import SweepOutcome, SweepPlan, prepare_sweep, run_sweep

HOMES = {
    **homes("maxent_portfolio.sweep.cells",
            ["Cell", "CellResult", "SweepData", "grid_cells", "run_cells"]),
    **homes("maxent_portfolio.sweep.config", ["SweepConfig", "build_sweep", "resolve_sweep"]),
    **homes("maxent_portfolio.sweep.run",
            ["SweepOutcome", "SweepPlan", "prepare_sweep", "run_sweep"]),
}
"""Each public name -> the module that defines it."""


def __getattr__(name: str) -> Any:
    return exported(__name__, HOMES, name)


__all__ = ["Cell", "CellResult", "SweepConfig", "SweepData", "SweepOutcome", "SweepPlan",
           "build_sweep", "grid_cells", "prepare_sweep", "resolve_sweep", "run_cells",
           "run_sweep"]
