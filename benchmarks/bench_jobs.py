"""``--jobs``: wall time of one backtest with its SAC seeds in one process and in worker processes.

Run: ``.venv/bin/python benchmarks/bench_jobs.py [--quick] [--jobs N]``. The same run (sac with
four seeds and equal-weight on sp500-20, a small training budget) goes through
:func:`maxent_portfolio.runner.run` with ``jobs=1`` and with ``jobs=N`` (default: the cores),
alternately, best of the rounds; the files it would write are checked to be identical. The
speed-up includes the workers' start (spawning, importing torch). ``--quick``: two seeds, a
tenth of the budget, one round; the start then weighs more, so its ratio is lower. Last, the
same run with the seeds batched (``--seed-batch``, one group per worker) against the
sequential loop (``--jobs 1``, one seed after the other): what this machine's best schedule
buys over the loop of the earlier code.

Wall time is what ``--jobs`` buys, so other processes on the machine lower the ratio: on a
shared machine it is a lower bound (with every core already busy it can fall below 1). The CPU
time of both runs (workers included) is printed too: its ratio is the pool's overhead, which
does not depend on the load.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import pandas as pd
from _common import machine

from maxent_portfolio.config import resolve_config
from maxent_portfolio.runner import RunOutcome, prepare, run


def cpu_seconds() -> float:
    """User plus system CPU time of this process and of its reaped children (the workers)."""
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def backtest(jobs: int, seeds: int, train_steps: int, seed_batch: int = 1
             ) -> tuple[float, float, RunOutcome]:
    """Wall seconds, CPU seconds and outcome of the benchmark's run with ``jobs`` processes
    (and seeds trained ``seed_batch`` at a time as one batched network)."""
    config = resolve_config(overrides={
        "strategies": ["sac", "equal-weight"], "seeds": seeds, "jobs": jobs,
        "sac.seed_batch": seed_batch,
        "data.start": "2014-01-01", "walk_forward.train_years": 2.0,
        "walk_forward.test_years": 2.0, "sac.train_steps": train_steps, "sac.device": "cpu"})
    plan = prepare(config)
    start, cpu = time.perf_counter(), cpu_seconds()
    outcome = run(plan)
    return time.perf_counter() - start, cpu_seconds() - cpu, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two seeds, a tenth of the "
                        "budget, one round (the workers' start weighs more)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="processes of the parallel run (default: the cores)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of each run, the best kept (default: 2, quick 1)")
    args = parser.parse_args()
    seeds, steps, rounds = (2, 400, 1) if args.quick else (4, 4000, 2)
    rounds = args.rounds or rounds
    print(f"{machine()}, load average {os.getloadavg()[0]:.1f}; sac x {seeds} seeds + "
          f"equal-weight, {steps} steps per fold, best of {rounds}")
    best: dict[int, float] = {}
    cpu: dict[int, float] = {}
    outcomes: dict[int, RunOutcome] = {}
    for _ in range(rounds):
        for jobs in (1, args.jobs):
            seconds, cpu[jobs], outcomes[jobs] = backtest(jobs, seeds, steps)
            best[jobs] = min(best.get(jobs, float("inf")), seconds)
            print(f"  --jobs {jobs}: {seconds:6.1f} s wall, {cpu[jobs]:6.1f} s CPU (workers "
                  "included)", flush=True)
    one, many = outcomes[1], outcomes[args.jobs]
    same = one.metrics.equals(many.metrics) and all(
        a.returns.equals(b.returns) and a.targets.equals(b.targets)
        for a, b in zip(one.results, many.results, strict=True))
    if not same:
        raise SystemExit("the results differ between --jobs 1 and --jobs "
                         f"{args.jobs}: that is a bug")
    folds = len(one.folds)
    print(pd.Series(best, name="best wall s").rename_axis("jobs").to_string())
    print(f"speed-up of --jobs {args.jobs} over --jobs 1 ({seeds} seeds x {folds} folds, "
          f"identical results): {best[1] / best[args.jobs]:.2f}x")
    # The pool's cost in CPU (spawning, imports, data sent): what a speed-up has to pay for.
    print(f"CPU time of --jobs {args.jobs} over --jobs 1, last round: "
          f"{cpu[args.jobs] / cpu[1]:.2f} (1 = no overhead)")
    # Batched seeds on top: the seeds in groups, one group per worker. Each seed follows its
    # solo run to float rounding, so the results are compared with a tolerance.
    group = max(seeds // args.jobs, 2)
    batched = min(backtest(args.jobs, seeds, steps, group)[0] for _ in range(rounds))
    print(f"  --jobs {args.jobs} --seed-batch {group}: {batched:6.1f} s wall")
    print(f"speed-up of --jobs {args.jobs} --seed-batch {group} over the sequential loop "
          f"(--jobs 1, seeds one by one): {best[1] / batched:.2f}x")


if __name__ == "__main__":
    main()
