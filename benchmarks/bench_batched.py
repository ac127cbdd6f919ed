"""Batched seeds: K agents as one batched network against K solo runs, in updates per CPU second.

Run: ``.venv/bin/python benchmarks/bench_batched.py [--quick]``.

* **K = 8 vs solo** - one :meth:`BatchedSAC.update <maxent_portfolio.agents.batched_sac.BatchedSAC.
  update>` of 8 agents against one :meth:`SAC.update <maxent_portfolio.agents.sac.SAC.update>`,
  same network, batch and sizes, one torch thread, buffers pre-filled with random transitions.
  The ratio is aggregate agent-updates per second over solo updates per second: 4x means a seed
  costs a quarter of a solo run. Configurations: the defaults (``shared`` (32, 32) per token and
  ``mlp`` (256, 256), N = 20, batch 256) and small ones (N = 4, batch 64, hidden (32, 32)) where
  per-operation overhead, not arithmetic, sets the time.
* **K = 1 vs solo** - the batched path's overhead on one agent.
* **vmap vs baddbmm** - the same K = 8 update through ``torch.func.vmap`` over
  ``functional_call`` against the networks' own batched forwards (one ``baddbmm`` per layer).
* **K = 8 vs stable-baselines3** - aggregate agent-updates/s of 8 batched agents (our mlp
  (256, 256) and our default shared network) against SB3's SAC ``train`` step with an MLP
  (256, 256) on sp500-20 through ``PortfolioEnv``, batch 256, one thread (needs the ``bench``
  extra; skipped without stable-baselines3).
* **end to end** - 3 seeds trained as one batch (env steps, actions, updates, the one-step
  model: the defaults) against 3 solo runs one after the other, CPU seconds.
* **GPU** - with a CUDA device, the K = 8 vs solo comparison again on it, in synchronised wall
  time (skipped, and said so, without one).

Only the gradient updates are timed (sampling the minibatch included). Times are CPU seconds of
this process, best of interleaved rounds, as in ``bench_sac.py``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
from collections.abc import Callable  # noqa: E402

import torch  # noqa: E402
from bench_sac import interleaved  # noqa: E402

from maxent_portfolio.agents import SAC, SACConfig  # noqa: E402
from maxent_portfolio.agents.batched_sac import BatchedSAC  # noqa: E402
from maxent_portfolio.agents.buffer import BatchedReplayBuffer, ReplayBuffer  # noqa: E402

torch.set_num_threads(1)
FEATURES = 7
FILL = 5_000

#: (label, network, n_assets, batch, hidden)
SETTINGS = [("shared default", "shared", 20, 256, None),
            ("mlp default", "mlp", 20, 256, (256, 256)),
            ("shared small", "shared", 4, 64, (32, 32)),
            ("mlp small", "mlp", 4, 64, (32, 32))]


def _transitions(obs_dim: int, k: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    obs = torch.randn(FILL, obs_dim, generator=g)
    obs[:, -k:] = 1.0 / k
    actions = torch.distributions.Dirichlet(torch.ones(k)).sample((FILL,))
    return obs, obs.roll(1, 0), actions, torch.randn(FILL, generator=g) * 0.01, torch.zeros(FILL)


def solo(network: str, n_assets: int, batch: int, hidden: tuple[int, ...] | None
         ) -> Callable[[], object]:
    """One solo SAC update on a filled buffer."""
    # Replay SAC on a filled buffer: the update both paths share (batched training has no model).
    config = SACConfig(network=network, hidden=hidden, batch_size=batch, one_step_model=False)
    sac = SAC(n_assets, FEATURES, config)
    buf = ReplayBuffer(FILL, sac.obs_dim, sac.k)
    buf.add(*_transitions(sac.obs_dim, sac.k))
    return lambda: sac.update(buf.sample(batch))


def batched(k: int, network: str, n_assets: int, batch: int, hidden: tuple[int, ...] | None,
            use_vmap: bool = False) -> Callable[[], object]:
    """One batched update of ``k`` agents (seeds 0 .. k - 1) on filled buffers."""
    configs = [SACConfig(network=network, hidden=hidden, batch_size=batch, seed=s,
                         one_step_model=False)
               for s in range(k)]
    model = BatchedSAC(n_assets, FEATURES, configs, use_vmap=use_vmap)
    buf = BatchedReplayBuffer(k, FILL, model.obs_dim, model.k)
    buf.add(*(x.expand(k, *x.shape) for x in _transitions(model.obs_dim, model.k)))
    return lambda: model.update(buf.sample(batch, model.streams.draw))


def bench(quick: bool, k: int = 8) -> None:
    n, rounds = (3, 2) if quick else (10, 4)
    print(f"\n## Aggregate gradient updates per CPU second: {k} batched seeds vs one solo run "
          "(1 thread)")
    print(f"{'setting':16s} {'solo upd/s':>11s} {'K=1 upd/s':>10s} {f'K={k} agent-upd/s':>17s} "
          f"{'vmap agent-upd/s':>17s}  ratios")
    for label, network, n_assets, batch, hidden in SETTINGS:
        if quick and "default" in label and network == "shared":
            n_here = 2
        else:
            n_here = n
        rates = interleaved({
            "solo": solo(network, n_assets, batch, hidden),
            "one": batched(1, network, n_assets, batch, hidden),
            "batched": batched(k, network, n_assets, batch, hidden),
            "vmap": batched(k, network, n_assets, batch, hidden, use_vmap=True)},
            n=n_here, rounds=rounds)
        agent_rate, vmap_rate = rates["batched"] * k, rates["vmap"] * k
        print(f"{label:16s} {rates['solo']:11.1f} {rates['one']:10.1f} {agent_rate:17.1f} "
              f"{vmap_rate:17.1f}  K={k}/solo {agent_rate / rates['solo']:.2f}x  "
              f"K=1/solo {rates['one'] / rates['solo']:.2f}x  "
              f"baddbmm/vmap {agent_rate / vmap_rate:.2f}x")


def bench_vs_sb3(quick: bool, k: int = 8) -> None:
    """K batched agents' aggregate updates/s against stable-baselines3's SAC on sp500-20."""
    try:
        from stable_baselines3 import SAC as SB3SAC
    except ImportError:
        print("stable-baselines3 not installed: `pip install stable-baselines3` for the "
              "comparison")
        return
    from maxent_portfolio.envs import PortfolioEnv

    env = PortfolioEnv(universe="sp500-20", episode_length=252)
    n_assets, features, batch = env.n_assets, env.n_features, 256
    model = SB3SAC("MlpPolicy", env, batch_size=batch, learning_starts=0, seed=0,
                   policy_kwargs={"net_arch": [256, 256]}, device="cpu", verbose=0)
    model.learn(total_timesteps=600)  # fill its buffer with real transitions
    torch.set_num_threads(1)
    global FEATURES
    FEATURES = features
    rates = interleaved({
        "sb3": lambda: model.train(1, batch),
        "mlp": batched(k, "mlp", n_assets, batch, (256, 256)),
        "shared": batched(k, "shared", n_assets, batch, None)},
        n=2 if quick else 6, rounds=2 if quick else 4)
    print(f"\n## {k} batched agents against stable-baselines3 SAC (sp500-20: N={n_assets}, "
          f"batch {batch}, 1 thread)")
    print(f"stable-baselines3 SAC mlp (256,256): {rates['sb3']:7.1f} upd/s")
    for name, label in (("mlp", "mlp (256,256)"), ("shared", "shared (32,32)")):
        agent_rate = rates[name] * k
        print(f"ours K={k} batched {label}: {agent_rate:7.1f} agent-upd/s  "
              f"aggregate over SB3: {agent_rate / rates['sb3']:.2f}x")


def bench_end_to_end(quick: bool, k: int = 3) -> None:
    """Training ``k`` seeds end to end (env steps, actions, updates, the one-step model) as
    one batch against ``k`` solo runs one after the other, in CPU seconds."""
    import time

    from maxent_portfolio.agents import train
    from maxent_portfolio.agents.training import train_batched
    from maxent_portfolio.data import load_universe
    from maxent_portfolio.envs import PortfolioVectorEnv

    market = load_universe("sp500-20", start="2000-01-01", end="2009-12-31")
    options = {"lookback": 60, "episode_length": 252, "trade_rate": 0.25,
               "no_trade_band": 0.05, "cost_bps": 10}
    steps = 150 if quick else 600

    def configs() -> list[SACConfig]:
        return [SACConfig(total_steps=steps, seed=s) for s in range(k)]

    start = time.process_time()
    for config in configs():
        train(PortfolioVectorEnv(num_envs=config.num_envs, universe=market, **options), config,
              progress=False)
    solo_seconds = time.process_time() - start
    start = time.process_time()
    train_batched(PortfolioVectorEnv(num_envs=4 * k, universe=market, **options), configs(),
                  progress=False)
    batched_seconds = time.process_time() - start
    print(f"\n## Training {k} seeds end to end (sp500-20, {steps} vector steps of 4 episodes, "
          "the defaults, 1 thread)")
    print(f"one after the other {solo_seconds:6.1f} CPU s  batched {batched_seconds:6.1f} CPU s"
          f"  batched over sequential: {solo_seconds / batched_seconds:.2f}x")


def bench_gpu(quick: bool, k: int = 8) -> None:
    """The same K vs solo comparison on the GPU, in wall time (synchronised), if there is one."""
    if not torch.cuda.is_available():
        print("\nno CUDA device: GPU figures skipped")
        return
    import time

    device = torch.device("cuda")

    def rate(fn: Callable[[], object], n: int) -> float:
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(n):
            fn()
        torch.cuda.synchronize()
        return n / (time.perf_counter() - start)

    print(f"\n## On {torch.cuda.get_device_name(device)}: {k} batched seeds vs one solo run "
          "(wall time)")
    for label, network, n_assets, batch, hidden in SETTINGS:
        config = SACConfig(network=network, hidden=hidden, batch_size=batch, device="cuda")
        sac = SAC(n_assets, FEATURES, config).to(device)
        buf = ReplayBuffer(FILL, sac.obs_dim, sac.k, device)
        buf.add(*(x.to(device) for x in _transitions(sac.obs_dim, sac.k)))
        configs = [config.model_copy(update={"seed": s}) for s in range(k)]
        model = BatchedSAC(n_assets, FEATURES, configs, device)
        bbuf = BatchedReplayBuffer(k, FILL, model.obs_dim, model.k, device)
        bbuf.add(*(x.to(device).expand(k, *x.shape)
                   for x in _transitions(model.obs_dim, model.k)))
        n = 10 if quick else 50
        solo_rate = rate(lambda s=sac, b=buf, size=batch: s.update(b.sample(size)), n)
        agent_rate = k * rate(
            lambda m=model, b=bbuf, size=batch: m.update(b.sample(size, m.streams.draw)), n)
        print(f"{label:16s} solo {solo_rate:8.1f} upd/s  K={k} {agent_rate:8.1f} agent-upd/s  "
              f"K={k}/solo {agent_rate / solo_rate:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds: a smoke test")
    args = parser.parse_args()
    bench(args.quick)
    bench_vs_sb3(args.quick)
    bench_end_to_end(args.quick)
    bench_gpu(args.quick)


if __name__ == "__main__":
    main()
