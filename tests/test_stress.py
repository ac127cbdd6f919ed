"""The stress test (maxent_portfolio/stress/): scenario markets of a run's test windows, every
strategy re-evaluated on them as fit on the run's own training windows.

Fast tests on tiny synthetic data build the stress data directly; the one end-to-end test (a
tiny run with sac, through the CLI, marked slow) covers restoring agents from their checkpoints
and ``--jobs``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from maxent_portfolio.backtest.engine import run_backtest
from maxent_portfolio.backtest.walkforward import WalkForward
from maxent_portfolio.config import build_config
from maxent_portfolio.errors import ConfigError
from maxent_portfolio.measures import summarize_returns
from maxent_portfolio.scenarios import draw
from maxent_portfolio.strategies.registry import strategy_class
from maxent_portfolio.stress.config import build_stress
from maxent_portfolio.stress.evaluate import (
    ChunkResult,
    Member,
    StressData,
    backtest,
    evaluate,
    figures,
    reference_pass,
    scenario_market,
    window_seed,
    wrapped,
)
from maxent_portfolio.stress.run import StressStore, stress_data, summary_table

BASELINES = ("equal-weight", "buy-and-hold", "eg", "min-variance", "inverse-volatility")


def returns_table(n: int = 410, assets: int = 4, seed: int = 3) -> pd.DataFrame:
    """Daily returns with a common AR(1) factor (so Politis-White picks blocks > 1)."""
    rng = np.random.default_rng(seed)
    factor = np.zeros(n)
    for t in range(1, n):
        factor[t] = 0.5 * factor[t - 1] + rng.normal(0, 0.006)
    values = 0.0003 + factor[:, None] + rng.normal(0, 0.01, (n, assets))
    return pd.DataFrame(values, index=pd.bdate_range("2015-01-02", periods=n),
                        columns=[f"A{i}" for i in range(assets)])


def data_for(kinds: list[str], returns: pd.DataFrame | None = None,
             names: tuple[str, ...] = BASELINES, **options: object) -> StressData:
    returns = returns_table() if returns is None else returns
    config = build_config({"strategies": list(names), "schedule.rebalance": "monthly"})
    folds = WalkForward(train=200, test=70).split(len(returns))
    members = [Member(name, strategy_class(name), 0, None) for name in names]
    stress = build_stress({"kinds": kinds, "scenarios": 3, "jobs": 1, **options})
    return stress_data(config, returns, folds, 252, stress, members, {}, {})


def test_identity_scenario_reproduces_every_strategy_exactly() -> None:
    data = data_for(["identity"])
    fresh = reference_pass(data)
    rows, _ = evaluate(data, 0, [123])
    for row in rows:
        direct = run_backtest(data.returns, strategy_class(row["strategy"])(),
                              splits=data.folds, rebalance="monthly", costs=data.config.costs,
                              periods_per_year=252)
        assert fresh[row["strategy"]].returns.equals(direct.returns)
        expected = summarize_returns(direct.returns, 252)
        assert row["sharpe"] == expected["sharpe"]
        assert row["cagr"] == expected["cagr"]
        assert row["max_drawdown"] == expected["max_drawdown"]
        assert row["cvar_95"] == expected["cvar_95"]
        assert row["turnover"] == figures(direct, 0.0)["turnover"]


def test_bootstrap_scenario_is_rows_of_each_test_window_in_blocks() -> None:
    data = data_for(["bootstrap"])
    true, seen, cost = scenario_market(data, 99)
    assert seen is None and cost == 1.0
    original = data.returns.to_numpy()
    first = data.folds[0].test_start
    np.testing.assert_array_equal(true.to_numpy()[:first], original[:first])  # training rows
    for j, fold in enumerate(data.folds):
        window = data.returns.iloc[fold.test_start:fold.test_end]
        rows = draw(window, ["bootstrap"], window_seed(99, j),
                    mean_block=data.blocks[j]).rows
        path = true.to_numpy()[fold.test_start:fold.test_end]
        np.testing.assert_array_equal(path, window.to_numpy()[rows])
        # Blocks: a row follows its predecessor (wrapping at the end) except at block starts,
        # which are fewer than the rows once the mean block exceeds one.
        breaks = np.flatnonzero(rows[1:] != (rows[:-1] + 1) % len(window))
        assert data.blocks[j] > 1 and 0 < len(breaks) < len(rows) - 1
    assert not np.array_equal(true.to_numpy(), original)


def test_no_look_ahead_inside_a_scenario() -> None:
    """Changing a scenario's returns after date t leaves every weight chosen up to t as is."""
    data = data_for(["bootstrap", "crash"], names=("inverse-volatility", "eg", "buy-and-hold"))
    reference_pass(data)
    true, _, _ = scenario_market(data, 5)
    fold = data.folds[1]
    cut = fold.test_start + 20
    changed = true.copy()
    changed.iloc[cut + 1:] *= -3.0
    for member in data.members:
        before = backtest(data, wrapped(member, data, data.snapshots[member.label]), true)
        after = backtest(data, wrapped(member, data, data.snapshots[member.label]), changed)
        kept = before.targets.index <= true.index[cut]
        pd.testing.assert_frame_equal(before.targets[kept], after.targets[kept])
        assert not before.targets.equals(after.targets)


def test_noisy_inputs_change_what_is_seen_not_what_is_earned() -> None:
    data = data_for(["noise"], noise=1.0)
    true, seen, _ = scenario_market(data, 1)
    assert seen is not None
    np.testing.assert_array_equal(true.to_numpy(), data.returns.to_numpy())
    test = slice(data.folds[0].test_start, None)
    assert not np.allclose(seen.to_numpy()[test], true.to_numpy()[test])
    np.testing.assert_array_equal(seen.to_numpy()[:data.folds[0].test_start],
                                  true.to_numpy()[:data.folds[0].test_start])


def test_costs_kind_scales_what_trading_costs() -> None:
    plain = data_for(["identity"], names=("inverse-volatility", "equal-weight"))
    costly = data_for(["costs"], names=("inverse-volatility", "equal-weight"),
                      cost_multiplier=3.0)
    base = {r["strategy"]: r for r in evaluate(plain, 0, [1])[0]}
    more = {r["strategy"]: r for r in evaluate(costly, 0, [1])[0]}
    for name, row in base.items():
        assert more[name]["turnover"] == pytest.approx(row["turnover"], rel=1e-9)
        assert more[name]["cagr"] < row["cagr"]


def test_every_strategy_meets_the_same_scenarios() -> None:
    """Scenario i is drawn from its own seed: the same market whoever evaluates it."""
    data = data_for(["bootstrap", "volatility"], names=("equal-weight",))
    a, _, _ = scenario_market(data, 7)
    b, _, _ = scenario_market(data_for(["bootstrap", "volatility"]), 7)
    pd.testing.assert_frame_equal(a, b)


def test_summary_quantiles_and_paired_win_rate_by_hand() -> None:
    rows = []
    for i, (ew, sac, dd) in enumerate([(0.5, 0.7, -0.1), (0.4, 0.3, -0.3),
                                      (0.2, 0.6, -0.25), (0.9, 1.0, -0.05)]):
        common = {"scenario": i, "seed": i, "cagr": 0.0, "cvar_95": 0.0, "turnover": 1.0}
        rows.append({**common, "strategy": "equal-weight", "sharpe": ew, "max_drawdown": -0.1})
        rows.append({**common, "strategy": "sac", "sharpe": sac, "max_drawdown": dd})
    table = summary_table(pd.DataFrame(rows), threshold=0.2).set_index("strategy")
    assert table.at["sac", "p_beat_equal_weight"] == 0.75  # 0.7>0.5, 0.3<0.4, 0.6>0.2, 1>0.9
    assert np.isnan(table.at["equal-weight", "p_beat_equal_weight"])
    assert table.at["sac", "p_drawdown_beyond"] == 0.5  # -0.3 and -0.25 beyond -0.2
    # numpy's default (linear) quantile of 0.3, 0.6, 0.7, 1.0: median (0.6 + 0.7) / 2
    assert table.at["sac", "sharpe_q50"] == pytest.approx(0.65)
    assert table.at["sac", "sharpe_q05"] == pytest.approx(0.3 + 0.15 * 0.3)
    assert table.at["sac", "scenarios"] == 4


def test_stored_chunks_resume_and_an_edited_one_is_refused(tmp_path: Path) -> None:
    data = data_for(["bootstrap"], names=("equal-weight",))
    store = StressStore(tmp_path / "stress", data)
    store.open()
    chunk = ChunkResult(0, [11, 12], [{"scenario": 0, "sharpe": 0.1}], np.ones((2, 1, 3)))
    store.save(chunk)
    back = store.load([(0, [11, 12]), (2, [13])])
    assert list(back) == [0] and back[0].rows == chunk.rows
    np.testing.assert_array_equal(back[0].wealth, chunk.wealth)
    path = tmp_path / "stress" / "chunks" / f"{chunk.key}.json"
    body = json.loads(path.read_text())
    body["rows"][0]["sharpe"] = 9.0
    path.write_text(json.dumps(body))
    with pytest.raises(ConfigError, match="checksum"):
        store.load([(0, [11, 12])])
    other = StressStore(tmp_path / "stress", data_for(["crash"], names=("equal-weight",)))
    with pytest.raises(ConfigError, match="other scenarios"):
        other.open()


@pytest.mark.parametrize(("options", "culprit"), [
    ({"kinds": ["bootstrap", "quake"]}, "quake"),
    ({"kinds": ["identity", "noise"]}, "identity cannot be combined"),
    ({"kinds": ["crash", "crash"]}, "twice"),
    ({"scenarios": 0}, "scenarios"),
    ({"crash_window": "2020-03-01:2020-02-01"}, "after it ends"),
    ({"volatility": 0.0}, "volatility"),
])
def test_bad_options_are_one_line_naming_the_key(options: dict[str, object],
                                                 culprit: str) -> None:
    with pytest.raises(ConfigError, match=culprit):
        build_stress(options)


def test_a_crash_episode_that_fits_no_test_window_is_refused() -> None:
    with pytest.raises(ConfigError, match="does not fit fold"):
        data_for(["crash"], crash_years=0.5)  # 126 periods, test windows of 70


def test_the_dashboard_shows_the_stress_test_and_refuses_a_damaged_table(
        tmp_path: Path) -> None:
    from maxent_portfolio.errors import DataError
    from maxent_portfolio.measures import metrics_table
    from maxent_portfolio.reporting.dashboard import robustness_section
    from maxent_portfolio.reporting.render import read_stress
    from maxent_portfolio.stress.evaluate import run_chunks
    from maxent_portfolio.stress.run import wealth_table

    data = data_for(["bootstrap"], names=("equal-weight", "buy-and-hold"))
    results = list(reference_pass(data).values())
    chunks = run_chunks(data, [(0, [1, 2]), (2, [3])])
    scenarios = pd.DataFrame([row for c in chunks for row in c.rows])
    folder = tmp_path / "stress"
    folder.mkdir()
    scenarios.to_csv(folder / "scenarios.csv", index=False)
    summary_table(scenarios, 0.2).to_csv(folder / "summary.csv", index=False)
    wealth_table(data, chunks).to_csv(folder / "wealth.csv", index=False)
    robustness = read_stress(tmp_path)
    assert robustness is not None and len(robustness.scenarios) == 3 * 2
    page = str(robustness_section(robustness, results, metrics_table(results)).html)
    assert "fig-robust-sharpe" in page and "fig-robust-fan" in page
    assert "the same 3 scenario markets" in page
    summary = pd.read_csv(folder / "summary.csv").astype({"sharpe_q50": object})
    summary.loc[0, "sharpe_q50"] = "high"
    summary.to_csv(folder / "summary.csv", index=False)
    with pytest.raises(DataError, match=r"summary\.csv holds a value that is not a number"):
        read_stress(tmp_path)


@pytest.mark.slow
def test_a_run_with_sac_stressed_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    """A tiny run with sac (one fold): the identity scenario reproduces every row of its
    metrics.csv exactly, the agent restored from its checkpoint; a bootstrap stress gives the
    same numbers with --jobs 1 and 2, and on Ray (an instance it starts and stops), and
    resumes from its stored chunks."""
    import importlib.util
    import shutil

    from maxent_portfolio.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAXENT_PORTFOLIO_CACHE", str(tmp_path / ".cache"))
    prices = (1 + returns_table(n=460, seed=4)).cumprod() * 100
    prices.index.name = "date"
    prices.to_csv("prices.csv")
    assert main(["backtest", "-u", "prices.csv", "--out", "run", "--train-years", "1",
                 "-s", "sac,equal-weight,eg", "--train-steps", "200", "--lookback", "10",
                 "--placebos", "0", "--jobs", "1", "--no-html", "--quiet"]) == 0
    for name in ("identity", "one", "two", "ray"):
        shutil.copytree("run", name)
    assert main(["stress", "identity", "--kinds", "identity", "--scenarios", "1",
                 "--jobs", "1", "-q"]) == 0
    metrics = pd.read_csv("run/metrics.csv").set_index("strategy")
    stressed = pd.read_csv("identity/stress/scenarios.csv").set_index("strategy")
    for name in ("sac", "equal-weight", "eg"):
        for figure in ("sharpe", "cagr", "max_drawdown", "cvar_95", "turnover"):
            assert stressed.at[name, figure] == metrics.at[name, figure], (name, figure)
    bootstrap = ["--kinds", "bootstrap,noise", "--scenarios", "12", "-q"]
    assert main(["stress", "one", *bootstrap, "--jobs", "1"]) == 0
    assert main(["stress", "two", *bootstrap, "--jobs", "2"]) == 0
    one = Path("one/stress/scenarios.csv").read_text()
    assert one == Path("two/stress/scenarios.csv").read_text()
    assert pd.read_csv("one/stress/scenarios.csv")["sharpe"].nunique() > 3
    if importlib.util.find_spec("ray") is not None:  # the [ray] extra, which `make test` installs
        assert main(["stress", "ray", *bootstrap, "--jobs", "2", "--backend", "ray"]) == 0
        assert Path("ray/stress/scenarios.csv").read_text() == one
    Path("one/stress/scenarios.csv").unlink()

    def recompute(*args: object) -> None:
        raise AssertionError("a stored chunk was computed again")

    import maxent_portfolio.stress.run as stress_run

    monkeypatch.setattr(stress_run, "run_chunks", recompute)
    assert main(["stress", "one", *bootstrap, "--jobs", "1"]) == 0
    assert Path("one/stress/scenarios.csv").read_text() == one


def test_paths_in_lockstep_equal_one_path_at_a_time() -> None:
    """The batched evaluation (one allocate_batch per date for every path) gives each path the
    engine's own result, for every strategy that has one, with noisy inputs and a weight cap."""
    from maxent_portfolio.stress.evaluate import backtest_paths, batchable

    names = ("buy-and-hold", "min-variance", "inverse-volatility")
    data = data_for(["bootstrap", "noise"], names=names)
    data.config = data.config.model_copy(update={"schedule": data.config.schedule.model_copy(
        update={"max_weight": 0.4})})
    reference_pass(data)
    markets = [scenario_market(data, seed) for seed in (1, 2, 3)]
    costs = data.config.costs
    for member in data.members:
        strategy = wrapped(member, data, data.snapshots[member.label])
        assert batchable(data, strategy)
        together = backtest_paths(data, strategy, [m[0] for m in markets],
                                  [m[1] for m in markets], costs)
        for (true, seen, _), result in zip(markets, together, strict=True):
            alone = backtest(data, wrapped(member, data, data.snapshots[member.label]), true,
                             seen, costs)
            pd.testing.assert_series_equal(result.returns, alone.returns, check_names=False,
                                           check_exact=True)
            pd.testing.assert_frame_equal(result.targets, alone.targets, check_exact=True)
