"""``torch.compile`` on the CPU: a solo SAC update compiled against the same update eager.

Run: ``.venv/bin/python benchmarks/bench_compile.py [--quick]``.

The networks compiled as ``--compile`` compiles them
(:func:`maxent_portfolio.agents.sac.compile_networks`: actor, critic pair forward, target
critics, inductor's default mode), the update otherwise the same (Dirichlet sampling, Adam,
Polyak). Two sizes: the default ``shared`` network (per-token (32, 32), N = 20) and the ``mlp``
(256, 256). Compilation time is reported apart; the rates are CPU seconds of this process,
best of interleaved rounds, after warm-up. A ratio below 1 means compiling does not pay here,
which is why ``--compile`` is off by default.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
from bench_sac import BATCH, interleaved, ours  # noqa: E402

from maxent_portfolio.agents.sac import compile_networks  # noqa: E402

torch.set_num_threads(1)

#: (label, network, hidden)
SETTINGS = [("shared (32,32) default", "shared", None), ("mlp (256,256)", "mlp", (256, 256))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds: a smoke test")
    args = parser.parse_args()
    n, rounds = (3, 2) if args.quick else (15, 4)
    print(f"\n## torch.compile of the SAC update on the CPU (N=20, batch {BATCH}, 1 thread)")
    for label, network, hidden in SETTINGS:
        eager, eager_buf = ours(20, network, hidden=hidden)
        compiled, compiled_buf = ours(20, network, hidden=hidden)
        compiled.load_state_dict(eager.state_dict())
        compile_networks(compiled)
        start = time.perf_counter()
        compiled.update(compiled_buf.sample(BATCH))  # the first call compiles
        seconds = time.perf_counter() - start
        rates = interleaved(
            {"eager": lambda s=eager, b=eager_buf: s.update(b.sample(BATCH)),
             "compiled": lambda s=compiled, b=compiled_buf: s.update(b.sample(BATCH))},
            n=n, rounds=rounds)
        print(f"{label:24s} eager {rates['eager']:6.1f} upd/s  compiled {rates['compiled']:6.1f}"
              f" upd/s  (compiling took {seconds:.0f} s)  compiled over eager: "
              f"{rates['compiled'] / rates['eager']:.2f}x")


if __name__ == "__main__":
    main()
