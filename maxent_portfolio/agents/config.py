"""The agent's configuration: :class:`SACConfig`, and the device it runs on."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch

from maxent_portfolio.agents.distributions import POLICIES
from maxent_portfolio.agents.networks import NETWORKS
from maxent_portfolio.errors import ConfigError


@dataclass
class SACConfig:
    """Hyper-parameters of SAC on the simplex. Every field is plain data (saved in checkpoints)."""

    total_steps: int = 20_000
    """Vector-env steps to run; each collects ``num_envs`` transitions."""
    num_envs: int = 4
    """Parallel episodes in the batched env."""
    seed: int = 1
    """Seeds python, numpy, torch and the env, in one place (:func:`seed_everything`)."""
    gamma: float = 0.99
    """Discount factor."""
    tau: float = 0.005
    """Polyak coefficient of the target critics."""
    policy_lr: float = 3e-4
    """Adam learning rate of the actor."""
    q_lr: float = 1e-3
    """Adam learning rate of the twin critics."""
    alpha_lr: float = 1e-3
    """Adam learning rate of ``log_alpha`` (automatic temperature only)."""
    batch_size: int = 256
    """Minibatch size of each gradient update."""
    buffer_size: int = 200_000
    """Replay buffer capacity in transitions."""
    learning_starts: int = 250
    """Warm-up vector-env steps with uniform ``Dirichlet(1)`` actions and no updates."""
    utd_ratio: float = 0.25
    """Gradient updates per collected transition (update-to-data ratio)."""
    alpha: float | None = None
    """Fixed temperature; ``None`` tunes it automatically towards ``target_entropy``."""
    initial_alpha: float = 0.1
    """Starting temperature when tuned automatically."""
    diversification: float = 0.5
    """Entropy target as a portfolio fraction in (0, 1], see ``distributions.target_entropy``."""
    target_entropy: float | None = None
    """Explicit entropy target (nats); overrides ``diversification`` when set."""
    policy: str = "dirichlet"
    """Policy head: ``dirichlet`` or ``logistic-normal``."""
    network: str = "shared"
    """``shared`` (per-asset encoder, any N) or ``mlp`` (flat MLP)."""
    hidden: tuple[int, ...] | None = None
    """Hidden sizes; default (32, 32) per token for ``shared`` and (256, 256) for ``mlp``."""
    reward_scale: float = 100.0
    """Rewards (daily log growth) are multiplied by this before learning (SAC's reward scale)."""
    device: str = "cpu"
    """Torch device."""
    eval_every: int = 0
    """Evaluate the deterministic policy on the validation env every this many steps (0: off)."""
    checkpoint_every: int = 0
    """Save a checkpoint every this many steps when a path is given (0: only at the end)."""
    log_every: int = 50
    """Steps between progress-bar and history updates."""
    num_threads: int | None = 1
    """``torch.set_num_threads``; None leaves torch's default."""

    def validate(self) -> None:
        """Raise :class:`ConfigError` on the first invalid value."""
        checks: list[tuple[bool, str]] = [
            (self.total_steps >= 0, f"total_steps must be >= 0, got {self.total_steps}"),
            (self.num_envs >= 1, f"num_envs must be >= 1, got {self.num_envs}"),
            (0.0 <= self.gamma < 1.0, f"gamma must be in [0, 1), got {self.gamma}"),
            (0.0 < self.tau <= 1.0, f"tau must be in (0, 1], got {self.tau}"),
            (min(self.policy_lr, self.q_lr, self.alpha_lr) > 0, "learning rates must be > 0"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.buffer_size >= self.num_envs, "buffer_size must hold one step of every env"),
            (self.learning_starts >= 0, "learning_starts must be >= 0"),
            (self.utd_ratio > 0, f"utd_ratio must be > 0, got {self.utd_ratio}"),
            (self.alpha is None or self.alpha >= 0, f"alpha must be >= 0, got {self.alpha}"),
            (self.initial_alpha > 0, f"initial_alpha must be > 0, got {self.initial_alpha}"),
            (0.0 < self.diversification <= 1.0,
             f"diversification must be in (0, 1], got {self.diversification}"),
            (self.policy in POLICIES,
             f"unknown policy {self.policy!r}: use {' or '.join(POLICIES)}"),
            (self.network in NETWORKS,
             f"unknown network {self.network!r}: use {' or '.join(NETWORKS)}"),
            (self.reward_scale > 0, f"reward_scale must be > 0, got {self.reward_scale}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device {self.device!r} requested but CUDA is not available")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SACConfig:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if kwargs.get("hidden") is not None:
            kwargs["hidden"] = tuple(kwargs["hidden"])
        return cls(**kwargs)



DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available else ``cpu``; ``cuda`` without CUDA is an error."""
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}: use {', '.join(DEVICES)}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' requested but CUDA is not available")
    return device


__all__ = ["DEVICES", "SACConfig", "resolve_device"]
