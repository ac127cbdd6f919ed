"""Feature groups of the observation (``env.features``): ranks and context by an independent
computation, the same observation in the env and from trailing history, no look-ahead, the
option's validation, and an agent that trains and allocates on every group."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from maxent_portfolio.cli.options import flag_specs
from maxent_portfolio.config import OPTIONS, resolve_config
from maxent_portfolio.envs import PortfolioEnv, PortfolioVectorEnv
from maxent_portfolio.envs.config import EnvConfig
from maxent_portfolio.envs.features import (
    FEATURE_NAMES,
    compute_features,
    feature_groups,
    feature_names,
    latest_observation,
)
from maxent_portfolio.errors import ConfigError

GROUPS = ("base", "ranks", "context")
COMBINATIONS = [",".join(c) for k in (1, 2, 3) for c in itertools.combinations(GROUPS, k)]


def _factor_returns_with_a_tie(n: int = 90, n_assets: int = 5, seed: int = 0) -> pd.DataFrame:
    """Noise on a common market factor; the last asset repeats the first, so their ranks tie."""
    rng = np.random.default_rng(seed)
    common = rng.normal(0.0, 0.008, (n, 1))  # a market factor, so correlations are not ~0
    data = rng.normal(0.0004, 0.012, (n, n_assets)) + common
    data[:, -1] = data[:, 0]  # two identical assets: their ranks must tie
    return pd.DataFrame(data, index=pd.bdate_range("2020-01-01", periods=n),
                        columns=[f"A{i}" for i in range(n_assets)])


def _scaled_rank(frame: pd.DataFrame) -> np.ndarray:
    """pandas' average rank per row, mapped from 1..N to [-1, 1]."""
    n = frame.shape[1]
    return (2.0 * (frame.rank(axis=1, method="average") - 1.0) / (n - 1) - 1.0).to_numpy()


def test_ranks_match_pandas_rank_of_the_rolling_definitions() -> None:
    returns, lookback = _factor_returns_with_a_tie(), 30
    x = np.log1p(returns)
    scale = x.rolling(lookback).std()
    mom_20 = (x.rolling(20).sum() / (scale * np.sqrt(20))).clip(-10, 10)
    mom_60 = (x.rolling(30).sum() / (scale * np.sqrt(30))).clip(-10, 10)  # h = min(60, L)
    vol_60 = (x.rolling(30).std() * np.sqrt(252)).clip(0, 10)
    feats = compute_features(returns.to_numpy(), lookback, 252, "ranks")
    assert feats.shape == (90, 5, 3)
    valid = slice(lookback - 1, None)
    for k, raw in enumerate((mom_20, mom_60, vol_60)):
        np.testing.assert_allclose(feats[valid, :, k], _scaled_rank(raw.iloc[valid]), atol=1e-6)
    # Assets 0 and 4 are identical: they share the average of two ranks, never +-1 both.
    np.testing.assert_array_equal(feats[valid, 0], feats[valid, 4])
    assert np.isnan(feats[: lookback - 1]).all()
    # Each date's five ranks are a permutation of -1, -0.5, 0, 0.5, 1 with one tie averaged.
    assert np.allclose(np.sort(feats[valid], axis=1).sum(axis=1), 0.0, atol=1e-6)


def test_ranks_by_hand_with_a_clipped_tie() -> None:
    # Three assets, lookback 3: momentum h = 3 for all of mom_20/mom_60, vol h = 3.
    # Asset 0 is constant: its std is floored at 1e-8, so its momentum is clipped at +10;
    # asset 3 copies it.
    r = np.array([[0.01, 0.00, 0.02], [0.01, 0.02, -0.01], [0.01, -0.01, 0.03]])
    r = np.column_stack([r, r[:, 0]])
    ranks = compute_features(r, 3, 252, "ranks")[2]
    # mom: assets 0 and 3 at +10 tie for ranks 3 and 4 (3.5 -> 2/3); asset 2's sum 0.04 over
    # its std beats asset 1's 0.01 (rank 2 -> -1/3, rank 1 -> -1).
    np.testing.assert_allclose(ranks[:, 0], [2 / 3, -1.0, -1 / 3, 2 / 3], atol=1e-6)
    # vol: assets 0 and 3 near 0 tie lowest (1.5 -> -2/3), then asset 1, then asset 2.
    np.testing.assert_allclose(ranks[:, 2], [-2 / 3, 1 / 3, 1.0, -2 / 3], atol=1e-6)


def test_context_matches_pandas_and_corrcoef() -> None:
    returns, lookback, ppy = _factor_returns_with_a_tie(n=120, n_assets=4, seed=3), 70, 52
    feats = compute_features(returns.to_numpy(), lookback, ppy, "context")
    assert feats.shape == (120, 4, 3)
    market = np.log1p(returns.mean(axis=1))  # the equal-weight market, rebalanced daily
    mom = market.rolling(60).sum() / (market.rolling(lookback).std() * np.sqrt(60))
    vol = market.rolling(20).std() * np.sqrt(ppy)
    x = np.log1p(returns.to_numpy())
    for t in (lookback - 1, 90, 119):
        corr = np.corrcoef(x[t - lookback + 1: t + 1].T)
        mean_corr = corr[np.triu_indices(4, 1)].mean()
        expected = np.array([np.clip(mom.iloc[t], -10, 10), vol.iloc[t], mean_corr])
        for i in range(4):  # the same context in every asset's row
            np.testing.assert_allclose(feats[t, i], expected, rtol=1e-5, atol=1e-6)
    assert 0.1 < feats[90, 0, 2] < 0.9  # the common factor shows
    assert np.isnan(feats[: lookback - 1]).all()  # even vol_20, whose window fits earlier


def test_average_correlation_by_hand_and_single_asset() -> None:
    rng = np.random.default_rng(1)
    r = rng.normal(0.0, 0.01, (40, 1))
    twin = np.column_stack([r, r])  # identical: correlation 1
    assert np.allclose(compute_features(twin, 20, 252, "context")[19:, :, 2], 1.0)
    mirror = np.column_stack([r, 1.0 / (1.0 + r) - 1.0])  # log returns x and -x: correlation -1
    assert np.allclose(compute_features(mirror, 20, 252, "context")[19:, :, 2], -1.0)
    single = compute_features(r, 20, 252, "ranks,context")
    assert (single[19:, 0, :3] == 0.0).all() and (single[19:, 0, 5] == 0.0).all()


def test_base_is_unchanged_and_groups_come_in_canonical_order(
        synthetic_returns: pd.DataFrame) -> None:
    values = synthetic_returns.to_numpy()
    base = compute_features(values, 40, 252)
    np.testing.assert_array_equal(compute_features(values, 40, 252, "base"), base)
    everything = compute_features(values, 40, 252, "context,ranks,base,ranks")
    np.testing.assert_array_equal(everything[..., :7], base)  # base first, exactly as alone
    np.testing.assert_array_equal(everything[..., 7:10],
                                  compute_features(values, 40, 252, "ranks"))
    env = PortfolioEnv(universe=synthetic_returns, lookback=40)
    assert EnvConfig().features == env.config.features == "base"
    assert env.feature_names == FEATURE_NAMES and env.n_features == 7
    assert env.obs_dim == 5 * 7 + 6
    wide = PortfolioEnv(universe=synthetic_returns, lookback=40, features="context, ranks,base")
    assert wide.config.features == "base,ranks,context" and wide.n_features == 13
    assert wide.feature_names == (*FEATURE_NAMES, "rank_mom_20", "rank_mom_60", "rank_vol_60",
                                  "mkt_mom_60", "mkt_vol_20", "avg_corr")
    assert wide.observation_space.shape == (5 * 13 + 6,)


@pytest.mark.parametrize("features", COMBINATIONS)
def test_env_observation_equals_latest_observation(synthetic_returns: pd.DataFrame,
                                                   features: str) -> None:
    returns = synthetic_returns.iloc[:400]
    env = PortfolioEnv(universe=returns, lookback=40, features=features, episode_length=None)
    vector = PortfolioVectorEnv(num_envs=2, universe=returns, lookback=40, features=features,
                                episode_length=None, seed=0)
    weights = np.array([0.2, 0.2, 0.2, 0.2, 0.1, 0.1])
    values = returns.to_numpy()
    n_features = len(feature_names(features))
    assert env.n_features == vector.n_features == n_features
    for t in (39, 200, 399):
        obs = env.observation_at(t, weights)
        assert obs.shape == (5 * n_features + 6,) and env.observation_space.contains(obs)
        np.testing.assert_allclose(latest_observation(values[: t + 1], weights, 40, 252,
                                                      features), obs, rtol=1e-5, atol=1e-6)
    first, _ = vector.reset(options={"start": 200, "weights": weights})
    np.testing.assert_array_equal(first[1], env.observation_at(200, weights))


def test_no_feature_reads_past_t_or_before_the_window() -> None:
    returns, lookback, t = _factor_returns_with_a_tie(n=120, seed=5).to_numpy(), 30, 80
    feats = compute_features(returns, lookback, 252, "base,ranks,context")
    later = returns.copy()
    later[t + 1:] = -0.5 * later[t + 1:] + 0.03
    np.testing.assert_array_equal(
        compute_features(later, lookback, 252, "base,ranks,context")[: t + 1], feats[: t + 1])
    earlier = returns.copy()
    earlier[: t - lookback + 1] *= -4.0  # before the window of t: only rounding may change
    np.testing.assert_allclose(compute_features(earlier, lookback, 252, "base,ranks,context")[t],
                               feats[t], rtol=1e-5, atol=1e-6)
    at_t = returns.copy()
    at_t[t, 0] += 0.05  # the same checks must fail when the change reaches t
    moved = compute_features(at_t, lookback, 252, "base,ranks,context")[t]
    assert not np.allclose(moved[:, 7:10], feats[t, :, 7:10], atol=1e-3)  # asset 0 passes 4
    assert not np.allclose(moved[:, 10:], feats[t, :, 10:], atol=1e-3)


@pytest.mark.parametrize("bad", ["base,sentiment", "", "base,,ranks", "Base"])
def test_a_bad_group_is_one_line_naming_it(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        feature_groups(bad)
    message = str(info.value)
    assert "\n" not in message and "base, ranks, context" in message
    name = bad.split(",")[1] if "," in bad else bad
    assert repr(name) in message
    with pytest.raises(ConfigError, match=r"invalid features .*base, ranks, context"):
        resolve_config(overrides={OPTIONS["features"].path: bad})
    with pytest.raises(ConfigError, match="feature group"):
        PortfolioEnv(universe=_factor_returns_with_a_tie(), lookback=10, features=bad)


def test_the_option_is_a_flag_and_stored_canonically() -> None:
    assert "env.features" in {spec.path for spec in flag_specs(["env"])}
    assert OPTIONS["features"].flag == "--features"
    cfg = resolve_config(overrides={OPTIONS["features"].path: "context,base,context"})
    assert cfg.env.features == "base,context"
    assert feature_groups(["ranks", "base", "ranks"]) == ("base", "ranks")
    with pytest.raises(ConfigError, match="no feature group"):
        feature_groups([])


def test_sac_strategy_fits_and_allocates_with_every_group() -> None:
    from maxent_portfolio.strategies.base import CASH
    from maxent_portfolio.strategies.sac import SACStrategy

    returns = _factor_returns_with_a_tie(n=200, n_assets=3, seed=4)
    strategy = SACStrategy(train_steps=20, lookback=10, num_envs=2, episode_length=10,
                           device="cpu", validation_fraction=0.0, hidden=(8, 8),
                           learning_starts=5, batch_size=8, features="context,base,ranks",
                           trade_rate=1.0, no_trade_band=0.0,  # allocate returns the action
                           shrinkage="none")  # ... unmixed
    assert strategy.env.features == "base,ranks,context"
    strategy.fit(returns)
    assert strategy.agent_ is not None and strategy.agent_.algorithm.n_features == 13
    t = 150
    current = pd.Series([0.2, 0.3, 0.1, 0.4], index=[*returns.columns, CASH])
    w = strategy.allocate(returns.iloc[: t + 1], current)
    env = PortfolioEnv(universe=returns, lookback=10, episode_length=None,
                       features="base,ranks,context")
    expected = strategy.agent_.act(env.observation_at(t, current.to_numpy()))
    np.testing.assert_allclose(w.to_numpy(), expected, atol=1e-5)
    assert abs(w.sum() - 1) < 1e-9 and (w >= 0).all()


def test_observations_of_many_paths_are_each_path_s_bit_for_bit() -> None:
    """latest_observations (B paths side by side, the last row alone for base) equals
    latest_observation path by path exactly, a window shorter than a momentum's included."""
    from maxent_portfolio.envs.features import latest_observation, latest_observations

    rng = np.random.default_rng(5)
    history = rng.normal(0.0005, 0.02, (6, 80, 4))
    weights = rng.dirichlet(np.ones(5), 6)
    for lookback in (10, 60):
        together = latest_observations(history, weights, lookback, 252, "base")
        alone = np.stack([latest_observation(h, w, lookback, 252, "base")
                          for h, w in zip(history, weights, strict=True)])
        np.testing.assert_array_equal(together, alone)
