"""`train`: fit SAC agents (one per seed) on a window and save them, resumable after Ctrl-C."""

from __future__ import annotations

from pathlib import Path

import typer

from maxent_portfolio.cli import app, out
from maxent_portfolio.errors import ConfigError, Interrupted


@app.command(rich_help_panel="Backtesting")
def train(
    out_file: Path = typer.Option(..., "--out", "-o",
                                  help="Checkpoint file to write (a .pt state dict)."),
    universe: str = typer.Option("sp500-20", "--universe", "-u",
                                 help="Universe name or YAML/CSV path."),
    start: str = typer.Option(None, help="First training date, YYYY-MM-DD."),
    end: str = typer.Option(None, help="Last training date, YYYY-MM-DD (the last 20% of the "
                                       "window is held out for validation)."),
    train_steps: int = typer.Option(20_000, "--train-steps",
                                    help="Environment steps (summed over the batched envs)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same "
                                               "weights on CPU."),
    seeds: int = typer.Option(1, "--seeds",
                              help="Agents to train, with seeds SEED, SEED+1, ...; with more "
                                   "than one, each agent's file is OUT's name plus -seed and "
                                   "its seed (sac.pt -> sac-seed0.pt, sac-seed1.pt, ...)."),
    alpha: float = typer.Option(None, "--alpha", help="Fixed temperature (higher = more "
                                                      "diversified). [default: automatic]"),
    diversification: float = typer.Option(
        0.5, "--diversification",
        help="Diversification dial in (0,1]: the entropy target of a symmetric policy holding "
             "1 + d*(N_peak - 1) effective assets."),
    policy: str = typer.Option("dirichlet", "--policy", help="dirichlet or logistic-normal."),
    network: str = typer.Option("shared", "--network", help="shared (per-asset encoder) or "
                                                            "mlp."),
    cost_bps: float = typer.Option(10.0, "--cost-bps", help="Training env cost, bps."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from "
                                                        "its checkpoint file(s); ends where an "
                                                        "uninterrupted run would."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train SAC agents (one, or one per --seeds) on a window and save resumable checkpoints.

    Ctrl-C or SIGTERM saves the checkpoint and exits; run the same command with --resume to
    continue. Load the result in Python with maxent_portfolio.agents.Agent.load(FILE).

    Examples:

      maxent-portfolio train --end 2015-12-31 --train-steps 50000 --out sac.pt

      maxent-portfolio train --end 2015-12-31 --seeds 3 --out sac.pt   (sac-seed0.pt ...)
    """
    from maxent_portfolio.data import load_universe
    from maxent_portfolio.strategies.sac import SACStrategy

    if seeds < 1:
        raise ConfigError(f"invalid seeds {seeds}: must be at least 1")
    if alpha is not None and not alpha > 0:  # as backtest: 0 would switch the entropy off
        raise ConfigError(f"invalid alpha {alpha}: must be > 0 (omit it for automatic tuning)")
    runs = seed_paths(out_file, seed, seeds)
    for path in runs.values():
        if path.exists() and not resume:
            raise ConfigError(f"{path} exists; pass --resume to continue it or choose "
                              "another --out")
    if resume and not any(path.exists() for path in runs.values()):
        raise ConfigError(f"nothing to resume: {', '.join(map(str, runs.values()))} "
                          f"{'does' if len(runs) == 1 else 'do'} not exist")
    market = load_universe(universe, start=start, end=end)
    for run_seed, path in runs.items():
        strategy = SACStrategy(train_steps=train_steps, seed=run_seed, alpha=alpha,
                               diversification=diversification, policy=policy,
                               network=network, device=device, cost_bps=cost_bps)
        try:
            agent = strategy.train_window(market.returns, checkpoint_path=path,
                                          resume=resume and path.exists(), progress=not quiet)
        except KeyboardInterrupt:
            if path.exists():
                raise Interrupted(f"checkpoint saved to {path}; continue with --resume") \
                    from None
            if run_seed == seed:
                raise Interrupted("before training started; nothing was saved") from None
            raise Interrupted(f"before seed {run_seed} started; the earlier seeds are saved, "
                              "continue with --resume") from None
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


def seed_paths(out_file: Path, seed: int, seeds: int) -> dict[int, Path]:
    """Checkpoint path of each seed: ``out_file`` itself for one seed, else
    ``<stem>-seed<s><suffix>`` beside it (the backtest's ``sac-seed<s>`` row names)."""
    if seeds == 1:
        return {seed: out_file}
    return {s: out_file.with_name(f"{out_file.stem}-seed{s}{out_file.suffix}")
            for s in range(seed, seed + seeds)}
