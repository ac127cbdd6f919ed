"""Risk and performance measures, and significance tests on Sharpe ratios. Pure functions.

Conventions (one place, used everywhere):

* ``returns`` are per-period **simple** returns, 1-D (array or Series), finite; ``periods_per_year``
  (``P``) annualises. Years elapsed are ``n / P`` (period count, as in quantstats 0.0.86).
* ``rf``: a scalar is an **annual** rate, turned into a per-period one geometrically,
  ``(1 + rf) ** (1 / P) - 1`` (the quantstats convention); an array or Series of the same length
  as ``returns`` is taken as **per-period** rates, subtracted period by period. ``rf`` enters
  Sharpe, Sortino, PSR/DSR and the Sharpe-difference tests; total return, CAGR and Calmar are
  of raw returns (as in quantstats).
* Volatility and Sharpe use the sample standard deviation (``ddof=1``) times ``sqrt(P)``.
* Sortino is quantstats' (Red Rock) form: downside deviation
  ``sqrt(sum(min(x, 0) ** 2) / n)`` of excess returns ``x`` over **all** ``n`` periods.
* Drawdowns, VaR and CVaR are in **return space**: a loss is negative. ``max_drawdown`` is
  ``<= 0`` and starts from a peak of 1 before the first period (so a first-period loss counts);
  ``var`` is the historical ``1 - level`` quantile of returns (linear interpolation) and
  ``cvar`` the mean of returns at or below it. Calmar divides by ``|max_drawdown|``.
* Weight measures (effective N, entropy) are over the **full simplex including cash**, the
  space the agents act on: 100% cash is one holding (effective N 1, entropy 0).
* Significance tests are on **per-period** Sharpe ratios; inputs ``trial_sharpes`` and
  ``benchmark_sharpe`` are **annualised** (as :func:`sharpe` returns) and converted by
  ``/ sqrt(P)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
from scipy import special, stats
from skfolio.measures import expected_max_sharpe_ratio
from skfolio.measures import probabilistic_sharpe_ratio as _sk_psr

from maxent_portfolio.errors import ConfigError, DataError

if TYPE_CHECKING:
    from maxent_portfolio.backtest.engine import BacktestResult

ArrayLike = np.ndarray | pd.Series | Sequence[float]
RiskFree = float | np.ndarray | pd.Series

MIN_OBSERVATIONS_TEST = 10
"""Fewest overlapping periods on which a Sharpe-difference test is attempted (else NaN)."""

METRIC_DESCRIPTIONS: dict[str, str] = {
    "strategy": "Strategy name.",
    "total_return": "Compounded net return over the whole out-of-sample period.",
    "cagr": "Compound annual growth rate of net returns (years = periods / periods per year).",
    "volatility": "Annualised standard deviation of net returns.",
    "sharpe": "Annualised Sharpe ratio: mean excess return over its standard deviation.",
    "sortino": "Annualised Sortino ratio: mean excess return over downside deviation.",
    "max_drawdown": "Largest peak-to-trough fall of net equity (negative, e.g. -0.25 = -25%).",
    "max_dd_duration": "Longest spell below a previous equity peak, in periods.",
    "max_dd_days": "Calendar days from a peak to recovery (or the end) in the longest spell.",
    "calmar": "CAGR divided by the absolute maximum drawdown.",
    "var_95": "Historical 95% VaR: the 5% quantile of period returns (negative = loss).",
    "cvar_95": "Historical 95% CVaR: mean of period returns at or below the 5% quantile.",
    "hit_rate": "Share of periods with a positive net return.",
    "turnover": "Annualised two-way turnover: buys plus sells, sum |dw| over the risky assets "
                "per year (a full switch between two assets is 2.0).",
    "cost_drag": "Annual growth lost to costs: CAGR of gross minus CAGR of net returns.",
    "effective_n": "Mean effective number of holdings 1 / sum(w^2), cash counted as a holding.",
    "entropy": "Mean Shannon entropy of the weights -sum(w ln w) in nats, cash included.",
    "psr": "Probabilistic Sharpe ratio: probability the true Sharpe exceeds 0.",
    "dsr": "Deflated Sharpe ratio: PSR against the expected best Sharpe of the trials run.",
    "p_sharpe_vs_ref": "Ledoit-Wolf HAC p-value that the Sharpe equals the reference's.",
    "p_jk_memmel": "Jobson-Korkie (Memmel-corrected) p-value that the Sharpe equals the "
                   "reference's (assumes i.i.d. normal returns).",
    "investable": "False for hindsight benchmarks that could not have been traded.",
}


# ----------------------------------------------------------------------------- helpers
def _as_returns(returns: ArrayLike, name: str = "returns") -> np.ndarray:
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


def _check_ppy(periods_per_year: int) -> int:
    if isinstance(periods_per_year, bool) or not isinstance(periods_per_year, int | np.integer) \
            or periods_per_year < 1:
        raise ConfigError(f"periods_per_year must be a positive int, got {periods_per_year!r}")
    return int(periods_per_year)


def per_period_rf(rf: RiskFree, periods_per_year: int, n: int) -> np.ndarray:
    """Per-period risk-free rates of shape (n,).

    A scalar is an annual rate, de-annualised as ``(1 + rf) ** (1 / P) - 1``; an array of
    shape (n,) is already per period.
    """
    p = _check_ppy(periods_per_year)
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
    r = _as_returns(returns)
    if isinstance(rf, pd.Series) and isinstance(returns, pd.Series):
        rf = rf.reindex(returns.index)
    return r - per_period_rf(rf, periods_per_year, r.size)


# ----------------------------------------------------------------------------- returns
def total_return(returns: ArrayLike) -> float:
    """Compounded return ``prod(1 + r) - 1`` of returns of shape (n,)."""
    return float(np.prod(1.0 + _as_returns(returns)) - 1.0)


def cagr(returns: ArrayLike, periods_per_year: int) -> float:
    """Compound annual growth rate ``(1 + total) ** (P / n) - 1``; NaN if wealth ends <= 0.

    Years are ``n / P`` (period count), as in ``quantstats.stats.cagr`` 0.0.86.
    """
    r = _as_returns(returns)
    wealth = float(np.prod(1.0 + r))
    if wealth <= 0:
        return float("nan")
    return wealth ** (_check_ppy(periods_per_year) / r.size) - 1.0


def volatility(returns: ArrayLike, periods_per_year: int) -> float:
    """Annualised sample standard deviation ``std(r, ddof=1) * sqrt(P)``; NaN if n < 2."""
    r = _as_returns(returns)
    if r.size < 2:
        return float("nan")
    return float(np.std(r, ddof=1) * np.sqrt(_check_ppy(periods_per_year)))


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
    equity = np.cumprod(1.0 + _as_returns(returns))
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
    return float(np.quantile(_as_returns(returns), 1.0 - level))


def cvar(returns: ArrayLike, level: float = 0.95) -> float:
    """Historical CVaR (expected shortfall): mean of returns at or below :func:`var`."""
    r = _as_returns(returns)
    return float(r[r <= var(r, level)].mean())


def hit_rate(returns: ArrayLike) -> float:
    """Share of all periods with a strictly positive return (zero-return periods are misses)."""
    r = _as_returns(returns)
    return float(np.mean(r > 0))


# ----------------------------------------------------------------------------- weights
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
    return float(t.sum() / (n_periods / _check_ppy(periods_per_year)))


def cost_drag(gross_returns: ArrayLike, net_returns: ArrayLike, periods_per_year: int) -> float:
    """Annual growth lost to costs: ``cagr(gross) - cagr(net)``, both of shape (n,).

    Close to the annual sum of costs; it also carries compounding of the costs paid.
    """
    return cagr(gross_returns, periods_per_year) - cagr(net_returns, periods_per_year)


# ----------------------------------------------------------------------------- significance
def probabilistic_sharpe_ratio(returns: ArrayLike, periods_per_year: int,
                               benchmark_sharpe: float = 0.0, rf: RiskFree = 0.0) -> float:
    """Probabilistic Sharpe ratio (Bailey & López de Prado, 2012).

    ``Z[(SR - SR*) sqrt(n - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2)]`` on per-period excess
    returns of shape (n,): ``SR`` uses ``ddof=1``, ``g3``/``g4`` are the population skewness
    and (raw, not excess) kurtosis. Delegates to ``skfolio.measures``. ``benchmark_sharpe``
    is annualised. NaN with fewer than 3 periods or no dispersion.
    """
    p = _check_ppy(periods_per_year)
    x = excess_returns(returns, p, rf)
    with np.errstate(all="ignore"):
        return float(_sk_psr(x, benchmark_sharpe_ratio=benchmark_sharpe / np.sqrt(p)))


def expected_max_sharpe(n_trials: float, trial_sharpe_var: float, periods_per_year: int) -> float:
    """Expected best annualised Sharpe of ``n_trials`` independent zero-Sharpe trials.

    ``max(0, sqrt(V) [(1 - gamma) Z^-1(1 - 1/N) + gamma Z^-1(1 - 1/(N e))])`` with ``V`` the
    variance of the trials' annualised Sharpes and ``gamma`` Euler's constant (Bailey & López
    de Prado, 2014, eq. for ``SR_0``). 0 for one trial.

    ``N`` may be an effective (fractional) count. The bracket is an extreme-value approximation
    for large ``N``; below ``N`` of about 1.28 it turns negative (at ``N = 1.2``:
    ``0.4228 * -0.9674 + 0.5772 * 0.5056 = -0.117``), while the expected maximum of ``N >= 1``
    zero-mean draws is at least the mean of one, 0. Hence the floor at 0: a DSR never above
    the PSR.
    """
    p = _check_ppy(periods_per_year)
    if not np.isfinite(n_trials) or n_trials < 1:
        raise ConfigError(f"n_trials must be >= 1, got {n_trials}")
    if not np.isfinite(trial_sharpe_var) or trial_sharpe_var < 0:
        raise ConfigError(f"trial Sharpe variance must be finite and >= 0, got {trial_sharpe_var}")
    per_period = expected_max_sharpe_ratio(float(n_trials), float(np.sqrt(trial_sharpe_var / p)))
    return max(0.0, float(per_period * np.sqrt(p)))


def deflated_sharpe_ratio(returns: ArrayLike, periods_per_year: int, n_trials: float = 1,
                          trial_sharpe_var: float | None = None, rf: RiskFree = 0.0) -> float:
    """Deflated Sharpe ratio (Bailey & López de Prado, 2014): PSR against the expected best.

    Parameters
    ----------
    returns : array of shape (n,)
        Returns of the selected strategy.
    periods_per_year : int
    n_trials : float
        Number of (effectively independent) strategies tried, the selected one included.
    trial_sharpe_var : float, optional
        Variance of the trials' **annualised** Sharpe ratios. Required when ``n_trials > 1``.
    rf : float or array
        See the module notes.

    Notes
    -----
    With a single trial there is no selection to correct for: the benchmark is 0 and the DSR
    equals :func:`probabilistic_sharpe_ratio`.
    """
    if n_trials > 1 and trial_sharpe_var is None:
        raise ConfigError("a deflated Sharpe over several trials needs the variance of their "
                          "Sharpe ratios")
    bench = expected_max_sharpe(n_trials, trial_sharpe_var or 0.0, periods_per_year)
    return probabilistic_sharpe_ratio(returns, periods_per_year, bench, rf)


class SharpeDifferenceTest(NamedTuple):
    """Outcome of a test of equal Sharpe ratios; ``difference`` is per period (a - b)."""

    difference: float
    std_error: float
    p_value: float


def _paired(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x, y = _as_returns(a, "returns_a"), _as_returns(b, "returns_b")
    if x.shape != y.shape:
        raise DataError(f"paired returns differ in length: {x.size} vs {y.size}")
    return x, y


def _p_value(difference: float, std_error: float) -> float:
    """Two-sided normal p-value; 1 for an exactly zero difference (identical series)."""
    if difference == 0:
        return 1.0
    if not np.isfinite(std_error):
        return float("nan")
    if std_error == 0:
        return 0.0
    return float(2.0 * stats.norm.sf(abs(difference) / std_error))


def parzen_kernel(x: np.ndarray) -> np.ndarray:
    """Parzen kernel weights, shape of ``x``."""
    a = np.abs(np.asarray(x, dtype=float))
    return np.where(a <= 0.5, 1 - 6 * a**2 + 6 * a**3, np.where(a <= 1, 2 * (1 - a) ** 3, 0.0))


def quadratic_spectral_kernel(x: np.ndarray) -> np.ndarray:
    """Quadratic-spectral kernel weights (Andrews, 1991), shape of ``x``; 1 at 0."""
    a = np.asarray(x, dtype=float)
    z = 6 * np.pi * a / 5
    with np.errstate(divide="ignore", invalid="ignore"):
        k = 25 / (12 * np.pi**2 * a**2) * (np.sin(z) / z - np.cos(z))
    return np.where(a == 0, 1.0, k)


_KERNELS = {"parzen": (parzen_kernel, 2.6614), "qs": (quadratic_spectral_kernel, 1.3221)}


def andrews_alpha(v: np.ndarray) -> float:
    """Andrews (1991, eq. 6.4) ``alpha(2)`` from per-column AR(1) fits to ``v`` of shape (T, k)."""
    num = den = 0.0
    for col in v.T:
        lag, lead = col[:-1], col[1:]
        ss = float(lag @ lag)
        if ss == 0:
            continue
        rho = float(lag @ lead) / ss
        sig2 = float(np.mean((lead - rho * lag) ** 2))
        num += 4 * rho**2 * sig2**2 / (1 - rho) ** 8
        den += sig2**2 / (1 - rho) ** 4
    return num / den if den > 0 else float("nan")


def hac_covariance(v: np.ndarray, kernel: str = "parzen",
                   bandwidth: float | None = None) -> np.ndarray:
    """Kernel long-run covariance ``Gamma_0 + sum_j k(j / S) (Gamma_j + Gamma_j')``, (k, k).

    ``v`` of shape (T, k) is mean zero; ``Gamma_j = sum_t v_t v_{t-j}' / T``. ``bandwidth``
    ``S`` defaults to Andrews' automatic choice ``c (alpha T) ** 0.2`` (c = 2.6614 Parzen,
    1.3221 QS); the Parzen sum stops below ``min(S, T - 1)``, QS runs over every lag. Scaled by
    ``T / (T - 4)`` as in Ledoit & Wolf's code.
    """
    if kernel not in _KERNELS:
        raise ConfigError(f"unknown HAC kernel {kernel!r}: use parzen or qs")
    weight, const = _KERNELS[kernel]
    t = v.shape[0]
    if t <= 4:
        raise DataError(f"HAC covariance needs more than 4 periods, got {t}")
    s = const * (andrews_alpha(v) * t) ** 0.2 if bandwidth is None else float(bandwidth)
    if not np.isfinite(s) or s <= 0:
        s = 1.0  # degenerate columns: fall back to no lags beyond Gamma_0
    if kernel == "parzen":
        s = min(s, t - 1)
    psi = v.T @ v / t
    last = t - 1 if kernel == "qs" else int(np.ceil(s)) - 1  # Parzen: lags j < S
    for j in range(1, last + 1):
        gamma = v[j:].T @ v[:-j] / t
        psi += float(weight(np.array(j / s))) * (gamma + gamma.T)
    return psi * t / (t - 4)


def _prewhitened_hac(v: np.ndarray, kernel: str, bandwidth: float | None) -> np.ndarray:
    """Andrews-Monahan VAR(1) prewhitening, singular values capped at 0.97, recoloured."""
    lag, lead = v[:-1], v[1:]
    coef, *_ = np.linalg.lstsq(lag, lead, rcond=None)
    u, d, vt = np.linalg.svd(coef.T)
    a_hat = u @ np.diag(np.clip(d, -0.97, 0.97)) @ vt
    resid = lead - lag @ a_hat.T
    recolour = np.linalg.inv(np.eye(v.shape[1]) - a_hat)
    return recolour @ hac_covariance(resid, kernel, bandwidth) @ recolour.T


def ledoit_wolf_test(returns_a: ArrayLike, returns_b: ArrayLike, kernel: str = "parzen",
                     prewhiten: bool = False,
                     bandwidth: float | None = None) -> SharpeDifferenceTest:
    """Ledoit & Wolf (2008) HAC test of equal Sharpe ratios of two paired series of shape (T,).

    Sharpe ratios are per period with the population deviation ``sqrt(E[r^2] - mu^2)``; the
    delta-method standard error uses a kernel estimate of the long-run covariance of
    ``(a - mu_a, b - mu_b, a^2 - g_a, b^2 - g_b)`` (:func:`hac_covariance`), optionally VAR(1)
    prewhitened. ``kernel`` is ``"parzen"`` (Ledoit-Wolf's code) or ``"qs"``.
    """
    a, b = _paired(returns_a, returns_b)
    mu = np.array([a.mean(), b.mean()])
    gam = np.array([np.mean(a**2), np.mean(b**2)])
    var_ = gam - mu**2
    if (var_ <= 0).any():
        return SharpeDifferenceTest(float("nan"), float("nan"), float("nan"))
    diff = float(mu[0] / np.sqrt(var_[0]) - mu[1] / np.sqrt(var_[1]))
    grad = np.array([gam[0] / var_[0] ** 1.5, -gam[1] / var_[1] ** 1.5,
                     -0.5 * mu[0] / var_[0] ** 1.5, 0.5 * mu[1] / var_[1] ** 1.5])
    v = np.column_stack([a - mu[0], b - mu[1], a**2 - gam[0], b**2 - gam[1]])
    psi = _prewhitened_hac(v, kernel, bandwidth) if prewhiten else hac_covariance(v, kernel,
                                                                                   bandwidth)
    se = float(np.sqrt(max(grad @ psi @ grad, 0.0) / a.size))
    return SharpeDifferenceTest(diff, se, _p_value(diff, se))


def jobson_korkie_memmel_test(returns_a: ArrayLike,
                              returns_b: ArrayLike) -> SharpeDifferenceTest:
    """Jobson & Korkie (1981) test of equal Sharpe ratios with Memmel's (2003) correction.

    ``z = (SR_a - SR_b) / sqrt(theta)``, ``theta = [2 (1 - rho) + (SR_a^2 + SR_b^2
    - 2 SR_a SR_b rho^2) / 2] / T`` with per-period Sharpes (``ddof=1``) and the correlation
    ``rho`` of the paired series of shape (T,). Assumes i.i.d. normal returns.
    """
    a, b = _paired(returns_a, returns_b)
    sa, sb = np.std(a, ddof=1), np.std(b, ddof=1)
    if sa == 0 or sb == 0:
        return SharpeDifferenceTest(float("nan"), float("nan"), float("nan"))
    sr_a, sr_b = a.mean() / sa, b.mean() / sb
    rho = float(np.corrcoef(a, b)[0, 1])
    theta = (2 * (1 - rho) + 0.5 * (sr_a**2 + sr_b**2 - 2 * sr_a * sr_b * rho**2)) / a.size
    diff = float(sr_a - sr_b)
    se = float(np.sqrt(max(theta, 0.0)))
    return SharpeDifferenceTest(diff, se, _p_value(diff, se))


class BacktestOverfitting(NamedTuple):
    """Outcome of CSCV: the PBO and the logit of every train/test split."""

    pbo: float
    logits: np.ndarray
    """Shape (C(S, S/2),): ``ln(w / (1 - w))`` of the in-sample winner's out-of-sample relative
    rank ``w``, one per combination of training blocks, in :func:`itertools.combinations` order."""
    n_partitions: int
    rows_used: int


def _per_period_sharpe(block: np.ndarray) -> np.ndarray:
    """Mean over sample deviation (``ddof=1``) of each column of a (T, N) block."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return block.mean(axis=0) / block.std(axis=0, ddof=1)


def probability_of_backtest_overfitting(
        returns: np.ndarray | pd.DataFrame, n_partitions: int = 16,
        metric: Callable[[np.ndarray], np.ndarray] | None = None) -> BacktestOverfitting:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation.

    Bailey, Borwein, López de Prado & Zhu (2014), "The probability of backtest overfitting":
    the rows of the (T, N) matrix of N candidates' returns are cut into ``S = n_partitions``
    contiguous blocks of ``T // S`` rows (the last ``T % S`` rows are left out). For each of
    the ``C(S, S/2)`` ways of choosing half the blocks as the training set ``J`` (the others,
    ``J'``, are the test set), the candidate with the best ``metric`` on ``J`` is picked and
    its relative rank on ``J'`` is ``w = rank / (N + 1)`` (rank 1 the worst, ties averaged);
    ``lambda = ln(w / (1 - w))``. The PBO is the share of splits with ``lambda <= 0``: the
    in-sample winner at or below the out-of-sample median.

    Parameters
    ----------
    returns : array or DataFrame of shape (T, N)
        Per-period returns of the N candidates (``N >= 2``) on the same T dates.
    n_partitions : int
        ``S``, even, ``>= 2``; each block needs at least 2 rows for the default metric.
    metric : callable, optional
        Maps a (t, N) block to N scores, higher better; default the per-period Sharpe ratio
        (mean over the ``ddof=1`` deviation). NaN scores rank lowest.

    Returns
    -------
    BacktestOverfitting
    """
    from itertools import combinations

    m = np.asarray(returns, dtype=float)
    if m.ndim != 2 or m.shape[1] < 2:
        raise DataError(f"PBO needs returns of shape (T, N) with N >= 2, got {m.shape}")
    if not np.isfinite(m).all():
        raise DataError("PBO returns contain NaN or infinite values")
    if n_partitions < 2 or n_partitions % 2:
        raise ConfigError(f"PBO partitions must be an even number >= 2, got {n_partitions}")
    score = _per_period_sharpe if metric is None else metric
    size = m.shape[0] // n_partitions
    if size < (2 if metric is None else 1):
        raise DataError(f"PBO: {m.shape[0]} periods are too few for {n_partitions} partitions")
    n = m.shape[1]
    blocks = m[:size * n_partitions].reshape(n_partitions, size, n)
    logits = []
    for train in combinations(range(n_partitions), n_partitions // 2):
        test = [b for b in range(n_partitions) if b not in train]
        in_sample = np.nan_to_num(score(blocks[list(train)].reshape(-1, n)), nan=-np.inf)
        out_sample = np.nan_to_num(score(blocks[test].reshape(-1, n)), nan=-np.inf)
        best = int(np.argmax(in_sample))
        w = float(stats.rankdata(out_sample)[best]) / (n + 1)
        logits.append(np.log(w / (1.0 - w)))
    lam = np.asarray(logits)
    return BacktestOverfitting(float(np.mean(lam <= 0)), lam, n_partitions,
                               size * n_partitions)


# ----------------------------------------------------------------------------- summaries
def _returns_of(x: BacktestResult | pd.Series) -> pd.Series:
    return x if isinstance(x, pd.Series) else x.returns


def _sharpe_tests(returns: pd.Series, reference: pd.Series, ppy: int,
                  rf: RiskFree) -> tuple[float, float]:
    """Ledoit-Wolf and JK-Memmel p-values on the dates both series share."""
    both = pd.concat([returns, reference], axis=1, join="inner").dropna()
    if len(both) < MIN_OBSERVATIONS_TEST:
        return float("nan"), float("nan")
    rates = rf.reindex(both.index).to_numpy(dtype=float) if isinstance(rf, pd.Series) else rf
    a = excess_returns(both.iloc[:, 0].to_numpy(), ppy, rates)
    b = excess_returns(both.iloc[:, 1].to_numpy(), ppy, rates)
    return ledoit_wolf_test(a, b).p_value, jobson_korkie_memmel_test(a, b).p_value


def summarize_returns(returns: pd.Series, periods_per_year: int, rf: RiskFree = 0.0,
                      n_trials: float = 1, trial_sharpes: ArrayLike | None = None,
                      reference: BacktestResult | pd.Series | None = None) -> dict[str, float]:
    """Return-based measures of a plain series (e.g. a benchmark), shape (n,).

    Weight and trading measures (turnover, cost drag, effective N, entropy) are NaN and
    ``investable`` is 1.0. See :func:`summarize` for the other arguments.
    """
    ppy = _check_ppy(periods_per_year)
    r = _as_returns(returns)
    series = returns if isinstance(returns, pd.Series) else pd.Series(r)
    if np.ndim(rf) and not isinstance(rf, pd.Series):
        # Per-period rates given as an array follow this series' dates.
        rf = pd.Series(per_period_rf(rf, ppy, r.size), index=series.index)
    ntr, tvar = _trials(n_trials, trial_sharpes)
    p_lw = p_jk = float("nan")
    if reference is not None:
        p_lw, p_jk = _sharpe_tests(series, _returns_of(reference), ppy, rf)
    nan = float("nan")
    return {
        "total_return": total_return(r),
        "cagr": cagr(r, ppy),
        "volatility": volatility(r, ppy),
        "sharpe": sharpe(series, ppy, rf),
        "sortino": sortino(series, ppy, rf),
        "max_drawdown": max_drawdown(r),
        "max_dd_duration": float(max_drawdown_duration(r)),
        "max_dd_days": max_drawdown_days(series),
        "calmar": calmar(r, ppy),
        "var_95": var(r, 0.95),
        "cvar_95": cvar(r, 0.95),
        "hit_rate": hit_rate(r),
        "turnover": nan,
        "cost_drag": nan,
        "effective_n": nan,
        "entropy": nan,
        "psr": probabilistic_sharpe_ratio(series, ppy, 0.0, rf),
        "dsr": deflated_sharpe_ratio(series, ppy, ntr, tvar, rf),
        "p_sharpe_vs_ref": p_lw,
        "p_jk_memmel": p_jk,
        "investable": 1.0,
    }


def _trials(n_trials: float, trial_sharpes: ArrayLike | None) -> tuple[float, float | None]:
    """Number of trials and the variance (ddof=1) of their annualised Sharpes.

    With ``trial_sharpes`` given and ``n_trials`` left at 1, the count is their number; a
    larger ``n_trials`` (e.g. an effective count) is kept.
    """
    if trial_sharpes is None:
        if n_trials > 1:
            raise ConfigError("n_trials > 1 needs trial_sharpes: their spread sets the deflation")
        return 1.0, None
    s = np.asarray(trial_sharpes, dtype=float)
    s = s[np.isfinite(s)]
    if s.size == 0:
        raise ConfigError("trial_sharpes has no finite value")
    count = float(n_trials) if n_trials > 1 else float(s.size)
    return count, float(np.var(s, ddof=1)) if s.size > 1 else 0.0


def summarize(result: BacktestResult, reference: BacktestResult | pd.Series | None = None,
              n_trials: float = 1, trial_sharpes: ArrayLike | None = None,
              rf: RiskFree = 0.0) -> dict[str, float]:
    """Every measure of one backtest, keyed as in :data:`METRIC_DESCRIPTIONS`.

    Parameters
    ----------
    result : BacktestResult
    reference : BacktestResult or pd.Series, optional
        Strategy the Sharpe-difference p-values are against, on the shared dates; without it
        they are NaN.
    n_trials : float
        Strategies tried before picking this one, for the DSR (see :func:`_trials`).
    trial_sharpes : array of shape (n_trials,), optional
        Their annualised Sharpe ratios (same ``rf``); their variance sets the deflation.
    rf : float or pd.Series
        Annual rate, or per-period rates indexed by date (see the module notes).

    Returns
    -------
    dict of str to float
        ``investable`` is 1.0 or 0.0.
    """
    ppy = result.periods_per_year
    out = summarize_returns(result.returns, ppy, rf, n_trials, trial_sharpes, reference)
    holdings = result.holdings
    out.update({
        "turnover": annual_turnover(result.turnover, len(result.returns), ppy),
        "cost_drag": cost_drag(result.gross_returns, result.returns, ppy),
        "effective_n": effective_n(holdings),
        "entropy": weight_entropy(holdings),
        "investable": float(bool(result.investable)),
    })
    return out


def metrics_table(results: Sequence[BacktestResult], reference: str | None = "equal-weight",
                  benchmark: pd.Series | None = None, n_trials: float | None = None,
                  trial_sharpes: ArrayLike | None = None, rf: RiskFree = 0.0) -> pd.DataFrame:
    """One row per strategy (then ``benchmark``), columns in :data:`METRIC_DESCRIPTIONS` order.

    Parameters
    ----------
    results : list of BacktestResult
    reference : str, optional
        Name of the result the Sharpe-difference p-values are against (its own are NaN).
        None leaves every p-value NaN.
    benchmark : pd.Series, optional
        Plain returns (e.g. an index) added as a row named ``benchmark``; weight measures NaN.
        Restricted to the results' out-of-sample dates, NaNs dropped; periods per year are
        those of the first result.
    n_trials, trial_sharpes : optional
        For the DSR. By default the trials are the investable strategies in the table: their
        count and the variance of their Sharpes. Pass ``n_trials=1`` for DSR = PSR.
    rf : float or pd.Series

    Returns
    -------
    pd.DataFrame of shape (n_rows, n_metrics + 1)
        First column ``strategy``; ``investable`` is bool.
    """
    if not results:
        raise ConfigError("no backtest results to tabulate")
    names = [r.name for r in results]
    if len({r.periods_per_year for r in results}) > 1:
        raise ConfigError("results to tabulate have different periods_per_year")
    if len(set(names)) != len(names):
        raise ConfigError(f"duplicate strategy names in the table: {names}")
    ref = None
    if reference is not None:
        if reference not in names:
            raise ConfigError(f"reference strategy {reference!r} is not among {names}")
        ref = results[names.index(reference)]
    if trial_sharpes is None and (n_trials is None or n_trials > 1):
        found = [sharpe(r.returns, r.periods_per_year, rf) for r in results if r.investable]
        trial_sharpes = found if np.isfinite(found).any() else None
    n_trials = 1 if n_trials is None else n_trials
    rows = []
    for res in results:
        row = summarize(res, None if res is ref else ref, n_trials, trial_sharpes, rf)
        rows.append({"strategy": res.name, **row})
    if benchmark is not None:
        # Judge the benchmark on the strategies' out-of-sample dates only.
        dates = results[0].returns.index
        for res in results[1:]:
            dates = dates.union(res.returns.index)
        bench = benchmark[benchmark.index.isin(dates)].dropna()
        row = summarize_returns(bench, results[0].periods_per_year, rf, n_trials,
                                trial_sharpes, ref)
        rows.append({"strategy": "benchmark", **row})
    table = pd.DataFrame(rows, columns=list(METRIC_DESCRIPTIONS))
    table["investable"] = table["investable"].astype(bool)
    return table


__all__ = [
    "METRIC_DESCRIPTIONS",
    "BacktestOverfitting",
    "SharpeDifferenceTest",
    "andrews_alpha",
    "annual_turnover",
    "cagr",
    "calmar",
    "cost_drag",
    "cvar",
    "deflated_sharpe_ratio",
    "drawdown",
    "effective_n",
    "effective_n_series",
    "excess_returns",
    "expected_max_sharpe",
    "hac_covariance",
    "hit_rate",
    "jobson_korkie_memmel_test",
    "ledoit_wolf_test",
    "max_drawdown",
    "max_drawdown_days",
    "max_drawdown_duration",
    "metrics_table",
    "parzen_kernel",
    "per_period_rf",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "quadratic_spectral_kernel",
    "sharpe",
    "sortino",
    "summarize",
    "summarize_returns",
    "total_return",
    "var",
    "volatility",
    "weight_entropy",
]
