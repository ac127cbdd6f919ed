"""``--seed-batch B``: a sac run's seeds trained B at a time as one batched network."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from support import PLAIN_SAC, REPO, cli

from maxent_portfolio.config import resolve_config
from maxent_portfolio.data.market import MarketData
from maxent_portfolio.errors import ConfigError
from maxent_portfolio.runner import job_units, prepare, run
from maxent_portfolio.strategies.base import StrategyContext
from maxent_portfolio.strategies.sac import SACStrategy

torch.set_num_threads(1)

TINY = {"strategies": ["sac"], "seed": 2, "walk_forward.train_years": 1.0,
        "walk_forward.test_years": 1.0, "sac.train_steps": 96, "env.lookback": 10,
        "env.episode_length": 20, **{f"sac.{k}": v for k, v in PLAIN_SAC.items()}}
"""Tiny budgets, and textbook SAC: the batched network has neither the H-step nor the mean
objective, nor the evidence record."""


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
    # sac-discrete has no batched trainer: its seeds stay alone whatever --seed-batch says.
    config = resolve_config(overrides={**TINY, "strategies": ["sac-discrete"], "seeds": 2,
                                       "sac.seed_batch": 2})
    assert [len(unit) for unit in job_units(prepare(config, market))] == [1, 1]
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


@pytest.mark.slow
def test_train_cli_writes_one_model_per_seed_of_a_batch(tmp_path: Path) -> None:
    from maxent_portfolio.agents import Agent

    args = ["train", "--start", "2010-01-01", "--end", "2012-12-31", "--train-steps", "96",
            "--seed", "5", "--seeds", "2", "--seed-batch", "2", "--quiet", "--actor-horizon",
            "0", "--actor-objective", "sample", "--shrinkage", "none",  # textbook SAC batches
            "--out", str(tmp_path / "sac.pt")]
    res = cli(*args, cwd=REPO)
    assert res.returncode == 0, res.stderr[-2000:]
    assert not (tmp_path / "sac-seeds5-6.pt").exists()  # the batch's file goes once done
    agents = [Agent.load(tmp_path / f"sac-seed{s}.pt") for s in (5, 6)]
    assert [a.config.seed for a in agents] == [5, 6] and agents[0].step == 24
    finished = cli(*args, "--resume", cwd=REPO)
    assert finished.returncode == 0 and "seed 6: already trained" in finished.stdout


def test_an_interrupted_seed_batch_resumes_bit_exactly(synthetic_returns: pd.DataFrame,
                                                       tmp_path: Path,
                                                       request: pytest.FixtureRequest) -> None:
    """Ctrl-C while a batch trains: one checkpoint of the batch; resumed, every seed ends
    with the uninterrupted run's weights."""
    # Python raises KeyboardInterrupt only if SIGINT was not ignored when it started (as in a
    # background job of a shell without job control): install the handler it would have.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    config = resolve_config(overrides={**TINY, "seeds": 2, "sac.seed_batch": 2})
    returns = synthetic_returns.iloc[:300, :3]

    def group(stop_at: float | None = None) -> list[SACStrategy]:
        members = [SACStrategy.from_context(StrategyContext(config, 252, s)) for s in (2, 3)]
        SACStrategy.join(members)
        done = [0.0]

        def report(units: float, status: str) -> None:
            done[0] += units
            if stop_at is not None and done[0] >= stop_at:
                os.kill(os.getpid(), signal.SIGINT)

        members[0].progress_callback = report
        return members

    whole = [m.train_window(returns) for m in group()]
    path = tmp_path / "batch.pt"
    with pytest.raises(KeyboardInterrupt):
        group(stop_at=40)[0].train_window(returns, checkpoint_path=path)
    assert path.exists()
    members = group()
    resumed = [m.train_window(returns, checkpoint_path=path, resume=True) for m in members]
    for a, b in zip(whole, resumed, strict=True):
        assert a.config.seed == b.config.seed
        for key, value in a.algorithm.state_dict().items():
            assert torch.equal(b.algorithm.state_dict()[key], value), key
