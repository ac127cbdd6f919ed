"""Orchestrate a backtest run: data, strategies, walk-forward, metrics, run directory.

The CLI calls :func:`run` and :func:`write_run`; both are usable from Python too.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from maxent_portfolio.backtest.engine import BacktestResult, run_backtest
from maxent_portfolio.backtest.store import safe_name, save_results
from maxent_portfolio.backtest.walkforward import Fold, WalkForward
from maxent_portfolio.config import RunConfig
from maxent_portfolio.data.market import MarketData
from maxent_portfolio.files import atomic_directory, write_text
from maxent_portfolio.strategies.base import Strategy


class Progress(Protocol):
    """What the runner reports progress to (the CLI's rich display implements it)."""

    def start(self, total: float) -> None: ...
    def advance(self, amount: float, description: str) -> None: ...


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


def make_strategy(name: str, config: RunConfig, seed: int) -> Strategy:
    """Instantiate a registered strategy with the run's options."""
    from maxent_portfolio.strategies.registry import get_strategy

    if name == "sac":
        return get_strategy(
            "sac", train_steps=config.train_steps, seed=seed, alpha=config.alpha,
            diversification=config.diversification, policy=config.policy,
            network=config.network, device=config.device, cost_bps=config.cost_bps)
    if name == "random":
        return get_strategy(name, seed=seed)
    return get_strategy(name)


def walk_forward(config: RunConfig, periods_per_year: int) -> WalkForward:
    """The run's walk-forward splitter, with windows converted from years to periods."""
    return WalkForward(train=round(config.train_years * periods_per_year),
                       test=round(config.test_years * periods_per_year),
                       purge=config.purge_days, expanding=not config.rolling)


def _mean_of_seeds(name: str, runs: list[BacktestResult]) -> BacktestResult:
    """An equal split of capital across the seeds' portfolios (rebalanced each period)."""
    first = runs[0]
    returns = pd.concat([r.returns for r in runs], axis=1).mean(axis=1).rename(name)
    gross = pd.concat([r.gross_returns for r in runs], axis=1).mean(axis=1).rename(name)
    def mean(frames: list[pd.DataFrame]) -> pd.DataFrame:
        return sum(frames, start=frames[0] * 0.0) / len(frames)

    holdings = mean([r.holdings for r in runs])
    extras = {k: pd.concat([r.extras[k] for r in runs], axis=1).mean(axis=1)
              for k in first.extras if all(k in r.extras for r in runs)}
    return BacktestResult(
        name=name, returns=returns, gross_returns=gross, holdings=holdings,
        targets=mean([r.targets for r in runs]), drifted=mean([r.drifted for r in runs]),
        turnover=pd.concat([r.turnover for r in runs], axis=1).mean(axis=1),
        costs=pd.concat([r.costs for r in runs], axis=1).mean(axis=1),
        folds=first.folds, investable=True, periods_per_year=first.periods_per_year,
        extras=extras)


def prepare(config: RunConfig) -> MarketData:
    """Everything that can fail fast on bad input: plug-ins, strategy names, the data."""
    from maxent_portfolio.data import load_universe
    from maxent_portfolio.strategies.plugins import load_plugins
    from maxent_portfolio.strategies.registry import available_strategies, unknown_strategy

    load_plugins(config.plugins)
    known = available_strategies()
    unknown = [name for name in config.strategies if name not in known]
    if unknown:
        raise unknown_strategy(unknown[0], known)
    market = load_universe(config.universe, start=config.start, end=config.end,
                           missing=config.missing)
    walk_forward(config, market.periods_per_year).split(len(market.returns))
    return market


def run(config: RunConfig, market: MarketData | None = None,
        progress: Progress | None = None, checkpoint_dir: Path | None = None) -> RunOutcome:
    """Backtest every strategy in ``config`` on the same out-of-sample dates.

    Learning strategies that can checkpoint (SAC) save their models in ``checkpoint_dir``.
    """
    from maxent_portfolio.measures import metrics_table

    started = datetime.now(UTC)
    if market is None:
        market = prepare(config)
    returns = market.returns
    splitter = walk_forward(config, market.periods_per_year)
    folds = splitter.split(len(returns))
    names = list(dict.fromkeys(config.strategies))
    seeds = [config.seed + i for i in range(config.seeds)]
    jobs: list[tuple[str, str, int]] = []  # (result name, strategy name, seed)
    for name in names:
        if name == "sac" and len(seeds) > 1:
            jobs += [(f"sac-seed{s}", "sac", s) for s in seeds]
        else:
            jobs.append((name, name, config.seed))
    weights = {job: (config.train_steps if job[1] == "sac" else 1) * len(folds) for job in jobs}
    if progress is not None:
        progress.start(sum(weights.values()))

    results: list[BacktestResult] = []
    for job in jobs:
        label, name, seed = job
        strategy = make_strategy(name, config, seed)
        if checkpoint_dir is not None and hasattr(strategy, "checkpoint_dir"):
            strategy.checkpoint_dir = checkpoint_dir / safe_name(label)
        done = 0.0

        def on_fold(i: int, fold: Fold, label: str = label) -> None:
            if progress is not None:
                progress.advance(0, f"{label}: fold {i + 1}/{len(folds)}")

        if progress is not None and hasattr(strategy, "progress_callback"):
            def on_steps(n: int, status: str, label: str = label) -> None:
                nonlocal done
                done += n
                progress.advance(n, f"{label}: {status}")  # type: ignore[union-attr]
            strategy.progress_callback = on_steps  # type: ignore[attr-defined]
        result = run_backtest(
            returns, strategy, splits=folds, rebalance=config.rebalance,
            cost_bps=config.cost_bps, slippage_bps=config.slippage_bps,
            max_weight=config.max_weight, periods_per_year=market.periods_per_year,
            on_fold=on_fold)
        result.name = label
        result.returns = result.returns.rename(label)
        results.append(result)
        if progress is not None:
            progress.advance(weights[job] - done, f"{label}: done")

    sac_runs = [r for r in results if r.name.startswith("sac-seed")]
    if sac_runs:
        results.insert(names.index("sac"), _mean_of_seeds("sac", sac_runs))
    reference = "equal-weight" if "equal-weight" in names else None
    # Every investable row (each SAC seed included) counts as a trial in the deflated Sharpe.
    metrics = metrics_table(results, reference=reference, benchmark=market.benchmark,
                            rf=config.rf)
    seconds = (datetime.now(UTC) - started).total_seconds()
    return RunOutcome(config, market, results, metrics, folds, started.isoformat(), seconds)


def default_run_dir(config: RunConfig, root: Path = Path("reports")) -> Path:
    """``reports/<timestamp>-<universe>/``, never an existing directory."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    universe = Path(config.universe).stem if os.sep in config.universe or "." in \
        config.universe else config.universe
    base = root / f"{stamp}-{universe}"
    candidate, i = base, 1
    while candidate.exists():
        candidate = base.with_name(f"{base.name}-{i}")
        i += 1
    return candidate


def package_versions() -> dict[str, str]:
    names = ("maxent-portfolio", "numpy", "pandas", "torch", "gymnasium", "skfolio",
             "quantstats", "yfinance", "scipy")
    out = {}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def write_run(outcome: RunOutcome, folder: Path,
              render: Callable[[RunOutcome, Path], None] | None = None) -> None:
    """Write a run's files into ``folder`` (normally the temporary side of `atomic_directory`).

    Contents: ``metrics.csv``, ``returns.csv``, ``weights/<strategy>.csv`` (target weights at
    each rebalance), ``config.json``, ``provenance.json``, ``results/`` (everything needed to
    render again) and whatever ``render`` adds (the HTML report).
    """
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
    write_json(folder / "config.json", outcome.config.to_dict())
    write_json(folder / "provenance.json", provenance(outcome))
    save_results(outcome.results, folder / "results")
    if outcome.market.benchmark is not None:
        outcome.market.benchmark.rename("benchmark").to_frame().to_parquet(
            folder / "results" / "benchmark.parquet")
    if render is not None:
        render(outcome, folder)


def backtest_to_directory(config: RunConfig, out: Path | None = None,
                          progress: Progress | None = None,
                          render: Callable[[RunOutcome, Path], None] | None = None,
                          market: MarketData | None = None) -> tuple[RunOutcome, Path]:
    """Run and write atomically: all work happens in a hidden sibling directory that is
    renamed to the run directory only once complete, so an interrupted run leaves nothing."""
    final = out if out is not None else default_run_dir(config)
    with atomic_directory(final) as tmp:
        outcome = run(config, market=market, progress=progress,
                      checkpoint_dir=tmp / "checkpoints")
        write_run(outcome, tmp, render)
    return outcome, final


def provenance(outcome: RunOutcome) -> dict[str, Any]:
    market = outcome.market
    return {
        "started_at": outcome.started_at,
        "seconds": round(outcome.seconds, 2),
        "universe": market.name,
        "source": market.provenance.source,
        "data_hash": market.provenance.content_hash,
        "fetched_at": market.provenance.fetched_at,
        "data_notes": list(market.notes),
        "first_date": str(market.returns.index[0].date()),
        "last_date": str(market.returns.index[-1].date()),
        "seeds": [outcome.config.seed + i for i in range(outcome.config.seeds)],
        "folds": [f.dates(pd.DatetimeIndex(market.returns.index)) for f in outcome.folds],
        "packages": package_versions(),
    }


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, default=str) + "\n")
