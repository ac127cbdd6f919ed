"""Actor/critic networks: shapes, permutation symmetry, any-N weights, ensemble independence."""

from __future__ import annotations

import pytest
import torch

from maxent_portfolio.agents.buffer import ReplayBuffer
from maxent_portfolio.agents.networks import (
    EnsembleLinear,
    MLPActor,
    MLPCritic,
    SharedActor,
    SharedCritic,
    make_networks,
)
from maxent_portfolio.agents.sac import polyak_update
from maxent_portfolio.errors import ConfigError

torch.set_num_threads(1)
F = 7


def _obs(b: int, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(b, n * F, generator=g)
    w = torch.distributions.Dirichlet(torch.ones(n + 1)).sample((b,))
    return torch.cat([feats, w], -1)


def _permute(obs: torch.Tensor, n: int, perm: torch.Tensor) -> torch.Tensor:
    feats = obs[:, : n * F].reshape(-1, n, F)[:, perm].reshape(-1, n * F)
    w = obs[:, n * F:]
    return torch.cat([feats, torch.cat([w[:, :-1][:, perm], w[:, -1:]], -1)], -1)


def test_shared_actor_is_permutation_equivariant_and_critic_invariant() -> None:
    torch.manual_seed(0)
    n = 6
    actor, critic = SharedActor(n, F, 2), SharedCritic(n, F)
    obs = _obs(5, n)
    action = torch.distributions.Dirichlet(torch.ones(n + 1)).sample((5,))
    perm = torch.randperm(n)
    out, out_p = actor(obs), actor(_permute(obs, n, perm))
    assert out.shape == (5, n + 1, 2)
    torch.testing.assert_close(out_p[:, :-1], out[:, :-1][:, perm], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out_p[:, -1], out[:, -1], rtol=1e-5, atol=1e-5)
    a_p = torch.cat([action[:, :-1][:, perm], action[:, -1:]], -1)
    q, q_p = critic(obs, action), critic(_permute(obs, n, perm), a_p)
    assert q.shape == (2, 5)
    torch.testing.assert_close(q_p, q, rtol=1e-5, atol=1e-5)


def test_shared_networks_have_the_same_weights_for_any_number_of_assets() -> None:
    small = make_networks("shared", 5, F, 1)
    large = make_networks("shared", 500, F, 1)
    for a, b in zip(small, large, strict=True):
        b.load_state_dict(a.state_dict())  # identical parameter shapes
    actor, critic = large
    obs = _obs(3, 500)
    assert actor(obs).shape == (3, 501, 1)
    assert critic(obs, torch.full((3, 501), 1 / 501)).shape == (2, 3)


def test_mlp_networks_shapes() -> None:
    n = 4
    actor, critic = make_networks("mlp", n, F, 2, hidden=(32, 32))
    assert isinstance(actor, MLPActor) and isinstance(critic, MLPCritic)
    obs = _obs(8, n)
    assert actor(obs).shape == (8, n + 1, 2)
    assert critic(obs, torch.full((8, n + 1), 0.2)).shape == (2, 8)


def test_ensemble_linear_members_are_independent_linear_maps() -> None:
    torch.manual_seed(1)
    layer = EnsembleLinear(2, 3, 4)
    x = torch.randn(2, 5, 3)
    y = layer(x)
    for e in range(2):
        torch.testing.assert_close(y[e], x[e] @ layer.weight[e] + layer.bias[e, 0])


def test_twin_critics_differ_at_initialisation() -> None:
    torch.manual_seed(2)
    _, critic = make_networks("shared", 3, F, 1)
    q = critic(_obs(4, 3), torch.full((4, 4), 0.25))
    assert not torch.allclose(q[0], q[1])


def test_polyak_update_by_hand() -> None:
    p = [torch.tensor([1.0, 2.0]), torch.tensor([[4.0]])]
    t = [torch.tensor([3.0, 0.0]), torch.tensor([[0.0]])]
    polyak_update(p, t, 0.25)
    torch.testing.assert_close(t[0], torch.tensor([2.5, 0.5]))
    torch.testing.assert_close(t[1], torch.tensor([[1.0]]))
    torch.testing.assert_close(p[0], torch.tensor([1.0, 2.0]))  # sources untouched


def test_unknown_network_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown network"):
        make_networks("transformer", 3, F, 1)


def test_a_network_is_one_builder_plus_one_registry_entry(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    from maxent_portfolio.agents.networks import NETWORK_BUILDERS, NETWORKS

    assert NETWORKS == tuple(NETWORK_BUILDERS) == ("shared", "mlp")
    built: list[tuple[int, int, int, tuple[int, ...] | None]] = []

    def wide_mlp(n_assets: int, n_features: int, n_params: int,
                 hidden: tuple[int, ...] | None) -> tuple[torch.nn.Module, torch.nn.Module]:
        built.append((n_assets, n_features, n_params, hidden))
        return NETWORK_BUILDERS["mlp"](n_assets, n_features, n_params, (64,))

    monkeypatch.setitem(NETWORK_BUILDERS, "wide", wide_mlp)
    actor, _ = make_networks("wide", 3, F, 2)
    assert built == [(3, F, 2, None)] and isinstance(actor, MLPActor)
    assert actor(_obs(4, 3)).shape == (4, 4, 2)


def test_replay_buffer_ring_overwrites_oldest_and_samples_named_tuples() -> None:
    buf = ReplayBuffer(5, obs_dim=2, action_dim=3)
    for i in range(3):  # 3 batches of 2 transitions: 6 > capacity 5
        obs = torch.full((2, 2), float(i))
        buf.add(obs, obs + 1, torch.full((2, 3), float(i)), torch.tensor([i, i + 0.5]),
                torch.zeros(2))
    assert len(buf) == 5 and buf.full and buf.pos == 1
    assert buf.rewards.tolist() == [2.5, 0.5, 1.0, 1.5, 2.0]  # slot 0 overwritten last
    batch = buf.sample(64, generator=torch.Generator().manual_seed(0))
    assert batch.observations.shape == (64, 2) and batch.actions.shape == (64, 3)
    assert batch.rewards.shape == (64,) and batch.dones.shape == (64,)
    torch.testing.assert_close(batch.next_observations, batch.observations + 1)
    clone = ReplayBuffer(5, 2, 3)
    clone.load_state_dict(buf.state_dict())
    torch.testing.assert_close(clone.rewards, buf.rewards)
    assert (clone.pos, clone.full) == (buf.pos, buf.full)


@pytest.mark.parametrize("network", ["shared", "mlp"])
def test_critic_pair_equals_forward_and_freezes_the_policy_branch(network: str) -> None:
    torch.manual_seed(0)
    n, b = 4, 6
    _, qf = make_networks(network, n, F, 1, (16, 16))
    obs = _obs(b, n)
    act = torch.distributions.Dirichlet(torch.ones(n + 1)).sample((b,))
    pi = torch.distributions.Dirichlet(torch.ones(n + 1)).sample((b,)).requires_grad_(True)
    q, q_pi = qf.forward_pair(obs, act, pi)
    torch.testing.assert_close(q, qf(obs, act))
    torch.testing.assert_close(q_pi, qf(obs, pi))
    params = list(qf.parameters())
    assert all(g is None for g in torch.autograd.grad(q_pi.sum(), params, allow_unused=True))
    (g_pi,) = torch.autograd.grad(q_pi.sum(), [pi])
    (g_ref,) = torch.autograd.grad(qf(obs, pi).sum(), [pi])
    torch.testing.assert_close(g_pi, g_ref)
    grads = torch.autograd.grad(q.sum(), params, allow_unused=True)
    refs = torch.autograd.grad(qf(obs, act).sum(), params, allow_unused=True)
    for g, r in zip(grads, refs, strict=True):
        torch.testing.assert_close(g, r)


def test_one_output_ensemble_layer_equals_the_batched_matmul() -> None:
    torch.manual_seed(0)
    layer = EnsembleLinear(2, 8, 1)
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(layer(x), torch.baddbmm(layer.bias, x, layer.weight))
