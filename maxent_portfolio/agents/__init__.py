"""Soft Actor-Critic on the portfolio simplex: heads, networks, buffer, losses and loop."""

from __future__ import annotations

from maxent_portfolio.agents.buffer import ReplayBuffer, ReplayBufferSamples
from maxent_portfolio.agents.distributions import (
    DirichletHead,
    LogisticNormalHead,
    effective_n,
    make_head,
    target_entropy,
)
from maxent_portfolio.agents.networks import make_networks
from maxent_portfolio.agents.sac import (
    SAC,
    Agent,
    SACConfig,
    load_checkpoint,
    polyak_update,
    soft_target,
    train,
)

__all__ = ["SAC", "Agent", "DirichletHead", "LogisticNormalHead", "ReplayBuffer",
           "ReplayBufferSamples", "SACConfig", "effective_n", "load_checkpoint", "make_head",
           "make_networks", "polyak_update", "soft_target", "target_entropy", "train"]
