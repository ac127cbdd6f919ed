"""The menu environment of ``sac-discrete``: choose one of K strategies at each decision.

A menu strategy's *targets* are its weights at every date, each computed from the history up
to that date (:class:`maxent_portfolio.strategies.menu.MenuBook`). :class:`MenuVectorEnv` wraps
a :class:`~maxent_portfolio.envs.PortfolioVectorEnv`: the action ``k`` (one per episode) is
executed as the portfolio action ``targets[t, k]``, so the arithmetic, costs, decision dates,
execution (partial rebalancing, no-trade band) and reward are exactly ``sac``'s.

Observation at decision ``t`` with drifted weights ``w`` (float32, ``4 K + 3`` numbers):

============================  =================================================================
``ret_k`` (K)                 annualised mean log return of strategy k's paper portfolio over
                              the last ``lookback`` periods, in [-10, 10]
``vol_k`` (K)                 its annualised volatility, in [0, 10]
``drawdown_k`` (K)            its log drawdown from the window's peak, in [-10, 0]
context (3)                   the ``context`` feature group of :mod:`maxent_portfolio.envs.
                              features`: market momentum, market volatility, mean correlation
``distance_k`` (K)            ``0.5 sum_i |w_i - targets[t, k, i]|``: the turnover to adopt
                              strategy k now, in [0, 1]
============================  =================================================================

A paper portfolio is rebalanced to its strategy's latest target every period, gross of costs:
its return over period ``tau`` is ``targets[tau - 1, k] . r[tau]`` (cash earning 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from maxent_portfolio.envs.features import compute_features

MENU_BOUND = 10.0
"""Clip bound of the paper-portfolio features."""


def paper_returns(targets: np.ndarray, returns: np.ndarray) -> np.ndarray:
    """Each menu strategy's paper-portfolio return per period.

    Parameters
    ----------
    targets : ndarray of shape (T, K, N + 1)
        Weights of every strategy at every date (cash last).
    returns : ndarray of shape (T, N)
        Simple returns; row ``t`` earned from ``t - 1`` to ``t``.

    Returns
    -------
    ndarray of shape (T, K)
        Row ``tau``: ``targets[tau - 1, k, :N] . returns[tau]``; row 0 is NaN.
    """
    out = np.full(targets.shape[:2], np.nan)
    out[1:] = np.einsum("tkn,tn->tk", targets[:-1, :, :-1], np.nan_to_num(returns[1:]))
    return out


def paper_features(paper: np.ndarray, lookback: int, periods_per_year: int) -> np.ndarray:
    """Trailing return, volatility and drawdown of every paper portfolio at every date.

    Parameters
    ----------
    paper : ndarray of shape (T, K)
        :func:`paper_returns`.
    lookback : int
        Window ``L``: row ``t`` uses periods ``t - L + 1 .. t``.
    periods_per_year : int

    Returns
    -------
    ndarray of shape (T, 3 K)
        ``[ret (K), vol (K), drawdown (K)]`` per row, clipped; NaN where the window is not full
        of paper returns.
    """
    n, k = paper.shape
    out = np.full((n, 3 * k), np.nan)
    if n < lookback:
        return out
    x = np.log1p(paper)
    windows = sliding_window_view(x, lookback, axis=0)  # (n - L + 1, K, L)
    ret = windows.mean(-1) * periods_per_year
    vol = windows.std(-1, ddof=1) * np.sqrt(periods_per_year)
    wealth = np.cumsum(windows, axis=-1)
    peak = np.maximum(np.maximum.accumulate(wealth, axis=-1)[..., -1], 0.0)
    drawdown = wealth[..., -1] - peak
    out[lookback - 1:] = np.concatenate([np.clip(ret, -MENU_BOUND, MENU_BOUND),
                                         np.clip(vol, 0.0, MENU_BOUND),
                                         np.clip(drawdown, -MENU_BOUND, 0.0)], axis=1)
    return out


def context_features(returns: np.ndarray, lookback: int, periods_per_year: int) -> np.ndarray:
    """The ``context`` group of the asset features (T, 3): the same numbers ``sac`` sees."""
    tensor = compute_features(returns, lookback, periods_per_year, "context")
    return tensor[:, 0, -3:].astype(np.float64)


def menu_table(targets: np.ndarray, returns: np.ndarray, lookback: int,
               periods_per_year: int) -> np.ndarray:
    """The weight-free part of the observation at every date (T, 3 K + 3).

    Valid (finite) from the row where both the paper window and the context window are full.
    """
    paper = paper_features(paper_returns(targets, returns), lookback, periods_per_year)
    return np.concatenate([paper, context_features(returns, lookback, periods_per_year)], axis=1)


def menu_observation(table_row: np.ndarray, targets_row: np.ndarray, weights: np.ndarray
                     ) -> np.ndarray:
    """The observation(s): ``table_row`` then the distance of ``weights`` to each target.

    Parameters
    ----------
    table_row : ndarray of shape (B, 3 K + 3)
    targets_row : ndarray of shape (B, K, N + 1)
    weights : ndarray of shape (B, N + 1)

    Returns
    -------
    ndarray of shape (B, 4 K + 3), float32
    """
    distance = 0.5 * np.abs(weights[:, None, :] - targets_row).sum(-1)
    return np.concatenate([table_row, distance], axis=1).astype(np.float32)


class MenuVectorEnv:
    """``num_envs`` episodes choosing menu strategies, on a :class:`PortfolioVectorEnv`.

    Parameters
    ----------
    inner : PortfolioVectorEnv
        The portfolio episodes (``action_mode="simplex"``); its positions index ``targets``.
    targets : ndarray of shape (T, K, N + 1)
        Every menu strategy's weights at every position of ``inner``'s market.
    table : ndarray of shape (T, 3 K + 3)
        :func:`menu_table` at those positions; finite from ``inner``'s first decision on.

    Attributes
    ----------
    n_menu : int
        K.
    obs_dim : int
        ``4 K + 3``.

    The API is gymnasium's vector API in ``SAME_STEP`` autoreset, as ``inner``'s: ``step`` takes
    (num_envs,) integer actions; ``infos["final_obs"]`` holds the true next observation of every
    episode when one ended.
    """

    def __init__(self, inner: Any, targets: np.ndarray, table: np.ndarray) -> None:
        if targets.shape[0] != len(inner.market.dates) or table.shape[0] != targets.shape[0]:
            raise ValueError("targets and table need one row per date of the env's market")
        first = inner.market.first
        if not np.isfinite(table[first:]).all():
            raise ValueError("the menu table must be finite from the env's first decision")
        self.inner, self.targets, self.table = inner, targets, table
        self.num_envs = inner.num_envs
        self.n_menu = targets.shape[1]
        self.obs_dim = table.shape[1] + self.n_menu

    @property
    def positions(self) -> np.ndarray:
        return self.inner.positions

    def _obs(self, t: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return menu_observation(self.table[t], self.targets[t], weights)

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        _, info = self.inner.reset(seed=seed, options=options)
        return self._obs(self.inner.positions, info["weights"]), info

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                 dict[str, Any]]:
        """Execute menu entries ``actions`` (num_envs,) as their strategies' targets."""
        k = np.asarray(actions, dtype=np.int64)
        t = self.inner.positions
        portfolio = self.targets[t, k]
        ended_at = self.inner.clock.following[t]  # where an ending episode's last state is
        _, reward, terminated, truncated, infos = self.inner.step(portfolio)
        obs = self._obs(self.inner.positions, infos["weights"])
        if "final_obs" in infos:
            final = obs.copy()
            idx = np.flatnonzero(infos["_final_obs"])
            final[idx] = self._obs(ended_at[idx], infos["final_info"]["weights"][idx])
            infos["final_obs"] = final
        return obs, reward, terminated, truncated, infos

    def state_dict(self) -> dict[str, Any]:
        """The inner episodes in progress (the menu arrays are rebuilt from the data)."""
        return dict(self.inner.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.inner.load_state_dict(state)


__all__ = ["MenuVectorEnv", "context_features", "menu_observation", "menu_table",
           "paper_features", "paper_returns"]
