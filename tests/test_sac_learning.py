"""SAC learns on small synthetic markets (short budgets: seconds each on one CPU thread)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import LOOKBACK, N_ASSETS, PLAIN_SAC, drifting_market, run_policy

from maxent_portfolio.agents import Agent, SACConfig, train
from maxent_portfolio.envs import PortfolioEnv, PortfolioVectorEnv

torch.set_num_threads(1)


def _config(**kw: object) -> SACConfig:
    base: dict[str, object] = dict(
        total_steps=150, num_envs=4, learning_starts=25, utd_ratio=1.0, batch_size=64,
        hidden=(32, 32), gamma=0.5, policy_lr=3e-3, q_lr=3e-3, log_every=50, seed=0,
        **{**PLAIN_SAC, "one_step_model": True})  # textbook SAC with the exact one-step model
    base.update(kw)
    return SACConfig.from_dict(base)


def _train(config: SACConfig) -> Agent:
    env = PortfolioVectorEnv(num_envs=config.num_envs, universe=drifting_market(600, seed=1),
                             lookback=LOOKBACK, episode_length=40, seed=config.seed)
    return train(env, config, progress=False)


@pytest.mark.parametrize("policy", ["dirichlet", "logistic-normal"])
def test_policy_overweights_the_drifting_asset_and_beats_equal_weight(policy: str) -> None:
    agent = _train(_config(policy=policy, diversification=0.2))
    held_out = PortfolioEnv(universe=drifting_market(260, seed=99), lookback=LOOKBACK,
                            episode_length=None)
    growth, weights = run_policy(held_out, agent.act)
    equal = np.append(np.full(N_ASSETS, 1.0 / N_ASSETS), 0.0)  # 1/N over the risky assets
    equal_growth, _ = run_policy(held_out, lambda obs: equal)
    assert weights[:, 0].mean() > 1.0 / N_ASSETS + 0.05, weights.mean(0)
    assert growth > equal_growth, (growth, equal_growth)


def test_a_higher_diversification_target_gives_a_higher_effective_n() -> None:
    held_out = PortfolioEnv(universe=drifting_market(160, seed=98), lookback=LOOKBACK,
                            episode_length=None)
    mean_neff = []
    for dial in (0.3, 0.7, 1.0):
        agent = _train(_config(diversification=dial, alpha_lr=3e-2, total_steps=120))
        _, weights = run_policy(held_out, agent.act)
        mean_neff.append(float((1.0 / (weights**2).sum(1)).mean()))
    assert mean_neff[0] < mean_neff[1] < mean_neff[2], mean_neff


def test_a_higher_fixed_alpha_gives_a_higher_effective_n() -> None:
    held_out = PortfolioEnv(universe=drifting_market(160, seed=97), lookback=LOOKBACK,
                            episode_length=None)
    mean_neff = []
    for alpha in (0.003, 0.1, 3.0):
        agent = _train(_config(alpha=alpha, total_steps=120))
        _, weights = run_policy(held_out, agent.act)
        mean_neff.append(float((1.0 / (weights**2).sum(1)).mean()))
    assert mean_neff[0] < mean_neff[1] < mean_neff[2], mean_neff
