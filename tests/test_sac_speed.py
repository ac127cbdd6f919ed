"""The fast paths of ``SAC.update`` compute exactly what the plain versions compute."""

from __future__ import annotations

import pytest
import torch

from maxent_portfolio.agents.buffer import ReplayBufferSamples
from maxent_portfolio.agents.sac import SAC, SACConfig

torch.set_num_threads(1)
F = 7


def _batch(seed: int, b: int = 16, n: int = 3) -> ReplayBufferSamples:
    g = torch.Generator().manual_seed(seed)
    obs = torch.cat([torch.randn(b, n * F, generator=g), torch.full((b, n + 1), 1 / (n + 1))], -1)
    act = torch.distributions.Dirichlet(torch.ones(n + 1)).sample((b,))
    return ReplayBufferSamples(obs, act, obs.roll(1, 0), torch.randn(b, generator=g) * 0.01,
                               torch.zeros(b))


@pytest.mark.parametrize("alpha", [None, 0.2])
@pytest.mark.parametrize("network", ["shared", "mlp"])
def test_lean_adam_step_is_bit_identical_to_optimizer_step(network: str, alpha: float | None
                                                            ) -> None:
    config = SACConfig(network=network, hidden=(16, 16), alpha=alpha, batch_size=16)
    agents = []
    for _ in range(2):
        torch.manual_seed(0)
        agents.append(SAC(3, F, config))
    fast, plain = agents
    plain._adam_step = plain.optimizer.step  # type: ignore[method-assign]
    calls: list[int] = []
    step_of_fast = fast.optimizer.step
    fast.optimizer.step = lambda: (calls.append(1), step_of_fast())[1]  # type: ignore
    for step in range(4):
        for sac in agents:
            torch.manual_seed(step)
            sac.update(_batch(step))
    for (name, a), b in zip(fast.state_dict().items(), plain.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    for sa, sb in zip(fast.optimizer.state.values(), plain.optimizer.state.values(), strict=True):
        assert all(torch.equal(sa[k], sb[k]) for k in ("step", "exp_avg", "exp_avg_sq"))
    assert len(calls) == 1  # only the first step (creating the state) needs optimizer.step
