"""Issue #11 item 5: `train --resume` checks the data, the dimensions and the budget."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import random_returns

from maxent_portfolio.errors import ConfigError
from maxent_portfolio.strategies.sac import SACStrategy

START = "2015-01-02"
"""First date of the training windows (160 business days, 3 assets unless said)."""


def _strategy(train_steps: int = 24) -> SACStrategy:
    return SACStrategy(train_steps=train_steps, lookback=10, num_envs=2, episode_length=10,
                       device="cpu", hidden=(8, 8), batch_size=8, learning_starts=2,
                       validation_fraction=0.0)


def test_resume_on_other_data_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sac.pt"
    _strategy().train_window(random_returns(160, start=START), checkpoint_path=path)
    # The same start, a later end: data beyond the claimed window.
    longer = random_returns(200, start=START)
    with pytest.raises(ConfigError, match=r"trained on 3 assets 2015-01-02\.\.2015-08-13.*"
                                          r"this run has 3 assets 2015-01-02\.\.2015-10-08.*"
                                          r"last, hash differ"):
        _strategy(train_steps=40).train_window(longer, checkpoint_path=path, resume=True)


def test_resume_with_another_number_of_assets_says_so(tmp_path: Path) -> None:
    path = tmp_path / "sac.pt"
    _strategy().train_window(random_returns(160, start=START), checkpoint_path=path)
    with pytest.raises(ConfigError, match="trained on 3 assets") as info:
        _strategy().train_window(random_returns(160, 5, start=START), checkpoint_path=path,
                                 resume=True)
    assert "corrupt" not in str(info.value)


def test_resume_asking_for_fewer_steps_than_done_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sac.pt"
    _strategy(train_steps=24).train_window(random_returns(160, start=START), checkpoint_path=path)
    with pytest.raises(ConfigError, match="already trained 24 steps, more than the 12 asked"):
        _strategy(train_steps=12).train_window(random_returns(160, start=START),
                                               checkpoint_path=path, resume=True)


def test_a_no_op_resume_leaves_the_checkpoint_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "sac.pt"
    _strategy().train_window(random_returns(160, start=START), checkpoint_path=path)
    before = path.read_bytes()
    for _ in range(2):
        _strategy().train_window(random_returns(160, start=START), checkpoint_path=path,
                                 resume=True)
    assert path.read_bytes() == before


@pytest.mark.parametrize("key", ["env", "model"])
def test_a_checkpoint_missing_an_entry_names_it(tmp_path: Path, key: str) -> None:
    import torch

    from maxent_portfolio.errors import DataError

    path = tmp_path / "sac.pt"
    _strategy().train_window(random_returns(160, start=START), checkpoint_path=path)
    state = torch.load(path, weights_only=True)
    del state[key]
    torch.save(state, path)
    with pytest.raises(DataError, match=rf"corrupt checkpoint .*sac\.pt: no '{key}' entry"):
        _strategy(train_steps=40).train_window(random_returns(160, start=START),
                                               checkpoint_path=path, resume=True)
