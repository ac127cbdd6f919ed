"""Seeds of one ``sac`` run trained together, fold by fold, as one batched network.

:meth:`SACStrategy.join <maxent_portfolio.strategies.sac.SACStrategy.join>` puts the members of
a seed group in one :class:`SeedBatch`; each member's ``train_window`` then hands the group its
fold (:class:`FoldSetup`) instead of training alone. :func:`warm_starts` is the one warm-start
rule of solo and batched folds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maxent_portfolio.agents.agent import Agent
from maxent_portfolio.agents.config import SACConfig
from maxent_portfolio.errors import ConfigError

if TYPE_CHECKING:
    from maxent_portfolio.strategies.sac import SACStrategy


def warm_starts(previous: Agent | None, n_assets: int, config: SACConfig) -> bool:
    """Whether a fold starts from ``previous``, the last fold's agent: warm starts on, and the
    same assets, policy head and networks."""
    return config.warm_start and previous is not None and (
        previous.algorithm.n_assets, previous.config.policy, previous.config.network) == (
        n_assets, config.policy, config.network)


@dataclass
class FoldSetup:
    """What one member of a seed group hands :class:`SeedBatch` for a fold."""

    fold: int
    config: SACConfig
    make_env: Callable[..., Any]  # make_env(num_envs=n): the fold's training env
    eval_env: Any
    identity: dict[str, Any]
    progress: bool
    checkpoint_path: Path | None = None
    resume: bool = False


class SeedBatch:
    """The seeds of one ``sac`` run trained together, fold by fold, as one batched network.

    The first member to train fold ``i`` passes the group's checkpoint path (one file for
    the batch, resumable); the engine backtests the members one after the other: the first to
    reach fold ``i``
    trains every member's agent for it in one :func:`~maxent_portfolio.agents.training.
    train_batched` call (each warm-started from its own previous agent), the others take
    theirs. Every member must bring the same training window; a fold's agents are dropped once
    every member has taken its own.

    Parameters
    ----------
    members : list of SACStrategy
        In seed order; each gets ``batch`` set to this group.
    """

    def __init__(self, members: list[SACStrategy]) -> None:
        self.members = members
        self._agents: dict[int, list[Agent]] = {}
        self._identity: dict[int, dict[str, Any]] = {}
        self._waiting: dict[int, set[int]] = {}
        self._last: list[Agent] | None = None  # the latest fold's agents: warm starts
        for member in members:
            member.batch = self

    def agent(self, member: SACStrategy, setup: FoldSetup) -> Agent:
        """``member``'s trained agent of fold ``setup.fold`` (training the group if first)."""
        index = self.members.index(member)
        fold = setup.fold
        if fold not in self._agents:
            self._agents[fold] = self._train(setup)
            self._identity[fold] = setup.identity
            self._waiting[fold] = set(range(len(self.members)))
        elif self._identity[fold] != setup.identity:
            raise ConfigError(f"seed {member.seed} of a seed batch brought another training "
                              f"window for fold {fold + 1} than its group")
        agent = self._agents[fold][index]
        self._waiting[fold].discard(index)
        if not self._waiting[fold]:
            del self._agents[fold], self._identity[fold], self._waiting[fold]
        return agent

    def _train(self, setup: FoldSetup) -> list[Agent]:
        from maxent_portfolio.agents.training import train_batched

        configs = [m.sac_config(setup.fold) for m in self.members]
        config = setup.config
        env = setup.make_env(num_envs=config.num_envs * len(configs))
        if setup.eval_env is not None:
            for c in configs:
                c.eval_every = config.eval_every
        last = self._last
        init = last if last is not None and all(
            warm_starts(a, env.n_assets, config) for a in last) else None
        reports = [m.progress_report(config, len(configs)) for m in self.members]

        def callback(step: int, agents: list[Agent]) -> bool:
            for report in reports:
                if report is not None:
                    report(step, agents)
            return False

        agents = train_batched(env, configs, progress=setup.progress, eval_env=setup.eval_env,
                               init_from=init, callback=callback, reraise_signal=True,
                               data=setup.identity, checkpoint_path=setup.checkpoint_path,
                               resume=setup.resume)
        for agent in agents:
            agent.buffer = None  # the group keeps agents until every member took its own
        self._last = agents
        return agents


__all__ = ["FoldSetup", "SeedBatch", "warm_starts"]
