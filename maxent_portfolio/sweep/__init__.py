"""``maxent-portfolio sweep``: the entropy frontier, a grid of SAC backtests over the
diversification dial (or the temperature), costs and seeds, judged out of sample with the
deflated Sharpe ratio and the probability of backtest overfitting."""

from maxent_portfolio.sweep.cells import Cell, CellResult, SweepData, grid_cells, run_cells
from maxent_portfolio.sweep.config import SweepConfig, build_sweep, resolve_sweep
from maxent_portfolio.sweep.run import SweepOutcome, SweepPlan, prepare_sweep, run_sweep

__all__ = ["Cell", "CellResult", "SweepConfig", "SweepData", "SweepOutcome", "SweepPlan",
           "build_sweep", "grid_cells", "prepare_sweep", "resolve_sweep", "run_cells",
           "run_sweep"]
