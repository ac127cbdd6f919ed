"""SAC speed: gradient updates/s against stable-baselines3, the compute floor, cost vs N.

Run: ``.venv/bin/python benchmarks/bench_sac.py [--quick]`` (needs the ``bench`` extra for the
stable-baselines3 comparison: ``pip install stable-baselines3``; skipped if missing).

* **vs SB3** - SB3's ``SAC.train`` and our ``SAC.update`` on the same env (sp500-20 through
  ``PortfolioEnv``), same MLP sizes (256, 256), batch 256, one torch thread, buffers pre-filled
  with the same number of random transitions. Only the gradient updates are timed.
* **floor** - the bare forward + backward of the networks an update runs (actor on s and s',
  target critics on s', critics on (s, a) and, with frozen weights, on (s, pi(s)), through the
  same network calls as the update; one backward; no sampling, no optimiser, no Polyak) against
  a full update.
* **matmul floor** - only the matrix products an SAC update with these sizes has to run
  (actor on s and s', twin target critics, twin critics on (s, a) and on (s, pi) sharing the
  observation half of layer one, and the backward products), each timed alone as one plain
  ``torch.mm`` on preallocated operands. It is an estimate, not a proof: fusing products (both
  critics in one ``bmm``) or running them at the CPU's peak rate could shave it. SB3's time over
  this floor estimates the most any torch implementation of the update could beat SB3 by here.
* **scaling** - time per update and peak resident memory growth of a run of updates, for
  N = 10, 20, 50, 100, 500 synthetic assets (each N in a fresh subprocess for the memory).

Times are CPU seconds of this process (``time.process_time``), best of several interleaved
rounds: other processes on a shared machine disturb that less than wall time.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from torch.func import functional_call  # noqa: E402

from maxent_portfolio.agents import SAC, SACConfig  # noqa: E402
from maxent_portfolio.agents.buffer import ReplayBuffer  # noqa: E402

torch.set_num_threads(1)
BATCH = 256
FEATURES = 7


def _cpu_rate(fn: Callable[[], object], n: int) -> float:
    """Calls per CPU second of ``fn`` over ``n`` calls."""
    start = time.process_time()
    for _ in range(n):
        fn()
    return n / max(time.process_time() - start, 1e-9)


def interleaved(contenders: dict[str, Callable[[], object]], n: int, rounds: int
                ) -> dict[str, float]:
    """Best calls per CPU second of each contender over interleaved rounds (after warm-up)."""
    for fn in contenders.values():
        for _ in range(3):
            fn()
    best = dict.fromkeys(contenders, 0.0)
    for _ in range(rounds):
        for name, fn in contenders.items():
            best[name] = max(best[name], _cpu_rate(fn, n))
    return best


def _filled_buffer(sac: SAC, n: int, seed: int = 0) -> ReplayBuffer:
    g = torch.Generator().manual_seed(seed)
    buf = ReplayBuffer(n, sac.obs_dim, sac.k)
    obs = torch.randn(n, sac.obs_dim, generator=g)
    obs[:, -sac.k:] = 1.0 / sac.k
    actions = torch.distributions.Dirichlet(torch.ones(sac.k)).sample((n,))
    buf.add(obs, obs.roll(1, 0), actions, torch.randn(n, generator=g) * 0.01, torch.zeros(n))
    return buf


def ours(n_assets: int, network: str, policy: str = "dirichlet",
         hidden: tuple[int, ...] | None = None) -> tuple[SAC, ReplayBuffer]:
    config = SACConfig(network=network, policy=policy, hidden=hidden, batch_size=BATCH)
    sac = SAC(n_assets, FEATURES, config)
    return sac, _filled_buffer(sac, 5_000)


def bench_vs_sb3(quick: bool) -> None:
    from maxent_portfolio.envs import PortfolioEnv

    env = PortfolioEnv(universe="sp500-20", episode_length=252)
    n = env.n_assets
    try:
        from stable_baselines3 import SAC as SB3SAC
    except ImportError:
        SB3SAC = None
        print("stable-baselines3 not installed: `pip install stable-baselines3` for the "
              "comparison")
    print(f"\n## Gradient updates per CPU second (sp500-20: N={n}, batch {BATCH}, 1 thread)")
    for width in (256, 64):
        sac_mlp, buf_mlp = ours(n, "mlp", hidden=(width, width))
        contenders: dict[str, Callable[[], object]] = {
            f"ours mlp ({width},{width}) dirichlet":
                lambda s=sac_mlp, b=buf_mlp: s.update(b.sample(BATCH))}
        if width == 64:
            sac_shared, buf_shared = ours(n, "shared")
            contenders["ours shared (32,32) dirichlet"] = \
                lambda s=sac_shared, b=buf_shared: s.update(b.sample(BATCH))
        sb3_name = f"stable-baselines3 SAC mlp ({width},{width})"
        if SB3SAC is not None:
            model = SB3SAC("MlpPolicy", env, batch_size=BATCH, learning_starts=0, seed=0,
                           policy_kwargs={"net_arch": [width, width]}, device="cpu", verbose=0)
            model.learn(total_timesteps=600)  # fill its buffer with real transitions
            torch.set_num_threads(1)
            contenders[sb3_name] = lambda m=model: m.train(1, BATCH)
        shapes = update_matmuls(sac_mlp.obs_dim, sac_mlp.k, sac_mlp.head.n_params_per_component,
                                (width, width), BATCH)
        floor_name = f"matmul floor mlp ({width},{width})"
        contenders[floor_name] = matmul_floor(shapes)
        rates = interleaved(contenders, n=10 if quick else 30, rounds=3 if quick else 5)
        for name, rate in rates.items():
            print(f"{name:40s} {rate:8.1f} upd/s  {1e3 / rate:7.2f} ms")
        flops = sum(2 * m * k * n for m, k, n in shapes)
        print(f"  matmul floor: {len(shapes)} products, {flops / 1e6:.0f} MFLOP, "
              f"{flops * rates[floor_name] / 1e9:.0f} GFLOP/s")
        if sb3_name in rates:
            for name in rates:
                if name not in (sb3_name, floor_name):
                    print(f"  speed-up of {name} over SB3: {rates[name] / rates[sb3_name]:.2f}x")
            print(f"  ceiling: SB3 time / matmul floor = {rates[floor_name] / rates[sb3_name]:.2f}x"
                  " (about the most any implementation of this update could beat SB3 by here)")


def update_matmuls(obs_dim: int, k: int, n_params: int, hidden: tuple[int, int],
                   batch: int, members: int = 2) -> list[tuple[int, int, int]]:
    """``(m, k, n)`` of every matrix product one MLP SAC update must run, forward and backward.

    Actor: forward on s' (target) and on s; backward on s (weight gradients of its three layers,
    input gradients of layers two and three). Critics, per member: forward on (s', a') (target)
    and on (s, a); on (s, pi) only the action half of layer one (the observation half is
    shared with (s, a)); backward on (s, a) (weights of three layers, inputs of two) and through
    (s, pi) (inputs only, down to the action). The optimiser, sampling and every elementwise op
    come on top.
    """
    h1, h2 = hidden
    d, a, out = obs_dim, k, k * n_params
    actor_fwd = [(batch, d, h1), (batch, h1, h2), (batch, h2, out)]
    actor_bwd = [(d, batch, h1), (h1, batch, h2), (h2, batch, out),  # weight gradients
                 (batch, out, h2), (batch, h2, h1)]  # input gradients
    q_fwd = [(batch, d + a, h1), (batch, h1, h2), (batch, h2, 1)]
    q_pi_fwd = [(batch, a, h1), (batch, h1, h2), (batch, h2, 1)]
    q_bwd = [(d + a, batch, h1), (h1, batch, h2), (h2, batch, 1), (batch, 1, h2), (batch, h2, h1)]
    q_pi_bwd = [(batch, 1, h2), (batch, h2, h1), (batch, h1, a)]
    per_member = 2 * q_fwd + q_pi_fwd + q_bwd + q_pi_bwd
    return 2 * actor_fwd + actor_bwd + members * per_member


def matmul_floor(shapes: list[tuple[int, int, int]]) -> Callable[[], None]:
    """Runs exactly these products with ``torch.mm(..., out=)`` on preallocated operands."""
    g = torch.Generator().manual_seed(0)
    operands = [(torch.randn(m, k, generator=g), torch.randn(k, n, generator=g),
                 torch.empty(m, n)) for m, k, n in shapes]

    def run() -> None:
        for x, w, y in operands:
            torch.mm(x, w, out=y)

    return run


def _floor(sac: SAC, buf: ReplayBuffer) -> Callable[[], None]:
    """Forward + backward of the networks an update runs, without the rest."""
    batch = buf.sample(BATCH)

    def run() -> None:
        with torch.no_grad():
            sac.actor(batch.next_observations)
            sac.qf_target(batch.next_observations, batch.actions)
        x = sac.actor(batch.observations)
        a = torch.softmax(x[..., 0], -1)
        pair = getattr(sac.qf, "forward_pair", None)
        if pair is not None:  # as the update does: Q(s, a) and frozen Q(s, pi) in one pass
            q, q_pi = pair(batch.observations, batch.actions, a)
        else:
            q = sac.qf(batch.observations, batch.actions)
            frozen = {n: p.detach() for n, p in sac.qf.named_parameters()}
            q_pi = functional_call(sac.qf, frozen, (batch.observations, a))
        (q.mean() + q_pi.mean()).backward()
        sac.zero_grad(set_to_none=True)

    return run


def bench_floor(quick: bool) -> None:
    print("\n## Update time vs the compute floor (forward + backward only), N=20")
    for network, hidden in (("mlp", (256, 256)), ("shared", None)):
        sac, buf = ours(20, network, hidden=hidden)
        rates = interleaved({"update": lambda s=sac, b=buf: s.update(b.sample(BATCH)),
                             "floor": _floor(sac, buf)},
                            n=10 if quick else 30, rounds=3 if quick else 5)
        print(f"{network:7s} update {1e3 / rates['update']:7.2f} ms  floor "
              f"{1e3 / rates['floor']:7.2f} ms  floor/update = "
              f"{rates['update'] / rates['floor']:.0%}")


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss() -> int:
    """Reset the kernel's peak-RSS mark (Linux ``clear_refs`` 5); returns the current RSS in kB."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    return _status_kb("VmRSS")


def _peak_rss() -> int:
    """Peak RSS in kB since the last reset (``VmHWM``)."""
    return _status_kb("VmHWM")


def _one_scaling_point(n_assets: int, network: str, n_updates: int) -> dict[str, float]:
    """Runs in a subprocess: time per update and max-RSS growth over the run, for one N."""
    before = _reset_peak_rss()
    sac, buf = ours(n_assets, network, hidden=(256, 256) if network == "mlp" else None)
    for _ in range(2):
        sac.update(buf.sample(BATCH))
    start = time.process_time()
    for _ in range(n_updates):
        sac.update(buf.sample(BATCH))
    seconds = (time.process_time() - start) / n_updates
    after = _peak_rss()
    params = sum(p.numel() for p in sac.parameters())
    buffer_mb = sum(t.numel() * 4 for t in (buf.observations, buf.next_observations,
                                            buf.actions)) / 2**20
    return {"ms": seconds * 1e3, "peak_mb": (after - before) / 1024 - buffer_mb,
            "params": params, "buffer_mb": buffer_mb}


def bench_scaling(quick: bool) -> None:
    print(f"\n## Cost vs number of assets (batch {BATCH}, 1 thread; peak_mb = peak resident "
          "memory growth (Linux VmHWM after a reset) from building the agent through the "
          "updates, less the 5,000-transition replay buffer shown apart)")
    sizes = (10, 20, 50, 100, 500)
    rows = []
    for network in ("shared", "mlp"):
        for n in sizes:
            cmd = [sys.executable, __file__, "--point", str(n), network,
                   str(3 if quick else 10)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            rows.append({"network": network, "N": n, **json.loads(out.strip().splitlines()[-1])})
    table = pd.DataFrame(rows)
    table["ms/N"] = table["ms"] / table["N"]
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    for network in ("shared", "mlp"):
        part = table[table.network == network]
        slope = np.polyfit(np.log(part.N), np.log(part.ms), 1)[0]
        print(f"{network}: log-log slope of time per update vs N = {slope:.2f} "
              "(1 = linear)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (noisier)")
    parser.add_argument("--point", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=("sb3", "floor", "scaling"))
    args = parser.parse_args()
    if args.point:
        n, network, updates = args.point
        print(json.dumps(_one_scaling_point(int(n), network, int(updates))))
        return
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.only in (None, "sb3"):
        bench_vs_sb3(args.quick)
    if args.only in (None, "floor"):
        bench_floor(args.quick)
    if args.only in (None, "scaling"):
        bench_scaling(args.quick)


if __name__ == "__main__":
    main()
