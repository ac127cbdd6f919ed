"""The options of the ``stress`` command: :class:`StressConfig`, their one owner.

A stress test re-evaluates a finished run (its options are fixed by the run's ``config.json``)
on scenario markets (:mod:`maxent_portfolio.scenarios`). What the scenarios are and where they
run is set by the flags below or by the ``[stress]`` table of a ``--config`` file; flags
override the file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import field_validator

from maxent_portfolio.config import field_default, parse_config_file
from maxent_portfolio.errors import ConfigError
from maxent_portfolio.options import option, validated
from maxent_portfolio.scenarios import KINDS
from maxent_portfolio.sweep.config import WorkerConfig

UNSET_MEANS = {"crash_window": "the worst drawdown window before each fold's test start",
               "address": "a local Ray instance"}
"""What an option left unset means, as ``--help`` and ``maxent-portfolio config`` show it."""


class StressConfig(WorkerConfig):
    """The scenarios of a stress test and where they run (:class:`WorkerConfig`)."""

    scenarios: int = option(200, "Scenario markets per strategy: each replaces every fold's "
                            "test window at once, and every strategy meets the same ones.",
                            ge=1)
    kinds: list[str] = option(["bootstrap"], "Comma-separated scenario kinds, combined in "
                              "each scenario: bootstrap, crash, volatility, costs, noise; or "
                              "identity alone (the run's own test windows).", min_length=1)
    volatility: float = option(1.5, "The k of the volatility kind: each asset's log-returns "
                               "scaled about their mean by k.", gt=0)
    cost_multiplier: float = option(2.0, "The k of the costs kind: the run's transaction "
                                    "costs times k.", gt=0)
    noise: float = option(0.5, "The size of the noise kind's noise on what strategies see, in "
                          "units of each asset's volatility (they earn the true returns).",
                          ge=0)
    crash_window: str | None = option(
        None, "The crash kind's episode, START:END (dates of the run's data, both included), "
        "spliced whole into every fold's test window at a random point.")
    crash_years: float = option(0.25, "Length in years of the crash kind's default episode: "
                                "the equal-weight portfolio's worst window of that length in "
                                "the data before each fold's test start.", gt=0)
    drawdown_threshold: float = option(0.2, "summary.csv gives the probability of a maximum "
                                       "drawdown deeper than this (0.2: a fall of 20%).",
                                       gt=0, lt=1)
    seed: int = option(0, "Seed of the scenarios: scenario i is the same whatever --scenarios "
                       "and --jobs are.", ge=0)

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, value: list[str]) -> list[str]:
        names = [k.strip() for k in value]
        unknown = [k for k in names if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown scenario kind {unknown[0]!r}: use {', '.join(KINDS)}")
        if "identity" in names and len(set(names)) > 1:
            raise ValueError("identity cannot be combined with other kinds")
        if len(set(names)) != len(names):
            raise ValueError("a kind is named twice")
        return names

    @field_validator("volatility", "cost_multiplier", "noise", "crash_years")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("crash_window")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is None:
            return None
        start, end = crash_window_dates(value)
        return f"{start.date()}:{end.date()}"

    def window(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """``--crash-window`` as its first and last dates, or None."""
        return None if self.crash_window is None else crash_window_dates(self.crash_window)

    def identity(self) -> dict[str, Any]:
        """What defines the scenarios (not where they run): compared when a stress resumes."""
        return {k: v for k, v in self.to_dict().items() if k not in WorkerConfig.model_fields}


def crash_window_dates(text: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``START:END`` as two dates, the first not after the second; the ``ValueError`` a
    validator raises otherwise."""
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        start, end = (pd.Timestamp(p.strip()) for p in parts)
    except ValueError:
        raise ValueError("expected START:END, two dates such as 2020-02-19:2020-03-23") from None
    if start > end:
        raise ValueError(f"the window starts ({start.date()}) after it ends ({end.date()})")
    return start, end


def stress_default(name: str) -> str:
    """The default of option ``name`` as ``--help`` shows it."""
    return field_default(StressConfig, name, UNSET_MEANS)


def build_stress(values: dict[str, Any], where: str = "") -> StressConfig:
    """A validated :class:`StressConfig`; a bad value is one line naming the key."""
    return validated(StressConfig, values, where)


def resolve_stress(file: str | Path | None, flags: dict[str, Any]) -> StressConfig:
    """The options: defaults < the file's ``[stress]`` table < the flags given (None = not
    given). The file's other keys are a run's options, which the run directory fixes."""
    table: Any = parse_config_file(file).get("stress", {}) if file else {}
    if not isinstance(table, dict):
        raise ConfigError(f"config file {file}: [stress] must be a table of stress options")
    table = {str(k).replace("-", "_"): v for k, v in table.items()}
    if isinstance(table.get("kinds"), str):
        table["kinds"] = [k.strip() for k in table["kinds"].split(",")]
    if table:
        build_stress(table, f" in {file}")
    given = {k: v for k, v in flags.items() if v is not None}
    return build_stress({**table, **given})


__all__ = ["UNSET_MEANS", "StressConfig", "build_stress", "crash_window_dates",
           "resolve_stress", "stress_default"]
