"""Per-asset features known at the close of ``t`` and the flat observation built from them.

Every feature of date ``t`` is a function of the ``lookback`` simple returns of rows
``t - lookback + 1 .. t`` only (nothing before the window, nothing after ``t``), so

* the environments precompute the whole ``(T, N, F)`` tensor once with :func:`compute_features`
  and a step is an O(N F) lookup, and
* a strategy holding only the trailing history can rebuild the same observation with
  :func:`latest_observation` (equal to float32 rounding).

Let ``x = log(1 + r)`` be the log returns of one asset, ``L`` the lookback and
``s_L = std(x over the L-window)`` (ddof 1, floored at ``1e-8``). The features, in order:

============ ================================================================== ==========
name         definition at the close of ``t``                                   clipped to
============ ================================================================== ==========
``ret_1``    last log return in lookback-vol units: ``x_t / s_L``               [-10, 10]
``mom_5``    momentum ``sum(x over h) / (s_L sqrt(h))``, ``h = min(5, L)``      [-10, 10]
``mom_20``   the same with ``h = min(20, L)``                                   [-10, 10]
``mom_60``   the same with ``h = min(60, L)``                                   [-10, 10]
``vol_20``   annualised volatility ``std(x over h) sqrt(periods_per_year)``,    [0, 10]
             ``h = max(2, min(20, L))``
``vol_60``   the same with ``h = max(2, min(60, L))``                           [0, 10]
``drawdown`` ``log p_t - max log p`` over the window's ``L + 1`` closes         [-10, 0]
             (from ``t - L`` to ``t``)
============ ================================================================== ==========
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from maxent_portfolio.errors import ConfigError, DataError

FEATURE_NAMES: tuple[str, ...] = (
    "ret_1", "mom_5", "mom_20", "mom_60", "vol_20", "vol_60", "drawdown")
"""Names of the per-asset features, in their order along the last axis."""

FEATURE_LOW = np.array([-10.0, -10.0, -10.0, -10.0, 0.0, 0.0, -10.0], dtype=np.float32)
"""Lower clip bound of each feature, shape (F,)."""

FEATURE_HIGH = np.array([10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 0.0], dtype=np.float32)
"""Upper clip bound of each feature, shape (F,)."""

N_FEATURES = len(FEATURE_NAMES)
_MOMENTUM = (5, 20, 60)
_VOLATILITY = (20, 60)
_MIN_STD = 1e-8


def _window_sum(cum: np.ndarray, h: int) -> np.ndarray:
    """Trailing ``h``-row sums from a cumulative sum with a leading zero row.

    Parameters
    ----------
    cum : ndarray of shape (T + 1, N)
        ``cum[k]`` is the sum of rows ``0 .. k - 1``.
    h : int

    Returns
    -------
    ndarray of shape (T, N)
        Row ``t`` is the sum of rows ``t - h + 1 .. t``; NaN for ``t < h - 1``.
    """
    out = np.full((cum.shape[0] - 1, cum.shape[1]), np.nan)
    out[h - 1:] = cum[h:] - cum[:-h]
    return out


def _window_std(cum: np.ndarray, cum_sq: np.ndarray, h: int) -> np.ndarray:
    """Trailing ``h``-row standard deviation (ddof 1), shape (T, N); NaN for ``t < h - 1``."""
    total = _window_sum(cum, h)
    total_sq = _window_sum(cum_sq, h)
    var = (total_sq - total * total / h) / (h - 1)
    return np.sqrt(np.maximum(var, 0.0))


def compute_features(returns: np.ndarray, lookback: int = 60,
                     periods_per_year: int = 252) -> np.ndarray:
    """The feature tensor of every date, see the module docstring.

    Parameters
    ----------
    returns : ndarray of shape (T, N)
        Simple returns; row ``t`` is earned from ``t - 1`` to ``t``. Must be finite and > -1.
    lookback : int
        Window ``L`` (>= 2) every feature of ``t`` is computed from.
    periods_per_year : int
        For annualising the volatilities.

    Returns
    -------
    ndarray of shape (T, N, F), float32
        ``features[t, i]`` for asset ``i`` at the close of ``t``, clipped to
        ``[FEATURE_LOW, FEATURE_HIGH]``. Rows ``t < lookback - 1`` (too little history) are NaN.
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 2:
        raise DataError(f"returns must be a 2-d table (dates x assets), got shape {r.shape}")
    if isinstance(lookback, bool) or not isinstance(lookback, int | np.integer) or lookback < 2:
        raise ConfigError(f"lookback must be an integer >= 2, got {lookback!r}")
    if not np.isfinite(r).all() or (r <= -1.0).any():
        raise DataError("returns must be finite and greater than -100%")
    n_obs, n_assets = r.shape
    x = np.log1p(r)
    cum = np.zeros((n_obs + 1, n_assets))
    np.cumsum(x, axis=0, out=cum[1:])
    cum_sq = np.zeros((n_obs + 1, n_assets))
    np.cumsum(x * x, axis=0, out=cum_sq[1:])

    out = np.full((n_obs, n_assets, N_FEATURES), np.nan)
    if n_obs < lookback:
        return out.astype(np.float32)
    scale = np.maximum(_window_std(cum, cum_sq, lookback), _MIN_STD)
    out[..., 0] = x / scale
    for k, h in enumerate(_MOMENTUM, start=1):
        h = min(h, lookback)
        out[..., k] = _window_sum(cum, h) / (scale * np.sqrt(h))
    for k, h in enumerate(_VOLATILITY, start=1 + len(_MOMENTUM)):
        h = max(2, min(h, lookback))
        out[..., k] = _window_std(cum, cum_sq, h) * np.sqrt(periods_per_year)
    # Log prices cum[t - L + 1 .. t + 1] are the L + 1 closes of the window ending at t.
    peak = sliding_window_view(cum, lookback + 1, axis=0).max(axis=-1)  # (T - L + 1, N)
    out[lookback - 1:, :, -1] = cum[lookback:] - peak
    out[: lookback - 1] = np.nan
    np.clip(out, FEATURE_LOW, FEATURE_HIGH, out=out)
    return out.astype(np.float32)


def observation(features: np.ndarray, t: int, weights: np.ndarray,
                out: np.ndarray | None = None) -> np.ndarray:
    """The flat observation at the close of ``t``.

    Parameters
    ----------
    features : ndarray of shape (T, N, F)
        From :func:`compute_features`.
    t : int
        Date position, ``lookback - 1 <= t < T``.
    weights : ndarray of shape (N + 1,)
        Current (drifted) weights, cash last.
    out : ndarray of shape (N * F + N + 1,), optional
        Written in place and returned.

    Returns
    -------
    ndarray of shape (N * F + N + 1,), float32
        ``features[t]`` flattened asset-major, then ``weights`` clipped to [0, 1].
    """
    n_assets, n_features = features.shape[1:]
    size = n_assets * n_features
    if out is None:
        out = np.empty(size + n_assets + 1, dtype=np.float32)
    out[:size] = features[t].reshape(size)
    np.clip(weights, 0.0, 1.0, out=out[size:], casting="unsafe")
    return out


def observation_batch(features: np.ndarray, t: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """:func:`observation` for a batch of dates.

    Parameters
    ----------
    features : ndarray of shape (T, N, F)
    t : ndarray of shape (B,), int
        Valid positions (not checked).
    weights : ndarray of shape (B, N + 1)
        In [0, 1], as drifted long-only weights are (not clipped, unlike :func:`observation`).

    Returns
    -------
    ndarray of shape (B, N * F + N + 1), float32
    """
    n_assets, n_features = features.shape[1:]
    size = n_assets * n_features
    rows = np.take(features.reshape(features.shape[0], size), t, axis=0)
    # One call: gathered rows and weights, cast to float32 on the way. Drifted weights of a
    # long-only book already lie in [0, 1], so they are not clipped.
    return np.concatenate((rows, weights), axis=1, dtype=np.float32)


def observation_bounds(n_assets: int) -> tuple[np.ndarray, np.ndarray]:
    """Finite ``(low, high)`` of the observation, each of shape (N * F + N + 1,), float32."""
    low = np.concatenate([np.tile(FEATURE_LOW, n_assets), np.zeros(n_assets + 1, np.float32)])
    high = np.concatenate([np.tile(FEATURE_HIGH, n_assets), np.ones(n_assets + 1, np.float32)])
    return low, high


def latest_observation(history: np.ndarray, weights: np.ndarray, lookback: int = 60,
                       periods_per_year: int = 252) -> np.ndarray:
    """The observation at the last row of ``history``: what a backtest strategy adapter needs.

    Only the trailing ``lookback`` rows are read, so this costs O(lookback N F) whatever the
    history length, and equals the environment's observation at that date up to float32
    rounding.

    Parameters
    ----------
    history : ndarray of shape (t + 1, N)
        Simple returns up to and including the decision date.
    weights : ndarray of shape (N + 1,)
        Current (drifted) weights, cash last.
    lookback, periods_per_year : int
        As the environment was built with.

    Returns
    -------
    ndarray of shape (N * F + N + 1,), float32
    """
    history = np.asarray(history, dtype=np.float64)
    if history.ndim != 2 or len(history) < lookback:
        raise DataError(f"need at least lookback={lookback} rows of returns for an observation, "
                        f"got shape {history.shape}")
    window = history[-lookback:]
    return observation(compute_features(window, lookback, periods_per_year), lookback - 1,
                       np.asarray(weights, dtype=np.float64))


__all__ = ["FEATURE_HIGH", "FEATURE_LOW", "FEATURE_NAMES", "N_FEATURES", "compute_features",
           "latest_observation", "observation", "observation_batch", "observation_bounds"]
