"""`maxent-portfolio universes`, `data fetch` and `data show`, in process and as a real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yfinance
from fake_yfinance import FakeDownload, yf_frame

from maxent_portfolio.cli import main


def _bad_csv(folder: Path) -> Path:
    idx = pd.bdate_range("2021-01-04", periods=30, name="date")
    prices = pd.DataFrame({"AAA": np.linspace(10, 11, 30), "BBB": np.linspace(20, 19, 30)},
                          index=idx)
    prices.iloc[12, 1] = -5.0
    path = folder / "bad.csv"
    prices.to_csv(path)
    return path


def test_universes_lists_builtins(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["universes"]) == 0
    text = capsys.readouterr().out
    for name in ("sp500-20", "factor-etfs", "us-sectors", "multi-asset", "dow-30"):
        assert name in text
    assert "1990-01-02..2022-12-28" in text


def test_data_show_factor_etfs(capsys) -> None:
    assert main(["data", "show", "factor-etfs", "--start", "2021-01-01"]) == 0
    text = capsys.readouterr().out
    assert "MTUM" in text and "equal-weight (bench)" in text and "2022-12-28" in text


def test_data_show_bad_csv_is_one_line_exit_2(capsys, tmp_path) -> None:
    assert main(["data", "show", str(_bad_csv(tmp_path))]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert "BBB on 2021-01-20" in err and "bad.csv" in err


def test_data_fetch_with_fake_yahoo(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MAXENT_PORTFOLIO_CACHE", str(tmp_path / "cache"))
    fake = FakeDownload(lambda t: yf_frame(t))
    monkeypatch.setattr(yfinance, "download", fake)
    assert main(["data", "fetch", "us-sectors", "--start", "2015-01-01"]) == 0
    assert "us-sectors: 9 assets" in capsys.readouterr().out
    assert len(list((tmp_path / "cache").glob("*.parquet"))) == 1
    fake.result = ConnectionError("no route to host")
    # --refresh that cannot download: falls back on the cache, says so, exits 1.
    assert main(["data", "fetch", "us-sectors", "--start", "2015-01-01", "--refresh"]) == 1
    captured = capsys.readouterr()
    assert "used the cache" in captured.out and "stale" in captured.err


def _cli(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MAXENT_PORTFOLIO_CACHE": str(cache), "COLUMNS": "120"}
    # Route any HTTP(S) through a closed local port: the CLI runs offline even with a network.
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY"):
        env[var] = "http://127.0.0.1:9"
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "maxent_portfolio", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cli_end_to_end(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    listed = _cli("universes", cwd=tmp_path, cache=cache)
    assert listed.returncode == 0, listed.stderr
    assert "sp500-20" in listed.stdout and "dow-30" in listed.stdout

    shown = _cli("data", "show", "sp500-20", cwd=tmp_path, cache=cache)
    assert shown.returncode == 0, shown.stderr
    assert "AAPL" in shown.stdout and "SP500 (bench)" in shown.stdout
    assert "1990-01-02" in shown.stdout and "2022-12-28" in shown.stdout

    bad = _cli("data", "show", str(_bad_csv(tmp_path)), cwd=tmp_path, cache=cache)
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "BBB on 2021-01-20" in lines[0]


@pytest.mark.slow
def test_cli_fetch_offline_fails_cleanly(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    run = _cli("data", "fetch", "us-sectors", "--refresh", cwd=tmp_path, cache=cache)
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 3 and "Traceback" not in run.stderr
    assert "network error" in run.stderr
    for ticker in ("XLB", "XLE", "XLF", "XLI", "XLK", "XLP", "XLU", "XLV", "XLY", "SPY"):
        assert ticker in run.stderr
    assert list(cache.glob("*.parquet")) == [] and list(cache.glob("*.json")) == []


def test_cli_zero_price_in_short_csv_is_one_line_exit_2(tmp_path: Path) -> None:
    # 150 rows with one zero price: it used to be read as returns and exit 0 showing inf%.
    idx = pd.bdate_range("2014-01-02", periods=150, name="date")
    prices = pd.DataFrame({"AAPL": np.linspace(10, 12, 150), "JNJ": np.linspace(20, 19, 150)},
                          index=idx)
    prices.loc["2014-05-23", "JNJ"] = 0.0
    prices.to_csv(tmp_path / "zero.csv")
    run = _cli("data", "show", str(tmp_path / "zero.csv"), cwd=tmp_path, cache=tmp_path / "c")
    assert run.returncode == 2, run.stdout
    assert run.stderr.strip().splitlines() == [
        f"error: non-positive price 0 for JNJ on 2014-05-23 in {tmp_path / 'zero.csv'}"]
