"""Soft Actor-Critic (Haarnoja et al. 2018) on the portfolio simplex.

Layout follows stable-baselines3's separation: distributions (:mod:`.distributions`), networks
(:mod:`.networks`), replay buffer (:mod:`.buffer`), the losses (:func:`sac_losses`), one
gradient update (:class:`SAC.update`) and the loop (:func:`train`). Names follow CleanRL and the
paper: ``qf1``/``qf2`` (one ensemble module ``qf``), ``qf_target``, ``log_alpha``,
``target_entropy``, ``min_qf_next_target``.

The soft Bellman target is ``y = r + gamma (1 - done) (min_j Q'_j(s', a') - alpha log pi(a'|s'))``
with ``a' ~ pi(.|s')``; ``done`` is *termination* only, so truncated episodes bootstrap.

The three losses (twin critics, actor, temperature) are computed from one minibatch and
back-propagated in **one** backward pass into one Adam with three parameter groups; the actor's
Q is evaluated with detached critic parameters, so every loss only moves its own parameters
(the actor therefore uses the critic from before this update's critic step, a common batched
variant of the sequential CleanRL/SB3 update).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, cast

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

from maxent_portfolio.agents.buffer import ReplayBuffer, ReplayBufferSamples
from maxent_portfolio.agents.config import DEVICES, SACConfig, resolve_device
from maxent_portfolio.agents.distributions import (
    DirichletHead,
    effective_n,
    make_head,
    target_entropy,
)
from maxent_portfolio.agents.networks import make_networks
from maxent_portfolio.errors import ConfigError, DataError
from maxent_portfolio.files import atomic_path

CHECKPOINT_VERSION = 1

_RUN_ONLY = frozenset({"total_steps", "eval_every", "checkpoint_every", "log_every",
                       "num_threads", "device"})
"""Config fields a resumed run may change (how long and how it is watched, not what it learns)."""


# --- pure helpers -------------------------------------------------------------------------------

def polyak_update(params: Iterable[Tensor], target_params: Iterable[Tensor], tau: float) -> None:
    """``target <- (1 - tau) target + tau param`` in place, for every pair (no autograd)."""
    with torch.no_grad():
        torch._foreach_lerp_(list(target_params), list(params), tau)


def env_seeds(seed: int, n: int) -> list[int]:
    """Seeds of ``n`` sub-environments drawn from ``SeedSequence(seed)``.

    A vector env's own default, ``seed + i``, would give agents seeded ``s`` and ``s + 1``
    ``n - 1`` identical episode streams; these share none.
    """
    return [int(x >> 1) for x in np.random.SeedSequence(seed).generate_state(n)]  # 31 bits


def seed_everything(seed: int, env: Any = None) -> tuple[Any, dict[str, Any]] | None:
    """Seed python, numpy, torch and (if given) the env, then reset it.

    A vector env (``num_envs > 1``) is reset with :func:`env_seeds`, one seed per
    sub-environment; a single env with ``seed``. Returns the reset's ``(obs, info)``.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if env is None:
        return None
    n = int(getattr(env, "num_envs", 1))
    return env.reset(seed=env_seeds(seed, n) if n > 1 else seed)


@contextlib.contextmanager
def deterministic_algorithms() -> Iterator[None]:
    """``torch.use_deterministic_algorithms(True)`` for the duration, then restored."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


class SACLosses(NamedTuple):
    """Scalar losses and diagnostics of one update (tensors, not synchronised)."""

    qf_loss: Tensor
    actor_loss: Tensor
    alpha_loss: Tensor
    qf_values: Tensor  # (2, B)
    log_prob: Tensor  # (B,) of the fresh policy sample
    actions: Tensor  # (B, K) fresh policy sample


def soft_target(rewards: Tensor, dones: Tensor, min_qf_next_target: Tensor, next_log_prob: Tensor,
                alpha: Tensor | float, gamma: float) -> Tensor:
    """``r + gamma (1 - done) (min Q'(s', a') - alpha log pi(a'|s'))``, all shapes (B,)."""
    return rewards + gamma * (1.0 - dones) * (min_qf_next_target - alpha * next_log_prob)


# --- the agent ----------------------------------------------------------------------------------

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
        self.target_entropy = (config.target_entropy if config.target_entropy is not None
                               else target_entropy(config.policy, self.k, config.diversification))
        groups: list[dict[str, Any]] = [
            {"params": list(self.actor.parameters()), "lr": config.policy_lr},
            {"params": list(self.qf.parameters()), "lr": config.q_lr},
        ]
        if self.autotune:
            groups.append({"params": [self.log_alpha], "lr": config.alpha_lr})
        self.optimizer = torch.optim.Adam(groups, fused=True)  # one kernel per step (CPU too)
        self._params = [p for group in groups for p in group["params"]]
        self._qf_params = list(self.qf.parameters())
        self._qf_target_params = list(self.qf_target.parameters())
        self._qf_names = [n for n, _ in self.qf.named_parameters()]

    @property
    def alpha(self) -> Tensor:
        """Current temperature (a detached scalar tensor); exactly ``config.alpha`` if fixed."""
        if not self.autotune:
            return torch.tensor(float(self.config.alpha or 0.0))
        return self.log_alpha.detach().exp()

    def losses(self, batch: ReplayBufferSamples) -> SACLosses:
        """Critic, actor and temperature losses of one minibatch (one graph)."""
        alpha = self.alpha
        with torch.no_grad():
            next_pi = self.head.sample(self.actor(batch.next_observations))
            qf_next_target = self.qf_target(batch.next_observations, next_pi.action)
            min_qf_next_target = qf_next_target.min(0).values
            next_q_value = soft_target(batch.rewards * self.config.reward_scale, batch.dones,
                                       min_qf_next_target, next_pi.log_prob, alpha,
                                       self.config.gamma)
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
        actor_loss = (alpha * pi.log_prob - min_qf_pi).mean()
        if self.autotune:
            alpha_loss = -(self.log_alpha * (pi.log_prob.detach() + self.target_entropy)).mean()
        else:
            alpha_loss = torch.zeros(())
        return SACLosses(qf_loss, actor_loss, alpha_loss, qf_values, pi.log_prob, pi.action)

    def update(self, batch: ReplayBufferSamples) -> SACLosses:
        """One gradient step on all three losses, then the Polyak update of the targets."""
        out = self.losses(batch)
        for p in self._params:  # optimizer.zero_grad(set_to_none=True), minus its bookkeeping
            p.grad = None
        (out.qf_loss + out.actor_loss + out.alpha_loss).backward()
        self._adam_step()
        polyak_update(self._qf_params, self._qf_target_params, self.config.tau)
        return out

    @torch.no_grad()
    def _adam_step(self) -> None:
        """``self.optimizer.step()`` without its Python bookkeeping: one fused kernel per group.

        Exactly the arithmetic of ``torch.optim.Adam(fused=True)`` (the same kernel on the same
        state tensors); falls back to ``optimizer.step()`` until every state exists, when a
        gradient is missing, or for any option the fast path does not implement.
        """
        opt = self.optimizer
        calls = []
        for group in opt.param_groups:
            params = group["params"]
            states = [opt.state.get(p) for p in params]
            if (not all(states) or any(p.grad is None for p in params) or group["amsgrad"]
                    or group["maximize"] or group.get("differentiable") or group.get("capturable")
                    or group.get("decoupled_weight_decay") or isinstance(group["lr"], Tensor)
                    or not group.get("fused") or group["weight_decay"] != 0):
                opt.step()
                return
            calls.append((params, [p.grad for p in params],
                          cast(list[dict[str, Any]], states), group))  # all present: checked
        for params, grads, group_states, group in calls:
            steps = [s["step"] for s in group_states]
            torch._foreach_add_(steps, 1)
            beta1, beta2 = group["betas"]
            torch._fused_adam_(params, grads, [s["exp_avg"] for s in group_states],
                               [s["exp_avg_sq"] for s in group_states], [], steps, amsgrad=False,
                               lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=0.0,
                               eps=group["eps"], maximize=False)

    @torch.no_grad()
    def act(self, obs: Tensor, deterministic: bool = False) -> Tensor:
        """Actions (B, K) for observations (B, obs_dim): a sample, or the mean if deterministic."""
        x = self.actor(obs)
        return self.head.mode(x) if deterministic else self.head.sample(x).action

    @torch.no_grad()
    def policy_stats(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """Policy entropy (B,) and effective N of the deterministic action (B,)."""
        x = self.actor(obs)
        if isinstance(self.head, DirichletHead):
            entropy = self.head.entropy(x)
        else:
            state = torch.get_rng_state()  # the MC entropy must not disturb training's RNG
            entropy = self.head.entropy(x)
            torch.set_rng_state(state)
        return entropy, effective_n(self.head.mode(x))


@dataclass
class Agent:
    """A trained SAC policy plus its training record.

    Attributes
    ----------
    sac : SAC
        Networks and optimiser state.
    config : SACConfig
    step : int
        Vector-env steps completed.
    history : list of dict
        Periodic records: ``step``, ``episode_return``, ``alpha``, ``entropy``, ``effective_n``,
        ``eval_log_growth``, ``eval_effective_n`` (when evaluated).
    interrupted : bool
        True when training stopped early (signal or callback) after saving a checkpoint.
    buffer : ReplayBuffer or None
        The replay buffer of the run that produced the agent (None when loaded from a file).
    """

    sac: SAC
    config: SACConfig
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False
    buffer: ReplayBuffer | None = None

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Weights (B, K) or (K,) for observations (B, obs_dim) or (obs_dim,)."""
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.config.device)
        single = x.ndim == 1
        w = self.sac.act(x.reshape(1, -1) if single else x, deterministic).double().cpu()
        weights = (w / w.sum(-1, keepdim=True)).numpy()
        return weights[0] if single else weights

    def policy_stats(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Entropy and effective N of the deterministic action, shapes (B,) each."""
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.config.device)
        entropy, neff = self.sac.policy_stats(x.reshape(-1, x.shape[-1]))
        return entropy.cpu().numpy(), neff.cpu().numpy()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save networks and config only (no buffer) for inference, atomically."""
        _atomic_save({"version": CHECKPOINT_VERSION, "config": _config_dict(self.config),
                      "dims": [self.sac.n_assets, self.sac.n_features],
                      "model": self.sac.state_dict(), "step": self.step}, Path(path))

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str = "cpu") -> Agent:
        """Load a file written by :meth:`save` or by :func:`train`'s checkpointing.

        The agent runs on ``device`` (``cpu``, ``cuda`` or ``auto``) whatever device it was
        trained on, so a GPU-trained agent loads on a CPU-only machine.
        """
        state = load_checkpoint(path)
        try:
            config = SACConfig.from_dict(state["config"])
            n_assets, n_features = (int(d) for d in state["dims"])
            sac = SAC(n_assets, n_features, config)
            sac.load_state_dict(state["model"])
        except (KeyError, TypeError, RuntimeError, ValueError) as exc:
            raise DataError(f"corrupt checkpoint {path}: {type(exc).__name__}") from exc
        device = resolve_device(device)
        config.device = device
        return cls(sac.to(device), config, int(state.get("step", 0)))


# --- checkpointing ------------------------------------------------------------------------------

def _config_dict(config: SACConfig) -> dict[str, Any]:
    return config.to_dict()


def _atomic_save(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path`` then ``os.replace`` (atomic)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``torch.load(weights_only=True)``; any failure is a one-line :class:`DataError`."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"checkpoint not found: {path}") from None
    except Exception as exc:  # truncated zip, wrong format, unpickling refusal, ...
        raise DataError(f"corrupt checkpoint {path}: cannot be read "
                        f"({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise DataError(f"corrupt checkpoint {path}: not a maxent-portfolio SAC checkpoint")
    return state


def _rng_state() -> dict[str, Any]:
    np_state = cast(tuple[Any, ...], np.random.get_state())
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]),
             "numpy": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
             "numpy_pos": int(np_state[2])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    random.setstate((3, tuple(state["python"]), None))
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32),
                         state["numpy_pos"], 0, 0.0))


# --- env glue -----------------------------------------------------------------------------------

def env_dims(env: Any) -> tuple[int, int]:
    """``(n_assets, n_features)`` of a (vector) portfolio env."""
    for obj in (env, getattr(env, "unwrapped", env)):
        if hasattr(obj, "n_assets") and hasattr(obj, "n_features"):
            return int(obj.n_assets), int(obj.n_features)
    raise ConfigError("the environment must expose n_assets and n_features")


_VECTOR_ENV_ARRAYS = ("_t", "_stop", "_weights", "_value")


def _env_state(env: Any) -> dict[str, Any] | None:
    """The env's own ``state_dict()`` if it has one, else a snapshot of a PortfolioVectorEnv.

    The snapshot (episode positions, holdings, values, reward moments and every
    sub-environment's generator state) is all a resumed run needs to continue the same episodes.
    """
    getter = getattr(env, "state_dict", None)
    if callable(getter):
        return {"kind": "state_dict", "state": getter()}
    if all(hasattr(env, a) for a in (*_VECTOR_ENV_ARRAYS, "_rewards", "_rngs")):
        state: dict[str, Any] = {a: torch.from_numpy(np.array(getattr(env, a), copy=True))
                                 for a in _VECTOR_ENV_ARRAYS}
        state["reward_mean"] = torch.from_numpy(env._rewards.mean.copy())
        state["reward_second"] = torch.from_numpy(env._rewards.second.copy())
        state["rngs"] = [rng.bit_generator.state for rng in env._rngs]
        return {"kind": "vector", "state": state}
    return None


def _set_env_state(env: Any, saved: dict[str, Any] | None) -> None:
    if saved is None:
        return
    state = saved["state"]
    if saved["kind"] == "state_dict":
        env.load_state_dict(state)
        return
    for a in _VECTOR_ENV_ARRAYS:
        getattr(env, a)[...] = state[a].numpy()
    env._rewards.mean[...] = state["reward_mean"].numpy()
    env._rewards.second[...] = state["reward_second"].numpy()
    for rng, rng_state in zip(env._rngs, state["rngs"], strict=True):
        rng.bit_generator.state = rng_state


def _final_observations(obs: np.ndarray, infos: dict[str, Any]) -> np.ndarray:
    """The true next observations: ``final_obs`` where an episode just ended (SAME_STEP)."""
    mask = infos.get("_final_obs")
    if mask is None or not np.any(mask):
        return obs
    real = np.array(obs, copy=True)
    final = infos["final_obs"]
    for i in np.flatnonzero(mask):
        real[i] = final[i]
    return real


def evaluate(agent_sac: SAC, env: Any, device: str = "cpu") -> dict[str, float]:
    """Run the deterministic policy through one episode of a single ``PortfolioEnv``.

    The episode starts at the env's first usable date (all cash), so with
    ``episode_length=None`` it covers the whole validation window. Returns the total log growth
    (the sum of rewards) and the mean effective N of the chosen weights.
    """
    market = getattr(env.unwrapped, "market", None)
    options = {"start": market.first} if market is not None else None
    obs, _ = env.reset(seed=0, options=options)
    total, neffs = 0.0, []
    while True:
        w = agent_sac.act(torch.as_tensor(obs, dtype=torch.float32, device=device)[None], True)
        neffs.append(float(effective_n(w)[0]))
        obs, reward, terminated, truncated, _ = env.step(w[0].double().cpu().numpy())
        total += float(reward)
        if terminated or truncated:
            break
    return {"eval_log_growth": total, "eval_effective_n": float(np.mean(neffs))}


class _StopFlag:
    """Set by SIGINT/SIGTERM while training so the loop can checkpoint and stop cleanly."""

    def __init__(self) -> None:
        self.raised = False
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        self.raised = True
        self.signum = signum

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


# --- the loop -----------------------------------------------------------------------------------

def train(env: Any, config: SACConfig, *, progress: bool = True,
          checkpoint_path: str | os.PathLike[str] | None = None, resume: bool = False,
          eval_env: Any = None, init_from: Agent | None = None,
          callback: Callable[[int, Agent], bool] | None = None,
          reraise_signal: bool = False) -> Agent:
    """Train SAC on a batched portfolio env.

    Parameters
    ----------
    env : PortfolioVectorEnv
        ``num_envs`` episodes stepped together (SAME_STEP autoreset); must expose
        ``n_assets`` and ``n_features``. Its own ``state_dict``/``load_state_dict`` (if present)
        are saved in checkpoints so a resumed run continues the same episodes.
    config : SACConfig
    progress : bool
        Show a rich progress bar: steps, last episode return, alpha, entropy, effective N.
    checkpoint_path : path, optional
        Where to save checkpoints (every ``config.checkpoint_every`` steps, on SIGINT/SIGTERM,
        on a callback stop and at the end).
    resume : bool
        Continue from ``checkpoint_path`` if it exists. The result is bit-identical to an
        uninterrupted run on CPU.
    eval_env : PortfolioEnv, optional
        Validation env (the last part of the *training* window) for periodic evaluation.
    init_from : Agent, optional
        Warm start: copy its networks, target critics and temperature (fresh optimiser and
        buffer).
    callback : callable, optional
        ``callback(step, agent) -> bool`` after every step; True stops like an interrupt.
    reraise_signal : bool
        What SIGINT/SIGTERM do once the checkpoint is saved: False returns the agent with
        ``interrupted=True``; True re-delivers the signal to the handler that was installed
        before training (Python's ``KeyboardInterrupt`` for Ctrl-C), so a caller such as a
        backtest stops as it would have without the checkpoint.

    Returns
    -------
    Agent
    """
    config.validate()
    config = config.model_copy(update={"device": resolve_device(config.device)})
    if env.num_envs != config.num_envs:
        raise ConfigError(f"the env steps {env.num_envs} episodes but config.num_envs is "
                          f"{config.num_envs}")
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    n_assets, n_features = env_dims(env)
    device = torch.device(config.device)
    first = seed_everything(config.seed, env)
    assert first is not None
    obs_np = first[0]
    sac = SAC(n_assets, n_features, config).to(device)
    if init_from is not None:
        sac.load_state_dict(init_from.sac.state_dict())
    buffer = ReplayBuffer(config.buffer_size, sac.obs_dim, sac.k, device)
    agent = Agent(sac, config, buffer=buffer)
    episode_returns = np.zeros(env.num_envs)
    last_return = float("nan")
    update_credit = 0.0

    path = Path(checkpoint_path) if checkpoint_path is not None else None
    if resume and path is not None and path.exists():
        state = load_checkpoint(path)
        saved = {k: v for k, v in dict(state.get("config", {})).items() if k not in _RUN_ONLY}
        wanted = {k: v for k, v in _config_dict(config).items() if k not in _RUN_ONLY}
        if saved != wanted:
            changed = sorted(k for k in wanted if saved.get(k) != wanted[k])
            raise ConfigError(f"cannot resume from {path}: it was trained with different "
                              f"settings ({', '.join(changed) or 'dimensions'})")
        try:
            sac.load_state_dict(state["model"])
            sac.optimizer.load_state_dict(state["optimizer"])
            buffer.load_state_dict(state["buffer"])
            _set_rng_state(state["rng"])
            _set_env_state(env, state["env"])
            obs_np = state["obs"].numpy()
            episode_returns = state["episode_returns"].numpy().copy()
            last_return = float(state["last_return"])
            update_credit = float(state["update_credit"])
            agent.step = int(state["step"])
            agent.history = list(state["history"])
        except (KeyError, TypeError, RuntimeError, ValueError, AttributeError) as exc:
            raise DataError(f"corrupt checkpoint {path}: {type(exc).__name__}") from None

    def checkpoint() -> None:
        if path is None:
            return
        _atomic_save({
            "version": CHECKPOINT_VERSION, "config": _config_dict(config),
            "dims": [n_assets, n_features], "model": sac.state_dict(),
            "optimizer": sac.optimizer.state_dict(), "buffer": buffer.state_dict(),
            "rng": _rng_state(), "env": _env_state(env), "obs": torch.as_tensor(obs_np),
            "episode_returns": torch.as_tensor(episode_returns),
            "last_return": last_return, "update_credit": update_credit,
            "step": agent.step, "history": agent.history}, path)

    updates_per_step = config.utd_ratio * env.num_envs
    last: SACLosses | None = None
    bar = _Progress(config.total_steps, agent.step, enabled=progress)
    with _StopFlag() as stop, deterministic_algorithms(), bar:
        while agent.step < config.total_steps:
            obs = torch.as_tensor(obs_np, dtype=torch.float32, device=device)
            if agent.step < config.learning_starts:
                actions = torch.distributions.Dirichlet(
                    torch.ones(env.num_envs, sac.k, device=device)).sample()
            else:
                actions = sac.act(obs)
            next_obs_np, rewards, terminations, truncations, infos = env.step(
                actions.double().cpu().numpy())
            real_next = _final_observations(next_obs_np, infos)
            buffer.add(obs, torch.as_tensor(real_next), actions,
                       torch.as_tensor(rewards), torch.as_tensor(terminations))
            episode_returns += rewards
            done = np.logical_or(terminations, truncations)
            if done.any():
                last_return = float(episode_returns[done].mean())
                episode_returns[done] = 0.0
            obs_np = next_obs_np

            if agent.step >= config.learning_starts:
                update_credit += updates_per_step
                while update_credit >= 1.0:
                    last = sac.update(buffer.sample(config.batch_size))
                    update_credit -= 1.0
            agent.step += 1

            log = agent.step % config.log_every == 0 or agent.step == config.total_steps
            validate = (eval_env is not None and config.eval_every > 0
                        and (agent.step % config.eval_every == 0
                             or agent.step == config.total_steps))
            if log or validate:
                record = {"step": float(agent.step), "episode_return": last_return,
                          "alpha": float(sac.alpha)}
                if last is not None:
                    record["entropy"] = float(-last.log_prob.detach().mean())
                    record["effective_n"] = float(effective_n(last.actions.detach()).mean())
                if validate:
                    record.update(evaluate(sac, eval_env, config.device))
                agent.history.append(record)
                bar.update(agent.step, record)
            if config.checkpoint_every and agent.step % config.checkpoint_every == 0:
                checkpoint()
            asked = callback is not None and callback(agent.step, agent)
            if asked or stop.raised:
                agent.interrupted = agent.step < config.total_steps
                break
        checkpoint()
    if reraise_signal and stop.signum is not None:
        signal.raise_signal(stop.signum)  # the previous handler is back in place
    return agent


class _Progress:
    """A rich progress bar (or nothing) showing the latest training record."""

    def __init__(self, total: int, completed: int, enabled: bool) -> None:
        self.enabled = enabled
        self.total, self.completed = total, completed

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )
            self._bar = Progress(TextColumn("SAC"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), TextColumn("{task.fields[stats]}"),
                                 transient=False)
            self._bar.__enter__()
            self._task = self._bar.add_task("train", total=self.total, completed=self.completed,
                                            stats="")
        return self

    def update(self, step: int, record: dict[str, float]) -> None:
        if not self.enabled:
            return
        stats = (f"ret {record['episode_return']:+.3f}  alpha {record['alpha']:.3g}  "
                 f"H {record.get('entropy', float('nan')):.2f}  "
                 f"N_eff {record.get('effective_n', float('nan')):.2f}")
        self._bar.update(self._task, completed=step, stats=stats)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.__exit__(None, None, None)


__all__ = ["DEVICES", "SAC", "Agent", "SACConfig", "env_seeds", "load_checkpoint",
           "polyak_update", "resolve_device", "seed_everything", "soft_target", "train"]
