"""The trained policy, :class:`Agent`: acts on numpy observations, saves and loads itself.

It wraps a :class:`~maxent_portfolio.agents.sac.SAC` with its config and training record; its
files are the inference checkpoints of :mod:`maxent_portfolio.agents.checkpoint`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch

from maxent_portfolio.agents.buffer import ReplayBuffer
from maxent_portfolio.agents.checkpoint import config_dict, load_checkpoint, save_checkpoint
from maxent_portfolio.agents.config import SACConfig, resolve_device
from maxent_portfolio.agents.sac import SAC
from maxent_portfolio.errors import DataError


@dataclass
class Agent:
    """A trained SAC policy plus its training record.

    Attributes
    ----------
    sac : SAC
        Networks and optimiser state.
    config : SACConfig
    step : int
        Vector-env steps completed.
    history : list of dict
        Periodic records: ``step``, ``episode_return``, ``alpha``, ``entropy``, ``effective_n``,
        ``eval_log_growth``, ``eval_effective_n`` (when evaluated).
    interrupted : bool
        True when training stopped early (signal or callback) after saving a checkpoint.
    buffer : ReplayBuffer or None
        The replay buffer of the run that produced the agent (None when loaded from a file).
    selected_step : int or None
        With ``model_selection = "best-validation"``: the step of the validation record whose
        networks the agent holds (None: the last networks).
    """

    sac: SAC
    config: SACConfig
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False
    buffer: ReplayBuffer | None = None
    selected_step: int | None = None

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Weights (B, K) or (K,) for observations (B, obs_dim) or (obs_dim,)."""
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.config.device)
        single = x.ndim == 1
        w = self.sac.act(x.reshape(1, -1) if single else x, deterministic).double().cpu()
        weights = (w / w.sum(-1, keepdim=True)).numpy()
        return weights[0] if single else weights

    def policy_stats(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Policy entropy and effective N ``1 / E[sum w^2]`` at each observation, shapes (B,)."""
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.config.device)
        entropy, neff = self.sac.policy_stats(x.reshape(-1, x.shape[-1]))
        return entropy.cpu().numpy(), neff.cpu().numpy()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save networks and config only (no buffer) for inference, atomically."""
        save_checkpoint({"config": config_dict(self.config),
                         "dims": [self.sac.n_assets, self.sac.n_features],
                         "model": self.sac.state_dict(), "step": self.step,
                         "history": self.history, "selected_step": self.selected_step}, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str = "cpu") -> Agent:
        """Load a file written by :meth:`save` or by :func:`train`'s checkpointing.

        The agent runs on ``device`` (``cpu``, ``cuda`` or ``auto``) whatever device it was
        trained on, so a GPU-trained agent loads on a CPU-only machine.
        """
        state = load_checkpoint(path)
        try:
            config = SACConfig.from_dict(state["config"])
            n_assets, n_features = (int(d) for d in state["dims"])
            sac = SAC(n_assets, n_features, config)
            sac.load_state_dict(state["model"])
        except (KeyError, TypeError, RuntimeError, ValueError) as exc:
            raise DataError(f"corrupt checkpoint {path}: {type(exc).__name__}") from exc
        device = resolve_device(device)
        config.device = device
        selected = state.get("selected_step")
        return cls(sac.to(device), config, int(state.get("step", 0)),
                   list(state.get("history", [])),
                   selected_step=None if selected is None else int(selected))


__all__ = ["Agent"]
