"""``maxent-portfolio sweep``: the grid's options, cells on both backends, resuming."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from support import PLAIN_SAC

from maxent_portfolio.errors import ConfigError, UserError
from maxent_portfolio.sweep import (
    CellResult,
    SweepConfig,
    SweepOutcome,
    build_sweep,
    grid_cells,
    prepare_sweep,
    resolve_sweep,
    run_sweep,
)
from maxent_portfolio.sweep.cells import CELL_COLUMNS, Cell, SweepData, cell_groups
from maxent_portfolio.sweep.run import SweepStore

REPO = Path(__file__).resolve().parents[1]
TINY = {"walk_forward.train_years": 1.0, "walk_forward.test_years": 1.0,
        "sac.train_steps": 160, "sac.learning_starts": 8, "sac.batch_size": 32,
        "sac.device": "cpu", "env.lookback": 20, "env.episode_length": 60,
        **{f"sac.{k}": v for k, v in PLAIN_SAC.items()}}
"""Options of a sweep that runs in seconds: short training, few updates, and textbook SAC, the
agent the batched network trains too (with the default evidence shrinkage a budget this small
never clears its noise: every cell would hold 1/N)."""

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="ray cannot be imported: pip install 'maxent-portfolio[ray]'")


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three assets, three years of business days of seeded prices."""
    rng = np.random.default_rng(3)
    idx = pd.bdate_range("2012-01-02", periods=760)
    r = rng.normal([0.0004, 0.0002, 0.0003], [0.012, 0.008, 0.015], size=(760, 3))
    prices = pd.DataFrame(100 * np.cumprod(1 + r, axis=0), index=idx,
                          columns=["AAA", "BBB", "CCC"])
    prices.index.name = "date"
    path = tmp_path_factory.mktemp("sweep-data") / "small.csv"
    prices.to_csv(path)
    return path


def plan_for(csv: Path, **grid: Any) -> Any:
    run, sweep = resolve_sweep(None, {"data.universe": str(csv), **TINY},
                               {"alpha": [0.02, 0.5], "seeds": 2, "jobs": 1, **grid})
    return prepare_sweep(run, sweep)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "maxent_portfolio", *args], cwd=REPO,
                          capture_output=True, text=True, check=False, timeout=600,
                          env={**os.environ, "COLUMNS": "200"})


def without_time(path: Path) -> pd.DataFrame:
    return pd.read_csv(path).drop(columns="train_seconds")


@pytest.fixture(scope="module")
def solo_sweep(small_csv: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[SweepOutcome, Path]:
    """The sweep at ``--jobs 1``, cell by cell, and its folder: what every other way of running
    it (more jobs, Ray, resumed, batched) must reproduce."""
    out = tmp_path_factory.mktemp("solo-sweep") / "sweep"
    return run_sweep(plan_for(small_csv, jobs=1), out), out


# --- the grid's options ---------------------------------------------------------------------

def test_defaults_sweep_the_temperature_in_decades() -> None:
    sweep = SweepConfig()
    assert sweep.dial == "alpha" and sweep.dial_values == [0.001, 0.01, 0.1, 1.0]
    assert build_sweep({"diversification": [0.5]}).dial == "diversification"
    assert build_sweep({"alpha": [0.1, 1]}).grid() == {
        "dial": "alpha", "values": [0.1, 1.0], "cost_bps": None, "seeds": 3}


@pytest.mark.parametrize(("values", "text"), [
    ({"alpha": [0.1], "diversification": [0.5]},
     "invalid diversification [0.5]: sweep --alpha or --diversification, not both"),
    ({"alpha": [0.0]}, "invalid alpha [0.0]: temperatures must be > 0, got 0"),
    ({"diversification": [1.5]}, "invalid diversification [1.5]: dial values must be in (0, 1]"),
    ({"cost_bps": [5.0, 5.0]}, "values must not repeat"),
    ({"cost_bps": [-1.0]}, "costs must be >= 0 bps"),
    ({"alpha": ["hot"]}, "invalid alpha 'hot': expected a number"),
    ({"backend": "spark"}, "invalid backend 'spark': use local or ray"),
    ({"address": "auto"}, "invalid address 'auto': joining a Ray cluster needs --backend ray"),
    ({"pbo_partitions": 5}, "invalid pbo-partitions 5: must be even"),
    ({"seeds": 0}, "invalid seeds 0: must be >= 1"),
])
def test_bad_grids_are_one_line(values: dict[str, Any], text: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_sweep(values)
    assert text in str(info.value) and "\n" not in str(info.value)


def test_config_file_holds_the_grid_and_flags_override_it(tmp_path: Path) -> None:
    file = tmp_path / "sweep.toml"
    file.write_text('cost_bps = 5\n[sac]\ntrain_steps = 300\n'
                    '[sweep]\nalpha = [0.05, 0.2]\nseeds = 4\ncost-bps = 7\n')
    run, sweep = resolve_sweep(file, {}, {"seeds": 2})
    assert run.sac.train_steps == 300 and run.costs.cost_bps == 5.0
    assert sweep.alpha == [0.05, 0.2] and sweep.seeds == 2 and sweep.cost_bps == [7.0]
    file.write_text("[sweep]\nalpha = [0.05]\ndiversification = [0.5]\n")
    with pytest.raises(ConfigError, match=f"diversification \\[0.5\\] in {file}: sweep "
                                          "--alpha or --diversification, not both"):
        resolve_sweep(file, {}, {})


def test_cells_are_dial_by_cost_by_seed(small_csv: Path) -> None:
    run, sweep = resolve_sweep(None, {"data.universe": str(small_csv), "seed": 7,
                                      "sac.reference_cash": 1.0},  # the dial's reference
                               {"diversification": [0.5, 1.0], "cost_bps": [0.0, 20.0],
                                "seeds": 3})
    cells = grid_cells(run, sweep)
    assert len(cells) == 12 and len({c.key for c in cells}) == 12
    assert [c.seed for c in cells[:3]] == [7, 8, 9]
    config = cells[-1].config(run)
    assert (config.sac.diversification, config.sac.alpha, config.costs.cost_bps) == \
        (1.0, None, 20.0)


def test_help_has_the_grid_and_every_other_backtest_option() -> None:
    done = cli("sweep", "--help")
    assert done.returncode == 0, done.stderr
    for flag in ("--alpha", "--diversification", "--seeds", "--cost-bps", "--backend",
                 "--address", "--jobs", "--out", "--config", "--train-steps", "--universe",
                 "--rebalance", "--lookback", "--slippage-bps", "--preset"):
        assert flag in done.stdout, flag
    assert "--strategies" not in done.stdout  # cells are sac; references are fixed


# --- running --------------------------------------------------------------------------------

@pytest.mark.slow
def test_cli_sweep_end_to_end_local(small_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    flags = ["--universe", str(small_csv), "--train-years", "1", "--test-years", "1",
             "--train-steps", "160", "--lookback", "20", "--device", "cpu",
             "--alpha", "0.02,0.5", "--seeds", "2", "--jobs", "2", "--out", str(out)]
    done = cli("sweep", *flags)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("frontier.html") and "PBO" in done.stdout
    table = pd.read_csv(out / "sweep.csv")
    assert list(table.columns) == ["alpha", "cost_bps", "seed", "sharpe", "turnover",
                                   "effective_n", "policy_entropy", "max_drawdown",
                                   "p_vs_equal_weight", "train_seconds"]
    assert table[["alpha", "seed"]].values.tolist() == [[0.02, 0], [0.02, 1], [0.5, 0],
                                                         [0.5, 1]]
    assert table["p_vs_equal_weight"].between(0, 1).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cells"] == 4 and 0 <= summary["per_cost"][0]["pbo"] <= 1
    page = (out / "frontier.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 2 and "http" not in page.split("<footer>")[0]
    # The same command again: every cell is resumed, nothing recomputed, same numbers.
    again = cli("sweep", *flags)
    assert again.returncode == 0 and "(0 computed now)" in again.stdout
    pd.testing.assert_frame_equal(pd.read_csv(out / "sweep.csv"), table)
    # Another grid in the same directory: one line, exit 2.
    other = cli("sweep", *flags[:-8], "--alpha", "0.02,0.4", "--seeds", "2", "--out",
                str(out))
    assert other.returncode == 2
    assert other.stderr.strip().count("\n") == 0 and "holds a different sweep" in other.stderr


@pytest.mark.slow
def test_local_jobs_give_identical_sweep_csv(solo_sweep: tuple[SweepOutcome, Path],
                                             small_csv: Path, tmp_path: Path) -> None:
    one, folder = solo_sweep
    two = run_sweep(plan_for(small_csv, jobs=2), tmp_path / "two")
    assert one.table["sharpe"].nunique() > 1  # the dial and the seeds change the cells
    pd.testing.assert_frame_equal(without_time(folder / "sweep.csv"),
                                  without_time(tmp_path / "two" / "sweep.csv"))
    assert two.statistics["per_cost"] == one.statistics["per_cost"]


@pytest.mark.slow
@needs_ray
def test_ray_and_a_joined_cluster_give_the_local_sweep_csv(
        solo_sweep: tuple[SweepOutcome, Path], small_csv: Path, tmp_path: Path) -> None:
    import ray

    one, folder = solo_sweep
    assert not ray.is_initialized()
    on_ray = run_sweep(plan_for(small_csv, jobs=2, backend="ray"), tmp_path / "ray")
    assert not ray.is_initialized()  # the sweep stopped the instance it started
    pd.testing.assert_frame_equal(without_time(folder / "sweep.csv"),
                                  without_time(tmp_path / "ray" / "sweep.csv"))
    assert on_ray.statistics["per_cost"] == one.statistics["per_cost"]
    # --address: a cluster someone else started (here a process of this test), joined and left.
    head = subprocess.Popen([sys.executable, "-c", RAY_HEAD], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    try:
        assert head.stdout is not None
        address = head.stdout.readline().strip()
        assert address, "the Ray head did not start"
        run_sweep(plan_for(small_csv, jobs=2, backend="ray", address=address),
                  tmp_path / "joined")
        assert not ray.is_initialized()  # disconnected; the cluster is its owner's to stop
        assert head.poll() is None
    finally:
        assert head.stdin is not None
        head.stdin.close()  # the head stops its cluster and exits
        head.wait(timeout=120)
    pd.testing.assert_frame_equal(without_time(folder / "sweep.csv"),
                                  without_time(tmp_path / "joined" / "sweep.csv"))


# A Ray cluster of two CPUs for the --address test: prints its address, runs until stdin closes.
RAY_HEAD = """
import sys
import ray
context = ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
print(context.address_info["gcs_address"], flush=True)
sys.stdin.read()
ray.shutdown()
"""


@pytest.mark.slow
def test_interrupted_sweep_resumes_without_recomputing(solo_sweep: tuple[SweepOutcome, Path],
                                                       small_csv: Path,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "resumed"
    seen: list[CellResult] = []

    def stop_after_first(result: CellResult) -> None:
        seen.append(result)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(plan_for(small_csv), out, on_cell=stop_after_first)
    first = seen[0].cell
    assert sorted(p.name for p in (out / "cells").iterdir()) == [f"{first.key}.json"]
    assert not (out / "sweep.csv").exists()  # only complete cells are left
    resumed = run_sweep(plan_for(small_csv), out)
    assert first.key not in resumed.computed and len(resumed.computed) == 3
    stored = resumed.table.set_index("cell").loc[first.key, "train_seconds"]
    assert stored == seen[0].measures["train_seconds"]  # read back, not run again
    whole, folder = solo_sweep
    pd.testing.assert_frame_equal(without_time(out / "sweep.csv"),
                                  without_time(folder / "sweep.csv"))
    assert resumed.statistics == whole.statistics


@pytest.mark.slow
def test_ctrl_c_leaves_only_complete_cells_and_the_rerun_finishes(small_csv: Path,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    grid = tmp_path / "grid.toml"
    grid.write_text("[sac]\nlearning_starts = 8\nbatch_size = 32\n"
                    "[sweep]\nalpha = [0.02, 2.0]\nseeds = 2\n")
    flags = ["--config", str(grid), "--universe", str(small_csv), "--train-years", "1",
             "--test-years", "1", "--train-steps", "400", "--lookback", "20", "--device", "cpu",
             "--jobs", "2", "--out", str(out), "--quiet", "--no-html"]
    proc = subprocess.Popen([sys.executable, "-m", "maxent_portfolio", "sweep", *flags],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and \
            not list((out / "cells").glob("*.json")):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == "interrupted"
    files = list((out / "cells").iterdir())
    # Two workers: the first two cells end together, the last two had not: no partial file.
    assert 1 <= len(files) < 4 and all(f.suffix == ".json" for f in files)
    for f in files:
        assert CellResult.from_json(json.loads(f.read_text())).cell.dial == "alpha"
    assert not (out / "sweep.csv").exists()
    done = cli("sweep", *flags)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(pd.read_csv(out / "sweep.csv")) == 4


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["local", pytest.param("ray", marks=needs_ray)])
def test_a_cell_refusing_its_data_is_a_user_error_on_both_backends(
        small_csv: Path, tmp_path: Path, backend: str) -> None:
    run, sweep = resolve_sweep(None, {"data.universe": str(small_csv), **TINY},
                               {"alpha": [0.1, 1.0], "seeds": 1, "jobs": 2,
                                "backend": backend})
    plan = prepare_sweep(run, sweep)
    # Past the run's own check of the windows (prepare refuses this lookback up front).
    config = plan.data.config
    plan.data = SweepData(config.model_copy(update={"env": config.env.model_copy(
        update={"lookback": 400})}), plan.data.market, plan.data.folds)
    with pytest.raises(UserError, match="SAC needs at least 402 training returns"):
        run_sweep(plan, tmp_path / "s")
    assert not (tmp_path / "s").exists()  # no cell: nothing partial is left


def test_a_sweep_failing_before_its_first_cell_leaves_nothing(
        small_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad Ray address or a first cell that diverges: no ``sweep.json``, no empty ``cells/``
    (nor the parents ``--out`` created); a directory that already held cells keeps them."""
    import maxent_portfolio.sweep.run as sweep_run

    def unreachable(*args: Any) -> None:
        raise ConfigError("cannot join the Ray cluster at 'auto'")

    plan = plan_for(small_csv)
    monkeypatch.setattr(sweep_run, "run_backend", unreachable)
    with pytest.raises(ConfigError, match="cannot join"):
        run_sweep(plan, tmp_path / "a" / "b" / "sweep")
    assert list(tmp_path.iterdir()) == []
    folder = tmp_path / "old"
    store = SweepStore(folder, plan)
    store.open()
    (folder / "cells" / "x.json").write_text("{}")
    with pytest.raises(ConfigError, match="cannot join"):
        run_sweep(plan, folder)
    assert (folder / "sweep.json").is_file() and (folder / "cells" / "x.json").is_file()


def test_a_cell_file_with_a_missing_return_is_refused_with_its_name(
        small_csv: Path, tmp_path: Path) -> None:
    plan = plan_for(small_csv)
    store = SweepStore(tmp_path / "s", plan)
    store.open()
    cell = plan.cells[0]
    returns = pd.Series(0.001, index=store.dates)
    returns.iloc[1] = np.nan
    store.save(CellResult(cell, dict.fromkeys(CELL_COLUMNS, 0.5), returns))
    path = store.cells / f"{cell.key}.json"
    assert "NaN" in path.read_text()  # what json.dumps writes, and json.loads reads back
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no RuntimeWarning leaks on the way
        with pytest.raises(ConfigError, match=re.escape(
                f"sweep cell {path} holds a return that is not finite on "
                f"{store.dates[1]:%Y-%m-%d}")):
            store.load(plan.cells)


def test_a_directory_of_another_sweep_or_of_something_else_is_refused(
        small_csv: Path, tmp_path: Path) -> None:
    folder = tmp_path / "s"
    SweepStore(folder, plan_for(small_csv)).open()
    with pytest.raises(ConfigError, match=r"holds a different sweep \(grid.values is "
                                          r"\[0.02, 0.5\] there, \[0.02, 0.3\] here\)"):
        SweepStore(folder, plan_for(small_csv, alpha=[0.02, 0.3])).open()
    with pytest.raises(ConfigError, match="holds a different sweep"):
        SweepStore(folder, plan_for(small_csv, seeds=3)).open()
    (tmp_path / "plain").mkdir()
    with pytest.raises(ConfigError, match="is not a sweep directory"):
        SweepStore(tmp_path / "plain", plan_for(small_csv)).open()


def test_shipped_sweep_example_is_valid() -> None:
    run, sweep = resolve_sweep(REPO / "strategies" / "sweep.toml", {}, {})
    assert run.preset == "full" and sweep.dial == "alpha"
    assert sweep.dial_values == [0.001, 0.01, 0.1, 1.0]
    assert sweep.seeds == 3 and len(grid_cells(run, sweep)) == 12


# --- batched cells (--seed-batch) -----------------------------------------------------------

def test_cell_groups_are_consecutive_cells_of_one_cost() -> None:
    cells = [Cell("alpha", v, c, s) for v in (0.1, 0.2) for c in (5.0, 10.0) for s in (0, 1)]
    groups = cell_groups(cells, 3)
    assert [[(x.value, x.cost_bps, x.seed) for x in g] for g in groups] == [
        [(0.1, 5.0, 0), (0.1, 5.0, 1), (0.2, 5.0, 0)], [(0.2, 5.0, 1)],
        [(0.1, 10.0, 0), (0.1, 10.0, 1), (0.2, 10.0, 0)], [(0.2, 10.0, 1)]]
    assert cell_groups(cells, 1) == [[cell] for cell in sorted(
        cells, key=lambda c: c.cost_bps or 0.0)]


def batched_plan(csv: Path, **grid: Any) -> Any:
    run, sweep = resolve_sweep(None, {"data.universe": str(csv), **TINY, "sac.seed_batch": 2},
                               {"alpha": [0.02, 0.5], "seeds": 2, "jobs": 1, **grid})
    return prepare_sweep(run, sweep)


@pytest.fixture(scope="module")
def batched_sweep(small_csv: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> tuple[SweepOutcome, Path]:
    """The sweep with its cells trained two at a time as one network, and its folder."""
    out = tmp_path_factory.mktemp("batched-sweep") / "sweep"
    return run_sweep(batched_plan(small_csv), out), out


@pytest.mark.slow
def test_batched_cells_match_on_local_jobs_and_follow_their_solo_runs(
        batched_sweep: tuple[SweepOutcome, Path], solo_sweep: tuple[SweepOutcome, Path],
        small_csv: Path, tmp_path: Path) -> None:
    """The same sweep.csv for --jobs 1 and 2; each cell follows its solo run (float
    tolerance: batched matmul kernels round differently)."""
    batched, folder = batched_sweep
    run_sweep(batched_plan(small_csv, jobs=2), tmp_path / "two")
    pd.testing.assert_frame_equal(without_time(folder / "sweep.csv"),
                                  without_time(tmp_path / "two" / "sweep.csv"))
    pd.testing.assert_series_equal(batched.table["sharpe"], solo_sweep[0].table["sharpe"],
                                   rtol=0, atol=1e-4)


@pytest.mark.slow
def test_an_interrupted_batched_sweep_resumes_to_the_whole(
        batched_sweep: tuple[SweepOutcome, Path], small_csv: Path, tmp_path: Path) -> None:
    seen: list[CellResult] = []

    def stop_after_first(result: CellResult) -> None:
        seen.append(result)
        raise KeyboardInterrupt

    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(batched_plan(small_csv), out, on_cell=stop_after_first)
    resumed = run_sweep(batched_plan(small_csv), out)
    assert seen[0].cell.key not in resumed.computed and len(resumed.computed) == 3
    pd.testing.assert_frame_equal(without_time(out / "sweep.csv"),
                                  without_time(batched_sweep[1] / "sweep.csv"))


@pytest.mark.slow
@needs_ray
def test_ray_gives_the_batched_sweep_csv(batched_sweep: tuple[SweepOutcome, Path],
                                         small_csv: Path, tmp_path: Path) -> None:
    run_sweep(batched_plan(small_csv, jobs=2, backend="ray"), tmp_path / "ray")
    pd.testing.assert_frame_equal(without_time(batched_sweep[1] / "sweep.csv"),
                                  without_time(tmp_path / "ray" / "sweep.csv"))
