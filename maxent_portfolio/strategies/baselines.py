"""Classical baseline strategies.

Estimation window
-----------------
The estimator-based baselines fit on the trailing ``window`` periods (default 252, one year of
trading days) of the data available at the time, with ``refit`` choosing when:

* ``refit="fold"`` (default for the skfolio optimisers ``min-variance``, ``max-sharpe``,
  ``risk-parity``, ``hrp``): once per walk-forward fold, on the last ``window`` periods of the
  training window; the targets are then held (rebalanced back to) for the whole fold. This is
  the refit cadence of the SAC agent, and it keeps a walk-forward fast: a skfolio fit costs
  25-35 ms, so re-estimating all four at every monthly rebalance of a 20-asset, 8,300-day
  history would alone take about 40 s of CPU.
* ``refit="rebalance"`` (default for the cheap ``inverse-volatility``): at every rebalance, on
  the trailing window of ``history``, which ends at the decision date (the rolling-window
  design of DeMiguel et al. 2009).

Neither mode sees data after the decision date.

Limits
------
The skfolio optimisers solve under the run's limits (the ``limits`` section), natively: the
weight bounds as skfolio's ``min_weights`` and ``max_weights``, the group caps as its linear
inequalities ``left_inequality @ w <= right_inequality`` (``min-variance``, ``max-sharpe``,
``risk-parity``; ``hrp`` takes the bounds only, its group caps come from the engine's
projection). They stay fully invested as far as the limits allow: when the bounds and group
caps cap the risky assets' total at ``b < 1`` (:meth:`~maxent_portfolio.limits.Limits.
risky_capacity`), the problem is solved for ``v = w / b`` summing to 1, under the limits
divided by ``b``, and ``w = b v`` with ``1 - b`` in cash. Each objective is unchanged by the
scaling (variance scales by ``b^2``, the Sharpe ratio at a zero risk-free rate and the relative
risk contributions not at all), so ``w`` is the optimum over the fully invested-as-possible
portfolios. Under limits the convex solvers run to tighter tolerances
(:data:`PRECISE_SOLVER`), ``min-variance`` minimises the standard deviation (the same
minimiser, better conditioned) and is then polished on its active set
(:func:`polish_min_variance`): exact to rounding, checked against cvxpy. Without limits the
solvers keep skfolio's defaults, so earlier runs reproduce bit for bit. The other baselines
are mapped to the nearest feasible weights by the engine
(:func:`~maxent_portfolio.backtest.engine.decided_weights`).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from maxent_portfolio.limits import Limits, LimitsConfig, binding
from maxent_portfolio.rebalance import CASH
from maxent_portfolio.strategies.base import Strategy, StrategyContext
from maxent_portfolio.strategies.predictive import RidgeKelly

if TYPE_CHECKING:  # skfolio is imported by the estimators that fit: listing them stays light
    from skfolio.optimization import HierarchicalRiskParity as SkHierarchicalRiskParity
    from skfolio.optimization import MeanRisk, RiskBudgeting

__all__ = [
    "PRECISE_SOLVER",
    "BuyAndHold",
    "EqualWeight",
    "HierarchicalRiskParity",
    "InverseVolatility",
    "MaximumSharpe",
    "MinimumVariance",
    "Momentum",
    "RandomWeights",
    "RiskParity",
    "inverse_volatility_weights",
    "polish_min_variance",
    "skfolio_constraints",
]


class EqualWeight(Strategy):
    """1/N over the risky assets, rebalanced on the schedule (DeMiguel et al. 2009)."""

    name = "equal-weight"
    description = "1/N over all assets, rebalanced on the schedule"
    stateless = True

    def constant_weights(self, assets: list[str]) -> np.ndarray:
        return np.full(len(assets), 1.0 / len(assets))

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        n = history.shape[1]
        return pd.Series(1.0 / n, index=history.columns)


class BuyAndHold(Strategy):
    """Start at 1/N and never trade again: each target is the drifted holding itself.

    At the first decision (the portfolio is all cash) it buys 1/N; afterwards it returns
    ``current`` unchanged (cash included), so every later rebalance, fold starts included, has
    zero turnover, unless the book drifted out of the run's limits: the engine then trades it
    to the nearest weights that meet them.
    """

    name = "buy-and-hold"
    description = "1/N at the start, never rebalanced"
    batched = True

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        held = np.clip(np.nan_to_num(current.to_numpy(dtype=float)), 0.0, None)
        risky = current.index != CASH
        if held[risky].sum() <= 1e-12:  # all cash: the first trade of the backtest
            return pd.Series(1.0 / history.shape[1], index=history.columns)
        return pd.Series(held / held.sum(), index=current.index)

    def allocate_batch(self, history: np.ndarray, current: np.ndarray) -> np.ndarray:
        held = np.clip(np.nan_to_num(np.asarray(current, dtype=float)), 0.0, None)
        out = held / held.sum(-1, keepdims=True)
        n = history.shape[-1]
        out[held[:, :-1].sum(-1) <= 1e-12] = np.append(np.full(n, 1.0 / n), 0.0)
        return out


def inverse_volatility_weights(returns: np.ndarray) -> np.ndarray | None:
    """Weights proportional to ``1 / sigma_i``, the sample standard deviation (ddof=1).

    Parameters
    ----------
    returns : ndarray of shape (n_observations, n_assets)

    Returns
    -------
    ndarray of shape (n_assets,), or None
        None when a volatility is zero, missing or there are fewer than 2 observations.
    """
    if returns.shape[0] < 2:
        return None
    sigma = np.std(returns, axis=0, ddof=1)
    if not np.isfinite(sigma).all() or (sigma <= 0).any():
        return None
    inv = 1.0 / sigma
    return inv / inv.sum()


class _WindowStrategy(Strategy):
    """A strategy estimated on a trailing window, with a recorded fallback.

    Subclasses implement ``_weights(x, assets) -> ndarray of shape (n_assets,)``, or
    ``(n_assets + 1,)`` with cash last; it may raise.

    Parameters
    ----------
    window : int
        Trailing periods used for estimation (default 252).
    refit : {"rebalance", "fold"}, optional
        Re-estimate at every rebalance on ``history``, or once per fold on the training
        window. Defaults to the class's ``default_refit``.
    """

    stateless = True
    batched = True
    default_refit = "fold"

    def __init__(self, window: int = 252, refit: str | None = None) -> None:
        refit = self.default_refit if refit is None else refit
        if window < 2:
            raise ValueError(f"estimation window must be at least 2 periods, got {window}")
        if refit not in ("rebalance", "fold"):
            raise ValueError(f"refit must be 'rebalance' or 'fold', got {refit!r}")
        self.window = window
        self.refit = refit
        self.reset()

    def reset(self) -> None:
        self.n_fallbacks_ = 0
        self.fallbacks_: list[tuple[object, str]] = []
        self._fold_weights: pd.Series | None = None

    def _weights(self, x: np.ndarray, assets: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _estimate(self, window: pd.DataFrame) -> pd.Series:
        """Weights from one estimation window, falling back (and recording it) on failure."""
        x = np.nan_to_num(window.to_numpy(dtype=float))
        n = x.shape[1]
        if n == 1:
            return pd.Series(1.0, index=window.columns)
        reason = ""
        try:
            w = np.asarray(self._weights(x, [str(c) for c in window.columns]), dtype=float)
            if w.shape not in ((n,), (n + 1,)) or not np.isfinite(w).all():
                raise ValueError("non-finite weights")
            w = np.clip(w, 0.0, None)  # solver noise of order 1e-10 below zero
            if w.sum() <= 0:
                raise ValueError("weights sum to zero")
            labels = [*window.columns, CASH] if w.shape == (n + 1,) else window.columns
            return pd.Series(w / w.sum(), index=labels)
        except Exception as exc:  # any optimiser failure: fall back, recorded below
            reason = f"{type(exc).__name__}: {exc}"
        fallback = self._fallback_weights(x)
        self._record(window.index[-1] if len(window) else None, reason)
        return pd.Series(fallback, index=window.columns)

    def _fallback_weights(self, x: np.ndarray) -> np.ndarray:
        w = inverse_volatility_weights(x)
        return np.full(x.shape[1], 1.0 / x.shape[1]) if w is None else w

    def _record(self, when: object, reason: str) -> None:
        if self.n_fallbacks_ == 0:
            warnings.warn(f"{self.name}: estimation failed on {when} ({reason}); falling back "
                          "to inverse-volatility weights (counted in n_fallbacks_)",
                          RuntimeWarning, stacklevel=4)
        self.n_fallbacks_ += 1
        self.fallbacks_.append((when, reason))

    def fit(self, returns: pd.DataFrame) -> _WindowStrategy:
        self._fold_weights = self._estimate(returns.iloc[-self.window:]) \
            if self.refit == "fold" else None
        return self

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        """Fold targets if fit with ``refit="fold"``, else an estimate on ``history``'s tail."""
        if self._fold_weights is not None:
            return self._fold_weights.copy()
        return self._estimate(history.iloc[-self.window:])

    def allocate_batch(self, history: np.ndarray, current: np.ndarray) -> np.ndarray:
        """The fold's targets on every path, or an estimate on each path's tail (cash 0)."""
        if self._fold_weights is not None:
            fold = np.append(self._fold_weights.to_numpy(dtype=float), 0.0)
            return np.tile(fold, (len(history), 1))
        return np.stack([np.append(self._estimate(pd.DataFrame(path[-self.window:]))
                                   .to_numpy(dtype=float), 0.0) for path in history])


class InverseVolatility(_WindowStrategy):
    """Weights ∝ 1/sigma over the trailing window; 1/N (recorded) if a sigma is zero."""

    name = "inverse-volatility"
    description = "weights proportional to 1/volatility, trailing 1-year window"
    default_refit = "rebalance"

    def _weights(self, x: np.ndarray, assets: list[str]) -> np.ndarray:
        w = inverse_volatility_weights(x)
        if w is None:
            raise ValueError("zero or undefined volatility")
        return w

    def _fallback_weights(self, x: np.ndarray) -> np.ndarray:
        return np.full(x.shape[1], 1.0 / x.shape[1])


PRECISE_SOLVER = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
"""Clarabel's tolerances for the optimisers under limits (its defaults are 1e-8)."""


def skfolio_constraints(limits: Limits, budget: float, convex: bool = True
                        ) -> dict[str, Any]:
    """The limits as keyword arguments of a skfolio optimiser, for the risky weights divided by
    ``budget`` (their total under the limits, so that they sum to 1 as skfolio's do).

    Parameters
    ----------
    limits : Limits
    budget : float in (0, 1]
    convex : bool
        The estimator is a convex programme (skfolio's ``ConvexOptimization``): it takes the
        group caps as ``left_inequality`` / ``right_inequality`` and :data:`PRECISE_SOLVER`.

    Returns
    -------
    dict
        ``min_weights``, ``max_weights`` of shape (n_assets,); for a convex estimator
        ``solver_params``, and with group caps ``left_inequality`` (G, n_assets) and
        ``right_inequality`` (G,).
    """
    out: dict[str, Any] = {"min_weights": limits.lower[:-1] / budget,
                           "max_weights": np.minimum(limits.upper[:-1] / budget, 1.0)}
    if convex:
        out["solver_params"] = dict(PRECISE_SOLVER)
        if limits.group_names:
            out["left_inequality"] = limits.membership[:, :-1].astype(float)
            out["right_inequality"] = limits.caps / budget
    return out


class _SkfolioStrategy(_WindowStrategy):
    """Fit a fresh skfolio estimator on each window, under the limits, and read ``weights_``.

    Parameters
    ----------
    window, refit
        As :class:`_WindowStrategy`.
    limits : LimitsConfig, optional
        The run's limits, solved under natively (see the module docstring).
    """

    convex = True
    """Whether the estimator is a convex programme (see :func:`skfolio_constraints`)."""

    def __init__(self, window: int = 252, refit: str | None = None,
                 limits: LimitsConfig | None = None) -> None:
        super().__init__(window, refit)
        self.limits = limits or LimitsConfig()

    @classmethod
    def from_context(cls, context: StrategyContext) -> _SkfolioStrategy:
        return cls(limits=context.config.limits)

    def _estimator(self, constraints: dict[str, Any]) -> Any:
        """The estimator, with ``constraints`` (empty without limits) among its arguments."""
        raise NotImplementedError

    def _weights(self, x: np.ndarray, assets: list[str]) -> np.ndarray:
        limits = binding(self.limits.resolve(assets))
        if limits is None:
            return self._estimator({}).fit(x).weights_
        budget = limits.risky_capacity()
        fitted = self._estimator(skfolio_constraints(limits, budget, self.convex)).fit(x)
        risky = self._polished(budget * fitted.weights_, fitted, limits, budget)
        return np.append(risky, 1.0 - risky.sum())

    def _polished(self, risky: np.ndarray, fitted: Any, limits: Limits, budget: float
                  ) -> np.ndarray:
        """The solver's risky weights, made exact where the objective allows (default: as
        they are)."""
        return risky


def polish_min_variance(weights: np.ndarray, covariance: np.ndarray, limits: Limits,
                        total: float, tolerance: float = 1e-7) -> np.ndarray | None:
    """The exact minimum-variance weights on the active set of a solver's approximate ones.

    ``min w' S w`` subject to the limits' bounds on the risky weights, ``sum w = total`` and
    the group caps is a quadratic programme: once it is known which bounds and caps bind
    (those within ``tolerance`` of ``weights``), the optimum solves one linear KKT system
    (the solvers' "polishing" step; least squares, since a binding cap may repeat the
    budget). The answer is kept when it meets every limit and its variance is no higher than
    that of ``weights``.

    Parameters
    ----------
    weights : ndarray of shape (n,)
        The solver's risky weights, summing to ``total``.
    covariance : ndarray of shape (n, n)
    limits : Limits
    total : float
    tolerance : float

    Returns
    -------
    ndarray of shape (n,), or None when the active set guessed gives no better weights.
    """
    lower, upper = limits.lower[:-1], limits.upper[:-1]
    groups = limits.membership[:, :-1].astype(float)
    at_lower, at_upper = weights <= lower + tolerance, weights >= upper - tolerance
    fixed = at_lower | at_upper
    capped = groups @ weights >= limits.caps - tolerance
    rows = np.vstack([np.ones((1, len(weights))), groups[capped]])
    held = np.where(at_lower, lower, upper) * fixed
    free = ~fixed
    a = rows[:, free]
    kkt = np.block([[2 * covariance[np.ix_(free, free)], a.T],
                    [a, np.zeros((len(rows), len(rows)))]])
    rhs = np.concatenate([-2 * covariance[np.ix_(free, fixed)] @ held[fixed],
                          np.append(total, limits.caps[capped]) - rows[:, fixed] @ held[fixed]])
    solution, *_ = np.linalg.lstsq(kkt, rhs, rcond=None)
    w = held.copy()
    w[free] = solution[: free.sum()]
    slack = 1e-12
    feasible = ((w >= lower - slack).all() and (w <= upper + slack).all()
                and (groups @ w <= limits.caps + slack).all() and abs(w.sum() - total) <= slack)
    better = w @ covariance @ w <= weights @ covariance @ weights * (1 + 1e-12)
    return w if feasible and better else None


class MinimumVariance(_SkfolioStrategy):
    """Long-only minimum variance with a Ledoit-Wolf shrunk covariance (skfolio MeanRisk).

    Under limits the solver's weights are polished on their active set
    (:func:`polish_min_variance`): exact to rounding, not to the solver's tolerance.
    """

    name = "min-variance"
    description = "minimum variance, Ledoit-Wolf shrunk covariance, 1-year window"

    def _polished(self, risky: np.ndarray, fitted: Any, limits: Limits, budget: float
                  ) -> np.ndarray:
        covariance = fitted.prior_estimator_.return_distribution_.covariance
        exact = polish_min_variance(risky, covariance, limits, budget)
        return risky if exact is None else exact

    def _estimator(self, constraints: dict[str, Any]) -> MeanRisk:
        from skfolio import RiskMeasure
        from skfolio.moments import LedoitWolf
        from skfolio.optimization import MeanRisk, ObjectiveFunction
        from skfolio.prior import EmpiricalPrior

        if constraints:  # under limits: the standard deviation, the same minimiser
            constraints = {**constraints, "risk_measure": RiskMeasure.STANDARD_DEVIATION}
        return MeanRisk(objective_function=ObjectiveFunction.MINIMIZE_RISK,
                        prior_estimator=EmpiricalPrior(covariance_estimator=LedoitWolf()),
                        **constraints)


class MaximumSharpe(_SkfolioStrategy):
    """Long-only mean-variance tangency portfolio (skfolio MeanRisk MAXIMIZE_RATIO).

    Sample mean and covariance over the trailing window, risk-free rate 0. When every expected
    return is negative the ratio problem has no solution: inverse-volatility fallback.
    """

    name = "max-sharpe"
    description = "mean-variance maximum Sharpe ratio, 1-year window"

    def _estimator(self, constraints: dict[str, Any]) -> MeanRisk:
        from skfolio.optimization import MeanRisk, ObjectiveFunction

        return MeanRisk(objective_function=ObjectiveFunction.MAXIMIZE_RATIO, **constraints)


class RiskParity(_SkfolioStrategy):
    """Equal risk contribution to variance (skfolio RiskBudgeting, equal budgets)."""

    name = "risk-parity"
    description = "equal risk contribution (risk budgeting on variance), 1-year window"

    def _estimator(self, constraints: dict[str, Any]) -> RiskBudgeting:
        from skfolio.optimization import RiskBudgeting

        return RiskBudgeting(**constraints)


class HierarchicalRiskParity(_SkfolioStrategy):
    """Hierarchical risk parity (López de Prado 2016) via skfolio, variance risk measure."""

    name = "hrp"
    description = "hierarchical risk parity (Lopez de Prado 2016), 1-year window"
    convex = False  # skfolio's HRP takes weight bounds, not linear constraints

    def _estimator(self, constraints: dict[str, Any]) -> SkHierarchicalRiskParity:
        from skfolio.optimization import HierarchicalRiskParity as SkHierarchicalRiskParity

        return SkHierarchicalRiskParity(**constraints)


class Momentum(Strategy):
    """Cross-sectional momentum: equal weights in the top ``k`` assets by trailing return.

    The score is the compounded return from ``lookback`` periods ago up to ``skip`` periods
    ago (12-1 months with the defaults, Jegadeesh & Titman 1993). Ties go to the first column.

    Parameters
    ----------
    lookback : int
        Periods in the formation window, counted back from the decision date (default 252).
    skip : int
        Most recent periods left out, against short-term reversal (default 21).
    k : int, optional
        Assets held; default ``max(1, N // 4)``.
    """

    name = "momentum"
    description = "equal weights in the top quarter by 12-1 month trailing return"
    stateless = True

    def __init__(self, lookback: int = 252, skip: int = 21, k: int | None = None) -> None:
        if not 0 <= skip < lookback:
            raise ValueError(f"momentum needs 0 <= skip < lookback, got {skip}, {lookback}")
        if k is not None and k < 1:
            raise ValueError(f"momentum k must be at least 1, got {k}")
        self.lookback = lookback
        self.skip = skip
        self.k = k

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        n = history.shape[1]
        k = min(n, self.k if self.k is not None else max(1, n // 4))
        formation = history.to_numpy(dtype=float)[-self.lookback:]
        formation = formation[: len(formation) - self.skip]
        if len(formation) == 0:  # not enough history to rank: stay diversified
            return pd.Series(1.0 / n, index=history.columns)
        score = np.prod(1.0 + np.nan_to_num(formation), axis=0) - 1.0
        top = np.argsort(-score, kind="stable")[:k]
        w = np.zeros(n)
        w[top] = 1.0 / k
        return pd.Series(w, index=history.columns)


class RandomWeights(Strategy):
    """Placebo: a fresh Dirichlet(alpha 1) draw at every rebalance, reproducible from ``seed``.

    Parameters
    ----------
    seed : int
        Seeds the generator; ``reset()`` restores it, so reruns are identical.
    alpha : float
        Dirichlet concentration; 1 is uniform on the simplex.
    """

    name = "random"
    description = "random Dirichlet weights at each rebalance (seeded placebo)"

    @classmethod
    def from_context(cls, context: StrategyContext) -> RandomWeights:
        return cls(seed=context.seed)

    def __init__(self, seed: int = 0, alpha: float = 1.0) -> None:
        self.seed = seed
        self.alpha = alpha
        self.reset()

    def reset(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        n = history.shape[1]
        return pd.Series(self._rng.dirichlet(np.full(n, self.alpha)), index=history.columns)


BASELINES: tuple[type[Strategy], ...] = (
    EqualWeight, BuyAndHold, InverseVolatility, MinimumVariance, MaximumSharpe, RiskParity,
    HierarchicalRiskParity, Momentum, RandomWeights, RidgeKelly)
"""The rule-based and optimised baselines, in registry order."""
