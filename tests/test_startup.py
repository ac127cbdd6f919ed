"""The CLI starts at once: the option tree and the light commands load no heavy dependency.

``--help``, ``universes`` and ``strategies`` (and ``import maxent_portfolio.config``) must not
import torch, skfolio, Gymnasium, Ray or the engine; each is checked in a fresh interpreter.
The names they validate against are plain data standing for heavy registries, so each list is
checked here against the registry it stands for.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

HEAVY = ("torch", "skfolio", "gymnasium", "ray", "scipy.stats", "arch",
         "maxent_portfolio.backtest.engine")
"""Modules only the commands that compute may load."""


def _loaded_after(code: str, cwd: Path) -> list[str]:
    """The modules of :data:`HEAVY` loaded once ``code`` has run in a fresh interpreter."""
    probe = (f"{code}\nimport json, sys\n"
             f"print('LOADED', json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.run([sys.executable, "-c", probe], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    line = next(x for x in run.stdout.splitlines() if x.startswith("LOADED "))
    return list(json.loads(line.removeprefix("LOADED ")))


def test_the_probe_sees_a_heavy_import(tmp_path: Path) -> None:
    """The check itself can fail: a command that computes does load the engine."""
    assert _loaded_after("import maxent_portfolio.backtest.engine", tmp_path) == [
        "maxent_portfolio.backtest.engine"]


@pytest.mark.parametrize("code", [
    "import maxent_portfolio.config",
    "import maxent_portfolio.cli",
    "from maxent_portfolio.cli import main\nassert main(['--help']) == 0",
    "from maxent_portfolio.cli import main\nassert main(['backtest', '--help']) == 0",
    "from maxent_portfolio.cli import main\nassert main(['universes']) == 0",
    "from maxent_portfolio.cli import main\nassert main(['strategies']) == 0",
    "from maxent_portfolio.cli import main\nassert main(['config']) == 0",
    "from maxent_portfolio.cli import main\nassert main(['stress', '--help']) == 0",
    "import maxent_portfolio.scenarios",
    # Names are checked against the plain lists: a bad one is refused without loading torch.
    "from maxent_portfolio.config import build_config\nfrom maxent_portfolio.errors import "
    "ConfigError\nfor key, bad in (('sac.policy', 'x'), ('sac.network', 'x'), "
    "('env.reward', 'x'), ('schedule.rebalance', 'x')):\n"
    "    try:\n        build_config({key: bad})\n    except ConfigError as exc:\n"
    "        assert 'use ' in str(exc), exc\n    else:\n        raise AssertionError(key)",
])
def test_light_commands_load_nothing_heavy(tmp_path: Path, code: str) -> None:
    assert _loaded_after(code, tmp_path) == []


def test_the_policy_and_network_names_are_the_registries_keys() -> None:
    from maxent_portfolio.agents import config, distributions, networks

    assert config.POLICIES == tuple(distributions.POLICY_HEADS)
    assert config.NETWORKS == tuple(networks.NETWORK_BUILDERS)


def test_the_source_names_are_the_loaders_keys() -> None:
    from maxent_portfolio.data import loader, universes

    assert universes.SOURCES == tuple(loader.SOURCE_LOADERS)


def test_each_deferred_strategy_is_the_class_it_names() -> None:
    from maxent_portfolio.strategies.registry import DEFERRED

    for name, entry in DEFERRED.items():
        cls = entry.load()
        assert (cls.name, cls.description) == (name, entry.description)


@pytest.mark.parametrize("package", ["maxent_portfolio.agents", "maxent_portfolio.envs",
                                     "maxent_portfolio.strategies", "maxent_portfolio.sweep"])
def test_every_name_of_a_lazy_package_resolves(package: str) -> None:
    """The table of a lazy package lists its public names, each where it is defined."""
    module = importlib.import_module(package)
    lazy = set(module.HOMES)
    assert lazy <= set(module.__all__)
    assert set(module.__all__) - lazy <= set(vars(module))  # the rest is imported eagerly
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        module.missing  # noqa: B018 - the access is the test
