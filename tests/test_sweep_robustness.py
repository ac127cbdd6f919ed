"""``sweep --scenarios``: the dial's robustness curve and the blend control."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from maxent_portfolio.backtest.engine import run_backtest
from maxent_portfolio.reporting.frontier import robustness_figure, write_frontier
from maxent_portfolio.strategies.registry import strategy_class
from maxent_portfolio.sweep import prepare_sweep, resolve_sweep, robustness, run_sweep
from maxent_portfolio.sweep.cells import Cell
from maxent_portfolio.sweep.robustness import BLEND_COLUMNS, ROBUST_COLUMNS, blend, matched
from tests.test_stress import data_for, returns_table
from tests.test_sweep import TINY


def active_share_by_hand(weights: np.ndarray) -> float:
    """Cremers-Petajisto's active share against 1/N (no cash in 1/N), one row at a time."""
    n = weights.shape[1] - 1
    total = 0.0
    for row in weights:
        gap = sum(abs(row[i] - 1.0 / n) for i in range(n)) + abs(row[n])
        total += gap / 2
    return total / len(weights)


def test_the_blend_holds_its_mix_with_one_over_n_and_matches_the_active_share() -> None:
    data = data_for(["bootstrap"], names=("inverse-volatility",))
    cold = run_backtest(data.returns, strategy_class("inverse-volatility")(), splits=data.folds,
                        rebalance="monthly", costs=data.config.costs, periods_per_year=252)
    # A cold portfolio far from 1/N: the first asset doubled, cash held at some dates.
    w = cold.targets.to_numpy(copy=True)
    w[:, 0] *= 2.0
    w[::2, -1] = 0.3
    w /= w.sum(axis=1, keepdims=True)
    cold.targets = pd.DataFrame(w, index=cold.targets.index, columns=cold.targets.columns)
    hot_share = 0.4 * active_share_by_hand(w)
    lam = matched(robustness.RobustData(None, data.stress, 0.1,  # type: ignore[arg-type]
                                        {Cell("alpha", 0.5, None, 0): hot_share}),
                  Cell("alpha", 0.1, None, 0), active_share_by_hand(w))[0.5]
    assert lam == pytest.approx(0.4, abs=1e-12)
    mixed = blend(data, cold, lam, data.returns, data.config.costs)
    n = w.shape[1] - 1
    by_hand = [[lam * row[i] + (1 - lam) * (1.0 / n if i < n else 0.0) for i in range(n + 1)]
               for row in w]
    np.testing.assert_allclose(mixed.targets.to_numpy(), by_hand, rtol=0, atol=1e-15)
    assert active_share_by_hand(mixed.targets.to_numpy()) == pytest.approx(hot_share, abs=1e-12)
    assert mixed.targets.index.equals(cold.targets.index)
    # A hotter agent more active than the cold one has no blend.
    more = robustness.RobustData(None, data.stress, 0.1,  # type: ignore[arg-type]
                                 {Cell("alpha", 0.5, None, 0): 0.9})
    assert np.isnan(matched(more, Cell("alpha", 0.1, None, 0), 0.5)[0.5])


@pytest.mark.slow
def test_sweep_with_scenarios_pairs_every_cell_and_draws_the_curve(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Three years and a quarter: the last fold's test window is long enough for Politis-White.
    prices = 100 * (1 + returns_table(n=800, assets=3)).cumprod()
    prices.index.name = "date"
    csv = tmp_path / "small.csv"
    prices.to_csv(csv)
    seen: dict[str, list[str]] = {}
    original = robustness.scenario_results

    def recording(data: Any, seeds: list[int]) -> Any:
        true, costs, results = original(data, seeds)
        key = f"seed={data.members[0].seed},alpha={data.config.sac.alpha}"
        seen.setdefault(key, []).extend(
            hashlib.sha256(t.to_numpy().tobytes()).hexdigest() for t in true)
        return true, costs, results

    monkeypatch.setattr(robustness, "scenario_results", recording)
    run, sweep = resolve_sweep(None, {"data.universe": str(csv), **TINY,
                                      "sac.train_steps": 100},
                               {"alpha": [0.02, 0.5], "seeds": 1, "jobs": 1, "scenarios": 5})
    out = tmp_path / "sweep"
    run_sweep(prepare_sweep(run, sweep), out,
              render=lambda outcome, folder: write_frontier(outcome, folder / "frontier.html"))
    # Every cell met the same five scenario paths.
    assert len(seen) == 2
    paths = list(seen.values())
    assert len(paths[0]) == 5 and paths[0] == paths[1] and len(set(paths[0])) == 5
    table = pd.read_csv(out / "sweep.csv")
    for column in [*ROBUST_COLUMNS, *(f"blend_{c}" for c in BLEND_COLUMNS)]:
        assert column in table.columns
    assert table["win_rate_vs_equal_weight"].between(0, 1).all()
    assert (table["sharpe_q05"] <= table["sharpe_q50"]).all()
    cold, hot = table.iloc[0], table.iloc[1]
    assert np.isnan(cold["blend_lambda"])  # the coldest setting is its own blend
    if hot["active_share"] <= cold["active_share"]:
        assert hot["blend_lambda"] == pytest.approx(hot["active_share"] / cold["active_share"],
                                                    rel=1e-12)
    # The cells' own rows are those of the same sweep without scenarios, to the last bit.
    run_sweep(prepare_sweep(run, sweep.model_copy(update={"scenarios": 0})), tmp_path / "plain")
    plain = pd.read_csv(tmp_path / "plain" / "sweep.csv").drop(columns="train_seconds")
    pd.testing.assert_frame_equal(table[plain.columns], plain)
    page = (out / "frontier.html").read_text("utf-8")
    assert 'id="robustness"' in page and "blend control" in page


def test_the_robustness_chart_averages_seeds_and_drops_a_blend_a_seed_lacks() -> None:
    nan = float("nan")
    table = pd.DataFrame({
        "alpha": [0.1, 0.1, 0.5, 0.5, 1.0, 1.0], "cost_bps": [10.0] * 6, "seed": [0, 1] * 3,
        "effective_n": [5, 6, 9, 10, 14, 15], "win_rate_vs_equal_weight": [.3, .4, .5, .5, .6, .7],
        "sharpe_q05": [.1, .2, .3, .3, .4, .5],
        "blend_effective_n": [nan, nan, 8, nan, 12, 13],
        "blend_win_rate_vs_equal_weight": [nan, nan, .45, nan, .5, .55],
        "blend_sharpe_q05": [nan, nan, .25, nan, .3, .35]})
    lines = {line.get_label(): line for line in robustness_figure(table, "alpha").axes[0].lines}
    agent, control = lines["sac, 10 bps"], lines["blend control, 10 bps"]
    np.testing.assert_allclose(agent.get_xdata(), [5.5, 9.5, 14.5])
    np.testing.assert_allclose(agent.get_ydata(), [0.35, 0.5, 0.65])
    # From the coldest setting to alpha = 1's blend; alpha = 0.5 lacks seed 1's blend.
    np.testing.assert_allclose(control.get_xdata(), [5.5, 12.5])
    np.testing.assert_allclose(control.get_ydata(), [0.35, 0.525])
