"""The three ways to train, each a :class:`~maxent_portfolio.agents.loop.Learner` for the one loop.

* :func:`train` - one SAC agent on a batched portfolio env: ``num_envs`` transitions a step
  (uniform ``Dirichlet(1)`` actions during warm-up), the exact one-step model when the reward
  has one, ``torch.compile`` on request;
* :func:`train_batched` - ``A`` SAC agents (seeds, temperatures, dials) as one
  :class:`~maxent_portfolio.agents.batched_sac.BatchedSAC`: one vector env steps
  ``A x num_envs`` episodes, agent ``a`` owning rows ``a * num_envs ... (a + 1) * num_envs - 1``
  with the episode seeds its solo run would use, every draw from the agent's own generator;
* :func:`train_menu` - discrete SAC (:class:`~maxent_portfolio.agents.discrete_sac.DiscreteSAC`)
  on a menu env, a menu entry per episode (uniform during warm-up), stored one-hot.

Each builds its algorithm, buffer and agents after the seeding, says how it collects, learns
and records, and hands the rest (resume, checkpoints, update credit, records, validation, model
selection, signals) to :func:`~maxent_portfolio.agents.loop.run`; every run resumes
bit-identically on CPU.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from maxent_portfolio.agents.agent import Agent, MenuAgent
from maxent_portfolio.agents.batched_sac import BatchedSAC, check_batchable
from maxent_portfolio.agents.buffer import BatchedReplayBuffer, ReplayBuffer
from maxent_portfolio.agents.checkpoint import check_resumable, config_dict
from maxent_portfolio.agents.config import SACConfig
from maxent_portfolio.agents.discrete_sac import DiscreteSAC
from maxent_portfolio.agents.loop import (
    Checkpointing,
    LastUpdate,
    Learner,
    Step,
    env_dims,
    episode_seeds,
    final_observations,
    prepared,
    run,
    saved_run,
    seed_everything,
    solo_checkpointing,
)
from maxent_portfolio.agents.sac import SAC, compile_networks
from maxent_portfolio.envs.dynamics import OneStepModel, uses_model_reward
from maxent_portfolio.errors import ConfigError

# --- one agent ----------------------------------------------------------------------------------

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
    config = prepared(config)
    if env.num_envs != config.num_envs:
        raise ConfigError(f"the env steps {env.num_envs} episodes but config.num_envs is "
                          f"{config.num_envs}")
    n_assets, n_features = env_dims(env)
    device = torch.device(config.device)
    first = seed_everything(config.seed, env)
    assert first is not None
    sac = SAC(n_assets, n_features, config).to(device)
    if init_from is not None:
        sac.load_state_dict(init_from.algorithm.state_dict())
    if config.compile:
        compile_networks(sac)
    # Rewards with moving moments (dsr, mean-var) have no one-step model: replay alone.
    use_model = config.one_step_model and uses_model_reward(env)
    if use_model:
        sac.model = OneStepModel.from_env(env, device)
    buffer = ReplayBuffer(config.buffer_size, sac.obs_dim, sac.k, device, positions=use_model)
    agent = Agent(sac, config, buffer=buffer)
    path = Path(checkpoint_path) if checkpoint_path is not None else None

    def collect(obs_np: np.ndarray, warm_up: bool) -> Step:
        obs = torch.as_tensor(obs_np, dtype=torch.float32, device=device)
        if warm_up:
            actions = torch.distributions.Dirichlet(
                torch.ones(env.num_envs, sac.k, device=device)).sample()
        else:
            actions = sac.act(obs)
        positions = torch.as_tensor(env.positions) if use_model else None
        next_obs, rewards, terminations, truncations, infos = env.step(
            actions.double().cpu().numpy())
        buffer.add(obs, torch.as_tensor(final_observations(next_obs, infos)), actions,
                   torch.as_tensor(rewards), torch.as_tensor(terminations), positions)
        return next_obs, rewards, terminations, truncations

    def stats(a: int, last: LastUpdate | None) -> dict[str, float]:
        entry = {"alpha": float(sac.alpha)}
        if last is not None:  # policy_stats' quantities, averaged over the last minibatch
            entropy, neff = sac.policy_stats(last[0].observations)
            entry["entropy"], entry["effective_n"] = float(entropy.mean()), float(neff.mean())
        return entry

    learner = Learner(
        members=[agent], n_envs=env.num_envs, collect=collect,
        sample=lambda: buffer.sample(config.batch_size), update=sac.update, stats=stats,
        networks=lambda a: sac,
        checkpoint=solo_checkpointing(config, [n_assets, n_features], sac, buffer, path,
                                      data))
    run(env, config, learner, first[0], checkpoint_path=path, resume=resume,
        saved=saved_run(path, resume), eval_env=eval_env,
        callback=None if callback is None else lambda step: callback(step, agent),
        progress=progress, reraise_signal=reraise_signal, data=data)
    return agent


# --- A agents as one batched network ------------------------------------------------------------

def _batched_env(env_or_market: Any, num_envs: int, env_options: dict[str, Any] | None) -> Any:
    """The env itself, or a ``PortfolioVectorEnv`` of ``num_envs`` episodes on a market."""
    if hasattr(env_or_market, "num_envs"):
        if env_options:
            raise ConfigError("env_options apply only when train_batched is given a market")
        return env_or_market
    from maxent_portfolio.envs.vector import PortfolioVectorEnv

    return PortfolioVectorEnv(num_envs=num_envs, universe=env_or_market, **(env_options or {}))


def train_batched(env_or_market: Any, configs: Sequence[SACConfig], *,
                  env_options: dict[str, Any] | None = None, progress: bool = True,
                  checkpoint_path: str | os.PathLike[str] | None = None, resume: bool = False,
                  eval_env: Any = None, init_from: Sequence[Agent] | None = None,
                  callback: Callable[[int, list[Agent]], bool] | None = None,
                  reraise_signal: bool = False, data: dict[str, Any] | None = None
                  ) -> list[Agent]:
    """Train one SAC agent per config, all in one batched network.

    Each agent draws from its own generator, so the agents are independent and each is
    deterministic for its seed; agent ``a`` follows its solo run to float rounding.

    Parameters
    ----------
    env_or_market : PortfolioVectorEnv or market
        A vector env of ``A x num_envs`` episodes (agent ``a`` owns the ``a``-th block of
        ``num_envs`` rows; it is reset here with every agent's solo episode seeds), or a market
        (universe name, path, ``MarketData`` or returns frame) to build one from, with
        ``env_options`` (``PortfolioVectorEnv`` keyword arguments).
    configs : sequence of SACConfig
        One per agent (``A = len(configs)``); they may differ only in
        :data:`~maxent_portfolio.agents.batched_sac.PER_AGENT` fields (seed, temperature,
        entropy target); anything else is a :class:`ConfigError` naming the fields.
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
        As for :func:`train`.
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
    configs = [prepared(c) for c in configs]
    check_batchable(configs)
    config, n_agents = configs[0], len(configs)
    n = config.num_envs
    env = _batched_env(env_or_market, n_agents * n, env_options)
    if env.num_envs != n_agents * n:
        raise ConfigError(f"the env steps {env.num_envs} episodes but {n_agents} agents of "
                          f"num_envs {n} need {n_agents * n}")
    if init_from is not None and len(init_from) != n_agents:
        raise ConfigError(f"init_from has {len(init_from)} agents for {n_agents} configs")
    n_assets, n_features = env_dims(env)
    device = torch.device(config.device)
    obs = env.reset(seed=[s for c in configs for s in episode_seeds(c.seed, n)])[0]
    model = BatchedSAC(n_assets, n_features, configs, device)
    for a, init in enumerate(init_from or []):
        model.load_member(a, init.algorithm)
    # Rewards with moving moments (dsr, mean-var) have no one-step model: replay alone.
    use_model = config.one_step_model and uses_model_reward(env)
    if use_model:
        model.model = OneStepModel.from_env(env, device)
    buffer = BatchedReplayBuffer(n_agents, config.buffer_size, model.obs_dim, model.k, device,
                                 positions=use_model)
    agents = [Agent(model.members[a], c) for a, c in enumerate(configs)]
    path = Path(checkpoint_path) if checkpoint_path is not None else None

    def warm_up_actions() -> torch.Tensor:
        uniform = torch.ones(n, model.k, device=device)
        return torch.stack([model.streams.draw(a, torch.distributions.Dirichlet(uniform).sample)
                            for a in range(n_agents)])

    def collect(obs_np: np.ndarray, warm_up: bool) -> Step:
        obs = torch.as_tensor(obs_np, dtype=torch.float32, device=device)
        obs = obs.reshape(n_agents, n, -1)
        actions = warm_up_actions() if warm_up else model.act(obs)
        positions = (torch.as_tensor(env.positions).reshape(n_agents, n) if use_model
                     else None)
        next_obs, rewards, terminations, truncations, infos = env.step(
            actions.reshape(n_agents * n, -1).double().cpu().numpy())
        real_next = final_observations(next_obs, infos)
        buffer.add(obs, torch.as_tensor(real_next).reshape(n_agents, n, -1), actions,
                   torch.as_tensor(rewards).reshape(n_agents, n),
                   torch.as_tensor(terminations).reshape(n_agents, n), positions)
        return next_obs, rewards, terminations, truncations

    def stats(a: int, last: LastUpdate | None) -> dict[str, float]:
        """As :func:`train` records them, of agent ``a``'s own minibatch."""
        entry = {"alpha": float(model.alpha[a])}
        if last is not None:
            entropy, neff = model.member(a).policy_stats(last[0].observations[a])
            entry["entropy"], entry["effective_n"] = float(entropy.mean()), float(neff.mean())
        return entry

    def state_dict() -> dict[str, Any]:
        return {"configs": [config_dict(c) for c in configs], "dims": [n_assets, n_features],
                "model": model.state_dict(), "buffer": buffer.state_dict(),
                "rng": list(model.streams.states)}

    def check(state: dict[str, Any]) -> None:
        saved = state.get("configs")
        if not isinstance(saved, list) or len(saved) != n_agents:
            raise ConfigError(f"cannot resume from {path}: it is not a batched run of "
                              f"{n_agents} agents")
        for saved_config, c in zip(saved, configs, strict=True):
            check_resumable({"config": saved_config, "data": state.get("data"),
                             "step": state.get("step", 0)}, c, path or "", data=data)

    def load_state_dict(state: dict[str, Any]) -> None:
        model.load_state_dict(state["model"])
        buffer.load_state_dict(state["buffer"])
        model.streams.states = [[s.clone() for s in agent_rng] for agent_rng in state["rng"]]

    def watch(step: int) -> bool:
        assert callback is not None
        for a in range(n_agents):  # the agents it sees hold their current weights
            model.member(a)
        return callback(step, agents)

    learner = Learner(
        members=agents, n_envs=n, collect=collect,
        sample=lambda: buffer.sample(config.batch_size, model.streams.draw),
        update=model.update, stats=stats, networks=model.member,
        checkpoint=Checkpointing(state_dict, check, load_state_dict, batched=True))
    run(env, config, learner, obs, checkpoint_path=path, resume=resume,
        saved=saved_run(path, resume), eval_env=eval_env,
        callback=None if callback is None else watch, progress=progress,
        reraise_signal=reraise_signal, data=data)
    for a, agent in enumerate(agents):
        agent.buffer = buffer.member(a)
    return agents


# --- discrete SAC over a menu -------------------------------------------------------------------

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
        instead of returning an interrupted agent, as :func:`train`.
    """
    config = prepared(config)
    device = torch.device(config.device)
    first = seed_everything(config.seed, env)
    assert first is not None
    k = int(env.n_menu)
    sac = DiscreteSAC(int(env.obs_dim), k, config).to(device)
    if init_from is not None and (
            init_from.algorithm.obs_dim, init_from.algorithm.k) == (env.obs_dim, k):
        sac.load_state_dict(init_from.algorithm.state_dict())
    buffer = ReplayBuffer(config.buffer_size, sac.obs_dim, k, device)
    agent = MenuAgent(sac, config)
    dims = [int(env.obs_dim), k]
    path = Path(checkpoint_path) if checkpoint_path is not None else None
    saved = saved_run(path, resume)
    if saved is not None and "optimizer" not in saved:  # a finished fold's model (save())
        check_resumable(saved, config, path or "", dims, data)
        if int(saved.get("step", 0)) < config.total_steps:
            raise ConfigError(f"cannot resume from {path}: it holds a finished model of "
                              f"{int(saved.get('step', 0)) * config.num_envs} steps, "
                              "without the replay buffer to train on")
        finished = MenuAgent.load(path or "", config.device)
        finished.config = config
        return finished
    eye = torch.eye(k, device=device)

    def collect(obs_np: np.ndarray, warm_up: bool) -> Step:
        obs = torch.as_tensor(obs_np, dtype=torch.float32, device=device)
        if warm_up:
            actions = torch.randint(k, (env.num_envs,), device=device)
        else:
            with torch.no_grad():
                actions = sac.policy(obs).sample()
        next_obs, rewards, terminations, truncations, infos = env.step(actions.cpu().numpy())
        buffer.add(obs, torch.as_tensor(final_observations(next_obs, infos)), eye[actions],
                   torch.as_tensor(rewards), torch.as_tensor(terminations))
        return next_obs, rewards, terminations, truncations

    def stats(a: int, last: LastUpdate | None) -> dict[str, float]:
        entry = {"alpha": float(sac.alpha)}
        if last is not None:  # the exact entropy of the last minibatch, and its perplexity
            entropy = float(last[1].entropy.mean())
            entry["entropy"], entry["effective_n"] = entropy, math.exp(entropy)
        return entry

    learner = Learner(
        members=[agent], n_envs=env.num_envs, collect=collect,
        sample=lambda: buffer.sample(config.batch_size), update=sac.update, stats=stats,
        networks=lambda a: sac,
        checkpoint=solo_checkpointing(config, dims, sac, buffer, path, data, selects=False))
    run(env, config, learner, first[0], checkpoint_path=path, resume=resume, saved=saved,
        callback=None if callback is None else lambda step: callback(step, agent),
        reraise_signal=reraise_signal, data=data)
    return agent


__all__ = ["train", "train_batched", "train_menu"]
