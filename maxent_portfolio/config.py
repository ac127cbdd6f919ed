"""The typed option tree of a run: one :class:`RunConfig` of nested sections.

Each section owns its options' defaults, types, ranges and help texts
(:func:`maxent_portfolio.options.option`):

========================  ===============================================================
section                   options
========================  ===============================================================
``data``                  universe, start, end, years, missing, spikes
``costs``                 cost and slippage in bps (:class:`~maxent_portfolio.arithmetic.
                          CostModel`, shared by the engine and the training env)
``walk_forward``          train_years, test_years, purge_days, rolling
``schedule``              rebalance
``limits``                min_weight, max_weight, max_cash, groups, group_caps: what every
                          strategy's weights must meet (:class:`~maxent_portfolio.limits.
                          LimitsConfig`)
``env``                   lookback, features, reward, episode length, decisions and
                          execution (:class:`~maxent_portfolio.envs.config.EnvConfig`)
``sac``                   the agent (:class:`~maxent_portfolio.agents.config.SACConfig`)
``menu``                  the strategies ``sac-discrete`` and ``menu-blend`` choose from
                          (:class:`~maxent_portfolio.strategies.menuconfig.MenuConfig`)
``report``                rf, html
========================  ===============================================================

plus the run-level ``preset``, ``strategies``, ``plugins``, ``seed``, ``seeds`` and ``jobs``.

Precedence, lowest first: the defaults, the preset, the ``--config`` file, the CLI flags (a
preset is a bundle of defaults; :func:`value_sources` says which won, and ``config.json``
records it). A config file may use the sections as tables (``[sac] alpha = 0.2``) or flat keys
(``alpha = 0.2``); option names are unique across sections; its paths are relative to the file
(:func:`relative_to_file`). Every value, from a file or a flag, is checked here for type and
range, and a bad one is one line naming the key.
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ValidationError, ValidationInfo, field_validator

from maxent_portfolio.agents.config import SACConfig
from maxent_portfolio.arithmetic import CostModel
from maxent_portfolio.data.validate import SPIKE_POLICIES, SPIKE_RATIO
from maxent_portfolio.envs.config import EnvConfig
from maxent_portfolio.errors import ConfigError
from maxent_portfolio.files import read_yaml
from maxent_portfolio.limits import LimitsConfig
from maxent_portfolio.options import (
    Section,
    describe_error,
    field_extra,
    one_of,
    option,
    strategy_names,
)
from maxent_portfolio.rebalance import DEFAULT_REBALANCE, REBALANCE_HELP, Schedule
from maxent_portfolio.strategies.menuconfig import MenuConfig

SOURCES_KEY = "sources"
"""The key of ``config.json`` recording where each value came from (not an option)."""
DEFAULT_STRATEGIES = ("sac", "equal-weight", "buy-and-hold", "inverse-volatility",
                      "min-variance", "hrp", "eg")


def _date(value: str | None, end: bool = False) -> str | None:
    """A date as YYYY-MM-DD; a bare year means its first day, or its last for an end date."""
    if value is None:
        return None
    text = str(value).strip()
    if text.isdigit() and len(text) == 4:  # "--end 2005" means the whole of 2005
        return f"{text}-12-31" if end else f"{text}-01-01"
    try:
        return str(pd.Timestamp(text).date())
    except (ValueError, TypeError):
        raise ValueError("must be a date, YYYY-MM-DD (or a year)") from None


class DataConfig(Section):
    """Which data a run uses."""

    universe: str = option("sp500-20", "Universe name (see `maxent-portfolio universes`) or a "
                           "path to a YAML or CSV file.", short="-u")
    start: str | None = option(None, "First date of data used, training included "
                               "(YYYY-MM-DD, or a year for its first day).")
    end: str | None = option(None, "Last date of data used (YYYY-MM-DD, or a year for its "
                             "last day).")
    years: int | None = option(
        None, "Use only the last N calendar years of the data (from January 1st), unless "
        "--start is given.", ge=1)
    missing: str = option("common-start", "Assets listed late: common-start trims to a common "
                          "start, drop drops them.")
    spikes: str = option(
        "warn", f"One-period price spikes that revert (a price at least {SPIKE_RATIO:g} times "
        f"both neighbours, or at most 1/{SPIKE_RATIO:g} of both: a vendor's bad tick): warn "
        "keeps the data and says so in one line, refuse stops, ignore says nothing.")
    date_format: str | None = option(
        None, "How a CSV's dates are written, as a strftime format (%d/%m/%Y day-first, "
        "%m/%d/%Y month-first); default: ISO dates, or a layout that reads only one way "
        "(dates that read two ways are refused).")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _year(cls, value: Any) -> Any:
        """A bare year in a file (``end: 2019``, an integer to YAML and TOML) as text."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("start", "end")
    @classmethod
    def _dates(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _date(value, end=info.field_name == "end")

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, value: str | None) -> str | None:
        if value is not None and "%" not in value:
            raise ValueError("expected a strftime format such as %d/%m/%Y")
        return value

    @field_validator("missing")
    @classmethod
    def _missing(cls, value: str) -> str:
        return one_of(value, ("common-start", "drop"), " or ")

    @field_validator("spikes")
    @classmethod
    def _spikes(cls, value: str) -> str:
        return one_of(value, SPIKE_POLICIES, ", ")


class WalkForwardConfig(Section):
    """Training and test windows of the walk-forward."""

    train_years: float = option(3.0, "Length of the first training window, in years "
                                "(expanding afterwards unless --rolling).", gt=0)
    test_years: float = option(1.0, "Length of each out-of-sample test window, in years: the "
                               "refit interval.", gt=0)
    purge_days: int = option(0, "Periods left out between each training and test window "
                             "(embargo).", ge=0)
    rolling: bool = option(False, "Rolling training windows of --train-years instead of "
                           "expanding ones.", flag="--rolling/--expanding")


class ScheduleConfig(Section):
    """When and how far the portfolio is rebalanced."""

    rebalance: str = option(DEFAULT_REBALANCE, f"Rebalance schedule: {REBALANCE_HELP}.")

    @field_validator("rebalance")
    @classmethod
    def _schedule(cls, value: str) -> str:
        try:
            Schedule.parse(value)
        except ConfigError as exc:  # "unknown rebalance schedule 'x': use ..." -> "use ..."
            raise ValueError(str(exc).split(": ", 1)[-1]) from None
        return value


class ReportConfig(Section):
    """What the report computes and writes."""

    rf: float = option(0.0, "Annual risk-free rate for Sharpe-type ratios and tear sheets.")
    placebos: int = option(
        200, "Permutation placebos of each learned strategy (sac, sac-discrete, ridge-kelly): "
        "its weights with the asset labels shuffled in each fold; metrics.csv's placebo_pct is "
        "its Sharpe's percentile among them. 0 skips them.", ge=0)
    html: bool = option(True, "Write the HTML dashboard and tear sheets.",
                        flag="--html/--no-html")


class RunConfig(Section):
    """Every option of a run. See the module docstring for the sections."""

    preset: Literal["quick", "full"] = option(
        "quick", "A bundle of defaults, below any file or flag (each option's default shows both): "
        "quick, the last 13 years, 2-year refits, 1 seed; full, 2007 on, yearly refits, "
        "3 seeds.")
    strategies: list[str] = option(list(DEFAULT_STRATEGIES), "Comma-separated strategies to "
                                   "compare (see `maxent-portfolio strategies`); the "
                                   "universe's benchmark is added as a row.", short="-s",
                                   min_length=1)
    plugins: list[str] = option([], "Extra plug-in file defining Strategy subclasses "
                                "(strategies/*.py is always scanned); repeat for more.",
                                flag="--plugin")
    seed: int = option(0, "Base random seed; every other seed derives from it "
                       "(maxent_portfolio.seeding).", ge=0)
    seeds: int = option(1, "Agents trained per fold for seeded strategies (sac): each is "
                        "reported, plus their mean.", ge=1)
    jobs: int = option(os.cpu_count() or 1, "Processes training a run's learning jobs at once "
                       "(each seed of sac is one); default: the number of CPU cores. The "
                       "results are identical for every value.", ge=1)
    data: DataConfig = DataConfig()
    costs: CostModel = CostModel()
    walk_forward: WalkForwardConfig = WalkForwardConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    limits: LimitsConfig = LimitsConfig()
    env: EnvConfig = EnvConfig()
    sac: SACConfig = SACConfig()
    menu: MenuConfig = MenuConfig()
    report: ReportConfig = ReportConfig()

    @field_validator("strategies")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        return strategy_names(value, "strategies")


PRESETS: dict[str, dict[str, Any]] = {
    # Minutes on 2 cores: the last 13 calendar years, two-year test windows, one seed.
    "quick": {"data.years": 13, "walk_forward.train_years": 4.0,
              "walk_forward.test_years": 2.0, "sac.train_steps": 4_000, "seeds": 1},
    # Yearly walk-forward refits from 2007, three seeds. It starts in 2007 because the agent's
    # defaults were chosen on 1995-2006 (docs/agent.md): the reported period is never tuned on.
    "full": {"data.start": "2007-01-01", "walk_forward.train_years": 3.0,
             "walk_forward.test_years": 1.0, "sac.train_steps": 4_000, "seeds": 3},
}


SUPERSEDES = {"data.years": "data.start"}
"""A file's or a flag's value of the key replaces the preset's value of the other: both say
where the data begin (``--start`` wins over ``--years`` when both are given), so
``--preset full --years 5`` uses the last 5 years, not the preset's 2007 start."""


# --- the index of options ----------------------------------------------------------------------

@dataclass(frozen=True)
class OptionSpec:
    """One leaf of the tree: where it lives and how it is set."""

    path: str  # "sac.train_steps", or "seed" at the top level
    section: type[BaseModel]
    name: str
    file_only: bool
    flag: str
    short: str | None

    @property
    def help(self) -> str:
        return str(self.section.model_fields[self.name].description)

    @property
    def default(self) -> Any:
        return self.section.model_fields[self.name].get_default(call_default_factory=True)

    @property
    def annotation(self) -> Any:
        return self.section.model_fields[self.name].annotation


def _leaves(model: type[BaseModel], prefix: str = "") -> Iterator[OptionSpec]:
    for name, info in model.model_fields.items():
        sub = info.annotation
        if isinstance(sub, type) and issubclass(sub, Section):
            yield from _leaves(sub, f"{prefix}{name}.")
            continue
        extra = field_extra(model, name)
        if extra.get("internal"):
            continue
        flag = f"--{name.replace('_', '-')}"
        if info.annotation is bool:  # a switch both ways: a default of True can be turned off
            flag = f"{flag}/--no-{flag[2:]}"
        yield OptionSpec(f"{prefix}{name}", model, name, bool(extra.get("file_only")),
                         extra.get("flag") or flag, extra.get("short"))


def option_index() -> dict[str, OptionSpec]:
    """Every user-settable option by its (unique) name."""
    index: dict[str, OptionSpec] = {}
    for spec in _leaves(RunConfig):
        if spec.name in index:
            raise AssertionError(f"option name {spec.name!r} is not unique in the tree")
        index[spec.name] = spec
    return index


OPTIONS = option_index()


def preset_default(spec: OptionSpec) -> str:
    """The default shown in ``--help``: the tree's, or each preset's where they differ."""
    per_preset = {name: values[spec.path] for name, values in PRESETS.items()
                  if spec.path in values}
    if per_preset:
        quick = per_preset.get("quick", spec.default)
        full = per_preset.get("full", spec.default)
        return f"quick {shown(quick)}, full {shown(full)}"
    return shown(spec.default)


def field_default(section: type[BaseModel], name: str, unset: Mapping[str, str]) -> str:
    """The default of field ``name`` of ``section`` as ``--help`` shows it; a default of None
    as ``unset`` says what it means (``"none"`` if it does not say)."""
    default = section.model_fields[name].get_default(call_default_factory=True)
    return unset.get(name, "none") if default is None else shown(default)


def shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) if value else "none"
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    return str(value)


# --- resolving ---------------------------------------------------------------------------------

def _set(tree: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = value


def _flatten_file(data: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """A file's keys (sections as tables, or flat) as ``{path: value}``."""
    sections = {name for name, info in RunConfig.model_fields.items()
                if isinstance(info.annotation, type) and issubclass(info.annotation, Section)}
    out: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = str(raw_key).replace("-", "_")
        if key in sections and isinstance(value, Mapping):
            for sub_key, sub_value in value.items():
                name = str(sub_key).replace("-", "_")
                spec = OPTIONS.get(name)
                if spec is None or not spec.path.startswith(f"{key}."):
                    home = f" ({name} is an option of [{spec.path.split('.')[0]}])" \
                        if spec is not None and "." in spec.path else ""
                    raise ConfigError(f"unknown option {key}.{sub_key} in {origin}{home}")
                out[spec.path] = sub_value
            continue
        if key in sections and key not in OPTIONS:  # `menu` is a section and its option
            raise ConfigError(f"{raw_key!r} in {origin} is a section: a table of its options "
                              f"([{key}], then key = value lines), not {value!r}")
        spec = OPTIONS.get(key)
        if spec is None:
            close = difflib.get_close_matches(key, OPTIONS, n=1)
            hint = f"did you mean {close[0]}?" if close else \
                "the options are listed by `maxent-portfolio backtest --help`"
            raise ConfigError(f"unknown option {raw_key!r} in {origin} ({hint})")
        out[spec.path] = value
    if isinstance(out.get("strategies"), str):
        out["strategies"] = [s.strip() for s in out["strategies"].split(",")]
    return out


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML, YAML or JSON run configuration into ``{option path: value}``."""
    return config_file_values(parse_config_file(path), path)


def config_file_values(data: Mapping[str, Any], path: str | Path) -> dict[str, Any]:
    """A parsed config file's run options (the top level and a ``[backtest]`` table together)
    as ``{option path: value}``. A ``[sweep]`` table is the ``sweep`` command's grid
    (:mod:`maxent_portfolio.sweep.config`): the run's options of such a file serve a backtest
    too."""
    data = {k: v for k, v in data.items() if k not in ("sweep", SOURCES_KEY)}
    table = data.pop("backtest", {})
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: [backtest] must be a table of options")
    top, inside = _flatten_file(data, str(path)), _flatten_file(table, str(path))
    twice = sorted(set(top) & set(inside))
    if twice:
        raise ConfigError(f"config file {path}: {twice[0]} is set both at the top level and in "
                          "[backtest]; keep one")
    return relative_to_file({**top, **inside}, Path(path).parent)


_PATH_SUFFIXES = (".csv", ".yaml", ".yml")


def relative_to_file(values: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """A file's paths made absolute from ``folder``, the file's own directory.

    A config file then means the same from any working directory: its plug-ins and a
    universe given as a CSV or YAML path (not a name) are found beside the file. A value of
    the wrong type is left for validation to name.
    """
    out = dict(values)
    plugins = out.get("plugins")
    if isinstance(plugins, str):
        plugins = [plugins]
    if isinstance(plugins, list) and all(isinstance(p, str) for p in plugins):
        out["plugins"] = [str((folder / Path(p).expanduser()).resolve()) for p in plugins]
    universe = out.get("data.universe")
    if isinstance(universe, str) and universe.lower().endswith(_PATH_SUFFIXES):
        out["data.universe"] = str((folder / Path(universe).expanduser()).resolve())
    return out


def parse_config_file(path: str | Path) -> dict[str, Any]:
    """The table a TOML, YAML or JSON config file holds, as parsed (not yet checked)."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"config file {p} is a directory")
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    suffix = p.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml", ".json"):
        raise ConfigError(f"config file {p} must end in .toml, .yaml, .yml or .json")
    try:
        text = p.read_text(encoding="utf-8")
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            data = read_yaml(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, yaml.YAMLError,
            json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot parse config file {p}: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a table of options")
    return data


def build_config(values: Mapping[str, Any], where: str = "") -> RunConfig:
    """A validated :class:`RunConfig` from ``{option path: value}``."""
    tree: dict[str, Any] = {}
    for path, value in values.items():
        _set(tree, path, value)
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as exc:
        raise describe_error(exc, where) from None


def resolve_config(file: str | Path | None = None,
                   overrides: Mapping[str, Any] | None = None, presets: bool = True
                   ) -> RunConfig:
    """Defaults < preset < file < ``overrides`` (``{option path: value}``, None = not given).

    With ``presets=False`` (the ``train`` command) no preset applies: the tree's defaults do.
    """
    return resolve_with_sources(file, overrides, presets)[0]


def resolve_with_sources(file: str | Path | None = None,
                         overrides: Mapping[str, Any] | None = None, presets: bool = True
                         ) -> tuple[RunConfig, dict[str, str]]:
    """:func:`resolve_config`, and where each value came from (:func:`value_sources`)."""
    from_file = read_config_file(file) if file else {}
    return resolve_sourced(from_file, overrides, presets, file)


def resolve_values(from_file: Mapping[str, Any], overrides: Mapping[str, Any] | None = None,
                   presets: bool = True, file: str | Path | None = None) -> RunConfig:
    """:func:`resolve_config` on a file's values already read (``{option path: value}``)."""
    return resolve_sourced(from_file, overrides, presets, file)[0]


def resolve_sourced(from_file: Mapping[str, Any], overrides: Mapping[str, Any] | None = None,
                    presets: bool = True, file: str | Path | None = None
                    ) -> tuple[RunConfig, dict[str, str]]:
    """:func:`resolve_values`, and where each value came from (:func:`value_sources`)."""
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if from_file:  # a bad value in the file is reported with the file's name
        build_config(from_file, f" in {file}")
    bundle: Mapping[str, Any] = {}
    if presets:
        preset = given.get("preset", from_file.get("preset", "quick"))
        if preset not in PRESETS:
            raise ConfigError(f"invalid preset {preset!r}: use one of {', '.join(PRESETS)}")
        bundle = {key: value for key, value in {**PRESETS[preset], "preset": preset}.items()
                  if not any(key == SUPERSEDES.get(k) for k in [*from_file, *given])}
    config = build_config({**bundle, **from_file, **given})
    return config, value_sources(bundle, from_file, given)


def config_record(config: RunConfig, sources: Mapping[str, str] | None = None
                  ) -> dict[str, Any]:
    """``config.json``: the resolved tree, plus ``sources`` when known (a record, ignored when
    the file is read back with ``--config``)."""
    tree = config.options_dict()
    return {**tree, SOURCES_KEY: dict(sources)} if sources else tree


def value_sources(preset: Mapping[str, Any], from_file: Mapping[str, Any],
                  given: Mapping[str, Any]) -> dict[str, str]:
    """Where each option's value came from, the last of default < preset < file < flag.

    The preset's own name counts as a flag or a file key when given there: a preset is a
    bundle of defaults, so ``--preset full`` beside a file that sets ``train_steps`` keeps the
    file's value.
    """
    sources = {}
    for spec in OPTIONS.values():
        path = spec.path
        sources[path] = ("flag" if path in given else "file" if path in from_file
                         else "preset" if path in preset and path != "preset" else "default")
    return sources


__all__ = ["DEFAULT_STRATEGIES", "OPTIONS", "PRESETS", "SOURCES_KEY", "SUPERSEDES",
           "DataConfig",
           "OptionSpec", "ReportConfig", "RunConfig", "ScheduleConfig", "WalkForwardConfig",
           "build_config", "config_file_values", "config_record", "field_default",
           "parse_config_file",
           "preset_default", "read_config_file", "relative_to_file", "resolve_config",
           "resolve_sourced", "resolve_values", "resolve_with_sources", "value_sources"]
