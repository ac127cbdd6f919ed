"""``A`` SAC agents as one batched network: stacked weights of shape (A, ...), one update.

:class:`BatchedSAC` builds ``A`` ordinary :class:`~maxent_portfolio.agents.sac.SAC` members
(each initialised from its own seed exactly as a solo run would be) and stacks their actor, twin
critic and target critic parameters along a leading *agent axis*
(``torch.func.stack_module_state``). The built-in networks then run every agent at once through
their own ``batched`` forwards: one ``baddbmm`` per layer (CORL's ``VectorizedLinear``), the
critic's twin axis folded into the agent axis (``A x 2`` members of one
:class:`~maxent_portfolio.agents.networks.EnsembleLinear`). A network without them runs through
``torch.func.vmap`` over ``functional_call`` (LeanRL's recipe), which is also what
``use_vmap=True`` measures against: on one CPU thread the ``baddbmm`` path was 1.0-1.3x faster
(``benchmarks/bench_batched.py``). One Adam steps the stacked tensors: Adam is elementwise, so
each agent's slice follows its own moments.

What differs between agents is a tensor over the agent axis, never a Python scalar: the
temperature ``log_alpha`` (A,), the entropy targets (A,), fixed temperatures (A,) and the mask of
agents that tune theirs. Randomness is per agent too: every draw an agent makes (its replay
indices, its policy samples, its warm-up actions) comes from its own torch generator
(:class:`AgentStreams`), in the order its solo run would make it. So agents are independent:
changing one agent's seed changes nothing in another's numbers. The policy heads draw from
torch's default generator with a data-dependent number of draws (the Dirichlet's gamma
rejection sampler), so each agent samples in its own call: that per-agent sampling, forward and
backward, is the part of an update that does not batch.

:func:`~maxent_portfolio.agents.training.train_batched` trains it in the one loop
(:mod:`maxent_portfolio.agents.loop`); it shares :func:`~maxent_portfolio.agents.sac.
gradient_step` with :class:`~maxent_portfolio.agents.sac.SAC`.

A batched matmul is not the kernel a solo run calls, so agent ``a`` of a batched run matches
its solo run to float tolerance (the same draws, the same arithmetic up to rounding), not bit
for bit; each agent is still deterministic for its seed on CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple, TypeVar

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from maxent_portfolio.agents.buffer import ReplayBufferSamples
from maxent_portfolio.agents.checkpoint import config_dict
from maxent_portfolio.agents.config import SACConfig
from maxent_portfolio.agents.sac import SAC, gradient_step, soft_target
from maxent_portfolio.envs.dynamics import OneStepModel
from maxent_portfolio.errors import ConfigError

T = TypeVar("T")

PER_AGENT = frozenset({"seed", "alpha", "diversification", "target_entropy", "initial_alpha"})
"""Config fields that may differ between the agents of one batched run (tensors over the agent
axis); every other field is shared (one network shape, one optimiser, one loop)."""


def check_batchable(configs: Sequence[SACConfig]) -> None:
    """Refuse configs that cannot train as one batch: :class:`ConfigError` naming the fields.

    The agents may differ only in :data:`PER_AGENT` fields.
    """
    if not configs:
        raise ConfigError("train_batched needs at least one config")
    if configs[0].actor_horizon > 0 or configs[0].actor_objective == "mean":
        raise ConfigError("actor_horizon and actor_objective mean train one agent at a time: "
                          "use --seed-batch 1 "
                          "(the batched network has no H-step actor objective)")
    first = config_dict(configs[0])
    for i, config in enumerate(configs[1:], start=1):
        other = config_dict(config)
        differ = sorted(k for k in first if k not in PER_AGENT and first[k] != other.get(k))
        if differ:
            raise ConfigError(f"batched agents may differ only in {', '.join(sorted(PER_AGENT))}"
                              f"; config {i} differs from config 0 in {', '.join(differ)}")


class AgentStreams:
    """One torch generator state per agent; :meth:`draw` runs code on agent ``a``'s stream.

    The policy heads and the replay buffer draw from torch's default generator, as in a solo
    run; :meth:`draw` swaps agent ``a``'s state in, runs the draw and saves the advanced state.
    A state starts as ``torch.manual_seed(seed)`` leaves the default generator, so agent ``a``
    draws the numbers its solo run (seeded in one place, ``seed_everything``) would.

    On CUDA the state is the pair (CPU, CUDA device) of generator states: networks are
    initialised on the CPU, policy samples drawn on the device.

    Parameters
    ----------
    seeds : sequence of int
        One per agent.
    device : torch.device
        Where the draws happen (CPU or one CUDA device).
    """

    def __init__(self, seeds: Sequence[int], device: torch.device) -> None:
        self.device = device
        self.states: list[list[Tensor]] = []
        """Per agent: ``[cpu_state]``, or ``[cpu_state, cuda_state]`` on CUDA."""
        with torch.random.fork_rng([device] if device.type == "cuda" else []):
            for seed in seeds:
                torch.manual_seed(int(seed))
                self.states.append(self._get())

    def _get(self) -> list[Tensor]:
        if self.device.type == "cuda":
            return [torch.get_rng_state(), torch.cuda.get_rng_state(self.device)]
        return [torch.get_rng_state()]

    def _set(self, state: list[Tensor]) -> None:
        torch.set_rng_state(state[0])
        if self.device.type == "cuda":
            torch.cuda.set_rng_state(state[1], self.device)

    def draw(self, a: int, fn: Callable[[], T]) -> T:
        """``fn()`` with agent ``a``'s generator as the default one (which is then restored)."""
        outer = self._get()
        self._set(self.states[a])
        try:
            return fn()
        finally:
            self.states[a] = self._get()
            self._set(outer)


class BatchedLosses(NamedTuple):
    """Per-agent losses and diagnostics of one batched update.

    Attributes
    ----------
    qf_loss, actor_loss, alpha_loss : Tensor of shape (A,)
    qf_values : Tensor of shape (A, 2, B)
    log_prob : Tensor of shape (A, B)
        ``log pi`` of the fresh policy samples.
    actions : Tensor of shape (A, B, K)
    """

    qf_loss: Tensor
    actor_loss: Tensor
    alpha_loss: Tensor
    qf_values: Tensor
    log_prob: Tensor
    actions: Tensor


class _CriticPair(nn.Module):
    """``forward`` is the critic's ``(Q(s, a), Q_frozen(s, pi))``, so ``functional_call`` reaches
    it; critics without ``forward_pair`` get the frozen pass from detached parameters."""

    def __init__(self, critic: nn.Module) -> None:
        super().__init__()
        self.critic = critic

    def forward(self, obs: Tensor, action: Tensor, pi_action: Tensor) -> tuple[Tensor, Tensor]:
        pair = getattr(self.critic, "forward_pair", None)
        if pair is not None:
            return pair(obs, action, pi_action)  # type: ignore[no-any-return]
        frozen = {n: p.detach() for n, p in self.critic.named_parameters()}
        return self.critic(obs, action), functional_call(self.critic, frozen, (obs, pi_action))


def _stack(modules: Sequence[nn.Module], trainable: bool) -> dict[str, Tensor]:
    """Parameters of identical ``modules`` stacked along a new agent axis: name -> (A, ...)."""
    params, _ = stack_module_state(list(modules))
    return {n: p if trainable else p.detach() for n, p in params.items()}


class BatchedSAC:
    """``A`` SAC agents trained as one network with stacked weights.

    Parameters
    ----------
    n_assets, n_features : int
        Portfolio dimensions from the env.
    configs : sequence of SACConfig
        One per agent; they may differ only in :data:`PER_AGENT` fields.
    device : str or torch.device
    use_vmap : bool
        Run the networks through ``torch.func.vmap`` even when they have their own batched
        forward (``batched``/``batched_pair`` methods, one ``baddbmm`` per layer for every
        agent; several times cheaper on CPU for small networks). Networks without one always
        use ``vmap``.

    Attributes
    ----------
    members : list of SAC
        The agents as ordinary modules; :meth:`member` writes agent ``a``'s trained weights into
        its module. Their own optimisers are unused.
    actor_params, qf_params, qf_target_params : dict of str to Tensor
        Stacked parameters, each of shape (A, ...) (critics: (A, 2, ...)).
    log_alpha : Tensor of shape (A,)
    target_entropy, fixed_alpha : Tensor of shape (A,)
    autotune : Tensor of shape (A,), bool
    streams : AgentStreams
    """

    def __init__(self, n_assets: int, n_features: int, configs: Sequence[SACConfig],
                 device: str | torch.device = "cpu", use_vmap: bool = False) -> None:
        check_batchable(configs)
        self.configs = list(configs)
        self.device = torch.device(device)
        self.n_agents = len(configs)
        self.streams = AgentStreams([c.seed for c in configs], self.device)
        # Each member draws its initial weights from its own stream, as its solo run would.
        self.members = [self.streams.draw(a, partial(SAC, n_assets, n_features, c)).to(device)
                        for a, c in enumerate(configs)]
        base = self.members[0]
        self.head, self.k, self.obs_dim = base.head, base.k, base.obs_dim
        self.actor_params = _stack([m.actor for m in self.members], trainable=True)
        self.qf_params = _stack([m.qf for m in self.members], trainable=True)
        self.qf_target_params = _stack([m.qf_target for m in self.members], trainable=False)
        self._actor, self._qf_target, self._pair = base.actor, base.qf_target, _CriticPair(base.qf)
        self._qf = base.qf
        self.use_vmap = use_vmap or not all(
            callable(getattr(m, name, None)) for m, name in (
                (base.actor, "batched"), (base.qf, "batched"), (base.qf, "batched_pair")))

        def per_agent(values: Sequence[float], dtype: torch.dtype = torch.float32) -> Tensor:
            return torch.tensor(values, dtype=dtype, device=self.device)

        self.autotune = per_agent([m.autotune for m in self.members], torch.bool)
        self.target_entropy = per_agent([m.target_entropy for m in self.members])
        self.fixed_alpha = per_agent([float(c.alpha or 0.0) for c in configs])
        self.log_alpha = torch.stack([m.log_alpha.detach() for m in self.members]).clone()
        config = configs[0]
        groups: list[dict[str, Any]] = [
            {"params": list(self.actor_params.values()), "lr": config.policy_lr},
            {"params": list(self.qf_params.values()), "lr": config.q_lr}]
        if bool(self.autotune.any()):
            self.log_alpha.requires_grad_(True)
            groups.append({"params": [self.log_alpha], "lr": config.alpha_lr})
        self.optimizer = torch.optim.Adam(groups, fused=True)
        self.gamma, self.tau, self.reward_scale = config.gamma, config.tau, config.reward_scale
        self.model: OneStepModel | None = None
        """The env's one-step model (shared by every agent), set by the training loop."""

    # -- the batched networks ------------------------------------------------------------------

    def actor(self, obs: Tensor, params: dict[str, Tensor] | None = None) -> Tensor:
        """Policy parameters (A, B, K, P) for observations (A, B, obs_dim)."""
        params = params or self.actor_params
        if not self.use_vmap:
            return self._actor.batched(params, obs)  # type: ignore[no-any-return, operator]
        return vmap(partial(functional_call, self._actor))(params, (obs,))

    def qf_target(self, obs: Tensor, action: Tensor) -> Tensor:
        """Target twin Q (A, 2, B) of observations (A, B, obs_dim) and actions (A, B, K)."""
        if not self.use_vmap:
            return self._qf_target.batched(  # type: ignore[no-any-return, operator]
                self.qf_target_params, obs, action)
        return vmap(partial(functional_call, self._qf_target))(self.qf_target_params,
                                                               (obs, action))

    def qf_pair(self, obs: Tensor, action: Tensor, pi_action: Tensor) -> tuple[Tensor, Tensor]:
        """``(Q(s, a), Q_frozen(s, pi))``, each (A, 2, B): see ``MLPCritic.forward_pair``."""
        if not self.use_vmap:
            return self._qf.batched_pair(  # type: ignore[no-any-return, operator]
                self.qf_params, obs, action, pi_action)
        params = {f"critic.{n}": p for n, p in self.qf_params.items()}
        out: tuple[Tensor, Tensor] = vmap(partial(functional_call, self._pair))(
            params, (obs, action, pi_action))
        return out

    def sample(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Actions (A, B, K) and log-ratios (A, B), each agent from its own stream.

        The log-ratio is ``log pi(a|s)``, less the reference's ``log rho(a)`` with a reference
        policy (:meth:`SAC.log_ratio <maxent_portfolio.agents.sac.SAC.log_ratio>`).
        """
        draws = [self.streams.draw(a, partial(self.head.sample, x[a]))
                 for a in range(self.n_agents)]
        log_ratio = [self.members[0].log_ratio(d) for d in draws]  # the reference is shared
        return torch.stack([d.action for d in draws]), torch.stack(log_ratio)

    @property
    def alpha(self) -> Tensor:
        """Temperatures (A,), detached; exactly ``config.alpha`` where fixed."""
        return torch.where(self.autotune, self.log_alpha.detach().exp(), self.fixed_alpha)

    # -- losses and update ---------------------------------------------------------------------

    def losses(self, batch: ReplayBufferSamples) -> BatchedLosses:
        """Every agent's critic, actor and temperature losses of its minibatch, shapes (A, B, ...).

        The same three losses as :meth:`SAC.losses <maxent_portfolio.agents.sac.SAC.losses>`,
        per agent.
        """
        alpha, model, scale = self.alpha[:, None], self.model, self.reward_scale
        with torch.no_grad():
            next_action, next_log_prob = self.sample(self.actor(batch.next_observations))
            qf_next_target = self.qf_target(batch.next_observations, next_action)
            min_qf_next_target = qf_next_target.min(1).values
            if model is None:
                next_q_value = soft_target(batch.rewards * scale, batch.dones,
                                           min_qf_next_target, next_log_prob, alpha, self.gamma)
            else:  # the critics hold the continuation value C; r(s', a') is exact
                next_reward = self._model_reward(model.next_positions(
                    self._positions(batch).flatten()).reshape(next_action.shape[:2]),
                    batch.next_observations, next_action)
                next_q_value = self.gamma * (1.0 - batch.dones) * (
                    scale * next_reward + min_qf_next_target - alpha * next_log_prob)
        action, log_prob = self.sample(self.actor(batch.observations))
        qf_values, qf_pi = self.qf_pair(batch.observations, batch.actions, action)
        qf_loss = (qf_values - next_q_value[:, None]).pow(2).mean(2).sum(1)
        min_qf_pi = qf_pi.min(1).values
        if model is not None:  # Q(s, a) = r(s, a) + C(s, a), r exact and differentiable
            min_qf_pi = min_qf_pi + scale * self._model_reward(
                self._positions(batch), batch.observations, action)
        actor_loss = (alpha * log_prob - min_qf_pi).mean(1)
        alpha_loss = -(self.log_alpha[:, None] * (log_prob.detach()
                                                  + self.target_entropy[:, None])).mean(1)
        alpha_loss = torch.where(self.autotune, alpha_loss, torch.zeros_like(alpha_loss))
        return BatchedLosses(qf_loss, actor_loss, alpha_loss, qf_values, log_prob, action)

    @staticmethod
    def _positions(batch: ReplayBufferSamples) -> Tensor:
        if batch.positions is None:
            raise ValueError("the one-step model needs the states' positions in the batch")
        return batch.positions

    def _model_reward(self, positions: Tensor, observations: Tensor, actions: Tensor) -> Tensor:
        """The one-step model's rewards (A, B): every agent trains on the same window, so one
        model serves the flattened agent axis."""
        assert self.model is not None
        a, b = actions.shape[:2]
        return self.model.step(positions.reshape(a * b), observations.reshape(a * b, -1),
                               actions.reshape(a * b, -1)).rewards.reshape(a, b)

    def update(self, batch: ReplayBufferSamples) -> BatchedLosses:
        """One gradient step of every agent, then the Polyak update of the target critics.

        The summed loss moves each agent's slice by the gradient of that agent's own loss.
        """
        out = self.losses(batch)
        gradient_step(self.optimizer, (out.qf_loss + out.actor_loss + out.alpha_loss).sum(),
                      self.qf_params.values(), self.qf_target_params.values(), self.tau)
        return out

    @torch.no_grad()
    def act(self, obs: Tensor, deterministic: bool = False) -> Tensor:
        """Actions (A, B, K) for observations (A, B, obs_dim): samples, or the heads' modes."""
        x = self.actor(obs)
        if deterministic:
            return self.head.mode(x.flatten(0, 1)).reshape(*x.shape[:3])
        return self.sample(x)[0]

    # -- members and state ---------------------------------------------------------------------

    def _copy(self, a: int, sac: SAC, to_member: bool) -> None:
        """Copy agent ``a``'s weights and temperature from the stacks into ``sac`` or back."""
        with torch.no_grad():
            for module, stacked in ((sac.actor, self.actor_params), (sac.qf, self.qf_params),
                                    (sac.qf_target, self.qf_target_params)):
                for name, p in module.named_parameters():
                    dst, src = (p, stacked[name][a]) if to_member else (stacked[name][a], p)
                    dst.copy_(src)
            dst, src = ((sac.log_alpha, self.log_alpha[a]) if to_member
                        else (self.log_alpha[a], sac.log_alpha))
            dst.copy_(src)

    def member(self, a: int) -> SAC:
        """Agent ``a`` as an ordinary :class:`SAC` holding (copies of) its current weights."""
        self._copy(a, self.members[a], to_member=True)
        return self.members[a]

    def load_member(self, a: int, sac: SAC) -> None:
        """Warm start: agent ``a`` takes the networks, target critics and temperature of ``sac``
        (which must have the same architecture)."""
        self._copy(a, sac, to_member=False)

    def state_dict(self) -> dict[str, Any]:
        """Stacked weights, temperatures and optimiser state (tensors and plain data)."""
        return {"actor": {n: p.detach().clone() for n, p in self.actor_params.items()},
                "qf": {n: p.detach().clone() for n, p in self.qf_params.items()},
                "qf_target": {n: p.clone() for n, p in self.qf_target_params.items()},
                "log_alpha": self.log_alpha.detach().clone(),
                "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put back what :meth:`state_dict` saved (shapes must match)."""
        with torch.no_grad():
            for key, stacked in (("actor", self.actor_params), ("qf", self.qf_params),
                                 ("qf_target", self.qf_target_params)):
                if set(state[key]) != set(stacked):
                    raise KeyError(key)
                for name, p in stacked.items():
                    p.copy_(state[key][name])
            self.log_alpha.copy_(state["log_alpha"])
        self.optimizer.load_state_dict(state["optimizer"])


__all__ = ["PER_AGENT", "AgentStreams", "BatchedLosses", "BatchedSAC", "check_batchable"]
