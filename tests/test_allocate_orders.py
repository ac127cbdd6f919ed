"""Share orders from a book to a target: worked by hand, within one lot, holdings files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maxent_portfolio.allocate.orders import (
    book_shares,
    book_weights,
    orders_table,
    read_holdings,
    share_orders,
)
from maxent_portfolio.errors import DataError


def test_a_hand_worked_book_gets_the_orders_worked_by_hand() -> None:
    # Book: 10 A at 50, 0 B at 20, 500 cash: value 1000. Target 30% A, 60% B, 10% cash:
    # A wants 300 / 50 = 6 shares (sell 4), B wants 600 / 20 = 30 shares (buy 30).
    orders = share_orders(np.array([10.0, 0.0]), 500.0, np.array([50.0, 20.0]),
                          np.array([0.3, 0.6, 0.1]), cost_rate=np.array([0.001, 0.002]))
    np.testing.assert_array_equal(orders.quantity, [-4.0, 30.0])
    np.testing.assert_array_equal(orders.after, [6.0, 30.0])
    # Costs: 4 * 50 * 10 bps = 0.2, 30 * 20 * 20 bps = 1.2; cash 500 + 200 - 600 - 1.4.
    np.testing.assert_allclose(orders.cost, [0.2, 1.2])
    assert orders.cash_after == pytest.approx(98.6)
    table = orders_table(orders, ["A", "B"], np.array([50.0, 20.0]), np.array([0.3, 0.6, 0.1]))
    assert list(table.side) == ["sell", "buy"] and list(table.shares) == [4.0, 30.0]
    np.testing.assert_allclose(table.weight_after, [300 / 998.6, 600 / 998.6])


def test_lots_round_to_the_nearest_lot_and_buys_round_down_when_cash_runs_short() -> None:
    prices = np.array([10.0, 10.0])
    # 100 cash, all to A: 10 shares; lots of 3 round to 9 (nearest), not 12.
    near = share_orders(np.zeros(2), 100.0, prices, np.array([1.0, 0.0, 0.0]), 0.0, lot_size=3)
    np.testing.assert_array_equal(near.quantity, [9.0, 0.0])
    # 11 shares wanted of each (220 cash at 10): lots of 2 round to 12 each, 240 > 220 cash:
    # both buys round down to 10.
    short = share_orders(np.zeros(2), 220.0, prices, np.array([0.5, 0.5, 0.0]), 0.0,
                         lot_size=2)
    np.testing.assert_array_equal(short.quantity, [10.0, 10.0])
    assert short.cash_after == pytest.approx(20.0)


def test_a_sell_never_exceeds_the_shares_held_and_small_orders_are_skipped() -> None:
    prices = np.array([10.0, 10.0])
    # 3 A held, target none: lots of 5 would round the sell to 5; it sells the 3 held.
    sold = share_orders(np.array([3.0, 0.0]), 70.0, prices, np.array([0.0, 0.0, 1.0]), 0.0,
                        lot_size=5)
    np.testing.assert_array_equal(sold.after, [0.0, 0.0])
    # Value 100: A sells 2 shares (20), B buys 1 (10); under a min trade of 15 only A's
    # order is placed.
    kept = share_orders(np.array([3.0, 0.0]), 70.0, prices, np.array([0.1, 0.1, 0.8]), 0.0,
                        min_trade=15.0)
    np.testing.assert_array_equal(kept.quantity, [-2.0, 0.0])


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 6), seed=st.integers(0, 2**32 - 1),
       lot=st.sampled_from([1.0, 5.0, 100.0, 0.5]), fractional=st.booleans())
def test_the_orders_reach_the_target_within_one_lot_per_asset(
        n: int, seed: int, lot: float, fractional: bool) -> None:
    rng = np.random.default_rng(seed)
    prices = rng.uniform(1.0, 500.0, n)
    shares = np.floor(rng.uniform(0.0, 300.0, n) * rng.integers(0, 2, n))
    cash = float(rng.uniform(0.0, 1e5))
    target = rng.dirichlet(np.ones(n + 1))
    rate = rng.uniform(0.0, 0.003, n)
    orders = share_orders(shares, cash, prices, target, rate,
                          lot_size=1.0 if fractional else lot, fractional=fractional)
    value = shares @ prices + cash
    wanted = target[:-1] * value / prices
    np.testing.assert_allclose(orders.wanted, wanted)
    step = 0.0 if fractional else lot
    assert (np.abs(orders.after - wanted) <= step + 1e-9 * np.maximum(wanted, 1.0)).all()
    assert (orders.after >= -1e-9).all()
    if not fractional:  # whole lots, or a sale of every share held (an odd lot)
        lots = np.isclose(np.round(orders.quantity / lot) * lot, orders.quantity)
        assert (lots | (orders.after == 0)).all()
    # The cash pays for the orders and their costs, exactly as the table accounts them.
    spent = orders.quantity @ prices + orders.cost.sum()
    assert orders.cash_after == pytest.approx(cash - spent, rel=1e-12, abs=1e-6)
    np.testing.assert_allclose(orders.cost, np.abs(orders.quantity) * prices * rate)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "book.csv"
    path.write_text(text)
    return path


def test_a_holdings_file_of_shares_or_weights_gives_the_book(tmp_path: Path) -> None:
    held = read_holdings(_write(tmp_path, "ticker,shares,date\nA,10,2020-01-02\n"
                                          "cash,500,2020-01-02\n"))
    assert held.kind == "shares" and str(held.date.date()) == "2020-01-02"  # type: ignore[union-attr]
    prices = np.array([50.0, 20.0])
    shares, cash = book_shares(held, ["A", "B"], prices, None)
    np.testing.assert_array_equal(shares, [10.0, 0.0])
    np.testing.assert_allclose(book_weights(shares, cash, prices), [0.5, 0.0, 0.5])
    weights = read_holdings(_write(tmp_path, "ticker,weight\nA,0.25\nB,0.5\nCASH,0.25\n"))
    shares, cash = book_shares(weights, ["A", "B"], prices, 1000.0)
    np.testing.assert_allclose(shares, [5.0, 25.0])
    assert cash == 250.0
    with pytest.raises(DataError, match="--value"):
        book_shares(weights, ["A", "B"], prices, None)


@pytest.mark.parametrize(("text", "culprit"), [
    ("ticker,shares\nA,-3\n", "negative shares for A"),
    ("ticker,shares\nA,3\nCASH,-1\n", "negative cash"),
    ("ticker,shares\nA,3\nA,4\n", "A is listed twice"),
    ("ticker,shares\nA,three\n", "'three'"),
    ("ticker,qty\nA,3\n", "ticker and shares"),
    ("ticker,weight\nA,0.5\nB,0.4\n", "sum to 0.9"),
    ("ticker,shares,date\nA,3,2020-01-02\nB,1,2020-01-03\n", "one date"),
])
def test_a_bad_holdings_file_is_refused_naming_the_culprit(tmp_path: Path, text: str,
                                                          culprit: str) -> None:
    with pytest.raises(DataError, match=culprit):
        read_holdings(_write(tmp_path, text))
