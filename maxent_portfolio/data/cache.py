"""On-disk cache of downloaded prices: one parquet file plus a JSON sidecar per ticker set.

The sidecar records the tickers, the requested range, the fetch time and the SHA-256 of the
parquet bytes; a file whose bytes do not match (truncated, edited, half-written) is refused.
Both files are written atomically (temporary file, then ``os.replace``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from maxent_portfolio.files import write_bytes

CACHE_ENV = "MAXENT_PORTFOLIO_CACHE"
DEFAULT_CACHE_DIR = Path("data") / "cache"


class CorruptCache(Exception):
    """A cache entry that cannot be trusted (internal; callers turn it into a note or DataError)."""


@dataclass(frozen=True)
class CacheEntry:
    """A verified cache entry.

    Attributes
    ----------
    prices : pd.DataFrame of shape (n_observations, n_tickers)
    meta : dict
        ``tickers``, ``start``, ``end`` (requested, inclusive, None = open), ``first``, ``last``,
        ``fetched_at``, ``sha256``, ``rows``.
    path : Path
    """

    prices: pd.DataFrame
    meta: dict
    path: Path


def cache_dir() -> Path:
    """``$MAXENT_PORTFOLIO_CACHE`` or ``./data/cache``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else DEFAULT_CACHE_DIR


def cache_key(tickers: list[str] | tuple[str, ...]) -> str:
    """File stem for a ticker set: readable prefix plus a hash of the sorted tickers."""
    names = sorted({t.upper() for t in tickers})
    digest = hashlib.sha256(",".join(names).encode()).hexdigest()[:12]
    prefix = "-".join(names[:3]).replace("^", "").replace("/", "_")
    return f"yf-{prefix}{'-etc' if len(names) > 3 else ''}-{digest}"


def _paths(key: str, folder: Path) -> tuple[Path, Path]:
    return folder / f"{key}.parquet", folder / f"{key}.json"


def exists(key: str, folder: Path | None = None) -> bool:
    """Whether any file of the entry is on disk (valid or not)."""
    pq, meta = _paths(key, cache_dir() if folder is None else folder)
    return pq.exists() or meta.exists()


def read(key: str, folder: Path | None = None) -> CacheEntry | None:
    """The verified entry, None if there is none, :class:`CorruptCache` if it is damaged."""
    pq, side = _paths(key, cache_dir() if folder is None else folder)
    if not pq.exists() and not side.exists():
        return None
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
        data = pq.read_bytes()
    except (OSError, ValueError) as exc:
        raise CorruptCache(f"cannot read {pq.name} or its sidecar ({type(exc).__name__})") \
            from exc
    if not isinstance(meta, dict) or hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        raise CorruptCache(f"{pq} does not match the SHA-256 in its sidecar")
    try:
        prices = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise CorruptCache(f"cannot parse {pq} ({type(exc).__name__})") from exc
    if prices.empty or not isinstance(prices.index, pd.DatetimeIndex):
        raise CorruptCache(f"{pq} holds no dated prices")
    return CacheEntry(prices, meta, pq)


def write(key: str, prices: pd.DataFrame, meta: dict, folder: Path | None = None) -> CacheEntry:
    """Write ``prices`` and the sidecar atomically; ``meta`` gains ``sha256``, ``rows``, dates."""
    if prices.empty or prices.isna().all().any():
        raise ValueError("refusing to cache an empty or partial price table")
    pq, side = _paths(key, cache_dir() if folder is None else folder)
    buf = io.BytesIO()
    prices.to_parquet(buf)
    data = buf.getvalue()
    full = {**meta, "sha256": hashlib.sha256(data).hexdigest(), "rows": len(prices),
            "first": prices.index[0].strftime("%Y-%m-%d"),
            "last": prices.index[-1].strftime("%Y-%m-%d"), "file": pq.name}
    # Parquet first: a crash in between leaves a sidecar whose hash no longer matches.
    write_bytes(pq, data)
    write_bytes(side, (json.dumps(full, indent=2, sort_keys=True) + "\n").encode())
    return CacheEntry(prices, full, pq)


def covers(meta: dict, start: str | None, end: str | None) -> bool:
    """Whether an entry fetched for ``meta['start']..meta['end']`` covers ``start..end``.

    Dates are ``YYYY-MM-DD`` strings or None (open: full history / up to the fetch day).
    An open ``end`` is covered by any entry that was itself fetched with an open end.
    """
    c_start, c_end = meta.get("start"), meta.get("end")
    if c_start is not None and (start is None or start < c_start):
        return False
    if end is None:
        return c_end is None
    fetched_day = str(meta.get("fetched_at", ""))[:10]
    return (c_end is None and fetched_day > end) or (c_end is not None and c_end >= end)
