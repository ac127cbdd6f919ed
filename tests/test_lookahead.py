"""No registered investable strategy can use data after its decision date.

Each strategy is backtested twice: on synthetic returns, and on the same returns with every
row after a cut-off date ``t`` replaced (multiplied by -3, plus noise). Targets chosen at
decisions up to ``t`` and net returns up to ``t`` must be identical.

``bcrp`` is excluded from the invariance check: it is a hindsight benchmark by definition
(fit on the window it is judged on). It is used instead to show that the test detects
look-ahead: its decisions before ``t`` DO change.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from maxent_portfolio.backtest.engine import BacktestResult, run_backtest
from maxent_portfolio.backtest.walkforward import WalkForward
from maxent_portfolio.strategies.registry import available_strategies, get_strategy

SPLITS = WalkForward(train=150, test=100)
CUT = 300  # position of the cut-off date: mid second test fold (tests start at 150, 250, ...)


def _factor_returns() -> pd.DataFrame:
    """Six assets of spread drifts and volatilities on a common factor, 400 days, seeded."""
    rng = np.random.default_rng(42)
    idx = pd.bdate_range("2015-01-01", periods=400)
    mu = np.linspace(-0.0005, 0.001, 6)
    sigma = np.linspace(0.008, 0.02, 6)
    data = rng.normal(mu, sigma, (len(idx), 6)) + rng.normal(0, 0.006, (len(idx), 1))
    return pd.DataFrame(data, index=idx, columns=[f"X{i}" for i in range(6)])


def _perturbed(returns: pd.DataFrame) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    out = returns.copy()
    tail = out.iloc[CUT + 1:]
    out.iloc[CUT + 1:] = (-3.0 * tail + rng.normal(0, 0.01, tail.shape)).clip(lower=-0.9)
    return out


def _run(name: str, returns: pd.DataFrame, **params: object) -> BacktestResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # optimiser fallbacks are allowed
        return run_backtest(returns, get_strategy(name, **params), splits=SPLITS,
                            rebalance="monthly", cost_bps=10.0)


def _until_cut(result: BacktestResult, cut: pd.Timestamp) -> tuple[pd.DataFrame, pd.Series]:
    return result.targets.loc[:cut], result.returns.loc[:cut]


# Small settings for registered strategies that train (the invariance does not depend on them).
# SAC trains on monthly decisions, the schedule it is judged on here.
FAST_PARAMS: dict[str, dict[str, object]] = {
    "sac": {"train_steps": 64, "device": "cpu", "episode_length": 40, "lookback": 20,
            "num_envs": 1, "decision_period": "monthly"},
    # Half the default menu (the other half below); daily decisions over the precomputed menu.
    "sac-discrete": {"train_steps": 64, "device": "cpu", "episode_length": 40, "lookback": 20,
                     "num_envs": 1, "learning_starts": 8,
                     "menu": ["inverse-volatility", "hrp", "eg"]},
}
INVESTABLE = [(name, FAST_PARAMS.get(name, {}))
              for name, cls in available_strategies().items() if cls.investable]
# The window estimators in their other refit mode (the defaults are covered above).
OTHER_MODES = [("min-variance", {"refit": "rebalance"}), ("max-sharpe", {"refit": "rebalance"}),
               ("risk-parity", {"refit": "rebalance"}), ("hrp", {"refit": "rebalance"}),
               ("inverse-volatility", {"refit": "fold"}),
               # Every agent lever on: the exact model reads the fold's prices, so it must not
               # read past the window either.
               ("sac", {**FAST_PARAMS["sac"], "one_step_model": True, "reference": 4.0,
                        "trade_rate": 0.5, "no_trade_band": 0.02,
                        "decision_period": "rebalance"}),
               # The actor's H-step rollout walks the fold's data forward from each state.
               ("sac", {**FAST_PARAMS["sac"], "one_step_model": True, "actor_horizon": 4,
                        "trade_rate": 0.5, "decision_period": "daily", "learning_starts": 8}),
               # The mean objective with a reference centred on 1/N, from a book in cash.
               ("sac", {**FAST_PARAMS["sac"], "one_step_model": True, "actor_horizon": 2,
                        "actor_objective": "mean", "reference": 4.0, "reference_cash": 0.01,
                        "alpha": 0.05, "invest_from_cash": True, "learning_starts": 8}),
               # The evidence shrinkage replays earlier agents inside each training window.
               ("sac", {**FAST_PARAMS["sac"], "shrinkage": "evidence"}),
               # Cross-sectional ranks and market context read every asset's window.
               ("sac", {**FAST_PARAMS["sac"], "features": "base,ranks,context"}),
               # Holding the top strategy, on the schedule it is judged on.
               ("sac-discrete", {**FAST_PARAMS["sac-discrete"], "menu_hold": "top",
                                 "decision_period": "rebalance",
                                 "menu": ["equal-weight", "min-variance", "momentum"]})]


@pytest.mark.parametrize(("name", "params"), INVESTABLE + OTHER_MODES)
def test_no_lookahead(name: str, params: dict[str, object]) -> None:
    returns = _factor_returns()
    cut = returns.index[CUT]
    base_targets, base_net = _until_cut(_run(name, returns, **params), cut)
    new_targets, new_net = _until_cut(_run(name, _perturbed(returns), **params), cut)
    assert len(base_targets) >= 3 and base_targets.index[-1] > returns.index[250]
    pd.testing.assert_frame_equal(base_targets, new_targets, check_exact=True)
    pd.testing.assert_series_equal(base_net, new_net, check_exact=True)


def test_the_check_detects_hindsight_with_bcrp() -> None:
    returns = _factor_returns()
    perturbed = _perturbed(returns)
    assert returns.iloc[: CUT + 1].equals(perturbed.iloc[: CUT + 1])
    cut = returns.index[CUT]
    base_targets, _ = _until_cut(_run("bcrp", returns), cut)
    new_targets, _ = _until_cut(_run("bcrp", perturbed), cut)
    # The fold containing the cut is fit on its whole test window, after t included.
    assert not np.allclose(base_targets.loc[returns.index[249]:].to_numpy(),
                           new_targets.loc[returns.index[249]:].to_numpy(), atol=1e-6)
