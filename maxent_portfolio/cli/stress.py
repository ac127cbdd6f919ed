"""The ``stress`` command: a finished run's strategies on scenario markets, without retraining.

Its flags are generated from :class:`~maxent_portfolio.stress.config.StressConfig`; the run's
own options are fixed by the run directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from maxent_portfolio.cli.app import app, out
from maxent_portfolio.cli.options import section_options
from maxent_portfolio.cli.progress import RichProgress
from maxent_portfolio.stress.config import StressConfig, stress_default

CONFIG = typer.Option(None, "--config", "-c", help="TOML/YAML/JSON file whose [stress] table "
                      "holds any of the options below; flags override it. Its other keys, a "
                      "run's options, are ignored: the run directory fixes them.")


@app.command(rich_help_panel="Backtesting")
@section_options(StressConfig, "options",
                 "The scenarios (also keys of the stress table of --config)",
                 default=stress_default)
def stress(
    options: dict[str, Any],
    run_dir: Path = typer.Argument(..., help="A run directory written by `backtest`."),
    config: Path = CONFIG,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress, no summary: print "
                                                            "only the output directory."),
) -> None:
    """Re-evaluate every strategy of a finished run on scenario markets, without retraining.

    Each scenario replaces every fold's test window by a scenario of it (a stationary
    bootstrap, a crash spliced in, volatility or costs times k, noisy inputs, combined as
    --kinds says). Each fold's saved agent acts as trained; each baseline is refit on the
    fold's own training window; all trade the scenario through the run's engine and costs,
    and every strategy meets the same scenarios. RUN_DIR/stress/ gets scenarios.csv (Sharpe,
    CAGR, maximum drawdown, CVaR 95 and turnover per scenario and strategy), summary.csv
    (their quantiles, the win rate against 1/N on the same scenario) and wealth.csv (the fan
    chart's bands); the dashboard is rendered again with a Robustness section. Finished
    chunks of scenarios are stored as they complete: the same command resumes after Ctrl-C.

    Examples: maxent-portfolio stress reports/RUN --scenarios 500 --jobs 2;
    maxent-portfolio stress reports/RUN --kinds bootstrap,crash --crash-window
    2020-02-19:2020-03-23; maxent-portfolio stress reports/RUN --kinds identity --scenarios 1
    """
    from maxent_portfolio.stress.config import resolve_stress
    from maxent_portfolio.stress.run import prepare_stress, run_stress

    settings = resolve_stress(config, options)
    plan = prepare_stress(run_dir, settings)
    if quiet:
        outcome = run_stress(plan)
    else:
        with RichProgress() as display:
            outcome = run_stress(plan, progress=display)
    if plan.data.config.report.html:
        from maxent_portfolio.reporting.render import rerender

        rerender(run_dir)
    if not quiet:
        _print_summary(outcome.summary)
    out.print(str(run_dir / "stress"), markup=False, highlight=False)


def _print_summary(summary: Any) -> None:
    for _, row in summary.iterrows():
        beat = row["p_beat_equal_weight"]
        versus = "" if beat != beat else f", beats 1/N in {beat:.0%}"  # NaN: 1/N itself
        out.print(f"{row['strategy']}: Sharpe median {row['sharpe_q50']:.2f}, 5% "
                  f"{row['sharpe_q05']:.2f}{versus}", markup=False, soft_wrap=True)
