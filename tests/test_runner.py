"""The runner: same out-of-sample dates for all, seed averaging, atomic run directories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from maxent_portfolio.backtest import TrainTestSplit, run_backtest
from maxent_portfolio.config import resolve_config
from maxent_portfolio.data.market import MarketData
from maxent_portfolio.errors import ConfigError
from maxent_portfolio.files import atomic_directory
from maxent_portfolio.rundir import write_run
from maxent_portfolio.runner import mean_of_seeds, prepare, run
from maxent_portfolio.strategies import get_strategy


def test_mean_of_seeds_is_an_equal_split_of_capital(synthetic_returns: pd.DataFrame) -> None:
    runs = [run_backtest(synthetic_returns, get_strategy("random", seed=s),
                         splits=TrainTestSplit(0.5)) for s in (1, 2, 3)]
    mean = mean_of_seeds("sac", runs)
    expected = (runs[0].returns + runs[1].returns + runs[2].returns) / 3
    np.testing.assert_allclose(mean.returns, expected, atol=1e-15)
    np.testing.assert_allclose(mean.targets.sum(axis=1), 1.0, atol=1e-12)
    assert mean.name == "sac" and list(mean.returns.index) == list(runs[0].returns.index)


def test_run_shares_dates_and_writes_every_file(synthetic_returns: pd.DataFrame,
                                                tmp_path: Path) -> None:
    market = MarketData.from_returns(synthetic_returns, name="synthetic",
                                     benchmark=synthetic_returns.mean(axis=1))
    config = resolve_config(overrides={
        "strategies": ["equal-weight", "min-variance", "random", "bcrp"],
        "walk_forward.train_years": 1.0, "walk_forward.test_years": 1.0})
    outcome = run(prepare(config, market))
    dates = {tuple(r.returns.index) for r in outcome.results}
    assert len(dates) == 1
    assert list(outcome.metrics["strategy"]) == ["equal-weight", "min-variance", "random",
                                                 "bcrp", "benchmark"]
    assert not outcome.metrics.set_index("strategy").loc["bcrp", "investable"]
    final = tmp_path / "run"
    with atomic_directory(final) as tmp:
        write_run(outcome, tmp)
    names = {p.name for p in final.iterdir()}
    assert {"metrics.csv", "returns.csv", "weights", "config.json", "provenance.json",
            "results"} <= names
    returns = pd.read_csv(final / "returns.csv", index_col="date", parse_dates=True)
    assert list(returns.columns) == ["equal-weight", "min-variance", "random", "bcrp",
                                     "benchmark"]


def test_atomic_directory_leaves_nothing_on_failure(tmp_path: Path) -> None:
    final = tmp_path / "run"
    with pytest.raises(RuntimeError), atomic_directory(final) as tmp:
        (tmp / "metrics.csv").write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    final.mkdir()
    with pytest.raises(ConfigError, match="already exists"), atomic_directory(final):
        pass


def test_every_sac_seed_is_reported_and_counted_as_a_dsr_trial(
        synthetic_returns: pd.DataFrame) -> None:
    from maxent_portfolio.measures import deflated_sharpe_ratio, sharpe

    market = MarketData.from_returns(synthetic_returns, name="synthetic")
    config = resolve_config(overrides={
        "strategies": ["sac", "equal-weight"], "seeds": 2, "seed": 3, "sac.train_steps": 40,
        "walk_forward.train_years": 2.0, "walk_forward.test_years": 2.0, "sac.device": "cpu",
        "sac.shrinkage": "none",  # unshrunk: two seeds' own portfolios, never 1/N twice
        "jobs": 1})  # in this process: spawning workers costs more than 40 steps (test_jobs)
    outcome = run(prepare(config, market))
    table = outcome.metrics.set_index("strategy")
    assert list(table.index) == ["sac", "sac-seed3", "sac-seed4", "equal-weight"]
    by_name = {r.name: r for r in outcome.results}
    seeds = [by_name["sac-seed3"].returns, by_name["sac-seed4"].returns]
    assert not seeds[0].equals(seeds[1])  # two agents, not one reported twice
    np.testing.assert_allclose(by_name["sac"].returns, (seeds[0] + seeds[1]) / 2, atol=1e-15)
    # The DSR's trials are every investable row: both seeds, their mean and 1/N.
    ppy = market.periods_per_year
    trials = [sharpe(by_name[n].returns, ppy) for n in table.index]
    for name in table.index:
        expected = deflated_sharpe_ratio(by_name[name].returns, ppy, len(trials),
                                         float(np.var(trials, ddof=1)))
        assert table.loc[name, "dsr"] == pytest.approx(expected, rel=1e-12), name
