"""The ``sac`` strategy: a Soft Actor-Critic agent on the simplex, refit per walk-forward fold.

``fit`` trains on the fold's training window only: the first ``1 - validation_fraction`` of it
feeds the batched environment, the last part is the validation slice evaluated during training
(never test data). ``allocate`` rebuilds the environment's observation at the decision date
from the trailing ``lookback`` returns and the drifted weights, and returns the policy's
deterministic action (the Dirichlet mean, or the softmax of the logistic-normal mean).

Not registered here: the integrator calls ``register(SACStrategy)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from maxent_portfolio.agents.sac import Agent, SACConfig, resolve_device, train
from maxent_portfolio.errors import ConfigError, DataError
from maxent_portfolio.strategies.base import CASH, Strategy


def fold_seed(seed: int, fold: int) -> int:
    """The training seed of walk-forward fold ``fold`` for an agent seeded ``seed``.

    Fold 0 uses ``seed`` itself (so ``train --seed s`` is a backtest's first fold); later folds
    draw from ``SeedSequence([seed, fold])``, so the agents of a multi-seed run never share a
    seed (``seed + fold`` would give agent 0's fold 1 the seed of agent 1's fold 0). Within a
    fold, the batched env's episodes get their own seeds too (``agents.sac.env_seeds``).
    """
    if fold == 0:
        return seed
    return int(np.random.SeedSequence([seed, fold]).generate_state(1)[0] >> 1)  # 31 bits


class SACStrategy(Strategy):
    """Soft Actor-Critic with a Dirichlet or logistic-normal policy over assets plus cash.

    Parameters
    ----------
    train_steps : int
        Environment transitions per fold, summed over the ``num_envs`` batched episodes.
    seed : int
        Seeds the whole training run (fold ``i`` uses ``fold_seed(seed, i)``).
    alpha : float or None
        Fixed temperature; None tunes it towards the ``diversification`` target.
    diversification : float
        Entropy target as a fraction in (0, 1], see
        :func:`maxent_portfolio.agents.distributions.target_entropy`.
    policy : {"dirichlet", "logistic-normal"}
    network : {"shared", "mlp"}
    device : {"auto", "cpu", "cuda"}
        ``auto`` (the default) uses CUDA when available.
    warm_start : bool
        Start each fold's training from the previous fold's networks.
    cost_bps : float
        Proportional cost of the training env, in basis points.
    lookback : int
        Feature window of the env and of ``allocate``'s observation.
    num_envs, episode_length : int
        Batched episodes and their length in the training env.
    validation_fraction : float
        Last fraction of each training window kept for validation (0 disables it).
    config : dict, optional
        Any other :class:`SACConfig` field (``gamma``, ``batch_size``, ``hidden``, ...).

    Attributes
    ----------
    entropy_, effective_n_ : list of float
        Policy entropy and effective number of holdings ``1 / sum w^2`` of every decision.
    decision_dates_ : list of pd.Timestamp
    agent_ : Agent or None
        The agent of the latest fold; ``agent_.history`` holds its validation records.
    validation_window_ : tuple of pd.Timestamp or None
        First and last date whose returns the latest fold's validation episode earns.
    checkpoint_dir : Path or None
        When set (by the runner), fold ``i`` checkpoints to ``checkpoint_dir/fold-i.pt``.
    progress_callback : callable or None
        ``progress_callback(n_transitions, status)`` while training (replaces the progress bar).
    """

    name = "sac"
    description = "Soft Actor-Critic on the simplex (max-entropy RL), refit each fold"

    def __init__(self, train_steps: int = 20_000, seed: int = 0, alpha: float | None = None,
                 diversification: float = 0.5, policy: str = "dirichlet",
                 network: str = "shared", device: str = "auto", warm_start: bool = True,
                 cost_bps: float = 10.0, lookback: int = 60, num_envs: int = 4,
                 episode_length: int = 252, validation_fraction: float = 0.2,
                 config: dict[str, object] | None = None) -> None:
        self.train_steps = train_steps
        self.seed = seed
        self.alpha = alpha
        self.diversification = diversification
        self.policy = policy
        self.network = network
        self.device = device
        self.warm_start = warm_start
        self.cost_bps = cost_bps
        self.lookback = lookback
        self.num_envs = num_envs
        self.episode_length = episode_length
        self.validation_fraction = validation_fraction
        self.config = dict(config or {})
        self.checkpoint_dir: Path | None = None
        self.progress_callback: Callable[[int, str], None] | None = None
        self.reset()

    def sac_config(self, fold: int = 0) -> SACConfig:
        """The :class:`SACConfig` of fold ``fold``, validated."""
        if not isinstance(self.train_steps, int) or self.train_steps < 1:
            raise ConfigError(f"train_steps must be a positive integer, got {self.train_steps}")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ConfigError("validation_fraction must be in [0, 1), got "
                              f"{self.validation_fraction}")
        fields = {"total_steps": math.ceil(self.train_steps / self.num_envs),
                  "num_envs": self.num_envs, "seed": fold_seed(self.seed, fold),
                  "alpha": self.alpha,
                  "diversification": self.diversification, "policy": self.policy,
                  "network": self.network, "device": resolve_device(self.device),
                  **self.config}
        config = SACConfig.from_dict(fields)
        config.validate()
        return config

    def reset(self) -> None:
        """Before a new backtest: forget the agent, the fold count and the recorded decisions."""
        self.agent_: Agent | None = None
        self._fold = 0
        self.entropy_: list[float] = []
        self.effective_n_: list[float] = []
        self.decision_dates_: list[pd.Timestamp] = []

    def _split(self, returns: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """Training part and validation part (with ``lookback`` rows of warm-up history)."""
        n_val = int(len(returns) * self.validation_fraction)
        if n_val < 2:
            return returns, None
        cut = len(returns) - n_val
        train_part = returns.iloc[:cut]
        val_part = returns.iloc[max(cut - self.lookback, 0):]
        return train_part, val_part

    def fit(self, returns: pd.DataFrame) -> SACStrategy:
        """Train a fresh (or warm-started) agent on this training window.

        With ``checkpoint_dir`` set, training checkpoints to ``fold-i.pt`` (resumable); once the
        fold is trained the file is replaced by the model alone (networks and config, no
        replay buffer), which is what a run directory keeps.
        """
        path = None if self.checkpoint_dir is None else \
            Path(self.checkpoint_dir) / f"fold-{self._fold}.pt"
        self.train_window(returns, checkpoint_path=path,
                          resume=path is not None and path.exists())
        if path is not None and self.agent_ is not None:
            self.agent_.save(path)
        self._fold += 1
        return self

    def train_window(self, returns: pd.DataFrame, *, checkpoint_path: Path | None = None,
                     resume: bool = False, progress: bool = False) -> Agent:
        """Train on ``returns`` (its last ``validation_fraction`` held out for evaluation).

        Parameters
        ----------
        returns : pd.DataFrame of shape (n_observations, n_assets)
        checkpoint_path : Path, optional
            Resumable training checkpoint (written on Ctrl-C/SIGTERM and at the end).
        resume : bool
            Continue from ``checkpoint_path``.
        progress : bool
            Show the trainer's own progress bar (the CLI's ``train`` command).
        """
        from maxent_portfolio.envs import PortfolioEnv, PortfolioVectorEnv

        config = self.sac_config(self._fold)
        train_part, val_part = self._split(returns)
        min_rows = self.lookback + 2
        if len(train_part) < min_rows:
            raise DataError(f"SAC needs at least {min_rows} training returns, got "
                            f"{len(train_part)}")
        episode = min(self.episode_length, len(train_part) - self.lookback)
        env = PortfolioVectorEnv(num_envs=config.num_envs, universe=train_part,
                                 cost_bps=self.cost_bps, lookback=self.lookback,
                                 episode_length=episode, seed=config.seed)
        eval_env = None
        self.validation_window_: tuple[pd.Timestamp, pd.Timestamp] | None = None
        if val_part is not None and len(val_part) >= min_rows:
            self.validation_window_ = (val_part.index[self.lookback], val_part.index[-1])
            eval_env = PortfolioEnv(val_part, cost_bps=self.cost_bps, lookback=self.lookback,
                                    episode_length=None)
            if not config.eval_every:
                config.eval_every = max(config.total_steps // 5, 1)
        init = self.agent_ if self.warm_start and self.agent_ is not None else None
        if init is not None and (init.sac.n_assets, init.config.policy, init.config.network) \
                != (env.n_assets, config.policy, config.network):
            init = None
        callback = None
        if self.progress_callback is not None:
            report, last = self.progress_callback, [0]

            def callback(step: int, agent: Agent) -> bool:
                if step % config.log_every == 0 or step == config.total_steps:
                    report((step - last[0]) * config.num_envs,
                           f"fold {self._fold + 1} step {step * config.num_envs}")
                    last[0] = step
                return False

        self.agent_ = train(env, config, progress=progress, checkpoint_path=checkpoint_path,
                            resume=resume, eval_env=eval_env, init_from=init, callback=callback,
                            reraise_signal=True)
        self._assets = [str(c) for c in returns.columns]
        self._periods_per_year = env.market.periods_per_year
        return self.agent_

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        """Deterministic action at the last date of ``history`` given drifted ``current``."""
        from maxent_portfolio.envs import latest_observation

        if self.agent_ is None:
            raise ConfigError("the sac strategy must be fit before it can allocate")
        weights = current.reindex([*self._assets, CASH], fill_value=0.0).to_numpy(dtype=float)
        obs = latest_observation(history.to_numpy(dtype=float), weights, self.lookback,
                                 self._periods_per_year)
        w = self.agent_.act(obs, deterministic=True)
        entropy, neff = self.agent_.policy_stats(obs)
        self.entropy_.append(float(entropy[0]))
        self.effective_n_.append(float(neff[0]))
        self.decision_dates_.append(pd.Timestamp(history.index[-1]))
        return pd.Series(w, index=[*self._assets, CASH])

    def extras(self) -> dict[str, pd.Series]:
        """Per-decision policy entropy and effective N, for ``BacktestResult.extras``."""
        index = pd.DatetimeIndex(self.decision_dates_)
        return {"policy_entropy": pd.Series(self.entropy_, index=index, name="policy_entropy"),
                "effective_n": pd.Series(self.effective_n_, index=index, name="effective_n")}

    def __getstate__(self) -> dict[str, object]:
        return {k: v for k, v in vars(self).items() if k != "progress_callback"}

    def __setstate__(self, state: dict[str, object]) -> None:
        vars(self).update(state)
        self.progress_callback = None
