"""Online portfolio selection (OLPS) baselines, after Li & Hoi (2014).

The algorithms follow "Online Portfolio Selection: A Survey" (Li & Hoi, ACM Computing Surveys
46(3), 2014) and the OLPS toolbox, with their published default parameters. They work on price
relatives ``x_t = 1 + r_t``, start from the uniform portfolio ``b_1 = 1/m`` and, after seeing
``x_t``, produce ``b_{t+1}``: the portfolio to hold over ``t + 1``.

How they use the data
---------------------
Online algorithms learn from every observation, one at a time. ``allocate`` therefore processes
each row of ``history`` it has not seen yet (in order) and returns the latest ``b``; the result
at a decision date is the portfolio a daily-rebalanced OLPS run would hold, whatever the
engine's rebalance schedule. ``fit`` is a no-op: ``history`` always starts at the first period,
so the first ``allocate`` call of a backtest runs the algorithm over the whole training window
(the warm-up) before the first out-of-sample decision; refitting per fold would only repeat
updates already made. ``reset()`` clears the state. A missing return (NaN) counts as a price
relative of 1 (no price change).

``bcrp`` (best constant-rebalanced portfolio in hindsight, Cover 1991) is a benchmark, not a
strategy: it is not investable and the engine fits it on the window it is judged on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from maxent_portfolio.strategies.base import Strategy

__all__ = [
    "BCRP",
    "OLMAR",
    "PAMR",
    "ExponentiatedGradient",
    "OnlineNewtonStep",
    "best_constant_rebalanced",
    "project_simplex",
    "project_simplex_in_norm",
]


def project_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto the probability simplex (Duchi et al. 2008, Fig. 1).

    Parameters
    ----------
    v : ndarray of shape (m,)

    Returns
    -------
    ndarray of shape (m,)
        ``argmin_{w >= 0, sum w = 1} ||w - v||_2``.
    """
    u = np.sort(v)[::-1]
    cssv = np.cumsum(u) - 1.0
    j = np.arange(1, len(v) + 1)
    rho = np.flatnonzero(u - cssv / j > 0)[-1]
    theta = cssv[rho] / (rho + 1.0)
    return np.maximum(v - theta, 0.0)


def project_simplex_in_norm(y: np.ndarray, a: np.ndarray, start: np.ndarray | None = None,
                            tol: float = 1e-12) -> np.ndarray:
    """Projection onto the simplex in the norm induced by ``a``: what ONS needs.

    Solves ``min_{w >= 0, sum w = 1} (w - y)' A (w - y)`` exactly with the primal active-set
    method for convex QPs (Nocedal & Wright 2006, Algorithm 16.3). ``A`` is positive definite,
    so the solution is unique; the OLPS toolbox solves the same QP with a generic solver.

    Parameters
    ----------
    y : ndarray of shape (m,)
    a : ndarray of shape (m, m)
        Symmetric positive definite.
    start : ndarray of shape (m,), optional
        A feasible warm start (e.g. the previous portfolio); defaults to 1/m.
    tol : float
        Step and multiplier tolerance.

    Returns
    -------
    ndarray of shape (m,)
    """
    m = len(y)
    w = np.full(m, 1.0 / m) if start is None else np.clip(start, 0.0, None) / np.sum(
        np.clip(start, 0.0, None))
    active = w <= 0.0  # bounds w_i = 0 held as equalities
    w[active] = 0.0
    for _ in range(10 * m + 10):
        free = np.flatnonzero(~active)
        grad = a @ (w - y)  # half the gradient of the objective
        # Equality-constrained step on the free set: [A_FF 1; 1' 0] [p; -nu] = [-grad_F; 0].
        k = len(free)
        kkt = np.zeros((k + 1, k + 1))
        kkt[:k, :k] = a[np.ix_(free, free)]
        kkt[:k, k] = 1.0
        kkt[k, :k] = 1.0
        sol = np.linalg.solve(kkt, np.append(-grad[free], 0.0))
        p = np.zeros(m)
        p[free] = sol[:k]
        if np.abs(p).max() <= tol:
            nu = -sol[k]  # multiplier of sum w = 1: grad_F = nu on the free set
            lam = grad - nu  # multipliers of w_i >= 0 on the active set
            lam[~active] = np.inf
            i = int(np.argmin(lam))
            if lam[i] >= -tol:
                return w
            active[i] = False
            continue
        shrinking = (p < 0) & ~active
        ratios = np.full(m, np.inf)
        ratios[shrinking] = -w[shrinking] / p[shrinking]
        i = int(np.argmin(ratios))
        alpha = min(1.0, ratios[i])
        w = w + alpha * p
        if alpha < 1.0:
            active[i] = True
            w[i] = 0.0
    return np.clip(w, 0.0, None) / np.clip(w, 0.0, None).sum()


class _OnlineStrategy(Strategy):
    """Shared bookkeeping: consume unseen rows of ``history`` one at a time.

    Subclasses implement ``_start(m)`` and ``_update(x)``, which turns ``self._b`` (the
    portfolio held over the period of ``x``) into the next one.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._b: np.ndarray | None = None
        self._seen = 0
        self._last: object = None  # date of the last row seen
        self._last_row: np.ndarray | None = None
        self._columns: list[object] | None = None

    def fit(self, returns: pd.DataFrame) -> _OnlineStrategy:
        """No-op: the training window is the warm-up.

        ``allocate`` replays every unseen row of ``history``, which begins with the training
        window, so the first decision of a backtest has already learnt from it.
        """
        return self

    def _start(self, m: int) -> None:
        self._b = np.full(m, 1.0 / m)

    def _update(self, x: np.ndarray) -> None:
        raise NotImplementedError

    def _is_continuation(self, history: pd.DataFrame) -> bool:
        """Whether ``history`` extends the rows already processed (same last date and row)."""
        if self._b is None or self._last_row is None or list(history.columns) != self._columns \
                or len(history) < self._seen:
            return False
        row = history.iloc[self._seen - 1].to_numpy(dtype=float)
        return bool(history.index[self._seen - 1] == self._last
                    and np.array_equal(row, self._last_row, equal_nan=True))

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        """Process the rows of ``history`` not seen yet; return the latest portfolio.

        Parameters
        ----------
        history : pd.DataFrame of shape (t + 1, m)
        current : pd.Series
            Unused: the algorithms track their own portfolio.

        Returns
        -------
        pd.Series of shape (m,)
        """
        if not self._is_continuation(history):
            self.reset()  # a different dataset (or rewound history): start over
            self._columns = list(history.columns)
            self._start(history.shape[1])
        relatives = 1.0 + np.nan_to_num(history.iloc[self._seen:].to_numpy(dtype=float))
        for x in relatives:
            self._update(x)
        self._seen = len(history)
        self._last = history.index[-1]
        self._last_row = history.iloc[-1].to_numpy(dtype=float)
        assert self._b is not None
        return pd.Series(self._b, index=history.columns)


class ExponentiatedGradient(_OnlineStrategy):
    """EG (Helmbold et al. 1998): ``b_{t+1,i} ∝ b_{t,i} exp(η x_{t,i} / (b_t · x_t))``.

    Parameters
    ----------
    eta : float
        Learning rate; the OLPS default is 0.05.
    """

    name = "eg"
    description = "exponentiated gradient (Helmbold et al. 1998), online, eta=0.05"

    def __init__(self, eta: float = 0.05) -> None:
        self.eta = eta
        super().__init__()

    def _update(self, x: np.ndarray) -> None:
        b = self._b
        assert b is not None
        logits = np.log(np.maximum(b, 1e-300)) + self.eta * x / (b @ x)
        w = np.exp(logits - logits.max())  # shift for overflow safety; cancels in the ratio
        self._b = w / w.sum()


class OnlineNewtonStep(_OnlineStrategy):
    """ONS (Agarwal et al. 2006) as in the OLPS toolbox.

    With ``∇_τ = x_τ / (b_τ · x_τ)``, ``A_t = I + Σ ∇_τ ∇_τ'`` and
    ``p_t = (1 + 1/β) Σ ∇_τ``: ``b_{t+1} = (1 - η) Π^{A_t}(δ A_t^{-1} p_t) + η / m``, where
    ``Π^A`` is the projection onto the simplex in the norm induced by ``A``.

    Parameters
    ----------
    eta : float
        Mixing weight with the uniform portfolio (OLPS default 0).
    beta : float
        Trade-off parameter (OLPS default 1).
    delta : float
        Heuristic tuning parameter (OLPS default 1/8).
    """

    name = "ons"
    description = "online Newton step (Agarwal et al. 2006), online, eta=0 beta=1 delta=1/8"

    def __init__(self, eta: float = 0.0, beta: float = 1.0, delta: float = 0.125) -> None:
        self.eta = eta
        self.beta = beta
        self.delta = delta
        super().__init__()

    def _start(self, m: int) -> None:
        super()._start(m)
        self._a = np.eye(m)
        self._p = np.zeros(m)

    def _update(self, x: np.ndarray) -> None:
        b = self._b
        assert b is not None
        grad = x / (b @ x)
        self._a += np.outer(grad, grad)
        self._p += (1.0 + 1.0 / self.beta) * grad
        target = self.delta * np.linalg.solve(self._a, self._p)
        w = project_simplex_in_norm(target, self._a, start=b)
        self._b = (1.0 - self.eta) * w + self.eta / len(x)


class OLMAR(_OnlineStrategy):
    """OLMAR-1 (Li & Hoi 2012): passive-aggressive toward a moving-average prediction.

    ``x̃_{t+1} = (1/w) Σ_{i=0}^{w-1} p_{t-i} / p_t`` (the simple moving average over ``w``
    prices, divided by today's price), ``x̄ = mean(x̃)``,
    ``λ = max(0, ε - b_t · x̃) / ||x̃ - x̄ 1||²`` (0 when the denominator is 0) and
    ``b_{t+1} = Π_Δ(b_t + λ (x̃ - x̄ 1))``. Before ``w + 1`` price relatives are available
    the prediction is the last relative, as in the OLPS toolbox.

    Parameters
    ----------
    epsilon : float
        Reversion threshold (default 10).
    window : int
        Moving-average window ``w`` (default 5).
    """

    name = "olmar"
    description = "online moving-average reversion (Li & Hoi 2012), online, eps=10 w=5"

    def __init__(self, epsilon: float = 10.0, window: int = 5) -> None:
        if window < 2:
            raise ValueError(f"OLMAR window must be at least 2, got {window}")
        self.epsilon = epsilon
        self.window = window
        super().__init__()

    def reset(self) -> None:
        super().reset()
        self._recent: list[np.ndarray] = []  # the last w - 1 relatives, newest last
        self._count = 0  # relatives seen

    def _predict(self, x: np.ndarray) -> np.ndarray:
        """``x̃_{t+1}`` from ``x_t`` and the stored earlier relatives."""
        self._count += 1
        self._recent.append(x)
        if len(self._recent) > self.window - 1:
            del self._recent[0]
        if self._count < self.window + 1:
            return x
        # p_{t-i} / p_t = 1 / (x_t x_{t-1} ... x_{t-i+1}), i = 1..w-1
        prod = np.cumprod(np.array(self._recent[::-1]), axis=0)
        return (1.0 + (1.0 / prod).sum(axis=0)) / self.window

    def _update(self, x: np.ndarray) -> None:
        b = self._b
        assert b is not None
        pred = self._predict(x)
        dev = pred - pred.mean()
        denom = dev @ dev
        lam = max(0.0, self.epsilon - b @ pred) / denom if denom > 0 else 0.0
        self._b = project_simplex(b + lam * dev)


class PAMR(_OnlineStrategy):
    """PAMR (Li et al. 2012): passive-aggressive mean reversion.

    ``loss = max(0, b_t · x_t - ε)``, ``x̄ = mean(x_t)`` and
    ``τ = loss / ||x_t - x̄ 1||²`` (PAMR), ``min(C, loss / ||x_t - x̄ 1||²)`` (PAMR-1) or
    ``loss / (||x_t - x̄ 1||² + 1 / (2C))`` (PAMR-2); ``b_{t+1} = Π_Δ(b_t - τ (x_t - x̄ 1))``.

    Parameters
    ----------
    epsilon : float
        Sensitivity (default 0.5).
    variant : int
        0 for PAMR, 1 for PAMR-1, 2 for PAMR-2.
    C : float
        Aggressiveness of PAMR-1/2 (default 500).
    """

    name = "pamr"
    description = "passive-aggressive mean reversion (Li et al. 2012), online, eps=0.5"

    def __init__(self, epsilon: float = 0.5, variant: int = 0, C: float = 500.0) -> None:
        if variant not in (0, 1, 2):
            raise ValueError(f"PAMR variant must be 0, 1 or 2, got {variant}")
        self.epsilon = epsilon
        self.variant = variant
        self.C = C
        super().__init__()

    def _update(self, x: np.ndarray) -> None:
        b = self._b
        assert b is not None
        loss = max(0.0, b @ x - self.epsilon)
        dev = x - x.mean()
        denom = dev @ dev
        if self.variant == 2:
            tau = loss / (denom + 0.5 / self.C)
        elif denom > 0:
            tau = loss / denom
            if self.variant == 1:
                tau = min(self.C, tau)
        else:
            tau = 0.0
        self._b = project_simplex(b - tau * dev)


def best_constant_rebalanced(returns: np.ndarray, tol: float = 1e-12,
                             max_iter: int = 200) -> np.ndarray:
    """The constant-rebalanced portfolio of highest log wealth over ``returns`` (Cover 1991).

    Maximises the concave ``f(b) = mean_t log(b · x_t)`` over the simplex by projected Newton
    steps: each step minimises the quadratic model of ``-f`` over the simplex exactly (the
    projection of the Newton point in the Hessian's norm), then backtracks (Armijo).

    Parameters
    ----------
    returns : ndarray of shape (n_observations, m)
        Simple returns.
    tol : float
        Stop when the projected Newton step is smaller than this (max norm).
    max_iter : int

    Returns
    -------
    ndarray of shape (m,)
    """
    x = 1.0 + np.nan_to_num(np.asarray(returns, dtype=float))
    n, m = x.shape
    b = np.full(m, 1.0 / m)
    if m == 1 or n == 0:
        return b

    def neg_log_wealth(w: np.ndarray) -> float:
        return float(-np.log(np.maximum(x @ w, 1e-300)).mean())

    value = neg_log_wealth(b)
    for _ in range(max_iter):
        z = x / np.maximum(x @ b, 1e-300)[:, None]
        grad = -z.mean(axis=0)
        hess = z.T @ z / n
        hess += 1e-12 * np.trace(hess) / m * np.eye(m)  # singular when n < m or collinear
        newton = project_simplex_in_norm(b - np.linalg.solve(hess, grad), hess, start=b)
        step = newton - b
        if np.abs(step).max() <= tol:
            break
        slope = float(grad @ step)
        alpha = 1.0
        while alpha > 1e-12:
            trial = neg_log_wealth(b + alpha * step)
            if trial <= value + 1e-4 * alpha * slope:
                break
            alpha *= 0.5
        else:
            break  # no further descent at machine precision
        b, value = b + alpha * step, trial
    b = np.clip(b, 0.0, None)
    return b / b.sum()


class BCRP(Strategy):
    """Best constant-rebalanced portfolio in hindsight: a benchmark, not investable.

    ``fit`` receives the window the benchmark is judged on (the engine passes the test window
    for non-investable strategies) and finds the CRP of highest log wealth over it.
    """

    name = "bcrp"
    description = "best constant-rebalanced portfolio in hindsight (not investable)"
    investable = False
    stateless = True

    def __init__(self) -> None:
        self._weights: pd.Series | None = None

    def fit(self, returns: pd.DataFrame) -> BCRP:
        self._weights = pd.Series(best_constant_rebalanced(returns.to_numpy(dtype=float)),
                                  index=returns.columns)
        return self

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        if self._weights is None or list(self._weights.index) != list(history.columns):
            raise RuntimeError("bcrp must be fit on the evaluation window before allocate")
        return self._weights.copy()


ONLINE: tuple[type[Strategy], ...] = (ExponentiatedGradient, OnlineNewtonStep, OLMAR, PAMR, BCRP)
"""The online portfolio selection algorithms (and the hindsight BCRP), in registry order."""
