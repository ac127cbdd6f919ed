"""The ``env`` section of a run: how the training environment frames the task.

The section is the one place an env option is declared and range-checked: every env is built
from a validated section (:meth:`maxent_portfolio.envs.PortfolioEnv.from_config`; the keyword
constructor validates its options through it too), and the section applies its own execution
rule (:meth:`EnvConfig.execute`) and reward (:meth:`EnvConfig.reward_of`), for the envs and the
strategies' ``allocate`` alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import PrivateAttr, ValidationError, field_validator

from maxent_portfolio.arithmetic import Weights, partial_rebalance
from maxent_portfolio.envs.rewards import REWARD_FUNCTIONS, RewardState, compute_reward
from maxent_portfolio.limits import Limits, binding, project_weights
from maxent_portfolio.options import Section, describe_error, one_of, option


class EnvConfig(Section):
    """Observation window, reward and episodes of the training environment.

    ``allocate`` rebuilds the same observation at each rebalance, so ``lookback`` is also the
    history the agent needs before its first decision. The env decides at the dates of
    ``decision_period`` (``rebalance``: the run's rebalance schedule, the states ``allocate`` sees;
    daily by default);
    ``episode_length`` counts those decisions. ``features`` chooses the observation's feature
    groups (stored in canonical order, duplicates dropped).
    """

    lookback: int = option(
        60, "Feature window in periods of the data, so its length in time depends on the "
        "frequency: 60 is about 3 months of daily data, 14 months of weekly, 5 years of "
        "monthly. Also the history needed before the first decision; every training window "
        "must hold lookback + 2 returns for sac (after its validation slice) and "
        "2 x lookback + 2 for sac-discrete, checked before the run starts.", ge=2)
    features: str = option(
        "base", "Feature groups of the agent's observation, a comma list: base (momentum, "
        "volatility, drawdown per asset), ranks (cross-sectional ranks of mom_20, mom_60, "
        "vol_60), context (equal-weight market momentum and volatility, mean pairwise "
        "correlation); defined in help(maxent_portfolio.envs.PortfolioEnv).")
    reward: str = option("log", f"Training reward: {', '.join(REWARD_FUNCTIONS)} (log: the "
                         "log growth net of costs; each is defined in "
                         "help(maxent_portfolio.envs.PortfolioEnv)).")
    episode_length: int | None = option(
        252, "Steps (decisions) per training episode (None, from Python: to the end of the "
        "data).", ge=1, file_only=True)
    risk_aversion: float = option(1.0, "Lambda of the mean-var and drawdown rewards.", ge=0,
                                  file_only=True)
    eta: float = option(0.01, "Moving-moment rate of the dsr and mean-var rewards, in (0, 1).",
                        gt=0, lt=1, file_only=True)
    decision_period: str = option(
        "rebalance", "Training decision interval, a rebalance schedule (daily, weekly, monthly, "
        "every:K, ...), or rebalance: the run's --rebalance, so the agent trains on the "
        "decisions it is judged on (the default, chosen on the development protocol with the "
        "H-step mean objective: docs/agent.md).")
    trade_rate: float = option(
        1.0, "Partial rebalancing: each decision trades this fraction of the way from the "
        "drifted weights to the policy's target (1: all the way), in training and in the "
        "backtest alike. Default chosen on the development protocol (docs/agent.md).",
        gt=0, le=1)
    no_trade_band: float = option(
        0.0, "Skip a trade whose two-way turnover is below this (0.05 = 5% of the book; 0: "
        "always trade), in training and in the backtest alike.", ge=0, lt=2)
    invest_from_cash: bool = option(
        True, "A book entirely in cash (a run's first decision) trades all the way to the "
        "target, whatever --trade-rate and --no-trade-band, in training and in the backtest "
        "alike.", flag="--invest-from-cash/--no-invest-from-cash")
    _limits: Limits | None = PrivateAttr(default=None)
    """The run's limits resolved for the env's assets (:meth:`with_limits`), or None."""

    @field_validator("reward")
    @classmethod
    def _reward(cls, value: str) -> str:
        return one_of(value, REWARD_FUNCTIONS)

    @field_validator("features")
    @classmethod
    def _features(cls, value: str) -> str:
        from maxent_portfolio.envs.features import feature_groups
        from maxent_portfolio.errors import ConfigError

        try:
            return ",".join(feature_groups(value))  # canonical: base,ranks,context order
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("decision_period")
    @classmethod
    def _decision_period(cls, value: str) -> str:
        from maxent_portfolio.envs.decisions import decision_schedule
        from maxent_portfolio.errors import ConfigError

        if value != "rebalance":
            try:
                decision_schedule(value)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value

    def replace(self, **fields: Any) -> EnvConfig:
        """A copy with ``fields`` changed, validated as a run's options are.

        Raises
        ------
        ConfigError
            One line naming a bad field (or an unknown one) and its value.
        """
        try:
            return type(self).model_validate({**self.model_dump(), **fields}
                                             ).with_limits(self.limits)
        except ValidationError as exc:
            raise describe_error(exc) from None

    @property
    def limits(self) -> Limits | None:
        """The limits :meth:`execute` meets (None: none, or trivial ones)."""
        return self._limits

    def with_limits(self, limits: Limits | None) -> EnvConfig:
        """A copy that executes under ``limits``, resolved for the env's assets (the run's
        ``limits`` section: :meth:`~maxent_portfolio.limits.LimitsConfig.resolve`). Trivial
        limits are dropped, so an env without limits steps exactly as before."""
        copy = self.model_copy()
        copy._limits = binding(limits)
        return copy

    def execute(self, target: Weights, drifted: Weights) -> Weights:
        """The weights a decision for ``target`` (B, M) reaches from ``drifted`` (B, M), numpy
        arrays or torch tensors: the execution rule (``trade_rate``, ``no_trade_band``,
        ``invest_from_cash``) of :func:`~maxent_portfolio.arithmetic.partial_rebalance`,
        under the limits when there are any.

        Under limits the target is first projected onto them (the nearest feasible weights,
        :func:`~maxent_portfolio.limits.project`), and the trade rule moves toward it. From a
        drifted book that meets the limits the result meets them too (a convex combination of
        two feasible portfolios; the set is convex). A book that drifted out of them may stay
        out after a partial trade or a skipped one, so the traded weights are projected once
        more: a breach is traded away at the decision. The weights held after every decision
        therefore meet every limit, in training and in the backtest alike. Numpy and torch
        take the same steps (:func:`~maxent_portfolio.limits.project_weights`); the torch
        projection is differentiable.
        """
        limits = self._limits
        if limits is None:
            return partial_rebalance(target, drifted, self.trade_rate, self.no_trade_band,
                                     self.invest_from_cash)
        goal = project_weights(target, limits)
        moved = partial_rebalance(goal, drifted, self.trade_rate, self.no_trade_band,
                                  self.invest_from_cash)
        return moved if moved is goal else project_weights(moved, limits)

    def reward_of(self, growth: np.ndarray, moments: RewardState
                  ) -> tuple[np.ndarray, RewardState]:
        """The rewards of log growths ``growth`` (B,) and the moving moments after them:
        :func:`~maxent_portfolio.envs.rewards.compute_reward` with this section's reward."""
        return compute_reward(self.reward, growth, moments, self.risk_aversion, self.eta)


TEXTBOOK_EXECUTION: dict[str, Any] = {"trade_rate": 1.0, "no_trade_band": 0.0,
                                      "decision_period": "daily"}
"""What the keyword constructor of an env changes in the section's defaults: a decision every
day, every action traded in full, the textbook portfolio env (``gym.make``, the tests); a run
trains on the section's own defaults."""


__all__ = ["TEXTBOOK_EXECUTION", "EnvConfig"]
