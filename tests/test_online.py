"""OLPS algorithms against their published update rules, written out by hand here.

References: Li & Hoi, "Online Portfolio Selection: A Survey" (2014) and the OLPS toolbox;
Helmbold et al. (1998) for EG, Agarwal et al. (2006) for ONS, Li & Hoi (2012) for OLMAR,
Li et al. (2012) for PAMR, Cover (1991) for BCRP.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from maxent_portfolio.backtest.engine import run_backtest
from maxent_portfolio.backtest.walkforward import WalkForward
from maxent_portfolio.strategies.base import CASH
from maxent_portfolio.strategies.online import (
    BCRP,
    OLMAR,
    PAMR,
    ExponentiatedGradient,
    OnlineNewtonStep,
    best_constant_rebalanced,
    project_simplex,
    project_simplex_in_norm,
)


def _frame(relatives: list[list[float]]) -> pd.DataFrame:
    """Simple returns from price relatives, on business days."""
    x = np.asarray(relatives, dtype=float)
    idx = pd.bdate_range("2020-01-01", periods=len(x))
    return pd.DataFrame(x - 1.0, index=idx, columns=[f"S{i}" for i in range(x.shape[1])])


def _hold(columns: pd.Index) -> pd.Series:
    return pd.Series(0.0, index=[*columns, CASH])


def _bisection_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean simplex projection by bisection on theta in sum(max(v - theta, 0)) = 1.

    Independent of the sort-based algorithm of Duchi et al. used by the code.
    """
    lo, hi = v.min() - 1.0, v.max()
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.maximum(v - mid, 0.0).sum() > 1.0:
            lo = mid
        else:
            hi = mid
    return np.maximum(v - 0.5 * (lo + hi), 0.0)


RELATIVES_2 = [[1.10, 0.90], [0.80, 1.20], [1.05, 1.00], [0.95, 1.10]]
RELATIVES_3 = [[1.02, 0.97, 1.00], [0.95, 1.04, 1.01], [1.03, 0.99, 0.98],
               [0.97, 1.02, 1.03], [1.01, 0.96, 1.02]]


def test_eg_matches_helmbold_update() -> None:
    eta = 0.05
    b = [0.5, 0.5]
    for x in RELATIVES_2:
        bx = b[0] * x[0] + b[1] * x[1]
        # b_{t+1,i} = b_{t,i} exp(eta x_i / b.x) / sum_j b_{t,j} exp(eta x_j / b.x)
        u = [b[i] * math.exp(eta * x[i] / bx) for i in range(2)]
        b = [u[0] / (u[0] + u[1]), u[1] / (u[0] + u[1])]
    got = ExponentiatedGradient().allocate(_frame(RELATIVES_2), _hold(pd.Index(["S0", "S1"])))
    np.testing.assert_allclose(got.to_numpy(), b, atol=1e-12)


def test_ons_matches_agarwal_update_two_assets() -> None:
    eta, beta, delta = 0.0, 1.0, 0.125
    b = np.array([0.5, 0.5])
    a = np.eye(2)
    p = np.zeros(2)
    for x in np.asarray(RELATIVES_2):
        g = x / (b @ x)
        a = a + np.outer(g, g)
        p = p + (1.0 + 1.0 / beta) * g
        y = delta * np.linalg.inv(a) @ p
        # 2-asset simplex: w = e2 + s d, d = e1 - e2; the A-norm projection minimises a
        # 1-d quadratic in s, whose minimiser is clipped to [0, 1].
        d, e2 = np.array([1.0, -1.0]), np.array([0.0, 1.0])
        s = float(np.clip(d @ a @ (y - e2) / (d @ a @ d), 0.0, 1.0))
        b = (1 - eta) * (e2 + s * d) + eta / 2
    got = OnlineNewtonStep().allocate(_frame(RELATIVES_2), _hold(pd.Index(["S0", "S1"])))
    np.testing.assert_allclose(got.to_numpy(), b, atol=1e-10)


def test_ons_with_uniform_mixing_three_assets() -> None:
    eta, beta, delta = 0.1, 2.0, 0.5
    rel = np.asarray(RELATIVES_3)
    b = np.full(3, 1 / 3)
    a, p = np.eye(3), np.zeros(3)
    for x in rel:
        g = x / (b @ x)
        a, p = a + np.outer(g, g), p + (1 + 1 / beta) * g
        y = delta * np.linalg.solve(a, p)
        res = minimize(lambda w, a=a, y=y: (w - y) @ a @ (w - y), np.full(3, 1 / 3),
                       method="SLSQP", bounds=[(0, 1)] * 3,
                       constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
                       options={"ftol": 1e-15, "maxiter": 500})
        b = (1 - eta) * res.x + eta / 3
    got = OnlineNewtonStep(eta=eta, beta=beta, delta=delta).allocate(
        _frame(RELATIVES_3), _hold(pd.Index(["S0", "S1", "S2"])))
    np.testing.assert_allclose(got.to_numpy(), b, atol=1e-6)


@pytest.mark.parametrize("epsilon", [10.0, 1.005])
def test_olmar_matches_li_hoi_update(epsilon: float) -> None:
    w = 3
    rel = np.asarray(RELATIVES_3)
    b = np.full(3, 1 / 3)
    for t in range(len(rel)):
        x = rel[t]
        if t + 1 < w + 1:  # OLPS: too few relatives for the moving average, predict x_t
            pred = x
        else:  # (1/w)(p_t + p_{t-1} + p_{t-2}) / p_t = (1/w)(1 + 1/x_t + 1/(x_t x_{t-1}))
            pred = (1 + 1 / rel[t] + 1 / (rel[t] * rel[t - 1])) / w
        xbar = pred.mean()
        denom = ((pred - xbar) ** 2).sum()
        lam = max(0.0, epsilon - b @ pred) / denom
        b = _bisection_simplex(b + lam * (pred - xbar))
    got = OLMAR(epsilon=epsilon, window=w).allocate(_frame(RELATIVES_3),
                                                   _hold(pd.Index(["S0", "S1", "S2"])))
    np.testing.assert_allclose(got.to_numpy(), b, atol=1e-9)
    if epsilon < 2.0:  # a mild threshold keeps the portfolio off the simplex's vertices
        assert b.max() < 1.0


@pytest.mark.parametrize(("variant", "c", "epsilon"),
                         [(0, 500.0, 0.5), (1, 0.3, 0.5), (2, 0.3, 0.5), (0, 500.0, 0.99)])
def test_pamr_matches_li_update(variant: int, c: float, epsilon: float) -> None:
    rel = np.asarray(RELATIVES_3)
    b = np.full(3, 1 / 3)
    for x in rel:
        loss = max(0.0, b @ x - epsilon)
        xbar = x.mean()
        sq = ((x - xbar) ** 2).sum()
        tau = {0: loss / sq, 1: min(c, loss / sq), 2: loss / (sq + 1 / (2 * c))}[variant]
        b = _bisection_simplex(b - tau * (x - xbar))
    got = PAMR(epsilon=epsilon, variant=variant, C=c).allocate(
        _frame(RELATIVES_3), _hold(pd.Index(["S0", "S1", "S2"])))
    np.testing.assert_allclose(got.to_numpy(), b, atol=1e-9)


@pytest.mark.parametrize("cls", [ExponentiatedGradient, OnlineNewtonStep, OLMAR, PAMR])
def test_online_state_independent_of_call_schedule(cls: type) -> None:
    rng = np.random.default_rng(0)
    returns = pd.DataFrame(rng.normal(0, 0.02, (40, 4)),
                           index=pd.bdate_range("2021-01-01", periods=40), columns=list("ABCD"))
    hold = _hold(returns.columns)
    every = cls()
    daily = [every.allocate(returns.iloc[: t + 1], hold) for t in range(40)]
    sparse = cls()
    for t in (4, 11, 12, 39):
        pd.testing.assert_series_equal(sparse.allocate(returns.iloc[: t + 1], hold), daily[t])
    sparse.reset()  # forgets the state: a fresh run from the first row
    pd.testing.assert_series_equal(sparse.allocate(returns.iloc[:20], hold), daily[19])
    # A history that does not continue the one seen restarts instead of mixing datasets.
    other = returns.iloc[:20] * -1.0
    pd.testing.assert_series_equal(sparse.allocate(other, hold), cls().allocate(other, hold))


def test_duchi_projection_matches_bisection() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        v = rng.normal(0, 2, rng.integers(1, 8))
        np.testing.assert_allclose(project_simplex(v), _bisection_simplex(v), atol=1e-10)


def test_norm_projection_matches_generic_qp() -> None:
    rng = np.random.default_rng(2)
    for _ in range(20):
        m = int(rng.integers(2, 7))
        g = rng.normal(size=(m, m))
        a = g @ g.T + 0.1 * np.eye(m)
        y = rng.normal(0, 1, m)
        res = minimize(lambda w, a=a, y=y: (w - y) @ a @ (w - y), np.full(m, 1 / m),
                       method="SLSQP", bounds=[(0, 1)] * m,
                       constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
                       options={"ftol": 1e-15, "maxiter": 1000})
        np.testing.assert_allclose(project_simplex_in_norm(y, a), res.x, atol=1e-6)


def test_bcrp_two_asset_analytic_optimum() -> None:
    # Asset A doubles then halves; B is flat. log(1 + b) + log(1 - b/2) peaks at b = 1/2.
    returns = _frame([[2.0, 1.0], [0.5, 1.0]] * 5)
    np.testing.assert_allclose(best_constant_rebalanced(returns.to_numpy()), [0.5, 0.5],
                               atol=1e-8)


def test_bcrp_two_asset_grid_search() -> None:
    rng = np.random.default_rng(3)
    common = rng.normal(0, 0.05, 300)
    common -= common.mean()  # keep the hedge exact so the optimum is interior
    r = np.column_stack([0.0015 + common + rng.normal(0, 0.01, 300),
                         0.001 - common + rng.normal(0, 0.01, 300)])
    grid = np.linspace(0.0, 1.0, 100_001)
    log_wealth = np.log1p(np.outer(r[:, 0], grid) + np.outer(r[:, 1], 1 - grid)).sum(axis=0)
    best = grid[np.argmax(log_wealth)]
    assert 0.05 < best < 0.95  # an interior optimum: a real test of the solver
    got = best_constant_rebalanced(r)
    assert abs(got[0] - best) < 2e-5
    assert abs(got.sum() - 1.0) < 1e-12


def test_bcrp_is_fit_on_the_test_window_by_the_engine(
        synthetic_returns: pd.DataFrame) -> None:
    res = run_backtest(synthetic_returns, BCRP(), splits=WalkForward(train=600, test=300),
                       rebalance="monthly", cost_bps=0.0)
    assert not res.investable
    assert "not investable" in BCRP.description
    first_fold = synthetic_returns.iloc[600:900]
    expected = best_constant_rebalanced(first_fold.to_numpy())
    np.testing.assert_allclose(res.targets.iloc[0, :-1].to_numpy(), expected, atol=1e-12)
