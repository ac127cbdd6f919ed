"""Discover user strategies: every ``strategies/*.py`` and any ``--plugin PATH``.

A plug-in is a Python file defining one or more :class:`Strategy` subclasses with a ``name``.
Each is registered under that name and can be used like a built-in. An error while importing a
plug-in is reported as one line naming the file and line: at once for a ``--plugin`` file; for a
file of ``strategies/`` only when it is used, so that one broken file does not break every
command (it is listed by :func:`~maxent_portfolio.strategies.registry.broken_plugins`, as
invalid universe YAMLs are). The registry keeps which files loaded and which broke. Two files
defining one name are refused naming both: at once for a ``--plugin`` file, and for two files of
``strategies/`` whenever that name is used (the first file loaded would otherwise win silently).
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path

from maxent_portfolio.errors import ConfigError, StrategyError
from maxent_portfolio.strategies.base import Strategy, failure
from maxent_portfolio.strategies.registry import (
    BROKEN_PLUGINS,
    PLUGIN_FILES,
    NameClash,
    catalogue,
    plugin_file_of,
    register,
)

PLUGIN_DIR = Path("strategies")
"""Scanned relative to the current directory."""


def _location(exc: BaseException, path: Path) -> str:
    if isinstance(exc, SyntaxError):
        return f"{exc.filename or path}:{exc.lineno}"
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename).resolve() == path:
            return f"{path}:{frame.lineno}"
    return str(path)


def _shown(file: Path) -> str:
    """A plug-in file as the user wrote it: relative to the working directory when inside."""
    try:
        return str(file.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(file)


def load_plugin(path: str | Path) -> list[type[Strategy]]:
    """Import one plug-in file and register the Strategy subclasses it defines."""
    file = Path(path).resolve()
    if file in PLUGIN_FILES:
        return PLUGIN_FILES[file]
    if not file.exists():
        raise StrategyError(f"plug-in {path} not found")
    if not file.is_file() or file.suffix != ".py":
        raise StrategyError(f"plug-in {path} is not a Python file")
    module_name = f"maxent_portfolio_plugin_{file.stem}_{abs(hash(file)) % 10**8}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise StrategyError(f"cannot import plug-in {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # a user's file may raise anything, even exit
        del sys.modules[module_name]
        raise StrategyError(f"plug-in {_location(exc, file)} failed to load: "
                            f"{failure(exc)}") from exc
    found = [obj for obj in vars(module).values()
             if isinstance(obj, type) and issubclass(obj, Strategy) and obj is not Strategy
             and obj.__module__ == module_name]
    known = catalogue()  # the deferred built-ins too, unimported
    for cls in found:
        if not cls.name:
            raise StrategyError(f"plug-in {path}: class {cls.__name__} needs a `name`")
        other = known.get(cls.name, ("", ""))[0]
        if other and other.rpartition(".")[0] != module_name:
            first = plugin_file_of(cls.name)
            if first is not None:
                raise NameClash(cls.name, f"plug-ins {_shown(first)} and {path} both define "
                                          f"strategy {cls.name!r}; rename one")
            raise StrategyError(f"plug-in {path}: strategy name {cls.name!r} is already taken "
                                f"by {other}")
        try:
            register(cls)
        except ConfigError as exc:
            raise StrategyError(f"plug-in {path}: {exc}") from exc
    PLUGIN_FILES[file] = found
    return found


def load_plugins(extra: Iterable[str | Path] = (), directory: Path = PLUGIN_DIR
                 ) -> list[type[Strategy]]:
    """Load ``directory/*.py`` (if the directory exists) and every file in ``extra``.

    A file of ``directory`` that fails to load is set aside (see
    :func:`~maxent_portfolio.strategies.registry.broken_plugins`); a
    file of ``extra`` was asked for by name and raises :class:`StrategyError`.
    """
    found: list[type[Strategy]] = []
    scanned = sorted(directory.glob("*.py")) if directory.is_dir() else []
    for file in scanned:
        if file.name.startswith("_"):
            continue
        try:
            found += load_plugin(file)
        except StrategyError as exc:
            BROKEN_PLUGINS[file.resolve()] = exc
        else:
            BROKEN_PLUGINS.pop(file.resolve(), None)
    for asked in extra:
        found += load_plugin(asked)
    return found
