"""Save and load backtest results, so reports can be rendered again without recomputing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from maxent_portfolio.backtest.engine import BacktestResult
from maxent_portfolio.errors import DataError

_FRAMES = ("holdings", "targets", "drifted")
_SERIES = ("returns", "gross_returns", "turnover", "costs")


def safe_name(name: str) -> str:
    """A file-name-safe form of a strategy name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def save_results(results: list[BacktestResult], folder: Path) -> None:
    """Write each result as parquet tables plus ``results.json`` (names, folds, flags).

    A result with permutation placebos gets ``<stem>.placebo.parquet``: their Sharpe ratios,
    so a report draws their distribution again without replaying them.
    """
    folder.mkdir(parents=True, exist_ok=True)
    index = []
    for res in results:
        stem = safe_name(res.name)
        for key in _FRAMES:
            getattr(res, key).to_parquet(folder / f"{stem}.{key}.parquet")
        series = pd.DataFrame({key: getattr(res, key) for key in ("returns", "gross_returns")})
        series.to_parquet(folder / f"{stem}.returns.parquet")
        trades = pd.DataFrame({"turnover": res.turnover, "costs": res.costs})
        trades.to_parquet(folder / f"{stem}.trades.parquet")
        if res.extras:
            pd.DataFrame(res.extras).to_parquet(folder / f"{stem}.extras.parquet")
        if res.learning is not None:
            res.learning.to_parquet(folder / f"{stem}.learning.parquet")
        if res.placebo is not None:
            res.placebo.to_frame("placebo_sharpe").to_parquet(folder / f"{stem}.placebo.parquet")
        index.append({"name": res.name, "stem": stem, "investable": res.investable,
                      "learned": res.learned, "periods_per_year": res.periods_per_year,
                      "folds": res.folds, "extras": sorted(res.extras),
                      "learning": res.learning is not None,
                      "placebo": res.placebo is not None})
    (folder / "results.json").write_text(json.dumps(index, indent=2), encoding="utf-8")


def load_results(folder: Path) -> list[BacktestResult]:
    """Read what :func:`save_results` wrote; a missing or corrupt file is a DataError."""
    meta_path = folder / "results.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        out = []
        for item in meta:
            stem = item["stem"]
            frames = {k: pd.read_parquet(folder / f"{stem}.{k}.parquet") for k in _FRAMES}
            series = pd.read_parquet(folder / f"{stem}.returns.parquet")
            trades = pd.read_parquet(folder / f"{stem}.trades.parquet")
            extras_df = (pd.read_parquet(folder / f"{stem}.extras.parquet")
                         if item["extras"] else pd.DataFrame())
            out.append(BacktestResult(
                name=item["name"], returns=series["returns"].rename(item["name"]),
                gross_returns=series["gross_returns"].rename(item["name"]),
                holdings=frames["holdings"], targets=frames["targets"],
                drifted=frames["drifted"], turnover=trades["turnover"], costs=trades["costs"],
                folds=item["folds"], investable=item["investable"],
                learned=bool(item.get("learned", False)),
                periods_per_year=item["periods_per_year"],
                extras={c: extras_df[c].dropna() for c in extras_df.columns},
                learning=(pd.read_parquet(folder / f"{stem}.learning.parquet")
                          if item.get("learning") else None),
                placebo=(pd.read_parquet(folder / f"{stem}.placebo.parquet")["placebo_sharpe"]
                         if item.get("placebo") else None)))
        return out
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"cannot read stored results in {folder}: {exc}") from exc
