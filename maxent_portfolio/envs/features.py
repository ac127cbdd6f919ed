"""Features known at the close of ``t`` and the flat observation built from them.

Every feature of date ``t`` is a function of the ``lookback`` simple returns of rows
``t - lookback + 1 .. t`` only (nothing before the window, nothing after ``t``), so

* the environments precompute the whole ``(T, N, F)`` tensor once with :func:`compute_features`
  and a step is an O(N F) lookup, and
* a strategy holding only the trailing history can rebuild the same observation with
  :func:`latest_observation` (equal to float32 rounding).

The features come in groups, chosen by the ``features`` option (``env.features``, a comma list,
default ``base``) and laid out along the last axis in the canonical order base, ranks, context,
whatever order the list names them in. A context feature is the same for every asset; it is
repeated in each asset's row, so that a per-asset encoder sees it in every token.

Let ``x = log(1 + r)`` be the log returns of one asset, ``L`` the lookback and
``s_L = std(x over the L-window)`` (ddof 1, floored at ``1e-8``).

================ ============================================================== ==========
name             definition at the close of ``t``                               clipped to
================ ============================================================== ==========
**base**
``ret_1``        last log return in lookback-vol units: ``x_t / s_L``           [-10, 10]
``mom_5``        momentum ``sum(x over h) / (s_L sqrt(h))``, ``h = min(5, L)``  [-10, 10]
``mom_20``       the same with ``h = min(20, L)``                               [-10, 10]
``mom_60``       the same with ``h = min(60, L)``                               [-10, 10]
``vol_20``       annualised volatility ``std(x over h) sqrt(periods_per_year)``, [0, 10]
                 ``h = max(2, min(20, L))``
``vol_60``       the same with ``h = max(2, min(60, L))``                       [0, 10]
``drawdown``     ``log p_t - max log p`` over the window's ``L + 1`` closes     [-10, 0]
                 (from ``t - L`` to ``t``)
**ranks**        cross-sectional, among the N assets at ``t``: rank ``k`` in
                 ``1 .. N`` (ties averaged) scaled to ``2 (k - 1) / (N - 1) - 1``
                 (0 when N = 1), of the clipped base feature
``rank_mom_20``  rank of ``mom_20``                                             [-1, 1]
``rank_mom_60``  rank of ``mom_60``                                             [-1, 1]
``rank_vol_60``  rank of ``vol_60``                                             [-1, 1]
**context**      the equal-weight market rebalanced every period: log return
                 ``y = log(1 + mean_i r_i)``, ``u_L`` its std over the L-window
                 (floored at ``1e-8``); the same value for every asset
``mkt_mom_60``   ``sum(y over h) / (u_L sqrt(h))``, ``h = min(60, L)``          [-10, 10]
``mkt_vol_20``   ``std(y over h) sqrt(periods_per_year)``,                      [0, 10]
                 ``h = max(2, min(20, L))``
``avg_corr``     mean over asset pairs ``i < j`` of the correlation of ``x_i``  [-1, 1]
                 and ``x_j`` over the L-window (0 when N = 1)
================ ============================================================== ==========
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from maxent_portfolio.errors import ConfigError, DataError

FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "base": ("ret_1", "mom_5", "mom_20", "mom_60", "vol_20", "vol_60", "drawdown"),
    "ranks": ("rank_mom_20", "rank_mom_60", "rank_vol_60"),
    "context": ("mkt_mom_60", "mkt_vol_20", "avg_corr"),
}
"""Names of the features of each group, in their canonical order (the order of the groups)."""

_GROUP_BOUNDS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "base": ((-10.0, -10.0, -10.0, -10.0, 0.0, 0.0, -10.0),
             (10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 0.0)),
    "ranks": ((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0)),
    "context": ((-10.0, 0.0, -1.0), (10.0, 10.0, 1.0)),
}

DEFAULT_FEATURES = "base"
"""The feature groups of the default observation."""

FEATURE_NAMES: tuple[str, ...] = FEATURE_GROUPS["base"]
"""Names of the ``base`` per-asset features, in their order along the last axis."""

FEATURE_LOW = np.array(_GROUP_BOUNDS["base"][0], dtype=np.float32)
"""Lower clip bound of each ``base`` feature, shape (7,)."""

FEATURE_HIGH = np.array(_GROUP_BOUNDS["base"][1], dtype=np.float32)
"""Upper clip bound of each ``base`` feature, shape (7,)."""

N_FEATURES = len(FEATURE_NAMES)
_MOMENTUM = (5, 20, 60)
_VOLATILITY = (20, 60)
_RANKED = ("mom_20", "mom_60", "vol_60")
_MIN_STD = 1e-8
_BLOCK = 1 << 22  # elements of the windows read per block of dates


def feature_groups(features: str | Iterable[str] = DEFAULT_FEATURES) -> tuple[str, ...]:
    """The groups a ``features`` value names, de-duplicated, in canonical order.

    Parameters
    ----------
    features : str or iterable of str
        A comma list such as ``"context,base"`` (spaces around names are ignored), or the names.

    Returns
    -------
    tuple of str
        The named groups in the order of :data:`FEATURE_GROUPS` (``("base", "context")``).

    Raises
    ------
    ConfigError
        When no group or an unknown one is named.
    """
    names = [str(name).strip() for name in
             (features.split(",") if isinstance(features, str) else features)]
    valid = ", ".join(FEATURE_GROUPS)
    for name in names:
        if name not in FEATURE_GROUPS:
            raise ConfigError(f"unknown feature group {name!r}: use a comma list of {valid}")
    if not names:
        raise ConfigError(f"no feature group given: use a comma list of {valid}")
    return tuple(group for group in FEATURE_GROUPS if group in names)


def feature_names(features: str | Iterable[str] = DEFAULT_FEATURES) -> tuple[str, ...]:
    """Names of the features of ``features`` (see :func:`feature_groups`), in tensor order."""
    return tuple(name for group in feature_groups(features) for name in FEATURE_GROUPS[group])


def feature_bounds(features: str | Iterable[str] = DEFAULT_FEATURES
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Clip bounds ``(low, high)`` of the features of ``features``, each of shape (F,), float32."""
    groups = feature_groups(features)
    low = np.concatenate([_GROUP_BOUNDS[g][0] for g in groups]).astype(np.float32)
    high = np.concatenate([_GROUP_BOUNDS[g][1] for g in groups]).astype(np.float32)
    return low, high


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


def _cumulative(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative sums of ``x`` (T, N) and of its squares, each (T + 1, N) with a zero row."""
    cum = np.zeros((x.shape[0] + 1, x.shape[1]))
    np.cumsum(x, axis=0, out=cum[1:])
    cum_sq = np.zeros_like(cum)
    np.cumsum(x * x, axis=0, out=cum_sq[1:])
    return cum, cum_sq


def _momentum_and_vol(x: np.ndarray, lookback: int, periods_per_year: int,
                      momentum: tuple[int, ...], volatility: tuple[int, ...]
                      ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Lookback-vol-scaled last return, momenta and annualised vols of the columns of ``x``.

    Returns ``x_t / s_L`` and lists of (T, N) arrays, unclipped, NaN before a full window.
    """
    cum, cum_sq = _cumulative(x)
    scale = np.maximum(_window_std(cum, cum_sq, lookback), _MIN_STD)
    moms = []
    for h in momentum:
        h = min(h, lookback)
        moms.append(_window_sum(cum, h) / (scale * np.sqrt(h)))
    vols = []
    for h in volatility:
        h = max(2, min(h, lookback))
        vols.append(_window_std(cum, cum_sq, h) * np.sqrt(periods_per_year))
    return x / scale, moms, vols


def _base_features(x: np.ndarray, lookback: int, periods_per_year: int) -> np.ndarray:
    """The ``base`` group of log returns ``x`` (T, N): (T, N, 7) float64, clipped."""
    n_obs, n_assets = x.shape
    out = np.full((n_obs, n_assets, N_FEATURES), np.nan)
    last, moms, vols = _momentum_and_vol(x, lookback, periods_per_year, _MOMENTUM, _VOLATILITY)
    out[..., 0] = last
    for k, value in enumerate([*moms, *vols], start=1):
        out[..., k] = value
    # Log prices cum[t - L + 1 .. t + 1] are the L + 1 closes of the window ending at t.
    cum = np.zeros((n_obs + 1, n_assets))
    np.cumsum(x, axis=0, out=cum[1:])
    peak = sliding_window_view(cum, lookback + 1, axis=0).max(axis=-1)  # (T - L + 1, N)
    out[lookback - 1:, :, -1] = cum[lookback:] - peak
    out[: lookback - 1] = np.nan
    np.clip(out, FEATURE_LOW, FEATURE_HIGH, out=out)
    return out


def last_base_features(x: np.ndarray, periods_per_year: int) -> np.ndarray:
    """The ``base`` group at the last row of a window of exactly ``lookback`` log returns
    ``x`` (L, N): (N, 7) float64, clipped; :func:`_base_features`' last row, bit for bit (the
    same sums of the same cumulative sums), without the rows before it."""
    lookback = len(x)
    cum, cum_sq = _cumulative(x)  # (L + 1, N)

    def window_sum(c: np.ndarray, h: int) -> np.ndarray:
        return c[lookback] - c[lookback - h]

    def window_std(h: int) -> np.ndarray:
        total, total_sq = window_sum(cum, h), window_sum(cum_sq, h)
        return np.sqrt(np.maximum((total_sq - total * total / h) / (h - 1), 0.0))

    scale = np.maximum(window_std(lookback), _MIN_STD)
    moms = [window_sum(cum, min(h, lookback)) / (scale * np.sqrt(min(h, lookback)))
            for h in _MOMENTUM]
    vols = [window_std(max(2, min(h, lookback))) * np.sqrt(periods_per_year)
            for h in _VOLATILITY]
    out = np.stack([x[-1] / scale, *moms, *vols, cum[lookback] - cum.max(axis=0)], axis=-1)
    return np.clip(out, FEATURE_LOW, FEATURE_HIGH)


def cross_sectional_rank(values: np.ndarray) -> np.ndarray:
    """Ranks among the assets scaled to [-1, 1]: lowest -1, highest 1, ties averaged.

    Parameters
    ----------
    values : ndarray of shape (T, N, K)
        Finite values; rows are ranked independently along axis 1.

    Returns
    -------
    ndarray of shape (T, N, K)
        ``2 (k - 1) / (N - 1) - 1`` for rank ``k`` in ``1 .. N``; 0 when N = 1.
    """
    n_assets = values.shape[1]
    if n_assets == 1:
        return np.zeros_like(values, dtype=np.float64)
    from scipy.stats import rankdata  # on use: scipy.stats costs a second of start-up

    ranks = rankdata(values, method="average", axis=1)
    return 2.0 * (ranks - 1.0) / (n_assets - 1) - 1.0


def average_correlation(x: np.ndarray, lookback: int) -> np.ndarray:
    """Mean pairwise correlation of the columns of ``x`` over each trailing window.

    Parameters
    ----------
    x : ndarray of shape (T, N)
    lookback : int
        Window length ``L`` (>= 2).

    Returns
    -------
    ndarray of shape (T,)
        Row ``t``: the mean over pairs ``i < j`` of the correlation of ``x_i`` and ``x_j`` over
        rows ``t - L + 1 .. t``, in [-1, 1] (a column without variation in the window, its
        std floored at ``1e-8``, counts as uncorrelated); 0 when N = 1; NaN for ``t < L - 1``.
    """
    n_obs, n_assets = x.shape
    out = np.full(n_obs, np.nan)
    if n_obs < lookback:
        return out
    if n_assets == 1:
        out[lookback - 1:] = 0.0
        return out
    cum, cum_sq = _cumulative(x)
    mean = _window_sum(cum, lookback)[lookback - 1:] / lookback
    std = _window_std(cum, cum_sq, lookback)[lookback - 1:]
    scale = 1.0 / np.maximum(std, _MIN_STD)
    # sum_ij corr_ij is the window variance of sum_i (x_i - mean_i) / std_i: O(T L N) time,
    # where the correlation matrices would cost O(T L N^2); the diagonal is then taken out.
    windows = sliding_window_view(x, lookback, axis=0)  # (T - L + 1, N, L), a view
    offset = (mean * scale).sum(axis=1)
    total = np.empty(len(windows))
    step = max(1, _BLOCK // (n_assets * lookback))
    for lo in range(0, len(windows), step):
        hi = lo + step
        pooled = np.einsum("bnl,bn->bl", windows[lo:hi], scale[lo:hi]) - offset[lo:hi, None]
        total[lo:hi] = np.einsum("bl,bl->b", pooled, pooled)
    total /= lookback - 1
    diagonal = (std * std * scale * scale).sum(axis=1)  # 1 per asset, 0 for a floored std
    pairs = n_assets * (n_assets - 1)
    out[lookback - 1:] = np.clip((total - diagonal) / pairs, -1.0, 1.0)
    return out


def _context_features(r: np.ndarray, x: np.ndarray, lookback: int,
                      periods_per_year: int) -> np.ndarray:
    """The ``context`` group, (T, 3) float64 clipped: market momentum, market vol, mean corr."""
    market = np.log1p(r.mean(axis=1, keepdims=True))
    _, moms, vols = _momentum_and_vol(market, lookback, periods_per_year, (60,), (20,))
    out = np.column_stack([moms[0][:, 0], vols[0][:, 0], average_correlation(x, lookback)])
    out[: lookback - 1] = np.nan  # no full window yet (the vol's shorter one may fit)
    low, high = _GROUP_BOUNDS["context"]
    return np.clip(out, low, high)


def compute_features(returns: np.ndarray, lookback: int = 60, periods_per_year: int = 252,
                     features: str | Iterable[str] = DEFAULT_FEATURES) -> np.ndarray:
    """The feature tensor of every date, see the module docstring.

    Parameters
    ----------
    returns : ndarray of shape (T, N)
        Simple returns; row ``t`` is earned from ``t - 1`` to ``t``. Must be finite and > -1.
    lookback : int
        Window ``L`` (>= 2) every feature of ``t`` is computed from.
    periods_per_year : int
        For annualising the volatilities.
    features : str or iterable of str
        Feature groups (:func:`feature_groups`): ``base``, ``ranks``, ``context``.

    Returns
    -------
    ndarray of shape (T, N, F), float32
        ``features[t, i]`` for asset ``i`` at the close of ``t``, the groups' features in
        :func:`feature_names` order, clipped to :func:`feature_bounds`. Rows
        ``t < lookback - 1`` (too little history) are NaN.
    """
    groups = feature_groups(features)
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 2:
        raise DataError(f"returns must be a 2-d table (dates x assets), got shape {r.shape}")
    if isinstance(lookback, bool) or not isinstance(lookback, int | np.integer) or lookback < 2:
        raise ConfigError(f"lookback must be an integer >= 2, got {lookback!r}")
    if not np.isfinite(r).all() or (r <= -1.0).any():
        raise DataError("returns must be finite and greater than -100%")
    n_obs, n_assets = r.shape
    n_features = sum(len(FEATURE_GROUPS[g]) for g in groups)
    if n_obs < lookback:
        return np.full((n_obs, n_assets, n_features), np.nan, dtype=np.float32)
    x = np.log1p(r)
    base = _base_features(x, lookback, periods_per_year)
    parts = []
    if "base" in groups:
        parts.append(base)
    if "ranks" in groups:
        ranked = base[lookback - 1:, :, [FEATURE_NAMES.index(n) for n in _RANKED]]
        ranks = np.full((n_obs, n_assets, len(_RANKED)), np.nan)
        ranks[lookback - 1:] = cross_sectional_rank(ranked)
        parts.append(ranks)
    if "context" in groups:
        context = _context_features(r, x, lookback, periods_per_year)
        parts.append(np.broadcast_to(context[:, None, :], (n_obs, n_assets, context.shape[1])))
    out = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
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


def observation_bounds(n_assets: int, features: str | Iterable[str] = DEFAULT_FEATURES
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Finite ``(low, high)`` of the observation, each of shape (N * F + N + 1,), float32."""
    feature_low, feature_high = feature_bounds(features)
    low = np.concatenate([np.tile(feature_low, n_assets), np.zeros(n_assets + 1, np.float32)])
    high = np.concatenate([np.tile(feature_high, n_assets), np.ones(n_assets + 1, np.float32)])
    return low, high


def latest_observation(history: np.ndarray, weights: np.ndarray, lookback: int = 60,
                       periods_per_year: int = 252,
                       features: str | Iterable[str] = DEFAULT_FEATURES) -> np.ndarray:
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
    features : str or iterable of str
        The feature groups, as the environment was built with.

    Returns
    -------
    ndarray of shape (N * F + N + 1,), float32
    """
    history = np.asarray(history, dtype=np.float64)
    if history.ndim != 2 or len(history) < lookback:
        raise DataError(f"need at least lookback={lookback} rows of returns for an observation, "
                        f"got shape {history.shape}")
    window = history[-lookback:]
    return observation(compute_features(window, lookback, periods_per_year, features),
                       lookback - 1, np.asarray(weights, dtype=np.float64))


def latest_observations(history: np.ndarray, weights: np.ndarray, lookback: int = 60,
                        periods_per_year: int = 252,
                        features: str | Iterable[str] = DEFAULT_FEATURES) -> np.ndarray:
    """:func:`latest_observation` of ``B`` paths at once: the observations at the last row of
    each path, as one array.

    The ``base`` features of an asset depend on its own returns only, so for ``base`` alone
    the ``B`` paths' windows are laid side by side as ``B N`` columns and their last row
    computed in one call (:func:`last_base_features`: the same numbers as path by path);
    groups that mix assets (``ranks``, ``context``) are computed path by path.

    Parameters
    ----------
    history : ndarray of shape (B, t + 1, N)
    weights : ndarray of shape (B, N + 1)

    Returns
    -------
    ndarray of shape (B, N * F + N + 1), float32
    """
    history = np.asarray(history)
    if history.ndim != 3 or history.shape[1] < lookback:
        raise DataError(f"need B paths of at least lookback={lookback} rows of returns, got "
                        f"shape {history.shape}")
    history = history[:, -lookback:].astype(np.float64)  # only the trailing window is read
    weights = np.asarray(weights, dtype=np.float64)
    if feature_groups(features) != ("base",):
        return np.stack([latest_observation(path, w, lookback, periods_per_year, features)
                         for path, w in zip(history, weights, strict=True)])
    if not np.isfinite(history).all() or (history <= -1.0).any():
        raise DataError("returns must be finite and greater than -100%")
    n_paths, _, n_assets = history.shape
    window = history.transpose(1, 0, 2).reshape(lookback, n_paths * n_assets)
    last = last_base_features(np.log1p(window), periods_per_year).astype(np.float32)
    rows = last.reshape(n_paths, n_assets * last.shape[-1])
    return np.concatenate((rows, np.clip(weights, 0.0, 1.0)), axis=1, dtype=np.float32)


__all__ = ["DEFAULT_FEATURES", "FEATURE_GROUPS", "FEATURE_HIGH", "FEATURE_LOW", "FEATURE_NAMES",
           "N_FEATURES", "average_correlation", "compute_features", "cross_sectional_rank",
           "feature_bounds", "feature_groups", "feature_names", "last_base_features",
           "latest_observation", "latest_observations",
           "observation", "observation_batch", "observation_bounds"]
