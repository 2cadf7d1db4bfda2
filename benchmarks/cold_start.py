"""The first fit on fresh workers against the same fit once they are warm, and where it differs.

Each round starts a new 2-worker ``LocalCluster`` (new worker processes), generates and
persists a problem there (``dasksgd.datasets``), then times:

- the worker processes' imports of what a fit runs there (``dasksgd``'s shard code and what
  it imports), in a task of their own, and each worker's resident memory before and after;
- the first fit, then the same fit again (the workers are warm; the client process is warm from
  the second round on, and its first round is shown apart).

    python benchmarks/cold_start.py [--n 1000000] [--d 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

from common import local_client, write_table


def worker_imports() -> dict:
    """On a worker: the seconds to import a fit's worker-side modules, and the memory."""
    import os
    import sys

    import psutil

    rss = psutil.Process(os.getpid()).memory_info().rss
    before = set(sys.modules)
    t0 = time.perf_counter()
    import dasksgd.engine.cluster  # noqa: F401  (what the shards' tasks and actors unpickle)
    import dasksgd.engine.shards  # noqa: F401

    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "modules": len(set(sys.modules) - before),
        "rss_mb": rss / 2**20,
        "rss_after_mb": psutil.Process(os.getpid()).memory_info().rss / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=125_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from distributed import wait

    from dasksgd import SGDClassifier
    from dasksgd.datasets import make_classification

    rows = []
    for r in range(args.rounds):
        for imports_first in (False, True):
            with local_client() as client:
                X, y = make_classification(args.n, args.d, chunks=args.chunks, random_state=0)
                X, y = client.persist([X, y])
                wait([X, y])
                imports = float("nan")
                if imports_first:
                    out = client.run(worker_imports)
                    imports = max(v["seconds"] for v in out.values())
                    mods = max(v["modules"] for v in out.values())
                    rss = max(v["rss_after_mb"] - v["rss_mb"] for v in out.values())
                times = []
                for _ in range(2):
                    t0 = time.perf_counter()
                    SGDClassifier(alpha=1e-5, random_state=0).fit(X, y)
                    times.append(time.perf_counter() - t0)
            rows.append((r, imports_first, imports, times[0], times[1]))
            extra = f"{imports:.2f} s ({mods} modules, +{rss:.0f} MB)" if imports_first else "-"
            print(
                f"round {r}: imports first {imports_first}: {extra}; fits "
                f"{times[0]:.2f} s, {times[1]:.2f} s",
                flush=True,
            )

    def med(sel, i):
        values = [row[i] for row in rows if sel(row)]
        return statistics.median(values) if values else float("nan")

    later = [row for row in rows if row[0] > 0]
    table = [
        f"Cold start: make_classification n={args.n:,}, d={args.d}, chunks of {args.chunks:,}, "
        f"logistic, alpha=1e-5, defaults; 2-worker LocalCluster (new worker processes each "
        f"round), {platform.machine()}, Python {platform.python_version()}; {args.rounds} rounds.",
        "",
        "| round | workers' imports first | imports s | first fit s | second fit s |",
        "|---:|---|---:|---:|---:|",
        *[
            f"| {r} | {'yes' if imp else 'no'} | {t:.2f} | {a:.2f} | {b:.2f} |"
            for r, imp, t, a, b in rows
        ],
        "",
        "Median of the rounds after the first (the client process warm): first fit "
        f"{med(lambda x: x in later and not x[1], 3):.2f} s on fresh workers, second "
        f"{med(lambda x: x in later and not x[1], 4):.2f} s; with the workers' imports done "
        f"first ({med(lambda x: x in later and x[1], 2):.2f} s), the first fit "
        f"{med(lambda x: x in later and x[1], 3):.2f} s.",
    ]
    write_table("cold_start", "\n".join(table))


if __name__ == "__main__":
    main()
