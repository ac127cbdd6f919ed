"""Actor and twin-critic networks for a flat portfolio observation.

Observation layout (the env contract): ``obs = [features (N*F, asset-major), weights (N+1)]``
with cash last, ``K = N + 1``. Two architectures:

* ``shared`` - EIIE-style per-asset encoder. Every asset is a *token* ``[x_i (F), K w_i,
  is_cash]`` (weights scaled by K so they are O(1) for any N); the cash token carries a learned
  feature vector instead of market features. The same MLP ``phi`` encodes every token, the
  mean over tokens is a market context fed back to every token, and a shared MLP ``psi`` emits
  the per-token policy parameters (actor); the critic is a DeepSets readout ``rho`` of the mean
  per-token encoding of ``(features, weight, action weight)``.
  Parameters do not depend on N, cost is linear in N, and the networks are
  permutation-equivariant (actor) / invariant (critic) over assets.
* ``mlp`` - a plain MLP on the flat observation (and action), as in CleanRL/SB3, for comparison.

The discrete agent's networks (:func:`menu_networks`) are plain MLPs too: the actor maps an
observation to one logit per menu entry, the twin critic to one Q value per entry.

Both critics are *ensembles*: the twin ``qf1, qf2`` live in one module whose weights have a
leading ensemble axis, so both Q values come from one batched matmul per layer.

Each architecture is a builder ``(n_assets, n_features, n_params, hidden) -> (actor, critic)``
registered by name in :data:`NETWORK_BUILDERS`; :data:`NETWORKS` (the accepted ``network``
values) derives from it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import cast

import torch
from torch import Tensor, nn

from maxent_portfolio.errors import ConfigError


class EnsembleLinear(nn.Module):
    """``E`` independent affine maps applied to ``E`` inputs at once: (E, B, i) -> (E, B, o)."""

    def __init__(self, n_members: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_members, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(n_members, 1, out_features))
        bound = 1.0 / math.sqrt(in_features)  # nn.Linear's default init, per member
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return ensemble_affine(x, self.weight, self.bias)


def ensemble_affine(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``bias + x @ weight`` per member, (E, B, i) -> (E, B, o).

    A one-output layer (a Q readout) is a dot product per row: a multiply and a sum, which
    (forward and backward) is cheaper on CPU than a batched matrix-vector ``baddbmm``.
    """
    if weight.shape[-1] == 1:
        return (x * weight.transpose(1, 2)).sum(-1, keepdim=True) + bias
    return torch.baddbmm(bias, x, weight)


def _ensemble_layer(layer: nn.Module, h: Tensor, frozen: bool) -> Tensor:
    """``layer(h)``; an :class:`EnsembleLinear` with detached parameters if ``frozen``."""
    if isinstance(layer, EnsembleLinear):
        if frozen:
            return ensemble_affine(h, layer.weight.detach(), layer.bias.detach())
        return ensemble_affine(h, layer.weight, layer.bias)
    return layer(h)


def mlp(sizes: list[int], n_members: int | None = None, last_act: bool = False) -> nn.Sequential:
    """ReLU MLP ``sizes[0] -> ... -> sizes[-1]``; an ensemble of ``n_members`` if given."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b) if n_members is None else EnsembleLinear(n_members, a, b))
        if i < len(sizes) - 2 or last_act:
            # In place: the affine output it overwrites is not needed for backward, and one
            # fewer activation-sized buffer per layer is less memory traffic (same numbers).
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def agent_linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``A`` stacked ``nn.Linear`` layers on ``A`` inputs: (A, R, i) -> (A, R, o).

    ``weight`` (A, o, i) and ``bias`` (A, o) are the layers' parameters stacked along the agent
    axis (``torch.func.stack_module_state``), so one ``baddbmm`` serves every agent.
    """
    if bias is None:
        return torch.bmm(x, weight.transpose(1, 2))
    return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


def expand_members(x: Tensor, n_members: int) -> Tensor:
    """Every agent's input repeated for its ``E`` critic members: (A, ...) -> (A * E, ...)."""
    return x.unsqueeze(1).expand(x.shape[0], n_members, *x.shape[1:]).flatten(0, 1)


def batched_sequential(seq: nn.Sequential, params: dict[str, Tensor], prefix: str, h: Tensor,
                       frozen: bool = False, start: int = 0) -> Tensor:
    """``seq[start:](h)`` for ``A`` agents whose parameters are stacked in ``params``.

    ``nn.Linear`` layers take ``h`` of shape (A, R, i); :class:`EnsembleLinear` layers of ``E``
    members take (A * E, R, i), agent-major, their stacked (A, E, ...) parameters flattened
    (detached if ``frozen``). Parameter-free layers (ReLU) apply as they are.
    """
    for i, layer in enumerate(seq):
        if i < start:
            continue
        name = f"{prefix}.{i}"
        if isinstance(layer, nn.Linear):
            h = agent_linear(h, params[f"{name}.weight"], params.get(f"{name}.bias"))
        elif isinstance(layer, EnsembleLinear):
            weight = params[f"{name}.weight"].flatten(0, 1)
            bias = params[f"{name}.bias"].flatten(0, 1)
            if frozen:
                weight, bias = weight.detach(), bias.detach()
            h = ensemble_affine(h, weight, bias)
        else:
            h = layer(h)
    return h


class _Tokens(nn.Module):
    """Splits a flat observation into per-asset tokens (B, K, F + 2), cash last."""

    is_cash: Tensor

    def __init__(self, n_assets: int, n_features: int) -> None:
        super().__init__()
        self.n_assets, self.n_features = n_assets, n_features
        self.cash_features = nn.Parameter(torch.zeros(n_features))
        flag = torch.zeros(n_assets + 1, 1)
        flag[-1] = 1.0
        self.register_buffer("is_cash", flag, persistent=False)

    def forward(self, obs: Tensor) -> Tensor:
        b, n, f = obs.shape[0], self.n_assets, self.n_features
        feats = obs[:, : n * f].reshape(b, n, f)
        feats = torch.cat([feats, self.cash_features.expand(b, 1, f)], dim=1)
        w = obs[:, n * f:].unsqueeze(-1) * (n + 1)
        return torch.cat([feats, w, self.is_cash.expand(b, -1, -1)], dim=-1)

    def batched(self, cash_features: Tensor, obs: Tensor) -> Tensor:
        """Tokens (A, B, K, F + 2) of ``A`` agents' observations (A, B, obs_dim); ``cash_features``
        (A, F) stacked."""
        a, b, n, f = obs.shape[0], obs.shape[1], self.n_assets, self.n_features
        feats = obs[..., : n * f].reshape(a, b, n, f)
        feats = torch.cat([feats, cash_features[:, None, None, :].expand(a, b, 1, f)], dim=2)
        w = obs[..., n * f:].unsqueeze(-1) * (n + 1)
        return torch.cat([feats, w, self.is_cash.expand(a, b, -1, -1)], dim=-1)


class SharedActor(nn.Module):
    """Per-asset shared encoder emitting ``n_params`` policy parameters per token (B, K, P).

    ``out_i = psi(relu(U h_i + V mean_j h_j + b))`` with ``h_i = phi(token_i)``; the context
    term ``V mean_j h_j`` is computed once per observation, not once per token.
    """

    def __init__(self, n_assets: int, n_features: int, n_params: int,
                 hidden: tuple[int, ...] = (32, 32)) -> None:
        super().__init__()
        self.tokens = _Tokens(n_assets, n_features)
        h = hidden[-1]
        self.phi = mlp([n_features + 2, *hidden], last_act=True)
        self.own = nn.Linear(h, h)
        self.context = nn.Linear(h, h, bias=False)
        self.psi = nn.Sequential(nn.ReLU(inplace=True), nn.Linear(h, n_params))

    def forward(self, obs: Tensor) -> Tensor:
        h = self.phi(self.tokens(obs))  # (B, K, H)
        return self.psi(self.own(h) + self.context(h.mean(1, keepdim=True)))

    def batched(self, params: dict[str, Tensor], obs: Tensor) -> Tensor:
        """``A`` actors at once: stacked ``params``, obs (A, B, obs_dim) -> (A, B, K, P)."""
        tok = self.tokens.batched(params["tokens.cash_features"], obs)
        a, b, k, d = tok.shape
        h = batched_sequential(self.phi, params, "phi", tok.reshape(a, b * k, d))
        context = agent_linear(h.reshape(a, b, k, -1).mean(2), params["context.weight"], None)
        own = agent_linear(h, params["own.weight"], params["own.bias"]).reshape(a, b, k, -1)
        out = batched_sequential(self.psi, params, "psi",
                                 (own + context.unsqueeze(2)).reshape(a, b * k, -1))
        return out.reshape(a, b, k, -1)


class SharedCritic(nn.Module):
    """Ensemble of DeepSets critics: ``Q = rho(mean_i phi(x_i, K w_i, K a_i))``, shape (E, B).

    The per-token encoder ``phi`` sees an asset's features, current weight and action weight;
    the mean over tokens (cash included) is read out by ``rho``. Invariant to asset order.
    """

    def __init__(self, n_assets: int, n_features: int, hidden: tuple[int, ...] = (32, 32),
                 n_members: int = 2) -> None:
        super().__init__()
        self.tokens = _Tokens(n_assets, n_features)
        self.n_members = n_members
        h = hidden[-1]
        self.phi = mlp([n_features + 3, *hidden], n_members, last_act=True)
        self.rho = mlp([h, h, 1], n_members)

    def _q(self, tok: Tensor, action: Tensor, frozen: bool) -> Tensor:
        """Q (E, B) from the observation tokens (B, K, F + 2) and an action (B, K)."""
        tok = torch.cat([tok, action.unsqueeze(-1) * action.shape[-1]], -1)
        b, k, d = tok.shape
        h = tok.reshape(1, b * k, d).expand(self.n_members, -1, -1)
        for layer in self.phi:
            h = _ensemble_layer(layer, h, frozen)
        h = h.reshape(self.n_members, b, k, -1).mean(2)  # (E, B, H)
        for layer in self.rho:
            h = _ensemble_layer(layer, h, frozen)
        return h.squeeze(-1)

    def forward(self, obs: Tensor, action: Tensor) -> Tensor:
        return self._q(self.tokens(obs), action, frozen=False)

    def forward_pair(self, obs: Tensor, action: Tensor, pi_action: Tensor
                     ) -> tuple[Tensor, Tensor]:
        """``(Q(obs, action), Q_frozen(obs, pi_action))``, each (E, B); see ``MLPCritic``.

        The observation tokens are built once; the action weight is one input column of
        ``phi``'s first layer, so (unlike the wide MLP) there is no matmul worth sharing.
        """
        tok = self.tokens(obs)
        return (self._q(tok, action, frozen=False),
                self._q(tok.detach(), pi_action, frozen=True))

    def _batched_q(self, params: dict[str, Tensor], tok: Tensor, action: Tensor, frozen: bool
                   ) -> Tensor:
        """Q (A, E, B) of ``A`` agents from tokens (A, B, K, F + 2) and actions (A, B, K)."""
        tok = torch.cat([tok, action.unsqueeze(-1) * action.shape[-1]], -1)
        a, b, k, d = tok.shape
        h = expand_members(tok.reshape(a, b * k, d), self.n_members)
        h = batched_sequential(self.phi, params, "phi", h, frozen)
        h = batched_sequential(self.rho, params, "rho", h.reshape(-1, b, k, h.shape[-1]).mean(2),
                               frozen)
        return h.reshape(a, self.n_members, b)

    def batched(self, params: dict[str, Tensor], obs: Tensor, action: Tensor) -> Tensor:
        """``A`` critics at once: stacked ``params``, (A, B, obs_dim), (A, B, K) -> (A, E, B)."""
        tok = self.tokens.batched(params["tokens.cash_features"], obs)
        return self._batched_q(params, tok, action, frozen=False)

    def batched_pair(self, params: dict[str, Tensor], obs: Tensor, action: Tensor,
                     pi_action: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`forward_pair` of ``A`` critics, each (A, E, B)."""
        tok = self.tokens.batched(params["tokens.cash_features"], obs)
        return (self._batched_q(params, tok, action, frozen=False),
                self._batched_q(params, tok.detach(), pi_action, frozen=True))


class MLPActor(nn.Module):
    """Plain MLP on the flat observation, emitting (B, K, P)."""

    def __init__(self, obs_dim: int, k: int, n_params: int,
                 hidden: tuple[int, ...] = (256, 256)) -> None:
        super().__init__()
        self.k, self.n_params = k, n_params
        self.net = mlp([obs_dim, *hidden, k * n_params])

    def forward(self, obs: Tensor) -> Tensor:
        return self.net(obs).reshape(obs.shape[0], self.k, self.n_params)

    def batched(self, params: dict[str, Tensor], obs: Tensor) -> Tensor:
        """``A`` actors at once: stacked ``params``, obs (A, B, obs_dim) -> (A, B, K, P)."""
        out = batched_sequential(self.net, params, "net", obs)
        return out.reshape(*obs.shape[:2], self.k, self.n_params)


class MLPCritic(nn.Module):
    """Ensemble of plain MLPs on ``[obs, action]``: (E, B)."""

    def __init__(self, obs_dim: int, k: int, hidden: tuple[int, ...] = (256, 256),
                 n_members: int = 2) -> None:
        super().__init__()
        self.n_members = n_members
        self.net = mlp([obs_dim + k, *hidden, 1], n_members)

    def _first(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """First layer's observation part ``b + obs W_obs`` (E, B, H), and ``W_act`` (E, K, H).

        ``[obs, a] W = obs W_obs + a W_act``: the observation part does not depend on the
        action, so the critic on the data actions and on the policy's actions share it.
        """
        first = cast(EnsembleLinear, self.net[0])
        d = obs.shape[-1]
        e = self.n_members
        # split (not two slices): its backward concatenates the two gradients in one op
        w_obs, w_act = first.weight.split([d, first.weight.shape[1] - d], 1)
        h_obs = torch.baddbmm(first.bias, obs.unsqueeze(0).expand(e, -1, -1), w_obs)
        return h_obs, w_act

    def _rest(self, h: Tensor, frozen: bool) -> Tensor:
        for layer in list(self.net)[1:]:
            h = _ensemble_layer(layer, h, frozen)
        return h.squeeze(-1)

    def forward(self, obs: Tensor, action: Tensor) -> Tensor:
        h_obs, w_act = self._first(obs)
        x = action.unsqueeze(0).expand(self.n_members, -1, -1)
        return self._rest(torch.baddbmm(h_obs, x, w_act), frozen=False)

    def forward_pair(self, obs: Tensor, action: Tensor, pi_action: Tensor
                     ) -> tuple[Tensor, Tensor]:
        """``(Q(obs, action), Q_frozen(obs, pi_action))``, each (E, B).

        The second is evaluated with detached parameters (gradients reach ``pi_action`` only)
        and reuses the first's observation part of layer one; both equal ``forward``.
        """
        h_obs, w_act = self._first(obs)
        e = self.n_members
        q = self._rest(torch.baddbmm(h_obs, action.unsqueeze(0).expand(e, -1, -1), w_act),
                       frozen=False)
        h_pi = torch.baddbmm(h_obs.detach(), pi_action.unsqueeze(0).expand(e, -1, -1),
                             w_act.detach())
        return q, self._rest(h_pi, frozen=True)

    def _batched_first(self, params: dict[str, Tensor], obs: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`_first` of ``A`` agents: ``b + obs W_obs`` (A * E, B, H), ``W_act``
        (A * E, K, H)."""
        weight = params["net.0.weight"].flatten(0, 1)
        d = obs.shape[-1]
        w_obs, w_act = weight.split([d, weight.shape[1] - d], 1)
        h_obs = torch.baddbmm(params["net.0.bias"].flatten(0, 1),
                              expand_members(obs, self.n_members), w_obs)
        return h_obs, w_act

    def _batched_q(self, params: dict[str, Tensor], h: Tensor, frozen: bool, a: int) -> Tensor:
        h = batched_sequential(self.net, params, "net", h, frozen, start=1)
        return h.reshape(a, self.n_members, -1)

    def batched(self, params: dict[str, Tensor], obs: Tensor, action: Tensor) -> Tensor:
        """``A`` critics at once: stacked ``params``, (A, B, obs_dim), (A, B, K) -> (A, E, B)."""
        h_obs, w_act = self._batched_first(params, obs)
        h = torch.baddbmm(h_obs, expand_members(action, self.n_members), w_act)
        return self._batched_q(params, h, False, obs.shape[0])

    def batched_pair(self, params: dict[str, Tensor], obs: Tensor, action: Tensor,
                     pi_action: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`forward_pair` of ``A`` critics, each (A, E, B)."""
        h_obs, w_act = self._batched_first(params, obs)
        e, a = self.n_members, obs.shape[0]
        q = torch.baddbmm(h_obs, expand_members(action, e), w_act)
        h_pi = torch.baddbmm(h_obs.detach(), expand_members(pi_action, e), w_act.detach())
        return self._batched_q(params, q, False, a), self._batched_q(params, h_pi, True, a)


MENU_HIDDEN = (64, 64)
"""Hidden sizes of the menu networks when ``SACConfig.hidden`` is unset (a small input)."""


class MenuCritic(nn.Module):
    """``Q_1(s, .), Q_2(s, .)`` over a menu of ``k`` entries in one ensemble module:
    (B, obs_dim) -> (2, B, k)."""

    def __init__(self, obs_dim: int, k: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.net = mlp([obs_dim, *hidden, k], n_members=2)

    def forward(self, obs: Tensor) -> Tensor:
        return self.net(obs.unsqueeze(0).expand(2, *obs.shape))


def menu_networks(obs_dim: int, k: int, hidden: tuple[int, ...] | None = None
                  ) -> tuple[nn.Module, nn.Module]:
    """The discrete actor ``obs -> k logits`` and the twin critic ``obs -> (2, B, k)``."""
    hidden = tuple(hidden) if hidden is not None else MENU_HIDDEN
    return mlp([obs_dim, *hidden, k]), MenuCritic(obs_dim, k, hidden)


NetworkBuilder = Callable[[int, int, int, tuple[int, ...] | None], tuple[nn.Module, nn.Module]]
"""``(n_assets, n_features, n_params, hidden or None) -> (actor, twin critic)``."""


def shared_networks(n_assets: int, n_features: int, n_params: int,
                    hidden: tuple[int, ...] | None = None) -> tuple[nn.Module, nn.Module]:
    """:class:`SharedActor` and :class:`SharedCritic`, hidden (32, 32) per token by default."""
    hidden = hidden or (32, 32)  # per token: tiny, as in EIIE; cost is K x this
    return (SharedActor(n_assets, n_features, n_params, hidden),
            SharedCritic(n_assets, n_features, hidden))


def mlp_networks(n_assets: int, n_features: int, n_params: int,
                 hidden: tuple[int, ...] | None = None) -> tuple[nn.Module, nn.Module]:
    """:class:`MLPActor` and :class:`MLPCritic` on the flat observation, (256, 256) by default."""
    hidden = hidden or (256, 256)
    k = n_assets + 1
    obs_dim = n_assets * n_features + k
    return MLPActor(obs_dim, k, n_params, hidden), MLPCritic(obs_dim, k, hidden)


NETWORK_BUILDERS: dict[str, NetworkBuilder] = {"shared": shared_networks, "mlp": mlp_networks}
"""The registry: ``SACConfig.network`` -> builder."""

NETWORKS = tuple(NETWORK_BUILDERS)
"""Accepted values of ``SACConfig.network`` (CLI choices)."""


def make_networks(network: str, n_assets: int, n_features: int, n_params: int,
                  hidden: tuple[int, ...] | None = None) -> tuple[nn.Module, nn.Module]:
    """Actor (B, K, n_params) and twin critic (2, B) of the architecture named ``network``."""
    builder = NETWORK_BUILDERS.get(network)
    if builder is None:
        raise ConfigError(f"unknown network {network!r}: use {' or '.join(NETWORK_BUILDERS)}")
    return builder(n_assets, n_features, n_params, hidden)
