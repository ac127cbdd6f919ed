"""The trained policies: :class:`Agent` (weights on the simplex) and :class:`MenuAgent` (a
distribution over a menu of strategies). Each acts on numpy observations and saves and loads
itself.

An :class:`Agent` wraps a :class:`~maxent_portfolio.agents.sac.SAC`, a :class:`MenuAgent` a
:class:`~maxent_portfolio.agents.discrete_sac.DiscreteSAC`, each with its config and training
record; their files are the inference checkpoints of :mod:`maxent_portfolio.agents.checkpoint`
(:func:`save_policy`, :func:`load_policy`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
import torch
from torch import nn

from maxent_portfolio.agents.buffer import ReplayBuffer
from maxent_portfolio.agents.checkpoint import (
    config_dict,
    corruption,
    load_checkpoint,
    save_checkpoint,
)
from maxent_portfolio.agents.config import SACConfig, resolve_device
from maxent_portfolio.agents.discrete_sac import DiscreteSAC
from maxent_portfolio.agents.sac import SAC
from maxent_portfolio.errors import DataError

M = TypeVar("M", bound=nn.Module)
A = TypeVar("A", SAC, DiscreteSAC)


def save_policy(path: str | os.PathLike[str], config: SACConfig, dims: list[int],
                algorithm: nn.Module, step: int, history: list[dict[str, float]],
                **extra: Any) -> None:
    """Networks, config and training record (no buffer, no optimiser) for inference,
    atomically; ``extra`` entries follow the record."""
    save_checkpoint({"config": config_dict(config), "dims": dims,
                     "model": algorithm.state_dict(), "step": step, "history": history,
                     **extra}, path)


def load_policy(path: str | os.PathLike[str], device: str,
                build: Callable[[int, int, SACConfig], M]) -> tuple[M, SACConfig, dict[str, Any]]:
    """The algorithm of a file of :func:`save_policy` (or a training checkpoint), built by
    ``build(*dims, config)`` and moved to ``device``; with its config and the whole file.

    Where it was trained says nothing of where it runs: a GPU-trained policy loads on a
    CPU-only machine.
    """
    state = load_checkpoint(path)
    try:
        config = SACConfig.from_dict(state["config"])
        dim_a, dim_b = (int(d) for d in state["dims"])
        algorithm = build(dim_a, dim_b, config)
        algorithm.load_state_dict(state["model"])
    except (KeyError, TypeError, RuntimeError, ValueError) as exc:
        raise DataError(f"corrupt checkpoint {path}: {corruption(exc)}") from exc
    config.device = resolve_device(device)
    return algorithm.to(config.device), config, state


@dataclass
class TrainedPolicy(Generic[A]):
    """What training leaves: the algorithm and its training record (the loop keeps these).

    Attributes
    ----------
    algorithm : SAC or DiscreteSAC
        Networks, temperature and optimiser state.
    config : SACConfig
    step : int
        Vector-env steps completed.
    history : list of dict
        Periodic records: ``step``, ``transitions``, ``updates``, ``episode_return``,
        ``alpha``, ``entropy``, ``effective_n``, ``eval_log_growth``, ``eval_effective_n``
        (when evaluated).
    interrupted : bool
        True when training stopped early (signal or callback) after saving a checkpoint.
    selected_step : int or None
        With ``model_selection = "best-validation"``: the step of the validation record whose
        networks the policy holds (None: the last networks).
    """

    algorithm: A
    config: SACConfig
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False
    selected_step: int | None = None


@dataclass
class Agent(TrainedPolicy[SAC]):
    """A trained SAC policy on the simplex: :class:`TrainedPolicy` of a :class:`SAC`.

    ``entropy`` and ``effective_n`` of its records are :meth:`SAC.policy_stats
    <maxent_portfolio.agents.sac.SAC.policy_stats>` of the latest minibatch.

    Attributes
    ----------
    buffer : ReplayBuffer or None
        The replay buffer of the run that produced the agent (None when loaded from a file).
    mix : float
        The weight of the policy's portfolio in what is held, the rest 1/N
        (:func:`~maxent_portfolio.strategies.shrinkage.evidence_mix` with ``shrinkage
        evidence``; 1: the policy alone). Saved with the networks.
    """

    buffer: ReplayBuffer | None = None
    mix: float = 1.0

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Weights (B, K) or (K,) for observations (B, obs_dim) or (obs_dim,)."""
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.config.device)
        single = x.ndim == 1
        w = self.algorithm.act(x.reshape(1, -1) if single else x, deterministic).double().cpu()
        weights = (w / w.sum(-1, keepdim=True)).numpy()
        return weights[0] if single else weights

    def policy_stats(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Policy entropy and effective N ``1 / E[sum w^2]`` at each observation, shapes (B,)."""
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.config.device)
        entropy, neff = self.algorithm.policy_stats(x.reshape(-1, x.shape[-1]))
        return entropy.cpu().numpy(), neff.cpu().numpy()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save networks and config only (no buffer) for inference, atomically."""
        save_policy(path, self.config, [self.algorithm.n_assets, self.algorithm.n_features],
                    self.algorithm, self.step, self.history, selected_step=self.selected_step,
                    mix=self.mix)

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str = "cpu") -> Agent:
        """Load a file written by :meth:`save` or by :func:`train`'s checkpointing.

        The agent runs on ``device`` (``cpu``, ``cuda`` or ``auto``) whatever device it was
        trained on, so a GPU-trained agent loads on a CPU-only machine.
        """
        sac, config, state = load_policy(path, device, SAC)
        selected = state.get("selected_step")
        return cls(sac, config, int(state.get("step", 0)), list(state.get("history", [])),
                   selected_step=None if selected is None else int(selected),
                   mix=float(state.get("mix", 1.0)))


@dataclass
class MenuAgent(TrainedPolicy[DiscreteSAC]):
    """A trained discrete SAC policy over a menu: :class:`TrainedPolicy` of a
    :class:`DiscreteSAC`.

    ``entropy`` of its records is the mean exact entropy of the minibatch's policies and
    ``effective_n`` its perplexity ``exp(entropy)``, the effective number of strategies. It
    keeps the networks of the end of training (``selected_step`` stays None).
    """

    def probabilities(self, obs: np.ndarray) -> np.ndarray:
        """``pi(.|s)`` (B, K) or (K,) for observations (B, obs_dim) or (obs_dim,), float64."""
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.config.device)
        single = x.ndim == 1
        with torch.no_grad():
            p = self.algorithm.policy(x.reshape(1, -1) if single else x).probs
        probs = p.double().cpu().numpy()
        probs /= probs.sum(-1, keepdims=True)
        return probs[0] if single else probs

    def save(self, path: str | os.PathLike[str]) -> None:
        """Networks and config only (no buffer), atomically."""
        save_policy(path, self.config, [self.algorithm.obs_dim, self.algorithm.k],
                    self.algorithm, self.step, self.history)

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str = "cpu") -> MenuAgent:
        """Load a file of :meth:`save` or a training checkpoint of
        :func:`~maxent_portfolio.agents.training.train_menu`."""
        sac, config, state = load_policy(path, device, DiscreteSAC)
        return cls(sac, config, int(state.get("step", 0)), list(state.get("history", [])))


__all__ = ["Agent", "MenuAgent", "TrainedPolicy", "load_policy", "save_policy"]
