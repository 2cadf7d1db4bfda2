"""One worker's gradient pass, cache-blocked against whole-array products, on one core.

Times ``ShardSet.step`` over all rows of a 1M x 100 float64 logistic shard (the per-worker
share of the 2M x 100 benchmark), with the blocked kernel (``BLOCK_BYTES`` rows at a time, each
block read from memory once) and with blocking disabled (two products over the whole array),
plus a step that also evaluates a probe model and the loss-only objective pass. Best of 5.

    python benchmarks/kernel.py [--n 1000000] [--d 100]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from common import write_table


def best(fn, repeat=5):
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=100)
    args = parser.parse_args()

    import threadpoolctl

    from dasksgd import statistics
    from dasksgd.engine.shards import ShardSet, TargetSpec, prepare_shard
    from dasksgd.losses import get_loss

    threadpoolctl.threadpool_limits(1)  # one worker = one core
    rng = np.random.default_rng(0)
    n, d = args.n, args.d
    X = rng.standard_normal((n, d))
    y = (rng.random(n) < 0.5).astype(int)
    ss = ShardSet([prepare_shard(0, X, y, None, TargetSpec(classes=np.array([0, 1])))], get_loss("log_loss"))
    ss.set_scale(np.ones(d), np.zeros(d))
    W, b = rng.standard_normal((d, 1)) * 0.01, np.zeros(1)
    blocked = best(lambda: ss.step(W, b, 0, 0, n, n))
    probe = best(lambda: ss.step(W, b, 0, 0, n, n, (1.1 * W, b)))
    objective = best(lambda: ss.objective(W, b))
    default = statistics.BLOCK_BYTES
    statistics.BLOCK_BYTES = 1 << 62  # no blocking: whole-array products
    try:
        whole = best(lambda: ss.step(W, b, 0, 0, n, n))
    finally:
        statistics.BLOCK_BYTES = default
    write_table(f"kernel_n{n}_d{d}", "\n".join([
        f"Machine: {platform.machine()} {platform.processor() or ''}, Python {platform.python_version()}, one BLAS thread. "
        f"{n} x {d} float64 rows, logistic loss; best of 5.",
        "",
        "| pass | s |",
        "|---|---:|",
        f"| gradient step, whole-array products | {whole:.3f} |",
        f"| gradient step, {default >> 20} MB blocks | {blocked:.3f} |",
        f"| gradient step + probe model, blocks | {probe:.3f} |",
        f"| objective only (loss pass), blocks | {objective:.3f} |",
    ]))


if __name__ == "__main__":
    main()
