"""Validated inputs of the measures, and the risk-free convention they share.

``returns`` are 1-D, finite, per-period simple returns; ``periods_per_year`` a positive int;
``rf`` a scalar annual rate or per-period rates (see :mod:`maxent_portfolio.measures`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from maxent_portfolio.errors import ConfigError, DataError

ArrayLike = np.ndarray | pd.Series | Sequence[float]
RiskFree = float | np.ndarray | pd.Series


def as_returns(returns: ArrayLike, name: str = "returns") -> np.ndarray:
    """Validated 1-D float array of shape (n,)."""
    try:
        r = np.asarray(returns, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric: {exc}") from exc
    if r.ndim != 1:
        raise DataError(f"{name} must be one-dimensional, got shape {r.shape}")
    if r.size == 0:
        raise DataError(f"{name} is empty")
    if not np.isfinite(r).all():
        raise DataError(f"{name} contains NaN or infinite values; drop or fill them first")
    return r


def check_periods_per_year(periods_per_year: int) -> int:
    """``periods_per_year`` as an int; a bool, a non-integer or a value below 1 is refused."""
    if isinstance(periods_per_year, bool) or not isinstance(periods_per_year, int | np.integer) \
            or periods_per_year < 1:
        raise ConfigError(f"periods_per_year must be a positive int, got {periods_per_year!r}")
    return int(periods_per_year)


def per_period_rf(rf: RiskFree, periods_per_year: int, n: int) -> np.ndarray:
    """Per-period risk-free rates of shape (n,).

    A scalar is an annual rate, de-annualised as ``(1 + rf) ** (1 / P) - 1``; an array of
    shape (n,) is already per period.
    """
    p = check_periods_per_year(periods_per_year)
    if np.ndim(rf) == 0:
        value = float(rf)  # type: ignore[arg-type]
        if not np.isfinite(value) or value <= -1:
            raise ConfigError(f"annual rf must be finite and > -1, got {rf!r}")
        return np.full(n, (1.0 + value) ** (1.0 / p) - 1.0)
    rates = np.asarray(rf, dtype=float)
    if rates.shape != (n,) or not np.isfinite(rates).all():
        raise ConfigError(f"a per-period rf must be finite with shape ({n},), got {rates.shape}")
    return rates


def excess_returns(returns: ArrayLike, periods_per_year: int, rf: RiskFree = 0.0) -> np.ndarray:
    """Returns minus the per-period risk-free rate, shape (n,). See :func:`per_period_rf`."""
    r = as_returns(returns)
    if isinstance(rf, pd.Series) and isinstance(returns, pd.Series):
        rf = rf.reindex(returns.index)
    return r - per_period_rf(rf, periods_per_year, r.size)


__all__ = ["ArrayLike", "RiskFree", "as_returns", "check_periods_per_year", "excess_returns",
           "per_period_rf"]
