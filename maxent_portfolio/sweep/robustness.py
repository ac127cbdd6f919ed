"""The dial's robustness curve: a sweep's cells on scenario markets (``sweep --scenarios N``).

Each cell's agent is trained on the run's own data (as the sweep trains it), kept fold by fold,
then shown the same ``N`` scenario markets as every other cell (the stress command's
scenarios, :mod:`maxent_portfolio.stress.evaluate`, drawn from ``--scenario-seed``), so the
cells are compared on paired paths. On each path it is paired with 1/N.

The blend control asks whether a hotter agent holds up better than what mixing the coldest
agent with 1/N gives. For the coldest dial value, at each cost and seed, the blend holds
``lambda * w_cold + (1 - lambda) * 1/N`` at each of the cold agent's decisions (1/N holds no
cash), with ``lambda = AS_hot / AS_cold``: the active shares against 1/N
(:func:`~maxent_portfolio.measures.active_share`) of the decided weights on the run's own
out-of-sample path. Active share is half the L1 distance to 1/N, and the blend's distance to
1/N is ``lambda`` times the cold agent's at every decision, so the blend's active share is
``AS_hot`` exactly (without ``--limits``; with them the blend is projected onto the limits
as the engine projects any target). A hotter agent more active than the coldest one has no
blend (``lambda > 1``): its blend columns are empty.

The cold cells run after the others, so that every hotter cell's active share is known.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from maxent_portfolio.arithmetic import CostModel
from maxent_portfolio.backtest.engine import BacktestResult, assemble
from maxent_portfolio.measures import active_share, effective_n
from maxent_portfolio.rebalance import CASH, Schedule
from maxent_portfolio.strategies.base import StrategyContext
from maxent_portfolio.strategies.registry import strategy_class
from maxent_portfolio.stress.config import StressConfig, build_stress
from maxent_portfolio.stress.evaluate import (
    Member,
    StressData,
    checked,
    chunk_plan,
    execution,
    figures,
    fold_decisions,
    reference_pass,
    scenario_results,
)
from maxent_portfolio.stress.run import REFERENCE, stress_data, summary_table
from maxent_portfolio.sweep.cells import Cell, CellResult, SweepData, cell_measures
from maxent_portfolio.sweep.config import SweepConfig

ROBUST_COLUMNS = ("active_share", "win_rate_vs_equal_weight", "sharpe_q05", "sharpe_q50")
"""What ``--scenarios`` adds to each cell: its decided weights' active share against 1/N on
the run's own path, then, over the scenarios, its paired win rate against 1/N's Sharpe and the
5% and 50% quantiles of its Sharpe."""

BLEND_COLUMNS = ("lambda", "effective_n", "win_rate_vs_equal_weight", "sharpe_q05",
                 "sharpe_q50")
"""The blend control matched to a cell (``blend_<column>`` in ``sweep.csv``): its ``lambda``,
its mean effective N on the run's own path, and its figures over the same scenarios."""

AGENT = "sac"


@dataclass(frozen=True)
class RobustData:
    """What every cell of a sweep with scenarios needs: the sweep's shared data, the
    scenarios, and the active share of each finished cell (the blends' targets)."""

    sweep: SweepData
    stress: StressConfig
    coldest: float
    shares: dict[Cell, float] = field(default_factory=dict)


def scenario_options(sweep: SweepConfig) -> StressConfig:
    """The stress command's scenarios for ``sweep --scenarios``: its default kinds."""
    return build_stress({"scenarios": sweep.scenarios, "seed": sweep.scenario_seed})


def blend_key(value: float, column: str) -> str:
    """Where the cold cell keeps the blend matched to dial value ``value``."""
    return f"blend@{value!r}:{column}"


def blend_weights(cold: np.ndarray, lam: float) -> np.ndarray:
    """``lam * cold + (1 - lam) * 1/N`` for weights (..., N + 1), cash last: 1/N holds none."""
    n = cold.shape[-1] - 1
    equal = np.append(np.full(n, 1.0 / n), 0.0)
    return lam * cold + (1.0 - lam) * equal


def blend(data: StressData, cold: BacktestResult, lam: float, returns: pd.DataFrame,
          costs: CostModel) -> BacktestResult:
    """The blend of ``cold``'s decided weights with 1/N, held on ``returns`` (one path) through
    the engine's accounting, at the cold agent's decisions (a calendar schedule's)."""
    assets = [str(c) for c in data.returns.columns]
    index = pd.DatetimeIndex(data.returns.index)
    schedule = Schedule.parse(data.config.schedule.rebalance)
    starts, ends = zip(*(fold_decisions(schedule, index, f) for f in data.folds), strict=True)
    decisions, seg_end = np.concatenate(starts), np.concatenate(ends)
    targets = checked(blend_weights(cold.targets.to_numpy(dtype=float), lam), "blend",
                      index[int(decisions[0])], execution(data))
    r = returns.to_numpy(dtype=float)
    r_ext = np.concatenate([r, np.zeros((len(r), 1))], axis=1)
    reference = strategy_class(REFERENCE).from_context(
        StrategyContext(data.config, data.periods_per_year, 0))
    result = assemble(reference, data.returns, r_ext, [*assets, CASH], targets, decisions,
                      seg_end, costs.rate(assets), data.folds, data.periods_per_year)
    result.name = "blend"
    return result


def matched(data: RobustData, cell: Cell, share: float) -> dict[float, float]:
    """The blends' ``lambda`` of the cold cell ``cell`` (active share ``share``): one per
    hotter cell of its cost and seed, NaN where that cell is the more active."""
    hot = {c.value: s for c, s in data.shares.items()
           if c.cost_bps == cell.cost_bps and c.seed == cell.seed and c.value != cell.value}
    return {value: s / share if share > 0 and s <= share else float("nan")
            for value, s in sorted(hot.items())}


def robust_cells(data: RobustData, cells: list[Cell]) -> list[CellResult]:
    """The sweep's work with scenarios: each cell (one per group: ``--seed-batch 1``)."""
    return [robust_cell(data, cell) for cell in cells]


def robust_cell(data: RobustData, cell: Cell) -> CellResult:
    """Train ``cell``'s agent on the run's data and measure it (the cell's row), then run it,
    1/N and, for the coldest dial value, the blends on every scenario."""
    start = time.perf_counter()
    shared = data.sweep
    market, config = shared.market, cell.config(shared.config)
    members = [Member(AGENT, strategy_class(AGENT), cell.seed, None),
               Member(REFERENCE, strategy_class(REFERENCE), config.seed, None)]
    stress = stress_data(config, market.returns, shared.folds, market.periods_per_year,
                         data.stress, members, {}, {})
    own = reference_pass(stress)[AGENT]
    measures = cell_measures(own, config.report.rf)
    measures["train_seconds"] = time.perf_counter() - start
    measures["active_share"] = active_share(own.targets)
    lambdas = matched(data, cell, measures["active_share"]) if cell.value == data.coldest \
        else {}
    rows = []
    for first, seeds in chunk_plan(data.stress):
        true, costs, paths = scenario_results(stress, seeds)
        for offset, (returns, by_label) in enumerate(zip(true, paths, strict=True)):
            for value, lam in lambdas.items():
                if math.isfinite(lam):
                    by_label[f"blend@{value!r}"] = blend(stress, by_label[AGENT], lam,
                                                         returns, costs)
            rows += [{"scenario": first + offset, "strategy": label,
                      **figures(result, config.report.rf)}
                     for label, result in by_label.items()]
    summary = summary_table(pd.DataFrame(rows), data.stress.drawdown_threshold
                            ).set_index("strategy")

    def robust(label: str) -> dict[str, float]:
        row = summary.loc[label].to_dict()
        return {"win_rate_vs_equal_weight": float(row["p_beat_equal_weight"]),
                "sharpe_q05": float(row["sharpe_q05"]), "sharpe_q50": float(row["sharpe_q50"])}

    measures |= robust(AGENT)
    for value, lam in lambdas.items():
        figures_ = dict.fromkeys(BLEND_COLUMNS, float("nan"))
        if math.isfinite(lam):
            held = blend(stress, own, lam, market.returns, config.costs)
            figures_ |= {"lambda": lam, "effective_n": effective_n(held.holdings),
                         **robust(f"blend@{value!r}")}
        measures |= {blend_key(value, k): v for k, v in figures_.items()}
    return CellResult(cell, measures, own.returns.rename(cell.key))


def robust_rows(cells: list[Cell], results: dict[Cell, CellResult], coldest: float
                ) -> list[dict[str, float]]:
    """Each cell's :data:`ROBUST_COLUMNS` and the ``blend_`` columns of its blend (kept by the
    cold cell of its cost and seed; empty for the cold cell itself)."""
    rows = []
    for cell in cells:
        measures = results[cell].measures
        cold = next((c for c in cells if c.value == coldest and c.cost_bps == cell.cost_bps
                     and c.seed == cell.seed), None)
        kept = results[cold].measures if cold is not None else {}
        rows.append({**{k: measures[k] for k in ROBUST_COLUMNS},
                     **{f"blend_{k}": kept.get(blend_key(cell.value, k), float("nan"))
                        for k in BLEND_COLUMNS}})
    return rows


__all__ = ["AGENT", "BLEND_COLUMNS", "ROBUST_COLUMNS", "RobustData", "blend", "blend_key",
           "blend_weights", "matched", "robust_cell", "robust_cells", "robust_rows",
           "scenario_options"]
