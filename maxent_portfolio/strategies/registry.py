"""Strategies by registry name: the baselines, then whatever joins through :func:`register`.

The SAC strategy and user plug-ins call ``register(TheirStrategy)`` (it also works as a class
decorator) and are then reachable by name like the baselines. The learning strategies are
:data:`DEFERRED`: known by name and description at once, imported (with torch) on first use.
The registry also keeps the plug-in files' bookkeeping (:data:`PLUGIN_FILES`,
:data:`BROKEN_PLUGINS`), which :mod:`~maxent_portfolio.strategies.plugins` fills.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from maxent_portfolio.errors import ConfigError, StrategyError, UserError
from maxent_portfolio.strategies.base import Strategy, StrategyContext
from maxent_portfolio.strategies.baselines import BASELINES
from maxent_portfolio.strategies.online import ONLINE

S = TypeVar("S", bound=type[Strategy])

STRATEGIES: dict[str, type[Strategy]] = {}
"""Registry name -> strategy class, in registration order."""

PLUGIN_FILES: dict[Path, list[type[Strategy]]] = {}
"""Plug-in files loaded (resolved path) -> the strategy classes each registered."""

BROKEN_PLUGINS: dict[Path, StrategyError] = {}
"""Plug-in files of the scanned directory that failed to load -> their one-line error."""


class NameClash(StrategyError):
    """Two plug-in files define one strategy name: which one a run would use is a guess."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def plugin_file_of(name: str) -> Path | None:
    """The loaded plug-in file that registered strategy ``name``, if a plug-in did."""
    return next((file for file, classes in PLUGIN_FILES.items()
                 if any(cls.name == name for cls in classes)), None)


def name_clash(name: str) -> NameClash | None:
    """The error of two plug-in files of the scanned directory that both define ``name``."""
    return next((exc for exc in BROKEN_PLUGINS.values()
                 if isinstance(exc, NameClash) and exc.name == name), None)


@dataclass(frozen=True)
class Deferred:
    """A built-in strategy known by where it lives, registered when first used.

    Importing the SAC agent imports torch, which the baselines (and ``--help``) never need.
    """

    target: str
    """``"module:Class"``."""
    description: str
    """The class's ``description``, for listing it unimported (a test holds them equal)."""

    def load(self) -> type[Strategy]:
        module, _, attr = self.target.partition(":")
        cls: type[Strategy] = getattr(importlib.import_module(module), attr)
        return cls


DEFERRED: dict[str, Deferred] = {
    "sac": Deferred("maxent_portfolio.strategies.sac:SACStrategy",
                    "Soft Actor-Critic on the simplex (max-entropy RL), refit each fold"),
    "sac-discrete": Deferred("maxent_portfolio.strategies.discrete:SACDiscreteStrategy",
                             "discrete SAC over a menu of strategies (soft meta-allocator), "
                             "refit each fold"),
    "menu-blend": Deferred("maxent_portfolio.strategies.menu:MenuBlend",
                           "even 1/K mixture of the --menu strategies' weights (sac-discrete's "
                           "reference)"),
}
"""Built-in strategies registered on first use, by name."""


def register(cls: S, *, replace: bool = False) -> S:
    """Add a strategy class under its ``name``; returns the class (usable as a decorator).

    Raises
    ------
    ConfigError
        If ``cls`` is not a Strategy subclass, has no ``name``/``description``, or its name is
        taken by another class and ``replace`` is False.
    """
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ConfigError(f"only Strategy subclasses can be registered, got {cls!r}")
    if not cls.name or not cls.description:
        raise ConfigError(f"strategy class {cls.__name__} needs a `name` and a one-line "
                          "`description`")
    taken = STRATEGIES.get(cls.name)
    if taken is not None and taken is not cls and not replace:
        raise ConfigError(f"strategy name {cls.name!r} is already registered by "
                          f"{taken.__module__}.{taken.__qualname__}")
    STRATEGIES[cls.name] = cls
    return cls


def load_deferred(name: str) -> None:
    """Register the deferred strategy ``name`` (a no-op for any other or a registered name)."""
    if name in DEFERRED and name not in STRATEGIES:
        register(DEFERRED[name].load())


def catalogue() -> dict[str, tuple[str, str]]:
    """Every strategy name -> (its class as ``module.Class``, its description), importing
    nothing: the registered classes and the deferred ones (what ``maxent-portfolio
    strategies`` lists)."""
    known = {name: (f"{cls.__module__}.{cls.__name__}", cls.description)
             for name, cls in STRATEGIES.items()}
    return {**known, **{name: (entry.target.replace(":", "."), entry.description)
                        for name, entry in DEFERRED.items() if name not in known}}


def available_strategies() -> dict[str, type[Strategy]]:
    """A copy of the registry: name -> class."""
    for name in DEFERRED:
        load_deferred(name)
    return dict(STRATEGIES)


def unknown_strategy(name: str, available: Iterable[str]) -> UserError:
    """The error for a strategy name nobody registered, naming any broken plug-in behind it.

    A broken plug-in whose file stem is ``name`` gives its own load error; other broken
    plug-ins are mentioned, since one of them may define ``name``.
    """
    own = broken_plugin_for(name)
    if own is not None:
        return own
    broken = broken_plugins()
    hint = (f"; {len(broken)} plug-in(s) failed to load: "
            + "; ".join(str(exc) for exc in broken.values())) if broken else ""
    return ConfigError(f"unknown strategy {name!r}; available: {', '.join(available)}{hint}")


def strategy_class(name: str) -> type[Strategy]:
    """The class registered as ``name``.

    Raises
    ------
    ConfigError
        On an unknown name; the message lists the valid ones.
    NameClash
        When two plug-in files define ``name``.
    """
    load_deferred(name)
    cls = STRATEGIES.get(name)
    if cls is None:
        raise unknown_strategy(name, catalogue())
    clash = name_clash(name)
    if clash is not None:
        raise clash
    return cls


def build_strategy(name: str, context: StrategyContext) -> Strategy:
    """The strategy ``name`` built for a run: ``cls.from_context(context)``."""
    cls = strategy_class(name)
    try:
        return cls.from_context(context)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"cannot build strategy {name!r}: {exc}") from exc


def get_strategy(name: str, **params: Any) -> Strategy:
    """Instantiate the strategy registered as ``name`` with keyword ``params``.

    Raises
    ------
    ConfigError
        On an unknown name (the message lists the valid ones) or parameters the class refuses.
    """
    cls = strategy_class(name)
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid parameters for strategy {name!r}: {exc}") from exc


def broken_plugins() -> dict[Path, StrategyError]:
    """Plug-in files of the scanned directory that failed to load, with their one-line error."""
    return dict(BROKEN_PLUGINS)


def broken_plugin_for(name: str) -> StrategyError | None:
    """The load error of a broken plug-in whose file stem is ``name`` (``-`` and ``_`` alike).

    A file that does not import cannot say which names it defines; its stem is the best guess.
    """
    def slug(text: str) -> str:
        return text.lower().replace("_", "-")

    return next((exc for path, exc in BROKEN_PLUGINS.items() if slug(path.stem) == slug(name)),
                None)


for _cls in (*BASELINES, *ONLINE):
    register(_cls)

__all__ = ["BROKEN_PLUGINS", "DEFERRED", "PLUGIN_FILES", "STRATEGIES", "Deferred", "NameClash",
           "available_strategies", "broken_plugin_for", "broken_plugins", "build_strategy",
           "catalogue", "get_strategy", "load_deferred", "name_clash", "plugin_file_of",
           "register", "strategy_class", "unknown_strategy"]
