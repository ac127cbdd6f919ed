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
from maxent_portfolio.options import field_extra, optional_number

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
    return flag_type(spec.annotation)


def flag_type(annotation: Any) -> Any:
    """The type typer parses a field's flag as: the field's, without None, lists as text."""
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


def _number_or_none(kind: type) -> Callable[[str], Any]:
    """A flag's parser for an optional number: the number, or the word ``none`` (unset)."""
    def parse(text: str) -> Any:
        if text.strip().lower() == "none":
            return "none"  # the section's validator reads it as None
        try:
            return kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise typer.BadParameter(f"{text!r} is not {what} or none") from None
    return parse


def _parameter(spec: OptionSpec, presets: bool) -> inspect.Parameter:
    decls = [spec.flag, *([spec.short] if spec.short else [])]
    extra: dict[str, Any] = {}
    if optional_number(spec.annotation):
        extra["parser"] = _number_or_none(flag_type(spec.annotation))
    info = typer.Option(None, *decls, help=help_text(spec, presets), show_default=False,
                        rich_help_panel="Options of the run (also config-file keys)", **extra)
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


def listed(section: type[BaseModel]) -> Callable[[str, Any], Any]:
    """``value(name, given)`` for :func:`section_options`: a list field's comma-separated text
    as numbers, or words (kept, for the validator to name); other fields as given."""
    def value(name: str, given: Any) -> Any:
        annotation = section.model_fields[name].annotation
        if not any(typing.get_origin(a) is list
                   for a in (annotation, *typing.get_args(annotation))):
            return given
        items: list[Any] = []
        for part in str(given).split(","):
            try:
                items.append(float(part))
            except ValueError:
                items.append(part.strip())
        return items

    return value


def section_options(section: type[BaseModel], argument: str, panel: str, *,
                    parse: Callable[[Any], Any] = flag_type,
                    value: Callable[[str, Any], Any] | None = None,
                    default: Callable[[str], str] | None = None
                    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a command taking ``argument``: add one flag per field of a command's own
    ``section`` (its help text and default; :func:`~maxent_portfolio.options.option`'s
    ``flag``), and hand the command ``{field: value}``, None for a flag not given.

    ``parse(annotation)`` is the type typer parses a flag as, ``value(name, given)`` turns
    what it parsed into the field's value (by default :func:`listed`), ``default(name)`` is
    the default ``--help`` shows (the field's by default).
    """
    names = tuple(section.model_fields)
    value = value if value is not None else listed(section)

    def shown_default(name: str) -> str:
        if default is not None:
            return default(name)
        return shown(section.model_fields[name].get_default(call_default_factory=True))

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = inspect.signature(command)
        hints = typing.get_type_hints(command)
        kept = [p.replace(annotation=hints.get(name, p.annotation))
                for name, p in own.parameters.items() if name != argument]
        extra = []
        for name, info in section.model_fields.items():
            flag = field_extra(section, name).get("flag") or f"--{name.replace('_', '-')}"
            text = f"{info.description} [default: {shown_default(name)}]"
            option = typer.Option(None, flag, help=text, show_default=False,
                                  rich_help_panel=panel)
            extra.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                                           default=option, annotation=parse(info.annotation)))

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            given = {name: kwargs.pop(name, None) for name in names}
            return command(**{argument: {k: None if v is None else value(k, v)
                                         for k, v in given.items()}}, **kwargs)

        wrapper.__signature__ = own.replace(  # type: ignore[attr-defined]
            parameters=[*kept, *extra])
        del wrapper.__wrapped__  # typer must read the new signature
        wrapper.__annotations__ = {}
        return wrapper

    return decorate


__all__ = ["CONFIG_OPTION", "flag_specs", "flag_type", "help_text", "listed",
           "section_options", "tree_options"]
