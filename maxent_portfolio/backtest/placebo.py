"""The permutation placebo of a learned strategy: its own weights on shuffled asset labels.

A placebo takes the strategy's target weights and, in each walk-forward fold, relabels the
risky assets by one random permutation (cash stays cash), then replays them through the
engine's own accounting (:func:`maxent_portfolio.backtest.engine.replay`): the same decision
dates, the same costs, the same drift between rebalances. At every decision a placebo holds
exactly the strategy's sorted weights and cash, and trades on the same dates, but knows nothing
of which asset is which. Its Sharpe is what the strategy's concentration, cash and trading earn
without skill; ``placebo_pct`` in ``metrics.csv`` is the strategy's percentile among them
(:func:`maxent_portfolio.measures.placebo_percentile`).

Turnover is the strategy's up to drift: a placebo trades from its own drifted weights, which
differ from the strategy's once the labels differ. With a ``drift`` rebalance schedule the
placebo keeps the strategy's decision dates rather than its own threshold crossings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from maxent_portfolio.arithmetic import CostModel
from maxent_portfolio.backtest.engine import BacktestResult, extended_returns, replay
from maxent_portfolio.errors import ConfigError, DataError
from maxent_portfolio.measures import sharpe
from maxent_portfolio.measures.inputs import RiskFree
from maxent_portfolio.rebalance import CASH

MAX_BATCH_ENTRIES = 4_000_000
"""Largest number of weight entries (placebos x rebalances x periods x holdings) replayed in
one batch: about 32 MB per array, so 200 placebos of a long daily run stay in memory."""


def draw_permutations(rng: np.random.Generator, n_placebos: int, n_folds: int,
                      n_assets: int) -> np.ndarray:
    """Independent uniform permutations of the risky assets, one per placebo and fold.

    Returns
    -------
    ndarray of int, shape (n_placebos, n_folds, n_assets)
        Row ``[b, f]`` is a permutation of ``0 .. n_assets - 1``.
    """
    identity = np.broadcast_to(np.arange(n_assets), (n_placebos, n_folds, n_assets))
    return rng.permuted(identity, axis=-1)


def segments(result: BacktestResult, index: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``index`` of a result's decisions and the exclusive ends of their holding
    segments, as :func:`~maxent_portfolio.backtest.engine.replay` takes them.

    A target chosen at row ``d`` is held over the rows after it up to the next decision; each
    out-of-sample row belongs to the last decision before it.
    """
    decisions = index.get_indexer(result.targets.index)
    earned = index.get_indexer(result.returns.index)
    if (decisions < 0).any() or (earned < 0).any():
        raise DataError(f"the dates of {result.name!r} are not all in the return data")
    owner = np.searchsorted(decisions, earned - 1, side="right") - 1
    if (owner < 0).any() or len(np.unique(owner)) != len(decisions):
        raise DataError(f"the returns of {result.name!r} do not follow its decisions")
    seg_end = np.zeros(len(decisions), dtype=int)
    np.maximum.at(seg_end, owner, earned + 1)
    return decisions, seg_end


def fold_of_decisions(result: BacktestResult, index: pd.DatetimeIndex,
                      decisions: np.ndarray) -> np.ndarray:
    """Walk-forward fold (position in ``result.folds``) of each decision: the fold whose test
    window holds the first date the decision's target earns on."""
    starts = np.array([fold["test_start"] for fold in result.folds])
    first_earned = np.asarray(index[decisions + 1].strftime("%Y-%m-%d"))
    return np.searchsorted(starts, first_earned, side="right") - 1


def placebo_returns(result: BacktestResult, returns: pd.DataFrame, permutations: np.ndarray,
                    costs: CostModel, cash_return: float | pd.Series = 0.0) -> np.ndarray:
    """Net returns of each placebo of ``result``: its targets, relabelled fold by fold.

    Parameters
    ----------
    result : BacktestResult
        A backtest of ``returns`` (its targets' columns are the assets, then cash).
    returns : pd.DataFrame of shape (n_observations, n_assets)
        The return data the result was computed on.
    permutations : ndarray of int, shape (n_placebos, n_folds, n_assets)
        In fold ``f`` placebo ``b`` holds ``target[perm[b, f]]``: asset ``i`` gets the weight
        the strategy gave asset ``perm[b, f, i]``. The identity reproduces ``result.returns``
        exactly.
    costs : CostModel
        The run's costs (those the result paid).
    cash_return : float or pd.Series
        As given to :func:`~maxent_portfolio.backtest.engine.run_backtest`.

    Returns
    -------
    ndarray of shape (n_placebos, n_oos)
        On the dates of ``result.returns``.
    """
    assets = [str(c) for c in returns.columns]
    if list(result.targets.columns) != [*assets, CASH]:
        raise ConfigError(f"the weights of {result.name!r} are not over the assets of the data")
    if permutations.ndim != 3 or permutations.shape[1:] != (len(result.folds), len(assets)):
        raise ConfigError(f"permutations must have shape (n, {len(result.folds)} folds, "
                          f"{len(assets)} assets), got {permutations.shape}")
    index = pd.DatetimeIndex(returns.index)
    decisions, seg_end = segments(result, index)
    folds = fold_of_decisions(result, index, decisions)
    r_ext = extended_returns(returns, cash_return)
    rate = costs.rate(assets)
    targets = result.targets.to_numpy(dtype=float)
    k, m = targets.shape
    width = int((seg_end - decisions - 1).max())
    batch = max(1, MAX_BATCH_ENTRIES // (k * width * m))
    rows = np.arange(k)[:, None]
    out = []
    for first in range(0, len(permutations), batch):
        order = permutations[first:first + batch][:, folds, :]  # (b, k, n_assets)
        risky = targets[rows, order]  # risky[b, j, i] = targets[j, order[b, j, i]]
        cash = np.broadcast_to(targets[:, -1:], (*order.shape[:2], 1))
        replayed = replay(np.concatenate([risky, cash], axis=-1), decisions, seg_end, r_ext,
                          rate)
        out.append(replayed.flat(replayed.net))
    return np.concatenate(out, axis=0) if out else np.empty((0, len(result.returns)))


def placebo_sharpes(paths: np.ndarray, dates: pd.Index, periods_per_year: int,
                    rf: RiskFree = 0.0) -> pd.Series:
    """Annualised Sharpe ratio of each placebo path, as the metrics table computes the
    strategy's own (:func:`maxent_portfolio.measures.sharpe`, same ``rf``).

    Returns
    -------
    pd.Series of shape (n_placebos,)
        Named ``placebo_sharpe``, indexed by placebo number.
    """
    values = [sharpe(pd.Series(path, index=dates), periods_per_year, rf) for path in paths]
    return pd.Series(values, dtype=float, name="placebo_sharpe")


def run_placebos(results: Sequence[BacktestResult], returns: pd.DataFrame, costs: CostModel,
                 permutations: np.ndarray, rf: RiskFree = 0.0,
                 means: Mapping[str, Sequence[str]] | None = None) -> dict[str, pd.Series]:
    """The placebo Sharpes of every learned result of a run.

    Parameters
    ----------
    results : sequence of BacktestResult
        The run's rows; those with ``learned`` get placebos.
    returns, costs
        The run's return data and costs.
    permutations : ndarray of int, shape (n_placebos, n_folds, n_assets)
        Shared by every strategy (see :func:`draw_permutations`).
    rf : float or pd.Series
        As for the metrics table.
    means : mapping of str to list of str, optional
        Rows that are an equal split of capital across other rows (the mean of a strategy's
        seeds, rebalanced each period): their placebo is the same split across the members'
        placebos under the same permutations, so it is the mean row's own weights relabelled.

    Returns
    -------
    dict of str to pd.Series
        Result name to its placebo Sharpes (see :func:`placebo_sharpes`).
    """
    means = dict(means or {})
    by_name = {r.name: r for r in results}
    paths: dict[str, np.ndarray] = {}
    for res in results:
        if res.learned and res.name not in means:
            paths[res.name] = placebo_returns(res, returns, permutations, costs)
    for name, members in means.items():
        if name in by_name and by_name[name].learned:
            paths[name] = np.mean([paths[m] for m in members], axis=0)
    return {name: placebo_sharpes(p, by_name[name].returns.index,
                                  by_name[name].periods_per_year, rf)
            for name, p in paths.items()}


__all__ = ["MAX_BATCH_ENTRIES", "draw_permutations", "fold_of_decisions", "placebo_returns",
           "placebo_sharpes", "run_placebos", "segments"]
