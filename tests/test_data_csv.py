"""CSV universes: prices and returns, daily and monthly, bare files and YAML, bad inputs."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from maxent_portfolio.data import load_universe
from maxent_portfolio.errors import ConfigError, DataError


def _frame(freq: str = "B", n: int = 60, start: str = "2020-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(3)
    idx = pd.date_range(start, periods=n, freq=freq, name="date")
    rets = rng.normal(0.001, 0.01, size=(n, 3))
    return pd.DataFrame(rets, index=idx, columns=["AAA", "BBB", "CCC"])


def _write(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index_label="date")
    return path


@pytest.mark.parametrize(("freq", "ppy"), [("B", 252), ("ME", 12), ("W-FRI", 52)])
def test_csv_prices(tmp_path: Path, freq: str, ppy: int) -> None:
    prices = 50 * (1 + _frame(freq)).cumprod()
    m = load_universe(str(_write(prices, tmp_path / "p.csv")))
    assert m.periods_per_year == ppy
    assert m.assets == ["AAA", "BBB", "CCC"] and len(m.prices) == 60
    np.testing.assert_allclose(m.prices.to_numpy(), prices.to_numpy())
    assert m.benchmark is None and m.provenance.source == "csv"
    assert any("read as prices (inferred" in n for n in m.notes)


@pytest.mark.parametrize(("freq", "ppy"), [("B", 252), ("ME", 12)])
def test_csv_returns(tmp_path: Path, freq: str, ppy: int) -> None:
    rets = _frame(freq)
    m = load_universe(str(_write(rets, tmp_path / "r.csv")))
    assert m.periods_per_year == ppy
    assert len(m.returns) == 60 and m.returns.index.equals(rets.index)
    np.testing.assert_allclose(m.returns.to_numpy(), rets.to_numpy(), rtol=1e-9)
    assert any("read as returns" in n for n in m.notes)


def test_yaml_csv_with_benchmark_column_and_kind(tmp_path: Path) -> None:
    prices = 50 * (1 + _frame("ME")).cumprod()
    _write(prices, tmp_path / "m.csv")
    (tmp_path / "u.yaml").write_text("source: csv\npath: m.csv\nkind: prices\nbenchmark: CCC\n")
    m = load_universe(str(tmp_path / "u.yaml"))
    assert m.name == "u" and m.assets == ["AAA", "BBB"]
    assert m.benchmark_name == "CCC"
    np.testing.assert_allclose(m.benchmark.to_numpy(),
                               prices["CCC"].pct_change().iloc[1:].to_numpy())


def test_yaml_kind_overrides_inference(tmp_path: Path) -> None:
    # Positive values around 1 would be read as prices; kind: returns says otherwise.
    df = 1.0 + 0 * _frame("ME") + 0.01
    _write(df, tmp_path / "g.csv")
    (tmp_path / "g.yaml").write_text("source: csv\npath: g.csv\nkind: returns\n")
    m = load_universe(str(tmp_path / "g.yaml"))
    np.testing.assert_allclose(m.returns.to_numpy(), df.to_numpy())


def test_unsorted_csv_is_sorted(tmp_path: Path) -> None:
    prices = 50 * (1 + _frame()).cumprod()
    m = load_universe(str(_write(prices.iloc[::-1], tmp_path / "u.csv")))
    assert m.prices.index.is_monotonic_increasing
    assert any("sorted" in n for n in m.notes)


def test_csv_negative_price_names_asset_and_date(tmp_path: Path) -> None:
    prices = 50 * (1 + _frame()).cumprod()
    prices.iloc[:, 2] = prices.iloc[:, 2].where(prices.index != prices.index[9], -1.0)
    with pytest.raises(DataError, match=r"CCC on 2020-01-14"):
        load_universe(str(_write(prices, tmp_path / "neg.csv")))


def test_csv_duplicate_date_is_named(tmp_path: Path) -> None:
    prices = 50 * (1 + _frame()).cumprod()
    dup = pd.concat([prices.iloc[:10], prices.iloc[[4]], prices.iloc[10:]])
    with pytest.raises(DataError, match="duplicate date 2020-01-07"):
        load_universe(str(_write(dup, tmp_path / "dup.csv")))


def test_returns_csv_duplicate_date_is_named(tmp_path: Path) -> None:
    rets = _frame()
    dup = pd.concat([rets, rets.iloc[[3]]])
    with pytest.raises(DataError, match="duplicate date 2020-01-06"):
        load_universe(str(_write(dup, tmp_path / "dupr.csv")))


def test_returns_below_minus_one_are_named(tmp_path: Path) -> None:
    rets = _frame()
    rets.iloc[5, 1] = -1.5
    with pytest.raises(DataError, match=r"for BBB on 2020-01-08 is <= -100%"):
        load_universe(str(_write(rets, tmp_path / "r.csv")))


def test_csv_long_gap_is_named(tmp_path: Path) -> None:
    prices = 50 * (1 + _frame()).cumprod()
    prices.iloc[20:30, 0] = np.nan
    with pytest.raises(DataError, match=r"AAA has 10 missing prices from 2020-01-29 to 2020-02-11"):
        load_universe(str(_write(prices, tmp_path / "gap.csv")))


def test_csv_bad_date_and_empty_file(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("date,A\n2020-01-01,1.0\nnot-a-date,2.0\n")
    with pytest.raises(DataError, match="'not-a-date' in the first column is not a date"):
        load_universe(str(tmp_path / "d.csv"))
    (tmp_path / "e.csv").write_text("date,A\n")
    with pytest.raises(DataError, match=r"e\.csv has no rows"):
        load_universe(str(tmp_path / "e.csv"))


def test_csv_non_numeric_value_is_named(tmp_path: Path) -> None:
    (tmp_path / "n.csv").write_text(
        "date,A,B\n2020-01-01,10,20\n2020-01-02,11,oops\n2020-01-03,12,21\n")
    with pytest.raises(DataError, match=r"'oops' for B on 2020-01-02"):
        load_universe(str(tmp_path / "n.csv"))


def test_missing_column_in_yaml_tickers(tmp_path: Path) -> None:
    _write(50 * (1 + _frame()).cumprod(), tmp_path / "p.csv")
    (tmp_path / "u.yaml").write_text("source: csv\npath: p.csv\ntickers: [AAA, ZZZ]\n")
    with pytest.raises(DataError, match="no column 'ZZZ'"):
        load_universe(str(tmp_path / "u.yaml"))


def test_shipped_example_csv_universe_loads() -> None:
    root = Path(__file__).resolve().parents[1]
    m = load_universe(str(root / "data" / "universes" / "factor-etfs-monthly.yaml"))
    assert m.periods_per_year == 12 and m.n_assets == 5
    assert m.benchmark_name == "equal-weight"


def _prices_with(value: float, n: int) -> pd.DataFrame:
    """Prices of AAPL, JNJ, XOM with one bad ``value`` for JNJ on 2014-05-23."""
    idx = pd.bdate_range("2014-01-02", periods=n, name="date")
    rng = np.random.default_rng(11)
    prices = pd.DataFrame(50 * np.exp(np.cumsum(rng.normal(0, 0.01, (n, 3)), axis=0)),
                          index=idx, columns=["AAPL", "JNJ", "XOM"])
    prices.loc["2014-05-23", "JNJ"] = value
    return prices


@pytest.mark.parametrize("n", [150, 1500])
@pytest.mark.parametrize(("value", "shown"), [(0.0, "0"), (-3.0, "-3")])
def test_one_non_positive_price_is_named_not_read_as_returns(
        tmp_path: Path, n: int, value: float, shown: str) -> None:
    path = _write(_prices_with(value, n), tmp_path / "bad.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy RuntimeWarning on the way
        with pytest.raises(DataError, match=rf"^non-positive price {shown} for JNJ on "
                                            r"2014-05-23 in "):
            load_universe(str(path))


@pytest.mark.parametrize(("header", "match"), [
    ("date,AAPL,MSFT,AAPL", r"column 'AAPL' appears twice in the header row \(columns 2 and 4\)"),
    ("date,AAPL, ,MSFT", r"column 3 has no name"),
    ("date,AAPL,MSFT,", r"column 4 has no name"),
    ("date,AAPL,MSFT, AAPL ", r"column 'AAPL' appears twice"),
])
def test_duplicate_or_blank_header_is_refused(tmp_path: Path, header: str, match: str) -> None:
    path = tmp_path / "h.csv"
    path.write_text(header + "\n2020-01-01,1,2,3\n2020-01-02,1,2,3\n2020-01-03,1,2,3\n")
    with pytest.raises(DataError, match=match):
        load_universe(str(path))


def test_blank_date_header_is_fine(tmp_path: Path) -> None:
    prices = 50 * (1 + _frame()).cumprod()
    path = tmp_path / "p.csv"
    prices.to_csv(path, index_label="")
    assert load_universe(str(path)).assets == ["AAA", "BBB", "CCC"]


def test_directory_given_as_csv_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "prices.csv"
    folder.mkdir()
    with pytest.raises(ConfigError, match=r"prices\.csv is a directory, not a file"):
        load_universe(str(folder))
    (tmp_path / "u.yaml").write_text("source: csv\npath: prices.csv\n")
    with pytest.raises(DataError, match=r"prices\.csv is a directory, not a file"):
        load_universe(str(tmp_path / "u.yaml"))
