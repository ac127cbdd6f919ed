"""The planted market (data/synthetic.py), its oracle (strategies/oracle.py) and the
learnability benchmark (benchmarks/learnability.py)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from itertools import pairwise
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from maxent_portfolio.backtest import WalkForward, run_backtest
from maxent_portfolio.data.synthetic import planted_market
from maxent_portfolio.errors import ConfigError, DataError
from maxent_portfolio.strategies import CASH, EqualWeight
from maxent_portfolio.strategies.oracle import PlantedOracle, kelly_weights

REPO = Path(__file__).resolve().parents[1]


def test_same_seed_same_market_other_seed_other_market() -> None:
    a = planted_market(4, 300, seed=3)
    b = planted_market(4, 300, seed=3)
    pd.testing.assert_frame_equal(a.returns, b.returns)
    pd.testing.assert_frame_equal(a.tilt, b.tilt)
    assert not np.allclose(a.returns, planted_market(4, 300, seed=4).returns)
    assert a.returns.index[0] == pd.Timestamp("2000-01-03")
    assert (a.returns.index == pd.bdate_range("2000-01-03", periods=300)).all()
    assert list(a.returns.columns) == ["A00", "A01", "A02", "A03"]


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ConfigError, match="market_vol"):
        planted_market(3, 100, market_vol=0.25)
    with pytest.raises(ConfigError, match="signal_strength"):
        planted_market(3, 100, signal_strength=-0.1)
    with pytest.raises(DataError, match="n_days"):
        planted_market(3, 1)


def test_volatility_and_correlation_match_the_dgp() -> None:
    # Sample moments of the log returns against the module docstring's formulas.
    market = planted_market(5, 40 * 252, signal_strength=0.0, seed=1)
    x = np.log1p(market.returns.to_numpy())
    vol = np.linspace(0.20, 0.30, 5)
    np.testing.assert_allclose(x.std(axis=0, ddof=1) * np.sqrt(252), vol, rtol=0.03)
    corr = np.corrcoef(x.T)[0, 4]
    assert corr == pytest.approx(0.15**2 / (0.20 * 0.30), abs=0.03)
    assert x.mean() * 252 == pytest.approx(0.05, abs=0.05)


def _signal_regression(returns: pd.DataFrame, window: int = 20) -> float:
    """Slope of next month's annualised mean log return on tanh(z) of the trailing ``window``
    days, by
    least squares with one intercept per month (absorbing the common factor), which is least
    squares on the values demeaned within each month (Frisch-Waugh-Lovell)."""
    x = np.log1p(returns.to_numpy())
    vol = np.linspace(0.20, 0.30, returns.shape[1])
    index = pd.DatetimeIndex(returns.index)
    month = index.year * 12 + index.month
    starts = [*np.flatnonzero(np.diff(month)) + 1, len(x)]
    ys, signals = [], []
    for start, stop in pairwise(starts):
        z = x[start - window: start].sum(axis=0) / (vol * np.sqrt(window / 252))
        y = x[start:stop].mean(axis=0) * 252
        ys.append(y - y.mean())
        signals.append(np.tanh(z) - np.tanh(z).mean())
    coef, *_ = np.linalg.lstsq(np.concatenate(signals)[:, None], np.concatenate(ys), rcond=None)
    return float(coef[0])


@pytest.mark.parametrize("strength", [0.0, 0.4, 1.0])
def test_planted_tilt_is_recovered_by_regression(strength: float) -> None:
    # 20 assets x 600 months: the slope's standard error is about 0.013 (idiosyncratic
    # annual vol 0.15-0.26, over sqrt(21 days), against a within-month signal sd near 0.5).
    market = planted_market(20, 50 * 252, signal_strength=strength, seed=11)
    assert _signal_regression(market.returns) == pytest.approx(strength, abs=0.06)


def test_reversal_is_recovered_with_the_opposite_sign() -> None:
    market = planted_market(20, 50 * 252, signal_strength=0.4, seed=11, kind="reversal",
                            window=5)
    assert _signal_regression(market.returns, window=5) == pytest.approx(-0.4, abs=0.06)


def test_low_volatility_premium_is_a_static_tilt_from_low_to_high_volatility() -> None:
    market = planted_market(5, 400, signal_strength=0.4, seed=2, kind="low-volatility")
    np.testing.assert_allclose(market.tilt.iloc[0], [0.4 / 252, 0.2 / 252, 0, -0.2 / 252,
                                                     -0.4 / 252], atol=1e-15)
    assert (market.tilt.nunique() == 1).all()
    # Over 50 years the realised annual log drift of the calmest asset exceeds the wildest's.
    long = planted_market(5, 50 * 252, signal_strength=0.4, seed=2, kind="low-volatility")
    drift = np.log1p(long.returns).mean() * 252
    assert drift.iloc[0] - drift.iloc[-1] == pytest.approx(0.8, abs=0.15)


def test_every_kind_draws_the_same_noise_and_is_the_same_market_without_signal() -> None:
    plain = planted_market(4, 300, signal_strength=0.0, seed=5)
    for kind in ("reversal", "low-volatility"):
        other = planted_market(4, 300, signal_strength=0.0, seed=5, kind=kind)
        pd.testing.assert_frame_equal(plain.returns, other.returns)
    with pytest.raises(ConfigError, match="unknown planted signal"):
        planted_market(4, 300, kind="carry")


def test_kelly_weights_by_hand() -> None:
    var = np.array([[0.04]])
    # One asset: w = clip(mean / var, 0, 1).
    np.testing.assert_allclose(kelly_weights(np.array([0.01]), var), [0.25, 0.75], atol=1e-6)
    np.testing.assert_allclose(kelly_weights(np.array([0.10]), var), [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(kelly_weights(np.array([-0.01]), var), [0.0, 1.0], atol=1e-6)
    # Two uncorrelated assets, interior: w_i = m_i / s_i^2 = 0.2 and 0.3.
    w = kelly_weights(np.array([0.008, 0.027]), np.diag([0.04, 0.09]))
    np.testing.assert_allclose(w, [0.2, 0.3, 0.5], atol=1e-6)


def test_kelly_weights_match_scipy_on_the_simplex() -> None:
    rng = np.random.default_rng(5)
    for _ in range(5):
        a = rng.normal(size=(6, 6))
        cov = (a @ a.T / 6 + np.eye(6) * 0.1) * 0.04
        mean = rng.normal(0.05, 0.1, 6)
        w = kelly_weights(mean, cov)
        ref = optimize.minimize(
            lambda v, mean=mean, cov=cov: 0.5 * v @ cov @ v - mean @ v, np.full(6, 0.1),
            jac=lambda v, mean=mean, cov=cov: cov @ v - mean, method="SLSQP",
            bounds=[(0, 1)] * 6, constraints=[{"type": "ineq", "fun": lambda v: 1 - v.sum()}],
            options={"ftol": 1e-14, "maxiter": 500})
        assert (w >= 0).all() and w.sum() == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_allclose(w[:-1], ref.x, atol=1e-4)


def test_oracle_expects_the_tilt_in_force_the_next_day() -> None:
    # The generator's own record of the tilt on day t + 1 is what the oracle must infer from
    # the returns up to t: not a day later (look-ahead), not a month earlier (stale).
    market = planted_market(3, 130, signal_strength=0.8, seed=2)
    oracle = PlantedOracle(market.dgp)
    var = np.linspace(0.20, 0.30, 3) ** 2 / 252
    for t in range(10, 129):
        expected = np.expm1(0.05 / 252 + market.tilt.iloc[t + 1].to_numpy() + var / 2)
        np.testing.assert_allclose(oracle.expected_returns(market.returns.iloc[: t + 1]),
                                   expected, rtol=1e-12, atol=1e-15)


def test_oracle_uses_no_future_data() -> None:
    market = planted_market(4, 700, signal_strength=0.8, seed=4)
    cut = 420
    perturbed = market.returns.copy()
    tail = perturbed.iloc[cut + 1:]
    perturbed.iloc[cut + 1:] = (-3.0 * tail).clip(lower=-0.9)
    splits = WalkForward(train=252, test=126)

    def targets(returns: pd.DataFrame) -> pd.DataFrame:
        return run_backtest(returns, PlantedOracle(market.dgp), splits=splits,
                            rebalance="monthly", cost_bps=10).targets

    base, new = targets(market.returns), targets(perturbed)
    when = market.returns.index[cut]
    assert len(base.loc[:when]) >= 6
    pd.testing.assert_frame_equal(base.loc[:when], new.loc[:when])
    assert not np.allclose(base.loc[when:].iloc[1:], new.loc[when:].iloc[1:])


def test_oracle_beats_equal_weight_net_of_costs() -> None:
    market = planted_market(5, 30 * 252, signal_strength=0.8, seed=9)
    splits = WalkForward(train=252, test=2520)
    results = [run_backtest(market.returns, strategy, splits=splits, rebalance="monthly",
                            cost_bps=10) for strategy in (PlantedOracle(market.dgp),
                                                          EqualWeight())]
    oracle, one_over_n = results
    weights = oracle.targets.to_numpy()
    assert (weights >= 0).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)
    assert list(oracle.targets.columns)[-1] == CASH
    diff = np.log1p(oracle.returns) - np.log1p(one_over_n.returns)
    excess, se = diff.mean() * 252, diff.std() * np.sqrt(252 / len(diff))
    assert excess > 3 * se > 0


def _learnability() -> ModuleType:
    spec = importlib.util.spec_from_file_location("learnability",
                                                  REPO / "benchmarks" / "learnability.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_signal_alignment_by_hand() -> None:
    alignment = _learnability().signal_alignment
    days = pd.bdate_range("2001-01-01", periods=4)
    tilt = pd.DataFrame([[-1.0, 0.0, 1.0], [3.0, 2.0, 1.0], [0.0, 1.0, 2.0], [0.0, 0.0, 0.0]],
                        index=days, columns=["A", "B", "C"])
    # Weights chosen on day 0 meet day 1's tilt (both decreasing: corr +1; day 0's own tilt
    # would give -1), day 1's meet day 2's (increasing: corr -1).
    weights = pd.DataFrame([[0.5, 0.3, 0.1, 0.1], [0.5, 0.3, 0.1, 0.1]], index=days[:2],
                           columns=["A", "B", "C", "CASH"])
    assert alignment(weights.iloc[:1], tilt) == pytest.approx(1.0)
    assert alignment(weights, tilt) == pytest.approx(0.0)  # (+1 - 1) / 2
    # A decision facing a flat tilt (day 3) or with equal weights carries no information.
    flat = pd.DataFrame([[0.2, 0.3, 0.5]], index=days[2:3], columns=["A", "B", "C"])
    assert np.isnan(alignment(flat, tilt))
    assert alignment(pd.DataFrame([[0.1, 0.2, 0.7], [0.3, 0.3, 0.3]], index=days[:2],
                                  columns=["A", "B", "C"]), tilt) == pytest.approx(
        np.corrcoef([0.1, 0.2, 0.7], [3.0, 2.0, 1.0])[0, 1])


@pytest.mark.slow
def test_learnability_quick_runs_end_to_end(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "learnability.py"), "--quick",
         "--keep", str(run_dir)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = {m[0]: float(m[1]) for m in re.findall(
        r"^(sac-seed\d|sac|equal-weight|oracle)\s+(-?\d+\.\d+)", done.stdout, re.M)}
    assert set(printed) == {"sac-seed0", "sac-seed1", "sac", "equal-weight", "oracle"}
    # G recomputed from the run directory's returns: annualised mean log growth.
    returns = pd.read_csv(run_dir / "returns.csv", index_col="date")
    for name, g in printed.items():
        assert g == pytest.approx(252 * np.log1p(returns[name]).mean(), abs=1e-4)
    shares = [(printed[s] - printed["equal-weight"]) / (printed["oracle"] - printed["equal-weight"])
              for s in ("sac-seed0", "sac-seed1")]
    median = float(re.search(r"median (-?\d+\.\d+) over 2 seeds", done.stdout)[1])  # type: ignore[index]
    assert median == pytest.approx(np.median(shares), abs=2e-3)
