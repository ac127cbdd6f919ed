"""`load_universe` and `list_universes`: the single entry point to market data.

Sources are read raw (:mod:`~maxent_portfolio.data.sources`), restricted to the requested dates,
validated by one policy (:mod:`~maxent_portfolio.data.validate`) and frozen into
:class:`~maxent_portfolio.data.market.MarketData`. Yahoo downloads go through the cache
(:mod:`~maxent_portfolio.data.cache`); when Yahoo fails, a valid cache is used with a note.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from maxent_portfolio.data import cache
from maxent_portfolio.data.market import MarketData, Provenance, frame_hash
from maxent_portfolio.data.sources import (
    download_yahoo,
    load_skfolio,
    parse_dates,
    read_csv_table,
    skfolio_dates,
)
from maxent_portfolio.data.universes import (
    EQUAL_WEIGHT,
    UniverseInfo,
    UniverseSpec,
    builtin_specs,
    local_specs,
    parse_date,
    resolve_universe,
)
from maxent_portfolio.data.validate import (
    PRICE_SHARE,
    check_missing_policy,
    check_spike_policy,
    clean_prices,
    infer_periods_per_year,
    looks_like_prices,
    prices_from_returns,
    require_history,
    sort_unique,
)
from maxent_portfolio.errors import ConfigError, DataError


@dataclass
class _Raw:
    """A source's raw prices before validation."""

    prices: pd.DataFrame
    assets: list[str]
    benchmark_col: str | None
    source: str
    fetched_at: str
    details: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _now() -> str:
    return pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")


def _yahoo(symbols: list[str], start: str | None, end: str | None, refresh: bool,
           what: str) -> _Raw:
    """Cached Yahoo prices of ``symbols`` (all of them, or a DataError)."""
    key = cache.cache_key(symbols)
    folder = cache.cache_dir()
    entry, corrupt = None, None
    try:
        entry = cache.read(key, folder)
    except cache.CorruptCache as exc:
        corrupt = str(exc)
    usable = entry is not None and set(symbols) <= set(entry.prices.columns)
    if entry is not None and usable and not refresh and cache.covers(entry.meta, start, end):
        return _Raw(entry.prices, [], None, "yfinance", entry.meta["fetched_at"],
                    {"cache": str(entry.path), "cache_sha256": entry.meta["sha256"]},
                    [f"{what}: used cached prices fetched at {entry.meta['fetched_at']} "
                     "(refresh to download again)"])
    prices, failures = download_yahoo(symbols, start, end)
    if not failures:
        import yfinance as yf

        fetched_at = _now()
        meta = {"source": "yfinance", "tickers": sorted(symbols), "start": start, "end": end,
                "fetched_at": fetched_at, "yfinance_version": getattr(yf, "__version__", "?")}
        notes = [f"{what}: cache {key} was corrupt ({corrupt}); downloaded again"] \
            if corrupt else []
        try:
            written = cache.write(key, prices, meta, folder)
            details = {"cache": str(written.path), "cache_sha256": written.meta["sha256"]}
        except OSError as exc:
            notes.append(f"{what}: could not write the cache in {folder} ({exc.strerror})")
            details = {}
        return _Raw(prices, [], None, "yfinance", fetched_at, details, notes)

    groups: dict[str, list[str]] = {}
    for sym, why in failures.items():
        groups.setdefault(why, []).append(sym)
    detail = "; ".join(f"{', '.join(syms)}: {why}" for why, syms in groups.items())
    if len(failures) == len(symbols):
        problem = f"download from Yahoo Finance failed for every ticker of {what} ({detail})"
    else:
        problem = (f"Yahoo Finance returned no data for {len(failures)} of {len(symbols)} "
                   f"tickers of {what} ({detail})")
    if usable:
        assert entry is not None
        span = f"{entry.meta.get('first')}..{entry.meta.get('last')}"
        return _Raw(entry.prices, [], None, "yfinance", entry.meta["fetched_at"],
                    {"cache": str(entry.path), "cache_sha256": entry.meta["sha256"],
                     "cache_fallback": "yes"},
                    [f"{problem}; used the cache fetched at {entry.meta['fetched_at']} "
                     f"covering {span} instead"])
    if corrupt:
        raise DataError(f"{problem}; the cache {key} is corrupt ({corrupt}); nothing written")
    raise DataError(f"{problem}; no cache to fall back on, nothing written")


def _from_yfinance(spec: UniverseSpec, start: str | None, end: str | None,
                   refresh: bool) -> _Raw:
    symbols = list(spec.tickers)
    bench = spec.benchmark if spec.benchmark != EQUAL_WEIGHT else None
    if bench is not None and bench not in symbols:
        symbols.append(bench)
    raw = _yahoo(symbols, start, end, refresh, spec.name)
    raw.prices = raw.prices[symbols]
    raw.assets, raw.benchmark_col = list(spec.tickers), bench
    return raw


def _from_builtin(spec: UniverseSpec, start: str | None = None, end: str | None = None,
                  refresh: bool = False) -> _Raw:
    import skfolio

    prices, index = load_skfolio(spec.dataset or "")
    assets = list(spec.tickers) or list(prices.columns)
    missing = [a for a in assets if a not in prices.columns]
    if missing:
        raise DataError(f"{spec.name}: {missing[0]} is not in the embedded {spec.dataset} "
                        f"dataset (it has {', '.join(prices.columns)})")
    table, bench_col = prices[assets], None
    if spec.benchmark not in (None, EQUAL_WEIGHT):
        if index is not None and spec.benchmark == index.name:
            table = table.join(index, how="left")
        elif spec.benchmark in prices.columns:
            if spec.benchmark not in assets:
                table = table.join(prices[spec.benchmark])
        else:
            raise DataError(f"{spec.name}: benchmark {spec.benchmark} is not in the embedded "
                            f"{spec.dataset} dataset")
        bench_col = spec.benchmark
    snapshot = prices.index[-1].tz_localize("UTC").isoformat()
    details = {"dataset": f"skfolio {spec.dataset}", "skfolio": skfolio.__version__}
    return _Raw(table, assets, bench_col, "builtin", snapshot, details)


def _from_csv(spec: UniverseSpec, start: str | None, end: str | None, refresh: bool) -> _Raw:
    path = spec.path
    assert path is not None
    table = read_csv_table(path, spec.date_format)
    kind = spec.kind
    numeric = table.apply(pd.to_numeric, errors="coerce")
    if kind == "auto":
        kind = "prices" if looks_like_prices(numeric) else "returns"
    rule = f"{PRICE_SHARE:.0%} of values > 0 and median |value| > 0.5"
    notes = [f"{path.name}: read as {kind}"
             + ((f" (inferred: {rule})" if kind == "prices" else f" (inferred: not {rule})")
                if spec.kind == "auto" else "")]
    assets = list(spec.tickers) or [c for c in table.columns if c != spec.benchmark]
    missing = [a for a in assets if a not in table.columns]
    if missing:
        raise DataError(f"{path}: no column {missing[0]!r} (columns: {', '.join(table.columns)})")
    bench_col = None
    ticker_bench = spec.benchmark not in (None, EQUAL_WEIGHT) \
        and spec.benchmark not in table.columns
    if spec.benchmark in table.columns:
        bench_col = spec.benchmark
    cols = assets + ([bench_col] if bench_col and bench_col not in assets else [])
    table = table[cols]
    if kind == "returns":
        values = numeric[cols]
        bad = np.argwhere((values <= -1).to_numpy())
        if len(bad):
            r, c = bad[0]
            raise DataError(f"{path}: return {values.iat[r, c]:g} for {cols[c]} on "
                            f"{values.index[r]:%Y-%m-%d} is <= -100%")
        table, sorted_notes = sort_unique(table, str(path))
        notes += sorted_notes
        table = prices_from_returns(table.apply(pd.to_numeric, errors="coerce"))
    stat = path.stat()
    details = {"file": str(path), "kind": kind}
    raw = _Raw(table, assets, bench_col, "csv",
               pd.Timestamp(stat.st_mtime, unit="s", tz="UTC").isoformat(timespec="seconds"),
               details, notes)
    if ticker_bench:
        bench = str(spec.benchmark).upper()
        yahoo = _yahoo([bench], start, end, refresh, f"{spec.name} benchmark")
        # Yahoo trading days need not match the CSV's dates: take the last close at or before.
        series = yahoo.prices[bench].sort_index()
        raw.prices = table.join(series.reindex(table.index.sort_values(), method="ffill"))
        raw.benchmark_col = bench
        raw.notes += yahoo.notes
        raw.details["benchmark"] = f"yfinance {bench}"
    return raw


def _dates(start: object, end: object, spec: UniverseSpec) -> tuple[str | None, str | None]:
    start_s = parse_date(start, "--start") or spec.start
    end_s = parse_date(end, "--end") or spec.end
    if start_s and end_s and start_s > end_s:
        # Name both ends and where each came from: either one may be the mistake.
        def origin(given: object) -> str:
            return "as requested" if given not in (None, "") else f"from universe {spec.name}"

        raise ConfigError(f"empty date range: start {start_s} ({origin(start)}) is after "
                          f"end {end_s} ({origin(end)}); move one of them")
    return start_s, end_s


def load_universe(name_or_path: str | Path = "sp500-20", start: object = None,
                  end: object = None, *, refresh: bool = False,
                  missing: str = "common-start", date_format: str | None = None,
                  spikes: str = "warn") -> MarketData:
    """Load, validate and freeze a universe.

    Parameters
    ----------
    name_or_path : str or Path
        A universe name (see :func:`list_universes`), a universe YAML or a wide CSV file.
    start, end : str, date or None
        Inclusive date bounds; default to the universe's own (or all available data).
    refresh : bool
        Download again even if the cache covers the range (Yahoo universes only).
    missing : {"common-start", "drop"}
        Leading NaNs: trim to the first date all assets have data, or drop late-listed assets.
    date_format : str, optional
        strftime format of a CSV's dates, overriding the universe file's ``date_format``.
    spikes : {"warn", "refuse", "ignore"}
        One-period price spikes that revert: kept with a warning (``MarketData.warnings``),
        refused, or kept silently (see :mod:`~maxent_portfolio.data.validate`).

    Returns
    -------
    MarketData
        ``prices`` of shape (n_observations, n_assets), ``returns`` and ``benchmark`` of
        n_observations - 1 rows.

    Raises
    ------
    ConfigError
        Unknown universe, bad YAML, bad dates or option.
    DataError
        Data that cannot be fetched, read or validated; the message names the culprit.
    """
    check_missing_policy(missing)
    check_spike_policy(spikes)
    spec = resolve_universe(name_or_path)
    if date_format is not None:
        spec = dataclasses.replace(spec, date_format=date_format)
    start_s, end_s = _dates(start, end, spec)
    raw = SOURCE_LOADERS[spec.source](spec, start_s, end_s, refresh)
    what = spec.name
    # Same index whatever the path (fresh download, parquet cache, CSV): ns dates, no freq.
    full = raw.prices.set_axis(
        pd.DatetimeIndex(raw.prices.index.to_numpy().astype("datetime64[ns]"), name="date"),
        axis=0)
    keep = pd.Series(True, index=full.index)
    if start_s:
        keep &= full.index >= pd.Timestamp(start_s)
    if end_s:
        keep &= full.index <= pd.Timestamp(end_s)
    table = full[keep.to_numpy()]
    if table.empty or table.notna().sum().sum() == 0:
        span = f"{full.index.min():%Y-%m-%d}..{full.index.max():%Y-%m-%d}" if len(full) else "-"
        raise DataError(f"no data for {what} between {start_s or 'the start'} and "
                        f"{end_s or 'the end'} (data spans {span})")
    cleaned = clean_prices(table, what, missing, raw.benchmark_col, spikes=spikes)
    assets = [a for a in raw.assets if a in cleaned.prices.columns]
    prices = cleaned.prices[assets].rename_axis("date")
    require_history(2, len(prices), f"returns of {what}")
    periods = infer_periods_per_year(pd.DatetimeIndex(prices.index), what)
    returns = prices.pct_change().iloc[1:]
    bench_name = spec.benchmark
    if spec.benchmark == EQUAL_WEIGHT:
        benchmark = returns.mean(axis=1).rename(EQUAL_WEIGHT)
    elif raw.benchmark_col is not None:
        benchmark = cleaned.prices[raw.benchmark_col].pct_change().iloc[1:] \
            .rename(raw.benchmark_col)
        bench_name = raw.benchmark_col
    else:
        benchmark, bench_name = None, None
    coverage = cleaned.coverage.rename(index={raw.benchmark_col: f"{raw.benchmark_col} (bench)"}) \
        if raw.benchmark_col and raw.benchmark_col not in raw.assets else cleaned.coverage
    provenance = Provenance(raw.source, raw.fetched_at, frame_hash(prices),
                            {**raw.details, "missing": missing,
                             "range": f"{prices.index[0]:%Y-%m-%d}..{prices.index[-1]:%Y-%m-%d}"})
    return MarketData(what, prices, returns, benchmark, bench_name, periods, provenance,
                      tuple(raw.notes) + cleaned.notes, coverage, cleaned.warnings)


SOURCE_LOADERS: dict[str, Callable[[UniverseSpec, str | None, str | None, bool], _Raw]] = {
    "builtin": _from_builtin, "yfinance": _from_yfinance, "csv": _from_csv}
"""Universe sources by the ``source:`` name of a universe file: a new source is one function
``(spec, start, end, refresh) -> _Raw`` (raw prices before validation), one entry here and its
name in :data:`~maxent_portfolio.data.universes.SOURCES` (which universe files are checked
against without loading this module)."""


@functools.lru_cache(maxsize=4)
def _embedded_dates(dataset: str) -> pd.DatetimeIndex:
    return skfolio_dates(dataset)


def _info(spec: UniverseSpec) -> UniverseInfo:
    n_assets: int | None = len(spec.tickers) or None
    span = "on fetch"
    if spec.source == "builtin":
        dates = _embedded_dates(spec.dataset or "")
        dates = dates[(dates >= pd.Timestamp(spec.start or dates[0]))
                      & (dates <= pd.Timestamp(spec.end or dates[-1]))]
        span = f"{dates[0]:%Y-%m-%d}..{dates[-1]:%Y-%m-%d}" if len(dates) else "no data"
    elif spec.source == "csv":
        span = "file missing"
        if spec.path is not None and spec.path.is_file():
            try:
                head = pd.read_csv(spec.path, index_col=0)
                parsed = parse_dates(head.index, str(spec.path), spec.date_format)
                first, last = pd.Timestamp(parsed.min()), pd.Timestamp(parsed.max())
                span = f"{first:%Y-%m-%d}..{last:%Y-%m-%d}"
                n_assets = n_assets or len([c for c in head.columns if c != spec.benchmark])
            except (ValueError, pd.errors.ParserError, DataError):
                span = "unreadable"
    elif spec.start or spec.end:
        span = f"{spec.start or 'on fetch'}..{spec.end or 'on fetch'}"
    return UniverseInfo(spec.name, spec.source, n_assets, span, spec.benchmark,
                        spec.description, spec.origin)


def list_universes() -> list[UniverseInfo]:
    """Built-in universes and the YAMLs of ``./data/universes/``, sorted by name.

    Spans of embedded and CSV universes are read from the data (no network); Yahoo universes
    without fixed dates show ``on fetch``. A local YAML that cannot be read is listed with
    source ``invalid`` and the error as its description.
    """
    local, broken = local_specs()
    infos = [_info(spec) for spec in {**builtin_specs(), **local}.values()]
    infos += [UniverseInfo(stem, "invalid", None, "-", None, str(exc), "local")
              for stem, exc in broken.items()]
    return sorted(infos, key=lambda info: info.name)
