"""Drift and cost arithmetic shared by the backtest engine and the gym environments.

Conventions (one place, used everywhere):

* Weights have ``M = n_assets + 1`` entries; the **last entry is cash**.
* Weights ``w`` set at the close of ``t`` earn the simple returns of ``t + 1``.
* Between rebalances weights drift with prices: ``w_{t+1} = w_t (1 + r_{t+1}) / (1 + g_{t+1})``
  where ``g_{t+1} = w_t . r_{t+1}`` is the gross portfolio return.
* A rebalance from drifted ``w_-`` to target ``w_+`` costs ``sum_i c_i |w_+,i - w_-,i|`` of
  portfolio value over the risky assets (cash is the funding leg and is free). The cost is paid
  at the rebalance close, so the next period's net return is ``(1 - cost)(1 + g) - 1``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from pydantic import field_validator

from maxent_portfolio.errors import ConfigError
from maxent_portfolio.options import Section, option

if TYPE_CHECKING:
    import torch

Weights = TypeVar("Weights", np.ndarray, "torch.Tensor")
"""Weights as numpy arrays (the engine, the envs) or torch tensors (the agent's exact model)."""


def drift(weights: np.ndarray, asset_returns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hold ``weights`` through ``L`` periods of returns without trading.

    Parameters
    ----------
    weights : ndarray of shape (..., M)
        Weights at the close before the first period (post-rebalance), summing to 1.
    asset_returns : ndarray of shape (..., L, M)
        Simple returns of each asset (cash last) over the ``L`` periods.

    Returns
    -------
    gross : ndarray of shape (..., L)
        Gross (pre-cost) portfolio return of each period.
    drifted : ndarray of shape (..., L, M)
        Weights at the close of each period, after drifting with prices.
    """
    growth = np.cumprod(1.0 + asset_returns, axis=-2)
    positions = weights[..., None, :] * growth
    value = np.add.reduce(positions, axis=-1)
    drifted = positions / value[..., None]
    previous = np.concatenate([np.ones_like(value[..., :1]), value[..., :-1]], axis=-1)
    gross = value / previous - 1.0
    return gross, drifted


def rebalance_cost(target: np.ndarray, drifted: np.ndarray,
                   cost_rate: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Turnover and cost of trading from ``drifted`` to ``target``.

    Parameters
    ----------
    target, drifted : ndarray of shape (..., M)
        Weights after and before the trade, cash last.
    cost_rate : float or ndarray of shape (M - 1,)
        Proportional cost per unit of traded value for each risky asset (10 bps = 0.001).

    Returns
    -------
    turnover : ndarray of shape (...,)
        Two-way turnover (buys plus sells) ``sum_i |target_i - drifted_i|`` over the risky assets.
    cost : ndarray of shape (...,)
        Cost as a fraction of portfolio value.
    """
    # Difference every column (contiguous: about 3x cheaper than on the cash-less views at
    # environment batch sizes), then reduce over the risky ones. np.add.reduce is ndarray.sum
    # without the Python wrapper: this runs every env step.
    traded = np.abs(target - drifted)[..., :-1]
    turnover = np.add.reduce(traded, axis=-1)
    cost = np.add.reduce(traded * cost_rate, axis=-1) if np.ndim(cost_rate) \
        else turnover * cost_rate
    return turnover, cost


def compact_rate(rate: np.ndarray | float) -> np.ndarray | float:
    """A cost-rate vector whose entries are all equal, as one float.

    ``rebalance_cost`` then takes its scalar path (one reduction fewer per step). The engine and
    the environments both pass their rates through this, so they stay bit-identical.
    """
    arr = np.asarray(rate, dtype=float)
    if arr.ndim == 0 or (arr.size and (arr == arr.flat[0]).all()):
        return float(arr.flat[0]) if arr.size else 0.0
    return arr


def net_of_cost(gross: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Net simple return of a period whose opening rebalance cost ``cost`` of value."""
    return (1.0 - cost) * (1.0 + gross) - 1.0


def step(target: np.ndarray, drifted: np.ndarray, *, growth: np.ndarray,
         cost_rate: np.ndarray | float) -> tuple[np.ndarray, ...]:
    """One rebalance-then-hold period, batched: what the environments call each step.

    Parameters
    ----------
    target, drifted : ndarray of shape (B, M)
    growth : ndarray of shape (B, M)
        ``1 + r``: each asset's gross return over the period (environments precompute it once).

    Returns
    -------
    net, gross, turnover, cost : ndarray of shape (B,)
    new_drifted : ndarray of shape (B, M)
    """
    turnover, cost = rebalance_cost(target, drifted, cost_rate)
    # `drift` with L = 1, unrolled: the same floating-point operations (the cumulative product
    # of one period is the period's growth, and the previous value is exactly 1), so the
    # environments stay bit-identical to the engine, without the padding a longer hold needs.
    positions = target * growth
    value = np.add.reduce(positions, axis=-1)
    gross = value - 1.0
    return net_of_cost(gross, cost), gross, turnover, cost, positions / value[..., None]


def partial_rebalance(target: Weights, drifted: Weights, trade_rate: float = 1.0,
                      no_trade_band: float = 0.0, invest_from_cash: bool = False) -> Weights:
    """The weights actually traded to when a policy asks for ``target``: costs in the policy.

    The trade moves ``trade_rate`` of the way from the drifted weights to the target,
    ``w = w_- + kappa (target - w_-)`` (partial rebalancing), and is skipped (``w = w_-``)
    when its two-way turnover over the risky assets is below ``no_trade_band``. With
    ``invest_from_cash`` a book entirely in cash (a run's first decision) trades all the way to
    the target: the rate and the band keep the agent from trading noise, not from investing.
    ``kappa = 1`` with no band is a full rebalance to ``target``, returned unchanged. The
    training env, the one-step model (in torch: the same operations, differentiable in both
    arguments) and the ``sac`` strategy's ``allocate`` all execute through this rule, so the
    agent is judged on the trades it trained on.

    Parameters
    ----------
    target, drifted : ndarray or torch.Tensor of shape (B, M)
        Weights on the simplex, cash last.
    trade_rate : float in (0, 1]
    no_trade_band : float >= 0
        Smallest turnover worth trading.
    invest_from_cash : bool
        Trade a book that is all cash in full.

    Returns
    -------
    ndarray or torch.Tensor of shape (B, M), on the simplex (a convex combination of two simplex
    points)
    """
    if trade_rate == 1.0 and no_trade_band == 0.0:
        return target
    moved = drifted + trade_rate * (target - drifted)
    # Masks as multipliers (exact for finite weights: x * 1 + y * 0 == x), so the same lines
    # serve numpy arrays and torch tensors alike.
    if no_trade_band > 0.0:
        turnover = abs(moved - drifted)[..., :-1].sum(-1)
        skip = (turnover < no_trade_band)[..., None]
        moved = drifted * skip + moved * ~skip
    if invest_from_cash:
        in_cash = drifted[..., -1:] >= 1.0 - CASH_TOLERANCE
        moved = target * in_cash + moved * ~in_cash
    return moved


CASH_TOLERANCE = 1e-12
"""How close to 1 the cash weight of a book must be for the book to count as all cash."""


class CostModel(Section):
    """Proportional trading costs, one model for the backtest engine and the training env.

    The agent trains on exactly the costs it is judged on: both sides call :meth:`bps`.
    """

    cost_bps: float | dict[str, float] = option(
        10.0, "Proportional transaction cost per unit traded, in basis points: one number, or "
        "a table of asset -> bps in a config file (assets it does not list pay the default, "
        "10 bps).")
    slippage_bps: float = option(
        0.0, "Extra proportional cost per unit traded (market impact, spread), in basis points.",
        ge=0)

    @field_validator("cost_bps")
    @classmethod
    def _non_negative(cls, value: float | dict[str, float]) -> float | dict[str, float]:
        values = value.values() if isinstance(value, dict) else [value]
        if any(not np.isfinite(v) or v < 0 for v in values):
            raise ValueError("must be a finite number >= 0 (basis points)")
        return value

    def check_assets(self, assets: Sequence[str], universe: str) -> None:
        """Refuse a per-asset cost for an asset ``universe`` does not hold: a typo would
        otherwise leave the asset meant at another cost, silently."""
        if isinstance(self.cost_bps, Mapping):
            stray = [a for a in self.cost_bps if a not in assets]
            if stray:
                raise ConfigError(f"[costs.cost_bps] names {', '.join(map(repr, stray[:5]))}, "
                                  f"not an asset of {universe} ({', '.join(assets)})")

    def bps(self, assets: Sequence[str]) -> np.ndarray:
        """Cost plus slippage of each asset, in basis points, shape (n_assets,)."""
        if isinstance(self.cost_bps, Mapping):
            # A partial table prices the assets it lists; the rest pay the option's default.
            rest = float(type(self).model_fields["cost_bps"].default)
            rate = np.array([self.cost_bps.get(a, rest) for a in assets], dtype=float)
        else:
            rate = np.full(len(assets), float(self.cost_bps))
        return rate + self.slippage_bps

    def rate(self, assets: Sequence[str]) -> np.ndarray | float:
        """Cost per unit traded as a fraction of value, compacted (see :func:`compact_rate`)."""
        return compact_rate(self.bps(assets) / 1e4)
