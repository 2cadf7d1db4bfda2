"""One worker's gradient pass, cache-blocked against whole-array products, on one core.

Times ``ShardSet.step`` over all rows of a 1M x 100 float64 logistic shard (the per-worker
share of the 2M x 100 benchmark), with the blocked kernel (``BLOCK_BYTES`` rows at a time, each
block read from memory once) and with blocking disabled (two products over the whole array),
plus a step that also evaluates a probe model and the loss-only objective pass. Best of 5.
Then the cost of a row in mini-batch steps (B = 1k, 10k, 100k rows of a shuffled epoch, through
a whole epoch) against a row of the full pass: with the shard's groups computed where they lie
(the default), and with every batch gathered into the work buffer (``--gathered``: 256 KB
groups, no run computed in place, the layout before 2026-11-26).

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
    parser.add_argument(
        "--gathered",
        action="store_true",
        help="256 KB groups, every batch gathered into the work buffer",
    )
    args = parser.parse_args()

    import threadpoolctl

    from dasksgd import statistics
    from dasksgd.engine import shards
    from dasksgd.engine.shards import ShardSet, TargetSpec, prepare_shard
    from dasksgd.losses import get_loss

    threadpoolctl.threadpool_limits(1)  # one worker = one core
    if args.gathered:
        shards.GROUP_BYTES, shards.IN_PLACE_BYTES = 256 << 10, 1 << 62
    rng = np.random.default_rng(0)
    n, d = args.n, args.d
    X = rng.standard_normal((n, d))
    y = (rng.random(n) < 0.5).astype(int)
    ss = ShardSet(
        [prepare_shard(0, X, y, None, TargetSpec(classes=np.array([0, 1])))], get_loss("log_loss")
    )
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
    per_row = {}
    for B in (1_000, 10_000, 100_000):

        def epoch(B=B):
            for start in range(0, n, B):
                ss.step(W, b, 1, start, min(start + B, n), n)

        per_row[B] = best(epoch, repeat=3) / n * 1e6
    layout = "gathered, 256 KB groups" if args.gathered else "in place, 1 MB groups"
    write_table(
        f"kernel_n{n}_d{d}" + ("_gathered" if args.gathered else ""),
        "\n".join(
            [
                f"Machine: {platform.machine()} {platform.processor() or ''}, Python {platform.python_version()}, one BLAS thread. "
                f"{n} x {d} float64 rows, logistic loss; best of 5.",
                "",
                "| pass | s |",
                "|---|---:|",
                f"| gradient step, whole-array products | {whole:.3f} |",
                f"| gradient step, {default >> 20} MB blocks | {blocked:.3f} |",
                f"| gradient step + probe model, blocks | {probe:.3f} |",
                f"| objective only (loss pass), blocks | {objective:.3f} |",
                "",
                f"Mini-batch steps ({layout}; group of {ss.shards[0].block} rows): us per row, a whole "
                f"epoch; the full pass above is {blocked / n * 1e6:.3f} us per row.",
                "",
                "| B | us / row |",
                "|---:|---:|",
                *[f"| {B} | {v:.3f} |" for B, v in per_row.items()],
            ]
        ),
    )


if __name__ == "__main__":
    main()
