"""Time per pass at large B against the machine's floor, worker memory, and 1 vs 2 workers.

In one run, on data persisted on a LocalCluster (worker processes x 1 thread):

- **floor**: one pass of hand-written numpy over every worker's own chunks at once, margins
  and logistic gradient computed block by block in 1 MB row blocks (each block read from memory
  once): the least a gradient pass can cost here;
- **dasksgd**: seconds per epoch of a full-batch fit (``batch_size=n``; one step per epoch, the
  epoch's objective computed in the same pass), the median over epochs 2..; and one gradient
  pass alone (the engine's ``step`` request over all rows, no objective, timed at the client);
- **memory**: each worker's peak resident set during a fit (its high-water mark reset just
  before, through ``/proc/self/clear_refs``; Linux only) against the bytes of the shards it
  holds: for the first fit on fresh workers and for a second fit;
- **scaling**: the same fit on a 1-worker cluster, seconds per epoch over the 2-worker time.

    python benchmarks/throughput.py [--n 2000000] [--d 100] [--dtype float64]

Prints a markdown table and writes it to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from common import local_client, write_table


def _floor_pass(*chunks):
    """One fused logistic-gradient pass over this worker's chunks (X, y pairs); its seconds."""
    xs, ys = chunks[: len(chunks) // 2], chunks[len(chunks) // 2 :]
    d = xs[0].shape[1]
    w = np.full(d, 0.01, dtype=xs[0].dtype)
    g = np.zeros(d)
    t0 = time.perf_counter()
    for X, y in zip(xs, ys):
        s = np.where(y == 1, 1.0, -1.0).astype(X.dtype)
        rows = max(1, (1 << 20) // X[:1].nbytes)
        for a in range(0, X.shape[0], rows):
            Xb = X[a : a + rows]
            u = s[a : a + rows] * (Xb @ w)
            g += Xb.T @ (-s[a : a + rows] / (1.0 + np.exp(u)))
    return time.perf_counter() - t0


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _rss():
    """(current, peak) resident set of this process in bytes, from /proc/self/status."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) * 1024
    return out["VmRSS"], out["VmHWM"]


def measure(
    n_workers: int,
    n: int,
    d: int,
    dtype: str,
    chunk_rows: int,
    epochs: int,
    classes: int = 2,
    floor: bool = True,
) -> dict:
    from distributed import futures_of, wait

    from dasksgd import SGDClassifier
    from dasksgd.datasets import make_classification

    with local_client(n_workers) as client:
        X, y = make_classification(
            n, d, n_classes=classes, chunks=chunk_rows, random_state=0, dtype=np.dtype(dtype)
        )
        X, y = client.persist([X, y])
        wait([X, y])
        out: dict = {}
        if n_workers > 1 and floor:
            # The floor: every worker passes over the chunks it holds, all at once.
            xf, yf = futures_of(X), futures_of(y)
            by_key = {f.key: f for f in yf}
            who = client.who_has(xf)
            per_worker: dict = {}
            for f in xf:
                yk = (y.name,) + tuple(f.key[1:2])
                per_worker.setdefault(who[f.key][0], []).append((f, by_key[yk]))
            times = []
            for _ in range(5):
                futs = [
                    client.submit(
                        _floor_pass,
                        *[p[0] for p in pairs],
                        *[p[1] for p in pairs],
                        workers=[w],
                        pure=False,
                        key=f"floor-pass-{w}-{time.perf_counter_ns()}",
                    )
                    for w, pairs in per_worker.items()
                ]
                times.append(max(client.gather(futs)))
            out["floor"] = float(np.median(times))  # the same statistic as for dasksgd
        out["rss"] = []
        for _ in range(2):  # the first fit on fresh workers, then a second one
            client.run(_reset_peak)
            before = client.run(_rss)
            est = SGDClassifier(
                alpha=1e-5, batch_size=n, max_iter=epochs, tol=None, random_state=0
            ).fit(X, y)
            after = client.run(_rss)
            out["rss"].append({w: (before[w][0], after[w][1]) for w in after})
        ends = est.history_.dropna(subset=["objective"])["time"].to_numpy()
        out["per_pass"] = float(np.median(np.diff(ends)[1:]))
        if n_workers > 1 and floor:
            from dasksgd.engine import ClusterBackend, TargetSpec
            from dasksgd.losses import get_loss

            backend = ClusterBackend(
                client, X, y, None, TargetSpec(np.array([0, 1])), get_loss("log_loss")
            )
            try:
                backend.call("set_scale", np.ones(d), np.zeros(d))
                W, b = np.full((d, 1), 0.01), np.zeros(1)
                times = []
                for _ in range(7):
                    t0 = time.perf_counter()
                    backend.call("step", W, b, 0, 0, n, n)
                    times.append(time.perf_counter() - t0)
                out["gradient_pass"] = float(np.median(times))
            finally:
                backend.close()
        item = np.dtype(dtype).itemsize
        out["shard_bytes"] = n * (d + 1) * item / n_workers  # X and y per worker (balanced)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000_000)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()

    two = measure(2, args.n, args.d, args.dtype, args.chunk_rows, args.epochs)
    one = measure(1, args.n, args.d, args.dtype, args.chunk_rows, args.epochs)
    # Scaling where the arithmetic dominates the memory traffic: 10 classes (10 margins per row).
    k = 10
    two_k = measure(
        2, args.n // 2, args.d, args.dtype, args.chunk_rows, args.epochs, classes=k, floor=False
    )
    one_k = measure(
        1, args.n // 2, args.d, args.dtype, args.chunk_rows, args.epochs, classes=k, floor=False
    )
    mb = 1 << 20
    lines = [
        f"Machine: {platform.machine()} {platform.processor() or ''} (2 cores), Python {platform.python_version()}; "
        f"LocalCluster of worker processes x 1 thread. Data: dasksgd.datasets.make_classification "
        f"n={args.n}, d={args.d}, {args.dtype}, chunks of {args.chunk_rows} rows; logistic loss, "
        f"batch_size=n, {args.epochs} epochs.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| floor: fused numpy pass, both workers at once (s) | {two['floor']:.3f} |",
        f"| dasksgd, 2 workers: s per full-batch epoch | {two['per_pass']:.3f} |",
        f"| dasksgd / floor | {two['per_pass'] / two['floor']:.2f} |",
        f"| dasksgd gradient pass alone (engine step over all rows, no objective) (s) | {two['gradient_pass']:.3f} |",
        f"| gradient pass / floor | {two['gradient_pass'] / two['floor']:.2f} |",
        f"| dasksgd, 1 worker: s per full-batch epoch | {one['per_pass']:.3f} |",
        f"| speed-up 1 -> 2 workers | {one['per_pass'] / two['per_pass']:.2f} |",
        f"| {k} classes, n/2 rows: s per full-batch epoch, 1 / 2 workers | {one_k['per_pass']:.3f} / {two_k['per_pass']:.3f} |",
        f"| {k} classes: speed-up 1 -> 2 workers | {one_k['per_pass'] / two_k['per_pass']:.2f} |",
    ]
    for which, rss in zip(("first fit", "second fit"), two["rss"]):
        for i, (_, (rss0, peak)) in enumerate(sorted(rss.items())):
            lines.append(
                f"| {which}, worker {i}: RSS before / peak during / shard bytes (MB) | "
                f"{rss0 / mb:.0f} / {peak / mb:.0f} / {two['shard_bytes'] / mb:.0f} "
                f"(peak {peak / two['shard_bytes']:.2f}x shards) |"
            )
    write_table(f"throughput_n{args.n}_d{args.d}_{args.dtype}", "\n".join(lines))


if __name__ == "__main__":
    main()
