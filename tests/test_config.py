"""The option tree: precedence, files, validation messages, and the CLI generated from it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from maxent_portfolio.cli.options import flag_specs, help_text
from maxent_portfolio.config import OPTIONS, PRESETS, RunConfig, resolve_config
from maxent_portfolio.errors import ConfigError
from maxent_portfolio.options import field_extra


def flags(**values: object) -> dict[str, object]:
    """CLI-style overrides by option name."""
    return {OPTIONS[k].path: v for k, v in values.items()}


def test_precedence_defaults_preset_file_flags(tmp_path: Path) -> None:
    assert resolve_config().sac.train_steps == PRESETS["quick"]["sac.train_steps"]
    assert resolve_config(overrides=flags(preset="full")).seeds == 3
    f = tmp_path / "run.toml"
    f.write_text('[backtest]\ncost_bps = 3\nstrategies = ["eg", "hrp"]\nseeds = 2\n')
    cfg = resolve_config(f, flags(seeds=4))
    assert (cfg.costs.cost_bps, cfg.strategies, cfg.seeds) == (3.0, ["eg", "hrp"], 4)
    y = tmp_path / "run.yaml"
    y.write_text("preset: full\nstrategies: eg, hrp\ncost-bps: 2.5\n")
    cfg = resolve_config(y)
    assert (cfg.preset, cfg.strategies, cfg.costs.cost_bps, cfg.seeds) == (
        "full", ["eg", "hrp"], 2.5, 3)


def test_a_backtest_table_keeps_the_top_level_keys(tmp_path: Path) -> None:
    f = tmp_path / "run.toml"
    f.write_text('cost_bps = 50\nseeds = 3\n[sac]\ngamma = 0.9\n'
                 '[backtest]\nstrategies = ["eg"]\n')
    config = resolve_config(f)
    assert (config.costs.cost_bps, config.seeds, config.sac.gamma) == (50, 3, 0.9)
    assert config.strategies == ["eg"]
    f.write_text('cost_bps = 50\n[backtest]\ncost_bps = 5\n')
    with pytest.raises(ConfigError, match="cost_bps is set both at the top level and in"):
        resolve_config(f)


def test_sections_as_tables_and_per_asset_costs(tmp_path: Path) -> None:
    f = tmp_path / "run.toml"
    f.write_text('[sac]\nalpha = 0.2\ngamma = 0.9\n[costs]\nslippage_bps = 1\n'
                 '[costs.cost_bps]\nAAPL = 5\nMSFT = 7.5\n[env]\nreward = "dsr"\n')
    cfg = resolve_config(f)
    assert (cfg.sac.alpha, cfg.sac.gamma, cfg.env.reward) == (0.2, 0.9, "dsr")
    assert cfg.costs.bps(["MSFT", "AAPL"]).tolist() == [8.5, 6.0]
    bad = tmp_path / "bad.toml"
    bad.write_text("[sac]\nlookback = 5\n")  # lookback lives in [env]
    with pytest.raises(ConfigError, match=r"unknown option sac\.lookback in .*bad\.toml"):
        resolve_config(bad)


def test_train_applies_no_preset() -> None:
    assert resolve_config(presets=False).sac.train_steps == 20_000
    assert resolve_config(presets=False).data.years is None


@pytest.mark.parametrize(("values", "fragment"), [
    ({"cost_bps": -1.0}, "invalid cost-bps -1.0"),
    ({"diversification": 1.5}, "invalid diversification 1.5"),
    ({"alpha": 0.0}, "invalid alpha 0.0"),
    ({"policy": "gaussian"}, "invalid policy 'gaussian'"),
    ({"rebalance": "hourly"}, "invalid rebalance 'hourly': use daily"),
    ({"preset": "huge"}, "invalid preset 'huge'"),
    ({"seeds": 0}, "invalid seeds 0"),
    ({"seed": -1}, "invalid seed -1"),
    ({"max_weight": 2.0}, "invalid max-weight 2.0"),
    ({"test_years": 0.0}, "invalid test-years 0.0"),
    ({"strategies": [""]}, "invalid strategies"),
    ({"reward": "sortino"}, "invalid reward 'sortino'"),
    ({"start": "2010-13-45"}, "invalid start '2010-13-45'"),
])
def test_bad_values_are_named(values: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")) as info:
        resolve_config(overrides=flags(**values))
    assert "\n" not in str(info.value)


# Issue #11 item 2: wrong types in a config file, each one line naming key and expected type.
@pytest.mark.parametrize(("line", "fragment"), [
    ("seeds = 1.5", "invalid seeds 1.5 in .*: expected an integer"),
    ("purge_days = 2.5", "invalid purge-days 2.5 in .*: expected an integer"),
    ("strategies = 5", "invalid strategies 5 in .*: expected a list"),
    ("train_steps = 200.5", "invalid train-steps 200.5 in .*: expected an integer"),
    ('rolling = "yes"', "invalid rolling 'yes' in .*: expected true or false"),
    ("cost_bps = true", "invalid cost-bps True in .*: expected a number"),
    ('html = 1', "invalid html 1 in .*: expected true or false"),
])
def test_wrong_types_in_a_file_are_refused(tmp_path: Path, line: str, fragment: str) -> None:
    f = tmp_path / "run.toml"
    f.write_text(line + "\n")
    with pytest.raises(ConfigError, match=fragment) as info:
        resolve_config(f)
    assert "\n" not in str(info.value)


def test_bad_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        resolve_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="is a directory"):
        resolve_config(tmp_path)
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


def test_config_json_round_trips() -> None:
    cfg = resolve_config(overrides=flags(alpha=0.3, cost_bps=4.0, rolling=True))
    again = RunConfig.model_validate(cfg.to_dict())
    assert again == cfg


def test_every_field_is_a_flag_or_deliberately_file_only() -> None:
    """Issue #10: a field has a flag of backtest, or an explicit file-only/internal mark."""
    backtest_flags = {s.path for s in flag_specs(
        ["", "data", "costs", "walk_forward", "schedule", "limits", "env", "sac", "menu",
         "report"])}
    for spec in OPTIONS.values():
        extra = field_extra(spec.section, spec.name)
        assert spec.path in backtest_flags or extra["file_only"], spec.path
        assert spec.help and not spec.help.endswith(" "), spec.path


@pytest.mark.slow
@pytest.mark.parametrize("command", ["backtest", "train"])
def test_help_shows_every_flag_with_the_tree_default(command: str) -> None:
    env = {"COLUMNS": "400", "TERM": "dumb", "NO_COLOR": "1"}
    text = subprocess.run([sys.executable, "-m", "maxent_portfolio", command, "--help"],
                          capture_output=True, text=True, env={**env, "PATH": ""},
                          check=True).stdout
    text = re.sub(r"\s+", " ", text.replace("│", " "))
    parts = ["", "data", "costs", "walk_forward", "schedule", "limits", "env", "sac", "menu",
             "report"] \
        if command == "backtest" else ["data", "costs", "limits", "env", "sac", "seed", "seeds"]
    for spec in flag_specs(parts):
        assert spec.flag.split("/")[0] in text, spec.flag
        shown = help_text(spec, presets=command == "backtest")
        default = shown[shown.index("[default:"):]
        assert default in text, (spec.flag, default)


def test_a_bare_year_is_a_whole_year_and_quick_counts_back_from_the_end() -> None:
    """Issue #11: `--end 2005` alone used to fail, blaming the quick preset's fixed start."""
    from maxent_portfolio.runner import load_market

    cfg = resolve_config(overrides=flags(end="2005"))
    assert (cfg.data.start, cfg.data.end) == (None, "2005-12-31")
    assert resolve_config(overrides=flags(start="1999")).data.start == "1999-01-01"
    market = load_market(cfg)  # the quick preset: the last 13 calendar years up to the end
    assert str(market.returns.index[0].year) == "1993"  # the first return of 1993
    assert str(market.returns.index[-1].date()) == "2005-12-30"


def _sac_flags_probe() -> tuple[Any, dict[str, object]]:
    """A one-command app with the ``sac`` section's flags, and the overrides it receives."""
    import typer

    from maxent_portfolio.cli.options import tree_options

    seen: dict[str, object] = {}
    app = typer.Typer()

    @app.command()
    @tree_options("sac")
    def probe(overrides: dict[str, object]) -> None:
        seen.update(overrides)

    return app, seen


def test_a_switch_that_defaults_on_can_be_turned_off() -> None:
    """Every boolean flag is a pair (``--x/--no-x``), so a default of True is not a trap."""
    from typer.testing import CliRunner

    app, seen = _sac_flags_probe()
    assert RunConfig().sac.one_step_model is True
    result = CliRunner().invoke(app, ["--no-one-step-model"])
    assert result.exit_code == 0, result.output
    assert seen == {"sac.one_step_model": False}
    seen.clear()
    CliRunner().invoke(app, ["--one-step-model"])
    assert seen == {"sac.one_step_model": True}


def test_none_unsets_an_optional_number_from_a_flag_or_a_file(tmp_path: Path) -> None:
    """A default that is a number can be turned back into None (``--alpha none``: the tuned
    temperature), from a flag and from TOML, which has no null; a word is refused in one line."""
    from typer.testing import CliRunner

    app, seen = _sac_flags_probe()
    assert CliRunner().invoke(app, ["--alpha", "None", "--reference", "2.5",
                                    "--reference-cash", "1"]).exit_code == 0
    assert seen == {"sac.alpha": "none", "sac.reference": 2.5, "sac.reference_cash": 1.0}
    assert resolve_config(overrides=seen).sac.alpha is None
    bad = CliRunner().invoke(app, ["--alpha", "hot"])
    assert bad.exit_code == 2 and "'hot' is not a number or none" in bad.output
    f = tmp_path / "run.toml"
    f.write_text('[sac]\nalpha = "none"\nreference = "NONE"\nactor_objective = "sample"\n')
    cfg = resolve_config(f)
    assert cfg.sac.alpha is None and cfg.sac.reference is None
    f.write_text('[sac]\nactor_objective = "none"\n')  # a word field keeps its own check
    with pytest.raises(ConfigError, match=r"actor-objective .none."):
        resolve_config(f)


def test_the_quick_example_spells_out_the_defaults() -> None:
    """strategies/quick.toml writes the quick preset and the agent's defaults out in full: it
    must not drift from them when a default changes."""
    quick = Path(__file__).resolve().parents[1] / "strategies" / "quick.toml"
    spelled = resolve_config(quick).model_dump()
    assert spelled == resolve_config().model_dump()
