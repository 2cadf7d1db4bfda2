"""GPU check: cupy shards against the numpy path, a pass against the memory bandwidth, and time to
a 1e-3 gap against the CPU on the same machine.

    python benchmarks/gpu_check.py [--rows 10000000] [--features 100] [--tta-rows 2000000]

One script, under 5 minutes on one GPU. It prints (and writes to results/gpu_check.md):

1. Parity: the same data (float32, 200k x 100) and seed fitted on the host (numpy) and on the
   GPU (cupy arrays in memory): the two models' objectives (evaluated on the host in float64) must
   agree to float32 noise (relative difference <= 1e-5).
2. Time per pass: a full-batch step (margins, loss, gradient: everything a step computes) over
   ``--rows`` x ``--features`` float32 rows held on the GPU in 1M-row shards, as GB/s of X read,
   against the GPU's theoretical peak (memory clock x bus width) and against what a plain
   reduction (``X.sum()``) reaches on the same array.
3. Time to accuracy: dasksgd with defaults on the GPU and on the CPU (numpy, all cores, in
   process) on a ``--tta-rows`` x 100 float32 logistic problem (alpha=1e-5), seconds until the
   relative objective gap is <= 1e-3 (f* from scikit-learn's newton-cholesky in float64).

Without cupy or a GPU the GPU parts are skipped (said so on the output) and the parity check runs
with array_api_strict arrays held on a non-CPU device, which refuse every numpy-only call as
cupy would; the script then exits 0.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import numpy as np
from common import write_table

ALPHA = 1e-5


def _gpu():
    """(cupy, description) when cupy and a GPU are usable, else (None, why not)."""
    try:
        import cupy
    except ImportError as exc:
        return None, f"cupy is not importable ({exc})"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None, "cupy sees no GPU"
        props = cupy.cuda.runtime.getDeviceProperties(0)
    except Exception as exc:  # noqa: BLE001 - any CUDA error means: no GPU part
        return None, f"no usable GPU ({exc})"
    return cupy, props


def _objective(X, y, coef, intercept):
    """Mean logistic loss + alpha/2 ||coef||^2 on the host, in float64."""
    z = np.asarray(X, dtype=np.float64) @ np.ravel(coef).astype(np.float64) + float(
        np.ravel(intercept)[0]
    )
    s = np.where(y == 1, 1.0, -1.0)
    return float(np.mean(np.logaddexp(0.0, -s * z))) + 0.5 * ALPHA * float(np.sum(np.square(coef)))


def parity(to_device, label: str, n: int = 200_000, d: int = 100) -> tuple[str, bool]:
    from dasksgd import SGDClassifier
    from dasksgd.datasets import make_classification

    X, y = make_classification(n, d, chunks=n, random_state=0, dtype=np.float32)
    X, y = X.compute(), y.compute()
    params = dict(alpha=ALPHA, max_iter=30, tol=None, random_state=0)
    host = SGDClassifier(**params).fit(X, y)
    dev = SGDClassifier(**params).fit(to_device(X), to_device(y))
    f_host, f_dev = (
        _objective(X, y, host.coef_, host.intercept_),
        _objective(X, y, dev.coef_, dev.intercept_),
    )
    rel = abs(f_dev - f_host) / f_host
    ok = rel <= 1e-5
    return (
        f"| parity ({label}, {n:,} x {d} float32, 30 epochs) | objective host {f_host:.8f}, "
        f"{label} {f_dev:.8f}: relative difference {rel:.2e} | {'PASS' if ok else 'FAIL'} (<= 1e-5) |"
    ), ok


def bandwidth(cupy, props, rows: int, d: int) -> list[str]:
    from dasksgd.engine.local import LocalBackend
    from dasksgd.engine.shards import TargetSpec
    from dasksgd.losses import get_loss

    peak = 2.0 * props["memoryClockRate"] * 1e3 * props["memoryBusWidth"] / 8 / 1e9  # GB/s (DDR)
    rng = cupy.random.default_rng(0)
    shard = 1_000_000
    parts = []
    for a in range(0, rows, shard):
        m = min(shard, rows - a)
        Xs = rng.standard_normal((m, d), dtype=cupy.float32)
        ys = (Xs[:, 0] > 0).astype(cupy.int64)
        parts.append((Xs, ys, None))
    cupy.cuda.Device().synchronize()
    loss = get_loss("log_loss")
    backend = LocalBackend(parts, TargetSpec(classes=np.array([0, 1])), loss, shuffle=False)
    coef, intercept = np.full((d, 1), 0.01), np.zeros(1)
    n = backend.n_train
    times = []
    for _ in range(6):
        t0 = time.perf_counter()
        backend.call("step", coef, intercept, 0, 0, n, n, None)  # returns host sums: synchronized
        times.append(time.perf_counter() - t0)
    t_step = float(np.median(times[1:]))
    X0 = parts[0][0]
    reps = []
    for _ in range(6):
        t0 = time.perf_counter()
        for Xs, _, _ in parts:
            Xs.sum()
        cupy.cuda.Device().synchronize()
        reps.append(time.perf_counter() - t0)
    t_sum = float(np.median(reps[1:]))
    gb = rows * d * X0.itemsize / 1e9
    return [
        f"| GPU | {props['name'].decode() if isinstance(props['name'], bytes) else props['name']}, "
        f"theoretical peak {peak:.0f} GB/s | |",
        f"| full-batch step, {rows:,} x {d} float32 ({gb:.1f} GB) | {t_step * 1e3:.1f} ms: {gb / t_step:.0f} GB/s "
        f"= {gb / t_step / peak:.0%} of peak | target >= 50% of peak |",
        f"| X.sum() over the same shards | {t_sum * 1e3:.1f} ms: {gb / t_sum:.0f} GB/s = {gb / t_sum / peak:.0%} of peak "
        f"| what one read reaches |",
    ]


def time_to_accuracy(cupy, rows: int, d: int = 100) -> list[str]:
    from sklearn.linear_model import LogisticRegression

    from dasksgd import SGDClassifier
    from dasksgd.datasets import make_classification

    X, y = make_classification(rows, d, chunks=min(rows, 500_000), random_state=1, dtype=np.float32)
    X, y = X.compute(), y.compute()
    t0 = time.perf_counter()
    ref = LogisticRegression(
        C=1.0 / (ALPHA * rows), solver="newton-cholesky", tol=1e-12, max_iter=100
    )
    ref.fit(X.astype(np.float64), y)
    f_star = _objective(X, y, ref.coef_, ref.intercept_)
    t_ref = time.perf_counter() - t0

    def first(est):
        ends = est.history_.dropna(subset=["objective"])
        for t, f in zip(ends["time"], ends["objective"]):
            if (f - f_star) / f_star <= 1e-3:
                return float(t)
        return float("inf")

    params = dict(alpha=ALPHA, max_iter=20, tol=None, random_state=0)
    cpu = first(SGDClassifier(**params).fit(X, y))
    Xg, yg = cupy.asarray(X), cupy.asarray(y)
    SGDClassifier(**{**params, "max_iter": 1}).fit(
        Xg[:10_000], yg[:10_000]
    )  # CUDA context, kernels
    cupy.cuda.Device().synchronize()
    gpu = first(SGDClassifier(**params).fit(Xg, yg))
    return [
        f"| time to a 1e-3 gap, {rows:,} x {d} float32, defaults | GPU {gpu:.2f} s, CPU {cpu:.2f} s "
        f"({cpu / gpu:.1f}x) | f* by newton-cholesky in {t_ref:.1f} s |",
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--features", type=int, default=100)
    ap.add_argument("--tta-rows", type=int, default=2_000_000)
    ap.add_argument("--parity-rows", type=int, default=200_000)
    ap.add_argument("--no-write", action="store_true", help="print only; write nothing to results/")
    args = ap.parse_args()

    cupy, props = _gpu()
    lines = [
        f"Machine: {platform.machine()}, {platform.processor() or 'unknown cpu'}, Python {platform.python_version()}, "
        f"numpy {np.__version__}" + ("" if cupy is None else f", cupy {cupy.__version__}"),
        "",
        "| check | result | |",
        "|---|---|---|",
    ]
    ok = True
    t0 = time.perf_counter()
    if cupy is None:
        print(
            f"GPU part SKIPPED: {props}. Running the parity check on array_api_strict arrays held on "
            "a non-CPU device instead.",
            flush=True,
        )
        import array_api_strict as xps

        device = xps.Device("device1")
        line, ok = parity(
            lambda a: xps.asarray(a, device=device),
            "array_api_strict device1",
            n=min(args.parity_rows, 20_000),
            d=20,
        )
        lines.append(line)
        lines.append(f"| GPU parts | SKIPPED: {props} | |")
    else:
        line, ok = parity(cupy.asarray, "cupy", n=args.parity_rows, d=args.features)
        lines.append(line)
        print(line, flush=True)
        lines += bandwidth(cupy, props, args.rows, args.features)
        print("\n".join(lines[-3:]), flush=True)
        lines += time_to_accuracy(cupy, args.tta_rows)
    lines.append(f"\nTotal {time.perf_counter() - t0:.0f} s.")
    if args.no_write:
        print("\n".join(lines))
    else:
        write_table("gpu_check" if cupy is not None else "gpu_check_cpu_only", "\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
