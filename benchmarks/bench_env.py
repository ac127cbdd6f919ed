"""Environment speed: single-env steps/s, the batched env against SyncVectorEnv, asset scaling.

Run: ``.venv/bin/python benchmarks/bench_env.py [--quick]``. Numpy/torch are pinned to one
thread (the env vars are set before numpy is imported), so the figures are one-core figures.
Timings on a shared machine are noisy: each figure is the best of a few rounds.
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


def rate(run: Callable[[int], None], steps: int, repeat: int = 3) -> float:
    """Best steps per second of ``run(steps)`` over ``repeat`` rounds (after a warm-up)."""
    run(max(1, steps // 10))
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run(steps)
        best = min(best, time.perf_counter() - start)
    return steps / best


def single_rate(market: MarketData, steps: int) -> float:
    env = PortfolioEnv(market)
    env.reset(seed=0)
    actions = np.random.default_rng(1).random((256, env.n_assets + 1)).astype(np.float32)

    def run(n: int) -> None:
        for i in range(n):
            if env.step(actions[i % 256])[3]:
                env.reset()

    return rate(run, steps)


def vector_rate(market: MarketData, steps: int, batch: int = BATCH) -> float:
    env = PortfolioVectorEnv(batch, market, seed=0)
    env.reset()
    actions = np.random.default_rng(1).random((16, batch, env.n_assets + 1)).astype(np.float32)

    def run(n: int) -> None:
        for i in range(n):
            env.step(actions[i % 16])

    return rate(run, steps)


def sync_rate(market: MarketData, steps: int, batch: int = BATCH) -> float:
    env = SyncVectorEnv([lambda: PortfolioEnv(market) for _ in range(batch)],
                        autoreset_mode=AutoresetMode.SAME_STEP)
    env.reset(seed=0)
    actions = np.random.default_rng(1).random(
        (16, batch, market.n_assets + 1)).astype(np.float32)

    def run(n: int) -> None:
        for i in range(n):
            env.step(actions[i % 16])

    return rate(run, steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer steps (noisier)")
    args = parser.parse_args()
    k = 1 if args.quick else 3
    gym.logger.min_level = 40

    market = sp500()
    n = market.n_assets
    single = single_rate(market, 1500 * k)
    vec = vector_rate(market, 1000 * k)
    sync = sync_rate(market, 30 * k)
    print(f"sp500-20 ({n} assets, {len(market.returns)} days), B={BATCH}, one thread\n")
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
        v = vector_rate(data, 300 * k)
        s = single_rate(data, 500 * k)
        base = base or 1e6 / v
        print(f"{n_assets:>8}{1e6 / v:>18,.1f}{v * BATCH * n_assets:>16,.0f}{1e6 / s:>16,.1f}"
              f"   (x{1e6 / v / base:.2f} of 20 assets)")


if __name__ == "__main__":
    main()
