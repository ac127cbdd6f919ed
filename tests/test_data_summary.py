"""Per-asset summary behind `data show`, and the packaging of built-in universes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from maxent_portfolio.data import MarketData, load_universe
from maxent_portfolio.data.summary import annualised, asset_summary


def test_annualised_return_and_volatility() -> None:
    idx = pd.bdate_range("2020-01-01", periods=252)
    r = pd.DataFrame({"flat": 0.001, "alt": np.tile([0.01, -0.01], 126)}, index=idx)
    out = annualised(r, 252)
    assert np.isclose(out.loc["flat", "ann_return"], 1.001 ** 252 - 1)
    assert np.isclose(out.loc["flat", "ann_vol"], 0.0)
    assert np.isclose(out.loc["alt", "ann_vol"], r["alt"].std() * np.sqrt(252))
    assert np.isclose(out.loc["alt", "ann_return"], (1.01 * 0.99) ** 126 - 1)


def test_summary_of_synthetic_market_without_coverage(synthetic_returns) -> None:
    market = MarketData.from_returns(synthetic_returns)
    table = asset_summary(market)
    assert list(table.index) == list(synthetic_returns.columns)
    assert (table["observations"] == len(synthetic_returns) + 1).all()
    assert table["ann_vol"].between(0.1, 0.4).all()


def test_summary_lists_benchmark_and_dropped_assets(tmp_path: Path) -> None:
    idx = pd.bdate_range("2020-01-01", periods=40, name="date")
    df = pd.DataFrame({"A": np.linspace(10, 12, 40), "B": np.linspace(5, 6, 40),
                       "C": np.linspace(7, 9, 40)}, index=idx)
    df.iloc[:5, 2] = np.nan
    df.to_csv(tmp_path / "p.csv")
    (tmp_path / "u.yaml").write_text("source: csv\npath: p.csv\nbenchmark: B\n")
    table = asset_summary(load_universe(str(tmp_path / "u.yaml"), missing="drop"))
    assert list(table.index) == ["A", "C", "B (bench)"]
    assert table.loc["C", "action"].startswith("dropped") and np.isnan(table.loc["C", "ann_vol"])
    assert table.loc["B (bench)", "ann_return"] > 0


def test_builtin_yamls_ship_as_package_data() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    root = Path(__file__).resolve().parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "maxent_portfolio.data.builtin" in config["packages"]
    assert "*.yaml" in config["package-data"]["maxent_portfolio.data.builtin"]
    shipped = {p.stem for p in (root / "maxent_portfolio" / "data" / "builtin").glob("*.yaml")}
    assert shipped == {"sp500-20", "factor-etfs", "us-sectors", "multi-asset", "dow-30"}
