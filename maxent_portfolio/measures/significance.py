"""Significance of Sharpe ratios: PSR and DSR, tests of equal Sharpe ratios (Ledoit-Wolf HAC,
Jobson-Korkie-Memmel) and the probability of backtest overfitting (CSCV).

Tests are on **per-period** Sharpe ratios; ``trial_sharpes`` and ``benchmark_sharpe`` are
**annualised** (as :func:`maxent_portfolio.measures.returns.sharpe` returns) and converted by
``/ sqrt(P)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats
from skfolio.measures import expected_max_sharpe_ratio
from skfolio.measures import probabilistic_sharpe_ratio as _sk_psr

from maxent_portfolio.errors import ConfigError, DataError
from maxent_portfolio.measures.inputs import (
    ArrayLike,
    RiskFree,
    as_returns,
    check_periods_per_year,
    excess_returns,
)


def probabilistic_sharpe_ratio(returns: ArrayLike, periods_per_year: int,
                               benchmark_sharpe: float = 0.0, rf: RiskFree = 0.0) -> float:
    """Probabilistic Sharpe ratio (Bailey & López de Prado, 2012).

    ``Z[(SR - SR*) sqrt(n - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2)]`` on per-period excess
    returns of shape (n,): ``SR`` uses ``ddof=1``, ``g3``/``g4`` are the population skewness
    and (raw, not excess) kurtosis. Delegates to ``skfolio.measures``. ``benchmark_sharpe``
    is annualised. NaN with fewer than 3 periods or no dispersion.
    """
    p = check_periods_per_year(periods_per_year)
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
    p = check_periods_per_year(periods_per_year)
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
    x, y = as_returns(a, "returns_a"), as_returns(b, "returns_b")
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


def placebo_percentile(value: float, placebos: ArrayLike) -> float:
    """Percentile of ``value`` among placebo draws: ``100 (#below + #equal / 2) / n``.

    The mid-rank convention: a value above every placebo is 100, below every one 0, and a
    value equal to all of them (to a relative 1e-9) 50. Non-finite placebos are dropped first.

    Parameters
    ----------
    value : float
        The statistic of the strategy (e.g. its annualised Sharpe ratio).
    placebos : array of shape (n,)
        The same statistic of each placebo.

    Returns
    -------
    float
        In [0, 100]; NaN if ``value`` is not finite or no placebo is.
    """
    draws = np.asarray(placebos, dtype=float).ravel()
    draws = draws[np.isfinite(draws)]
    if not np.isfinite(value) or draws.size == 0:
        return float("nan")
    # Equal to rounding: a shuffle of 1/N is 1/N, and its Sharpe differs in the last bits only.
    equal = np.isclose(draws, value, rtol=1e-9, atol=1e-12)
    below = np.count_nonzero((draws < value) & ~equal)
    return float(100.0 * (below + 0.5 * np.count_nonzero(equal)) / draws.size)


__all__ = ["BacktestOverfitting", "SharpeDifferenceTest", "andrews_alpha",
           "deflated_sharpe_ratio", "expected_max_sharpe", "hac_covariance",
           "jobson_korkie_memmel_test", "ledoit_wolf_test", "parzen_kernel",
           "placebo_percentile", "probabilistic_sharpe_ratio",
           "probability_of_backtest_overfitting", "quadratic_spectral_kernel"]
