"""benchmarks/run_all.py: discovery, --only/--quick handling and failure reporting.

The benchmarks here are tiny fake scripts in a temporary directory, never the real ones.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def run_all(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """benchmarks/run_all.py imported as a module (it imports ``_common`` beside it)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("run_all", BENCHMARKS / "run_all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "run_all", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _script(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(body))
    return path


@pytest.fixture
def bench_dir(tmp_path: Path) -> Path:
    """A failing benchmark sorted first, a passing one that echoes its arguments, and bystanders."""
    _script(tmp_path, "bench_alpha.py", """
        import sys
        print("alpha started")
        sys.exit("alpha broke: disk on fire")
    """)
    _script(tmp_path, "bench_beta.py", """
        import sys
        print("args:", sys.argv[1:])
        print("speed ratio (peer time / ours): 2.50x")
        print("an absolute time: 12.3 ms, SyncVectorEnv x64")
    """)
    _script(tmp_path, "_common.py", "raise SystemExit('a helper, not a benchmark')\n")
    _script(tmp_path, "bench_notes.txt", "not python\n")
    return tmp_path


def test_discover_finds_only_bench_scripts(run_all: ModuleType, bench_dir: Path) -> None:
    found = run_all.discover(bench_dir)
    assert list(found) == ["alpha", "beta"]
    assert found["beta"] == bench_dir / "bench_beta.py"


def test_real_benchmarks_are_discovered_with_their_peers(run_all: ModuleType) -> None:
    found = run_all.discover(BENCHMARKS)
    assert {"engine", "env", "sac", "sweep", "startup"} <= set(found)
    peers = {name: run_all.imported_peers(path, run_all.PEERS) for name, path in found.items()}
    assert peers["engine"] == ["vectorbt"]
    assert peers["sac"] == ["stable_baselines3"]
    assert peers["env"] == peers["startup"] == []


def test_only_takes_names_in_order_and_rejects_unknown(run_all: ModuleType,
                                                       bench_dir: Path) -> None:
    found = run_all.discover(bench_dir)
    assert run_all.select(found, None) == ["alpha", "beta"]
    assert run_all.select(found, "beta, bench_alpha.py,beta") == ["beta", "alpha"]
    with pytest.raises(run_all.ConfigError, match="'gamma'"):
        run_all.select(found, "beta,gamma")
    with pytest.raises(run_all.ConfigError, match="no benchmark"):
        run_all.select(found, ",")
    with pytest.raises(run_all.ConfigError, match="no benchmark"):
        run_all.select({}, None)


def test_unknown_only_is_one_line_and_exit_2(run_all: ModuleType, bench_dir: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert run_all.main(["--dir", str(bench_dir), "--only", "gamma"]) == 2
    out, err = capsys.readouterr()
    assert err.strip().count("\n") == 0 and "'gamma'" in err
    assert "alpha started" not in out  # nothing ran


def test_failure_is_reported_and_the_rest_still_run(run_all: ModuleType, bench_dir: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert run_all.main(["--dir", str(bench_dir)]) == 1
    out = capsys.readouterr().out
    body, _, report = out.partition("=== summary")
    assert "alpha started" in body and "args: []" in body  # beta ran after alpha failed
    assert "ran: beta; failed: alpha" in report
    assert "alpha broke: disk on fire" in report  # the failure's last line, in the summary
    assert "exit 1" in report
    ratios = [line.split() for line in report.partition("ratios against a peer")[2].splitlines()]
    assert "beta speed ratio (peer time / ours): 2.50x".split() in ratios
    assert "alpha (none: it failed)".split() in ratios
    assert len(ratios) == 3  # the heading's tail and one line each: absolute times are left out


def test_quick_is_passed_down_and_success_exits_0(run_all: ModuleType, bench_dir: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert run_all.main(["--dir", str(bench_dir), "--only", "beta", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "args: ['--quick']" in out
    assert "alpha" not in out
    assert "ran: beta; failed: none" in out


def test_opt_in_benchmark_runs_only_when_asked(run_all: ModuleType, bench_dir: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    _script(bench_dir, "learnability.py", """
        import sys
        print("opt-in ran with", sys.argv[1:])
    """)
    assert run_all.main(["--dir", str(bench_dir), "--only", "beta"]) == 0
    assert "opt-in ran" not in capsys.readouterr().out
    run_all.main(["--dir", str(bench_dir)])
    assert "opt-in ran" not in capsys.readouterr().out  # not by default
    assert run_all.main(["--dir", str(bench_dir), "--only", "learnability", "--quick"]) == 0
    assert "opt-in ran with ['--quick']" in capsys.readouterr().out
    assert run_all.main(["--dir", str(bench_dir), "--all"]) == 1  # alpha still fails
    assert "ran: beta, learnability; failed: alpha" in capsys.readouterr().out


def test_real_opt_in_benchmarks_exist(run_all: ModuleType) -> None:
    assert set(run_all.discover_opt_in(BENCHMARKS)) == set(run_all.OPT_IN)


def test_missing_peer_is_named_and_the_benchmark_still_runs(
        run_all: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _script(tmp_path, "bench_peer.py", """
        try:
            from maxent_absent_peer.sub import thing  # noqa: F401
        except ImportError:
            print("absent-peer not installed: table skipped")
        import os.path  # a peer-free import alongside
        print("ours alone: 1.00x")
    """)
    monkeypatch.setattr(run_all, "PEERS", {"maxent_absent_peer": "absent-peer", "os": "os"})
    assert run_all.imported_peers(tmp_path / "bench_peer.py", run_all.PEERS) == [
        "maxent_absent_peer", "os"]
    assert run_all.main(["--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("absent-peer not installed: that comparison is skipped") == 2  # before, end
    assert "os not installed" not in out  # an installed peer is not reported
    assert "ran: peer; failed: none" in out


def test_ratio_lines_take_figures_followed_by_x(run_all: ModuleType) -> None:
    lines = ["speed-up over SB3: 1.42x", "target >= 50x", "SyncVectorEnv x64",
             "(batched x1.23 of 20 assets)", "0x1f", "20 assets x 8312 days", "1.5xs"]
    assert run_all.ratio_lines(lines) == ["speed-up over SB3: 1.42x", "target >= 50x"]


def test_runs_as_a_script(bench_dir: Path) -> None:
    import subprocess

    proc = subprocess.run([sys.executable, str(BENCHMARKS / "run_all.py"), "--dir",
                           str(bench_dir), "--only", "alpha"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1
    assert "failed: alpha" in proc.stdout
