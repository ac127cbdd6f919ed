"""Universe definitions: built-in YAMLs shipped in the package, user YAMLs, bare CSV files.

A universe YAML has these keys (only ``source`` is required)::

    name: my-etfs            # defaults to the file name without .yaml
    description: free text
    source: yfinance         # yfinance | csv | builtin
    tickers: [SPY, TLT, GLD] # yfinance; for builtin, an optional subset of the dataset
    benchmark: SPY           # a ticker, a CSV column, or "equal-weight"; optional
    start: 2010-01-01        # optional, inclusive
    end: 2022-12-31          # optional, inclusive
    path: prices.csv         # csv: relative to the YAML file
    kind: prices             # csv: prices | returns | auto (default auto)
    date_format: "%d/%m/%Y"  # csv: how its dates are written (default: ISO, or unambiguous)
    dataset: sp500           # builtin: sp500 | factors

Built-ins live in ``maxent_portfolio/data/builtin/``; YAMLs in ``./data/universes/`` (relative
to the working directory) are listed too and take precedence over a built-in of the same name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml

from maxent_portfolio.errors import ConfigError
from maxent_portfolio.files import read_yaml

SOURCES = ("builtin", "yfinance", "csv")
"""The ``source:`` names a universe file accepts: the keys of ``loader.SOURCE_LOADERS``, in
order (a test holds them equal), named here so that reading a universe file loads no source."""
KINDS = ("prices", "returns", "auto")
EQUAL_WEIGHT = "equal-weight"
"""Benchmark keyword: the daily-rebalanced equal-weighted average of the universe's assets."""
DEFAULT_UNIVERSE = "sp500-20"
LOCAL_DIR = Path("data") / "universes"
"""User universes, relative to the working directory."""

_KEYS = {"name", "description", "source", "tickers", "benchmark", "start", "end", "path", "kind",
         "date_format", "dataset"}
_CSV_SUFFIXES = (".csv", ".csv.gz", ".txt")
_YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class UniverseSpec:
    """A parsed universe definition (nothing loaded yet)."""

    name: str
    source: str
    tickers: tuple[str, ...] = ()
    benchmark: str | None = None
    description: str = ""
    start: str | None = None
    end: str | None = None
    path: Path | None = None
    """CSV file (absolute) for ``source: csv``."""
    kind: str = "auto"
    date_format: str | None = None
    """strftime format of a CSV's dates (``%d/%m/%Y``); None reads ISO or an unambiguous
    layout (:func:`maxent_portfolio.data.sources.parse_dates`)."""
    dataset: str | None = None
    origin: str = "builtin"
    """``builtin`` or the YAML/CSV file the definition came from."""


@dataclass(frozen=True)
class UniverseInfo:
    """One row of :func:`list_universes`."""

    name: str
    source: str
    n_assets: int | None
    """None when only known once a CSV is read."""
    span: str
    """``YYYY-MM-DD..YYYY-MM-DD`` when known without the network, else ``on fetch``."""
    benchmark: str | None
    description: str
    origin: str


def parse_date(value: object, what: str) -> str | None:
    """Normalise a date option to ``YYYY-MM-DD`` (None stays None); ConfigError naming ``what``."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    try:
        return pd.Timestamp(str(value)).strftime("%Y-%m-%d")
    except (ValueError, TypeError):
        raise ConfigError(f"{what}: {value!r} is not a date (use YYYY-MM-DD)") from None


def spec_from_mapping(raw: object, origin: str, base_dir: Path | None,
                      default_name: str) -> UniverseSpec:
    """Validate a YAML mapping into a :class:`UniverseSpec`; ConfigError naming ``origin``."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: a universe file must be a YAML mapping")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(f"{origin}: unknown key {unknown[0]!r} (allowed: "
                          + ", ".join(sorted(_KEYS)) + ")")
    source = raw.get("source")
    if source not in SOURCES:
        raise ConfigError(f"{origin}: source must be one of {', '.join(SOURCES)}, "
                          f"got {source!r}")
    tickers = raw.get("tickers") or []
    if isinstance(tickers, str):
        tickers = tickers.replace(",", " ").split()
    if not isinstance(tickers, list) or not all(isinstance(t, str) and t for t in tickers):
        raise ConfigError(f"{origin}: tickers must be a list of symbols")
    tickers = [t.strip().upper() if source == "yfinance" else t.strip() for t in tickers]
    dups = sorted({t for t in tickers if tickers.count(t) > 1})
    if dups:
        raise ConfigError(f"{origin}: ticker {dups[0]} is listed twice")
    if source == "yfinance" and not tickers:
        raise ConfigError(f"{origin}: source yfinance needs a tickers list")
    kind = raw.get("kind", "auto")
    if kind not in KINDS:
        raise ConfigError(f"{origin}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    path = None
    if source == "csv":
        if not raw.get("path"):
            raise ConfigError(f"{origin}: source csv needs a path (relative to the YAML file)")
        path = Path(str(raw["path"])).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
    date_format = raw.get("date_format")
    if date_format is not None and (source != "csv" or not isinstance(date_format, str)
                                    or "%" not in date_format):
        raise ConfigError(f"{origin}: date_format must be a strftime format such as %d/%m/%Y "
                          f"for source csv, got {date_format!r}")
    dataset = raw.get("dataset")
    if source == "builtin" and dataset not in ("sp500", "factors"):
        raise ConfigError(f"{origin}: builtin dataset must be sp500 or factors, got {dataset!r}")
    bench = raw.get("benchmark")
    bench = None if bench in (None, "") else str(bench)
    if bench is not None and source == "yfinance" and bench != EQUAL_WEIGHT:
        bench = bench.upper()
    start = parse_date(raw.get("start"), f"{origin}: start")
    end = parse_date(raw.get("end"), f"{origin}: end")
    if start and end and start > end:
        raise ConfigError(f"{origin}: start {start} is after end {end}")
    return UniverseSpec(
        name=str(raw.get("name") or default_name), source=source, tickers=tuple(tickers),
        benchmark=bench, description=str(raw.get("description") or "").strip(), start=start,
        end=end, path=path, kind=kind, date_format=date_format, dataset=dataset, origin=origin)


def read_spec_file(path: Path) -> UniverseSpec:
    """Parse one universe YAML file."""
    try:
        raw = read_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"universe file {path} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"universe file {path} is a directory, not a file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: invalid YAML{where}") from None
    return spec_from_mapping(raw, str(path), path.parent, path.name.rsplit(".", 1)[0])


def csv_spec(path: Path) -> UniverseSpec:
    """A universe for a bare CSV file: kind inferred, no benchmark."""
    return UniverseSpec(name=str(path), source="csv", path=path.expanduser().resolve(),
                        kind="auto", origin=str(path))


def builtin_specs() -> dict[str, UniverseSpec]:
    folder = resources.files("maxent_portfolio.data").joinpath("builtin")
    specs: dict[str, UniverseSpec] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(_YAML_SUFFIXES):
            raw = read_yaml(entry.read_text(encoding="utf-8"))
            spec = spec_from_mapping(raw, "builtin", None, entry.name.rsplit(".", 1)[0])
            specs[spec.name] = spec
    return specs


def local_specs(folder: Path | None = None) -> tuple[dict[str, UniverseSpec],
                                                    dict[str, ConfigError]]:
    """YAMLs of ``./data/universes/``: valid specs by name, and errors by file stem.

    A broken file is reported only when asked for, so it cannot break other universes.
    """
    folder = LOCAL_DIR if folder is None else folder
    specs: dict[str, UniverseSpec] = {}
    errors: dict[str, ConfigError] = {}
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.name.endswith(_YAML_SUFFIXES):
                try:
                    spec = read_spec_file(path)
                except ConfigError as exc:
                    errors[path.name.rsplit(".", 1)[0]] = exc
                else:
                    specs[spec.name] = spec
    return specs, errors


def resolve_universe(name_or_path: str | Path) -> UniverseSpec:
    """Find a universe by name, YAML path or CSV path.

    Raises
    ------
    ConfigError
        Unknown name or missing file, naming it and the known universes.
    """
    text = str(name_or_path)
    path = Path(text).expanduser()
    lower = text.lower()
    if lower.endswith(_YAML_SUFFIXES):
        return read_spec_file(path)
    if lower.endswith(_CSV_SUFFIXES):
        if path.is_dir():
            raise ConfigError(f"CSV file {text} is a directory, not a file")
        if not path.is_file():
            raise ConfigError(f"CSV file {text} not found")
        return csv_spec(path)
    local, broken = local_specs()
    specs = {**builtin_specs(), **local}
    if text in specs:
        return specs[text]
    if text in broken:
        raise broken[text]
    if path.is_file():
        return csv_spec(path)
    raise ConfigError(f"unknown universe {text!r}: choose one of {', '.join(sorted(specs))} "
                      "or give a .yaml or .csv path")
