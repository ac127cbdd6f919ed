"""A small synthetic run for the report tests: four strategies (a SAC stand-in with a policy
entropy, a hindsight benchmark, one named as an HTML injection) on five assets, one of them
hostile too, with a hand-made metrics table. Shared by the dashboard's unit and browser tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from maxent_portfolio.backtest.engine import BacktestResult, run_backtest
from maxent_portfolio.backtest.walkforward import WalkForward
from maxent_portfolio.strategies.base import Strategy
from maxent_portfolio.strategies.baselines import EqualWeight

HOSTILE_ASSET = "<img src=x onerror=alert(1)>"
HOSTILE_STRATEGY = "<script>alert('s')</script>"
HOSTILE_CONFIG = "</script><img src=x onerror=alert(2)>"


class DirichletPolicy(Strategy):
    """Stand-in for SAC: random weights over assets and cash, seeded."""

    name = "sac"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def reset(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        weights = self._rng.dirichlet(np.full(history.shape[1] + 1, 2.0))
        return pd.Series(weights, index=[*history.columns, "CASH"])


class Hindsight(Strategy):
    """A non-investable benchmark: all in the first asset."""

    name = "bcrp"
    investable = False

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        return pd.Series(1.0, index=history.columns[:1])


class Hostile(EqualWeight):
    """Equal weight under a name that is an HTML injection attempt."""

    name = HOSTILE_STRATEGY


@dataclass
class Run:
    """Everything the dashboard needs, from a small synthetic backtest."""

    results: list[BacktestResult]
    metrics: pd.DataFrame
    benchmark: pd.Series
    config: dict[str, object]
    provenance: dict[str, object]
    tearsheets: dict[str, str]


def simple_metrics(results: list[BacktestResult], benchmark: pd.Series) -> pd.DataFrame:
    """A hand-made metrics table in measures.metrics_table's layout (subset of columns)."""
    rows = []
    for res in [*results, None]:
        r = (benchmark.loc[results[0].returns.index] if res is None else res.returns)
        growth = float((1 + r).prod())
        years = len(r) / 252
        equity = (1 + r).cumprod()
        rows.append({
            "strategy": "benchmark" if res is None else res.name,
            "cagr": growth ** (1 / years) - 1,
            "volatility": float(r.std() * np.sqrt(252)),
            "sharpe": float(r.mean() / r.std() * np.sqrt(252)),
            "max_drawdown": float((equity / equity.cummax() - 1).min()),
            "turnover": np.nan if res is None else float(res.turnover.sum() / years),
            "p_sharpe_vs_ref": np.nan if res is not None and res.name == "equal-weight" else 0.2,
            "dsr": 0.5,
            "hit_rate": float((r > 0).mean()),
            "investable": True if res is None else res.investable,
        })
    return pd.DataFrame(rows)


def make_run(n_days: int = 520, hostile_asset: str = HOSTILE_ASSET) -> Run:
    """Four strategies (one SAC stand-in with entropy, one hindsight, one hostile) on 5 assets."""
    rng = np.random.default_rng(11)
    index = pd.bdate_range("2015-01-02", periods=n_days)
    assets = ["AAA", "BBB", hostile_asset, "DDD", "EEE"]
    returns = pd.DataFrame(rng.normal(0.0003, 0.01, (n_days, len(assets))), index=index,
                           columns=assets)
    splits = WalkForward(train=200, test=100)
    results = [run_backtest(returns, s, splits=splits, rebalance="weekly")
               for s in (EqualWeight(), DirichletPolicy(), Hindsight(), Hostile())]
    sac = results[1]
    sac.extras["policy_entropy"] = pd.Series(np.linspace(1.8, 1.2, len(sac.targets)),
                                      index=sac.targets.index)
    benchmark = pd.Series(rng.normal(0.0004, 0.012, n_days), index=index, name="MKT")
    return Run(
        results=results,
        metrics=simple_metrics(results, benchmark),
        benchmark=benchmark,
        config={"universe": "synthetic", "cost_bps": 10.0, "note": HOSTILE_CONFIG,
                "assets": assets},
        provenance={"data_hash": "sha256:feedbeef", "seeds": [0, 1, 2],
                    "packages": {"numpy": np.__version__, "pandas": pd.__version__},
                    "folds": results[0].folds},
        tearsheets={r.name: f"tearsheets/{i}.html" for i, r in enumerate(results)},
    )
