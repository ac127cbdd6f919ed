"""Every refused input: one line on stderr naming the culprit, exit code 2, nothing written.

The catalogue below is also the source of ``docs/errors.md``: each case runs through the real
CLI (in process), and the page lists the message a user sees. The test fails when the page is
stale; regenerate it with ``make errors-doc``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from maxent_portfolio.cli import main
from maxent_portfolio.strategies import registry

DOC = Path(__file__).resolve().parents[1] / "docs" / "errors.md"
WRITE = os.environ.get("MAXENT_WRITE_ERRORS_DOC") == "1"


def _prices(tmp: Path, name: str = "prices.csv", n: int = 300, edit: Callable[[str], str]
            = lambda text: text) -> None:
    rng = np.random.default_rng(0)
    index = pd.bdate_range("2014-01-02", periods=n, name="date")
    frame = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 0.01, (n, 3)), axis=0)),
                         index=index, columns=["AAA", "BBB", "CCC"]).round(4)
    (tmp / name).write_text(edit(frame.to_csv()))


def _set(row: int, column: int, value: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        lines = text.splitlines()
        cells = lines[row].split(",")
        cells[column] = value
        lines[row] = ",".join(cells)
        return "\n".join(lines) + "\n"
    return edit


def _rewrite_dates(edit: Callable[[list[pd.Timestamp]], list[str]]) -> Callable[[str], str]:
    """Rewrite the date column of a CSV written by :func:`_prices`."""
    def rewrite(text: str) -> str:
        lines = text.splitlines()
        dates = [pd.Timestamp(line.split(",", 1)[0]) for line in lines[1:]]
        return "\n".join([lines[0], *(f"{d},{line.split(',', 1)[1]}"
                                      for d, line in zip(edit(dates), lines[1:], strict=True))])
    return rewrite


_day_first = _rewrite_dates(lambda dates: [f"{d:%d/%m/%Y}" for d in dates])
# Days 1 to 12 of each month only: every date reads both ways.
_ambiguous_dates = _rewrite_dates(lambda dates: [
    f"{d:%d/%m/%Y}" for d in pd.DatetimeIndex([pd.Timestamp(2000 + i // 144, i // 12 % 12 + 1,
                                                              i % 12 + 1)
                                               for i in range(len(dates))])])


def _month_ends_after(n_daily: int) -> Callable[[str], str]:
    def edit(dates: list[pd.Timestamp]) -> list[str]:
        ends = pd.date_range(dates[n_daily - 1], periods=len(dates) - n_daily + 1, freq="ME")
        return [f"{d:%Y-%m-%d}" for d in [*dates[:n_daily], *ends[1:]]]
    return _rewrite_dates(edit)


def _monthly(tmp: Path, months: int = 150) -> None:
    """``monthly.csv``: three assets, ``months`` month-end prices."""
    rng = np.random.default_rng(1)
    index = pd.date_range("2005-01-31", periods=months, freq="ME", name="date")
    frame = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0.005, 0.04, (months, 3)), axis=0)),
                         index=index, columns=["AAA", "BBB", "CCC"]).round(4)
    (tmp / "monthly.csv").write_text(frame.to_csv())


def _baseline_run(tmp: Path, *extra: str) -> None:
    """A run directory ``run`` of equal-weight and min-variance on ``prices.csv`` (900 days,
    kept), with ``extra`` options."""
    _prices(tmp, n=900)
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), \
            contextlib.redirect_stderr(sink):  # the run's path and notes: not the case's output
        assert main(["backtest", "-u", "prices.csv", "--out", "run", "--train-years", "1",
                     "-s", "equal-weight,min-variance", "--no-html", "--quiet", *extra]) == 0


def _sac_run_without_checkpoints(tmp: Path) -> None:
    """A run directory ``run`` of sac (50 steps, one fold) whose checkpoints/ was deleted."""
    _baseline_run(tmp, "-s", "sac", "--train-steps", "50", "--lookback", "20",
                  "--test-years", "3", "--placebos", "0", "--jobs", "1")
    shutil.rmtree(tmp / "run" / "checkpoints")


def _holdings(text: str) -> Callable[[Path], None]:
    """``prices.csv`` (300 days to 2015-02-24) and ``book.csv`` holding ``text``."""
    def setup(tmp: Path) -> None:
        _prices(tmp)
        (tmp / "book.csv").write_text(text)
    return setup


def _edited_run(tmp: Path, name: str, column: str, value: float) -> None:
    """A run directory ``run`` of equal-weight on a small CSV, with one value of ``column`` of
    its file ``name`` (a CSV or parquet table) replaced by ``value``."""
    _baseline_run(tmp)
    path = tmp / "run" / name
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    frame.iloc[0, frame.columns.get_loc(column)] = value
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    (tmp / "prices.csv").unlink()


def _file(name: str, text: str) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return setup


def _prices_and_config(text: str) -> Callable[[Path], None]:
    """``prices.csv`` (:func:`_prices`) and ``run.toml`` holding ``text``."""
    def setup(tmp: Path) -> None:
        _prices(tmp)
        _file("run.toml", text)(tmp)
    return setup


def _plugin(name: str, body: str, strategy: str | None = None) -> Callable[[Path], None]:
    """A plug-in file ``name.py`` defining strategy ``strategy`` (default: ``name``)."""
    return _file(f"{name}.py", "import numpy as np\nimport pandas as pd\n"
                 "from maxent_portfolio.strategies.base import Strategy\n\n"
                 f"class P(Strategy):\n    name = '{strategy or name}'\n"
                 "    description = 'test'\n"
                 f"    def allocate(self, history, current):\n        {body}\n")


def _nan_checkpoint(tmp: Path) -> None:
    """``sac.pt``: 8 steps trained on data to 2012 (quietly), then every weight set to NaN."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), \
            contextlib.redirect_stderr(sink):
        assert main(["train", "--train-steps", "8", "--end", "2012", "--out", "sac.pt",
                     "--quiet"]) == 0
    state = torch.load(tmp / "sac.pt", weights_only=True)
    for tensor in state["model"].values():
        if tensor.is_floating_point():
            tensor.fill_(float("nan"))
    torch.save(state, tmp / "sac.pt")


def _stress_run(strategies: str, edit: Callable[[Path], None] = lambda run: None
                ) -> Callable[[Path], None]:
    """``run``: a run directory of ``strategies`` on a small CSV (kept beside it, as a stress
    test reloads the run's data), then ``edit``-ed."""
    def setup(tmp: Path) -> None:
        _prices(tmp, n=700)
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), \
                contextlib.redirect_stderr(sink):
            assert main(["backtest", "-u", "prices.csv", "--out", "run", "--train-years", "1",
                         "-s", strategies, "--train-steps", "8", "--lookback", "10",
                         "--placebos", "0", "--jobs", "1", "--no-html", "--quiet"]) == 0
        edit(tmp / "run")
    return setup


SWEEP = ["sweep", "--out", "old", "--alpha", "0.5", "--seeds", "1", "--no-html", "--quiet"]
"""A one-cell sweep resumed from ``old``, made by :func:`_sweep_dir`."""


def _sweep_dir(edit: Callable[[Path, Any], None]) -> Callable[[Path], None]:
    """``old``: the directory of :data:`SWEEP` (its sweep.json, no cell yet), then ``edit``-ed
    with the store's cells folder and the sweep's only cell."""
    def setup(tmp: Path) -> None:
        from maxent_portfolio.sweep import prepare_sweep, resolve_sweep
        from maxent_portfolio.sweep.run import SweepStore

        run, grid = resolve_sweep(None, {"report.html": False}, {"alpha": [0.5], "seeds": 1})
        plan = prepare_sweep(run, grid)
        store = SweepStore(tmp / "old", plan)
        store.open()
        edit(tmp / "old" / "cells", (store, plan.cells[0]))
    return setup


def _cell_without_sharpe(cells: Path, made: Any) -> None:
    """A cell written by the sweep itself (digest and checksum right) that lacks a measure."""
    from maxent_portfolio.sweep.cells import CELL_COLUMNS, CellResult

    store, cell = made
    measures = {k: 0.5 for k in CELL_COLUMNS if k != "sharpe"}
    store.save(CellResult(cell, measures, pd.Series(0.001, index=store.dates)))


def _cells_as_a_file(cells: Path, made: Any) -> None:
    cells.rmdir()
    cells.write_text("x")


@dataclass
class Case:
    """One refused input: the command, the files it needs, and the culprit its message names."""

    what: str
    args: list[str]
    culprit: str
    setup: Callable[[Path], None] = field(default=lambda tmp: None)
    needs_cpu_only: bool = False


FAST = ["--no-html", "--quiet"]
PLUG = ["-s", "equal-weight", "--no-html", "--quiet"]
ALLOCATE = ["allocate", "--strategy", "equal-weight", "-u", "prices.csv", "--train-years", "0.5",
            "--out", "x"]
"""A decision without a run directory on ``prices.csv`` (see :func:`_prices`)."""
CASES = [
    # --- options, from flags ---------------------------------------------------------------
    Case("negative cost", ["backtest", "--cost-bps", "-3"], "cost-bps"),
    Case("negative slippage", ["backtest", "--slippage-bps", "-1"], "slippage-bps"),
    Case("diversification above 1", ["backtest", "--diversification", "1.5"], "diversification"),
    Case("diversification 0", ["backtest", "--diversification", "0"], "diversification"),
    Case("zero temperature", ["backtest", "--alpha", "0"], "alpha"),
    Case("unknown policy head", ["backtest", "--policy", "gaussian"], "policy"),
    Case("unknown network", ["backtest", "--network", "cnn"], "network"),
    Case("unknown reward", ["backtest", "--reward", "sortino"], "reward"),
    Case("lookback below 2", ["backtest", "--lookback", "1"], "lookback"),
    Case("unknown feature group", ["backtest", "--features", "base,sentiment"], "sentiment"),
    Case("no training steps", ["backtest", "--train-steps", "0"], "train-steps"),
    Case("unknown schedule", ["backtest", "--rebalance", "hourly"], "hourly"),
    Case("every:0 schedule", ["backtest", "--rebalance", "every:0"], "every:0"),
    Case("drift threshold above 1", ["backtest", "--rebalance", "drift:2"], "drift:2"),
    Case("unknown preset", ["backtest", "--preset", "huge"], "preset"),
    Case("no seeds", ["backtest", "--seeds", "0"], "seeds"),
    Case("negative seed", ["backtest", "--seed", "-1"], "seed"),
    Case("no worker processes", ["backtest", "--jobs", "0"], "jobs"),
    Case("weight cap above 1", ["backtest", "--max-weight", "2"], "max-weight"),
    Case("negative placebo count", ["backtest", "--placebos", "-1"], "placebos"),
    Case("zero test window", ["backtest", "--test-years", "0"], "test-years"),
    Case("negative training window", ["backtest", "--train-years", "-1"], "train-years"),
    Case("negative embargo", ["backtest", "--purge-days", "-2"], "purge-days"),
    Case("impossible date", ["backtest", "--start", "2010-13-45"], "start"),
    Case("not a date", ["backtest", "--end", "soon"], "end"),
    Case("zero years of data", ["backtest", "--years", "0"], "years"),
    Case("unknown late-listing policy", ["backtest", "--missing", "sometimes"], "missing"),
    Case("empty strategy list", ["backtest", "-s", ""], "strategies"),
    Case("unknown strategy", ["backtest", "-s", "nope"], "nope"),
    Case("unknown device", ["backtest", "--device", "tpu"], "device"),
    Case("CUDA without a GPU", ["backtest", "--device", "cuda"], "cuda", needs_cpu_only=True),
    Case("a number that is not one", ["backtest", "--cost-bps", "ten"], "cost-bps"),
    Case("an unknown flag", ["backtest", "--cost", "3"], "--cost"),
    # --- options, from a config file ----------------------------------------------------------
    Case("missing config file", ["backtest", "--config", "run.toml"], "run.toml"),
    Case("config path is a directory", ["backtest", "--config", "conf"], "conf",
         _file("conf/keep", "")),
    Case("config of unknown type", ["backtest", "--config", "run.txt"], "run.txt",
         _file("run.txt", "seeds = 2\n")),
    Case("config that does not parse", ["backtest", "--config", "run.toml"], "run.toml",
         _file("run.toml", "cost_bps = [\n")),
    Case("config that is not a table", ["backtest", "--config", "run.yaml"], "run.yaml",
         _file("run.yaml", "- 1\n- 2\n")),
    Case("unknown key in a config", ["backtest", "--config", "run.toml"], "cost_bsp",
         _file("run.toml", "cost_bsp = 3\n")),
    Case("a section that is not a table", ["backtest", "--config", "run.toml"],
         "'sac' in run.toml is a section", _file("run.toml", "sac = [1, 2]\n")),
    Case("key in the wrong section", ["backtest", "--config", "run.toml"], "sac.lookback",
         _file("run.toml", "[sac]\nlookback = 5\n")),
    Case("one key at the top level and in [backtest]", ["backtest", "--config", "run.toml"],
         "cost_bps", _file("run.toml", "cost_bps = 50\n[backtest]\ncost_bps = 5\n")),
    Case("impossible date in a YAML config", ["backtest", "--config", "run.yaml"], "start",
         _file("run.yaml", "start: 2016-13-01\n")),
    Case("fractional seeds", ["backtest", "--config", "run.toml"], "seeds",
         _file("run.toml", "seeds = 1.5\n")),
    Case("fractional embargo", ["backtest", "--config", "run.toml"], "purge-days",
         _file("run.toml", "purge_days = 2.5\n")),
    Case("strategies as a number", ["backtest", "--config", "run.toml"], "strategies",
         _file("run.toml", "strategies = 5\n")),
    Case("fractional training steps", ["backtest", "--config", "run.toml"], "train-steps",
         _file("run.toml", "train_steps = 200.5\n")),
    Case("a string for a switch", ["backtest", "--config", "run.toml"], "rolling",
         _file("run.toml", 'rolling = "yes"\n')),
    Case("a boolean for a number", ["backtest", "--config", "run.toml"], "cost-bps",
         _file("run.toml", "cost_bps = true\n")),
    Case("negative per-asset cost", ["backtest", "--config", "run.toml"], "cost-bps",
         _file("run.toml", "[costs.cost_bps]\nAAPL = -1\n")),
    Case("a config file's plug-in missing beside it", ["backtest", "--config", "cfg/run.toml",
                                                         *PLUG], "cfg/mine.py",
         _file("cfg/run.toml", 'plugins = ["mine.py"]\n')),
    Case("config --section of no section", ["config", "--section", "nope"], "nope"),
    # --- where results go -------------------------------------------------------------------
    Case("run directory exists", ["backtest", "--out", "old", *FAST], "old",
         _file("old/keep", "")),
    Case("run directory under a file", ["backtest", "--out", "notes.txt/run", *FAST],
         "notes.txt", _file("notes.txt", "x")),
    Case("run directory not writable", ["backtest", "--out", "/proc/run", *FAST], "/proc"),
    # --- data ------------------------------------------------------------------------------------
    Case("unknown universe", ["backtest", "-u", "no-such-universe"], "no-such-universe"),
    Case("CSV not found", ["backtest", "-u", "missing.csv"], "missing.csv"),
    Case("CSV path is a directory", ["backtest", "-u", "folder.csv"], "folder.csv",
         _file("folder.csv/keep", "")),
    Case("zero price in a CSV", ["backtest", "-u", "prices.csv", *PLUG], "BBB",
         lambda tmp: _prices(tmp, edit=_set(120, 2, "0"))),
    Case("negative price in a CSV", ["backtest", "-u", "prices.csv", *PLUG], "CCC",
         lambda tmp: _prices(tmp, edit=_set(40, 3, "-3"))),
    Case("a one-day price spike, with --spikes refuse",
         ["backtest", "-u", "prices.csv", "--spikes", "refuse", *PLUG], "BBB",
         lambda tmp: _prices(tmp, edit=_set(100, 2, "10100"))),
    Case("unknown spike policy", ["backtest", "--spikes", "sometimes"], "spikes"),
    Case("text in a price column", ["backtest", "-u", "prices.csv", *PLUG], "AAA",
         lambda tmp: _prices(tmp, edit=_set(7, 1, "n/a?"))),
    Case("duplicate column name", ["backtest", "-u", "prices.csv", *PLUG], "AAA",
         lambda tmp: _prices(tmp, edit=lambda t: t.replace("BBB", "AAA", 1))),
    Case("blank column name", ["backtest", "-u", "prices.csv", *PLUG], "column",
         lambda tmp: _prices(tmp, edit=lambda t: t.replace(",BBB,", ",,", 1))),
    Case("dates that are not dates", ["backtest", "-u", "prices.csv", *PLUG], "date",
         lambda tmp: _prices(tmp, edit=_set(5, 0, "someday"))),
    Case("dates that read day-first and month-first", ["backtest", "-u", "prices.csv", *PLUG],
         "--date-format", lambda tmp: _prices(tmp, edit=_ambiguous_dates)),
    Case("dates that do not match --date-format",
         ["backtest", "-u", "prices.csv", "--date-format", "%m/%d/%Y", *PLUG], "date-format",
         lambda tmp: _prices(tmp, edit=_day_first)),
    Case("universe file with a date format that is not one", ["backtest", "-u", "mine.yaml"],
         "date_format", _file("mine.yaml", "source: csv\npath: p.csv\ndate_format: dd/mm\n")),
    Case("a CSV whose frequency changes", ["backtest", "-u", "prices.csv", *PLUG],
         "changes frequency", lambda tmp: _prices(tmp, n=748, edit=_month_ends_after(700))),
    Case("empty CSV", ["backtest", "-u", "empty.csv", *PLUG], "empty.csv",
         _file("empty.csv", "")),
    Case("too little history for the walk-forward", ["backtest", "-u", "prices.csv", *PLUG],
         "prices.csv", lambda tmp: _prices(tmp, n=60)),
    Case("a lookback longer than a monthly training window allows",
         ["backtest", "-u", "monthly.csv", "-s", "sac-discrete", "--train-years", "10",
          "--train-steps", "300", *FAST], "--lookback", _monthly),
    Case("a lookback longer than sac's training window",
         ["backtest", "-u", "prices.csv", "-s", "sac", "--train-years", "1", "--test-years",
          "0.1", "--lookback", "260", "--train-steps", "300", *FAST], "--train-years",
         lambda tmp: _prices(tmp, n=300)),
    Case("start after end", ["backtest", "--start", "2015-01-01", "--end", "2005-01-01",
                             *PLUG], "2005-01-01"),
    Case("returns at or below -100%", ["backtest", "-u", "returns.csv", *PLUG], "BBB",
         _file("returns.csv", "date,AAA,BBB\n" + "".join(
             f"{d.date()},0.01,{'-1.5' if i == 30 else '0.002'}\n"
             for i, d in enumerate(pd.bdate_range("2015-01-02", periods=400))))),
    Case("invalid universe file", ["backtest", "-u", "mine.yaml"], "mine.yaml",
         _file("mine.yaml", "name: mine\nsource: csv\n")),
    Case("impossible date in a universe file", ["backtest", "-u", "mine.yaml"], "start",
         _file("mine.yaml", "name: mine\nsource: csv\npath: p.csv\nstart: 2016-13-01\n")),
    Case("universe file with unknown source", ["backtest", "-u", "mine.yaml"], "source",
         _file("mine.yaml", "name: mine\nsource: bloomberg\ntickers: [A]\n")),
    # --- plug-ins ----------------------------------------------------------------------------
    Case("plug-in file not found", ["backtest", "--plugin", "gone.py", *FAST], "gone.py"),
    Case("plug-in with a syntax error", ["backtest", "--plugin", "typo.py", *FAST], "typo.py",
         _file("typo.py", "def broken(:\n")),
    Case("broken plug-in in strategies/, used", ["backtest", "-s", "bad", *FAST], "bad.py",
         _file("strategies/bad.py", "import no_such_module\n")),
    Case("plug-in that raises", ["backtest", "--plugin", "boom.py", "-s", "boom", *FAST],
         "boom", _plugin("boom", "raise RuntimeError('boom')")),
    Case("plug-in returning negative weights",
         ["backtest", "--plugin", "neg.py", "-s", "neg", *FAST], "neg",
         _plugin("neg", "w = pd.Series(1.0, index=history.columns); w.iloc[0] = -1.0; "
                        "return w / w.sum()")),
    Case("plug-in returning NaN weights", ["backtest", "--plugin", "nan.py", "-s", "nan", *FAST],
         "nan", _plugin("nan", "return pd.Series(np.nan, index=history.columns)")),
    Case("plug-in weights not summing to 1",
         ["backtest", "--plugin", "half.py", "-s", "half", *FAST], "half",
         _plugin("half", "return pd.Series(0.1, index=history.columns)")),
    Case("plug-in naming an unknown asset",
         ["backtest", "--plugin", "ghost.py", "-s", "ghost", *FAST], "ghost",
         _plugin("ghost", "return pd.Series({'NOPE': 1.0})")),
    Case("plug-in that raises, under the progress bar",
         ["backtest", "--plugin", "boom.py", "-s", "boom", "--no-html"], "boom",
         _plugin("boom", "raise RuntimeError('boom')")),
    Case("plug-in that calls sys.exit(0)",
         ["backtest", "--plugin", "quit.py", "-s", "quit", *FAST], "quit.py:9",
         _plugin("quit", "import sys; sys.exit(0)")),
    Case("plug-in that calls sys.exit(0) when imported", ["backtest", "--plugin", "bye.py",
                                                           *FAST], "bye.py:2",
         _file("bye.py", "import sys\nsys.exit(0)\n")),
    Case("plug-in that calls sys.exit(0) in reset",
         ["backtest", "--plugin", "quit.py", "-s", "quit", *FAST], "'quit' failed in reset",
         _file("quit.py", "import sys\nfrom maxent_portfolio.strategies.base import Strategy"
               "\n\nclass P(Strategy):\n    name = 'quit'\n    description = 'test'\n"
               "    def reset(self):\n        sys.exit(0)\n"
               "    def allocate(self, history, current):\n        return None\n")),
    Case("plug-in on menu-blend's menu that raises",
         ["backtest", "--plugin", "boom.py", "-s", "menu-blend", "--menu", "equal-weight,boom",
          *FAST], "'boom' failed in allocate", _plugin("boom", "raise RuntimeError('boom')")),
    Case("plug-in on sac-discrete's menu that raises",
         ["backtest", "--plugin", "boom.py", "-s", "sac-discrete", "--menu",
          "equal-weight,boom", *FAST], "boom.py:9", _plugin("boom", "raise RuntimeError('boom')")),
    Case("plug-in on sac-discrete's menu whose fit raises",
         ["backtest", "--plugin", "unfit.py", "-s", "sac-discrete", "--menu",
          "equal-weight,unfit", *FAST], "'unfit' failed in fit",
         _file("unfit.py", "from maxent_portfolio.strategies.base import Strategy\n\n"
               "class P(Strategy):\n    name = 'unfit'\n    description = 'test'\n"
               "    def fit(self, returns):\n        raise ValueError('no fit')\n"
               "    def allocate(self, history, current):\n        return None\n")),
    # --- train and report ------------------------------------------------------------------------
    Case("nothing to resume", ["train", "--out", "sac.pt", "--resume"], "sac.pt"),
    Case("checkpoint exists", ["train", "--out", "sac.pt"], "sac.pt", _file("sac.pt", "x")),
    Case("corrupt checkpoint", ["train", "--out", "sac.pt", "--resume"], "sac.pt",
         _file("sac.pt", "not a checkpoint")),
    Case("checkpoint path is a directory", ["train", "--out", "runs"], "runs is a directory",
         _file("runs/keep", "")),
    Case("train with no seeds", ["train", "--out", "sac.pt", "--seeds", "0"], "seeds"),
    Case("train with a diverging config",
         ["train", "--config", "run.toml", "--end", "2012", "--out", "sac.pt", "--quiet"],
         "NaN", _file("run.toml", "train_steps = 200\n[sac]\nlearning_starts = 10\n"
                      "policy_lr = 1000.0\nq_lr = 1000.0\nalpha_lr = 1000.0\n"
                      "reward_scale = 1e12\nalpha = \"none\"\nreference = \"none\"\n"
                      "actor_objective = \"sample\"\nactor_horizon = 0\n")),
    Case("train resumed from a checkpoint with NaN weights",
         ["train", "--train-steps", "4000", "--end", "2012", "--out", "sac.pt", "--resume",
          "--quiet"], "sac.pt", _nan_checkpoint),
    Case("checkpoint under a file", ["train", "--out", "notes.txt/sac.pt"], "notes.txt",
         _file("notes.txt", "x")),
    Case("report of a folder that is no run", ["report", "somewhere"], "somewhere",
         _file("somewhere/keep", "")),
    Case("report of a run whose metrics.csv was edited", ["report", "run"], "metrics.csv",
         lambda tmp: _edited_run(tmp, "metrics.csv", "sharpe", 9.99)),
    Case("report of a run with a NaN in its stored returns", ["report", "run"],
         "equal-weight.returns.parquet",
         lambda tmp: _edited_run(tmp, "results/equal-weight.returns.parquet", "returns",
                                 float("nan"))),
    Case("data show of an unknown universe", ["data", "show", "nowhere"], "nowhere"),
    # --- stress ---------------------------------------------------------------------------------
    Case("stress of an unknown scenario kind", ["stress", "run", "--kinds", "bootstrap,tsunami"],
         "tsunami"),
    Case("stress of no scenarios", ["stress", "run", "--scenarios", "0"], "scenarios"),
    Case("stress of identity combined with another kind",
         ["stress", "run", "--kinds", "identity,crash"], "identity"),
    Case("stress with a crash window that is not two dates",
         ["stress", "run", "--crash-window", "2020-02-19"], "crash-window"),
    Case("stress of a run without its checkpoints", ["stress", "run", "-q"],
         "no checkpoint of sac for fold 1",
         _stress_run("sac,equal-weight", lambda run: shutil.rmtree(run / "checkpoints"))),
    Case("stress with a crash window outside the data",
         ["stress", "run", "--kinds", "crash", "--crash-window", "1990-01-01:1990-03-01", "-q"],
         "--crash-window 1990-01-01:1990-03-01", _stress_run("equal-weight")),
    Case("stress of a folder that is no run", ["stress", "somewhere"], "somewhere",
         _file("somewhere/keep", "")),
    Case("unknown strategy on the menu",
         ["backtest", "-s", "sac-discrete", "--menu", "equal-weight,nope", *FAST], "nope"),
    Case("a learning strategy on the menu",
         ["backtest", "-s", "menu-blend", "--menu", "equal-weight,sac", *FAST], "sac"),
    Case("unknown strategy on the menu, without a menu strategy",
         ["backtest", "--menu", "nope,eg", *PLUG], "nope"),
    Case("a learning strategy on the menu, without a menu strategy",
         ["backtest", "--menu", "eg,sac", *PLUG], "sac"),
    Case("a per-asset cost for an asset not in the universe",
         ["backtest", "-u", "prices.csv", "--config", "run.toml", *PLUG], "NOPE",
         _prices_and_config("[costs.cost_bps]\nAAA = 5\nBBB = 5\nCCC = 5\nNOPE = 5\n")),
    Case("limits that conflict: lower bounds summing above 1",
         ["backtest", "-u", "prices.csv", "--min-weight", "0.4", *PLUG], "min_weight",
         _prices),
    Case("limits that conflict: caps leaving less than the whole book",
         ["backtest", "-u", "prices.csv", "--max-weight", "0.2", "--max-cash", "0.1", *PLUG],
         "max_cash", _prices),
    Case("limits that conflict: a group cap below its members' floors",
         ["backtest", "-u", "prices.csv", "--config", "run.toml", *PLUG], "'tech'",
         _prices_and_config("[limits]\nmin_weight = 0.2\n[limits.groups]\n"
                            "tech = ['AAA', 'BBB']\n[limits.group_caps]\ntech = 0.3\n")),
    Case("a per-asset weight bound for an asset not in the universe",
         ["backtest", "-u", "prices.csv", "--config", "run.toml", *PLUG], "NOPE",
         _prices_and_config("[limits.max_weight]\nAAA = 0.5\nNOPE = 0.3\n")),
    Case("a group of an asset not in the universe",
         ["backtest", "-u", "prices.csv", "--config", "run.toml", *PLUG], "NOPE",
         _prices_and_config("[limits.groups]\ntech = ['AAA', 'NOPE']\n"
                            "[limits.group_caps]\ntech = 0.5\n")),
    Case("the old [schedule] max_weight key", ["backtest", "--config", "run.toml"],
         "schedule.max_weight", _file("run.toml", "[schedule]\nmax_weight = 0.3\n")),
    Case("limits that conflict, for train",
         ["train", "-u", "prices.csv", "--min-weight", "0.4", "--out", "sac.pt", "--quiet"],
         "min_weight", _prices),
    Case("two plug-ins defining one name", ["backtest", "-s", "twin", *FAST],
         "strategies/a.py and strategies/b.py",
         lambda tmp: [_plugin(f"strategies/{stem}", "return None", "twin")(tmp)
                     for stem in "ab"]),
    Case("a plug-in defining a name a strategies/ file defines",
         ["backtest", "--plugin", "b.py", "-s", "equal-weight", *FAST],
         "strategies/a.py and b.py",
         lambda tmp: [_plugin(path, "return None", "twin")(tmp)
                     for path in ("strategies/a", "b")]),
    Case("a strategy twice on the menu", ["backtest", "--menu", "eg,hrp,eg"], "eg"),
    Case("unknown menu holding", ["backtest", "--menu-hold", "all"], "menu-hold"),
    # --- allocate -------------------------------------------------------------------------------
    Case("allocate: a ticker in the holdings that the universe lacks",
         [*ALLOCATE, "--holdings", "book.csv"], "ZZZ",
         _holdings("ticker,shares\nAAA,10\nZZZ,5\nCASH,100\n")),
    Case("allocate: negative shares in the holdings", [*ALLOCATE, "--holdings", "book.csv"],
         "BBB", _holdings("ticker,shares\nAAA,10\nBBB,-5\nCASH,100\n")),
    Case("allocate: prices older than the holdings", [*ALLOCATE, "--holdings", "book.csv"],
         "2015-03-02", _holdings("ticker,shares,date\nAAA,10,2015-03-02\n")),
    Case("allocate: no price on the holdings' date", [*ALLOCATE, "--holdings", "book.csv"],
         "2014-06-07", _holdings("ticker,shares,date\nAAA,10,2014-06-07\n")),
    Case("allocate: a model from another universe",
         ["allocate", "run", "--strategy", "min-variance", "--data", "other.csv", "--out", "x"],
         "other.csv", lambda tmp: (_baseline_run(tmp), _prices(tmp, "other.csv", edit=lambda t:
                                   t.replace("AAA", "XXX", 1)))),
    Case("allocate: a run directory without its checkpoints",
         ["allocate", "run", "--strategy", "sac", "--out", "x"], "checkpoints",
         _sac_run_without_checkpoints),
    Case("allocate: a strategy the run did not run",
         ["allocate", "run", "--strategy", "eg", "--out", "x"], "eg", _baseline_run),
    Case("allocate: an unknown strategy", ["allocate", "--strategy", "nope", "--out", "x"],
         "nope"),
    Case("allocate: a learning strategy without a run directory",
         ["allocate", "--strategy", "sac", "--out", "x"], "run directory"),
    Case("allocate: a run's option beside its run directory",
         ["allocate", "run", "--strategy", "eg", "--cost-bps", "5", "--out", "x"], "--cost-bps",
         _file("run/keep", "")),
    Case("allocate: an as-of date before the run's first decision",
         ["allocate", "run", "--strategy", "min-variance", "--as-of", "2014-06-02", "--out",
          "x"], "2014-06-02", _baseline_run),
    Case("allocate: a folder that is no run", ["allocate", "somewhere", "--out", "x"],
         "somewhere", _file("somewhere/keep", "")),
    Case("allocate: lots with fractional shares", [*ALLOCATE, "--fractional", "--lot-size",
                                                   "10"], "lot-size", _prices),
    Case("allocate: an as-of that is not a date", [*ALLOCATE, "--as-of", "soon"], "as-of",
         _prices),
    Case("allocate: a universe with no network and no cache",
         ["allocate", "--strategy", "equal-weight", "-u", "dow-30", "--out", "x"], "no cache"),
    # --- the sweep's grid -----------------------------------------------------------------------
    Case("sweep of both dials", ["sweep", "--alpha", "0.1", "--diversification", "0.5"],
         "--diversification"),
    Case("sweep of a zero temperature", ["sweep", "--alpha", "0.1,0"], "alpha"),
    Case("sweep of a repeated cost", ["sweep", "--cost-bps", "5,5"], "cost-bps"),
    Case("sweep on an unknown backend", ["sweep", "--backend", "spark"], "backend"),
    Case("sweep joining a cluster without Ray", ["sweep", "--address", "auto"], "address"),
    Case("sweep joining a Ray cluster that is not running",
         ["sweep", "--backend", "ray", "--address", "auto", "--out", "s", "--no-html"],
         "'auto'"),
    Case("sweep with negative scenarios", ["sweep", "--scenarios", "-1"], "scenarios"),
    Case("sweep with scenarios and batched seeds",
         ["sweep", "--alpha", "0.5", "--seeds", "1", "--scenarios", "5", "--seed-batch", "2",
          "--actor-horizon", "0", "--actor-objective", "sample", "--shrinkage", "none", *FAST],
         "seed-batch"),
    Case("sweep with scenarios on a drift schedule",
         ["sweep", "--alpha", "0.5", "--seeds", "1", "--scenarios", "5", "--rebalance",
          "drift:0.1", *FAST], "drift:0.1"),
    Case("sweep with odd PBO partitions", ["sweep", "--pbo-partitions", "5"], "pbo-partitions"),
    Case("sweep with too many PBO partitions", ["sweep", "--pbo-partitions", "40"],
         "pbo-partitions"),
    Case("sweep table with no seeds", ["sweep", "--config", "grid.toml"], "seeds",
         _file("grid.toml", "[sweep]\nseeds = 0\n")),
    Case("sweep into another sweep's directory", ["sweep", "--out", "old", "--no-html"],
         "holds a different sweep", _file("old/sweep.json", '{"grid": {"seeds": 9}}')),
    Case("sweep into a directory whose sweep.json is no object",
         ["sweep", "--out", "old", "--no-html"], "old/sweep.json",
         _file("old/sweep.json", "[1, 2]\n")),
    Case("sweep into a directory that is no sweep", ["sweep", "--out", "mine"],
         "not a sweep directory", _file("mine/notes.txt", "x")),
    Case("sweep directory under a file", ["sweep", "--out", "notes.txt/sweep"], "notes.txt",
         _file("notes.txt", "x")),
    Case("sweep cell file missing a measure", SWEEP, "lacks the measure sharpe",
         _sweep_dir(_cell_without_sharpe)),
    Case("sweep whose cells/ is a file", SWEEP, "old/cells is not a directory",
         _sweep_dir(_cells_as_a_file)),
]


@contextlib.contextmanager
def isolation(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh working directory and registry for one case (plug-ins register globally)."""
    import yfinance
    from fake_yfinance import offline_download

    monkeypatch.chdir(tmp)
    monkeypatch.setenv("MAXENT_PORTFOLIO_CACHE", str(tmp / ".cache"))
    # No case reaches the network (yfinance's HTTP stack is libcurl, past the socket guard):
    # a download fails as it does offline, whatever the machine's network.
    monkeypatch.setattr(yfinance, "download", offline_download)
    tables = (registry.STRATEGIES, registry.PLUGIN_FILES, registry.BROKEN_PLUGINS)
    saved = [dict(table) for table in tables]
    try:
        yield tmp
    finally:
        for live, old in zip(tables, saved, strict=True):
            live.clear()
            live.update(old)  # type: ignore[attr-defined]


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with isolation(tmp_path, monkeypatch) as tmp:
        yield tmp


def run_case(case: Case, tmp: Path, capsys: pytest.CaptureFixture[str]) -> str:
    case.setup(tmp)
    before = sorted(p.relative_to(tmp) for p in tmp.rglob("*"))
    code = main(case.args)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2, (case.what, code, captured.err)
    assert len(lines) == 1, (case.what, captured.err)
    assert captured.err == lines[0] + "\n", (case.what, captured.err)  # no blank line either
    message = lines[0].replace(str(tmp) + os.sep, "").replace(str(tmp), ".")
    assert case.culprit in message, (case.what, message)
    assert "Traceback" not in captured.err and captured.out == "", case.what
    after = sorted(p.relative_to(tmp) for p in tmp.rglob("*")
                   if not str(p.relative_to(tmp)).startswith(".cache"))
    assert after == [p for p in before if not str(p).startswith(".cache")], (case.what, after)
    return message


@pytest.mark.parametrize("case", CASES, ids=[c.what for c in CASES])
def test_refused_input_is_one_line_naming_the_culprit(
        case: Case, isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if case.needs_cpu_only and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    run_case(case, isolated, capsys)


@dataclass
class Accepted:
    """An input accepted by design: what happens instead of a refusal, and the one line (or
    nothing) it prints on stderr."""

    what: str
    args: list[str]
    happens: str
    says: str = ""
    setup: Callable[[Path], None] = field(default=lambda tmp: None)


_new_york = _rewrite_dates(lambda dates: [
    f"{d:%Y-%m-%d %H:%M:%S%z}" for d in pd.DatetimeIndex(dates).tz_localize("America/New_York")])
ACCEPTED = [
    Accepted("a one-day price spike (the default --spikes warn)",
             ["backtest", "-u", "prices.csv", "--train-years", "0.5", *PLUG],
             "the run goes on with the price as "
             "given; --spikes refuse refuses it (above), --spikes ignore says nothing",
             "warning:", lambda tmp: _prices(tmp, edit=_set(100, 2, "10100"))),
    Accepted("dates with UTC offsets across daylight-saving changes",
             ["backtest", "-u", "prices.csv", "--train-years", "0.5", *PLUG],
             "each date is read as the local trading "
             "day (the offset is dropped, not converted to UTC)", "",
             lambda tmp: _prices(tmp, edit=_new_york)),
    Accepted("a --train-steps budget below the warm-up",
             ["backtest", "-s", "sac", "--train-steps", "300", "--years", "6", "--jobs", "1",
              *FAST], "the warm-up is cut to warm_up_share of a fold's steps, so the agent "
             "still trains", "note:"),
]


def run_accepted(case: Accepted, tmp: Path, capsys: pytest.CaptureFixture[str]) -> str:
    case.setup(tmp)
    code = main(case.args)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 0, (case.what, captured.err)
    assert "Traceback" not in captured.err and len(lines) <= 1, (case.what, captured.err)
    assert (lines[0] if lines else "").startswith(case.says), (case.what, captured.err)
    return (lines[0] if lines else "").replace(str(tmp) + os.sep, "").replace(str(tmp), ".")


@pytest.mark.parametrize("case", ACCEPTED, ids=[c.what for c in ACCEPTED])
def test_accepted_input_goes_on_and_says_so_in_one_line(
        case: Accepted, isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_accepted(case, isolated, capsys)


def render(messages: list[tuple[Case, str]], accepted: list[tuple[Accepted, str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = [f"| {i} | {cell(c.what)} | `{cell(' '.join(c.args))}` | {cell(m)} |"
            for i, (c, m) in enumerate(messages, start=1)]
    kept = [f"| {cell(c.what)} | `{cell(' '.join(c.args))}` | {cell(c.happens)} | "
            f"{cell(m) if m else '(nothing)'} |" for c, m in accepted]
    return "\n".join([
        "# What the CLI refuses, and what it says",
        "",
        "Every input below is refused before anything is written: one line on stderr naming "
        "the culprit, exit code 2 (`--verbose` shows the traceback instead). The page is "
        f"generated from the {len(messages)} cases of `tests/test_errors_doc.py`, which run "
        "each command through the real CLI and fail when this page no longer matches; "
        "regenerate it with `make errors-doc`. Paths are relative to the directory the "
        "command ran in.",
        "",
        "| # | input | command | message |",
        "|---|---|---|---|",
        *rows,
        "",
        "## Accepted by design",
        "",
        "These inputs look suspicious but are accepted: the run goes on (exit 0) and says what "
        "it did in at most one line on stderr.",
        "",
        "| input | command | what happens | what it says |",
        "|---|---|---|---|",
        *kept,
        "",
    ])


def test_docs_errors_md_matches_the_cases(tmp_path_factory: pytest.TempPathFactory,
                                          capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cases = [c for c in CASES if not c.needs_cpu_only or not torch.cuda.is_available()]
    messages = []
    for case in cases:
        with isolation(tmp_path_factory.mktemp("case"), monkeypatch) as tmp:
            # The package's own line numbers move with every edit: the page shows NNN.
            messages.append((case, re.sub(r"(maxent_portfolio/[\w/]+\.py):\d+", r"\1:NNN",
                                          run_case(case, tmp, capsys))))
    assert len(messages) >= 60
    accepted = []
    for kept in ACCEPTED:
        with isolation(tmp_path_factory.mktemp("accepted"), monkeypatch) as tmp:
            accepted.append((kept, run_accepted(kept, tmp, capsys)))
    text = render(messages, accepted)
    if WRITE:
        DOC.write_text(text, encoding="utf-8")
    if torch.cuda.is_available():
        pytest.skip("the page is generated on a machine without CUDA")
    assert DOC.read_text(encoding="utf-8") == text, "docs/errors.md is stale: make errors-doc"
