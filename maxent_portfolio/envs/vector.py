"""`PortfolioVectorEnv`: B independent portfolio episodes stepped in one array operation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from maxent_portfolio.arithmetic import compact_rate, partial_rebalance
from maxent_portfolio.arithmetic import step as arithmetic_step
from maxent_portfolio.data.market import MarketData
from maxent_portfolio.envs.features import DEFAULT_FEATURES, observation_batch
from maxent_portfolio.envs.portfolio import PortfolioEnv, draw_start, to_weights
from maxent_portfolio.envs.rewards import RewardState, compute_reward
from maxent_portfolio.errors import ConfigError

if TYPE_CHECKING:
    from maxent_portfolio.rebalance import Schedule

_INFO_KEYS = ("portfolio_value", "gross_return", "net_return", "turnover", "cost", "weights",
              "date")


class PortfolioVectorEnv(VectorEnv):
    """``num_envs`` independent :class:`PortfolioEnv` episodes on one market, batched.

    Every sub-environment follows exactly the dynamics, rewards, spaces and options of
    :class:`~maxent_portfolio.envs.portfolio.PortfolioEnv` (see its docstring); sub-environment
    ``i`` behaves like a ``PortfolioEnv`` reset with ``seed + i``, so this vector env produces the
    same numbers as ``gymnasium.vector.SyncVectorEnv`` of ``num_envs`` single envs in
    ``SAME_STEP`` autoreset mode, without a Python loop over the environments in ``step``
    (the few episodes that end in a step are reset with one random draw each).

    ## Spaces

    ``single_observation_space`` / ``single_action_space`` are the single env's;
    ``observation_space`` is ``(num_envs, obs_dim)`` and ``action_space`` ``(num_envs, N + 1)``.

    ## Autoreset (``metadata["autoreset_mode"] = AutoresetMode.SAME_STEP``)

    When episode ``i`` ends (``truncated[i]``; ``terminated`` is always False), ``step`` already
    returns the first observation of its next episode (random start from sub-environment
    ``i``'s generator, all cash) and the reset info in ``infos`` row ``i``. The step's own
    results are then in:

    - ``infos["final_obs"]``: a dense float32 array ``(num_envs, obs_dim)``. Rows of episodes
      that ended hold their last observation; the other rows equal the returned observation,
      so ``infos["final_obs"]`` is the true next observation of every environment for
      bootstrapping. ``infos["_final_obs"]`` is the bool mask of ended episodes (read-only,
      one array shared by every mask of the step).
    - ``infos["final_info"]``: a dict of the step's info arrays (the keys below, with masks
      ``_key``), and ``infos["_final_info"]`` the same mask.

    Both keys appear only in steps where some episode ended.

    ## Info

    Arrays over the environments: ``portfolio_value``, ``gross_return``, ``net_return``,
    ``turnover``, ``cost`` of shape ``(num_envs,)``, ``weights`` ``(num_envs, N + 1)`` (drifted,
    after the step) and ``date`` (``datetime64[ns]``). ``portfolio_value`` and ``weights`` are the
    env's own state arrays until the next step (no copy per step): read them, copy them to keep
    them, but do not write into them. Later steps and resets never change them.

    ## Reset options

    ``seed``: an int (sub-env ``i`` gets ``seed + i``) or a list of ``num_envs`` seeds; the
    constructor's ``seed`` is used on the first reset when none is given. ``options``:
    ``"start"`` (one position/date for all, or one per env), ``"weights"`` (``(N + 1,)`` or
    ``(num_envs, N + 1)``) and ``"reset_mask"`` (bool ``(num_envs,)``: reset only those; the
    other rows of the returned observation and info carry on their episode, with zero flows).

    ## Arguments

    ``num_envs`` and ``seed``, then the keyword arguments of :class:`PortfolioEnv`, among them
    ``decision_period`` and ``features``. The episodes of a batch may hold intervals of
    different lengths; the growth over the interval decided at each position is precomputed
    once (:func:`~maxent_portfolio.envs.decisions.interval_growth`), so a step costs the same
    whatever the period.
    """

    metadata: dict[str, Any] = {  # noqa: RUF012 - gymnasium convention
        "autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, num_envs: int = 1,
                 universe: str | Path | MarketData | pd.DataFrame = "sp500-20",
                 start: str | pd.Timestamp | None = None, end: str | pd.Timestamp | None = None,
                 cost_bps: float = 10.0, lookback: int = 60, reward: str = "log",
                 episode_length: int | None = 252, action_mode: str = "simplex",
                 cash_return: float | pd.Series = 0.0, risk_aversion: float = 1.0,
                 eta: float = 0.01, seed: int | None = None,
                 decision_period: str | int | Schedule = "daily", trade_rate: float = 1.0,
                 no_trade_band: float = 0.0, features: str = DEFAULT_FEATURES) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) \
                or num_envs < 1:
            raise ConfigError(f"num_envs must be a positive integer, got {num_envs!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)
                                 or seed < 0):
            raise ConfigError(f"seed must be a non-negative integer or None, got {seed!r}")
        self.env = PortfolioEnv(universe, start, end, cost_bps, lookback, reward,
                                episode_length, action_mode, cash_return, risk_aversion, eta,
                                decision_period, trade_rate, no_trade_band, features)
        """A template single env: validation, spaces, ``observation_at`` and ``position``."""
        env = self.env
        self.num_envs = int(num_envs)
        self.market = env.market
        self.n_assets, self.n_features, self.obs_dim = env.n_assets, env.n_features, env.obs_dim
        self.assets = env.assets
        self.single_observation_space = env.observation_space
        self.single_action_space = env.action_space
        self.observation_space = batch_space(env.observation_space, self.num_envs)
        self.action_space = batch_space(env.action_space, self.num_envs)
        self._seed = None if seed is None else int(seed)
        self._rngs: list[np.random.Generator] = []
        self._dates = self.market.dates.to_numpy()
        b, m = self.num_envs, self.n_assets + 1
        self._t = np.full(b, self.market.first, dtype=np.int64)
        self._stop = self._t.copy()
        self._weights = np.zeros((b, m))
        self._weights[:, -1] = 1.0
        self._value = np.ones(b)
        self._rewards = RewardState.empty(b)
        self._features = self.market.features
        self.clock, self.decision_period = env.clock, env.decision_period
        self._following = self.clock.following
        self._held_growth = env.held_growth  # row t: what weights set at t earn
        self._cost_rate = compact_rate(self.market.cost_rate)
        self._mode, self._reward = env.action_mode, env.reward_kind
        self._lambda, self._eta = env.risk_aversion, env.eta

    @property
    def positions(self) -> np.ndarray:
        """The date position of every episode's current state (a copy), shape (num_envs,):
        what the one-step model (:mod:`maxent_portfolio.agents.model`) needs of a state
        besides its observation."""
        return self._t.copy()

    def observation_at(self, t: int, weights: np.ndarray) -> np.ndarray:
        """See :meth:`PortfolioEnv.observation_at`."""
        return self.env.observation_at(t, weights)

    # -- checkpointing ----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The episodes in progress, as plain Python numbers and lists (safe for
        ``torch.save``/``torch.load(weights_only=True)`` and JSON): positions, episode ends,
        holdings, values, reward moments and every sub-environment's generator state: all the
        mutable state a step reads, so :func:`maxent_portfolio.agents.train` checkpoints the env
        through it and a resumed run is bit-identical. The decision dates are not state: they
        follow from the constructor's ``decision_period`` (positions are always decisions)."""
        if not self._rngs:
            raise RuntimeError("call reset() before state_dict()")
        return {"num_envs": self.num_envs, "t": self._t.tolist(), "stop": self._stop.tolist(),
                "weights": self._weights.tolist(), "value": self._value.tolist(),
                "reward_mean": self._rewards.mean.tolist(),
                "reward_second": self._rewards.second.tolist(),
                "rngs": [rng.bit_generator.state for rng in self._rngs]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the episodes saved by :meth:`state_dict` (on an env built the same way)."""
        if state.get("num_envs") != self.num_envs:
            raise ConfigError(f"saved state is for {state.get('num_envs')} environments, "
                              f"this one has {self.num_envs}")
        self._t = np.array(state["t"], dtype=np.int64)
        self._stop = np.array(state["stop"], dtype=np.int64)
        self._weights = np.array(state["weights"], dtype=np.float64)
        self._value = np.array(state["value"], dtype=np.float64)
        self._rewards = RewardState(np.array(state["reward_mean"], dtype=np.float64),
                                    np.array(state["reward_second"], dtype=np.float64))
        rngs = []
        for saved in state["rngs"]:
            rng = seeding.np_random(0)[0]
            rng.bit_generator.state = saved
            rngs.append(rng)
        self._rngs = rngs

    # -- resets -----------------------------------------------------------------------------

    def _seed_generators(self, seed: int | Sequence[int] | None) -> None:
        if seed is None and self._rngs:
            return
        if seed is None and self._seed is not None:
            seed = self._seed
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, int | np.integer):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = [int(s) for s in seed]
            if len(seeds) != self.num_envs:
                raise ConfigError(f"need {self.num_envs} seeds, got {len(seeds)}")
        self._rngs = [seeding.np_random(s)[0] for s in seeds]

    def _reset_envs(self, idx: np.ndarray, starts: np.ndarray | None,
                    weights: np.ndarray | None) -> None:
        """Start new episodes in environments ``idx`` (random starts unless ``starts``)."""
        if starts is None:
            first, latest = self.market.first, self.env._latest_start
            starts = np.array([draw_start(self._rngs[i], first, latest) for i in idx],
                              dtype=np.int64)
        # Copy on write: the previous step's ``infos`` share these arrays.
        self._weights, self._value = self._weights.copy(), self._value.copy()
        self._t[idx] = starts
        self._stop[idx] = self.clock.advance(starts, self.env.episode_length)
        if weights is None:
            self._weights[idx] = 0.0
            self._weights[idx, -1] = 1.0
        else:
            self._weights[idx] = weights
        self._value[idx] = 1.0
        self._rewards.reset(idx, self.env.dsr_prior[starts])

    def _option_starts(self, value: object, idx: np.ndarray) -> np.ndarray | None:
        if value is None:
            return None
        if isinstance(value, list | tuple | np.ndarray | pd.Index | pd.Series):
            values = list(value)
            if len(values) != self.num_envs:
                raise ConfigError(f"options['start'] needs one start or {self.num_envs}")
            return np.array([self.env.position(values[i]) for i in idx], dtype=np.int64)
        return np.full(len(idx), self.env.position(value), dtype=np.int64)  # type: ignore[arg-type]

    def _option_weights(self, value: object, idx: np.ndarray) -> np.ndarray | None:
        if value is None:
            return None
        w = np.asarray(value, dtype=np.float64)
        if w.ndim == 2:
            if len(w) != self.num_envs:
                raise ConfigError(f"options['weights'] needs shape ({self.num_envs}, "
                                  f"{self.n_assets + 1})")
            return np.stack([self.env.initial_weights(w[i]) for i in idx])
        return np.broadcast_to(self.env.initial_weights(w), (len(idx), w.shape[-1]))

    def reset(self, *, seed: int | Sequence[int] | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed if isinstance(seed, int | np.integer) else None)
        self._seed_generators(seed)
        options = options or {}
        mask = options.get("reset_mask")
        if mask is None:
            idx = np.arange(self.num_envs)
        else:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != (self.num_envs,):
                raise ConfigError(f"options['reset_mask'] must have shape ({self.num_envs},)")
            idx = np.flatnonzero(mask)
        self._reset_envs(idx, self._option_starts(options.get("start"), idx),
                         self._option_weights(options.get("weights"), idx))
        obs = observation_batch(self.market.features, self._t, self._weights)
        zeros = np.zeros(self.num_envs)
        info = {"portfolio_value": self._value.copy(), "gross_return": zeros,
                "net_return": zeros.copy(), "turnover": zeros.copy(), "cost": zeros.copy(),
                "weights": self._weights.copy(), "date": self._dates[self._t]}
        return obs, info

    # -- step -------------------------------------------------------------------------------

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                 dict[str, Any]]:
        if not self._rngs:
            raise RuntimeError("call reset() before step()")
        a = np.asarray(actions)
        if a.shape != (self.num_envs, self.n_assets + 1):
            raise ValueError(f"actions must have shape ({self.num_envs}, {self.n_assets + 1}), "
                             f"got {a.shape}")
        target = partial_rebalance(to_weights(a, self._mode), self._weights,
                                   self.env.trade_rate, self.env.no_trade_band)
        t = self._t
        end = np.take(self._following, t)
        net, gross, turnover, cost, drifted = arithmetic_step(
            target, self._weights, growth=np.take(self._held_growth, t, axis=0),
            cost_rate=self._cost_rate)
        reward, self._rewards = compute_reward(self._reward, np.log1p(net), self._rewards,
                                               self._lambda, self._eta)
        # New arrays every step, handed to ``infos`` without copies: only resets write into
        # the state in place, and ``_reset_envs`` copies before it writes.
        self._value = value = self._value * (1.0 + net)
        self._weights = drifted
        self._t = t = end
        truncated = t >= self._stop
        obs = observation_batch(self._features, t, drifted)
        infos: dict[str, Any] = {
            "portfolio_value": value, "gross_return": gross, "net_return": net,
            "turnover": turnover, "cost": cost, "weights": drifted, "date": self._dates[t]}
        if truncated.any():
            idx = np.flatnonzero(truncated)
            mask = truncated.copy()
            mask.flags.writeable = False  # shared by every ``_key`` mask below
            final_info: dict[str, Any] = {}
            for key in _INFO_KEYS:
                final_info[key] = infos[key].copy()
                final_info[f"_{key}"] = mask
            final_obs = obs.copy()
            self._reset_envs(idx, None, None)
            obs[idx] = observation_batch(self._features, t[idx], self._weights[idx])
            infos["portfolio_value"][idx] = 1.0
            for key in ("gross_return", "net_return", "turnover", "cost"):
                infos[key][idx] = 0.0
            infos["weights"][idx] = self._weights[idx]
            infos["date"][idx] = self._dates[t[idx]]
            infos["final_obs"], infos["_final_obs"] = final_obs, mask
            infos["final_info"], infos["_final_info"] = final_info, mask
        return obs, reward, np.zeros(self.num_envs, dtype=bool), truncated, infos
