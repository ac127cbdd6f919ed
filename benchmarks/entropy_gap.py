"""Issue #12: the gap between the entropy the temperature controller sees and the exact entropy.

Run: ``.venv/bin/python benchmarks/entropy_gap.py [--n 20000]`` (a few seconds; not a speed
benchmark, so ``run_all.py`` does not pick it up).

For each head, K and dial value d, the policy is the dial's reference member (``Dirichlet(c 1_K)``
with ``c = d / (2 - d)``; ``softmax([sigma eps, 0])`` whose quadrature entropy is the target).
The controller sees the mean of ``-log pi`` over fresh samples:

* *before*: ``log pi`` at the floored, renormalised action (what ``sample`` returned until this
  fix; the action is bit-identical, so ``head.log_prob(x, action)`` reproduces it);
* *after*: ``head.sample(x).log_prob``, the density of the unfloored draw.

``-log pi`` has a standard deviation of ~100 nats at d = 0.1, so each mean uses a control
variate with a known mean: the exact float64 ``-log p`` of the same draws (same seed), whose
expectation is the exact entropy. The gap is ``mean(-log pi - (-log p))`` and its standard
error is printed. The last table is the logistic-normal's d = 1 target against its family's
maximum, before (the 4,096-draw Monte Carlo table) and after (quadrature).
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F
from scipy import optimize

from maxent_portfolio.agents.calibration import logistic_normal_peak, logistic_normal_reference
from maxent_portfolio.agents.distributions import (
    LOG_STD_MAX,
    LOG_STD_MIN,
    DirichletHead,
    LogisticNormalHead,
    PolicyHead,
    target_entropy,
)


def dirichlet_case(k: int, d: float, n: int) -> tuple[PolicyHead, torch.Tensor, torch.Tensor]:
    """Head, float32 raw outputs (n, K), and the exact ``-log p`` of the draws of seed 0."""
    c = d / (2.0 - d)
    x = torch.log(torch.expm1(torch.tensor(c - 1e-2))).float().expand(n, k).clone()
    conc = DirichletHead.concentration(x).double()
    torch.manual_seed(0)
    log_g = torch._standard_gamma(conc).log()
    log_w = log_g - torch.logsumexp(log_g, -1, keepdim=True)
    exact = -(((conc - 1) * log_w).sum(-1) + torch.lgamma(conc.sum(-1))
              - torch.lgamma(conc).sum(-1))
    return DirichletHead(k), x, exact


def logistic_normal_case(k: int, d: float, n: int
                         ) -> tuple[PolicyHead, torch.Tensor, torch.Tensor]:
    sigma = logistic_normal_peak(k)[0]
    if d < 1.0:
        target, lo = target_entropy("logistic-normal", k, d), math.log(sigma)
        sigma = math.exp(optimize.brentq(
            lambda v: logistic_normal_reference(k, math.exp(v))[0] - target, lo, lo + 5.0))
    x = torch.zeros(n, k, 2)
    x[:, :, 1] = math.atanh((math.log(sigma) - LOG_STD_MIN)
                            / (0.5 * (LOG_STD_MAX - LOG_STD_MIN)) - 1)
    mu, log_std = LogisticNormalHead._params(x)
    torch.manual_seed(0)
    z = (mu + log_std.exp() * torch.randn_like(mu)).double()
    s = log_std.double().exp()
    gauss = (-0.5 * (z / s) ** 2 - s.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
    return LogisticNormalHead(k), x, -(gauss - torch.log_softmax(F.pad(z, (0, 1)), -1).sum(-1))


def gaps(head: PolicyHead, x: torch.Tensor, exact: torch.Tensor) -> list[tuple[float, float]]:
    """(gap, standard error) of the controller's mean ``-log pi``, before and after."""
    torch.manual_seed(0)
    pi = head.sample(x)
    before = -head.log_prob(x, pi.action).double() - exact
    after = -pi.log_prob.double() - exact
    return [(float(g.mean()), float(g.std()) / math.sqrt(len(g))) for g in (before, after)]


def old_full_dial_target(k: int) -> float:
    """The removed table's d = 1 target: max over a sigma grid of a 4,096-draw MC curve."""
    eps = torch.randn((4096, k - 1), generator=torch.Generator().manual_seed(12345),
                      dtype=torch.float64)
    return max((k - 1) * (math.log(s) + 0.5 * math.log(2 * math.pi * math.e))
               + float(torch.log_softmax(F.pad(float(s) * eps, (0, 1)), -1).sum(-1).mean())
               for s in torch.logspace(-2, 1.5, 71, dtype=torch.float64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="draws per case")
    n = parser.parse_args().n
    torch.set_num_threads(1)
    print("| head | K | d | gap before (nats) | gap after (nats) |")
    print("|---|---|---|---|---|")
    for name, case in (("dirichlet", dirichlet_case), ("logistic-normal", logistic_normal_case)):
        for k in (21, 31):
            for d in (0.1, 0.25, 0.5, 1.0):
                (b, b_se), (a, a_se) = gaps(*case(k, d, n))
                print(f"| {name} | {k} | {d} | {b:+.3f} ± {b_se:.3f} | {a:+.1e} ± {a_se:.1e} |")
    print("\n| K | true max (quadrature) | d=1 target before | d=1 target after |")
    print("|---|---|---|---|")
    for k in (21, 31):
        peak = logistic_normal_peak(k)[1]
        old = old_full_dial_target(k)
        new = target_entropy("logistic-normal", k, 1.0)
        print(f"| {k} | {peak:.4f} | {old:.4f} ({old - peak:+.4f}) | {new:.4f} "
              f"({new - peak:+.1e}) |")


if __name__ == "__main__":
    main()
