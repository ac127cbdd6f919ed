"""Weight and trading measures over the full simplex (cash included): effective N, entropy,
turnover per year."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from maxent_portfolio.errors import DataError
from maxent_portfolio.measures.inputs import ArrayLike, check_periods_per_year


def _as_weights(weights: np.ndarray | pd.DataFrame) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    if w.ndim != 2 or w.shape[0] == 0:
        raise DataError(f"weights must have shape (n_periods, n_holdings), got {w.shape}")
    if not np.isfinite(w).all():
        raise DataError("weights contain NaN or infinite values")
    if (w < -1e-9).any():
        raise DataError("weights must be non-negative for effective N and entropy")
    return np.clip(w, 0.0, None)


def _effective_n_rows(w: np.ndarray) -> np.ndarray:
    """``1 / sum_i w_i^2`` of each row of checked weights, NaN for an all-zero row."""
    squares = np.sum(w**2, axis=1)
    with np.errstate(divide="ignore"):
        return np.where(squares > 0, 1.0 / squares, np.nan)


def effective_n_series(weights: pd.DataFrame) -> pd.Series:
    """Effective number of holdings ``1 / sum_i w_i^2`` at each date.

    Parameters
    ----------
    weights : pd.DataFrame of shape (n_periods, n_holdings)
        Non-negative weights by date, including the cash column: cash counts as one holding.

    Returns
    -------
    pd.Series of shape (n_periods,)
        Named ``effective_n``, on the index of ``weights``; NaN where a row holds nothing.
    """
    return pd.Series(_effective_n_rows(_as_weights(weights)), index=weights.index,
                     name="effective_n")


def effective_n(weights: np.ndarray | pd.DataFrame) -> float:
    """Mean over periods of ``1 / sum_i w_i^2`` for weights of shape (n_periods, n_holdings).

    Pass the holdings including the cash column: cash counts as one holding. The per-date
    values are :func:`effective_n_series`.
    """
    return float(np.mean(_effective_n_rows(_as_weights(weights))))


def weight_entropy(weights: np.ndarray | pd.DataFrame) -> float:
    """Mean over periods of ``-sum_i w_i ln w_i`` (nats, ``0 ln 0 = 0``), shape (n, m)."""
    w = _as_weights(weights)
    return float(np.mean(special.entr(w).sum(axis=1)))


def annual_turnover(turnover: ArrayLike, n_periods: int, periods_per_year: int) -> float:
    """Two-way turnover per year: ``sum(turnover) / (n_periods / P)``.

    ``turnover`` has shape (n_rebalances,), each entry ``sum_i |w+_i - w-_i|`` over the risky
    assets: buys plus sells, so selling one asset entirely to buy another counts 2.0 (half of it
    would be the one-way figure). ``n_periods`` is the length of the return series it was traded
    over. The opening buy from cash counts: it is a trade that paid costs (cash is free, so it
    counts 1.0, not 2.0).
    """
    t = np.asarray(turnover, dtype=float)
    if n_periods < 1:
        raise DataError("turnover needs at least one return period")
    return float(t.sum() / (n_periods / check_periods_per_year(periods_per_year)))



__all__ = ["annual_turnover", "effective_n", "effective_n_series", "weight_entropy"]
