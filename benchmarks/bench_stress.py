"""Stress-test speed: the agent deciding for B scenario paths in one forward pass, against one
scenario at a time, side by side.

A ``sac`` strategy with an agent of the default networks (untrained weights: the cost of a
decision does not depend on what was learnt) acts on B bootstrap paths of sp500-20's last
three years, monthly: :meth:`SACStrategy.allocate_batch` for all B paths at each decision date
(what ``maxent-portfolio stress`` does), against :meth:`SACStrategy.allocate` path by path
through the engine. Both give the same weights (checked, to float32 rounding); the ratio of
their times per scenario is the speed-up of batching.

Run: ``.venv/bin/python benchmarks/bench_stress.py [--quick]`` (``--quick``: fewer paths).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import machine, sp500_returns

from maxent_portfolio.agents.agent import Agent
from maxent_portfolio.agents.config import SACConfig
from maxent_portfolio.agents.sac import SAC
from maxent_portfolio.envs.features import feature_names
from maxent_portfolio.rebalance import CASH
from maxent_portfolio.scenarios import draw_many
from maxent_portfolio.strategies.sac import SACStrategy


def strategy(train: pd.DataFrame) -> SACStrategy:
    """A ``sac`` strategy restored from a freshly initialised agent of the default networks."""
    sac = SACStrategy(periods_per_year=252)
    config = SACConfig()
    agent = Agent(SAC(train.shape[1], len(feature_names(sac.env.features)), config), config)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fold-0.pt"
        agent.save(path)
        sac.restore(train, path)
    return sac


def decision_rows(index: pd.DatetimeIndex, start: int) -> np.ndarray:
    """Month-end rows from ``start`` on: the decision dates of a monthly schedule."""
    months = index.to_period("M")
    ends = np.flatnonzero(months[1:] != months[:-1])
    return ends[ends >= start]


def one_at_a_time(sac: SACStrategy, paths: np.ndarray, rows: np.ndarray,
                  columns: list[str]) -> tuple[float, np.ndarray]:
    """Seconds, and the weights (B, decisions, M), deciding path by path."""
    out = np.empty((len(paths), len(rows), len(columns)))
    current = np.append(np.full(paths.shape[2], 1.0 / paths.shape[2]), 0.0)
    held = pd.Series(current, index=columns)
    start = time.perf_counter()
    for b, path in enumerate(paths):
        frame = pd.DataFrame(path, columns=columns[:-1])
        for i, t in enumerate(rows):
            out[b, i] = sac.allocate(frame.iloc[:t + 1], held).to_numpy()
    return time.perf_counter() - start, out


def in_lockstep(sac: SACStrategy, paths: np.ndarray, rows: np.ndarray) -> tuple[float, np.ndarray]:
    """Seconds, and the weights (B, decisions, M), deciding for every path at once."""
    current = np.tile(np.append(np.full(paths.shape[2], 1.0 / paths.shape[2]), 0.0),
                      (len(paths), 1))
    out = []
    start = time.perf_counter()
    for t in rows:
        out.append(sac.allocate_batch(paths[:, :t + 1], current))
    return time.perf_counter() - start, np.stack(out, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer paths (a smoke test)")
    args = parser.parse_args()
    returns = sp500_returns().iloc[-3 * 252 - 1:]
    train, test = returns.iloc[:252], returns.iloc[252:]
    sac = strategy(train)
    n_paths = 16 if args.quick else 200
    solo = 4 if args.quick else 20  # one at a time is slow: timed on fewer paths, per path
    scenarios = draw_many(test, ["bootstrap"], n_paths, seed=0)
    paths = np.stack([np.vstack([train.to_numpy(), s.returns.to_numpy()]) for s in scenarios])
    rows = decision_rows(pd.DatetimeIndex(returns.index), len(train) - 1)
    columns = [*map(str, returns.columns), CASH]
    solo_seconds, solo_weights = one_at_a_time(sac, paths[:solo], rows, columns)
    batch_seconds, batch_weights = in_lockstep(sac, paths, rows)
    gap = float(np.abs(batch_weights[:solo] - solo_weights).max())
    per_solo, per_batch = solo_seconds / solo, batch_seconds / n_paths
    print(f"# stress: sac deciding on scenario paths ({machine()})")
    print(f"{len(rows)} monthly decisions per path, {returns.shape[1]} assets, "
          f"lookback {sac.env.lookback}")
    print(f"{'evaluation':<34}{'paths':>7}{'seconds':>10}{'ms per path':>14}")
    print(f"{'one path at a time (allocate)':<34}{solo:>7}{solo_seconds:>10.2f}"
          f"{per_solo * 1e3:>14.1f}")
    print(f"{'B paths in lockstep (allocate_batch)':<34}{n_paths:>7}{batch_seconds:>10.2f}"
          f"{per_batch * 1e3:>14.1f}")
    print(f"speed-up per path: {per_solo / per_batch:.1f}x; largest weight difference "
          f"{gap:.1e}")
    if gap > 1e-5:
        raise SystemExit(f"batched and one-at-a-time weights differ by {gap:.2e}")


if __name__ == "__main__":
    main()
