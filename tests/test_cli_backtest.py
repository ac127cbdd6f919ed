"""End-to-end: the real CLI on the embedded data with tiny budgets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from support import REPO, cli

BASELINES = "equal-weight,buy-and-hold,min-variance,eg"


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a running process (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
def test_backtest_writes_a_complete_run_directory(tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = cli("backtest", "--strategies", f"sac,{BASELINES}", "--start", "2015-01-01",
              "--train-years", "2", "--test-years", "2", "--train-steps", "256", "--out",
              str(out), cwd=REPO)
    assert res.returncode == 0, res.stderr[-3000:]
    assert str(out / "index.html") in res.stdout
    metrics = pd.read_csv(out / "metrics.csv")
    names = ["sac", *BASELINES.split(","), "benchmark"]
    assert list(metrics.iloc[:, 0]) == names
    for col in ("cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar",
                "turnover", "effective_n", "p_sharpe_vs_ref", "dsr"):
        assert col in metrics.columns
    returns = pd.read_csv(out / "returns.csv", index_col="date", parse_dates=True)
    assert list(returns.columns)[:5] == names[:5]
    assert returns.index[0] >= pd.Timestamp("2017-01-01")  # out of sample only
    for name in names[:-1]:
        assert (out / "weights" / f"{name}.csv").is_file()
        sheet = (out / "tearsheets" / f"{name}.html").read_text(encoding="utf-8")
        assert name in sheet
    config = json.loads((out / "config.json").read_text())
    assert config["sac"]["train_steps"] == 256 and config["data"]["universe"] == "sp500-20"
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["data_hash"] and "torch" in prov["packages"]
    # Every derived seed is recorded: the agent's fold seeds and its episode streams.
    agent = prov["seeds"]["agents"]["0"]
    assert agent["folds"][0] == 0 and len(agent["folds"]) == len(prov["folds"])
    assert len(agent["episodes"][0]) == config["sac"]["num_envs"]
    folds = len(prov["folds"])
    assert sorted(p.name for p in (out / "checkpoints" / "sac").glob("*.pt")) == [
        f"fold-{i}.pt" for i in range(folds)]
    page = (out / "index.html").read_text(encoding="utf-8")
    assert all(name in page for name in names)
    learning = pd.read_csv(out / "learning.csv")  # the agent's curves, every fold
    assert set(learning["strategy"]) == {"sac"} and set(learning["fold"]) == set(range(folds))
    assert "Learning curves" in page and "fig-learning-0" in page

    again = cli("backtest", "--strategies", "equal-weight", "--out", str(out), cwd=REPO)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1

    rerendered = cli("report", str(out), cwd=REPO)
    assert rerendered.returncode == 0, rerendered.stderr[-2000:]


@pytest.mark.slow
def test_custom_csv_universe_and_plugin_end_to_end(tmp_path: Path) -> None:
    idx = pd.bdate_range("2012-01-02", periods=900)
    rng = pd.Series(range(900), index=idx)
    prices = pd.DataFrame({"<b>X</b>": 100 * 1.0003 ** rng, "Y": 50 * 1.0001 ** rng,
                           "Z": 20 + (rng % 7)}, index=idx)
    prices.index.name = "date"
    csv = tmp_path / "mine.csv"
    prices.to_csv(csv)
    plugin = tmp_path / "tilt.py"
    plugin.write_text(
        "import pandas as pd\n"
        "from maxent_portfolio.strategies.base import Strategy\n\n"
        "class Tilt(Strategy):\n"
        "    name = 'tilt'\n"
        "    description = 'two thirds in the first asset'\n"
        "    def allocate(self, history, current):\n"
        "        w = pd.Series(1 / 3 / (history.shape[1] - 1), index=history.columns)\n"
        "        w.iloc[0] = 2 / 3\n"
        "        return w\n")
    out = tmp_path / "run"
    res = cli("backtest", "--universe", str(csv), "--strategies", "equal-weight,tilt",
              "--plugin", str(plugin), "--train-years", "1", "--test-years", "1",
              "--out", str(out), "--quiet", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().endswith("index.html")
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<b>X</b>" not in page and "&lt;b&gt;X&lt;/b&gt;" in page
    assert list(pd.read_csv(out / "metrics.csv").iloc[:, 0]) == ["equal-weight", "tilt"]


@pytest.mark.slow
def test_bad_inputs_exit_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "neg.csv"
    bad.write_text("date,A,B\n2020-01-01,1,2\n2020-01-02,-1,2\n2020-01-03,1,2\n")
    cases = [
        (["backtest", "--universe", str(bad)], "A"),
        (["backtest", "--strategies", "nope"], "nope"),
        (["backtest", "--cost-bps", "-3"], "cost-bps"),
        (["backtest", "--universe", "no-such-universe"], "no-such-universe"),
    ]
    for args, culprit in cases:
        res = cli(*args, "--quiet", cwd=tmp_path)
        assert res.returncode == 2, (args, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and culprit in lines[0] and "Traceback" not in res.stderr


@pytest.mark.slow
@pytest.mark.parametrize("quiet", [True, False])
def test_errors_mid_run_are_one_line_with_or_without_the_progress_bar(
        tmp_path: Path, quiet: bool) -> None:
    """Issue #11 item 7: the bar's last frame must not stay above the error."""
    plugin = tmp_path / "broken.py"
    plugin.write_text(
        "from maxent_portfolio.strategies.base import Strategy\n\n"
        "class Broken(Strategy):\n"
        "    name = 'broken'\n"
        "    description = 'raises at its first rebalance'\n"
        "    def allocate(self, history, current):\n"
        "        raise RuntimeError('boom')\n")
    out = tmp_path / "run"
    res = cli("backtest", "-s", "equal-weight,broken", "--plugin", str(plugin), "--no-html",
              "--out", str(out), *(["--quiet"] if quiet else []), cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "broken" in lines[0] and "boom" in lines[0], res.stderr
    assert not out.exists() and not (tmp_path / "reports").exists()


def _answer_ctrl_c() -> None:
    """A shell without job control starts background jobs with SIGINT ignored, and the child
    inherits that; restore the default so the test's Ctrl-C reaches the CLI wherever it runs."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_interrupted_backtest_leaves_no_partial_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ}
    proc = subprocess.Popen(
        [sys.executable, "-m", "maxent_portfolio", "backtest", "--strategies",
         "sac,equal-weight", "--train-steps", "200000", "--out", str(out), "--quiet"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_answer_ctrl_c)
    deadline = time.time() + 120
    # Wait until work has started (a partial directory exists), then interrupt.
    while time.time() < deadline and not list(tmp_path.glob(".run.partial-*")) \
            and proc.poll() is None:
        time.sleep(0.5)
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=300)
    assert proc.returncode != 0
    assert not out.exists()
    assert not list(tmp_path.glob(".run.partial-*"))


@pytest.mark.slow
def test_a_hotter_agent_holds_more_names_on_real_data(tmp_path: Path) -> None:
    effective_n = {}
    for alpha in ("0.001", "1.0"):
        out = tmp_path / f"alpha-{alpha}"
        res = cli("backtest", "-s", "sac", "--alpha", alpha, "--start", "2012-01-01", "--end",
                  "2016-12-31", "--train-years", "3", "--test-years", "2", "--train-steps",
                  "1500", "--shrinkage", "none",  # the policy's own weights, unmixed
                  "--no-html", "--quiet", "--out", str(out), cwd=REPO)
        assert res.returncode == 0, res.stderr[-2000:]
        effective_n[alpha] = float(pd.read_csv(out / "metrics.csv")["effective_n"].iloc[0])
    assert effective_n["1.0"] > effective_n["0.001"] + 3, effective_n


@pytest.mark.slow
def test_train_is_interrupted_then_resumed(tmp_path: Path) -> None:
    ckpt = tmp_path / "sac.pt"
    args = [sys.executable, "-m", "maxent_portfolio", "train", "--start", "2008-01-01",
            "--end", "2012-12-31", "--train-steps", "40000", "--out", str(ckpt), "--quiet"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    # Interrupt once training is under way: imports, data and env take about 10 CPU seconds.
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and _cpu_seconds(proc.pid) < 20:
        time.sleep(0.5)
    assert proc.poll() is None, "training ended before it could be interrupted"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 143, stderr  # 128 + SIGTERM, the shell convention
    assert stderr.strip().splitlines()[-1].endswith("continue with --resume"), stderr
    assert ckpt.is_file()

    from maxent_portfolio.agents import load_checkpoint

    done = load_checkpoint(ckpt)["step"]
    assert 0 < done < 10_000  # vector steps of 4 envs
    short = [a if a != "40000" else str(4 * (done + 50)) for a in args]
    res = cli(*short[3:], "--resume", cwd=REPO)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"trained {4 * (done + 50)} steps" in res.stdout


@pytest.mark.slow
def test_train_seeds_writes_one_checkpoint_per_seed(tmp_path: Path) -> None:
    from maxent_portfolio.agents import load_checkpoint

    args = ("train", "--start", "2010-01-01", "--end", "2012-12-31", "--train-steps", "64",
            "--seed", "5", "--seeds", "2", "--out", str(tmp_path / "sac.pt"), "--quiet")
    res = cli(*args, cwd=REPO)
    assert res.returncode == 0, res.stderr[-2000:]
    paths = [tmp_path / "sac-seed5.pt", tmp_path / "sac-seed6.pt"]
    assert [line for line in res.stdout.splitlines() if line.endswith(".pt")] == \
        [str(p) for p in paths]
    assert not (tmp_path / "sac.pt").exists()
    states = [load_checkpoint(p) for p in paths]
    assert [s["config"]["seed"] for s in states] == [5, 6]
    assert any(not v.equal(states[1]["model"][k]) for k, v in states[0]["model"].items())

    again = cli(*args, cwd=REPO)  # never overwrites a finished run silently
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert "sac-seed5.pt exists" in again.stderr
    bad = cli("train", "--seeds", "0", "--out", str(tmp_path / "x.pt"), cwd=REPO)
    assert bad.returncode == 2 and bad.stderr.strip() == "error: invalid seeds 0: must be " \
        ">= 1"
    cold = cli("train", "--alpha", "0", "--out", str(tmp_path / "x.pt"), cwd=REPO)
    assert cold.returncode == 2 and "invalid alpha 0.0" in cold.stderr
    usage = cli("train", "--seeds", "many", "--out", str(tmp_path / "x.pt"), cwd=REPO)
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1, usage.stderr
    assert "'--seeds'" in usage.stderr and "train --help" in usage.stderr
