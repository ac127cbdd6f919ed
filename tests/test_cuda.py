"""The GPU path: ``--device cuda`` runs the batched update on the GPU (skipped without CUDA).

Policy samples are drawn on the device, so a GPU run does not retrace its CPU run step for step;
what must agree is the arithmetic: the same networks act alike on both devices (to float
rounding), a seed reproduces its agent, and every allocation is on the simplex.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from support import LEVERS, tiny_config, validation_env, vector_env

from maxent_portfolio.agents import Agent, train
from maxent_portfolio.agents.training import train_batched
from maxent_portfolio.config import resolve_config
from maxent_portfolio.data.market import MarketData
from maxent_portfolio.runner import prepare, run

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="CUDA is not available on this machine")


def _observations() -> np.ndarray:
    """Every observation of the validation env held at equal weights, shape (T, obs_dim)."""
    env = validation_env()
    obs, _ = env.reset(options={"start": env.market.first})
    equal = np.full(env.action_space.shape, 1.0 / env.action_space.shape[0])
    seen = [obs]
    while True:
        obs, _, _, truncated, _ = env.step(equal)
        if truncated:
            return np.array(seen)
        seen.append(obs)


def _assert_on_the_simplex(weights: np.ndarray) -> None:
    assert np.isfinite(weights).all()
    assert (weights >= 0).all()
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-9)


def _assert_acts_alike(agent: Agent, path: Path, device: str) -> None:
    """``agent``, saved and loaded on ``device``, chooses the same weights to float rounding."""
    obs = _observations()
    agent.save(path)
    moved = Agent.load(path, device=device)
    here, there = agent.act(obs), moved.act(obs)
    _assert_on_the_simplex(here)
    _assert_on_the_simplex(there)
    np.testing.assert_allclose(there, here, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("levers", [{}, *LEVERS])
def test_a_batched_run_on_the_gpu_reproduces_and_acts_as_on_the_cpu(
        levers: dict[str, object], tmp_path: Path) -> None:
    configs = [tiny_config(seed=s, total_steps=16, eval_every=4, device="cuda", **levers)
               for s in (3, 4)]
    first = train_batched(vector_env(4), configs, progress=False, eval_env=validation_env())
    again = train_batched(vector_env(4), configs, progress=False, eval_env=validation_env())
    for i, (a, b) in enumerate(zip(first, again, strict=True)):
        for key, value in a.algorithm.state_dict().items():
            assert value.device.type == "cuda", key
            assert torch.isfinite(value).all(), key
            # cuBLAS may reorder sums: the same seed gives the same agent to float rounding
            torch.testing.assert_close(b.algorithm.state_dict()[key], value, rtol=1e-4, atol=1e-5)
        _assert_acts_alike(a, tmp_path / f"agent{i}.pt", "cpu")


def test_a_cpu_trained_agent_acts_alike_on_the_gpu(tmp_path: Path) -> None:
    agent = train(vector_env(2), tiny_config(device="cpu"), progress=False)
    _assert_acts_alike(agent, tmp_path / "agent.pt", "cuda")


@pytest.mark.slow
def test_a_backtest_with_batched_seeds_on_the_gpu(synthetic_returns: pd.DataFrame) -> None:
    config = resolve_config(overrides={
        "strategies": ["sac", "equal-weight"], "seeds": 2, "sac.seed_batch": 2,
        "sac.device": "cuda", "sac.train_steps": 96, "env.lookback": 10,
        "walk_forward.train_years": 1.0, "walk_forward.test_years": 1.0})
    outcome = run(prepare(config, MarketData.from_returns(synthetic_returns, name="synthetic")))
    results = {r.name: r for r in outcome.results}
    assert list(results)[:3] == ["sac", "sac-seed0", "sac-seed1"]
    metrics = outcome.metrics.set_index("strategy")
    assert np.isfinite(metrics.loc["sac", ["sharpe", "volatility", "effective_n"]]
                       .astype(float)).all()
    for result in results.values():
        _assert_on_the_simplex(result.holdings.to_numpy(dtype=float))
    members = pd.concat([results["sac-seed0"].returns, results["sac-seed1"].returns], axis=1)
    # The sac row is an equal split of capital across the seeds' portfolios.
    pd.testing.assert_series_equal(results["sac"].returns, members.mean(axis=1),
                                   check_names=False)
