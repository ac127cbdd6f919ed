"""Scenario markets (maxent_portfolio/scenarios.py), checked against arch and hand-built paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from arch.bootstrap import optimal_block_length

from maxent_portfolio.errors import ConfigError, DataError
from maxent_portfolio.scenarios import (
    block_length,
    draw,
    draw_many,
    named_episode,
    noisy_inputs,
    scale_volatility,
    splice,
    worst_drawdown_window,
)


def window(n: int = 250, assets: int = 4, seed: int = 0) -> pd.DataFrame:
    """Returns with a common AR(1) factor, so Politis-White picks blocks longer than one."""
    rng = np.random.default_rng(seed)
    factor = np.zeros(n)
    for t in range(1, n):
        factor[t] = 0.6 * factor[t - 1] + rng.normal(0, 0.01)
    values = factor[:, None] + rng.normal(0, 0.01, (n, assets))
    return pd.DataFrame(values, index=pd.bdate_range("2020-01-01", periods=n, name="date"),
                        columns=[f"A{i}" for i in range(assets)])


def test_block_length_is_arch_politis_white_on_the_equal_weight_portfolio() -> None:
    returns = window()
    expected = optimal_block_length(returns.to_numpy().mean(axis=1)).loc[0, "stationary"]
    assert expected > 1.5  # the AR(1) factor makes the choice matter
    assert block_length(returns) == pytest.approx(expected, rel=1e-12)


def test_a_window_too_short_for_a_block_length_is_refused_naming_it() -> None:
    index = pd.bdate_range("2021-03-01", periods=5)
    window = pd.DataFrame(np.random.default_rng(0).normal(0, 0.01, (5, 3)), index=index)
    with pytest.raises(DataError, match=r"^the test window 2021-03-01 to 2021-03-05 has 5 "
                                        r"rows: too few"):
        block_length(window)


def test_bootstrap_rows_are_blocks_of_the_window() -> None:
    returns = window()
    breaks = []
    for scenario in draw_many(returns, ["bootstrap"], 20, seed=1):
        rows = scenario.rows
        # Each scenario row is the window's row rows[t], cross-section and all.
        np.testing.assert_array_equal(scenario.returns.to_numpy(), returns.to_numpy()[rows])
        assert scenario.returns.index.equals(returns.index)
        # Within a block the next row is the next window row, wrapping from the last to the first.
        continues = rows[1:] == (rows[:-1] + 1) % len(returns)
        breaks.append(int((~continues).sum()))
    # Blocks have a geometric length of mean block_length: about T / mean blocks per path.
    mean_blocks = len(returns) / block_length(returns)
    assert np.mean(breaks) == pytest.approx(mean_blocks, rel=0.25)


def test_scenarios_are_reproducible_from_their_seed() -> None:
    returns = window()
    kinds = ["bootstrap", "crash", "volatility"]
    episode = returns.iloc[:10] - 0.05
    first = draw_many(returns, kinds, 5, seed=7, episode=episode, volatility=1.5)
    again = draw_many(returns, kinds, 5, seed=7, episode=episode, volatility=1.5)
    other = draw_many(returns, kinds, 5, seed=8, episode=episode, volatility=1.5)
    for a, b in zip(first, again, strict=True):
        pd.testing.assert_frame_equal(a.returns, b.returns)
    assert not np.array_equal(first[0].rows, other[0].rows)
    # Scenario i is the same whether drawn alone or among many.
    alone = draw(returns, kinds, first[3].seed, mean_block=block_length(returns),
                 episode=episode, volatility=1.5)
    pd.testing.assert_frame_equal(alone.returns, first[3].returns)


def test_identity_reproduces_the_window_exactly() -> None:
    returns = window()
    for scenario in (draw(returns, ["identity"], seed=3),
                     draw(returns, ["bootstrap"], seed=3, mean_block=len(returns))):
        pd.testing.assert_frame_equal(scenario.returns, returns)
        np.testing.assert_array_equal(scenario.rows, np.arange(len(returns)))
        assert scenario.cost_multiplier == 1.0 and scenario.noise_std == 0.0


def test_worst_drawdown_window_against_a_planted_crash() -> None:
    returns = window(n=300)
    planted = returns.copy()
    planted.iloc[120:140] = -0.03  # twenty days down 3% in every asset
    found = worst_drawdown_window(planted, 20)
    assert found.index[0] == planted.index[120] and len(found) == 20
    # Brute force: the compound return of every 20-row run of the 1/N portfolio.
    wealth = (1 + planted.mean(axis=1)).to_numpy()
    worst = min(range(len(wealth) - 19), key=lambda i: np.prod(wealth[i:i + 20]))
    assert worst == 120


def test_crash_splices_the_episode_and_keeps_the_length() -> None:
    returns = window()
    episode = pd.DataFrame(-0.04, index=pd.bdate_range("2008-10-01", periods=15),
                           columns=returns.columns)
    scenario = draw(returns, ["crash"], seed=5, episode=episode)
    spliced = np.flatnonzero(scenario.rows == -1)
    assert len(spliced) == 15 and np.all(np.diff(spliced) == 1)
    start = spliced[0]
    assert scenario.returns.index.equals(returns.index)
    np.testing.assert_array_equal(scenario.returns.to_numpy()[start:start + 15],
                                  episode.to_numpy())
    kept = np.ones(len(returns), bool)
    kept[start:start + 15] = False
    np.testing.assert_array_equal(scenario.returns.to_numpy()[kept], returns.to_numpy()[kept])
    starts = {int(np.flatnonzero(draw(returns, ["crash"], seed=s, episode=episode).rows == -1)[0])
              for s in range(10)}
    assert len(starts) > 1  # the point is random


def test_splice_at_the_last_fitting_row() -> None:
    returns = window(n=10)
    episode = returns.iloc[:3] * 0 - 0.1
    out = splice(returns, episode, 7)
    np.testing.assert_allclose(out.to_numpy()[7:], -0.1)
    np.testing.assert_array_equal(out.to_numpy()[:7], returns.to_numpy()[:7])


@pytest.mark.parametrize("k", [0.5, 2.0, 3.0])
def test_volatility_times_k(k: float) -> None:
    returns = window()
    scaled = scale_volatility(returns, k)
    log_std = np.log1p(scaled).std() / np.log1p(returns).std()
    np.testing.assert_allclose(log_std, k, rtol=1e-10)
    np.testing.assert_allclose(scaled.std() / returns.std(), k, rtol=0.02)
    assert (scaled > -1).all().all()
    np.testing.assert_allclose(np.log1p(scaled).mean(), np.log1p(returns).mean(), atol=1e-15)


def test_volatility_keeps_returns_above_minus_one_for_a_large_k() -> None:
    assert (scale_volatility(window(), 200.0) > -1).all().all()


def test_noisy_inputs_leave_the_true_returns_untouched() -> None:
    returns = window()
    before = returns.copy()
    seen, true = noisy_inputs(returns, 0.5, np.random.default_rng(0))
    pd.testing.assert_frame_equal(true, before)
    pd.testing.assert_frame_equal(returns, before)
    noise = np.log1p(seen) - np.log1p(returns)
    np.testing.assert_allclose(noise.std() / np.log1p(returns).std(), 0.5, rtol=0.15)
    assert seen.index.equals(returns.index)
    same, _ = noisy_inputs(returns, 0.0, np.random.default_rng(0))
    pd.testing.assert_frame_equal(same, returns)


def test_a_scenario_draws_its_noise_from_its_own_stream() -> None:
    returns = window()
    plain = draw(returns, ["bootstrap"], seed=4)
    noisy = draw(returns, ["bootstrap", "noise"], seed=4, noise=0.3)
    pd.testing.assert_frame_equal(noisy.returns, plain.returns)  # noise leaves the path as is
    seen, true = noisy.inputs()
    again, _ = noisy.inputs()
    pd.testing.assert_frame_equal(seen, again)
    pd.testing.assert_frame_equal(true, noisy.returns)
    assert not np.allclose(seen, true)
    pd.testing.assert_frame_equal(plain.inputs()[0], plain.returns)


def test_costs_and_noise_are_fields_not_transforms() -> None:
    returns = window()
    scenario = draw(returns, ["noise", "costs"], seed=0, costs=3.0, noise=0.2)
    pd.testing.assert_frame_equal(scenario.returns, returns)
    assert (scenario.kind, scenario.cost_multiplier, scenario.noise_std) == (
        ("costs", "noise"), 3.0, 0.2)


def test_kinds_compose_in_one_order() -> None:
    returns = window()
    episode = returns.iloc[:5] - 0.05
    scenario = draw(returns, ["volatility", "crash", "bootstrap"], seed=2, episode=episode,
                    volatility=2.0)
    assert scenario.kind == ("bootstrap", "crash", "volatility")
    # Volatility is applied last: undoing it gives the bootstrap path with the episode spliced.
    undone = scale_volatility(scenario.returns, 0.5)
    rows = scenario.rows
    np.testing.assert_allclose(undone.to_numpy()[rows == -1], episode.to_numpy(), atol=1e-12)
    np.testing.assert_allclose(undone.to_numpy()[rows >= 0], returns.to_numpy()[rows[rows >= 0]],
                               atol=1e-12)


@pytest.mark.parametrize(("call", "culprit"), [
    (lambda r: draw(r, ["bootsrap"], 0), "unknown kind 'bootsrap'"),
    (lambda r: draw(r, [], 0), "no kind named"),
    (lambda r: draw(r, ["identity", "crash"], 0), "'identity' cannot be combined"),
    (lambda r: draw_many(r, ["bootstrap"], 0, 0), "number of scenarios must be positive"),
    (lambda r: draw_many(r, ["bootstrap"], -3, 0), "got -3"),
    (lambda r: draw(r, ["volatility"], 0, volatility=0.0), "volatility: the multiplier"),
    (lambda r: draw(r, ["volatility"], 0, volatility=-2.0), "volatility: the multiplier"),
    (lambda r: draw(r, ["costs"], 0, costs=0.0), "costs: the multiplier"),
    (lambda r: draw(r, ["bootstrap"], 0, mean_block=0.0), "bootstrap block length"),
    (lambda r: draw(r, ["noise"], 0, noise=-0.1), "noise size must be non-negative"),
    (lambda r: draw(r, ["crash"], 0), "no episode given"),
    (lambda r: draw(r, ["crash"], 0, episode=pd.concat([r, r])), "does not fit the window"),
    (lambda r: worst_drawdown_window(r.iloc[:10], 20), "outside the 10 rows of data"),
    (lambda r: worst_drawdown_window(r, 0), "episode of 0 rows"),
    (lambda r: named_episode(r, "2019-01-01", "2020-02-01"), "falls outside the data"),
    (lambda r: named_episode(r, "2020-03-01", "2020-02-01"), "falls outside the data"),
    (lambda r: splice(r, r.iloc[:5, :2], 0), "episode's assets differ"),
])
def test_bad_inputs_are_one_line_naming_the_culprit(call, culprit: str) -> None:
    with pytest.raises(ConfigError) as error:
        call(window())
    message = str(error.value)
    assert culprit in message and "\n" not in message


def test_a_named_episode_inside_the_data() -> None:
    returns = window()
    episode = named_episode(returns, "2020-02-03", "2020-02-14")
    assert (episode.index[0], episode.index[-1], len(episode)) == (
        pd.Timestamp("2020-02-03"), pd.Timestamp("2020-02-14"), 10)
