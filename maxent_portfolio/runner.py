"""Orchestrate a backtest run: data, strategies, walk-forward, metrics.

:func:`prepare` does everything that can fail fast on bad input and returns a :class:`Plan`;
:func:`run` executes it; :func:`maxent_portfolio.rundir.backtest_to_directory` runs it and
writes the run directory atomically. All usable from Python too.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.queues import SimpleQueue
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from maxent_portfolio.backtest.engine import BacktestResult, Execution, run_backtest
from maxent_portfolio.backtest.store import safe_name
from maxent_portfolio.backtest.walkforward import Fold, WalkForward
from maxent_portfolio.config import RunConfig
from maxent_portfolio.data.market import MarketData
from maxent_portfolio.errors import ConfigError, DataError
from maxent_portfolio.seeding import placebo_seed, strategy_seeds
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


def execution_rule(config: RunConfig, market: MarketData) -> Execution:
    """The engine's execution rule of a run on ``market``: the one place a run's options
    become it, for the backtest and for ``allocate`` alike (the ``limits`` section, resolved
    for the market's assets)."""
    return Execution(limits=config.limits.resolve(market.assets, market.name))


def load_market(config: RunConfig) -> MarketData:
    """The run's data: ``data.start``/``data.end``, else the last ``data.years`` years."""
    from maxent_portfolio.data import load_universe

    data = config.data
    market = load_universe(data.universe, start=data.start, end=data.end, missing=data.missing,
                           date_format=data.date_format, spikes=data.spikes)
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
    from maxent_portfolio.strategies.menu import menu_classes
    from maxent_portfolio.strategies.plugins import load_plugins
    from maxent_portfolio.strategies.registry import (
        available_strategies,
        name_clash,
        unknown_strategy,
    )

    load_plugins(config.plugins)
    known = available_strategies()
    unknown = [name for name in config.strategies if name not in known]
    if unknown:
        raise unknown_strategy(unknown[0], known)
    clash = next(filter(None, map(name_clash, config.strategies)), None)
    if clash is not None:
        raise clash
    menu_classes(config.menu.menu)  # checked whether or not a strategy of the run uses it
    market = load_market(config) if market is None else market
    config.costs.check_assets(market.assets, market.name)
    config.limits.resolve(market.assets, market.name)  # refused here if infeasible
    try:
        folds = walk_forward(config, market.periods_per_year).split(len(market.returns))
    except DataError as exc:
        first, last = market.returns.index[0].date(), market.returns.index[-1].date()
        raise DataError(f"{market.name} ({first} to {last}): {exc}; shorten --train-years "
                        "or use more data") from None
    check_training_windows(config, market, folds, {name: known[name]
                                                   for name in config.strategies})
    jobs, seeded = _jobs(config, known)
    return Plan(config, market, folds, jobs, seeded)


def check_training_windows(config: RunConfig, market: MarketData, folds: list[Fold],
                           classes: dict[str, type[Strategy]]) -> None:
    """Refuse, before any work, a strategy whose training windows are shorter than it needs.

    The lookback is counted in periods, so its cost in years depends on the frequency (60 is
    three months of daily data, five years of monthly), and ``sac-discrete`` pays it twice:
    found in the first fold's ``fit``, the whole run would fail after the others had run.
    """
    from maxent_portfolio.data.validate import frequency_name

    if not folds:
        return
    shortest = min(folds, key=lambda f: f.train_end - f.train_start)
    have = shortest.train_end - shortest.train_start
    ppy = market.periods_per_year
    for name, cls in classes.items():
        need = cls.training_returns_needed(StrategyContext(config, ppy, config.seed))
        if have < need:
            lookback = config.env.lookback
            window = shortest.dates(pd.DatetimeIndex(market.returns.index))
            raise DataError(
                f"{name} needs {need} training returns in every window with --lookback "
                f"{lookback} ({lookback / ppy:.3g} years of {frequency_name(ppy)} data), but "
                f"the training window {window['train_start']}..{window['train_end']} of "
                f"{market.name} holds {have}; lower --lookback or raise --train-years")


def mean_of_seeds(name: str, runs: list[BacktestResult]) -> BacktestResult:
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
        learned=first.learned, periods_per_year=first.periods_per_year, extras=extras)


def context(plan: Plan, job: Job, checkpoint_dir: Path | None = None,
            progress: Callable[[float, str], None] | None = None) -> StrategyContext:
    """The :class:`StrategyContext` a job's strategy is built with."""
    folder = None if checkpoint_dir is None else checkpoint_dir / safe_name(job.label)
    return StrategyContext(plan.config, plan.market.periods_per_year, job.seed, folder, progress)


Advance = Callable[[float, str], None]
"""``advance(amount, description)``: where a job reports its progress."""


Unit = tuple[Job, ...]
"""Jobs that run together in one process: a seed group (``Strategy.seed_batch`` seeds of one
strategy, linked by ``Strategy.join``), or one job alone."""


def job_units(plan: Plan) -> list[Unit]:
    """The run's units: consecutive seeds of a seeded strategy in groups of its
    ``seed_batch``, every other job alone. The groups depend on the configuration only (not
    on ``jobs``), so neither do the results."""
    units: list[Unit] = []
    for name in dict.fromkeys(job.strategy.name for job in plan.jobs):
        jobs = [job for job in plan.jobs if job.strategy.name == name]
        size = max(jobs[0].strategy.seed_batch(context(plan, jobs[0])), 1) \
            if name in plan.seeded else 1
        units += [tuple(jobs[i:i + size]) for i in range(0, len(jobs), size)]
    return units


def _backtest_unit(plan: Plan, unit: Unit, weights: dict[Job, float],
                   checkpoint_dir: Path | None, advance: Advance | None
                   ) -> list[BacktestResult]:
    """Backtest a unit's jobs in turn; each job's progress adds up to its ``weights`` entry
    (its ``Strategy.work``)."""
    config, market, folds = plan.config, plan.market, plan.folds
    done = dict.fromkeys(unit, 0.0)

    def reporter(job: Job) -> Advance:
        def report(amount: float, status: str) -> None:
            done[job] += amount
            if advance is not None:
                advance(amount, f"{job.label}: {status}")
        return report

    strategies = [job.strategy.from_context(
        context(plan, job, checkpoint_dir, reporter(job) if advance is not None else None))
        for job in unit]
    if len(unit) > 1:
        unit[0].strategy.join(strategies)
    results = []
    for job, strategy in zip(unit, strategies, strict=True):
        def on_fold(i: int, fold: Fold, job: Job = job) -> None:
            if advance is not None:
                advance(0, f"{job.label}: fold {i + 1}/{len(folds)}")

        result = run_backtest(
            market.returns, strategy, splits=folds, rebalance=config.schedule.rebalance,
            costs=config.costs, execution=execution_rule(config, market),
            periods_per_year=market.periods_per_year, on_fold=on_fold)
        result.name = job.label
        result.returns = result.returns.rename(job.label)
        if advance is not None:
            advance(max(weights[job] - done[job], 0.0), f"{job.label}: done")
        results.append(result)
    return results


def pooled_units(plan: Plan, units: list[Unit], weights: dict[Job, float]) -> list[Unit]:
    """The units worth a worker process, longest first (ties in plan order).

    A strategy that declares more work than the default unit per fold (``Strategy.work``)
    learns (SAC counts training transitions); the baselines take a few seconds and stay in the
    driver. With ``config.jobs == 1``, or fewer than two such units, there is no pool.
    """
    def weight(unit: Unit) -> float:
        return sum(weights[job] for job in unit)

    slow = [unit for unit in units if weight(unit) > len(plan.folds) * len(unit)]
    if plan.config.jobs < 2 or len(slow) < 2:
        return []
    return sorted(slow, key=lambda unit: -weight(unit))


# A worker process's progress channel (its jobs, with the plan's data, come with each task).
_EVENTS: list[SimpleQueue[tuple[float, str]] | None] = [None]

_STOPS = {signal.SIGINT, signal.SIGTERM}


def _start_worker(events: SimpleQueue[tuple[float, str]] | None) -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)  # blocked by the driver while spawning
    # A terminal's Ctrl-C reaches the whole process group; the driver answers it by killing
    # the pool (while SAC trains, its own handler would checkpoint first: to no use here).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _EVENTS[0] = events


def _worker_unit(config: RunConfig, market: MarketData, folds: list[Fold], name: str,
                 members: list[tuple[str, int, float]], checkpoint_dir: Path | None
                 ) -> list[BacktestResult]:
    """Backtest one unit in a worker: ``members`` are its jobs' ``(label, seed, weight)``. The
    strategy comes by name (plug-in modules get a per-process name, so their classes cannot
    be pickled by reference)."""
    from maxent_portfolio.strategies.plugins import load_plugins
    from maxent_portfolio.strategies.registry import available_strategies

    events = _EVENTS[0]
    load_plugins(config.plugins)
    strategy = available_strategies().get(name)
    if strategy is None:
        raise ConfigError(f"strategy {name!r} is not registered in a worker process: register "
                          "it in a plug-in file, or use --jobs 1")
    if "torch" in sys.modules:  # one thread per worker: the workers share the cores
        import torch

        torch.set_num_threads(1)

    def advance(amount: float, description: str) -> None:
        events.put((amount, description))  # type: ignore[union-attr]

    seeded = [name] if len(members) > 1 else []
    unit = tuple(Job(label, strategy, seed) for label, seed, _ in members)
    return _backtest_unit(Plan(config, market, folds, list(unit), seeded), unit,
                          {job: w for job, (_, _, w) in zip(unit, members, strict=True)},
                          checkpoint_dir, advance if events is not None else None)


def stop_pool(executor: ProcessPoolExecutor) -> None:
    """Cancel the jobs not started and kill the workers, waiting until they are gone: their
    checkpoints are in the partial run directory, which is removed next."""
    processes = list((executor._processes or {}).values())  # public only from Python 3.14
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.kill()
    for process in processes:
        process.join()


def _run_pool(plan: Plan, units: list[Unit], pooled: list[Unit], weights: dict[Job, float],
              checkpoint_dir: Path | None, progress: Progress | None
              ) -> dict[Job, BacktestResult]:
    """Every unit: ``pooled`` in worker processes, the others in this process meanwhile."""
    ctx = multiprocessing.get_context("spawn")  # fork after torch has threads is unsafe
    # A SimpleQueue writes at once, so a job's events are all sent before its result.
    events: SimpleQueue[tuple[float, str]] | None = \
        ctx.SimpleQueue() if progress is not None else None

    def relay() -> None:
        while events is not None and progress is not None and not events.empty():
            progress.advance(*events.get())

    def advance(amount: float, description: str) -> None:
        relay()
        if progress is not None:
            progress.advance(amount, description)

    # Ctrl-C or SIGTERM waits until the workers are spawned and known to the pool (a worker
    # interrupted while it starts would outlive the run); the workers inherit the mask.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
    executor = ProcessPoolExecutor(max_workers=min(plan.config.jobs, len(pooled)),
                                   mp_context=ctx, initializer=_start_worker,
                                   initargs=(events,))
    try:
        try:
            futures = {executor.submit(
                _worker_unit, plan.config, plan.market, plan.folds, unit[0].strategy.name,
                [(job.label, job.seed, weights[job]) for job in unit], checkpoint_dir): unit
                for unit in pooled}
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        results: dict[Job, BacktestResult] = {}
        for unit in units:
            if unit not in futures.values():
                results.update(zip(unit, _backtest_unit(
                    plan, unit, weights, checkpoint_dir,
                    advance if progress is not None else None), strict=True))
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            relay()
            for future in finished:  # a worker's error, raised here
                results.update(zip(futures[future], future.result(), strict=True))
        executor.shutdown()
        relay()
    except BaseException:  # an error, Ctrl-C or SIGTERM: no worker outlives the run
        stop_pool(executor)
        raise
    return results


def _attach_placebos(plan: Plan, results: list[BacktestResult],
                     means: dict[str, list[str]]) -> None:
    """Set ``placebo`` on every learned result: ``report.placebos`` permutations per fold,
    drawn from the run's seed (:func:`maxent_portfolio.seeding.placebo_seed`)."""
    from maxent_portfolio.backtest.placebo import draw_permutations, run_placebos

    config = plan.config
    if config.report.placebos == 0 or not any(r.learned for r in results):
        return
    rng = np.random.default_rng(placebo_seed(config.seed))
    permutations = draw_permutations(rng, config.report.placebos, len(plan.folds),
                                     plan.market.returns.shape[1])
    sharpes = run_placebos(results, plan.market.returns, config.costs, permutations,
                           config.report.rf, means)
    for res in results:
        res.placebo = sharpes.get(res.name)


def run(plan: Plan, progress: Progress | None = None,
        checkpoint_dir: Path | None = None) -> RunOutcome:
    """Backtest every job of ``plan`` on the same out-of-sample dates, net of the same costs.

    Learning strategies that checkpoint (SAC) save their models in ``checkpoint_dir``. With
    ``config.jobs > 1`` the learning jobs (:func:`pooled_jobs`) run in as many worker
    processes (spawned, one torch thread each) while the others run here; every job is seeded
    on its own, so the results, and their order, are those of ``jobs=1``. Seed groups
    (:func:`job_units`) train together in one process, whatever ``jobs`` is. Every learned
    result (each seed and the seeds' mean) then gets its permutation placebos
    (:mod:`maxent_portfolio.backtest.placebo`), the metrics table their percentile.
    """
    from maxent_portfolio.measures import metrics_table

    started = datetime.now(UTC)
    config, market, folds = plan.config, plan.market, plan.folds
    probe = {job: context(plan, job) for job in plan.jobs}
    weights = {job: job.strategy.work(probe[job], len(folds)) for job in plan.jobs}
    if progress is not None:
        progress.start(sum(weights.values()))

    units = job_units(plan)
    pooled = pooled_units(plan, units, weights)
    if pooled:
        by_job = _run_pool(plan, units, pooled, weights, checkpoint_dir, progress)
    else:
        advance = progress.advance if progress is not None else None
        by_job = {}
        for unit in units:
            by_job.update(zip(unit, _backtest_unit(plan, unit, weights, checkpoint_dir,
                                                   advance), strict=True))
    results = [by_job[job] for job in plan.jobs]

    names = list(dict.fromkeys(config.strategies))
    means: dict[str, list[str]] = {}
    for name in plan.seeded:
        runs = [r for r in results if r.name.startswith(f"{name}-seed")]
        position = results.index(runs[0])
        results.insert(position, mean_of_seeds(name, runs))
        means[name] = [r.name for r in runs]
    _attach_placebos(plan, results, means)
    reference = "equal-weight" if "equal-weight" in names else None
    # Every investable row (each seed included) counts as a trial in the deflated Sharpe.
    metrics = metrics_table(results, reference=reference, benchmark=market.benchmark,
                            rf=config.report.rf)
    seconds = (datetime.now(UTC) - started).total_seconds()
    return RunOutcome(config, market, results, metrics, folds, started.isoformat(), seconds)


__all__ = ["Job", "Plan", "Progress", "RunOutcome", "Unit", "context", "execution_rule",
           "job_units", "load_market", "mean_of_seeds", "pooled_units", "prepare", "run",
           "stop_pool",
           "walk_forward"]
