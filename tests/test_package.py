"""The package registers its Gymnasium environment on import, without importing Gymnasium."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("code", [
    # The package first: Gymnasium is not imported by it, and registers on its own import.
    "import sys, maxent_portfolio\n"
    "assert 'gymnasium' not in sys.modules\n"
    "import gymnasium as gym\n"
    "print(type(gym.make('maxent_portfolio/Portfolio-v0').unwrapped).__name__)\n",
    # Gymnasium only: the module-qualified id makes Gymnasium import the package.
    "import gymnasium as gym\n"
    "print(type(gym.make('maxent_portfolio:maxent_portfolio/Portfolio-v0').unwrapped).__name__)\n",
])
def test_env_is_found_by_gymnasium_in_a_fresh_interpreter(tmp_path: Path, code: str) -> None:
    run = _python(code, tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "PortfolioEnv"
