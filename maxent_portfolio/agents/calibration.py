"""The diversification dial's calibration: the symmetric reference families it is set on.

The dial maps a ``diversification`` fraction in (0, 1] to an entropy target through a symmetric
member of the policy head's own family whose samples hold, on average, ``N_target`` effective
assets (:func:`maxent_portfolio.agents.distributions.target_entropy` gives the whole mapping).
This module holds the numbers of those members:

* Dirichlet: ``Dirichlet(c 1_K)``, closed forms - :func:`dirichlet_dial_concentration` (the
  ``c`` of a setting), :func:`dirichlet_entropy`, :func:`symmetric_dirichlet_effective_n`;
* logistic-normal: ``softmax([sigma eps, 0])``, by deterministic quadrature -
  :func:`logistic_normal_reference`, :func:`logistic_normal_peak`,
  :func:`logistic_normal_target`;
* with a reference policy, the KL budget of a setting: :func:`symmetric_dirichlet_kl`,
  :func:`reference_kl_budget`.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from maxent_portfolio.errors import ConfigError


def check_dial(k: int, diversification: float) -> None:
    """Refuse a diversification outside (0, 1] or a simplex of fewer than 2 components."""
    if not 0.0 < diversification <= 1.0 or not math.isfinite(diversification):
        raise ConfigError(f"diversification must be in (0, 1], got {diversification}")
    if k < 2:
        raise ConfigError(f"a simplex policy needs at least 2 components, got {k}")


def dirichlet_dial_concentration(k: int, diversification: float) -> float:
    """The ``c`` of the Dirichlet dial's member ``Dirichlet(c 1_K)`` at ``diversification``.

    ``N_target = 1 + diversification ((K + 1) / 2 - 1)`` and ``c = (N_target - 1) / (K -
    N_target)``, capped at 1 (the uniform Dirichlet); see :func:`symmetric_dirichlet_effective_n`.
    """
    n_target = 1.0 + diversification * ((k + 1) / 2 - 1.0)
    return min((n_target - 1.0) / (k - n_target), 1.0)


def dirichlet_entropy(k: int, c: float) -> float:
    """Entropy of the symmetric ``Dirichlet(c, ..., c)`` on the K-simplex (closed form)."""
    return float(torch.distributions.Dirichlet(torch.full((k,), float(c), dtype=torch.float64))
                 .entropy())


def symmetric_dirichlet_effective_n(k: int, c: float) -> float:
    """``1 / E[sum w_i^2]`` for ``w ~ Dirichlet(c 1_K)``: ``(K c + 1) / (c + 1)``."""
    return (k * c + 1.0) / (c + 1.0)


_LN_DU = 0.1
"""Step of the ``log t`` grid of the logistic-normal quadrature (trapezoid error ~ e^(-pi^2/du))."""
_LN_EPS_MAX = 10.0
"""Standard normal truncated at +-10 (outside mass 1.5e-23)."""


def _lognormal_laplace(sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Laplace-transform integrals of ``X = e^(sigma eps)``, ``eps ~ N(0, 1)``, on a log-t grid.

    On ``u = log t`` (step ``du``) returns ``u``, ``log L(t)`` with ``L(t) = E[exp(-t X)]``,
    and ``t^2 E[X^2 exp(-t X)]``. Each is a convolution in ``u`` of a fixed function of
    ``y = u + sigma eps`` with the normal density, evaluated by the trapezoid rule on the
    lattice ``eps = n du / sigma`` (so ``y`` stays on the grid) with an FFT; the integrands are
    entire, so the rule converges geometrically.
    """
    du = min(_LN_DU, 0.5 * sigma)
    h = du / sigma
    n_eps = math.ceil(_LN_EPS_MAX / h)
    eps = np.arange(-n_eps, n_eps + 1) * h
    weights = np.exp(-0.5 * eps * eps) * (h / math.sqrt(2.0 * math.pi))
    n_low = math.ceil((_LN_EPS_MAX * sigma + 45.0) / du)  # below: 1 - L < 1e-19
    u = (np.arange(n_low + math.ceil(5.0 / du) + 1) - n_low) * du  # above: e^-t < e^-148
    y = (np.arange(len(u) + 2 * n_eps) - n_low - n_eps) * du
    with np.errstate(over="ignore"):
        x = np.exp(y)
        integrands = np.stack([-np.expm1(-x), np.exp(-x), np.exp(2.0 * y - x)])
    n_fft = len(y) + len(weights) - 1
    full = np.fft.irfft(np.fft.rfft(integrands, n_fft) * np.fft.rfft(weights, n_fft), n_fft)
    one_minus_l, laplace, second = full[:, 2 * n_eps:2 * n_eps + len(u)]  # the "valid" part
    log_l = np.where(one_minus_l < 0.5, np.log1p(-np.clip(one_minus_l, 0.0, 0.5)),
                     np.log(np.clip(laplace, 1e-300, None)))
    return u, log_l, np.clip(second, 0.0, None)


@lru_cache(maxsize=4096)
def logistic_normal_reference(k: int, sigma: float) -> tuple[float, float]:
    """Entropy and ``N_eff = 1 / E[sum w^2]`` of ``w = softmax([sigma eps, 0])`` on the K-simplex.

    With ``S = sum_j exp(sigma eps_j)`` over the ``K - 1`` free logits, the entropy is
    ``(K - 1) (ln sigma + ln(2 pi e) / 2) - K E[ln(1 + S)]`` and ``sum w^2 = (1 + sum_j
    e^(2 z_j)) / (1 + S)^2``. Frullani's ``ln(1 + S) = int_0^inf (e^-t - e^-t(1+S)) dt / t`` and
    ``(1 + S)^-2 = int_0^inf t e^-t(1+S) dt`` turn both (K-1)-dimensional expectations into
    integrals over ``t`` of powers of the one-dimensional Laplace transform of a lognormal
    (:func:`_lognormal_laplace`): deterministic, accurate to ~1e-9, and no costlier for large K.
    """
    u, log_l, second = _lognormal_laplace(sigma)
    du = float(u[1] - u[0])
    t = np.exp(u)
    e_log_1p_s = du * float((np.exp(-t) * -np.expm1((k - 1) * log_l)).sum())
    e_sum_sq = du * float((np.exp(-t) * (t * t * np.exp((k - 1) * log_l)
                                         + (k - 1) * second * np.exp((k - 2) * log_l))).sum())
    entropy = (k - 1) * (math.log(sigma) + 0.5 * math.log(2 * math.pi * math.e)) - k * e_log_1p_s
    return entropy, 1.0 / e_sum_sq


@lru_cache(maxsize=64)
def logistic_normal_peak(k: int) -> tuple[float, float, float]:
    """``(sigma_peak, entropy, N_eff)`` of the most entropic ``softmax([sigma eps, 0])``.

    A grid over ``sigma`` in [0.05, 10] then a bounded Brent search around its best point. The
    entropy returned is that of the member ``sigma_peak`` itself (never a noisy maximum), so it
    is at most the family's true maximum, up to the quadrature's ~1e-9.
    """
    from scipy.optimize import minimize_scalar

    def neg_entropy(log_sigma: float) -> float:
        return -logistic_normal_reference(k, math.exp(log_sigma))[0]

    grid = np.linspace(math.log(0.05), math.log(10.0), 36)
    best = int(np.argmin([neg_entropy(float(v)) for v in grid]))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    found = minimize_scalar(neg_entropy, bounds=(float(lo), float(hi)), method="bounded",
                            options={"xatol": 1e-6})
    sigma = math.exp(float(found.x))
    return (sigma, *logistic_normal_reference(k, sigma))


@lru_cache(maxsize=1024)
def logistic_normal_target(k: int, diversification: float) -> float:
    """The logistic-normal dial: entropy of the reference with ``N_eff = N_target``."""
    from scipy.optimize import brentq

    sigma_peak, entropy_peak, neff_peak = logistic_normal_peak(k)
    if diversification == 1.0:
        return entropy_peak
    n_target = 1.0 + diversification * (neff_peak - 1.0)
    lo = math.log(sigma_peak)
    hi = lo + math.log(2.0)
    while logistic_normal_reference(k, math.exp(hi))[1] > n_target:  # N_eff falls with sigma
        lo, hi = hi, hi + math.log(2.0)
    log_sigma = brentq(lambda v: logistic_normal_reference(k, math.exp(v))[1] - n_target,
                       lo, hi, xtol=1e-10)
    return logistic_normal_reference(k, math.exp(log_sigma))[0]


def symmetric_dirichlet_kl(k: int, a: float, b: float) -> float:
    """``KL(Dirichlet(a 1_K) || Dirichlet(b 1_K))`` in nats, closed form."""
    from scipy.special import digamma

    return float(math.lgamma(k * a) - k * math.lgamma(a) - math.lgamma(k * b)
                 + k * math.lgamma(b) + k * (a - b) * (digamma(a) - digamma(k * a)))


def reference_kl_budget(k: int, diversification: float, concentration: float) -> float:
    """The dial with a reference policy: how far (in KL) the policy may move from it.

    The budget is ``KL(Dirichlet(c_d 1_K) || Dirichlet(c 1_K))`` where ``Dirichlet(c_d 1_K)`` is
    the Dirichlet dial's symmetric member at ``diversification``
    (:func:`dirichlet_dial_concentration`, :meth:`.distributions.DirichletHead.target_entropy`):
    a lower setting allows a policy as far from the reference as a more concentrated member is.
    The Dirichlet head holds that member, so the budget is reachable.
    """
    check_dial(k, diversification)
    return symmetric_dirichlet_kl(k, dirichlet_dial_concentration(k, diversification),
                                  concentration)


__all__ = ["check_dial", "dirichlet_dial_concentration", "dirichlet_entropy",
           "logistic_normal_peak", "logistic_normal_reference", "logistic_normal_target",
           "reference_kl_budget", "symmetric_dirichlet_effective_n", "symmetric_dirichlet_kl"]
