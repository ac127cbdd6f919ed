"""`report RUN_DIR` reads a run back and refuses, naming the file, what it cannot trust."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from maxent_portfolio.backtest.engine import run_backtest
from maxent_portfolio.backtest.store import save_results
from maxent_portfolio.backtest.walkforward import WalkForward
from maxent_portfolio.errors import DataError
from maxent_portfolio.measures import metrics_table
from maxent_portfolio.reporting.render import read_run, rerender
from maxent_portfolio.strategies.baselines import EqualWeight, InverseVolatility

REPO = Path(__file__).resolve().parents[1]
GARBAGE = b"\x89PNG\r\n\x1a\n\x00\xff\xfe" + bytes(range(256)) * 4


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory laid out as ``rundir.write_run`` does, from a small synthetic backtest."""
    rng = np.random.default_rng(5)
    index = pd.bdate_range("2016-01-04", periods=420)
    returns = pd.DataFrame(rng.normal(3e-4, 0.01, (420, 4)), index=index,
                           columns=["AAA", "BBB", "CCC", "DDD"])
    results = [run_backtest(returns, s, splits=WalkForward(train=200, test=110),
                            rebalance="monthly") for s in (EqualWeight(), InverseVolatility())]
    benchmark = pd.Series(rng.normal(3e-4, 0.011, 420), index=index, name="MKT")
    folder = tmp_path_factory.mktemp("stored") / "run"
    folder.mkdir()
    metrics_table(results, benchmark=benchmark).to_csv(folder / "metrics.csv", index=False)
    (folder / "config.json").write_text(json.dumps(
        {"data": {"universe": "synthetic"}, "costs": {"cost_bps": 10.0},
         "schedule": {"rebalance": "monthly"}, "report": {"rf": 0.0}}))
    (folder / "provenance.json").write_text(json.dumps({"universe": "synthetic"}))
    save_results(results, folder / "results")
    benchmark.rename("benchmark").to_frame().to_parquet(folder / "results" / "benchmark.parquet")
    return folder


@pytest.fixture
def run_dir(stored_run: Path, tmp_path: Path) -> Path:
    """A private copy to damage."""
    import shutil

    return Path(shutil.copytree(stored_run, tmp_path / "run"))


def _damage(path: Path, change: Callable[[bytes], bytes]) -> None:
    path.write_bytes(change(path.read_bytes()))


def _refused(run_dir: Path, file: str) -> str:
    with pytest.raises(DataError) as caught:
        read_run(run_dir)
    message = str(caught.value)
    assert str(run_dir / file) in message and "\n" not in message, message
    return message


def test_a_sound_run_reads_back_with_numeric_metrics(stored_run: Path) -> None:
    run = read_run(stored_run)
    assert list(run.metrics["strategy"]) == ["equal-weight", "inverse-volatility", "benchmark"]
    metric_columns = run.metrics.columns.drop("strategy")
    assert all(pd.api.types.is_float_dtype(run.metrics[c]) for c in metric_columns
               if c != "investable")
    assert pd.api.types.is_bool_dtype(run.metrics["investable"])
    written = pd.read_csv(stored_run / "metrics.csv")
    pd.testing.assert_frame_equal(run.metrics, written, check_dtype=False)
    assert run.title == "synthetic, net of 10 bps, monthly rebalancing"
    assert run.benchmark is not None and len(run.benchmark) == 420


@pytest.mark.parametrize("cut", [0.5, 0.97])
def test_truncated_metrics_are_refused(run_dir: Path, cut: float) -> None:
    _damage(run_dir / "metrics.csv", lambda b: b[: int(len(b) * cut)])
    _refused(run_dir, "metrics.csv")


def test_metrics_with_only_a_header_are_refused(run_dir: Path) -> None:
    _damage(run_dir / "metrics.csv", lambda b: b.split(b"\n")[0] + b"\n")
    assert "no rows" in _refused(run_dir, "metrics.csv")


def test_metrics_missing_a_stored_strategy_are_refused(run_dir: Path) -> None:
    lines = (run_dir / "metrics.csv").read_text().splitlines(keepends=True)
    (run_dir / "metrics.csv").write_text("".join(line for line in lines
                                                 if not line.startswith("inverse-volatility,")))
    assert "'inverse-volatility'" in _refused(run_dir, "metrics.csv")


def test_a_non_numeric_metric_cell_is_refused(run_dir: Path) -> None:
    frame = pd.read_csv(run_dir / "metrics.csv")
    frame = frame.astype({"sharpe": object})
    frame.loc[1, "sharpe"] = "1.2x"
    frame.to_csv(run_dir / "metrics.csv", index=False)
    message = _refused(run_dir, "metrics.csv")
    assert "'sharpe'" in message and "'inverse-volatility'" in message and "'1.2x'" in message


@pytest.mark.parametrize("file", ["metrics.csv", "config.json", "provenance.json",
                                  "results/results.json", "results/benchmark.parquet",
                                  "results/inverse-volatility.holdings.parquet"])
def test_binary_garbage_is_refused_naming_the_file(run_dir: Path, file: str) -> None:
    (run_dir / file).write_bytes(GARBAGE)
    _refused(run_dir, file)


def test_metrics_without_a_strategy_column_are_refused(run_dir: Path) -> None:
    _damage(run_dir / "metrics.csv", lambda b: b.replace(b"strategy,", b"name,", 1))
    assert "'strategy'" in _refused(run_dir, "metrics.csv")


@pytest.mark.parametrize(("file", "text"), [
    ("config.json", '["not", "an", "object"]'),
    ("config.json", '{"costs": {"cost_bps": "ten"}}'),
    ("config.json", '{"report": {"rf": true}}'),
    ("config.json", '{"report": 3}'),
    ("provenance.json", '{"universe": "synth'),
])
def test_bad_json_files_are_refused(run_dir: Path, file: str, text: str) -> None:
    (run_dir / file).write_text(text)
    _refused(run_dir, file)


def test_report_cli_exits_2_with_one_line_naming_the_file(run_dir: Path) -> None:
    _damage(run_dir / "metrics.csv", lambda b: b[: len(b) // 2])
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "400"}
    res = subprocess.run([sys.executable, "-m", "maxent_portfolio", "report", str(run_dir)],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
                         check=False)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and str(run_dir / "metrics.csv") in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    assert not (run_dir / "index.html").exists() and not (run_dir / "tearsheets").exists()


def test_rerender_leaves_nothing_behind_when_refusing(run_dir: Path) -> None:
    (run_dir / "config.json").write_bytes(GARBAGE)
    before = sorted(p.name for p in run_dir.iterdir())
    with pytest.raises(DataError):
        rerender(run_dir)
    assert sorted(p.name for p in run_dir.iterdir()) == before


def test_a_metric_edited_in_metrics_csv_is_refused(run_dir: Path) -> None:
    """``report`` recomputes the table from ``results/``: an edited Sharpe never renders."""
    path = run_dir / "metrics.csv"
    table = pd.read_csv(path)
    table.loc[table["strategy"] == "equal-weight", "sharpe"] = 9.99
    table.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"metrics\.csv: 'sharpe' of 'equal-weight' is 9\.99, "
                                        r"but results/ give -?\d\.\d+"):
        read_run(run_dir)


def test_an_unedited_run_reads_back(run_dir: Path) -> None:
    assert read_run(run_dir).metrics["strategy"].tolist()[-1] == "benchmark"


def test_a_missing_stored_return_is_refused_naming_its_file(run_dir: Path) -> None:
    path = run_dir / "results" / "equal-weight.returns.parquet"
    frame = pd.read_parquet(path)
    frame.iloc[5, frame.columns.get_loc("returns")] = np.nan
    frame.to_parquet(path)
    with pytest.raises(DataError, match=r"equal-weight\.returns\.parquet: return on "
                                        r"\d{4}-\d\d-\d\d is not finite"):
        read_run(run_dir)
