"""Plug-in discovery, errors naming file and line, and bad weights naming strategy and date."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from maxent_portfolio.backtest.engine import run_backtest
from maxent_portfolio.backtest.walkforward import TrainTestSplit
from maxent_portfolio.errors import StrategyError
from maxent_portfolio.strategies.plugins import load_plugin, load_plugins
from maxent_portfolio.strategies.registry import STRATEGIES, get_strategy

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clean_registry() -> object:
    before = dict(STRATEGIES)
    yield
    STRATEGIES.clear()
    STRATEGIES.update(before)


def test_shipped_example_plugin_is_discovered_and_runs(synthetic_returns: pd.DataFrame) -> None:
    found = load_plugins(directory=REPO / "strategies")
    assert "vol-target-momentum" in {cls.name for cls in found}
    strategy = get_strategy("vol-target-momentum")
    res = run_backtest(synthetic_returns, strategy, splits=TrainTestSplit(0.5))
    assert res.returns.notna().all() and len(res.returns) > 500
    assert (res.targets["CASH"] >= 0).all()


def test_plugin_import_error_names_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "broken.py"
    f.write_text("import math\n\nx = 1 / 0\n")
    with pytest.raises(StrategyError, match=r"broken\.py:3 failed to load: ZeroDivisionError"):
        load_plugin(f)
    s = tmp_path / "syntax.py"
    s.write_text("def f(:\n    pass\n")
    with pytest.raises(StrategyError, match=r"syntax\.py:1 failed to load: SyntaxError"):
        load_plugin(s)


def test_plugin_bad_weights_name_strategy_and_date(tmp_path: Path,
                                                   synthetic_returns: pd.DataFrame) -> None:
    f = tmp_path / "greedy.py"
    f.write_text(
        "import pandas as pd\n"
        "from maxent_portfolio.strategies.base import Strategy\n\n"
        "class Greedy(Strategy):\n"
        "    name = 'greedy'\n"
        "    description = 'puts 150% in the first asset'\n\n"
        "    def allocate(self, history, current):\n"
        "        return pd.Series({history.columns[0]: 1.5})\n")
    load_plugin(f)
    with pytest.raises(StrategyError, match=r"strategy 'greedy' on \d{4}-\d\d-\d\d: weights sum "
                                            r"to 1\.5"):
        run_backtest(synthetic_returns, get_strategy("greedy"), splits=TrainTestSplit(0.5))


def test_plugin_runtime_error_names_its_line(tmp_path: Path,
                                             synthetic_returns: pd.DataFrame) -> None:
    f = tmp_path / "fails.py"
    f.write_text(
        "from maxent_portfolio.strategies.base import Strategy\n\n"
        "class Fails(Strategy):\n"
        "    name = 'fails'\n"
        "    description = 'raises'\n\n"
        "    def allocate(self, history, current):\n"
        "        return history['NOPE']\n")
    load_plugin(f)
    with pytest.raises(StrategyError, match=r"'fails' failed in allocate .*KeyError.*fails\.py:8"):
        run_backtest(synthetic_returns, get_strategy("fails"), splits=TrainTestSplit(0.5))


def test_plugin_cannot_shadow_a_builtin(tmp_path: Path) -> None:
    f = tmp_path / "shadow.py"
    f.write_text(
        "from maxent_portfolio.strategies.base import Strategy\n\n"
        "class Mine(Strategy):\n"
        "    name = 'equal-weight'\n"
        "    description = 'not the real one'\n")
    with pytest.raises(StrategyError, match="'equal-weight' is already taken"):
        load_plugin(f)
