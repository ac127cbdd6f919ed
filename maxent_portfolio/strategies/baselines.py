"""Classical baseline strategies."""

from __future__ import annotations

import numpy as np
import pandas as pd

from maxent_portfolio.strategies.base import Strategy


class EqualWeight(Strategy):
    """1/N over the risky assets, rebalanced on the schedule (DeMiguel et al. 2009)."""

    name = "equal-weight"
    description = "1/N over all assets, rebalanced on the schedule"
    stateless = True

    def constant_weights(self, assets: list[str]) -> np.ndarray:
        return np.full(len(assets), 1.0 / len(assets))

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        n = history.shape[1]
        return pd.Series(1.0 / n, index=history.columns)
