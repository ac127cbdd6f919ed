"""The agent's ablation on the development protocol: every lever on and off, every trial counted.

Usage::

    .venv/bin/python benchmarks/ablation.py --dir /tmp/ablation --run   # run missing trials
    .venv/bin/python benchmarks/ablation.py --dir /tmp/ablation         # tabulate only

**The development protocol** never looks at the period the README reports. Every trial is the
``quick`` preset's walk-forward (4 years of training, refit every 2 years, monthly rebalancing,
10 bps) on ``sp500-20`` from 1995 to 2006 only, with 3 seeds, through the real CLI; the README
reports 2007 onward (the ``quick`` preset starts in 2010, the ``full`` preset in 2007). The
defaults of the agent were chosen from this table, then the reported presets were run once.

Every configuration tried is a trial, the ones of :data:`TRIALS` and :data:`EARLIER_TRIALS`
(configurations tried by earlier sessions on the reported period, before this protocol existed),
so the deflated Sharpe of each row counts all of them (Bailey & López de Prado 2014), with the
variance of the trials' Sharpe ratios across the rows.

Columns: the Sharpe of each seed (median and range), 1/N's Sharpe on the same dates, the median
seed's turnover per year and effective N, the Ledoit-Wolf p-value of the seeds' equal-capital
mean against 1/N, its deflated Sharpe over all trials, and the run's wall time (one core).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from maxent_portfolio.measures import deflated_sharpe_ratio, sharpe

PROTOCOL = ["--preset", "quick", "--universe", "sp500-20", "--start", "1995-01-01",
            "--end", "2006-12-31", "--strategies", "sac,equal-weight", "--seeds", "3",
            "--cost-bps", "10", "--no-html"]
"""The development protocol's command line; a trial adds its own flags."""

TRIALS: list[tuple[str, str]] = [
    # The flags are relative to the defaults of the time: replay SAC, daily decisions, full
    # rebalancing (trade rate 1, no band), the quick preset's 6,000 steps per fold.
    ("T0-baseline", "--no-one-step-model --trade-rate 1 --no-trade-band 0 --train-steps 6000"),
    ("T1-rebalance", "--no-one-step-model --trade-rate 1 --no-trade-band 0 --train-steps 6000 "
                     "--decision-period rebalance"),
    ("T2-rebal-model", "--trade-rate 1 --no-trade-band 0 --train-steps 6000 "
                       "--decision-period rebalance --one-step-model"),
    ("T3-daily-model", "--trade-rate 1 --no-trade-band 0 --train-steps 6000 --one-step-model"),
    ("T4-rebal-model-rate", "--no-trade-band 0 --train-steps 6000 --decision-period rebalance "
                            "--one-step-model --trade-rate 0.5"),
    ("T5-rebal-model-ref", "--trade-rate 1 --no-trade-band 0 --train-steps 6000 "
                           "--decision-period rebalance --one-step-model --reference 4"),
    ("T6-daily-model-rate25", "--no-trade-band 0 --train-steps 6000 --one-step-model "
                              "--trade-rate 0.25"),
    ("T7-daily-model-ref4-d1", "--trade-rate 1 --no-trade-band 0 --train-steps 6000 "
                               "--one-step-model --reference 4 --diversification 1"),
    ("T8-daily-model-rate25-band5", "--train-steps 6000 --one-step-model --trade-rate 0.25 "
                                    "--no-trade-band 0.05"),
    ("T9-daily-model-features", "--trade-rate 1 --no-trade-band 0 --train-steps 6000 "
                                "--one-step-model --features base,ranks,context"),
    ("T10-daily-model-rate25-ref4-d1", "--no-trade-band 0 --train-steps 6000 --one-step-model "
                                       "--trade-rate 0.25 --reference 4 --diversification 1"),
    ("T11-daily-model-rate25-bestval", "--no-trade-band 0 --train-steps 6000 --one-step-model "
                                       "--trade-rate 0.25 --model-selection best-validation"),
    ("T12-daily-model-rate25-budget2x", "--no-trade-band 0 --one-step-model --trade-rate 0.25 "
                                        "--train-steps 12000"),
    # The full preset's walk-forward (3 years of training, yearly refits) on the same period.
    ("T13-fullwf-rate25-band5", "--preset full --one-step-model --trade-rate 0.25 "
                                "--no-trade-band 0.05 --train-steps 2000"),
    ("T14-fullwf-rate25-band5-6k", "--preset full --one-step-model --trade-rate 0.25 "
                                   "--no-trade-band 0.05 --train-steps 6000"),
]
"""Every configuration tried on the development protocol, in the order tried."""

EARLIER_TRIALS = 2
"""Configurations earlier sessions ran on the reported period (the entropy fix with monthly,
then daily, decisions), before the protocol existed: counted as trials all the same."""


def run_trial(name: str, flags: str, folder: Path) -> None:
    """One trial through the real CLI, into ``folder / name`` (skipped when it exists)."""
    out = folder / name
    if out.exists():
        return
    command = [sys.executable, "-m", "maxent_portfolio", "backtest", *PROTOCOL, *flags.split(),
               "--out", str(out)]
    print(f"{name}: {' '.join(command[3:])}", flush=True)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)


def summarise(folder: Path, trials: list[tuple[str, str]], n_trials: int) -> pd.DataFrame:
    """One row per finished trial of ``trials`` in ``folder`` (see the module docstring)."""
    rows, mean_returns = [], {}
    for name, flags in trials:
        run = folder / name
        if not (run / "metrics.csv").exists():
            continue
        metrics = pd.read_csv(run / "metrics.csv").set_index("strategy")
        seeds = metrics[[bool(re.fullmatch(r"sac-seed\d+", s)) for s in metrics.index]]
        returns = pd.read_csv(run / "returns.csv", index_col="date", parse_dates=True)
        mean_returns[name] = returns["sac"].dropna()
        seconds = json.loads((run / "provenance.json").read_text())["seconds"]
        rows.append({"trial": name, "flags": flags or "(defaults)",
                     "sharpe": seeds["sharpe"].median(), "sharpe_min": seeds["sharpe"].min(),
                     "sharpe_max": seeds["sharpe"].max(),
                     "sharpe_1n": metrics.loc["equal-weight", "sharpe"],
                     "turnover": seeds["turnover"].median(),
                     "effective_n": seeds["effective_n"].median(),
                     "p_vs_1n": metrics.loc["sac", "p_sharpe_vs_ref"], "minutes": seconds / 60})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    ppy = 252
    sharpes = np.array([sharpe(r.to_numpy(), ppy) for r in mean_returns.values()])
    variance = float(np.var(sharpes, ddof=1)) if len(sharpes) > 1 else 0.0
    table["dsr"] = [deflated_sharpe_ratio(r.to_numpy(), ppy, n_trials, variance)
                    for r in mean_returns.values()]
    return table


def markdown(table: pd.DataFrame) -> str:
    """The table as docs/agent.md shows it."""
    lines = ["| trial | flags | Sharpe median (range) | 1/N | turnover / yr | effective N | "
             "p vs 1/N | DSR | minutes |", "|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.trial} | `{r.flags}` | {r.sharpe:.2f} ({r.sharpe_min:.2f}\u2013"
                     f"{r.sharpe_max:.2f}) | {r.sharpe_1n:.2f} | {r.turnover:.1f} | "
                     f"{r.effective_n:.1f} | {r.p_vs_1n:.3f} | {r.dsr:.2f} | {r.minutes:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("reports/ablation"),
                        help="where the trials' run directories are (or go)")
    parser.add_argument("--run", action="store_true", help="run the trials not yet in --dir")
    args = parser.parse_args(argv)
    if args.run:
        args.dir.mkdir(parents=True, exist_ok=True)
        for name, flags in TRIALS:
            run_trial(name, flags, args.dir)
    table = summarise(args.dir, TRIALS, len(TRIALS) + EARLIER_TRIALS)
    if table.empty:
        raise SystemExit(f"no finished trial in {args.dir}: run with --run")
    print(f"development protocol: {' '.join(PROTOCOL)}")
    print(f"trials counted in the DSR: {len(TRIALS) + EARLIER_TRIALS} "
          f"({len(TRIALS)} here, {EARLIER_TRIALS} earlier)")
    print(markdown(table))


if __name__ == "__main__":
    main()
