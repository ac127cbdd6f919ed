"""The oracle of a planted market: the growth-optimal portfolio under the known DGP.

The planted tilt (:mod:`maxent_portfolio.data.synthetic`) is a function of past returns only, so
a strategy that knows the DGP can compute it from ``history`` without looking ahead. It is the
ceiling a learner on that market can hope to reach, not a baseline for real data, so it is not
in the registry; a plug-in file registers it for a run (``benchmarks/learnability.py`` does).
"""

from __future__ import annotations

from typing import Any

import cvxpy as cp
import numpy as np
import pandas as pd

from maxent_portfolio.data.synthetic import PlantedDGP
from maxent_portfolio.errors import StrategyError
from maxent_portfolio.rebalance import CASH
from maxent_portfolio.strategies.base import Strategy


def kelly_weights(mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Long-only growth-optimal (Kelly) weights with cash at a zero return.

    Maximises the second-order expected log growth ``w' mean - w' cov w / 2`` over
    ``w >= 0, sum(w) <= 1``; the remainder is cash.

    Parameters
    ----------
    mean : ndarray of shape (n_assets,)
        Expected simple returns of one period.
    cov : ndarray of shape (n_assets, n_assets)
        Their covariance, positive definite.

    Returns
    -------
    ndarray of shape (n_assets + 1,)
        Risky weights, then cash; non-negative, summing to 1.
    """
    n = len(mean)
    w = cp.Variable(n)
    chol = np.linalg.cholesky(cov)
    problem = cp.Problem(cp.Maximize(mean @ w - 0.5 * cp.sum_squares(chol.T @ w)),
                         [w >= 0, cp.sum(w) <= 1])
    problem.solve(solver=cp.CLARABEL)
    if w.value is None or problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise StrategyError(f"Kelly weights: the solver ended with status {problem.status}")
    risky = np.clip(np.asarray(w.value, dtype=float), 0.0, None)
    risky /= max(1.0, risky.sum())  # solver tolerance may leave the sum a hair above 1
    return np.append(risky, 1.0 - risky.sum())


class PlantedOracle(Strategy):
    """Hold the Kelly portfolio of the planted market's expected returns, known from its DGP.

    At a decision on day ``t`` the tilt in force on ``t + 1`` is the one the DGP fixed at the
    last close before ``t + 1``'s calendar month (``t`` itself on a month-end); the oracle
    recomputes it from ``history`` with :meth:`PlantedDGP.tilt`, adds the drift, converts the
    daily log moments to simple ones (``E[e^x] - 1 = e^{m + s^2/2} - 1``) and solves
    :func:`kelly_weights` with the DGP's covariance. Dates are business days, as the planted
    market's are.

    Parameters
    ----------
    dgp : PlantedDGP
        The DGP the data was drawn from.
    """

    name = "oracle"
    description = "Knows the planted market's DGP: long-only Kelly portfolio (synthetic data)"
    stateless = True

    def __init__(self, dgp: PlantedDGP | None = None) -> None:
        self.dgp = dgp if dgp is not None else PlantedDGP()

    def expected_returns(self, history: pd.DataFrame) -> np.ndarray:
        """Expected daily simple returns on the day after ``history`` ends, shape (n_assets,)."""
        index = pd.DatetimeIndex(history.index)
        next_day = index[-1] + pd.offsets.BDay(1)
        month_start = next_day.to_period("M").start_time
        known = int(np.searchsorted(index.to_numpy(), month_start.to_datetime64(), side="left"))
        x = np.log1p(history.to_numpy(dtype=float)[:known])
        mean = self.dgp.mu / self.dgp.periods_per_year + self.dgp.tilt(x)
        variance = np.diag(self.dgp.covariance(history.shape[1]))
        return np.asarray(np.expm1(mean + 0.5 * variance))

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        weights = kelly_weights(self.expected_returns(history),
                                self.dgp.covariance(history.shape[1]))
        return pd.Series(weights, index=[*history.columns, CASH])

    def __repr__(self) -> str:
        fields: dict[str, Any] = vars(self.dgp)
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in fields.items())})"


__all__ = ["PlantedOracle", "kelly_weights"]
