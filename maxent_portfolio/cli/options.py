"""CLI flags generated from the option tree (:mod:`maxent_portfolio.config`).

A command declares which sections it takes; :func:`tree_options` adds one typer option per
field of those sections, with the field's help text and its default (per preset where the
presets differ), and hands the command the values given as ``{option path: value}``. No flag,
default or help text is written twice.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel

from maxent_portfolio.config import OPTIONS, OptionSpec, preset_default, shown

CONFIG_OPTION = typer.Option(
    None, "--config", "-c", help="TOML/YAML/JSON file holding any of the options below "
    "(sections as tables, or flat keys) and the file-only ones (`maxent-portfolio config` "
    "lists every key); flags override it, it overrides the preset. Paths in it are relative "
    "to the file. Examples: strategies/quick.toml, strategies/full.yaml.")
"""``--config``: shared by every command built on the option tree."""


def _cli_type(spec: OptionSpec) -> Any:
    """The type typer parses a flag as: the field's, without None, lists as text."""
    if spec.name == "plugins":
        return list[Path]
    annotation = spec.annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = members[0]  # float | dict -> float: a table is for files
    if typing.get_origin(annotation) is list:
        return str  # comma-separated
    if typing.get_origin(annotation) is typing.Literal:
        return str  # the tree checks it, with the same message as a file's value
    return annotation


def flag_specs(parts: Iterable[str]) -> list[OptionSpec]:
    """The flags of ``parts``: section names (``""`` for every run-level option) or paths."""
    wanted = set(parts)
    return [spec for spec in OPTIONS.values() if not spec.file_only
            and ((spec.path.rsplit(".", 1)[0] if "." in spec.path else "") in wanted
                 or spec.path in wanted)]


def help_text(spec: OptionSpec, presets: bool = True) -> str:
    """The field's help plus its default, as ``--help`` shows it."""
    default = preset_default(spec) if presets else shown(spec.default)
    return f"{spec.help} [default: {default}]"


def _parameter(spec: OptionSpec, presets: bool) -> inspect.Parameter:
    decls = [spec.flag, *([spec.short] if spec.short else [])]
    info = typer.Option(None, *decls, help=help_text(spec, presets), show_default=False,
                        rich_help_panel="Options of the run (also config-file keys)")
    return inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY, default=info,
                             annotation=_cli_type(spec))


def _value(spec: OptionSpec, value: Any) -> Any:
    if spec.name == "strategies":
        return [s.strip() for s in str(value).split(",")]
    if spec.name == "plugins":
        return [str(p) for p in value] or None
    return value


def tree_options(*parts: str, presets: bool = True
                 ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a command taking ``overrides``: add the flags of ``parts`` (see
    :func:`flag_specs`). ``presets`` says whether the command applies ``--preset``."""
    specs = flag_specs(parts)

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = inspect.signature(command)
        hints = typing.get_type_hints(command)  # real types, not the strings of __future__
        kept = [p.replace(annotation=hints.get(name, p.annotation))
                for name, p in own.parameters.items() if name != "overrides"]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            overrides = {}
            for spec in specs:
                value = kwargs.pop(spec.name, None)
                if value is not None:
                    overrides[spec.path] = _value(spec, value)
            return command(overrides={k: v for k, v in overrides.items() if v is not None},
                           **kwargs)

        wrapper.__signature__ = own.replace(  # type: ignore[attr-defined]
            parameters=[*kept, *(_parameter(spec, presets) for spec in specs)])
        del wrapper.__wrapped__  # typer must read the new signature, not the command's
        wrapper.__annotations__ = {}
        return wrapper

    return decorate


def _is_list(section: type[BaseModel], name: str) -> bool:
    annotation = section.model_fields[name].annotation
    return typing.get_origin(annotation) is list or any(
        typing.get_origin(a) is list for a in typing.get_args(annotation))


def _section_type(section: type[BaseModel], name: str) -> Any:
    """The type typer parses a section's flag as: lists as comma-separated text."""
    if _is_list(section, name):
        return str
    annotation = section.model_fields[name].annotation
    members = [a for a in typing.get_args(annotation) if a is not type(None)]
    return members[0] if members else annotation


def _section_value(section: type[BaseModel], name: str, value: Any) -> Any:
    """A comma-separated list as numbers, or words (kept, for the validator to name)."""
    if not _is_list(section, name):
        return value
    items: list[Any] = []
    for part in str(value).split(","):
        try:
            items.append(float(part))
        except ValueError:
            items.append(part.strip())
    return items


def section_options(section: type[BaseModel], keyword: str, default: Callable[[str], str],
                    panel: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator adding one flag per field of ``section`` (its help, and its default as
    ``default(name)`` shows it) to a command taking ``keyword``: the values given, None for
    those not given. A command's own section (a sweep's grid, a stress test's scenarios)
    whose flags are not the run's."""
    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = inspect.signature(command)
        hints = typing.get_type_hints(command)
        kept = [p.replace(annotation=hints.get(name, p.annotation))
                for name, p in own.parameters.items() if name != keyword]
        extra = []
        for name, info in section.model_fields.items():
            flag = typer.Option(None, f"--{name.replace('_', '-')}",
                                help=f"{info.description} [default: {default(name)}]",
                                show_default=False, rich_help_panel=panel)
            extra.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=flag,
                                           annotation=_section_type(section, name)))

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            given = {name: kwargs.pop(name, None) for name in section.model_fields}
            given = {k: None if v is None else _section_value(section, k, v)
                     for k, v in given.items()}
            return command(**{keyword: given}, **kwargs)

        wrapper.__signature__ = own.replace(  # type: ignore[attr-defined]
            parameters=[*kept, *extra])
        del wrapper.__wrapped__  # typer must read the new signature
        wrapper.__annotations__ = {}
        return wrapper

    return decorate


__all__ = ["CONFIG_OPTION", "flag_specs", "help_text", "section_options", "tree_options"]
