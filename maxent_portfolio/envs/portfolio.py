"""`PortfolioEnv`: one portfolio rebalanced on a schedule over historical returns, net of costs.

The arithmetic (rebalance cost, drift, net return) is :func:`maxent_portfolio.arithmetic.step`,
the code the backtest engine uses, and the decision dates are the engine's
(:mod:`maxent_portfolio.envs.decisions`), so an episode reproduces the engine's results on the
same schedule. The env's options are a validated :class:`~maxent_portfolio.envs.config.EnvConfig`
section, which also executes the actions and computes the rewards; the market's arrays are
prepared by :func:`maxent_portfolio.envs.market.prepare_market`. Those and the helpers below
(action map, random start) are batched over a leading axis and shared with
:class:`maxent_portfolio.envs.vector.PortfolioVectorEnv`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
from gymnasium import spaces

from maxent_portfolio.arithmetic import compact_rate
from maxent_portfolio.arithmetic import step as arithmetic_step
from maxent_portfolio.data.market import MarketData
from maxent_portfolio.envs.config import TEXTBOOK_EXECUTION, EnvConfig
from maxent_portfolio.envs.decisions import DecisionClock, interval_growth
from maxent_portfolio.envs.features import observation, observation_bounds
from maxent_portfolio.envs.market import prepare_market
from maxent_portfolio.envs.rewards import RewardState
from maxent_portfolio.errors import ConfigError, DataError
from maxent_portfolio.rebalance import DEFAULT_REBALANCE

ACTION_MODES = ("simplex", "logits")
"""Accepted values of the ``action_mode`` argument."""

LOGIT_BOUND = 20.0
"""Bound of the ``logits`` action space: logits are clipped to ``[-20, 20]``."""

_SIMPLEX_TOL = 1e-12


def to_weights(action: np.ndarray, mode: str) -> np.ndarray:
    """Map actions to weights on the simplex.

    Parameters
    ----------
    action : ndarray of shape (B, M)
    mode : {"simplex", "logits"}
        ``simplex``: negatives are clipped to 0 and ``w = a / sum(a)`` (uniform when the sum is
        at most 1e-12; a row summing to 1 within 1e-12 passes through unchanged).
        ``logits``: ``w = softmax(clip(a, -20, 20))``.

    Returns
    -------
    ndarray of shape (B, M), float64, a new array

    Raises
    ------
    ValueError
        If the action holds NaN or +inf (or any infinity in ``logits`` mode).
    """
    if mode == "logits":
        z = np.asarray(action, dtype=np.float64)
        if not np.isfinite(z).all():
            raise ValueError("the action contains NaN or infinite values")
        z = np.clip(z, -LOGIT_BOUND, LOGIT_BOUND)
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / np.add.reduce(e, axis=-1, keepdims=True)
    a = np.asarray(action, dtype=np.float64)  # once: mixed float32/64 ufuncs are slower
    total = np.add.reduce(a, axis=-1)
    if a.min() >= 0.0 and total.min() > _SIMPLEX_TOL and total.max() < np.inf:
        # The common case, a valid non-negative action: one division (exactly 1 on the simplex).
        total[np.abs(total - 1.0) <= _SIMPLEX_TOL] = 1.0
        return a / total[:, None]
    if not total.max() < np.inf:  # False for NaN too
        raise ValueError("the action contains NaN or infinite values")
    if a.min() < 0.0:
        a = np.maximum(a, 0.0, dtype=np.float64)
        total = np.add.reduce(a, axis=-1)
    if total.min() <= _SIMPLEX_TOL:  # rows summing to ~0 get uniform weights
        a = np.where((total <= _SIMPLEX_TOL)[:, None], 1.0, a)
        total = np.add.reduce(a, axis=-1, dtype=np.float64)
    deviation = np.abs(total - 1.0)
    total[deviation <= _SIMPLEX_TOL] = 1.0  # on the simplex: divided by exactly 1, unchanged
    return a / total[:, None]


def draw_start(rng: np.random.Generator, low: int, high: int) -> int:
    """A start position uniform on ``[low, high]``; the one random draw of a reset."""
    return low + int(rng.integers(high - low + 1))


class PortfolioEnv(gym.Env[np.ndarray, np.ndarray]):
    """Allocate wealth over N risky assets and cash, one rebalance interval at a time.

    Each step is a rebalance at the close of a decision date ``t`` from the current (drifted)
    weights to the target weights of the action, which are then held, drifting with prices,
    through the returns of ``t + 1 .. t'``, up to the next decision date ``t'``. The
    arithmetic is :func:`maxent_portfolio.arithmetic.step` (shared with the backtest
    engine) with each asset's growth over the interval: the cost
    ``sum_i c_i |w_target,i - w_drifted,i|`` over the risky assets is paid at the rebalance, so
    the interval's net return is ``(1 - cost)(1 + gross) - 1``.

    ## Decision Period

    ``decision_period`` is a rebalance schedule of the backtest engine (``daily``, the default,
    ``weekly``, ``monthly``, ``quarterly``, ``yearly`` or ``every:K``; ``drift:X`` has no fixed
    interval and is refused). The decision dates are the engine's: an episode that starts at
    ``t0`` decides at ``t0`` and then exactly where a backtest fold opening at ``t0`` would
    rebalance: every ``K`` periods for ``every:K``, and at the last trading day of each calendar
    period for the calendar schedules (a first, shorter interval runs from ``t0`` to the first
    period end). So after its first decision the agent sees the states ``allocate`` sees in a
    backtest on the same schedule: the features at the engine's rebalance dates and the weights
    drifted through a whole interval. The random start dates vary the first interval and the
    holdings the later ones start from. An interval the end of the data cuts short ends there.
    ``daily`` steps one period at a time, bit-identical to the daily env of earlier versions.

    ## Execution

    The action names a target; the trade is
    :func:`~maxent_portfolio.arithmetic.partial_rebalance` of it: ``trade_rate`` (in (0, 1],
    default 1) of the way from the drifted weights to the target, and no trade at all when that
    move's turnover is below ``no_trade_band`` (default 0). Under limits the target is first
    mapped to the nearest weights that meet them (exact Euclidean projection), and the traded
    weights once more when the drifted book had broken a limit, so the weights held after every
    decision meet every limit (:meth:`~maxent_portfolio.envs.config.EnvConfig.execute`). The
    ``sac`` strategy's ``allocate`` executes its actions by the same rule, so training and
    backtest trade alike.

    ## Action Space

    ``action_mode="simplex"`` (default): ``Box(0, 1, (N + 1,), float32)``, one non-negative
    score per asset with cash last. The target weights are ``w = a / sum(a)`` (negative
    entries are clipped to 0; uniform ``1 / (N + 1)`` if ``sum(a) <= 1e-12``); an action already
    on the simplex (summing to 1 within 1e-12) is used unchanged.

    ``action_mode="logits"``: ``Box(-20, 20, (N + 1,), float32)``, mapped by ``softmax``
    (logits clipped to the bounds). A NaN action, or an infinite one (``+inf`` in ``simplex``
    mode, where negatives are simply clipped), raises ``ValueError``.

    ## Observation Space

    ``Box(low, high, (N * F + N + 1,), float32)`` with finite bounds: the ``F`` features of
    each asset known at the close of ``t``, asset-major (``obs[:N * F].reshape(N, F)`` has one
    row per asset, its columns named by ``feature_names``), then the current drifted weights
    (N + 1, cash last, in [0, 1]). ``features`` picks the feature groups, a comma list laid out
    in the order base, ranks, context whatever order it names them in (default ``"base"``,
    F = 7; all three give F = 13). Every feature is computed from the last ``lookback`` returns
    only and clipped (see :mod:`maxent_portfolio.envs.features`):

    | Num | Feature         | Definition (``x`` log return, ``s`` its lookback std)  | Bounds    |
    |-----|-----------------|--------------------------------------------------------|-----------|
    |     | **base**        |                                                        |           |
    | 0   | ``ret_1``       | ``x_t / s``                                            | [-10, 10] |
    | 1   | ``mom_5``       | ``sum(x, last h) / (s sqrt(h))``, ``h = min(5, L)``    | [-10, 10] |
    | 2   | ``mom_20``      | the same, ``h = min(20, L)`` (``L`` the lookback)      | [-10, 10] |
    | 3   | ``mom_60``      | the same, ``h = min(60, L)``                           | [-10, 10] |
    | 4   | ``vol_20``      | annualised std of ``x`` over ``min(20, L)`` periods    | [0, 10]   |
    | 5   | ``vol_60``      | annualised std of ``x`` over ``min(60, L)`` periods    | [0, 10]   |
    | 6   | ``drawdown``    | ``log p_t - max log p`` over the last ``L + 1`` closes | [-10, 0]  |
    |     | **ranks**       | rank among the N assets at ``t``, scaled to [-1, 1]    |           |
    |     |                 | (lowest -1, highest 1, ties averaged; 0 if N = 1), of: |           |
    | +0  | ``rank_mom_20`` | ``mom_20``                                             | [-1, 1]   |
    | +1  | ``rank_mom_60`` | ``mom_60``                                             | [-1, 1]   |
    | +2  | ``rank_vol_60`` | ``vol_60``                                             | [-1, 1]   |
    |     | **context**     | the same for every asset: ``y = log(1 + mean_i r_i)``, |           |
    |     |                 | the equal-weight market's log return, ``u`` its        |           |
    |     |                 | lookback std                                           |           |
    | +0  | ``mkt_mom_60``  | ``sum(y, last h) / (u sqrt(h))``, ``h = min(60, L)``   | [-10, 10] |
    | +1  | ``mkt_vol_20``  | annualised std of ``y`` over ``min(20, L)`` periods    | [0, 10]   |
    | +2  | ``avg_corr``    | mean pairwise correlation of the assets' ``x`` over    | [-1, 1]   |
    |     |                 | the last ``L`` periods (0 if N = 1)                    |           |

    A group's ``Num`` counts on from the end of the groups before it.

    ## Rewards

    Registered by name in :mod:`maxent_portfolio.envs.rewards`. With ``g = log(1 + net_return)``
    the step's log growth net of costs over its whole interval, ``lambda = risk_aversion`` and
    ``eta`` the rate of the exponential moving moments ``A`` (of ``g``) and ``B`` (of ``g^2``),
    updated after each reward (each decision) as ``A += eta (g - A)``, ``B += eta (g^2 - B)``.
    Every reward applies to the interval's log growth as it does to a day's:

    - ``"log"`` (default): ``g``. Summed over an episode it is the log of the final value.
    - ``"dsr"``: the differential Sharpe ratio of Moody & Saffell (1998),
      ``D = (B dA - A dB / 2) / (B - A^2)^(3/2)`` with ``dA = g - A``, ``dB = g^2 - B`` (0 while
      ``B - A^2 <= 1e-12``). It starts from ``A = 0`` and ``B`` = the mean squared log return of
      the assets over the lookback window before the start, times the decision period's average
      interval in periods (variance grows with the horizon; 1 for daily), so the first reward
      is ``g / sqrt(B)``. ``eta`` (default 0.01, a memory of about 100 decisions) is its
      adaptation rate.
    - ``"mean-var"``: ``g - lambda (g - A)^2``, log growth less a variance proxy (squared
      deviation from the moving mean, ``A = 0`` at the start).
    - ``"drawdown"``: ``g - lambda * increase`` of the log drawdown ``log(peak) - log(value)``
      from the running peak of the episode. Over one step that increase is exactly
      ``max(0, -g)`` (a loss deepens the drawdown by its size; a gain never increases it), so
      this is a loss-aversion penalty on the step's log loss (a dip inside an interval that the
      interval recovers is not penalised: the agent cannot act on it).

    ## Starting State

    A reset picks the start (decision) position ``t0`` uniformly from ``self.np_random`` over
    the positions with a full lookback window and room for ``episode_length`` decisions, unless
    ``options["start"]`` fixes it (an integer position into the returns or a date; a date
    between trading days means the last trading day before it). The portfolio starts with a
    value of 1 all in cash, so the first step's turnover is the sum of the risky target weights,
    unless ``options["weights"]`` (N + 1 weights summing to 1) gives the starting holdings.

    ## Episode End

    Never ``terminated``. ``truncated`` after ``episode_length`` steps (decisions), or when the
    data runs out (``episode_length=None`` runs to the end of the data). Stepping past the end
    of the data raises ``RuntimeError``.

    ## Info

    ``reset`` and ``step`` return ``portfolio_value`` (starts at 1), ``gross_return``,
    ``net_return`` (both over the step's interval), ``turnover`` (one-way, risky assets),
    ``cost`` (fraction of value), ``weights`` (the drifted weights at the end of the interval,
    N + 1) and ``date`` (the close the step ends on, the next decision date, a
    ``pd.Timestamp``); a reset reports zeros for the flows.

    ## Arguments

    Keyword arguments only. The market:

    - ``universe``: built-in universe name (default ``"sp500-20"``), CSV/Parquet path (read by
      :func:`maxent_portfolio.data.load_universe`), a ``MarketData`` or a DataFrame of simple
      returns with a DatetimeIndex.
    - ``start``, ``end``: restrict the data to these dates (inclusive).
    - ``cost_bps``: proportional cost per unit traded in basis points (10 = 0.1 %), or one per
      asset.
    - ``cash_return``: per-period simple return of cash (a number or a Series by date).
    - ``action_mode``: ``"simplex"`` or ``"logits"``.

    The env options, the fields of :class:`~maxent_portfolio.envs.config.EnvConfig` (its
    ``help`` states each range), either as ``config``, a validated section
    (:meth:`from_config`, how a run builds its envs), or one by one as keywords, validated by
    the section (its defaults, except ``trade_rate=1`` and ``no_trade_band=0``: every action
    traded in full, :data:`~maxent_portfolio.envs.config.TEXTBOOK_EXECUTION`):

    - ``lookback``: the window (>= 2) of the features; also the history needed before the
      first decision.
    - ``features``: the feature groups of the observation, a comma list of ``base``, ``ranks``
      and ``context`` (default ``"base"``; see *Observation Space*).
    - ``reward``: ``"log"``, ``"dsr"``, ``"mean-var"``, ``"drawdown"`` or a reward registered in
      :data:`~maxent_portfolio.envs.rewards.REWARD_FUNCTIONS`.
    - ``episode_length``: steps (decisions) per episode (default 252, a trading year of daily
      decisions), or ``None``.
    - ``risk_aversion``: ``lambda`` of ``mean-var`` and ``drawdown`` (default 1).
    - ``eta``: moving-moment rate of ``dsr`` and ``mean-var``, in (0, 1) (default 0.01).
    - ``decision_period``: the rebalance schedule the agent decides on (default ``"daily"``;
      ``"rebalance"``, the section's default for a run, is ``"monthly"`` here).
    - ``trade_rate``, ``no_trade_band``: how an action is executed (see *Execution*).

    A run's limits (weight bounds, a cash cap, group caps) come with ``config``
    (:meth:`~maxent_portfolio.envs.config.EnvConfig.with_limits`, resolved for the env's
    assets): see *Execution*.

    Raises ``ConfigError`` on a bad argument and ``DataError`` when the data cannot hold one
    episode.

    ## Attributes

    ``config`` (the validated :class:`~maxent_portfolio.envs.config.EnvConfig`), ``n_assets``
    (N), ``n_features`` (F), ``obs_dim``, ``assets``, ``feature_names``, ``dates``, ``market``
    (the precomputed :class:`~maxent_portfolio.envs.market.Market`), ``decision_period`` (as
    text) and ``clock`` (its :class:`~maxent_portfolio.envs.decisions.DecisionClock`).
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - gymnasium convention

    def __init__(self, *, universe: str | Path | MarketData | pd.DataFrame = "sp500-20",
                 config: EnvConfig | None = None, start: str | pd.Timestamp | None = None,
                 end: str | pd.Timestamp | None = None, cost_bps: float = 10.0,
                 cash_return: float | pd.Series = 0.0, action_mode: str = "simplex",
                 **options: Any) -> None:
        if config is None:  # the keyword path (gym.make): validated by the section all the same
            config = EnvConfig().replace(**{**TEXTBOOK_EXECUTION, **options})
        elif options:
            raise ConfigError(f"give the env options in config or as keywords, not both: "
                              f"{', '.join(options)}")
        if action_mode not in ACTION_MODES:
            raise ConfigError(f"unknown action_mode {action_mode!r}: use simplex or logits")
        self.config = config
        """The validated env section: the options this env decides, executes and rewards by."""
        self.action_mode = action_mode
        self.market = prepare_market(universe, config, start=start, end=end, cost_bps=cost_bps,
                                     cash_return=cash_return)
        m = self.market
        period = config.decision_period
        self.clock = DecisionClock.build(DEFAULT_REBALANCE if period == "rebalance" else period,
                                         m.dates)  # no run: the default rebalance schedule
        self.decision_period = self.clock.period
        self.held_growth = interval_growth(m.growth, self.clock.following)
        """``(T - 1, N + 1)``: row ``t``, each asset's growth over the interval decided at ``t``."""
        self._latest_start = self.clock.latest_start(m.first, config.episode_length or 1)
        if self._latest_start < m.first:
            raise DataError(f"too little data for an episode of {config.episode_length} "
                            f"{self.decision_period} decisions: at most "
                            f"{self.clock.steps_from(m.first)} fit after the lookback")
        interval = self.clock.mean_interval(m.first)
        self.dsr_prior = m.dsr_prior if interval == 1 else m.dsr_prior * interval
        """The second moment ``B`` a ``dsr`` episode starts from, by start position."""
        self._cost_rate = compact_rate(m.cost_rate)
        self.n_assets = len(m.assets)
        self.feature_names = m.feature_names
        self.n_features = len(self.feature_names)
        self.obs_dim = self.n_assets * self.n_features + self.n_assets + 1
        self.assets = list(m.assets)
        if config.limits is not None and list(config.limits.assets) != self.assets:
            raise ConfigError(f"the env's limits are for the assets {list(config.limits.assets)}"
                              f", not the market's {self.assets}")
        self.dates = m.dates
        low, high = observation_bounds(self.n_assets, config.features)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        bound = (0.0, 1.0) if action_mode == "simplex" else (-LOGIT_BOUND, LOGIT_BOUND)
        self.action_space = spaces.Box(bound[0], bound[1], (self.n_assets + 1,), np.float32)
        self._timestamps = list(m.dates)
        self._t = m.first
        self._stop = m.first
        self._weights = np.zeros((1, self.n_assets + 1))
        self._weights[0, -1] = 1.0
        self._value = 1.0
        self._rewards = RewardState.empty(1)

    @classmethod
    def from_config(cls, universe: str | Path | MarketData | pd.DataFrame, config: EnvConfig,
                    **market: Any) -> PortfolioEnv:
        """The env of a validated section on ``universe``.

        Parameters
        ----------
        universe : str, Path, MarketData or pd.DataFrame
        config : EnvConfig
            Every env option; trusted as validated.
        **market
            The other keyword arguments of the constructor: ``start``, ``end``, ``cost_bps``,
            ``cash_return``, ``action_mode``.
        """
        return cls(universe=universe, config=config, **market)

    # -- public helpers ---------------------------------------------------------------------

    def observation_at(self, t: int, weights: np.ndarray) -> np.ndarray:
        """The observation at the close of position ``t`` with current ``weights``.

        Parameters
        ----------
        t : int
            Position into ``self.dates``, ``lookback - 1 <= t < T``.
        weights : ndarray of shape (N + 1,)

        Returns
        -------
        ndarray of shape (obs_dim,), float32
        """
        if not self.market.first <= t < len(self.dates):
            raise ConfigError(f"no observation at position {t}: need {self.market.first} <= t < "
                              f"{len(self.dates)} (a full lookback window)")
        return observation(self.market.features, t, np.asarray(weights, dtype=np.float64))

    def position(self, when: int | str | pd.Timestamp) -> int:
        """Position of a decision date (the last trading day at or before it) or an integer."""
        if isinstance(when, int | np.integer) and not isinstance(when, bool):
            t = int(when)
        else:
            try:
                stamp = pd.Timestamp(when)  # type: ignore[arg-type]
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"start must be an integer position or a date, "
                                  f"got {when!r}") from exc
            t = int(self.dates.searchsorted(stamp, side="right")) - 1
        if not self.market.first <= t <= self.market.last:
            raise ConfigError(f"start {when!r} is outside the usable positions "
                              f"{self.market.first}..{self.market.last} "
                              f"({self.dates[self.market.first].date()} to "
                              f"{self.dates[self.market.last].date()})")
        return t

    def initial_weights(self, weights: object | None) -> np.ndarray:
        """Starting holdings: all cash, or ``weights`` checked to be N + 1 on the simplex."""
        if weights is None:
            w = np.zeros(self.n_assets + 1)
            w[-1] = 1.0
            return w
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (self.n_assets + 1,) or not np.isfinite(w).all() or (w < 0).any() \
                or abs(w.sum() - 1.0) > 1e-6:
            raise ConfigError(f"weights must be {self.n_assets + 1} non-negative numbers "
                              "summing to 1 (cash last)")
        return w / w.sum()

    # -- gymnasium API ----------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        if options.get("start") is not None:
            start = self.position(options["start"])
        else:
            start = draw_start(self.np_random, self.market.first, self._latest_start)
        self._t = start
        self._stop = int(self.clock.advance(np.array([start]), self.config.episode_length)[0])
        self._weights[0] = self.initial_weights(options.get("weights"))
        self._value = 1.0
        self._rewards.reset(slice(None), self.dsr_prior[start])
        info = {"portfolio_value": 1.0, "gross_return": 0.0, "net_return": 0.0,
                "turnover": 0.0, "cost": 0.0, "weights": self._weights[0].copy(),
                "date": self._timestamps[start]}
        return observation(self.market.features, start, self._weights[0]), info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        t = self._t
        if t > self.market.last:
            raise RuntimeError("the data has run out: call reset() before stepping again")
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (self.n_assets + 1,):
            raise ValueError(f"action must have shape ({self.n_assets + 1},), got {a.shape}")
        target = self.config.execute(to_weights(a[None, :], self.action_mode), self._weights)
        end = int(self.clock.following[t])
        net, gross, turnover, cost, drifted = arithmetic_step(
            target, self._weights, growth=self.held_growth[t: t + 1], cost_rate=self._cost_rate)
        growth = np.log1p(net)
        reward, self._rewards = self.config.reward_of(growth, self._rewards)
        self._weights = drifted
        self._value *= 1.0 + float(net[0])
        self._t = t = end
        info = {"portfolio_value": self._value, "gross_return": float(gross[0]),
                "net_return": float(net[0]), "turnover": float(turnover[0]),
                "cost": float(cost[0]), "weights": drifted[0].copy(),
                "date": self._timestamps[t]}
        obs = observation(self.market.features, t, drifted[0])
        return obs, float(reward[0]), False, t >= self._stop, info
