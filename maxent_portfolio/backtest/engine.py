"""The walk-forward, cost-aware backtest engine. Pure computation: no I/O.

Every strategy, the SAC agent included, runs through :func:`run_backtest`. The engine hands a
strategy only ``returns.iloc[: t + 1]`` at decision date ``t``; the weights it returns earn the
returns of ``t + 1``. Drift and cost use :mod:`maxent_portfolio.arithmetic`, the same
code the gym environments step with.

Limits (:mod:`maxent_portfolio.limits`) are met where a strategy decides: the engine maps every
weight vector a strategy returns to the nearest feasible weights, by the exact Euclidean
projection :func:`~maxent_portfolio.limits.project`, before it trades to them. The optimisers
solve under the limits already (the projection then moves them by rounding at most); the
heuristics, the online strategies and plug-ins are mapped by the projection. Without limits
(the defaults) nothing is projected.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from maxent_portfolio.arithmetic import (
    CostModel,
    drift,
    net_of_cost,
    rebalance_cost,
)
from maxent_portfolio.backtest.walkforward import Fold, TrainTestSplit, WalkForward
from maxent_portfolio.errors import ConfigError
from maxent_portfolio.limits import Limits, binding, project
from maxent_portfolio.rebalance import CASH, Schedule
from maxent_portfolio.strategies.base import Strategy, guarded, validate_weights


@dataclass
class BacktestResult:
    """Out-of-sample outcome of one strategy.

    Attributes
    ----------
    name : str
    returns : pd.Series of shape (n_oos,)
        Net simple returns, indexed by the date they are earned.
    gross_returns : pd.Series of shape (n_oos,)
    holdings : pd.DataFrame of shape (n_oos, n_assets + 1)
        Weights held over each period (post-rebalance, pre-drift), cash last.
    targets : pd.DataFrame of shape (n_rebalances, n_assets + 1)
        Target weights, indexed by the decision date they were chosen on.
    drifted : pd.DataFrame of shape (n_rebalances, n_assets + 1)
        Weights just before each rebalance.
    turnover, costs : pd.Series of shape (n_rebalances,)
        Two-way turnover (buys plus sells, ``sum_i |w+_i - w-_i|`` over the risky assets: a
        full switch between two assets is 2.0) and cost (fraction of value) at each rebalance.
    folds : list of dict
        Walk-forward boundaries as ISO dates.
    investable : bool
        False for hindsight benchmarks.
    learned : bool
        True for a strategy that learns from data (``Strategy.learned``): it gets a
        permutation placebo (:mod:`maxent_portfolio.backtest.placebo`).
    periods_per_year : int
    """

    name: str
    returns: pd.Series
    gross_returns: pd.Series
    holdings: pd.DataFrame
    targets: pd.DataFrame
    drifted: pd.DataFrame
    turnover: pd.Series
    costs: pd.Series
    folds: list[dict[str, str]]
    investable: bool = True
    learned: bool = False
    periods_per_year: int = 252
    extras: dict[str, pd.Series] = field(default_factory=dict)
    """Strategy-specific series for reports, e.g. the SAC policy's entropy."""
    learning: pd.DataFrame | None = None
    """Training diagnostics of a learning strategy (``Strategy.learning``), e.g. SAC's curves."""
    placebo: pd.Series | None = None
    """Annualised Sharpe ratios of the strategy's permutation placebos, one per permutation
    (:func:`maxent_portfolio.backtest.placebo.attach_placebos`); None when not computed."""

    @property
    def equity(self) -> pd.Series:
        """Growth of 1 unit of capital, net of costs."""
        return (1.0 + self.returns).cumprod()


def _resolve_splits(n: int, splits: WalkForward | TrainTestSplit | Sequence[Fold] | None
                    ) -> list[Fold]:
    if splits is None:
        splits = WalkForward()
    if isinstance(splits, WalkForward | TrainTestSplit):
        return splits.split(n)
    return list(splits)


def _cost_vector(cost_bps: float | pd.Series | Sequence[float], slippage_bps: float,
                 assets: Sequence[str]) -> np.ndarray | float:
    if isinstance(cost_bps, pd.Series):
        per_asset: float | dict[str, float] = {str(k): float(v) for k, v in cost_bps.items()}
    elif np.ndim(cost_bps) == 0:
        per_asset = float(cost_bps)  # type: ignore[arg-type]
    else:
        per_asset = dict(zip(assets, np.asarray(cost_bps, dtype=float).tolist(), strict=True))
    try:
        model = CostModel(cost_bps=per_asset, slippage_bps=float(slippage_bps))
    except ValidationError as exc:
        raise ConfigError("costs and slippage must be finite and non-negative (in bps)") from exc
    return model.rate(assets)


def extended_returns(returns: pd.DataFrame, cash_return: float | pd.Series = 0.0
                     ) -> np.ndarray:
    """The assets' simple returns with the cash leg's as a last column, shape (n, M).

    ``cash_return`` is a per-period rate, or a Series of them by date (missing dates earn 0).
    """
    cash = (cash_return.reindex(returns.index).fillna(0.0).to_numpy(dtype=float)
            if isinstance(cash_return, pd.Series) else np.full(len(returns), float(cash_return)))
    return np.column_stack([returns.to_numpy(dtype=float), cash])


@dataclass(frozen=True)
class Execution:
    """What the engine does to a strategy's weights before it trades to them.

    The engine's own part of the execution rule (a strategy's own part, e.g. ``sac``'s partial
    rebalancing, is :meth:`Strategy.execute <maxent_portfolio.strategies.base.Strategy.
    execute>`): the weights are checked (:func:`validate_weights`), then projected onto the
    run's limits (:func:`decided_weights`). The backtest and the
    ``allocate`` command both go through :meth:`hold`, so they hold the same weights.

    Attributes
    ----------
    limits : Limits or None
        The run's limits, resolved for the assets traded; each checked weight vector is
        replaced by its projection onto them (:func:`decided_weights`).
    long_only : bool
        Refuse negative weights.
    """

    limits: Limits | None = None
    long_only: bool = True

    def hold(self, raw: object, columns: Sequence[str], strategy: str, date: object
             ) -> np.ndarray:
        """The weights held for a strategy's answer ``raw`` at ``date``, shape (M,), cash last.

        Raises
        ------
        StrategyError
            When ``raw`` is not a valid weight Series (see :func:`validate_weights`).
        """
        w = validate_weights(raw, columns, strategy, date, self.long_only)
        return self.limit(w)

    def terms(self) -> dict[str, Any]:
        """The rule's settings, for the record (``allocate`` writes them): the limits that
        bind (none when they are trivial)."""
        bound = binding(self.limits)
        if bound is None:
            return {"limits": None}
        assets = bound.assets
        return {"limits": {
            "min_weight": dict(zip(assets, bound.lower[:-1].tolist(), strict=True)),
            "max_weight": dict(zip(assets, bound.upper[:-1].tolist(), strict=True)),
            "max_cash": float(bound.upper[-1]),
            "groups": {g: [a for a, inside in zip(assets, row[:-1], strict=True) if inside]
                       for g, row in zip(bound.group_names, bound.membership, strict=True)},
            "group_caps": dict(zip(bound.group_names, bound.caps.tolist(), strict=True))}}

    def limit(self, weights: np.ndarray) -> np.ndarray:
        """Weights (M,) within the run's limits: their projection (:func:`decided_weights`)."""
        return decided_weights(weights, self.limits)


def decision(strategy: Strategy, history: pd.DataFrame, current: np.ndarray,
             rule: Execution, constant: np.ndarray | None = None
             ) -> tuple[object, np.ndarray]:
    """One rebalance decision at the last date of ``history``, as the engine takes it.

    The strategy's target (:meth:`Strategy.target`, guarded), executed from the drifted
    ``current`` by the strategy's own rule (:meth:`Strategy.execute`), then held as the
    engine's ``rule`` says (:meth:`Execution.hold`). A strategy with ``constant`` weights
    (:meth:`Strategy.constant_weights`) is not asked.

    Parameters
    ----------
    strategy : Strategy
        Fit for the fold the decision belongs to.
    history : pd.DataFrame of shape (t + 1, n_assets)
        Every return up to and including the decision date.
    current : ndarray of shape (n_assets + 1,)
        Drifted weights held before the decision, cash last.
    rule : Execution
    constant : ndarray, optional
        The strategy's constant weights (risky only, or with cash last).

    Returns
    -------
    target : object
        The strategy's answer before its execution rule (not yet validated; the constant
        weights for a constant strategy).
    held : ndarray of shape (n_assets + 1,)
        The weights the portfolio trades to, cash last.
    """
    columns = [*map(str, history.columns), CASH]
    date = history.index[-1]
    if constant is not None:
        w = np.append(np.asarray(constant, dtype=float), 0.0) \
            if len(constant) == len(columns) - 1 else np.asarray(constant, dtype=float)
        return pd.Series(w, index=columns), rule.limit(w)
    current_s = pd.Series(current, index=columns)
    target = guarded(strategy, "allocate", date.date(),
                     lambda: strategy.target(history, current_s))
    executed = guarded(strategy, "allocate", date.date(),
                       lambda: strategy.execute(target, current_s))
    return target, rule.hold(executed, columns, strategy.name, date)


def hold(weights: np.ndarray, r_ext: np.ndarray, decision: int, end: int) -> np.ndarray:
    """The weights (M,) held at the close of row ``end - 1`` after trading to ``weights`` at
    the close of row ``decision``: the book the engine hands the next decision (calendar
    schedules)."""
    return drift(weights, r_ext[decision + 1: end])[1][-1]


def hold_until_drift(weights: np.ndarray, r_ext: np.ndarray, decision: int, last: int,
                     threshold: float) -> tuple[np.ndarray, int]:
    """Hold ``weights`` from the close of row ``decision``, a period at a time, until a weight
    has drifted more than ``threshold`` from them or row ``last`` is reached (the ``drift``
    schedule). Returns the book held then and the row of the next decision (``last + 1``
    when none comes in the fold)."""
    nxt, held = decision + 1, weights
    while nxt <= last:
        _, d = drift(held, r_ext[nxt][None, :])
        held = d[0]
        if np.abs(held - weights).max() > threshold:
            break
        nxt += 1
    return held, nxt


def books_before(targets: np.ndarray, decisions: np.ndarray, last: np.ndarray,
                 r_ext: np.ndarray, schedule: Schedule) -> np.ndarray:
    """The book the engine hands each decision of a walk-forward (``current``), cash before the
    first: from each decision's weights, held (:func:`hold`, :func:`hold_until_drift`) to the
    next decision. What :func:`run_backtest` computes as it goes, from its recorded weights.

    Parameters
    ----------
    targets : ndarray of shape (k, M)
        The weights traded to at each decision (``BacktestResult.targets``), cash last.
    decisions : ndarray of int, shape (k,)
        Row of ``r_ext`` of each decision.
    last : ndarray of int, shape (k,)
        Last decision row of each decision's fold (``test_end - 2``).
    r_ext : ndarray of shape (n_observations, M)
    schedule : Schedule

    Returns
    -------
    ndarray of shape (k, M)
    """
    books = np.empty_like(targets)
    state = np.eye(targets.shape[1])[-1]
    for k in range(len(decisions)):
        books[k] = state
        if schedule.kind == "drift":
            state = hold_until_drift(targets[k], r_ext, int(decisions[k]), int(last[k]),
                                     schedule.threshold)[0]
        elif k + 1 < len(decisions):  # test windows are contiguous: a segment ends at the next
            state = hold(targets[k], r_ext, int(decisions[k]), int(decisions[k + 1]) + 1)
    return books


def run_backtest(returns: pd.DataFrame, strategy: Strategy, *,
                 splits: WalkForward | TrainTestSplit | Sequence[Fold] | None = None,
                 rebalance: str | int | Schedule = "monthly",
                 cost_bps: float | pd.Series | Sequence[float] = 10.0,
                 slippage_bps: float = 0.0,
                 costs: CostModel | None = None,
                 cash_return: float | pd.Series = 0.0,
                 limits: Limits | None = None,
                 long_only: bool = True,
                 execution: Execution | None = None,
                 periods_per_year: int = 252,
                 on_fold: Callable[[int, Fold], None] | None = None,
                 seen: pd.DataFrame | None = None) -> BacktestResult:
    """Walk ``strategy`` forward over ``returns`` and account for drift and costs.

    Parameters
    ----------
    returns : pd.DataFrame of shape (n_observations, n_assets)
        Simple returns; row ``t`` is earned from ``t - 1`` to ``t``.
    strategy : Strategy
        Refit (``fit``) on each fold's training window, then asked to ``allocate`` at each
        rebalance decision of the fold's test window.
    splits : WalkForward, TrainTestSplit or list of Fold, optional
        Defaults to ``WalkForward()``: 3 years of training, yearly refits, expanding window.
    rebalance : str, int or Schedule
        See :class:`Schedule`.
    cost_bps : float or pd.Series
        Proportional cost per unit traded, in basis points; a Series gives it per asset.
    slippage_bps : float
        Extra proportional cost per unit traded, in basis points.
    costs : CostModel, optional
        The run's cost model; when given it replaces ``cost_bps`` and ``slippage_bps``.
    cash_return : float or pd.Series
        Per-period simple return of the cash leg (default 0).
    limits : Limits, optional
        Limits every target must meet, resolved for ``returns``' columns
        (:meth:`~maxent_portfolio.limits.LimitsConfig.resolve`): each weight vector the
        strategy returns is replaced by its projection onto them (:func:`decided_weights`).
    long_only : bool
        Refuse negative weights.
    execution : Execution, optional
        The engine's execution rule; when given it replaces ``limits`` and ``long_only``
        (a run's comes from :func:`maxent_portfolio.runner.execution_rule`).
    periods_per_year : int
        Stored on the result for the measures.
    on_fold : callable, optional
        Called as ``on_fold(i, fold)`` before each fold; for progress display.
    seen : pd.DataFrame of the shape of ``returns``, optional
        What ``allocate`` is shown, when it differs from what the portfolio earns: noisy
        inputs (:meth:`maxent_portfolio.scenarios.Scenario.inputs`). Default ``returns``.

    Returns
    -------
    BacktestResult
    """
    if returns.empty or returns.shape[1] == 0:
        raise ConfigError("no returns to backtest")
    shown = returns if seen is None else seen
    if shown.shape != returns.shape:
        raise ConfigError(f"the returns shown ({shown.shape}) and earned ({returns.shape}) "
                          "differ in shape")
    schedule = Schedule.parse(rebalance)
    rule = execution if execution is not None else Execution(limits, long_only)
    assets = [str(c) for c in returns.columns]
    if rule.limits is not None and list(rule.limits.assets) != assets:
        raise ConfigError("the limits were resolved for other assets than the returns' columns")
    columns = [*assets, CASH]
    n, m = len(returns), len(columns)
    rate = costs.rate(assets) if costs is not None else \
        _cost_vector(cost_bps, slippage_bps, assets)
    r_ext = extended_returns(returns, cash_return)
    folds = _resolve_splits(n, splits)
    index = pd.DatetimeIndex(returns.index)

    guarded(strategy, "reset", "the first fold", strategy.reset)
    constant = strategy.constant_weights(assets)
    vectorised = strategy.stateless and schedule.kind != "drift"

    targets: list[np.ndarray] = []
    decisions: list[int] = []  # decision position t; earns from t + 1
    seg_end: list[int] = []  # exclusive end (position) of the holding segment
    state = np.zeros(m)
    state[-1] = 1.0  # start fully in cash: the first allocation pays its costs

    def decide(t: int, current: np.ndarray) -> np.ndarray:
        return decision(strategy, shown.iloc[: t + 1], current, rule, constant)[1]

    for i, fold in enumerate(folds):
        if on_fold is not None:
            on_fold(i, fold)
        # A hindsight benchmark (not investable, e.g. bcrp) is fit on the window it is judged
        # on; every investable strategy sees only its training window.
        train = returns.iloc[fold.train_start: fold.train_end] if strategy.investable \
            else returns.iloc[fold.test_start: fold.test_end]
        guarded(strategy, "fit", f"the window ending {index[fold.train_end - 1].date()}",
                functools.partial(strategy.fit, train))
        first, last = fold.test_start - 1, fold.test_end - 2
        flags = schedule.flags(index, first, last)
        if schedule.kind == "drift":
            t = first
            while t <= last:
                w = decide(t, state)
                targets.append(w)
                decisions.append(t)
                held, nxt = hold_until_drift(w, r_ext, t, last, schedule.threshold)
                end = nxt + 1 if nxt <= last else fold.test_end
                seg_end.append(end)
                state = held
                t = end - 1
            continue
        starts = first + np.flatnonzero(flags)
        ends = np.append(starts[1:] + 1, fold.test_end)
        if vectorised:
            for start in starts:
                targets.append(decide(int(start), state))
            decisions.extend(int(t) for t in starts)
            seg_end.extend(int(e) for e in ends)
            # Drift is computed in one batch in _assemble; stateless strategies ignore `current`.
        else:
            for start, end in zip(starts, ends, strict=True):
                w = decide(int(start), state)
                targets.append(w)
                decisions.append(int(start))
                seg_end.append(int(end))
                state = hold(w, r_ext, int(start), int(end))

    result = assemble(strategy, returns, r_ext, columns, np.array(targets),
                       np.array(decisions), np.array(seg_end), rate, folds, periods_per_year)
    result.extras = dict(strategy.extras())
    result.learning = strategy.learning()
    return result


def decided_weights(weights: np.ndarray, limits: Limits | None) -> np.ndarray:
    """The target a strategy's checked weights (cash last) stand for under ``limits``: the
    nearest feasible weights, by the exact Euclidean projection (:func:`~maxent_portfolio.
    limits.project`); ``weights`` themselves when the limits are None or trivial."""
    bound = binding(limits)
    return weights if bound is None else project(weights, bound)


@dataclass(frozen=True)
class Replay:
    """Fixed target weights held through their segments: what :func:`replay` computes.

    ``...`` is any leading batch shape of the targets (e.g. one entry per placebo), ``k`` the
    number of rebalances, ``L`` the longest holding segment (shorter ones are padded) and ``M``
    the number of holdings, cash last.

    Attributes
    ----------
    gross, net : ndarray of shape (..., k, L)
        Portfolio returns before and after the cost of each segment's opening rebalance.
    drifted : ndarray of shape (..., k, L, M)
        Weights at the close of each period of each segment.
    before : ndarray of shape (..., k, M)
        Weights just before each rebalance (cash before the first).
    turnover, cost : ndarray of shape (..., k)
    valid : ndarray of bool, shape (k, L)
        The entries that are real periods, not padding.
    position : ndarray of int, shape (k, L)
        Row of the return data each entry is earned on.
    """

    gross: np.ndarray
    net: np.ndarray
    drifted: np.ndarray
    before: np.ndarray
    turnover: np.ndarray
    cost: np.ndarray
    valid: np.ndarray
    position: np.ndarray

    def flat(self, values: np.ndarray) -> np.ndarray:
        """``values`` of shape (..., k, L) as (..., n_oos): padding dropped, in date order."""
        lead = values.shape[:-2]
        return values.reshape(*lead, -1)[..., self.valid.ravel()]


def replay(targets: np.ndarray, decisions: np.ndarray, seg_end: np.ndarray,
           r_ext: np.ndarray, rate: np.ndarray | float) -> Replay:
    """Trade to each target at its decision, hold it until the next: drift and costs.

    Every holding segment runs through :func:`~maxent_portfolio.arithmetic.drift` in one
    padded batch; the trade into a target starts from the previous segment's drifted end
    (from cash before the first). This is the engine's own accounting, so replaying a
    result's ``targets`` on its decision dates reproduces its returns exactly.

    Parameters
    ----------
    targets : ndarray of shape (..., k, M)
        Target weights, cash last; leading axes are independent portfolios (batched).
    decisions : ndarray of int, shape (k,)
        Row of ``r_ext`` each target is chosen at; it earns from the next row.
    seg_end : ndarray of int, shape (k,)
        Exclusive end row of each target's holding segment (``> decisions``).
    r_ext : ndarray of shape (n_observations, M)
        Simple returns of the assets and the cash leg (last column).
    rate : float or ndarray of shape (M - 1,)
        Cost per unit traded of each risky asset.

    Returns
    -------
    Replay
    """
    k, m = targets.shape[-2:]
    starts = decisions + 1
    lengths = seg_end - starts
    width = int(lengths.max())
    offsets = np.arange(width)
    pos = starts[:, None] + offsets[None, :]
    valid = offsets[None, :] < lengths[:, None]
    padded = np.where(valid[..., None], r_ext[np.minimum(pos, len(r_ext) - 1)], 0.0)
    gross, drifted = drift(targets, padded)

    # Weights just before each rebalance: the end of the previous segment, cash at the start.
    before = np.empty_like(targets)
    before[..., 0, :] = np.eye(m)[-1]
    before[..., 1:, :] = drifted[..., np.arange(k - 1), lengths[:-1] - 1, :]
    # Across a gap between test windows the previous segment's end is stale but still what is
    # held; the next fold's first decision trades from it.
    turnover, cost = rebalance_cost(targets, before, rate)

    net = gross.copy()
    net[..., 0] = net_of_cost(gross[..., 0], cost)
    return Replay(gross, net, drifted, before, turnover, cost, valid, pos)


def assemble(strategy: Strategy, returns: pd.DataFrame, r_ext: np.ndarray, columns: list[str],
             targets: np.ndarray, decisions: np.ndarray, seg_end: np.ndarray,
             rate: np.ndarray | float, folds: list[Fold], periods_per_year: int
             ) -> BacktestResult:
    """Replay the chosen targets (:func:`replay`) and label the arrays with dates (those of
    ``returns``): the result of a backtest whose decisions are made."""
    index = pd.DatetimeIndex(returns.index)
    m = targets.shape[1]
    out = replay(targets, decisions, seg_end, r_ext, rate)
    hold = np.concatenate([targets[:, None, :], out.drifted[:, :-1, :]], axis=1)
    oos_index = index[out.flat(out.position)]
    dec_index = index[decisions]
    return BacktestResult(
        name=strategy.name,
        returns=pd.Series(out.flat(out.net), index=oos_index, name=strategy.name),
        gross_returns=pd.Series(out.flat(out.gross), index=oos_index, name=strategy.name),
        holdings=pd.DataFrame(hold.reshape(-1, m)[out.valid.ravel()], index=oos_index,
                              columns=columns),
        targets=pd.DataFrame(targets, index=dec_index, columns=columns),
        drifted=pd.DataFrame(out.before, index=dec_index, columns=columns),
        turnover=pd.Series(out.turnover, index=dec_index, name="turnover"),
        costs=pd.Series(out.cost, index=dec_index, name="cost"),
        folds=[f.dates(index) for f in folds],
        investable=strategy.investable,
        learned=strategy.learned,
        periods_per_year=periods_per_year,
    )


__all__ = ["BacktestResult", "Execution", "Replay", "assemble", "books_before", "decided_weights",
           "decision", "extended_returns", "hold", "hold_until_drift", "replay", "run_backtest"]
