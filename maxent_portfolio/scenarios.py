"""Scenario markets: plausible variations of a fold's test window for stress-testing strategies.

A scenario is the test window's returns (``T`` rows of dates by ``N`` assets of simple returns)
transformed by one or more *kinds*:

``identity``
    The window itself, in order. It is the stationary bootstrap's limit of one block covering
    the window, and cannot be combined with other kinds.
``bootstrap``
    A stationary block bootstrap (Politis & Romano, 1994) of the window's joint rows: whole rows
    are resampled, so the cross-section of a day is kept, in blocks of geometric length whose
    mean is chosen by Politis & White (2004) (see :func:`block_length`). Blocks wrap from the
    last row to the first, as :class:`arch.bootstrap.StationaryBootstrap` draws them.
``crash``
    A stress episode (returns given by the caller, by default :func:`worst_drawdown_window` of
    the data strictly before the test start) replaces as many rows of the path, from a random
    start at which it fits whole: the path keeps its length and dates.
``volatility``
    Each asset's log-returns are scaled about their mean by ``k``, so their standard deviation
    is multiplied by ``k`` exactly and simple returns stay above -1 (:func:`scale_volatility`).
``costs``
    Transaction costs multiplied by ``k``: a field of the :class:`Scenario`, which the engine
    applies; the returns are untouched.
``noise``
    What a strategy *sees* is the returns with Gaussian noise added, while it earns the true
    returns (:meth:`Scenario.inputs`): a field of the :class:`Scenario`, applied where the
    strategy is fed.

Composition: kinds combine in one fixed order, whatever order they are named in: bootstrap,
then crash, then volatility; costs and noise are fields carried alongside. The crash is spliced
after the bootstrap so the episode stays one intact run of days (a bootstrap would cut it into
blocks), and volatility scales last so ``volatility x k`` means the whole path, crash
included, is ``k`` times as volatile.

Every scenario draws from its own seed (:func:`scenario_seeds`), so scenario ``i`` is the same
whichever worker draws it and however many are drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from maxent_portfolio.errors import ConfigError, DataError

KINDS = ("identity", "bootstrap", "crash", "volatility", "costs", "noise")
ORDER = ("bootstrap", "crash", "volatility", "costs", "noise")  # the composition order


@dataclass(frozen=True, eq=False)
class Scenario:
    """One scenario market.

    Attributes
    ----------
    kind : tuple of str
        The kinds applied, in composition order (``("identity",)`` for the window itself).
    seed : int
        The seed every random draw of this scenario came from (the noise's included).
    returns : pandas.DataFrame
        The scenario's simple returns, on the window's own dates and assets.
    rows : numpy.ndarray
        For each scenario row, the window row it came from; -1 where the crash episode was
        spliced in.
    cost_multiplier : float
        Factor on the engine's transaction costs.
    noise_std : float
        Size of the noise on what strategies see, in units of each asset's volatility.
    """

    kind: tuple[str, ...]
    seed: int
    returns: pd.DataFrame
    rows: np.ndarray
    cost_multiplier: float = 1.0
    noise_std: float = 0.0

    def inputs(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(seen, true)`` returns of this scenario (:func:`noisy_inputs`).

        The noise draws from its own stream of the scenario's seed, apart from the stream the
        bootstrap and the crash drew from, so adding noise leaves the path unchanged.
        """
        return noisy_inputs(self.returns, self.noise_std, np.random.default_rng([self.seed, 1]))


def scenario_seeds(seed: int, n: int) -> list[int]:
    """Seeds of ``n`` scenarios drawn with ``seed``: independent streams from one SeedSequence."""
    if n <= 0:
        raise ConfigError(f"scenarios: the number of scenarios must be positive, got {n}")
    return [int(s >> 1) for s in np.random.SeedSequence([seed, 24]).generate_state(n)]


def block_length(returns: pd.DataFrame) -> float:
    """Mean block length of the window's stationary bootstrap, by Politis & White.

    One length must serve every asset, because whole rows are resampled. It is the
    Politis-White stationary length of the equal-weight portfolio's returns: the rows keep the
    cross-section, so what a block has to keep is the serial dependence of the market as a
    whole, which the equal-weight portfolio summarises; per-asset lengths of single stocks are
    noisy estimates on near-white series, and their median or mean drifts with the universe.
    The estimate is clamped to ``[1, T]``: below one row a block means nothing, and
    at ``T`` or more the bootstrap is the window itself.
    """
    from arch.bootstrap import optimal_block_length  # arch loads scipy: only when drawing

    portfolio = returns.mean(axis=1).to_numpy()
    try:
        estimate = float(optimal_block_length(portfolio)["stationary"].iloc[0])
    except ValueError:  # arch's estimator needs more autocorrelations than a few rows give
        raise DataError(f"the test window {returns.index[0]:%Y-%m-%d} to "
                        f"{returns.index[-1]:%Y-%m-%d} has {len(returns)} rows: too few to "
                        "choose a bootstrap block length (Politis-White); use longer test "
                        "windows") from None
    return float(np.clip(estimate, 1.0, len(returns)))


def bootstrap_rows(n_rows: int, mean_block: float, seed: int) -> np.ndarray:
    """Row index of one stationary-bootstrap path of ``n_rows`` rows (arch's sampler).

    A mean block of ``n_rows`` or more is one block, the window in order (arch would still draw
    a random start and wrap): the identity scenario.
    """
    from arch.bootstrap import StationaryBootstrap

    if mean_block >= n_rows:
        return np.arange(n_rows)
    # arch annotates the block size as int but uses only 1 / block_size: a mean may be fractional.
    sampler = StationaryBootstrap(mean_block, np.empty(n_rows),  # type: ignore[arg-type]
                                  seed=np.random.default_rng(seed))
    return np.asarray(sampler.update_indices(), dtype=np.int64)


def worst_drawdown_window(returns_before: pd.DataFrame, length: int) -> pd.DataFrame:
    """The ``length`` consecutive rows with the equal-weight portfolio's worst compound return.

    The equal-weight portfolio is rebalanced to 1/N every row, so its return is the row mean.
    The caller passes only data strictly before the fold's test start, so the episode is known
    at the time it is used.
    """
    if not 0 < length <= len(returns_before):
        raise ConfigError(f"crash: the episode of {length} rows falls outside the "
                          f"{len(returns_before)} rows of data before the test start")
    growth = np.log1p(returns_before.mean(axis=1).to_numpy())
    window_growth = np.convolve(growth, np.ones(length), mode="valid")
    start = int(np.argmin(window_growth))
    return returns_before.iloc[start:start + length]


def named_episode(returns: pd.DataFrame, start: str | pd.Timestamp,
                  end: str | pd.Timestamp) -> pd.DataFrame:
    """The rows of ``returns`` dated ``start`` to ``end`` (both included): a user's episode."""
    first, last = pd.Timestamp(start), pd.Timestamp(end)
    if first > last or first < returns.index[0] or last > returns.index[-1]:
        raise ConfigError(f"crash: the window {first.date()} to {last.date()} falls outside "
                          f"the data ({returns.index[0].date()} to {returns.index[-1].date()})")
    return returns.loc[first:last]


def splice(returns: pd.DataFrame, episode: pd.DataFrame, start: int) -> pd.DataFrame:
    """``returns`` with rows ``start`` to ``start + len(episode)`` replaced by the episode."""
    if list(episode.columns) != list(returns.columns):
        raise ConfigError("crash: the episode's assets differ from the window's")
    if not 0 <= start <= len(returns) - len(episode) or len(episode) == 0:
        raise ConfigError(f"crash: an episode of {len(episode)} rows at row {start} falls "
                          f"outside the window of {len(returns)} rows")
    values = returns.to_numpy(copy=True)
    values[start:start + len(episode)] = episode.to_numpy()
    return pd.DataFrame(values, index=returns.index, columns=returns.columns)


def scale_volatility(returns: pd.DataFrame, k: float) -> pd.DataFrame:
    """Returns whose log-returns are each asset's mean plus ``k`` times the deviation from it.

    Log space keeps every simple return above -1 for any ``k`` and multiplies the sample
    standard deviation of the log-returns by ``k`` exactly (of simple returns, nearly).
    """
    _positive("volatility", k)
    log_returns = np.log1p(returns)
    return np.expm1(log_returns.mean() + k * (log_returns - log_returns.mean()))


def noisy_inputs(returns: pd.DataFrame, noise_std: float,
                 rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(seen, true)``: the returns a strategy sees, with noise, and the ones it earns.

    The noise is Gaussian in log-returns, with each asset's standard deviation ``noise_std``
    times the sample standard deviation of its log-returns, so seen returns stay above -1. The
    true returns are returned as given, and so are the seen ones when ``noise_std`` is 0 (the
    log round trip is not exact to the last bit).
    """
    if noise_std < 0:
        raise ConfigError(f"noise: the noise size must be non-negative, got {noise_std}")
    if noise_std == 0:
        return returns, returns
    log_returns = np.log1p(returns)
    scale = noise_std * log_returns.std().to_numpy()
    seen = np.expm1(log_returns + rng.normal(size=returns.shape) * scale)
    return seen, returns


def draw(returns: pd.DataFrame, kinds: Sequence[str], seed: int, *,
         mean_block: float | None = None, episode: pd.DataFrame | None = None,
         volatility: float = 1.0, costs: float = 1.0, noise: float = 0.0) -> Scenario:
    """One scenario of the window ``returns``, composed in :data:`ORDER` (see the module).

    Parameters
    ----------
    kinds : sequence of str
        Names from :data:`KINDS`; a parameter below is used only when its kind is named.
    seed : int
        The scenario's seed (from :func:`scenario_seeds`).
    mean_block : float, optional
        The bootstrap's mean block length; :func:`block_length` of the window by default.
    episode : pandas.DataFrame, optional
        The crash's returns (:func:`worst_drawdown_window` or :func:`named_episode`).
    volatility, costs : float
        The ``k`` of ``volatility x k`` and ``costs x k``.
    noise : float
        The noise's size, in units of each asset's volatility.
    """
    kind = _kinds(kinds)
    rng = np.random.default_rng(seed)
    rows = np.arange(len(returns))
    if "bootstrap" in kind:
        length = block_length(returns) if mean_block is None else mean_block
        _positive("bootstrap block length", length)
        rows = bootstrap_rows(len(returns), length, int(rng.integers(2**31)))
    path = pd.DataFrame(returns.to_numpy()[rows], index=returns.index, columns=returns.columns)
    if "crash" in kind:
        if episode is None:
            raise ConfigError("crash: no episode given (worst_drawdown_window gives the default)")
        if not 0 < len(episode) <= len(returns):
            raise ConfigError(f"crash: the episode of {len(episode)} rows does not fit the "
                              f"window of {len(returns)} rows")
        start = int(rng.integers(len(returns) - len(episode) + 1))
        path = splice(path, episode, start)
        rows = rows.copy()
        rows[start:start + len(episode)] = -1
    if "volatility" in kind:
        path = scale_volatility(path, volatility)
    if "costs" in kind:
        _positive("costs", costs)
    if "noise" in kind and noise < 0:
        raise ConfigError(f"noise: the noise size must be non-negative, got {noise}")
    return Scenario(kind=kind, seed=seed, returns=path, rows=rows,
                    cost_multiplier=costs if "costs" in kind else 1.0,
                    noise_std=noise if "noise" in kind else 0.0)


def draw_many(returns: pd.DataFrame, kinds: Sequence[str], n: int, seed: int, *,
              mean_block: float | None = None, episode: pd.DataFrame | None = None,
              volatility: float = 1.0, costs: float = 1.0, noise: float = 0.0) -> list[Scenario]:
    """``n`` scenarios of the window, each from its own seed (:func:`scenario_seeds`).

    The keywords are :func:`draw`'s; the default block length is computed once for all.
    """
    seeds = scenario_seeds(seed, n)
    if "bootstrap" in _kinds(kinds) and mean_block is None:
        mean_block = block_length(returns)
    return [draw(returns, kinds, s, mean_block=mean_block, episode=episode,
                 volatility=volatility, costs=costs, noise=noise) for s in seeds]


def _kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """The named kinds in composition order; refuses unknown, empty or contradictory ones."""
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ConfigError(f"scenarios: unknown kind {unknown[0]!r}; choose from "
                          f"{', '.join(KINDS)}")
    if not kinds:
        raise ConfigError("scenarios: no kind named; use 'identity' for the window itself")
    if "identity" in kinds:
        if set(kinds) != {"identity"}:
            raise ConfigError("scenarios: 'identity' cannot be combined with other kinds")
        return ("identity",)
    return tuple(k for k in ORDER if k in kinds)


def _positive(name: str, k: float) -> None:
    if not (np.isfinite(k) and k > 0):
        raise ConfigError(f"{name}: the multiplier must be positive, got {k}")
