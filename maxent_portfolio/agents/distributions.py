"""Policy distributions on the probability simplex, and the diversification dial.

Both heads are densities with respect to Lebesgue measure on the first ``K - 1`` coordinates
of the ``K``-simplex ``{w : w_i >= 0, sum_i w_i = 1}`` (``K = n_assets + 1``, cash last), so
their log-probabilities and entropies are directly comparable. The largest differential entropy
any density on the simplex can have is the log of its volume, ``-ln Gamma(K)``, attained by the
uniform density ``Dirichlet(1, ..., 1)``.

* :class:`DirichletHead` - concentrations ``softplus(x) + floor``; reparameterised samples
  (normalised Gamma variates, the draws of ``torch.distributions.Dirichlet.rsample``), exact
  log-prob and entropy; deterministic action = the mean.
* :class:`LogisticNormalHead` - a diagonal Gaussian over ``K - 1`` logits relative to a reference
  component (cash, whose logit is fixed at 0), pushed through the softmax. The log-density uses
  the exact change of variables ``log N(z) - sum_{i=1..K} log w_i`` (the Jacobian determinant of
  the additive-logistic transform is ``prod_{i=1..K} w_i``); deterministic action =
  ``softmax([mu, 0])``.

A sample's action is floored at :data:`SAMPLE_FLOOR` and renormalised (the env and the replay
buffer store that point), but its ``log_prob`` - what the temperature loss and the soft Bellman
target see - is the log-density of the unfloored draw, computed from its log-weights in log
space: ``E[-log_prob]`` is the head's entropy, the quantity the entropy target is set in.

:func:`target_entropy` maps the user's ``diversification`` fraction to an entropy target that the
head can always reach (see its docstring for the exact mapping); the reference families it is
calibrated on (entropies, effective N, the logistic-normal quadrature) are
:mod:`maxent_portfolio.agents.calibration`.

Every head implements :class:`PolicyHead` (``sample``, ``log_prob``, ``entropy``, ``mode`` and
its ``target_entropy(diversification)``) and is registered by name in :data:`POLICY_HEADS`;
:data:`POLICIES` (the accepted ``policy`` values) derives from it, so a new head is one subclass
plus one registry entry.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from maxent_portfolio.agents.calibration import (
    check_dial,
    dirichlet_dial_concentration,
    dirichlet_entropy,
    logistic_normal_peak,
    logistic_normal_target,
)
from maxent_portfolio.errors import ConfigError

SAMPLE_FLOOR = 1e-6
"""Smallest weight of an action: actions are clamped and renormalised (their log-prob is not)."""

CONCENTRATION_FLOOR = 1e-2
"""Added to ``softplus`` so a Dirichlet concentration never reaches 0."""

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
"""Range of the logistic-normal's per-logit log standard deviation (tanh-squashed)."""


class PolicySample(NamedTuple):
    """One reparameterised draw from a simplex policy.

    Attributes
    ----------
    action : Tensor of shape (B, K)
        The draw floored at ``SAMPLE_FLOOR`` and renormalised, what the env receives.
    log_prob : Tensor of shape (B,)
        ``log pi(w | s)`` of the unfloored draw ``w``, so that ``E[-log_prob]`` is the entropy;
        differentiable with respect to the head's parameters.
    log_weights : Tensor of shape (B, K) or None
        ``log w`` of the unfloored draw (float64 for the Dirichlet), for densities of other
        distributions at the same point (the reference policy's).
    """

    action: Tensor
    log_prob: Tensor
    log_weights: Tensor | None = None


def clamp_simplex(w: Tensor, floor: float = SAMPLE_FLOOR) -> Tensor:
    """Clamp weights to ``[floor, 1]`` and renormalise, shape preserved (..., K)."""
    w = w.clamp(min=floor, max=1.0)
    return w / w.sum(-1, keepdim=True)


def effective_n(w: Tensor) -> Tensor:
    """Effective number of holdings ``1 / sum_i w_i^2`` of weights, shape (..., K) -> (...).

    The number of one portfolio; a policy's effective N is :meth:`PolicyHead.effective_n`.
    """
    return 1.0 / (w * w).sum(-1)


def _dirichlet_log_prob(conc: Tensor, w: Tensor) -> Tensor:
    """``Dirichlet(conc).log_prob(w)`` (torch's formula, no distribution object) -> (B,)."""
    return (torch.xlogy(conc - 1.0, w).sum(-1) + torch.lgamma(conc.sum(-1))
            - torch.lgamma(conc).sum(-1))


def _dirichlet_log_prob_log_space(conc: Tensor, log_w: Tensor) -> Tensor:
    """Dirichlet log-density from log-weights (B, K) -> (B,); exact however small a weight."""
    return (((conc - 1.0) * log_w).sum(-1) + torch.lgamma(conc.sum(-1))
            - torch.lgamma(conc).sum(-1))


class _DirichletLogSample(torch.autograd.Function):
    """Dirichlet draw as normalised Gamma variates: torch's weights and the exact log-weights.

    ``torch._sample_dirichlet`` draws ``g_j ~ Gamma(alpha_j)`` in float64, one per component in
    order, and returns ``g / sum(g)`` rounded to the input's dtype; ``torch._standard_gamma`` on
    the float64 concentrations draws the same variates from the same generator, so on the CPU the
    weights are torch's bit for bit, while ``log w = log g - logsumexp(log g)`` keeps the exact
    log of weights that round to 0 in float32 (Gamma variates are floored at float64's smallest
    normal, ``e^-708``, which a concentration above 0.05 reaches with probability below 1e-15).

    The gradient is the implicit reparameterisation of every Gamma variate (Figurnov et al.
    2018; what ``Gamma.rsample`` uses), ``d log g_j / d alpha_j``, pushed through the
    normalisation: ``d log w_i / d alpha_j = (d log g_j / d alpha_j) (delta_ij - w_j)``. The
    weights' gradient is that of ``exp(log w)``.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx,  # type: ignore[override]
                conc: Tensor) -> tuple[Tensor, Tensor]:
        gamma = torch._standard_gamma(conc.detach().double())
        log_gamma = gamma.log()
        log_w = log_gamma - torch.logsumexp(log_gamma, -1, keepdim=True)
        info = torch.finfo(conc.dtype)
        w = (gamma / gamma.sum(-1, keepdim=True)).to(conc.dtype).clamp(min=info.tiny,
                                                                      max=1.0 - info.eps / 2)
        ctx.save_for_backward(conc, gamma, log_w)
        return w, log_w

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx,  # type: ignore[override]
                 grad_w: Tensor, grad_log_w: Tensor) -> Tensor:
        conc, gamma, log_w = ctx.saved_tensors  # type: ignore[attr-defined]
        dlog_gamma = torch._standard_gamma_grad(conc.double(), gamma) / gamma
        w = log_w.exp()
        grad = grad_log_w + grad_w.double() * w  # everything as a gradient on log w
        return (dlog_gamma * (grad - w * grad.sum(-1, keepdim=True))).to(conc.dtype)


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
    def effective_n(self, x: Tensor) -> Tensor:
        """The policy's effective N ``1 / E[sum_i w_i^2]`` (B,), the dial's definition.

        May be a Monte Carlo estimate drawing from torch's RNG.
        """

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
        """Reparameterised sample; the action is floored, the log-prob is the draw's own.

        The action is ``clamp_simplex(Dirichlet(conc).rsample())`` bit for bit (same generator
        use); the log-prob is evaluated at the unfloored draw from its float64 log-weights (see
        :class:`_DirichletLogSample`), so its mean is the exact entropy even when most weights
        are far below the floor.
        """
        conc = self.concentration(x)
        w, log_w = _DirichletLogSample.apply(conc)
        log_prob = _dirichlet_log_prob_log_space(conc.double(), log_w).to(conc.dtype)
        return PolicySample(clamp_simplex(w), log_prob, log_w)

    def log_prob(self, x: Tensor, w: Tensor) -> Tensor:
        """Log-density at ``w`` (B, K), clamped to the floor first -> (B,)."""
        return _dirichlet_log_prob(self.concentration(x), clamp_simplex(w))

    def entropy(self, x: Tensor) -> Tensor:
        """Exact differential entropy -> (B,)."""
        return self.distribution(x).entropy()

    def effective_n(self, x: Tensor) -> Tensor:
        """Exact ``1 / E[sum w_i^2]``; ``E[w_i^2] = a_i (a_i + 1) / (a_0 (a_0 + 1))`` -> (B,)."""
        conc = self.concentration(x)
        total = conc.sum(-1)
        return total * (total + 1.0) / (conc * (conc + 1.0)).sum(-1)

    def mode(self, x: Tensor) -> Tensor:
        """Deterministic action: the mean ``alpha / sum(alpha)`` -> (B, K)."""
        conc = self.concentration(x)
        return conc / conc.sum(-1, keepdim=True)

    def max_entropy(self) -> float:
        """``-ln Gamma(K)``: the uniform Dirichlet, the largest entropy on the simplex."""
        return -math.lgamma(self.k)

    def target_entropy(self, diversification: float) -> float:
        """Entropy of ``Dirichlet(c 1_K)`` with ``c = (N_target - 1) / (K - N_target)``."""
        check_dial(self.k, diversification)
        k = self.k
        return dirichlet_entropy(k, dirichlet_dial_concentration(k, diversification))


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

    def _draw(self, x: Tensor, shape: tuple[int, ...] = ()) -> tuple[Tensor, Tensor, Tensor,
                                                                     Tensor]:
        """``mu``, ``log_std`` (B, K-1) and reparameterised logits ``z`` and ``log w``.

        ``z`` has shape (*shape, B, K-1) and ``log w = log_softmax([z, 0])`` (*shape, B, K),
        exact in log space however small a weight.
        """
        mu, log_std = self._params(x)
        eps = torch.randn((*shape, *mu.shape), dtype=mu.dtype, device=mu.device)
        z = mu + log_std.exp() * eps
        return mu, log_std, z, torch.log_softmax(F.pad(z, (0, 1)), dim=-1)

    def sample(self, x: Tensor) -> PolicySample:
        """Reparameterised sample; the action is floored, the log-prob is the draw's own."""
        mu, log_std, z, log_w = self._draw(x)
        w = clamp_simplex(self._to_simplex(z))
        return PolicySample(w, self._log_prob_z(mu, log_std, z, log_w), log_w)

    def log_prob(self, x: Tensor, w: Tensor) -> Tensor:
        """Exact log-density at ``w`` (B, K) -> (B,)."""
        mu, log_std = self._params(x)
        w = clamp_simplex(w)
        return self._log_prob_z(mu, log_std, self._to_logits(w), w.log())

    def entropy(self, x: Tensor, n_samples: int = 64) -> Tensor:
        """Monte Carlo entropy ``H(z) + E[sum_i log w_i]`` -> (B,).

        The Gaussian part is exact; only ``E[sum log w]`` is estimated from ``n_samples`` draws
        (unfloored, as :meth:`sample`'s log-prob).
        """
        _, log_std, _, log_w = self._draw(x, (n_samples,))
        gauss = (log_std + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)
        return gauss + log_w.sum(-1).mean(0)

    def effective_n(self, x: Tensor, n_samples: int = 64) -> Tensor:
        """Monte Carlo ``1 / E[sum w_i^2]`` from ``n_samples`` draws -> (B,)."""
        log_w = self._draw(x, (n_samples,))[3]
        return 1.0 / log_w.mul(2.0).exp().sum(-1).mean(0)

    def mode(self, x: Tensor) -> Tensor:
        """Deterministic action ``softmax([mu, 0])`` -> (B, K)."""
        mu, _ = self._params(x)
        return self._to_simplex(mu)

    def max_entropy(self) -> float:
        """Largest entropy of the isotropic, zero-mean member (the symmetric family's peak)."""
        return logistic_normal_peak(self.k)[1]

    def target_entropy(self, diversification: float) -> float:
        """Entropy of ``softmax([sigma eps, 0])``, ``sigma >= sigma_peak``, whose N_eff is N_target.

        Both curves by deterministic quadrature
        (:func:`.calibration.logistic_normal_reference`); ``sigma`` solves
        ``N_eff(sigma) = N_target`` by Brent's method.
        """
        check_dial(self.k, diversification)
        return logistic_normal_target(self.k, float(diversification))


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


def reference_log_density(log_w: Tensor, concentration: float, cash: float = 1.0) -> Tensor:
    """Log-density of the reference policy at ``exp(log_w)`` (B, K) -> (B,).

    The reference is ``Dirichlet(c (1, ..., 1, cash))`` (:func:`reference_concentration`):
    with ``cash = 1`` its mean is equal weights over the ``K`` components (the assets and
    cash); a smaller ``cash`` centres it on 1/N over the risky assets. ``c > 1`` concentrates
    it around its mean.
    """
    k = log_w.shape[-1]
    c = float(concentration)
    if cash == 1.0:
        return ((c - 1.0) * log_w.sum(-1) + math.lgamma(k * c)
                - k * math.lgamma(c)).to(log_w.dtype)
    conc = reference_concentration(k, c, cash).to(log_w)
    return ((conc - 1.0) * log_w).sum(-1) + torch.lgamma(conc.sum()) - torch.lgamma(conc).sum()


def reference_concentration(k: int, concentration: float, cash: float = 1.0) -> Tensor:
    """The reference's concentrations ``c (1, ..., 1, cash)``, shape (K,), float64."""
    conc = torch.full((k,), float(concentration), dtype=torch.float64)
    conc[-1] = float(concentration) * float(cash)
    return conc


def reference_kl(concentration: Tensor, reference: Tensor) -> Tensor:
    """``KL(Dirichlet(concentration) || Dirichlet(reference))`` in closed form, (B, K) -> (B,),
    float64: the expected log-ratio the entropy bonus acts on, without sampling."""
    return torch.distributions.kl_divergence(
        torch.distributions.Dirichlet(concentration.double(), validate_args=False),
        torch.distributions.Dirichlet(reference.to(concentration.device), validate_args=False))


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
      with ``sigma >= sigma_peak`` (the entropy's maximiser over ``sigma``). Entropy and
      ``N_eff`` of each member come from a deterministic quadrature
      (:func:`.calibration.logistic_normal_reference`, accurate to ~1e-9 nats), ``sigma_peak``
      from a Brent search (:func:`.calibration.logistic_normal_peak`) and the ``sigma`` with
      ``N_eff = N_target`` from Brent's root finder; the target is the quadrature entropy of
      that member. At ``diversification = 1`` it is the entropy of the member ``sigma_peak``
      itself, so it never exceeds the family's maximum (a maximum over noisy Monte Carlo
      estimates would).

    Both ``H`` and ``N_eff`` increase with ``c`` on ``(0, 1]`` (and decrease with ``sigma`` beyond
    the peak), so the map is monotone increasing in ``diversification``, and every target is the
    entropy of a member of the head's own family: the target is always reachable.

    Raises
    ------
    ConfigError
        If ``diversification`` is outside (0, 1] or ``k < 2``.
    """
    check_dial(k, diversification)
    return make_head(policy, k).target_entropy(diversification)
