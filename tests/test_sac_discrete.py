"""``sac-discrete``: discrete SAC over a menu of strategies, and ``menu-blend``.

The losses are checked by hand on a 3-action example; the menu env against the portfolio env
it wraps and against pandas; the agent on a synthetic market where one menu strategy dominates.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.optimize import brentq
from torch import nn

from maxent_portfolio.agents.agent import MenuAgent
from maxent_portfolio.agents.buffer import ReplayBufferSamples
from maxent_portfolio.agents.categorical import CategoricalPolicy, menu_target_entropy
from maxent_portfolio.agents.config import SACConfig
from maxent_portfolio.agents.discrete_sac import (
    DiscreteSAC,
    discrete_actor_loss,
    discrete_alpha_loss,
    discrete_soft_target,
    soft_state_value,
)
from maxent_portfolio.agents.training import train_menu
from maxent_portfolio.backtest.engine import BacktestResult, run_backtest
from maxent_portfolio.backtest.walkforward import WalkForward
from maxent_portfolio.envs.menu import paper_features, paper_returns
from maxent_portfolio.errors import ConfigError
from maxent_portfolio.strategies.base import CASH, Strategy
from maxent_portfolio.strategies.discrete import SACDiscreteStrategy
from maxent_portfolio.strategies.menu import MenuBlend
from maxent_portfolio.strategies.menuconfig import MenuConfig
from maxent_portfolio.strategies.registry import STRATEGIES, register

# --- the losses by hand -------------------------------------------------------------------------
# pi = (0.5, 0.3, 0.2), Q1 = (1.0, 2.0, 0.5), Q2 = (1.2, 1.5, 0.7): min Q = (1.0, 1.5, 0.5).
# alpha = 0.1; log pi = (-0.693147, -1.203973, -1.609438).
# min Q - alpha log pi = (1.0693147, 1.6203973, 0.6609438)
# V = 0.5 * 1.0693147 + 0.3 * 1.6203973 + 0.2 * 0.6609438 = 1.1529653
# y = r + gamma V = 0.3 + 0.9 * 1.1529653 = 1.3376688 (done = 0); y = 0.3 (done = 1)
# actor loss = sum pi (alpha log pi - min Q) = -V = -1.1529653
# sum pi log pi = -1.0296530; with H_target = 0.5 and log alpha = log 0.1 = -2.3025851:
# alpha loss = -log alpha (sum pi log pi + H_target) = 2.3025851 * (-0.5296530) = -1.2195716
PI = torch.tensor([[0.5, 0.3, 0.2]], dtype=torch.float64)
Q = torch.tensor([[[1.0, 2.0, 0.5]], [[1.2, 1.5, 0.7]]], dtype=torch.float64)  # (2, B, K)
V_HAND = 1.1529653


def _policy() -> CategoricalPolicy:
    return CategoricalPolicy.from_logits(PI.log())


def test_categorical_soft_value_and_bellman_target_by_hand() -> None:
    value = soft_state_value(_policy(), Q.min(0).values, 0.1)
    assert value.item() == pytest.approx(V_HAND, abs=1e-7)
    y = discrete_soft_target(torch.tensor([0.3, 0.3], dtype=torch.float64),
                             torch.tensor([0.0, 1.0], dtype=torch.float64), value.repeat(2), 0.9)
    np.testing.assert_allclose(y.numpy(), [1.3376688, 0.3], atol=1e-7)


def test_categorical_policy_and_temperature_losses_by_hand() -> None:
    policy = _policy()
    assert discrete_actor_loss(policy, Q.min(0).values, 0.1).item() == pytest.approx(
        -V_HAND, abs=1e-7)
    assert policy.entropy().item() == pytest.approx(1.0296530, abs=1e-7)
    log_alpha = torch.tensor(math.log(0.1), dtype=torch.float64, requires_grad=True)
    loss = discrete_alpha_loss(log_alpha, policy, 0.5)
    assert loss.item() == pytest.approx(-1.2195716, abs=1e-6)
    loss.backward()
    # The entropy (1.03) is above the target (0.5): descent lowers the temperature.
    assert log_alpha.grad is not None and log_alpha.grad.item() == pytest.approx(0.5296530,
                                                                                 abs=1e-6)


class _Fixed(nn.Module):
    """A network whose output is a constant (for the wiring of :meth:`DiscreteSAC.losses`)."""

    def __init__(self, value: torch.Tensor) -> None:
        super().__init__()
        self.value = value.float()
        self.scale = nn.Parameter(torch.ones(()))  # something for the optimiser to hold

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.value * self.scale


def test_discrete_sac_losses_use_the_taken_action_and_the_exact_expectations() -> None:
    config = SACConfig(alpha=0.1, gamma=0.9, reward_scale=1.0, hidden=(4,))
    sac = DiscreteSAC(obs_dim=2, k=3, config=config)
    sac.actor = _Fixed(PI.log()[0])
    sac.qf = _Fixed(Q)
    sac.qf_target = _Fixed(Q)
    batch = ReplayBufferSamples(observations=torch.zeros(1, 2),
                                actions=torch.tensor([[0.0, 1.0, 0.0]]),  # action 1
                                next_observations=torch.zeros(1, 2),
                                rewards=torch.tensor([0.3]), dones=torch.tensor([0.0]))
    out = sac.losses(batch)
    y = 0.3 + 0.9 * V_HAND
    # Q1(s, 1) = 2.0, Q2(s, 1) = 1.5
    assert out.qf_loss.item() == pytest.approx((2.0 - y) ** 2 + (1.5 - y) ** 2, rel=1e-5)
    assert out.actor_loss.item() == pytest.approx(-V_HAND, rel=1e-5)
    assert out.alpha_loss.item() == 0.0  # a fixed temperature


# --- the entropy target -------------------------------------------------------------------------

def _softmax_entropy(q: np.ndarray, alpha: float) -> float:
    z = q / alpha
    p = np.exp(z - z.max())
    p /= p.sum()
    return float(-(p * np.log(np.maximum(p, 1e-300))).sum())


@pytest.mark.parametrize("k", [2, 3, 6, 10])
def test_the_target_entropy_is_reachable_with_a_finite_temperature(k: int) -> None:
    dial = [0.05, 0.25, 0.5, 0.75, 1.0]
    targets = [menu_target_entropy(k, d) for d in dial]
    assert all(0 < h < math.log(k) for h in targets)
    assert targets == sorted(targets)  # monotone in the dial
    assert targets[-1] == pytest.approx(math.log((k + 1) / 2))  # (k + 1) / 2 strategies
    # The soft-greedy policy softmax(Q / alpha) of any non-constant Q spans the entropies
    # (0, log k) as alpha runs over (0, inf): a finite alpha meets every target.
    q = np.linspace(0.0, 1.0, k)
    for h in targets:
        alpha = brentq(lambda a, h=h: _softmax_entropy(q, a) - h, 1e-3, 1e3)
        assert np.isfinite(alpha) and _softmax_entropy(q, alpha) == pytest.approx(h, abs=1e-6)


def test_an_explicit_target_at_log_k_is_refused() -> None:
    with pytest.raises(ConfigError, match="unreachable"):
        DiscreteSAC(5, 3, SACConfig(target_entropy=math.log(3)))


# --- the menu env -------------------------------------------------------------------------------

def test_paper_features_match_pandas() -> None:
    rng = np.random.default_rng(3)
    returns = rng.normal(0.0005, 0.01, (40, 3))
    targets = rng.dirichlet(np.ones(4), (40, 2))  # (T, K, N + 1)
    paper = paper_returns(targets, returns)
    expected = [(targets[t - 1, :, :3] * returns[t]).sum(-1) for t in range(1, 40)]
    np.testing.assert_allclose(paper[1:], expected)
    features = paper_features(paper, 10, 252)
    logs = pd.DataFrame(np.log1p(paper))
    np.testing.assert_allclose(features[-1, :2], logs.iloc[-10:].mean() * 252)
    np.testing.assert_allclose(features[-1, 2:4], logs.iloc[-10:].std() * math.sqrt(252))
    wealth = np.vstack([np.zeros(2), logs.iloc[-10:].cumsum().to_numpy()])
    np.testing.assert_allclose(features[-1, 4:], wealth[-1] - wealth.max(0))
    assert np.isnan(features[9]).all() and np.isfinite(features[10]).all()


def test_the_menu_env_executes_a_choice_as_its_strategy_weights_in_the_portfolio_env() -> None:
    returns = _dominated_market(200)
    env = _small(episode_length=5).menu_env(returns, 3)
    twin = copy.deepcopy(env.inner)  # sac's env, stepped with the chosen weights directly
    obs, _ = env.reset(seed=4)
    twin.reset(seed=4)
    rng = np.random.default_rng(0)
    resets = 0
    for _ in range(12):  # through two autoresets
        t = twin.positions
        k = rng.integers(3, size=3)
        obs, reward, _, truncated, infos = env.step(k)
        _, expected, _, _, twin_infos = twin.step(env.targets[t, k])
        np.testing.assert_array_equal(reward, expected)
        w = twin_infos["weights"]
        distance = 0.5 * np.abs(w[:, None, :] - env.targets[twin.positions]).sum(-1)
        np.testing.assert_allclose(obs[:, -3:], distance, atol=1e-6)
        np.testing.assert_allclose(obs[:, :-3], env.table[twin.positions], atol=1e-5)
        if truncated.any():
            resets += 1
            ended = np.flatnonzero(truncated)
            last = env.inner.clock.following[t[ended]]
            final_w = twin_infos["final_info"]["weights"][ended]
            np.testing.assert_allclose(
                infos["final_obs"][ended, -3:],
                0.5 * np.abs(final_w[:, None, :] - env.targets[last]).sum(-1), atol=1e-6)
    assert resets == 2 and env.obs_dim == 4 * 3 + 3


# --- a market where one menu strategy dominates -------------------------------------------------

class _Tilt(Strategy):
    """Holds a fixed portfolio: 80% in one asset, the rest spread evenly."""

    asset = 0

    def allocate(self, history: pd.DataFrame, current: pd.Series) -> pd.Series:
        n = history.shape[1]
        w = np.full(n, 0.2 / (n - 1))
        w[self.asset] = 0.8
        return pd.Series(w, index=history.columns)


class _TiltWinner(_Tilt):
    name = "test-tilt-winner"
    description = "80% in the rising asset"
    asset = 0


class _TiltLoser(_Tilt):
    name = "test-tilt-loser"
    description = "80% in the falling asset"
    asset = 1


@pytest.fixture
def tilts() -> Iterator[list[str]]:
    """Two plug-in strategies on the registry for the test's duration."""
    for cls in (_TiltWinner, _TiltLoser):
        register(cls)
    yield [_TiltWinner.name, _TiltLoser.name, "equal-weight"]
    for cls in (_TiltWinner, _TiltLoser):
        STRATEGIES.pop(cls.name, None)


def _dominated_market(n: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    mu = np.array([0.002, -0.002, 0.0, 0.0])
    data = rng.normal(mu, 0.008, (n, 4))
    return pd.DataFrame(data, index=pd.bdate_range("2016-01-01", periods=n),
                        columns=["A", "B", "C", "D"])


FAST = {"device": "cpu", "lookback": 10, "episode_length": 50, "learning_starts": 10,
        "num_envs": 4, "batch_size": 64, "hidden": (32, 32)}
SPLITS = WalkForward(train=300, test=200)


def _backtest(strategy: Strategy, returns: pd.DataFrame) -> BacktestResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return run_backtest(returns, strategy, splits=SPLITS, rebalance="weekly", cost_bps=10.0)


def test_the_agent_backs_the_dominant_strategy_and_beats_the_even_blend(tilts: list[str]
                                                                         ) -> None:
    # Whole trades (trade rate 1, no band): an action's effect on its reward is undiluted.
    # Seeds 0-4 put 0.90-0.97 on the winner and beat the blend by 0.30-0.33 in log growth.
    returns = _dominated_market()
    agent = SACDiscreteStrategy(menu=tilts, train_steps=2000, seed=1, trade_rate=1.0,
                                no_trade_band=0.0, **FAST)
    result = _backtest(agent, returns)
    blend = _backtest(_blend(tilts), returns)
    winner = result.extras[f"menu:{tilts[0]}"]
    assert winner.mean() > 0.75, winner.describe()
    growth = np.log1p(result.returns).sum()
    assert growth > np.log1p(blend.returns).sum() + 0.1


def _blend(names: list[str]) -> MenuBlend:
    return MenuBlend(MenuConfig(menu=names))


def test_menu_blend_holds_the_even_mixture(tilts: list[str]) -> None:
    history = _dominated_market(30)
    weights = _blend(tilts).allocate(history, pd.Series(0.0, index=[*history.columns, CASH]))
    # (0.8, 0.2/3, 0.2/3, 0.2/3), (0.2/3, 0.8, ...), (0.25, ...) averaged
    a = (0.8 + 0.2 / 3 + 0.25) / 3
    c = (0.2 / 3 + 0.2 / 3 + 0.25) / 3
    np.testing.assert_allclose(weights.to_numpy(), [a, a, c, c, 0.0])


def test_a_higher_dial_gives_a_higher_mean_entropy(tilts: list[str]) -> None:
    returns = _dominated_market()
    entropies = []
    for dial in (0.1, 0.5, 1.0):
        # Faster learning rates and more updates per transition than the defaults, so that
        # the entropy meets its target within a budget this small.
        agent = SACDiscreteStrategy(menu=tilts, train_steps=1200, seed=2, diversification=dial,
                                    alpha=None, reference_cash=1.0,  # alpha tuned to the dial
                                    alpha_lr=0.01, policy_lr=3e-3, q_lr=3e-3, utd_ratio=1.0,
                                    **FAST)
        entropies.append(_backtest(agent, returns).extras["policy_entropy"].mean())
    assert entropies[0] < entropies[1] < entropies[2], entropies


def test_the_top_option_holds_the_most_probable_strategy(tilts: list[str]) -> None:
    returns = _dominated_market(200)
    agent = SACDiscreteStrategy(menu=tilts, menu_hold="top", train_steps=200, seed=0,
                                **{**FAST, "trade_rate": 1.0, "no_trade_band": 0.0})
    agent.fit(returns.iloc[:150])
    history = returns.iloc[:160]
    current = pd.Series(0.0, index=[*returns.columns, CASH])
    current[CASH] = 1.0
    probs, targets, _ = agent.probabilities(history, current)
    held = agent.allocate(history, current).to_numpy()
    np.testing.assert_allclose(held, targets[int(np.argmax(probs))])


def test_the_dashboard_shows_the_menu_probabilities_and_the_entropy() -> None:
    from maxent_portfolio.reporting import dashboard, series

    result = _backtest(_small(), _dominated_market(400))
    result.name = "sac-discrete"
    probs = series.menu_probabilities(result)
    assert probs is not None and list(probs.columns) == ["equal-weight", "min-variance", "eg"]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    assert len(probs) == len(result.extras["policy_entropy"]) > 0
    section = dashboard.menu_section([result], (result.returns.index[0],
                                                result.returns.index[-1]), [])
    assert section is not None and section.id == "menu"
    assert "<svg" in section.html and "min-variance" in section.html
    assert dashboard.menu_section([_backtest(_blend(["equal-weight", "eg"]),
                                             _dominated_market(400))], (
        result.returns.index[0], result.returns.index[-1]), []) is None


# --- determinism and resume ---------------------------------------------------------------------

def _small(seed: int = 5, **options: object) -> SACDiscreteStrategy:
    return SACDiscreteStrategy(menu=["equal-weight", "min-variance", "eg"], seed=seed,
                               **{"train_steps": 160, **FAST, **options})


def test_same_seed_same_decisions_other_seed_other_decisions() -> None:
    returns = _dominated_market(400)
    first, again = _backtest(_small(), returns), _backtest(_small(), returns)
    pd.testing.assert_frame_equal(first.targets, again.targets)
    other = _backtest(_small(seed=6), returns)
    assert not np.allclose(first.extras["policy_entropy"], other.extras["policy_entropy"])


def _same_networks(a: MenuAgent, b: MenuAgent) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.algorithm.state_dict().values(),
                                                 b.algorithm.state_dict().values(), strict=True))


def test_an_interrupted_then_resumed_run_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    returns = _dominated_market(200)
    strategy = _small(episode_length=10)
    config = strategy.sac_config(0).model_copy(update={"total_steps": 30, "log_every": 5})

    def env():  # type: ignore[no-untyped-def]
        return strategy.menu_env(returns, config.num_envs)

    full = train_menu(env(), config)
    path = tmp_path / "fold-0.pt"
    part = train_menu(env(), config, checkpoint_path=path, callback=lambda step, _: step == 17)
    assert part.interrupted and part.step == 17 and not _same_networks(full, part)
    resumed = train_menu(env(), config, checkpoint_path=path, resume=True)
    assert resumed.step == 30 and _same_networks(full, resumed)
    np.testing.assert_array_equal([r["episode_return"] for r in resumed.history],
                                  [r["episode_return"] for r in full.history])
    loaded = MenuAgent.load(path)
    assert _same_networks(loaded, resumed)


def test_a_fold_resumes_from_its_checkpoint_in_a_run_directory(tmp_path: Path) -> None:
    returns = _dominated_market(300)
    strategy = _small()
    strategy.checkpoint_dir = tmp_path
    strategy.fit(returns.iloc[:200])
    saved = MenuAgent.load(tmp_path / "fold-0.pt")
    again = _small()
    again.checkpoint_dir = tmp_path
    again.fit(returns.iloc[:200])  # the finished fold is loaded, not retrained
    assert again.agent_ is not None and _same_networks(saved, again.agent_)
    longer = _small(train_steps=320)
    longer.checkpoint_dir = tmp_path
    with pytest.raises(ConfigError, match="finished model of 160 steps"):
        longer.fit(returns.iloc[:200])


# --- refused input ------------------------------------------------------------------------------

@pytest.mark.parametrize(("menu", "message"), [
    (["equal-weight", "no-such-strategy"], "unknown strategy 'no-such-strategy'"),
    (["equal-weight", "sac"], "'sac' cannot be on the menu: it learns with a seed"),
    (["equal-weight", "bcrp"], "'bcrp' cannot be on the menu: it is a hindsight benchmark"),
    (["equal-weight", "equal-weight"], "menu: 'equal-weight' is given twice"),
    (["equal-weight"], "menu"),
    (["equal-weight", "menu-blend"], "'menu-blend' cannot be on its own menu"),
])
def test_a_bad_menu_is_one_clear_line(menu: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        SACDiscreteStrategy(menu=menu)
    assert "\n" not in str(info.value)


def test_best_validation_is_refused() -> None:
    with pytest.raises(ConfigError, match="model-selection"):
        SACDiscreteStrategy(model_selection="best-validation")


def test_the_menu_options_from_a_file_table_a_flat_key_and_a_flag(tmp_path: Path) -> None:
    from maxent_portfolio.config import resolve_config

    table = tmp_path / "table.toml"
    table.write_text('[menu]\nmenu = ["eg", "hrp"]\nmenu_hold = "top"\nmenu_refit_every = 21\n')
    flat = tmp_path / "flat.toml"
    flat.write_text('menu = "eg,hrp,momentum"\n')
    assert resolve_config(file=table).menu == MenuConfig(menu=["eg", "hrp"], menu_hold="top",
                                                         menu_refit_every=21)
    assert resolve_config(file=flat).menu.menu == ["eg", "hrp", "momentum"]
    assert resolve_config(overrides={"menu.menu": "eg, hrp"}).menu.menu == ["eg", "hrp"]
    assert resolve_config().menu.menu == ["equal-weight", "min-variance", "inverse-volatility",
                                          "momentum", "hrp", "eg"]


@pytest.mark.slow
def test_the_cli_runs_sac_discrete_with_a_plug_in_on_the_menu(tmp_path: Path) -> None:
    import subprocess
    import sys

    idx = pd.bdate_range("2012-01-02", periods=700)
    rng = np.random.default_rng(8)
    prices = pd.DataFrame(100 * np.cumprod(1 + rng.normal(3e-4, 0.01, (700, 3)), axis=0),
                          index=idx, columns=["X", "Y", "Z"])
    prices.index.name = "date"
    prices.to_csv(tmp_path / "mine.csv")
    (tmp_path / "tilt.py").write_text(
        "import pandas as pd\n"
        "from maxent_portfolio.strategies.base import Strategy\n\n"
        "class Tilt(Strategy):\n"
        "    name = 'tilt'\n"
        "    description = 'two thirds in the first asset'\n"
        "    def allocate(self, history, current):\n"
        "        w = pd.Series(1 / 3 / (history.shape[1] - 1), index=history.columns)\n"
        "        w.iloc[0] = 2 / 3\n"
        "        return w\n")
    out = tmp_path / "run"
    res = subprocess.run(
        [sys.executable, "-m", "maxent_portfolio", "backtest", "--universe", "mine.csv",
         "-s", "sac-discrete,menu-blend", "--menu", "equal-weight,tilt,eg", "--plugin",
         "tilt.py", "--train-years", "1", "--test-years", "1", "--train-steps", "64",
         "--seeds", "2", "--jobs", "1", "--lookback", "20", "--out", str(out), "--quiet"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    for name in ("sac-discrete-seed0", "sac-discrete-seed1", "sac-discrete", "menu-blend"):
        assert (out / "weights" / f"{name}.csv").is_file(), name
    learning = pd.read_csv(out / "learning.csv")
    assert set(learning["strategy"]) >= {"sac-discrete-seed0", "sac-discrete-seed1"}
    page = (out / "index.html").read_text(encoding="utf-8")
    assert 'id="menu"' in page and "tilt" in page
