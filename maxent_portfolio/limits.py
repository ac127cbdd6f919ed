"""Portfolio limits (the ``limits`` section) and the exact Euclidean projection onto them.

A portfolio ``w`` of ``N`` risky assets plus cash (last entry, as everywhere in the package)
meets the limits when

* ``lower_i <= w_i <= upper_i`` for every asset (``min_weight``, ``max_weight``; cash is
  bounded by ``0 <= w_cash <= max_cash``);
* ``sum_i w_i = 1`` (fully accounted: cash holds the rest);
* ``sum_{i in g} w_i <= cap_g`` for every capped group ``g`` (sectors; groups do not overlap).

:class:`LimitsConfig` owns the options; :meth:`LimitsConfig.resolve` turns them into the arrays
of :class:`Limits` for one asset list and refuses an infeasible set in one line saying why.
:func:`project` maps any point to the nearest feasible portfolio.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from pydantic import ValidationInfo, field_validator

from maxent_portfolio.errors import ConfigError
from maxent_portfolio.options import Section, option

if TYPE_CHECKING:
    import torch

Weights = TypeVar("Weights", np.ndarray, "torch.Tensor")

FEASIBILITY_TOLERANCE = 1e-12
"""Slack allowed when comparing sums of bounds to 1 (and to group caps): rounding, not room."""


def _unit_interval(value: float | dict[str, float]) -> float | dict[str, float]:
    values = value.values() if isinstance(value, dict) else [value]
    if any(not np.isfinite(v) or not 0.0 <= v <= 1.0 for v in values):
        raise ValueError("must be a weight in [0, 1]")
    return value


class LimitsConfig(Section):
    """Weight bounds, a cash cap and group caps that every strategy's weights must meet."""

    min_weight: float | dict[str, float] = option(
        0.0, "Lowest weight of each risky asset, met by every strategy at every decision: one "
        "number, or a table of asset -> weight in a config file (assets it does not list keep "
        "the default, 0).")
    max_weight: float | dict[str, float] = option(
        1.0, "Highest weight of each risky asset, met by every strategy at every decision (the "
        "optimisers solve under the limits; the other strategies' weights, the agents' "
        "included, go to the nearest weights that meet them): one number, or a table of asset "
        "-> weight in a config file (assets it does not list keep the default, 1).")
    max_cash: float = option(1.0, "Highest cash weight at every decision, in [0, 1].",
                             ge=0.0, le=1.0)
    groups: dict[str, list[str]] = option(
        {}, "Groups of assets (sectors), a table of group name -> list of assets; an asset "
        "belongs to one group at most.", file_only=True)
    group_caps: dict[str, float] = option(
        {}, "Highest total weight of a group, a table of group name -> weight in [0, 1]; a "
        "group without a cap is not limited.", file_only=True)

    @field_validator("min_weight", "max_weight")
    @classmethod
    def _weights(cls, value: float | dict[str, float]) -> float | dict[str, float]:
        return _unit_interval(value)

    @field_validator("groups")
    @classmethod
    def _disjoint(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        owner: dict[str, str] = {}
        for name, members in value.items():
            if not members:
                raise ValueError(f"group {name!r} is empty")
            for asset in members:
                if asset in owner:
                    where = "twice" if owner[asset] == name else \
                        f"in groups {owner[asset]!r} and {name!r}"
                    raise ValueError(f"{asset!r} is listed {where}: groups may not overlap")
                owner[asset] = name
        return value

    @field_validator("group_caps")
    @classmethod
    def _caps(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        _unit_interval(value)
        groups = info.data.get("groups", {})
        stray = [name for name in value if name not in groups]
        if stray:
            raise ValueError(f"caps group {stray[0]!r}, which [limits.groups] does not define")
        return value

    def resolve(self, assets: Sequence[str], universe: str = "the universe") -> Limits:
        """The limits as arrays for ``assets`` (cash appended last), checked for feasibility.

        Raises
        ------
        ConfigError
            One line: a table or a group names an asset ``universe`` does not hold, or no
            portfolio meets the limits (see :meth:`Limits.check_feasible`).
        """
        names = list(assets)

        def check_names(key: str, listed: Sequence[str]) -> None:
            stray = [a for a in listed if a not in names]
            if stray:
                raise ConfigError(f"[limits.{key}] names {', '.join(map(repr, stray[:5]))}, "
                                  f"not an asset of {universe} ({', '.join(names)})")

        def per_asset(key: str, value: float | dict[str, float]) -> np.ndarray:
            if isinstance(value, Mapping):
                check_names(key, list(value))
                rest = float(type(self).model_fields[key].default)
                return np.array([value.get(a, rest) for a in names], dtype=float)
            return np.full(len(names), float(value))

        lower = np.append(per_asset("min_weight", self.min_weight), 0.0)
        upper = np.append(per_asset("max_weight", self.max_weight), self.max_cash)
        for name, members in self.groups.items():
            check_names(f"groups.{name}", members)
        capped = [name for name in self.groups if name in self.group_caps]
        membership = np.zeros((len(capped), len(names) + 1), dtype=bool)
        for row, name in enumerate(capped):
            membership[row, [names.index(a) for a in self.groups[name]]] = True
        limits = Limits(assets=tuple(names), lower=lower, upper=upper,
                        group_names=tuple(capped), membership=membership,
                        caps=np.array([self.group_caps[g] for g in capped], dtype=float))
        limits.check_feasible()
        return limits


@dataclass(frozen=True, eq=False)
class Limits:
    """The limits for one asset list, as arrays (cash last).

    Attributes
    ----------
    assets : tuple of str, length N
        The risky assets, in column order.
    lower, upper : ndarray of shape (N + 1,)
        Bounds of each weight; cash's are ``0`` and ``max_cash``.
    group_names : tuple of str, length G
        The capped groups.
    membership : bool ndarray of shape (G, N + 1)
        ``membership[g, i]``: asset ``i`` belongs to group ``g`` (rows are disjoint; cash is
        in none).
    caps : ndarray of shape (G,)
        Highest total weight of each group.
    """

    assets: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    group_names: tuple[str, ...]
    membership: np.ndarray
    caps: np.ndarray

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Limits):
            return NotImplemented
        return (self.assets, self.group_names) == (other.assets, other.group_names) and all(
            np.array_equal(getattr(self, key), getattr(other, key))
            for key in ("lower", "upper", "membership", "caps"))

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside

    @property
    def trivial(self) -> bool:
        """True when every portfolio (non-negative, summing to 1) meets the limits: the
        defaults. Nothing is projected then, so runs without limits are bit-identical."""
        return bool((self.lower == 0.0).all() and (self.upper == 1.0).all()
                    and (self.caps >= 1.0).all())

    def risky_capacity(self) -> float:
        """The largest total weight of the risky assets the bounds and group caps allow, at
        most 1: what a fully invested optimiser can hold (the rest is cash)."""
        return min(1.0, self.highest_total() - float(self.upper[-1]))

    def violation(self, weights: np.ndarray) -> np.ndarray:
        """How far each row of ``weights`` (B, N + 1) breaks the limits: its largest excess
        over a bound or a group cap, or gap of its sum to 1 (0 when it meets them all)."""
        w = np.atleast_2d(weights)
        gaps = [self.lower - w, w - self.upper, np.abs(w.sum(axis=-1, keepdims=True) - 1.0),
                w @ self.membership.T - self.caps]
        return np.max(np.concatenate([np.maximum(g, 0.0) for g in gaps], axis=-1), axis=-1)

    def highest_total(self) -> float:
        """The largest ``sum w`` the bounds and group caps allow (groups are disjoint)."""
        grouped = self.membership.any(axis=0)
        in_groups = np.minimum(self.caps, self.membership @ self.upper)
        return float(self.upper[~grouped].sum() + in_groups.sum())

    def check_feasible(self) -> None:
        """Refuse limits no portfolio meets, in one line saying why.

        The set is non-empty exactly when every lower bound is at most its upper bound, each
        group's cap covers its members' lower bounds, and ``sum lower <= 1 <= highest_total``
        (the attainable totals form that interval, since the set is convex and the groups are
        disjoint).

        Raises
        ------
        ConfigError
        """
        labels = [*self.assets, "cash"]
        above = np.flatnonzero(self.lower > self.upper)
        if above.size:
            i = above[0]
            raise ConfigError(f"[limits] min_weight {self.lower[i]:g} of {labels[i]!r} is above "
                              f"its max_weight {self.upper[i]:g}")
        floors = self.membership @ self.lower
        short = np.flatnonzero(floors > self.caps + FEASIBILITY_TOLERANCE)
        if short.size:
            g = short[0]
            raise ConfigError(f"[limits.group_caps] {self.group_names[g]!r} is capped at "
                              f"{self.caps[g]:g}, below its members' min_weight sum "
                              f"{floors[g]:g}")
        if self.lower.sum() > 1.0 + FEASIBILITY_TOLERANCE:
            raise ConfigError(f"[limits] the min_weight bounds sum to {self.lower.sum():g} > 1: "
                              "no portfolio meets them")
        if self.highest_total() < 1.0 - FEASIBILITY_TOLERANCE:
            raise ConfigError(f"[limits] the max_weight bounds, max_cash and the group caps "
                              f"allow at most {self.highest_total():g} < 1 in total: no "
                              "portfolio meets them")


def box_simplex_shift(points: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                      total: np.ndarray | float = 1.0) -> np.ndarray:
    """The shift ``tau`` of the projection onto ``{w : lower <= w <= upper, sum w = total}``.

    The projection is ``clip(x - tau, lower, upper)`` for the ``tau`` with
    ``f(tau) = sum clip(x - tau, lower, upper) = total`` (the KKT conditions; Wang & Lu 2015,
    arXiv:1503.01002). ``f`` is non-increasing and piecewise linear with breakpoints
    ``x - upper`` and ``x - lower``: sorting them gives ``f`` at every breakpoint by a
    cumulative sum, the bracketing pair, and ``tau`` by linear interpolation inside it.
    ``O(n log n)`` per row, vectorised over rows, exact up to rounding.

    Parameters
    ----------
    points : ndarray of shape (B, n)
    lower, upper : ndarray of shape (n,) or (B, n)
        With ``lower <= upper`` and ``sum lower <= total <= sum upper`` (not checked).
    total : float or ndarray of shape (B,)

    Returns
    -------
    ndarray of shape (B,)
    """
    x = np.asarray(points, dtype=float)
    lower, upper = np.broadcast_to(lower, x.shape), np.broadcast_to(upper, x.shape)
    target = np.broadcast_to(np.asarray(total, dtype=float), x.shape[:-1])
    breaks = np.concatenate([x - upper, x - lower], axis=-1)
    # Crossing x_i - upper_i (rising tau) frees asset i from its upper bound: one more asset
    # moves with tau; crossing x_i - lower_i pins it at its lower bound.
    change = np.concatenate([np.ones_like(x), -np.ones_like(x)], axis=-1)
    order = np.argsort(breaks, axis=-1, kind="stable")
    breaks = np.take_along_axis(breaks, order, axis=-1)
    moving = np.cumsum(np.take_along_axis(change, order, axis=-1), axis=-1)
    # f at each sorted breakpoint: sum(upper) at the first, then falling by `moving` per unit
    drop = np.cumsum(moving[..., :-1] * np.diff(breaks, axis=-1), axis=-1)
    values = upper.sum(axis=-1, keepdims=True) - np.concatenate(
        [np.zeros_like(drop[..., :1]), drop], axis=-1)
    k = np.clip(np.sum(values >= target[..., None], axis=-1) - 1, 0, breaks.shape[-1] - 1)
    start = np.take_along_axis(breaks, k[..., None], axis=-1)[..., 0]
    slope = np.take_along_axis(moving, k[..., None], axis=-1)[..., 0]
    # f is linear from `start` with slope -slope: recompute f there directly (no cumulative
    # rounding) and step to the target.
    here = np.clip(x - start[..., None], lower, upper).sum(axis=-1)
    return start + np.where(slope > 0, (here - target) / np.maximum(slope, 1), 0.0)


def project_box_simplex(points: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                        total: np.ndarray | float = 1.0) -> np.ndarray:
    """Exact Euclidean projection onto ``{w : lower <= w <= upper, sum w = total}``:
    ``clip(x - tau, lower, upper)`` with ``tau`` from :func:`box_simplex_shift`.

    Parameters
    ----------
    points, lower, upper, total
        As :func:`box_simplex_shift`.

    Returns
    -------
    ndarray of shape (B, n)
    """
    x = np.asarray(points, dtype=float)
    return np.clip(x - box_simplex_shift(x, lower, upper, total)[..., None], lower, upper)


def capped_upper(points: np.ndarray, limits: Limits) -> np.ndarray:
    """Upper bounds that fold the group caps into the box, row by row (B, N + 1).

    The KKT conditions of :func:`project` give ``w_i = clip(x_i - tau - mu_g, l_i, u_i)``, with
    ``mu_g >= 0`` zero unless group ``g`` is at its cap. Let ``t_g`` be the shift at which the
    group's free sum ``sum_{i in g} clip(x_i - t, l_i, u_i)`` equals ``cap_g`` (the shift of the
    group's own box-simplex projection with total ``cap_g``; minus infinity when its upper
    bounds cannot reach the cap). For ``tau >= t_g`` the group is within its cap (``mu_g =
    0``); below, it sits at the cap: ``tau + mu_g = t_g``. So ``w_i = clip(x_i - max(tau,
    t_g), l_i, u_i) = clip(x_i - tau, l_i, u'_i)`` with ``u'_i = clip(x_i - t_g, l_i, u_i)``:
    the projection is a box-simplex projection with these bounds.
    """
    x = np.asarray(points, dtype=float)
    upper = np.broadcast_to(limits.upper, x.shape).copy()
    for g, cols in enumerate(limits.membership):
        if limits.upper[cols].sum() <= limits.caps[g]:
            continue  # the cap never binds
        shift = box_simplex_shift(x[:, cols], limits.lower[cols], limits.upper[cols],
                                  limits.caps[g])
        upper[:, cols] = np.clip(x[:, cols] - shift[:, None], limits.lower[cols],
                                 limits.upper[cols])
    return upper


def project(weights: np.ndarray, limits: Limits) -> np.ndarray:
    """The nearest portfolio, in Euclidean distance, that meets ``limits``.

    Solves ``min ||w - x||^2`` subject to ``lower <= w <= upper``, ``sum w = 1`` and
    ``sum_{i in g} w_i <= cap_g`` for each (disjoint) group, exactly, by sorted breakpoints:
    without group caps by :func:`project_box_simplex`; with them, by the same projection with
    each capped group's upper bounds folded in (:func:`capped_upper`: one box-simplex shift
    per group first). ``O(n log n)`` per row, no solver, no iteration.

    The objective is strictly convex, so the KKT conditions give the unique projection; the
    result meets every limit up to rounding (about 1e-15), and feasible points are returned
    unchanged up to rounding. Cheap enough for every env step.

    Parameters
    ----------
    weights : ndarray of shape (B, N + 1) or (N + 1,)
        Points to project, cash last (any real numbers).
    limits : Limits
        Feasible limits (:meth:`LimitsConfig.resolve` checks them).

    Returns
    -------
    ndarray of the shape of ``weights``
    """
    x = np.asarray(weights, dtype=float)
    rows = x.reshape(-1, x.shape[-1])
    upper = capped_upper(rows, limits) if limits.group_names else limits.upper
    return project_box_simplex(rows, limits.lower, upper).reshape(x.shape)


def box_simplex_shift_tensor(points: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor,
                             total: torch.Tensor) -> torch.Tensor:
    """:func:`box_simplex_shift` in torch, differentiable in every argument.

    The same sorted breakpoints and the same last step from the bracketing breakpoint, so it
    equals the numpy shift up to rounding. Piecewise linear: autograd gives its exact
    derivatives wherever the bounds that bind do not change (almost everywhere).

    Parameters
    ----------
    points : Tensor of shape (B, n)
    lower, upper : Tensor of shape (n,) or (B, n)
    total : Tensor of shape (B,)

    Returns
    -------
    Tensor of shape (B,)
    """
    import torch

    lower, upper = lower.expand_as(points), upper.expand_as(points)
    breaks = torch.cat([points - upper, points - lower], dim=-1)
    ones = torch.ones_like(points)
    change = torch.cat([ones, -ones], dim=-1)
    breaks, order = breaks.sort(dim=-1, stable=True)
    moving = change.gather(-1, order).cumsum(-1)
    drop = (moving[..., :-1] * breaks.diff(dim=-1)).cumsum(-1)
    values = upper.sum(-1, keepdim=True) - torch.cat([torch.zeros_like(drop[..., :1]), drop],
                                                     dim=-1)
    k = ((values >= total[..., None]).sum(-1) - 1).clamp(0, breaks.shape[-1] - 1)
    start = breaks.gather(-1, k[..., None])[..., 0]
    slope = moving.gather(-1, k[..., None])[..., 0]
    here = torch.clamp(points - start[..., None], lower, upper).sum(-1)
    return start + torch.where(slope > 0, (here - total) / slope.clamp(min=1.0),
                               torch.zeros_like(here))


def project_tensor(weights: torch.Tensor, limits: Limits) -> torch.Tensor:
    """:func:`project` in torch (float64 advised), differentiable in ``weights``.

    The same steps as the numpy projection (each capped group's shift, the folded upper
    bounds, one box-simplex shift), each piecewise linear: it equals :func:`project` up to
    rounding, and autograd gives the projection's exact Jacobian almost everywhere.

    Parameters
    ----------
    weights : Tensor of shape (B, N + 1)
    limits : Limits

    Returns
    -------
    Tensor of shape (B, N + 1)
    """
    import torch

    def tensor(values: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(values, dtype=weights.dtype, device=weights.device)

    lower, upper = tensor(limits.lower), tensor(limits.upper).expand_as(weights)
    one = torch.ones(weights.shape[0], dtype=weights.dtype, device=weights.device)
    for g, cols in enumerate(limits.membership):
        if limits.upper[cols].sum() <= limits.caps[g]:
            continue
        inside = tensor(cols.astype(float))
        # the group's own shift: its members alone (the others' bounds pinned at 0)
        shift = box_simplex_shift_tensor(weights * inside, lower * inside, upper * inside,
                                         float(limits.caps[g]) * one)
        folded = torch.clamp(weights - shift[:, None], lower, upper)
        upper = torch.where(inside.bool(), folded, upper)
    shift = box_simplex_shift_tensor(weights, lower, upper, one)
    return torch.clamp(weights - shift[:, None], lower, upper)


def project_weights(weights: Weights, limits: Limits | None) -> Weights:
    """:func:`project` of numpy weights, :func:`project_tensor` of torch ones; unchanged when
    ``limits`` is None (no limits, or trivial ones: see :attr:`Limits.trivial`)."""
    if limits is None:
        return weights
    if isinstance(weights, np.ndarray):
        return project(weights, limits)
    return project_tensor(weights, limits)


def binding(limits: Limits | None) -> Limits | None:
    """``limits``, or None when they are trivial (:attr:`Limits.trivial`): what the engine and
    the envs hold, so that runs without limits skip the projection entirely."""
    return None if limits is None or limits.trivial else limits


__all__ = ["FEASIBILITY_TOLERANCE", "Limits", "LimitsConfig", "Weights", "binding",
           "box_simplex_shift", "box_simplex_shift_tensor", "capped_upper", "project",
           "project_box_simplex", "project_tensor", "project_weights"]
