"""A batched agent learns a planted signal as its solo run does (seconds on one CPU thread)."""

from __future__ import annotations

import numpy as np
import torch
from support import LOOKBACK, N_ASSETS, PLAIN_SAC, drifting_market, run_policy

from maxent_portfolio.agents import SACConfig
from maxent_portfolio.agents.training import train_batched
from maxent_portfolio.envs import PortfolioEnv

torch.set_num_threads(1)


def _config(seed: int) -> SACConfig:
    return SACConfig.from_dict({**PLAIN_SAC, **dict(
        total_steps=90, num_envs=4, learning_starts=25, utd_ratio=1.0, batch_size=64,
        hidden=(32, 32), gamma=0.5, policy_lr=3e-3, q_lr=3e-3, log_every=50, seed=seed,
        diversification=0.2)})


def test_batched_agents_overweight_the_drifting_asset_like_a_solo_agent() -> None:
    """The bar ``test_sac_learning`` sets a solo agent (there with 150 steps, here 90), met by
    every member of a batch of two."""
    configs = [_config(0), _config(1)]
    agents = train_batched(drifting_market(600, seed=1), configs, progress=False,
                           env_options={"lookback": LOOKBACK, "episode_length": 40})
    held_out = PortfolioEnv(universe=drifting_market(260, seed=99), lookback=LOOKBACK,
                            episode_length=None)
    equal = np.append(np.full(N_ASSETS, 1.0 / N_ASSETS), 0.0)
    equal_growth, _ = run_policy(held_out, lambda obs: equal)
    for agent in agents:
        growth, weights = run_policy(held_out, agent.act)
        assert weights[:, 0].mean() > 1.0 / N_ASSETS + 0.05, weights.mean(0)
        assert growth > equal_growth, (growth, equal_growth)
