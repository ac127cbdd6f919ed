"""The SAC training loop on a batched portfolio env, readable top to bottom as in CleanRL.

:func:`train` seeds everything in one place, collects ``num_envs`` transitions per step
(uniform ``Dirichlet(1)`` actions during warm-up), pays the update-to-data ratio in whole
gradient updates of :meth:`SAC.update <maxent_portfolio.agents.sac.SAC.update>`, logs and
evaluates periodically, and checkpoints (periodically, at the end, and on SIGINT/SIGTERM through
:class:`_StopFlag`) so that a resumed run is bit-identical to an uninterrupted one. The env
glue (seeds, true next observations at autoreset, the env's ``state_dict``) and the progress bar
live here too.
"""

from __future__ import annotations

import contextlib
import copy
import os
import random
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from maxent_portfolio.agents.agent import Agent
from maxent_portfolio.agents.buffer import ReplayBuffer
from maxent_portfolio.agents.checkpoint import (
    capture_rng_state,
    check_resumable,
    config_dict,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from maxent_portfolio.agents.config import SACConfig, resolve_device
from maxent_portfolio.agents.distributions import effective_n
from maxent_portfolio.agents.sac import SAC, SACLosses, compile_networks
from maxent_portfolio.envs.dynamics import OneStepModel, uses_model_reward
from maxent_portfolio.errors import ConfigError, DataError
from maxent_portfolio.seeding import env_seeds, evaluation_seed

# --- seeding ------------------------------------------------------------------------------------

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


# --- env glue -----------------------------------------------------------------------------------

def env_dims(env: Any) -> tuple[int, int]:
    """``(n_assets, n_features)`` of a (vector) portfolio env."""
    for obj in (env, getattr(env, "unwrapped", env)):
        if hasattr(obj, "n_assets") and hasattr(obj, "n_features"):
            return int(obj.n_assets), int(obj.n_features)
    raise ConfigError("the environment must expose n_assets and n_features")


def env_state(env: Any) -> dict[str, Any] | None:
    """What a checkpoint keeps of the env: its own ``state_dict()``, or None if it has none.

    For :class:`~maxent_portfolio.envs.PortfolioVectorEnv` that is the episodes in progress
    (positions, holdings, values, reward moments, every sub-environment's generator), all a
    resumed run needs to continue the same episodes.
    """
    getter = getattr(env, "state_dict", None)
    return {"kind": "state_dict", "state": getter()} if callable(getter) else None


def restore_env_state(env: Any, saved: dict[str, Any] | None) -> None:
    """Continue the episodes of :func:`env_state` with the env's ``load_state_dict``."""
    if saved is None:
        return
    if saved.get("kind") != "state_dict":
        raise ValueError(f"unknown env state {saved.get('kind')!r}")
    env.load_state_dict(saved["state"])


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


# --- evaluation, signals, progress --------------------------------------------------------------

def evaluate(agent_sac: SAC, env: Any, device: str = "cpu", seed: int = 0) -> dict[str, float]:
    """Run the deterministic policy through one episode of a single ``PortfolioEnv``.

    The episode starts at the env's first usable date (all cash), so with
    ``episode_length=None`` it covers the whole validation window. Returns the total log growth
    (the sum of rewards) and the mean effective N of the chosen weights.
    """
    market = getattr(env.unwrapped, "market", None)
    options = {"start": market.first} if market is not None else None
    obs, _ = env.reset(seed=evaluation_seed(seed), options=options)
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


# --- the loop -----------------------------------------------------------------------------------

def train(env: Any, config: SACConfig, *, progress: bool = True,
          checkpoint_path: str | os.PathLike[str] | None = None, resume: bool = False,
          eval_env: Any = None, init_from: Agent | None = None,
          callback: Callable[[int, Agent], bool] | None = None,
          reraise_signal: bool = False, data: dict[str, Any] | None = None) -> Agent:
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
    data : dict, optional
        What the env's data is (``first``, ``last``, ``assets``, ``hash``), stored in the
        checkpoint; a resume on other data is refused.

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
    if config.compile:
        compile_networks(sac)
    # Rewards with moving moments (dsr, mean-var) have no one-step model: replay alone.
    use_model = config.one_step_model and uses_model_reward(env)
    if use_model:
        sac.model = OneStepModel.from_env(env, device)
    buffer = ReplayBuffer(config.buffer_size, sac.obs_dim, sac.k, device, positions=use_model)
    agent = Agent(sac, config, buffer=buffer)
    episode_returns = np.zeros(env.num_envs)
    last_return = float("nan")
    update_credit = 0.0  # gradient updates owed: utd_ratio * num_envs per step, paid whole
    updates = 0
    best: dict[str, Any] | None = None  # the best-validation snapshot: step, growth, model

    path = Path(checkpoint_path) if checkpoint_path is not None else None
    if resume and path is not None and path.exists():
        state = load_checkpoint(path)
        check_resumable(state, config, path, [n_assets, n_features], data)
        try:
            sac.load_state_dict(state["model"])
            sac.optimizer.load_state_dict(state["optimizer"])
            buffer.load_state_dict(state["buffer"])
            restore_rng_state(state["rng"])
            restore_env_state(env, state["env"])
            obs_np = state["obs"].numpy()
            episode_returns = state["episode_returns"].numpy().copy()
            last_return = float(state["last_return"])
            update_credit = float(state["update_credit"])
            updates = int(state["updates"])
            best = state["best"]
            agent.step = int(state["step"])
            agent.history = list(state["history"])
        except (KeyError, TypeError, RuntimeError, ValueError, AttributeError) as exc:
            raise DataError(f"corrupt checkpoint {path}: {type(exc).__name__}") from None

    def checkpoint() -> None:
        if path is None:
            return
        save_checkpoint({
            "config": config_dict(config), "dims": [n_assets, n_features],
            "model": sac.state_dict(), "optimizer": sac.optimizer.state_dict(),
            "buffer": buffer.state_dict(), "rng": capture_rng_state(), "env": env_state(env),
            "obs": torch.as_tensor(obs_np),
            "episode_returns": torch.as_tensor(episode_returns),
            "last_return": last_return, "update_credit": update_credit,
            "updates": updates, "best": best, "step": agent.step, "history": agent.history,
            "data": data}, path)

    updates_per_step = config.utd_ratio * env.num_envs
    first_step = agent.step
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
            positions = torch.as_tensor(env.positions) if use_model else None
            next_obs_np, rewards, terminations, truncations, infos = env.step(
                actions.double().cpu().numpy())
            real_next = _final_observations(next_obs_np, infos)
            buffer.add(obs, torch.as_tensor(real_next), actions,
                       torch.as_tensor(rewards), torch.as_tensor(terminations), positions)
            episode_returns += rewards
            done = np.logical_or(terminations, truncations)
            if done.any():
                last_return = float(episode_returns[done].mean())
                episode_returns[done] = 0.0
            obs_np = next_obs_np

            if agent.step >= config.learning_starts:
                update_credit += updates_per_step
                while update_credit >= 1.0:
                    batch = buffer.sample(config.batch_size)
                    last = sac.update(batch)
                    update_credit -= 1.0
                    updates += 1
            agent.step += 1

            log = agent.step % config.log_every == 0 or agent.step == config.total_steps
            validate = (eval_env is not None and config.eval_every > 0
                        and (agent.step % config.eval_every == 0
                             or agent.step == config.total_steps))
            if log or validate:
                record = {"step": float(agent.step),
                          "transitions": float(agent.step * env.num_envs),
                          "updates": float(updates), "episode_return": last_return,
                          "alpha": float(sac.alpha)}
                if last is not None:  # policy_stats' quantities, averaged over the last minibatch
                    entropy, neff = sac.policy_stats(batch.observations)
                    record["entropy"], record["effective_n"] = (float(entropy.mean()),
                                                                float(neff.mean()))
                if validate:
                    record.update(evaluate(sac, eval_env, config.device, config.seed))
                    growth = record["eval_log_growth"]
                    if config.model_selection == "best-validation" and (
                            best is None or growth > best["growth"]):
                        best = {"step": agent.step, "growth": growth,
                                "model": copy.deepcopy(sac.state_dict())}
                agent.history.append(record)
                bar.update(agent.step, record)
            if config.checkpoint_every and agent.step % config.checkpoint_every == 0:
                checkpoint()
            asked = callback is not None and callback(agent.step, agent)
            if asked or stop.raised:
                agent.interrupted = agent.step < config.total_steps
                break
        if agent.step != first_step or not resume:  # a no-op resume leaves the file as it is
            checkpoint()
    if best is not None and not agent.interrupted:
        # The checkpoint keeps the last state (to resume); the agent is the selected snapshot.
        sac.load_state_dict(best["model"])
        agent.selected_step = int(best["step"])
    if reraise_signal and stop.signum is not None:
        signal.raise_signal(stop.signum)  # the previous handler is back in place
    return agent


__all__ = ["deterministic_algorithms", "env_dims", "env_seeds", "env_state", "evaluate",
           "restore_env_state", "seed_everything", "train"]
