"""Simplex policy heads: normalisation, entropy, gradients, and the diversification dial."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from maxent_portfolio.agents.calibration import dirichlet_entropy, symmetric_dirichlet_effective_n
from maxent_portfolio.agents.distributions import (
    DirichletHead,
    LogisticNormalHead,
    clamp_simplex,
    effective_n,
    target_entropy,
)
from maxent_portfolio.errors import ConfigError

torch.set_num_threads(1)


def _simplex_grid(m: int) -> tuple[torch.Tensor, float]:
    """Midpoints of an m x m grid over the 2-simplex (K=3) inside it, and the cell area."""
    h = 1.0 / m
    u = (torch.arange(m, dtype=torch.float64) + 0.5) * h
    w1, w2 = torch.meshgrid(u, u, indexing="ij")
    inside = (w1 + w2) < 1.0 - 1e-12
    w = torch.stack([w1[inside], w2[inside], 1.0 - w1[inside] - w2[inside]], -1)
    return w, h * h


def _dirichlet_raw(conc: list[float]) -> torch.Tensor:
    """Raw network output giving exactly these concentrations (inverse softplus of c - floor)."""
    c = torch.tensor(conc, dtype=torch.float64) - 1e-2
    return torch.log(torch.expm1(c))[None]


def test_dirichlet_log_prob_integrates_to_one_on_the_2_simplex() -> None:
    head = DirichletHead(3)
    x = _dirichlet_raw([2.0, 3.0, 1.5])
    w, area = _simplex_grid(800)
    density = head.log_prob(x.expand(len(w), -1), w).exp()
    assert float(density.sum() * area) == pytest.approx(1.0, abs=5e-3)


@pytest.mark.parametrize("k", [3, 4, 6])
def test_logistic_normal_log_prob_normalises_by_importance_sampling(k: int) -> None:
    """E_{w ~ Dir(1)}[p(w) / q(w)] = 1 with q the uniform density Gamma(K) on the simplex."""
    torch.manual_seed(0)
    head = LogisticNormalHead(k)
    x = torch.zeros(1, k, 2, dtype=torch.float64)
    x[0, :, 0] = torch.linspace(-0.5, 0.5, k)
    x[0, :, 1] = 0.3  # std about e^0.05, wide enough for importance sampling to be efficient
    n = 400_000
    w = torch.distributions.Dirichlet(torch.ones(k, dtype=torch.float64)).sample((n,))
    ratio = (head.log_prob(x.expand(n, -1, -1), w) - math.lgamma(k)).exp()
    stderr = float(ratio.std() / math.sqrt(n))
    assert float(ratio.mean()) == pytest.approx(1.0, abs=max(4 * stderr, 1e-3))


def test_logistic_normal_log_prob_integrates_to_one_on_the_2_simplex() -> None:
    head = LogisticNormalHead(3)
    x = torch.tensor([[[0.3, -1.0], [-0.2, -0.5], [0.0, 0.0]]], dtype=torch.float64)
    w, area = _simplex_grid(1000)
    density = head.log_prob(x.expand(len(w), -1, -1), w).exp()
    assert float(density.sum() * area) == pytest.approx(1.0, abs=5e-3)


def test_logistic_normal_log_prob_matches_the_change_of_variables_by_hand() -> None:
    """K=2: w1 = sigmoid(z), p(w1) = N(z; mu, s) / (w1 (1 - w1))."""
    head = LogisticNormalHead(2)
    mu, log_std = 0.4, -0.2
    raw_std = math.atanh((log_std + 5.0) / 3.5 - 1.0)  # invert the tanh squashing
    x = torch.tensor([[[mu, raw_std], [0.0, 0.0]]], dtype=torch.float64)
    w1 = 0.3
    z = math.log(w1 / (1 - w1))
    s = math.exp(log_std)
    by_hand = -0.5 * ((z - mu) / s) ** 2 - math.log(s * math.sqrt(2 * math.pi)) \
        - math.log(w1 * (1 - w1))
    got = head.log_prob(x, torch.tensor([[w1, 1 - w1]], dtype=torch.float64))
    assert float(got) == pytest.approx(by_hand, rel=1e-10)


def test_dirichlet_entropy_matches_monte_carlo_of_minus_log_p() -> None:
    torch.manual_seed(1)
    head = DirichletHead(5)
    x = _dirichlet_raw([0.7, 2.0, 3.0, 1.2, 5.0])
    dist = head.distribution(x)
    s = dist.sample((200_000,))[:, 0]
    neg = -dist.log_prob(s)
    mc, se = float(neg.mean()), float(neg.std() / math.sqrt(len(s)))
    assert float(head.entropy(x)) == pytest.approx(mc, abs=4 * se)


def test_logistic_normal_entropy_estimate_is_consistent_with_minus_log_p() -> None:
    torch.manual_seed(2)
    head = LogisticNormalHead(4)
    x = torch.tensor([[[0.5, 0.2], [-0.3, -0.4], [0.1, 0.6], [0.0, 0.0]]], dtype=torch.float64)
    n = 100_000
    samples = head.sample(x.expand(n, -1, -1))
    mc, se = float(-samples.log_prob.mean()), float(samples.log_prob.std() / math.sqrt(n))
    est = float(head.entropy(x, n_samples=20_000))
    assert est == pytest.approx(mc, abs=5 * se + 0.02)


def test_logistic_normal_sample_log_prob_is_the_density_of_the_unfloored_draw() -> None:
    """The log-prob is the change of variables at ``z`` itself, not at the floored action."""
    head = LogisticNormalHead(6)
    x = torch.randn(32, 6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    x[:8, :, 1] = 3.0  # sigma = e^2: many weights far below the floor
    torch.manual_seed(3)
    s = head.sample(x)
    torch.manual_seed(3)
    mu, log_std = head._params(x)
    z = mu + log_std.exp() * torch.randn_like(mu)
    gauss = torch.distributions.Normal(mu, log_std.exp()).log_prob(z).sum(-1)
    exact = gauss - torch.log_softmax(torch.nn.functional.pad(z, (0, 1)), -1).sum(-1)
    torch.testing.assert_close(s.log_prob, exact, rtol=1e-12, atol=1e-9)
    floored = (s.action <= 1.01e-6).any(-1)
    assert floored.sum() >= 4  # the case that used to be evaluated at the floored point
    torch.testing.assert_close(s.log_prob[~floored], head.log_prob(x, s.action)[~floored],
                               rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(s.action, clamp_simplex(torch.softmax(
        torch.nn.functional.pad(z, (0, 1)), -1)), rtol=0, atol=0)


def test_uniform_dirichlet_attains_the_simplex_max_entropy() -> None:
    for k in (2, 3, 10, 501):
        assert dirichlet_entropy(k, 1.0) == pytest.approx(-math.lgamma(k), rel=1e-9)


@pytest.mark.parametrize("head_cls", [DirichletHead, LogisticNormalHead])
def test_gradients_are_finite_at_extreme_parameters_and_boundary_samples(head_cls: type) -> None:
    torch.manual_seed(4)
    k = 8
    head = head_cls(k)
    p = head.n_params_per_component
    raw = torch.cat([torch.full((4, k, p), -60.0), torch.full((4, k, p), 60.0),
                     torch.randn(4, k, p) * 30.0]).reshape(12, k, p)
    if p == 1:
        raw = raw[..., 0]
    raw.requires_grad_(True)
    s = head.sample(raw)
    assert torch.isfinite(s.action).all() and torch.isfinite(s.log_prob).all()
    assert (s.action >= 1e-6 * 0.99).all()
    torch.testing.assert_close(s.action.sum(-1), torch.ones(12))
    boundary = torch.zeros(12, k)
    boundary[:, 0] = 1.0  # a corner, outside the open simplex
    lp = head.log_prob(raw, boundary)
    (s.log_prob.sum() + lp.sum()).backward()
    assert torch.isfinite(lp).all()
    assert raw.grad is not None and torch.isfinite(raw.grad).all()


def test_modes_are_the_mean_and_the_softmax_of_the_mean() -> None:
    x = _dirichlet_raw([1.0, 2.0, 5.0])
    torch.testing.assert_close(DirichletHead(3).mode(x),
                               torch.tensor([[0.125, 0.25, 0.625]], dtype=torch.float64))
    y = torch.tensor([[[1.0, 0.0], [2.0, 0.0], [9.0, 9.0]]], dtype=torch.float64)
    e = np.exp([1.0, 2.0, 0.0])
    torch.testing.assert_close(LogisticNormalHead(3).mode(y),
                               torch.tensor(e / e.sum())[None])


def test_clamp_simplex_and_effective_n() -> None:
    w = clamp_simplex(torch.tensor([[1.0, 0.0, 0.0]]))
    assert float(w.min()) > 0 and float(w.sum()) == pytest.approx(1.0)
    assert float(effective_n(torch.tensor([0.25, 0.25, 0.25, 0.25]))) == pytest.approx(4.0)
    assert float(effective_n(torch.tensor([0.5, 0.5, 0.0]))) == pytest.approx(2.0)


def test_symmetric_dirichlet_effective_n_matches_monte_carlo() -> None:
    torch.manual_seed(5)
    k, c = 7, 0.4
    w = torch.distributions.Dirichlet(torch.full((k,), c, dtype=torch.float64)).sample((200_000,))
    mc = 1.0 / float((w * w).sum(-1).mean())
    assert symmetric_dirichlet_effective_n(k, c) == pytest.approx(mc, rel=5e-3)


@pytest.mark.parametrize("policy,head_cls", [("dirichlet", DirichletHead),
                                             ("logistic-normal", LogisticNormalHead)])
def test_diversification_targets_are_monotone_and_reachable(policy: str, head_cls: type) -> None:
    dial = [0.01, 0.1, 0.3, 0.5, 0.8, 1.0]
    for k in (2, 3, 8, 11, 51, 501):
        targets = [target_entropy(policy, k, x) for x in dial]
        assert all(np.isfinite(targets))
        assert all(a < b for a, b in itertools.pairwise(targets)), (k, targets)
        assert targets[-1] <= head_cls(k).max_entropy() + 1e-9
        assert head_cls(k).max_entropy() <= -math.lgamma(k) + 1e-6  # nothing beats uniform
    # SAC's default -dim(A) is above the Dirichlet's reach from K = 8 on; the dial never is.
    assert -(8 - 1) > DirichletHead(8).max_entropy()


def test_dirichlet_target_is_the_entropy_of_the_matching_symmetric_dirichlet() -> None:
    k, x = 11, 0.5
    n_target = 1 + x * ((k + 1) / 2 - 1)
    c = (n_target - 1) / (k - n_target)
    assert symmetric_dirichlet_effective_n(k, c) == pytest.approx(n_target)
    assert target_entropy("dirichlet", k, x) == pytest.approx(dirichlet_entropy(k, c))


def test_logistic_normal_max_entropy_is_reached_by_some_member() -> None:
    """The head's stated maximum is the MC entropy of an isotropic member, within MC error."""
    torch.manual_seed(6)
    k = 6
    head = LogisticNormalHead(k)
    best = max(float(head.entropy(
        torch.stack([torch.zeros(1, k), torch.full((1, k), math.atanh(
            (math.log(s) + 5) / 3.5 - 1))], -1).double(), n_samples=50_000))
        for s in np.linspace(0.8, 2.5, 18))
    assert best == pytest.approx(head.max_entropy(), abs=0.05)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, float("nan")])
def test_bad_diversification_is_a_config_error(bad: float) -> None:
    with pytest.raises(ConfigError, match="diversification"):
        target_entropy("dirichlet", 5, bad)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dirichlet_head_action_is_torch_dirichlet_rsample_bit_for_bit(dtype: torch.dtype) -> None:
    """The env and the buffer see exactly what they saw before; the RNG moves the same way."""
    head = DirichletHead(5)
    x = torch.randn(7, 5, 1, generator=torch.Generator().manual_seed(0), dtype=dtype)
    x[:3] -= 6.0  # concentrations ~0.01: weights far below the floor
    x.requires_grad_(True)
    torch.manual_seed(3)
    ours = head.sample(x)
    after_ours = torch.rand(3)
    torch.manual_seed(3)
    dist = torch.distributions.Dirichlet(head.concentration(x), validate_args=False)
    w = clamp_simplex(dist.rsample())
    assert torch.equal(ours.action, w) and torch.equal(torch.rand(3), after_ours)
    with torch.no_grad():
        torch.manual_seed(3)
        assert torch.equal(head.sample(x).action, w)
    assert torch.equal(head.log_prob(x, w), dist.log_prob(clamp_simplex(w)))


def test_dirichlet_sample_log_prob_is_the_density_of_the_unfloored_draw() -> None:
    """Recomputed from torch's own Gamma variates in float64 and log space."""
    head = DirichletHead(8)
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(1)) - 3.0  # conc ~ 0.05
    torch.manual_seed(4)
    s = head.sample(x)
    torch.manual_seed(4)
    conc = head.concentration(x).double()
    log_g = torch._standard_gamma(conc).log()
    log_w = log_g - torch.logsumexp(log_g, -1, keepdim=True)
    exact = ((conc - 1) * log_w).sum(-1) + torch.lgamma(conc.sum(-1)) - torch.lgamma(conc).sum(-1)
    assert (log_w < math.log(1e-6)).any(-1).float().mean() > 0.5  # the floor is active
    torch.testing.assert_close(s.log_prob.double(), exact, rtol=1e-6, atol=1e-4)
    assert float((s.log_prob.double() - head.log_prob(x, s.action).double()).abs().max()) > 10


def _per_sample_grads(head: DirichletHead, a: torch.Tensor, n: int, f: object,
                      draw: object = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over n draws of d f / d a, shape (K,) each.

    Every draw has its own leaf row, so one backward pass gives the per-sample gradients.
    """
    raw = torch.log(torch.expm1(a - 1e-2)).expand(n, -1).clone().requires_grad_(True)
    value = f(head.sample(raw)) if draw is None else draw(head.concentration(raw))  # type: ignore[operator]
    (g,) = torch.autograd.grad(value.sum(), [raw])
    g = (g / torch.sigmoid(raw.detach())).numpy()  # d softplus / d raw = sigmoid
    return g.mean(0), g.std(0) / math.sqrt(n)


def test_dirichlet_reparameterisation_gradient_is_unbiased() -> None:
    """Mean per-sample gradients against closed forms and against torch's own rsample.

    Through the log-prob: ``E[log pi(w)] = -H(a)``, so the mean gradient of ``log_prob`` must be
    ``-grad H`` (what the actor's entropy term follows). Through the action: ``E[w_i] = a_i /
    a_0``. And the action's gradient must agree with ``Dirichlet.rsample``'s on average.
    """
    torch.manual_seed(5)
    k, n = 4, 100_000
    a = torch.tensor([0.3, 0.7, 1.5, 4.0], dtype=torch.float64)
    coef = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    head = DirichletHead(k)
    ac = a.clone().requires_grad_(True)
    (grad_h,) = torch.autograd.grad(torch.distributions.Dirichlet(ac).entropy(), [ac])
    mean, se = _per_sample_grads(head, a, n, lambda pi: pi.log_prob)
    assert np.all(np.abs(mean + grad_h.numpy()) < 4 * se + 1e-3), (mean, -grad_h, se)
    a0 = float(a.sum())
    exact = coef @ ((torch.eye(k, dtype=torch.float64) * a0 - a[:, None]) / a0**2)
    mean, se = _per_sample_grads(head, a, n, lambda pi: pi.action @ coef)
    assert np.all(np.abs(mean - exact.numpy()) < 4 * se + 1e-4), (mean, exact, se)
    ref, ref_se = _per_sample_grads(head, a, n, None, lambda conc: torch.distributions.Dirichlet(
        conc).rsample() @ coef)
    assert np.all(np.abs(mean - ref) < 4 * np.hypot(se, ref_se) + 1e-4), (mean, ref)


@pytest.mark.parametrize("policy", ["dirichlet", "logistic-normal"])
def test_every_registered_head_implements_the_policy_head_interface(policy: str) -> None:
    from maxent_portfolio.agents.distributions import POLICIES, POLICY_HEADS, PolicyHead, make_head

    assert POLICIES == tuple(POLICY_HEADS) == ("dirichlet", "logistic-normal")
    k = 4
    head = make_head(policy, k)
    assert isinstance(head, PolicyHead) and head.name == policy and head.k == k
    x = torch.randn(5, k, head.n_params_per_component, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    pi = head.sample(x)
    assert pi.action.shape == (5, k) and pi.log_prob.shape == (5,)
    inside = (pi.action > 2e-6).all(-1)  # log_prob(x, w) floors w; the sample's is unfloored
    torch.testing.assert_close(head.log_prob(x, pi.action)[inside], pi.log_prob[inside])
    assert head.effective_n(x).shape == (5,)
    torch.testing.assert_close(head.mode(x).sum(-1), torch.ones(5))
    assert head.entropy(x).shape == (5,)
    for dial in (0.2, 1.0):  # the method is the module-level function's mapping
        assert head.target_entropy(dial) == target_entropy(policy, k, dial)
    with pytest.raises(ConfigError, match="diversification"):
        head.target_entropy(0.0)


def test_a_head_is_one_class_plus_one_registry_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """``make_head`` and ``target_entropy`` dispatch through ``POLICY_HEADS``, no if-chain."""
    from maxent_portfolio.agents.distributions import POLICY_HEADS, make_head

    class HalfEntropyDirichlet(DirichletHead):
        name = "half-entropy"

        def target_entropy(self, diversification: float) -> float:
            return 0.5 * super().target_entropy(diversification)

    monkeypatch.setitem(POLICY_HEADS, HalfEntropyDirichlet.name, HalfEntropyDirichlet)
    assert isinstance(make_head("half-entropy", 3), HalfEntropyDirichlet)
    assert target_entropy("half-entropy", 3, 0.5) == 0.5 * target_entropy("dirichlet", 3, 0.5)
    with pytest.raises(ConfigError, match="half-entropy"):  # the message lists the registry
        make_head("gaussian", 3)
