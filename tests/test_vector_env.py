"""PortfolioVectorEnv: same numbers as B single envs, SAME_STEP autoreset, batched infos."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from maxent_portfolio.data.market import MarketData
from maxent_portfolio.envs import ENV_ID, PortfolioEnv, PortfolioVectorEnv
from maxent_portfolio.errors import ConfigError

N, B = 5, 6
STEP_KEYS = ("portfolio_value", "gross_return", "net_return", "turnover", "cost", "weights")


@pytest.fixture
def market(synthetic_returns: pd.DataFrame) -> MarketData:
    return MarketData.from_returns(synthetic_returns)


def sync_env(market: MarketData, **kwargs: object) -> SyncVectorEnv:
    return SyncVectorEnv([lambda: PortfolioEnv(universe=market, **kwargs) for _ in range(B)],
                         autoreset_mode=AutoresetMode.SAME_STEP)


def dates(values: np.ndarray) -> np.ndarray:
    return pd.DatetimeIndex(list(values)).to_numpy()


@pytest.mark.parametrize("reward", ["log", "dsr", "mean-var", "drawdown"])
def test_matches_sync_vector_env_of_single_envs(market: MarketData, reward: str) -> None:
    kwargs = {"reward": reward, "episode_length": 7}
    ours = PortfolioVectorEnv(num_envs=B, universe=market, **kwargs)
    ref = sync_env(market, **kwargs)
    obs, info = ours.reset(seed=42)
    obs_ref, info_ref = ref.reset(seed=42)
    np.testing.assert_array_equal(obs, obs_ref)
    np.testing.assert_array_equal(info["date"], dates(info_ref["date"]))
    actions = np.random.default_rng(0).random((30, B, N + 1)).astype(np.float32)
    actions[3] = 0.0  # an all-zero action: uniform weights
    ended = 0
    for a in actions:
        obs, rew, term, trunc, info = ours.step(a)
        obs_ref, rew_ref, term_ref, trunc_ref, info_ref = ref.step(a)
        np.testing.assert_array_equal(obs, obs_ref)
        np.testing.assert_array_equal(rew, rew_ref)
        np.testing.assert_array_equal(term, term_ref)
        np.testing.assert_array_equal(trunc, trunc_ref)
        for key in STEP_KEYS:
            np.testing.assert_array_equal(info[key], info_ref[key], err_msg=key)
        np.testing.assert_array_equal(info["date"], dates(info_ref["date"]))
        assert ("final_obs" in info) == ("final_obs" in info_ref) == trunc.any()
        if trunc.any():
            ended += int(trunc.sum())
            mask = info["_final_obs"]
            np.testing.assert_array_equal(mask, info_ref["_final_obs"])
            np.testing.assert_array_equal(info["final_obs"][mask],
                                          np.stack(info_ref["final_obs"][mask]))
            np.testing.assert_array_equal(info["final_obs"][~mask], obs[~mask])
            final, final_ref = info["final_info"], info_ref["final_info"]
            for key in STEP_KEYS:
                np.testing.assert_array_equal(final[key][mask], final_ref[key][mask])
                np.testing.assert_array_equal(final[f"_{key}"], mask)
            np.testing.assert_array_equal(final["date"][mask], dates(final_ref["date"][mask]))
    assert ended == 4 * B  # episodes of 7 steps in 30 steps, all autoreset


def test_autoreset_returns_new_episode_and_final_obs(market: MarketData) -> None:
    env = PortfolioVectorEnv(num_envs=B, universe=market, episode_length=5, seed=1)
    starts = np.arange(100, 100 + 10 * B, 10)
    env.reset(options={"start": starts})
    action = np.tile(np.append(np.full(N, 0.2), 0.0), (B, 1))
    for _ in range(4):
        obs, _, _, trunc, info = env.step(action)
        assert not trunc.any() and "final_obs" not in info
    values = info["portfolio_value"]
    obs, _, term, trunc, info = env.step(action)
    assert trunc.all() and not term.any()
    assert info["_final_obs"].all() and info["_final_info"].all()
    final = info["final_info"]
    single = PortfolioEnv(universe=market)
    for i in range(B):
        # final_obs is the observation at the episode's last close with the drifted weights.
        np.testing.assert_array_equal(info["final_obs"][i],
                                      single.observation_at(starts[i] + 5, final["weights"][i]))
        assert final["date"][i] == market.returns.index[starts[i] + 5]
        assert final["portfolio_value"][i] == pytest.approx(
            values[i] * (1 + final["net_return"][i]), rel=1e-14)
        # The returned observation starts the next episode, all cash, value 1.
        date = pd.Timestamp(info["date"][i])
        t = market.returns.index.get_loc(date)
        np.testing.assert_array_equal(obs[i], single.observation_at(t, np.eye(N + 1)[-1]))
    assert (info["portfolio_value"] == 1.0).all() and (info["turnover"] == 0.0).all()
    np.testing.assert_array_equal(info["weights"], np.tile(np.eye(N + 1)[-1], (B, 1)))


def test_returned_infos_are_never_changed_afterwards(market: MarketData) -> None:
    """Infos share the env's state arrays (no copies per step); later resets must not write
    into an earlier step's arrays."""
    env = PortfolioVectorEnv(num_envs=B, universe=market, seed=0, episode_length=3)
    env.reset()
    actions = np.full((B, N + 1), 1.0 / (N + 1))
    kept = []
    for _ in range(5):  # crosses an autoreset
        info = env.step(actions)[4]
        kept.append((info, {key: np.copy(info[key]) for key in STEP_KEYS}))
    env.reset(options={"reset_mask": np.arange(B) % 2 == 0, "weights": np.eye(N + 1)[0]})
    env.step(actions)
    for info, copy in kept:
        for key in STEP_KEYS:
            np.testing.assert_array_equal(info[key], copy[key], err_msg=key)


def test_truncates_at_end_of_data(market: MarketData) -> None:
    env = PortfolioVectorEnv(num_envs=2, universe=market, episode_length=None, seed=0)
    last = len(market.returns) - 2
    env.reset(options={"start": [last - 1, last]})  # 2 steps and 1 step of data left
    action = np.full((2, N + 1), 1 / (N + 1))
    _, _, _, trunc, _ = env.step(action)
    np.testing.assert_array_equal(trunc, [False, True])
    _, _, _, trunc, info = env.step(action)
    np.testing.assert_array_equal(trunc, [True, False])
    assert info["final_info"]["date"][0] == np.datetime64(market.returns.index[-1])


def test_seeding_is_deterministic_and_per_env(market: MarketData) -> None:
    a = PortfolioVectorEnv(num_envs=B, universe=market, seed=3)
    b = PortfolioVectorEnv(num_envs=B, universe=market)
    obs_a, info_a = a.reset()
    obs_b, _info_b = b.reset(seed=3)
    np.testing.assert_array_equal(obs_a, obs_b)
    assert len(set(info_a["date"])) > 1  # sub-envs draw their own starts
    single = PortfolioEnv(universe=market)
    for i in range(B):
        assert single.reset(seed=3 + i)[1]["date"] == info_a["date"][i]
    _, info_c = b.reset(seed=[3 + i for i in range(B)])
    np.testing.assert_array_equal(info_c["date"], info_a["date"])


def test_reset_options(market: MarketData) -> None:
    env = PortfolioVectorEnv(num_envs=3, universe=market, episode_length=10, seed=0)
    w = np.array([[0.5, 0, 0, 0, 0, 0.5], [0, 1.0, 0, 0, 0, 0], np.eye(N + 1)[-1]])
    obs, info = env.reset(options={"start": market.returns.index[300], "weights": w})
    np.testing.assert_array_equal(info["weights"], w)
    np.testing.assert_array_equal(obs[:, -(N + 1):], w.astype(np.float32))
    assert (info["date"] == np.datetime64(market.returns.index[300])).all()
    env.step(np.tile(np.eye(N + 1)[0], (3, 1)))
    _, info = env.reset(options={"reset_mask": [False, True, False], "start": 500})
    stamps = pd.DatetimeIndex(info["date"])
    assert stamps[1] == market.returns.index[500] and stamps[0] == market.returns.index[301]
    with pytest.raises(ConfigError):
        env.reset(options={"start": [300, 301]})
    with pytest.raises(ConfigError):
        env.reset(options={"weights": np.ones((3, N + 1))})


def test_spaces_make_vec_and_pickle(market: MarketData) -> None:
    env = gym.make_vec(ENV_ID, num_envs=4, vectorization_mode="vector_entry_point",
                       universe=market, episode_length=3)
    assert isinstance(env, PortfolioVectorEnv)
    assert env.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert env.observation_space.shape == (4, env.obs_dim)
    assert env.action_space.shape == (4, N + 1)
    assert env.single_observation_space == PortfolioEnv(universe=market).observation_space
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(5):
        action = env.action_space.sample()
        obs, rew, *_ = env.step(action)
        obs_c, rew_c, *_ = clone.step(action)
        assert env.observation_space.contains(obs)
        np.testing.assert_array_equal(obs, obs_c)
        np.testing.assert_array_equal(rew, rew_c)


def test_bad_arguments(market: MarketData) -> None:
    with pytest.raises(ConfigError):
        PortfolioVectorEnv(num_envs=0, universe=market)
    with pytest.raises(ConfigError):
        PortfolioVectorEnv(num_envs=2, universe=market, reward="sharpe")
    env = PortfolioVectorEnv(num_envs=2, universe=market)
    with pytest.raises(RuntimeError):
        env.step(np.zeros((2, N + 1)))
    env.reset(seed=0)
    with pytest.raises(ValueError):
        env.step(np.zeros(N + 1))


def test_state_dict_resumes_the_same_episodes(market: MarketData) -> None:
    env = PortfolioVectorEnv(num_envs=3, universe=market, reward="dsr", episode_length=4, seed=9)
    env.reset()
    actions = np.random.default_rng(5).random((12, 3, N + 1))
    for a in actions[:6]:
        env.step(a)
    state = env.state_dict()
    assert all(isinstance(x, list) for k, x in state.items() if k != "num_envs")
    later = [env.step(a) for a in actions[6:]]
    resumed = PortfolioVectorEnv(num_envs=3, universe=market, reward="dsr", episode_length=4)
    resumed.load_state_dict(state)
    for a, ref in zip(actions[6:], later, strict=True):
        obs, rew, _, trunc, info = resumed.step(a)
        np.testing.assert_array_equal(obs, ref[0])
        np.testing.assert_array_equal(rew, ref[1])
        np.testing.assert_array_equal(trunc, ref[3])
        np.testing.assert_array_equal(info["portfolio_value"], ref[4]["portfolio_value"])
    assert any(ref[3].any() for ref in later)  # the comparison spans an autoreset
    with pytest.raises(ConfigError):
        PortfolioVectorEnv(num_envs=2, universe=market).load_state_dict(state)
