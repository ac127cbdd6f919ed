"""Soft Actor-Critic on the simplex, split as stable-baselines3 splits it.

* :mod:`.distributions` - policy heads on the simplex (:class:`PolicyHead`, registry
  ``POLICY_HEADS``) and the diversification dial; :mod:`.categorical` - the discrete agent's
  categorical policy over a menu;
* :mod:`.networks` - actor and twin-critic architectures (registry ``NETWORK_BUILDERS``) and
  the menu networks;
* :mod:`.buffer` - the replay buffers;
* :mod:`.config` - :class:`SACConfig`, the device, and the accepted ``POLICIES`` and
  ``NETWORKS`` names (torch-free, so the option tree loads without torch);
* :mod:`.sac` - the algorithm: :class:`SAC` (losses, update, act) and its pure helpers;
  :mod:`.batched_sac` - :class:`BatchedSAC`, several agents (seeds, temperatures, dials) as one
  batched network; :mod:`.discrete_sac` - :class:`DiscreteSAC` over a menu of strategies;
* :mod:`.agent` - :class:`Agent` and :class:`MenuAgent`, the trained policies;
* :mod:`.checkpoint` - checkpoint files and RNG state;
* :mod:`.loop` - the one training loop (seeding, resume, checkpoints, update credit, records,
  validation, signals, progress);
* :mod:`.training` - what differs: :func:`train` (one agent), :func:`train_batched` (a batch)
  and :func:`train_menu` (the menu agent).

Names are imported on first use (``from maxent_portfolio.agents import Agent`` works as
usual), so importing :mod:`.config` through this package does not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from maxent_portfolio.lazy import exported, homes

if TYPE_CHECKING:
    from maxent_portfolio.agents.agent import Agent, MenuAgent
    from maxent_portfolio.agents.batched_sac import BatchedSAC
    from maxent_portfolio.agents.buffer import ReplayBuffer, ReplayBufferSamples
    from maxent_portfolio.agents.checkpoint import load_checkpoint
    from maxent_portfolio.agents.config import (
        DEVICES,
        NETWORKS,
        POLICIES,
        SACConfig,
        resolve_device,
    )
    from maxent_portfolio.agents.discrete_sac import DiscreteSAC
    from maxent_portfolio.agents.distributions import (
        POLICY_HEADS,
        DirichletHead,
        LogisticNormalHead,
        PolicyHead,
        effective_n,
        make_head,
        target_entropy,
    )
    from maxent_portfolio.agents.loop import env_seeds, seed_everything
    from maxent_portfolio.agents.networks import NETWORK_BUILDERS, make_networks
    from maxent_portfolio.agents.sac import SAC, polyak_update, soft_target
    from maxent_portfolio.agents.training import train, train_batched, train_menu

HOMES = {
    **homes("maxent_portfolio.agents.agent", ["Agent", "MenuAgent"]),
    **homes("maxent_portfolio.agents.batched_sac", ["BatchedSAC"]),
    **homes("maxent_portfolio.agents.buffer", ["ReplayBuffer", "ReplayBufferSamples"]),
    **homes("maxent_portfolio.agents.checkpoint", ["load_checkpoint"]),
    **homes("maxent_portfolio.agents.config",
            ["DEVICES", "NETWORKS", "POLICIES", "SACConfig", "resolve_device"]),
    **homes("maxent_portfolio.agents.discrete_sac", ["DiscreteSAC"]),
    **homes("maxent_portfolio.agents.distributions",
            ["POLICY_HEADS", "DirichletHead", "LogisticNormalHead", "PolicyHead", "effective_n",
             "make_head", "target_entropy"]),
    **homes("maxent_portfolio.agents.loop", ["env_seeds", "seed_everything"]),
    **homes("maxent_portfolio.agents.networks", ["NETWORK_BUILDERS", "make_networks"]),
    **homes("maxent_portfolio.agents.sac", ["SAC", "polyak_update", "soft_target"]),
    **homes("maxent_portfolio.agents.training", ["train", "train_batched", "train_menu"]),
}
"""Each public name -> the module that defines it."""


def __getattr__(name: str) -> Any:
    return exported(__name__, HOMES, name)


__all__ = ["DEVICES", "NETWORKS", "NETWORK_BUILDERS", "POLICIES", "POLICY_HEADS", "SAC", "Agent",
           "BatchedSAC", "DirichletHead", "DiscreteSAC", "LogisticNormalHead", "MenuAgent",
           "PolicyHead", "ReplayBuffer", "ReplayBufferSamples", "SACConfig", "effective_n",
           "env_seeds", "load_checkpoint", "make_head", "make_networks", "polyak_update",
           "resolve_device", "seed_everything", "soft_target", "target_entropy", "train",
           "train_batched", "train_menu"]
