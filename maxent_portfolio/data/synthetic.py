"""Synthetic markets with a planted, learnable signal: momentum, reversal or a low-volatility
premium.

The data-generating process (DGP), per business day ``t`` from 2000-01-03 and asset ``i``::

    x[t, i] = mu_d + a[m(t), i] + f[t] + e[t, i]          (daily log return)
    f[t]    ~ N(0, market_vol^2 / P)                       (one common market factor)
    e[t, i] ~ N(0, (vol_i^2 - market_vol^2) / P)           (idiosyncratic noise)

with ``P = periods_per_year`` (252), ``mu_d = mu / P`` and total annual volatilities ``vol_i``
evenly spaced from ``vol_low`` to ``vol_high``. The tilt ``a`` is constant over each calendar
month ``m`` and fixed at the close of the previous month's last business day ``tau``::

    z[i]    = sum(x[tau - window + 1 .. tau, i]) / (s_i sqrt(window)),  s_i = vol_i / sqrt(P)
    a[m, i] = (signal_strength / P) tanh(z[i])

``z`` is the trailing ``window``-day log return in units of its own standard deviation: the
``mom_20`` feature of :mod:`maxent_portfolio.envs.features` (which divides by a 60-day sample
volatility instead of the true one). Before ``window`` days of history the tilt is 0. So an
asset that rose over the last month drifts up by as much as ``signal_strength`` a year (in log
terms) over the next one, and one that fell drifts down: a signal visible in the agent's
features, and a function of past returns only, so a strategy that knows the DGP can trade it
without looking ahead (:class:`maxent_portfolio.strategies.oracle.PlantedOracle`).

The ``kind`` of signal (:data:`PLANTED_KINDS`) changes the tilt only:

* ``momentum`` (above);
* ``reversal``: ``a[m, i] = -(signal_strength / P) tanh(z[i])``, short-term reversal; with
  ``window=5`` it is the ``mom_5`` feature, reversed;
* ``low-volatility``: a static premium, ``a[i] = (signal_strength / P) (1 - 2 i / (N - 1))``
  from the least volatile asset (``+signal_strength``) to the most volatile
  (``-signal_strength``), in force from the first day: visible in the volatility features.

At ``signal_strength = 0`` every kind is the same market without a signal, whose growth-optimal
portfolio is the Kelly portfolio of the known drift and covariance.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

import numpy as np
import pandas as pd

from maxent_portfolio.errors import ConfigError, DataError

START = pd.Timestamp("2000-01-03")
"""First date of every planted market (a Monday)."""

PLANTED_KINDS = ("momentum", "reversal", "low-volatility")
"""The kinds of planted signal (see the module docstring)."""


@dataclass(frozen=True)
class PlantedDGP:
    """Parameters of the planted market's DGP (see the module docstring); annual units.

    Attributes
    ----------
    signal_strength : float
        Largest annual log-drift tilt, reached as ``|z| -> infinity`` (``tanh`` saturates).
    mu : float
        Common annual log drift.
    market_vol : float
        Annual volatility of the common factor; every asset loads on it with beta 1.
    vol_low, vol_high : float
        Total annual volatility of the first and the last asset, ``market_vol < vol_low <=
        vol_high``.
    window : int
        Days of trailing log return behind the signal (momentum and reversal).
    periods_per_year : int
    kind : str
        One of :data:`PLANTED_KINDS`.
    """

    signal_strength: float = 0.4
    mu: float = 0.05
    market_vol: float = 0.15
    vol_low: float = 0.20
    vol_high: float = 0.30
    window: int = 20
    periods_per_year: int = 252
    kind: str = "momentum"

    def __post_init__(self) -> None:
        if self.kind not in PLANTED_KINDS:
            raise ConfigError(f"unknown planted signal {self.kind!r}: use one of "
                              + ", ".join(PLANTED_KINDS))
        if not 0 < self.market_vol < self.vol_low <= self.vol_high:
            raise ConfigError("planted market needs 0 < market_vol < vol_low <= vol_high, got "
                              f"{self.market_vol}, {self.vol_low}, {self.vol_high}")
        if self.signal_strength < 0 or not np.isfinite(self.signal_strength):
            raise ConfigError(f"signal_strength must be finite and >= 0, got "
                              f"{self.signal_strength}")
        if self.window < 1 or self.periods_per_year < 1:
            raise ConfigError("window and periods_per_year must be >= 1")

    def volatilities(self, n_assets: int) -> np.ndarray:
        """Total annual volatility of each asset, shape (n_assets,)."""
        return np.linspace(self.vol_low, self.vol_high, n_assets)

    def covariance(self, n_assets: int) -> np.ndarray:
        """Covariance of daily log returns given the tilt, shape (n_assets, n_assets)."""
        vol = self.volatilities(n_assets)
        cov = np.full((n_assets, n_assets), self.market_vol**2)
        cov[np.diag_indices(n_assets)] = vol**2
        return cov / self.periods_per_year

    def tilt(self, log_returns: np.ndarray) -> np.ndarray:
        """Daily tilt of the coming month from the log returns up to the month-end.

        Parameters
        ----------
        log_returns : ndarray of shape (n_observations, n_assets)
            Daily log returns ending at the previous month's last business day; only the last
            ``window`` rows are read.

        Returns
        -------
        ndarray of shape (n_assets,)
            ``a`` of the module docstring; zeros when fewer than ``window`` rows are given.
        """
        n_obs, n_assets = log_returns.shape
        daily = self.signal_strength / self.periods_per_year
        if self.kind == "low-volatility":
            return daily * (np.linspace(1.0, -1.0, n_assets) if n_assets > 1
                            else np.zeros(1))
        if n_obs < self.window:
            return np.zeros(n_assets)
        scale = self.volatilities(n_assets) * np.sqrt(self.window / self.periods_per_year)
        z = log_returns[-self.window:].sum(axis=0) / scale
        return (daily if self.kind == "momentum" else -daily) * np.tanh(z)


def month_starts(index: pd.DatetimeIndex) -> np.ndarray:
    """Positions of the first date of each calendar month in ``index`` (0 included)."""
    key = index.to_period("M").asi8
    return np.flatnonzero(np.r_[True, key[1:] != key[:-1]])


class PlantedMarket(NamedTuple):
    """A planted market: its returns, the tilt in force on each day, and its DGP."""

    returns: pd.DataFrame
    """Daily simple returns, shape (n_days, n_assets), business days from 2000-01-03."""
    tilt: pd.DataFrame
    """Daily log-drift tilt ``a`` in force on each day, same shape and labels."""
    dgp: PlantedDGP


def planted_market(n_assets: int, n_days: int, *,
                   signal_strength: float = PlantedDGP.signal_strength, seed: int = 0,
                   mu: float = PlantedDGP.mu, market_vol: float = PlantedDGP.market_vol,
                   vol_low: float = PlantedDGP.vol_low, vol_high: float = PlantedDGP.vol_high,
                   window: int = PlantedDGP.window, kind: str = PlantedDGP.kind
                   ) -> PlantedMarket:
    """Draw a planted market (see the module docstring for the DGP).

    Parameters
    ----------
    n_assets, n_days : int
        Assets ``A00, A01, ...`` and business days, from 2000-01-03.
    signal_strength, mu, market_vol, vol_low, vol_high, window, kind
        The fields of :class:`PlantedDGP`, with its defaults.
    seed : int
        Seed of the noise; the same arguments give the same market.

    Returns
    -------
    PlantedMarket
        ``(returns, tilt, dgp)``.
    """
    if n_assets < 1 or n_days < 2:
        raise DataError(f"a planted market needs n_assets >= 1 and n_days >= 2, got "
                        f"{n_assets} and {n_days}")
    dgp = PlantedDGP(signal_strength=signal_strength, mu=mu, market_vol=market_vol,
                     vol_low=vol_low, vol_high=vol_high, window=window, kind=kind)
    ppy = dgp.periods_per_year
    rng = np.random.default_rng(seed)
    idio = np.sqrt(dgp.volatilities(n_assets) ** 2 - market_vol**2) / np.sqrt(ppy)
    # Noise is drawn once, up front, so the draws do not depend on the signal's path.
    noise = (rng.normal(0.0, market_vol / np.sqrt(ppy), size=(n_days, 1))
             + rng.normal(0.0, 1.0, size=(n_days, n_assets)) * idio)
    index = pd.bdate_range(START, periods=n_days)
    x = np.empty((n_days, n_assets))
    tilt = np.empty((n_days, n_assets))
    bounds = [*month_starts(index), n_days]
    for start, stop in pairwise(bounds):
        tilt[start:stop] = dgp.tilt(x[:start])
        x[start:stop] = mu / ppy + tilt[start:stop] + noise[start:stop]
    columns = [f"A{i:02d}" for i in range(n_assets)]
    return PlantedMarket(pd.DataFrame(np.expm1(x), index=index, columns=columns),
                         pd.DataFrame(tilt, index=index, columns=columns), dgp)


__all__ = ["PLANTED_KINDS", "START", "PlantedDGP", "PlantedMarket", "month_starts",
           "planted_market"]
