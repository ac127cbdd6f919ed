"""Per-asset summary of a loaded universe (what ``maxent-portfolio data show`` prints)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from maxent_portfolio.data.market import MarketData


def annualised(returns: pd.DataFrame, periods_per_year: int) -> pd.DataFrame:
    """Geometric annualised return and annualised volatility of each column.

    Parameters
    ----------
    returns : pd.DataFrame of shape (n_periods, n_columns)
        Simple returns.
    periods_per_year : int

    Returns
    -------
    pd.DataFrame of shape (n_columns, 2)
        Columns ``ann_return`` and ``ann_vol`` (fractions, not percent).
    """
    n = len(returns)
    growth = np.log1p(returns).sum()
    ann_return = np.expm1(growth * periods_per_year / n) if n else growth * np.nan
    ann_vol = returns.std(ddof=1) * np.sqrt(periods_per_year)
    return pd.DataFrame({"ann_return": ann_return, "ann_vol": ann_vol})


def asset_summary(market: MarketData) -> pd.DataFrame:
    """Raw coverage plus annualised return and volatility over the validated window.

    Returns
    -------
    pd.DataFrame of shape (n_input_assets (+1 for the benchmark), 7)
        Index asset; columns ``first``, ``last`` (raw first/last valid date), ``observations``
        (raw), ``filled``, ``action`` (what was done about missing values), ``ann_return``,
        ``ann_vol``. Dropped assets have NaN statistics; the benchmark row ends in ``(bench)``.
    """
    stats = annualised(market.returns, market.periods_per_year)
    if market.benchmark is not None:
        label = str(market.benchmark_name)
        if label not in stats.index:  # a benchmark that is also an asset keeps its name
            label += " (bench)"
        bench = annualised(market.benchmark.to_frame(label), market.periods_per_year)
        stats = pd.concat([stats, bench[~bench.index.isin(stats.index)]])
    if market.coverage is None:
        prices = market.prices
        cov = pd.DataFrame({"first": prices.apply(lambda s: s.first_valid_index()),
                            "last": prices.apply(lambda s: s.last_valid_index()),
                            "observations": prices.notna().sum(), "filled": 0,
                            "action": "none"})
    else:
        cov = market.coverage
    return cov.join(stats, how="outer").reindex(list(cov.index)
                                                 + [i for i in stats.index if i not in cov.index])
