"""Per-step overhead of the engine on a 2-worker LocalCluster, arithmetic made negligible.

For 2, 8 and 32 shards of 64 rows x 4 features (so the gradient itself costs microseconds),
times one synchronous step (model out through the reduction tree, statistics back) of
dasksgd's actor engine, and for comparison the same step done the plain Dask way: one task per
shard per step through the scheduler, summed by a pairwise tree of tasks.

    python benchmarks/step_overhead.py [--steps 300]

Prints a markdown table of the median and 90th-percentile milliseconds per step, and the
round trip of a trivial call to both workers' actors, relayed by the scheduler (how an actor
call from a default client travels) and sent directly (how the engine's requests travel: the
floor of its step). Last, the cost of encoding one step's request (the model of 4 coefficients
and the window) with Dask's serializer, element by element as an actor call sends its
arguments, against one pickle (how the engine sends it).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import time

import numpy as np
from common import local_client


def _stats_task(X, y, w):
    z = X @ w
    return X.T @ (-y / (1.0 + np.exp(y * z)))


def _add(a, b):
    return a + b


class _Echo:
    """A trivial actor: the floor of any actor-based step (one round trip, nothing computed)."""

    async def echo(self, x):
        return x


def _time(fn, steps: int) -> tuple[float, float]:
    for _ in range(10):  # warm up connections and caches
        fn()
    t = np.empty(steps)
    for i in range(steps):
        t0 = time.perf_counter()
        fn()
        t[i] = time.perf_counter() - t0
    return float(np.median(t) * 1e3), float(np.percentile(t, 90) * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()

    import dask.array as da
    from distributed.protocol import dumps, to_serialize

    from dasksgd.engine import ClusterBackend, TargetSpec
    from dasksgd.engine.transport import execute as _execute
    from dasksgd.engine.transport import pack as _pack
    from dasksgd.losses import get_loss

    rows, d = 64, 4
    out = []
    with local_client() as client:
        workers = sorted(client.scheduler_info()["workers"])
        echoes = [client.submit(_Echo, actor=True, workers=[w]).result() for w in workers]
        payload = np.zeros(5)
        relayed = _time(lambda: [f.result() for f in [a.echo(payload) for a in echoes]], args.steps)

        async def direct_echo():
            return await asyncio.gather(
                *[_execute(client.rpc(w), a.key, "echo", payload) for w, a in zip(workers, echoes)]
            )

        direct = _time(lambda: client.sync(direct_echo), args.steps)
        for shards in (2, 8, 32):
            n = rows * shards
            rng = np.random.default_rng(0)
            X = rng.standard_normal((n, d))
            y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
            Xd = da.from_array(X, chunks=(rows, d))
            yd = da.from_array(y, chunks=rows)
            backend = ClusterBackend(
                client,
                Xd,
                yd,
                None,
                TargetSpec(np.array([-1.0, 1.0])),
                get_loss("log_loss"),
                seed=0,
            )
            W, b = np.zeros((d, 1)), np.zeros(1)
            pos = [0]

            def engine_step():
                start = pos[0] % n
                backend.call("step", W, b, 0, start, min(start + 16 * shards, n), n)
                pos[0] += 16 * shards

            eng = _time(engine_step, args.steps)
            backend.close()

            # The plain way: tasks per shard per step, reduced by a tree of tasks.
            xs = client.scatter([X[i : i + rows] for i in range(0, n, rows)])
            ys = client.scatter([y[i : i + rows] for i in range(0, n, rows)])
            w = np.zeros(d)

            def task_step():
                parts = [
                    client.submit(_stats_task, xi, yi, w, pure=False) for xi, yi in zip(xs, ys)
                ]
                while len(parts) > 1:
                    parts = [
                        client.submit(_add, parts[i], parts[i + 1], pure=False)
                        if i + 1 < len(parts)
                        else parts[i]
                        for i in range(0, len(parts), 2)
                    ]
                parts[0].result()

            tasks = _time(task_step, max(30, args.steps // 5))
            client.cancel(xs + ys)  # release the scattered shards
            out.append((shards, eng, tasks))

    print(
        f"Machine: {platform.machine()}, {platform.processor() or 'unknown cpu'}, "
        f"Python {platform.python_version()}; 2 worker processes x 1 thread on 127.0.0.1"
    )
    print()
    print(
        "| shards | dasksgd engine: median ms/step | p90 | task per shard + task tree: median ms/step | p90 |"
    )
    print("|---:|---:|---:|---:|---:|")
    for shards, eng, tasks in out:
        print(f"| {shards} | {eng[0]:.2f} | {eng[1]:.2f} | {tasks[0]:.2f} | {tasks[1]:.2f} |")
    print()
    request = ("step", (np.zeros((d, 1)), np.zeros(1), 0, 0, 128, 512, None), [])
    as_args = _time(
        lambda: dumps({"op": "actor_execute", "args": [to_serialize(a) for a in request]}), 2000
    )
    as_pickle = _time(
        lambda: dumps({"op": "actor_execute", "args": [to_serialize(_pack(request))]}), 2000
    )
    print(
        f"Encoding one step's request: {as_args[0] * 1e3:.0f} us with Dask's serializer over the "
        f"arguments, {as_pickle[0] * 1e3:.0f} us as one pickle."
    )
    print()
    print(
        f"A trivial call to both workers' actors: median {relayed[0]:.2f} ms relayed by the scheduler "
        f"(an actor call from a default client), {direct[0]:.2f} ms sent directly (the floor of the "
        "engine's step)."
    )


if __name__ == "__main__":
    main()
