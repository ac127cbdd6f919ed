"""The GPU path: ``--device cuda`` runs the batched update on the GPU (skipped without CUDA)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from support import LEVERS, tiny_config, validation_env, vector_env

from maxent_portfolio.agents.batched import train_batched
from maxent_portfolio.config import resolve_config
from maxent_portfolio.data.market import MarketData
from maxent_portfolio.runner import prepare, run

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="CUDA is not available on this machine")


@pytest.mark.parametrize("levers", [{}, *LEVERS])
def test_a_batched_run_trains_on_the_gpu(levers: dict[str, object]) -> None:
    configs = [tiny_config(seed=s, total_steps=16, eval_every=4, device="cuda", **levers)
               for s in (3, 4)]
    first = train_batched(vector_env(4), configs, progress=False, eval_env=validation_env())
    again = train_batched(vector_env(4), configs, progress=False, eval_env=validation_env())
    for a, b in zip(first, again, strict=True):
        for key, value in a.sac.state_dict().items():
            assert value.device.type == "cuda", key
            assert torch.isfinite(value).all(), key
            # cuBLAS may reorder sums: the same seed gives the same agent to float rounding
            torch.testing.assert_close(b.sac.state_dict()[key], value, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_a_backtest_with_batched_seeds_on_the_gpu(synthetic_returns: pd.DataFrame) -> None:
    config = resolve_config(overrides={
        "strategies": ["sac", "equal-weight"], "seeds": 2, "sac.seed_batch": 2,
        "sac.device": "cuda", "sac.train_steps": 96, "env.lookback": 10,
        "walk_forward.train_years": 1.0, "walk_forward.test_years": 1.0})
    outcome = run(prepare(config, MarketData.from_returns(synthetic_returns, name="synthetic")))
    assert [r.name for r in outcome.results][:3] == ["sac", "sac-seed0", "sac-seed1"]
    assert outcome.metrics.loc["sac", "sharpe"] == outcome.metrics.loc["sac", "sharpe"]  # not NaN
