"""Run a sweep into a resumable directory: prepare, run the missing cells, write the outputs.

The directory (``--out``) holds ``sweep.json`` (what defines the sweep: the grid, the run's
options and the data's hash) and ``cells/<cell>.json``, one file per finished cell, each
written atomically the moment its result reaches the driver. Ctrl-C therefore leaves only
complete cells, and the same command with the same ``--out`` resumes: finished cells are
read back, not recomputed. A different sweep in an existing directory is refused. Once every
cell is in, ``sweep.csv``, ``returns.csv``, ``settings.csv``, ``summary.json`` and
``frontier.html`` are written (each atomically).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from maxent_portfolio.config import RunConfig
from maxent_portfolio.data.market import MarketData
from maxent_portfolio.errors import ConfigError
from maxent_portfolio.files import check_can_write, write_text
from maxent_portfolio.measures import annual_turnover, effective_n, sharpe, summarize_returns
from maxent_portfolio.rebalance import Schedule
from maxent_portfolio.runner import Progress
from maxent_portfolio.sweep.backends import run_backend
from maxent_portfolio.sweep.cells import (
    CELL_COLUMNS,
    Cell,
    CellResult,
    SweepData,
    backtest,
    cell_groups,
    checksum,
    grid_cells,
    read_checksummed,
    with_costs,
)
from maxent_portfolio.sweep.config import SweepConfig
from maxent_portfolio.sweep.robustness import (
    ROBUST_COLUMNS,
    RobustData,
    robust_cells,
    robust_rows,
    scenario_options,
)
from maxent_portfolio.sweep.statistics import frontier_statistics, seed_spread

REFERENCES = ("equal-weight", "min-variance")
"""Strategies computed once per cost level as the frontier's reference points."""


@dataclass
class SweepPlan:
    """A checked sweep: its grid, shared data and cells."""

    sweep: SweepConfig
    data: SweepData
    cells: list[Cell]


@dataclass
class SweepOutcome:
    """What a sweep computed: the cells' table, returns, references and statistics."""

    plan: SweepPlan
    table: pd.DataFrame
    returns: pd.DataFrame
    references: pd.DataFrame
    settings: pd.DataFrame
    statistics: dict[str, Any]
    computed: list[str]
    """Keys of the cells computed by this call (the others were resumed)."""


def prepare_sweep(config: RunConfig, sweep: SweepConfig,
                  market: MarketData | None = None) -> SweepPlan:
    """Everything that can fail fast: plug-ins, the data, the folds, the grid."""
    from maxent_portfolio.runner import prepare

    base = config.model_copy(update={"strategies": ["sac", *REFERENCES], "seeds": 1,
                                     "jobs": 1})
    plan = prepare(base, market)
    if sweep.cost_bps is not None and not isinstance(config.costs.cost_bps, float):
        raise ConfigError("--cost-bps sweeps one cost for every asset; the config file's "
                          "per-asset [costs.cost_bps] table cannot be combined with it")
    if sweep.scenarios and config.sac.seed_batch > 1:
        raise ConfigError("--scenarios keeps each cell's agents fold by fold, one cell at a "
                          "time: use --seed-batch 1")
    if sweep.scenarios and Schedule.parse(config.schedule.rebalance).kind == "drift":
        raise ConfigError("--scenarios blends the coldest agent with 1/N at calendar "
                          f"rebalance dates; --rebalance {config.schedule.rebalance} is not "
                          "one (use e.g. monthly)")
    data = SweepData(base.model_copy(update={"strategies": ["sac"]}), plan.market, plan.folds)
    cells = grid_cells(data.config, sweep)
    for value in sweep.dial_values:  # a dial value the agent's options refuse, before any work
        Cell(sweep.dial, value, None, 0).config(data.config)
    return SweepPlan(sweep, data, cells)


def identity(plan: SweepPlan) -> dict[str, Any]:
    """What defines a sweep's cells (not where they run): stored in ``sweep.json``."""
    market = plan.data.market
    run = plan.data.config.to_dict()
    run["report"].pop("html", None)  # how it is shown does not change a cell
    return {"grid": plan.sweep.grid(), "run": run,
            "data": {"universe": market.name, "hash": market.provenance.content_hash,
                     "first": str(market.returns.index[0].date()),
                     "last": str(market.returns.index[-1].date())}}


def _first_difference(old: Any, new: Any, path: str = "") -> str | None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in dict.fromkeys([*old, *new]):
            found = _first_difference(old.get(key), new.get(key), f"{path}.{key}" if path
                                      else str(key))
            if found:
                return found
        return None
    return None if old == new else f"{path} is {old!r} there, {new!r} here"


class SweepStore:
    """The resumable directory of one sweep: ``sweep.json`` and ``cells/``."""

    def __init__(self, folder: Path, plan: SweepPlan) -> None:
        self.folder = folder
        self.cells = folder / "cells"
        self.identity = identity(plan)
        self.scenarios = plan.sweep.scenarios
        # JSON turns tuples into lists: the digest of what sweep.json holds, read back.
        self.digest = checksum(json.loads(json.dumps(self.identity)))
        # The out-of-sample dates every cell's returns cover: the folds' test windows.
        index, folds = plan.data.market.returns.index, plan.data.folds
        self.dates = pd.DatetimeIndex(np.concatenate(
            [index[f.test_start:f.test_end].to_numpy() for f in folds]))
        self.created: Path | None = None
        """The outermost directory :meth:`open` created, if it created one."""

    def open(self) -> None:
        """Create the directory, or check that an existing one holds this very sweep and can
        take the cells still missing (before any is computed)."""
        marker = self.folder / "sweep.json"
        if not self.folder.exists():
            self.created = next(p for p in [*reversed(self.folder.parents), self.folder]
                                if not p.exists())
        if self.folder.exists():
            if not marker.is_file():
                raise ConfigError(f"{self.folder} exists and is not a sweep directory; choose "
                                  "another --out")
            try:
                stored = json.loads(marker.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cannot read {marker}: {exc}") from None
            if not isinstance(stored, dict):
                raise ConfigError(f"{marker} holds a JSON {type(stored).__name__}, not a "
                                  "sweep's description; choose another --out")
            # JSON turns tuples into lists: compare like with like.
            difference = _first_difference(stored, json.loads(json.dumps(self.identity)))
            if difference:
                raise ConfigError(f"{self.folder} holds a different sweep ({difference}); "
                                  "rerun with the same options, or choose another --out")
            if self.cells.exists() and not self.cells.is_dir():
                raise ConfigError(f"{self.cells} is not a directory: a sweep keeps its "
                                  "finished cells there; move it away to resume")
            check_can_write(self.cells if self.cells.is_dir() else self.folder,
                            "sweep directory")
        else:
            self.folder.mkdir(parents=True)
            write_text(marker, json.dumps(self.identity, indent=2) + "\n")
        self.cells.mkdir(exist_ok=True)

    def discard(self) -> None:
        """Remove what :meth:`open` created while no cell is stored: a sweep that fails before
        its first cell leaves nothing behind (``sweep.json`` alone resumes nothing)."""
        if self.created is None or any(self.cells.iterdir()):
            return
        self.cells.rmdir()
        (self.folder / "sweep.json").unlink()
        for folder in [self.folder, *self.folder.parents]:
            folder.rmdir()
            if folder == self.created:
                break

    def load(self, cells: list[Cell]) -> dict[Cell, CellResult]:
        """The cells already finished, each checked (:meth:`read`)."""
        return {cell: self.read(path, cell) for cell in cells
                if (path := self.cells / f"{cell.key}.json").is_file()}

    def read(self, path: Path, cell: Cell) -> CellResult:
        """Cell ``cell`` from ``path``, refused in one line naming the file unless it is this
        sweep's cell, as written: its checksum, the sweep's digest (grid, run options,
        data hash), its grid point and seed, every measure and the out-of-sample dates."""
        def refuse(why: str) -> ConfigError:
            return ConfigError(f"sweep cell {path} {why}; delete it to recompute that cell")

        data = read_checksummed(path, refuse)
        if data.get("sweep") != self.digest:
            raise refuse("belongs to another sweep: it was computed with other run options, "
                         "grid or data than sweep.json's")
        try:
            result = CellResult.from_json(data)
        except (ValueError, KeyError, TypeError) as exc:
            raise refuse(f"is corrupt ({type(exc).__name__}: {exc})") from None
        if result.cell != cell:
            raise refuse(f"holds the cell {result.cell.key}")
        required = [*CELL_COLUMNS, *(ROBUST_COLUMNS if self.scenarios else ())]
        missing = [k for k in required if k not in result.measures]
        if missing:
            raise refuse(f"lacks the measure {missing[0]}")
        if not result.returns.index.equals(self.dates):
            raise refuse("covers other dates than the sweep's out-of-sample period")
        missing_returns = ~np.isfinite(result.returns.to_numpy(dtype=float))
        if missing_returns.any():
            row = int(np.argmax(missing_returns))
            raise refuse(f"holds a return that is not finite on "
                         f"{pd.Timestamp(result.returns.index[row]):%Y-%m-%d}")
        return result

    def save(self, result: CellResult) -> None:
        write_text(self.cells / f"{result.cell.key}.json",
                   json.dumps(result.to_json(self.digest)) + "\n")


def reference_points(plan: SweepPlan) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Equal-weight and min-variance at each cost of the grid, and the benchmark, once.

    Returns the reference table (``name``, ``cost_bps``, ``column``, ``sharpe``,
    ``effective_n``, ``turnover``) and their returns (one column each).
    """
    data, config = plan.data, plan.data.config
    ppy, rf = data.market.periods_per_year, config.report.rf
    costs = plan.sweep.cost_bps if plan.sweep.cost_bps is not None else [None]
    rows, columns = [], {}
    for cost in costs:
        for name in REFERENCES:
            result = backtest(data, with_costs(config, cost), name, config.seed)
            column = f"{name}@{cost_value(config, cost)}"
            columns[column] = result.returns
            rows.append({"name": name, "cost_bps": cost_value(config, cost), "column": column,
                         "sharpe": sharpe(result.returns, ppy, rf),
                         "effective_n": effective_n(result.holdings),
                         "turnover": annual_turnover(result.turnover, len(result.returns),
                                                     ppy)})
    bench = data.market.benchmark
    if bench is not None:
        dates = next(iter(columns.values())).index
        series = bench[bench.index.isin(dates)].dropna()
        columns["benchmark"] = series
        rows.append({"name": "benchmark", "cost_bps": float("nan"), "column": "benchmark",
                     "sharpe": sharpe(series, ppy, rf), "effective_n": float("nan"),
                     "turnover": float("nan")})
    return pd.DataFrame(rows), pd.DataFrame(columns)


def cost_value(config: RunConfig, cost: float | None) -> float:
    """The cost a cell trades at, in bps (NaN for the run's per-asset costs)."""
    if cost is not None:
        return float(cost)
    run = config.costs.cost_bps
    return float(run) if isinstance(run, float) else float("nan")


def cells_table(plan: SweepPlan, results: dict[Cell, CellResult],
                references: pd.DataFrame, reference_returns: pd.DataFrame) -> pd.DataFrame:
    """``sweep.csv``: one row per cell in grid order, with the p-value against 1/N."""
    config, dial = plan.data.config, plan.sweep.dial
    ppy, rf = plan.data.market.periods_per_year, config.report.rf
    rows = []
    for cell in plan.cells:
        result = results[cell]
        cost = cost_value(config, cell.cost_bps)
        equal = references[(references["name"] == "equal-weight")
                           & ((references["cost_bps"] == cost)
                              | (references["cost_bps"].isna() & np.isnan(cost)))]
        ew = reference_returns[equal["column"].iloc[0]]
        p_value = summarize_returns(result.returns, ppy, rf, reference=ew)["p_sharpe_vs_ref"]
        measures = result.measures
        rows.append({dial: cell.value, "cost_bps": cost, "seed": cell.seed,
                     **{k: measures[k] for k in CELL_COLUMNS if k != "train_seconds"},
                     "p_vs_equal_weight": p_value,
                     "train_seconds": measures["train_seconds"], "cell": cell.key})
    table = pd.DataFrame(rows)
    if plan.sweep.scenarios:  # before the cell's key, which stays last
        robust = pd.DataFrame(robust_rows(plan.cells, results, min(plan.sweep.dial_values)))
        table = pd.concat([table.drop(columns="cell"), robust, table[["cell"]]], axis=1)
    return table


def run_sweep(plan: SweepPlan, out: Path, progress: Progress | None = None,
              on_cell: Callable[[CellResult], None] | None = None,
              render: Callable[[SweepOutcome, Path], None] | None = None,
              started: Callable[[], None] | None = None) -> SweepOutcome:
    """Run the cells not yet in ``out``, store each as it finishes, then write the outputs.

    ``on_cell`` is called with each newly computed cell once it is stored; ``started`` once
    ``out`` has been opened and its finished cells checked (a refused directory never reaches
    it: the command's notes then stay unsaid, and its error is its one line).
    """
    store = SweepStore(out, plan)
    store.open()
    results = store.load(plan.cells)
    if started is not None:
        started()
    # A group with an unfinished cell runs whole (its members' numbers depend on the group),
    # and only its unfinished cells are stored.
    todo = [group for group in cell_groups(plan.cells, plan.data.config.sac.seed_batch)
            if any(cell not in results for cell in group)]
    if progress is not None:
        progress.start(len(plan.cells))
        if results:
            progress.advance(len(results), f"{len(results)} cells resumed")
    computed: list[str] = []

    def done(result: CellResult) -> None:
        if result.cell in results:  # finished before this run, recomputed with its group
            return
        store.save(result)
        results[result.cell] = result
        computed.append(result.cell.key)
        if progress is not None:
            progress.advance(1, f"done {result.cell.key}")
        if on_cell is not None:
            on_cell(result)

    sweep = plan.sweep
    try:
        if sweep.scenarios:
            run_robust(plan, todo, results, done)
        else:
            run_backend(sweep.backend, plan.data, todo, sweep.jobs, sweep.address, done)
    except BaseException:
        store.discard()
        raise
    references, reference_returns = reference_points(plan)
    table = cells_table(plan, results, references, reference_returns)
    returns = pd.concat([results[c].returns.rename(c.key) for c in plan.cells], axis=1)
    statistics = frontier_statistics(
        table, pd.concat([returns, reference_returns], axis=1), sweep.dial, references,
        plan.data.market.periods_per_year, plan.data.config.report.rf, sweep.pbo_partitions)
    outcome = SweepOutcome(plan, table, returns, references, seed_spread(table, sweep.dial),
                           statistics, computed)
    write_outputs(outcome, out, render)
    return outcome


def run_robust(plan: SweepPlan, todo: list[list[Cell]], results: dict[Cell, CellResult],
               done: Callable[[CellResult], None]) -> None:
    """The cells with their scenarios (:mod:`~maxent_portfolio.sweep.robustness`): the hotter
    ones first, then the coldest, which match their blends to the others' active shares."""
    sweep = plan.sweep
    coldest = min(sweep.dial_values)
    data = RobustData(plan.data, scenario_options(sweep), coldest)
    cold = [group for group in todo if any(cell.value == coldest for cell in group)]
    hot = [group for group in todo if group not in cold]
    run_backend(sweep.backend, data, hot, sweep.jobs, sweep.address, done, robust_cells)
    shares = {cell: result.measures["active_share"] for cell, result in results.items()}
    run_backend(sweep.backend, replace(data, shares=shares), cold, sweep.jobs, sweep.address,
                done, robust_cells)


def write_outputs(outcome: SweepOutcome, out: Path,
                  render: Callable[[SweepOutcome, Path], None] | None) -> None:
    """``sweep.csv``, ``settings.csv``, ``references.csv``, ``returns.csv``,
    ``summary.json`` and, with ``render``, ``frontier.html``; each file atomic."""
    def csv(name: str, frame: pd.DataFrame, index: bool = False) -> None:
        write_text(out / name, frame.to_csv(index=index))

    csv("sweep.csv", outcome.table.drop(columns="cell"))
    csv("settings.csv", outcome.settings)
    csv("references.csv", outcome.references.drop(columns="column"))
    returns = outcome.returns.copy()
    returns.index.name = "date"
    csv("returns.csv", returns, index=True)
    summary = {**outcome.statistics, "written_at": datetime.now(UTC).isoformat()}
    write_text(out / "summary.json", json.dumps(_plain(summary), indent=2) + "\n")
    if render is not None:
        render(outcome, out)


def _plain(value: Any) -> Any:
    """Strict JSON: NaN as null, numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


__all__ = ["REFERENCES", "SweepOutcome", "SweepPlan", "SweepStore", "cells_table",
           "identity", "prepare_sweep", "reference_points", "run_sweep", "write_outputs"]
