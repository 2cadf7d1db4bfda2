"""Where one fit's time goes on a 2-worker LocalCluster: preparation, steps, objective passes.

Generates a problem on the workers (``dasksgd.datasets``), persists it, fits once to warm up,
then fits with ``batch_size="auto"`` while timing every request the cluster backend serves
(``ClusterBackend._load`` and ``ClusterBackend.call``, wrapped here): loading and validating the
shards, the column sums, the row norms in the preconditioner's coordinates (``set_scale``), the
smoothness estimate (``gram``), every step, every objective pass. Prints a markdown table.

    python benchmarks/fit_phases.py [--problem binary|regression] [--n 2000000] [--d 100] [--chunks 250000]

With ``--chunks 25000`` (the datasets' default: 40 shards per worker) the steps show the fixed
cost of every shard on a worker.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from common import local_client, write_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", choices=["binary", "regression"], default="regression")
    parser.add_argument("--n", type=int, default=2_000_000)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=250_000)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()

    from distributed import wait

    from dasksgd import SGDClassifier, SGDRegressor
    from dasksgd.datasets import make_classification, make_regression
    from dasksgd.engine import cluster

    make, Est = (
        (make_regression, SGDRegressor)
        if args.problem == "regression"
        else (make_classification, SGDClassifier)
    )
    log: list[tuple[str, float, float]] = []
    call, load = cluster.ClusterBackend.call, cluster.ClusterBackend._load

    def timed_call(self, op, *a):
        t0 = time.perf_counter()
        out = call(self, op, *a)
        log.append((op, t0, time.perf_counter() - t0))
        return out

    def timed_load(self, *a):
        t0 = time.perf_counter()
        out = load(self, *a)
        log.append(("load", t0, time.perf_counter() - t0))
        return out

    with local_client() as client:
        X, y = make(args.n, args.d, chunks=args.chunks, random_state=0)
        X, y = client.persist([X, y])
        wait([X, y])
        Est(alpha=1e-5, max_iter=1, tol=None, random_state=0).fit(X, y)  # warm up
        cluster.ClusterBackend.call, cluster.ClusterBackend._load = timed_call, timed_load
        try:
            t0 = time.perf_counter()
            est = Est(alpha=1e-5, max_iter=args.epochs, tol=None, random_state=0).fit(X, y)
            total = time.perf_counter() - t0
        finally:
            cluster.ClusterBackend.call, cluster.ClusterBackend._load = call, load
    steps = [dt for op, _, dt in log if op == "step"]
    first_step = min(t for op, t, _ in log if op == "step") - t0
    rows = [f"| {op} | {t - t0:.3f} | {dt * 1e3:.1f} |" for op, t, dt in log if op != "step"]
    ends = est.history_.dropna(subset=["objective"])
    write_table(
        f"fit_phases_{args.problem}_n{args.n}_d{args.d}_chunks{args.chunks}",
        "\n".join(
            [
                f"Machine: {platform.machine()} {platform.processor() or ''}, Python {platform.python_version()}; "
                "LocalCluster of 2 worker processes x 1 thread.",
                f"Problem ({args.problem}): dasksgd.datasets n={args.n}, d={args.d}, chunks of {args.chunks} rows "
                f"({-(-args.n // args.chunks)} shards); batch_size='auto', alpha=1e-5, {args.epochs} epochs: fit {total:.2f} s.",
                "",
                "| request (not steps) | starts at s | took ms |",
                "|---|---:|---:|",
                *rows,
                "",
                f"First step at {first_step:.3f} s; {len(steps)} steps, {sum(steps):.2f} s in all, median "
                f"{np.median(steps) * 1e3:.1f} ms, fastest {min(steps) * 1e3:.1f} ms.",
                "",
                "| epoch | ends at s | batch size | objective |",
                "|---:|---:|---:|---:|",
                *[
                    f"| {e + 1} | {t:.3f} | {B} | {o:.8f} |"
                    for e, t, B, o in zip(
                        ends["epoch"], ends["time"], ends["batch_size"], ends["objective"]
                    )
                ],
            ]
        ),
    )


if __name__ == "__main__":
    main()
