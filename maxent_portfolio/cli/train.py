"""`train`: fit one SAC agent on a window and save it, resumable after Ctrl-C or SIGTERM."""

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
    alpha: float = typer.Option(None, "--alpha", help="Fixed temperature (higher = more "
                                                      "diversified). [default: automatic]"),
    diversification: float = typer.Option(
        0.5, "--diversification",
        help="Diversification dial in (0,1]: the entropy target of a symmetric policy holding "
             "1 + d*(N_max - 1) effective assets."),
    policy: str = typer.Option("dirichlet", "--policy", help="dirichlet or logistic-normal."),
    network: str = typer.Option("shared", "--network", help="shared (per-asset encoder) or "
                                                            "mlp."),
    cost_bps: float = typer.Option(10.0, "--cost-bps", help="Training env cost, bps."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from "
                                                        "--out; ends where an uninterrupted "
                                                        "run would."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train one SAC agent on a universe's window and save a resumable checkpoint.

    Ctrl-C or SIGTERM saves the checkpoint and exits; run the same command with --resume to
    continue. Load the result in Python with maxent_portfolio.agents.Agent.load(FILE).

    Example: maxent-portfolio train --end 2015-12-31 --train-steps 50000 --out sac.pt
    """
    from maxent_portfolio.data import load_universe
    from maxent_portfolio.strategies.sac import SACStrategy

    if out_file.exists() and not resume:
        raise ConfigError(f"{out_file} exists; pass --resume to continue it or choose "
                          "another --out")
    if resume and not out_file.exists():
        raise ConfigError(f"nothing to resume: {out_file} does not exist")
    market = load_universe(universe, start=start, end=end)
    strategy = SACStrategy(train_steps=train_steps, seed=seed, alpha=alpha,
                           diversification=diversification, policy=policy, network=network,
                           device=device, cost_bps=cost_bps)
    try:
        agent = strategy.train_window(market.returns, checkpoint_path=out_file, resume=resume,
                                      progress=not quiet)
    except KeyboardInterrupt:
        if out_file.exists():
            raise Interrupted(f"checkpoint saved to {out_file}; continue with --resume") \
                from None
        raise Interrupted("before training started; nothing was saved") from None
    window = strategy.validation_window_
    last = agent.history[-1] if agent.history else {}
    summary = ", ".join(f"{k} {v:.4g}" for k, v in last.items()
                        if isinstance(v, int | float) and k != "step" and v == v)  # not NaN
    out.print(f"trained {agent.step * agent.config.num_envs} steps on {market.name} "
              f"{market.returns.index[0].date()}..{market.returns.index[-1].date()}"
              + (f" (validation {window[0].date()}..{window[1].date()})" if window else "")
              + (f"; {summary}" if summary else ""), markup=False, highlight=False)
    out.print(str(out_file), markup=False, highlight=False)
