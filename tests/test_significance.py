"""PSR, DSR and Sharpe-difference tests against skfolio and independent hand computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from skfolio.measures import deflated_sharpe_ratio as sk_dsr

from maxent_portfolio import measures as m
from maxent_portfolio.errors import ConfigError

P = 252
EULER_GAMMA = 0.5772156649015329
TINY = np.array([0.012, -0.004, 0.021, 0.003, -0.015, 0.008, 0.017, -0.002, 0.006, 0.011])


def _paper_psr(r: np.ndarray, sr_star: float) -> float:
    """Bailey & López de Prado (2012), eq. for PSR, written out from sums."""
    n = len(r)
    mu = sum(r) / n
    sd = math.sqrt(sum((x - mu) ** 2 for x in r) / (n - 1))
    m2 = sum((x - mu) ** 2 for x in r) / n
    g3 = sum((x - mu) ** 3 for x in r) / n / m2**1.5
    g4 = sum((x - mu) ** 4 for x in r) / n / m2**2
    sr = mu / sd
    return norm.cdf((sr - sr_star) * math.sqrt(n - 1)
                    / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2))


# ----------------------------------------------------------------------------- PSR / DSR
def test_psr_matches_the_paper_formula_on_a_tiny_example() -> None:
    assert m.probabilistic_sharpe_ratio(TINY, P) == pytest.approx(_paper_psr(TINY, 0.0),
                                                                  abs=1e-12)
    # An annualised benchmark of 2 is 2 / sqrt(252) per period.
    assert m.probabilistic_sharpe_ratio(TINY, P, benchmark_sharpe=2.0) == pytest.approx(
        _paper_psr(TINY, 2.0 / math.sqrt(P)), abs=1e-12)


def test_psr_with_rf_uses_excess_returns() -> None:
    per = 1.02 ** (1 / P) - 1
    assert m.probabilistic_sharpe_ratio(TINY, P, rf=0.02) == pytest.approx(
        _paper_psr(TINY - per, 0.0), abs=1e-12)


def test_expected_max_sharpe_hand_worked() -> None:
    n, v = 10, 0.25  # ten trials, annualised Sharpes with variance 0.25 (sd 0.5)
    expected = 0.5 * ((1 - EULER_GAMMA) * norm.ppf(1 - 1 / n)
                      + EULER_GAMMA * norm.ppf(1 - 1 / (n * math.e)))
    assert m.expected_max_sharpe(n, v, P) == pytest.approx(expected, abs=1e-12)
    assert m.expected_max_sharpe(1, v, P) == 0.0


def test_dsr_matches_skfolio_and_the_paper() -> None:
    rng = np.random.default_rng(3)
    r = rng.normal(6e-4, 0.01, 500)
    trials = np.array([0.3, 0.9, 1.4, -0.2, 0.6, 1.1])  # annualised
    ours = m.deflated_sharpe_ratio(r, P, n_trials=len(trials),
                                   trial_sharpe_var=float(np.var(trials, ddof=1)))
    # skfolio wants per-period trial Sharpes and counts them itself.
    assert ours == pytest.approx(sk_dsr(r, trials / math.sqrt(P)), abs=1e-12)
    sd = np.std(trials, ddof=1) / math.sqrt(P)
    n = len(trials)
    sr0 = sd * ((1 - EULER_GAMMA) * norm.ppf(1 - 1 / n)
                + EULER_GAMMA * norm.ppf(1 - 1 / (n * math.e)))
    assert ours == pytest.approx(_paper_psr(r, sr0), abs=1e-12)
    assert ours < m.probabilistic_sharpe_ratio(r, P)


def test_dsr_of_a_single_trial_is_the_psr() -> None:
    assert m.deflated_sharpe_ratio(TINY, P) == m.probabilistic_sharpe_ratio(TINY, P)
    with pytest.raises(ConfigError):
        m.deflated_sharpe_ratio(TINY, P, n_trials=5)
    with pytest.raises(ConfigError):
        m.deflated_sharpe_ratio(TINY, P, n_trials=0.5, trial_sharpe_var=0.1)


def test_summarize_counts_trial_sharpes() -> None:
    draws = np.random.default_rng(5).normal(5e-4, 0.01, 300)
    s = pd.Series(draws, index=pd.bdate_range("2020-01-01", periods=300))
    trials = [0.2, 0.8, 1.5]
    out = m.summarize_returns(s, P, trial_sharpes=trials)
    assert out["dsr"] == pytest.approx(
        m.deflated_sharpe_ratio(s, P, 3, float(np.var(trials, ddof=1))), abs=1e-15)
    # An explicit (effective) trial count overrides the length of the list.
    out5 = m.summarize_returns(s, P, n_trials=5, trial_sharpes=trials)
    assert out5["dsr"] < out["dsr"]


# ----------------------------------------------------------------------------- Ledoit-Wolf
def _hand_kernel_se(a: np.ndarray, b: np.ndarray, weight, lags: int) -> float:
    """Delta-method HAC standard error, written with loops and a numerical gradient."""
    t = len(a)
    mu1, mu2 = a.mean(), b.mean()
    g1, g2 = (a**2).mean(), (b**2).mean()
    v = np.array([[a[i] - mu1, b[i] - mu2, a[i] ** 2 - g1, b[i] ** 2 - g2] for i in range(t)])
    psi = np.zeros((4, 4))
    for i in range(t):
        psi += np.outer(v[i], v[i]) / t
    for j in range(1, lags + 1):
        gam = np.zeros((4, 4))
        for i in range(j, t):
            gam += np.outer(v[i], v[i - j]) / t
        psi += weight(j) * (gam + gam.T)
    psi *= t / (t - 4)

    def f(x: np.ndarray) -> float:
        return x[0] / math.sqrt(x[2] - x[0] ** 2) - x[1] / math.sqrt(x[3] - x[1] ** 2)

    x0, h = np.array([mu1, mu2, g1, g2]), 1e-7
    grad = np.array([(f(x0 + h * e) - f(x0 - h * e)) / (2 * h) for e in np.eye(4)])
    return math.sqrt(grad @ psi @ grad / t)


def _pair(t: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(t, 2))
    a = 0.002 + 0.01 * z[:, 0]
    b = 0.001 + 0.008 * (0.6 * z[:, 0] + 0.8 * z[:, 1])
    a[1:] += 0.3 * a[:-1]  # some autocorrelation for the kernel to see
    return a, b


def test_parzen_hac_standard_error_matches_a_hand_computation() -> None:
    a, b = _pair(12)
    s = 3.0

    def parzen(j: int) -> float:
        x = j / s
        return 1 - 6 * x**2 + 6 * x**3 if x <= 0.5 else 2 * (1 - x) ** 3

    res = m.ledoit_wolf_test(a, b, bandwidth=s)
    # Lags j < S: j = 1, 2.
    assert res.std_error == pytest.approx(_hand_kernel_se(a, b, parzen, 2), rel=1e-6)
    sd1, sd2 = a.std(), b.std()
    assert res.difference == pytest.approx(a.mean() / sd1 - b.mean() / sd2, abs=1e-14)
    assert res.p_value == pytest.approx(2 * norm.sf(abs(res.difference) / res.std_error))


def test_quadratic_spectral_hac_standard_error_matches_a_hand_computation() -> None:
    a, b = _pair(15, seed=2)
    s = 2.0

    def qs_weight(j: int) -> float:
        x = j / s
        z = 6 * math.pi * x / 5
        return 25 / (12 * math.pi**2 * x**2) * (math.sin(z) / z - math.cos(z))

    res = m.ledoit_wolf_test(a, b, kernel="qs", bandwidth=s)
    assert res.std_error == pytest.approx(_hand_kernel_se(a, b, qs_weight, 14), rel=1e-6)


def test_automatic_bandwidth_follows_andrews() -> None:
    a, b = _pair(40, seed=4)
    t = len(a)
    v = np.column_stack([a - a.mean(), b - b.mean(), a**2 - (a**2).mean(),
                         b**2 - (b**2).mean()])
    num = den = 0.0
    for i in range(4):  # AR(1) by least squares on each column, Andrews (1991) eq. 6.4
        x, y = v[:-1, i], v[1:, i]
        rho = sum(x * y) / sum(x * x)
        s2 = sum((y - rho * x) ** 2) / len(y)
        num += 4 * rho**2 * s2**2 / (1 - rho) ** 8
        den += s2**2 / (1 - rho) ** 4
    s = min(2.6614 * (num / den * t) ** 0.2, t - 1)
    assert m.ledoit_wolf_test(a, b).std_error == pytest.approx(
        m.ledoit_wolf_test(a, b, bandwidth=s).std_error, rel=1e-12)


def test_prewhitened_hac_matches_a_hand_var1_recolouring() -> None:
    a, b = _pair(30, seed=6)
    t, s = len(a), 2.0
    v = np.column_stack([a - a.mean(), b - b.mean(), a**2 - (a**2).mean(),
                         b**2 - (b**2).mean()])
    a_ls = np.zeros((4, 4))
    for j in range(4):  # one regression per equation, no intercept
        a_ls[j] = np.linalg.lstsq(v[:-1], v[1:, j], rcond=None)[0]
    u, d, vt = np.linalg.svd(a_ls)
    a_hat = u @ np.diag(np.clip(d, -0.97, 0.97)) @ vt
    e = v[1:] - v[:-1] @ a_hat.T
    psi = e.T @ e / (t - 1) + 0.25 * (e[1:].T @ e[:-1] + e[:-1].T @ e[1:]) / (t - 1)
    psi *= (t - 1) / (t - 5)  # parzen(1/2) = 0.25 on lag 1 only; T/(T-4) on T - 1 residuals
    dmat = np.linalg.inv(np.eye(4) - a_hat)
    psi = dmat @ psi @ dmat.T
    va, vb = a.var(), b.var()
    grad = np.array([(a**2).mean() / va**1.5, -(b**2).mean() / vb**1.5,
                     -0.5 * a.mean() / va**1.5, 0.5 * b.mean() / vb**1.5])
    se = math.sqrt(grad @ psi @ grad / t)
    assert m.ledoit_wolf_test(a, b, prewhiten=True, bandwidth=s).std_error == pytest.approx(
        se, rel=1e-10)


def test_ledoit_wolf_identical_and_drifted_series() -> None:
    rng = np.random.default_rng(8)
    a = rng.normal(3e-4, 0.01, 750)
    same = m.ledoit_wolf_test(a, a.copy())
    assert same.difference == 0.0 and same.p_value == 1.0
    drifted = m.ledoit_wolf_test(a + 0.002, a)
    assert drifted.difference > 0 and drifted.p_value < 1e-6
    for kernel in ("parzen", "qs"):
        assert m.ledoit_wolf_test(a + 0.002, a, kernel=kernel, prewhiten=True).p_value < 1e-6
    flipped = m.ledoit_wolf_test(a, a + 0.002)
    assert flipped.difference == pytest.approx(-drifted.difference)
    assert flipped.p_value == pytest.approx(drifted.p_value)
    with pytest.raises(ConfigError):
        m.ledoit_wolf_test(a, a, kernel="bartlett")


def test_ledoit_wolf_agrees_with_memmel_on_iid_normal_returns() -> None:
    # Without serial dependence both estimate the same asymptotic variance.
    rng = np.random.default_rng(9)
    z = rng.normal(size=(4000, 2))
    a = 5e-4 + 0.01 * z[:, 0]
    b = 2e-4 + 0.01 * (0.5 * z[:, 0] + math.sqrt(0.75) * z[:, 1])
    lw, jk = m.ledoit_wolf_test(a, b), m.jobson_korkie_memmel_test(a, b)
    assert lw.std_error == pytest.approx(jk.std_error, rel=0.1)


# ----------------------------------------------------------------------------- JK-Memmel
def test_jobson_korkie_memmel_on_a_constructed_example() -> None:
    # Exact moments: SR_a = 0.2, SR_b = 0.1, rho = 0.5, T = 100.
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(np.column_stack([np.ones(100), rng.normal(size=(100, 2))]))
    z1, z2 = q[:, 1] * math.sqrt(99), q[:, 2] * math.sqrt(99)  # mean 0, sd 1, uncorrelated
    a = 0.2 + z1
    b = 0.1 + 0.5 * z1 + math.sqrt(0.75) * z2
    # theta = [2(1 - 0.5) + (0.04 + 0.01 - 2 * 0.02 * 0.25) / 2] / 100 = 0.0102
    res = m.jobson_korkie_memmel_test(a, b)
    assert res.difference == pytest.approx(0.1, abs=1e-12)
    assert res.std_error == pytest.approx(math.sqrt(0.0102), abs=1e-12)
    assert res.p_value == pytest.approx(2 * norm.sf(0.1 / math.sqrt(0.0102)), abs=1e-12)
    assert m.jobson_korkie_memmel_test(a, a).p_value == 1.0
