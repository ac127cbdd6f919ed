"""The actor's H-step objective (``actor_horizon``): its value and gradient against a rollout of
the env itself, written out by hand, and the lever's plumbing (validation, resume)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from support import PLAIN_SAC
from torch import Tensor, nn

from maxent_portfolio.agents import SAC, Agent, SACConfig, train
from maxent_portfolio.agents.distributions import PolicySample
from maxent_portfolio.agents.sac import ActorStep
from maxent_portfolio.envs import PortfolioEnv, PortfolioVectorEnv
from maxent_portfolio.envs.config import EnvConfig
from maxent_portfolio.envs.dynamics import OneStepModel
from maxent_portfolio.errors import ConfigError
from maxent_portfolio.limits import LimitsConfig

torch.set_num_threads(1)
GAMMA, SCALE, ALPHA = 0.9, 10.0, 0.05
ENV = dict(lookback=10, episode_length=40, cost_bps=np.array([10.0, 25.0, 5.0]),
           decision_period="every:2", trade_rate=0.5, no_trade_band=0.0)


def _returns(n: int = 300, n_assets: int = 3, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2015-01-01", periods=n)
    return pd.DataFrame(rng.normal(0.0004, 0.012, (n, n_assets)), index=idx,
                        columns=[f"A{i}" for i in range(n_assets)])


class _LinearCritic(nn.Module):
    """Two critics, each ``obs . u_j + action . v_j``: the continuation value at ``s_H``."""

    def __init__(self, obs_dim: int, k: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(7)
        self.u = nn.Parameter(torch.randn(2, obs_dim, generator=gen) * 0.1)
        self.v = nn.Parameter(torch.randn(2, k, generator=gen))

    def forward(self, obs: Tensor, actions: Tensor) -> Tensor:
        return (obs.double() @ self.u.double().T + actions.double() @ self.v.double().T).T


def _actions(h: int, k: int, seed: int = 3) -> list[np.ndarray]:
    return list(np.random.default_rng(seed).dirichlet(np.full(k, 2.0), size=h + 1))


def _sac(env: PortfolioEnv, horizon: int, actions: list[Tensor]) -> SAC:
    """A SAC whose policy draws ``actions`` in turn (log-probability 0) and whose critic is
    linear, with the env's exact model."""
    config = SACConfig.from_dict({**PLAIN_SAC, **dict(
        alpha=ALPHA, gamma=GAMMA, reward_scale=SCALE, one_step_model=True,
        actor_horizon=horizon, hidden=(8, 8))})
    sac = SAC(env.n_assets, env.n_features, config)
    sac.qf = _LinearCritic(env.obs_dim, env.n_assets + 1)
    sac._qf_names = [n for n, _ in sac.qf.named_parameters()]
    sac._qf_params = list(sac.qf.parameters())
    draws: Iterator[Tensor] = iter(actions)

    def sample(_: Tensor) -> PolicySample:
        action = next(draws)
        return PolicySample(action, torch.zeros(action.shape[0], dtype=torch.float64))

    sac.head.sample = sample  # type: ignore[method-assign]
    sac.model = OneStepModel.from_env(env)
    return sac


def _env_value(env: PortfolioEnv, start: int, actions: list[np.ndarray],
               critic: _LinearCritic) -> float:
    """The H-step soft value by stepping the env itself (log-probabilities 0)."""
    obs, _ = env.reset(seed=0, options={"start": env.market.dates[start]})
    value, discount = 0.0, 1.0
    for k, action in enumerate(actions):
        if k == len(actions) - 1:
            with torch.no_grad():
                q = critic(torch.as_tensor(obs)[None], torch.as_tensor(action)[None])
            value += discount * float(q.min(0).values[0])
        obs, reward, _, _, _ = env.step(action)
        value += discount * SCALE * reward
        discount *= GAMMA
    return value


@pytest.mark.parametrize("horizon", [0, 1, 4])
def test_value_equals_a_rollout_of_the_env(horizon: int) -> None:
    check_value_against_the_env(PortfolioEnv(universe=_returns(), **ENV), horizon)  # type: ignore[arg-type]


@pytest.mark.parametrize("horizon", [1, 4])
def test_value_equals_a_rollout_of_the_env_under_limits(horizon: int) -> None:
    """The rollout executes each step through the torch projection onto the limits, as the
    env does in numpy."""
    limits = LimitsConfig(max_weight=0.4, max_cash=0.1, groups={"g": ["A0", "A1"]},
                          group_caps={"g": 0.5}).resolve(["A0", "A1", "A2"])
    options = {k: v for k, v in ENV.items() if k != "cost_bps"}
    env = PortfolioEnv.from_config(_returns(), EnvConfig().replace(**options).with_limits(
        limits), cost_bps=ENV["cost_bps"])
    check_value_against_the_env(env, horizon)


def check_value_against_the_env(env: PortfolioEnv, horizon: int) -> None:
    start = 40
    obs, _ = env.reset(seed=0, options={"start": env.market.dates[start]})
    actions = _actions(horizon, env.n_assets + 1)
    sac = _sac(env, horizon, [torch.as_tensor(a)[None] for a in actions])
    first = ActorStep(torch.as_tensor(actions[0])[None], torch.zeros(1, dtype=torch.float64))
    sac.head.sample(torch.zeros(1))  # the first draw is ``first``, as losses() passes it
    value = sac.rollout_value(torch.tensor([start]), torch.as_tensor(obs)[None], first)
    expected = _env_value(env, start, actions, sac.qf)  # type: ignore[arg-type]
    assert float(value[0]) == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_gradient_equals_finite_differences_of_the_env_rollout() -> None:
    horizon = 4
    env = PortfolioEnv(universe=_returns(), **ENV)  # type: ignore[arg-type]
    start = 40
    obs, _ = env.reset(seed=0, options={"start": env.market.dates[start]})
    actions = _actions(horizon, env.n_assets + 1)
    a0 = torch.as_tensor(actions[0])[None].clone().requires_grad_(True)
    sac = _sac(env, horizon, [torch.as_tensor(a)[None] for a in actions[1:]])
    value = sac.rollout_value(torch.tensor([start]), torch.as_tensor(obs)[None],
                              ActorStep(a0, torch.zeros(1, dtype=torch.float64)))
    value.sum().backward()
    assert a0.grad is not None
    for i, j in [(0, 3), (1, 2), (2, 0)]:
        direction = np.zeros(env.n_assets + 1)
        direction[i], direction[j] = 1.0, -1.0
        eps = 1e-5
        up, down = (_env_value(env, start, [actions[0] + s * eps * direction, *actions[1:]],
                               sac.qf) for s in (1, -1))  # type: ignore[arg-type]
        numeric = (up - down) / (2 * eps)
        analytic = float(a0.grad[0] @ torch.as_tensor(direction))
        assert analytic == pytest.approx(numeric, rel=2e-3, abs=2e-4)
    # The effect of a_0 on later rewards (through the drifted weights) is part of it: with
    # partial rebalancing the horizon's gradient differs from the one-step model's.
    b0 = torch.as_tensor(actions[0])[None].clone().requires_grad_(True)
    one_step = _sac(env, 0, [])
    one_step.qf = sac.qf
    one_step.rollout_value(torch.tensor([start]), torch.as_tensor(obs)[None],
                           ActorStep(b0, torch.zeros(1, dtype=torch.float64))).sum().backward()
    assert b0.grad is not None and not torch.allclose(a0.grad, b0.grad)


@pytest.mark.parametrize("other", [{"one_step_model": False}, {"seed_batch": 2}])
def test_a_horizon_without_the_one_step_model_or_batched_is_refused(
        other: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="actor_horizon") as info:
        SACConfig.from_dict({**PLAIN_SAC, "actor_horizon": 3, **other})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("lever", "without"), [
    ({"actor_horizon": 3}, {"actor_horizon": 0}),
    ({"actor_horizon": 2, "actor_objective": "mean", "reference": 4.0, "reference_cash": 0.01,
      "alpha": 0.05}, {"actor_objective": "sample"}),
])
def test_resume_is_bit_exact_with_the_lever(lever: dict[str, object],
                                             without: dict[str, object], tmp_path: Path) -> None:
    def env() -> PortfolioVectorEnv:
        return PortfolioVectorEnv(num_envs=2, universe=_returns(), seed=0,
                                  **{**ENV, "episode_length": 10})  # type: ignore[arg-type]

    config = SACConfig.from_dict({**PLAIN_SAC, "one_step_model": True, **dict(
        total_steps=26, num_envs=2, learning_starts=8, batch_size=16, hidden=(16, 16),
        utd_ratio=1.0, log_every=5, seed=3, **lever)})
    full = train(env(), config, progress=False)
    path = tmp_path / "ckpt.pt"
    part = train(env(), config, progress=False, checkpoint_path=path,
                 callback=lambda step, agent: step == 13)
    assert part.interrupted
    resumed = train(env(), config, progress=False, checkpoint_path=path, resume=True)
    assert _same(full, resumed)
    plain = train(env(), SACConfig.from_dict({**config.model_dump(), **without}),
                  progress=False)
    assert not _same(full, plain)  # the lever changes what is learned


def _same(a: Agent, b: Agent) -> bool:
    sa, sb = a.algorithm.state_dict(), b.algorithm.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --- the mean objective ---------------------------------------------------------------------

def test_the_mean_objective_equals_a_rollout_of_the_env_at_the_policy_mean() -> None:
    """With ``actor_objective = "mean"`` the actions are the Dirichlet means of the actor at the
    states the env itself reaches, and each step is charged the closed-form KL."""
    horizon = 3
    env = PortfolioEnv(universe=_returns(), **ENV)  # type: ignore[arg-type]
    start = 40
    obs, _ = env.reset(seed=0, options={"start": env.market.dates[start]})
    config = SACConfig.from_dict(dict(alpha=ALPHA, gamma=GAMMA, reward_scale=SCALE,
                                      one_step_model=True, actor_horizon=horizon, hidden=(8, 8),
                                      actor_objective="mean", reference=4.0,
                                      reference_cash=0.01))
    sac = SAC(env.n_assets, env.n_features, config)
    sac.qf = _LinearCritic(env.obs_dim, env.n_assets + 1)
    sac._qf_names = [n for n, _ in sac.qf.named_parameters()]
    sac._qf_params = list(sac.qf.parameters())
    sac.model = OneStepModel.from_env(env)
    with torch.no_grad():
        first = sac.actor_step(sac.actor(torch.as_tensor(obs)[None]))
        value = float(sac.rollout_value(torch.tensor([start]), torch.as_tensor(obs)[None],
                                        first)[0])
    ref = np.array([4.0] * env.n_assets + [0.04])
    expected, discount = 0.0, 1.0
    for k in range(horizon + 1):
        with torch.no_grad():
            conc = sac.head.concentration(sac.actor(torch.as_tensor(obs)[None]))[0].double()
        mean = (conc / conc.sum()).numpy()
        kl = _dirichlet_kl_monte_carlo(conc.numpy(), ref) if k == 0 else float(
            torch.distributions.kl_divergence(torch.distributions.Dirichlet(conc),
                                              torch.distributions.Dirichlet(
                                                  torch.as_tensor(ref))))
        if k == horizon:
            with torch.no_grad():
                q = sac.qf(torch.as_tensor(obs)[None], torch.as_tensor(mean)[None])
            expected += discount * float(q.min(0).values[0])
        obs, reward, _, _, _ = env.step(mean)
        expected += discount * (SCALE * reward - ALPHA * kl)
        discount *= GAMMA
    assert value == pytest.approx(expected, rel=2e-3, abs=2e-3)


def _dirichlet_kl_monte_carlo(conc: np.ndarray, ref: np.ndarray, n: int = 400_000) -> float:
    """``E_pi[log pi - log rho]`` by sampling, with scipy's densities: independent of torch's
    closed form."""
    from scipy import stats

    draws = np.random.default_rng(0).dirichlet(conc, size=n)
    draws = np.clip(draws, 1e-300, None)
    draws /= draws.sum(axis=1, keepdims=True)
    return float(np.mean(stats.dirichlet.logpdf(draws.T, conc)
                         - stats.dirichlet.logpdf(draws.T, ref)))


def test_the_reference_centred_on_one_over_n_matches_scipy() -> None:
    from scipy import stats

    from maxent_portfolio.agents.distributions import (
        reference_concentration,
        reference_log_density,
    )

    w = np.random.default_rng(1).dirichlet(np.ones(5), size=4)
    got = reference_log_density(torch.as_tensor(np.log(w)), 3.0, 0.1).numpy()
    ref = reference_concentration(5, 3.0, 0.1).numpy()
    np.testing.assert_allclose(ref, [3, 3, 3, 3, 0.3])
    np.testing.assert_allclose(got, stats.dirichlet.logpdf(w.T, ref), rtol=1e-10)
    # cash = 1 is the symmetric reference of the dial, as before
    np.testing.assert_allclose(reference_log_density(torch.as_tensor(np.log(w)), 3.0).numpy(),
                               stats.dirichlet.logpdf(w.T, np.full(5, 3.0)), rtol=1e-10)


@pytest.mark.parametrize("options", [{"actor_objective": "mean"},
                                     {"actor_objective": "mean", "reference": 4.0,
                                      "policy": "logistic-normal"},
                                     {"reference": 4.0, "reference_cash": 0.1}])
def test_the_mean_objective_and_the_cash_reference_refuse_what_they_cannot_do(
        options: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match=r"actor_objective|reference_cash") as info:
        SACConfig.from_dict({**PLAIN_SAC, **options})
    assert "\n" not in str(info.value)
