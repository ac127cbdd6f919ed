"""The one validation policy every price table passes through, whatever its source.

Policy, in order:

1. Dates must parse; rows are sorted by date (unsorted input is sorted, with a note).
2. Duplicate dates are an error naming the first duplicated date.
3. Leading NaNs (assets listed later than others) follow ``missing``:
   ``common-start`` trims every row before the first date where all assets have data;
   ``drop`` keeps the earliest date and drops each asset without data there (with a note).
   A benchmark column is never dropped; rows before its first price are trimmed.
4. Interior and trailing gaps are forward-filled up to :data:`MAX_GAP` consecutive periods;
   a longer gap is an error naming the asset and the first and last missing date.
5. Every price must be finite and strictly positive; otherwise an error naming asset and date.
6. A one-period spike that reverts, a price at least :data:`SPIKE_RATIO` (2) times both its
   neighbours or at most 1/2 of both (a price x101 for one day, a decimal point lost), is what
   data vendors' validators flag as a bad tick: a real move of 100% does not undo itself the
   next period. ``spikes`` says what to do: ``warn`` (the default) keeps the data and says so in
   one line naming the asset and date; ``refuse`` is an error naming them; ``ignore`` says
   nothing. A jump that stays (an unadjusted split) is no spike.

Frequency is inferred from the median spacing of dates: up to 4 days is daily (252 periods per
year), up to 12 days weekly (52), 20 to 40 days monthly (12); anything else is an error, and so
is a change of frequency part-way (a run of :data:`FREQUENCY_RUN` spacings of another kind).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from maxent_portfolio.errors import ConfigError, DataError

MAX_GAP = 5
"""Longest run of missing prices (in periods) that is forward-filled rather than refused."""

MISSING_POLICIES = ("common-start", "drop")

SPIKE_POLICIES = ("warn", "refuse", "ignore")
"""What validation does about a one-period spike that reverts (rule 6 above)."""

SPIKE_RATIO = 2.0
"""A price at least this many times both neighbours (or at most its inverse) is a spike. The
built-in universes' largest such ratio is 1.31 (BAC, 20 January 2009)."""

_FREQUENCIES = ((0.0, 4.5, 252, "daily"), (4.5, 12.0, 52, "weekly"), (20.0, 40.0, 12, "monthly"))


@dataclass(frozen=True)
class Cleaned:
    """Result of :func:`clean_prices`.

    Attributes
    ----------
    prices : pd.DataFrame of shape (n_observations, n_kept_columns)
        Sorted, gap-filled, strictly positive prices (benchmark column included if given).
    coverage : pd.DataFrame of shape (n_input_columns, 5)
        Per input column: ``first``, ``last`` (raw first/last valid date), ``observations``
        (raw non-NaN count), ``filled`` (prices forward-filled) and ``action`` (text).
    notes : tuple of str
        What validation did, one sentence each.
    warnings : tuple of str
        What looks wrong in the data but was kept (``spikes="warn"``), one line each.
    """

    prices: pd.DataFrame
    coverage: pd.DataFrame
    notes: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    """What the user should look at before trusting a result (the spikes), one line each."""


def require_history(n_needed: int, n_have: int, what: str) -> None:
    """Raise a :class:`DataError` ``need N periods for WHAT, have M`` when ``n_have < n_needed``."""
    if n_have < n_needed:
        raise DataError(f"need {n_needed} periods for {what}, have {n_have}")


def check_missing_policy(missing: str) -> str:
    """Return ``missing`` if it is a known leading-NaN policy, else raise :class:`ConfigError`."""
    if missing not in MISSING_POLICIES:
        raise ConfigError(f"unknown missing-data policy {missing!r}: use "
                          + " or ".join(MISSING_POLICIES))
    return missing


def check_spike_policy(spikes: str) -> str:
    """Return ``spikes`` if it is a known spike policy, else raise :class:`ConfigError`."""
    if spikes not in SPIKE_POLICIES:
        raise ConfigError(f"unknown --spikes policy {spikes!r}: use "
                          + ", ".join(SPIKE_POLICIES))
    return spikes


def find_spikes(prices: pd.DataFrame, ratio: float = SPIKE_RATIO
                ) -> list[tuple[str, pd.Timestamp, float]]:
    """One-period spikes that revert: ``(asset, date, factor)`` in date order.

    A price is a spike when it is at least ``ratio`` times both its neighbours' (``factor`` is
    then the smaller of the two ratios) or at most ``1 / ratio`` of both (``factor`` below 1).

    Parameters
    ----------
    prices : pd.DataFrame of shape (n_observations, n_assets)
        Strictly positive prices, no NaN.
    """
    if len(prices) < 3:
        return []
    log = np.log(prices.to_numpy(dtype=float))
    before, here, after = log[:-2], log[1:-1], log[2:]
    up = np.minimum(here - before, here - after)
    down = np.minimum(before - here, after - here)
    size = np.maximum(up, down)
    rows, cols = np.nonzero(size >= np.log(ratio))
    found = [(str(prices.columns[int(c)]), _ts(prices.index[int(r) + 1]),
              float(np.exp(up[r, c] if up[r, c] > 0 else -down[r, c])))
             for r, c in zip(rows, cols, strict=True)]
    return sorted(found, key=lambda spike: spike[1])


def describe_spikes(spikes: list[tuple[str, pd.Timestamp, float]], what: str) -> str:
    """One line naming the first spikes (asset, date and size) and how many there are."""
    shown = ", ".join(f"{asset} on {_day(when)} ({factor:.3g} times both neighbours)"
                      for asset, when, factor in spikes[:3])
    more = f" and {len(spikes) - 3} more" if len(spikes) > 3 else ""
    kind = "price spike that reverts" if len(spikes) == 1 else \
        f"{len(spikes)} price spikes that revert"
    return f"one-period {kind} in {what}: {shown}{more}"


def infer_periods_per_year(index: pd.DatetimeIndex, what: str) -> int:
    """Periods per year (252, 52 or 12) from the median spacing of ``index``.

    Parameters
    ----------
    index : pd.DatetimeIndex of shape (n_observations,)
        Sorted dates, at least two.
    what : str
        Name of the data, used in the error message.
    """
    require_history(2, len(index), f"inferring the frequency of {what}")
    spacing = np.diff(index.values).astype("timedelta64[s]").astype(float) / 86400
    days = float(np.median(spacing))
    for low, high, periods, name in _FREQUENCIES:
        if low < days <= high:
            check_one_frequency(index, spacing, name, what)
            return periods
    raise DataError(f"cannot infer the frequency of {what}: median spacing is {days:g} days "
                    "(expected daily, weekly or monthly data)")


FREQUENCY_RUN = 12
"""Consecutive spacings of another frequency that count as a change of frequency, not gaps."""


def _frequency_of(days: np.ndarray) -> np.ndarray:
    """Each spacing's frequency class: 0 daily, 1 weekly, 2 monthly or longer."""
    return np.searchsorted(np.array([4.5, 12.0]), days, side="left")


def check_one_frequency(index: pd.DatetimeIndex, spacing: np.ndarray, name: str,
                        what: str) -> None:
    """Refuse dates whose spacing changes frequency for good (daily rows, then month-ends).

    Annualising such data at one frequency silently misstates every figure. A run of
    :data:`FREQUENCY_RUN` or more consecutive spacings of another frequency than the median's
    is a change; shorter runs are holidays, closures or missing rows, which validation fills.

    Parameters
    ----------
    index : pd.DatetimeIndex of shape (n_observations,)
        Sorted dates.
    spacing : np.ndarray of shape (n_observations - 1,)
        Days between consecutive dates.
    name : str
        The median spacing's frequency (``daily``, ``weekly`` or ``monthly``).
    what : str
        Name of the data, used in the error message.
    """
    names = ("daily", "weekly", "monthly")
    classes = _frequency_of(spacing)
    usual = names.index(name)
    other = classes != usual
    if not other.any():
        return
    # Runs of consecutive spacings of one other class.
    edges = np.flatnonzero(np.diff(np.r_[-1, classes, -1]) != 0)
    for start, stop in itertools.pairwise(edges):
        if classes[start] != usual and stop - start >= FREQUENCY_RUN:
            found = "monthly or longer" if classes[start] == 2 else names[classes[start]]
            raise DataError(
                f"{what} changes frequency: {name} spacing, but {found} from "
                f"{_day(index[int(start)])} to {_day(index[int(stop)])} ({stop - start} periods); "
                "use one frequency throughout (resample the file)")


def frequency_name(periods_per_year: int) -> str:
    """``daily``, ``weekly`` or ``monthly`` for 252, 52 or 12."""
    return {p: name for _, _, p, name in _FREQUENCIES}.get(periods_per_year,
                                                              f"{periods_per_year}/year")


PRICE_SHARE = 0.9
"""Share of strictly positive values above which a bare CSV is read as prices (see below)."""


def looks_like_prices(values: pd.DataFrame) -> bool:
    """Rule for a bare CSV: prices if most values (:data:`PRICE_SHARE`) are > 0 and the median
    absolute value is > 0.5.

    Returns are mostly tiny and about half negative; prices are positive and rarely below 0.5.
    The rule looks at most values, not all, so that one bad price (0 or -3) is refused as a
    non-positive price rather than turning the whole file into returns.

    Parameters
    ----------
    values : pd.DataFrame of shape (n_observations, n_columns)
        Numeric values (NaN ignored).
    """
    arr = values.to_numpy(dtype=float)
    arr = arr[~np.isnan(arr)]
    return arr.size > 0 and float(np.mean(arr > 0)) >= PRICE_SHARE \
        and float(np.median(np.abs(arr))) > 0.5


def prices_from_returns(returns: pd.DataFrame) -> pd.DataFrame:
    """Turn simple returns into prices of 1 one period before each asset's first return.

    A NaN return stays a NaN price (filled later by the common policy). The extra first row
    is dated one median spacing before the first return date. ``returns`` must be sorted
    with unique dates (see :func:`sort_unique`).

    Parameters
    ----------
    returns : pd.DataFrame of shape (n_observations, n_assets)

    Returns
    -------
    pd.DataFrame of shape (n_observations + 1, n_assets)
    """
    step = pd.Series(returns.index).diff().median() if len(returns) > 1 else pd.Timedelta(days=1)
    index = pd.DatetimeIndex([returns.index[0] - step]).append(returns.index)
    values = returns.to_numpy(dtype=float)
    out = np.full((len(values) + 1, values.shape[1]), np.nan)
    for j in range(values.shape[1]):
        valid = ~np.isnan(values[:, j])
        if not valid.any():
            continue
        k = int(np.argmax(valid))
        growth = np.cumprod(np.where(valid[k:], 1.0 + values[k:, j], 1.0))
        out[k + 1:, j] = np.where(valid[k:], growth, np.nan)
        out[k, j] = 1.0
    prices = pd.DataFrame(out, index=index, columns=returns.columns)
    prices.index.name = returns.index.name
    return prices


def sort_unique(frame: pd.DataFrame, what: str) -> tuple[pd.DataFrame, list[str]]:
    """Sort rows by date (with a note if they were not) and refuse duplicate dates."""
    notes: list[str] = []
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise DataError(f"dates of {what} are not dates")
    if frame.index.hasnans:
        raise DataError(f"{what} has a missing date")
    if not frame.index.is_monotonic_increasing:
        frame = frame.sort_index(kind="stable")
        notes.append(f"{what}: dates were not in order; sorted them.")
    dup = frame.index.duplicated()
    if dup.any():
        raise DataError(f"duplicate date {_day(frame.index[dup][0])} in {what}")
    return frame, notes


def columns_of(frame: pd.DataFrame) -> list[str]:
    """Column names as strings."""
    return [str(c) for c in frame.columns]


def _gap_runs(mask: pd.Series) -> list[tuple[pd.Timestamp, pd.Timestamp, int]]:
    """Runs of consecutive True in ``mask`` as (first date, last date, length)."""
    flags = np.concatenate([[False], mask.to_numpy(dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(flags.astype(np.int8)))
    starts, stops = edges[::2], edges[1::2]  # stops are exclusive
    return [(mask.index[a], mask.index[b - 1], int(b - a)) for a, b in zip(starts, stops,
                                                                           strict=True)]


def _ts(value: object) -> pd.Timestamp:
    return pd.Timestamp(value)  # type: ignore[arg-type]


def _day(value: object) -> str:
    return _ts(value).strftime("%Y-%m-%d")


def clean_prices(raw: pd.DataFrame, what: str, missing: str = "common-start",
                 benchmark: str | None = None, max_gap: int = MAX_GAP,
                 spikes: str = "warn") -> Cleaned:
    """Apply the validation policy of this module to a wide price table.

    Parameters
    ----------
    raw : pd.DataFrame of shape (n_observations, n_columns)
        Prices with a DatetimeIndex, one column per asset (and possibly the benchmark).
    what : str
        Name of the data (universe or file), used in messages.
    missing : {"common-start", "drop"}
        Policy for leading NaNs.
    benchmark : str, optional
        Column that is the benchmark: never dropped, not counted as an asset.
    max_gap : int
        Longest run of missing prices forward-filled.
    spikes : {"warn", "refuse", "ignore"}
        Policy for one-period spikes that revert.

    Returns
    -------
    Cleaned
    """
    check_missing_policy(missing)
    check_spike_policy(spikes)
    if raw.empty or raw.shape[1] == 0:
        raise DataError(f"no data in {what}")
    frame = raw.apply(pd.to_numeric, errors="coerce").astype(float)
    for col in raw.columns:
        bad = raw[col].notna() & frame[col].isna()
        if bad.any():
            date = bad.idxmax()
            raise DataError(f"non-numeric value {raw[col][date]!r} for {col} on {_day(date)} "
                            f"in {what}")
    frame, notes = sort_unique(frame, what)
    inf = ~np.isfinite(frame.to_numpy()) & frame.notna().to_numpy()
    if inf.any():
        r, c = np.argwhere(inf)[0]
        raise DataError(f"infinite price for {frame.columns[c]} on {_day(frame.index[r])} "
                        f"in {what}")

    columns = [str(c) for c in frame.columns]
    frame.columns = pd.Index(columns)
    raw_first = {c: frame[c].first_valid_index() for c in columns}
    empty = [c for c, f in raw_first.items() if f is None]
    if empty:
        raise DataError(f"no prices at all for {', '.join(empty)} in {what}")
    firsts = {c: _ts(f) for c, f in raw_first.items()}
    lasts = {c: _ts(frame[c].last_valid_index()) for c in columns}
    counts = {c: int(frame[c].notna().sum()) for c in columns}
    actions: dict[str, list[str]] = {c: [] for c in columns}
    filled: dict[str, int] = dict.fromkeys(columns, 0)

    if missing == "drop":
        start = pd.Timestamp(frame.index[0]) if benchmark is None else firsts[benchmark]
        late = [c for c in columns if c != benchmark and firsts[c] > start]
        if len(late) == len(columns) - (benchmark is not None):
            raise DataError(f"every asset of {what} starts after {_day(start)}; "
                            "use missing=common-start")
        for c in late:
            actions[c].append(f"dropped: no data before {_day(firsts[c])}")
        if late:
            notes.append(f"dropped {len(late)} late-listed asset(s) of {what}: "
                         + ", ".join(f"{c} (from {_day(firsts[c])})" for c in late))
        frame = frame.drop(columns=late)
    kept = [str(c) for c in frame.columns]
    common = max(firsts[c] for c in kept)
    if common > frame.index[0]:
        n_trim = int((frame.index < common).sum())
        latest = [c for c in kept if firsts[c] == common]
        notes.append(f"trimmed {n_trim} leading row(s) of {what} to {_day(common)}, the first "
                     f"date with data for every asset (latest: {', '.join(latest)})")
        for c in kept:
            lost = int(frame.loc[frame.index < common, c].notna().sum())
            if lost:
                actions[c].append(f"{lost} before {_day(common)} trimmed")
        frame = frame.loc[common:]

    for col in kept:
        runs = _gap_runs(frame[col].isna())
        for first, last, length in runs:
            if length > max_gap:
                raise DataError(f"{col} has {length} missing prices from {_day(first)} to "
                                f"{_day(last)} in {what} (at most {max_gap} are filled)")
        filled[col] = sum(length for *_, length in runs)
        if filled[col]:
            actions[col].append(f"filled {filled[col]}")
    if sum(filled.values()):
        frame = frame.ffill(limit=max_gap)
        notes.append(f"forward-filled {sum(filled.values())} missing price(s) in {what} "
                     f"(gaps of at most {max_gap} periods)")

    nonpos = (frame <= 0).to_numpy()
    if nonpos.any():
        r, c = np.argwhere(nonpos)[0]
        name = columns_of(frame)[c]
        value = float(frame.to_numpy()[r, c])
        raise DataError(f"non-positive price {value:g} for {name} on "
                        f"{_day(frame.index[r])} in {what}")
    warnings: tuple[str, ...] = ()
    found = find_spikes(frame) if spikes != "ignore" else []
    if found and spikes == "refuse":
        raise DataError(describe_spikes(found, what) + "; fix the file, or --spikes warn")
    if found:
        warnings = (describe_spikes(found, what) + "; kept (--spikes refuse to stop)",)
        for asset, when, _ in found:
            actions[asset].append(f"spike on {_day(when)}")
    coverage = pd.DataFrame({
        "first": [firsts[c] for c in columns], "last": [lasts[c] for c in columns],
        "observations": [counts[c] for c in columns], "filled": [filled[c] for c in columns],
        "action": ["; ".join(actions[c]) or "none" for c in columns],
    }, index=pd.Index(columns, name="asset"))
    return Cleaned(frame, coverage, tuple(notes), warnings)
