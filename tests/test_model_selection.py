"""Model selection on the validation slice, and the learning curves a run writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from support import random_returns

from maxent_portfolio.agents import SACConfig, train
from maxent_portfolio.agents.loop import evaluate
from maxent_portfolio.envs import PortfolioEnv, PortfolioVectorEnv
from maxent_portfolio.errors import ConfigError
from maxent_portfolio.reporting import plots
from maxent_portfolio.strategies.sac import LEARNING_COLUMNS, SACStrategy

torch.set_num_threads(1)


def _envs() -> tuple[PortfolioVectorEnv, PortfolioEnv]:
    returns = random_returns(320, mean=0.0004, vol=0.012)
    train_env = PortfolioVectorEnv(num_envs=2, universe=returns.iloc[:240], lookback=10,
                                   episode_length=10, cost_bps=10.0)
    eval_env = PortfolioEnv(universe=returns.iloc[230:], lookback=10, episode_length=None,
                            cost_bps=10.0)
    return train_env, eval_env


def _config(**kw: object) -> SACConfig:
    base: dict[str, object] = dict(total_steps=60, num_envs=2, learning_starts=5, batch_size=16,
                                   hidden=(16, 16), utd_ratio=2.0, log_every=6, eval_every=6,
                                   seed=4, model_selection="best-validation")
    base.update(kw)
    return SACConfig.from_dict(base)


def test_best_validation_keeps_the_snapshot_that_scored_best() -> None:
    train_env, eval_env = _envs()
    agent = train(train_env, _config(seed=3), progress=False, eval_env=eval_env)
    scores = {r["step"]: r["eval_log_growth"] for r in agent.history if "eval_log_growth" in r}
    assert len(scores) == 10
    best_step = max(scores, key=lambda s: scores[s])
    assert agent.selected_step == best_step
    # Evaluated again, the kept networks score what the best record says (and so not the
    # last record's score, which is lower on this seed).
    again = evaluate(agent.algorithm, eval_env, "cpu", 3)["eval_log_growth"]
    assert again == pytest.approx(scores[best_step], abs=1e-9)
    assert scores[best_step] > scores[max(scores)]


def test_last_keeps_the_final_networks() -> None:
    train_env, eval_env = _envs()
    agent = train(train_env, _config(model_selection="last"), progress=False, eval_env=eval_env)
    final = agent.history[-1]["eval_log_growth"]
    assert agent.selected_step is None
    assert evaluate(agent.algorithm, eval_env, "cpu", 4)["eval_log_growth"] == pytest.approx(final)


def test_resume_with_best_validation_is_bit_exact(tmp_path: Path) -> None:
    train_env, eval_env = _envs()
    full = train(train_env, _config(seed=3), progress=False, eval_env=eval_env)
    assert full.selected_step == 6
    path = tmp_path / "ckpt.pt"
    train_env, eval_env = _envs()
    part = train(train_env, _config(seed=3), progress=False, eval_env=eval_env,
                 checkpoint_path=path, callback=lambda step, agent: step == 33)
    assert part.interrupted and part.selected_step is None
    train_env, eval_env = _envs()
    resumed = train(train_env, _config(seed=3), progress=False, eval_env=eval_env,
                    checkpoint_path=path, resume=True)
    assert resumed.selected_step == full.selected_step
    a, b = full.algorithm.state_dict(), resumed.algorithm.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_best_validation_needs_a_validation_slice() -> None:
    with pytest.raises(ConfigError, match="validation") as info:
        SACStrategy(model_selection="best-validation", validation_fraction=0.0)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="model-selection"):
        SACStrategy(model_selection="best")


def test_learning_curves_per_fold() -> None:
    returns = random_returns(400, mean=0.0004, vol=0.012)
    strategy = SACStrategy(train_steps=80, lookback=10, episode_length=8, num_envs=2,
                           learning_starts=4, batch_size=8, device="cpu", seed=2,
                           model_selection="best-validation")
    strategy.fit(returns.iloc[:250]).fit(returns.iloc[:330])
    table = strategy.learning()
    assert tuple(table.columns) == LEARNING_COLUMNS
    assert set(table["fold"]) == {0, 1}
    for _, fold in table.groupby("fold"):
        assert fold["selected"].sum() == 1  # exactly one kept snapshot per fold
        assert fold["transitions"].is_monotonic_increasing
        evaluated = fold.dropna(subset=["val_growth"])
        kept = evaluated.loc[evaluated["selected"], "val_growth"].iloc[0]
        assert kept == evaluated["val_growth"].max()
    # Annualised: the slice's total log growth over its length in years (one fold by hand).
    agent = strategy.agent_
    assert agent is not None
    totals = [r["eval_log_growth"] for r in agent.history if "eval_log_growth" in r]
    years = int(330 * 0.2) / 252  # the slice: the last 20% of the window earns its returns
    last_fold = table[table["fold"] == 1].dropna(subset=["val_growth"])
    np.testing.assert_allclose(last_fold["val_growth"], np.array(totals) / years)
    fig = plots.learning_figure(table)
    assert len(fig.axes) == 4
