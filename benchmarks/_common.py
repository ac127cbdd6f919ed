"""Helpers shared by the benchmarks: timing and the embedded data."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pandas as pd


def best_of(fn: Callable[[], object], repeat: int = 7, number: int = 1) -> float:
    """Best wall time in seconds of ``number`` calls, over ``repeat`` rounds (after a warm-up)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def sp500_returns() -> pd.DataFrame:
    """Daily simple returns of the embedded sp500-20 universe."""
    from maxent_portfolio.data import load_universe

    return load_universe("sp500-20").returns


def machine() -> str:
    return f"{os.cpu_count()} cores, {os.uname().machine}"
