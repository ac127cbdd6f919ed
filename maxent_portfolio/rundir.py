"""The run directory: what a backtest writes, and its provenance; :func:`backtest_to_directory`
runs a :class:`~maxent_portfolio.runner.Plan` into one atomically.

Contents: ``metrics.csv``, ``returns.csv``, ``weights/<strategy>.csv`` (target weights at each
rebalance), ``learning.csv`` (a learning strategy's training curves: per fold, the training
return, validation growth, temperature, entropy and effective N against steps),
``config.json`` (the resolved option tree), ``provenance.json`` (data hash,
package versions, folds and every derived seed), ``results/`` (everything needed to render
again, the learned strategies' placebo Sharpes included) and whatever the renderer adds (the
HTML report).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from maxent_portfolio.backtest.store import safe_name, save_results
from maxent_portfolio.config import RunConfig, config_record
from maxent_portfolio.files import atomic_directory, write_text
from maxent_portfolio.runner import Plan, Progress, RunOutcome, run
from maxent_portfolio.seeding import seed_table


def default_run_dir(config: RunConfig, root: Path = Path("reports")) -> Path:
    """``reports/<timestamp>-<universe>/``, never an existing directory."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    universe = config.data.universe
    name = Path(universe).stem if "/" in universe or "." in universe else universe
    base = root / f"{stamp}-{name}"
    candidate, i = base, 1
    while candidate.exists():
        candidate = base.with_name(f"{base.name}-{i}")
        i += 1
    return candidate


def package_versions() -> dict[str, str]:
    names = ("maxent-portfolio", "numpy", "pandas", "torch", "gymnasium", "skfolio",
             "quantstats", "yfinance", "scipy", "pydantic")
    out = {}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def provenance(outcome: RunOutcome) -> dict[str, Any]:
    """Where the numbers come from: data, dates, folds, every seed, package versions."""
    market, config = outcome.market, outcome.config
    return {
        "started_at": outcome.started_at,
        "seconds": round(outcome.seconds, 2),
        "universe": market.name,
        "source": market.provenance.source,
        "data_hash": market.provenance.content_hash,
        "fetched_at": market.provenance.fetched_at,
        "data_notes": list(market.notes),
        "benchmark": None if market.benchmark is None else str(market.benchmark.name),
        "first_date": str(market.returns.index[0].date()),
        "last_date": str(market.returns.index[-1].date()),
        "seeds": seed_table(config.seed, config.seeds, len(outcome.folds),
                            config.sac.num_envs),
        "folds": [f.dates(pd.DatetimeIndex(market.returns.index)) for f in outcome.folds],
        "packages": package_versions(),
    }


def run_title(config: dict[str, Any], universe: str) -> str:
    """The report's title from a (stored) ``config.json``."""
    costs = config.get("costs", {})
    schedule = config.get("schedule", {})
    cost = costs.get("cost_bps", 0)
    shown = f"{cost:g} bps" if isinstance(cost, int | float) else "per-asset costs"
    return f"{universe}, net of {shown}, {schedule.get('rebalance', 'monthly')} rebalancing"


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def write_run(outcome: RunOutcome, folder: Path,
              render: Callable[[RunOutcome, Path], None] | None = None,
              sources: Mapping[str, str] | None = None) -> None:
    """Write a run's files into ``folder`` (normally the temporary side of
    :func:`maxent_portfolio.files.atomic_directory`, which makes the whole directory atomic).
    ``sources`` (where each option's value came from) is recorded in ``config.json``."""
    outcome.metrics.to_csv(folder / "metrics.csv", index=False)
    returns = pd.concat([r.returns.rename(r.name) for r in outcome.results], axis=1)
    if outcome.market.benchmark is not None:
        returns["benchmark"] = outcome.market.benchmark.reindex(returns.index)
    returns.index.name = "date"
    returns.to_csv(folder / "returns.csv")
    (folder / "weights").mkdir(exist_ok=True)
    for res in outcome.results:
        targets = res.targets.copy()
        targets.index.name = "date"
        targets.to_csv(folder / "weights" / f"{safe_name(res.name)}.csv")
    learning = [r.learning.assign(strategy=r.name) for r in outcome.results
                if r.learning is not None and len(r.learning)]
    if learning:
        table = pd.concat(learning, ignore_index=True)
        table[["strategy", *[c for c in table.columns if c != "strategy"]]].to_csv(
            folder / "learning.csv", index=False)
    # Options only (no per-fold internals): `backtest --config <run>/config.json` reruns it.
    write_json(folder / "config.json", config_record(outcome.config, sources))
    write_json(folder / "provenance.json", provenance(outcome))
    save_results(outcome.results, folder / "results")
    if outcome.market.benchmark is not None:
        outcome.market.benchmark.rename("benchmark").to_frame().to_parquet(
            folder / "results" / "benchmark.parquet")
    if render is not None:
        render(outcome, folder)


def backtest_to_directory(plan: Plan, out: Path | None = None,
                          progress: Progress | None = None,
                          render: Callable[[RunOutcome, Path], None] | None = None,
                          sources: Mapping[str, str] | None = None
                          ) -> tuple[RunOutcome, Path]:
    """Run and write atomically: all work happens in a hidden sibling directory that is
    renamed to the run directory only once complete, so an interrupted run leaves nothing."""
    final = out if out is not None else default_run_dir(plan.config)
    with atomic_directory(final) as tmp:
        outcome = run(plan, progress=progress, checkpoint_dir=tmp / "checkpoints")
        write_run(outcome, tmp, render, sources)
    return outcome, final


__all__ = ["backtest_to_directory", "default_run_dir", "package_versions", "provenance",
           "run_title", "write_json", "write_run"]
