"""Issue 23 item 5: a run's own config.json goes back in through ``--config``.

The README documents ``backtest --config <run>/config.json`` to rerun a run; it printed
``unknown option sac.total_steps`` (config.json held the internal per-fold fields). Checked
through the real CLI: the second run must reproduce the first one's metrics.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from maxent_portfolio.cli import main
from maxent_portfolio.config import OPTIONS, SOURCES_KEY, RunConfig

RUN = ["backtest", "-s", "equal-weight,sac", "--train-steps", "300", "--no-html", "--quiet",
       "--years", "7", "--train-years", "4", "--test-years", "3", "--jobs", "1"]


def test_config_json_reruns_the_run_through_the_cli(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([*RUN, "--out", "first"]) == 0
    first = capsys.readouterr()
    # 300 transitions are 75 vector steps a fold: the warm-up is cut, and the run says so.
    assert "note: --train-steps 300" in first.err and "Traceback" not in first.err
    config = json.loads((tmp_path / "first" / "config.json").read_text())
    internal = {"total_steps", "seed", "eval_every", "checkpoint_every", "log_every",
                "num_threads"}
    assert not internal & set(config["sac"])
    assert main(["backtest", "--config", "first/config.json", "--out", "other", "--quiet"]) == 0
    second = capsys.readouterr()
    assert "error" not in second.err, second.err
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "first" / "metrics.csv"),
                                  pd.read_csv(tmp_path / "other" / "metrics.csv"))
    again = json.loads((tmp_path / "other" / "config.json").read_text())
    sources, again_sources = config.pop(SOURCES_KEY), again.pop(SOURCES_KEY)
    assert again == config
    # What the first run took from flags, the second took from the file.
    assert sources["sac.train_steps"] == "flag"
    assert {again_sources[p] for p, s in sources.items() if s == "flag"} == {"file"}


def test_config_json_holds_every_option_and_only_options() -> None:
    data = RunConfig().options_dict()
    leaves = {f"{section}.{key}" if isinstance(values, dict) else section
              for section, values in data.items()
              for key in (values if isinstance(values, dict) else [None])}
    assert leaves == {spec.path for spec in OPTIONS.values()}
