"""Orchestrate a backtest run: data, strategies, walk-forward, metrics.

:func:`prepare` does everything that can fail fast on bad input and returns a :class:`Plan`;
:func:`run` executes it; :func:`backtest_to_directory` runs and writes the run directory
(:mod:`maxent_portfolio.rundir`) atomically. All usable from Python too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import pandas as pd

from maxent_portfolio.backtest.engine import BacktestResult, run_backtest
from maxent_portfolio.backtest.store import safe_name
from maxent_portfolio.backtest.walkforward import Fold, WalkForward
from maxent_portfolio.config import RunConfig
from maxent_portfolio.data.market import MarketData
from maxent_portfolio.errors import DataError
from maxent_portfolio.files import atomic_directory
from maxent_portfolio.seeding import strategy_seeds
from maxent_portfolio.strategies.base import Strategy, StrategyContext


class Progress(Protocol):
    """What the runner reports progress to (the CLI's rich display implements it)."""

    def start(self, total: float) -> None: ...
    def advance(self, amount: float, description: str) -> None: ...


@dataclass(frozen=True)
class Job:
    """One backtest of a run: a result row, its strategy and its seed."""

    label: str
    strategy: type[Strategy]
    seed: int


@dataclass
class Plan:
    """A checked run, ready to execute: its config, data, folds and jobs."""

    config: RunConfig
    market: MarketData
    folds: list[Fold]
    jobs: list[Job]
    seeded: list[str] = field(default_factory=list)  # names whose seeds are averaged


@dataclass
class RunOutcome:
    """Everything a run computed, ready to be written or rendered."""

    config: RunConfig
    market: MarketData
    results: list[BacktestResult]
    metrics: pd.DataFrame
    folds: list[Fold]
    started_at: str
    seconds: float


def walk_forward(config: RunConfig, periods_per_year: int) -> WalkForward:
    """The run's walk-forward splitter, with windows converted from years to periods."""
    wf = config.walk_forward
    return WalkForward(train=round(wf.train_years * periods_per_year),
                       test=round(wf.test_years * periods_per_year),
                       purge=wf.purge_days, expanding=not wf.rolling)


def load_market(config: RunConfig) -> MarketData:
    """The run's data: ``data.start``/``data.end``, else the last ``data.years`` years."""
    from maxent_portfolio.data import load_universe

    data = config.data
    market = load_universe(data.universe, start=data.start, end=data.end, missing=data.missing)
    if data.start is None and data.years is not None:
        last = pd.Timestamp(market.returns.index[-1])
        first = pd.Timestamp(year=last.year - data.years + 1, month=1, day=1)
        if first > pd.Timestamp(market.returns.index[0]):
            market = market.slice(start=first)
    return market


def _jobs(config: RunConfig, classes: dict[str, type[Strategy]]) -> tuple[list[Job], list[str]]:
    jobs: list[Job] = []
    seeded: list[str] = []
    for name in dict.fromkeys(config.strategies):
        cls = classes[name]
        if cls.seeded and config.seeds > 1:
            seeded.append(name)
            jobs += [Job(f"{name}-seed{s}", cls, s)
                     for s in strategy_seeds(config.seed, config.seeds)]
        else:
            jobs.append(Job(name, cls, config.seed))
    return jobs, seeded


def prepare(config: RunConfig, market: MarketData | None = None) -> Plan:
    """Everything that can fail fast on bad input: plug-ins, strategy names, the data, folds.

    ``market`` replaces the configured universe (a synthetic market, for example).
    """
    from maxent_portfolio.strategies.plugins import load_plugins
    from maxent_portfolio.strategies.registry import available_strategies, unknown_strategy

    load_plugins(config.plugins)
    known = available_strategies()
    unknown = [name for name in config.strategies if name not in known]
    if unknown:
        raise unknown_strategy(unknown[0], known)
    market = load_market(config) if market is None else market
    try:
        folds = walk_forward(config, market.periods_per_year).split(len(market.returns))
    except DataError as exc:
        first, last = market.returns.index[0].date(), market.returns.index[-1].date()
        raise DataError(f"{market.name} ({first} to {last}): {exc}; shorten --train-years "
                        "or use more data") from None
    jobs, seeded = _jobs(config, known)
    return Plan(config, market, folds, jobs, seeded)


def _mean_of_seeds(name: str, runs: list[BacktestResult]) -> BacktestResult:
    """An equal split of capital across the seeds' portfolios (rebalanced each period)."""
    first = runs[0]

    def mean_series(key: str) -> pd.Series:
        return pd.concat([getattr(r, key) for r in runs], axis=1).mean(axis=1)

    def mean_frame(key: str) -> pd.DataFrame:
        frames = [getattr(r, key) for r in runs]
        return sum(frames, start=frames[0] * 0.0) / len(frames)

    extras = {k: pd.concat([r.extras[k] for r in runs], axis=1).mean(axis=1)
              for k in first.extras if all(k in r.extras for r in runs)}
    return BacktestResult(
        name=name, returns=mean_series("returns").rename(name),
        gross_returns=mean_series("gross_returns").rename(name),
        holdings=mean_frame("holdings"), targets=mean_frame("targets"),
        drifted=mean_frame("drifted"), turnover=mean_series("turnover"),
        costs=mean_series("costs"), folds=first.folds, investable=True,
        periods_per_year=first.periods_per_year, extras=extras)


def context(plan: Plan, job: Job, checkpoint_dir: Path | None = None,
            progress: Callable[[float, str], None] | None = None) -> StrategyContext:
    """The :class:`StrategyContext` a job's strategy is built with."""
    folder = None if checkpoint_dir is None else checkpoint_dir / safe_name(job.label)
    return StrategyContext(plan.config, plan.market.periods_per_year, job.seed, folder, progress)


def run(plan: Plan, progress: Progress | None = None,
        checkpoint_dir: Path | None = None) -> RunOutcome:
    """Backtest every job of ``plan`` on the same out-of-sample dates, net of the same costs.

    Learning strategies that checkpoint (SAC) save their models in ``checkpoint_dir``.
    """
    from maxent_portfolio.measures import metrics_table

    started = datetime.now(UTC)
    config, market, folds = plan.config, plan.market, plan.folds
    probe = {job: context(plan, job) for job in plan.jobs}
    weights = {job: job.strategy.work(probe[job], len(folds)) for job in plan.jobs}
    if progress is not None:
        progress.start(sum(weights.values()))

    results: list[BacktestResult] = []
    for job in plan.jobs:
        done = 0.0

        def report(amount: float, status: str, label: str = job.label) -> None:
            nonlocal done
            done += amount
            if progress is not None:
                progress.advance(amount, f"{label}: {status}")

        strategy = job.strategy.from_context(
            context(plan, job, checkpoint_dir, report if progress is not None else None))

        def on_fold(i: int, fold: Fold, label: str = job.label) -> None:
            if progress is not None:
                progress.advance(0, f"{label}: fold {i + 1}/{len(folds)}")

        result = run_backtest(
            market.returns, strategy, splits=folds, rebalance=config.schedule.rebalance,
            costs=config.costs, max_weight=config.schedule.max_weight,
            periods_per_year=market.periods_per_year, on_fold=on_fold)
        result.name = job.label
        result.returns = result.returns.rename(job.label)
        results.append(result)
        if progress is not None:
            progress.advance(max(weights[job] - done, 0.0), f"{job.label}: done")

    names = list(dict.fromkeys(config.strategies))
    for name in plan.seeded:
        runs = [r for r in results if r.name.startswith(f"{name}-seed")]
        position = results.index(runs[0])
        results.insert(position, _mean_of_seeds(name, runs))
    reference = "equal-weight" if "equal-weight" in names else None
    # Every investable row (each seed included) counts as a trial in the deflated Sharpe.
    metrics = metrics_table(results, reference=reference, benchmark=market.benchmark,
                            rf=config.report.rf)
    seconds = (datetime.now(UTC) - started).total_seconds()
    return RunOutcome(config, market, results, metrics, folds, started.isoformat(), seconds)


def backtest_to_directory(plan: Plan, out: Path | None = None,
                          progress: Progress | None = None,
                          render: Callable[[RunOutcome, Path], None] | None = None
                          ) -> tuple[RunOutcome, Path]:
    """Run and write atomically: all work happens in a hidden sibling directory that is
    renamed to the run directory only once complete, so an interrupted run leaves nothing."""
    from maxent_portfolio.rundir import default_run_dir, write_run

    final = out if out is not None else default_run_dir(plan.config)
    with atomic_directory(final) as tmp:
        outcome = run(plan, progress=progress, checkpoint_dir=tmp / "checkpoints")
        write_run(outcome, tmp, render)
    return outcome, final


__all__ = ["Job", "Plan", "Progress", "RunOutcome", "backtest_to_directory", "context",
           "load_market", "prepare", "run", "walk_forward"]
