"""A menu of strategies: every member's target weights, and the even blend ``menu-blend``.

:class:`MenuBook` keeps one instance of each menu strategy and its target weights at every date
it has been asked about, each computed by the member's own ``allocate`` on the history up to
that date, as the engine hands it to any strategy: no look-ahead by construction.

* Over a training window (:meth:`MenuBook.fit_window`) the members are refit walk-forward inside
  the window, on the history up to the date, every ``refit_every`` periods, so the targets of
  an early training date never use later training data.
* Then :meth:`MenuBook.fit` fits every member on the whole window, as the engine fits any
  strategy per fold, and :meth:`MenuBook.extend` computes the targets of the test dates one by
  one as the history grows.

``current`` handed to a member is its paper portfolio's drifted weights: the previous target
after one period of returns.

Under a run's limits the members are built from the run's context (the optimisers solve under
the limits) and their weights enter the menu as they return them; the limits apply to what
the menu strategy holds: the engine projects ``menu-blend``'s blend, and ``sac-discrete``
executes its choice through the env section, under the limits (both as any strategy).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from maxent_portfolio.errors import ConfigError
from maxent_portfolio.rebalance import CASH
from maxent_portfolio.strategies.base import (
    WEIGHT_TOLERANCE,
    Strategy,
    StrategyContext,
    guarded,
    validate_weights,
)
from maxent_portfolio.strategies.menuconfig import MenuConfig


def build_menu(names: list[str], context: StrategyContext | None = None) -> list[Strategy]:
    """One fresh instance of each named strategy (plug-ins included), in menu order.

    Raises
    ------
    ConfigError
        On an unknown name (named, with the valid ones), or a strategy that cannot be on a menu:
        a learning one (seeded) or a hindsight benchmark (not investable).
    """
    from maxent_portfolio.strategies.registry import build_strategy

    classes = menu_classes(names)
    return [build_strategy(name, context) if context is not None else cls()
            for name, cls in zip(names, classes, strict=True)]


def menu_classes(names: list[str]) -> list[type[Strategy]]:
    """The class of each named menu strategy: what :func:`build_menu` checks, building nothing
    (a run checks its menu before any work, whether or not a strategy of the run uses it).

    Raises
    ------
    ConfigError
        As :func:`build_menu`.
    """
    from maxent_portfolio.strategies.registry import strategy_class

    classes = []
    for name in names:
        try:
            cls = strategy_class(name)
        except ConfigError as exc:
            raise ConfigError(f"--menu: {exc}") from None
        if cls.seeded or not cls.investable:
            why = "learns with a seed" if cls.seeded else "is a hindsight benchmark"
            raise ConfigError(f"--menu: {name!r} cannot be on the menu: it {why}")
        classes.append(cls)
    return classes


def member_weights(raw: object, columns: list[str], name: str, when: object) -> np.ndarray:
    """A member's ``allocate`` output as weights over ``columns`` (cash last), checked.

    A valid Series takes a numpy fast path (the menu asks every member at every date); anything
    else gets the engine's :func:`~maxent_portfolio.strategies.base.validate_weights` and its
    one-line error naming the strategy and the date.
    """
    if isinstance(raw, pd.Series) and raw.dtype.kind == "f":
        labels = list(raw.index)
        if labels == columns or labels == columns[:-1]:
            w = raw.to_numpy(dtype=float)
            if len(w) < len(columns):
                w = np.append(w, 0.0)
            if np.isfinite(w).all() and w.min() >= -WEIGHT_TOLERANCE \
                    and abs(w.sum() - 1.0) <= WEIGHT_TOLERANCE:
                w = np.clip(w, 0.0, None)
                return w / w.sum()
    return validate_weights(raw, columns, name, when)


def fit_members(members: list[Strategy], returns: pd.DataFrame) -> None:
    """Fit every menu member on ``returns``; a failure names the member, not the strategy
    whose menu it is on."""
    when = f"the window ending {pd.Timestamp(returns.index[-1]).date()}"
    for member in members:
        guarded(member, "fit", when, partial(member.fit, returns))


class MenuBook:
    """Target weights of every menu strategy, by date.

    Parameters
    ----------
    members : list of Strategy
    names : list of str
    refit_every : int
        Inner refit period of :meth:`fit_window`.

    Attributes
    ----------
    dates : list of pd.Timestamp
        Dates with targets, increasing.
    targets : list of ndarray of shape (K, N + 1)
        Cash last, one per date.
    """

    def __init__(self, members: list[Strategy], names: list[str], refit_every: int = 63) -> None:
        self.members, self.names, self.refit_every = members, list(names), int(refit_every)
        self.reset()

    @property
    def k(self) -> int:
        return len(self.members)

    def reset(self) -> None:
        for member in self.members:
            member.reset()
        self.dates: list[pd.Timestamp] = []
        self.targets: list[np.ndarray] = []
        self._where: dict[pd.Timestamp, int] = {}
        self._columns: list[str] = []

    def _target(self, history: pd.DataFrame) -> np.ndarray:
        """Every member's weights at ``history``'s last date (K, N + 1)."""
        columns = [*map(str, history.columns), CASH]
        if self.targets and self._columns == columns:
            previous = self.targets[-1]
            grown = previous * np.append(1.0 + np.nan_to_num(
                history.iloc[-1].to_numpy(dtype=float)), 1.0)
            drifted = grown / grown.sum(-1, keepdims=True)
        else:
            drifted = np.zeros((self.k, len(columns)))
            drifted[:, -1] = 1.0
        self._columns = columns
        when = history.index[-1]
        rows = []
        for i, (name, member) in enumerate(zip(self.names, self.members, strict=True)):
            raw = guarded(member, "allocate", when.date(), partial(
                member.allocate, history, pd.Series(drifted[i], index=columns)))
            rows.append(member_weights(raw, columns, name, when))
        return np.stack(rows)

    def _append(self, history: pd.DataFrame) -> None:
        when = pd.Timestamp(history.index[-1])
        self._where[when] = len(self.dates)
        self.dates.append(when)
        self.targets.append(self._target(history))

    def fit_window(self, returns: pd.DataFrame, first: int) -> np.ndarray:
        """Targets at rows ``first ..`` of a training window, walk-forward inside it.

        Forgets earlier dates. At rows ``first, first + refit_every, ...`` each member is fit on
        ``returns.iloc[: row + 1]``; every row's targets come from ``allocate`` on that history.

        Returns
        -------
        ndarray of shape (len(returns), K, N + 1)
            Rows before ``first`` are NaN.
        """
        self.reset()
        out = np.full((len(returns), self.k, returns.shape[1] + 1), np.nan)
        for row in range(first, len(returns)):
            history = returns.iloc[: row + 1]
            if (row - first) % self.refit_every == 0:
                fit_members(self.members, history)
            self._append(history)
            out[row] = self.targets[-1]
        return out

    def fit(self, returns: pd.DataFrame) -> None:
        """Fit every member on a fold's training window (as the engine would), and recompute
        the targets of its last date with the members so fit."""
        fit_members(self.members, returns)
        if self.dates and self.dates[-1] == pd.Timestamp(returns.index[-1]):
            del self._where[self.dates.pop()]
            self.targets.pop()
        self._append(returns)

    def extend(self, history: pd.DataFrame) -> None:
        """Compute the targets of every date of ``history`` after the last one known."""
        index = pd.DatetimeIndex(history.index)
        start = 0 if not self.dates else int(index.searchsorted(self.dates[-1], side="right"))
        for row in range(start, len(history)):
            self._append(history.iloc[: row + 1])

    def window(self, dates: pd.DatetimeIndex) -> np.ndarray:
        """The targets at ``dates`` (len(dates), K, N + 1); every date must be known."""
        try:
            return np.stack([self.targets[self._where[pd.Timestamp(d)]] for d in dates])
        except KeyError as exc:
            raise ConfigError(f"the menu has no targets at {exc.args[0]}") from None


class MenuBlend(Strategy):
    """The even blend of the menu: ``(1 / K) sum_k w_k``, each ``w_k`` from its own strategy.

    Parameters
    ----------
    menu : MenuConfig, optional
        ``menu`` names the strategies (default: the six of :data:`DEFAULT_MENU`).
    """

    name = "menu-blend"
    description = "even 1/K mixture of the --menu strategies' weights (sac-discrete's reference)"

    def __init__(self, menu: MenuConfig | None = None,
                 context: StrategyContext | None = None) -> None:
        self.menu = menu or MenuConfig()
        self.book = MenuBook(build_menu(self.menu.menu, context), self.menu.menu)

    @classmethod
    def from_context(cls, context: StrategyContext) -> MenuBlend:
        return cls(context.config.menu, context)

    def reset(self) -> None:
        self.book.reset()

    def fit(self, returns: pd.DataFrame) -> MenuBlend:
        fit_members(self.book.members, returns)
        return self

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        columns = [*map(str, history.columns), CASH]
        when = history.index[-1]
        rows = [member_weights(guarded(member, "allocate", when.date(),
                                       partial(member.allocate, history, current)),
                               columns, name, when)
                for name, member in zip(self.book.names, self.book.members, strict=True)]
        return pd.Series(np.mean(rows, axis=0), index=columns)


__all__ = ["MenuBlend", "MenuBook", "build_menu", "fit_members", "member_weights",
           "menu_classes"]
