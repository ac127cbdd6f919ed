"""`train`: fit SAC agents (one per seed) on a window and save them, resumable after Ctrl-C."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import typer

from maxent_portfolio.cli.app import app, note, out, warn_about
from maxent_portfolio.cli.options import CONFIG_OPTION, tree_options
from maxent_portfolio.config import resolve_config
from maxent_portfolio.errors import ConfigError, Interrupted, Terminated, UserError
from maxent_portfolio.files import check_writable_dir


@app.command(rich_help_panel="Backtesting")
@tree_options("data", "costs", "limits", "env", "sac", "seed", "seeds", presets=False)
def train(
    overrides: dict[str, Any],
    out_file: Path = typer.Option(..., "--out", "-o",
                                  help="Checkpoint file to write (a .pt state dict); with "
                                       "--seeds K, one file per seed: sac.pt -> "
                                       "sac-seed0.pt, sac-seed1.pt, ..."),
    config: Path = CONFIG_OPTION,
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from "
                                                        "its checkpoint file(s); ends where an "
                                                        "uninterrupted run would."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train SAC agents (one, or one per --seeds) on a window and save resumable checkpoints.

    The last 20% of the window (validation_fraction, a file-only key of [sac]) is held out
    for validation. Ctrl-C or SIGTERM saves the checkpoint and exits; run the same command with
    --resume to continue. Load the result in Python with
    maxent_portfolio.agents.Agent.load(FILE).

    Examples:

      maxent-portfolio train --end 2015-12-31 --train-steps 50000 --out sac.pt

      maxent-portfolio train --end 2015-12-31 --seeds 3 --out sac.pt   (sac-seed0.pt ...)

      maxent-portfolio train --end 2015-12-31 --seeds 4 --seed-batch 4 --out sac.pt
      (one batched network; resumable from sac-seeds0-3.pt until all four files are written)
    """
    from maxent_portfolio.runner import load_market
    from maxent_portfolio.strategies.base import StrategyContext, guarded
    from maxent_portfolio.strategies.sac import SACStrategy

    cfg = resolve_config(config, overrides, presets=False)
    runs = seed_paths(out_file, cfg.seed, cfg.seeds)
    for path in runs.values():
        if path.is_dir():
            raise ConfigError(f"{path} is a directory; --out names the checkpoint file, "
                              f"e.g. {path / 'sac.pt'}")
        if path.exists() and not resume:
            raise ConfigError(f"{path} exists; pass --resume to continue it or choose "
                              "another --out")
        if not path.exists():
            check_writable_dir(path, "checkpoint")
    batches = [batch_path(out_file, g) for g in seed_groups(list(runs), cfg.sac.seed_batch)
               if len(g) > 1]
    if resume and not any(path.exists() for path in [*runs.values(), *batches]):
        raise ConfigError(f"nothing to resume: {', '.join(map(str, runs.values()))} "
                          f"{'does' if len(runs) == 1 else 'do'} not exist")
    market = load_market(cfg)
    note(cfg.sac.warm_up_note())
    warn_about(market.warnings)
    cfg.costs.check_assets(market.assets, market.name)
    cfg.limits.resolve(market.assets, market.name)  # refused here if infeasible
    strategies = {s: SACStrategy.from_context(StrategyContext(cfg, market.periods_per_year, s))
                  for s in runs}
    groups = seed_groups(list(runs), cfg.sac.seed_batch)
    for group in groups:
        SACStrategy.join([strategies[s] for s in group])
    span = f"{market.returns.index[0].date()}..{market.returns.index[-1].date()}"
    for run_seed, path in runs.items():
        strategy = strategies[run_seed]
        group = next(g for g in groups if run_seed in g)
        # A batched group trains once, into one resumable file; its seeds' files follow.
        batch_file = None if len(group) == 1 else batch_path(out_file, group)
        train_file = path if batch_file is None else batch_file
        if batch_file is not None and resume and not batch_file.exists() and all(
                runs[s].exists() for s in group):
            out.print(f"seed {run_seed}: already trained", markup=False, highlight=False)
            out.print(str(path), markup=False, highlight=False)
            continue
        try:
            # A diverging run (NaN actions) is one line, as in a backtest.
            agent = guarded(strategy, "training", span, partial(
                strategy.train_window, market.returns, checkpoint_path=train_file,
                resume=resume and train_file.exists(),
                progress=not quiet and run_seed == group[0]), keep=(UserError,))
            if batch_file is not None:
                agent.save(path)
                if run_seed == group[-1]:
                    batch_file.unlink()
        except KeyboardInterrupt as exc:
            path = train_file
            term = isinstance(exc, Terminated)
            if path.exists():
                raise Interrupted(f"checkpoint saved to {path}; continue with --resume",
                                  term) from None
            if run_seed == cfg.seed:
                raise Interrupted("before training started; nothing was saved", term) from None
            raise Interrupted(f"before seed {run_seed} started; the earlier seeds are saved, "
                              "continue with --resume", term) from None
        window = strategy.validation_window_
        last = agent.history[-1] if agent.history else {}
        summary = ", ".join(f"{k} {v:.4g}" for k, v in last.items()
                            if isinstance(v, int | float) and k != "step" and v == v)  # not NaN
        out.print((f"seed {run_seed}: " if len(runs) > 1 else "")
                  + f"trained {agent.step * agent.config.num_envs} steps on {market.name} "
                  f"{market.returns.index[0].date()}..{market.returns.index[-1].date()}"
                  + (f" (validation {window[0].date()}..{window[1].date()})" if window else "")
                  + (f"; {summary}" if summary else ""), markup=False, highlight=False)
        out.print(str(path), markup=False, highlight=False)


def seed_groups(seeds: list[int], size: int) -> list[list[int]]:
    """Consecutive seeds in groups of ``size`` (``--seed-batch``), as a backtest groups them."""
    return [seeds[i:i + size] for i in range(0, len(seeds), size)]


def batch_path(out_file: Path, group: list[int]) -> Path:
    """The resumable checkpoint of a batched seed group: ``<stem>-seeds<a>-<b><suffix>``."""
    return out_file.with_name(f"{out_file.stem}-seeds{group[0]}-{group[-1]}{out_file.suffix}")


def seed_paths(out_file: Path, seed: int, seeds: int) -> dict[int, Path]:
    """Checkpoint path of each seed: ``out_file`` itself for one seed, else
    ``<stem>-seed<s><suffix>`` beside it (the backtest's ``sac-seed<s>`` row names)."""
    if seeds == 1:
        return {seed: out_file}
    return {s: out_file.with_name(f"{out_file.stem}-seed{s}{out_file.suffix}")
            for s in range(seed, seed + seeds)}
