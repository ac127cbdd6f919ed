"""Learnability: how much of a planted signal's growth does the SAC agent capture, out of sample?

Run: ``.venv/bin/python benchmarks/learnability.py [--quick] [--train-steps N] [CLI ARGS ...]``
(about 5 minutes on a busy 2-core VM at the quick preset's budget; ``--quick`` is a 20-second
smoke run). ``run_all.py --only learnability`` (or ``--all``) runs it too; it is not a speed
benchmark, so a plain ``make bench`` leaves it out.

The market is :func:`maxent_portfolio.data.synthetic.planted_market` with the DGP ``DGP`` below
(10 assets, 12 years of business days, seed 0): each month an asset's log drift is tilted by up
to ``signal_strength`` a year in the direction of its last 20-day return, the ``mom_20``
feature the agent observes. ``oracle`` (:class:`~maxent_portfolio.strategies.oracle.
PlantedOracle`, registered by this very file used as a ``--plugin``) knows the DGP and holds the
long-only Kelly portfolio of the tilt in force, without looking ahead.

The real CLI backtests ``sac``, ``equal-weight`` and ``oracle`` on it (monthly rebalancing,
10 bps, walk-forward: 4 years of training, 2-year test windows, 3 SAC seeds) and this script
reads the run directory's ``returns.csv`` and ``metrics.csv``. With
``G = 252 * mean(log(1 + r))`` the annualised log growth net of costs over the test windows, it
prints each strategy's ``G`` and each seed's share of the oracle's excess growth over 1/N::

    share = (G_sac - G_1/N) / (G_oracle - G_1/N)

1 is the oracle's growth, 0 is 1/N's, negative is worse than 1/N. Beside it, whether a policy
sees the signal at all: ``corr(w, tilt)``, see :func:`signal_alignment`.

Arguments after the script's own go to ``maxent-portfolio backtest`` unchanged (e.g.
``--decision-period rebalance --one-step-model``), so the agent's levers can be compared on the
same market.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from maxent_portfolio.data.synthetic import PlantedDGP, planted_market
from maxent_portfolio.strategies.oracle import PlantedOracle

DGP = PlantedDGP()
"""The planted market's DGP: the generator's defaults."""
N_ASSETS = 10
YEARS = 12
SEED = 0
#: Days of the planted market: business days in ``YEARS`` calendar years from 2000-01-03.
N_DAYS = len(pd.bdate_range("2000-01-03", f"{1999 + YEARS}-12-31"))
REPO = Path(__file__).resolve().parents[1]


class Oracle(PlantedOracle):
    """The oracle of ``DGP``: registered as ``oracle`` when this file is a ``--plugin``."""

    def __init__(self) -> None:
        super().__init__(DGP)


def log_growth(returns: pd.DataFrame, periods_per_year: int = 252) -> pd.Series:
    """Annualised mean log growth of each column of simple returns (NaN rows ignored)."""
    return np.log1p(returns).mean() * periods_per_year


def share_captured(growth: pd.Series, learner: str, low: str = "equal-weight",
                   high: str = "oracle") -> float:
    """``(G_learner - G_low) / (G_high - G_low)``: 0 at 1/N, 1 at the oracle."""
    return float((growth[learner] - growth[low]) / (growth[high] - growth[low]))


def signal_alignment(weights: pd.DataFrame, tilt: pd.DataFrame) -> float:
    """Mean over decisions of the cross-sectional correlation of the risky weights chosen at a
    close with the planted tilt of the next day: 0 for a policy blind to the signal.

    Parameters
    ----------
    weights : pd.DataFrame of shape (n_decisions, n_assets [+ CASH])
        Target weights by decision date (a run's ``weights/<strategy>.csv``).
    tilt : pd.DataFrame of shape (n_days, n_assets)
        The planted market's tilt in force on each day.
    """
    following = tilt.index.searchsorted(weights.index, side="right")
    inside = following < len(tilt)
    w = weights.loc[inside, tilt.columns].to_numpy()
    a = tilt.to_numpy()[following[inside]]
    w, a = w - w.mean(axis=1, keepdims=True), a - a.mean(axis=1, keepdims=True)
    norm = np.sqrt((w * w).sum(axis=1) * (a * a).sum(axis=1))
    varied = norm > 1e-12
    if not varied.any():
        return float("nan")
    return float(np.mean((w * a).sum(axis=1)[varied] / norm[varied]))


def backtest_command(csv: Path, out: Path, *, seeds: int, train_steps: int | None,
                     extra: Sequence[str]) -> list[str]:
    """The ``maxent-portfolio backtest`` command line of the benchmark."""
    command = [sys.executable, "-m", "maxent_portfolio", "backtest", "--quiet",
               "--universe", str(csv), "--strategies", "sac,equal-weight,oracle",
               "--plugin", str(Path(__file__).resolve()), "--rebalance", "monthly",
               "--cost-bps", "10", "--train-years", "4", "--test-years", "2",
               "--seeds", str(seeds), "--no-html", "--out", str(out)]
    if train_steps is not None:
        command += ["--train-steps", str(train_steps)]
    return [*command, *extra]


def report(run_dir: Path, tilt: pd.DataFrame) -> list[str]:
    """The benchmark's table from a run directory: G, shares, turnover, signal alignment."""
    returns = pd.read_csv(run_dir / "returns.csv", index_col="date", parse_dates=True)
    metrics = pd.read_csv(run_dir / "metrics.csv").set_index("strategy")
    growth = log_growth(returns.drop(columns=["benchmark"], errors="ignore"))
    seeds = sorted(c for c in growth.index if c.startswith("sac-seed"))
    lines = [f"out of sample {returns.index[0].date()} to {returns.index[-1].date()}, "
             f"{len(returns)} days, net of 10 bps",
             f"{'strategy':<14}{'G':>9}{'share':>9}{'Sharpe':>9}{'turnover/yr':>13}"
             f"{'cash':>7}{'corr(w, tilt)':>15}"]
    for name in [*seeds, "sac", "equal-weight", "oracle"]:
        if name not in growth.index:
            continue
        share = share_captured(growth, name) if name.startswith("sac") else \
            {"equal-weight": 0.0, "oracle": 1.0}[name]
        weights = pd.read_csv(run_dir / "weights" / f"{name}.csv", index_col="date",
                              parse_dates=True)
        alignment = signal_alignment(weights, tilt)
        lines.append(f"{name:<14}{growth[name]:>9.4f}{share:>9.3f}"
                     f"{metrics.loc[name, 'sharpe']:>9.2f}{metrics.loc[name, 'turnover']:>13.2f}"
                     f"{weights.get('CASH', pd.Series(0.0)).mean():>7.2f}"
                     + (f"{alignment:>15.3f}" if np.isfinite(alignment) else f"{'-':>15}"))
    shares = [share_captured(growth, s) for s in seeds]
    lines.append("corr(w, tilt): mean cross-sectional correlation of the weights chosen with "
                 "the planted tilt of the next day (0: blind to the signal)")
    lines.append(f"share of the oracle's excess log growth over 1/N captured by SAC: median "
                 f"{np.median(shares):.3f} over {len(shares)} seeds "
                 f"({', '.join(f'{s:.3f}' for s in shares)})")
    return lines


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="Unknown arguments are passed to maxent-portfolio backtest.")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 seeds of 300 training steps per fold")
    parser.add_argument("--train-steps", type=int, default=None,
                        help="SAC transitions per fold (default: the quick preset's)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="write the run directory here instead of a temporary one")
    return parser.parse_known_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args, extra = parse_args(argv)
    seeds, steps = (2, 300) if args.quick else (3, None)
    steps = args.train_steps if args.train_steps is not None else steps
    with tempfile.TemporaryDirectory(prefix="learnability-") as tmp:
        market = planted_market(N_ASSETS, N_DAYS, seed=SEED)
        assert market.dgp == DGP, "the oracle must know the DGP the data was drawn from"
        csv = Path(tmp) / "planted.csv"
        market.returns.rename_axis("date").to_csv(csv)
        out = args.keep if args.keep is not None else Path(tmp) / "run"
        command = backtest_command(csv, out, seeds=seeds, train_steps=steps, extra=extra)
        print(f"planted market: {N_ASSETS} assets x {N_DAYS} days, {DGP}", flush=True)
        print("$ python " + " ".join(command[1:]), flush=True)
        # The CLI runs this checkout's package, whatever the venv's editable install points to.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
        start = time.perf_counter()
        done = subprocess.run(command, cwd=tmp, env=env, check=False)
        if done.returncode != 0:
            print(f"backtest failed with exit code {done.returncode}", file=sys.stderr)
            return done.returncode
        print(f"backtest took {time.perf_counter() - start:.0f} s")
        print("\n".join(report(out, market.tilt)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
