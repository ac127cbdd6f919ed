"""Issue 23 items 6 and 8: a sweep's cell files are checked before they are trusted.

A resumed sweep reads its finished cells back. Each cell file carries what identifies it (its
grid point and seed, and the digest of sweep.json's identity: the grid, the run's options and
the data's hash) and a checksum of its content; a cell copied over another, edited, or left
from other run options is refused in one line naming the file, before any cell is computed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from maxent_portfolio.errors import ConfigError
from maxent_portfolio.measures import sharpe
from maxent_portfolio.sweep import prepare_sweep, resolve_sweep, run_sweep

TINY = {"walk_forward.train_years": 1.0, "walk_forward.test_years": 1.0,
        "sac.train_steps": 160, "sac.learning_starts": 8, "sac.batch_size": 32,
        "sac.device": "cpu", "env.lookback": 20, "env.episode_length": 60}
LOW, HIGH = "alpha=0.5_cost=5.0_seed=0", "alpha=0.5_cost=10.0_seed=0"


def plan_for(csv: Path, **run: Any) -> Any:
    config, sweep = resolve_sweep(None, {"data.universe": str(csv), **TINY, **run},
                                  {"alpha": [0.5], "cost_bps": [5.0, 10.0], "seeds": 1,
                                   "jobs": 1})
    return prepare_sweep(config, sweep)


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(5)
    idx = pd.bdate_range("2012-01-02", periods=640, name="date")
    r = rng.normal([0.0004, 0.0002, 0.0003], [0.012, 0.008, 0.015], size=(640, 3))
    path = tmp_path_factory.mktemp("cells-data") / "small.csv"
    pd.DataFrame(100 * np.cumprod(1 + r, axis=0), index=idx,
                 columns=["AAA", "BBB", "CCC"]).to_csv(path)
    return path


@pytest.fixture(scope="module")
def finished(small_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished two-cell sweep (one dial value at 5 and 10 bps), computed once."""
    out = tmp_path_factory.mktemp("cells") / "sweep"
    run_sweep(plan_for(small_csv), out)
    return out


@pytest.fixture
def copy(finished: Path, tmp_path: Path) -> Path:
    """A copy of the finished sweep for one test to edit."""
    return Path(shutil.copytree(finished, tmp_path / "sweep"))


def edit_cell(folder: Path, key: str, change: Callable[[dict[str, Any]], None]) -> Path:
    path = folder / "cells" / f"{key}.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data) + "\n")
    return path


def refused(small_csv: Path, folder: Path, culprit: Path, reason: str, **run: Any) -> str:
    """Resume the sweep in ``folder``: refused, naming ``culprit``, before any cell is run."""
    computed: list[str] = []
    with pytest.raises(ConfigError) as info:
        run_sweep(plan_for(small_csv, **run), folder,
                  on_cell=lambda result: computed.append(result.cell.key))
    message = str(info.value)
    assert str(culprit) in message and reason in message and "\n" not in message, message
    assert computed == []
    return message


def test_an_untouched_sweep_resumes_without_recomputing(finished: Path, copy: Path,
                                                        small_csv: Path) -> None:
    outcome = run_sweep(plan_for(small_csv), copy)
    assert outcome.computed == []
    pd.testing.assert_frame_equal(pd.read_csv(copy / "sweep.csv"),
                                  pd.read_csv(finished / "sweep.csv"))
    cell = json.loads((copy / "cells" / f"{LOW}.json").read_text())
    assert {"sweep", "checksum"} <= set(cell)
    # The stored Sharpe is the one of the stored returns (an independent computation).
    returns = pd.Series(cell["returns"], index=pd.DatetimeIndex(cell["dates"]))
    assert cell["measures"]["sharpe"] == pytest.approx(sharpe(returns, 252, 0.0), rel=1e-12)


def test_a_cell_copied_over_another_cost_level_is_refused(copy: Path, small_csv: Path) -> None:
    target = copy / "cells" / f"{HIGH}.json"
    shutil.copyfile(copy / "cells" / f"{LOW}.json", target)
    refused(small_csv, copy, target, f"holds the cell {LOW}")


def test_shifted_dates_are_refused(copy: Path, small_csv: Path) -> None:
    def shift(data: dict[str, Any]) -> None:
        data["dates"] = [str((pd.Timestamp(d) + pd.DateOffset(years=1)).date())
                         for d in data["dates"]]
    refused(small_csv, copy, edit_cell(copy, LOW, shift), "checksum")


def test_an_edited_sharpe_is_refused(copy: Path, small_csv: Path) -> None:
    refused(small_csv, copy, edit_cell(copy, HIGH, lambda d: d["measures"].update(sharpe=99.0)),
            "checksum")


def test_a_cell_missing_a_measure_is_refused(copy: Path, small_csv: Path) -> None:
    refused(small_csv, copy, edit_cell(copy, LOW, lambda d: d["measures"].pop("turnover")),
            "checksum")


def test_cells_of_other_run_options_are_refused_though_sweep_json_was_edited(
        copy: Path, small_csv: Path) -> None:
    marker = copy / "sweep.json"
    identity = json.loads(marker.read_text())
    identity["run"]["sac"]["train_steps"] = 800
    marker.write_text(json.dumps(identity, indent=2) + "\n")
    refused(small_csv, copy, copy / "cells" / f"{LOW}.json", "another sweep",
            **{"sac.train_steps": 800})


def test_cells_replaced_by_a_file_is_refused(copy: Path, small_csv: Path) -> None:
    shutil.rmtree(copy / "cells")
    (copy / "cells").write_text("x")
    refused(small_csv, copy, copy / "cells", "not a directory")


def test_a_sweep_directory_that_cannot_be_written_is_refused_before_any_cell(
        copy: Path, small_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tried for real below (a read-only folder, unless root ignores it) and simulated here:
    no file can be created in the folder."""
    (copy / "cells" / f"{HIGH}.json").unlink()  # a missing cell would be trained
    import tempfile

    real = tempfile.mkstemp

    def read_only(*args: Any, **kw: Any) -> Any:
        if Path(str(kw.get("dir", ""))).resolve().is_relative_to(copy.resolve()):
            raise PermissionError(13, "Permission denied")
        return real(*args, **kw)

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    refused(small_csv, copy, copy, "cannot write")
