"""Shared fixtures. No test touches the network; caches live in temporary directories.

Shared plain helpers live in modules beside this file, imported by name (``tests/`` is on
``sys.path`` under pytest): :mod:`support` (seeded markets, tiny SAC settings and envs, the CLI),
:mod:`report_run` (a small synthetic run for the report tests), :mod:`fake_yfinance` (stand-ins
for ``yfinance.download``) and :mod:`browser` (headless Chromium). No test module imports from
another test module.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

_TMP = tempfile.mkdtemp(prefix="maxent-tests-")
os.environ.setdefault("MPLCONFIGDIR", os.path.join(_TMP, "mpl"))
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["MAXENT_PORTFOLIO_CACHE"] = os.path.join(_TMP, "cache")
os.environ.setdefault("XDG_CACHE_HOME", os.path.join(_TMP, "xdg"))
# Output as CI sees it (piped, no COLUMNS), whatever the shell or pytest-xdist's workers set.
os.environ.pop("COLUMNS", None)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse any connection that leaves the machine."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else address
        if self.family == socket.AF_UNIX or host in ("127.0.0.1", "::1", "localhost"):
            return real_connect(self, address)  # type: ignore[arg-type]
        raise OSError(f"network disabled in tests (tried {address!r})")

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def synthetic_returns() -> pd.DataFrame:
    """1,200 business days of 5 assets with distinct drifts and volatilities, seeded."""
    rng = np.random.default_rng(7)
    idx = pd.bdate_range("2010-01-04", periods=1200)
    mu = np.array([0.0002, 0.0004, 0.0001, 0.0003, 0.0005])
    sigma = np.array([0.01, 0.015, 0.008, 0.02, 0.012])
    data = rng.normal(mu, sigma, size=(len(idx), len(mu)))
    return pd.DataFrame(data, index=idx, columns=["AAA", "BBB", "CCC", "DDD", "EEE"])


@pytest.fixture(scope="module", autouse=True)
def restored_registry() -> Iterator[None]:
    """Undo, after every module, the plug-ins its runs registered (``prepare`` loads
    ``strategies/*.py`` of the working directory), so later modules see the registry as it
    was: the tests pass in any order."""
    from maxent_portfolio.strategies import registry

    tables = (registry.STRATEGIES, registry.PLUGIN_FILES, registry.BROKEN_PLUGINS)
    saved = [dict(table) for table in tables]
    yield
    for live, old in zip(tables, saved, strict=True):
        live.clear()
        live.update(old)  # type: ignore[attr-defined]
