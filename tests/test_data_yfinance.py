"""Yahoo universes with `yfinance.download` replaced by synthetic frames: cache and failures.

The fakes (:mod:`fake_yfinance`) return frames shaped like yfinance 1.x ``download``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yfinance
from fake_yfinance import FakeDownload, yf_empty, yf_frame

from maxent_portfolio.data import load_universe
from maxent_portfolio.errors import DataError

TICKERS = ["AAA", "BBB", "CCC"]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("MAXENT_PORTFOLIO_CACHE", str(folder))
    return folder


@pytest.fixture
def universe(tmp_path: Path) -> str:
    path = tmp_path / "mine.yaml"
    path.write_text("source: yfinance\ntickers: [aaa, BBB, CCC]\nbenchmark: SPY\n")
    return str(path)


def _patch(monkeypatch: pytest.MonkeyPatch, result: object) -> FakeDownload:
    fake = FakeDownload(result)
    monkeypatch.setattr(yfinance, "download", fake)
    return fake


def _price_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.parquet")) + sorted(folder.glob("*.json"))


def test_good_download_is_cached_then_reused(monkeypatch, cache, universe) -> None:
    fake = _patch(monkeypatch, lambda t: yf_frame(t))
    m = load_universe(universe)
    assert m.assets == TICKERS and m.benchmark_name == "SPY"
    assert m.prices.shape == (300, 3) and m.periods_per_year == 252
    assert m.benchmark is not None and m.benchmark.index.equals(m.returns.index)
    assert m.provenance.source == "yfinance"
    (tickers, kwargs), = fake.calls
    assert sorted(tickers) == ["AAA", "BBB", "CCC", "SPY"]
    assert kwargs["auto_adjust"] is True and kwargs["progress"] is False

    parquet, = cache.glob("*.parquet")
    meta = json.loads(parquet.with_suffix(".json").read_text())
    assert meta["tickers"] == ["AAA", "BBB", "CCC", "SPY"]
    assert meta["rows"] == 300 and meta["fetched_at"] == m.provenance.fetched_at
    import hashlib

    assert meta["sha256"] == hashlib.sha256(parquet.read_bytes()).hexdigest()

    fake.result = AssertionError("download must not be called when the cache covers the range")
    again = load_universe(universe, start="2015-03-02")
    assert len(fake.calls) == 1
    assert again.prices.index[0] == pd.Timestamp("2015-03-02")
    assert any("used cached prices" in n for n in again.notes)
    pd.testing.assert_frame_equal(again.prices, m.prices.loc["2015-03-02":])


def test_refresh_downloads_again(monkeypatch, cache, universe) -> None:
    fake = _patch(monkeypatch, lambda t: yf_frame(t))
    load_universe(universe)
    load_universe(universe, refresh=True)
    assert len(fake.calls) == 2


def test_cache_not_covering_range_is_refetched(monkeypatch, cache, universe) -> None:
    fake = _patch(monkeypatch, lambda t: yf_frame(t))
    load_universe(universe, start="2015-06-01", end="2015-12-31")
    assert fake.calls[0][1]["start"] == "2015-06-01"
    assert fake.calls[0][1]["end"] == "2016-01-01"  # yfinance's end is exclusive
    load_universe(universe, start="2015-07-01", end="2015-12-01")
    assert len(fake.calls) == 1
    load_universe(universe, start="2015-01-05")
    assert len(fake.calls) == 2 and "period" not in fake.calls[1][1]


def test_empty_frame_names_every_ticker_and_writes_nothing(monkeypatch, cache,
                                                           universe) -> None:
    _patch(monkeypatch, lambda t: yf_empty(t))
    with pytest.raises(DataError) as info:
        load_universe(universe)
    msg = str(info.value)
    assert "failed for every ticker of mine" in msg and "\n" not in msg
    for t in [*TICKERS, "SPY"]:
        assert t in msg
    assert _price_files(cache) == []


def test_unknown_ticker_among_good_ones_is_named(monkeypatch, cache, universe) -> None:
    def download(tickers: list[str]) -> pd.DataFrame:
        logging.getLogger("yfinance").error(
            "['BBB']: YFTzMissingError('possibly delisted; no timezone found')")
        return yf_frame(tickers, failed=("BBB",))

    _patch(monkeypatch, download)
    with pytest.raises(DataError, match=r"no data for 1 of 4 tickers of mine \(BBB: .*delisted"):
        load_universe(universe)
    assert _price_files(cache) == []


def test_exception_without_cache_is_a_clear_error(monkeypatch, cache, universe) -> None:
    _patch(monkeypatch, ConnectionError("Failed to resolve 'query2.finance.yahoo.com'"))
    with pytest.raises(DataError, match=r"AAA, BBB, CCC, SPY: network error") as info:
        load_universe(universe)
    assert "no cache to fall back on" in str(info.value)
    assert _price_files(cache) == []


def test_offline_log_messages_are_reported_as_network_failure(monkeypatch, cache,
                                                              universe) -> None:
    def download(tickers: list[str]) -> pd.DataFrame:
        log = logging.getLogger("yfinance")
        log.error("Failed to get ticker 'AAA' reason: Failed to perform, curl: (6) Could not "
                  "resolve host: query2.finance.yahoo.com. See https://curl.se/ for details.")
        log.error(f"{tickers}: YFTzMissingError('possibly delisted; no timezone found')")
        return yf_empty(tickers)

    _patch(monkeypatch, download)
    with pytest.raises(DataError, match="network error: Could not resolve host") as info:
        load_universe(universe)
    assert "curl.se" not in str(info.value)


def test_exception_with_cache_uses_it_with_a_note(monkeypatch, cache, universe) -> None:
    fake = _patch(monkeypatch, lambda t: yf_frame(t))
    first = load_universe(universe)
    fake.result = TimeoutError("read timed out")
    m = load_universe(universe, refresh=True)
    assert len(fake.calls) == 2
    pd.testing.assert_frame_equal(m.prices, first.prices)
    assert m.provenance.details.get("cache_fallback") == "yes"
    assert any("failed" in n and "used the cache fetched at" in n for n in m.notes)


def test_partial_failure_keeps_the_previous_cache(monkeypatch, cache, universe) -> None:
    fake = _patch(monkeypatch, lambda t: yf_frame(t))
    load_universe(universe)
    before = {p.name: p.read_bytes() for p in _price_files(cache)}
    fake.result = lambda t: yf_frame(t, periods=10, failed=("CCC",))
    m = load_universe(universe, refresh=True)
    assert len(m.prices) == 300 and any("CCC" in n for n in m.notes)
    assert {p.name: p.read_bytes() for p in _price_files(cache)} == before


@pytest.mark.parametrize("damage", ["truncate", "flip", "sidecar"])
def test_corrupt_cache_is_detected_and_refetched(monkeypatch, cache, universe,
                                                 damage: str) -> None:
    fake = _patch(monkeypatch, lambda t: yf_frame(t))
    good = load_universe(universe)
    parquet, = cache.glob("*.parquet")
    data = parquet.read_bytes()
    if damage == "truncate":
        parquet.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        parquet.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    else:
        parquet.with_suffix(".json").write_text("{not json")
    m = load_universe(universe)
    assert len(fake.calls) == 2
    assert any("corrupt" in n and "downloaded again" in n for n in m.notes)
    pd.testing.assert_frame_equal(m.prices, good.prices)
    load_universe(universe)  # the rewritten cache is valid again
    assert len(fake.calls) == 2


def test_corrupt_cache_and_failed_refetch_is_reported(monkeypatch, cache, universe) -> None:
    fake = _patch(monkeypatch, lambda t: yf_frame(t))
    load_universe(universe)
    parquet, = cache.glob("*.parquet")
    parquet.write_bytes(parquet.read_bytes()[:50])
    fake.result = ConnectionError("no route to host")
    with pytest.raises(DataError, match="is corrupt"):
        load_universe(universe)


def test_late_listed_ticker_follows_missing_policy(monkeypatch, cache, universe) -> None:
    _patch(monkeypatch, lambda t: yf_frame(t, late={"CCC": 20}))
    trimmed = load_universe(universe)
    assert trimmed.prices.index[0] == pd.bdate_range("2015-01-02", periods=21)[-1]
    dropped = load_universe(universe, missing="drop")
    assert dropped.assets == ["AAA", "BBB"] and len(dropped.prices) == 300
    assert any("CCC" in n and "dropped" in n for n in dropped.notes)


def test_benchmark_inside_the_tickers(monkeypatch, cache, tmp_path) -> None:
    path = tmp_path / "ma.yaml"
    path.write_text("source: yfinance\ntickers: [SPY, TLT]\nbenchmark: SPY\n")
    fake = _patch(monkeypatch, lambda t: yf_frame(t))
    m = load_universe(str(path))
    assert sorted(fake.calls[0][0]) == ["SPY", "TLT"]
    assert m.assets == ["SPY", "TLT"]
    pd.testing.assert_series_equal(m.benchmark, m.returns["SPY"], check_names=False)


def test_csv_with_ticker_benchmark(monkeypatch, cache, tmp_path) -> None:
    idx = pd.bdate_range("2015-02-02", periods=50, name="date")
    pd.DataFrame({"X": np.linspace(10, 12, 50), "Y": np.linspace(5, 4, 50)}, index=idx) \
        .to_csv(tmp_path / "xy.csv")
    (tmp_path / "xy.yaml").write_text("source: csv\npath: xy.csv\nbenchmark: spy\n")
    fake = _patch(monkeypatch, lambda t: yf_frame(t))
    m = load_universe(str(tmp_path / "xy.yaml"))
    assert fake.calls[0][0] == ["SPY"]
    assert m.assets == ["X", "Y"] and m.benchmark_name == "SPY"
    assert m.benchmark is not None and not m.benchmark.isna().any()


def _fake_yfinance_databases(monkeypatch: pytest.MonkeyPatch, result: object) -> list[str]:
    """Record where yfinance's cache is pointed; the fake download writes its databases there,
    as the real one does (tz and cookie SQLite files), then returns ``result``."""
    seen: list[str] = []
    monkeypatch.setattr(yfinance.cache, "set_cache_location", seen.append)

    def download(tickers: list[str]) -> pd.DataFrame:
        for db in ("tkr-tz.db", "cookies.db"):
            (Path(seen[-1]) / db).write_text("sqlite")
        return result(tickers)  # type: ignore[operator]

    _patch(monkeypatch, download)
    return seen


def test_yfinance_own_cache_is_temporary_and_removed(monkeypatch, cache, universe) -> None:
    seen = _fake_yfinance_databases(monkeypatch, lambda t: yf_frame(t))
    load_universe(universe)
    assert seen and not Path(seen[0]).is_relative_to(cache)
    assert not Path(seen[0]).exists()
    assert sorted(p.suffix for p in cache.iterdir()) == [".json", ".parquet"]


def test_failed_fetch_leaves_the_cache_as_it_was(monkeypatch, cache, universe) -> None:
    seen = _fake_yfinance_databases(monkeypatch, lambda t: yf_empty(t))
    with pytest.raises(DataError, match="nothing written"):
        load_universe(universe)
    assert seen and not Path(seen[0]).exists()
    assert not cache.exists()
