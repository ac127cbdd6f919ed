"""The rebalance vocabulary every room shares: the cash column and the rebalance schedule.

A bottom module (it imports only :mod:`maxent_portfolio.errors`): the option tree validates
``--rebalance`` with :class:`Schedule`, the training environments decide on its dates, the
engine trades on them, and strategies and reports name the cash leg :data:`CASH`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from maxent_portfolio.errors import ConfigError

CASH = "CASH"
"""Column name of the cash leg (last in every weight vector). A strategy may allocate to it."""

CALENDAR = {"daily": None, "weekly": "W", "monthly": "M", "quarterly": "Q", "yearly": "Y"}
"""Calendar schedules and their pandas period codes (``daily`` needs none)."""

REBALANCE_HELP = "daily, weekly, monthly, quarterly, yearly, every:K or drift:X"
DEFAULT_REBALANCE = "monthly"
"""A run's rebalance schedule unless told (``--rebalance``), and what an env deciding at
``rebalance`` follows when no run gives it one."""
"""The accepted ``--rebalance`` values, as the help text names them."""


@dataclass(frozen=True)
class Schedule:
    """When to rebalance.

    ``kind`` is one of ``daily``, ``weekly``, ``monthly``, ``quarterly``, ``yearly`` (the last
    trading day of each calendar period), ``every`` (every ``k`` periods) or ``drift`` (when any
    weight has drifted more than ``threshold`` from its last target). The first decision of
    every walk-forward fold is always a rebalance, so a refit model trades at once.
    """

    kind: str = "monthly"
    k: int = 1
    threshold: float = 0.05

    @classmethod
    def parse(cls, text: str | int | Schedule) -> Schedule:
        """Read a calendar name, ``every:K`` (or an int K) or ``drift:X``."""
        if isinstance(text, Schedule):
            return text
        if isinstance(text, int):
            text = f"every:{text}"
        value = str(text).strip().lower()
        if value in CALENDAR:
            return cls(value)
        kind, _, arg = value.partition(":")
        try:
            if kind == "every" and int(arg) >= 1:
                return cls("every", k=int(arg))
            if kind == "drift" and 0 < float(arg) < 1:
                return cls("drift", threshold=float(arg))
        except ValueError:
            pass
        raise ConfigError(f"unknown rebalance schedule {text!r}: use daily, weekly, monthly, "
                          "quarterly, yearly, every:K (K >= 1) or drift:X (0 < X < 1)")

    def flags(self, index: pd.DatetimeIndex, first: int, last: int) -> np.ndarray:
        """Boolean rebalance flags for decision positions ``first..last`` (inclusive).

        A calendar decision at ``t`` fires when ``t + 1`` falls in a new period. ``drift``
        returns only the first flag; the engine checks drift as it goes.
        """
        n = last - first + 1
        flags = np.zeros(n, dtype=bool)
        flags[0] = True
        if self.kind == "daily":
            flags[:] = True
        elif self.kind == "every":
            flags[:: self.k] = True
        elif self.kind in ("weekly", "monthly", "quarterly", "yearly"):
            dates = index[first: last + 2]
            if self.kind == "weekly":
                iso = dates.isocalendar()
                key = iso["year"].to_numpy() * 100 + iso["week"].to_numpy()
            else:
                freq = CALENDAR[self.kind]
                key = dates.to_period(freq).asi8  # type: ignore[arg-type]
            change = key[1:] != key[:-1]
            flags[: len(change)] |= change
        return flags


__all__ = ["CALENDAR", "CASH", "DEFAULT_REBALANCE", "REBALANCE_HELP", "Schedule"]
