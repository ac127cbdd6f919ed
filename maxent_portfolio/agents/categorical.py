"""The discrete agent's policy: a categorical distribution over a menu of ``K`` strategies.

:class:`CategoricalPolicy` is ``pi(.|s) = softmax(logits(s))``, with its exact entropy (no
sampling needed over a finite menu); :func:`menu_target_entropy` is its entropy target, set by
the same ``--diversification`` dial as the simplex heads of :mod:`.distributions`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from maxent_portfolio.errors import ConfigError


def menu_target_entropy(k: int, diversification: float) -> float:
    """The entropy target of a menu of ``k`` strategies: ``log(1 + d (k - 1) / 2)`` nats.

    ``exp(H)`` (the perplexity) is the effective number of strategies a categorical policy
    spreads over; the dial asks for ``1 + d (k - 1) / 2`` of them, from one (``d -> 0``) to
    ``(k + 1) / 2`` at ``d = 1``, the discrete analogue of ``sac``'s ``1 + d ((K + 1) / 2 - 1)``
    effective assets. As a fraction of ``log k`` it is ``log(1 + d (k - 1) / 2) / log k``
    (0.70 at ``d = 1``, 0.45 at ``d = 0.5`` for six strategies): always below ``log k``, the
    uniform policy's entropy, so the target is reachable with a finite temperature (the usual
    ``0.98 log K`` drives ``alpha`` without bound on a small menu).

    Raises
    ------
    ConfigError
        If ``k < 2`` or ``diversification`` is outside (0, 1].
    """
    if k < 2:
        raise ConfigError(f"a menu needs at least 2 strategies, got {k}")
    if not 0.0 < diversification <= 1.0 or not math.isfinite(diversification):
        raise ConfigError(f"diversification must be in (0, 1], got {diversification}")
    return math.log(1.0 + diversification * (k - 1) / 2.0)


class CategoricalPolicy(NamedTuple):
    """A batch of categorical distributions over ``K`` menu entries.

    Attributes
    ----------
    probs, log_probs : Tensor of shape (B, K)
    """

    probs: Tensor
    log_probs: Tensor

    @classmethod
    def from_logits(cls, logits: Tensor) -> CategoricalPolicy:
        log_probs = torch.log_softmax(logits, dim=-1)
        return cls(log_probs.exp(), log_probs)

    def entropy(self) -> Tensor:
        """``-sum_k pi_k log pi_k`` (B,), exact."""
        return -(self.probs * self.log_probs).sum(-1)

    def mode(self) -> Tensor:
        """The most probable entry (B,), int64."""
        return self.probs.argmax(-1)

    def sample(self) -> Tensor:
        """One entry per row (B,), int64, drawn from torch's global generator."""
        return torch.multinomial(self.probs, 1).squeeze(-1)


__all__ = ["CategoricalPolicy", "menu_target_entropy"]
