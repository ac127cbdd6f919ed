"""Discrete Soft Actor-Critic (Christodoulou 2019) over a menu of K strategies.

The action is an index ``k`` into a menu of strategies; the policy is categorical,
``pi(.|s) = softmax(logits(s))``. As in the paper, every expectation over actions is computed
exactly over the menu instead of sampled:

* soft value ``V(s) = sum_k pi(k|s) (min_j Q'_j(s, k) - alpha log pi(k|s))``;
* critic target ``y = r + gamma (1 - done) V(s')`` for the twin critics ``Q_j(s, a)``;
* actor loss ``E_s sum_k pi(k|s) (alpha log pi(k|s) - min_j Q_j(s, k))``;
* temperature loss ``-log alpha (sum_k pi(k|s) log pi(k|s) + H_target)``, whose gradient
  raises ``alpha`` while the entropy is below the target.

The module follows stable-baselines3's split on a small scale: the distribution
(:class:`CategoricalPolicy`), the networks (:func:`menu_networks`), the losses and update
(:class:`DiscreteSAC`), the trained policy (:class:`MenuAgent`) and the loop (:func:`train_menu`).
The buffer, checkpoint format, seeding and RNG capture are the continuous agent's.

The entropy target is :func:`menu_target_entropy`: a fraction of ``log K`` set by the same
``--diversification`` dial as ``sac``, always below ``log K`` so that a finite temperature meets
it (the usual ``0.98 log K`` drives ``alpha`` without bound on a small menu).
"""

from __future__ import annotations

import math
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from maxent_portfolio.agents.buffer import ReplayBuffer, ReplayBufferSamples
from maxent_portfolio.agents.checkpoint import (
    capture_rng_state,
    check_resumable,
    config_dict,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from maxent_portfolio.agents.config import SACConfig, resolve_device
from maxent_portfolio.agents.networks import _mlp
from maxent_portfolio.agents.sac import polyak_update
from maxent_portfolio.errors import ConfigError, DataError

DEFAULT_HIDDEN = (64, 64)
"""Hidden sizes of the menu networks when ``SACConfig.hidden`` is unset (a small input)."""


def menu_target_entropy(k: int, diversification: float) -> float:
    """The entropy target of a menu of ``k`` strategies: ``log(1 + d (k - 1) / 2)`` nats.

    ``exp(H)`` (the perplexity) is the effective number of strategies a categorical policy
    spreads over; the dial asks for ``1 + d (k - 1) / 2`` of them, from one (``d -> 0``) to
    ``(k + 1) / 2`` at ``d = 1``, the discrete analogue of ``sac``'s ``1 + d ((K + 1) / 2 - 1)``
    effective assets. As a fraction of ``log k`` it is ``log(1 + d (k - 1) / 2) / log k``
    (0.70 at ``d = 1``, 0.45 at ``d = 0.5`` for six strategies): always below ``log k``, the
    uniform policy's entropy, so the target is reachable with a finite temperature.

    Raises
    ------
    ConfigError
        If ``k < 2`` or ``diversification`` is outside (0, 1].
    """
    if k < 2:
        raise ConfigError(f"a menu needs at least 2 strategies, got {k}")
    if not 0.0 < diversification <= 1.0 or not math.isfinite(diversification):
        raise ConfigError(f"diversification must be in (0, 1], got {diversification}")
    return math.log(1.0 + diversification * (k - 1) / 2.0)


# --- distribution -------------------------------------------------------------------------------

class CategoricalPolicy(NamedTuple):
    """A batch of categorical distributions over ``K`` menu entries.

    Attributes
    ----------
    probs, log_probs : Tensor of shape (B, K)
    """

    probs: Tensor
    log_probs: Tensor

    @classmethod
    def from_logits(cls, logits: Tensor) -> CategoricalPolicy:
        log_probs = torch.log_softmax(logits, dim=-1)
        return cls(log_probs.exp(), log_probs)

    def entropy(self) -> Tensor:
        """``-sum_k pi_k log pi_k`` (B,), exact."""
        return -(self.probs * self.log_probs).sum(-1)

    def mode(self) -> Tensor:
        """The most probable entry (B,), int64."""
        return self.probs.argmax(-1)

    def sample(self) -> Tensor:
        """One entry per row (B,), int64, drawn from torch's global generator."""
        return torch.multinomial(self.probs, 1).squeeze(-1)


# --- losses -------------------------------------------------------------------------------------

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


# --- networks -----------------------------------------------------------------------------------

def menu_networks(obs_dim: int, k: int, hidden: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    """The actor ``obs -> K logits`` and the twin critics ``obs -> (2, B, K)`` (one ensemble)."""
    return _mlp([obs_dim, *hidden, k]), _TwinCritic(obs_dim, k, hidden)


class _TwinCritic(nn.Module):
    """``Q_1(s, .), Q_2(s, .)`` in one ensemble module: (B, obs_dim) -> (2, B, K)."""

    def __init__(self, obs_dim: int, k: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.net = _mlp([obs_dim, *hidden, k], n_members=2)

    def forward(self, obs: Tensor) -> Tensor:
        return self.net(obs.unsqueeze(0).expand(2, *obs.shape))


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
        hidden = tuple(config.hidden) if config.hidden is not None else DEFAULT_HIDDEN
        self.actor, self.qf = menu_networks(obs_dim, k, hidden)
        _, self.qf_target = menu_networks(obs_dim, k, hidden)
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
        groups: list[dict[str, Any]] = [
            {"params": list(self.actor.parameters()), "lr": config.policy_lr},
            {"params": list(self.qf.parameters()), "lr": config.q_lr}]
        if self.autotune:
            groups.append({"params": [self.log_alpha], "lr": config.alpha_lr})
        self.optimizer = torch.optim.Adam(groups)

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
        self.optimizer.zero_grad(set_to_none=True)
        (out.qf_loss + out.actor_loss + out.alpha_loss).backward()
        self.optimizer.step()
        polyak_update(self.qf.parameters(), self.qf_target.parameters(), self.config.tau)
        return out


# --- the trained policy -------------------------------------------------------------------------

@dataclass
class MenuAgent:
    """A trained discrete SAC policy over a menu, with its training record.

    Attributes
    ----------
    sac : DiscreteSAC
    config : SACConfig
    step : int
        Vector-env steps completed.
    history : list of dict
        Records: ``step``, ``transitions``, ``updates``, ``episode_return``, ``alpha``,
        ``entropy`` (mean exact entropy of the minibatch's policies) and ``effective_n``
        (its perplexity ``exp(entropy)``: effective number of strategies).
    interrupted : bool
    selected_step : None
        Always None: the agent keeps the networks of the end of training (the field lets
        :func:`~maxent_portfolio.strategies.sac.learning_records` read it like an ``Agent``).
    """

    sac: DiscreteSAC
    config: SACConfig
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False
    selected_step: int | None = None

    def probabilities(self, obs: np.ndarray) -> np.ndarray:
        """``pi(.|s)`` (B, K) or (K,) for observations (B, obs_dim) or (obs_dim,), float64."""
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.config.device)
        single = x.ndim == 1
        with torch.no_grad():
            p = self.sac.policy(x.reshape(1, -1) if single else x).probs.double().cpu().numpy()
        p /= p.sum(-1, keepdims=True)
        return p[0] if single else p

    def save(self, path: str | os.PathLike[str]) -> None:
        """Networks and config only (no buffer), atomically."""
        save_checkpoint({"config": config_dict(self.config),
                         "dims": [self.sac.obs_dim, self.sac.k], "model": self.sac.state_dict(),
                         "step": self.step, "history": self.history}, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str = "cpu") -> MenuAgent:
        """Load a file of :meth:`save` or a training checkpoint of :func:`train_menu`."""
        state = load_checkpoint(path)
        try:
            config = SACConfig.from_dict(state["config"])
            obs_dim, k = (int(d) for d in state["dims"])
            sac = DiscreteSAC(obs_dim, k, config)
            sac.load_state_dict(state["model"])
        except (KeyError, TypeError, RuntimeError, ValueError) as exc:
            raise DataError(f"corrupt checkpoint {path}: {type(exc).__name__}") from exc
        config.device = resolve_device(device)
        return cls(sac.to(config.device), config, int(state.get("step", 0)),
                   list(state.get("history", [])))


# --- the loop -----------------------------------------------------------------------------------

def train_menu(env: Any, config: SACConfig, *,
               checkpoint_path: str | os.PathLike[str] | None = None, resume: bool = False,
               init_from: MenuAgent | None = None,
               callback: Callable[[int, MenuAgent], bool] | None = None,
               data: dict[str, Any] | None = None, reraise_signal: bool = False) -> MenuAgent:
    """Train discrete SAC on a batched menu env (a ``MenuVectorEnv``).

    Each step collects ``num_envs`` transitions: a menu entry drawn from ``pi(.|s)`` per episode
    (uniform during the ``learning_starts`` warm-up), executed by the env; the update-to-data
    ratio is paid in whole gradient updates. Seeding, the replay buffer (actions stored one-hot)
    and the checkpoint format are the continuous agent's, so a resumed run is bit-identical to
    an uninterrupted one on CPU.

    Parameters
    ----------
    env : MenuVectorEnv
    config : SACConfig
        ``total_steps`` vector-env steps from seed ``seed``.
    checkpoint_path : path, optional
        Saved at the end, on SIGINT/SIGTERM or a callback stop, and every ``checkpoint_every``
        steps.
    resume : bool
        Continue from ``checkpoint_path`` if it exists.
    init_from : MenuAgent, optional
        Warm start: copy its networks and temperature.
    callback : callable, optional
        ``callback(step, agent) -> bool`` after every step; True stops early (checkpointed).
    data : dict, optional
        What the data is; a resume on other data is refused.
    reraise_signal : bool
        After SIGINT/SIGTERM (checkpoint saved), re-deliver the signal to the previous handler
        instead of returning an interrupted agent, as :func:`~maxent_portfolio.agents.train`.
    """
    from maxent_portfolio.agents.training import (
        _StopFlag,
        deterministic_algorithms,
        env_state,
        restore_env_state,
        seed_everything,
    )

    config.validate()
    config = config.model_copy(update={"device": resolve_device(config.device)})
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    device = torch.device(config.device)
    first = seed_everything(config.seed, env)
    assert first is not None
    obs_np = first[0]
    k = int(env.n_menu)
    sac = DiscreteSAC(int(env.obs_dim), k, config).to(device)
    if init_from is not None and (init_from.sac.obs_dim, init_from.sac.k) == (env.obs_dim, k):
        sac.load_state_dict(init_from.sac.state_dict())
    buffer = ReplayBuffer(config.buffer_size, sac.obs_dim, k, device)
    agent = MenuAgent(sac, config)
    episode_returns = np.zeros(env.num_envs)
    last_return = float("nan")
    update_credit, updates = 0.0, 0
    dims = [int(env.obs_dim), k]

    path = Path(checkpoint_path) if checkpoint_path is not None else None
    if resume and path is not None and path.exists():
        state = load_checkpoint(path)
        check_resumable(state, config, path, dims, data)
        if "optimizer" not in state:  # a finished fold's model (MenuAgent.save)
            if int(state.get("step", 0)) < config.total_steps:
                raise ConfigError(f"cannot resume from {path}: it holds a finished model of "
                                  f"{int(state.get('step', 0)) * config.num_envs} steps, "
                                  "without the replay buffer to train on")
            finished = MenuAgent.load(path, config.device)
            finished.config = config
            return finished
        try:
            sac.load_state_dict(state["model"])
            sac.optimizer.load_state_dict(state["optimizer"])
            buffer.load_state_dict(state["buffer"])
            restore_rng_state(state["rng"])
            restore_env_state(env, state["env"])
            obs_np = state["obs"].numpy()
            episode_returns = state["episode_returns"].numpy().copy()
            last_return = float(state["last_return"])
            update_credit, updates = float(state["update_credit"]), int(state["updates"])
            agent.step, agent.history = int(state["step"]), list(state["history"])
        except (KeyError, TypeError, RuntimeError, ValueError, AttributeError) as exc:
            raise DataError(f"corrupt checkpoint {path}: {type(exc).__name__}") from None

    def checkpoint() -> None:
        if path is None:
            return
        save_checkpoint({
            "config": config_dict(config), "dims": dims, "model": sac.state_dict(),
            "optimizer": sac.optimizer.state_dict(), "buffer": buffer.state_dict(),
            "rng": capture_rng_state(), "env": env_state(env), "obs": torch.as_tensor(obs_np),
            "episode_returns": torch.as_tensor(episode_returns), "last_return": last_return,
            "update_credit": update_credit, "updates": updates, "step": agent.step,
            "history": agent.history, "data": data}, path)

    eye = torch.eye(k, device=device)
    first_step = agent.step
    last: DiscreteLosses | None = None
    with _StopFlag() as stop, deterministic_algorithms():
        while agent.step < config.total_steps:
            obs = torch.as_tensor(obs_np, dtype=torch.float32, device=device)
            if agent.step < config.learning_starts:
                actions = torch.randint(k, (env.num_envs,), device=device)
            else:
                with torch.no_grad():
                    actions = sac.policy(obs).sample()
            next_obs_np, rewards, terminations, truncations, infos = env.step(
                actions.cpu().numpy())
            real_next = infos["final_obs"] if "final_obs" in infos else next_obs_np
            buffer.add(obs, torch.as_tensor(real_next), eye[actions], torch.as_tensor(rewards),
                       torch.as_tensor(terminations))
            episode_returns += rewards
            done = np.logical_or(terminations, truncations)
            if done.any():
                last_return = float(episode_returns[done].mean())
                episode_returns[done] = 0.0
            obs_np = next_obs_np
            if agent.step >= config.learning_starts:
                update_credit += config.utd_ratio * env.num_envs
                while update_credit >= 1.0:
                    last = sac.update(buffer.sample(config.batch_size))
                    update_credit -= 1.0
                    updates += 1
            agent.step += 1
            if agent.step % config.log_every == 0 or agent.step == config.total_steps:
                record = {"step": float(agent.step),
                          "transitions": float(agent.step * env.num_envs),
                          "updates": float(updates), "episode_return": last_return,
                          "alpha": float(sac.alpha)}
                if last is not None:
                    entropy = float(last.entropy.mean())
                    record["entropy"], record["effective_n"] = entropy, math.exp(entropy)
                agent.history.append(record)
            if config.checkpoint_every and agent.step % config.checkpoint_every == 0:
                checkpoint()
            asked = callback is not None and callback(agent.step, agent)
            if asked or stop.raised:
                agent.interrupted = agent.step < config.total_steps
                break
        if agent.step != first_step or not resume:
            checkpoint()
    if reraise_signal and stop.signum is not None:
        signal.raise_signal(stop.signum)  # the previous handler is back in place
    return agent


__all__ = ["CategoricalPolicy", "DiscreteLosses", "DiscreteSAC", "MenuAgent",
           "discrete_actor_loss", "discrete_alpha_loss", "discrete_soft_target",
           "menu_networks", "menu_target_entropy", "soft_state_value", "train_menu"]
