"""Predict, then optimise: a ridge regression on the agent's own features, then Kelly.

The learner a user writes first, and the honest comparator of the agent on both kinds of
market: on a planted market whose signal sits in the features it finds the signal; on real data
its estimation error concentrates the book and trades on noise (DeMiguel, Garlappi & Uppal
2009).

At each fold's ``fit`` on a training window of returns ``r`` (T, N):

1. ``X[t, i]`` is the agent's observation features of asset ``i`` at the close of ``t``
   (:func:`maxent_portfolio.envs.features.compute_features`, the run's ``--features`` and
   ``--lookback``), and ``y[t, i] = log(1 + r)[t + 1 .. t + h, i].sum()`` the log return over
   the next ``h`` periods, ``h`` the median spacing of the run's rebalance dates.
2. One pooled ridge regression over every (t, i): features standardised by their training mean
   and deviation, ``beta = (Z'Z + alpha n I)^-1 Z' (y - mean(y))``, the intercept unpenalised.
3. The covariance of ``h``-period log returns is the Ledoit-Wolf estimate of the window's daily
   log returns, times ``h``.

At a decision: the predicted log returns ``m`` of the latest features, the simple moments
``exp(m + diag(S) / 2) - 1`` and ``S``, and the long-only Kelly portfolio of them
(:func:`maxent_portfolio.strategies.oracle.kelly_weights`; the rest in cash).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from maxent_portfolio.envs.features import compute_features
from maxent_portfolio.rebalance import CASH
from maxent_portfolio.strategies.base import Strategy, StrategyContext


def forward_log_returns(log_returns: np.ndarray, horizon: int) -> np.ndarray:
    """``y[t] = x[t + 1] + ... + x[t + horizon]``, NaN where the window passes the end.

    Parameters
    ----------
    log_returns : ndarray of shape (T, N)
    horizon : int
        Periods ahead, >= 1.

    Returns
    -------
    ndarray of shape (T, N)
    """
    n_obs = len(log_returns)
    cum = np.vstack([np.zeros((1, log_returns.shape[1])), np.cumsum(log_returns, axis=0)])
    out = np.full(log_returns.shape, np.nan)
    if n_obs > horizon:
        out[: n_obs - horizon] = cum[horizon + 1:] - cum[1: n_obs - horizon + 1]
    return out


def ridge(features: np.ndarray, target: np.ndarray, alpha: float
          ) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Ridge regression on standardised features with an unpenalised intercept.

    Parameters
    ----------
    features : ndarray of shape (n_samples, n_features)
    target : ndarray of shape (n_samples,)
    alpha : float
        Penalty per sample: ``(Z'Z + alpha n I) beta = Z'(y - mean(y))``.

    Returns
    -------
    beta : ndarray of shape (n_features,)
        On the standardised features.
    intercept : float
    center, scale : ndarray of shape (n_features,)
        The standardisation (a constant feature gets scale 1 and so no weight).
    """
    center = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale < 1e-12] = 1.0
    z = (features - center) / scale
    y = target - target.mean()
    n, k = z.shape
    beta = np.linalg.solve(z.T @ z + alpha * n * np.eye(k), z.T @ y)
    return beta, float(target.mean()), center, scale


def rebalance_horizon(index: pd.DatetimeIndex, rebalance: str) -> int:
    """Median number of periods between the rebalance dates of ``index`` (at least 1)."""
    from maxent_portfolio.rebalance import Schedule

    flags = Schedule.parse(rebalance).flags(pd.DatetimeIndex(index), 0, len(index) - 2)
    dates = np.flatnonzero(flags)
    return max(1, int(np.median(np.diff(dates)))) if len(dates) > 2 else 1


class RidgeKelly(Strategy):
    """Pooled ridge regression of the next period's log return on the agent's features, then
    the long-only Kelly portfolio of the prediction (see the module docstring).

    Parameters
    ----------
    alpha : float
        Ridge penalty per observation on standardised features.
    lookback : int
        Feature window (the run's ``--lookback``).
    features : str
        Feature groups (the run's ``--features``).
    rebalance : str
        The run's rebalance schedule: it sets the prediction horizon.
    periods_per_year : int
        Of the data, for annualised features.

    Attributes
    ----------
    beta_ : ndarray of shape (n_features,)
        Fitted coefficients on the standardised features.
    horizon_ : int
        Periods ahead the regression predicts.
    covariance_ : ndarray of shape (n_assets, n_assets)
        Ledoit-Wolf covariance of ``horizon_``-period log returns.
    """

    name = "ridge-kelly"
    description = ("predict, then optimise: ridge regression of the next period's return on "
                   "the agent's features, then long-only Kelly")
    learned = True

    @classmethod
    def from_context(cls, context: StrategyContext) -> RidgeKelly:
        config = context.config
        return cls(lookback=config.env.lookback, features=config.env.features,
                   rebalance=config.schedule.rebalance,
                   periods_per_year=context.periods_per_year)

    def __init__(self, alpha: float = 1.0, lookback: int = 60, features: str = "base",
                 rebalance: str = "monthly", periods_per_year: int = 252) -> None:
        self.alpha = alpha
        self.lookback = lookback
        self.features = features
        self.rebalance = rebalance
        self.periods_per_year = periods_per_year

    def fit(self, returns: pd.DataFrame) -> RidgeKelly:
        from skfolio.moments import LedoitWolf

        r = returns.to_numpy(dtype=float)
        x = np.log1p(r)
        self.horizon_ = rebalance_horizon(pd.DatetimeIndex(returns.index), self.rebalance)
        feats = compute_features(r, self.lookback, self.periods_per_year, self.features)
        target = forward_log_returns(x, self.horizon_)
        usable = np.isfinite(feats).all(axis=(1, 2)) & np.isfinite(target).all(axis=1)
        n_features = feats.shape[-1]
        self.beta_ = np.zeros(n_features)
        self.intercept_ = float(np.mean(x)) * self.horizon_
        self.center_, self.scale_ = np.zeros(n_features), np.ones(n_features)
        if usable.sum() >= 2:
            self.beta_, self.intercept_, self.center_, self.scale_ = ridge(
                feats[usable].reshape(-1, n_features), target[usable].reshape(-1), self.alpha)
        estimator = LedoitWolf().fit(x)
        self.covariance_ = np.asarray(estimator.covariance_) * self.horizon_
        return self

    def predict(self, history: pd.DataFrame) -> np.ndarray:
        """Predicted ``horizon_``-period log return of each asset, shape (n_assets,)."""
        window = history.to_numpy(dtype=float)[-self.lookback:]
        if len(window) < self.lookback:
            return np.full(history.shape[1], self.intercept_)
        latest = compute_features(window, self.lookback, self.periods_per_year,
                                  self.features)[-1].astype(float)
        return self.intercept_ + ((latest - self.center_) / self.scale_) @ self.beta_

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        from maxent_portfolio.strategies.oracle import kelly_weights

        mean = np.expm1(self.predict(history) + 0.5 * np.diag(self.covariance_))
        weights = kelly_weights(mean, self.covariance_)
        return pd.Series(weights, index=[*history.columns, CASH])


__all__ = ["RidgeKelly", "forward_log_returns", "rebalance_horizon", "ridge"]
