"""Soft Actor-Critic (Haarnoja et al. 2018) on the portfolio simplex: the algorithm.

:class:`SAC` holds the actor, the twin critics and their targets and the temperature; it
computes the losses of a minibatch (:meth:`SAC.losses`) and takes one gradient step
(:meth:`SAC.update`). The rest follows stable-baselines3's split: policy heads
(:mod:`.distributions`), networks (:mod:`.networks`), replay buffer (:mod:`.buffer`), the
trained policy (:mod:`.agent`), checkpoints (:mod:`.checkpoint`) and the loop
(:mod:`.loop`, its entry points in :mod:`.training`). Its siblings share the optimiser
(:func:`sac_optimizer`) and the step (:func:`gradient_step`): :mod:`.batched_sac` (``A`` agents
as one batched network) and :mod:`.discrete_sac` (a categorical policy over a menu). Names
follow CleanRL and the paper: ``qf1``/``qf2`` (one ensemble module ``qf``), ``qf_target``,
``log_alpha``, ``target_entropy``, ``min_qf_next_target``.

The soft Bellman target is ``y = r + gamma (1 - done) (min_j Q'_j(s', a') - alpha log pi(a'|s'))``
with ``a' ~ pi(.|s')``; ``done`` is *termination* only, so truncated episodes bootstrap.

The three losses (twin critics, actor, temperature) are computed from one minibatch and
back-propagated in **one** backward pass into one Adam with three parameter groups; the actor's
Q is evaluated with detached critic parameters, so every loss only moves its own parameters
(the actor therefore uses the critic from before this update's critic step, a common batched
variant of the sequential CleanRL/SB3 update).
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Iterable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.func import functional_call

from maxent_portfolio.agents.buffer import ReplayBufferSamples
from maxent_portfolio.agents.calibration import reference_kl_budget
from maxent_portfolio.agents.config import SACConfig
from maxent_portfolio.agents.distributions import (
    PolicySample,
    make_head,
    reference_concentration,
    reference_kl,
    reference_log_density,
)
from maxent_portfolio.agents.networks import make_networks
from maxent_portfolio.envs.dynamics import OneStepModel


def polyak_update(params: Iterable[Tensor], target_params: Iterable[Tensor], tau: float) -> None:
    """``target <- (1 - tau) target + tau param`` in place, for every pair (no autograd)."""
    with torch.no_grad():
        torch._foreach_lerp_(list(target_params), list(params), tau)


class FallbackNotice(logging.Filter):
    """Replace Dynamo's report of each graph it could not compile by one line, said once.

    Without a C++ compiler every graph fails, and Dynamo logs each failure as a warning with
    its traceback (some 2,000 lines for one run); the run itself is right, only eager.
    """

    def __init__(self) -> None:
        super().__init__()
        self.said = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        if not self.said:
            self.said = True
            error = record.exc_info[1] if record.exc_info else None
            inner = getattr(error, "inner_exception", None)  # the backend's own error
            error = inner if isinstance(inner, BaseException) else error
            reason = (f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
                      if error is not None and str(error).strip() else "see --verbose")
            sys.stderr.write(f"warning: --compile fell back to eager execution: a graph did "
                             f"not compile ({reason})\n")
        return False


_FALLBACK = FallbackNotice()


def compile_networks(sac: SAC) -> None:
    """``torch.compile`` the actor, the critics' forwards and the target critics in place.

    ``nn.Module.compile`` keeps the parameters' names, so checkpoints are unchanged. Dynamo's
    ``suppress_errors`` runs a graph that fails to compile eagerly instead of stopping
    training (the fallback), which :class:`FallbackNotice` reports in one line; the first
    update pays the compilation.
    """
    import torch._dynamo

    torch._dynamo.config.suppress_errors = True
    _FALLBACK.said = False
    dynamo_log = logging.getLogger("torch._dynamo.convert_frame")
    if _FALLBACK not in dynamo_log.filters:
        dynamo_log.addFilter(_FALLBACK)
    sac.actor.compile()
    sac.qf_target.compile()
    sac.qf.compile()
    pair = getattr(sac.qf, "forward_pair", None)
    if pair is not None:  # an instance attribute: the module's state is untouched
        sac.qf.forward_pair = torch.compile(pair)  # type: ignore[assignment]


def sac_optimizer(actor: nn.Module, qf: nn.Module, log_alpha: nn.Parameter, autotune: bool,
                  config: SACConfig, fused: bool | None) -> torch.optim.Adam:
    """One Adam over the actor, the twin critics and (when tuned) ``log alpha``, each group at
    its own learning rate (``policy_lr``, ``q_lr``, ``alpha_lr``)."""
    groups: list[dict[str, Any]] = [
        {"params": list(actor.parameters()), "lr": config.policy_lr},
        {"params": list(qf.parameters()), "lr": config.q_lr},
    ]
    if autotune:
        groups.append({"params": [log_alpha], "lr": config.alpha_lr})
    return torch.optim.Adam(groups, fused=fused)


def gradient_step(optimizer: torch.optim.Optimizer, loss: Tensor, qf_params: Iterable[Tensor],
                  qf_target_params: Iterable[Tensor], tau: float) -> None:
    """One backward pass of the summed losses, one optimiser step, then the Polyak update of
    the target critics (SAC's update, whatever the policy)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    polyak_update(qf_params, qf_target_params, tau)


def soft_target(rewards: Tensor, dones: Tensor, min_qf_next_target: Tensor, next_log_prob: Tensor,
                alpha: Tensor | float, gamma: float) -> Tensor:
    """``r + gamma (1 - done) (min Q'(s', a') - alpha log pi(a'|s'))``, all shapes (B,)."""
    return rewards + gamma * (1.0 - dones) * (min_qf_next_target - alpha * next_log_prob)


class ActorStep(NamedTuple):
    """The actor's action at a state and the log-ratio its soft return is charged, (B, K) and
    (B,): a reparameterised draw and its ``log pi - log rho``, or the mean and the closed-form
    KL (``actor_objective``)."""

    action: Tensor
    log_ratio: Tensor


class SACLosses(NamedTuple):
    """Scalar losses and diagnostics of one update (tensors, not synchronised)."""

    qf_loss: Tensor
    actor_loss: Tensor
    alpha_loss: Tensor
    qf_values: Tensor  # (2, B)
    log_prob: Tensor  # (B,) of the fresh policy sample
    actions: Tensor  # (B, K) fresh policy sample


class SAC(nn.Module):
    """Actor, twin critics, target critics and temperature, with the update step.

    Parameters
    ----------
    n_assets, n_features : int
        Portfolio dimensions from the env; ``K = n_assets + 1`` with cash.
    config : SACConfig
    """

    def __init__(self, n_assets: int, n_features: int, config: SACConfig) -> None:
        super().__init__()
        self.config = config
        self.n_assets, self.n_features = n_assets, n_features
        self.k = n_assets + 1
        self.obs_dim = n_assets * n_features + self.k
        self.head = make_head(config.policy, self.k)
        self.actor, self.qf = make_networks(config.network, n_assets, n_features,
                                            self.head.n_params_per_component, config.hidden)
        _, self.qf_target = make_networks(config.network, n_assets, n_features,
                                          self.head.n_params_per_component, config.hidden)
        self.qf_target.load_state_dict(self.qf.state_dict())
        self.qf_target.requires_grad_(False)
        self.autotune = config.alpha is None
        init = config.initial_alpha if self.autotune else max(float(config.alpha or 0), 1e-30)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(init)), requires_grad=self.autotune)
        if config.target_entropy is not None:
            self.target_entropy = config.target_entropy
        elif config.reference is not None:  # the relative entropy -KL(pi || reference)
            self.target_entropy = -reference_kl_budget(self.k, config.diversification,
                                                       config.reference)
        else:
            self.target_entropy = self.head.target_entropy(config.diversification)
        self.model: OneStepModel | None = None
        """The env's exact one-step model, set by the training loop when
        ``config.one_step_model``; :meth:`losses` then learns the continuation value."""
        # fused: one kernel per step (CPU too)
        self.optimizer = sac_optimizer(self.actor, self.qf, self.log_alpha, self.autotune, config,
                                       fused=True)
        self._qf_params = list(self.qf.parameters())
        self._qf_target_params = list(self.qf_target.parameters())
        self._qf_names = [n for n, _ in self.qf.named_parameters()]

    @property
    def alpha(self) -> Tensor:
        """Current temperature (a detached scalar tensor); exactly ``config.alpha`` if fixed."""
        if not self.autotune:
            return torch.tensor(float(self.config.alpha or 0.0))
        return self.log_alpha.detach().exp()

    def log_ratio(self, pi: PolicySample) -> Tensor:
        """``log pi(a|s)``, less the reference's ``log rho(a)`` with a reference policy: the
        quantity whose expectation the entropy bonus and the temperature act on (B,)."""
        if self.config.reference is None:
            return pi.log_prob
        assert pi.log_weights is not None
        return pi.log_prob - reference_log_density(
            pi.log_weights, self.config.reference, self.config.reference_cash
        ).to(pi.log_prob.dtype)

    def actor_step(self, x: Tensor, pi: PolicySample | None = None) -> ActorStep:
        """The action the actor's objective is taken at, from the actor's output ``x``, and its
        log-ratio: the draw ``pi`` (drawn here if None) and :meth:`log_ratio`, or, with
        ``actor_objective = "mean"``, the Dirichlet mean and ``KL(pi(.|s) || rho)``."""
        cfg = self.config
        if cfg.actor_objective == "mean":
            conc = self.head.concentration(x)  # type: ignore[attr-defined]
            assert cfg.reference is not None
            kl = reference_kl(conc, reference_concentration(self.k, cfg.reference,
                                                            cfg.reference_cash))
            return ActorStep(conc / conc.sum(-1, keepdim=True), kl)
        pi = self.head.sample(x) if pi is None else pi
        return ActorStep(pi.action, self.log_ratio(pi))

    @torch.no_grad()
    def critic_target(self, batch: ReplayBufferSamples) -> Tensor:
        """The soft Bellman target ``y`` of the twin critics (B,), drawing ``a' ~ pi(.|s')``.

        Replay SAC: ``y = r + gamma (1 - done) (min Q'(s', a') - alpha log pi(a'|s'))``. With the
        one-step model the critics hold the continuation value ``C`` and
        ``y = gamma (1 - done) (r(s', a') + min C'(s', a') - alpha log pi(a'|s'))``, ``r`` exact.
        With a reference policy ``log pi`` is ``log pi - log rho``. Rewards are scaled by
        ``reward_scale``.
        """
        alpha, model = self.alpha, self.model
        scale, gamma = self.config.reward_scale, self.config.gamma
        next_pi = self.head.sample(self.actor(batch.next_observations))
        min_qf_next_target = self.qf_target(batch.next_observations, next_pi.action).min(0).values
        next_log_ratio = self.log_ratio(next_pi)
        if model is None:
            return soft_target(batch.rewards * scale, batch.dones, min_qf_next_target,
                               next_log_ratio, alpha, gamma)
        if batch.positions is None:
            raise ValueError("the one-step model needs the states' positions in the batch")
        following = model.next_positions(batch.positions)
        next_reward = model.step(following, batch.next_observations, next_pi.action).rewards
        return gamma * (1.0 - batch.dones) * (scale * next_reward + min_qf_next_target
                                              - alpha * next_log_ratio)

    def losses(self, batch: ReplayBufferSamples) -> SACLosses:
        """Critic, actor and temperature losses of one minibatch (one graph).

        With the one-step model the critic ``C`` learns the continuation value: its target is
        ``gamma (1 - done) (r(s', a') + min C'(s', a') - alpha log pi(a'|s'))`` with the exact
        reward of ``a'`` at ``s'``, and the actor maximises ``r(s, a) + min C(s, a) - alpha
        log pi(a|s)`` with the exact reward of its own sample, so ``Q = r + C`` and the soft
        Bellman backup is the usual one.
        """
        alpha = self.alpha
        model = self.model
        next_q_value = self.critic_target(batch)
        pi = self.head.sample(self.actor(batch.observations))
        pair = getattr(self.qf, "forward_pair", None)
        if pair is not None:  # one pass shares the observation part of both critic inputs
            qf_values, qf_pi = pair(batch.observations, batch.actions, pi.action)
        else:
            qf_values = self.qf(batch.observations, batch.actions)
            frozen = {n: p.detach() for n, p in zip(self._qf_names, self._qf_params,
                                                    strict=True)}
            qf_pi = functional_call(self.qf, frozen, (batch.observations, pi.action))
        qf_loss = (qf_values - next_q_value).pow(2).mean(1).sum()  # qf1_loss + qf2_loss
        min_qf_pi = qf_pi.min(0).values
        if model is not None:  # Q(s, a) = r(s, a) + C(s, a), r exact and differentiable
            assert batch.positions is not None
            reward = model.step(batch.positions, batch.observations, pi.action).rewards
            min_qf_pi = min_qf_pi + self.config.reward_scale * reward
        log_ratio = self.log_ratio(pi)
        if model is not None and (self.config.actor_horizon > 0
                                  or self.config.actor_objective == "mean"):
            assert batch.positions is not None
            first = self.actor_step(self.actor(batch.observations), pi) \
                if self.config.actor_objective == "mean" else ActorStep(pi.action, log_ratio)
            log_ratio = first.log_ratio.to(log_ratio.dtype)
            actor_loss = -self.rollout_value(batch.positions, batch.observations, first).mean()
        else:
            actor_loss = (alpha * log_ratio - min_qf_pi).mean()
        if self.autotune:
            alpha_loss = -(self.log_alpha * (log_ratio.detach() + self.target_entropy)).mean()
        else:
            alpha_loss = torch.zeros(())
        return SACLosses(qf_loss, actor_loss, alpha_loss, qf_values, pi.log_prob, pi.action)

    def rollout_value(self, positions: Tensor, observations: Tensor, first: ActorStep
                      ) -> Tensor:
        """The actor's objective with ``actor_horizon = H``: the exact soft return of an
        H-step rollout of its own reparameterised actions through the data, then the critic.

        From each replayed state ``s_0 = (t_0, w_0)`` with the actor's ``first`` step ``a_0``
        (:meth:`actor_step`; with ``actor_objective = "mean"`` every ``a_k`` is the policy's
        mean and every ``log pi - log rho`` its closed-form KL to the reference)::

            V = sum_{k < H} gamma^k m_k (c r(s_k, a_k) - alpha log pi(a_k|s_k))
                + gamma^H m_H (c r(s_H, a_H) + min C(s_H, a_H) - alpha log pi(a_H|s_H))

        with ``s_{k+1} = (t_{k+1}, drift(execute(a_k, w_k)))`` from the one-step model,
        ``a_{k+1} ~ pi(.|s_{k+1})`` reparameterised, ``c`` the reward scale, ``m_k`` zero once
        the data has run out, and ``C`` the critic's continuation value with its parameters
        frozen. Gradients flow through every action and, by the drifted weights, through the
        states that earlier actions lead to. ``H = 0`` is the one-step actor objective.

        Returns
        -------
        Tensor of shape (B,)
        """
        model, alpha, cfg = self.model, self.alpha, self.config
        assert model is not None
        scale, gamma = cfg.reward_scale, cfg.gamma
        before = model.drifted(observations)
        weights = before / before.sum(-1, keepdim=True)
        value = torch.zeros(len(positions), dtype=torch.float64, device=positions.device)
        alive = torch.ones_like(value)
        discount = 1.0
        step = first
        for k in range(cfg.actor_horizon + 1):
            if k > 0:
                positions = model.next_positions(positions).clamp(max=model.growth.shape[0])
                observations = model.observe(positions, weights)
                step = self.actor_step(self.actor(observations))
            out = model.transition(positions, weights, step.action)
            soft = scale * out.rewards - alpha * step.log_ratio.double()
            if k == cfg.actor_horizon:
                frozen = {n: p.detach() for n, p in zip(self._qf_names, self._qf_params,
                                                        strict=True)}
                continuation = functional_call(self.qf, frozen, (observations, step.action))
                soft = soft + continuation.min(0).values.double()
            value = value + discount * alive * soft
            alive = alive * out.valid
            weights = out.drifted
            discount *= gamma
        return value

    def update(self, batch: ReplayBufferSamples) -> SACLosses:
        """One gradient step on all three losses, then the Polyak update of the targets."""
        out = self.losses(batch)
        gradient_step(self.optimizer, out.qf_loss + out.actor_loss + out.alpha_loss,
                      self._qf_params, self._qf_target_params, self.config.tau)
        return out

    @torch.no_grad()
    def act(self, obs: Tensor, deterministic: bool = False) -> Tensor:
        """Actions (B, K) for observations (B, obs_dim): a sample, or the mean if deterministic."""
        x = self.actor(obs)
        return self.head.mode(x) if deterministic else self.head.sample(x).action

    @torch.no_grad()
    def policy_stats(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """Policy entropy (B,) and effective N ``1 / E[sum w^2]`` (B,), the dial's quantities."""
        x = self.actor(obs)
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices):  # a Monte Carlo entropy must not move training's RNG
            return self.head.entropy(x), self.head.effective_n(x)


__all__ = ["SAC", "SACLosses", "compile_networks", "gradient_step", "polyak_update",
           "sac_optimizer", "soft_target"]
