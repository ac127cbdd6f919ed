"""Policy distributions on the probability simplex, and the diversification dial.

Both heads are densities with respect to Lebesgue measure on the first ``K - 1`` coordinates
of the ``K``-simplex ``{w : w_i >= 0, sum_i w_i = 1}`` (``K = n_assets + 1``, cash last), so
their log-probabilities and entropies are directly comparable. The largest differential entropy
any density on the simplex can have is the log of its volume, ``-ln Gamma(K)``, attained by the
uniform density ``Dirichlet(1, ..., 1)``.

* :class:`DirichletHead` - concentrations ``softplus(x) + floor``; reparameterised samples
  (``torch.distributions.Dirichlet.rsample``), exact log-prob and entropy; deterministic
  action = the mean.
* :class:`LogisticNormalHead` - a diagonal Gaussian over ``K - 1`` logits relative to a reference
  component (cash, whose logit is fixed at 0), pushed through the softmax. The log-density uses
  the exact change of variables ``log N(z) - sum_{i=1..K} log w_i`` (the Jacobian determinant of
  the additive-logistic transform is ``prod_{i=1..K} w_i``); deterministic action =
  ``softmax([mu, 0])``.

:func:`target_entropy` maps the user's ``diversification`` fraction to an entropy target that the
head can always reach (see its docstring for the exact mapping).

Every head implements :class:`PolicyHead` (``sample``, ``log_prob``, ``entropy``, ``mode`` and
its ``target_entropy(diversification)``) and is registered by name in :data:`POLICY_HEADS`;
:data:`POLICIES` (the accepted ``policy`` values) derives from it, so a new head is one subclass
plus one registry entry.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from functools import lru_cache
from typing import ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions.dirichlet import _Dirichlet

from maxent_portfolio.errors import ConfigError

SAMPLE_FLOOR = 1e-6
"""Smallest weight a stored or evaluated sample may have; samples are clamped then renormalised."""

CONCENTRATION_FLOOR = 1e-2
"""Added to ``softplus`` so a Dirichlet concentration never reaches 0."""

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
"""Range of the logistic-normal's per-logit log standard deviation (tanh-squashed)."""


class PolicySample(NamedTuple):
    """One reparameterised draw from a simplex policy.

    Attributes
    ----------
    action : Tensor of shape (B, K)
        Weights on the simplex, every entry ``>= SAMPLE_FLOOR``.
    log_prob : Tensor of shape (B,)
        ``log pi(action | s)``; differentiable with respect to the head's parameters.
    """

    action: Tensor
    log_prob: Tensor


def clamp_simplex(w: Tensor, floor: float = SAMPLE_FLOOR) -> Tensor:
    """Clamp weights to ``[floor, 1]`` and renormalise, shape preserved (..., K)."""
    w = w.clamp(min=floor, max=1.0)
    return w / w.sum(-1, keepdim=True)


def effective_n(w: Tensor) -> Tensor:
    """Effective number of holdings ``1 / sum_i w_i^2``, shape (..., K) -> (...)."""
    return 1.0 / (w * w).sum(-1)


def _dirichlet_log_prob(conc: Tensor, w: Tensor) -> Tensor:
    """``Dirichlet(conc).log_prob(w)`` (torch's formula, no distribution object) -> (B,)."""
    return (torch.xlogy(conc - 1.0, w).sum(-1) + torch.lgamma(conc.sum(-1))
            - torch.lgamma(conc).sum(-1))


class PolicyHead(ABC):
    """A policy distribution on the K-simplex, parameterised by a network's raw output.

    The network emits ``n_params_per_component`` numbers per component, ``x`` of shape
    (B, K, P); the head turns them into a distribution (the SB3 split between a distribution
    and the network producing its parameters).

    Parameters
    ----------
    n_outputs : int
        ``K``, the number of simplex components (assets plus cash).
    """

    name: ClassVar[str]
    """Registry key and ``SACConfig.policy`` value."""
    n_params_per_component: ClassVar[int]
    """``P``: raw network outputs per simplex component."""

    def __init__(self, n_outputs: int) -> None:
        self.k = n_outputs

    @abstractmethod
    def sample(self, x: Tensor) -> PolicySample:
        """Reparameterised draw (B, K) and its log-probability (B,)."""

    @abstractmethod
    def log_prob(self, x: Tensor, w: Tensor) -> Tensor:
        """Log-density at weights ``w`` (B, K) -> (B,)."""

    @abstractmethod
    def entropy(self, x: Tensor) -> Tensor:
        """Differential entropy (B,); may be a Monte Carlo estimate drawing from torch's RNG."""

    @abstractmethod
    def mode(self, x: Tensor) -> Tensor:
        """Deterministic action (B, K)."""

    @abstractmethod
    def max_entropy(self) -> float:
        """Entropy of the head's most entropic symmetric member."""

    @abstractmethod
    def target_entropy(self, diversification: float) -> float:
        """SAC's entropy target for a diversification fraction in (0, 1].

        See :func:`target_entropy` for the mapping; raises :class:`ConfigError` outside (0, 1].
        """


def _check_dial(k: int, diversification: float) -> None:
    if not 0.0 < diversification <= 1.0 or not math.isfinite(diversification):
        raise ConfigError(f"diversification must be in (0, 1], got {diversification}")
    if k < 2:
        raise ConfigError(f"a simplex policy needs at least 2 components, got {k}")


class DirichletHead(PolicyHead):
    """Dirichlet policy over the K-simplex; the reference of its dial is ``Dirichlet(c 1_K)``."""

    n_params_per_component = 1
    name = "dirichlet"

    @staticmethod
    def concentration(x: Tensor) -> Tensor:
        """Raw network output (B, K, 1) or (B, K) -> concentrations (B, K), floored."""
        return F.softplus(x.reshape(x.shape[0], -1)) + CONCENTRATION_FLOOR

    def distribution(self, x: Tensor) -> torch.distributions.Dirichlet:
        return torch.distributions.Dirichlet(self.concentration(x), validate_args=False)

    def sample(self, x: Tensor) -> PolicySample:
        """Reparameterised sample, clamped to the floor; log-prob evaluated at the stored point.

        The same arithmetic as ``Dirichlet(conc).rsample()`` and ``.log_prob`` (the same
        sampler kernel and implicit-reparameterisation gradient), without building the
        distribution object each call.
        """
        conc = self.concentration(x)
        raw = _Dirichlet.apply(conc) if conc.requires_grad else torch._sample_dirichlet(conc)
        w = clamp_simplex(raw)
        return PolicySample(w, _dirichlet_log_prob(conc, w))

    def log_prob(self, x: Tensor, w: Tensor) -> Tensor:
        """Log-density at ``w`` (B, K), clamped to the floor first -> (B,)."""
        return _dirichlet_log_prob(self.concentration(x), clamp_simplex(w))

    def entropy(self, x: Tensor) -> Tensor:
        """Exact differential entropy -> (B,)."""
        return self.distribution(x).entropy()

    def mode(self, x: Tensor) -> Tensor:
        """Deterministic action: the mean ``alpha / sum(alpha)`` -> (B, K)."""
        conc = self.concentration(x)
        return conc / conc.sum(-1, keepdim=True)

    def max_entropy(self) -> float:
        """``-ln Gamma(K)``: the uniform Dirichlet, the largest entropy on the simplex."""
        return -math.lgamma(self.k)

    def target_entropy(self, diversification: float) -> float:
        """Entropy of ``Dirichlet(c 1_K)`` with ``c = (N_target - 1) / (K - N_target)``."""
        _check_dial(self.k, diversification)
        k = self.k
        n_target = 1.0 + diversification * ((k + 1) / 2 - 1.0)
        c = min((n_target - 1.0) / (k - n_target), 1.0)
        return dirichlet_entropy(k, c)


class LogisticNormalHead(PolicyHead):
    """Logistic-normal policy: ``w = softmax([z, 0])``, ``z ~ N(mu, diag(sigma^2))`` in R^(K-1).

    The network emits two numbers per component; the reference component (the last, cash) only
    contributes its fixed zero logit, so its outputs are ignored.
    """

    n_params_per_component = 2
    name = "logistic-normal"

    @staticmethod
    def _params(x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, K, 2) raw outputs -> ``mu`` and ``log_std`` of the K-1 free logits, (B, K-1)."""
        mu = x[:, :-1, 0]
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(x[:, :-1, 1]) + 1)
        return mu, log_std

    @staticmethod
    def _to_simplex(z: Tensor) -> Tensor:
        return torch.softmax(F.pad(z, (0, 1)), dim=-1)

    @staticmethod
    def _to_logits(w: Tensor) -> Tensor:
        log_w = w.log()
        return log_w[..., :-1] - log_w[..., -1:]

    @staticmethod
    def _log_prob_z(mu: Tensor, log_std: Tensor, z: Tensor, log_w: Tensor) -> Tensor:
        gauss = (-0.5 * ((z - mu) / log_std.exp()) ** 2 - log_std
                 - 0.5 * math.log(2 * math.pi)).sum(-1)
        return gauss - log_w.sum(-1)

    def sample(self, x: Tensor) -> PolicySample:
        """Reparameterised sample; the log-prob is evaluated at the clamped weights."""
        mu, log_std = self._params(x)
        z = mu + log_std.exp() * torch.randn_like(mu)
        w = clamp_simplex(self._to_simplex(z))
        z = self._to_logits(w)  # identical unless the clamp was active
        return PolicySample(w, self._log_prob_z(mu, log_std, z, w.log()))

    def log_prob(self, x: Tensor, w: Tensor) -> Tensor:
        """Exact log-density at ``w`` (B, K) -> (B,)."""
        mu, log_std = self._params(x)
        w = clamp_simplex(w)
        return self._log_prob_z(mu, log_std, self._to_logits(w), w.log())

    def entropy(self, x: Tensor, n_samples: int = 64) -> Tensor:
        """Monte Carlo entropy ``H(z) + E[sum_i log w_i]`` -> (B,).

        The Gaussian part is exact; only ``E[sum log w]`` is estimated from ``n_samples`` draws.
        """
        mu, log_std = self._params(x)
        eps = torch.randn((n_samples, *mu.shape), dtype=mu.dtype, device=mu.device)
        w = clamp_simplex(self._to_simplex(mu + log_std.exp() * eps))
        gauss = (log_std + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)
        return gauss + w.log().sum(-1).mean(0)

    def mode(self, x: Tensor) -> Tensor:
        """Deterministic action ``softmax([mu, 0])`` -> (B, K)."""
        mu, _ = self._params(x)
        return self._to_simplex(mu)

    def max_entropy(self) -> float:
        """Largest entropy of the isotropic, zero-mean member (the symmetric family's peak)."""
        return _logistic_normal_family(self.k)[2]

    def target_entropy(self, diversification: float) -> float:
        """Entropy of ``softmax([sigma eps, 0])`` whose ``N_eff`` is ``N_target``.

        Interpolated on the Monte Carlo table over ``sigma >= sigma_peak`` (extrapolated along
        the last segment past its end).
        """
        _check_dial(self.k, diversification)
        _sigma, entropy, _, neff = _logistic_normal_family(self.k)
        peak = int(entropy.argmax())
        s_ent, s_neff = entropy[peak:].flip(0), neff[peak:].flip(0)  # both increasing now
        n_target = 1.0 + diversification * (float(neff[peak]) - 1.0)
        if n_target <= float(s_neff[0]):  # beyond the grid: extrapolate along the last segment
            i = 0
        else:
            i = min(int(torch.searchsorted(s_neff, torch.tensor(n_target, dtype=torch.float64)))
                    - 1, len(s_neff) - 2)
        frac = (n_target - float(s_neff[i])) / max(float(s_neff[i + 1] - s_neff[i]), 1e-12)
        return float(s_ent[i] + frac * (s_ent[i + 1] - s_ent[i]))


POLICY_HEADS: dict[str, type[PolicyHead]] = {
    head.name: head for head in (DirichletHead, LogisticNormalHead)}
"""The registry: ``SACConfig.policy`` -> head class."""

POLICIES = tuple(POLICY_HEADS)
"""Accepted values of ``SACConfig.policy`` (CLI choices)."""


def make_head(policy: str, n_outputs: int) -> PolicyHead:
    """The head registered as ``policy`` over ``n_outputs`` (K) components."""
    head = POLICY_HEADS.get(policy)
    if head is None:
        raise ConfigError(f"unknown policy {policy!r}: use {' or '.join(POLICY_HEADS)}")
    return head(n_outputs)


# --- the diversification dial -------------------------------------------------------------------

def dirichlet_entropy(k: int, c: float) -> float:
    """Entropy of the symmetric ``Dirichlet(c, ..., c)`` on the K-simplex (closed form)."""
    return float(torch.distributions.Dirichlet(torch.full((k,), float(c), dtype=torch.float64))
                 .entropy())


def symmetric_dirichlet_effective_n(k: int, c: float) -> float:
    """``1 / E[sum w_i^2]`` for ``w ~ Dirichlet(c 1_K)``: ``(K c + 1) / (c + 1)``."""
    return (k * c + 1.0) / (c + 1.0)


_LN_SAMPLES = 4096
_LN_GRID = torch.logspace(-2, 1.5, 71, dtype=torch.float64)


@lru_cache(maxsize=64)
def _logistic_normal_family(k: int) -> tuple[Tensor, Tensor, float, Tensor]:
    """Entropy and ``1/E[sum w^2]`` of ``softmax([sigma eps, 0])`` on a grid of ``sigma``.

    Common random numbers (a fixed generator) make both curves smooth and reproducible.
    Returns ``(sigma_grid, entropy, max_entropy, effective_n)``.
    """
    gen = torch.Generator().manual_seed(12345)
    eps = torch.randn((_LN_SAMPLES, k - 1), generator=gen, dtype=torch.float64)
    ent, neff = [], []
    for sigma in _LN_GRID:
        z = F.pad(sigma * eps, (0, 1))
        log_w = torch.log_softmax(z, -1)
        ent.append((k - 1) * (math.log(sigma) + 0.5 * math.log(2 * math.pi * math.e))
                   + float(log_w.sum(-1).mean()))
        neff.append(1.0 / float(log_w.mul(2).exp().sum(-1).mean()))
    entropy = torch.tensor(ent, dtype=torch.float64)
    return _LN_GRID, entropy, float(entropy.max()), torch.tensor(neff, dtype=torch.float64)


def target_entropy(policy: str, k: int, diversification: float) -> float:
    """Entropy target for SAC's temperature, from a diversification fraction in (0, 1].

    The mapping goes through a *symmetric reference policy* of the chosen head whose samples hold,
    on average, an effective number of assets ``N_eff = 1 / E[sum_i w_i^2]`` of::

        N_target = 1 + diversification * (N_eff(peak) - 1)

    where ``peak`` is the head's most entropic symmetric member; the target is that reference's
    entropy. ``diversification -> 0`` asks for a policy as random as one that sits on a single
    asset (target -> -inf, the temperature can fall to 0); ``diversification = 1`` asks for the
    most entropic symmetric policy.

    * Dirichlet: the reference is ``Dirichlet(c 1_K)`` with ``c in (0, 1]``.
      ``N_eff(c) = (K c + 1) / (c + 1)`` gives ``c = (N_target - 1) / (K - N_target)`` in closed
      form; ``N_eff(peak) = (K + 1) / 2`` at ``c = 1`` and the target at 1 is ``-ln Gamma(K)``.
    * Logistic-normal: the reference is ``softmax([sigma eps, 0])``, ``eps ~ N(0, I_{K-1})``
      with ``sigma >= sigma_peak`` (the entropy's maximiser over ``sigma``); entropy and
      ``N_eff`` are tabulated by Monte Carlo on a ``sigma`` grid and interpolated.

    Both ``H`` and ``N_eff`` increase with ``c`` on ``(0, 1]`` (and decrease with ``sigma`` beyond
    the peak), so the map is monotone increasing in ``diversification`` and never exceeds the
    head's maximum entropy: the target is always reachable.

    Raises
    ------
    ConfigError
        If ``diversification`` is outside (0, 1] or ``k < 2``.
    """
    _check_dial(k, diversification)
    return make_head(policy, k).target_entropy(diversification)
