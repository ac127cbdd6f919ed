"""Example plug-in: volatility-targeted momentum.

Drop a file like this in ``strategies/`` (or pass ``--plugin PATH``) and its Strategy
subclasses become available by name::

    maxent-portfolio backtest -s vol-target-momentum,equal-weight

The engine hands ``allocate`` only the returns up to the decision date, so a plug-in cannot
look ahead; it must return non-negative weights by asset (``CASH`` allowed) summing to 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from maxent_portfolio.strategies.base import CASH, Strategy


class VolTargetMomentum(Strategy):
    """Hold the top third of assets by 12-1 month momentum, scaled to a volatility target.

    Parameters
    ----------
    lookback : int
        Periods of trailing return used to rank assets (252 = one year of trading days).
    skip : int
        Most recent periods left out of the ranking (the short-term reversal month).
    target_vol : float
        Annualised volatility aimed for; the rest is held in cash.
    """

    name = "vol-target-momentum"
    description = "Top-third 12-1 momentum, scaled to 10% annual volatility (example plug-in)"
    stateless = True

    def __init__(self, lookback: int = 252, skip: int = 21, target_vol: float = 0.10) -> None:
        self.lookback = lookback
        self.skip = skip
        self.target_vol = target_vol

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        window = history.iloc[-self.lookback:]
        momentum = (1.0 + window.iloc[: len(window) - self.skip]).prod() - 1.0
        k = max(1, len(history.columns) // 3)
        winners = momentum.nlargest(k).index
        weights = pd.Series(0.0, index=[*history.columns, CASH])
        weights[winners] = 1.0 / k
        # Realised volatility of the chosen basket over the last quarter sets the exposure.
        basket = history[winners].iloc[-63:].mean(axis=1)
        vol = float(basket.std() * np.sqrt(252))
        exposure = min(1.0, self.target_vol / vol) if vol > 0 else 1.0
        weights[winners] *= exposure
        weights[CASH] = 1.0 - weights[winners].sum()
        return weights
