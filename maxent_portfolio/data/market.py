"""`MarketData`: the validated, immutable input every strategy, env and backtest reads."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


def frame_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of a table's dates, column names and values; stable across machines and runs."""
    rows = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    digest = hashlib.sha256(np.ascontiguousarray(rows).tobytes())
    digest.update("\x1f".join(map(str, frame.columns)).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Provenance:
    """Where the data came from, so a report can say exactly what it was computed on."""

    source: str
    """``builtin``, ``yfinance`` or ``csv``."""
    fetched_at: str
    """ISO-8601 UTC time of the download (or of the shipped snapshot)."""
    content_hash: str
    """SHA-256 of the price table, stable across machines."""
    details: dict[str, str] = field(default_factory=dict)
    """Free-form notes: cache path, file path, missing-value actions."""


@dataclass(frozen=True)
class MarketData:
    """Prices and simple returns of one universe.

    Attributes
    ----------
    name : str
        Universe name (or file path for an ad-hoc universe).
    prices : pd.DataFrame of shape (n_observations, n_assets)
        Adjusted closes, sorted DatetimeIndex, no NaN, strictly positive.
    returns : pd.DataFrame of shape (n_observations - 1, n_assets)
        Simple returns ``p_t / p_{t-1} - 1``; row t is the return earned from t-1 to t.
    benchmark : pd.Series of shape (n_observations - 1,) or None
        Simple returns of the benchmark, aligned to ``returns``.
    benchmark_name : str or None
    periods_per_year : int
        252 (daily), 52 (weekly) or 12 (monthly), inferred from the dates.
    provenance : Provenance
    notes : tuple of str
        What validation did (filled gaps, trimmed rows, dropped assets, cache fallbacks).
    coverage : pd.DataFrame of shape (n_input_assets, 5) or None
        Raw per-asset ``first``/``last`` valid date, ``observations``, ``filled`` count and
        ``action`` taken, before validation (includes dropped assets).
    warnings : tuple of str
        What validation kept but flags (one-period price spikes that revert).
    """

    name: str
    prices: pd.DataFrame
    returns: pd.DataFrame
    benchmark: pd.Series | None
    benchmark_name: str | None
    periods_per_year: int
    provenance: Provenance
    notes: tuple[str, ...] = ()
    """Human-readable notes on what validation did (filled gaps, dropped assets)."""
    coverage: pd.DataFrame | None = None
    warnings: tuple[str, ...] = ()
    """What looks wrong in the data but was kept (price spikes), one line each."""

    @property
    def assets(self) -> list[str]:
        return list(self.returns.columns)

    @property
    def n_assets(self) -> int:
        return self.returns.shape[1]

    def slice(self, start: str | pd.Timestamp | None = None,
              end: str | pd.Timestamp | None = None) -> MarketData:
        """Restrict to ``[start, end]`` (inclusive, by date)."""
        prices = self.prices.loc[start:end]
        returns = self.returns.loc[prices.index[1]:prices.index[-1]] if len(prices) > 1 \
            else self.returns.iloc[:0]
        bench = None if self.benchmark is None else self.benchmark.reindex(returns.index)
        return MarketData(self.name, prices, returns, bench, self.benchmark_name,
                          self.periods_per_year, self.provenance, self.notes, self.coverage,
                          self.warnings)

    @classmethod
    def from_returns(cls, returns: pd.DataFrame, name: str = "synthetic",
                     periods_per_year: int = 252,
                     benchmark: pd.Series | None = None) -> MarketData:
        """Build from simple returns (prices start at 1). Handy for tests and synthetic markets."""
        growth = (1.0 + returns).cumprod()
        first = returns.index[0] - (returns.index[1] - returns.index[0]) if len(returns) > 1 \
            else returns.index[0] - pd.Timedelta(days=1)
        prices = pd.concat([pd.DataFrame(1.0, index=[first], columns=returns.columns), growth])
        prov = Provenance("synthetic", pd.Timestamp.now(tz="UTC").isoformat(), frame_hash(prices))
        return cls(name, prices, returns, benchmark, None if benchmark is None else "benchmark",
                   periods_per_year, prov)
