"""The validation policy applied to every source (maxent_portfolio.data.validate)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from maxent_portfolio.data import require_history
from maxent_portfolio.data.validate import (
    clean_prices,
    infer_periods_per_year,
    looks_like_prices,
    prices_from_returns,
)
from maxent_portfolio.errors import ConfigError, DataError


def _prices(n: int = 30, cols: tuple[str, ...] = ("AAA", "BBB", "CCC")) -> pd.DataFrame:
    idx = pd.bdate_range("2021-01-04", periods=n)
    base = np.linspace(100, 130, n)
    return pd.DataFrame({c: base * (i + 1) for i, c in enumerate(cols)}, index=idx)


def test_clean_frame_passes_unchanged() -> None:
    p = _prices()
    out = clean_prices(p, "u")
    pd.testing.assert_frame_equal(out.prices, p)
    assert out.notes == ()
    assert (out.coverage["action"] == "none").all()


def test_unsorted_dates_are_sorted_with_a_note() -> None:
    p = _prices()
    out = clean_prices(p.iloc[::-1], "u")
    pd.testing.assert_frame_equal(out.prices, p)
    assert any("sorted" in n for n in out.notes)


def test_duplicate_date_names_the_date() -> None:
    p = _prices()
    dup = pd.concat([p, p.iloc[[5]]])
    with pytest.raises(DataError, match="duplicate date 2021-01-11"):
        clean_prices(dup, "u")


def test_negative_price_names_asset_and_date() -> None:
    p = _prices()
    p.iloc[7, 1] = -3.0
    with pytest.raises(DataError, match=r"BBB on 2021-01-13"):
        clean_prices(p, "u")


def test_non_numeric_value_names_asset_and_date() -> None:
    p = _prices().astype(object)
    p.iloc[2, 0] = "n/a?"
    with pytest.raises(DataError, match=r"'n/a\?' for AAA on 2021-01-06"):
        clean_prices(p, "u")


def test_short_gap_is_filled_and_reported() -> None:
    p = _prices()
    p.iloc[10:13, 2] = np.nan
    out = clean_prices(p, "u")
    assert not out.prices.isna().any().any()
    assert out.prices.iloc[12, 2] == p.iloc[9, 2]
    assert out.coverage.loc["CCC", "filled"] == 3
    assert any("forward-filled 3" in n for n in out.notes)


def test_gap_beyond_limit_names_asset_and_dates() -> None:
    p = _prices()
    p.iloc[10:17, 0] = np.nan  # 7 missing > MAX_GAP
    with pytest.raises(DataError, match=r"AAA has 7 missing prices from 2021-01-18 to 2021-01-26"):
        clean_prices(p, "u")


def test_trailing_gap_beyond_limit_is_an_error() -> None:
    p = _prices()
    p.iloc[-6:, 1] = np.nan
    with pytest.raises(DataError, match="BBB has 6 missing"):
        clean_prices(p, "u")


def test_common_start_trims_to_latest_listing() -> None:
    p = _prices()
    p.iloc[:4, 1] = np.nan
    out = clean_prices(p, "u", missing="common-start")
    assert out.prices.index[0] == p.index[4]
    assert list(out.prices.columns) == ["AAA", "BBB", "CCC"]
    assert any("trimmed 4 leading" in n and "BBB" in n for n in out.notes)
    assert out.coverage.loc["AAA", "action"] == "4 before 2021-01-08 trimmed"
    assert out.coverage.loc["BBB", "action"] == "none"
    assert out.coverage.loc["BBB", "first"] == p.index[4]


def test_drop_removes_late_listed_asset_with_a_note() -> None:
    p = _prices()
    p.iloc[:4, 1] = np.nan
    out = clean_prices(p, "u", missing="drop")
    assert out.prices.index[0] == p.index[0]
    assert list(out.prices.columns) == ["AAA", "CCC"]
    assert any("BBB (from 2021-01-08)" in n for n in out.notes)
    assert out.coverage.loc["BBB", "action"].startswith("dropped")


def test_drop_never_drops_the_benchmark() -> None:
    p = _prices()
    p.iloc[:3, 2] = np.nan
    out = clean_prices(p, "u", missing="drop", benchmark="CCC")
    assert list(out.prices.columns) == ["AAA", "BBB", "CCC"]
    assert out.prices.index[0] == p.index[3]


def test_unknown_missing_policy() -> None:
    with pytest.raises(ConfigError, match="'ffill'"):
        clean_prices(_prices(), "u", missing="ffill")


def test_asset_without_any_price_is_named() -> None:
    p = _prices()
    p["ZZZ"] = np.nan
    with pytest.raises(DataError, match="no prices at all for ZZZ"):
        clean_prices(p, "u")


def test_require_history_message() -> None:
    require_history(10, 10, "the lookback")
    with pytest.raises(DataError, match="need 60 periods for the lookback window, have 12"):
        require_history(60, 12, "the lookback window")


@pytest.mark.parametrize(("freq", "expected"), [("B", 252), ("D", 252), ("W-FRI", 52),
                                                ("ME", 12), ("MS", 12)])
def test_frequency_inference(freq: str, expected: int) -> None:
    assert infer_periods_per_year(pd.date_range("2020-01-01", periods=40, freq=freq), "u") \
        == expected


def test_quarterly_frequency_is_refused() -> None:
    with pytest.raises(DataError, match=r"cannot infer the frequency of q\.csv"):
        infer_periods_per_year(pd.date_range("2000-01-01", periods=20, freq="QE"), "q.csv")


def test_prices_vs_returns_rule() -> None:
    assert looks_like_prices(_prices())
    rets = pd.DataFrame({"A": [0.01, -0.02, 0.003], "B": [0.0, 0.01, 0.02]})
    assert not looks_like_prices(rets)
    # Positive but tiny values are returns, not prices.
    assert not looks_like_prices(pd.DataFrame({"A": [0.01, 0.02, 0.03]}))
    # One bad price does not make a price table returns; returns in percent stay returns.
    bad = _prices().copy()
    bad.iloc[3, 0], bad.iloc[7, 1] = 0.0, -3.0
    assert looks_like_prices(bad)
    percent = pd.DataFrame({"A": [1.2, -0.8, 2.5, -1.9, 0.7, -1.1]})
    assert not looks_like_prices(percent)


def test_prices_from_returns_roundtrip() -> None:
    idx = pd.bdate_range("2022-01-03", periods=5)
    r = pd.DataFrame({"A": [0.1, -0.05, 0.02, 0.0, 0.01],
                      "B": [np.nan, np.nan, 0.03, 0.01, -0.02]}, index=idx)
    p = prices_from_returns(r)
    assert len(p) == 6 and p.index[0] < idx[0]
    assert p["A"].iloc[0] == 1.0
    # B starts at 1 one period before its first return.
    assert p["B"].iloc[2] == 1.0 and np.isnan(p["B"].iloc[1])
    np.testing.assert_allclose(p["A"].pct_change().iloc[1:].to_numpy(), r["A"].to_numpy())
    np.testing.assert_allclose(p["B"].pct_change().iloc[3:].to_numpy(), r["B"].iloc[2:])


def _spiked(factor: float, at: int = 12, column: str = "BBB") -> pd.DataFrame:
    """Random-walk prices with one price of ``column`` multiplied by ``factor`` for one day."""
    rng = np.random.default_rng(5)
    idx = pd.bdate_range("2021-01-04", periods=40)
    p = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 0.02, (40, 3)), axis=0)), index=idx,
                     columns=["AAA", "BBB", "CCC"])
    p.iloc[at, p.columns.get_loc(column)] *= factor
    return p


@pytest.mark.parametrize("factor", [101.0, 1 / 101, 2.5, 0.3])
def test_a_one_day_spike_that_reverts_is_a_warning_naming_asset_and_date(factor: float) -> None:
    p = _spiked(factor)
    out = clean_prices(p, "u")
    day = f"{p.index[12]:%Y-%m-%d}"
    assert len(out.warnings) == 1 and "BBB" in out.warnings[0] and day in out.warnings[0]
    pd.testing.assert_frame_equal(out.prices, p)  # warned, not changed
    assert clean_prices(p, "u", spikes="ignore").warnings == ()
    with pytest.raises(DataError, match=rf"price spike that reverts in u: BBB on {day}"):
        clean_prices(p, "u", spikes="refuse")


def test_a_move_that_stays_or_stays_below_the_ratio_is_no_spike() -> None:
    p = _spiked(1.9)  # below SPIKE_RATIO = 2
    assert clean_prices(p, "u", spikes="refuse").warnings == ()
    stays = _prices(40)
    stays.iloc[12:, 1] *= 10  # a jump that does not revert (a split left unadjusted, a re-rating)
    assert clean_prices(stays, "u", spikes="refuse").warnings == ()
    with pytest.raises(ConfigError, match="spikes"):
        clean_prices(p, "u", spikes="sometimes")


@pytest.mark.parametrize("universe", ["sp500-20", "factor-etfs"])
def test_the_builtin_universes_have_no_spike(universe: str) -> None:
    from maxent_portfolio.data import load_universe

    assert load_universe(universe, spikes="refuse").warnings == ()


def test_data_show_and_backtest_warn_in_one_line_and_go_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from maxent_portfolio.cli import main

    monkeypatch.chdir(tmp_path)
    prices = _spiked(101.0)
    prices.index.name = "date"
    prices.to_csv("p.csv")
    day = f"{prices.index[12]:%Y-%m-%d}"
    assert main(["data", "show", "p.csv"]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1
    assert re.fullmatch(rf"warning: one-period price spike that reverts in p\.csv: BBB on {day} "
                        r"\(98\.3 times both neighbours\); kept \(--spikes refuse to stop\)",
                        lines[0]), lines[0]  # 98.3: the smaller ratio, to the day after
    assert f"spike on {day}" in captured.out
    assert main(["data", "show", "p.csv", "--spikes", "ignore"]) == 0
    assert capsys.readouterr().err == ""
