"""Run configuration: precedence, files and validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from maxent_portfolio.config import PRESETS, resolve_config
from maxent_portfolio.errors import ConfigError


def test_precedence_defaults_preset_file_flags(tmp_path: Path) -> None:
    assert resolve_config().train_steps == PRESETS["quick"]["train_steps"]
    assert resolve_config(preset="full").seeds == 3
    f = tmp_path / "run.toml"
    f.write_text('[backtest]\ncost_bps = 3\nstrategies = ["eg", "hrp"]\nseeds = 2\n')
    cfg = resolve_config(f, seeds=4)
    assert (cfg.cost_bps, cfg.strategies, cfg.seeds) == (3.0, ["eg", "hrp"], 4)
    y = tmp_path / "run.yaml"
    y.write_text("preset: full\nstrategies: eg, hrp\ncost-bps: 2.5\n")
    cfg = resolve_config(y)
    assert (cfg.preset, cfg.strategies, cfg.cost_bps, cfg.seeds) == ("full", ["eg", "hrp"],
                                                                       2.5, 3)


@pytest.mark.parametrize(("overrides", "fragment"), [
    ({"cost_bps": -1.0}, "invalid cost-bps -1.0"),
    ({"diversification": 1.5}, "invalid diversification 1.5"),
    ({"alpha": 0.0}, "invalid alpha 0.0"),
    ({"policy": "gaussian"}, "invalid policy 'gaussian'"),
    ({"rebalance": "hourly"}, "unknown rebalance schedule 'hourly'"),
    ({"preset": "huge"}, "invalid preset 'huge'"),
    ({"seeds": 0}, "invalid seeds 0"),
    ({"seed": -1}, "invalid seed -1"),
    ({"max_weight": 2.0}, "invalid max-weight 2.0"),
    ({"test_years": 0.0}, "invalid test-years 0.0"),
])
def test_bad_values_are_named(overrides: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")):
        resolve_config(**overrides)


def test_bad_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        resolve_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("cost_bps = [")
    with pytest.raises(ConfigError, match=r"cannot parse config file .*bad\.toml"):
        resolve_config(bad)
    typo = tmp_path / "typo.yaml"
    typo.write_text("cost_bsp: 3\n")
    with pytest.raises(ConfigError, match=r"unknown option 'cost_bsp' in .*typo\.yaml"):
        resolve_config(typo)
    wrong_type = tmp_path / "type.yaml"
    wrong_type.write_text("cost_bps: ten\n")
    with pytest.raises(ConfigError, match="invalid cost-bps 'ten'"):
        resolve_config(wrong_type)


def test_shipped_example_configs_are_valid() -> None:
    root = Path(__file__).resolve().parents[1] / "strategies"
    files = sorted(root.glob("*.toml")) + sorted(root.glob("*.yaml"))
    assert files
    for f in files:
        resolve_config(f)
