"""Walk-forward and single train/test splits over a time index.

Splits are integer positions into the returns table. A fold trains on ``[train_start,
train_end)`` and is evaluated on ``[test_start, test_end)``; ``purge`` periods between the
two are left out of both (the embargo). The first test decision is taken at the close of
``test_start - 1`` and earns the returns of ``test_start``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from maxent_portfolio.errors import ConfigError, DataError


@dataclass(frozen=True)
class Fold:
    """One train/test split, as integer positions into the returns table."""

    train_start: int
    train_end: int
    test_start: int
    test_end: int

    def dates(self, index: pd.DatetimeIndex) -> dict[str, str]:
        """Boundary dates as ISO strings (inclusive ends), for reports."""
        return {
            "train_start": index[self.train_start].date().isoformat(),
            "train_end": index[self.train_end - 1].date().isoformat(),
            "test_start": index[self.test_start].date().isoformat(),
            "test_end": index[self.test_end - 1].date().isoformat(),
        }


@dataclass(frozen=True)
class WalkForward:
    """Rolling or expanding walk-forward splits.

    Parameters
    ----------
    train : int
        Periods in the (first) training window. Default 756, three years of trading days.
    test : int
        Periods in each test window. Default 252: the strategies are refit yearly.
    step : int or None
        Periods between consecutive fold starts; defaults to ``test`` (non-overlapping tests).
    purge : int
        Periods dropped between a training window and its test window.
    expanding : bool
        If True every training window starts at the first period (expanding); otherwise it
        keeps the length ``train`` (rolling).
    """

    train: int = 756
    test: int = 252
    step: int | None = None
    purge: int = 0
    expanding: bool = True

    def split(self, n_observations: int) -> list[Fold]:
        """Folds covering as much of ``n_observations`` as fits; the last test may be short."""
        for key in ("train", "test"):
            if getattr(self, key) < 1:
                raise ConfigError(f"walk-forward {key} must be at least 1 period, "
                                  f"got {getattr(self, key)}")
        if self.purge < 0:
            raise ConfigError(f"walk-forward purge must be >= 0, got {self.purge}")
        step = self.step or self.test
        if step < 1:
            raise ConfigError(f"walk-forward step must be at least 1 period, got {step}")
        if step < self.test:
            raise ConfigError("overlapping test windows (step < test) cannot be stitched into "
                              "one out-of-sample series; use step >= test")
        needed = self.train + self.purge + 1
        if n_observations < needed + 1:
            raise DataError(
                f"too little history for the walk-forward: need more than {needed} periods "
                f"(train {self.train} + purge {self.purge} + 1 test), have {n_observations}")
        folds = []
        test_start = self.train + self.purge
        while test_start < n_observations:
            train_end = test_start - self.purge
            train_start = 0 if self.expanding else max(0, train_end - self.train)
            test_end = min(test_start + self.test, n_observations)
            folds.append(Fold(train_start, train_end, test_start, test_end))
            test_start += step
        return folds


@dataclass(frozen=True)
class TrainTestSplit:
    """A single split: train on the first ``train`` share (or periods), test on the rest."""

    train: float | int = 0.6
    purge: int = 0

    def split(self, n_observations: int) -> list[Fold]:
        n_train = int(self.train * n_observations) if isinstance(self.train, float) \
            else int(self.train)
        if isinstance(self.train, float) and not 0 < self.train < 1:
            raise ConfigError(f"train share must be in (0, 1), got {self.train}")
        test_start = n_train + self.purge
        if n_train < 2 or test_start >= n_observations - 1:
            raise DataError(f"too little history for a train/test split: {n_observations} "
                            f"periods, train {n_train}, purge {self.purge}")
        return [Fold(0, n_train, test_start, n_observations)]
