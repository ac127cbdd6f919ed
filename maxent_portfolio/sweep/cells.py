"""The cells of a sweep and the function that runs them.

A cell is one walk-forward backtest of ``sac`` at one grid point (dial value, cost) and one
seed, on the run's data, engine and folds. :func:`run_cells` runs a list of cells and returns
their result frames; every backend calls it with one group of :func:`cell_groups` per job:
one cell, or (with ``--seed-batch B``) B cells of one cost level that differ only in seed and
dial value, trained together as one batched network.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from maxent_portfolio.backtest.engine import BacktestResult, run_backtest
from maxent_portfolio.backtest.walkforward import Fold
from maxent_portfolio.config import RunConfig
from maxent_portfolio.data.market import MarketData
from maxent_portfolio.measures import annual_turnover, effective_n, max_drawdown, sharpe
from maxent_portfolio.options import validated
from maxent_portfolio.seeding import strategy_seeds
from maxent_portfolio.sweep.config import SweepConfig

CELL_COLUMNS = ("sharpe", "turnover", "effective_n", "policy_entropy", "max_drawdown",
                "train_seconds")
"""Measures a worker computes for each cell (the driver adds the p-value against 1/N)."""


@dataclass(frozen=True)
class Cell:
    """One grid point and seed: ``sac`` with ``sac.<dial> = value`` and costs ``cost_bps``.

    ``cost_bps`` None keeps the run's costs (which may be per asset).
    """

    dial: str
    value: float
    cost_bps: float | None
    seed: int

    @property
    def key(self) -> str:
        """A file-name-safe identity, e.g. ``alpha=0.1_cost=10_seed=0``."""
        cost = "run" if self.cost_bps is None else f"{self.cost_bps!r}"
        return f"{self.dial}={self.value!r}_cost={cost}_seed={self.seed}"

    @property
    def setting(self) -> tuple[float, float | None]:
        """The grid point without the seed: cells of one setting differ only in seed."""
        return self.value, self.cost_bps

    def config(self, base: RunConfig) -> RunConfig:
        """The run's options with this cell's dial value and costs."""
        update = ({"alpha": self.value} if self.dial == "alpha" else
                  {"diversification": self.value, "alpha": None})  # the tuned temperature
        sac = validated(type(base.sac), {**base.sac.model_dump(), **update},
                        f" (sweep --{self.dial})")
        return with_costs(base, self.cost_bps).model_copy(
            update={"sac": sac, "strategies": ["sac"], "seeds": 1})


def with_costs(base: RunConfig, cost_bps: float | None) -> RunConfig:
    """The run's options trading at ``cost_bps`` (None: the run's own costs)."""
    if cost_bps is None:
        return base
    return base.model_copy(update={"costs": base.costs.model_copy(
        update={"cost_bps": cost_bps})})


def grid_cells(base: RunConfig, sweep: SweepConfig) -> list[Cell]:
    """Every cell, in grid order: dial values, then costs, then seeds."""
    costs: list[float | None] = list(sweep.cost_bps) if sweep.cost_bps is not None else [None]
    seeds = strategy_seeds(base.seed, sweep.seeds)
    return [Cell(sweep.dial, v, c, s) for v, c, s in product(sweep.dial_values, costs, seeds)]


@dataclass(frozen=True)
class SweepData:
    """What every cell shares: shipped to the workers once."""

    config: RunConfig
    market: MarketData
    folds: list[Fold]


@dataclass
class CellResult:
    """A cell's result frame: its measures and its net out-of-sample returns."""

    cell: Cell
    measures: dict[str, float]
    returns: pd.Series

    def to_json(self, sweep: str) -> dict[str, Any]:
        """Plain data; floats as JSON numbers round-trip exactly (NaN as null).

        ``sweep`` is the digest of the sweep's identity (:func:`checksum` of what
        ``sweep.json`` holds); a ``checksum`` of the whole content comes last, so that a
        resumed sweep can tell a cell that is its own and untouched.
        """
        def num(x: float) -> float | None:
            return None if not math.isfinite(x) else float(x)

        data = {"sweep": sweep,
                "cell": {"dial": self.cell.dial, "value": self.cell.value,
                         "cost_bps": self.cell.cost_bps, "seed": self.cell.seed},
                "measures": {k: num(v) for k, v in self.measures.items()},
                "dates": [str(d.date()) for d in pd.DatetimeIndex(self.returns.index)],
                "returns": [float(r) for r in self.returns.to_numpy(dtype=float)]}
        return {**data, "checksum": checksum(data)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CellResult:
        cell = Cell(**data["cell"])
        measures = {k: float("nan") if v is None else float(v)
                    for k, v in data["measures"].items()}
        returns = pd.Series(data["returns"], index=pd.DatetimeIndex(data["dates"]),
                            name=cell.key, dtype=float)
        return cls(cell, measures, returns)


def checksum(data: Any) -> str:
    """SHA-256 of ``data`` as canonical JSON (sorted keys): the same for equal plain data."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_checksummed(path: Path, refuse: Callable[[str], Exception]) -> dict[str, Any]:
    """A JSON object written with its :func:`checksum` (under ``"checksum"``); ``refuse(why)``
    is raised when it cannot be read or its content does not match the checksum."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise refuse(f"is corrupt ({exc})") from None
    if not isinstance(data, dict) or data.get("checksum") != checksum(
            {k: v for k, v in data.items() if k != "checksum"}):
        raise refuse("was edited or is damaged: its checksum does not match its content")
    return data


def cell_measures(result: BacktestResult, rf: float) -> dict[str, float]:
    """Sharpe (net), annual turnover, mean effective N of the holdings, mean policy entropy
    and maximum drawdown of one backtest."""
    ppy = result.periods_per_year
    entropy = result.extras.get("policy_entropy")
    return {"sharpe": sharpe(result.returns, ppy, rf),
            "turnover": annual_turnover(result.turnover, len(result.returns), ppy),
            "effective_n": effective_n(result.holdings),
            "policy_entropy": float(np.mean(entropy)) if entropy is not None and len(entropy)
            else float("nan"),
            "max_drawdown": max_drawdown(result.returns)}


def backtest(data: SweepData, config: RunConfig, name: str, seed: int) -> BacktestResult:
    """One walk-forward backtest of strategy ``name`` with ``config`` on the shared data."""
    from maxent_portfolio.strategies.base import StrategyContext
    from maxent_portfolio.strategies.registry import available_strategies

    market = data.market
    strategy = available_strategies()[name].from_context(
        StrategyContext(config, market.periods_per_year, seed))
    result = run_backtest(market.returns, strategy, splits=data.folds,
                          rebalance=config.schedule.rebalance, costs=config.costs,
                          limits=config.limits.resolve(market.assets, market.name),
                          periods_per_year=market.periods_per_year)
    result.name = name
    return result


def cell_groups(cells: list[Cell], size: int) -> list[list[Cell]]:
    """The sweep's jobs: ``size`` consecutive cells of one cost level at a time (``sac``'s
    ``seed_batch``), in grid order. Cells of one cost differ only in seed and dial value,
    which a batched network holds per agent. The groups follow from the grid and ``size``
    alone, never from the backend, ``jobs`` or what a resumed sweep has left to do."""
    groups: list[list[Cell]] = []
    for cost in dict.fromkeys(cell.cost_bps for cell in cells):
        same = [cell for cell in cells if cell.cost_bps == cost]
        groups += [same[i:i + size] for i in range(0, len(same), size)]
    return groups


def run_cells(data: SweepData, cells: list[Cell]) -> list[CellResult]:
    """Run a group of cells here: one cell alone, or several cells of one cost level trained
    together fold by fold as one batched network (:class:`~maxent_portfolio.strategies.
    seed_batch.SeedBatch`), then backtested one after the other. Each cell is seeded on its own, so
    where the group runs changes nothing. ``train_seconds`` is the cell's wall time, or its
    equal share of a batched group's."""
    if len(cells) == 1:
        cell = cells[0]
        start = time.perf_counter()
        result = backtest(data, cell.config(data.config), "sac", cell.seed)
        seconds = time.perf_counter() - start
        return [_cell_result(cell, result, data.config.report.rf, seconds)]
    from maxent_portfolio.strategies.base import StrategyContext
    from maxent_portfolio.strategies.sac import SACStrategy

    market = data.market
    start = time.perf_counter()
    members = [SACStrategy.from_context(StrategyContext(cell.config(data.config),
                                                        market.periods_per_year, cell.seed))
               for cell in cells]
    SACStrategy.join(members)
    results = []
    for cell, strategy in zip(cells, members, strict=True):
        config = cell.config(data.config)
        results.append(run_backtest(market.returns, strategy, splits=data.folds,
                                    rebalance=config.schedule.rebalance, costs=config.costs,
                                    limits=config.limits.resolve(market.assets, market.name),
                                    periods_per_year=market.periods_per_year))
    share = (time.perf_counter() - start) / len(cells)
    return [_cell_result(cell, result, data.config.report.rf, share)
            for cell, result in zip(cells, results, strict=True)]


def _cell_result(cell: Cell, result: BacktestResult, rf: float, seconds: float) -> CellResult:
    measures = cell_measures(result, rf)
    measures["train_seconds"] = seconds
    return CellResult(cell, measures, result.returns.rename(cell.key))


__all__ = [
    "CELL_COLUMNS",
    "Cell",
    "CellResult",
    "SweepData",
    "backtest",
    "cell_groups",
    "cell_measures",
    "checksum",
    "grid_cells",
    "read_checksummed",
    "run_cells",
    "with_costs",
]
