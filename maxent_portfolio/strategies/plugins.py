"""Discover user strategies: every ``strategies/*.py`` and any ``--plugin PATH``.

A plug-in is a Python file defining one or more :class:`Strategy` subclasses with a ``name``.
Each is registered under that name and can be used like a built-in. An error while importing a
plug-in is reported as one line naming the file and line: at once for a ``--plugin`` file; for a
file of ``strategies/`` only when it is used, so that one broken file does not break every
command (it is listed by :func:`broken_plugins`, as invalid universe YAMLs are).
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path

from maxent_portfolio.errors import StrategyError
from maxent_portfolio.strategies.base import Strategy

PLUGIN_DIR = Path("strategies")
"""Scanned relative to the current directory."""

_loaded: dict[Path, list[type[Strategy]]] = {}
_broken: dict[Path, StrategyError] = {}


def _location(exc: BaseException, path: Path) -> str:
    if isinstance(exc, SyntaxError):
        return f"{exc.filename or path}:{exc.lineno}"
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename).resolve() == path:
            return f"{path}:{frame.lineno}"
    return str(path)


def load_plugin(path: str | Path) -> list[type[Strategy]]:
    """Import one plug-in file and register the Strategy subclasses it defines."""
    from maxent_portfolio.errors import ConfigError
    from maxent_portfolio.strategies.registry import available_strategies, register

    file = Path(path).resolve()
    if file in _loaded:
        return _loaded[file]
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
    except Exception as exc:  # a user's file may raise anything
        del sys.modules[module_name]
        raise StrategyError(f"plug-in {_location(exc, file)} failed to load: "
                            f"{type(exc).__name__}: {exc}") from exc
    found = [obj for obj in vars(module).values()
             if isinstance(obj, type) and issubclass(obj, Strategy) and obj is not Strategy
             and obj.__module__ == module_name]
    builtins = available_strategies()
    for cls in found:
        if not cls.name:
            raise StrategyError(f"plug-in {path}: class {cls.__name__} needs a `name`")
        other = builtins.get(cls.name)
        if other is not None and other.__module__ != module_name:
            raise StrategyError(f"plug-in {path}: strategy name {cls.name!r} is already taken "
                                f"by {other.__module__}.{other.__name__}")
        try:
            register(cls)
        except ConfigError as exc:
            raise StrategyError(f"plug-in {path}: {exc}") from exc
    _loaded[file] = found
    return found


def load_plugins(extra: Iterable[str | Path] = (), directory: Path = PLUGIN_DIR
                 ) -> list[type[Strategy]]:
    """Load ``directory/*.py`` (if the directory exists) and every file in ``extra``.

    A file of ``directory`` that fails to load is set aside (see :func:`broken_plugins`); a
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
            _broken[file.resolve()] = exc
        else:
            _broken.pop(file.resolve(), None)
    for asked in extra:
        found += load_plugin(asked)
    return found


def broken_plugins() -> dict[Path, StrategyError]:
    """Plug-in files of the scanned directory that failed to load, with their one-line error."""
    return dict(_broken)


def broken_plugin_for(name: str) -> StrategyError | None:
    """The load error of a broken plug-in whose file stem is ``name`` (``-`` and ``_`` alike).

    A file that does not import cannot say which names it defines; its stem is the best guess.
    """
    def slug(text: str) -> str:
        return text.lower().replace("_", "-")

    return next((exc for path, exc in _broken.items() if slug(path.stem) == slug(name)), None)
