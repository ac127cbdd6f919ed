"""The ``sac`` strategy: a Soft Actor-Critic agent on the simplex, refit per walk-forward fold.

``fit`` trains on the fold's training window only: the first ``1 - validation_fraction`` of it
feeds the batched environment, the last part is the validation slice evaluated during training
(never test data). Both environments decide at the dates of ``env.decision_period``: daily by
default, or ``rebalance``, the schedule the agent is judged on (the run's ``--rebalance``).
``allocate`` rebuilds the environment's observation (its ``env.features`` groups) at the
decision date from the trailing ``lookback`` returns and the drifted weights, and returns the
policy's deterministic action (the Dirichlet mean, or the softmax of the logistic-normal mean),
executed as the env executes actions (the env section's
:meth:`~maxent_portfolio.envs.config.EnvConfig.execute`, under the run's limits in training and
in ``allocate`` alike). Seeds trained together as one batched
network are :mod:`maxent_portfolio.strategies.seed_batch`.

With ``shrinkage evidence`` the strategy holds ``mix * policy + (1 - mix) * 1/N``, the mix set
per fold from the agent's out-of-sample record (:mod:`maxent_portfolio.strategies.shrinkage`):
before fold ``i`` trains, the previous fold's agent is replayed, through the training env's
execution and costs, on the part of the new window it was not trained on, and so is 1/N; the
first fold's record comes from an agent trained on the first half of its window and replayed on
the second. Every return of the record lies before the fold's first decision.

Registered lazily by :mod:`maxent_portfolio.strategies.registry` (importing it imports torch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Self, cast

import numpy as np
import pandas as pd
from pydantic import ValidationError

from maxent_portfolio.agents.agent import Agent
from maxent_portfolio.agents.config import SACConfig, resolve_device
from maxent_portfolio.agents.training import train
from maxent_portfolio.arithmetic import CostModel
from maxent_portfolio.envs.config import EnvConfig
from maxent_portfolio.envs.decisions import DecisionClock, decision_schedule
from maxent_portfolio.errors import ConfigError, DataError
from maxent_portfolio.limits import LimitsConfig
from maxent_portfolio.options import Section, describe_error
from maxent_portfolio.rebalance import CASH, DEFAULT_REBALANCE
from maxent_portfolio.seeding import evidence_seed, fold_seed
from maxent_portfolio.strategies.base import Strategy, StrategyContext
from maxent_portfolio.strategies.seed_batch import FoldSetup, SeedBatch, warm_starts
from maxent_portfolio.strategies.shrinkage import (
    blend_excess_growth,
    evidence_mix,
    lower_bound,
    shrink_toward_equal,
)

LEARNING_COLUMNS = ("fold", "step", "transitions", "updates", "train_return", "val_growth",
                    "val_effective_n", "alpha", "entropy", "effective_n", "selected")
"""Columns of ``learning.csv``: one row per training record of a fold."""


def learning_records(agent: Agent, fold: int, validation_years: float) -> list[dict[str, Any]]:
    """A fold's training records as rows of :data:`LEARNING_COLUMNS`.

    ``train_return`` is the mean total reward of the latest finished training episodes;
    ``val_growth`` the deterministic policy's log growth on the validation slice, annualised
    (divided by the slice's length in years); ``selected`` marks the record whose networks the
    fold kept (the last one, or the best validation with ``model_selection=best-validation``).
    """
    rows: list[dict[str, Any]] = []
    kept = agent.selected_step
    last_eval = max((r["step"] for r in agent.history if "eval_log_growth" in r), default=None)
    for record in agent.history:
        growth = record.get("eval_log_growth", float("nan"))
        chosen = record["step"] == (kept if kept is not None else last_eval)
        rows.append({"fold": fold, "step": int(record["step"]),
                     "transitions": record.get("transitions", float("nan")),
                     "updates": record.get("updates", float("nan")),
                     "train_return": record["episode_return"],
                     "val_growth": growth / validation_years,
                     "val_effective_n": record.get("eval_effective_n", float("nan")),
                     "alpha": record["alpha"], "entropy": record.get("entropy", float("nan")),
                     "effective_n": record.get("effective_n", float("nan")),
                     "selected": bool(chosen and "eval_log_growth" in record)})
    return rows


def window_identity(returns: pd.DataFrame) -> dict[str, Any]:
    """What a checkpoint remembers of its training window: first and last dates, assets and a
    hash of the returns (a resumed or batched fold must bring the same)."""
    from maxent_portfolio.data.market import frame_hash

    return {"first": str(pd.Timestamp(returns.index[0]).date()),
            "last": str(pd.Timestamp(returns.index[-1]).date()),
            "assets": [str(c) for c in returns.columns], "hash": frame_hash(returns)}


class SACStrategy(Strategy):
    """Soft Actor-Critic with a Dirichlet or logistic-normal policy over assets plus cash.

    Options come in sections, as a run's option tree holds them; keyword options override
    single fields, so ``SACStrategy(train_steps=40, lookback=10)`` works from Python.

    Parameters
    ----------
    sac : SACConfig, optional
        The agent (``train_steps``, ``alpha``, ``diversification``, ``policy``, ...).
    env : EnvConfig, optional
        The training env (``lookback``, ``reward``, ``episode_length``, ...).
    costs : CostModel, optional
        The costs the agent trains on: the run's, so it is judged on exactly these.
    limits : LimitsConfig, optional
        The run's limits: the env the agent trains in executes under them, as ``allocate``
        does (:meth:`execution`).
    seed : int
        Seeds the whole training run (fold ``i`` uses ``seeding.fold_seed(seed, i)``).
    periods_per_year : int, optional
        Of the data, for annualised features; inferred from the dates when None.
    rebalance : str, optional
        The run's rebalance schedule: the decision period when ``env.decision_period`` is
        ``rebalance`` (default: the engine's default schedule, monthly).
    **options
        Any single field of the four sections.

    Attributes
    ----------
    decision_period : str
        The schedule the training env decides on.
    learning_ : list of dict
        Every fold's training records (:meth:`learning`): the learning curves.
    entropy_, effective_n_ : list of float
        Policy entropy and effective N ``1 / E[sum w^2]`` of the policy at every decision.
    decision_dates_ : list of pd.Timestamp
    agent_ : Agent or None
        The agent of the latest fold; ``agent_.history`` holds its validation records.
    validation_window_ : tuple of pd.Timestamp or None
        First and last date whose returns the latest fold's validation episode earns.
    checkpoint_dir : Path or None
        When set (by the run's context), fold ``i`` checkpoints to ``checkpoint_dir/fold-i.pt``.
    progress_callback : callable or None
        ``progress_callback(n_transitions, status)`` while training (replaces the progress bar).
    """

    name = "sac"
    description = "Soft Actor-Critic on the simplex (max-entropy RL), refit each fold"
    seeded = True
    learned = True
    checkpointed = True
    batched = True
    shrinks = True
    """Whether ``shrinkage evidence`` applies (a menu agent's choice is not shrunk)."""

    def __init__(self, sac: SACConfig | None = None, env: EnvConfig | None = None,
                 costs: CostModel | None = None, seed: int = 0,
                 periods_per_year: int | None = None, rebalance: str | None = None,
                 limits: LimitsConfig | None = None, **options: Any) -> None:
        sections: dict[str, Section] = {"sac": sac or SACConfig(), "env": env or EnvConfig(),
                                        "costs": costs or CostModel(),
                                        "limits": limits or LimitsConfig()}
        updates: dict[str, dict[str, Any]] = {key: {} for key in sections}
        for key, value in options.items():
            owner = next((k for k, v in sections.items() if key in type(v).model_fields), None)
            if owner is None:
                raise ConfigError(f"unknown option {key!r} for the sac strategy")
            updates[owner][key] = value
        try:
            built = {k: type(v).model_validate({**v.model_dump(), **updates[k]})
                     for k, v in sections.items()}
        except ValidationError as exc:
            raise describe_error(exc) from None
        self.sac = cast(SACConfig, built["sac"])
        self.env = cast(EnvConfig, built["env"])
        self.costs = cast(CostModel, built["costs"])
        self.limits = cast(LimitsConfig, built["limits"])
        follows = self.env.decision_period == "rebalance"
        period = (rebalance or DEFAULT_REBALANCE) if follows else \
            self.env.decision_period
        try:
            decision_schedule(period)
        except ConfigError as exc:
            source = "--rebalance" if follows else "--decision-period"
            raise ConfigError(f"sac decides at {source}: {exc}") from None
        self.decision_period = period
        self.seed = seed
        self.periods_per_year = periods_per_year
        self.checkpoint_dir: Path | None = None
        self.progress_callback: Callable[[int, str], None] | None = None
        self.batch: SeedBatch | None = None
        """The seed group this instance trains in (set by :meth:`join`), or None: alone."""
        self.reset()

    @classmethod
    def context_arguments(cls, context: StrategyContext) -> dict[str, Any]:
        """The constructor's arguments from a run's context: its sections, seed and schedule."""
        config = context.config
        return {"sac": config.sac, "env": config.env, "costs": config.costs,
                "limits": config.limits, "seed": context.seed,
                "periods_per_year": context.periods_per_year,
                "rebalance": config.schedule.rebalance}

    @classmethod
    def from_context(cls, context: StrategyContext) -> Self:
        strategy = cls(**cls.context_arguments(context))
        strategy.checkpoint_dir = context.checkpoint_dir
        if context.progress is not None:
            strategy.progress_callback = context.progress
        return strategy

    @classmethod
    def seed_batch(cls, context: StrategyContext) -> int:
        return context.config.sac.seed_batch

    @classmethod
    def join(cls, members: Sequence[Strategy]) -> None:
        """Train these seeds together, fold by fold, as one batched network (:class:`SeedBatch`)."""
        if len(members) > 1:
            SeedBatch([cast(SACStrategy, m) for m in members])

    @classmethod
    def work(cls, context: StrategyContext, n_folds: int) -> float:
        """Training transitions of a backtest: the progress bar's unit (the evidence agent of
        ``shrinkage evidence`` trains one fold more)."""
        sac = context.config.sac
        return float(sac.train_steps * (n_folds + cls.evidence_agents(sac)))

    @classmethod
    def evidence_agents(cls, sac: SACConfig) -> bool:
        """Whether this strategy shrinks by evidence (and so trains a first evidence agent)."""
        return cls.shrinks and sac.shrinkage == "evidence"

    def __repr__(self) -> str:
        return (f"SACStrategy(seed={self.seed}, "
                + ", ".join(f"{k}={v!r}" for k, v in self.sac.model_dump().items()
                            if k in ("train_steps", "alpha", "diversification", "policy",
                                     "network"))
                + f", lookback={self.env.lookback}, decision_period={self.decision_period!r})")

    def sac_config(self, fold: int = 0, seed: int | None = None) -> SACConfig:
        """The :class:`SACConfig` of fold ``fold``: the section plus the per-fold run fields
        (``seed`` replaces the fold's training seed)."""
        sac = self.sac
        return sac.model_copy(update={"total_steps": sac.fold_steps,
                                      "seed": fold_seed(self.seed, fold) if seed is None else seed,
                                      "device": resolve_device(sac.device)})

    def reset(self) -> None:
        """Before a new backtest: forget the agent, the fold count and the recorded decisions."""
        self.agent_: Agent | None = None
        self._fold = 0
        self.entropy_: list[float] = []
        self.effective_n_: list[float] = []
        self.decision_dates_: list[pd.Timestamp] = []
        self.learning_: list[dict[str, Any]] = []
        self.record_: tuple[list[float], list[float]] = ([], [])
        """``shrinkage evidence``'s record: net returns of the agents and of 1/N per period."""
        self.mixes_: list[float] = []
        """The mix of every fold trained, in order (1 without shrinkage)."""
        self.mix_at_: list[float] = []
        self.evidence_at_: list[tuple[float, float]] = []
        self._evidence = (float("nan"), float("nan"))  # the fold's record: excess, bound a year
        self._record_years = 0.0
        self._trained_until: pd.Timestamp | None = None

    @staticmethod
    def validation_rows(n_returns: int, fraction: float) -> int:
        """Rows of a window of ``n_returns`` held out for validation (none below 2)."""
        n_val = int(n_returns * fraction)
        return n_val if n_val >= 2 else 0

    @classmethod
    def training_returns_needed(cls, context: StrategyContext) -> int:
        """``lookback + 2`` returns left for training once the validation rows are held out."""
        need = context.config.env.lookback + 2
        fraction = context.config.sac.validation_fraction
        n = need
        while n - cls.validation_rows(n, fraction) < need:
            n += 1
        # The evidence agent of the first fold trains on half the window.
        return 2 * n if cls.evidence_agents(context.config.sac) else n

    def _split(self, returns: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """Training part and validation part (with ``lookback`` rows of warm-up history)."""
        n_val = self.validation_rows(len(returns), self.sac.validation_fraction)
        if n_val == 0:
            return returns, None
        cut = len(returns) - n_val
        train_part = returns.iloc[:cut]
        val_part = returns.iloc[max(cut - self.env.lookback, 0):]
        return train_part, val_part

    def fit(self, returns: pd.DataFrame) -> Self:
        """Train a fresh (or warm-started) agent on this training window.

        With ``checkpoint_dir`` set, training checkpoints to ``fold-i.pt`` (resumable); once the
        fold is trained the file is replaced by the model alone (networks and config, no
        replay buffer), which is what a run directory keeps.
        """
        path = None if self.checkpoint_dir is None else \
            Path(self.checkpoint_dir) / f"fold-{self._fold}.pt"
        evidence = self.evidence_agents(self.sac)
        if evidence:  # before training: the previous fold's agent is part of the record
            self.extend_record(returns)
        agent = self.train_window(returns, checkpoint_path=path,
                                  resume=path is not None and path.exists())
        if evidence:
            agent.mix = evidence_mix(np.asarray(self.record_[0]), np.asarray(self.record_[1]),
                                     self.sac.shrinkage_confidence)
            self._evidence = self.record_summary()
        if path is not None:
            agent.save(path)
        self.mixes_.append(agent.mix if evidence else 1.0)
        self._trained_until = pd.Timestamp(returns.index[-1])
        self.learning_ += learning_records(agent, self._fold, self._validation_years)
        self._fold += 1
        return self

    def extend_record(self, returns: pd.DataFrame) -> None:
        """Add to :attr:`record_` the out-of-sample net returns, per decision, of the latest
        agent and of 1/N on the part of the training window ``returns`` it was not trained on.

        The first fold has no earlier agent: one is trained on the first half of ``returns``
        (its own seed, no warm start, not kept) and replayed on the second half.
        """
        if self.agent_ is not None and self._trained_until is not None:
            first = int(returns.index.searchsorted(self._trained_until, side="right"))
            agent = self.agent_
        else:
            first = len(returns) // 2
            agent = self.train_window(returns.iloc[:first], seed=evidence_seed(self.seed))
            self.agent_ = None  # no warm start for the fold's own agent
        window = returns.iloc[max(first - self.env.lookback, 0):]
        if len(window) < self.env.lookback + 2:
            return
        agent_returns = self.replay(window, agent)
        equal_returns = self.replay(window, None)
        self.record_[0].extend(agent_returns.tolist())
        self.record_[1].extend(equal_returns.tolist())
        earned = window.index[min(self.env.lookback, len(window) - 1):]
        self._record_years += (earned[-1] - earned[0]).days / 365.25

    def record_summary(self) -> tuple[float, float]:
        """The record's mean excess log growth of the agent over 1/N, and its lower confidence
        bound (``shrinkage_confidence`` standard errors below), both a year."""
        excess = blend_excess_growth(np.asarray(self.record_[0]), np.asarray(self.record_[1]),
                                     1.0)
        if len(excess) < 2 or self._record_years <= 0:
            return float("nan"), float("nan")
        per_year = len(excess) / self._record_years
        return (float(excess.mean() * per_year),
                lower_bound(excess, self.sac.shrinkage_confidence) * per_year)

    def replay(self, window: pd.DataFrame, agent: Agent | None) -> np.ndarray:
        """Net returns per decision of ``agent``'s deterministic policy (None: 1/N) through the
        training env's execution and costs on ``window``, from 1/N holdings."""
        from maxent_portfolio.data.market import MarketData
        from maxent_portfolio.envs.portfolio import PortfolioEnv

        config = self.window_env(pd.DatetimeIndex(window.index), window.columns)
        env = PortfolioEnv.from_config(
            MarketData.from_returns(window, periods_per_year=self.window_periods(window)),
            config.replace(episode_length=None),
            cost_bps=self.costs.bps([str(c) for c in window.columns]))
        equal = np.append(np.full(env.n_assets, 1.0 / env.n_assets), 0.0)
        obs, _ = env.reset(seed=0, options={"start": env.market.first, "weights": equal})
        returns = []
        while True:
            action = equal if agent is None else agent.act(obs, deterministic=True)
            obs, _, terminated, truncated, info = env.step(action)
            returns.append(info["net_return"])
            if terminated or truncated:
                return np.asarray(returns)

    def train_window(self, returns: pd.DataFrame, *, checkpoint_path: Path | None = None,
                     resume: bool = False, progress: bool = False,
                     seed: int | None = None) -> Agent:
        """Train on ``returns`` (its last ``validation_fraction`` held out for evaluation).

        Parameters
        ----------
        returns : pd.DataFrame of shape (n_observations, n_assets)
        checkpoint_path : Path, optional
            Resumable training checkpoint (written on Ctrl-C/SIGTERM and at the end).
        resume : bool
            Continue from ``checkpoint_path``.
        progress : bool
            Show the trainer's own progress bar (the CLI's ``train`` command).
        seed : int, optional
            Replaces the fold's training seed (the evidence agent's).
        """
        from maxent_portfolio.data.market import MarketData
        from maxent_portfolio.envs.portfolio import PortfolioEnv
        from maxent_portfolio.envs.vector import PortfolioVectorEnv

        config = self.sac_config(self._fold, seed)
        lookback = self.env.lookback
        ppy = self.window_periods(returns)
        train_part, val_part = self._split(returns)
        min_rows = lookback + 2
        if len(train_part) < min_rows:
            raise DataError(f"SAC needs at least {min_rows} training returns, got "
                            f"{len(train_part)}")
        env_config = self.window_env(pd.DatetimeIndex(train_part.index), returns.columns)
        # The env steps on exactly the costs, the frequency and the decision dates the engine
        # judges it on.
        cost_bps = self.costs.bps([str(c) for c in returns.columns])
        # One training env per call: a seed group builds its own, of every member's episodes.
        make_env = partial(PortfolioVectorEnv.from_config,
                           MarketData.from_returns(train_part, periods_per_year=ppy), env_config,
                           cost_bps=cost_bps)
        eval_env = None
        self.validation_window_: tuple[pd.Timestamp, pd.Timestamp] | None = None
        self._validation_years = float("nan")
        if val_part is not None and len(val_part) >= min_rows:
            self.validation_window_ = (val_part.index[lookback], val_part.index[-1])
            self._validation_years = (len(val_part) - lookback) / ppy
            eval_env = PortfolioEnv.from_config(
                MarketData.from_returns(val_part, periods_per_year=ppy),
                env_config.replace(episode_length=None), cost_bps=cost_bps)
            if not config.eval_every:
                config.eval_every = max(config.total_steps // 5, 1)
        identity = window_identity(returns)
        self._assets = identity["assets"]
        if self.batch is not None:
            fold = FoldSetup(self._fold, config, make_env, eval_env, identity, progress,
                             checkpoint_path, resume)
            self.agent_ = self.batch.agent(self, fold)
            return self.agent_
        env = make_env(num_envs=config.num_envs)
        init = self.agent_ if warm_starts(self.agent_, env.n_assets, config) else None
        self.agent_ = train(env, config, progress=progress, checkpoint_path=checkpoint_path,
                            resume=resume, eval_env=eval_env, init_from=init,
                            callback=self.progress_report(config, 1), reraise_signal=True,
                            data=identity)
        return self.agent_

    def window_periods(self, returns: pd.DataFrame) -> int:
        """Periods per year of a training window: the strategy's, else inferred from its dates;
        remembered for ``allocate``'s observations."""
        from maxent_portfolio.data.validate import infer_periods_per_year

        self._periods_per_year = self.periods_per_year or infer_periods_per_year(
            pd.DatetimeIndex(returns.index), "the training window")
        return self._periods_per_year

    def execution(self, assets: Sequence[str] | pd.Index) -> EnvConfig:
        """The env section executing under the run's limits, resolved for ``assets``."""
        return self.env.with_limits(self.limits.resolve([str(a) for a in assets]))

    def window_env(self, dates: pd.DatetimeIndex, assets: Sequence[str] | pd.Index
                   ) -> EnvConfig:
        """The env section of a training window on ``dates`` of ``assets``: decisions at
        :attr:`decision_period`, episodes no longer than the decisions the window holds, trades
        executed under the limits (:meth:`execution`)."""
        steps = int(DecisionClock.build(self.decision_period, dates).steps_from(
            self.env.lookback - 1))
        episode = self.env.episode_length
        return self.execution(assets).replace(
            decision_period=self.decision_period,
            episode_length=steps if episode is None else min(episode, steps))

    def progress_report(self, config: SACConfig, n_agents: int
                        ) -> Callable[[int, Any], bool] | None:
        """A training callback reporting this fold's transitions to ``progress_callback``."""
        if self.progress_callback is None:
            return None
        report, last = self.progress_callback, [0]

        def callback(step: int, agent: Any) -> bool:
            if step % config.log_every == 0 or step == config.total_steps:
                report((step - last[0]) * config.num_envs,
                       f"fold {self._fold + 1} step {step * config.num_envs}"
                       + (f" ({n_agents} seeds batched)" if n_agents > 1 else ""))
                last[0] = step
            return False

        return callback

    def restore(self, returns: pd.DataFrame, fold: int) -> Self:
        """Fold ``fold``'s agent as the run saved it (``checkpoint_dir/fold-<fold>.pt``), set
        up for ``allocate`` on the training window ``returns``; nothing is trained."""
        path = self.saved_model(fold)
        self.window_periods(returns)
        self.agent_ = Agent.load(path, self.sac.device)
        self._assets = [str(c) for c in returns.columns]
        if self.agent_.algorithm.n_assets != len(self._assets):
            raise DataError(f"{path} holds an agent of {self.agent_.algorithm.n_assets} "
                            f"assets, the data has {len(self._assets)}")
        self._fold = fold + 1
        return self

    def saved_model(self, fold: int) -> Path:
        """The file a run keeps of fold ``fold``'s agent; a :class:`DataError` without it."""
        if self.checkpoint_dir is None:
            raise ConfigError(f"{self.name} has no saved model: allocate with it from the run "
                              "directory of a backtest that ran it")
        path = Path(self.checkpoint_dir) / f"fold-{fold}.pt"
        if not path.is_file():
            raise DataError(f"no saved model {path}: the run directory lacks the checkpoints "
                            f"of {self.name}")
        return path

    def observation(self, history: pd.DataFrame, current: pd.Series
                    ) -> tuple[np.ndarray, np.ndarray]:
        """The env's observation at the last date of ``history`` and the drifted weights
        ``current`` as an array over the training window's assets, cash last."""
        from maxent_portfolio.envs.features import latest_observation

        if self.agent_ is None:
            raise ConfigError(f"the {self.name} strategy must be fit before it can allocate")
        weights = current.reindex([*self._assets, CASH], fill_value=0.0).to_numpy(dtype=float)
        obs = latest_observation(history.to_numpy(dtype=float), weights, self.env.lookback,
                                 self._periods_per_year, self.env.features)
        return obs, weights

    def target(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        """The policy's deterministic action at the last date of ``history``, mixed with 1/N
        by the fold's :attr:`Agent.mix <maxent_portfolio.agents.agent.Agent.mix>`."""
        obs, _ = self.observation(history, current)
        assert self.agent_ is not None
        action = shrink_toward_equal(self.agent_.act(obs, deterministic=True), self.agent_.mix)
        entropy, neff = self.agent_.policy_stats(obs)
        self.entropy_.append(float(entropy[0]))
        self.effective_n_.append(float(neff[0]))
        self.mix_at_.append(self.agent_.mix)
        self.evidence_at_.append(self._evidence)
        self.decision_dates_.append(pd.Timestamp(history.index[-1]))
        return pd.Series(action, index=[*self._assets, CASH])

    def execute(self, target: pd.Series, current: pd.Series) -> pd.Series:
        """Executed as the env executes actions in training (:meth:`EnvConfig.execute
        <maxent_portfolio.envs.config.EnvConfig.execute>`: limits, partial rebalancing,
        no-trade band)."""
        columns = [*self._assets, CASH]
        weights = current.reindex(columns, fill_value=0.0).to_numpy(dtype=float)
        aim = target.reindex(columns, fill_value=0.0).to_numpy(dtype=float)
        executed = self.execution(self._assets).execute(aim[None], weights[None])[0]
        return pd.Series(executed, index=columns)

    def execution_terms(self) -> dict[str, float | bool]:
        """The env section's execution rule: ``trade_rate``, ``no_trade_band`` and
        ``invest_from_cash``."""
        env = self.env
        return {"trade_rate": env.trade_rate, "no_trade_band": env.no_trade_band,
                "invest_from_cash": env.invest_from_cash}

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        """Deterministic action at the last date of ``history`` given drifted ``current``,
        executed as in training: :meth:`execute` of :meth:`target`."""
        return self.execute(self.target(history, current), current)

    def allocate_batch(self, history: np.ndarray, current: np.ndarray) -> np.ndarray:
        """The deterministic actions of ``B`` paths in one forward pass of the policy (no
        entropy recorded): :meth:`allocate` on each path."""
        from maxent_portfolio.envs.features import latest_observations

        if self.agent_ is None:
            raise ConfigError("the sac strategy must be fit before it can allocate")
        weights = np.asarray(current, dtype=float)
        obs = latest_observations(history, weights, self.env.lookback, self._periods_per_year,
                                  self.env.features)
        execution = self.execution(self._assets)
        aim = shrink_toward_equal(self.agent_.act(obs, deterministic=True), self.agent_.mix)
        return np.asarray(execution.execute(aim, weights))

    def learning(self) -> pd.DataFrame:
        """The learning curves of every fold (see :func:`learning_records`)."""
        return pd.DataFrame(self.learning_, columns=list(LEARNING_COLUMNS))

    def extras(self) -> dict[str, pd.Series]:
        """Per-decision policy entropy and effective N, for ``BacktestResult.extras``; under
        ``shrinkage evidence`` also the mix with 1/N and the record it came from: its mean
        excess log growth over 1/N a year and that mean's lower confidence bound."""
        index = pd.DatetimeIndex(self.decision_dates_)
        extras = {"policy_entropy": pd.Series(self.entropy_, index=index, name="policy_entropy"),
                  "effective_n": pd.Series(self.effective_n_, index=index, name="effective_n")}
        if self.evidence_agents(self.sac):
            extras["evidence_mix"] = pd.Series(self.mix_at_, index=index, name="evidence_mix")
            excess, bound = zip(*self.evidence_at_, strict=True) if self.evidence_at_ else ((), ())
            extras["evidence_excess"] = pd.Series(excess, index=index, name="evidence_excess",
                                                  dtype=float)
            extras["evidence_bound"] = pd.Series(bound, index=index, name="evidence_bound",
                                                 dtype=float)
        return extras

    def __getstate__(self) -> dict[str, object]:
        return {k: v for k, v in vars(self).items() if k != "progress_callback"}

    def __setstate__(self, state: dict[str, object]) -> None:
        vars(self).update(state)
        self.progress_callback = None


__all__ = ["LEARNING_COLUMNS", "SACStrategy", "learning_records"]
