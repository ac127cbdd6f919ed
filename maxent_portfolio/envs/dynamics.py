"""The portfolio env's exact dynamics in torch (its one-step model): rewards and next states of
any action. Imports torch (the rest of :mod:`maxent_portfolio.envs` does not).

Prices are exogenous: what the market does after a decision does not depend on the portfolio.
So for a replayed state (a date position ``t`` and the drifted weights ``w_-`` of its
observation) the reward and the next state of *any* action follow from the data, exactly as
the env computes them (:func:`maxent_portfolio.arithmetic.step` with the interval's growth
``G_t``, the cost on the executed trade of
:func:`~maxent_portfolio.arithmetic.partial_rebalance`):

    w = w_- + kappa (a - w_-)         (no trade if its turnover is below the band)
    r(s, a) = phi(log((1 - sum_i c_i |w_i - w_-,i|) (w . G_t)))
    s'(a) = (features of t', w * G_t / (w . G_t))

with ``phi`` the reward (``log``: identity; ``drawdown``: ``g - lambda max(0, -g)``). With it
SAC's critic learns only the continuation value ``C(s, a) = Q(s, a) - r(s, a)`` and the actor
takes the exact reward of its fresh samples, with its exact gradient through the cost term
(model-based value expansion with a perfect one-step model, Feinberg et al. 2018); see
:meth:`maxent_portfolio.agents.sac.SAC.losses`. Rewards with moving moments (``dsr``,
``mean-var``) depend on the episode's past, not on the state, so they have no such model.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from maxent_portfolio.envs.config import EnvConfig
from maxent_portfolio.errors import ConfigError

MODEL_REWARDS = ("log", "drawdown")
"""Rewards that are a function of the state and the action alone."""


class ModelTransition(NamedTuple):
    """A decision's exact outcome at replayed states: its reward and the next state's weights.

    Attributes
    ----------
    rewards : Tensor of shape (B,)
        As :attr:`ModelStep.rewards`, float64.
    valid : Tensor of shape (B,)
        As :attr:`ModelStep.valid`, float64.
    drifted : Tensor of shape (B, M)
        The executed weights drifted over the interval, ``w * G_t / (w . G_t)``, float64: the
        weights the next decision starts from (the env's ``arithmetic.step``).
    """

    rewards: Tensor
    valid: Tensor
    drifted: Tensor


class ModelStep(NamedTuple):
    """What the model says of actions at replayed states.

    Attributes
    ----------
    rewards : Tensor of shape (B,)
        The env's reward of each action (unscaled).
    valid : Tensor of shape (B,)
        1.0 where the data holds the interval decided at the position, else 0.0 (the last
        date of a window: its reward is unknown and counted as 0).
    """

    rewards: Tensor
    valid: Tensor


def uses_model_reward(env: Any) -> bool:
    """True when the (vector) env's reward has a one-step model (:data:`MODEL_REWARDS`)."""
    config = getattr(getattr(env, "env", env), "config", None)
    return isinstance(config, EnvConfig) and config.reward in MODEL_REWARDS


class OneStepModel:
    """The env's dynamics as lookup tables on the training device.

    Parameters
    ----------
    held_growth : ndarray of shape (T - 1, M)
        Row ``t``: each asset's growth over the interval decided at ``t`` (the env's).
    cost_rate : float or ndarray of shape (M - 1,)
    n_assets : int
    config : EnvConfig
        The env's section: its ``reward`` (one of :data:`MODEL_REWARDS`; ``risk_aversion`` is
        the drawdown reward's ``lambda``) and its execution rule.
    following : ndarray of shape (T,), int64, optional
        The next decision position after each position (the env's clock); needed by
        :meth:`next_positions`.
    features : ndarray of shape (T, N, F), optional
        The env's feature tensor; needed by :meth:`observe` (multi-step rollouts).
    device : str or torch.device
    """

    def __init__(self, *, held_growth: np.ndarray, cost_rate: np.ndarray | float, n_assets: int,
                 config: EnvConfig, following: np.ndarray | None = None,
                 features: np.ndarray | None = None,
                 device: str | torch.device = "cpu") -> None:
        if config.reward not in MODEL_REWARDS:
            raise ConfigError(f"the one-step model needs a reward of the state and action alone "
                              f"({' or '.join(MODEL_REWARDS)}), not {config.reward!r}")
        self.device = torch.device(device)
        self.growth = torch.as_tensor(np.asarray(held_growth), dtype=torch.float64,
                                      device=self.device)
        self.cost_rate = torch.as_tensor(np.broadcast_to(np.asarray(cost_rate, dtype=float),
                                                         (n_assets,)).copy(),
                                         dtype=torch.float64, device=self.device)
        self.n_assets = n_assets
        self.config = config
        self.following = None if following is None else torch.as_tensor(
            np.asarray(following, dtype=np.int64), device=self.device)
        self.features = None if features is None else torch.as_tensor(
            np.ascontiguousarray(features).reshape(len(features), -1), dtype=torch.float32,
            device=self.device)

    @classmethod
    def from_env(cls, env: Any, device: str | torch.device = "cpu") -> OneStepModel:
        """The model of a :class:`~maxent_portfolio.envs.PortfolioVectorEnv` (or single env)."""
        single = getattr(env, "env", env)
        return cls(held_growth=single.held_growth, cost_rate=single.market.cost_rate,
                   n_assets=single.n_assets, config=single.config,
                   following=single.clock.following, features=single.market.features,
                   device=device)

    def next_positions(self, positions: Tensor) -> Tensor:
        """The position of the next state after a decision at ``positions`` (B,)."""
        if self.following is None:
            raise ValueError("this model was built without the decision clock")
        return self.following.index_select(0, positions)

    def drifted(self, observations: Tensor) -> Tensor:
        """The drifted weights ``w_-`` an observation ends with, (B, M) float64."""
        return observations[..., -(self.n_assets + 1):].double()

    def transition(self, positions: Tensor, before: Tensor, actions: Tensor
                   ) -> ModelTransition:
        """Rewards and next weights of ``actions`` (B, M) from weights ``before`` (B, M),
        float64 and summing to 1, at positions (B,); differentiable in both."""
        valid = positions < self.growth.shape[0]
        rows = torch.where(valid, positions, torch.zeros_like(positions))
        growth = self.growth.index_select(0, rows)
        traded = self.config.execute(actions.double(), before)
        cost = ((traded - before)[..., :-1].abs() * self.cost_rate).sum(-1)
        held = traded * growth
        value = held.sum(-1)
        g = torch.log1p(-cost) + torch.log(value)
        if self.config.reward == "drawdown":
            g = g - self.config.risk_aversion * torch.clamp(-g, min=0.0)
        mask = valid.to(g.dtype)
        return ModelTransition(g * mask, mask, held / value.unsqueeze(-1))

    def step(self, positions: Tensor, observations: Tensor, actions: Tensor) -> ModelStep:
        """Rewards of ``actions`` (B, M) at states ``(positions (B,), observations (B, obs))``.

        Computed in float64 from the stored float32 observation's weights, so it equals the
        env's reward up to float32 rounding of those weights; differentiable in ``actions``.
        """
        before = self.drifted(observations)
        out = self.transition(positions, before / before.sum(-1, keepdim=True), actions)
        return ModelStep(out.rewards.to(actions.dtype), out.valid.to(actions.dtype))

    def observe(self, positions: Tensor, weights: Tensor) -> Tensor:
        """The env's observation at positions (B,) holding ``weights`` (B, M): the features of
        the date, then the weights, float32 (differentiable in ``weights``)."""
        if self.features is None:
            raise ValueError("this model was built without the features")
        rows = positions.clamp(max=self.features.shape[0] - 1)
        return torch.cat([self.features.index_select(0, rows),
                          weights.clamp(0.0, 1.0).to(torch.float32)], dim=-1)


__all__ = ["MODEL_REWARDS", "ModelStep", "ModelTransition", "OneStepModel"]
