"""Run every benchmark in ``benchmarks/`` and summarise them: what ``make bench`` runs.

Usage::

    .venv/bin/python benchmarks/run_all.py                   # every bench_*.py, full size
    .venv/bin/python benchmarks/run_all.py --quick           # reduced sizes: a smoke test
    .venv/bin/python benchmarks/run_all.py --only engine,sac # a subset, in that order
    .venv/bin/python benchmarks/run_all.py --all             # the opt-in ones too
    make bench                                               # installs the peers, runs all

Each ``bench_<name>.py`` beside this file is a benchmark named ``<name>`` (``--only`` also takes
``bench_<name>`` or the file name). The files of ``OPT_IN`` are benchmarks too, but slow and not
speed comparisons, so they run only when named in ``--only`` or with ``--all``
(``make bench BENCH_ARGS=--all``). Each runs in its own subprocess with this interpreter, so one
that fails is reported and the others still run. Its output streams through as it comes. At the
end a summary says which ran, which failed (with the exit code and last line printed), the time
taken, and gathers each benchmark's ratios: every line with a figure followed by ``x``, our
speed against a peer measured in the same run. Ratios carry over between machines; absolute
times do not.

``--quick`` is passed down, so every ``bench_*.py`` must accept it and run a reduced size (fewer
rounds, smaller problems): noisier figures, for checking that the benchmarks run at all.

The peers, vectorbt and stable-baselines3, come with the ``bench`` extra
(``pip install -e '.[bench]'``). A benchmark whose source imports a peer that is not installed
still runs and skips that comparison itself; run_all names the missing peer before and after.

Exit status: 0 if every selected benchmark ran, 1 if any failed, 2 for a bad option (an unknown
name in ``--only``, no benchmark found), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import re
import subprocess
import sys
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _common import machine

from maxent_portfolio.errors import ConfigError, UserError

#: Peer packages a benchmark may compare against: import name -> pip name.
PEERS: dict[str, str] = {"vectorbt": "vectorbt", "stable_baselines3": "stable-baselines3"}

#: Opt-in benchmarks, name -> file beside this script: minutes long, run by --only or --all.
OPT_IN: dict[str, str] = {"learnability": "learnability.py"}

# A ratio as the benchmarks print it: "2.47x", "55x" (not "x64" or "0x1f").
_RATIO = re.compile(r"\d+(?:\.\d+)?x(?!\w)")


@dataclass
class BenchResult:
    """What one benchmark run left: its exit code, time, output and the peers it lacked."""

    name: str
    returncode: int
    seconds: float
    lines: list[str] = field(default_factory=list)
    missing_peers: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.returncode != 0


def discover(directory: Path) -> dict[str, Path]:
    """Benchmarks in ``directory``: ``bench_<name>.py`` by ``<name>``, sorted by name."""
    return {path.stem.removeprefix("bench_"): path
            for path in sorted(directory.glob("bench_*.py"))}


def discover_opt_in(directory: Path) -> dict[str, Path]:
    """The benchmarks of ``OPT_IN`` whose file is in ``directory``, by name."""
    return {name: directory / file for name, file in OPT_IN.items()
            if (directory / file).is_file()}


def select(found: Mapping[str, Path], only: str | None,
           opt_in: Collection[str] = ()) -> list[str]:
    """Names to run: those in the comma-separated ``only``, in its order, or else all of
    ``found`` but those in ``opt_in``.

    Raises
    ------
    ConfigError
        If a name in ``only`` is not a benchmark in ``found``, or nothing is left to run.
    """
    if only is None:
        names = [name for name in found if name not in opt_in]
    else:
        names = []
        for raw in only.split(","):
            name = raw.strip().removesuffix(".py").removeprefix("bench_")
            if not name:
                continue
            if name not in found:
                raise ConfigError(f"--only: no benchmark named {raw.strip()!r} "
                                  f"(there are: {', '.join(found) or 'none'})")
            if name not in names:
                names.append(name)
    if not names:
        raise ConfigError("no benchmark to run (no bench_*.py found, or --only is empty)")
    return names


def imported_peers(path: Path, peers: Iterable[str]) -> list[str]:
    """The ``peers`` (top-level module names) that the script at ``path`` imports anywhere."""
    wanted = set(peers)
    used: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            used.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            used.add(node.module.partition(".")[0])
    return sorted(used & wanted)


def missing(modules: Iterable[str]) -> list[str]:
    """Those of ``modules`` that this interpreter cannot import (found without importing)."""
    return [name for name in modules if importlib.util.find_spec(name) is None]


def ratio_lines(lines: Iterable[str]) -> list[str]:
    """The lines that report a ratio (a figure followed by ``x``), stripped."""
    return [line.strip() for line in lines if _RATIO.search(line)]


def run_benchmark(name: str, path: Path, args: Sequence[str]) -> BenchResult:
    """Run one benchmark in a subprocess, echoing its merged stdout and stderr line by line."""
    start = time.perf_counter()
    lines: list[str] = []
    # -u: stream the output as it comes, not in one block at exit.
    with subprocess.Popen([sys.executable, "-u", str(path), *args], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                print(line, end="", flush=True)
                lines.append(line.rstrip("\n"))
        except KeyboardInterrupt:
            proc.kill()
            raise
        returncode = proc.wait()
    return BenchResult(name, returncode, time.perf_counter() - start, lines)


def peer_note(lacking: Sequence[str]) -> str:
    """One line naming the missing peers (module names) of a benchmark, or ``""``."""
    if not lacking:
        return ""
    names = ", ".join(PEERS.get(m, m) for m in lacking)
    return f"{names} not installed: that comparison is skipped (pip install -e '.[bench]')"


def summary(results: Sequence[BenchResult], seconds: float) -> list[str]:
    """The closing report: one row per benchmark, then the ratios each printed."""
    ran = [r.name for r in results if not r.failed]
    failed = [r.name for r in results if r.failed]
    out = [f"\n=== summary: {len(results)} benchmarks in {seconds:.1f} s; "
           f"ran: {', '.join(ran) or 'none'}; failed: {', '.join(failed) or 'none'} ==="]
    width = max(len(r.name) for r in results)
    for r in results:
        if r.failed:
            last = next((line.strip() for line in reversed(r.lines) if line.strip()), "")
            status, note = "FAILED", f"exit {r.returncode}: {last}"
        else:
            status, note = "ok", peer_note(r.missing_peers)
        out.append(f"{r.name:<{width}}  {status:<6} {r.seconds:8.1f} s  {note}".rstrip())
    out.append("\nratios against a peer measured in the same run:")
    for r in results:
        ratios = ratio_lines(r.lines)
        out.extend(f"  {r.name:<{width}}  {line}" for line in ratios)
        if not ratios:
            out.append(f"  {r.name:<{width}}  (none{': it failed' if r.failed else ''})")
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", metavar="NAME[,NAME]",
                        help="run only these benchmarks (engine, env, sac, ...), in this order")
    parser.add_argument("--quick", action="store_true",
                        help="pass --quick to each benchmark: reduced sizes, a smoke test")
    parser.add_argument("--all", action="store_true",
                        help=f"also run the opt-in benchmarks ({', '.join(OPT_IN)}): slow")
    parser.add_argument("--dir", type=Path, default=Path(__file__).resolve().parent,
                        help="where to find bench_*.py (default: beside this script)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    found = {**discover(args.dir), **discover_opt_in(args.dir)}
    try:
        names = select(found, args.only, () if args.all else OPT_IN)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(names)} benchmarks: {', '.join(names)}; {machine()}, "
          f"load average {os.getloadavg()[0]:.1f}; python {sys.executable}", flush=True)
    extra = ["--quick"] if args.quick else []
    results: list[BenchResult] = []
    start = time.perf_counter()
    try:
        for name in names:
            path = found[name]
            lacking = missing(imported_peers(path, PEERS))
            print(f"\n=== {name}: {' '.join([path.name, *extra])} ===", flush=True)
            if lacking:
                print(f"({name}: {peer_note(lacking)})", flush=True)
            result = run_benchmark(name, path, extra)
            result.missing_peers = lacking
            results.append(result)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        if results:
            print("\n".join(summary(results, time.perf_counter() - start)))
        return 130
    print("\n".join(summary(results, time.perf_counter() - start)))
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
