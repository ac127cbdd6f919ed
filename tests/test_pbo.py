"""The probability of backtest overfitting (CSCV), against hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest

from maxent_portfolio.errors import ConfigError, DataError
from maxent_portfolio.measures import probability_of_backtest_overfitting


def mean(block: np.ndarray) -> np.ndarray:
    return block.mean(axis=0)


def test_hand_worked_four_blocks_three_candidates() -> None:
    # One row per block (S = 4), three candidates, scored by their mean. Training blocks ->
    # training sums -> winner; test sums -> winner's rank of 3 -> w = rank / 4:
    #   {0,1}: [4, 6, 2]     -> B; test {2,3} [2.5, 2, 10] -> rank 1, w 1/4, ln(1/3)
    #   {0,2}: [3, 3, 6]     -> C; test {1,3} [3.5, 5, 6]  -> rank 3, w 3/4, ln 3
    #   {0,3}: [5.5, 1, 8]   -> C; test {1,2} [1, 7, 4]    -> rank 2, w 1/2, 0
    #   {1,2}: [1, 7, 4]     -> B; test {0,3} [5.5, 1, 8]  -> rank 1, ln(1/3)
    #   {1,3}: [3.5, 5, 6]   -> C; test {0,2} [3, 3, 6]    -> rank 3, ln 3
    #   {2,3}: [2.5, 2, 10]  -> C; test {0,1} [4, 6, 2]    -> rank 1, ln(1/3)
    # lambda <= 0 in four splits of six: PBO = 2/3.
    m = np.array([[3, 1, 2], [1, 5, 0], [0, 2, 4], [2.5, 0, 6]], dtype=float)
    result = probability_of_backtest_overfitting(m, n_partitions=4, metric=mean)
    third, three = np.log(1 / 3), np.log(3)
    np.testing.assert_allclose(result.logits, [third, three, 0.0, third, three, third],
                               atol=1e-12)
    assert result.pbo == pytest.approx(2 / 3)
    assert result.rows_used == 4


def test_hand_worked_sharpe_two_blocks() -> None:
    # S = 2, blocks of two rows, per-period Sharpe mean / std(ddof=1):
    #   block 0: A [1, 3] -> 2 / 1.414 = 1.41;  B [2, 2.5] -> 2.25 / 0.354 = 6.36
    #   block 1: A [1, 2] -> 1.5 / 0.707 = 2.12; B [0, 4]  -> 2 / 2.83 = 0.71
    # Train on 0: B wins, ranks 1 of 2 on block 1 (w = 1/3); train on 1: A wins, ranks 1 on
    # block 0. Both logits ln(1/2): PBO = 1.
    m = np.array([[1, 2], [3, 2.5], [1, 0], [2, 4]], dtype=float)
    result = probability_of_backtest_overfitting(m, n_partitions=2)
    np.testing.assert_allclose(result.logits, [np.log(0.5)] * 2)
    assert result.pbo == 1.0


def test_a_candidate_better_in_every_block_is_never_overfit() -> None:
    rng = np.random.default_rng(0)
    m = rng.normal(0.0, 0.01, size=(400, 6))
    m[:, 3] = rng.normal(0.01, 0.001, size=400)  # Sharpe about 10 per period
    result = probability_of_backtest_overfitting(m, n_partitions=8)
    assert len(result.logits) == 70  # C(8, 4)
    assert result.pbo == 0.0
    np.testing.assert_allclose(result.logits, np.log(6 / 7 / (1 - 6 / 7)))


def test_rows_beyond_whole_blocks_are_left_out() -> None:
    m = np.array([[3, 1, 2], [1, 5, 0], [0, 2, 4], [2.5, 0, 6], [100, -100, 0]], dtype=float)
    result = probability_of_backtest_overfitting(m, n_partitions=4, metric=mean)
    assert result.pbo == pytest.approx(2 / 3) and result.rows_used == 4


@pytest.mark.parametrize(("matrix", "partitions", "error", "text"), [
    (np.ones((20, 1)), 2, DataError, "N >= 2"),
    (np.ones((20, 2)), 3, ConfigError, "even"),
    (np.ones((6, 2)), 4, DataError, "too few"),
    (np.array([[np.nan, 1.0]] * 8), 2, DataError, "NaN"),
])
def test_bad_inputs_are_refused(matrix: np.ndarray, partitions: int, error: type[Exception],
                                text: str) -> None:
    with pytest.raises(error, match=text):
        probability_of_backtest_overfitting(matrix, n_partitions=partitions)


@pytest.mark.parametrize(("partitions", "periods", "candidates"),
                         [(4, 400, 3), (8, 480, 5), (16, 640, 7)])
def test_equals_an_independent_implementation(partitions: int, periods: int,
                                              candidates: int) -> None:
    """holdout-backtest (PyPI, MIT) implements CSCV on its own: same logits, same PBO (on
    whole blocks; it spreads a remainder over the first blocks where this leaves it out)."""
    holdout = pytest.importorskip("holdout.pbo", reason="holdout-backtest is not installed "
                                  "(the dev extra has it)")
    rng = np.random.default_rng(partitions)
    m = rng.normal(0.0003, 0.01, size=(periods, candidates)) \
        + rng.normal(0.0, 0.0003, size=candidates)
    theirs = holdout.probability_of_backtest_overfitting(m, n_blocks=partitions)
    ours = probability_of_backtest_overfitting(m, n_partitions=partitions)
    np.testing.assert_allclose(ours.logits, theirs.logits, rtol=0, atol=1e-12)
    assert ours.pbo == theirs.pbo
