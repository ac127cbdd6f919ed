"""The one training loop of every agent, readable top to bottom as in CleanRL.

:func:`run` is stable-baselines3's ``OffPolicyAlgorithm.learn`` without the class hierarchy. It
owns what every kind of training shares: the resume of a checkpoint and the checkpoints
themselves (periodic, at the end, on SIGINT/SIGTERM through :class:`StopFlag`, on a callback
stop), the bookkeeping of episode returns, the update credit (``utd_ratio`` gradient updates per
collected transition, paid in whole updates), the learning records and the progress bar,
validation and model selection, and the signals. A kind of training (solo, batched seeds, a
menu: :mod:`maxent_portfolio.agents.training`) hands it a :class:`Learner`: how it collects a
step of transitions, samples and learns from a minibatch, states its statistics, and saves and
restores its own state. The seeding (:func:`seed_everything`, :func:`episode_seeds`), the env
glue (dimensions, true next observations at autoreset, the env's ``state_dict``) and the
validation episode (:func:`evaluate`) live here too, so a resumed run is bit-identical to an
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import copy
import os
import random
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from maxent_portfolio.agents.agent import TrainedPolicy
from maxent_portfolio.agents.buffer import ReplayBuffer, ReplayBufferSamples
from maxent_portfolio.agents.checkpoint import (
    capture_rng_state,
    check_resumable,
    config_dict,
    corruption,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from maxent_portfolio.agents.config import SACConfig, resolve_device
from maxent_portfolio.agents.distributions import effective_n
from maxent_portfolio.errors import ConfigError, DataError
from maxent_portfolio.seeding import env_seeds, evaluation_seed

Step = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""What a step of the env returns to the loop: next observations, rewards, terminations and
truncations."""

LastUpdate = tuple[ReplayBufferSamples, Any]
"""The latest minibatch and what the update on it returned (its losses)."""

# --- seeding and configuration ------------------------------------------------------------------

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


def episode_seeds(seed: int, num_envs: int) -> list[int]:
    """The sub-environment seeds of a solo run with ``seed`` (as ``seed_everything`` resets)."""
    return env_seeds(seed, num_envs) if num_envs > 1 else [seed]


def prepared(config: SACConfig) -> SACConfig:
    """``config`` checked, on its resolved device, with torch's thread count applied."""
    config.validate()
    config = config.model_copy(update={"device": resolve_device(config.device)})
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    return config


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


def final_observations(obs: np.ndarray, infos: dict[str, Any]) -> np.ndarray:
    """The true next observations: ``final_obs`` where an episode just ended (SAME_STEP)."""
    mask = infos.get("_final_obs")
    if mask is None or not np.any(mask):
        return obs
    real = np.array(obs, copy=True)
    final = infos["final_obs"]
    for i in np.flatnonzero(mask):
        real[i] = final[i]
    return real


# --- validation, signals, progress --------------------------------------------------------------

def evaluate(algorithm: Any, env: Any, device: str = "cpu", seed: int = 0) -> dict[str, float]:
    """Run the deterministic policy of ``algorithm`` (a SAC) through one episode of a single
    ``PortfolioEnv``.

    The episode starts at the env's first usable date (all cash), so with
    ``episode_length=None`` it covers the whole validation window. Returns the total log growth
    (the sum of rewards) and the mean effective N of the chosen weights.
    """
    market = getattr(env.unwrapped, "market", None)
    options = {"start": market.first} if market is not None else None
    obs, _ = env.reset(seed=evaluation_seed(seed), options=options)
    total, neffs = 0.0, []
    while True:
        w = algorithm.act(torch.as_tensor(obs, dtype=torch.float32, device=device)[None], True)
        neffs.append(float(effective_n(w)[0]))
        obs, reward, terminated, truncated, _ = env.step(w[0].double().cpu().numpy())
        total += float(reward)
        if terminated or truncated:
            break
    return {"eval_log_growth": total, "eval_effective_n": float(np.mean(neffs))}


class StopFlag:
    """Set by SIGINT/SIGTERM while training so the loop can checkpoint and stop cleanly."""

    def __init__(self) -> None:
        self.raised = False
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
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


class ProgressBar:
    """A rich progress bar (or nothing) showing the latest training record."""

    def __init__(self, total: int, completed: int, enabled: bool) -> None:
        self.enabled = enabled
        self.total, self.completed = total, completed

    def __enter__(self) -> ProgressBar:
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

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if not self.enabled:
            return
        if kind is None:
            self._bar.__exit__(None, None, None)
        else:  # erased, with no empty line left: the error that follows is the one line
            self._bar.live.transient = True
            self._bar.live.stop()


# --- what a kind of training supplies ----------------------------------------------------------

@dataclass(frozen=True)
class Checkpointing:
    """A learner's part of a checkpoint, and the layout of the loop's part.

    Attributes
    ----------
    state_dict : callable
        ``state_dict()``: config(s), dims, networks, optimiser, buffer and generator states.
    check : callable
        ``check(state)`` refuses (:class:`ConfigError`) a checkpoint that would not continue
        the same training.
    load_state_dict : callable
        ``load_state_dict(state)`` restores what ``state_dict`` saved.
    batched : bool
        Per-member lists (``last_return``, ``best``, ``histories``) rather than one member's
        entries.
    selects : bool
        Whether the checkpoint keeps the model-selection snapshot (``best``).
    """

    state_dict: Callable[[], dict[str, Any]]
    check: Callable[[dict[str, Any]], None]
    load_state_dict: Callable[[dict[str, Any]], None]
    batched: bool = False
    selects: bool = True


@dataclass(frozen=True)
class Learner:
    """What differs between solo, batched and menu training; the loop does the rest.

    Attributes
    ----------
    members : sequence
        The agents being trained (:class:`~maxent_portfolio.agents.agent.Agent` or
        ``MenuAgent``), ``A`` of them; the loop keeps their ``step``, ``history``,
        ``interrupted`` and ``selected_step``.
    n_envs : int
        Episodes each member steps: a step collects ``A x n_envs`` transitions.
    collect : callable
        ``collect(obs, warm_up) -> (next_obs, rewards, terminations, truncations)``: act on
        the observations (uniformly at random while ``warm_up``), step the env, store the
        transitions in the replay buffer.
    sample : callable
        ``sample() -> minibatch`` of ``batch_size`` transitions (per member).
    update : callable
        ``update(minibatch) -> losses``: one gradient update of every member.
    stats : callable
        ``stats(a, last)``: member ``a``'s ``alpha`` and, once ``last`` (the latest minibatch
        and losses) exists, its policy's ``entropy`` and ``effective_n``.
    networks : callable
        ``networks(a)``: member ``a``'s algorithm holding its current weights (validated,
        snapshot for model selection, and given the selected snapshot at the end).
    checkpoint : Checkpointing
    """

    members: Sequence[TrainedPolicy[Any]]
    n_envs: int
    collect: Callable[[np.ndarray, bool], Step]
    sample: Callable[[], ReplayBufferSamples]
    update: Callable[[ReplayBufferSamples], Any]
    stats: Callable[[int, LastUpdate | None], dict[str, float]]
    networks: Callable[[int], nn.Module]
    checkpoint: Checkpointing


def solo_checkpointing(config: SACConfig, dims: list[int], algorithm: Any,
                       buffer: ReplayBuffer, path: Path | None, data: dict[str, Any] | None,
                       selects: bool = True) -> Checkpointing:
    """The :class:`Checkpointing` of one algorithm with its own optimiser and replay buffer,
    drawing from the global generators (solo and menu training)."""

    def state_dict() -> dict[str, Any]:
        return {"config": config_dict(config), "dims": dims, "model": algorithm.state_dict(),
                "optimizer": algorithm.optimizer.state_dict(), "buffer": buffer.state_dict(),
                "rng": capture_rng_state()}

    def check(state: dict[str, Any]) -> None:
        check_resumable(state, config, path or "", dims, data)

    def load_state_dict(state: dict[str, Any]) -> None:
        algorithm.load_state_dict(state["model"])
        algorithm.optimizer.load_state_dict(state["optimizer"])
        buffer.load_state_dict(state["buffer"])
        restore_rng_state(state["rng"])

    return Checkpointing(state_dict, check, load_state_dict, selects=selects)


def saved_run(path: Path | None, resume: bool) -> dict[str, Any] | None:
    """The checkpoint to resume from: ``path``'s, when resuming and it exists."""
    return load_checkpoint(path) if resume and path is not None and path.exists() else None


# --- the loop -----------------------------------------------------------------------------------

@dataclass
class RunState:
    """What the loop carries from step to step besides the learner: checkpointed with it.

    ``last_return`` (A,) is each member's mean return of its latest finished episodes; ``best``
    each member's best-validation snapshot (``step``, ``growth``, ``model``) or None.
    """

    obs: np.ndarray
    episode_returns: np.ndarray
    last_return: np.ndarray
    best: list[dict[str, Any] | None]
    update_credit: float = 0.0  # gradient updates owed: utd_ratio * n_envs per step, paid whole
    updates: int = 0
    step: int = 0

    def end_episodes(self, rewards: np.ndarray, done: np.ndarray) -> None:
        """Add a step's rewards; a member whose episodes ended records their mean return."""
        self.episode_returns += rewards
        n = len(self.episode_returns) // len(self.last_return)
        for a, rows in enumerate(done.reshape(len(self.last_return), n)):
            if rows.any():
                self.last_return[a] = float(self.episode_returns[a * n:(a + 1) * n][rows].mean())
        self.episode_returns[done] = 0.0

    def state_dict(self, learner: Learner) -> dict[str, Any]:
        """The loop's checkpoint entries, in the learner's layout."""
        single = not learner.checkpoint.batched
        state: dict[str, Any] = {
            "obs": torch.as_tensor(self.obs),
            "episode_returns": torch.as_tensor(self.episode_returns),
            "last_return": (float(self.last_return[0]) if single
                            else torch.as_tensor(self.last_return)),
            "update_credit": self.update_credit, "updates": self.updates}
        if learner.checkpoint.selects:
            state["best"] = self.best[0] if single else self.best
        state["step"] = self.step
        if single:
            state["history"] = learner.members[0].history
        else:
            state["histories"] = [member.history for member in learner.members]
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any], learner: Learner) -> RunState:
        """What :meth:`state_dict` saved; the members take their histories back."""
        single = not learner.checkpoint.batched
        last_return = (np.array([float(state["last_return"])]) if single
                       else state["last_return"].numpy().copy())
        best: list[dict[str, Any] | None] = [None] * len(learner.members)
        if learner.checkpoint.selects:
            best = [state["best"]] if single else list(state["best"])
        histories = [state["history"]] if single else state["histories"]
        for member, history in zip(learner.members, histories, strict=True):
            member.history = list(history)
        return cls(state["obs"].numpy(), state["episode_returns"].numpy().copy(), last_return,
                   best, float(state["update_credit"]), int(state["updates"]),
                   int(state["step"]))


def run(env: Any, config: SACConfig, learner: Learner, obs: np.ndarray, *,
        checkpoint_path: str | os.PathLike[str] | None = None, resume: bool = False,
        saved: dict[str, Any] | None = None, eval_env: Any = None,
        callback: Callable[[int], bool] | None = None, progress: bool = False,
        reraise_signal: bool = False, data: dict[str, Any] | None = None) -> None:
    """Train ``learner``'s members for ``config.total_steps`` vector-env steps from ``obs``.

    Parameters
    ----------
    env : vector env
        Stepped by ``learner.collect``; its ``state_dict`` (if any) is checkpointed.
    config : SACConfig
        The loop's options: ``total_steps``, ``learning_starts`` (cut to ``warm_up_share`` of
        ``total_steps``: :attr:`SACConfig.warm_up`), ``utd_ratio``, ``batch_size`` (through
        ``learner.sample``), ``log_every``, ``eval_every``, ``checkpoint_every`` and
        ``model_selection``.
    learner : Learner
    obs : ndarray
        The env's observations after its seeded reset.
    checkpoint_path : path, optional
        Where checkpoints go (every ``checkpoint_every`` steps, on SIGINT/SIGTERM, on a callback
        stop and at the end).
    resume : bool
        Whether the run was asked to resume (a no-op resume leaves the file as it is).
    saved : dict, optional
        The checkpoint to continue (:func:`saved_run`); the result is bit-identical to an
        uninterrupted run on CPU.
    eval_env : PortfolioEnv, optional
        Validation env: every member is evaluated on it every ``eval_every`` steps and at the
        end; ``model_selection = "best-validation"`` keeps each member's best snapshot.
    callback : callable, optional
        ``callback(step) -> bool`` after every step; True stops like an interrupt.
    progress : bool
        A progress bar with the members' mean statistics.
    reraise_signal : bool
        What SIGINT/SIGTERM do once the checkpoint is saved: False marks the members
        ``interrupted``; True re-delivers the signal to the handler that was installed before
        training (Python's ``KeyboardInterrupt`` for Ctrl-C).
    data : dict, optional
        What the env's data is, stored in the checkpoint.
    """
    members = learner.members
    path = Path(checkpoint_path) if checkpoint_path is not None else None
    nobody: list[dict[str, Any] | None] = [None] * len(members)
    state = RunState(obs, np.zeros(env.num_envs), np.full(len(members), np.nan), nobody)
    if saved is not None:
        learner.checkpoint.check(saved)
        try:
            learner.checkpoint.load_state_dict(saved)
            restore_env_state(env, saved["env"])
            state = RunState.from_state(saved, learner)
        except (KeyError, TypeError, RuntimeError, ValueError, AttributeError) as exc:
            raise DataError(f"corrupt checkpoint {path}: {corruption(exc)}") from None
    for member in members:
        member.step = state.step

    def checkpoint() -> None:
        if path is not None:
            save_checkpoint({**learner.checkpoint.state_dict(), "env": env_state(env),
                             **state.state_dict(learner), "data": data}, path)

    def record(a: int, last: LastUpdate | None, validate: bool) -> dict[str, float]:
        """Member ``a``'s learning record; validated (and its best snapshot kept) if asked."""
        entry = {"step": float(state.step), "transitions": float(state.step * learner.n_envs),
                 "updates": float(state.updates),
                 "episode_return": float(state.last_return[a]), **learner.stats(a, last)}
        if validate:
            algorithm = learner.networks(a)
            entry.update(evaluate(algorithm, eval_env, config.device, members[a].config.seed))
            growth, best = entry["eval_log_growth"], state.best[a]
            if config.model_selection == "best-validation" and (
                    best is None or growth > best["growth"]):
                state.best[a] = {"step": state.step, "growth": growth,
                                 "model": copy.deepcopy(algorithm.state_dict())}
        members[a].history.append(entry)
        return entry

    updates_per_step = config.utd_ratio * learner.n_envs
    first_step = state.step
    last: LastUpdate | None = None
    interrupted = False
    bar = ProgressBar(config.total_steps, state.step, enabled=progress)
    with StopFlag() as stop, deterministic_algorithms(), bar:
        while state.step < config.total_steps:
            next_obs, rewards, terminations, truncations = learner.collect(
                state.obs, state.step < config.warm_up)
            state.end_episodes(rewards, np.logical_or(terminations, truncations))
            state.obs = next_obs

            if state.step >= config.warm_up:
                state.update_credit += updates_per_step
                while state.update_credit >= 1.0:
                    batch = learner.sample()
                    last = batch, learner.update(batch)
                    state.update_credit -= 1.0
                    state.updates += 1
            state.step += 1
            for member in members:
                member.step = state.step

            log = state.step % config.log_every == 0 or state.step == config.total_steps
            validate = (eval_env is not None and config.eval_every > 0
                        and (state.step % config.eval_every == 0
                             or state.step == config.total_steps))
            if log or validate:
                records = [record(a, last, validate) for a in range(len(members))]
                bar.update(state.step, {k: float(np.mean([r.get(k, np.nan) for r in records]))
                                        for k in records[0]})
            if config.checkpoint_every and state.step % config.checkpoint_every == 0:
                checkpoint()
            asked = callback is not None and callback(state.step)
            if asked or stop.raised:
                interrupted = state.step < config.total_steps
                break
        if state.step != first_step or not resume:  # a no-op resume leaves the file as it is
            checkpoint()
    for a, member in enumerate(members):
        algorithm = learner.networks(a)  # the member's networks hold its last weights
        member.interrupted = interrupted
        kept = state.best[a]
        if kept is not None and not interrupted:  # the checkpoint keeps the last state
            algorithm.load_state_dict(kept["model"])
            member.selected_step = int(kept["step"])
    if reraise_signal and stop.signum is not None:
        signal.raise_signal(stop.signum)  # the previous handler is back in place


__all__ = ["Checkpointing", "Learner", "ProgressBar", "RunState", "StopFlag",
           "deterministic_algorithms", "env_dims", "env_seeds", "env_state", "episode_seeds",
           "evaluate", "final_observations", "prepared", "restore_env_state", "run", "saved_run",
           "seed_everything", "solo_checkpointing"]
