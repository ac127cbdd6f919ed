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

``ridge-kelly``, the predict-then-optimise baseline (a pooled ridge regression on the agent's
own features, then Kelly), is scored the same way: the learner a user would write first.

Other planted markets: ``--market KIND:STRENGTH`` (``momentum:0.2``, ``reversal:0.4``,
``low-volatility:0.4``, ``momentum:0``; reversal uses a 5-day window, the ``mom_5`` feature) and
``--market-seed S`` (the noise; the reported figures use seed 0, development uses others).
``--family`` runs the whole family the agent is judged on, one backtest each, and ends with one
table: momentum at 0.4, 0.2 and 0.1, reversal at 0.4, the low-volatility premium at 0.4, and the
market without a signal (strength 0) at three market seeds (0, 100 and 101: development uses 1
to 99), where the share is undefined and the
table shows the excess log growth over 1/N instead.

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

from maxent_portfolio.data.synthetic import PLANTED_KINDS, PlantedDGP, planted_market

DGP = PlantedDGP()
"""The planted market's DGP: the generator's defaults (momentum at 0.4)."""
N_ASSETS = 10
YEARS = 12
SEED = 0
#: Days of the planted market: business days in ``YEARS`` calendar years from 2000-01-03.
N_DAYS = len(pd.bdate_range("2000-01-03", f"{1999 + YEARS}-12-31"))
REPO = Path(__file__).resolve().parents[1]
LEARNERS = ("sac", "ridge-kelly")
"""Strategies scored by their share of the oracle's excess growth (with their seeds)."""
WINDOWS = {"momentum": 20, "reversal": 5, "low-volatility": 20}
"""Signal window of each kind: momentum is mom_20, reversal is mom_5."""
FAMILY = (("momentum", 0.4, 0), ("momentum", 0.2, 0), ("momentum", 0.1, 0),
          ("reversal", 0.4, 0), ("low-volatility", 0.4, 0),
          ("momentum", 0.0, 0), ("momentum", 0.0, 100), ("momentum", 0.0, 101))
"""``--family``: (kind, strength, market seed) of each market. A market's noise depends on its
seed alone, so the reported draws use seed 0 and seeds from 100 up, which development (seeds 1
to 99) never touches."""

ORACLE_PLUGIN = """from maxent_portfolio.data.synthetic import PlantedDGP
from maxent_portfolio.strategies.oracle import PlantedOracle


class Oracle(PlantedOracle):
    def __init__(self) -> None:
        super().__init__(PlantedDGP(**{fields!r}))
"""
"""A plug-in registering ``oracle`` for one DGP (written next to the market's CSV)."""


def dgp_of(market: str) -> PlantedDGP:
    """The DGP of ``KIND:STRENGTH`` (``momentum:0.4``), with the kind's window."""
    kind, _, strength = market.partition(":")
    if kind not in PLANTED_KINDS or not strength:
        raise SystemExit(f"--market: expected KIND:STRENGTH with KIND one of "
                         f"{', '.join(PLANTED_KINDS)}, got {market!r}")
    return PlantedDGP(signal_strength=float(strength), kind=kind, window=WINDOWS[kind])


def log_growth(returns: pd.DataFrame, periods_per_year: int = 252) -> pd.Series:
    """Annualised mean log growth of each column of simple returns (NaN rows ignored)."""
    return np.log1p(returns).mean() * periods_per_year


def share_captured(growth: pd.Series, learner: str, low: str = "equal-weight",
                   high: str = "oracle") -> float:
    """``(G_learner - G_low) / (G_high - G_low)``: 0 at 1/N, 1 at the oracle."""
    return float((growth[learner] - growth[low]) / (growth[high] - growth[low]))


def is_learner(name: str) -> bool:
    """A learner scored by its share: one of :data:`LEARNERS` or one of their seeds."""
    return any(name == learner or name.startswith(f"{learner}-seed") for learner in LEARNERS)


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
               "--universe", str(csv), "--strategies", f"{','.join(LEARNERS)},equal-weight,oracle",
               "--plugin", str(csv.with_name("oracle_plugin.py")), "--rebalance", "monthly",
               "--cost-bps", "10", "--train-years", "4", "--test-years", "2",
               "--seeds", str(seeds), "--no-html", "--out", str(out)]
    if train_steps is not None:
        command += ["--train-steps", str(train_steps)]
    return [*command, *extra]


def score(run_dir: Path, tilt: pd.DataFrame) -> pd.DataFrame:
    """Per strategy of a run directory: ``G``, its share, Sharpe, turnover, mean cash and
    ``corr(w, tilt)``, the learners' seeds first."""
    returns = pd.read_csv(run_dir / "returns.csv", index_col="date", parse_dates=True)
    metrics = pd.read_csv(run_dir / "metrics.csv").set_index("strategy")
    growth = log_growth(returns.drop(columns=["benchmark"], errors="ignore"))
    seeds = sorted(c for c in growth.index if c.startswith("sac-seed"))
    names = [*seeds, *(n for n in growth.index if is_learner(n) and n not in seeds),
             "equal-weight", "oracle"]
    rows = {}
    for name in (n for n in names if n in growth.index):
        weights = pd.read_csv(run_dir / "weights" / f"{name}.csv", index_col="date",
                              parse_dates=True)
        rows[name] = {
            "G": growth[name],
            "share": share_captured(growth, name) if is_learner(name)
            else {"equal-weight": 0.0, "oracle": 1.0}[name],
            "sharpe": metrics.loc[name, "sharpe"], "turnover": metrics.loc[name, "turnover"],
            "cash": weights.get("CASH", pd.Series(0.0)).mean(),
            "alignment": signal_alignment(weights, tilt)}
    return pd.DataFrame.from_dict(rows, orient="index")


def report(run_dir: Path, tilt: pd.DataFrame) -> list[str]:
    """The benchmark's table from a run directory: G, shares, turnover, signal alignment."""
    returns = pd.read_csv(run_dir / "returns.csv", index_col="date", parse_dates=True)
    table = score(run_dir, tilt)
    lines = [f"out of sample {returns.index[0].date()} to {returns.index[-1].date()}, "
             f"{len(returns)} days, net of 10 bps",
             f"{'strategy':<14}{'G':>9}{'share':>9}{'Sharpe':>9}{'turnover/yr':>13}"
             f"{'cash':>7}{'corr(w, tilt)':>15}"]
    for name, row in table.iterrows():
        lines.append(f"{name:<14}{row.G:>9.4f}{row.share:>9.3f}{row.sharpe:>9.2f}"
                     f"{row.turnover:>13.2f}{row.cash:>7.2f}"
                     + (f"{row.alignment:>15.3f}" if np.isfinite(row.alignment)
                        else f"{'-':>15}"))
    # One seed runs as the ``sac`` row alone, without seed rows.
    shares = table.loc[[n for n in table.index if n.startswith("sac-seed")]
                       or [n for n in ("sac",) if n in table.index], "share"]
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
    parser.add_argument("--seeds", type=int, default=None,
                        help="SAC seeds (default 3; 2 with --quick)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="write the run directory here instead of a temporary one "
                             "(with --family: one subdirectory per market)")
    parser.add_argument("--market", default="momentum:0.4",
                        help="KIND:STRENGTH of the planted signal, KIND one of "
                             f"{', '.join(PLANTED_KINDS)} (default momentum:0.4)")
    parser.add_argument("--market-seed", type=int, default=SEED,
                        help=f"seed of the market's noise (default {SEED}, the reported one)")
    parser.add_argument("--family", action="store_true",
                        help="every market of FAMILY in turn, then one summary table")
    return parser.parse_known_args(argv)


def run_market(dgp: PlantedDGP, market_seed: int, *, seeds: int, steps: int | None,
               extra: Sequence[str], keep: Path | None) -> pd.DataFrame | int:
    """Backtest the learners on one planted market; its score table, or the CLI's exit code."""
    with tempfile.TemporaryDirectory(prefix="learnability-") as tmp:
        market = planted_market(N_ASSETS, N_DAYS, seed=market_seed,
                                signal_strength=dgp.signal_strength, kind=dgp.kind,
                                window=dgp.window)
        assert market.dgp == dgp, "the oracle must know the DGP the data was drawn from"
        csv = Path(tmp) / "planted.csv"
        market.returns.rename_axis("date").to_csv(csv)
        fields = {k: getattr(dgp, k) for k in dgp.__dataclass_fields__}
        csv.with_name("oracle_plugin.py").write_text(ORACLE_PLUGIN.format(fields=fields))
        out = keep if keep is not None else Path(tmp) / "run"
        command = backtest_command(csv, out, seeds=seeds, train_steps=steps, extra=extra)
        print(f"planted market (seed {market_seed}): {N_ASSETS} assets x {N_DAYS} days, {dgp}",
              flush=True)
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
        print("\n".join(report(out, market.tilt)), flush=True)
        return score(out, market.tilt)


def family_summary(results: list[tuple[PlantedDGP, int, pd.DataFrame]]) -> list[str]:
    """One line per market: the oracle's edge, then each learner's share (SAC: the median of
    its seeds and their range) and turnover; without a signal, the excess growth over 1/N."""
    lines = [f"{'market':<22}{'seed':>5}{'oracle-1/N':>11}{'sac share':>11}{'(seeds)':>17}"
             f"{'sac turn':>9}{'sac-1/N':>9}{'ridge share':>12}{'ridge-1/N':>10}"]
    for dgp, seed, table in results:
        edge = table.loc["oracle", "G"] - table.loc["equal-weight", "G"]
        seeds = table.loc[[n for n in table.index if n.startswith("sac-seed")] or ["sac"]]
        sac_excess = float(np.median(seeds["G"])) - table.loc["equal-weight", "G"]
        ridge_excess = table.loc["ridge-kelly", "G"] - table.loc["equal-weight", "G"]
        lines.append(
            f"{dgp.kind + ':' + format(dgp.signal_strength, 'g'):<22}{seed:>5}{edge:>11.4f}"
            f"{np.median(seeds['share']):>11.3f}"
            f"{f'({seeds.share.min():.2f}, {seeds.share.max():.2f})':>17}"
            f"{np.median(seeds['turnover']):>9.2f}{sac_excess:>9.4f}"
            f"{table.loc['ridge-kelly', 'share']:>12.3f}{ridge_excess:>10.4f}")
    lines.append("share: (G - G_1/N) / (G_oracle - G_1/N), annualised log growth net of 10 bps; "
                 "at strength 0 read the excess growth over 1/N (sac-1/N, ridge-1/N), not the "
                 "share")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args, extra = parse_args(argv)
    seeds, steps = (2, 300) if args.quick else (3, None)
    seeds = args.seeds if args.seeds is not None else seeds
    steps = args.train_steps if args.train_steps is not None else steps
    markets = [(PlantedDGP(signal_strength=strength, kind=kind, window=WINDOWS[kind]), seed)
               for kind, strength, seed in FAMILY] if args.family \
        else [(dgp_of(args.market), args.market_seed)]
    results = []
    for dgp, market_seed in markets:
        keep = args.keep
        if keep is not None and args.family:
            keep = keep / f"{dgp.kind}-{dgp.signal_strength:g}-seed{market_seed}"
        table = run_market(dgp, market_seed, seeds=seeds, steps=steps, extra=extra, keep=keep)
        if isinstance(table, int):
            return table
        results.append((dgp, market_seed, table))
    if args.family:
        print("\n".join(family_summary(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
