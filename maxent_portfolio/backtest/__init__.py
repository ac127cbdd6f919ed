"""The walk-forward, cost-aware backtest engine shared by every strategy and the environments.

:class:`Schedule` lives in :mod:`maxent_portfolio.rebalance` (the option tree and the envs use
it too, below the engine); it is exported here as part of the engine's API.
"""

from maxent_portfolio.backtest.engine import BacktestResult, run_backtest
from maxent_portfolio.backtest.walkforward import Fold, TrainTestSplit, WalkForward
from maxent_portfolio.rebalance import Schedule

__all__ = ["BacktestResult", "Fold", "Schedule", "TrainTestSplit", "WalkForward", "run_backtest"]
