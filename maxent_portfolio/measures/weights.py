"""Weight and trading measures over the full simplex (cash included): effective N, entropy,
active share against 1/N, turnover per year."""

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


def active_share(weights: np.ndarray | pd.DataFrame) -> float:
    """Mean distance from 1/N: half the L1 distance to equal risky weights, cash a position.

    At each period ``t`` with ``N`` risky assets and cash last,
    ``AS_t = (sum_{i<=N} |w_t,i - 1/N| + |w_t,cash - 0|) / 2``: the share of the portfolio that
    would have to trade to hold 1/N (Cremers & Petajisto's active share, with the equal-weight
    portfolio, which holds no cash, as the index). It is 0 at 1/N, ``1 - 1/N`` all in one
    asset and 1 all in cash. The result is the mean of ``AS_t`` over the rows.

    Parameters
    ----------
    weights : ndarray or pd.DataFrame of shape (n_periods, N + 1)
        Non-negative weights, **cash last**. Pass a backtest's ``holdings`` (the weights held
        over each period, drifting with prices between rebalances): the average is then over
        the days held, and 1/N itself drifts away from 0 between its rebalances.

    Returns
    -------
    float
    """
    w = _as_weights(weights)
    if w.shape[1] < 2:
        raise DataError("active share needs at least one risky asset and the cash column")
    equal = np.append(np.full(w.shape[1] - 1, 1.0 / (w.shape[1] - 1)), 0.0)
    return float(np.mean(0.5 * np.abs(w - equal).sum(axis=1)))


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



__all__ = ["active_share", "annual_turnover", "effective_n", "effective_n_series", "weight_entropy"]
