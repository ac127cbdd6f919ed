"""Every measure of a backtest in one row, and the metrics table of a run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from maxent_portfolio.errors import ConfigError
from maxent_portfolio.measures import returns as return_measures
from maxent_portfolio.measures.inputs import (
    ArrayLike,
    RiskFree,
    as_returns,
    check_periods_per_year,
    excess_returns,
    per_period_rf,
)
from maxent_portfolio.measures.significance import (
    deflated_sharpe_ratio,
    jobson_korkie_memmel_test,
    ledoit_wolf_test,
    placebo_percentile,
    probabilistic_sharpe_ratio,
)
from maxent_portfolio.measures.weights import (
    active_share,
    annual_turnover,
    effective_n,
    weight_entropy,
)

if TYPE_CHECKING:
    from maxent_portfolio.backtest.engine import BacktestResult

MIN_OBSERVATIONS_TEST = 10
"""Fewest overlapping periods on which a Sharpe-difference test is attempted (else NaN)."""

METRIC_DESCRIPTIONS: dict[str, str] = {
    "strategy": "Strategy name.",
    "total_return": "Compounded net return over the whole out-of-sample period.",
    "cagr": "Compound annual growth rate of net returns (years = periods / periods per year).",
    "volatility": "Annualised standard deviation of net returns.",
    "sharpe": "Annualised Sharpe ratio: mean excess return over its standard deviation.",
    "sortino": "Annualised Sortino ratio: mean excess return over downside deviation.",
    "max_drawdown": "Largest peak-to-trough fall of net equity (negative, e.g. -0.25 = -25%).",
    "max_dd_duration": "Longest spell below a previous equity peak, in periods.",
    "max_dd_days": "Calendar days from a peak to recovery (or the end) in the longest spell.",
    "calmar": "CAGR divided by the absolute maximum drawdown.",
    "var_95": "Historical 95% VaR: the 5% quantile of period returns (negative = loss).",
    "cvar_95": "Historical 95% CVaR: mean of period returns at or below the 5% quantile.",
    "hit_rate": "Share of periods with a positive net return.",
    "turnover": "Annualised two-way turnover: buys plus sells, sum |dw| over the risky assets "
                "per year (a full switch between two assets is 2.0).",
    "cost_drag": "Annual growth lost to costs: CAGR of gross minus CAGR of net returns.",
    "effective_n": "Mean effective number of holdings 1 / sum(w^2), cash counted as a holding.",
    "entropy": "Mean Shannon entropy of the weights -sum(w ln w) in nats, cash included.",
    "active_share": "Distance from 1/N: half of sum |w - 1/N| over the risky assets plus the "
                    "cash weight, averaged over the weights held each period (0 is 1/N, 1 "
                    "all cash).",
    "tracking_error": "Annualised standard deviation of the net return minus equal-weight's "
                      "on the same dates (NaN when the run has no equal-weight).",
    "psr": "Probabilistic Sharpe ratio: probability the true Sharpe exceeds 0.",
    "dsr": "Deflated Sharpe ratio: PSR against the expected best Sharpe of the trials run.",
    "p_sharpe_vs_ref": "Ledoit-Wolf HAC p-value that the Sharpe equals the reference's.",
    "p_jk_memmel": "Jobson-Korkie (Memmel-corrected) p-value that the Sharpe equals the "
                   "reference's (assumes i.i.d. normal returns).",
    "placebo_pct": "Percentile (0-100) of the Sharpe among permutation placebos: the same "
                   "weights with the asset labels shuffled in each fold, cash in place "
                   "(learned strategies only).",
    "investable": "False for hindsight benchmarks that could not have been traded.",
}


def _returns_of(x: BacktestResult | pd.Series) -> pd.Series:
    return x if isinstance(x, pd.Series) else x.returns


def _sharpe_tests(returns: pd.Series, reference: pd.Series, ppy: int,
                  rf: RiskFree) -> tuple[float, float]:
    """Ledoit-Wolf and JK-Memmel p-values on the dates both series share."""
    both = pd.concat([returns, reference], axis=1, join="inner").dropna()
    if len(both) < MIN_OBSERVATIONS_TEST:
        return float("nan"), float("nan")
    rates = rf.reindex(both.index).to_numpy(dtype=float) if isinstance(rf, pd.Series) else rf
    a = excess_returns(both.iloc[:, 0].to_numpy(), ppy, rates)
    b = excess_returns(both.iloc[:, 1].to_numpy(), ppy, rates)
    return ledoit_wolf_test(a, b).p_value, jobson_korkie_memmel_test(a, b).p_value


def summarize_returns(returns: pd.Series, periods_per_year: int, rf: RiskFree = 0.0,
                      n_trials: float = 1, trial_sharpes: ArrayLike | None = None,
                      reference: BacktestResult | pd.Series | None = None,
                      tracking: BacktestResult | pd.Series | None = None) -> dict[str, float]:
    """Return-based measures of a plain series (e.g. a benchmark), shape (n,).

    Weight and trading measures (turnover, cost drag, effective N, entropy, active share) and
    the placebo percentile are NaN and ``investable`` is 1.0. See :func:`summarize` for the
    other arguments.
    """
    ppy = check_periods_per_year(periods_per_year)
    r = as_returns(returns)
    series = returns if isinstance(returns, pd.Series) else pd.Series(r)
    if np.ndim(rf) and not isinstance(rf, pd.Series):
        # Per-period rates given as an array follow this series' dates.
        rf = pd.Series(per_period_rf(rf, ppy, r.size), index=series.index)
    ntr, tvar = _trials(n_trials, trial_sharpes)
    p_lw = p_jk = float("nan")
    if reference is not None:
        p_lw, p_jk = _sharpe_tests(series, _returns_of(reference), ppy, rf)
    nan = float("nan")
    te = nan if tracking is None else \
        return_measures.tracking_error(series, _returns_of(tracking), ppy)
    return {
        "total_return": return_measures.total_return(r),
        "cagr": return_measures.cagr(r, ppy),
        "volatility": return_measures.volatility(r, ppy),
        "sharpe": return_measures.sharpe(series, ppy, rf),
        "sortino": return_measures.sortino(series, ppy, rf),
        "max_drawdown": return_measures.max_drawdown(r),
        "max_dd_duration": float(return_measures.max_drawdown_duration(r)),
        "max_dd_days": return_measures.max_drawdown_days(series),
        "calmar": return_measures.calmar(r, ppy),
        "var_95": return_measures.var(r, 0.95),
        "cvar_95": return_measures.cvar(r, 0.95),
        "hit_rate": return_measures.hit_rate(r),
        "turnover": nan,
        "cost_drag": nan,
        "effective_n": nan,
        "entropy": nan,
        "active_share": nan,
        "tracking_error": te,
        "psr": probabilistic_sharpe_ratio(series, ppy, 0.0, rf),
        "dsr": deflated_sharpe_ratio(series, ppy, ntr, tvar, rf),
        "p_sharpe_vs_ref": p_lw,
        "p_jk_memmel": p_jk,
        "placebo_pct": nan,
        "investable": 1.0,
    }


def _trials(n_trials: float, trial_sharpes: ArrayLike | None) -> tuple[float, float | None]:
    """Number of trials and the variance (ddof=1) of their annualised Sharpes.

    With ``trial_sharpes`` given and ``n_trials`` left at 1, the count is their number; a
    larger ``n_trials`` (e.g. an effective count) is kept.
    """
    if trial_sharpes is None:
        if n_trials > 1:
            raise ConfigError("n_trials > 1 needs trial_sharpes: their spread sets the deflation")
        return 1.0, None
    s = np.asarray(trial_sharpes, dtype=float)
    s = s[np.isfinite(s)]
    if s.size == 0:
        raise ConfigError("trial_sharpes has no finite value")
    count = float(n_trials) if n_trials > 1 else float(s.size)
    return count, float(np.var(s, ddof=1)) if s.size > 1 else 0.0


def summarize(result: BacktestResult, reference: BacktestResult | pd.Series | None = None,
              n_trials: float = 1, trial_sharpes: ArrayLike | None = None,
              rf: RiskFree = 0.0, tracking: BacktestResult | pd.Series | None = None
              ) -> dict[str, float]:
    """Every measure of one backtest, keyed as in :data:`METRIC_DESCRIPTIONS`.

    Parameters
    ----------
    result : BacktestResult
    reference : BacktestResult or pd.Series, optional
        Strategy the Sharpe-difference p-values are against, on the shared dates; without it
        they are NaN.
    n_trials : float
        Strategies tried before picking this one, for the DSR (see :func:`_trials`).
    trial_sharpes : array of shape (n_trials,), optional
        Their annualised Sharpe ratios (same ``rf``); their variance sets the deflation.
    rf : float or pd.Series
        Annual rate, or per-period rates indexed by date (see the module notes).
    tracking : BacktestResult or pd.Series, optional
        The 1/N strategy the tracking error is against, on the shared dates; without it NaN.

    Returns
    -------
    dict of str to float
        ``investable`` is 1.0 or 0.0. ``placebo_pct`` is the percentile of the Sharpe among
        ``result.placebo`` (:func:`placebo_percentile`), NaN when the result has none.
    """
    ppy = result.periods_per_year
    out = summarize_returns(result.returns, ppy, rf, n_trials, trial_sharpes, reference,
                            tracking)
    holdings = result.holdings
    out.update({
        "turnover": annual_turnover(result.turnover, len(result.returns), ppy),
        "cost_drag": return_measures.cost_drag(result.gross_returns, result.returns, ppy),
        "effective_n": effective_n(holdings),
        "entropy": weight_entropy(holdings),
        "active_share": active_share(holdings),
        "placebo_pct": float("nan") if result.placebo is None else
        placebo_percentile(out["sharpe"], result.placebo.to_numpy()),
        "investable": float(bool(result.investable)),
    })
    return out


def metrics_table(results: Sequence[BacktestResult], reference: str | None = "equal-weight",
                  benchmark: pd.Series | None = None, n_trials: float | None = None,
                  trial_sharpes: ArrayLike | None = None, rf: RiskFree = 0.0,
                  tracking: str | None = "equal-weight") -> pd.DataFrame:
    """One row per strategy (then ``benchmark``), columns in :data:`METRIC_DESCRIPTIONS` order.

    Parameters
    ----------
    results : list of BacktestResult
    reference : str, optional
        Name of the result the Sharpe-difference p-values are against (its own are NaN).
        None leaves every p-value NaN.
    benchmark : pd.Series, optional
        Plain returns (e.g. an index) added as a row named ``benchmark``; weight measures NaN.
        Restricted to the results' out-of-sample dates, NaNs dropped; periods per year are
        those of the first result.
    n_trials, trial_sharpes : optional
        For the DSR. By default the trials are the investable strategies in the table: their
        count and the variance of their Sharpes. Pass ``n_trials=1`` for DSR = PSR.
    rf : float or pd.Series
    tracking : str, optional
        Name of the 1/N result every row's tracking error is against. When no result has
        this name (or it is None) the column is NaN: the distance from 1/N in returns is
        measured against the run's own equal-weight strategy, same dates and costs, or not
        at all.

    Returns
    -------
    pd.DataFrame of shape (n_rows, n_metrics + 1)
        First column ``strategy``; ``investable`` is bool.
    """
    if not results:
        raise ConfigError("no backtest results to tabulate")
    names = [r.name for r in results]
    if len({r.periods_per_year for r in results}) > 1:
        raise ConfigError("results to tabulate have different periods_per_year")
    if len(set(names)) != len(names):
        raise ConfigError(f"duplicate strategy names in the table: {names}")
    ref = None
    if reference is not None:
        if reference not in names:
            raise ConfigError(f"reference strategy {reference!r} is not among {names}")
        ref = results[names.index(reference)]
    if trial_sharpes is None and (n_trials is None or n_trials > 1):
        found = [return_measures.sharpe(r.returns, r.periods_per_year, rf) for r in results
                 if r.investable]
        trial_sharpes = found if np.isfinite(found).any() else None
    n_trials = 1 if n_trials is None else n_trials
    ew = results[names.index(tracking)] if tracking in names else None
    rows = []
    for res in results:
        row = summarize(res, None if res is ref else ref, n_trials, trial_sharpes, rf, ew)
        rows.append({"strategy": res.name, **row})
    if benchmark is not None:
        # Judge the benchmark on the strategies' out-of-sample dates only.
        dates = results[0].returns.index
        for res in results[1:]:
            dates = dates.union(res.returns.index)
        bench = benchmark[benchmark.index.isin(dates)].dropna()
        row = summarize_returns(bench, results[0].periods_per_year, rf, n_trials,
                                trial_sharpes, ref, ew)
        rows.append({"strategy": "benchmark", **row})
    table = pd.DataFrame(rows, columns=list(METRIC_DESCRIPTIONS))
    table["investable"] = table["investable"].astype(bool)
    return table


__all__ = ["METRIC_DESCRIPTIONS", "MIN_OBSERVATIONS_TEST", "metrics_table", "summarize",
           "summarize_returns"]
