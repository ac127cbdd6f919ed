"""Batched seeds: ``A`` SAC agents trained in one process as one batched network.

:func:`train_batched` is :func:`~maxent_portfolio.agents.training.train` for a list of configs
(``A`` seeds, or a grid of temperatures or diversification dials): one vector env steps
``A x num_envs`` episodes, agent ``a`` owning rows ``a * num_envs ... (a + 1) * num_envs - 1``
with the episode seeds its solo run would use; one :class:`~maxent_portfolio.agents.ensemble.
BatchedSAC` update moves every agent. Each agent draws from its own generator, so the agents
are independent and each is deterministic for its seed; checkpoints resume bit-exactly.
"""

from __future__ import annotations

import copy
import os
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from maxent_portfolio.agents.agent import Agent
from maxent_portfolio.agents.buffer import BatchedReplayBuffer
from maxent_portfolio.agents.checkpoint import (
    check_resumable,
    config_dict,
    load_checkpoint,
    save_checkpoint,
)
from maxent_portfolio.agents.config import SACConfig, resolve_device
from maxent_portfolio.agents.ensemble import BatchedSAC, check_batchable
from maxent_portfolio.agents.training import (
    _final_observations,
    _Progress,
    _StopFlag,
    deterministic_algorithms,
    env_dims,
    env_state,
    evaluate,
    restore_env_state,
)
from maxent_portfolio.envs.dynamics import OneStepModel, uses_model_reward
from maxent_portfolio.errors import ConfigError, DataError
from maxent_portfolio.seeding import env_seeds


def episode_seeds(seed: int, num_envs: int) -> list[int]:
    """The sub-environment seeds of a solo run with ``seed`` (as ``seed_everything`` resets)."""
    return env_seeds(seed, num_envs) if num_envs > 1 else [seed]


def _batched_env(env_or_market: Any, num_envs: int, env_options: dict[str, Any] | None) -> Any:
    """The env itself, or a ``PortfolioVectorEnv`` of ``num_envs`` episodes on a market."""
    if hasattr(env_or_market, "num_envs"):
        if env_options:
            raise ConfigError("env_options apply only when train_batched is given a market")
        return env_or_market
    from maxent_portfolio.envs.vector import PortfolioVectorEnv

    return PortfolioVectorEnv(num_envs=num_envs, universe=env_or_market, **(env_options or {}))


def _records(model: BatchedSAC, step: int, transitions: int, updates: int,
             last_return: np.ndarray, observations: torch.Tensor | None
             ) -> list[dict[str, float]]:
    """One training record per agent, with the keys of a solo run's ``Agent.history``.

    Entropy and effective N are :meth:`SAC.policy_stats` of each agent's latest minibatch, as
    :func:`~maxent_portfolio.agents.training.train` records them.
    """
    alpha = model.alpha.tolist()
    records = []
    for a in range(model.n_agents):
        record = {"step": float(step), "transitions": float(transitions),
                  "updates": float(updates), "episode_return": float(last_return[a]),
                  "alpha": float(alpha[a])}
        if observations is not None:
            entropy, neff = model.member(a).policy_stats(observations[a])
            record["entropy"], record["effective_n"] = float(entropy.mean()), float(neff.mean())
        records.append(record)
    return records


def train_batched(env_or_market: Any, configs: Sequence[SACConfig], *,
                  env_options: dict[str, Any] | None = None, progress: bool = True,
                  checkpoint_path: str | os.PathLike[str] | None = None, resume: bool = False,
                  eval_env: Any = None, init_from: Sequence[Agent] | None = None,
                  callback: Callable[[int, list[Agent]], bool] | None = None,
                  reraise_signal: bool = False, data: dict[str, Any] | None = None
                  ) -> list[Agent]:
    """Train one SAC agent per config, all in one batched network.

    Parameters
    ----------
    env_or_market : PortfolioVectorEnv or market
        A vector env of ``A x num_envs`` episodes (agent ``a`` owns the ``a``-th block of
        ``num_envs`` rows; it is reset here with every agent's solo episode seeds), or a market
        (universe name, path, ``MarketData`` or returns frame) to build one from, with
        ``env_options`` (``PortfolioVectorEnv`` keyword arguments).
    configs : sequence of SACConfig
        One per agent (``A = len(configs)``); they may differ only in
        :data:`~maxent_portfolio.agents.ensemble.PER_AGENT` fields (seed, temperature, entropy
        target); anything else is a :class:`ConfigError` naming the fields.
    env_options : dict, optional
    progress : bool
        A progress bar with the agents' mean statistics.
    checkpoint_path : path, optional
        One checkpoint of the whole batch (every ``checkpoint_every`` steps, on SIGINT/SIGTERM,
        on a callback stop and at the end).
    resume : bool
        Continue from ``checkpoint_path`` if it exists; bit-identical to an uninterrupted run on
        CPU.
    eval_env : PortfolioEnv, optional
        Validation env; every agent is evaluated on it every ``eval_every`` steps.
    init_from : sequence of Agent, optional
        Warm starts, one per agent (networks, target critics, temperature).
    callback : callable, optional
        ``callback(step, agents) -> bool`` after every step, with the agents' current weights;
        True stops like an interrupt.
    reraise_signal : bool
        As for :func:`~maxent_portfolio.agents.training.train`.
    data : dict, optional
        What the env's data is, stored in the checkpoint; a resume on other data is refused.

    The levers of a solo run apply to every agent: the exact one-step model
    (``one_step_model``, one model of the shared window for the whole batch), the reference
    policy and ``model_selection="best-validation"`` (each agent keeps the snapshot of its own
    best validation growth).

    Returns
    -------
    list of Agent
        Ordinary agents, one per config, in order (``buffer`` a view of the batched buffer).
    """
    configs = [c.model_copy(update={"device": resolve_device(c.device)}) for c in configs]
    for c in configs:
        c.validate()
    check_batchable(configs)
    config, n_agents = configs[0], len(configs)
    n = config.num_envs
    env = _batched_env(env_or_market, n_agents * n, env_options)
    if env.num_envs != n_agents * n:
        raise ConfigError(f"the env steps {env.num_envs} episodes but {n_agents} agents of "
                          f"num_envs {n} need {n_agents * n}")
    if init_from is not None and len(init_from) != n_agents:
        raise ConfigError(f"init_from has {len(init_from)} agents for {n_agents} configs")
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    n_assets, n_features = env_dims(env)
    device = torch.device(config.device)
    obs_np = env.reset(seed=[s for c in configs for s in episode_seeds(c.seed, n)])[0]
    model = BatchedSAC(n_assets, n_features, configs, device)
    for a, init in enumerate(init_from or []):
        model.load_member(a, init.sac)
    # Rewards with moving moments (dsr, mean-var) have no one-step model: replay alone.
    use_model = config.one_step_model and uses_model_reward(env)
    if use_model:
        model.model = OneStepModel.from_env(env, device)
    buffer = BatchedReplayBuffer(n_agents, config.buffer_size, model.obs_dim, model.k, device,
                                 positions=use_model)
    agents = [Agent(model.members[a], c) for a, c in enumerate(configs)]
    step = 0
    episode_returns = np.zeros(env.num_envs)
    last_return = np.full(n_agents, np.nan)
    update_credit = 0.0
    updates = 0
    # Per agent, the best-validation snapshot: step, growth, networks (model_selection).
    best: list[dict[str, Any] | None] = [None] * n_agents

    path = Path(checkpoint_path) if checkpoint_path is not None else None
    if resume and path is not None and path.exists():
        state = load_checkpoint(path)
        saved = state.get("configs")
        if not isinstance(saved, list) or len(saved) != n_agents:
            raise ConfigError(f"cannot resume from {path}: it is not a batched run of "
                              f"{n_agents} agents")
        for saved_config, c in zip(saved, configs, strict=True):
            check_resumable({"config": saved_config, "data": state.get("data"),
                             "step": state.get("step", 0)}, c, path,
                            data=data)
        try:
            model.load_state_dict(state["model"])
            buffer.load_state_dict(state["buffer"])
            model.streams.states = [[s.clone() for s in agent_rng] for agent_rng in state["rng"]]
            restore_env_state(env, state["env"])
            obs_np = state["obs"].numpy()
            episode_returns = state["episode_returns"].numpy().copy()
            last_return = state["last_return"].numpy().copy()
            update_credit = float(state["update_credit"])
            updates = int(state["updates"])
            best = list(state["best"])
            step = int(state["step"])
            for agent, history in zip(agents, state["histories"], strict=True):
                agent.history = list(history)
        except (KeyError, TypeError, RuntimeError, ValueError, AttributeError) as exc:
            raise DataError(f"corrupt checkpoint {path}: {type(exc).__name__}") from None

    def checkpoint() -> None:
        if path is not None:
            save_checkpoint(batch_state(), path)

    def batch_state() -> dict[str, Any]:
        return {
            "configs": [config_dict(c) for c in configs], "dims": [n_assets, n_features],
            "model": model.state_dict(), "buffer": buffer.state_dict(),
            "rng": list(model.streams.states), "env": env_state(env),
            "obs": torch.as_tensor(obs_np), "episode_returns": torch.as_tensor(episode_returns),
            "last_return": torch.as_tensor(last_return), "update_credit": update_credit,
            "updates": updates, "best": best, "step": step,
            "histories": [agent.history for agent in agents], "data": data}

    def warm_up_actions() -> torch.Tensor:
        uniform = torch.ones(n, model.k, device=device)
        return torch.stack([model.streams.draw(a, torch.distributions.Dirichlet(uniform).sample)
                            for a in range(n_agents)])

    updates_per_step = config.utd_ratio * n
    first_step = step
    last_observations: torch.Tensor | None = None
    interrupted = False
    bar = _Progress(config.total_steps, step, enabled=progress)
    with _StopFlag() as stop, deterministic_algorithms(), bar:
        while step < config.total_steps:
            obs = torch.as_tensor(obs_np, dtype=torch.float32, device=device)
            obs = obs.reshape(n_agents, n, -1)
            actions = warm_up_actions() if step < config.learning_starts else model.act(obs)
            positions = (torch.as_tensor(env.positions).reshape(n_agents, n) if use_model
                         else None)
            next_obs_np, rewards, terminations, truncations, infos = env.step(
                actions.reshape(n_agents * n, -1).double().cpu().numpy())
            real_next = _final_observations(next_obs_np, infos)
            buffer.add(obs, torch.as_tensor(real_next).reshape(n_agents, n, -1), actions,
                       torch.as_tensor(rewards).reshape(n_agents, n),
                       torch.as_tensor(terminations).reshape(n_agents, n), positions)
            episode_returns += rewards
            done = np.logical_or(terminations, truncations)
            for a, rows in enumerate(done.reshape(n_agents, n)):
                if rows.any():
                    last_return[a] = float(episode_returns[a * n:(a + 1) * n][rows].mean())
            episode_returns[done] = 0.0
            obs_np = next_obs_np

            if step >= config.learning_starts:
                update_credit += updates_per_step
                while update_credit >= 1.0:
                    batch = buffer.sample(config.batch_size, model.streams.draw)
                    model.update(batch)
                    last_observations = batch.observations
                    update_credit -= 1.0
                    updates += 1
            step += 1

            log = step % config.log_every == 0 or step == config.total_steps
            validate = (eval_env is not None and config.eval_every > 0
                        and (step % config.eval_every == 0 or step == config.total_steps))
            if log or validate:
                records = _records(model, step, step * n, updates, last_return,
                                   last_observations)
                for a, (agent, record) in enumerate(zip(agents, records, strict=True)):
                    if validate:
                        record.update(evaluate(model.member(a), eval_env, config.device,
                                               configs[a].seed))
                        growth = record["eval_log_growth"]
                        if config.model_selection == "best-validation" and (
                                best[a] is None or growth > best[a]["growth"]):  # type: ignore[index]
                            best[a] = {"step": step, "growth": growth,
                                       "model": copy.deepcopy(model.member(a).state_dict())}
                    agent.history.append(record)
                bar.update(step, {k: float(np.mean([r.get(k, np.nan) for r in records]))
                                  for k in records[0]})
            if config.checkpoint_every and step % config.checkpoint_every == 0:
                checkpoint()
            if callback is not None:  # the agents it sees hold their current weights
                for a, agent in enumerate(agents):
                    model.member(a)
                    agent.step = step
            asked = callback is not None and callback(step, agents)
            if asked or stop.raised:
                interrupted = step < config.total_steps
                break
        if step != first_step or not resume:  # a no-op resume leaves the file as it is
            checkpoint()
    for a, agent in enumerate(agents):
        model.member(a)
        agent.step, agent.interrupted, agent.buffer = step, interrupted, buffer.member(a)
        kept = best[a]
        if kept is not None and not interrupted:  # the checkpoint keeps the last state
            agent.sac.load_state_dict(kept["model"])
            agent.selected_step = int(kept["step"])
    if reraise_signal and stop.signum is not None:
        signal.raise_signal(stop.signum)
    return agents


__all__ = ["episode_seeds", "train_batched"]
