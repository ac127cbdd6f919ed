"""Gymnasium environments for portfolio allocation.

Importing this package registers ``maxent_portfolio/Portfolio-v0``:
``gym.make("maxent_portfolio/Portfolio-v0")`` builds a :class:`PortfolioEnv` on ``sp500-20``
and ``gym.make_vec("maxent_portfolio/Portfolio-v0", num_envs=B,
vectorization_mode="vector_entry_point")`` the batched :class:`PortfolioVectorEnv`.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from maxent_portfolio.envs.features import (
    FEATURE_NAMES,
    compute_features,
    latest_observation,
    observation,
)
from maxent_portfolio.envs.portfolio import PortfolioEnv
from maxent_portfolio.envs.rewards import REWARD_FUNCTIONS, REWARDS, compute_reward
from maxent_portfolio.envs.vector import PortfolioVectorEnv

ENV_ID = "maxent_portfolio/Portfolio-v0"

if ENV_ID not in registry:
    register(
        id=ENV_ID,
        entry_point="maxent_portfolio.envs.portfolio:PortfolioEnv",
        vector_entry_point="maxent_portfolio.envs.vector:PortfolioVectorEnv",
    )

__all__ = ["ENV_ID", "FEATURE_NAMES", "REWARDS", "REWARD_FUNCTIONS", "PortfolioEnv",
           "PortfolioVectorEnv", "compute_features", "compute_reward", "latest_observation",
           "observation"]
