"""PortfolioEnv: gymnasium API, determinism, no look-ahead, parity with the backtest engine."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env

import maxent_portfolio.envs  # noqa: F401 - registers the environment
from maxent_portfolio.backtest.engine import run_backtest
from maxent_portfolio.backtest.walkforward import Fold
from maxent_portfolio.data.market import MarketData
from maxent_portfolio.envs import ENV_ID, PortfolioEnv
from maxent_portfolio.envs.features import (
    FEATURE_NAMES,
    compute_features,
    latest_observation,
)
from maxent_portfolio.envs.portfolio import to_weights
from maxent_portfolio.errors import ConfigError, DataError
from maxent_portfolio.strategies.baselines import EqualWeight

N = 5


@pytest.fixture
def market(synthetic_returns: pd.DataFrame) -> MarketData:
    return MarketData.from_returns(synthetic_returns)


def rollout(env: PortfolioEnv, actions: np.ndarray) -> list[tuple]:
    """Step through ``actions``, resetting (without a seed) when an episode ends."""
    out = []
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        out.append((obs, reward, terminated, truncated, info))
        if truncated:
            env.reset()
    return out


# -- gymnasium API ------------------------------------------------------------------------------


@pytest.mark.parametrize("reward", ["log", "dsr", "mean-var", "drawdown"])
@pytest.mark.parametrize("action_mode", ["simplex", "logits"])
def test_check_env_passes(market: MarketData, reward: str, action_mode: str) -> None:
    env = PortfolioEnv(universe=market, reward=reward, action_mode=action_mode, episode_length=50)
    check_env(env, skip_render_check=True)


def test_spaces_and_attributes(market: MarketData) -> None:
    env = PortfolioEnv(universe=market)
    assert (env.n_assets, env.n_features) == (N, len(FEATURE_NAMES))
    # Row-major arrays: every step gathers whole rows (strided rows cost the vector env 2x).
    assert env.market.growth.flags.c_contiguous and env.market.features.flags.c_contiguous
    assert env.obs_dim == N * env.n_features + N + 1
    assert env.observation_space.shape == (env.obs_dim,)
    assert env.observation_space.dtype == np.float32
    assert np.isfinite(env.observation_space.low).all()
    assert np.isfinite(env.observation_space.high).all()
    assert env.action_space.shape == (N + 1,)
    assert (env.action_space.low == 0).all() and (env.action_space.high == 1).all()
    logits = PortfolioEnv(universe=market, action_mode="logits").action_space
    assert (logits.low == -20).all() and (logits.high == 20).all()


def test_registered_make_with_kwargs(market: MarketData) -> None:
    env = gym.make(ENV_ID, universe=market, episode_length=10)
    obs, _ = env.reset(seed=3)
    assert obs.shape == (env.unwrapped.obs_dim,)  # type: ignore[attr-defined]
    for _ in range(10):
        *_, truncated, _ = env.step(env.action_space.sample())
    assert truncated


def test_make_without_arguments_uses_sp500() -> None:
    data = pytest.importorskip("maxent_portfolio.data")
    if not hasattr(data, "load_universe"):
        pytest.skip("maxent_portfolio.data.load_universe is not written yet")
    env = gym.make(ENV_ID)
    obs, _info = env.reset(seed=0)
    assert env.unwrapped.n_assets == 20  # type: ignore[attr-defined]
    assert env.observation_space.contains(obs)
    env.step(env.action_space.sample())


# -- determinism and pickling --------------------------------------------------------------------


def test_same_seed_same_episode(market: MarketData) -> None:
    actions = np.random.default_rng(0).random((120, N + 1)).astype(np.float32)
    runs = []
    for _ in range(2):
        env = PortfolioEnv(universe=market, reward="dsr", episode_length=40)
        obs, info = env.reset(seed=11)
        runs.append(([obs], info["date"], rollout(env, actions)))
    (obs_a, date_a, steps_a), (obs_b, date_b, steps_b) = runs
    np.testing.assert_array_equal(obs_a[0], obs_b[0])
    assert date_a == date_b
    for a, b in zip(steps_a, steps_b, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:4] == b[1:4]
        assert a[4]["date"] == b[4]["date"]
        np.testing.assert_array_equal(a[4]["weights"], b[4]["weights"])
    other = PortfolioEnv(universe=market, episode_length=40)
    starts = {other.reset(seed=s)[1]["date"] for s in range(5)}
    assert len(starts) > 1  # the start really is random


def test_pickles_and_steps_identically(market: MarketData) -> None:
    env = PortfolioEnv(universe=market, reward="mean-var", episode_length=30)
    env.reset(seed=5)
    actions = np.random.default_rng(1).random((70, N + 1))
    rollout(env, actions[:10])
    clone = pickle.loads(pickle.dumps(env))
    for a, b in zip(rollout(env, actions[10:]), rollout(clone, actions[10:]), strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:4] == b[1:4]
        assert a[4]["portfolio_value"] == b[4]["portfolio_value"]
    made = gym.make(ENV_ID, universe=market)
    made.reset(seed=1)
    pickle.loads(pickle.dumps(made)).step(np.full(N + 1, 1 / (N + 1)))


# -- observations: features and look-ahead -------------------------------------------------------


def test_observation_uses_data_up_to_t_only(synthetic_returns: pd.DataFrame) -> None:
    t = 300
    base = PortfolioEnv(universe=synthetic_returns, lookback=60)
    weights = np.array([0.1, 0.2, 0.3, 0.1, 0.1, 0.2])
    obs = base.observation_at(t, weights)

    after = synthetic_returns.copy()
    after.iloc[t + 1:] = np.random.default_rng(3).normal(0, 0.05, after.iloc[t + 1:].shape)
    np.testing.assert_array_equal(
        PortfolioEnv(universe=after, lookback=60).observation_at(t, weights), obs)
    before = synthetic_returns.copy()
    before.iloc[: t - 60 + 1] = 0.03  # outside the lookback window: unchanged too
    np.testing.assert_allclose(
        PortfolioEnv(universe=before, lookback=60).observation_at(t, weights), obs, atol=1e-5)

    at_t = synthetic_returns.copy()
    at_t.iloc[t] += 0.02  # the same test must fail when the perturbation reaches t
    changed = PortfolioEnv(universe=at_t, lookback=60).observation_at(t, weights)
    assert not np.allclose(changed, obs, atol=1e-5)


def test_features_match_their_definitions(synthetic_returns: pd.DataFrame) -> None:
    lookback, t = 60, 500
    env = PortfolioEnv(universe=synthetic_returns, lookback=lookback)
    weights = np.eye(N + 1)[2]
    obs = env.observation_at(t, weights)
    feats = obs[: N * env.n_features].reshape(N, env.n_features)
    np.testing.assert_array_equal(obs[N * env.n_features:], weights.astype(np.float32))
    x = np.log1p(synthetic_returns.to_numpy())
    window = x[t - lookback + 1: t + 1]
    s = window.std(axis=0, ddof=1)
    expected = np.column_stack([
        x[t] / s,
        *[window[-h:].sum(axis=0) / (s * np.sqrt(h)) for h in (5, 20, 60)],
        *[window[-h:].std(axis=0, ddof=1) * np.sqrt(252) for h in (20, 60)],
        np.concatenate([[np.zeros(N)], np.cumsum(window, axis=0)]).max(axis=0) * -1
        + window.sum(axis=0),
    ])
    np.testing.assert_allclose(feats, expected, rtol=1e-5, atol=1e-6)
    assert (feats[:, -1] <= 0).all() and (feats[:, 4:6] > 0).all()


def test_latest_observation_matches_env(synthetic_returns: pd.DataFrame) -> None:
    env = PortfolioEnv(universe=synthetic_returns, lookback=40)
    weights = np.array([0.2, 0.2, 0.2, 0.2, 0.1, 0.1])
    values = synthetic_returns.to_numpy()
    for t in (39, 400, len(values) - 1):
        np.testing.assert_allclose(latest_observation(values[: t + 1], weights, lookback=40),
                                   env.observation_at(t, weights), rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError):
        env.observation_at(38, weights)
    with pytest.raises(DataError):
        latest_observation(values[:39], weights, lookback=40)


def test_features_are_clipped_and_finite() -> None:
    idx = pd.bdate_range("2020-01-01", periods=200)
    r = np.full((200, 2), 0.001)
    r[150, 0] = 1e6  # a price that jumps a million-fold ...
    r[150, 1] = -0.99999  # ... and one that all but vanishes
    feats = compute_features(r, lookback=30)
    assert np.isnan(feats[:29]).all() and np.isfinite(feats[29:]).all()
    assert feats[150, 0, 4] == 10.0  # annualised volatility clipped at 1000%
    assert feats[150, 1, 6] == -10.0  # log drawdown clipped
    env = PortfolioEnv(universe=pd.DataFrame(r, index=idx), lookback=30, episode_length=None)
    obs, _ = env.reset(options={"start": 140})
    for _ in range(58):
        assert env.observation_space.contains(obs)
        obs, *_ = env.step(np.array([0.5, 0.0, 0.5]))


# -- arithmetic: parity with the backtest engine --------------------------------------------------


@pytest.mark.parametrize("cash_return", [0.0, 0.0001])
def test_equal_weight_reproduces_run_backtest(synthetic_returns: pd.DataFrame,
                                              cash_return: float) -> None:
    start = 250  # decision position of the first rebalance
    env = PortfolioEnv(universe=synthetic_returns, cost_bps=10.0, episode_length=None,
                       cash_return=cash_return)
    _, info = env.reset(options={"start": start})
    assert info["date"] == synthetic_returns.index[start]
    action = np.append(np.full(N, 1.0 / N), 0.0)
    nets, gross, turnover, costs, weights, dates = [], [], [], [], [], []
    truncated = False
    while not truncated:
        _obs, reward, terminated, truncated, info = env.step(action)
        assert not terminated
        assert reward == np.log1p(info["net_return"])
        nets.append(info["net_return"])
        gross.append(info["gross_return"])
        turnover.append(info["turnover"])
        costs.append(info["cost"])
        weights.append(info["weights"])
        dates.append(info["date"])

    n = len(synthetic_returns)
    result = run_backtest(synthetic_returns, EqualWeight(), splits=[Fold(0, start, start + 1, n)],
                          rebalance="daily", cost_bps=10.0, cash_return=cash_return)
    assert len(nets) == n - 1 - start == len(result.returns)
    assert list(result.returns.index) == dates
    np.testing.assert_allclose(nets, result.returns.to_numpy(), rtol=1e-12, atol=0)
    np.testing.assert_allclose(gross, result.gross_returns.to_numpy(), rtol=1e-12, atol=0)
    np.testing.assert_allclose(turnover, result.turnover.to_numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(costs, result.costs.to_numpy(), rtol=1e-12, atol=1e-18)
    # The weights drifted into each close are what the engine trades from next.
    np.testing.assert_allclose(np.array(weights)[:-1], result.drifted.to_numpy()[1:],
                               rtol=1e-12, atol=1e-15)
    assert info["portfolio_value"] == pytest.approx(result.equity.iloc[-1], rel=1e-12)
    assert turnover[0] == pytest.approx(1.0)  # from all cash into 1/N


def test_start_by_date_and_initial_weights(market: MarketData) -> None:
    env = PortfolioEnv(universe=market, episode_length=5)
    day = market.returns.index[400]
    _, info = env.reset(options={"start": day})
    assert info["date"] == day
    _, info = env.reset(options={"start": day + pd.Timedelta(hours=12)})
    assert info["date"] == day  # between closes: the last close before
    w0 = np.array([0.3, 0.2, 0.1, 0.1, 0.1, 0.2])
    obs, info = env.reset(options={"start": 400, "weights": w0})
    np.testing.assert_allclose(obs[-(N + 1):], w0, rtol=1e-6)
    *_, info = env.step(w0)
    assert info["turnover"] == 0.0 and info["cost"] == 0.0
    with pytest.raises(ConfigError):
        env.reset(options={"weights": [0.5, 0.5]})
    with pytest.raises(ConfigError):
        env.reset(options={"start": 10})  # before a full lookback window
    with pytest.raises(ConfigError):
        env.reset(options={"start": "not a date"})


# -- actions --------------------------------------------------------------------------------------


def test_action_maps() -> None:
    on_simplex = np.array([[0.1, 0.2, 0.3, 0.4], np.full(4, 0.25)])
    np.testing.assert_array_equal(to_weights(on_simplex, "simplex"), on_simplex)
    raw = np.array([[1.0, 1.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0], [-1.0, 1.0, 1.0, 0.0]])
    np.testing.assert_allclose(to_weights(raw, "simplex"),
                               [[0.25, 0.25, 0.5, 0.0], [0.25] * 4, [0.0, 0.5, 0.5, 0.0]])
    logits = np.array([[0.0, np.log(3.0), 0.0, 0.0], [100.0, 0.0, 0.0, 0.0]])
    w = to_weights(logits, "logits")
    np.testing.assert_allclose(w[0], [1 / 6, 1 / 2, 1 / 6, 1 / 6])
    assert w[1, 0] == pytest.approx(1.0) and w[1, 1] == pytest.approx(np.exp(-20.0))
    for mode in ("simplex", "logits"):
        with pytest.raises(ValueError):
            to_weights(np.array([[np.nan, 1.0, 0.0, 0.0]]), mode)


def test_first_step_turnover_from_cash(market: MarketData) -> None:
    env = PortfolioEnv(universe=market)
    env.reset(seed=0)
    *_, info = env.step(np.array([2.0, 0.0, 0.0, 1.0, 0.0, 1.0]))  # -> 0.5, 0, 0, .25, 0, .25
    assert info["turnover"] == pytest.approx(0.75)
    assert info["cost"] == pytest.approx(0.75 * 10e-4)


# -- rewards --------------------------------------------------------------------------------------


def _reference_rewards(kind: str, growth: np.ndarray, prior: float, lam: float,
                       eta: float) -> np.ndarray:
    """Loop implementation straight from the docstring (peak tracking for drawdowns)."""
    a, b, log_value, peak, out = 0.0, prior, 0.0, 0.0, []
    for g in growth:
        if kind == "dsr":
            var = b - a * a
            out.append((b * (g - a) - 0.5 * a * (g * g - b)) / var ** 1.5)
        elif kind == "mean-var":
            out.append(g - lam * (g - a) ** 2)
        else:
            before = peak - log_value
            log_value += g
            peak = max(peak, log_value)
            out.append(g - lam * max(0.0, (peak - log_value) - before))
        a, b = a + eta * (g - a), b + eta * (g * g - b)
    return np.array(out)


@pytest.mark.parametrize("kind", ["dsr", "mean-var", "drawdown"])
def test_shaped_rewards_follow_their_definitions(synthetic_returns: pd.DataFrame,
                                                 kind: str) -> None:
    env = PortfolioEnv(universe=synthetic_returns, reward=kind, risk_aversion=3.0, eta=0.05,
                       episode_length=80)
    env.reset(options={"start": 200})
    actions = np.random.default_rng(2).random((80, N + 1))
    steps = [env.step(a) for a in actions]
    growth = np.log1p([s[4]["net_return"] for s in steps])
    x = np.log1p(synthetic_returns.to_numpy()[200 - 59: 201])
    prior = float((x * x).mean())
    expected = _reference_rewards(kind, growth, prior, 3.0, 0.05)
    np.testing.assert_allclose([s[1] for s in steps], expected, rtol=1e-9, atol=1e-12)
    if kind == "dsr":
        assert steps[0][1] == pytest.approx(growth[0] / np.sqrt(prior))


def test_log_rewards_sum_to_log_value(market: MarketData) -> None:
    env = PortfolioEnv(universe=market, episode_length=100)
    env.reset(seed=4)
    total, truncated = 0.0, False
    while not truncated:
        _, reward, _, truncated, info = env.step(env.action_space.sample())
        total += reward
    assert total == pytest.approx(np.log(info["portfolio_value"]), rel=1e-10)


def test_a_reward_is_one_registry_entry(market: MarketData,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Both envs dispatch through ``REWARD_FUNCTIONS``: registering a function is enough."""
    from maxent_portfolio.envs import PortfolioVectorEnv
    from maxent_portfolio.envs.rewards import REWARD_FUNCTIONS, REWARDS, RewardState

    assert REWARDS == tuple(REWARD_FUNCTIONS) == ("log", "dsr", "mean-var", "drawdown")

    def doubled(growth: np.ndarray, moments: RewardState, risk_aversion: float,
                eta: float) -> tuple[np.ndarray, RewardState]:
        return 2.0 * growth, moments

    monkeypatch.setitem(REWARD_FUNCTIONS, "doubled", doubled)
    env = PortfolioEnv(universe=market, reward="doubled", episode_length=5)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(np.full(N + 1, 1.0 / (N + 1)))
    assert reward == 2.0 * np.log1p(info["net_return"])
    vec = PortfolioVectorEnv(num_envs=2, universe=market, reward="doubled", episode_length=5,
                             seed=0)
    vec.reset()
    _, rewards, _, _, infos = vec.step(np.full((2, N + 1), 1.0 / (N + 1)))
    np.testing.assert_array_equal(rewards, 2.0 * np.log1p(infos["net_return"]))
    with pytest.raises(ConfigError, match="doubled"):  # the message lists the registry
        PortfolioEnv(universe=market, reward="sharpe")


# -- episodes -------------------------------------------------------------------------------------


def test_episode_length_and_end_of_data(market: MarketData) -> None:
    env = PortfolioEnv(universe=market, episode_length=25)
    for seed in range(3):
        env.reset(seed=seed)
        flags = [env.step(env.action_space.sample())[2:4] for _ in range(25)]
        assert flags[-1] == (False, True) and all(f == (False, False) for f in flags[:-1])

    last = len(market.returns) - 2  # the last decision position
    env.reset(options={"start": last - 3})
    flags = [env.step(env.action_space.sample())[2:4] for _ in range(4)]
    assert flags[-1] == (False, True)  # data ran out before 25 steps: truncated
    with pytest.raises(RuntimeError):
        env.step(env.action_space.sample())

    whole = PortfolioEnv(universe=market, episode_length=None)
    _, info = whole.reset(seed=0)
    start = market.returns.index.get_loc(info["date"])
    count, truncated = 0, False
    while not truncated:
        *_, truncated, info = whole.step(whole.action_space.sample())
        count += 1
    assert count == last + 1 - start
    assert info["date"] == market.returns.index[-1]


@pytest.mark.parametrize("kwargs", [
    {"reward": "sharpe"}, {"action_mode": "weights"}, {"lookback": 1}, {"lookback": 2.5},
    {"episode_length": 0}, {"episode_length": True}, {"cost_bps": -1.0},
    {"cost_bps": float("nan")}, {"cost_bps": [1.0, 2.0]}, {"cash_return": -1.0},
    {"risk_aversion": -0.1}, {"eta": 0.0}, {"eta": 1.0}, {"universe": 42},
])
def test_bad_arguments_raise_config_error(market: MarketData, kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        PortfolioEnv(**{"universe": market, **kwargs})


def test_too_little_data_raises_data_error(synthetic_returns: pd.DataFrame) -> None:
    with pytest.raises(DataError):
        PortfolioEnv(universe=synthetic_returns.iloc[:100], lookback=60, episode_length=252)
    with pytest.raises(DataError):
        PortfolioEnv(universe=synthetic_returns, start="2010-01-04", end="2010-02-26")
    PortfolioEnv(universe=synthetic_returns.iloc[:100], lookback=60, episode_length=40)
