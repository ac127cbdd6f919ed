"""``--compile``: torch.compile of the solo networks, same learning, clean fallback."""

from __future__ import annotations

import pytest
import torch
from support import random_returns

from maxent_portfolio.agents import SACConfig, train
from maxent_portfolio.agents.checkpoint import RUN_ONLY
from maxent_portfolio.envs import PortfolioVectorEnv

torch.set_num_threads(1)


def _train(**kw: object) -> dict[str, torch.Tensor]:
    env = PortfolioVectorEnv(num_envs=2, universe=random_returns(), lookback=10, episode_length=10)
    config = SACConfig.from_dict(dict(total_steps=16, num_envs=2, learning_starts=8,
                                      batch_size=16, hidden=(16, 16), utd_ratio=1.0, seed=3,
                                      **kw))
    return train(env, config, progress=False).sac.state_dict()


@pytest.mark.slow
def test_compiled_training_learns_what_eager_training_learns() -> None:
    eager, compiled = _train(), _train(compile=True)
    assert eager.keys() == compiled.keys()  # checkpoints keep the parameter names
    for key, value in eager.items():  # fused kernels round differently
        torch.testing.assert_close(compiled[key], value, rtol=1e-3, atol=1e-4, msg=key)


def test_compile_is_a_run_setting_a_resume_may_change() -> None:
    assert "compile" in RUN_ONLY
    assert SACConfig().compile is False
