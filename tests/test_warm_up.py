"""Issue 23 item 4: a small --train-steps budget still trains; the warm-up is cut to a share.

The warm-up (``learning_starts``, 250 vector steps by default) used to swallow any budget of
1,000 transitions or fewer (4 envs x 250): the untrained policy was reported as ``sac``.
"""

from __future__ import annotations

from support import random_returns

from maxent_portfolio.agents.config import SACConfig
from maxent_portfolio.config import PRESETS, resolve_config
from maxent_portfolio.strategies.sac import SACStrategy


def test_the_warm_up_is_at_most_a_quarter_of_a_folds_steps() -> None:
    # 300 transitions over 4 envs: 75 vector steps; a quarter of them is 18 (250 by default).
    config = SACStrategy(train_steps=300).sac_config()
    assert config.total_steps == 75
    assert config.learning_starts == 250 and config.warm_up == 18
    assert SACConfig(total_steps=3).warm_up == 0
    assert SACConfig(total_steps=2000, learning_starts=100).warm_up == 100
    # warm_up_share sets the cap: half of 75 steps.
    assert SACConfig(total_steps=75, warm_up_share=0.5).warm_up == 37
    assert "0.5 of them" in (SACConfig(train_steps=300, warm_up_share=0.5).warm_up_note() or "")


def test_the_presets_keep_the_configured_warm_up() -> None:
    for name in PRESETS:
        sac = resolve_config(overrides={"preset": name}).sac
        config = SACStrategy(train_steps=sac.train_steps).sac_config()
        assert config.warm_up == config.learning_starts == 250, name
        assert sac.warm_up_note() is None


def test_a_budget_below_the_default_warm_up_still_updates_the_networks() -> None:
    strategy = SACStrategy(train_steps=300, lookback=10, episode_length=10, device="cpu",
                           hidden=(8, 8), batch_size=8, validation_fraction=0.0)
    agent = strategy.train_window(random_returns(120))
    # 75 vector steps, 18 of warm-up, then 0.25 updates per transition x 4 envs a step.
    assert agent.history[-1]["updates"] == 75 - 18


def test_the_note_says_what_the_warm_up_became() -> None:
    note = SACConfig(train_steps=300).warm_up_note()
    assert note is not None
    assert "--train-steps 300" in note and "250" in note and "18" in note
    assert SACConfig(train_steps=12_000).warm_up_note() is None
