"""maxent-portfolio: backtest portfolio allocation with maximum-entropy RL (SAC on the simplex).

Importing the package registers the Gymnasium environment ``maxent_portfolio/Portfolio-v0``
(see :mod:`maxent_portfolio.envs`) without importing Gymnasium itself: if Gymnasium is already
imported it is registered at once, otherwise as soon as Gymnasium's registry is imported. So
both work::

    import maxent_portfolio, gymnasium as gym
    env = gym.make("maxent_portfolio/Portfolio-v0")

    import gymnasium as gym  # nothing else: Gymnasium imports the module named before ":"
    env = gym.make("maxent_portfolio:maxent_portfolio/Portfolio-v0")

Gymnasium 1.x has no plug-in entry points (``load_plugin_envs`` went with 1.0), so a bare
``gym.make("maxent_portfolio/Portfolio-v0")`` with no import of this package cannot find it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

ENV_ID = "maxent_portfolio/Portfolio-v0"
"""Gymnasium id of :class:`~maxent_portfolio.envs.PortfolioEnv`."""

_REGISTRY_MODULE = "gymnasium.envs.registration"


def register_env(registration: ModuleType | None = None) -> None:
    """Register :data:`ENV_ID` (and its vector entry point) with Gymnasium, once.

    Parameters
    ----------
    registration : module, optional
        ``gymnasium.envs.registration``; imported if not given.
    """
    if registration is None:
        import gymnasium.envs.registration

        registration = gymnasium.envs.registration
    if ENV_ID not in registration.registry:
        registration.register(
            id=ENV_ID,
            entry_point="maxent_portfolio.envs.portfolio:PortfolioEnv",
            vector_entry_point="maxent_portfolio.envs.vector:PortfolioVectorEnv",
        )


class _RegisterOnGymnasiumImport(importlib.abc.MetaPathFinder):
    """Calls :func:`register_env` right after Gymnasium's registry module is executed.

    Importing Gymnasium costs about half a second, which every CLI command would pay for
    nothing if the package imported it eagerly.
    """

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != _REGISTRY_MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_then_register(module: ModuleType) -> None:
            exec_module(module)
            register_env(module)

        loader.exec_module = exec_then_register  # type: ignore[method-assign]
        return spec


if _REGISTRY_MODULE in sys.modules:
    register_env(sys.modules[_REGISTRY_MODULE])
elif not any(isinstance(f, _RegisterOnGymnasiumImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterOnGymnasiumImport())

__all__ = ["ENV_ID", "register_env"]
