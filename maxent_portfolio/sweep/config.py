"""The grid of a sweep: :class:`SweepConfig`, the owner of the ``sweep`` command's own options.

A sweep runs the ``sac`` strategy at every point of a grid, dial values x costs x seeds, on
one run's data, engine and folds (the run's options are a :class:`~maxent_portfolio.config.
RunConfig`, resolved as for ``backtest``). The grid is set by the flags below or by the
``[sweep]`` table of the ``--config`` file; flags override the file. The dial is either the
fixed temperature ``alpha`` or the ``diversification`` target of the automatic temperature,
never both.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from pydantic import field_validator

from maxent_portfolio.config import (
    RunConfig,
    config_file_values,
    field_default,
    parse_config_file,
    resolve_values,
)
from maxent_portfolio.errors import ConfigError
from maxent_portfolio.options import Section, one_of, option, validated

BACKENDS = ("local", "ray")
DEFAULT_DIAL = [0.001, 0.01, 0.1, 1.0]
"""The temperatures swept when neither ``alpha`` nor ``diversification`` is given: decades
from the cold end to the hot one (about 1/N under the default reference)."""
UNSET_MEANS = {"alpha": f"{', '.join(f'{v:g}' for v in DEFAULT_DIAL)} "
                        "(without --diversification)",
               "diversification": "none (the dial is alpha)",
               "cost_bps": "the run's costs", "address": "a local Ray instance"}
"""What a grid option left unset means, as ``--help`` and ``maxent-portfolio config`` show its
default."""

MAX_PBO_PARTITIONS = 16
"""CSCV's splits grow as C(S, S/2): 12,870 at 16, 184,756 at 20, 1.4e11 at 40 (a hang)."""


class WorkerConfig(Section):
    """Where a command's independent jobs run (a sweep's cells, stress's scenario chunks)."""

    backend: str = option("local", "Where the jobs run: local (a process pool on this "
                          "machine) or ray (Ray tasks, on a local instance or the --address "
                          "cluster).")
    address: str | None = option(None, "Address of a running Ray cluster to join, e.g. "
                                 "ray://head:10001 or auto (--backend ray only).")
    jobs: int = option(os.cpu_count() or 1, "Jobs run at once (worker processes or Ray "
                       "CPUs); default: the number of CPU cores. The results are identical "
                       "for every value and both backends.", ge=1)

    @field_validator("backend")
    @classmethod
    def _backend(cls, value: str) -> str:
        return one_of(value, BACKENDS, " or ")

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None, info: Any) -> str | None:
        if value is not None and info.data.get("backend") != "ray":  # backend is checked first
            raise ValueError("joining a Ray cluster needs --backend ray")
        return value


class SweepConfig(WorkerConfig):
    """The grid (dial x costs x seeds) and where its cells run (:class:`WorkerConfig`)."""

    alpha: list[float] | None = option(
        None, "Fixed SAC temperatures to sweep, comma-separated, each > 0 (higher = more "
        "diversified); excludes --diversification.", min_length=1)
    diversification: list[float] | None = option(
        None, "Diversification dial values to sweep, comma-separated, each in (0, 1], with the "
        "temperature tuned automatically.",
        min_length=1)
    seeds: int = option(3, "Agents (seeds) trained per grid setting: their spread is the "
                        "seed-to-seed variation.", ge=1)
    cost_bps: list[float] | None = option(
        None, "Transaction costs in bps to sweep, comma-separated, each replacing the run's "
        "costs (which may be a per-asset table of the config file).", min_length=1)
    pbo_partitions: int = option(
        8, "Even number S of blocks the out-of-sample period is cut into for the probability "
        "of backtest overfitting (CSCV), at most 16. It tries C(S, S/2) splits per cost level: "
        "70 at 8, 924 at 12, 12,870 at 16 (about 0.1, 1 and 10 seconds for 12 settings).",
        ge=2, le=MAX_PBO_PARTITIONS)

    scenarios: int = option(
        0, "Scenario markets (stationary block bootstraps of every fold's test window, as "
        "stress draws them) each cell's agents then meet, the same ones for every cell: "
        "sweep.csv gains each cell's win rate against 1/N and Sharpe quantiles, and "
        "frontier.html the dial's robustness curve beside the blend control. 0: none.", ge=0)
    scenario_seed: int = option(0, "Seed of the --scenarios markets: scenario i is the same "
                                "for every cell and every --jobs.", ge=0)

    @field_validator("alpha", "diversification", "cost_bps")
    @classmethod
    def _values(cls, value: list[float] | None, info: Any) -> list[float] | None:
        if value is None:
            return None
        name = info.field_name
        for v in value:
            if not math.isfinite(v):
                raise ValueError("values must be finite numbers")
            if name == "alpha" and v <= 0:
                raise ValueError(f"temperatures must be > 0, got {v:g}")
            if name == "diversification" and not 0 < v <= 1:
                raise ValueError(f"dial values must be in (0, 1], got {v:g}")
            if name == "cost_bps" and v < 0:
                raise ValueError(f"costs must be >= 0 bps, got {v:g}")
        if len(set(value)) != len(value):
            raise ValueError("values must not repeat")
        return [float(v) for v in value]

    @field_validator("diversification")
    @classmethod
    def _one_dial(cls, value: list[float] | None, info: Any) -> list[float] | None:
        if value is not None and info.data.get("alpha") is not None:  # alpha is checked first
            raise ValueError("sweep --alpha or --diversification, not both")
        return value

    @field_validator("pbo_partitions")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError("must be even")
        return value

    @property
    def dial(self) -> str:
        """The swept field of the ``sac`` section: ``alpha`` or ``diversification``."""
        return "diversification" if self.diversification is not None else "alpha"

    @property
    def dial_values(self) -> list[float]:
        values = self.diversification if self.diversification is not None else self.alpha
        return list(values) if values is not None else list(DEFAULT_DIAL)

    def grid(self) -> dict[str, Any]:
        """What defines the cells (not where they run): compared when a sweep resumes."""
        grid = {"dial": self.dial, "values": self.dial_values, "cost_bps": self.cost_bps,
                "seeds": self.seeds}
        if self.scenarios:  # absent otherwise: a sweep without them resumes as before
            grid |= {"scenarios": self.scenarios, "scenario_seed": self.scenario_seed}
        return grid


def grid_default(name: str) -> str:
    """The default of grid option ``name`` as ``--help`` shows it."""
    return field_default(SweepConfig, name, UNSET_MEANS)


def build_sweep(values: dict[str, Any], where: str = "") -> SweepConfig:
    """A validated :class:`SweepConfig`; a bad value is one line naming the key."""
    return validated(SweepConfig, values, where)


def resolve_sweep(file: str | Path | None, overrides: dict[str, Any],
                  grid: dict[str, Any]) -> tuple[RunConfig, SweepConfig]:
    """The run's options and the grid: defaults < preset < file < flags.

    ``overrides`` are run options as ``{option path: value}``; ``grid`` the sweep's flags
    given (None = not given). The file's ``[sweep]`` table holds the grid, its other keys the
    run's options (as for ``backtest``).
    """
    raw = parse_config_file(file) if file else {}
    table = raw.pop("sweep", {})
    if not isinstance(table, dict):
        raise ConfigError(f"config file {file}: [sweep] must be a table of grid options")
    table = {str(k).replace("-", "_"): v for k, v in table.items()}
    for key in ("alpha", "diversification", "cost_bps"):  # one value: a grid of one
        if isinstance(table.get(key), int | float) and not isinstance(table[key], bool):
            table[key] = [table[key]]
    run = resolve_values(config_file_values(raw, file) if file else {}, overrides, True, file)
    if table:
        build_sweep(table, f" in {file}")
    given = {k: v for k, v in grid.items() if v is not None}
    return run, build_sweep({**table, **given})


__all__ = ["BACKENDS", "DEFAULT_DIAL", "MAX_PBO_PARTITIONS", "UNSET_MEANS", "SweepConfig",
           "WorkerConfig", "build_sweep", "grid_default", "resolve_sweep"]
