"""When the training environments decide: the rebalance schedule the engine judges the agent on.

The engine rebalances at the decision positions of :meth:`Schedule.flags` and holds the target
weights, drifting, in between. The environments take one step per such holding interval, so the
agent trains on the decisions it is judged on. :class:`DecisionClock` precomputes, once per
market, the next decision after every position: a step from decision ``t`` holds to
``following[t]`` and decides again there.

Why one array serves every episode, whatever its start ``t0``: the engine's decisions of a fold
that opens at ``t0`` are ``t0`` itself (the first decision of a fold always rebalances), then

* ``every:K`` (``daily`` is ``every:1``): ``t0 + K, t0 + 2K, ...``: the next decision after a
  decision ``t`` is ``t + K`` wherever the episode started;
* calendar schedules (weekly, monthly, quarterly, yearly): the last trading day of each
  calendar period, a property of the dates alone, so ``Schedule.flags`` over the whole market
  (called once, no calendar logic here) gives every episode's decisions after ``t0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from maxent_portfolio.errors import ConfigError
from maxent_portfolio.rebalance import Schedule


def decision_schedule(period: str | int | Schedule) -> Schedule:
    """Parse a decision period: a rebalance schedule with a fixed interval.

    Parameters
    ----------
    period : str, int or Schedule
        ``daily``, ``weekly``, ``monthly``, ``quarterly``, ``yearly`` or ``every:K``.

    Returns
    -------
    Schedule

    Raises
    ------
    ConfigError
        On an unknown schedule, or on ``drift:X``, whose rebalances depend on the weights the
        agent chooses and so have no interval to train on.
    """
    schedule = Schedule.parse(period)
    if schedule.kind == "drift":
        raise ConfigError(f"{period!r} has no fixed decision interval to train on: set "
                          "--decision-period to daily, weekly, monthly, quarterly, yearly or "
                          "every:K")
    return schedule


@dataclass(frozen=True)
class DecisionClock:
    """Decision positions of a market under one schedule.

    Attributes
    ----------
    period : str
        The schedule as text (``"monthly"``, ``"every:5"``), kept in the envs' ``state_dict``.
    following : ndarray of shape (T,), int64
        ``following[t]``: the next decision after a decision at ``t``, capped at the data's
        last position ``T - 1`` (a final interval the data cuts short ends there).
    marks : ndarray of shape (n_marks,), int64 or None
        Calendar schedules: every calendar decision position, then ``T - 1``. None for
        ``every:K``.
    k : int
        The interval of ``every:K`` (1 for daily).
    """

    period: str
    following: np.ndarray
    marks: np.ndarray | None
    k: int

    @classmethod
    def build(cls, period: str | int | Schedule, dates: pd.DatetimeIndex) -> DecisionClock:
        """The clock of ``period`` (see :func:`decision_schedule`) over ``dates`` (T >= 2)."""
        schedule = decision_schedule(period)
        kind, k = schedule.kind, schedule.k
        end = len(dates) - 1
        positions = np.arange(end + 1, dtype=np.int64)
        if kind in ("daily", "every"):
            k = 1 if kind == "daily" else int(k)
            text = "daily" if kind == "daily" else f"every:{k}"
            return cls(text, np.minimum(positions + k, end), None, k)
        # Position 0 is flagged as a fold's first decision; no episode starts there (lookback).
        flags = schedule.flags(dates, 0, end - 1)
        marks = np.append(np.flatnonzero(flags), end).astype(np.int64)
        following = marks[np.minimum(np.searchsorted(marks, positions, side="right"),
                                     len(marks) - 1)]
        return cls(kind, following, marks, 1)

    @property
    def end(self) -> int:
        """The data's last position ``T - 1``: no interval reaches beyond it."""
        return len(self.following) - 1

    def advance(self, start: np.ndarray, steps: int | None) -> np.ndarray:
        """Position after ``steps`` decisions from decisions ``start``, capped at ``T - 1``.

        Parameters
        ----------
        start : ndarray of shape (B,), int64
        steps : int or None
            None: to the end of the data.

        Returns
        -------
        ndarray of shape (B,), int64
        """
        if steps is None:
            return np.full_like(start, self.end)
        if self.marks is None:
            return np.minimum(start + steps * self.k, self.end)
        rank = np.searchsorted(self.marks, start, side="right") + steps - 1
        return self.marks[np.minimum(rank, len(self.marks) - 1)]

    def steps_from(self, start: int) -> int:
        """How many decisions an episode from ``start`` makes before the data runs out."""
        if self.marks is None:
            return -(-(self.end - start) // self.k)
        return len(self.marks) - int(np.searchsorted(self.marks, start, side="right"))

    def latest_start(self, first: int, steps: int) -> int:
        """The last start with room for ``steps`` decisions (below ``first`` if there is none).

        The count of decisions left falls as the start moves later, so every start in
        ``first..latest_start`` has room.
        """
        if self.marks is None:
            return self.end - 1 - (steps - 1) * self.k
        # Room for `steps` decisions: the (steps - 1)-th decision after the start is <= T - 2,
        # i.e. the start lies before the (steps - 1)-th last calendar mark.
        inner = self.marks[:-1]
        if steps == 1:
            return self.end - 1
        if steps - 1 > len(inner):
            return first - 1
        return int(inner[len(inner) - (steps - 1)]) - 1

    def mean_interval(self, first: int) -> float:
        """Average interval in periods: ``K`` for ``every:K`` (1 daily), else the calendar
        intervals' mean from ``first`` to the end of the data."""
        if self.marks is None:
            return float(self.k)
        return (self.end - first) / self.steps_from(first)


def interval_growth(growth: np.ndarray, following: np.ndarray) -> np.ndarray:
    """Each asset's gross return over the holding interval that starts at every position.

    Holding without trading, a position grows by the product of its ``1 + r`` over the interval,
    so :func:`maxent_portfolio.arithmetic.step` with this growth is a rebalance then the
    interval's drift. Intervals depend on their start only (:class:`DecisionClock`), so one
    table serves every episode and a step is one row lookup, whatever the period. The products
    run in date order, as the engine's ``cumprod`` does, so the weights at an interval's end
    equal the engine's bit for bit.

    Parameters
    ----------
    growth : ndarray of shape (T, M)
        ``1 + r``, row ``t`` earned over ``t``
        (:attr:`~maxent_portfolio.envs.market.Market.growth`).
    following : ndarray of shape (T,), int64
        :attr:`DecisionClock.following`.

    Returns
    -------
    ndarray of shape (T - 1, M)
        Row ``t``: the product of rows ``t + 1 .. following[t]`` of ``growth``. Daily, a view
        of ``growth[1:]``.
    """
    length = following[:-1] - np.arange(len(following) - 1)
    held = growth[1:]
    width = int(length.max())
    if width > 1:
        held = held.copy()
        for j in range(1, width):  # multiply in the j-th day of every interval that long
            live = np.flatnonzero(length > j)
            held[live] *= growth[live + 1 + j]
    return held


__all__ = ["DecisionClock", "decision_schedule", "interval_growth"]
