"""Dates are read one consistent way or refused; a change of frequency is refused.

These are the silent failures of a backtester: a CSV that loads with exit 0 and wrong dates
(day-first read month-first), or one frequency's annualisation applied to another's rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maxent_portfolio.data import load_universe
from maxent_portfolio.data.sources import parse_dates
from maxent_portfolio.errors import DataError


def _frame(index: pd.DatetimeIndex, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (len(index), 3)), axis=0))
    return pd.DataFrame(values, index=index, columns=["AAA", "BBB", "CCC"]).round(4)


def _write(frame: pd.DataFrame, dates: list[str], path: Path) -> Path:
    written = frame.copy()
    written.index = pd.Index(dates, name="date")
    written.to_csv(path)
    return path


def test_day_first_csv_loads_the_same_dates_and_figures_as_iso(tmp_path: Path) -> None:
    index = pd.bdate_range("2015-01-01", periods=1000)
    frame = _frame(index)
    iso = load_universe(_write(frame, [f"{d:%Y-%m-%d}" for d in index], tmp_path / "iso.csv"))
    dmy = load_universe(_write(frame, [f"{d:%d/%m/%Y}" for d in index], tmp_path / "dmy.csv"))
    pd.testing.assert_frame_equal(iso.prices, dmy.prices)
    assert dmy.periods_per_year == 252
    # Independent figure: annual volatility of 1/N from the generated returns, about 10%.
    vol = float(dmy.returns.mean(axis=1).std() * np.sqrt(252))
    assert 0.05 < vol < 0.15


def test_ambiguous_dates_are_refused_unless_a_format_is_given(tmp_path: Path) -> None:
    index = pd.DatetimeIndex([pd.Timestamp(2015, m, d) for m in range(1, 13)
                              for d in range(1, 13)])
    path = _write(_frame(index), [f"{d:%d/%m/%Y}" for d in index], tmp_path / "p.csv")
    with pytest.raises(DataError, match=r"read two ways.*--date-format"):
        load_universe(path)
    loaded = load_universe(path, date_format="%d/%m/%Y")
    assert loaded.prices.index.equals(pd.DatetimeIndex(index, name="date"))


def test_a_universe_file_says_how_its_dates_are_written(tmp_path: Path) -> None:
    index = pd.DatetimeIndex([pd.Timestamp(2015, m, d) for m in range(1, 13)
                              for d in range(1, 13)])
    _write(_frame(index), [f"{d:%m/%d/%Y}" for d in index], tmp_path / "p.csv")
    spec = tmp_path / "u.yaml"
    spec.write_text('source: csv\npath: p.csv\ndate_format: "%m/%d/%Y"\n')
    assert load_universe(spec).prices.index.equals(pd.DatetimeIndex(index, name="date"))


def test_offsets_across_daylight_saving_keep_the_local_trading_day() -> None:
    local = pd.date_range("2015-03-02", periods=40, freq="B", tz="America/New_York")
    tokyo = pd.date_range("2015-03-02", periods=5, freq="B", tz="Asia/Tokyo")
    assert parse_dates(pd.Index(local.astype(str)), "x").equals(local.tz_localize(None))
    # Converting to UTC would move each Tokyo midnight to the day before.
    assert parse_dates(pd.Index(tokyo.astype(str)), "x").equals(tokyo.tz_localize(None))


def test_a_change_of_frequency_is_refused_naming_where(tmp_path: Path) -> None:
    daily = pd.bdate_range("2010-01-04", periods=700)
    ends = pd.date_range(daily[-1], periods=49, freq="ME")[1:]
    index = daily.append(ends)
    path = _write(_frame(index), [f"{d:%Y-%m-%d}" for d in index], tmp_path / "p.csv")
    with pytest.raises(DataError, match=f"changes frequency.*monthly.*{daily[-1]:%Y-%m-%d}"):
        load_universe(path)


def test_a_week_long_closure_is_not_a_change_of_frequency(tmp_path: Path) -> None:
    index = pd.bdate_range("2001-06-01", "2001-12-31")
    index = index[(index < "2001-09-11") | (index > "2001-09-16")]  # NYSE closed after 9/11
    path = _write(_frame(index), [f"{d:%Y-%m-%d}" for d in index], tmp_path / "p.csv")
    assert load_universe(path).periods_per_year == 252


FORMATS = {
    "iso": "%Y-%m-%d",
    "day-first": "%d/%m/%Y",
    "month-first": "%m/%d/%Y",
    "day-first dotted": "%d.%m.%Y",
    "iso with time": "%Y-%m-%d %H:%M:%S",
    "month name": "%d %b %Y",
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=st.dates(min_value=pd.Timestamp("1990-01-01").date(),
                      max_value=pd.Timestamp("2030-01-01").date()),
       n=st.integers(min_value=2, max_value=300),
       freq=st.sampled_from(["B", "W-FRI", "ME"]),
       layout=st.sampled_from(sorted(FORMATS)),
       zone=st.sampled_from([None, "UTC", "America/New_York", "Europe/London", "Asia/Tokyo"]))
def test_dates_load_as_written_or_are_refused_never_silently_moved(
        start: object, n: int, freq: str, layout: str, zone: str | None) -> None:
    index = pd.date_range(pd.Timestamp(start), periods=n, freq=freq)
    written = index.strftime(FORMATS[layout])
    if zone is not None:  # the wall-clock dates, stamped with their zone's offset
        offsets = index.tz_localize(zone, nonexistent="shift_forward", ambiguous=False)
        time = "" if "%H" in FORMATS[layout] else " 00:00:00"
        written = pd.Index([f"{w}{time}{o:%z}" for w, o in zip(written, offsets, strict=True)])
    try:
        read = parse_dates(pd.Index(written), "prices.csv")
    except DataError as exc:
        message = str(exc)
        assert "\n" not in message and "prices.csv" in message
        assert "read two ways" in message or "not a date" in message
        return
    assert read.equals(pd.DatetimeIndex(index)), (layout, zone, list(written[:3]))


def test_a_csv_with_offsets_across_daylight_saving_runs_through_the_cli(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 23 item 8: ``data show`` and ``backtest`` on such a file gave a traceback."""
    from maxent_portfolio.cli import main

    local = pd.date_range("2014-01-02 16:00", periods=400, freq="B", tz="America/New_York")
    frame = _frame(local)
    _write(frame, [str(d) for d in local], tmp_path / "tz.csv")  # -05:00 and -04:00
    monkeypatch.chdir(tmp_path)
    assert main(["data", "show", "tz.csv"]) == 0
    assert "2014-01-02..2015-07-15" in capsys.readouterr().out
    assert main(["backtest", "-u", "tz.csv", "-s", "equal-weight", "--train-years", "0.5",
                 "--test-years", "0.5", "--no-html", "--quiet", "--out", "run"]) == 0
    returns = pd.read_csv(tmp_path / "run" / "returns.csv", index_col="date", parse_dates=True)
    assert returns.index.isin(local.tz_localize(None)).all()  # the local trading days
