"""Helpers shared by several test modules: seeded synthetic markets, tiny SAC settings and envs,
the CLI in a subprocess. Test modules import from here (``tests/`` is on ``sys.path`` under
pytest, as for :mod:`browser`), never from one another."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from maxent_portfolio.agents import SACConfig
from maxent_portfolio.envs import PortfolioEnv, PortfolioVectorEnv

REPO = Path(__file__).resolve().parents[1]
"""The repository root (where ``strategies/`` and ``pyproject.toml`` live)."""


def cli(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python -m maxent_portfolio *args`` in ``cwd``, output captured, never raising."""
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run([sys.executable, "-m", "maxent_portfolio", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


# --- markets --------------------------------------------------------------------------------

def random_returns(n: int = 260, n_assets: int = 3, seed: int = 0, mean: float = 0.0003,
                   vol: float = 0.01, start: str = "2015-01-01") -> pd.DataFrame:
    """i.i.d. normal daily returns of shape (n, n_assets), columns ``A0, A1, ...``, seeded."""
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range(start, periods=n)
    r = rng.normal(mean, vol, (n, n_assets))
    return pd.DataFrame(r, index=idx, columns=[f"A{i}" for i in range(n_assets)])


LOOKBACK = 20
"""Lookback of the learning tests' envs."""
N_ASSETS = 4
"""Assets of :func:`drifting_market`."""


def drifting_market(n: int, seed: int, drift: float = 0.005, vol: float = 0.005) -> pd.DataFrame:
    """Asset 0 drifts up by ``drift`` a day; the others are zero-mean noise."""
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0, vol, (n, N_ASSETS))
    r[:, 0] += drift
    idx = pd.bdate_range("2012-01-02", periods=n)
    return pd.DataFrame(r, index=idx, columns=[f"S{i}" for i in range(N_ASSETS)])


def run_policy(env: PortfolioEnv, policy: Callable[[np.ndarray], np.ndarray]
               ) -> tuple[float, np.ndarray]:
    """Log growth (net of costs) over the whole env and the (T, K) weights chosen."""
    obs, _ = env.reset(options={"start": env.market.first})
    total, chosen = 0.0, []
    while True:
        w = policy(obs)
        chosen.append(w)
        obs, reward, _, truncated, _ = env.step(w)
        total += reward
        if truncated:
            return total, np.array(chosen)


# --- tiny SAC runs --------------------------------------------------------------------------

PLAIN_SAC: dict[str, object] = dict(
    one_step_model=False, actor_horizon=0, actor_objective="sample", reference=None,
    reference_cash=1.0, alpha=None, shrinkage="none")
"""Textbook SAC (replay, sampled actions, the entropy bonus, the tuned temperature): the
algorithm the unit tests check, and the levers' off positions."""


def tiny_config(**kw: object) -> SACConfig:
    """A textbook SAC config (:data:`PLAIN_SAC`) that trains in well under a second (20 steps,
    16x16 networks, seed 3)."""
    base: dict[str, object] = dict(total_steps=20, num_envs=2, learning_starts=8, batch_size=16,
                                   hidden=(16, 16), utd_ratio=1.0, log_every=5, seed=3,
                                   **PLAIN_SAC)
    base.update(kw)
    return SACConfig.from_dict(base)


def vector_env(num_envs: int) -> PortfolioVectorEnv:
    """``num_envs`` envs on :func:`random_returns`, lookback 10, episodes of 10 steps."""
    return PortfolioVectorEnv(num_envs=num_envs, universe=random_returns(), lookback=10,
                              episode_length=10)


def validation_env() -> PortfolioEnv:
    """A held-out env for best-validation selection: 80 days of another seed, one episode."""
    return PortfolioEnv(universe=random_returns(80, seed=5), lookback=10, episode_length=None)


LEVERS = [{"one_step_model": True}, {"reference": 3.0},
          {"one_step_model": True, "reference": 3.0, "model_selection": "best-validation"}]
"""The agent's levers, alone and together, as ``SACConfig`` overrides."""
