"""Raw price tables from each source, before validation: skfolio's embedded data, CSV, Yahoo.

Every function here returns prices with a DatetimeIndex and one column per symbol; validation
(:mod:`maxent_portfolio.data.validate`) is applied by the loader, the same for all sources.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from pandas.tseries.api import guess_datetime_format

from maxent_portfolio.errors import DataError

YAHOO_TIMEOUT = 10
"""Seconds per Yahoo request."""


def load_skfolio(dataset: str) -> tuple[pd.DataFrame, pd.Series | None]:
    """Prices of an embedded skfolio dataset and its benchmark prices (None if it has none).

    Returns
    -------
    prices : pd.DataFrame of shape (n_observations, n_assets)
    benchmark : pd.Series of shape (n_observations,) or None
    """
    from skfolio import datasets

    if dataset == "sp500":
        prices = datasets.load_sp500_dataset()
        index = datasets.load_sp500_index()
        return prices, index.iloc[:, 0].rename(str(index.columns[0]))
    if dataset == "factors":
        return datasets.load_factors_dataset(), None
    raise DataError(f"unknown embedded dataset {dataset!r}")


SKFOLIO_FILES = {"sp500": "sp500_dataset.csv.gz", "factors": "factors_dataset.csv.gz"}
"""The file of each embedded dataset in skfolio's ``datasets/data`` folder."""


def skfolio_dates(dataset: str) -> pd.DatetimeIndex:
    """The dates of an embedded skfolio dataset, read from its file without importing skfolio.

    Importing skfolio takes seconds (scikit-learn, SciPy, cvxpy); listing universes needs only
    the dates. Where the file is not found (another skfolio layout) the dataset is loaded.
    """
    spec = importlib.util.find_spec("skfolio")  # locates the package, does not import it
    folders = spec.submodule_search_locations if spec is not None else None
    name = SKFOLIO_FILES.get(dataset)
    file = Path(next(iter(folders)), "datasets", "data", name) if folders and name else None
    if file is None or not file.is_file():
        return pd.DatetimeIndex(load_skfolio(dataset)[0].index)
    dates = pd.read_csv(file, usecols=[0]).iloc[:, 0]
    return pd.DatetimeIndex(pd.to_datetime(dates, format="%Y-%m-%d"))


def read_csv_table(path: Path, date_format: str | None = None) -> pd.DataFrame:
    """Read a wide CSV: first column dates (read by :func:`parse_dates`), then one column per
    asset.

    Returns
    -------
    pd.DataFrame of shape (n_rows, n_columns - 1)
        Values as read (validated later), DatetimeIndex (tz-naive) named ``date``.
    """
    if path.is_dir():
        raise DataError(f"CSV file {path} is a directory, not a file")
    try:
        header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
        check_header([str(c) for c in header.iloc[0]], path)
        table = pd.read_csv(path, index_col=0)
    except FileNotFoundError:
        raise DataError(f"CSV file {path} not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot parse CSV file {path}: {first}") from None
    if table.empty or table.shape[1] == 0:
        raise DataError(f"CSV file {path} has no rows or no asset columns "
                        "(expected a date column, then one column per asset)")
    table.index = parse_dates(table.index, f"CSV file {path}", date_format).rename("date")
    table.columns = [str(c).strip() for c in table.columns]
    return table


_OFFSET = re.compile(r"^(.*\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:Z|UTC|GMT|[+-]\d{2}:?\d{2})$")
"""A time followed by a UTC offset: the offset is dropped, keeping the wall-clock time."""


def _strip_offsets(values: pd.Series) -> pd.Series:
    return values.str.replace(_OFFSET, r"\1", regex=True)


def parse_dates(raw: pd.Index | pd.Series, what: str, date_format: str | None = None
                ) -> pd.DatetimeIndex:
    """Read a column of date strings one consistent way, or refuse it.

    ISO 8601 dates (``2015-01-08``, with or without a time) are read as such. Any other layout
    (``08/01/2015``, ``Jan 8, 2015``) is read with one format for the whole column, inferred
    both day-first and month-first: when both read every value, to different dates, the column
    is ambiguous and refused with the two readings. A UTC offset after a time is dropped, so
    each date is the wall-clock date where it was recorded (an exchange's trading day),
    whatever the offset and across daylight-saving changes.

    Parameters
    ----------
    raw : pd.Index or pd.Series of shape (n_rows,)
        The dates as written.
    what : str
        The file, named in errors.
    date_format : str, optional
        A strftime format (``%d/%m/%Y``) that every value must match; no inference.

    Returns
    -------
    pd.DatetimeIndex of shape (n_rows,), tz-naive.

    Raises
    ------
    DataError
        A value that is not a date, or dates that read two ways.
    """
    values = _strip_offsets(pd.Series(raw, dtype=str).str.strip())
    if date_format is not None:
        dates = pd.to_datetime(values, format=date_format, errors="coerce")
        if dates.isna().any():
            bad = values.iloc[int(dates.isna().to_numpy().argmax())]
            raise DataError(f"{what}: {bad!r} in the first column does not match "
                            f"--date-format {date_format}")
        return pd.DatetimeIndex(dates)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns when it falls back to dateutil
        iso = pd.to_datetime(values, format="ISO8601", errors="coerce")
        if not iso.isna().any():
            return pd.DatetimeIndex(iso)
        sample = values.iloc[:: max(1, len(values) // 64)]
        guesses = {guess_datetime_format(v, dayfirst=first) for v in sample
                   for first in (False, True)}
        formats = {fmt for fmt in guesses if fmt is not None}
        readings = {fmt: pd.to_datetime(values, format=fmt, errors="coerce")
                    for fmt in sorted(formats, key=str)}
    complete = {fmt: d for fmt, d in readings.items() if not d.isna().any()}
    distinct: dict[str, pd.Series] = {}
    for fmt, dates in complete.items():
        if not any(dates.equals(other) for other in distinct.values()):
            distinct[fmt] = dates
    if len(distinct) == 1:
        return pd.DatetimeIndex(next(iter(distinct.values())))
    if len(distinct) > 1:
        (fmt_a, a), (fmt_b, b) = list(distinct.items())[:2]
        row = int((a != b).to_numpy().argmax())
        raise DataError(
            f"{what}: the dates read two ways ({values.iloc[row]!r} is "
            f"{a.iloc[row]:%Y-%m-%d} as {fmt_a} and {b.iloc[row]:%Y-%m-%d} as {fmt_b}); "
            f"say which with --date-format or date_format in a universe file")
    best = max(readings.values(), key=lambda d: int(d.notna().sum()), default=iso)
    bad = values.iloc[int(best.isna().to_numpy().argmax())]
    raise DataError(f"{what}: {bad!r} in the first column is not a date")


def check_header(names: list[str], path: Path) -> None:
    """Refuse blank or repeated asset names in a CSV header row (pandas would rename them).

    Parameters
    ----------
    names : list of str
        The header row as written, the date column first (its name may be blank).
    path : Path
        The file, named in the error.
    """
    seen: dict[str, int] = {}
    for position, raw in enumerate(names[1:], start=2):
        name = raw.strip()
        if not name:
            raise DataError(f"CSV file {path}: column {position} has no name in the header row")
        if name in seen:
            raise DataError(f"CSV file {path}: column {name!r} appears twice in the header row "
                            f"(columns {seen[name]} and {position})")
        seen[name] = position


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(record.getMessage())
        except Exception:  # a malformed log record must not break the download
            pass


@contextmanager
def _quiet_yfinance() -> Iterator[_Collect]:
    """Capture yfinance's log output (it logs failures instead of raising) and its warnings."""
    logger = logging.getLogger("yfinance")
    handler = _Collect()
    old_propagate, old_level = logger.propagate, logger.level
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate, logger.level = old_propagate, old_level


@contextmanager
def yfinance_scratch() -> Iterator[Path]:
    """Point yfinance's own tz/cookie databases at a temporary directory, removed on exit.

    yfinance writes them wherever its cache points: in our price cache they would outlive a
    failed fetch that reports "nothing written", in the user's home they would be a side effect.
    On exit yfinance points back where it was (which closes the databases before removal).
    """
    import yfinance as yf

    setter = getattr(getattr(yf, "cache", None), "set_cache_location", None) \
        or getattr(yf, "set_tz_cache_location", None)
    get_location = getattr(getattr(getattr(yf, "cache", None), "_TzDBManager", None),
                           "get_location", None)
    previous = get_location() if get_location is not None else None
    with tempfile.TemporaryDirectory(prefix="maxent-yfinance-",
                                     ignore_cleanup_errors=True) as tmp:
        if setter is not None:
            setter(tmp)
        try:
            yield Path(tmp)
        finally:
            if setter is not None and previous is not None:
                setter(previous)


def _closes(frame: pd.DataFrame, tickers: list[str]) -> pd.DataFrame:
    """Adjusted closes from a ``yf.download`` frame (MultiIndex (Price, Ticker) or flat)."""
    if isinstance(frame.columns, pd.MultiIndex):
        for level in range(frame.columns.nlevels):
            if "Close" in frame.columns.get_level_values(level):
                closes = pd.DataFrame(frame.xs("Close", axis=1, level=level))
                break
        else:
            return pd.DataFrame(index=frame.index)
    elif "Close" in frame.columns and len(tickers) == 1:
        closes = frame[["Close"]].set_axis(tickers, axis=1)
    else:
        return pd.DataFrame(index=frame.index)
    closes = closes.loc[:, ~closes.columns.duplicated()]
    closes.columns = [str(c).upper() for c in closes.columns]
    return closes


def _reasons(messages: list[str]) -> dict[str, str]:
    """Per-ticker failure reasons from yfinance's ``['A', 'B']: reason`` summary lines."""
    out: dict[str, str] = {}
    for msg in messages:
        match = re.match(r"^\s*\[([^\]]*)\]:\s*(.+)$", msg, flags=re.S)
        if match:
            for sym in re.findall(r"'([^']+)'", match.group(1)):
                out.setdefault(sym.upper(), match.group(2).strip().splitlines()[0])
    return out


_NETWORK = re.compile(r"DNSError|resolve host|ConnectionError|ConnectError|Timeout|timed out|"
                      r"Network is unreachable|SSLError|curl: \(\d+\)|Failed to perform",
                      flags=re.I)


def shorten(text: str, limit: int = 140) -> str:
    """One line, at most ``limit`` characters, without curl's trailing help link."""
    line = " ".join(str(text).split())
    line = re.sub(r"\s*See https?://\S+.*$", "", line)
    line = re.sub(r"Failed to perform, curl: \(\d+\)\s*", "", line)
    return line if len(line) <= limit else line[: limit - 3] + "..."


def network_failure(messages: list[str]) -> str | None:
    """The first log message or reason that says Yahoo could not be reached, shortened."""
    for msg in messages:
        if _NETWORK.search(msg):
            return "network error: " + shorten(msg.split("reason:", 1)[-1].split("]: ", 1)[-1])
    return None


def download_yahoo(tickers: list[str], start: str | None, end: str | None
                   ) -> tuple[pd.DataFrame, dict[str, str]]:
    """Download daily adjusted closes from Yahoo Finance, never raising for network trouble.

    Parameters
    ----------
    tickers : list of str
    start, end : str or None
        Inclusive ``YYYY-MM-DD`` bounds; None for the full history / up to today.

    Returns
    -------
    prices : pd.DataFrame of shape (n_observations, n_ok)
        Closes of the tickers that came back with data (tz-naive dates).
    failures : dict of str to str
        Ticker to a one-line reason, for every ticker without data.
    """
    import yfinance as yf

    kwargs: dict[str, object] = {"auto_adjust": True, "progress": False, "interval": "1d",
                                 "timeout": YAHOO_TIMEOUT, "multi_level_index": True}
    if start is None:
        kwargs["period"] = "max"
    else:
        kwargs["start"] = start
    if end is not None:  # yfinance's end is exclusive
        kwargs["end"] = (pd.Timestamp(end) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    with _quiet_yfinance() as log, yfinance_scratch():
        try:
            frame = yf.download(list(tickers), **kwargs)
        except Exception as exc:  # yfinance and its HTTP stack raise many types
            reason = f"{type(exc).__name__}: {exc}"
            reason = network_failure([reason]) or shorten(reason)
            return pd.DataFrame(), dict.fromkeys(tickers, reason)
    if frame is None or not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame()
    closes = _closes(frame, list(tickers)) if not frame.empty else pd.DataFrame()
    reasons = _reasons(log.messages)
    ok = [t for t in tickers if t in closes.columns and closes[t].notna().any()]
    failures = {t: shorten(reasons.get(t, "no data returned (unknown or delisted ticker?)"))
                for t in tickers if t not in ok}
    if failures and not ok:
        # Offline, yfinance blames a missing timezone ("possibly delisted"): say it is the network.
        network = network_failure(log.messages + list(failures.values()))
        if network:
            failures = dict.fromkeys(failures, network)
    prices = closes[ok].dropna(how="all") if ok else pd.DataFrame()
    if ok:
        index = pd.DatetimeIndex(prices.index)
        if index.tz is not None:
            index = index.tz_localize(None)
        prices = prices.set_axis(index.normalize().rename("date"), axis=0).astype(float)
    return prices, failures
