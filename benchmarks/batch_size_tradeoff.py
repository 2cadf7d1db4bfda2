"""The seed's trade-off: passes to accuracy and time per pass against the batch size.

On a 2-worker LocalCluster, fits a logistic model (alpha=1e-5 by default) with a grid of fixed
batch sizes and with ``batch_size="auto"``, all else default, and reports for each: time per
pass, passes to a relative objective gap of 1e-3 (and 1e-2, 1e-4), their product (time to
accuracy), and the diversity bound ``B = delta * n * Delta + 1`` that "auto" measured on the way.
The exact optimum comes from scikit-learn's newton-cholesky solver on the gathered data (the
benchmark gathers it once; dasksgd never does).

    python benchmarks/batch_size_tradeoff.py [--n 1000000] [--d 100] [--spread 0] [--epochs 12]

``--spread 1`` gives features whose scales span two decades (unstandardized data). Writes a
markdown table to stdout and to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
from common import gather_local, local_client, write_table

TARGETS = (1e-2, 1e-3, 1e-4)


def _first(times: np.ndarray, gaps: np.ndarray, target: float) -> tuple[float, float]:
    """(passes, seconds) at the first epoch end whose gap is below target, or (nan, nan)."""
    hit = np.nonzero(gaps <= target)[0]
    if not len(hit):
        return float("nan"), float("nan")
    return float(hit[0] + 1), float(times[hit[0]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--chunk-rows", type=int, default=125_000)
    parser.add_argument("--spread", type=float, default=0.0)
    parser.add_argument("--alpha", type=float, default=1e-5)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--grid", type=str, default="1000,4000,16000,64000,256000,full")
    args = parser.parse_args()

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    from dasksgd import SGDClassifier
    from dasksgd.datasets import make_classification

    rows = []
    with local_client() as client:
        X, y = make_classification(
            args.n, args.d, chunks=args.chunk_rows, scale_spread=args.spread, random_state=0
        )
        X, y = client.persist([X, y])
        Xn, yn = gather_local(client, X), gather_local(client, y)
        t0 = time.perf_counter()
        ref = LogisticRegression(
            C=1.0 / (args.alpha * args.n), solver="newton-cholesky", tol=1e-12, max_iter=200
        ).fit(Xn, yn)
        ref_time = time.perf_counter() - t0
        z = Xn @ ref.coef_.ravel() + ref.intercept_[0]
        f_star = float(
            np.mean(np.logaddexp(0.0, -(2.0 * yn - 1.0) * z))
            + 0.5 * args.alpha * np.sum(ref.coef_**2)
        )
        del Xn, yn, z

        grid: list = [args.n if g == "full" else int(g) for g in args.grid.split(",")] + ["auto"]
        for B in grid:
            est = SGDClassifier(
                alpha=args.alpha, batch_size=B, max_iter=args.epochs, tol=None, random_state=0
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                t0 = time.perf_counter()
                est.fit(X, y)
                wall = time.perf_counter() - t0
            h = est.history_
            ends = h.dropna(subset=["objective"])
            gaps = (ends["objective"].to_numpy() - f_star) / f_star
            times = ends["time"].to_numpy()
            # Seconds per pass after the first epoch (the first also holds loading and planning).
            per_pass = (times[-1] - times[0]) / max(len(ends) - 1, 1)
            hits = {t: _first(times, gaps, t) for t in TARGETS}
            bound = h["batch_bound"].replace(np.inf, np.nan)
            rows.append(
                {
                    "B": B,
                    "per_pass": per_pass,
                    "wall": wall,
                    "hits": hits,
                    "final_gap": gaps[-1],
                    "bound_start": float(bound.iloc[:5].median()),
                    "bound_end": float(bound.iloc[-5:].median()),
                    "B_path": ends["batch_size"].to_numpy(),
                }
            )

    lines = [
        f"Machine: {platform.machine()} {platform.processor() or ''}, 2 worker processes x 1 thread "
        f"(LocalCluster on 127.0.0.1), Python {platform.python_version()}.",
        f"Problem: dasksgd.datasets.make_classification n={args.n}, d={args.d}, scale_spread={args.spread}, "
        f"float64, log_loss, alpha={args.alpha}; f* = {f_star:.8f} (newton-cholesky, {ref_time:.1f} s).",
        f"Every fit: defaults except batch_size, max_iter={args.epochs}, tol=None, random_state=0. Times count from "
        "the start of fit (loading and planning included) and include the per-epoch objective pass; s / pass is "
        "measured after the first epoch; a target is counted at the first epoch end below it.",
        "",
        "| batch size | s / pass | passes to 1e-2 | passes to 1e-3 | passes to 1e-4 | s to 1e-2 | s to 1e-3 | s to 1e-4 "
        "| gap after all | diversity bound (first / last steps) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        h = r["hits"]
        label = (
            "auto (" + "→".join(str(int(b)) for b in np.unique(r["B_path"])[[0, -1]]) + ")"
            if r["B"] == "auto"
            else str(r["B"])
        )
        lines.append(
            f"| {label} | {r['per_pass']:.3f} | {h[1e-2][0]:.0f} | {h[1e-3][0]:.0f} | {h[1e-4][0]:.0f} "
            f"| {h[1e-2][1]:.2f} | {h[1e-3][1]:.2f} | {h[1e-4][1]:.2f} | {r['final_gap']:.1e} "
            f"| {r['bound_start']:.0f} / {r['bound_end']:.0f} |"
        )
    fixed = [
        t if np.isfinite(t) else np.inf
        for t in (r["hits"][1e-3][1] for r in rows if r["B"] != "auto")
    ]
    auto = [r["hits"][1e-3][1] for r in rows if r["B"] == "auto"][0]
    finite = [t for t in fixed if np.isfinite(t)]
    if finite and np.isfinite(auto):
        lines += [
            "",
            f"Time to 1e-3: auto {auto:.2f} s; best fixed {min(finite):.2f} s (ratio {auto / min(finite):.2f}); "
            f"median fixed {np.median(fixed):.2f} s (fixed B that never reached it count as inf).",
        ]
    write_table(f"batch_size_tradeoff_n{args.n}_d{args.d}_spread{args.spread:g}", "\n".join(lines))


if __name__ == "__main__":
    main()
