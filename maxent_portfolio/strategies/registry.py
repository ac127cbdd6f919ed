"""Strategies by registry name: the baselines, then whatever joins through :func:`register`.

The SAC strategy and user plug-ins call ``register(TheirStrategy)`` (it also works as a class
decorator) and are then reachable by name like the baselines.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any, TypeVar

from maxent_portfolio.errors import ConfigError, UserError
from maxent_portfolio.strategies.base import Strategy, StrategyContext
from maxent_portfolio.strategies.baselines import BASELINES
from maxent_portfolio.strategies.online import ONLINE

S = TypeVar("S", bound=type[Strategy])

STRATEGIES: dict[str, type[Strategy]] = {}
"""Registry name -> strategy class, in registration order."""


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


# Registered on first use: importing the SAC agent imports torch, which baselines never need.
_LAZY = {"sac": ("maxent_portfolio.strategies.sac", "SACStrategy"),
         "sac-discrete": ("maxent_portfolio.strategies.discrete", "SACDiscreteStrategy"),
         "menu-blend": ("maxent_portfolio.strategies.menu", "MenuBlend")}


def _load_lazy(name: str) -> None:
    if name in _LAZY and name not in STRATEGIES:
        module, attr = _LAZY[name]
        register(getattr(importlib.import_module(module), attr))


def available_strategies() -> dict[str, type[Strategy]]:
    """A copy of the registry: name -> class."""
    for name in _LAZY:
        _load_lazy(name)
    return dict(STRATEGIES)


def unknown_strategy(name: str, available: Iterable[str]) -> UserError:
    """The error for a strategy name nobody registered, naming any broken plug-in behind it.

    A broken plug-in whose file stem is ``name`` gives its own load error; other broken
    plug-ins are mentioned, since one of them may define ``name``.
    """
    from maxent_portfolio.strategies.plugins import broken_plugin_for, broken_plugins

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
    """
    _load_lazy(name)
    cls = STRATEGIES.get(name)
    if cls is None:
        raise unknown_strategy(name, [*STRATEGIES, *(n for n in _LAZY if n not in STRATEGIES)])
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


for _cls in (*BASELINES, *ONLINE):
    register(_cls)

__all__ = ["STRATEGIES", "available_strategies", "build_strategy", "get_strategy", "register",
           "strategy_class", "unknown_strategy"]
