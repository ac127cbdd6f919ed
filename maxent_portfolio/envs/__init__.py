"""Gymnasium environments for portfolio allocation.

``gym.make("maxent_portfolio/Portfolio-v0")`` builds a :class:`PortfolioEnv` on ``sp500-20``
and ``gym.make_vec("maxent_portfolio/Portfolio-v0", num_envs=B,
vectorization_mode="vector_entry_point")`` the batched :class:`PortfolioVectorEnv`; the id is
registered by ``import maxent_portfolio`` (see :func:`maxent_portfolio.register_env`), which
importing this package implies.

Names are imported on first use (``from maxent_portfolio.envs import PortfolioEnv`` works as
usual), so the ``env`` section of the option tree (:mod:`.config`) loads neither Gymnasium nor
the feature code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from maxent_portfolio import ENV_ID
from maxent_portfolio.lazy import exported, homes

if TYPE_CHECKING:
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

HOMES = {
    **homes("maxent_portfolio.envs.features",
            ["FEATURE_GROUPS", "FEATURE_NAMES", "compute_features", "latest_observation",
             "observation"]),
    **homes("maxent_portfolio.envs.portfolio", ["PortfolioEnv"]),
    **homes("maxent_portfolio.envs.rewards", ["REWARD_FUNCTIONS", "REWARDS", "compute_reward"]),
    **homes("maxent_portfolio.envs.vector", ["PortfolioVectorEnv"]),
}
"""Each public name -> the module that defines it."""


def __getattr__(name: str) -> Any:
    return exported(__name__, HOMES, name)


__all__ = ["ENV_ID", "FEATURE_GROUPS", "FEATURE_NAMES", "REWARDS", "REWARD_FUNCTIONS",
           "PortfolioEnv", "PortfolioVectorEnv", "compute_features", "compute_reward",
           "latest_observation", "observation"]
