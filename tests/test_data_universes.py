"""Built-in and user universes: embedded data offline, listing, YAML and CSV definitions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from maxent_portfolio.data import MarketData, list_universes, load_universe
from maxent_portfolio.errors import ConfigError, DataError

BUILTINS = {"sp500-20", "factor-etfs", "us-sectors", "multi-asset", "dow-30"}


def test_sp500_20_loads_offline() -> None:
    m = load_universe("sp500-20")
    assert isinstance(m, MarketData)
    assert m.prices.shape == (8313, 20) and m.returns.shape == (8312, 20)
    assert m.prices.index[0] == pd.Timestamp("1990-01-02")
    assert m.prices.index[-1] == pd.Timestamp("2022-12-28")
    assert m.periods_per_year == 252
    assert m.benchmark_name == "SP500"
    assert m.benchmark is not None and m.benchmark.index.equals(m.returns.index)
    assert not m.benchmark.isna().any()
    np.testing.assert_allclose(m.returns.to_numpy(),
                               (m.prices / m.prices.shift(1) - 1).iloc[1:].to_numpy())
    assert m.provenance.source == "builtin" and len(m.provenance.content_hash) == 64


def test_default_universe_is_sp500_20() -> None:
    assert load_universe().name == "sp500-20"


def test_factor_etfs_loads_offline_with_equal_weight_benchmark() -> None:
    m = load_universe("factor-etfs", start="2020-01-01", end="2020-12-31")
    assert m.assets == ["MTUM", "QUAL", "SIZE", "USMV", "VLUE"]
    assert m.prices.index[0] >= pd.Timestamp("2020-01-01")
    assert m.prices.index[-1] <= pd.Timestamp("2020-12-31")
    assert m.benchmark_name == "equal-weight"
    pd.testing.assert_series_equal(m.benchmark, m.returns.mean(axis=1), check_names=False)


def test_content_hash_is_stable_and_depends_on_data() -> None:
    a = load_universe("factor-etfs", end="2016-12-31")
    b = load_universe("factor-etfs", end="2016-12-31")
    c = load_universe("factor-etfs", end="2017-12-31")
    assert a.provenance.content_hash == b.provenance.content_hash != c.provenance.content_hash


def test_list_universes_has_builtins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    infos = {u.name: u for u in list_universes()}
    assert set(infos) == BUILTINS
    assert infos["sp500-20"].n_assets == 20
    assert infos["sp500-20"].span == "1990-01-02..2022-12-28"
    assert infos["us-sectors"].span == "on fetch" and infos["us-sectors"].benchmark == "SPY"
    assert infos["dow-30"].n_assets == 30 and infos["multi-asset"].n_assets == 8
    assert all(u.description for u in infos.values())


def test_local_yaml_is_listed_and_loadable(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "data" / "universes"
    folder.mkdir(parents=True)
    (folder / "mini.yaml").write_text(
        "source: builtin\ndataset: sp500\ntickers: [AAPL, MSFT]\nbenchmark: SP500\n"
        "start: 2010-01-01\nend: 2010-12-31\n")
    monkeypatch.chdir(tmp_path)
    infos = {u.name: u for u in list_universes()}
    assert infos["mini"].n_assets == 2 and infos["mini"].span == "2010-01-04..2010-12-31"
    m = load_universe("mini")
    assert m.assets == ["AAPL", "MSFT"] and m.prices.index[0].year == 2010


def test_broken_local_yaml_is_reported_only_when_used(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "data" / "universes"
    folder.mkdir(parents=True)
    (folder / "oops.yaml").write_text("source: yfinance\n")
    monkeypatch.chdir(tmp_path)
    assert load_universe("factor-etfs", end="2014-03-01").n_assets == 5
    infos = {u.name: u for u in list_universes()}
    assert infos["oops"].source == "invalid" and "needs a tickers list" in infos["oops"].description
    with pytest.raises(ConfigError, match=r"oops\.yaml: source yfinance needs a tickers list"):
        load_universe("oops")


def test_unknown_universe_is_named() -> None:
    with pytest.raises(ConfigError, match=r"unknown universe 'sp501'.*sp500-20"):
        load_universe("sp501")


def test_missing_csv_and_yaml_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.csv not found"):
        load_universe(str(tmp_path / "nope.csv"))
    with pytest.raises(ConfigError, match=r"nope\.yaml not found"):
        load_universe(str(tmp_path / "nope.yaml"))


@pytest.mark.parametrize(("text", "match"), [
    ("source: bloomberg\n", "source must be one of"),
    ("source: yfinance\n", "needs a tickers list"),
    ("source: yfinance\ntickers: [SPY, SPY]\n", "SPY is listed twice"),
    ("source: csv\n", "needs a path"),
    ("source: csv\npath: x.csv\nkind: logreturns\n", "kind must be"),
    ("source: yfinance\ntickers: [SPY]\nfrist: 2010-01-01\n", "unknown key 'frist'"),
    ("source: yfinance\ntickers: [SPY]\nstart: someday\n", "start: 'someday' is not a date"),
    ("source: [unclosed\n", "invalid YAML"),
])
def test_bad_yaml_names_file_and_problem(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        load_universe(str(path))
    assert "bad.yaml" in str(info.value) and "\n" not in str(info.value)


def test_bad_dates_and_options() -> None:
    with pytest.raises(ConfigError, match="--start: 'yesterday'"):
        load_universe("factor-etfs", start="yesterday")
    with pytest.raises(ConfigError, match=r"start 2020-01-01 \(as requested\) is after end "
                                          r"2019-01-01 \(as requested\)"):
        load_universe("factor-etfs", start="2020-01-01", end="2019-01-01")
    with pytest.raises(ConfigError, match="'sometimes'"):
        load_universe("factor-etfs", missing="sometimes")


def test_range_without_data_names_the_span() -> None:
    with pytest.raises(DataError, match=r"no data for factor-etfs .*2014-01-02\.\.2022-12-28"):
        load_universe("factor-etfs", start="2030-01-01")


def test_too_little_history_is_named() -> None:
    with pytest.raises(DataError, match="need 2 periods for returns of factor-etfs, have 1"):
        load_universe("factor-etfs", start="2020-01-02", end="2020-01-02")


def test_slice_keeps_coverage_and_alignment() -> None:
    m = load_universe("factor-etfs").slice("2019-01-01", "2019-06-30")
    assert m.coverage is not None
    assert m.benchmark is not None and m.benchmark.index.equals(m.returns.index)


def test_start_after_end_names_both_and_where_each_came_from(tmp_path: Path) -> None:
    # `--end 2005` alone against a universe that starts later: the start is not the culprit.
    path = tmp_path / "late.yaml"
    path.write_text("source: builtin\ndataset: factors\nstart: 2015-01-01\n")
    with pytest.raises(ConfigError) as info:
        load_universe(str(path), end="2005")
    msg = str(info.value)
    assert "start 2015-01-01 (from universe late)" in msg
    assert "end 2005-01-01 (as requested)" in msg
