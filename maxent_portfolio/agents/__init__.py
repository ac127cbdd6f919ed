"""Soft Actor-Critic on the simplex, split as stable-baselines3 splits it.

* :mod:`.distributions` - policy heads on the simplex (:class:`PolicyHead`, registry
  ``POLICY_HEADS``) and the diversification dial;
* :mod:`.networks` - actor and twin-critic architectures (registry ``NETWORK_BUILDERS``);
* :mod:`.buffer` - the replay buffer;
* :mod:`.config` - :class:`SACConfig`, the device, and the accepted ``POLICIES`` and
  ``NETWORKS`` names (torch-free, so the option tree loads without torch);
* :mod:`.sac` - the algorithm: :class:`SAC` (losses, update, act) and its pure helpers;
* :mod:`.agent` - :class:`Agent`, the trained policy;
* :mod:`.checkpoint` - checkpoint files and RNG state;
* :mod:`.training` - :func:`train`, the loop (seeding, signals, evaluation, progress);
* :mod:`.ensemble` and :mod:`.batched` - :func:`train_batched`: several agents (seeds,
  temperatures, dials) as one batched network.

Names are imported on first use (``from maxent_portfolio.agents import Agent`` works as
usual), so importing :mod:`.config` through this package does not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from maxent_portfolio.lazy import exported, homes

if TYPE_CHECKING:
    from maxent_portfolio.agents.agent import Agent
    from maxent_portfolio.agents.batched import train_batched
    from maxent_portfolio.agents.buffer import ReplayBuffer, ReplayBufferSamples
    from maxent_portfolio.agents.checkpoint import load_checkpoint
    from maxent_portfolio.agents.config import (
        DEVICES,
        NETWORKS,
        POLICIES,
        SACConfig,
        resolve_device,
    )
    from maxent_portfolio.agents.distributions import (
        POLICY_HEADS,
        DirichletHead,
        LogisticNormalHead,
        PolicyHead,
        effective_n,
        make_head,
        target_entropy,
    )
    from maxent_portfolio.agents.networks import NETWORK_BUILDERS, make_networks
    from maxent_portfolio.agents.sac import SAC, polyak_update, soft_target
    from maxent_portfolio.agents.training import env_seeds, seed_everything, train

HOMES = {
    **homes("maxent_portfolio.agents.agent", ["Agent"]),
    **homes("maxent_portfolio.agents.batched", ["train_batched"]),
    **homes("maxent_portfolio.agents.buffer", ["ReplayBuffer", "ReplayBufferSamples"]),
    **homes("maxent_portfolio.agents.checkpoint", ["load_checkpoint"]),
    **homes("maxent_portfolio.agents.config",
            ["DEVICES", "NETWORKS", "POLICIES", "SACConfig", "resolve_device"]),
    **homes("maxent_portfolio.agents.distributions",
            ["POLICY_HEADS", "DirichletHead", "LogisticNormalHead", "PolicyHead", "effective_n",
             "make_head", "target_entropy"]),
    **homes("maxent_portfolio.agents.networks", ["NETWORK_BUILDERS", "make_networks"]),
    **homes("maxent_portfolio.agents.sac", ["SAC", "polyak_update", "soft_target"]),
    **homes("maxent_portfolio.agents.training", ["env_seeds", "seed_everything", "train"]),
}
"""Each public name -> the module that defines it."""


def __getattr__(name: str) -> Any:
    return exported(__name__, HOMES, name)


__all__ = ["DEVICES", "NETWORKS", "NETWORK_BUILDERS", "POLICIES", "POLICY_HEADS", "SAC", "Agent",
           "DirichletHead", "LogisticNormalHead", "PolicyHead", "ReplayBuffer",
           "ReplayBufferSamples", "SACConfig", "effective_n", "env_seeds", "load_checkpoint",
           "make_head", "make_networks", "polyak_update", "resolve_device", "seed_everything",
           "soft_target", "target_entropy", "train", "train_batched"]
