"""The decision period is the rebalance schedule: the envs step one holding interval at a time,
on the engine's decision dates, with the engine's arithmetic."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from maxent_portfolio.arithmetic import step as arithmetic_step
from maxent_portfolio.backtest.engine import run_backtest
from maxent_portfolio.backtest.walkforward import Fold
from maxent_portfolio.config import resolve_config
from maxent_portfolio.data.market import MarketData
from maxent_portfolio.envs import PortfolioEnv, PortfolioVectorEnv, latest_observation
from maxent_portfolio.envs.config import EnvConfig
from maxent_portfolio.envs.decisions import DecisionClock
from maxent_portfolio.errors import ConfigError, DataError
from maxent_portfolio.options import describe_error
from maxent_portfolio.rebalance import Schedule
from maxent_portfolio.strategies.base import CASH, Strategy, StrategyContext

N, LOOKBACK = 5, 20
MIX = np.array([0.25, 0.0625, 0.25, 0.125, 0.1875, 0.125])  # sums to 1 exactly; cash last
PERIODS = ["weekly", "monthly", "quarterly", "every:7"]


@pytest.fixture
def market(synthetic_returns: pd.DataFrame) -> MarketData:
    return MarketData.from_returns(synthetic_returns)


def decisions_of(env: PortfolioEnv, start: int, steps: int) -> list[int]:
    """Decision positions of one episode from ``start``, read from the env's step dates."""
    env.reset(options={"start": start})
    out = [start]
    for _ in range(steps):
        *_, truncated, info = env.step(MIX)
        out.append(int(env.dates.get_loc(info["date"])))
        if truncated:
            break
    return out


# -- decision dates ------------------------------------------------------------------------------


@pytest.mark.parametrize("period", ["daily", *PERIODS])
def test_decisions_are_the_engines_for_a_fold_opening_at_the_start(market: MarketData,
                                                                   period: str) -> None:
    env = PortfolioEnv(universe=market, lookback=LOOKBACK, episode_length=None,
                       decision_period=period)
    last = len(env.dates) - 2
    for start in (LOOKBACK - 1, 123, 400, 401, 402, last - 30):
        engine = start + np.flatnonzero(Schedule.parse(period).flags(env.dates, start, last))
        # The engine's last holding segment ends at the data's end; so does the env's episode.
        expected = [*engine.tolist(), last + 1]
        assert decisions_of(env, start, len(expected)) == expected


def test_calendar_decisions_fall_on_period_ends(market: MarketData) -> None:
    env = PortfolioEnv(universe=market, lookback=LOOKBACK, episode_length=5,
                       decision_period="monthly")
    steps = decisions_of(env, 130, 5)  # mid-month start: a first, shorter interval
    dates = env.dates
    for t in steps[1:]:
        assert dates[t].month != dates[t + 1].month  # the last trading day of its month
    assert dates[steps[0]].month == dates[steps[1]].month
    assert len(steps) == 6  # episode_length counts decisions


def test_episode_length_counts_decisions_and_start_leaves_room(market: MarketData) -> None:
    env = PortfolioEnv(universe=market, lookback=LOOKBACK, episode_length=12,
                       decision_period="monthly")
    starts = set()
    for seed in range(40):
        env.reset(seed=seed)
        steps = 0
        while True:
            *_, truncated, _ = env.step(MIX)
            steps += 1
            if truncated:
                break
        assert steps == 12
        starts.add(env._t)
    assert len(starts) > 20
    clock = env.clock
    latest = clock.latest_start(env.market.first, 12)
    assert clock.steps_from(latest) >= 12 > clock.steps_from(latest + 1)


def test_a_too_long_episode_or_a_drift_period_is_refused(market: MarketData) -> None:
    with pytest.raises(DataError, match="monthly decisions"):
        PortfolioEnv(universe=market, lookback=LOOKBACK, episode_length=100,
                     decision_period="monthly")
    with pytest.raises(ConfigError, match="--decision-period"):
        PortfolioEnv(universe=market, decision_period="drift:0.05")
    with pytest.raises(ConfigError, match="--decision-period"):
        PortfolioVectorEnv(num_envs=2, universe=market, decision_period="drift:0.05")
    with pytest.raises(ConfigError, match="unknown rebalance schedule"):
        PortfolioEnv(universe=market, decision_period="fortnightly")


# -- daily: the env of before, bit for bit -------------------------------------------------------


def test_daily_steps_are_the_one_period_arithmetic_bit_for_bit(market: MarketData) -> None:
    env = PortfolioEnv(universe=market, lookback=LOOKBACK, episode_length=50, reward="dsr")
    assert env.decision_period == "daily"
    assert np.shares_memory(env.held_growth, env.market.growth)  # the rows themselves
    every1 = PortfolioEnv(universe=market, lookback=LOOKBACK, episode_length=50, reward="dsr",
                          decision_period="every:1")
    actions = np.random.default_rng(3).random((50, N + 1))
    env.reset(options={"start": 200})
    every1.reset(options={"start": 200})
    weights, t = np.eye(N + 1)[-1][None], 200
    for a in actions:
        _, reward, _, _, info = env.step(a)
        assert every1.step(a)[1] == reward
        # What the daily env computed before decision periods existed: one growth row.
        net, *_, drifted = arithmetic_step(a[None] / a.sum(), weights,
                                           growth=env.market.growth[t + 1: t + 2],
                                           cost_rate=env.market.cost_rate[0])
        t += 1
        weights = drifted
        np.testing.assert_array_equal(info["weights"], drifted[0])
        assert info["net_return"] == net[0]
        assert info["date"] == env.dates[t]


# -- parity with the engine ----------------------------------------------------------------------


class Spy(Strategy):
    """Holds MIX; records what the engine shows ``allocate``."""

    name = "spy"
    description = "constant mix, records its calls"

    def __init__(self) -> None:
        self.calls: list[tuple[pd.DataFrame, pd.Series]] = []

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        self.calls.append((history, current.copy()))
        return pd.Series(MIX, index=current.index)


@pytest.mark.parametrize("period", ["monthly", "every:7"])
def test_monthly_steps_equal_the_engines_periods(synthetic_returns: pd.DataFrame,
                                                 period: str) -> None:
    returns = synthetic_returns
    n, opening = len(returns), 331  # the test window opens mid-month
    spy = Spy()
    result = run_backtest(returns, spy, splits=[Fold(0, opening, opening, n)], rebalance=period,
                          cost_bps=10.0)
    env = PortfolioEnv(universe=returns, lookback=LOOKBACK, cost_bps=10.0, episode_length=None,
                       decision_period=period)
    obs, info = env.reset(options={"start": opening - 1})
    decisions = result.targets.index
    assert len(decisions) > 10
    net = np.log1p(result.returns)
    for i, date in enumerate(decisions):
        assert info["date"] == date
        # The state the agent sees is what allocate is shown at the same decision.
        history, current = spy.calls[i]
        np.testing.assert_array_equal(info["weights"] if i else env.initial_weights(None),
                                      current.to_numpy())
        np.testing.assert_array_equal(result.drifted.iloc[i].to_numpy(), current.to_numpy())
        np.testing.assert_allclose(obs, latest_observation(history.to_numpy(),
                                                           current.to_numpy(), LOOKBACK,
                                                           env.market.periods_per_year),
                                   atol=1e-5)
        obs, reward, _, truncated, info = env.step(MIX)
        assert info["turnover"] == result.turnover.iloc[i]
        assert info["cost"] == result.costs.iloc[i]
        end = decisions[i + 1] if i + 1 < len(decisions) else returns.index[-1]
        interval = net[(net.index > date) & (net.index <= end)]  # earned after the decision
        assert len(interval) == returns.index.get_loc(end) - returns.index.get_loc(date)
        np.testing.assert_allclose(reward, interval.sum(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(info["portfolio_value"],
                                   (1 + result.returns.loc[:end]).prod(), rtol=1e-12)
    assert truncated and info["date"] == returns.index[-1]


def test_changing_returns_after_t_leaves_earlier_decisions_unchanged(
        synthetic_returns: pd.DataFrame) -> None:
    cut = 600
    perturbed = synthetic_returns.copy()
    perturbed.iloc[cut + 1:] = -3.0 * perturbed.iloc[cut + 1:]
    runs = []
    for returns in (synthetic_returns, perturbed):
        env = PortfolioEnv(universe=returns, lookback=LOOKBACK, episode_length=None,
                           decision_period="monthly", reward="dsr")
        obs, info = env.reset(options={"start": 400})
        steps = [(obs, 0.0, info)]
        actions = np.random.default_rng(0).random((20, N + 1))
        for a in actions:
            obs, reward, _, _, info = env.step(a)
            steps.append((obs, reward, info))
        runs.append(steps)
    checked = 0
    for (obs, reward, info), (obs_p, reward_p, _) in zip(*runs, strict=True):
        if info["date"] <= synthetic_returns.index[cut]:
            np.testing.assert_array_equal(obs, obs_p)
            assert reward == reward_p
            checked += 1
        else:
            assert reward != reward_p  # the check sees the change once it can
            break
    assert checked >= 8


# -- vector env ----------------------------------------------------------------------------------


@pytest.mark.parametrize("reward", ["log", "dsr"])
def test_vector_env_equals_single_envs_monthly(market: MarketData, reward: str) -> None:
    kwargs: dict[str, Any] = {"reward": reward, "episode_length": 4, "lookback": LOOKBACK,
                              "decision_period": "monthly"}
    b = 5
    ours = PortfolioVectorEnv(num_envs=b, universe=market, **kwargs)
    ref = SyncVectorEnv([lambda: PortfolioEnv(universe=market, **kwargs) for _ in range(b)],
                        autoreset_mode=AutoresetMode.SAME_STEP)
    obs, _ = ours.reset(seed=4)
    obs_ref, _ = ref.reset(seed=4)
    np.testing.assert_array_equal(obs, obs_ref)
    ended = 0
    for a in np.random.default_rng(1).random((13, b, N + 1)):
        obs, rew, _, trunc, info = ours.step(a)
        obs_ref, rew_ref, _, trunc_ref, info_ref = ref.step(a)
        np.testing.assert_array_equal(obs, obs_ref)
        np.testing.assert_array_equal(rew, rew_ref)
        np.testing.assert_array_equal(trunc, trunc_ref)
        np.testing.assert_array_equal(info["date"],
                                      pd.DatetimeIndex(list(info_ref["date"])).to_numpy())
        for key in ("portfolio_value", "net_return", "turnover", "weights"):
            np.testing.assert_array_equal(info[key], info_ref[key], err_msg=key)
        if trunc.any():
            ended += int(trunc.sum())
            np.testing.assert_array_equal(info["final_obs"][trunc],
                                          np.stack(info_ref["final_obs"][trunc]))
    assert ended == 3 * b


def test_vector_state_dict_resumes_monthly_episodes_exactly(market: MarketData) -> None:
    kwargs: dict[str, Any] = {"reward": "mean-var", "episode_length": 3, "lookback": LOOKBACK,
                              "decision_period": "monthly"}
    env = PortfolioVectorEnv(num_envs=3, universe=market, seed=2, **kwargs)
    env.reset()
    actions = np.random.default_rng(8).random((10, 3, N + 1))
    for a in actions[:4]:  # mid-episode: the episodes are one step into their second run
        env.step(a)
    state = env.state_dict()
    later = [env.step(a) for a in actions[4:]]
    resumed = PortfolioVectorEnv(num_envs=3, universe=market, **kwargs)
    resumed.load_state_dict(state)
    for a, ref in zip(actions[4:], later, strict=True):
        obs, rew, _, trunc, info = resumed.step(a)
        np.testing.assert_array_equal(obs, ref[0])
        np.testing.assert_array_equal(rew, ref[1])
        np.testing.assert_array_equal(trunc, ref[3])
        np.testing.assert_array_equal(info["date"], ref[4]["date"])
        np.testing.assert_array_equal(info["portfolio_value"], ref[4]["portfolio_value"])
    assert any(ref[3].any() for ref in later)


def test_dsr_starts_from_a_second_moment_scaled_to_the_interval(market: MarketData) -> None:
    daily = PortfolioEnv(universe=market, lookback=LOOKBACK, reward="dsr", episode_length=2)
    weekly = PortfolioEnv(universe=market, lookback=LOOKBACK, reward="dsr", episode_length=2,
                          decision_period="every:5")
    np.testing.assert_array_equal(weekly.dsr_prior, 5.0 * daily.dsr_prior)
    weekly.reset(options={"start": 300})
    _, reward, _, _, info = weekly.step(MIX)
    growth = np.log1p(info["net_return"])
    assert reward == pytest.approx(growth / np.sqrt(weekly.dsr_prior[300]), rel=1e-12)


def test_clock_of_a_calendar_schedule_is_the_engines_flags(market: MarketData) -> None:
    clock = DecisionClock.build("quarterly", market.returns.index)
    dates = pd.DatetimeIndex(market.returns.index)
    flags = Schedule.parse("quarterly").flags(dates, 50, len(dates) - 2)
    assert clock.following[50] == 50 + np.flatnonzero(flags)[1]


# -- the option and the strategy -----------------------------------------------------------------


def test_decision_period_option_validates_and_is_a_flag() -> None:
    assert EnvConfig().decision_period == "rebalance"  # chosen on the development protocol
    assert EnvConfig(decision_period="every:5").decision_period == "every:5"
    with pytest.raises(Exception) as caught:
        EnvConfig(decision_period="drift:0.1")
    assert "--decision-period" in str(describe_error(caught.value))  # type: ignore[arg-type]
    config = resolve_config(overrides={"env.decision_period": "weekly"})
    assert config.env.decision_period == "weekly"


def _sac(**overrides: Any) -> Strategy:
    from maxent_portfolio.strategies.sac import SACStrategy

    config = resolve_config(overrides=overrides)
    return SACStrategy.from_context(StrategyContext(config, 252, 0))


def test_sac_decides_at_the_runs_rebalance_unless_told(monkeypatch: pytest.MonkeyPatch,
                                                      synthetic_returns: pd.DataFrame) -> None:
    import maxent_portfolio.strategies.sac as sac_module

    assert _sac(**{"schedule.rebalance": "weekly"}).decision_period == "weekly"  # type: ignore[attr-defined]
    assert _sac(**{"schedule.rebalance": "weekly", "env.decision_period": "daily"}
                ).decision_period == "daily"  # type: ignore[attr-defined]
    strategy = _sac(**{"schedule.rebalance": "weekly", "env.decision_period": "every:3",
                       "env.lookback": LOOKBACK, "sac.validation_fraction": 0.2,
                       "sac.shrinkage": "none"})  # the fold's own agent is the first trained
    assert strategy.decision_period == "every:3"  # type: ignore[attr-defined]
    built: list[Any] = []

    def fake_train(env: Any, *args: Any, eval_env: Any = None, **kwargs: Any) -> Any:
        built.extend([env, eval_env])
        raise KeyboardInterrupt  # stop before any training

    monkeypatch.setattr(sac_module, "train", fake_train)
    with pytest.raises(KeyboardInterrupt):
        strategy.fit(synthetic_returns.iloc[:300])
    env, eval_env = built
    assert env.decision_period == eval_env.decision_period == "every:3"
    # 240 training rows: decisions every 3 from position 19 to the end fit 74 steps.
    assert env.config.episode_length == 74 == env.clock.steps_from(LOOKBACK - 1)
    with pytest.raises(ConfigError, match=r"--rebalance.*--decision-period"):
        _sac(**{"schedule.rebalance": "drift:0.05", "env.decision_period": "rebalance"})
    with pytest.raises(ConfigError, match=r"--rebalance.*--decision-period"):  # the default
        _sac(**{"schedule.rebalance": "drift:0.05"})
    assert _sac(**{"schedule.rebalance": "drift:0.05", "env.decision_period": "daily"}
                ).decision_period == "daily"  # type: ignore[attr-defined]
    assert _sac(**{"schedule.rebalance": "drift:0.05",
                   "env.decision_period": "monthly"}).decision_period == "monthly"  # type: ignore[attr-defined]
    from maxent_portfolio.strategies.sac import SACStrategy

    assert SACStrategy().decision_period == "monthly"  # no run: the engine's default schedule
    assert SACStrategy(decision_period="daily").decision_period == "daily"
    assert CASH  # the cash column name the spy's weights are indexed by
