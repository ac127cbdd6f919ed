"""Gymnasium environments for portfolio allocation.

Importing this package registers ``maxent_portfolio/Portfolio-v0``:
``gym.make("maxent_portfolio/Portfolio-v0")`` builds a :class:`PortfolioEnv` on ``sp500-20``
and ``gym.make_vec("maxent_portfolio/Portfolio-v0", num_envs=B,
vectorization_mode="vector_entry_point")`` the batched :class:`PortfolioVectorEnv`.
"""

from __future__ import annotations

from maxent_portfolio import ENV_ID, register_env
from maxent_portfolio.envs.features import (
    FEATURE_GROUPS,
    FEATURE_NAMES,
    compute_features,
    latest_observation,
    observation,
)
from maxent_portfolio.envs.portfolio import PortfolioEnv
from maxent_portfolio.envs.rewards import REWARD_FUNCTIONS, REWARDS, compute_reward
from maxent_portfolio.envs.vector import PortfolioVectorEnv

register_env()  # usually done already by `import maxent_portfolio`; a no-op then

__all__ = ["ENV_ID", "FEATURE_GROUPS", "FEATURE_NAMES", "REWARDS", "REWARD_FUNCTIONS",
           "PortfolioEnv", "PortfolioVectorEnv", "compute_features", "compute_reward",
           "latest_observation", "observation"]
