"""Stress a finished run into ``RUN_DIR/stress/``: prepare, evaluate the missing chunks, write.

:func:`prepare_stress` reads the run back (its options, data, folds and checkpoints), checks
everything a user can get wrong, and restores every strategy on the run's own data: they must
reproduce its stored returns before any scenario is drawn. :func:`run_stress` then evaluates
the chunks of scenarios not yet stored, on the ``--jobs`` workers of the sweep's backends.

The directory holds ``stress.json`` (what defines the scenarios: the options, the run's data
and strategies) and ``chunks/<first>-<last>.json``, one per chunk of scenarios, each written
atomically the moment it reaches the driver; the same command resumes after Ctrl-C, and
refuses a directory holding other scenarios. Once every chunk is in, ``scenarios.csv``,
``summary.csv`` and ``wealth.csv`` are written, each atomically.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from maxent_portfolio.backtest.engine import BacktestResult
from maxent_portfolio.backtest.walkforward import Fold
from maxent_portfolio.config import SOURCES_KEY, RunConfig
from maxent_portfolio.errors import ConfigError, DataError
from maxent_portfolio.files import check_can_write, write_text
from maxent_portfolio.options import describe_error
from maxent_portfolio.runner import Progress
from maxent_portfolio.scenarios import block_length, named_episode, worst_drawdown_window
from maxent_portfolio.stress.config import StressConfig
from maxent_portfolio.stress.evaluate import (
    FIGURES,
    ChunkResult,
    Member,
    StressData,
    check_reproduced,
    chunk_plan,
    member_checkpoints,
    reference_pass,
    run_chunks,
    wealth_positions,
)
from maxent_portfolio.sweep.backends import run_backend
from maxent_portfolio.sweep.cells import checksum, read_checksummed

REFERENCE = "equal-weight"
"""The strategy every other one is paired against on each scenario (1/N)."""

TIE = 1e-9
"""Sharpe ratios closer than this are a tie, not a win, in the paired win rate."""

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
"""The quantiles of each figure in ``summary.csv`` and of wealth in ``wealth.csv``."""


@dataclass
class StressPlan:
    """A checked stress test: the data every chunk needs, its chunks and the run's results."""

    run_dir: Path
    data: StressData
    chunks: list[tuple[int, list[int]]]
    stored: list[BacktestResult]


@dataclass
class StressOutcome:
    """What a stress test computed: ``scenarios.csv``, ``summary.csv``, ``wealth.csv``."""

    scenarios: pd.DataFrame
    summary: pd.DataFrame
    wealth: pd.DataFrame
    computed: int
    """Chunks computed by this call (the others were resumed)."""


def _checkpoints(run_dir: Path, label: str, n_folds: int) -> Path:
    """The folder of ``label``'s per-fold checkpoints, every fold's file present."""
    folder = member_checkpoints(run_dir, label)
    for fold in range(n_folds):
        path = folder / f"fold-{fold}.pt"
        if not path.is_file():
            raise DataError(f"{run_dir} has no checkpoint of {label} for fold {fold + 1} "
                            f"({path}): stress re-evaluates a learned strategy as it was "
                            "trained, never trains it again")
    return folder


def _episodes(stress: StressConfig, returns: pd.DataFrame, folds: list[Fold],
              periods_per_year: int) -> list[pd.DataFrame | None]:
    """Each fold's crash episode: ``--crash-window``, or the worst drawdown window of
    ``--crash-years`` before the fold's test start; refused unless it fits every test window."""
    if "crash" not in stress.kinds:
        return [None] * len(folds)
    window = stress.window()
    if window is not None:
        try:
            episode = named_episode(returns, *window)
        except ConfigError as exc:
            raise ConfigError(f"--crash-window {stress.crash_window}: "
                              f"{str(exc).removeprefix('crash: ')}") from None
        episodes: list[pd.DataFrame | None] = [episode] * len(folds)
        flag = f"--crash-window {stress.crash_window}"
    else:
        length = max(1, round(stress.crash_years * periods_per_year))
        flag = f"--crash-years {stress.crash_years:g}"
        if length > folds[0].test_start:
            raise ConfigError(f"{flag}: an episode of {length} periods is longer than the "
                              f"{folds[0].test_start} periods of data before the first test "
                              "window")
        episodes = [worst_drawdown_window(returns.iloc[:f.test_start], length) for f in folds]
    for i, (fold, chosen) in enumerate(zip(folds, episodes, strict=True)):
        rows = fold.test_end - fold.test_start
        if chosen is not None and len(chosen) > rows:
            raise ConfigError(f"{flag}: the episode of {len(chosen)} periods does not fit "
                              f"fold {i + 1}'s test window of {rows} periods")
    return episodes


def run_config(tree: dict[str, Any], path: Path) -> RunConfig:
    """The run's options from its ``config.json`` (the resolved tree, as the run used it: a
    relative universe path stays relative to the working directory, as it was given)."""
    try:
        return RunConfig.model_validate({k: v for k, v in tree.items() if k != SOURCES_KEY})
    except ValidationError as exc:
        raise describe_error(exc, f" in {path}") from None


def stress_data(config: RunConfig, returns: pd.DataFrame, folds: list[Fold],
                periods_per_year: int, stress: StressConfig, members: list[Member],
                means: dict[str, list[str]], source: dict[str, Any]) -> StressData:
    """The :class:`StressData` of a run's data and folds: each fold's bootstrap block length
    and crash episode, and the digest of what defines the scenarios (the options, the
    strategies and ``source``, the run's data and folds)."""
    blocks = [block_length(returns.iloc[f.test_start:f.test_end])
              if "bootstrap" in stress.kinds else float("nan") for f in folds]
    episodes = _episodes(stress, returns, folds, periods_per_year)
    identity = {"stress": stress.identity(), "strategies": [m.label for m in members],
                **source}
    return StressData(config, returns, folds, stress, members, means, blocks, episodes,
                      periods_per_year, checksum(json.loads(json.dumps(identity))))


def prepare_stress(run_dir: Path, stress: StressConfig) -> StressPlan:
    """Everything that can fail fast: the run directory, its data and checkpoints, the
    scenario options against the data; then every strategy restored on the run's own data,
    which must reproduce its stored returns."""
    from maxent_portfolio.reporting.render import read_run
    from maxent_portfolio.runner import prepare
    from maxent_portfolio.strategies.registry import strategy_class

    stored = read_run(run_dir)
    config = run_config(stored.config, run_dir / "config.json")
    plan = prepare(config)
    market = plan.market
    recorded = stored.provenance.get("data_hash")
    if recorded != market.provenance.content_hash:
        raise DataError(f"{run_dir}: the data of {market.name} differ from the run's (hash "
                        f"{str(recorded)[:12]} then, {market.provenance.content_hash[:12]} now)")
    index = pd.DatetimeIndex(market.returns.index)
    if [f.dates(index) for f in plan.folds] != stored.provenance.get("folds"):
        raise DataError(f"{run_dir}: the run's folds (provenance.json) differ from the folds "
                        "its options give on its data")
    members = [Member(job.label, job.strategy, job.seed,
                      _checkpoints(run_dir, job.label, len(plan.folds))
                      if job.strategy.checkpointed else None) for job in plan.jobs]
    if REFERENCE not in {m.label for m in members}:
        members.append(Member(REFERENCE, strategy_class(REFERENCE), config.seed, None))
    means = {name: [j.label for j in plan.jobs if j.strategy.name == name]
             for name in plan.seeded}
    data = stress_data(config, market.returns, plan.folds, market.periods_per_year, stress,
                       members, means, {"data": market.provenance.content_hash,
                                        "folds": stored.provenance["folds"]})
    check_reproduced(reference_pass(data), stored.results)
    return StressPlan(run_dir, data, chunk_plan(stress), stored.results)


class StressStore:
    """The resumable ``stress/`` directory of a run: ``stress.json`` and ``chunks/``."""

    def __init__(self, folder: Path, data: StressData) -> None:
        self.folder = folder
        self.chunks = folder / "chunks"
        self.identity = {"digest": data.digest, "options": data.stress.identity(),
                         "strategies": data.labels}
        self.created = False

    def open(self) -> None:
        """Create the directory, or check that it holds these very scenarios."""
        marker = self.folder / "stress.json"
        if self.folder.exists():
            try:
                stored = json.loads(marker.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"{self.folder} holds no readable stress.json ({exc}); "
                                  "delete it to stress the run again") from None
            if not isinstance(stored, dict) or stored.get("digest") != self.identity["digest"]:
                raise ConfigError(f"{self.folder} holds a stress test of other scenarios or "
                                  "another run; rerun with its options to resume it, or "
                                  "delete it")
            check_can_write(self.folder, "stress directory")
        else:
            check_can_write(self.folder.parent, "stress directory")
            self.folder.mkdir()
            self.created = True
            write_text(marker, json.dumps(self.identity, indent=2) + "\n")
        self.chunks.mkdir(exist_ok=True)

    def discard(self) -> None:
        """Remove what :meth:`open` created while no chunk is stored."""
        if not self.created or any(self.chunks.iterdir()):
            return
        self.chunks.rmdir()
        (self.folder / "stress.json").unlink()
        self.folder.rmdir()

    def load(self, chunks: list[tuple[int, list[int]]]) -> dict[int, ChunkResult]:
        """The chunks already stored, each checked: its checksum, digest and seeds."""
        out = {}
        for first, seeds in chunks:
            key = f"{first:06d}-{first + len(seeds) - 1:06d}"
            path = self.chunks / f"{key}.json"
            if path.is_file():
                out[first] = self.read(path, first, seeds)
        return out

    def read(self, path: Path, first: int, seeds: list[int]) -> ChunkResult:
        def refuse(why: str) -> ConfigError:
            return ConfigError(f"stress chunk {path} {why}; delete it to recompute it")

        data = read_checksummed(path, refuse)
        if data.get("digest") != self.identity["digest"] or data.get("seeds") != seeds \
                or data.get("first") != first:
            raise refuse("belongs to other scenarios than stress.json's")
        return ChunkResult(first, seeds, data["rows"], np.array(data["wealth"], dtype=float))

    def save(self, result: ChunkResult) -> None:
        body = {"digest": self.identity["digest"], "first": result.first,
                "seeds": result.seeds, "rows": result.rows,
                "wealth": result.wealth.tolist()}
        write_text(self.chunks / f"{result.key}.json",
                   json.dumps({**body, "checksum": checksum(json.loads(json.dumps(body)))})
                   + "\n")


def summary_table(scenarios: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """``summary.csv``: per strategy, the :data:`QUANTILES` of each figure, the probability
    of beating 1/N's Sharpe on the same scenario, and of a drawdown deeper than
    ``threshold``."""
    rows = []
    reference = scenarios[scenarios["strategy"] == REFERENCE].set_index("scenario")["sharpe"]
    for name, group in scenarios.groupby("strategy", sort=False):
        row: dict[str, Any] = {"strategy": name, "scenarios": len(group)}
        for figure in FIGURES:
            values = group[figure].to_numpy(dtype=float)
            for q in QUANTILES:
                row[f"{figure}_q{round(q * 100):02d}"] = float(np.quantile(values, q))
        paired = group.set_index("scenario")["sharpe"]
        # A tie (to rounding: min-variance on assets alike holds 1/N) is no win.
        row["p_beat_equal_weight"] = float("nan") if name == REFERENCE else \
            float((paired > reference.reindex(paired.index) + TIE).mean())
        row["p_drawdown_beyond"] = float((group["max_drawdown"] < -threshold).mean())
        row["drawdown_threshold"] = threshold
        rows.append(row)
    return pd.DataFrame(rows)


def wealth_table(data: StressData, chunks: list[ChunkResult]) -> pd.DataFrame:
    """``wealth.csv``: per strategy and kept date, the :data:`QUANTILES` of wealth across
    scenarios (the fan chart)."""
    stacked = np.concatenate([c.wealth for c in chunks])  # (scenarios, labels, points)
    dates = data.oos_index[wealth_positions(len(data.oos_index))]
    frames = []
    for i, label in enumerate(data.labels):
        bands = np.quantile(stacked[:, i, :], QUANTILES, axis=0)
        frame = pd.DataFrame(bands.T, columns=[f"q{round(q * 100):02d}" for q in QUANTILES])
        frame.insert(0, "date", [str(d.date()) for d in dates])
        frame.insert(0, "strategy", label)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def run_stress(plan: StressPlan, progress: Progress | None = None,
               started: Callable[[], None] | None = None) -> StressOutcome:
    """Evaluate the chunks not yet in ``RUN_DIR/stress``, store each as it finishes, then
    write the outputs."""
    data = plan.data
    store = StressStore(plan.run_dir / "stress", data)
    store.open()
    done = store.load(plan.chunks)
    if started is not None:
        started()
    todo = [[chunk] for chunk in plan.chunks if chunk[0] not in done]
    if progress is not None:
        progress.start(data.stress.scenarios)
        if done:
            progress.advance(sum(len(c.seeds) for c in done.values()), "resumed")
    computed = []

    def finished(result: ChunkResult) -> None:
        store.save(result)
        done[result.first] = result
        computed.append(result.first)
        if progress is not None:
            progress.advance(len(result.seeds), f"scenarios to {result.first + len(result.seeds)}")

    stress = data.stress
    try:
        run_backend(stress.backend, data, todo, stress.jobs, stress.address, finished,
                    run_chunks)
    except BaseException:
        store.discard()
        raise
    chunks = [done[first] for first, _ in plan.chunks]
    scenarios = pd.DataFrame([row for c in chunks for row in c.rows])
    outcome = StressOutcome(scenarios, summary_table(scenarios, stress.drawdown_threshold),
                            wealth_table(data, chunks), len(computed))
    folder = store.folder
    write_text(folder / "scenarios.csv", outcome.scenarios.to_csv(index=False))
    write_text(folder / "summary.csv", outcome.summary.to_csv(index=False))
    write_text(folder / "wealth.csv", outcome.wealth.to_csv(index=False))
    return outcome


__all__ = ["QUANTILES", "REFERENCE", "StressOutcome", "StressPlan", "StressStore",
           "prepare_stress", "run_config", "run_stress", "stress_data", "summary_table",
           "wealth_table"]
