"""The one `Strategy` interface shared by baselines, the SAC agent and user plug-ins.

A strategy follows the scikit-learn convention skfolio uses: ``__init__`` stores keyword
arguments only, ``fit`` learns from a training window and returns ``self``.

The engine calls ``allocate`` at each rebalance date ``t`` with ``history`` ending at ``t``
(inclusive): nothing after ``t`` is reachable, so look-ahead is impossible by construction.
The weights returned earn the returns of ``t + 1`` onward, once :func:`validate_weights` has
accepted them.
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TypeVar

import numpy as np
import pandas as pd

from maxent_portfolio.errors import StrategyError
from maxent_portfolio.rebalance import CASH  # the cash leg a strategy may allocate to

if TYPE_CHECKING:
    from maxent_portfolio.config import RunConfig

WEIGHT_TOLERANCE = 1e-6
"""How far from 1 a strategy's weights may sum before they are refused."""

S = TypeVar("S", bound="Strategy")


@dataclass(frozen=True)
class StrategyContext:
    """What a run hands every strategy it builds, baselines, SAC and plug-ins alike.

    Attributes
    ----------
    config : RunConfig
        The whole option tree; a strategy reads its own section (``config.sac``, ...).
    periods_per_year : int
        Of the run's data (252 daily, 52 weekly, 12 monthly): for annualised features.
    seed : int
        This instance's seed (one per agent of a seeded strategy).
    checkpoint_dir : Path or None
        Where a learning strategy may keep resumable checkpoints.
    progress : callable or None
        ``progress(units, status)``: report ``units`` of work done (see ``Strategy.work``).
    """

    config: RunConfig
    periods_per_year: int = 252
    seed: int = 0
    checkpoint_dir: Path | None = None
    progress: Callable[[float, str], None] | None = field(default=None, compare=False)


class Strategy:
    """Base class for every allocation strategy.

    Subclasses set ``name`` and ``description`` and override ``allocate`` (and ``fit`` if
    they learn from a training window).

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"equal-weight"``. Plug-ins are discovered by it.
    description : str
        One line shown by ``maxent-portfolio strategies``.
    investable : bool
        False for hindsight benchmarks (``bcrp``): the engine fits them on the test window they
        are judged on, and reports label them "not investable".
    seeded : bool
        True when results depend on the seed (a learning agent): a run with ``--seeds K``
        builds K instances, reports each as ``<name>-seed<s>`` and adds their mean.
    learned : bool
        True when the weights come from what the strategy learned of the assets in its
        training window (``sac``, ``sac-discrete``, ``ridge-kelly``), as opposed to a fixed
        rule: a run then measures it against its permutation placebo (the same weights with
        the asset labels shuffled, ``placebo_pct`` in ``metrics.csv``).
    stateless : bool
        True when ``allocate`` depends on neither ``current`` nor internal state, so the
        engine may call ``allocate`` only at rebalance dates in any order, and (if
        ``constant_weights`` is overridden) skip the per-date call entirely.
    batched : bool
        True when :meth:`allocate_batch` decides for many paths of returns at once (``sac``:
        one forward pass of its policy), as ``allocate`` would on each.
    checkpointed : bool
        True when ``fit`` trains a model that a run keeps per fold, in
        ``checkpoints/<label>/fold-<i>.pt`` of its directory (``sac``, ``sac-discrete``):
        :meth:`restore` then takes it up instead of training again (the ``stress`` command).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    investable: ClassVar[bool] = True
    stateless: ClassVar[bool] = False
    seeded: ClassVar[bool] = False
    learned: ClassVar[bool] = False
    checkpointed: ClassVar[bool] = False
    batched: ClassVar[bool] = False

    @classmethod
    def from_context(cls: type[S], context: StrategyContext) -> S:
        """Build the strategy for a run. Override to read options from ``context``.

        The default calls ``cls()``: rule-based strategies need nothing from the run.
        """
        return cls()

    @classmethod
    def work(cls, context: StrategyContext, n_folds: int) -> float:
        """Units of work of one backtest, for the progress bar (default: one per fold)."""
        return float(n_folds)

    @classmethod
    def training_returns_needed(cls, context: StrategyContext) -> int:
        """The fewest returns a training window must hold for :meth:`fit` (default 0: rules
        fit on whatever history there is). A run checks every window against it first."""
        return 0

    @classmethod
    def seed_batch(cls, context: StrategyContext) -> int:
        """How many seeds of a ``seeded`` strategy one instance group trains together
        (:meth:`join`); 1 (the default) runs every seed on its own."""
        return 1

    @classmethod
    def join(cls, members: Sequence[Strategy]) -> None:
        """Link the instances of one seed group before their backtests (a no-op by default).

        The run calls it with the group's instances, built by :meth:`from_context` in seed
        order, then backtests them one after the other in the same process.
        """

    def fit(self, returns: pd.DataFrame) -> Strategy:
        """Learn from a training window of simple returns, shape (n_observations, n_assets).

        The default is a no-op for rule-based strategies.
        """
        return self

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        """Target weights at the close of ``history.index[-1]``.

        Parameters
        ----------
        history : pd.DataFrame of shape (t + 1, n_assets)
            Every simple return up to and including the decision date, never beyond.
        current : pd.Series of shape (n_assets + 1,)
            Drifted weights held before rebalancing, indexed by asset plus ``CASH``.

        Returns
        -------
        pd.Series
            Weights indexed by asset (``CASH`` optional), non-negative, summing to 1.
            Assets left out get weight 0. Under a run's limits the engine holds the nearest
            weights that meet them (exact Euclidean projection,
            :func:`~maxent_portfolio.backtest.engine.decided_weights`); a strategy may meet
            them itself (the optimisers solve under them), and then nothing changes.
        """
        raise NotImplementedError

    def target(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        """The weights the strategy aims for at the last date of ``history``, before its own
        execution rule (:meth:`execute`). The engine trades to ``execute(target(...))``.

        The default is :meth:`allocate`: a strategy without an execution rule of its own
        aims for what it allocates. One that has one (``sac``: partial rebalancing) overrides
        both, so that ``allocate`` is ``execute`` of ``target``.
        """
        return self.allocate(history, current)

    def execute(self, target: pd.Series, current: pd.Series) -> pd.Series:
        """The weights a decision for ``target`` reaches from the drifted ``current`` (cash
        last): the strategy's own execution rule. The default trades all the way."""
        return target

    def execution_terms(self) -> dict[str, float | bool]:
        """The terms of :meth:`execute`, for the record (``allocate`` writes them): the default
        trades all the way, at once."""
        return {"trade_rate": 1.0, "no_trade_band": 0.0}

    def restore(self, returns: pd.DataFrame, fold: int) -> Strategy:
        """Fit for walk-forward fold ``fold`` (training window ``returns``) as a finished run
        did, from what the run kept: a learning strategy loads its saved model instead of
        learning again, and starts the fold afresh from it, whatever came before. The default
        is :meth:`fit` (a rule refits in a moment)."""
        return self.fit(returns)

    def allocate_batch(self, history: np.ndarray, current: np.ndarray) -> np.ndarray:
        """:meth:`allocate` on ``B`` paths at once, for a ``batched`` strategy.

        Parameters
        ----------
        history : ndarray of shape (B, t + 1, n_assets)
            Each path's simple returns up to and including the decision date.
        current : ndarray of shape (B, n_assets + 1)
            Each path's drifted weights, cash last.

        Returns
        -------
        ndarray of shape (B, n_assets + 1)
            Target weights, cash last, each row what ``allocate`` returns on its path (to
            rounding). The paths share the strategy's state: no path may change it.
        """
        raise NotImplementedError(f"{self.name} decides one path at a time")

    def constant_weights(self, assets: list[str]) -> np.ndarray | None:
        """Weights that never change with the data, or None. Lets the engine vectorise."""
        return None

    def extras(self) -> dict[str, pd.Series]:
        """Per-decision series for reports (e.g. the SAC ``policy_entropy``), by date.

        The engine stores them in ``BacktestResult.extras`` after the backtest.
        """
        return {}

    def learning(self) -> pd.DataFrame | None:
        """Training diagnostics of a learning strategy, one row per record (or None).

        The engine stores them in ``BacktestResult.learning``; a run writes them to
        ``learning.csv`` and the dashboard plots them (the ``sac`` strategy's learning curves).
        """
        return None

    def reset(self) -> None:
        """Forget online state before a new backtest. Default: nothing to forget."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_")
                           and not k.endswith("_"))
        return f"{type(self).__name__}({params})"


PACKAGE_HOME = Path(__file__).resolve().parents[2]
"""The folder holding the package: its own files are named from here (``maxent_portfolio/...``),
the same on every machine."""


def shown_path(filename: str) -> str:
    """A traceback's file as a message names it: the package's own files relative to
    :data:`PACKAGE_HOME`, any other (a plug-in) as given."""
    path = Path(filename).resolve()
    inside = path.is_relative_to(PACKAGE_HOME / "maxent_portfolio")
    return str(path.relative_to(PACKAGE_HOME)) if inside else filename


def culprit_location(exc: BaseException, strategy: Strategy) -> str:
    """``file:line`` of the innermost frame in the strategy's own file: where it failed."""
    frames = traceback.extract_tb(exc.__traceback__)
    try:
        own = Path(inspect.getfile(type(strategy))).resolve()
    except (TypeError, OSError):
        own = None
    for frame in reversed(frames):
        if own is not None and Path(frame.filename).resolve() == own:
            return f"{shown_path(frame.filename)}:{frame.lineno}"
    return f"{shown_path(frames[-1].filename)}:{frames[-1].lineno}" if frames else "?"


def failure(exc: BaseException) -> str:
    """What went wrong, in a few words: ``RuntimeError: boom``, or a ``sys.exit`` call (which a
    plug-in must not make: it would end the run as if it had succeeded)."""
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r})"
    return f"{type(exc).__name__}: {exc}"


R = TypeVar("R")


def guarded(strategy: Strategy, what: str, when: object, call: Callable[[], R],
            keep: tuple[type[Exception], ...] = (StrategyError,)) -> R:
    """Run a strategy's ``what`` (``fit``, ``allocate``); turn what it raises into one line
    naming the strategy, the date and its file and line. ``keep`` (by default a
    :class:`StrategyError`: a menu member's, already named) and Ctrl-C pass through."""
    try:
        return call()
    except keep:
        raise
    except (Exception, SystemExit) as exc:  # a user's plug-in may raise anything, even exit
        raise StrategyError(
            f"strategy {strategy.name!r} failed in {what} on {when}: {failure(exc)} "
            f"({culprit_location(exc, strategy)})") from exc


def validate_weights(weights: object, columns: Sequence[str], strategy: str,
                     date: object, long_only: bool = True) -> np.ndarray:
    """Check a strategy's output and return it as an array over ``columns`` (cash last).

    Raises
    ------
    StrategyError
        On a non-Series, unknown assets, NaN or infinite weights, negative weights when
        ``long_only``, or a sum off 1 by more than ``WEIGHT_TOLERANCE``. The message names the
        strategy and the date.
    """
    where = f"strategy {strategy!r} on {pd.Timestamp(date).date()}"  # type: ignore[arg-type]
    if not isinstance(weights, pd.Series):
        raise StrategyError(f"{where}: allocate must return a pandas Series of weights by "
                            f"asset, got {type(weights).__name__}")
    unknown = [str(a) for a in weights.index if a not in set(columns)]
    if unknown:
        raise StrategyError(f"{where}: unknown assets {', '.join(unknown[:5])}")
    if weights.index.has_duplicates:
        raise StrategyError(f"{where}: duplicated assets in the weights")
    values = pd.to_numeric(weights, errors="coerce").reindex(list(columns), fill_value=0.0)
    w = values.to_numpy(dtype=float)
    if not np.isfinite(w).all():
        bad = [c for c, x in zip(columns, w, strict=True) if not np.isfinite(x)]
        raise StrategyError(f"{where}: non-finite weight for {', '.join(bad[:5])}")
    if long_only and (w < -WEIGHT_TOLERANCE).any():
        bad = [f"{c}={x:.4g}" for c, x in zip(columns, w, strict=True) if x < -WEIGHT_TOLERANCE]
        raise StrategyError(f"{where}: negative weights in a long-only backtest: "
                            f"{', '.join(bad[:5])}")
    total = w.sum()
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise StrategyError(f"{where}: weights sum to {total:.6g}, must be 1 "
                            f"(within {WEIGHT_TOLERANCE:g})")
    if long_only:
        w = np.clip(w, 0.0, None)
    return w / w.sum()


__all__ = ["CASH", "WEIGHT_TOLERANCE", "Strategy", "StrategyContext", "culprit_location",
           "failure", "guarded", "validate_weights"]
