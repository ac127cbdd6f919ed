"""Render a run's HTML report (tear sheets + dashboard), fresh or from stored results.

Reading a run back (:func:`read_run`) checks every file before anything is drawn, so a damaged
file is one :class:`~maxent_portfolio.errors.DataError` naming it, never an empty table, a raw
cell on the page or a traceback. ``metrics.csv`` is recomputed from ``results/`` and refused
where it differs; stored returns must be finite.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from maxent_portfolio.backtest.engine import BacktestResult
from maxent_portfolio.backtest.store import load_results, safe_name
from maxent_portfolio.errors import DataError
from maxent_portfolio.files import check_can_write

if TYPE_CHECKING:
    from maxent_portfolio.reporting.dashboard import Robustness
    from maxent_portfolio.runner import RunOutcome


def render(folder: Path, results: list[BacktestResult], metrics: pd.DataFrame,
           benchmark: pd.Series | None, config: dict[str, Any], provenance: dict[str, Any],
           title: str, rf: float = 0.0, robustness: Robustness | None = None) -> Path:
    """Write ``tearsheets/<strategy>.html`` and ``index.html`` into ``folder``; with
    ``robustness`` (a stress test's outputs) the dashboard gets its Robustness card."""
    from maxent_portfolio.reporting.dashboard import write_dashboard
    from maxent_portfolio.reporting.tearsheet import write_tearsheet

    sheets = folder / "tearsheets"
    sheets.mkdir(exist_ok=True)
    links: dict[str, str] = {}
    for res in results:
        file = f"{safe_name(res.name)}.html"
        bench = None if benchmark is None else benchmark.reindex(res.returns.index)
        label = res.name if res.investable else f"{res.name} (not investable)"
        write_tearsheet(res.returns, bench, sheets / file, title=f"{label}: {title}", rf=rf,
                        periods_per_year=res.periods_per_year)
        links[res.name] = f"tearsheets/{file}"
    index = folder / "index.html"
    write_dashboard(index, results, metrics, benchmark, config, links, title, provenance,
                    robustness=robustness)
    return index


def render_run(outcome: RunOutcome, folder: Path) -> Path:
    """Render a freshly computed run into its (temporary) run directory."""
    from maxent_portfolio.rundir import provenance, run_title

    config = outcome.config.to_dict()
    return render(folder, outcome.results, outcome.metrics, outcome.market.benchmark,
                  config, provenance(outcome), run_title(config, outcome.market.name),
                  rf=outcome.config.report.rf)


# ----------------------------------------------------------------------------- reading back
def _reason(exc: BaseException) -> str:
    """An exception's message on one line (parsers' messages can span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not readable UTF-8 text: {_reason(exc)}") from exc


def read_json(path: Path, kind: type[dict[Any, Any]] | type[list[Any]] = dict) -> Any:
    """A stored JSON document that must be a ``dict`` (object) or a ``list`` (array).

    Raises
    ------
    DataError
        Naming ``path``, if it is missing, not UTF-8, not JSON, or not of ``kind``.
    """
    try:
        data = json.loads(_read_text(path))
    except ValueError as exc:
        raise DataError(f"{path} is not valid JSON: {_reason(exc)}") from exc
    if not isinstance(data, kind):
        expected = "an object" if kind is dict else "an array"
        raise DataError(f"{path} must hold a JSON {expected}, not {type(data).__name__}")
    return data


def parse_metrics(text: str, path: Path, strategies: Sequence[str] = ()) -> pd.DataFrame:
    """Check and parse the text of a run's ``metrics.csv``.

    Parameters
    ----------
    text : str
        The file's contents.
    path : Path
        The file, named in every error.
    strategies : sequence of str
        Strategies of the run's stored results; each must have a row.

    Returns
    -------
    pd.DataFrame of shape (n_rows, n_columns)
        A ``strategy`` column of str, then metric columns of float (or bool).

    Raises
    ------
    DataError
        If a line's field count differs from the header's (a cut or edited file), there is no
        ``strategy`` column, no metric column or no row, a strategy name is blank or repeated,
        a metric cell is not a number, or a stored strategy has no row.
    """
    try:
        reader = csv.reader(io.StringIO(text))
        header = next(reader, [])
        for row in reader:
            if row and len(row) != len(header):
                raise DataError(f"{path}: line {reader.line_num} has {len(row)} fields but the "
                                f"header has {len(header)} (truncated or edited?)")
        frame = pd.read_csv(io.StringIO(text), dtype={"strategy": str}, keep_default_na=False,
                            na_values=[""])
    except (csv.Error, ValueError) as exc:
        raise DataError(f"{path} is not a readable CSV table: {_reason(exc)}") from exc
    if "strategy" not in frame.columns:
        raise DataError(f"{path} has no 'strategy' column (its header: "
                        f"{', '.join(map(str, frame.columns[:6]))})")
    metrics = [c for c in frame.columns if c != "strategy"]
    if not metrics:
        raise DataError(f"{path} has no metric columns, only 'strategy'")
    if frame.empty:
        raise DataError(f"{path} has a header but no rows (truncated?)")
    names = frame["strategy"]
    if names.isna().any():
        raise DataError(f"{path}: row {int(names.isna().to_numpy().argmax()) + 1} has no "
                        "strategy name")
    if names.duplicated().any():
        raise DataError(f"{path}: strategy {names[names.duplicated()].iloc[0]!r} has two rows")
    for column in metrics:
        if pd.api.types.is_bool_dtype(frame[column]):
            continue
        numbers = pd.to_numeric(frame[column], errors="coerce")
        bad = numbers.isna() & frame[column].notna()
        if bad.any():
            first = int(bad.to_numpy().argmax())
            raise DataError(f"{path}: {column!r} of {names.iloc[first]!r} is "
                            f"{frame[column].iloc[first]!r}, not a number")
        frame[column] = numbers.astype(float)
    missing = [s for s in strategies if s not in set(names)]
    if missing:
        raise DataError(f"{path} has no row for strategy {missing[0]!r} (truncated?)")
    return frame


def read_benchmark(path: Path) -> pd.Series | None:
    """The stored benchmark returns, or None if the run had none (no file)."""
    if not path.exists():
        return None
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is not a readable parquet file: {_reason(exc)}") from exc
    if "benchmark" not in frame.columns or not pd.api.types.is_numeric_dtype(frame["benchmark"]) \
            or not isinstance(frame.index, pd.DatetimeIndex):
        raise DataError(f"{path} must hold a numeric 'benchmark' column indexed by date")
    return frame["benchmark"]


def _config_value(config: dict[str, Any], key: str, default: object, path: Path) -> object:
    """``config[section][name]`` for ``key = "section.name"``, checked to be a table."""
    section, name = key.split(".")
    table = config.get(section, {})
    if not isinstance(table, dict):
        raise DataError(f"{path}: {section!r} is {table!r}, not a table")
    return table.get(name, default)


def _config_number(config: dict[str, Any], key: str, default: float, path: Path) -> float:
    value = _config_value(config, key, default, path)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DataError(f"{path}: {key!r} is {value!r}, not a number")
    return float(value)


def check_finite_returns(result: BacktestResult, path: Path) -> None:
    """Refuse stored returns with a NaN or an infinity, naming their file and date: every
    figure of the report would be NaN, or silently computed without that period."""
    values = result.returns.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        first = int(bad.argmax())
        raise DataError(f"{path}: return on {pd.Timestamp(result.returns.index[first]):%Y-%m-%d}"
                        f" is not finite ({values[first]}); rerun the backtest")


def check_metrics(metrics: pd.DataFrame, results: list[BacktestResult],
                  benchmark: pd.Series | None, rf: float, path: Path) -> None:
    """Recompute the metrics table from the stored results and refuse ``metrics.csv`` where it
    differs: the report shows only numbers its returns give.

    The table is recomputed as the run computed it (equal-weight as the reference when it is
    in the run, the benchmark's row on the strategies' dates); CSV round-trips floats exactly,
    so the tolerance only absorbs summation order.
    """
    from maxent_portfolio.measures import metrics_table

    names = [r.name for r in results]
    fresh = metrics_table(results, reference="equal-weight" if "equal-weight" in names
                          else None, benchmark=benchmark, rf=rf).set_index("strategy")
    table = metrics.set_index("strategy")
    extra = [s for s in table.index if s not in fresh.index]
    if extra:
        raise DataError(f"{path}: strategy {extra[0]!r} has a row but no stored results")
    for column in table.columns:
        if column not in fresh.columns:
            raise DataError(f"{path}: unknown metric column {column!r}")
        for name in fresh.index:
            stored, computed = table.at[name, column], fresh.at[name, column]
            if isinstance(computed, bool | np.bool_):
                same, shown = bool(stored) == bool(computed), (str(stored), str(computed))
            else:
                old, new = float(stored), float(computed)  # type: ignore[arg-type]
                same = (math.isnan(old) and math.isnan(new)) or math.isclose(
                    old, new, rel_tol=1e-9, abs_tol=1e-12)
                shown = (f"{old:.6g}", f"{new:.6g}")
            if not same:
                raise DataError(f"{path}: {column!r} of {name!r} is {shown[0]}, but results/ "
                                f"give {shown[1]}; rerun the backtest or restore the file")


@dataclass
class StoredRun:
    """What :func:`rerender` reads back from a run directory, checked."""

    results: list[BacktestResult]
    metrics: pd.DataFrame
    benchmark: pd.Series | None
    config: dict[str, Any]
    provenance: dict[str, Any]
    title: str
    rf: float


def read_run(run_dir: Path) -> StoredRun:
    """Read and check a run directory written by ``backtest``.

    Raises
    ------
    DataError
        Naming the file at fault (``metrics.csv``, ``config.json``, ``provenance.json`` or a
        file under ``results/``) and what is wrong with it.
    """
    meta = run_dir / "results" / "results.json"
    if not meta.is_file():
        raise DataError(f"{run_dir} is not a maxent-portfolio run directory "
                        "(no results/results.json)")
    stored = read_json(meta, list)  # named here; load_results would only name the folder
    results = load_results(run_dir / "results")
    for item, result in zip(stored, results, strict=True):
        check_finite_returns(result, run_dir / "results" / f"{item['stem']}.returns.parquet")
    metrics_path = run_dir / "metrics.csv"
    metrics = parse_metrics(_read_text(metrics_path), metrics_path, [r.name for r in results])
    config_path = run_dir / "config.json"
    config = read_json(config_path)
    prov = read_json(run_dir / "provenance.json")
    benchmark = read_benchmark(run_dir / "results" / "benchmark.parquet")
    rf = _config_number(config, "report.rf", 0.0, config_path)
    check_metrics(metrics, results, benchmark, rf, metrics_path)
    if benchmark is not None and isinstance(prov.get("benchmark"), str):
        benchmark = benchmark.rename(prov["benchmark"])  # stored as "benchmark"
    from maxent_portfolio.rundir import run_title

    cost = _config_value(config, "costs.cost_bps", 0.0, config_path)
    if not isinstance(cost, dict):
        _config_number(config, "costs.cost_bps", 0.0, config_path)
    universe = prov.get("universe", _config_value(config, "data.universe", "", config_path))
    title = run_title(config, str(universe))
    return StoredRun(results, metrics, benchmark, config, prov, title, rf)


STRESS_FILES = {"scenarios.csv": ("scenario", "strategy", "sharpe", "cagr", "max_drawdown",
                                   "cvar_95", "turnover"),
                "summary.csv": ("strategy", "scenarios", "sharpe_q05", "sharpe_q50",
                                "sharpe_q95", "p_beat_equal_weight", "p_drawdown_beyond"),
                "wealth.csv": ("strategy", "date", "q05", "q25", "q50", "q75", "q95")}
"""The tables a stress test leaves in ``RUN_DIR/stress/`` and the columns the report reads."""


def read_stress(run_dir: Path) -> Robustness | None:
    """The run's stress test (``stress/``), checked, or None when it has none (or it has not
    finished: its tables are written last)."""
    from maxent_portfolio.reporting.dashboard import Robustness

    folder = run_dir / "stress"
    if not (folder / "summary.csv").is_file():
        return None
    tables = {}
    for name, columns in STRESS_FILES.items():
        path = folder / name
        try:
            frame = pd.read_csv(io.StringIO(_read_text(path)), dtype={"strategy": str})
        except ValueError as exc:
            raise DataError(f"{path} is not a readable CSV table: {_reason(exc)}") from exc
        missing = [c for c in columns if c not in frame.columns]
        if missing or frame.empty:
            raise DataError(f"{path} has no {missing[0]!r} column" if missing
                            else f"{path} has no rows")
        numbers = frame[[c for c in columns if c not in ("strategy", "date")]]
        if not all(pd.api.types.is_numeric_dtype(numbers[c]) for c in numbers.columns):
            raise DataError(f"{path} holds a value that is not a number; stress the run again")
        tables[name] = frame
    return Robustness(tables["scenarios.csv"], tables["summary.csv"], tables["wealth.csv"])


def rerender(run_dir: Path) -> Path:
    """Render the report of an existing run directory again from its stored results (and its
    stress test's, when it has one)."""
    run = read_run(run_dir)
    robustness = read_stress(run_dir)
    check_can_write(run_dir, "the report in")
    # Render beside the run, then swap the HTML in, so a failure leaves the old report.
    tmp = Path(tempfile.mkdtemp(prefix=".render-", dir=run_dir))
    try:
        render(tmp, run.results, run.metrics, run.benchmark, run.config, run.provenance,
               run.title, rf=run.rf, robustness=robustness)
        old = run_dir / "tearsheets"
        if old.exists():
            shutil.rmtree(old)
        os.replace(tmp / "tearsheets", old)
        os.replace(tmp / "index.html", run_dir / "index.html")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return run_dir / "index.html"
