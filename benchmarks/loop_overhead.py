"""The training loop's own cost per step, in process, where the arithmetic is negligible.

A ``LocalBackend`` of 20,000 rows x 5 features and batches of 8 rows: a step's arithmetic costs
microseconds, so whole ``train()`` calls (7,500 steps each) time the loop's bookkeeping (the
rules, the events, the history, the callbacks) and the shard's fixed per-step cost. Also whole
in-process estimator fits (500k x 100, logistic, 8 epochs), where that bookkeeping is a small
part. Best and median of several repeats.

    python benchmarks/loop_overhead.py [--repeats 5]

Run it on two checkouts one after the other (``PYTHONPATH=<checkout>``) to compare them.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
from common import write_table


def _times(fn, repeats):
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return sorted(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import dask

    from dasksgd import SGDClassifier
    from dasksgd.datasets import make_classification
    from dasksgd.engine import LocalBackend, TargetSpec, TrainConfig, TrainState, make_plan, train

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, 5))
    y = (X[:, 0] > 0).astype(int)
    config = TrainConfig.from_params("log_loss", batch_size=8, max_iter=3, tol=None)
    backend = LocalBackend([(X, y, None)], TargetSpec(classes=np.array([0, 1])), config.loss)
    plan = make_plan(backend, config, X.shape[1])
    steps = []

    def loop():
        res = train(backend, config, TrainState(np.zeros((5, 1)), np.zeros(1)), plan=plan)
        steps.append(len(res.history))

    loop_times = _times(loop, args.repeats)

    Xb, yb = dask.compute(*make_classification(500_000, 100, random_state=0, chunks=125_000))
    warnings.simplefilter("ignore")
    est = SGDClassifier(loss="log_loss", alpha=1e-5, max_iter=8, tol=None, random_state=0)
    fit_times = _times(lambda: est.fit(Xb, yb), args.repeats)

    n = steps[-1]
    lines = [
        f"Machine: {platform.machine()} {platform.processor() or ''}, Python "
        f"{platform.python_version()}; in process, one thread of BLAS per call as numpy sets it.",
        "",
        "| what | best | median |",
        "|---|---:|---:|",
        f"| train(), {n} steps of 8 rows x 5 features: us per step | "
        f"{1e6 * loop_times[0] / n:.1f} | {1e6 * loop_times[len(loop_times) // 2] / n:.1f} |",
        f"| SGDClassifier.fit, 500k x 100, 8 epochs ({len(est.history_)} steps): s | "
        f"{fit_times[0]:.3f} | {fit_times[len(fit_times) // 2]:.3f} |",
    ]
    write_table("loop_overhead", "\n".join(lines))


if __name__ == "__main__":
    main()
