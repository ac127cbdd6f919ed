"""Plug-in discovery, errors naming file and line, and bad weights naming strategy and date."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from maxent_portfolio.backtest.engine import run_backtest
from maxent_portfolio.backtest.walkforward import TrainTestSplit
from maxent_portfolio.cli import main
from maxent_portfolio.errors import ConfigError, StrategyError
from maxent_portfolio.strategies.plugins import load_plugin, load_plugins
from maxent_portfolio.strategies.registry import (
    BROKEN_PLUGINS,
    STRATEGIES,
    broken_plugins,
    get_strategy,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clean_registry() -> object:
    before = dict(STRATEGIES)
    yield
    STRATEGIES.clear()
    STRATEGIES.update(before)
    BROKEN_PLUGINS.clear()


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


_GOOD = ("from maxent_portfolio.strategies.base import Strategy\n\n"
         "class Good(Strategy):\n"
         "    name = 'good-one'\n"
         "    description = 'all in the first asset'\n\n"
         "    def allocate(self, history, current):\n"
         "        import pandas as pd\n"
         "        return pd.Series({history.columns[0]: 1.0})\n")


def _plugin_dir(root: Path) -> Path:
    folder = root / "strategies"
    folder.mkdir()
    (folder / "good.py").write_text(_GOOD)
    (folder / "my_broken.py").write_text("def f(:\n    pass\n")
    return folder


def test_broken_plugin_in_directory_is_set_aside_until_used(tmp_path: Path) -> None:
    folder = _plugin_dir(tmp_path)
    found = load_plugins(directory=folder)  # does not raise
    assert [cls.name for cls in found] == ["good-one"]
    (path, error), = broken_plugins().items()
    assert path.name == "my_broken.py"
    assert "my_broken.py:1 failed to load: SyntaxError" in str(error)
    # Named in -s (by its file stem): its own load error.
    with pytest.raises(StrategyError, match=r"my_broken\.py:1 failed to load: SyntaxError"):
        get_strategy("my-broken")
    # Another unknown name: the broken plug-in is mentioned, it may define it.
    with pytest.raises(ConfigError, match=r"unknown strategy 'nope'; .*1 plug-in\(s\) failed "
                                          r"to load: plug-in .*my_broken\.py:1"):
        get_strategy("nope")
    # Given explicitly: it fails at once.
    with pytest.raises(StrategyError, match="SyntaxError"):
        load_plugins([folder / "my_broken.py"], directory=folder)
    # Fixed: no longer listed.
    (folder / "my_broken.py").write_text(_GOOD.replace("good-one", "fixed"))
    load_plugins(directory=folder)
    assert broken_plugins() == {}


def test_cli_lists_a_broken_plugin_and_fails_only_when_it_is_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _plugin_dir(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    assert "good-one" in out and "equal-weight" in out
    assert "my_broken" in out and "broken plug-in" in out and "SyntaxError" in out
    for args in (["strategies", "--plugin", "strategies/my_broken.py"],
                 ["backtest", "-s", "my_broken", "--quiet"]):
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "my_broken.py:1 failed to load: SyntaxError" in err
