"""The ``sac-discrete`` strategy: discrete SAC choosing among a menu of strategies, per fold.

``fit`` precomputes every menu strategy's targets over the fold's training window, walk-forward
inside it (:class:`~maxent_portfolio.strategies.menu.MenuBook`), and trains
:func:`~maxent_portfolio.agents.training.train_menu` on a
:class:`~maxent_portfolio.envs.menu.MenuVectorEnv`: ``sac``'s env, arithmetic, costs, decision
period, execution and reward, with a menu entry as the action. The menu strategies are then fit
on the whole window, as the engine fits any strategy per fold. ``allocate`` extends the menu's
targets to the decision date, rebuilds the observation, and holds the mixture
``sum_k pi(k|s) w_k`` (or, with ``menu_hold = "top"``, the most probable ``w_k``), executed as
the env executes actions (the env section's ``trade_rate`` and ``no_trade_band``, and the
run's limits). It is deterministic.

The whole training window trains the agent (no validation slice), and the networks of the end
of training are kept. Registered lazily (importing it imports torch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
from pydantic import ValidationError

from maxent_portfolio.agents.agent import MenuAgent
from maxent_portfolio.agents.training import train_menu
from maxent_portfolio.envs.menu import MenuVectorEnv, menu_observation, menu_table
from maxent_portfolio.errors import ConfigError, DataError
from maxent_portfolio.options import describe_error
from maxent_portfolio.rebalance import CASH
from maxent_portfolio.strategies.base import StrategyContext
from maxent_portfolio.strategies.menu import MenuBook, build_menu
from maxent_portfolio.strategies.menuconfig import MenuConfig
from maxent_portfolio.strategies.sac import SACStrategy, window_identity


class SACDiscreteStrategy(SACStrategy):
    """Discrete SAC (Christodoulou 2019) over a menu of strategies: a soft meta-allocator.

    Parameters
    ----------
    *args
        ``sac``, ``env``, ``costs``, ``seed``, ``periods_per_year``, ``rebalance``, by position
        or keyword: as for :class:`~maxent_portfolio.strategies.sac.SACStrategy`.
        ``train_steps``, ``alpha``, ``diversification``, ``device`` and the file-only
        hyper-parameters apply alike; ``policy``, ``network``, ``one_step_model`` and
        ``reference`` are ``sac``'s alone.
    menu : MenuConfig, optional
        The menu and what is held.
    context : StrategyContext, optional
        Hands the run's options to the menu strategies it builds.
    **options
        Any single field of the sections (``menu=["equal-weight", "eg"]`` included).

    Attributes
    ----------
    book : MenuBook
        The menu strategies and their targets by date.
    probabilities_ : list of ndarray of shape (K,)
        ``pi(.|s)`` at every decision.
    entropy_ : list of float
        Its entropy in nats.
    agent_ : MenuAgent or None
    """

    name = "sac-discrete"
    description = "discrete SAC over a menu of strategies (soft meta-allocator), refit each fold"
    seeded = True
    batched = False  # its menu's targets are kept by date, one path at a time
    shrinks = False  # a choice among strategies: --shrinkage is the sac agent's

    def __init__(self, *args: Any, menu: MenuConfig | list[str] | None = None,
                 context: StrategyContext | None = None, **options: Any) -> None:
        fields = {k: options.pop(k) for k in list(options) if k in MenuConfig.model_fields}
        if isinstance(menu, list):
            fields["menu"] = menu
            menu = None
        base = menu or MenuConfig()
        try:
            self.menu = MenuConfig.model_validate({**base.model_dump(), **fields})
        except ValidationError as exc:
            raise describe_error(exc) from None
        super().__init__(*args, **options)
        if self.sac.model_selection != "last":
            raise ConfigError("sac-discrete keeps the networks of the end of training: "
                              "--model-selection best-validation applies to sac only")
        self.book = MenuBook(build_menu(self.menu.menu, context), self.menu.menu,
                             self.menu.menu_refit_every)

    @classmethod
    def context_arguments(cls, context: StrategyContext) -> dict[str, Any]:
        """``sac``'s, with the run's menu and the context its strategies are built from."""
        return {**super().context_arguments(context), "menu": context.config.menu,
                "context": context}

    @classmethod
    def seed_batch(cls, context: StrategyContext) -> int:
        """1: discrete SAC has no batched trainer, so its seeds train alone (``--jobs`` still
        runs them in parallel)."""
        return 1

    def __repr__(self) -> str:
        return (f"SACDiscreteStrategy(seed={self.seed}, menu={self.menu.menu!r}, "
                f"menu_hold={self.menu.menu_hold!r}, train_steps={self.sac.train_steps}, "
                f"alpha={self.sac.alpha!r}, diversification={self.sac.diversification})")

    def reset(self) -> None:
        """Before a new backtest: forget the agent, the menu's targets and the decisions."""
        super().reset()
        self.agent_: MenuAgent | None = None  # type: ignore[assignment]
        self.probabilities_: list[np.ndarray] = []
        if hasattr(self, "book"):
            self.book.reset()

    @classmethod
    def training_returns_needed(cls, context: StrategyContext) -> int:
        """``2 lookback + 2``: the menu's targets, then the paper portfolios, each need
        ``lookback`` returns (see :meth:`menu_env`); no validation rows are held out."""
        return 2 * context.config.env.lookback + 2

    def menu_env(self, returns: pd.DataFrame, num_envs: int) -> MenuVectorEnv:
        """The training env of a window: the menu's targets over ``returns``, precomputed.

        The menu's targets start once ``lookback`` returns exist, and the paper portfolios need
        ``lookback`` more, so the env sees ``returns`` from row ``lookback`` on and decides
        from row ``2 lookback - 1``.
        """
        from maxent_portfolio.data.market import MarketData
        from maxent_portfolio.envs.vector import PortfolioVectorEnv

        lookback = self.env.lookback
        ppy = self.window_periods(returns)
        min_rows = 2 * lookback + 2
        if len(returns) < min_rows:
            raise DataError(f"sac-discrete needs at least {min_rows} training returns "
                            f"(twice the lookback {lookback}, plus 2), got {len(returns)}")
        targets = self.book.fit_window(returns, first=lookback - 1)
        table = menu_table(targets, returns.to_numpy(dtype=float), lookback, ppy)
        part = returns.iloc[lookback:]
        # sac's env: the costs, frequency and decision dates the engine judges it on.
        inner = PortfolioVectorEnv.from_config(
            MarketData.from_returns(part, periods_per_year=ppy),
            self.window_env(pd.DatetimeIndex(part.index), returns.columns), num_envs=num_envs,
            cost_bps=self.costs.bps([str(c) for c in returns.columns]))
        return MenuVectorEnv(inner, targets[lookback:], table[lookback:])

    def train_window(self, returns: pd.DataFrame, *,  # type: ignore[override]
                     checkpoint_path: Path | None = None, resume: bool = False,
                     progress: bool = False) -> MenuAgent:
        """Precompute the menu over ``returns`` (:meth:`menu_env`) and train the agent on it."""
        config = self.sac_config(self._fold)
        env = self.menu_env(returns, config.num_envs)
        identity = window_identity(returns)
        self._validation_years = float("nan")  # no validation slice
        self.agent_ = train_menu(env, config, checkpoint_path=checkpoint_path, resume=resume,
                                 init_from=self.agent_ if self.sac.warm_start else None,
                                 callback=self.progress_report(config, 1), data=identity,
                                 reraise_signal=True)
        self.book.fit(returns)  # the members as the engine fits them for the test window
        self._assets = identity["assets"]
        return self.agent_

    def probabilities(self, history: pd.DataFrame, current: pd.Series
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``pi(.|s)`` (K,), the menu's targets (K, N + 1) and the drifted weights at the last
        date of ``history``."""
        if self.agent_ is None:
            raise ConfigError(f"the {self.name} strategy must be fit before it can allocate")
        lookback = self.env.lookback
        if len(history) < lookback + 1:
            raise DataError(f"sac-discrete needs {lookback + 1} rows of history to decide, "
                            f"got {len(history)}")
        self.book.extend(history)
        window = history.iloc[-(lookback + 1):]
        targets = self.book.window(pd.DatetimeIndex(window.index))
        table = menu_table(targets, window.to_numpy(dtype=float), lookback,
                           self._periods_per_year)
        weights = current.reindex([*self._assets, CASH], fill_value=0.0).to_numpy(dtype=float)
        obs = menu_observation(table[-1:], targets[-1:], weights[None])
        return self.agent_.probabilities(obs[0]), targets[-1], weights

    def restore(self, returns: pd.DataFrame, fold: int) -> Self:
        """Fold ``fold``'s agent as the run saved it, and the menu's targets over the training
        window ``returns`` computed again as :meth:`train_window` did (nothing is trained)."""
        path = self.saved_model(fold)
        lookback = self.env.lookback
        self.window_periods(returns)
        if len(returns) < 2 * lookback + 2:
            raise DataError(f"sac-discrete needs at least {2 * lookback + 2} training returns "
                            f"(twice the lookback {lookback}, plus 2), got {len(returns)}")
        self.book.fit_window(returns, first=lookback - 1)
        self.agent_ = MenuAgent.load(path, self.sac.device)
        if self.agent_.algorithm.k != self.book.k:
            raise DataError(f"{path} chooses among {self.agent_.algorithm.k} strategies, the "
                            f"run's menu has {self.book.k}")
        self.book.fit(returns)
        self._assets = [str(c) for c in returns.columns]
        self._fold = fold + 1
        return self

    def target(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        """The mixture ``sum_k pi(k|s) w_k`` (or the top ``w_k``) at the last date of
        ``history``; ``allocate`` executes it as in training."""
        probs, targets, _ = self.probabilities(history, current)
        chosen = targets[int(np.argmax(probs))] if self.menu.menu_hold == "top" \
            else probs @ targets
        self.probabilities_.append(probs)
        self.entropy_.append(float(-(probs * np.log(np.maximum(probs, 1e-300))).sum()))
        self.decision_dates_.append(pd.Timestamp(history.index[-1]))
        return pd.Series(chosen, index=[*self._assets, CASH])

    def extras(self) -> dict[str, pd.Series]:
        """``policy_entropy`` (nats) and ``menu:<strategy>`` probabilities at every decision."""
        index = pd.DatetimeIndex(self.decision_dates_)
        out = {"policy_entropy": pd.Series(self.entropy_, index=index, name="policy_entropy")}
        probs = np.array(self.probabilities_).reshape(len(index), self.book.k)
        for i, name in enumerate(self.book.names):
            out[f"menu:{name}"] = pd.Series(probs[:, i], index=index, name=f"menu:{name}")
        return out


__all__ = ["SACDiscreteStrategy"]
