"""Shrinkage toward 1/N by evidence: the mix by hand, and the sac strategy that uses it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from maxent_portfolio.errors import DataError
from maxent_portfolio.strategies.sac import SACStrategy
from maxent_portfolio.strategies.shrinkage import (
    blend_excess_growth,
    evidence_mix,
    lower_bound,
    shrink_toward_equal,
)

torch.set_num_threads(1)


def test_the_mix_by_hand() -> None:
    # Two periods: the agent earns +10% then -5%, 1/N +2% then -1%.
    agent, equal = np.array([0.10, -0.05]), np.array([0.02, -0.01])
    # Mix 1: excess log growth log(1.10/1.02) and log(0.95/0.99).
    e1 = np.array([np.log(1.10 / 1.02), np.log(0.95 / 0.99)])
    np.testing.assert_allclose(blend_excess_growth(agent, equal, 1.0), e1, rtol=1e-12)
    # Mix 0.5: the books side by side, half and half.
    e_half = np.array([np.log(1.06 / 1.02), np.log(0.97 / 0.99)])
    np.testing.assert_allclose(blend_excess_growth(agent, equal, 0.5), e_half, rtol=1e-12)
    # The bound: mean minus z standard errors (sample sd, n = 2).
    sd = abs(e1[0] - e1[1]) / np.sqrt(2)
    assert lower_bound(e1, 1.0) == pytest.approx(e1.mean() - sd / np.sqrt(2), rel=1e-12)
    # Follow the leader (z = 0): the record's growth log(1.02 + 0.08 m) + log(0.99 - 0.04 m) is
    # concave with its peak where 0.08 (0.99 - 0.04 m) = 0.04 (1.02 + 0.08 m), m = 6: past 1,
    # so the whole agent.
    assert (0.08 * 0.99 - 0.04 * 1.02) / (0.08 * 0.04 + 0.04 * 0.08) == pytest.approx(6.0)
    assert evidence_mix(agent, equal, 0.0) == 1.0
    # z = 1 with two periods: mean - |e1 - e2| / 2 is the smaller excess, here the second
    # period's log((0.99 - 0.04 m) / 0.99) < 0 for every m > 0, so 1/N.
    assert evidence_mix(agent, equal, 1.0) == 0.0
    # A record whose worse period still beats 1/N: the bound rises with m, so the whole agent.
    assert evidence_mix(np.array([0.10, 0.03]), np.array([0.02, 0.01]), 1.0) == 1.0


def test_a_clear_edge_earns_the_whole_mix_and_none_holds_equal_weights() -> None:
    rng = np.random.default_rng(0)
    equal = rng.normal(0.0004, 0.01, 500)
    better = equal + 0.002 + rng.normal(0, 0.001, 500)
    worse = equal - 0.0005 + rng.normal(0, 0.004, 500)
    assert evidence_mix(better, equal, 1.0) == 1.0
    assert evidence_mix(worse, equal, 1.0) == 0.0
    assert evidence_mix(equal, equal, 0.0) == 0.0  # no edge at all: ties go to 1/N


def test_more_confidence_never_mixes_in_more() -> None:
    rng = np.random.default_rng(1)
    equal = rng.normal(0.0003, 0.01, 250)
    agent = equal + rng.normal(0.0004, 0.006, 250)
    mixes = [evidence_mix(agent, equal, z) for z in (0.0, 0.5, 1.0, 2.0, 4.0)]
    assert mixes == sorted(mixes, reverse=True)


def test_shrinking_stays_on_the_simplex_and_zero_is_equal_weight() -> None:
    w = np.array([[0.7, 0.1, 0.0, 0.2], [0.25, 0.25, 0.25, 0.25]])
    np.testing.assert_allclose(shrink_toward_equal(w, 0.0),
                               np.tile([1 / 3, 1 / 3, 1 / 3, 0], (2, 1)))
    np.testing.assert_allclose(shrink_toward_equal(w, 0.4).sum(-1), 1.0)
    np.testing.assert_allclose(shrink_toward_equal(w, 1.0), w)


def test_a_ragged_record_is_refused() -> None:
    with pytest.raises(DataError, match="one agent and one 1/N return per period"):
        evidence_mix(np.zeros(3), np.zeros(4), 1.0)


def _market(n: int = 320, edge: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    idx = pd.bdate_range("2012-01-02", periods=n)
    data = rng.normal(0.0003, 0.012, (n, 4)) + rng.normal(0, 0.006, (n, 1))
    data[:, 0] += edge
    return pd.DataFrame(data, index=idx, columns=list("ABCD"))


def _strategy() -> SACStrategy:
    return SACStrategy(train_steps=48, lookback=10, episode_length=20, num_envs=2,
                       learning_starts=8, batch_size=16, hidden=(16, 16), device="cpu",
                       decision_period="weekly", shrinkage="evidence", seed=2)


def test_the_record_is_out_of_sample_and_the_mix_shrinks_what_is_held() -> None:
    returns = _market()
    strategy = _strategy()
    strategy.fit(returns.iloc[:200])
    first = len(strategy.record_[0])
    assert first == len(strategy.record_[1]) > 5  # the evidence agent on the second half
    strategy.fit(returns.iloc[:260])  # the first agent on the 60 days it did not see
    assert len(strategy.record_[0]) > first
    assert all(0.0 <= m <= 1.0 for m in strategy.mixes_) and len(strategy.mixes_) == 2
    # The record's summary, a year: its mean excess log growth and that minus z s.e.
    excess = np.log1p(np.asarray(strategy.record_[0])) - np.log1p(np.asarray(strategy.record_[1]))
    mean, bound = strategy.record_summary()
    per_year = mean / excess.mean()
    se = excess.std(ddof=1) / np.sqrt(len(excess))
    assert bound == pytest.approx((excess.mean() - se) * per_year, rel=1e-9)
    assert 40 < per_year < 60  # weekly decisions
    # What is held is the policy's action mixed with 1/N by the fold's mix.
    history, current = returns.iloc[:260], pd.Series([0.25] * 4 + [0.0],
                                                     index=[*"ABCD", "CASH"])
    agent = strategy.agent_
    assert agent is not None
    agent.mix = 0.3
    obs, _ = strategy.observation(history, current)
    expected = shrink_toward_equal(agent.act(obs), 0.3)
    np.testing.assert_allclose(strategy.target(history, current).to_numpy(), expected)
    extras = strategy.extras()
    assert extras["evidence_mix"].iloc[-1] == 0.3
    assert extras["evidence_excess"].iloc[-1] == pytest.approx(mean)
    batch = strategy.allocate_batch(history.to_numpy()[None], current.to_numpy()[None])
    np.testing.assert_allclose(batch[0], strategy.allocate(history, current).to_numpy())


def test_the_record_of_a_window_ignores_what_follows_it() -> None:
    returns = _market()
    later = returns.copy()
    later.iloc[200:] = -3 * later.iloc[200:]
    a, b = _strategy(), _strategy()
    a.fit(returns.iloc[:200])
    b.fit(later.iloc[:200])
    assert a.record_ == b.record_ and a.mixes_ == b.mixes_


def test_the_mix_is_saved_with_the_agent(tmp_path) -> None:
    returns = _market()
    strategy = _strategy()
    strategy.checkpoint_dir = tmp_path
    strategy.fit(returns.iloc[:200])
    assert strategy.agent_ is not None
    strategy.agent_.mix = 0.45
    strategy.agent_.save(tmp_path / "fold-0.pt")
    restored = _strategy()
    restored.checkpoint_dir = tmp_path
    restored.restore(returns.iloc[:200], 0)
    assert restored.agent_ is not None and restored.agent_.mix == 0.45


def test_seed_batches_are_refused() -> None:
    from maxent_portfolio.errors import ConfigError

    with pytest.raises(ConfigError, match="shrinkage evidence trains one agent at a time"):
        SACStrategy(shrinkage="evidence", seed_batch=2, actor_horizon=0,
                    actor_objective="sample")  # the other one-agent levers off
