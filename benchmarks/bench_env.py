"""Environment speed: single-env steps/s, the batched env against SyncVectorEnv, asset scaling.

Run: ``.venv/bin/python benchmarks/bench_env.py [--quick]``. Numpy/torch are pinned to one
thread (the env vars are set before numpy is imported), so the figures are one-core figures.
Time is the CPU time of this process (``time.process_time``), which other processes on a shared
machine disturb less than wall time; each figure is the best of many short rounds, and the
contenders' rounds are interleaved so that what noise is left hits them alike.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from gymnasium.vector import AutoresetMode, SyncVectorEnv  # noqa: E402

from maxent_portfolio.data.market import MarketData  # noqa: E402
from maxent_portfolio.envs import PortfolioEnv, PortfolioVectorEnv  # noqa: E402

BATCH = 64


def sp500() -> MarketData:
    """The sp500-20 universe (through the loader when it exists, else skfolio directly)."""
    try:
        from maxent_portfolio.data import load_universe  # type: ignore[attr-defined]

        return load_universe("sp500-20")
    except ImportError:
        from skfolio.datasets import load_sp500_dataset

        prices = load_sp500_dataset()
        return MarketData.from_returns(prices.pct_change().iloc[1:], name="sp500-20")


def synthetic(n_assets: int, n_obs: int = 2000, seed: int = 0) -> MarketData:
    """Gaussian daily returns of ``n_assets`` assets."""
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2000-01-03", periods=n_obs)
    data = rng.normal(0.0003, 0.015, size=(n_obs, n_assets))
    return MarketData.from_returns(pd.DataFrame(data, index=idx,
                                                columns=[f"A{i}" for i in range(n_assets)]))


def steppers(market: MarketData, batch: int) -> dict[str, Callable[[int], None]]:
    """``run(n)`` closures stepping each env kind ``n`` times with precomputed random actions."""
    single = PortfolioEnv(universe=market)
    single.reset(seed=0)
    vector = PortfolioVectorEnv(num_envs=batch, universe=market, seed=0)
    vector.reset()
    actions = np.random.default_rng(1).random((16, batch, market.n_assets + 1))
    actions = actions.astype(np.float32)

    def run_single(n: int) -> None:
        for i in range(n):
            if single.step(actions[i % 16, i % batch])[3]:
                single.reset()

    def run_vector(n: int) -> None:
        for i in range(n):
            vector.step(actions[i % 16])

    out = {"single": run_single, "vector": run_vector}
    if batch <= BATCH:
        sync = SyncVectorEnv([lambda: PortfolioEnv(universe=market) for _ in range(batch)],
                             autoreset_mode=AutoresetMode.SAME_STEP)
        sync.reset(seed=0)

        def run_sync(n: int) -> None:
            for i in range(n):
                sync.step(actions[i % 16])

        out["sync"] = run_sync
    return out


def rates(runs: dict[str, Callable[[int], None]], steps: dict[str, int],
          repeat: int) -> dict[str, float]:
    """Best steps/s (CPU time) of each ``run`` over ``repeat`` interleaved rounds, after one
    warm-up round."""
    best = dict.fromkeys(runs, float("inf"))
    for round_ in range(repeat + 1):
        for name, run in runs.items():
            start = time.process_time()
            run(steps[name])
            if round_:
                best[name] = min(best[name], time.process_time() - start)
    return {name: steps[name] / best[name] for name in runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer steps (noisier)")
    args = parser.parse_args()
    k = 1 if args.quick else 3
    gym.logger.min_level = 40

    market = sp500()
    n = market.n_assets
    # Steps per round: a Sync step is 64 env steps, so 8 of them make a round long enough.
    r = rates(steppers(market, BATCH), {"single": 300, "vector": 200, "sync": 8}, 10 * k)
    single, vec, sync = r["single"], r["vector"], r["sync"]
    print(f"sp500-20 ({n} assets, {len(market.returns)} days), B={BATCH}, one thread, "
          f"{machine()}, CPU time\n")
    print(f"{'env':<34}{'steps/s':>12}{'env-steps/s':>14}{'asset-steps/s':>16}")
    rows = [("PortfolioEnv (single)", single, 1), (f"SyncVectorEnv x{BATCH}", sync, BATCH),
            (f"PortfolioVectorEnv B={BATCH}", vec, BATCH)]
    for name, steps, b in rows:
        print(f"{name:<34}{steps:>12,.0f}{steps * b:>14,.0f}{steps * b * n:>16,.0f}")
    print(f"\nbatched / SyncVectorEnv (same B): {vec / sync:,.1f}x   (target >= 50x)")
    print(f"batched asset-steps/s: {vec * BATCH * n:,.0f}   (target >= 1,000,000)")

    print(f"\nsynthetic assets, B={BATCH}: cost of one batched step and of one single-env step\n")
    print(f"{'assets':>8}{'batched us/step':>18}{'asset-steps/s':>16}{'single us/step':>16}")
    base = None
    for n_assets in (20, 100, 500):
        data = synthetic(n_assets)
        runs = steppers(data, BATCH)
        runs.pop("sync")
        r = rates(runs, {"single": 200, "vector": 100}, 5 * k)
        v, s = r["vector"], r["single"]
        base = base or 1e6 / v
        print(f"{n_assets:>8}{1e6 / v:>18,.1f}{v * BATCH * n_assets:>16,.0f}{1e6 / s:>16,.1f}"
              f"   (batched x{1e6 / v / base:.2f} of 20 assets)")


def machine() -> str:
    return f"{os.cpu_count()} cores, {os.uname().machine}"


if __name__ == "__main__":
    main()
