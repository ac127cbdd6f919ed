"""Engine speed: equal-weight on sp500-20 against vectorbt, and a walk-forward of all baselines.

Run: ``.venv/bin/python benchmarks/bench_engine.py [--quick]`` (needs the ``bench`` extra for
vectorbt; its table is skipped if missing). ``--quick`` times fewer rounds and walks the baselines
forward over the last five years only: a smoke test, noisier and not comparable with a full run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from _common import best_of, machine, sp500_returns

from maxent_portfolio.backtest.engine import run_backtest
from maxent_portfolio.backtest.walkforward import Fold, WalkForward
from maxent_portfolio.strategies.baselines import EqualWeight

COST_BPS = 10.0


def engine_equal_weight(returns: pd.DataFrame, cost_bps: float = COST_BPS, repeat: int = 15
                        ) -> tuple[float, float]:
    """Seconds per full-history monthly equal-weight backtest, and its final value."""
    folds = [Fold(0, 1, 1, len(returns))]

    def once() -> object:
        return run_backtest(returns, EqualWeight(), splits=folds, rebalance="monthly",
                            cost_bps=cost_bps)

    seconds = best_of(once, repeat=repeat)
    return seconds, float(once().equity.iloc[-1])  # type: ignore[attr-defined]


def vectorbt_equal_weight(returns: pd.DataFrame, cost_bps: float = COST_BPS, repeat: int = 5
                          ) -> tuple[float, float]:
    """The same backtest in vectorbt: target-percent orders at the same closes, same fees."""
    import vectorbt as vbt

    prices = (1.0 + returns).cumprod()
    prices = pd.concat([pd.DataFrame(1.0, index=[returns.index[0] - pd.Timedelta(days=1)],
                                     columns=returns.columns), prices])
    res = run_backtest(returns, EqualWeight(), splits=[Fold(0, 1, 1, len(returns))],
                       rebalance="monthly", cost_bps=COST_BPS)
    # Our decision at the close of day t trades at that close; in vectorbt an order on row t
    # fills at row t's close. Row 0 of `prices` is the close before the first return.
    size = pd.DataFrame(np.nan, index=prices.index, columns=returns.columns)
    decision_rows = [prices.index.get_loc(d) for d in res.targets.index]
    size.iloc[decision_rows] = 1.0 / returns.shape[1]

    def once() -> object:
        return vbt.Portfolio.from_orders(
            prices, size=size, size_type="targetpercent", group_by=True, cash_sharing=True,
            call_seq="auto", fees=cost_bps / 1e4, init_cash=1.0, freq="1D")

    seconds = best_of(once, repeat=repeat)
    value = once().value()  # type: ignore[attr-defined]
    return seconds, float(value.iloc[-1])


def all_baselines(returns: pd.DataFrame) -> tuple[float, dict[str, float]]:
    from maxent_portfolio.strategies.registry import available_strategies

    per: dict[str, float] = {}
    start = time.perf_counter()
    for name, cls in available_strategies().items():
        if name == "sac":
            continue
        t0 = time.perf_counter()
        run_backtest(returns, cls(), splits=WalkForward(train=756, test=252),
                     rebalance="monthly", cost_bps=COST_BPS)
        per[name] = time.perf_counter() - t0
    return time.perf_counter() - start, per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds, baselines over five years (a smoke test)")
    args = parser.parse_args()
    # Quick: 3 rounds of each timing instead of 15 and 5; the vectorbt ratio stays like for like.
    ours_repeat, theirs_repeat = (3, 3) if args.quick else (15, 5)
    returns = sp500_returns()
    cells = returns.shape[0] * returns.shape[1]
    print(f"sp500-20: {returns.shape[1]} assets x {returns.shape[0]} days; {machine()}")
    ours, our_value = engine_equal_weight(returns, repeat=ours_repeat)
    print(f"maxent-portfolio equal-weight, monthly, {COST_BPS:g} bps: {ours * 1e3:.2f} ms "
          f"({cells / ours:,.0f} asset-days/s), final value {our_value:.6f}")
    try:
        theirs, their_value = vectorbt_equal_weight(returns, repeat=theirs_repeat)
    except ImportError:
        print("vectorbt not installed: pip install -e '.[bench]'")
    else:
        print(f"vectorbt from_orders targetpercent:        {theirs * 1e3:.2f} ms "
              f"({cells / theirs:,.0f} asset-days/s), final value {their_value:.6f}")
        print(f"speed ratio (vectorbt time / ours): {theirs / ours:.2f}x; final values differ "
              f"by {abs(our_value / their_value - 1):.2e} (relative)")
        # Without fees the two must agree to rounding: same drift, same rebalance dates.
        _, free_ours = engine_equal_weight(returns, 0.0, repeat=1)
        _, free_theirs = vectorbt_equal_weight(returns, 0.0, repeat=1)
        print(f"without fees final values differ by {abs(free_ours / free_theirs - 1):.2e}; "
              "with fees vectorbt pays them from cash (a small short cash leg) where we deduct "
              "them from value, hence the small gap above")
    if not args.skip_baselines:
        # Three years of training and two test years: two refits instead of about thirty.
        history = returns.iloc[-5 * 252:] if args.quick else returns
        total, per = all_baselines(history)
        print(f"walk-forward of {len(per)} baselines (3y train, yearly refits, monthly, "
              f"{len(history)} days): {total:.1f} s")
        for name, seconds in sorted(per.items(), key=lambda kv: -kv[1]):
            print(f"  {name:<20} {seconds:6.2f} s")


if __name__ == "__main__":
    main()
