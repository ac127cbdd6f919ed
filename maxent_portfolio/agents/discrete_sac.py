"""Discrete Soft Actor-Critic (Christodoulou 2019) over a menu of K strategies: the algorithm.

The action is an index ``k`` into a menu of strategies; the policy is categorical,
``pi(.|s) = softmax(logits(s))`` (:class:`~maxent_portfolio.agents.categorical.
CategoricalPolicy`). As in the paper, every expectation over actions is computed exactly over
the menu instead of sampled:

* soft value ``V(s) = sum_k pi(k|s) (min_j Q'_j(s, k) - alpha log pi(k|s))``;
* critic target ``y = r + gamma (1 - done) V(s')`` for the twin critics ``Q_j(s, a)``;
* actor loss ``E_s sum_k pi(k|s) (alpha log pi(k|s) - min_j Q_j(s, k))``;
* temperature loss ``-log alpha (sum_k pi(k|s) log pi(k|s) + H_target)``, whose gradient
  raises ``alpha`` while the entropy is below the target.

:class:`DiscreteSAC` is :class:`~maxent_portfolio.agents.sac.SAC`'s sibling: the networks are
:func:`~maxent_portfolio.agents.networks.menu_networks`, the optimiser and the gradient step
:func:`~maxent_portfolio.agents.sac.sac_optimizer` and :func:`~maxent_portfolio.agents.sac.
gradient_step`; it trains in the one loop (:func:`~maxent_portfolio.agents.training.train_menu`)
and its trained policy is :class:`~maxent_portfolio.agents.agent.MenuAgent`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from maxent_portfolio.agents.buffer import ReplayBufferSamples
from maxent_portfolio.agents.categorical import CategoricalPolicy, menu_target_entropy
from maxent_portfolio.agents.config import SACConfig
from maxent_portfolio.agents.networks import menu_networks
from maxent_portfolio.agents.sac import gradient_step, sac_optimizer
from maxent_portfolio.errors import ConfigError


def soft_state_value(policy: CategoricalPolicy, min_q: Tensor, alpha: Tensor | float) -> Tensor:
    """``V(s) = sum_k pi(k|s) (min Q(s, k) - alpha log pi(k|s))`` (B,), exact over the menu."""
    return (policy.probs * (min_q - alpha * policy.log_probs)).sum(-1)


def discrete_soft_target(rewards: Tensor, dones: Tensor, next_value: Tensor, gamma: float
                         ) -> Tensor:
    """``y = r + gamma (1 - done) V(s')`` (B,); ``done`` is termination only."""
    return rewards + gamma * (1.0 - dones) * next_value


def discrete_actor_loss(policy: CategoricalPolicy, min_q: Tensor, alpha: Tensor | float
                        ) -> Tensor:
    """``mean_s sum_k pi(k|s) (alpha log pi(k|s) - min Q(s, k))``; ``min_q`` held fixed."""
    return (policy.probs * (alpha * policy.log_probs - min_q)).sum(-1).mean()


def discrete_alpha_loss(log_alpha: Tensor, policy: CategoricalPolicy, target_entropy: float
                        ) -> Tensor:
    """``-log alpha mean_s (sum_k pi log pi + H_target)``, the policy held fixed."""
    neg_entropy = (policy.probs * policy.log_probs).sum(-1).detach()
    return -(log_alpha * (neg_entropy + target_entropy)).mean()


class DiscreteLosses(NamedTuple):
    """Losses and diagnostics of one update (tensors)."""

    qf_loss: Tensor
    actor_loss: Tensor
    alpha_loss: Tensor
    entropy: Tensor  # (B,) exact entropy of pi(.|s)


class DiscreteSAC(nn.Module):
    """Categorical actor, twin critics and their targets, temperature, and the update step.

    Parameters
    ----------
    obs_dim : int
    k : int
        Menu size.
    config : SACConfig
        ``alpha`` (fixed) or automatic tuning towards :func:`menu_target_entropy` of
        ``diversification`` (``target_entropy`` overrides it and must be below ``log k``);
        ``gamma``, ``tau``, the learning rates, ``reward_scale`` and ``hidden`` apply as for
        ``sac``.
    """

    def __init__(self, obs_dim: int, k: int, config: SACConfig) -> None:
        super().__init__()
        self.config, self.obs_dim, self.k = config, obs_dim, k
        self.actor, self.qf = menu_networks(obs_dim, k, config.hidden)
        _, self.qf_target = menu_networks(obs_dim, k, config.hidden)
        self.qf_target.load_state_dict(self.qf.state_dict())
        self.qf_target.requires_grad_(False)
        if config.target_entropy is not None:
            if not config.target_entropy < math.log(k):
                raise ConfigError(f"target_entropy {config.target_entropy:g} is unreachable for "
                                  f"a menu of {k} strategies: it must be below log {k} = "
                                  f"{math.log(k):.4g}")
            self.target_entropy = float(config.target_entropy)
        else:
            self.target_entropy = menu_target_entropy(k, config.diversification)
        self.autotune = config.alpha is None
        init = config.initial_alpha if self.autotune else float(config.alpha or 0.0)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(init)), requires_grad=self.autotune)
        self.optimizer = sac_optimizer(self.actor, self.qf, self.log_alpha, self.autotune, config,
                                       fused=None)

    @property
    def alpha(self) -> Tensor:
        """The temperature, a detached scalar."""
        return self.log_alpha.detach().exp()

    def policy(self, obs: Tensor) -> CategoricalPolicy:
        return CategoricalPolicy.from_logits(self.actor(obs))

    def losses(self, batch: ReplayBufferSamples) -> DiscreteLosses:
        """Critic, actor and temperature losses of a minibatch; actions are one-hot (B, K)."""
        alpha = self.alpha
        scale, gamma = self.config.reward_scale, self.config.gamma
        with torch.no_grad():
            next_pi = self.policy(batch.next_observations)
            min_qf_next_target = self.qf_target(batch.next_observations).min(0).values
            next_value = soft_state_value(next_pi, min_qf_next_target, alpha)
            y = discrete_soft_target(batch.rewards * scale, batch.dones, next_value, gamma)
        qf_all = self.qf(batch.observations)  # (2, B, K)
        taken = batch.actions.argmax(-1)
        qf_values = qf_all.gather(2, taken.view(1, -1, 1).expand(2, -1, 1)).squeeze(-1)
        qf_loss = (qf_values - y).pow(2).mean(1).sum()  # qf1_loss + qf2_loss
        pi = self.policy(batch.observations)
        actor_loss = discrete_actor_loss(pi, qf_all.detach().min(0).values, alpha)
        alpha_loss = discrete_alpha_loss(self.log_alpha, pi, self.target_entropy) \
            if self.autotune else torch.zeros(())
        return DiscreteLosses(qf_loss, actor_loss, alpha_loss, pi.entropy().detach())

    def update(self, batch: ReplayBufferSamples) -> DiscreteLosses:
        """One gradient step on the three losses (one backward pass), then Polyak targets."""
        out = self.losses(batch)
        gradient_step(self.optimizer, out.qf_loss + out.actor_loss + out.alpha_loss,
                      self.qf.parameters(), self.qf_target.parameters(), self.config.tau)
        return out


__all__ = ["DiscreteLosses", "DiscreteSAC", "discrete_actor_loss", "discrete_alpha_loss",
           "discrete_soft_target", "soft_state_value"]
