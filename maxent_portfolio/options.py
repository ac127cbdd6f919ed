"""The building blocks of the typed option tree: :class:`Section` and :func:`option`.

Every user-settable value is a field of a :class:`Section` (a strict pydantic model), declared
with :func:`option`, which holds its default, its type, its range and its help text. The CLI
flags, the ``--config`` file keys, ``config.json`` and the ``--help`` texts are all generated
from these fields (:mod:`maxent_portfolio.config`), so an option is written once.

A field is one of:

- a flag and a file key (the default): ``--train-steps`` and ``train_steps = ...``;
- ``file_only=True``: settable in a ``--config`` file, deliberately not a flag (algorithm
  hyper-parameters a user rarely changes);
- ``internal=True``: set by the program itself (for example the per-fold seed of an agent),
  neither a flag nor a file key.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from maxent_portfolio.errors import ConfigError

_EXPECTED = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
    "bool_parsing": "true or false", "string_type": "a string", "list_type": "a list",
    "dict_type": "a table", "literal_error": "", "extra_forbidden": "",
}


_BOUNDS = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"),
           "less_than_equal": ("<=", "le"), "less_than": ("<", "lt"),
           "too_short": ("at least", "min_length")}


class Section(BaseModel):
    """A strict group of options: wrong types are refused, never coerced.

    ``strict`` refuses ``200.5`` for an integer, ``"yes"`` for a boolean and ``true`` for a
    number, which a lenient parser would accept or silently convert.
    """

    model_config = ConfigDict(strict=True, extra="forbid", validate_assignment=True,
                              frozen=False, protected_namespaces=())

    @model_validator(mode="before")
    @classmethod
    def _none_word(cls, data: Any) -> Any:
        """The word ``none`` unsets an optional number (``--alpha none``): a flag's text has
        no null, and neither has TOML."""
        if isinstance(data, Mapping):
            data = {k: None if isinstance(v, str) and v.lower() == "none"
                    and k in cls.model_fields and optional_number(cls.model_fields[k].annotation)
                    else v for k, v in data.items()}
        return data

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (tuples as lists)."""
        return self.model_dump(mode="json")

    def options_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` without the ``internal`` fields, of this section and the ones it
        holds: what a user can set, so that it reads back as a ``--config`` file."""
        data = self.to_dict()
        for name in type(self).model_fields:
            value = getattr(self, name)
            if field_extra(type(self), name).get("internal"):
                del data[name]
            elif isinstance(value, Section):
                data[name] = value.options_dict()
        return data


def optional_number(annotation: Any) -> bool:
    """Whether a field's type is a number or None (``float | None``, ``int | None``)."""
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return False
    members = set(typing.get_args(annotation))
    return type(None) in members and bool(members & {int, float})


def option(default: Any, help: str, *, file_only: bool = False, internal: bool = False,
           flag: str | None = None, short: str | None = None, **constraints: Any) -> Any:
    """A :class:`Section` field: default, help text and where it can be set.

    Parameters
    ----------
    default : object
        The default value (a list default is copied per instance).
    help : str
        One or two sentences: the ``--help`` text and the documentation of the key.
    file_only, internal : bool
        See the module docstring.
    flag, short : str, optional
        The long flag (default ``--`` plus the field name with dashes) and a short alias.
    **constraints
        Passed to :func:`pydantic.Field` (``ge``, ``gt``, ``le``, ``lt``, ``strict``, ...).
    """
    extra: Any = {"file_only": file_only, "internal": internal, "flag": flag, "short": short}
    if isinstance(default, list):
        items = list(default)
        return Field(default_factory=lambda: list(items), description=help,
                     json_schema_extra=extra, **constraints)
    return Field(default, description=help, json_schema_extra=extra, **constraints)


def one_of(value: str, choices: Iterable[str], sep: str = ", ") -> str:
    """``value`` if it is one of ``choices``; else the ``ValueError`` a validator raises."""
    names = list(choices)
    if value not in names:
        raise ValueError(f"use {sep.join(names)}")
    return value


def strategy_names(value: list[str], where: str) -> list[str]:
    """Strategy names stripped of spaces; the ``ValueError`` a validator raises for an empty
    name or a name given twice, saying ``where`` (``"strategy names"``, ``"on the menu"``)."""
    names = [s.strip() for s in value]
    if any(not s for s in names):
        raise ValueError(f"{where}: a name is empty")
    repeated = sorted({s for s in names if names.count(s) > 1})
    if repeated:
        raise ValueError(f"{where}: {repeated[0]!r} is given twice")
    return names


def field_extra(section: type[BaseModel], name: str) -> dict[str, Any]:
    """The :func:`option` settings of field ``name`` of ``section``."""
    extra = section.model_fields[name].json_schema_extra
    return dict(extra) if isinstance(extra, dict) else {}


SectionT = TypeVar("SectionT", bound=BaseModel)


def validated(section: type[SectionT], values: Mapping[str, Any], where: str = "") -> SectionT:
    """``section`` built from ``values``; a bad value is one line naming the key (``where``
    appended, e.g. ``" in run.toml"``)."""
    try:
        return section.model_validate(values)
    except ValidationError as exc:
        raise describe_error(exc, where) from None


def describe_error(exc: ValidationError, where: str = "") -> ConfigError:
    """One line naming the first bad key, its value and what was expected.

    ``where`` is appended, e.g. ``" in run.toml"``.
    """
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"] if not isinstance(part, int)]
    # pydantic names the union member it tried last ("cost_bps.float"); keep the user's key
    loc = [p for p in loc if p not in ("float", "int", "str", "bool", "dict[str,float]",
                                       "function-after[_check(), str]")]
    kind = error["type"]
    if kind == "extra_forbidden":
        return ConfigError(f"unknown option {'.'.join(loc)!r}{where}")
    key = loc[-1].replace("_", "-") if loc else "value"  # option names are unique in the tree
    expected = _EXPECTED.get(kind)
    bound = _BOUNDS.get(kind)
    if bound is not None:
        symbol, key_name = bound
        limit = (error.get("ctx") or {}).get(key_name)
        message = f"must be {symbol} {limit:g}" if isinstance(limit, float) else \
            f"must be {symbol} {limit}"
    else:
        message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    if not message[:2].isupper():  # "Input should ..." -> "input should ...", keep "CUDA ..."
        message = message[:1].lower() + message[1:]
    reason = f"expected {expected}" if expected else message
    value = error.get("input")
    shown = "" if isinstance(value, dict) else f" {value!r}"
    return ConfigError(f"invalid {key}{shown}{where}: {reason}")


__all__ = ["Section", "describe_error", "field_extra", "one_of", "option", "strategy_names",
           "validated"]
