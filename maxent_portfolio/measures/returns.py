"""Return measures of one series: growth, risk, drawdowns, tail losses and cost drag."""

from __future__ import annotations

import numpy as np
import pandas as pd

from maxent_portfolio.errors import ConfigError
from maxent_portfolio.measures.inputs import (
    ArrayLike,
    RiskFree,
    as_returns,
    check_periods_per_year,
    excess_returns,
)


def total_return(returns: ArrayLike) -> float:
    """Compounded return ``prod(1 + r) - 1`` of returns of shape (n,)."""
    return float(np.prod(1.0 + as_returns(returns)) - 1.0)


def cagr(returns: ArrayLike, periods_per_year: int) -> float:
    """Compound annual growth rate ``(1 + total) ** (P / n) - 1``; NaN if wealth ends <= 0.

    Years are ``n / P`` (period count), as in ``quantstats.stats.cagr`` 0.0.86.
    """
    r = as_returns(returns)
    wealth = float(np.prod(1.0 + r))
    if wealth <= 0:
        return float("nan")
    return wealth ** (check_periods_per_year(periods_per_year) / r.size) - 1.0


def volatility(returns: ArrayLike, periods_per_year: int) -> float:
    """Annualised sample standard deviation ``std(r, ddof=1) * sqrt(P)``; NaN if n < 2."""
    r = as_returns(returns)
    if r.size < 2:
        return float("nan")
    return float(np.std(r, ddof=1) * np.sqrt(check_periods_per_year(periods_per_year)))


def sharpe(returns: ArrayLike, periods_per_year: int, rf: RiskFree = 0.0) -> float:
    """Annualised Sharpe ratio ``mean(x) / std(x, ddof=1) * sqrt(P)`` of excess returns ``x``.

    NaN when fewer than 2 periods or zero dispersion. See the module notes for ``rf``.
    """
    x = excess_returns(returns, periods_per_year, rf)
    sd = np.std(x, ddof=1) if x.size > 1 else 0.0
    if sd == 0 or not np.isfinite(sd):
        return float("nan")
    return float(x.mean() / sd * np.sqrt(periods_per_year))


def sortino(returns: ArrayLike, periods_per_year: int, rf: RiskFree = 0.0) -> float:
    """Annualised Sortino ratio ``mean(x) / sqrt(sum(min(x, 0)^2) / n) * sqrt(P)``.

    ``x`` are excess returns; the target is the risk-free rate and the downside deviation
    averages over all ``n`` periods (quantstats' convention). NaN with no negative period.
    """
    x = excess_returns(returns, periods_per_year, rf)
    downside = np.sqrt(np.sum(np.minimum(x, 0.0) ** 2) / x.size)
    if downside == 0:
        return float("nan")
    return float(x.mean() / downside * np.sqrt(periods_per_year))


def drawdown(returns: ArrayLike) -> np.ndarray:
    """Drawdown of net equity after each period, shape (n,), values ``<= 0``.

    The running peak starts at the initial equity 1, so a loss in the first period counts.
    """
    equity = np.cumprod(1.0 + as_returns(returns))
    peak = np.maximum.accumulate(np.maximum(equity, 1.0))
    return equity / peak - 1.0


def max_drawdown(returns: ArrayLike) -> float:
    """Maximum drawdown, ``<= 0`` (e.g. -0.25 for a 25% fall). Matches quantstats' sign."""
    return float(min(drawdown(returns).min(), 0.0))


def max_drawdown_duration(returns: ArrayLike) -> int:
    """Longest run of consecutive periods spent below a previous equity peak.

    A period that closes back at (or above) the peak ends the run and is not counted.
    """
    under = drawdown(returns) < 0
    longest = run = 0
    for flag in under:
        run = run + 1 if flag else 0
        longest = max(longest, run)
    return longest


def max_drawdown_days(returns: pd.Series) -> float:
    """Calendar days of the longest underwater spell, from the last peak to recovery.

    Measured from the date of the last close at the peak (for a spell starting in the first
    period, one period before the first date, estimated from the median spacing) to the
    date equity is back at the peak, or to the last date when it never recovers. 0 with no
    drawdown; NaN without a DatetimeIndex.
    """
    if not isinstance(returns, pd.Series) or not isinstance(returns.index, pd.DatetimeIndex):
        return float("nan")
    under = drawdown(returns) < 0
    if not under.any():
        return 0.0
    dates = returns.index
    step = pd.Series(dates).diff().median() if len(dates) > 1 else pd.Timedelta(days=1)
    best = 0.0
    i, n = 0, len(under)
    while i < n:
        if not under[i]:
            i += 1
            continue
        j = i
        while j < n and under[j]:
            j += 1
        start = dates[i - 1] if i > 0 else dates[0] - step
        end = dates[j] if j < n else dates[-1]
        best = max(best, (end - start) / pd.Timedelta(days=1))
        i = j
    return float(best)


def calmar(returns: ArrayLike, periods_per_year: int) -> float:
    """CAGR over the absolute maximum drawdown; NaN when there is no drawdown."""
    mdd = max_drawdown(returns)
    return float("nan") if mdd == 0 else cagr(returns, periods_per_year) / abs(mdd)


def var(returns: ArrayLike, level: float = 0.95) -> float:
    """Historical value at risk: the ``1 - level`` quantile of returns (negative = loss).

    Linear interpolation between order statistics (numpy's and pandas' default).
    """
    if not 0 < level < 1:
        raise ConfigError(f"VaR level must be in (0, 1), got {level}")
    return float(np.quantile(as_returns(returns), 1.0 - level))


def cvar(returns: ArrayLike, level: float = 0.95) -> float:
    """Historical CVaR (expected shortfall): mean of returns at or below :func:`var`."""
    r = as_returns(returns)
    return float(r[r <= var(r, level)].mean())


def hit_rate(returns: ArrayLike) -> float:
    """Share of all periods with a strictly positive return (zero-return periods are misses)."""
    r = as_returns(returns)
    return float(np.mean(r > 0))



def cost_drag(gross_returns: ArrayLike, net_returns: ArrayLike, periods_per_year: int) -> float:
    """Annual growth lost to costs: ``cagr(gross) - cagr(net)``, both of shape (n,).

    Close to the annual sum of costs; it also carries compounding of the costs paid.
    """
    return cagr(gross_returns, periods_per_year) - cagr(net_returns, periods_per_year)


def tracking_error(returns: pd.Series, reference: pd.Series, periods_per_year: int) -> float:
    """Annualised tracking error ``std(r - r_ref, ddof=1) * sqrt(P)`` on the shared dates.

    Parameters
    ----------
    returns, reference : pd.Series
        Net simple returns indexed by date (the strategy and, for the distance from 1/N, the
        run's ``equal-weight`` strategy). Only the dates both hold count.
    periods_per_year : int

    Returns
    -------
    float
        NaN with fewer than 2 shared dates.
    """
    ppy = check_periods_per_year(periods_per_year)
    both = pd.concat([returns, reference], axis=1, join="inner").dropna()
    if len(both) < 2:
        return float("nan")
    active = as_returns(both.iloc[:, 0].to_numpy()) - as_returns(both.iloc[:, 1].to_numpy())
    return float(np.std(active, ddof=1) * np.sqrt(ppy))


__all__ = ["cagr", "calmar", "cost_drag", "cvar", "drawdown", "hit_rate", "max_drawdown",
           "max_drawdown_days", "max_drawdown_duration", "sharpe", "sortino", "total_return",
           "tracking_error", "var", "volatility"]
