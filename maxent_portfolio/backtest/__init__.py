"""The walk-forward, cost-aware backtest engine shared by every strategy and the environments."""

from maxent_portfolio.backtest.engine import BacktestResult, Schedule, run_backtest
from maxent_portfolio.backtest.walkforward import Fold, TrainTestSplit, WalkForward

__all__ = ["BacktestResult", "Fold", "Schedule", "TrainTestSplit", "WalkForward", "run_backtest"]
