"""The resolved configuration of a backtest run: defaults, presets, files and CLI overrides.

Precedence, lowest first: the dataclass defaults, the preset, the ``--config`` file, CLI flags.
Every value is validated here so a bad value fails before any work starts.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from maxent_portfolio.errors import ConfigError

DEFAULT_STRATEGIES = ("sac", "equal-weight", "buy-and-hold", "inverse-volatility",
                      "min-variance", "hrp", "eg")
REBALANCE_HELP = "daily, weekly, monthly, quarterly, yearly, every:K or drift:X"


@dataclass
class RunConfig:
    """Every option of ``maxent-portfolio backtest``. Each field's docstring is its help."""

    universe: str = "sp500-20"
    """Universe name (see `maxent-portfolio universes`) or a path to a YAML or CSV file."""
    strategies: list[str] = field(default_factory=lambda: list(DEFAULT_STRATEGIES))
    """Strategies to compare; the universe's benchmark is added as a `benchmark` row."""
    start: str | None = None
    """First date of data used (training included), YYYY-MM-DD."""
    end: str | None = None
    """Last date of data used, YYYY-MM-DD."""
    rebalance: str = "monthly"
    """Rebalance schedule: daily, weekly, monthly, quarterly, yearly, every:K or drift:X."""
    cost_bps: float = 10.0
    """Proportional transaction cost per unit traded, in basis points."""
    slippage_bps: float = 0.0
    """Extra proportional cost per unit traded, in basis points."""
    max_weight: float | None = None
    """Cap on any single asset's weight (0-1]; the excess is spread over the others."""
    train_years: float = 3.0
    """Length of the first training window, in years (expanding afterwards)."""
    test_years: float = 1.0
    """Length of each out-of-sample test window, in years: the refit interval."""
    purge_days: int = 0
    """Periods left out between each training and test window (embargo)."""
    rolling: bool = False
    """Use a rolling training window of `train_years` instead of an expanding one."""
    missing: str = "common-start"
    """Assets listed late: `common-start` trims to a common start, `drop` drops them."""
    rf: float = 0.0
    """Annual risk-free rate for Sharpe-type ratios and tear sheets."""
    seed: int = 0
    """Base random seed; seed i of K is seed + i."""
    seeds: int = 1
    """SAC agents trained per fold; each is reported, plus their mean."""
    train_steps: int = 20_000
    """Environment steps of SAC training per fold (summed over the batched envs)."""
    alpha: float | None = None
    """Fixed SAC temperature; automatic tuning when unset."""
    diversification: float = 0.5
    """SAC diversification dial in (0, 1]: the entropy target of a symmetric reference policy
    holding 1 + d (N_peak - 1) effective assets; higher holds more names."""
    policy: str = "dirichlet"
    """SAC policy head: `dirichlet` or `logistic-normal`."""
    network: str = "shared"
    """SAC networks: `shared` per-asset encoder or `mlp`."""
    device: str = "auto"
    """Torch device: `cpu`, `cuda`, or `auto` (cuda when available)."""
    plugins: list[str] = field(default_factory=list)
    """Extra plug-in files defining Strategy subclasses (strategies/*.py is always scanned)."""
    preset: str = "quick"
    """`quick` (minutes, the default) or `full` (yearly refits, 3 seeds, longer training)."""

    def validate(self) -> RunConfig:
        """Check every value; raise ConfigError naming the first bad one."""
        def bad(name: str, value: object, why: str) -> ConfigError:
            return ConfigError(f"invalid {name} {value!r}: {why}")

        if self.preset not in PRESETS:
            raise bad("preset", self.preset, f"use one of {', '.join(PRESETS)}")
        if not self.strategies:
            raise bad("strategies", self.strategies, "name at least one strategy")
        for name, value in (("cost_bps", self.cost_bps), ("slippage_bps", self.slippage_bps),
                            ("purge_days", self.purge_days)):
            if not isinstance(value, int | float) or value < 0:
                raise bad(name.replace("_", "-"), value, "must be a number >= 0")
        for name, value in (("train_years", self.train_years), ("test_years", self.test_years)):
            if not isinstance(value, int | float) or value <= 0:
                raise bad(name.replace("_", "-"), value, "must be a number > 0")
        if self.max_weight is not None and not 0 < self.max_weight <= 1:
            raise bad("max-weight", self.max_weight, "must be in (0, 1]")
        if self.seeds < 1:
            raise bad("seeds", self.seeds, "must be at least 1")
        if self.seed < 0:
            raise bad("seed", self.seed, "must be a non-negative integer")
        if self.train_steps < 1:
            raise bad("train-steps", self.train_steps, "must be at least 1")
        if self.alpha is not None and not self.alpha > 0:
            raise bad("alpha", self.alpha, "must be > 0 (omit it for automatic tuning)")
        if not 0 < self.diversification <= 1:
            raise bad("diversification", self.diversification, "must be in (0, 1]")
        if self.policy not in ("dirichlet", "logistic-normal"):
            raise bad("policy", self.policy, "use dirichlet or logistic-normal")
        if self.network not in ("shared", "mlp"):
            raise bad("network", self.network, "use shared or mlp")
        if self.device not in ("auto", "cpu", "cuda"):
            raise bad("device", self.device, "use auto, cpu or cuda")
        if self.missing not in ("common-start", "drop"):
            raise bad("missing", self.missing, "use common-start or drop")
        from maxent_portfolio.backtest.engine import Schedule

        Schedule.parse(self.rebalance)
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PRESETS: dict[str, dict[str, Any]] = {
    # Minutes on 2 cores: the last ten years of data, two-year test windows, short training.
    "quick": {"start": "2010-01-01", "train_years": 4.0, "test_years": 2.0,
              "train_steps": 6_000, "seeds": 1},
    # Yearly walk-forward refits over the whole history, three seeds, longer training.
    "full": {"train_years": 3.0, "test_years": 1.0, "train_steps": 2_000, "seeds": 3},
}

FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML, YAML or JSON run configuration into a flat dict of RunConfig fields."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif p.suffix.lower() in (".yaml", ".yml", ".json"):
            data = yaml.safe_load(text) if p.suffix.lower() != ".json" else json.loads(text)
        else:
            raise ConfigError(f"config file {p} must end in .toml, .yaml, .yml or .json")
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot parse config file {p}: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a table of options")
    data = data.get("backtest", data)  # allow a [backtest] table
    flat = {str(k).replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(flat) - set(FIELDS))
    if unknown:
        raise ConfigError(f"unknown option {unknown[0]!r} in {p} "
                          f"(known: {', '.join(sorted(FIELDS))})")
    if isinstance(flat.get("strategies"), str):
        flat["strategies"] = [s.strip() for s in flat["strategies"].split(",") if s.strip()]
    return flat


def resolve_config(file: str | Path | None = None, **overrides: Any) -> RunConfig:
    """Build the RunConfig: defaults < preset < file < overrides (None means not given)."""
    from_file = read_config_file(file) if file else {}
    given = {k: v for k, v in overrides.items() if v is not None}
    preset = given.get("preset", from_file.get("preset", "quick"))
    if preset not in PRESETS:
        raise ConfigError(f"invalid preset {preset!r}: use one of {', '.join(PRESETS)}")
    values: dict[str, Any] = {**PRESETS[preset], **from_file, **given, "preset": preset}
    try:
        config = RunConfig(**values)
    except TypeError as exc:
        raise ConfigError(f"bad configuration: {exc}") from exc
    for name, f in FIELDS.items():
        value = getattr(config, name)
        if f.type in ("float", "float | None") and isinstance(value, int | float) \
                and not isinstance(value, bool):
            setattr(config, name, float(value))
        elif f.type in ("float", "float | None", "int") and value is not None \
                and not isinstance(value, int | float):
            raise ConfigError(f"invalid {name.replace('_', '-')} {value!r}: must be a number")
    return config.validate()
