"""A preallocated ring replay buffer of torch tensors."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, cast

import torch
from torch import Tensor


class ReplayBufferSamples(NamedTuple):
    """A minibatch of transitions.

    Attributes
    ----------
    observations, next_observations : Tensor of shape (B, obs_dim)
    actions : Tensor of shape (B, K)
    rewards : Tensor of shape (B,)
    dones : Tensor of shape (B,)
        1.0 where the episode *terminated* at this step (never for truncation, which bootstraps).
    positions : Tensor of shape (B,), int64, or None
        The date position of each state, for the one-step model (None when not stored).
    """

    observations: Tensor
    actions: Tensor
    next_observations: Tensor
    rewards: Tensor
    dones: Tensor
    positions: Tensor | None = None


class _Ring:
    """The write position of a ring of ``capacity`` rows, shared by both buffers."""

    capacity: int
    pos: int
    full: bool
    device: torch.device

    def __len__(self) -> int:
        return self.capacity if self.full else self.pos

    def _slots(self, n: int) -> Tensor:
        """The rows the next ``n`` transitions go to (oldest overwritten first); advances."""
        idx = (torch.arange(n, device=self.device) + self.pos) % self.capacity
        self.full = self.full or self.pos + n >= self.capacity
        self.pos = (self.pos + n) % self.capacity
        return idx


class ReplayBuffer(_Ring):
    """Fixed-capacity FIFO of transitions, stored as float32 tensors on ``device``.

    Parameters
    ----------
    capacity : int
        Transitions kept; the oldest are overwritten first.
    obs_dim, action_dim : int
    device : str or torch.device
    """

    def __init__(self, capacity: int, obs_dim: int, action_dim: int,
                 device: str | torch.device = "cpu", positions: bool = False) -> None:
        self.capacity = int(capacity)
        self.device = torch.device(device)
        self.pos = 0
        self.full = False

        def alloc(*shape: int) -> Tensor:
            return torch.zeros((self.capacity, *shape), dtype=torch.float32, device=self.device)

        self.observations = alloc(obs_dim)
        self.next_observations = alloc(obs_dim)
        self.actions = alloc(action_dim)
        self.rewards = alloc()
        self.dones = alloc()
        self.positions: Tensor | None = (
            torch.zeros(self.capacity, dtype=torch.int64, device=self.device) if positions
            else None)

    def add(self, obs: Tensor, next_obs: Tensor, actions: Tensor, rewards: Tensor,
            dones: Tensor, positions: Tensor | None = None) -> None:
        """Append a batch of ``n`` transitions (one per vector-env member), shapes (n, ...).

        ``positions`` (n,) are the states' date positions, required when the buffer stores them.
        """
        idx = self._slots(obs.shape[0])
        self.observations[idx] = obs.to(self.device, torch.float32)
        self.next_observations[idx] = next_obs.to(self.device, torch.float32)
        self.actions[idx] = actions.to(self.device, torch.float32)
        self.rewards[idx] = rewards.to(self.device, torch.float32)
        self.dones[idx] = dones.to(self.device, torch.float32)
        if self.positions is not None:
            if positions is None:
                raise ValueError("this buffer stores positions: pass them to add()")
            self.positions[idx] = positions.to(self.device, torch.int64)

    def sample(self, batch_size: int, generator: torch.Generator | None = None
               ) -> ReplayBufferSamples:
        """Uniformly sample ``batch_size`` transitions with replacement."""
        idx = torch.randint(len(self), (batch_size,), device=self.device, generator=generator)
        # index_select is several times cheaper than advanced indexing for a row gather
        obs, actions, next_obs, rewards, dones = (torch.index_select(x, 0, idx) for x in (
            self.observations, self.actions, self.next_observations, self.rewards, self.dones))
        positions = None if self.positions is None else torch.index_select(self.positions, 0, idx)
        return ReplayBufferSamples(obs, actions, next_obs, rewards, dones, positions)

    def state_dict(self) -> dict[str, Tensor | int | bool]:
        """Only the filled part is saved, so a checkpoint grows with the data, not the capacity."""
        n = len(self)
        saved: dict[str, Tensor | int | bool] = {
            "pos": self.pos, "full": self.full,
            "observations": self.observations[:n].clone(),
            "next_observations": self.next_observations[:n].clone(),
            "actions": self.actions[:n].clone(), "rewards": self.rewards[:n].clone(),
            "dones": self.dones[:n].clone()}
        if self.positions is not None:
            saved["positions"] = self.positions[:n].clone()
        return saved

    def load_state_dict(self, state: dict[str, Tensor | int | bool]) -> None:
        self.pos, self.full = int(state["pos"]), bool(state["full"])
        names = ["observations", "next_observations", "actions", "rewards", "dones"]
        if self.positions is not None:
            names.append("positions")
        for name in names:
            data = state[name]
            assert isinstance(data, Tensor)
            getattr(self, name)[: len(data)] = data.to(self.device)


_FIELDS = ReplayBufferSamples._fields[:5]
"""Storage tensors of a buffer, in :class:`ReplayBufferSamples` order."""


class BatchedReplayBuffer(_Ring):
    """One replay buffer per agent of a batched run, stored as tensors of shape (A, capacity, ...).

    Agent ``a`` sees exactly the transitions, and (drawing from its own generator) the
    minibatches, that a :class:`ReplayBuffer` of its solo run would: the rows are filled in the
    same order and :meth:`sample` draws each agent's indices with the same ``torch.randint``
    call; only the gather is one ``index_select`` for all agents.

    Parameters
    ----------
    n_agents : int
        ``A``, the agent axis.
    capacity, obs_dim, action_dim : int
        Per agent, as for :class:`ReplayBuffer`.
    device : str or torch.device
    """

    def __init__(self, n_agents: int, capacity: int, obs_dim: int, action_dim: int,
                 device: str | torch.device = "cpu", positions: bool = False) -> None:
        self.n_agents, self.capacity = int(n_agents), int(capacity)
        self.device = torch.device(device)
        self.pos = 0
        self.full = False
        widths = {"observations": (obs_dim,), "actions": (action_dim,),
                  "next_observations": (obs_dim,), "rewards": (), "dones": ()}
        self.storage = {name: torch.zeros((self.n_agents, self.capacity, *widths[name]),
                                          dtype=torch.float32, device=self.device)
                        for name in _FIELDS}
        if positions:  # the states' date positions, for the one-step model
            self.storage["positions"] = torch.zeros((self.n_agents, self.capacity),
                                                    dtype=torch.int64, device=self.device)

    def add(self, obs: Tensor, next_obs: Tensor, actions: Tensor, rewards: Tensor,
            dones: Tensor, positions: Tensor | None = None) -> None:
        """Append ``n`` transitions per agent: shapes (A, n, ...); ``positions`` (A, n) are
        required when the buffer stores them."""
        idx = self._slots(obs.shape[1])
        values = {"observations": obs, "actions": actions, "next_observations": next_obs,
                  "rewards": rewards, "dones": dones}
        for name, value in values.items():
            self.storage[name][:, idx] = value.to(self.device, torch.float32)
        if "positions" in self.storage:
            if positions is None:
                raise ValueError("this buffer stores positions: pass them to add()")
            self.storage["positions"][:, idx] = positions.to(self.device, torch.int64)

    def sample(self, batch_size: int, draw: Callable[[int, Callable[[], Tensor]], Tensor]
               ) -> ReplayBufferSamples:
        """``batch_size`` transitions per agent, shapes (A, B, ...).

        ``draw(a, fn)`` calls ``fn`` with agent ``a``'s generator as torch's default one
        (:meth:`AgentStreams.draw <maxent_portfolio.agents.batched_sac.AgentStreams.draw>`).
        """
        size = len(self)
        idx = torch.stack([draw(a, lambda: torch.randint(size, (batch_size,), device=self.device))
                           for a in range(self.n_agents)])
        flat = (idx + torch.arange(self.n_agents, device=self.device)[:, None] * self.capacity
                ).reshape(-1)
        return ReplayBufferSamples(*(
            torch.index_select(x.flatten(0, 1), 0, flat).reshape(self.n_agents, batch_size,
                                                                 *x.shape[2:])
            for x in self.storage.values()))  # storage order: the samples' fields, positions last

    def member(self, a: int) -> ReplayBuffer:
        """Agent ``a``'s buffer as a :class:`ReplayBuffer` whose tensors are views of this one."""
        view = ReplayBuffer(1, 1, 1, self.device, positions="positions" in self.storage)
        view.capacity, view.pos, view.full = self.capacity, self.pos, self.full
        for name, x in self.storage.items():
            setattr(view, name, x[a])
        return view

    def state_dict(self) -> dict[str, Tensor | int | bool]:
        """The filled part only, as :meth:`ReplayBuffer.state_dict` saves it."""
        n = len(self)
        saved: dict[str, Tensor | int | bool] = {"pos": self.pos, "full": self.full}
        saved.update({name: x[:, :n].clone() for name, x in self.storage.items()})
        return saved

    def load_state_dict(self, state: dict[str, Tensor | int | bool]) -> None:
        self.pos, self.full = int(state["pos"]), bool(state["full"])
        filled = len(self)  # the rows state_dict saved
        for name, x in self.storage.items():
            x[:, :filled] = cast(Tensor, state[name]).to(self.device)
