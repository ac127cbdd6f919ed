"""CLI start-up: ``--help``, ``universes`` and ``strategies`` against importing pandas and numpy.

Run: ``.venv/bin/python benchmarks/bench_startup.py [--quick] [--rounds N]``. Each command runs
in a fresh interpreter (``python -m maxent_portfolio ...``, this checkout's code first on the
path, an empty temporary working directory), and so does the reference,
``python -c "import pandas, numpy"``: what any tool on this stack pays before its first line.
The commands and the reference run alternately, one warm-up each, then ``--rounds`` rounds
(default 7, quick 3); the median of each is reported, and each command as a ratio to the
reference. The target is at most 2x: the light commands load neither torch nor skfolio.

Wall time is what a user waits, so other processes on the machine inflate it (both sides
alike, roughly); the CPU time (user + system) of each process and its peak memory (max RSS)
are printed too, and depend far less on the load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import machine

ROOT = Path(__file__).resolve().parents[1]

REFERENCE = ("pandas + numpy import", ["-c", "import pandas, numpy"])
COMMANDS = {
    "maxent-portfolio --help": ["-m", "maxent_portfolio", "--help"],
    "maxent-portfolio universes": ["-m", "maxent_portfolio", "universes"],
    "maxent-portfolio strategies": ["-m", "maxent_portfolio", "strategies"],
}
TARGET = 2.0
"""Most a light command may take, as a multiple of the reference."""


@dataclass(frozen=True)
class Sample:
    """One run of one interpreter: wall and CPU seconds, peak resident memory in MB."""

    wall: float
    cpu: float
    max_rss_mb: float


def run_once(args: list[str], cwd: Path) -> Sample:
    """Run ``python <args>`` to completion and measure it (its own rusage, via ``wait4``)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not by Popen
    if proc.returncode != 0:
        error = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"python {' '.join(args)} failed ({proc.returncode}): {error}")
    if proc.stderr:
        proc.stderr.close()
    # ru_maxrss is in kilobytes on Linux, bytes on macOS.
    rss = usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)
    return Sample(wall, usage.ru_utime + usage.ru_stime, rss)


def measure(rounds: int, cwd: Path) -> dict[str, list[Sample]]:
    """Every command and the reference, alternately: a warm-up each, then ``rounds`` rounds."""
    runs = {REFERENCE[0]: REFERENCE[1], **COMMANDS}
    for args in runs.values():
        run_once(args, cwd)  # warm the file cache and the bytecode
    samples: dict[str, list[Sample]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, args in runs.items():
            samples[name].append(run_once(args, cwd))
    return samples


def median(samples: list[Sample], field: str) -> float:
    return statistics.median(getattr(s, field) for s in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 rounds (a smoke test)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of each command, the median kept (default: 7, quick 3)")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)
    print(f"{machine()}, load average {os.getloadavg()[0]:.1f}; python -m maxent_portfolio "
          f"against python -c 'import pandas, numpy', median of {rounds} rounds")
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as folder:
        samples = measure(rounds, Path(folder))
    ref = samples[REFERENCE[0]]
    width = max(map(len, samples))
    print(f"{'':<{width}}  {'wall s':>7}  {'CPU s':>6}  {'max RSS':>8}")
    for name, runs in samples.items():
        print(f"{name:<{width}}  {median(runs, 'wall'):7.3f}  {median(runs, 'cpu'):6.3f}  "
              f"{median(runs, 'max_rss_mb'):5.0f} MB")
    worst = 0.0
    for name in COMMANDS:
        wall = median(samples[name], "wall") / median(ref, "wall")
        cpu = median(samples[name], "cpu") / median(ref, "cpu")
        worst = max(worst, wall)
        print(f"{name}: {wall:.2f}x the pandas + numpy import (wall), {cpu:.2f}x (CPU)")
    verdict = "within" if worst <= TARGET else "ABOVE"
    print(f"slowest light command {worst:.2f}x: {verdict} the {TARGET:g}x target")


if __name__ == "__main__":
    main()
