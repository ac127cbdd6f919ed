"""Rewards of the portfolio environments: small pure functions registered by name.

Every reward maps one step's log growth ``g = log(1 + net_return)`` (batched over episodes) and
the episodes' moving moments ``A``, ``B`` (:class:`RewardState`) to the reward and the moments
after the step. Adding a reward is one function with the :data:`RewardFunction` signature plus
one entry in :data:`REWARD_FUNCTIONS`; :data:`REWARDS` (the accepted ``reward`` arguments) and
:func:`compute_reward` follow from the registry. The definitions are documented on
:class:`maxent_portfolio.envs.portfolio.PortfolioEnv` (section *Rewards*).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

DSR_MIN_VAR = 1e-12
"""Moving variance ``B - A^2`` below which the differential Sharpe ratio is 0 (undefined)."""


@dataclass
class RewardState:
    """Running quantities of the shaped rewards, one entry per episode.

    Attributes
    ----------
    mean, second : ndarray of shape (B,)
        Exponential moving first and second moments ``A``, ``B`` of the log growth.
    """

    mean: np.ndarray
    second: np.ndarray

    @classmethod
    def empty(cls, size: int) -> RewardState:
        return cls(np.zeros(size), np.zeros(size))

    def reset(self, index: np.ndarray | slice, prior: np.ndarray | float) -> None:
        """Start episodes ``index`` with ``A = 0`` and ``B = prior`` (in place)."""
        self.mean[index] = 0.0
        self.second[index] = prior


RewardFunction = Callable[[np.ndarray, RewardState, float, float],
                          tuple[np.ndarray, RewardState]]
"""``(growth (B,), moments, risk_aversion, eta) -> (reward (B,), moments after the step)``."""


def log_reward(growth: np.ndarray, moments: RewardState, risk_aversion: float,
               eta: float) -> tuple[np.ndarray, RewardState]:
    """``g``: summed over an episode, the log of the final value (Kelly growth)."""
    return growth, moments


def drawdown_reward(growth: np.ndarray, moments: RewardState, risk_aversion: float,
                    eta: float) -> tuple[np.ndarray, RewardState]:
    """``g - lambda max(0, -g)``: the step's deepening of the log drawdown is ``max(0, -g)``."""
    return growth - risk_aversion * np.maximum(-growth, 0.0), moments


def mean_variance_reward(growth: np.ndarray, moments: RewardState, risk_aversion: float,
                         eta: float) -> tuple[np.ndarray, RewardState]:
    """``g - lambda (g - A)^2``, then ``A += eta (g - A)``."""
    d_mean = growth - moments.mean
    reward = growth - risk_aversion * d_mean * d_mean
    return reward, RewardState(moments.mean + eta * d_mean, moments.second)


def differential_sharpe_reward(growth: np.ndarray, moments: RewardState, risk_aversion: float,
                               eta: float) -> tuple[np.ndarray, RewardState]:
    """Moody & Saffell's ``D = (B dA - A dB / 2) / (B - A^2)^(3/2)``, then both moments move.

    ``dA = g - A`` and ``dB = g^2 - B``; ``D = 0`` while ``B - A^2 <= DSR_MIN_VAR``.
    """
    mean, second = moments.mean, moments.second
    d_mean = growth - mean
    d_second = growth * growth - second
    var = second - mean * mean
    ok = var > DSR_MIN_VAR
    safe = np.where(ok, var, 1.0)  # no 0 / 0 where D is defined as 0
    reward = np.where(ok, (second * d_mean - 0.5 * mean * d_second) / (safe * np.sqrt(safe)),
                      0.0)
    return reward, RewardState(mean + eta * d_mean, second + eta * d_second)


REWARD_FUNCTIONS: dict[str, RewardFunction] = {
    "log": log_reward,
    "dsr": differential_sharpe_reward,
    "mean-var": mean_variance_reward,
    "drawdown": drawdown_reward,
}
"""The registry: ``reward`` argument -> reward function."""

REWARDS = tuple(REWARD_FUNCTIONS)
"""Accepted values of the environments' ``reward`` argument."""


def compute_reward(kind: str, growth: np.ndarray, moments: RewardState, risk_aversion: float,
                   eta: float) -> tuple[np.ndarray, RewardState]:
    """The reward named ``kind`` of one step, batched.

    Parameters
    ----------
    kind : str
        A key of :data:`REWARD_FUNCTIONS` (the env checks it at construction).
    growth : ndarray of shape (B,)
        Log growth net of costs, ``log(1 + net_return)``.
    moments : RewardState
        Moving moments before the step (not modified).
    risk_aversion, eta : float
        ``lambda`` and the moving-moment rate ``eta``.

    Returns
    -------
    reward : ndarray of shape (B,)
    moments : RewardState
        The moments after the step (``moments`` itself when the reward does not use them).
    """
    return REWARD_FUNCTIONS[kind](growth, moments, risk_aversion, eta)


__all__ = ["DSR_MIN_VAR", "REWARDS", "REWARD_FUNCTIONS", "RewardFunction", "RewardState",
           "compute_reward", "differential_sharpe_reward", "drawdown_reward", "log_reward",
           "mean_variance_reward"]
