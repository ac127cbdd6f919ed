"""Lazy package APIs: a package's public names imported from their modules on first use.

A package ``__init__`` that imported its modules eagerly would load torch (``agents``),
Gymnasium (``envs``) or skfolio (``strategies``) for anyone importing any of its modules, the
light option sections included. Such a package keeps a table of its public names instead and
defines ``def __getattr__(name): return exported(__name__, HOMES, name)`` (PEP 562).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any


def homes(module: str, names: Iterable[str]) -> dict[str, str]:
    """``{name: module}`` for each of ``names``: a table entry per module."""
    return dict.fromkeys(names, module)


def exported(package: str, table: Mapping[str, str], name: str) -> Any:
    """The public ``name`` of ``package``, imported from its module in ``table``.

    Raises
    ------
    AttributeError
        When ``name`` is not in the table, as for any missing module attribute.
    """
    if name not in table:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return getattr(importlib.import_module(table[name]), name)


__all__ = ["exported", "homes"]
