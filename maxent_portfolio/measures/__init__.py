"""Risk and performance measures, and significance tests on Sharpe ratios. Pure functions.

One module per idea, every public name re-exported here (``from maxent_portfolio.measures
import sharpe``):

* :mod:`.inputs` - validated returns, periods per year and the risk-free convention;
* :mod:`.returns` - return measures of one series (CAGR, Sharpe, drawdowns, VaR, cost drag)
  and tracking error against another;
* :mod:`.weights` - weight and trading measures (effective N, entropy, active share against
  1/N, turnover per year);
* :mod:`.significance` - PSR, DSR, tests of equal Sharpe ratios, the PBO and the percentile
  among placebos;
* :mod:`.tables` - every measure of a backtest, and the metrics table of a run.

Conventions (one place, used everywhere):

* ``returns`` are per-period **simple** returns, 1-D (array or Series), finite; ``periods_per_year``
  (``P``) annualises. Years elapsed are ``n / P`` (period count, as in quantstats 0.0.86).
* ``rf``: a scalar is an **annual** rate, turned into a per-period one geometrically,
  ``(1 + rf) ** (1 / P) - 1`` (the quantstats convention); an array or Series of the same length
  as ``returns`` is taken as **per-period** rates, subtracted period by period. ``rf`` enters
  Sharpe, Sortino, PSR/DSR and the Sharpe-difference tests; total return, CAGR and Calmar are
  of raw returns (as in quantstats).
* Volatility and Sharpe use the sample standard deviation (``ddof=1``) times ``sqrt(P)``.
* Sortino is quantstats' (Red Rock) form: downside deviation
  ``sqrt(sum(min(x, 0) ** 2) / n)`` of excess returns ``x`` over **all** ``n`` periods.
* Drawdowns, VaR and CVaR are in **return space**: a loss is negative. ``max_drawdown`` is
  ``<= 0`` and starts from a peak of 1 before the first period (so a first-period loss counts);
  ``var`` is the historical ``1 - level`` quantile of returns (linear interpolation) and
  ``cvar`` the mean of returns at or below it. Calmar divides by ``|max_drawdown|``.
* Weight measures (effective N, entropy) are over the **full simplex including cash**, the
  space the agents act on: 100% cash is one holding (effective N 1, entropy 0). Active share
  is against 1/N over the risky assets (no cash), cash counted as a position: 100% cash is 1.
* The distance from 1/N in return space, ``tracking_error``, is against the run's own
  ``equal-weight`` strategy (same dates, same costs); a run without it reports NaN.
* Significance tests are on **per-period** Sharpe ratios; inputs ``trial_sharpes`` and
  ``benchmark_sharpe`` are **annualised** (as :func:`sharpe` returns) and converted by
  ``/ sqrt(P)``.
"""

from __future__ import annotations

from maxent_portfolio.measures.inputs import (
    excess_returns,
    per_period_rf,
)
from maxent_portfolio.measures.returns import (
    cagr,
    calmar,
    cost_drag,
    cvar,
    drawdown,
    hit_rate,
    max_drawdown,
    max_drawdown_days,
    max_drawdown_duration,
    sharpe,
    sortino,
    total_return,
    tracking_error,
    var,
    volatility,
)
from maxent_portfolio.measures.significance import (
    BacktestOverfitting,
    SharpeDifferenceTest,
    andrews_alpha,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    hac_covariance,
    jobson_korkie_memmel_test,
    ledoit_wolf_test,
    parzen_kernel,
    placebo_percentile,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    quadratic_spectral_kernel,
)
from maxent_portfolio.measures.tables import (
    METRIC_DESCRIPTIONS,
    metrics_table,
    summarize,
    summarize_returns,
)
from maxent_portfolio.measures.weights import (
    active_share,
    annual_turnover,
    effective_n,
    effective_n_series,
    weight_entropy,
)

__all__ = [
    "METRIC_DESCRIPTIONS",
    "BacktestOverfitting",
    "SharpeDifferenceTest",
    "active_share",
    "andrews_alpha",
    "annual_turnover",
    "cagr",
    "calmar",
    "cost_drag",
    "cvar",
    "deflated_sharpe_ratio",
    "drawdown",
    "effective_n",
    "effective_n_series",
    "excess_returns",
    "expected_max_sharpe",
    "hac_covariance",
    "hit_rate",
    "jobson_korkie_memmel_test",
    "ledoit_wolf_test",
    "max_drawdown",
    "max_drawdown_days",
    "max_drawdown_duration",
    "metrics_table",
    "parzen_kernel",
    "per_period_rf",
    "placebo_percentile",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "quadratic_spectral_kernel",
    "sharpe",
    "sortino",
    "summarize",
    "summarize_returns",
    "total_return",
    "tracking_error",
    "var",
    "volatility",
    "weight_entropy",
]
