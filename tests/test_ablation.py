"""benchmarks/ablation.py: the ablation table from finished trials, on fake run directories."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from scipy import stats

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def ablation(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("ablation", BENCHMARKS / "ablation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "ablation", module)
    spec.loader.exec_module(module)
    return module


def _fake_run(folder: Path, seed_sharpes: list[float], drift: float, seed: int) -> pd.Series:
    folder.mkdir(parents=True)
    rows = [{"strategy": "sac", "sharpe": np.mean(seed_sharpes), "turnover": 2.0,
             "effective_n": 10.0, "p_sharpe_vs_ref": 0.3}]
    rows += [{"strategy": f"sac-seed{i}", "sharpe": s, "turnover": 1.0 + i, "effective_n": 5.0 + i,
              "p_sharpe_vs_ref": 0.5} for i, s in enumerate(seed_sharpes)]
    rows += [{"strategy": "equal-weight", "sharpe": 0.8, "turnover": 0.7, "effective_n": 20.0,
              "p_sharpe_vs_ref": np.nan}]
    pd.DataFrame(rows).to_csv(folder / "metrics.csv", index=False)
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2000-01-03", periods=500, name="date")
    sac = pd.Series(rng.normal(drift, 0.01, 500), index=idx)
    pd.DataFrame({"sac": sac, "equal-weight": rng.normal(0.0003, 0.01, 500)}).to_csv(
        folder / "returns.csv")
    (folder / "provenance.json").write_text(json.dumps({"seconds": 120.0}))
    return sac


def _dsr_by_formula(r: np.ndarray, n_trials: int, sharpe_var: float) -> float:
    """Bailey & López de Prado (2014), written out with scipy."""
    gamma = 0.5772156649015329
    sr0 = np.sqrt(sharpe_var / 252) * ((1 - gamma) * stats.norm.ppf(1 - 1 / n_trials)
                                       + gamma * stats.norm.ppf(1 - 1 / (n_trials * np.e)))
    sr = r.mean() / r.std(ddof=1)
    g3, g4 = stats.skew(r), stats.kurtosis(r, fisher=False)
    z = (sr - sr0) * np.sqrt(len(r) - 1) / np.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    return float(stats.norm.cdf(z))


def test_the_table_counts_every_trial(ablation: ModuleType, tmp_path: Path) -> None:
    a = _fake_run(tmp_path / "A", [0.7, 0.9, 0.8], 0.0005, 1)
    b = _fake_run(tmp_path / "B", [0.5, 0.6, 0.4], 0.0001, 2)
    table = ablation.summarise(tmp_path, [("A", ""), ("B", "--x 1"), ("C", "--missing")], 5)
    assert list(table["trial"]) == ["A", "B"]  # an unfinished trial is left out
    first = table.iloc[0]
    assert (first.sharpe, first.sharpe_min, first.sharpe_max) == (0.8, 0.7, 0.9)
    assert first.turnover == 2.0 and first.effective_n == 6.0 and first.minutes == 2.0
    sharpes = [r.mean() / r.std(ddof=1) * np.sqrt(252) for r in (a, b)]
    for row, r in zip(table.itertuples(), (a, b), strict=True):
        expected = _dsr_by_formula(r.to_numpy(), 5, float(np.var(sharpes, ddof=1)))
        assert row.dsr == pytest.approx(expected, rel=1e-6)
    text = ablation.markdown(table)
    assert "| A | `(defaults)` | 0.80 (0.70\u20130.90) |" in text
