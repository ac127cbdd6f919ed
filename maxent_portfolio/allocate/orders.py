"""From the book held today to the weights chosen for tomorrow: holdings and share orders.

A book is shares of each asset plus cash (in the currency of the prices). :func:`read_holdings`
reads one from a CSV (shares, or weights of a book of a given value); :func:`share_orders`
turns it into the shares to buy and sell so that the book holds a target's weights at the
latest prices: whole lots (``lot_size`` shares each; PyPortfolioOpt's ``DiscreteAllocation``
and zipline's ``order_target_percent`` solve the same problem) or fractional shares, orders
below ``min_trade`` in value skipped, each order's cost estimated at the run's cost rate. Pure
functions of arrays, except :func:`read_holdings` (the file edge).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from maxent_portfolio.errors import DataError
from maxent_portfolio.rebalance import CASH

WEIGHT_SUM_TOLERANCE = 1e-6
"""How far from 1 the weights of a holdings file may sum."""

HOLDINGS_COLUMNS = ("ticker", "shares", "weight", "date")
"""The columns a holdings file may have: ``ticker`` and one of ``shares`` or ``weight``
(``date`` optional)."""


@dataclass(frozen=True)
class Holdings:
    """A book as a holdings file gives it.

    Attributes
    ----------
    amounts : pd.Series
        By ticker (``CASH`` included when the file lists it): shares (cash in currency) when
        ``kind`` is ``"shares"``, weights when it is ``"weights"``.
    kind : {"shares", "weights"}
    date : pd.Timestamp or None
        The date the book was valued at (the file's ``date`` column), if given.
    path : Path
        Where it was read from, for messages.
    """

    amounts: pd.Series
    kind: str
    date: pd.Timestamp | None
    path: Path


def read_holdings(path: Path) -> Holdings:
    """Read a holdings CSV: ``ticker`` and ``shares`` (cash in currency on a ``CASH`` row)
    or ``weight`` columns, and optionally a ``date`` column holding one date.

    Raises
    ------
    DataError
        One line naming the file and the row or column at fault: an unreadable file,
        missing or unknown columns, a repeated ticker, a value that is not a finite number,
        negative shares or weights, weights that do not sum to 1, more than one date.
    """
    try:
        frame = pd.read_csv(path, dtype=str, skipinitialspace=True, comment="#")
    except FileNotFoundError:
        raise DataError(f"holdings file not found: {path}") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read holdings file {path}: "
                        f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                        ) from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    unknown = [c for c in frame.columns if c not in HOLDINGS_COLUMNS]
    kinds = [c for c in ("shares", "weight") if c in frame.columns]
    if "ticker" not in frame.columns or len(kinds) != 1 or unknown:
        raise DataError(f"holdings file {path} must have the columns ticker and shares (or "
                        f"ticker and weight), and optionally date; it has "
                        f"{', '.join(map(str, frame.columns)) or 'none'}")
    if frame.empty:
        raise DataError(f"holdings file {path} lists no position")
    tickers = frame["ticker"].fillna("").str.strip()
    tickers = tickers.where(tickers.str.upper() != CASH, CASH)
    blank = np.flatnonzero((tickers == "").to_numpy())
    if len(blank):
        raise DataError(f"holdings file {path}: row {blank[0] + 2} has no ticker")
    repeated = tickers[tickers.duplicated()]
    if len(repeated):
        raise DataError(f"holdings file {path}: {repeated.iloc[0]} is listed twice")
    column = kinds[0]
    values = pd.to_numeric(frame[column], errors="coerce")
    for ticker, raw, value in zip(tickers, frame[column], values, strict=True):
        if not np.isfinite(value):
            raise DataError(f"holdings file {path}: {column} of {ticker} is {raw!r}, not a "
                            "number")
        if value < 0:
            what = "cash" if ticker == CASH else column
            raise DataError(f"holdings file {path}: negative {what} for {ticker} ({raw}); "
                            "a long-only book holds none")
    amounts = pd.Series(values.to_numpy(dtype=float), index=tickers.to_list(), name=column)
    if column == "weight" and abs(amounts.sum() - 1.0) > WEIGHT_SUM_TOLERANCE:
        raise DataError(f"holdings file {path}: the weights sum to {amounts.sum():.6g}, not 1 "
                        f"(list cash as a {CASH} row)")
    return Holdings(amounts, "shares" if column == "shares" else "weights",
                    _holdings_date(frame, path), path)


def _holdings_date(frame: pd.DataFrame, path: Path) -> pd.Timestamp | None:
    if "date" not in frame.columns:
        return None
    dates = frame["date"].dropna().str.strip().unique()
    if len(dates) != 1:
        raise DataError(f"holdings file {path}: the date column must hold one date, it holds "
                        f"{len(dates)}")
    try:
        return pd.Timestamp(dates[0]).normalize()
    except ValueError:
        raise DataError(f"holdings file {path}: date {dates[0]!r} is not a date "
                        "(YYYY-MM-DD)") from None


def check_tickers(holdings: Holdings, assets: list[str], universe: str) -> None:
    """Refuse a ticker the universe does not hold (a typo would be traded as cash)."""
    stray = [t for t in holdings.amounts.index if t != CASH and t not in assets]
    if stray:
        raise DataError(f"holdings file {holdings.path}: {', '.join(stray[:5])} "
                        f"{'is' if len(stray) == 1 else 'are'} not an asset of {universe} "
                        f"({', '.join(assets)})")


def book_shares(holdings: Holdings, assets: list[str], prices: np.ndarray,
                value: float | None) -> tuple[np.ndarray, float]:
    """Shares of each asset (n,) and cash of the book, in the order of ``assets``.

    A book given in weights needs its ``value`` (in currency) to be one in shares:
    ``shares_i = w_i value / p_i``, ``cash = w_cash value``.
    """
    amounts = holdings.amounts.reindex([*assets, CASH], fill_value=0.0).to_numpy(dtype=float)
    if holdings.kind == "shares":
        return amounts[:-1], float(amounts[-1])
    if value is None:
        raise DataError(f"holdings file {holdings.path} gives weights: give --value, the "
                        "book's value in currency, to turn them into share orders")
    return amounts[:-1] * value / prices, float(amounts[-1] * value)


def book_weights(shares: np.ndarray, cash: float, prices: np.ndarray) -> np.ndarray:
    """Weights (n + 1,) of a book of ``shares`` (n,) and ``cash`` at ``prices`` (n,), cash
    last; a book of no value is all cash."""
    positions = np.append(shares * prices, cash)
    total = positions.sum()
    if total <= 0:
        return np.eye(len(positions))[-1]
    return positions / total


@dataclass(frozen=True)
class Orders:
    """The trades that take a book to a target, at one set of prices.

    Attributes
    ----------
    quantity : ndarray of shape (n,)
        Shares to trade, signed: positive buys, negative sells.
    before, after : ndarray of shape (n,)
        Shares held before and after the orders.
    cost : ndarray of shape (n,)
        Estimated cost of each order, in currency: ``|quantity| price rate``.
    cash_after : float
        Cash once the orders and their costs are paid.
    wanted : ndarray of shape (n,)
        The (fractional) shares the target asks for: ``w_i V / p_i``.
    """

    quantity: np.ndarray
    before: np.ndarray
    after: np.ndarray
    cost: np.ndarray
    cash_after: float
    wanted: np.ndarray


def share_orders(shares: np.ndarray, cash: float, prices: np.ndarray, target: np.ndarray,
                 cost_rate: np.ndarray | float, lot_size: float = 1.0, min_trade: float = 0.0,
                 fractional: bool = False) -> Orders:
    """The orders that turn a book of ``shares`` and ``cash`` into ``target`` weights.

    The target asks for ``w_i V / p_i`` shares of asset ``i``, with ``V`` the book's value at
    ``prices``. Each order is rounded to the nearest whole lot (unless ``fractional``), so the
    book ends within half a lot of the target; if the buys so rounded would overdraw the cash
    (costs included), every buy is rounded down instead (within one lot). A sell never exceeds
    the shares held. An order worth less than ``min_trade`` is not placed.

    Parameters
    ----------
    shares, prices : ndarray of shape (n,)
    cash : float
    target : ndarray of shape (n + 1,)
        Weights to hold, cash last.
    cost_rate : float or ndarray of shape (n,)
        Cost per unit of value traded (bps / 1e4): the run's costs.
    lot_size : float
        Shares per lot.
    min_trade : float
        Smallest order placed, in currency.
    fractional : bool
        Trade the exact (fractional) shares.

    Returns
    -------
    Orders
    """
    value = float(shares @ prices + cash)
    wanted = target[:-1] * value / prices
    delta = wanted - shares

    def placed(quantity: np.ndarray) -> np.ndarray:
        quantity = np.maximum(quantity, -shares)  # never sell more than is held
        return np.where(np.abs(quantity) * prices < min_trade, 0.0, quantity)

    def cash_left(quantity: np.ndarray) -> float:
        return float(cash - quantity @ prices - (np.abs(quantity) * prices * cost_rate).sum())

    if fractional:
        quantity = placed(delta)
    else:
        quantity = placed(np.round(delta / lot_size) * lot_size)
        if cash_left(quantity) < 0:  # round the buys down: within one lot, and paid for
            quantity = placed(np.where(delta > 0, np.floor(delta / lot_size) * lot_size,
                                       quantity))
    cost = np.abs(quantity) * prices * cost_rate
    return Orders(quantity, shares, shares + quantity, cost, cash_left(quantity), wanted)


def orders_table(orders: Orders, assets: list[str], prices: np.ndarray,
                 target: np.ndarray) -> pd.DataFrame:
    """``orders.csv``: one row per asset, its order (side, shares, value, estimated cost) and
    the book before and after; the weights after are at the same prices."""
    after = np.append(orders.after * prices, orders.cash_after)
    side = np.where(orders.quantity > 0, "buy", np.where(orders.quantity < 0, "sell", "none"))
    return pd.DataFrame({
        "ticker": assets, "side": side, "shares": np.abs(orders.quantity), "price": prices,
        "value": np.abs(orders.quantity) * prices, "cost": orders.cost,
        "shares_before": orders.before, "shares_after": orders.after,
        "target_weight": target[:-1], "weight_after": after[:-1] / after.sum()})


__all__ = ["HOLDINGS_COLUMNS", "WEIGHT_SUM_TOLERANCE", "Holdings", "Orders", "book_shares",
           "book_weights", "check_tickers", "orders_table", "read_holdings", "share_orders"]
