"""Every strategy of a finished run, re-evaluated on scenario markets without retraining.

A scenario market is the run's data with every fold's test window replaced by a scenario of it
(:func:`scenario_market`): fold ``j`` of scenario ``i`` draws from its own seed, so scenario
``i`` is the same whichever worker draws it. Each strategy runs through the run's own engine
(:func:`~maxent_portfolio.backtest.engine.run_backtest`), folds, schedule and costs, as
:class:`Refit` hands it over fold by fold: stood as it was fit on the run's own training
window (a learned agent restored from the fold's checkpoint, a baseline refit), then shown the
scenario's test window. Noisy inputs change what a strategy is shown, never what it earns.

:func:`reference_pass` fits every strategy once on the run's own data, keeping a snapshot per
fold; it reproduces the run's stored returns, which :func:`check_reproduced` verifies before
any scenario is drawn. :func:`run_chunks` evaluates chunks of scenarios: the unit of work the
``--jobs`` workers take, each deterministic, so results do not depend on ``--jobs``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from maxent_portfolio.arithmetic import CostModel, drift
from maxent_portfolio.backtest.engine import BacktestResult, Execution, assemble, run_backtest
from maxent_portfolio.backtest.store import safe_name
from maxent_portfolio.backtest.walkforward import Fold
from maxent_portfolio.config import RunConfig
from maxent_portfolio.errors import DataError, StrategyError
from maxent_portfolio.measures import annual_turnover, cagr, cvar, max_drawdown, sharpe
from maxent_portfolio.rebalance import CASH, Schedule
from maxent_portfolio.scenarios import Scenario, draw, scenario_seeds
from maxent_portfolio.strategies.base import WEIGHT_TOLERANCE, Strategy, StrategyContext
from maxent_portfolio.stress.config import StressConfig

FIGURES = ("sharpe", "cagr", "max_drawdown", "cvar_95", "turnover")
"""The figures of ``scenarios.csv``, per scenario and strategy (measures of :mod:`measures`)."""

CHUNK = 10
"""Scenarios per unit of work: fixed, so the chunks, and their results, never depend on
``--jobs``."""

WEALTH_POINTS = 120
"""Dates at which each scenario's wealth is kept for the fan chart."""


@dataclass(frozen=True)
class Member:
    """One evaluated row: its label, its strategy class and seed, and where its checkpoints
    are (None for a strategy that keeps none)."""

    label: str
    strategy: type[Strategy]
    seed: int
    checkpoints: Path | None


@dataclass
class StressData:
    """What every chunk of scenarios needs; shipped once to each worker.

    Attributes
    ----------
    config : RunConfig
        The run's options.
    returns : pd.DataFrame of shape (n_observations, n_assets)
        The run's data.
    folds : list of Fold
    stress : StressConfig
    members : list of Member
        Every backtest of the run (each seed of a seeded strategy), plus ``equal-weight``
        when the run lacks it: the reference of the paired win rate.
    means : dict of str to list of str
        A seeded strategy's mean row and the labels of its seeds.
    blocks : list of float
        Each fold's mean bootstrap block (Politis-White of its test window), or NaN.
    episodes : list of pd.DataFrame or None
        Each fold's crash episode.
    periods_per_year : int
    """

    config: RunConfig
    returns: pd.DataFrame
    folds: list[Fold]
    stress: StressConfig
    members: list[Member]
    means: dict[str, list[str]]
    blocks: list[float]
    episodes: list[pd.DataFrame | None]
    periods_per_year: int
    digest: str = ""
    snapshots: dict[str, list[Strategy]] = field(default_factory=dict, repr=False)

    @property
    def labels(self) -> list[str]:
        """The rows of ``scenarios.csv``: each member, then each seeded strategy's mean."""
        return [*(m.label for m in self.members), *self.means]

    @property
    def oos_index(self) -> pd.DatetimeIndex:
        """The out-of-sample dates: every fold's test window."""
        index = self.returns.index
        return pd.DatetimeIndex(np.concatenate(
            [index[f.test_start:f.test_end].to_numpy() for f in self.folds]))

    def __getstate__(self) -> dict[str, Any]:
        # Snapshots hold strategy instances (plug-ins' classes are not picklable by reference,
        # agents are large): each worker computes its own (:func:`snapshots_of`).
        return {k: v for k, v in vars(self).items() if k != "snapshots"} | {"snapshots": {}}


class Refit(Strategy):
    """A strategy stood, at each fold, as it was fit on the run's own training window.

    With ``snapshots`` None it records: ``fit`` restores a ``checkpointed`` strategy from its
    fold's file when given ``checkpoints`` (else fits it: a sweep's cell trains its agent
    here) and keeps a copy per fold. Given the ``snapshots``, ``fit``
    takes a fresh copy of the fold's, whatever window it is handed: the scenario's training
    rows are never learnt from. A hindsight benchmark (not investable) is fit, as the engine
    fits it, on the window it is judged on, the scenario's.
    """

    def __init__(self, inner: Strategy, checkpoints: Path | None,
                 snapshots: list[Strategy] | None = None) -> None:
        self.inner = inner
        self.template = copy.deepcopy(inner)
        self.checkpoints = checkpoints
        self.snapshots = snapshots
        self.recorded: list[Strategy] = []
        self.fold = 0

    def reset(self) -> None:
        self.inner.reset()
        self.fold = 0

    def fit(self, returns: pd.DataFrame) -> Refit:
        if not self.inner.investable and self.snapshots is not None:
            self.inner = copy.deepcopy(self.template)
            self.inner.fit(returns)
        elif self.snapshots is not None:
            self.inner = copy.deepcopy(self.snapshots[self.fold])
        elif self.inner.checkpointed and self.checkpoints is not None:
            self.inner.checkpoint_dir = self.checkpoints  # type: ignore[attr-defined]
            self.inner.restore(returns, self.fold)
        else:
            self.inner.fit(returns)
        if self.snapshots is None:
            self.recorded.append(copy.deepcopy(self.inner))
        self.fold += 1
        return self

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        return self.inner.allocate(history, current)

    def allocate_batch(self, history: np.ndarray, current: np.ndarray) -> np.ndarray:
        return self.inner.allocate_batch(history, current)

    def constant_weights(self, assets: list[str]) -> np.ndarray | None:
        return self.inner.constant_weights(assets)

    def extras(self) -> dict[str, pd.Series]:
        # Recording, one strategy decides through every fold; a restored copy per fold would
        # hold its own fold's decisions only.
        return self.inner.extras() if self.snapshots is None else {}


def wrapped(member: Member, data: StressData, snapshots: list[Strategy] | None) -> Refit:
    """A fresh :class:`Refit` of ``member``, named and flagged as its strategy is."""
    inner = member.strategy.from_context(StrategyContext(
        data.config, data.periods_per_year, member.seed))
    traits = {k: getattr(inner, k) for k in ("name", "investable", "stateless", "learned",
                                             "batched")}
    kind = type(f"Refit[{inner.name}]", (Refit,), traits)
    return kind(inner, member.checkpoints, snapshots)


def backtest(data: StressData, strategy: Strategy, returns: pd.DataFrame,
             seen: pd.DataFrame | None = None, costs: CostModel | None = None
             ) -> BacktestResult:
    """``strategy`` on ``returns`` through the run's engine, folds, schedule and costs."""
    config = data.config
    return run_backtest(returns, strategy, splits=data.folds,
                        rebalance=config.schedule.rebalance, costs=costs or config.costs,
                        execution=execution(data),
                        periods_per_year=data.periods_per_year, seen=seen)


def execution(data: StressData) -> Execution:
    """The engine's rule of the run (:func:`~maxent_portfolio.runner.execution_rule`): the
    run's limits, resolved for its assets."""
    assets = [str(c) for c in data.returns.columns]
    return Execution(limits=data.config.limits.resolve(assets, data.config.data.universe))


def batchable(data: StressData, strategy: Strategy) -> bool:
    """Whether :func:`backtest_paths` serves ``strategy``: it decides for many paths at once,
    is fit on training windows (not a hindsight benchmark) and the schedule is calendar-based
    (a drift band's rebalance dates differ from path to path)."""
    schedule = Schedule.parse(data.config.schedule.rebalance)
    return strategy.batched and strategy.investable and schedule.kind != "drift" \
        and strategy.constant_weights(list(map(str, data.returns.columns))) is None


def checked(weights: np.ndarray, name: str, when: pd.Timestamp, rule: Execution
            ) -> np.ndarray:
    """The engine's check of each row of ``weights`` (B, M): finite, long, summing to 1;
    then clipped, normalised and projected onto the limits as the engine does one path at a
    time."""
    w = np.asarray(weights, dtype=float)
    bad = ~np.isfinite(w).all(-1) | (w < -WEIGHT_TOLERANCE).any(-1) \
        | (np.abs(w.sum(-1) - 1.0) > WEIGHT_TOLERANCE)
    if bad.any():
        raise StrategyError(f"strategy {name!r} on {when.date()}: weights of scenario path "
                            f"{int(np.argmax(bad))} are not finite, long-only weights summing "
                            "to 1")
    w = np.clip(w, 0.0, None)
    w = w / w.sum(-1, keepdims=True)
    return np.stack([rule.limit(row) for row in w]) if rule.limits is not None else w


def fold_decisions(schedule: Schedule, index: pd.DatetimeIndex, fold: Fold
                   ) -> tuple[np.ndarray, np.ndarray]:
    """A calendar schedule's decision rows in ``fold``'s test window and the end (exclusive)
    of the segment each one holds, as the engine places them: the same on every path."""
    first = fold.test_start - 1
    starts = first + np.flatnonzero(schedule.flags(index, first, fold.test_end - 2))
    return starts, np.append(starts[1:] + 1, fold.test_end)


def backtest_paths(data: StressData, strategy: Strategy, true: Sequence[pd.DataFrame],
                   seen: Sequence[pd.DataFrame | None], costs: CostModel
                   ) -> list[BacktestResult]:
    """:func:`backtest` of a :func:`batchable` strategy on ``B`` paths in lockstep: at each
    decision date one :meth:`~maxent_portfolio.strategies.base.Strategy.allocate_batch` for
    every path (for ``sac``, one forward pass of its policy), then the engine's own accounting
    (:func:`~maxent_portfolio.backtest.engine.assemble`) path by path."""
    config = data.config
    index = pd.DatetimeIndex(data.returns.index)
    assets = [str(c) for c in data.returns.columns]
    columns = [*assets, CASH]
    schedule = Schedule.parse(config.schedule.rebalance)
    rule = execution(data)
    earned = np.stack([t.to_numpy(dtype=float) for t in true])
    shown = np.stack([(t if s is None else s).to_numpy(dtype=float)
                      for t, s in zip(true, seen, strict=True)])
    r_ext = np.concatenate([earned, np.zeros((*earned.shape[:2], 1))], axis=2)
    state = np.zeros((len(true), len(columns)))
    state[:, -1] = 1.0  # every path starts in cash, as the engine does
    targets, decisions, seg_end = [], [], []
    strategy.reset()
    for fold in data.folds:
        strategy.fit(data.returns.iloc[fold.train_start:fold.train_end])
        for start, end in zip(*fold_decisions(schedule, index, fold), strict=True):
            w = checked(strategy.allocate_batch(shown[:, :start + 1], state), strategy.name,
                        index[int(start)], rule)
            targets.append(w)
            decisions.append(int(start))
            seg_end.append(int(end))
            state = drift(w, r_ext[:, start + 1:end])[1][:, -1]
    chosen = np.stack(targets, axis=1)  # (B, k, M)
    rate = costs.rate(assets)
    return [assemble(strategy, data.returns, r_ext[b], columns, chosen[b], np.array(decisions),
                     np.array(seg_end), rate, data.folds, data.periods_per_year)
            for b in range(len(true))]


def reference_pass(data: StressData) -> dict[str, BacktestResult]:
    """Every member on the run's own data, recording its per-fold snapshots into ``data``."""
    results = {}
    for member in data.members:
        strategy = wrapped(member, data, None)
        results[member.label] = backtest(data, strategy, data.returns)
        data.snapshots[member.label] = strategy.recorded
    return results


def check_reproduced(fresh: dict[str, BacktestResult], stored: Sequence[BacktestResult]
                     ) -> None:
    """Refuse to stress a run its own strategies, as restored, no longer reproduce: its data,
    its checkpoints or the package changed since, and every scenario would be off too."""
    for result in stored:
        if result.name not in fresh:
            continue
        new = fresh[result.name].returns
        old = result.returns
        same = new.index.equals(old.index) and np.allclose(
            new.to_numpy(), old.to_numpy(), rtol=1e-9, atol=1e-12)
        if not same:
            where = "its dates" if not new.index.equals(old.index) else \
                f"{old.index[int(np.argmax(~np.isclose(new.to_numpy(), old.to_numpy())))].date()}"
            raise DataError(f"stress: {result.name} re-evaluated on the run's own data does not "
                            f"reproduce its stored returns (first difference: {where}); the "
                            "data, the checkpoints or the package changed since the run")


def snapshots_of(data: StressData) -> dict[str, list[Strategy]]:
    """``data``'s per-fold snapshots, from :func:`reference_pass` in this process (once)."""
    if not data.snapshots:
        from maxent_portfolio.strategies.plugins import load_plugins

        load_plugins(data.config.plugins)
        reference_pass(data)
    return data.snapshots


def window_seed(seed: int, fold: int) -> int:
    """The seed of fold ``fold``'s window in the scenario of seed ``seed``."""
    return int(np.random.SeedSequence([seed, fold]).generate_state(1)[0] >> 1)


def scenario_market(data: StressData, seed: int
                    ) -> tuple[pd.DataFrame, pd.DataFrame | None, float]:
    """The scenario of seed ``seed``: true returns, the returns shown (None when no noise)
    and the cost multiplier. Rows outside the test windows are the run's own."""
    stress = data.stress
    true = data.returns.to_numpy(copy=True)
    shown = true.copy()
    noisy = False
    cost = 1.0
    for j, fold in enumerate(data.folds):
        window = data.returns.iloc[fold.test_start:fold.test_end]
        scenario: Scenario = draw(
            window, stress.kinds, window_seed(seed, j),
            mean_block=None if np.isnan(data.blocks[j]) else data.blocks[j],
            episode=data.episodes[j], volatility=stress.volatility,
            costs=stress.cost_multiplier, noise=stress.noise)
        seen, earned = scenario.inputs()
        true[fold.test_start:fold.test_end] = earned.to_numpy()
        shown[fold.test_start:fold.test_end] = seen.to_numpy()
        noisy = noisy or scenario.noise_std > 0
        cost = scenario.cost_multiplier
    frame = pd.DataFrame(true, index=data.returns.index, columns=data.returns.columns)
    seen_frame = pd.DataFrame(shown, index=data.returns.index, columns=data.returns.columns) \
        if noisy else None
    return frame, seen_frame, cost


def scaled_costs(costs: CostModel, k: float, assets: Sequence[str]) -> CostModel:
    """``costs`` times ``k``, per asset (a partial per-asset table's default included)."""
    if k == 1.0:
        return costs
    return CostModel(cost_bps={a: float(v) * k for a, v in zip(assets, costs.bps(assets),
                                                                strict=True)},
                     slippage_bps=0.0)


def figures(result: BacktestResult, rf: float) -> dict[str, float]:
    """The :data:`FIGURES` of one backtest (the run's own measures)."""
    r = result.returns.to_numpy(dtype=float)
    ppy = result.periods_per_year
    return {"sharpe": sharpe(r, ppy, rf), "cagr": cagr(r, ppy), "max_drawdown": max_drawdown(r),
            "cvar_95": cvar(r, 0.95), "turnover": annual_turnover(result.turnover, len(r), ppy)}


def wealth_positions(n: int) -> np.ndarray:
    """The out-of-sample rows at which wealth is kept: evenly spread, the last included."""
    return np.unique(np.linspace(0, n - 1, min(n, WEALTH_POINTS)).round().astype(int))


@dataclass
class ChunkResult:
    """What one chunk of scenarios gives: ``figures[label]`` rows (one per scenario) and
    wealth of shape (scenarios, labels, points)."""

    first: int
    seeds: list[int]
    rows: list[dict[str, Any]]
    wealth: np.ndarray

    @property
    def key(self) -> str:
        return f"{self.first:06d}-{self.first + len(self.seeds) - 1:06d}"


def scenario_results(data: StressData, seeds: Sequence[int]
                     ) -> tuple[list[pd.DataFrame], CostModel, list[dict[str, BacktestResult]]]:
    """Every member on the scenarios of seeds ``seeds``: their true returns, the costs they
    trade at and, per scenario, each member's backtest. A :func:`batchable` strategy meets
    them all in lockstep, any other one after the other."""
    snapshots = snapshots_of(data)
    markets = [scenario_market(data, seed) for seed in seeds]
    true = [m[0] for m in markets]
    seen = [m[1] for m in markets]
    costs = scaled_costs(data.config.costs, markets[0][2],
                         [str(c) for c in data.returns.columns])
    results: list[dict[str, BacktestResult]] = [{} for _ in seeds]
    for member in data.members:
        strategy = wrapped(member, data, snapshots[member.label])
        if batchable(data, strategy):
            paths = backtest_paths(data, strategy, true, seen, costs)
        else:
            paths = [backtest(data, wrapped(member, data, snapshots[member.label]), t, s, costs)
                     for t, s in zip(true, seen, strict=True)]
        for by_label, result in zip(results, paths, strict=True):
            by_label[member.label] = result
    return true, costs, results


def evaluate(data: StressData, first: int, seeds: Sequence[int]
             ) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Scenarios ``first, first + 1, ...`` of seeds ``seeds``: a row of :data:`FIGURES` per
    scenario and label, and the wealth (scenarios, labels, points) at
    :func:`wealth_positions` (:func:`scenario_results`)."""
    from maxent_portfolio.runner import mean_of_seeds

    _, _, results = scenario_results(data, seeds)
    rows, wealth = [], []
    for offset, (seed, by_label) in enumerate(zip(seeds, results, strict=True)):
        for name, labels in data.means.items():
            by_label[name] = mean_of_seeds(name, [by_label[label] for label in labels])
        scenario_wealth = []
        for label in data.labels:
            result = by_label[label]
            rows.append({"scenario": first + offset, "seed": seed, "strategy": label,
                         **figures(result, data.config.report.rf)})
            growth = np.cumprod(1.0 + result.returns.to_numpy(dtype=float))
            scenario_wealth.append(growth[wealth_positions(len(growth))])
        wealth.append(scenario_wealth)
    return rows, np.array(wealth)


def run_chunks(data: StressData, chunks: list[tuple[int, list[int]]]) -> list[ChunkResult]:
    """Evaluate each chunk ``(first index, seeds)`` of scenarios (:func:`evaluate`)."""
    out = []
    for first, seeds in chunks:
        rows, wealth = evaluate(data, first, seeds)
        out.append(ChunkResult(first, list(seeds), rows, wealth))
    return out


def chunk_plan(stress: StressConfig) -> list[tuple[int, list[int]]]:
    """The chunks ``(first index, seeds)`` of :data:`CHUNK` scenarios each."""
    seeds = scenario_seeds(stress.seed, stress.scenarios)
    return [(i, seeds[i:i + CHUNK]) for i in range(0, len(seeds), CHUNK)]


def member_checkpoints(run_dir: Path, label: str) -> Path:
    """Where a run keeps the per-fold checkpoints of the backtest ``label``."""
    return run_dir / "checkpoints" / safe_name(label)


__all__ = ["CHUNK", "FIGURES", "WEALTH_POINTS", "ChunkResult", "Member", "Refit", "StressData",
           "backtest", "backtest_paths", "batchable", "check_reproduced", "checked",
           "chunk_plan", "evaluate", "figures", "fold_decisions", "member_checkpoints",
           "reference_pass", "run_chunks", "scaled_costs", "scenario_market",
           "scenario_results", "snapshots_of", "wealth_positions", "window_seed", "wrapped"]
