"""Issue 23 item 8: dates in YAML files are read as the text they are.

PyYAML's safe loader turns ``2016-01-01`` into a ``datetime.date`` (which a string option
refused as "expected a string") and raises a bare ValueError on ``2016-13-01`` (a traceback).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from maxent_portfolio.config import resolve_config
from maxent_portfolio.data.universes import read_spec_file
from maxent_portfolio.errors import ConfigError
from maxent_portfolio.files import read_yaml


def test_dates_stay_text_and_everything_else_is_plain_yaml() -> None:
    assert read_yaml("start: 2016-01-01\nend: 2020-12-31 10:00:00\nn: 3\nx: 1.5\nb: true\n"
                     "t: [a, b]\n") == {"start": "2016-01-01", "end": "2020-12-31 10:00:00",
                                       "n": 3, "x": 1.5, "b": True, "t": ["a", "b"]}


def test_an_unquoted_date_in_a_yaml_config_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("start: 2016-01-01\nend: 2019\n")
    data = resolve_config(path).data
    assert (data.start, data.end) == ("2016-01-01", "2019-12-31")


def test_an_impossible_date_is_one_line_naming_the_key(tmp_path: Path) -> None:
    config, universe = tmp_path / "run.yaml", tmp_path / "mine.yaml"
    config.write_text("start: 2016-13-01\n")
    universe.write_text("source: csv\npath: p.csv\nend: 2016-02-30\n")
    with pytest.raises(ConfigError, match=r"invalid start '2016-13-01' in .*run.yaml"):
        resolve_config(config)
    with pytest.raises(ConfigError, match=r"mine.yaml: end: '2016-02-30' is not a date"):
        read_spec_file(universe)
