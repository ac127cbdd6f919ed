"""``allocate``: the weights a strategy chooses for the next period, as its backtest would.

From a finished run directory (or, for a rule-based strategy, from the run's options alone)
and the latest data, :func:`allocate` takes one decision at the close of the as-of date
through the engine's own :func:`~maxent_portfolio.backtest.engine.decision`: the strategy's
target, its own execution rule from the book held (``sac``'s trade rate and no-trade band),
and the engine's rule (:func:`~maxent_portfolio.runner.execution_rule`: the run's limits).
So at a date the run decided on, from the run's own book, it gives exactly the weights the
run's ``weights/<strategy>.csv`` records.

Which model decides:

* a date inside the run's out-of-sample period: the fold that holds it, as the run had it
  (a learning strategy's saved agent, a rule refit on the fold's training window), after the
  run's earlier decisions, each taken again from the run's own book (a strategy may carry
  state from one decision to the next);
* a later date: a learning strategy's last saved agent; a rule refit on the training window
  (``walk_forward``) that ends at the as-of date, as the walk-forward does at a fold's start;
* without a run directory, a rule refit in the same way.

The book the decision trades from: the ``holdings`` file's, else the run's own portfolio (the
book the engine handed its decision that day, :func:`run_books`, or its last weights held to
the as-of date), else (no run) all cash. :func:`write_allocation`
writes ``allocation.csv``, ``orders.csv`` (with holdings) and ``allocation.json`` atomically.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from maxent_portfolio.allocate.config import AllocateConfig
from maxent_portfolio.allocate.orders import (
    Holdings,
    book_shares,
    book_weights,
    check_tickers,
    orders_table,
    read_holdings,
    share_orders,
)
from maxent_portfolio.backtest.engine import (
    BacktestResult,
    Execution,
    books_before,
    decision,
    extended_returns,
    hold,
)
from maxent_portfolio.backtest.store import load_results, safe_name
from maxent_portfolio.backtest.walkforward import Fold
from maxent_portfolio.config import SOURCES_KEY, RunConfig
from maxent_portfolio.data.market import MarketData, frame_hash
from maxent_portfolio.errors import ConfigError, DataError, StrategyError, UserError
from maxent_portfolio.files import atomic_directory, check_writable_dir
from maxent_portfolio.options import describe_error
from maxent_portfolio.rebalance import CASH, Schedule
from maxent_portfolio.runner import (
    check_training_windows,
    execution_rule,
    load_market,
    walk_forward,
)
from maxent_portfolio.strategies.base import Strategy, StrategyContext, guarded

# --- the run directory -----------------------------------------------------------------------

@dataclass(frozen=True)
class RunRecord:
    """What ``allocate`` reads of a run directory.

    Attributes
    ----------
    folder : Path
    config : RunConfig
        The run's options (``config.json``).
    assets : list of str
        The run's assets, in its order (the agents' input order).
    folds : list of dict
        Walk-forward boundaries as ISO dates (``provenance.json``).
    first_date, last_date : pd.Timestamp
        First and last return date of the run's data.
    data_hash : str
        Hash of the run's prices (``provenance.json``).
    results : dict of str to BacktestResult
        The stored results by row name: targets, drifted books and holdings.
    """

    folder: Path
    config: RunConfig
    assets: list[str]
    folds: list[dict[str, str]]
    first_date: pd.Timestamp
    last_date: pd.Timestamp
    data_hash: str
    results: dict[str, BacktestResult]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path.parent} is not a maxent-portfolio run directory (no "
                        f"{path.name})") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise DataError(f"{path} must hold a JSON object")
    return data


def read_run_record(folder: Path) -> RunRecord:
    """Read the parts of a run directory ``allocate`` needs; a :class:`DataError` naming the
    file at fault otherwise."""
    if not folder.is_dir():
        raise DataError(f"run directory not found: {folder}")
    if not (folder / "results" / "results.json").is_file():
        raise DataError(f"{folder} is not a maxent-portfolio run directory (no "
                        "results/results.json)")
    raw = {k: v for k, v in _read_json(folder / "config.json").items() if k != SOURCES_KEY}
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise describe_error(exc, f" in {folder / 'config.json'}") from None
    prov = _read_json(folder / "provenance.json")
    results = {r.name: r for r in load_results(folder / "results")}
    try:
        first = next(iter(results.values()))
        assets = [str(c) for c in first.targets.columns if c != CASH]
        return RunRecord(folder, config, assets, list(prov["folds"]),
                         pd.Timestamp(prov["first_date"]), pd.Timestamp(prov["last_date"]),
                         str(prov.get("data_hash", "")), results)
    except (KeyError, TypeError, ValueError, StopIteration) as exc:
        raise DataError(f"{folder / 'provenance.json'} lacks the run's dates or folds "
                        f"({type(exc).__name__}: {exc})") from None


# --- the decision ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Allocation:
    """One decision and the book it trades from.

    Attributes
    ----------
    strategy : str
    universe : str
    as_of : pd.Timestamp
        The decision's close; the weights are held from the next period.
    assets : list of str
    current, target, executed : ndarray of shape (n_assets + 1,)
        The book before the decision, the strategy's target and the weights it trades to
        (the target through the strategy's execution rule and the engine's), cash last.
    prices : ndarray of shape (n_assets,)
        Closes at ``as_of``.
    decided_by : dict
        Which model decided: fold, training window, saved model or refit.
    execution : dict
        The execution rule: the strategy's terms, the engine's cap and the costs in bps.
    book : str
        Where ``current`` comes from.
    notes : list of str
    """

    strategy: str
    universe: str
    as_of: pd.Timestamp
    assets: list[str]
    current: np.ndarray
    target: np.ndarray
    executed: np.ndarray
    prices: np.ndarray
    decided_by: dict[str, Any]
    execution: dict[str, Any]
    book: str
    notes: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """``allocation.csv``: the weights of each asset (cash last) before the decision, the
        target and the executed weights, and the price."""
        columns = [*self.assets, CASH]
        return pd.DataFrame({"ticker": columns, "current": self.current, "target": self.target,
                             "executed": self.executed,
                             "price": np.append(self.prices, 1.0)})


SEED_LABEL = re.compile(r"(?P<name>.+)-seed(?P<seed>\d+)")


def saves_model(cls: type[Strategy]) -> bool:
    """Whether the strategy keeps a trained model in a run (its :meth:`Strategy.restore`
    loads it): it cannot be refit in a moment, so it decides with a run's saved one."""
    return cls.restore is not Strategy.restore


def _registered(name: str, plugins: list[str]) -> type[Strategy]:
    from maxent_portfolio.strategies.plugins import load_plugins
    from maxent_portfolio.strategies.registry import available_strategies, unknown_strategy

    load_plugins(plugins)
    known = available_strategies()
    if name not in known:
        raise unknown_strategy(name, known)
    return known[name]


def _run_strategy(record: RunRecord, label: str, ppy: int) -> Strategy:
    """The strategy of row ``label`` of the run, built as the run built it."""
    config = record.config
    match = SEED_LABEL.fullmatch(label)
    name, seed = (match["name"], int(match["seed"])) if match and match["name"] in \
        config.strategies else (label, config.seed)
    cls = _registered(name, config.plugins)
    folder = record.folder / "checkpoints" / safe_name(label)
    return cls.from_context(StrategyContext(config, ppy, seed, folder))


def _first_decision(returns: pd.DataFrame, fold: dict[str, str]) -> pd.Timestamp:
    """The close of a fold's first decision: the last date before its test window."""
    index = pd.DatetimeIndex(returns.index)
    position = int(index.searchsorted(pd.Timestamp(fold["test_start"]))) - 1
    if position < 0:
        raise DataError(f"the data start on {index[0].date()}, after the run's first test "
                        f"window begins ({fold['test_start']})")
    return pd.Timestamp(index[position])


def refit_fold(config: RunConfig, market: MarketData, as_of: pd.Timestamp,
               cls: type[Strategy], name: str) -> Fold:
    """The walk-forward fold whose first decision is at the close of ``as_of``: its
    training window (``walk_forward``) ends there (before the embargo)."""
    splitter = walk_forward(config, market.periods_per_year)
    position = int(pd.DatetimeIndex(market.returns.index).searchsorted(as_of))
    test_start = position + 1
    train_end = test_start - splitter.purge
    train_start = 0 if splitter.expanding else max(0, train_end - splitter.train)
    if train_end - train_start < splitter.train:
        first = market.returns.index[0].date()
        raise DataError(f"{name} refits on {splitter.train} returns before {as_of.date()} "
                        f"(--train-years {config.walk_forward.train_years:g}), the data hold "
                        f"{max(train_end, 0)} from {first}: use a later --as-of, more data or "
                        "a shorter --train-years")
    fold = Fold(train_start, train_end, test_start, test_start + 1)
    check_training_windows(config, market, [fold], {name: cls})
    return fold


def run_books(record: RunRecord, label: str, returns: pd.DataFrame) -> pd.DataFrame:
    """The book the engine handed each of the run's decisions of row ``label``, by date, as
    the engine computed it (:func:`~maxent_portfolio.backtest.engine.books_before`) from the
    weights it recorded."""
    result = record.results[label]
    index = pd.DatetimeIndex(returns.index)
    decisions = index.get_indexer(result.targets.index)
    if (decisions < 0).any():
        missing = result.targets.index[decisions < 0][0]
        raise DataError(f"the data lack {missing.date()}, a decision date of the run directory "
                        f"{record.folder}")
    ends = [int(index.searchsorted(pd.Timestamp(f["test_end"]))) for f in record.folds]
    fold_of = np.searchsorted(ends, decisions, side="right")  # the first fold ending after
    last = np.asarray(ends)[np.minimum(fold_of, len(ends) - 1)] - 1
    books = books_before(result.targets.to_numpy(dtype=float), decisions, last,
                         extended_returns(returns),
                         Schedule.parse(record.config.schedule.rebalance))
    return pd.DataFrame(books, index=result.targets.index, columns=result.targets.columns)


def _book_of_run(record: RunRecord, label: str, returns: pd.DataFrame, as_of: pd.Timestamp
                 ) -> np.ndarray:
    """The run's own book at the close of ``as_of``: the one the engine handed its decision
    then, else its last decision's weights held to ``as_of`` (cash before its first)."""
    targets = record.results[label].targets.loc[:as_of]
    if as_of in targets.index:
        return run_books(record, label, returns).loc[as_of].to_numpy(dtype=float)
    if targets.empty:
        return np.eye(targets.shape[1])[-1]
    rows = pd.DatetimeIndex(returns.index).searchsorted([targets.index[-1], as_of])
    return hold(targets.iloc[-1].to_numpy(dtype=float), extended_returns(returns),
                int(rows[0]), int(rows[1]) + 1)


def replay_run(strategy: Strategy, record: RunRecord, label: str, returns: pd.DataFrame,
               as_of: pd.Timestamp, rule: Execution) -> int:
    """Bring ``strategy`` to where the run had it just before deciding at ``as_of``.

    Fold by fold, as the engine walks: :meth:`Strategy.restore` on the fold's training
    window, then the run's decisions before ``as_of``, each from the book the engine handed it
    (:func:`run_books`).
    A rule walks from the first fold (its state may run across folds, e.g. ``random``'s
    draws); a strategy with a saved model starts each fold afresh from it, so only the fold
    that decides at ``as_of`` is walked. Returns that fold (the last one begun).
    """
    result = record.results[label]
    books = run_books(record, label, returns)
    constant = strategy.constant_weights(record.assets)
    guarded(strategy, "reset", "the first fold", strategy.reset)
    begun = [i for i, fold in enumerate(record.folds) if _first_decision(returns, fold) <= as_of]
    if not begun:
        raise DataError(f"the run directory {record.folder} decides first at the close of "
                        f"{_first_decision(returns, record.folds[0]).date()}: --as-of "
                        f"{as_of.date()} is before it")
    current = begun[-1]
    for i in begun[current if saves_model(type(strategy)) else 0:]:
        fold = record.folds[i]
        first = _first_decision(returns, fold)
        train = returns.loc[fold["train_start"]:fold["train_end"]]
        guarded(strategy, "fit", f"the window ending {fold['train_end']}",
                partial(strategy.restore, train, i), keep=(StrategyError, UserError))
        end = pd.Timestamp(fold["test_end"])
        dates = result.targets.index
        for date in dates[(dates >= first) & (dates < end) & (dates < as_of)]:
            decision(strategy, returns.loc[:date], books.loc[date].to_numpy(dtype=float),
                     rule, constant)
    return current


@dataclass(frozen=True)
class Request:
    """A checked ``allocate`` request: the data up to the as-of close, the book and who
    decides. Built by :func:`prepare_allocation`, so every refusal comes before any work."""

    settings: AllocateConfig
    config: RunConfig
    market: MarketData
    """The data, possibly beyond ``as_of``: every decision reads only up to its own date."""
    as_of: pd.Timestamp
    strategy: str
    record: RunRecord | None
    holdings: Holdings | None
    notes: list[str]


def _run_market(record: RunRecord, data: str | None) -> tuple[MarketData, list[str]]:
    """The run's universe (or ``data``) from the run's first date to the latest, in the
    run's asset order; a universe of other assets is refused. The run's ``--end`` is not
    applied (the decision is for the latest data); where the data cover the run's period,
    they are checked against the run's data hash (taken from its ``--start``)."""
    from maxent_portfolio.data import load_universe

    options = record.config.data
    universe = data or options.universe
    market = load_universe(universe, start=options.start, missing=options.missing,
                           date_format=options.date_format, spikes=options.spikes)
    if sorted(market.assets) != sorted(record.assets):
        raise DataError(f"{market.name} holds {', '.join(market.assets[:8])}"
                        f"{', ...' if len(market.assets) > 8 else ''}, not the assets the run "
                        f"directory {record.folder} decided on ({', '.join(record.assets[:8])}"
                        f"{', ...' if len(record.assets) > 8 else ''}): a model of another "
                        "universe")
    prices = market.prices[record.assets]
    notes = []
    if frame_hash(prices.loc[:record.last_date]) != record.data_hash:
        notes.append("the data differ from the run's over its period (another source, or "
                     "revised prices): the weights at the run's dates may differ from its "
                     "weights file")
    start = int(prices.index.searchsorted(record.first_date)) - 1
    if start < 0:
        notes.append(f"the data start after the run's ({record.first_date.date()}): a rule "
                     "that reads the whole history may decide otherwise than the run")
        start = 0
    prices = prices.iloc[start:]
    returns = market.returns[record.assets].loc[prices.index[1]:]
    bench = None if market.benchmark is None else market.benchmark.reindex(returns.index)
    return MarketData(market.name, prices, returns, bench, market.benchmark_name,
                      market.periods_per_year, market.provenance, market.notes,
                      market.coverage, market.warnings), notes


def _as_of(settings: AllocateConfig, holdings: Holdings | None, market: MarketData
           ) -> pd.Timestamp:
    """The decision date: ``--as-of``, else the holdings' date, else the last of the data;
    it must be a date of the data (its close prices the book)."""
    index = pd.DatetimeIndex(market.returns.index)
    given = settings.as_of or (holdings.date if holdings is not None else None)
    if given is None:
        return pd.Timestamp(index[-1])
    date = pd.Timestamp(given)
    what = "--as-of" if settings.as_of else f"the date of {holdings.path}"  # type: ignore[union-attr]
    if date > index[-1]:
        raise DataError(f"the prices of {market.name} end on {index[-1].date()}, older than "
                        f"{what} ({date.date()}): update the data or give an "
                        "older date")
    if date not in index:
        raise DataError(f"no price of {market.name} on {date.date()} ({what}): not a date of "
                        "its data; use a trading day")
    if holdings is not None and holdings.date is not None and holdings.date != date:
        raise DataError(f"--as-of {date.date()} differs from the date of {holdings.path} "
                        f"({holdings.date.date()}): the book is priced at the as-of close")
    return date


def prepare_allocation(settings: AllocateConfig, run_dir: Path | None = None,
                       config: RunConfig | None = None) -> Request:
    """Check everything before any work: the run directory, the strategy, the data, the
    holdings and the as-of date.

    Parameters
    ----------
    settings : AllocateConfig
    run_dir : Path, optional
        A run directory of ``backtest``; without one, ``config`` gives the options.
    config : RunConfig, optional
        The options of a decision without a run directory (its universe, walk-forward window,
        costs and cap).
    """
    holdings = read_holdings(Path(settings.holdings)) if settings.holdings else None
    record = None
    if run_dir is not None:
        record = read_run_record(run_dir)
        config = record.config
        names = list(record.results)
        name = settings.strategy or (names[0] if len(names) == 1 else None)
        if name is None:
            raise ConfigError(f"the run directory {run_dir} has several strategies "
                              f"({', '.join(names)}): choose one with --strategy")
        if name not in record.results:
            raise ConfigError(f"strategy {name!r} is not a row of the run directory {run_dir} "
                              f"(its rows: {', '.join(names)})")
        market, notes = _run_market(record, settings.data)
    else:
        if config is None:
            raise ConfigError("allocate needs a run directory or the options of a run")
        if settings.data is not None:
            raise ConfigError("--data replaces a run directory's universe; without one, give "
                              "the universe with --universe")
        if settings.strategy is None:
            raise ConfigError("without a run directory, name the strategy with --strategy")
        name = settings.strategy
        cls = _registered(name, config.plugins)
        if saves_model(cls):
            raise ConfigError(f"{name} decides with the models a backtest trained: give its "
                              f"run directory (maxent-portfolio allocate RUN_DIR --strategy "
                              f"{name})")
        market, notes = load_market(config), []
    config.costs.check_assets(market.assets, market.name)
    if holdings is not None:
        check_tickers(holdings, market.assets, market.name)
    as_of = _as_of(settings, holdings, market)
    if holdings is not None:
        if market.provenance.details.get("kind") == "returns":
            raise DataError(f"{market.name} holds returns, not prices: share orders need the "
                            "prices of the as-of close")
        book_shares(holdings, market.assets, market.prices.loc[as_of].to_numpy(dtype=float),
                    settings.value)  # a book of weights without --value is refused here
    return Request(settings, config, market, as_of, name, record, holdings, notes)


def _decide(request: Request, label: str, current: np.ndarray | None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any], Strategy]:
    """One row's decision at the as-of close: (book, target, executed, who decided, the
    strategy)."""
    record, market, as_of = request.record, request.market, request.as_of
    config = request.config
    returns = market.returns
    rule = execution_rule(config, market)
    if record is not None:
        strategy = _run_strategy(record, label, market.periods_per_year)
    else:
        cls = _registered(label, config.plugins)
        strategy = cls.from_context(StrategyContext(config, market.periods_per_year,
                                                    config.seed))
    if not strategy.investable:
        raise ConfigError(f"{strategy.name} is a hindsight benchmark (fit on the period it is "
                          "judged on): it cannot choose the next period's weights")
    beyond = record is None or as_of > record.last_date
    if beyond and not saves_model(type(strategy)):
        fold = refit_fold(config, market, as_of, type(strategy), strategy.name)
        train = returns.iloc[fold.train_start: fold.train_end]
        guarded(strategy, "reset", "the first fold", strategy.reset)
        guarded(strategy, "fit", f"the window ending {train.index[-1].date()}",
                partial(strategy.fit, train))
        decided: dict[str, Any] = {"model": "refit",
                                   "train_start": str(train.index[0].date()),
                                   "train_end": str(train.index[-1].date())}
    else:
        assert record is not None
        i = replay_run(strategy, record, label, returns, as_of, rule)
        fold_dates = record.folds[i]
        decided = {"model": f"fold {i} of the run", "fold": i,
                   "train_start": fold_dates["train_start"],
                   "train_end": fold_dates["train_end"]}
        if saves_model(type(strategy)):
            decided["saved_model"] = str(record.folder / "checkpoints" / safe_name(label)
                                         / f"fold-{i}.pt")
    if current is None:
        current = _book_of_run(record, label, returns, as_of) if record is not None \
            else np.eye(len(market.assets) + 1)[-1]
    constant = strategy.constant_weights(market.assets)
    raw, executed = decision(strategy, returns.loc[:as_of], current, rule, constant)
    target = rule.hold(raw, [*market.assets, CASH], strategy.name, as_of)
    return current, target, executed, decided, strategy


def allocate(request: Request) -> Allocation:
    """Take the decision of :func:`prepare_allocation`'s request (a mean of seeds averages its
    seeds' decisions, as the run's mean row does)."""
    record, market, as_of = request.record, request.market, request.as_of
    prices = market.prices.loc[as_of].to_numpy(dtype=float)
    holdings = request.holdings
    if holdings is not None:
        settings = request.settings
        shares, cash = book_shares(holdings, market.assets, prices, settings.value)
        held: np.ndarray | None = book_weights(shares, cash, prices)
        book = f"the holdings of {holdings.path} at the {as_of.date()} close"
    else:
        held = None
        book = (f"the run's own portfolio at the {as_of.date()} close" if record is not None
                else "all cash (no holdings given)")
    label = request.strategy
    seeds = [n for n in (record.results if record is not None else [])
             if SEED_LABEL.fullmatch(n) and n.startswith(f"{label}-seed")]
    rows = [_decide(request, s, held) for s in seeds or [label]]
    strategy = rows[0][4]
    current = held if held is not None else (
        _book_of_run(record, label, market.returns, as_of) if record is not None
        else rows[0][0])
    # The seeds' mean as the run's mean row adds it up (runner's mean of seeds), bit for bit.
    target = sum((r[1] for r in rows), start=rows[0][1] * 0.0) / len(rows)
    executed = sum((r[2] for r in rows), start=rows[0][2] * 0.0) / len(rows)
    decided = rows[0][3] if len(rows) == 1 else {**rows[0][3], "seeds": seeds}
    costs = request.config.costs
    execution = {**strategy.execution_terms(), **execution_rule(request.config, market).terms(),
                 "cost_bps": dict(zip(market.assets, costs.bps(market.assets).tolist(),
                                      strict=True))}
    return Allocation(label, market.name, as_of, market.assets, current, target, executed,
                      prices, decided, execution, book, list(request.notes))


def _data_record(market: MarketData) -> dict[str, Any]:
    """Where the prices come from: source, when fetched (a cache's date), the last date, and
    what loading them did (a cache used, gaps filled)."""
    return {"source": market.provenance.source, "fetched_at": market.provenance.fetched_at,
            "last_date": str(market.returns.index[-1].date()), "notes": list(market.notes)}


def write_allocation(allocation: Allocation, request: Request, out: Path) -> dict[str, Any]:
    """Write ``allocation.csv``, ``orders.csv`` (with holdings) and ``allocation.json`` into
    the new directory ``out``, atomically; return the JSON summary."""
    settings, holdings = request.settings, request.holdings
    summary: dict[str, Any] = {
        "strategy": allocation.strategy, "universe": allocation.universe,
        "run_dir": None if request.record is None else str(request.record.folder),
        "as_of": str(allocation.as_of.date()), "decided_by": allocation.decided_by,
        "book": allocation.book, "execution": allocation.execution,
        "turnover": float(np.abs(allocation.executed - allocation.current)[:-1].sum()),
        "data": _data_record(request.market), "orders": None, "notes": allocation.notes}
    table = None
    if holdings is not None:
        prices = allocation.prices
        shares, cash = book_shares(holdings, allocation.assets, prices, settings.value)
        rate = request.config.costs.rate(allocation.assets)
        orders = share_orders(shares, cash, prices, allocation.executed, rate,
                              settings.lot_size, settings.min_trade, settings.fractional)
        table = orders_table(orders, allocation.assets, prices, allocation.executed)
        summary["orders"] = {
            "value_before": float(shares @ prices + cash), "cash_before": cash,
            "bought": float(table.loc[table.side == "buy", "value"].sum()),
            "sold": float(table.loc[table.side == "sell", "value"].sum()),
            "cost": float(orders.cost.sum()), "cash_after": orders.cash_after,
            "lot_size": None if settings.fractional else settings.lot_size,
            "min_trade": settings.min_trade, "fractional": settings.fractional}
        if orders.cash_after < 0:
            summary["notes"].append(f"cash after the orders is {orders.cash_after:.2f}: their "
                                    "costs exceed the cash the target leaves")
    with atomic_directory(out) as tmp:
        allocation.table().to_csv(tmp / "allocation.csv", index=False)
        if table is not None:
            table.to_csv(tmp / "orders.csv", index=False)
        (tmp / "allocation.json").write_text(json.dumps(summary, indent=2) + "\n",
                                             encoding="utf-8")
    return summary


def check_out(out: Path) -> None:
    """Refuse, before any work, an output directory that exists or cannot be made."""
    check_writable_dir(out, "allocation directory")


__all__ = ["Allocation", "Request", "RunRecord", "allocate", "check_out",
           "prepare_allocation", "read_run_record", "refit_fold", "replay_run", "run_books",
           "saves_model", "write_allocation"]
