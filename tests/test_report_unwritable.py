"""Issue 23 item 8: ``report`` in a run directory that cannot be written is one line.

It used to fail with a PermissionError traceback from the temporary folder it renders into.
Root ignores permission bits, so the folder is made unwritable by refusing every file
creation in it (the same system call a read-only mount fails).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from maxent_portfolio.cli import main


def test_report_in_a_directory_that_cannot_be_written_is_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["backtest", "-s", "equal-weight", "--years", "6", "--no-html", "--quiet",
                 "--out", "run"]) == 0
    capsys.readouterr()
    run = (tmp_path / "run").resolve()
    real_mkstemp, real_mkdtemp = tempfile.mkstemp, tempfile.mkdtemp

    def refused(real: Any) -> Any:
        def create(*args: Any, **kw: Any) -> Any:
            if Path(str(kw.get("dir", ""))).resolve().is_relative_to(run):
                raise PermissionError(13, "Permission denied")
            return real(*args, **kw)
        return create

    monkeypatch.setattr(tempfile, "mkstemp", refused(real_mkstemp))
    monkeypatch.setattr(tempfile, "mkdtemp", refused(real_mkdtemp))
    before = sorted(p.name for p in run.rglob("*"))
    assert main(["report", "run"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: cannot write") and "run" in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert sorted(p.name for p in run.rglob("*")) == before
