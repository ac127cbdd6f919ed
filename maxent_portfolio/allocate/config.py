"""The ``allocate`` command's own options: :class:`AllocateConfig`, their one owner.

A light module (pydantic and pandas only), so that ``--help`` builds its flags without the
engine.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from pydantic import ValidationError, ValidationInfo, field_validator

from maxent_portfolio.options import Section, describe_error, option

UNSET_MEANS = {"strategy": "the run's only strategy",
               "as_of": "the holdings' date, else the last date of the data",
               "holdings": "none (the run's own book, else all cash; no orders)",
               "data": "the run's universe", "value": "none"}
"""What an ``allocate`` option left unset means, as ``--help`` shows its default."""


class AllocateConfig(Section):
    """The ``allocate`` command's own options: which decision, from which book, which orders."""

    strategy: str | None = option(
        None, "The strategy that decides: a row of the run (sac, sac-seed1, min-variance, "
        "...), or without a run directory any rule-based strategy (see `maxent-portfolio "
        "strategies`).")
    as_of: str | None = option(
        None, "Decision date, YYYY-MM-DD: the weights chosen at its close, held from the next "
        "period.")
    holdings: str | None = option(
        None, "CSV of the book held at the as-of close: columns ticker and shares (cash, in "
        "currency, on a CASH row) or ticker and weight, and optionally date. The decision "
        "trades from it, and orders.csv takes it to the executed weights.")
    data: str | None = option(
        None, "Data to decide on in place of the run's universe (read from the cache or the "
        "embedded data): a universe name, or a CSV or YAML path with the run's assets. With a "
        "run directory only; without one use --universe.")
    value: float | None = option(
        None, "Value of the book, in currency, when --holdings gives weights (shares need "
        "it).", gt=0)
    fractional: bool = option(False, "Fractional shares: orders are the exact shares, not "
                              "rounded to lots.", flag="--fractional/--whole")
    lot_size: float = option(1.0, "Shares per lot: each order is a whole number of lots "
                             "(1: whole shares).", gt=0)
    min_trade: float = option(0.0, "Smallest order placed, in currency: a smaller one is "
                              "skipped, leaving its asset off target by less.", ge=0)

    @field_validator("as_of")
    @classmethod
    def _date(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(pd.Timestamp(value.strip()).date())
        except (ValueError, TypeError):
            raise ValueError("must be a date, YYYY-MM-DD") from None

    @field_validator("lot_size")
    @classmethod
    def _lots(cls, value: float, info: ValidationInfo) -> float:
        if info.data.get("fractional") and value != 1.0:
            raise ValueError("lots round whole-share orders: leave it out with --fractional")
        return value

    @classmethod
    def build(cls, values: dict[str, Any]) -> AllocateConfig:
        """A checked section from the flags given (``None``: not given)."""
        try:
            return cls.model_validate({k: v for k, v in values.items() if v is not None})
        except ValidationError as exc:
            raise describe_error(exc) from None


__all__ = ["UNSET_MEANS", "AllocateConfig"]
