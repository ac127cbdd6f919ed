"""`Market`: the arrays a portfolio env steps through, prepared once from the data.

:func:`prepare_market` resolves a universe (a name, a file, a ``MarketData`` or a returns
DataFrame), checks the data arguments (costs, cash return, length) and precomputes the growth
factors, the feature tensor of the env section's groups and the differential Sharpe ratio's
prior, shared by :class:`~maxent_portfolio.envs.PortfolioEnv` and its batched variant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from maxent_portfolio.data.market import MarketData
from maxent_portfolio.envs.config import EnvConfig
from maxent_portfolio.envs.features import compute_features, feature_groups, feature_names
from maxent_portfolio.envs.rewards import DSR_MIN_VAR
from maxent_portfolio.errors import ConfigError, DataError


@dataclass(frozen=True)
class Market:
    """Arrays an environment steps through, prepared once at construction.

    Attributes
    ----------
    assets : list of str
        N risky asset names; cash is the extra last weight.
    dates : pd.DatetimeIndex of shape (T,)
    growth : ndarray of shape (T, N + 1)
        ``1 + r``: gross simple returns, cash last; row ``t`` earned over ``t`` (the drift
        arithmetic's factor, computed once).
    features : ndarray of shape (T, N, F), float32
    cost_rate : ndarray of shape (N,)
        Proportional cost per unit traded (bps / 1e4).
    dsr_prior : ndarray of shape (T,)
        Mean over assets of the mean squared log return over the lookback window ending at
        ``t``: the initial second moment of the differential Sharpe ratio.
    lookback, periods_per_year : int
    feature_names : tuple of str
        The F feature names, in order along the last axis of ``features``.
    """

    assets: list[str]
    dates: pd.DatetimeIndex
    growth: np.ndarray
    features: np.ndarray
    cost_rate: np.ndarray
    dsr_prior: np.ndarray
    lookback: int
    periods_per_year: int
    feature_names: tuple[str, ...]

    @property
    def first(self) -> int:
        """First decision position: the first date with a full lookback window."""
        return self.lookback - 1

    @property
    def last(self) -> int:
        """Last decision position: the returns of ``last + 1`` are the last ones."""
        return len(self.dates) - 2


def _check_number(name: str, value: object, low: float, high: float = math.inf,
                  open_low: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    x = float(value)
    if not math.isfinite(x) or x < low or (open_low and x == low) or x > high:
        raise ConfigError(f"{name} must be finite and in {'(' if open_low else '['}{low}, "
                          f"{high}{')' if math.isinf(high) else ']'}, got {value!r}")
    return x


def _resolve_universe(universe: str | Path | MarketData | pd.DataFrame,
                      start: str | pd.Timestamp | None,
                      end: str | pd.Timestamp | None) -> MarketData:
    """A universe name, file path, MarketData or returns DataFrame, restricted to [start, end]."""
    if isinstance(universe, MarketData):
        return universe.slice(start, end) if start is not None or end is not None else universe
    if isinstance(universe, pd.DataFrame):
        if not isinstance(universe.index, pd.DatetimeIndex) or len(universe) < 2:
            raise DataError("a returns DataFrame needs a DatetimeIndex and at least 2 rows")
        market = MarketData.from_returns(universe)
        return market.slice(start, end) if start is not None or end is not None else market
    if isinstance(universe, str | Path):
        from maxent_portfolio.data import load_universe  # written alongside; imported lazily

        return load_universe(str(universe), start=start, end=end)
    raise ConfigError(f"universe must be a name, a path, a MarketData or a returns DataFrame, "
                      f"got {type(universe).__name__}")




def prepare_market(universe: str | Path | MarketData | pd.DataFrame, config: EnvConfig, *,
                   start: str | pd.Timestamp | None = None,
                   end: str | pd.Timestamp | None = None, cost_bps: float = 10.0,
                   cash_return: float | pd.Series = 0.0) -> Market:
    """Check the data arguments and precompute everything a step needs.

    Parameters
    ----------
    universe : str, Path, MarketData or pd.DataFrame
        A universe name or file, market data, or simple returns with a DatetimeIndex.
    config : EnvConfig
        A validated env section: its ``lookback``, ``features`` and ``episode_length`` (the
        data must hold one episode after the first ``lookback`` returns).
    start, end : str or pd.Timestamp, optional
        Restrict the data to these dates (inclusive).
    cost_bps : float or sequence of float
        Proportional cost per unit traded in basis points, or one per asset.
    cash_return : float or pd.Series
        Per-period simple return of cash (a number or a Series by date).

    Raises
    ------
    ConfigError
        On a bad universe, cost or cash return.
    DataError
        When fewer than the episode's steps fit after the first ``lookback`` returns.
    """
    lookback, min_steps = config.lookback, config.episode_length or 1
    groups = feature_groups(config.features)
    market = _resolve_universe(universe, start, end)
    frame = market.returns
    n_obs, n_assets = frame.shape
    if n_assets == 0:
        raise DataError("the universe has no assets")
    if n_obs < lookback + min_steps:
        raise DataError(f"too little data for the environment: {n_obs} returns, need lookback "
                        f"{lookback} + {min_steps} step(s)")
    if np.ndim(cost_bps) == 0:
        rate = np.full(n_assets, _check_number("cost_bps", cost_bps, 0.0))
    else:
        rate = np.asarray(cost_bps, dtype=float)
        if rate.shape != (n_assets,) or not np.isfinite(rate).all() or (rate < 0).any():
            raise ConfigError(f"cost_bps must be a non-negative number or {n_assets} of them")
    if isinstance(cash_return, pd.Series):
        cash = cash_return.reindex(frame.index).fillna(0.0).to_numpy(dtype=float)
        if not np.isfinite(cash).all() or (cash <= -1).any():
            raise ConfigError("cash_return must be finite and greater than -1")
    else:
        cash = np.full(n_obs, _check_number("cash_return", cash_return, -1.0, open_low=True))
    values = frame.to_numpy(dtype=float)
    tensor = compute_features(values, int(lookback), market.periods_per_year, groups)
    logs = np.log1p(values)
    mean_sq = np.zeros(n_obs + 1)
    np.cumsum((logs * logs).mean(axis=1), out=mean_sq[1:])
    prior = np.full(n_obs, np.nan)
    prior[lookback - 1:] = (mean_sq[lookback:] - mean_sq[:-lookback]) / lookback
    return Market(
        assets=[str(c) for c in frame.columns],
        dates=pd.DatetimeIndex(frame.index),
        # C order: the envs gather whole rows every step (pandas hands values over F-ordered)
        growth=np.ascontiguousarray(1.0 + np.column_stack([values, cash])),
        features=tensor,
        cost_rate=rate / 1e4,
        dsr_prior=np.maximum(prior, DSR_MIN_VAR),
        lookback=int(lookback),
        periods_per_year=market.periods_per_year,
        feature_names=feature_names(groups),
    )


__all__ = ["Market", "prepare_market"]
