"""Shrinkage toward 1/N by evidence: how much of the agent's portfolio its record has earned.

The agent holds ``mix * agent + (1 - mix) * 1/N``. The mix is the growth-optimal blend of the
two portfolios at the lower confidence bound of its out-of-sample record (fractional Kelly
under estimation risk, MacLean, Thorp & Ziemba 2011; the shrinkage-toward-1/N reading of
DeMiguel, Garlappi & Uppal 2009): where the record shows no edge over 1/N beyond its noise the
mix is 0 and the agent holds 1/N; a clear edge earns a mix near 1. The record is the agent's
own net returns against 1/N's on data the agent was not trained on, all of it before the fold
it decides (``SACStrategy`` builds it; nothing here sees a date).

Pure functions on arrays: the record in, the mix out.
"""

from __future__ import annotations

import numpy as np

from maxent_portfolio.errors import DataError

MIX_GRID = np.linspace(0.0, 1.0, 21)
"""The mixes considered, in steps of 0.05: a grid, so the choice is exact and reproducible."""


def blend_excess_growth(agent: np.ndarray, benchmark: np.ndarray, mix: float) -> np.ndarray:
    """Per-period log growth of ``mix * agent + (1 - mix) * benchmark`` over the benchmark's.

    ``agent`` and ``benchmark`` are net simple returns of the same periods. The blend's return
    is the blend of the returns: the two books held side by side in those proportions.
    """
    agent, benchmark = np.asarray(agent, float), np.asarray(benchmark, float)
    return np.log1p(benchmark + mix * (agent - benchmark)) - np.log1p(benchmark)


def lower_bound(excess: np.ndarray, confidence: float) -> float:
    """Mean minus ``confidence`` standard errors of per-period excess log growth."""
    n = len(excess)
    if n < 2:
        return float("-inf")
    return float(excess.mean() - confidence * excess.std(ddof=1) / np.sqrt(n))


def evidence_mix(agent: np.ndarray, benchmark: np.ndarray, confidence: float,
                 grid: np.ndarray = MIX_GRID) -> float:
    """The mix of the grid with the highest lower confidence bound of excess log growth.

    A mix of 0 is 1/N itself, whose excess is 0 with no error, so a mix above 0 is chosen only
    when its bound is positive: when the record beats 1/N by more than ``confidence`` standard
    errors. Ties go to the smaller mix. ``confidence`` 0 is plain growth-optimal mixing on the
    record (follow the leader).

    Parameters
    ----------
    agent, benchmark : array of shape (n_periods,)
        Net simple returns of the agent and of 1/N over the same out-of-sample periods.
    confidence : float
        Standard errors subtracted from the mean (``z``); at least 0.
    grid : array
        The mixes considered, in [0, 1].
    """
    agent, benchmark = np.asarray(agent, float), np.asarray(benchmark, float)
    if agent.shape != benchmark.shape or agent.ndim != 1:
        raise DataError(f"the record needs one agent and one 1/N return per period, got "
                        f"shapes {agent.shape} and {benchmark.shape}")
    if confidence < 0:
        raise DataError(f"confidence must be at least 0, got {confidence}")
    best, chosen = 0.0, 0.0
    for mix in grid:
        if mix <= 0:
            continue
        bound = lower_bound(blend_excess_growth(agent, benchmark, float(mix)), confidence)
        if bound > best:
            best, chosen = bound, float(mix)
    return chosen


def shrink_toward_equal(weights: np.ndarray, mix: float) -> np.ndarray:
    """``mix * weights + (1 - mix) * 1/N`` over the risky assets, cash last (1/N holds none).

    ``weights`` has shape (..., N + 1); rows stay on the simplex.
    """
    weights = np.asarray(weights, float)
    equal = np.full(weights.shape[-1], 1.0 / (weights.shape[-1] - 1))
    equal[-1] = 0.0
    return mix * weights + (1.0 - mix) * equal


__all__ = ["MIX_GRID", "blend_excess_growth", "evidence_mix", "lower_bound",
           "shrink_toward_equal"]
