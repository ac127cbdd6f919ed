"""``maxent-portfolio sweep``: the entropy frontier, a grid of SAC backtests over the
diversification dial (or the temperature), costs and seeds, judged out of sample with the
deflated Sharpe ratio and the probability of backtest overfitting.

Names are imported on first use, so the CLI reads the grid's options
(:mod:`maxent_portfolio.sweep.config`) without loading the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from maxent_portfolio.sweep.cells import Cell, CellResult, SweepData, grid_cells, run_cells
    from maxent_portfolio.sweep.config import SweepConfig, build_sweep, resolve_sweep
    from maxent_portfolio.sweep.run import SweepOutcome, SweepPlan, prepare_sweep, run_sweep

_HOMES = {"Cell": "cells", "CellResult": "cells", "SweepData": "cells", "grid_cells": "cells",
          "run_cells": "cells", "SweepConfig": "config", "build_sweep": "config",
          "resolve_sweep": "config", "SweepOutcome": "run", "SweepPlan": "run",
          "prepare_sweep": "run", "run_sweep": "run"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)


__all__ = ["Cell", "CellResult", "SweepConfig", "SweepData", "SweepOutcome", "SweepPlan",
           "build_sweep", "grid_cells", "prepare_sweep", "resolve_sweep", "run_cells",
           "run_sweep"]
