"""``--seed-batch B``: a sac run's seeds trained B at a time as one batched network."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from maxent_portfolio.config import resolve_config
from maxent_portfolio.data.market import MarketData
from maxent_portfolio.errors import ConfigError
from maxent_portfolio.runner import job_units, prepare, run

torch.set_num_threads(1)

TINY = {"strategies": ["sac"], "seed": 2, "walk_forward.train_years": 1.0,
        "walk_forward.test_years": 1.0, "sac.train_steps": 96, "env.lookback": 10,
        "env.episode_length": 20}


def _run(returns: pd.DataFrame, **overrides: object) -> dict[str, pd.Series]:
    config = resolve_config(overrides={**TINY, **overrides})
    outcome = run(prepare(config, MarketData.from_returns(returns, name="synthetic")))
    return {r.name: r.returns for r in outcome.results} | {
        f"learning:{r.name}": r.learning for r in outcome.results if r.learning is not None}


def test_seed_groups_are_consecutive_seeds_whatever_the_jobs(
        synthetic_returns: pd.DataFrame) -> None:
    market = MarketData.from_returns(synthetic_returns, name="synthetic")
    for jobs in (1, 2, 4):
        config = resolve_config(overrides={**TINY, "strategies": ["sac", "equal-weight"],
                                           "seeds": 5, "sac.seed_batch": 2, "jobs": jobs})
        units = job_units(prepare(config, market))
        assert [[job.label for job in unit] for unit in units] == [
            ["sac-seed2", "sac-seed3"], ["sac-seed4", "sac-seed5"], ["sac-seed6"],
            ["equal-weight"]]
    with pytest.raises(ConfigError, match="invalid seed-batch 0: must be >= 1"):
        resolve_config(overrides={"sac.seed_batch": 0})


@pytest.mark.slow
def test_a_batched_seed_group_follows_the_solo_seeds_and_ignores_jobs(
        synthetic_returns: pd.DataFrame) -> None:
    returns = synthetic_returns.iloc[:520, :4]
    solo = _run(returns, seeds=2, jobs=1)
    batched = _run(returns, seeds=2, **{"sac.seed_batch": 2}, jobs=1)
    pooled = _run(returns, seeds=3, **{"sac.seed_batch": 2}, jobs=2)
    for name in ("sac-seed2", "sac-seed3"):
        # Same draws, batched kernels: the solo run's returns to float rounding.
        np.testing.assert_allclose(batched[name], solo[name], rtol=0, atol=1e-6)
        # A seed's numbers do not depend on the jobs, nor on which group size >= 2 it is in.
        pd.testing.assert_series_equal(batched[name], pooled[name], check_exact=True)
    assert not batched["sac-seed2"].equals(batched["sac-seed3"])
    learning = batched["learning:sac-seed3"]
    assert set(learning["fold"]) == {0, 1} and learning["selected"].sum() == 2  # 2 folds
    pd.testing.assert_frame_equal(learning[["fold", "step", "transitions", "updates"]],
                                  solo["learning:sac-seed3"][["fold", "step", "transitions",
                                                              "updates"]])
