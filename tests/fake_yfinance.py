"""Fakes of ``yfinance.download``, shared by the data and CLI tests.

They return frames shaped like yfinance 1.x ``download(list, auto_adjust=True)``: columns a
MultiIndex ``(Price, Ticker)`` with Price in Close/High/Low/Open/Volume, a tz-naive ``Date``
index, all-NaN columns for a ticker that failed, and an empty frame when everything failed.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

FIELDS = ["Close", "High", "Low", "Open", "Volume"]


def yf_frame(tickers: list[str], start: str = "2015-01-02", periods: int = 300,
             failed: tuple[str, ...] = (), late: dict[str, int] | None = None) -> pd.DataFrame:
    """A yfinance-1.x-shaped multi-ticker download."""
    idx = pd.bdate_range(start, periods=periods, name="Date")
    rng = np.random.default_rng(len(tickers))
    names = sorted({t.upper() for t in tickers})
    cols = pd.MultiIndex.from_product([FIELDS, names], names=["Price", "Ticker"])
    closes = 20 * np.exp(np.cumsum(rng.normal(0, 0.01, size=(periods, len(names))), axis=0))
    data = np.concatenate([closes] * 4 + [np.full_like(closes, 1e6)], axis=1)
    frame = pd.DataFrame(data, index=idx, columns=cols)
    for t in failed:
        frame.loc[:, (slice(None), t)] = np.nan
    for t, n in (late or {}).items():
        frame.loc[idx[:n], (slice(None), t)] = np.nan
    return frame


def yf_empty(tickers: list[str]) -> pd.DataFrame:
    """What yfinance returns when every ticker failed (e.g. offline)."""
    fields = ["Adj Close", *FIELDS]
    cols = pd.MultiIndex.from_product([fields, sorted(tickers)], names=["Price", "Ticker"])
    return pd.DataFrame(index=pd.DatetimeIndex([], name="Date"), columns=cols, dtype=float)


class FakeDownload:
    """Stands in for ``yfinance.download``; records calls, then returns or raises."""

    def __init__(self, result: object) -> None:
        self.result = result
        self.calls: list[tuple[list[str], dict]] = []

    def __call__(self, tickers: list[str], **kwargs: object) -> pd.DataFrame:
        self.calls.append((list(tickers), kwargs))
        if isinstance(self.result, BaseException):
            raise self.result
        if callable(self.result):
            return self.result(list(tickers))
        return self.result  # type: ignore[return-value]


def offline_download(tickers: list[str], **kwargs: object) -> pd.DataFrame:
    """What ``yfinance.download`` does without a network: it logs each failure (a DNS error,
    then a missing timezone it blames on delisting) and returns an empty frame."""
    log = logging.getLogger("yfinance")
    log.error("Failed to get ticker '%s' reason: Failed to perform, curl: (6) Could not resolve "
              "host: query2.finance.yahoo.com. See https://curl.se/ for details.", tickers[0])
    log.error(f"{tickers}: YFTzMissingError('possibly delisted; no timezone found')")
    return yf_empty(tickers)
