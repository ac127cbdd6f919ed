"""``--jobs N``: a run's learning jobs in worker processes, with the results of one process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from maxent_portfolio.backtest.walkforward import Fold
from maxent_portfolio.cli.options import flag_specs
from maxent_portfolio.config import OPTIONS, resolve_config
from maxent_portfolio.data.market import MarketData
from maxent_portfolio.errors import ConfigError
from maxent_portfolio.runner import Job, Plan, RunOutcome, pooled_units, prepare, run
from maxent_portfolio.strategies.base import Strategy
from maxent_portfolio.strategies.baselines import EqualWeight

REPO = Path(__file__).resolve().parents[1]

# A seeded strategy that declares more work than one unit per fold, as a learning one does:
# random weights drawn from its seed (so two seeds differ), and the process that ran it.
DITHER = '''
import os

import numpy as np
import pandas as pd

from maxent_portfolio.errors import DataError
from maxent_portfolio.strategies.base import Strategy


class Dither(Strategy):
    name = "dither"
    description = "weights drawn from its seed"
    seeded = True

    def __init__(self, seed=0):
        self.seed = seed

    @classmethod
    def from_context(cls, context):
        return cls(context.seed)

    @classmethod
    def work(cls, context, n_folds):
        return 10.0 * n_folds

    def fit(self, returns):
        if os.environ.get("DITHER_FAILS"):
            raise DataError(f"dither refuses the window (pid {os.getpid()})")
        self.rng = np.random.default_rng([self.seed, len(returns)])
        return self

    def allocate(self, history, current):
        return pd.Series(self.rng.dirichlet(np.ones(history.shape[1])), index=history.columns)

    def extras(self):
        return {"pid": pd.Series([float(os.getpid())], index=[pd.Timestamp("2000-01-03")])}
'''


class Recorder:
    """A :class:`~maxent_portfolio.runner.Progress` that keeps what it was told."""

    def __init__(self) -> None:
        self.total = float("nan")
        self.advanced: list[tuple[float, str]] = []

    def start(self, total: float) -> None:
        self.total = total

    def advance(self, amount: float, description: str) -> None:
        self.advanced.append((amount, description))


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "maxent_portfolio", *args], cwd=cwd,
                          env={**os.environ, "COLUMNS": "160", **(env or {})},
                          capture_output=True, text=True, timeout=600, check=False)


def test_jobs_is_a_run_option_defaulting_to_the_cores_and_refusing_zero() -> None:
    spec = OPTIONS["jobs"]
    assert spec.path == "jobs" and spec.flag == "--jobs"
    assert spec in flag_specs([""])  # a flag of `backtest`, which takes the run-level options
    assert "identical" in spec.help
    assert resolve_config().jobs == os.cpu_count()
    assert resolve_config(overrides={"jobs": 3}).jobs == 3
    for bad, reason in ((0, "must be >= 1"), (-2, "must be >= 1"), (1.5, "expected an integer")):
        with pytest.raises(ConfigError) as info:
            resolve_config(overrides={"jobs": bad})
        assert str(info.value) == f"invalid jobs {bad!r}: {reason}"


class _Learner(Strategy):
    name = "learner-test"
    description = "declares its work"


def test_the_pool_takes_two_or_more_learning_jobs_longest_first(
        synthetic_returns: pd.DataFrame) -> None:
    market = MarketData.from_returns(synthetic_returns, name="synthetic")
    folds = [Fold(0, 250, 250, 500), Fold(0, 500, 500, 750)]
    cheap = Job("equal-weight", EqualWeight, 0)
    a, b, c = (Job(f"learner-seed{s}", _Learner, s) for s in range(3))
    # Two folds: one unit per fold (2.0) is the default, cheap; more is a learning strategy.
    weights = {cheap: 2.0, a: 10.0, b: 30.0, c: 10.0}

    def plan(jobs: int, chosen: list[Job]) -> Plan:
        return Plan(resolve_config(overrides={"jobs": jobs}), market, folds, chosen)

    def pooled(p: Plan, w: dict[Job, float]) -> list[Job]:
        units = [(job,) for job in p.jobs]
        return [unit[0] for unit in pooled_units(p, units, w)]

    assert pooled(plan(2, [cheap, a, b, c]), weights) == [b, a, c]
    assert pooled(plan(1, [cheap, a, b, c]), weights) == []
    assert pooled(plan(4, [cheap, a]), weights) == []  # one learning job: no pool
    assert pooled(plan(2, [cheap, a]), {cheap: 2.0, a: 2.0}) == []


@pytest.mark.slow
def test_a_pooled_run_equals_the_sequential_one_and_reports_all_progress(
        synthetic_returns: pd.DataFrame, tmp_path: Path) -> None:
    plugin = tmp_path / "dither.py"
    plugin.write_text(DITHER)
    market = MarketData.from_returns(synthetic_returns, name="synthetic")
    outcomes, progress = {}, {}
    for jobs in (1, 2):
        config = resolve_config(overrides={
            "strategies": ["dither", "equal-weight"], "seeds": 3, "seed": 5, "jobs": jobs,
            "plugins": [str(plugin)], "walk_forward.train_years": 1.0,
            "walk_forward.test_years": 1.0})
        progress[jobs] = Recorder()
        outcomes[jobs] = run(prepare(config, market), progress=progress[jobs])
    one, two = outcomes[1], outcomes[2]
    names = ["dither", "dither-seed5", "dither-seed6", "dither-seed7", "equal-weight"]
    assert [r.name for r in one.results] == [r.name for r in two.results] == names
    for first, second in zip(one.results, two.results, strict=True):
        pd.testing.assert_series_equal(first.returns, second.returns, check_exact=True)
        pd.testing.assert_frame_equal(first.targets, second.targets, check_exact=True)
    pd.testing.assert_frame_equal(one.metrics, two.metrics, check_exact=True)
    assert not one.results[1].returns.equals(one.results[2].returns)  # the seeds differ

    def pids(outcome: RunOutcome) -> set[float]:
        return {float(r.extras["pid"].iloc[0]) for r in outcome.results[1:4]}

    assert pids(one) == {float(os.getpid())}
    # In workers (two at most; which one takes which job is the pool's business).
    assert float(os.getpid()) not in pids(two) and len(pids(two)) <= 2
    # Work: 10 units per fold for each of 3 seeds, 1 per fold for equal-weight; 3 test folds.
    n_folds = len(one.folds)
    for recorder in progress.values():
        assert recorder.total == 10.0 * n_folds * 3 + n_folds
        assert sum(amount for amount, _ in recorder.advanced) == recorder.total
        done = [d for _, d in recorder.advanced if d.endswith(": done")]
        assert sorted(done) == sorted(f"{name}: done" for name in names[1:])


@pytest.mark.slow
def test_jobs_2_writes_exactly_the_files_of_jobs_1(tmp_path: Path) -> None:
    """SAC with two seeds through the CLI: every number written is the same."""
    runs = {}
    for jobs in ("1", "2"):
        runs[jobs] = tmp_path / f"jobs-{jobs}"
        res = cli("backtest", "-s", "sac,equal-weight", "--seeds", "2", "--start", "2015-01-01",
                  "--train-years", "2", "--test-years", "2", "--train-steps", "128",
                  "--shrinkage", "none",  # two seeds' own portfolios, not 1/N twice
                  "--no-html", "--jobs", jobs, "--out", str(runs[jobs]),
                  *(["--quiet"] if jobs == "1" else []), cwd=REPO)
        assert res.returncode == 0, res.stderr[-3000:]
    files = ["metrics.csv", "returns.csv", "learning.csv", "weights/sac.csv",
             "weights/sac-seed0.csv", "weights/sac-seed1.csv", "weights/equal-weight.csv"]
    for name in files:
        assert (runs["1"] / name).read_bytes() == (runs["2"] / name).read_bytes(), name
    seeds = pd.read_csv(runs["2"] / "returns.csv", index_col="date")
    assert not seeds["sac-seed0"].equals(seeds["sac-seed1"])


@pytest.mark.slow
def test_a_worker_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    plugin = tmp_path / "dither.py"
    plugin.write_text(DITHER)
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "maxent_portfolio", "backtest", "-s", "equal-weight,dither",
         "--seeds", "2", "--jobs", "2", "--plugin", str(plugin), "--no-html", "--out",
         str(out)], cwd=REPO, env={**os.environ, "DITHER_FAILS": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    found = re.fullmatch(r"error: strategy 'dither' failed in fit on the window ending "
                         r"\S+: DataError: dither refuses the window \(pid (\d+)\).*", lines[0])
    assert found is not None, lines[0]
    assert int(found.group(1)) != proc.pid  # raised in a worker, reported by the driver
    assert list(tmp_path.iterdir()) == [plugin]  # no run directory, no partial one


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a running process (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _alive(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code", "said"), [(signal.SIGINT, 130, "interrupted"),
                                                      (signal.SIGTERM, 143, "terminated")])
def test_interrupted_pooled_backtest_leaves_no_run_and_no_worker(
        tmp_path: Path, signum: int, code: int, said: str) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "maxent_portfolio", "backtest", "-s", "sac,equal-weight",
         "--seeds", "2", "--jobs", "2", "--train-steps", "200000", "--out", str(out),
         "--quiet"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # As in test_cli_backtest: a shell without job control starts us with SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120

    def workers() -> list[int]:
        return [p for p in _children(proc.pid)
                if "--multiprocessing-fork" in Path(f"/proc/{p}/cmdline").read_text()]

    while time.time() < deadline and proc.poll() is None and len(workers()) < 2:
        time.sleep(0.5)
    spawned = workers()
    assert len(spawned) == 2, "the workers did not start"
    # Training under way: past the imports (about 3 CPU seconds) in both workers.
    while time.time() < deadline and min(map(_cpu_seconds, spawned)) < 6:
        time.sleep(0.5)
    proc.send_signal(signum)
    try:
        _, stderr = proc.communicate(timeout=60)  # the workers are killed, not waited for
    except subprocess.TimeoutExpired:
        for pid in [*spawned, proc.pid]:
            os.kill(pid, signal.SIGKILL)
        pytest.fail("the interrupted run did not stop")
    assert proc.returncode == code, stderr
    assert stderr.strip().splitlines() == [said]
    assert not out.exists() and not list(tmp_path.glob(".run.partial-*"))
    assert not [p for p in spawned if _alive(p)]  # killed and reaped before the exit

