"""Time to accuracy of dasksgd against what a user would otherwise pick, in one run.

Same data, same objective (mean logistic loss + alpha/2 ||w||^2, intercept unpenalized) for
every contender; the relative gap is measured against f* from scikit-learn's newton-cholesky
solver. Dask contenders get the data persisted on a 2-worker LocalCluster before timing;
scikit-learn contenders get it in memory in this process. Contenders:

- dasksgd with defaults (``batch_size="auto"``), and the best of a grid of fixed batch sizes;
- scikit-learn SGDClassifier with defaults, and the best of a small tuned grid (schedule, eta0,
  averaging). Epochs run through ``partial_fit``; the first epoch is also timed on growing
  prefixes of the data, so its time to a gap is not rounded up to a whole epoch;
- scikit-learn LogisticRegression (lbfgs), timed at doubling ``max_iter``;
- dask-ml LogisticRegression (lbfgs, gradient_descent, admm) at doubling ``max_iter``, and
  dask-ml Incremental(SGDClassifier) epoch by epoch (needs ``pip install dask-ml``).

A contender's time to a gap is the first timed point at or below it. Objective evaluations are
not timed, except dasksgd's own per-epoch objective pass, which is part of its fit.

    python benchmarks/time_to_accuracy.py [--problem binary] [--n 2000000] [--d 100] [--dtype float64] [--skip dask-ml]

Problems (``--problem``): ``binary`` (dense, logistic), ``sparse`` (CSR with ``--nnz`` stored values
per row, logistic; f* from a long L-BFGS run, since a second-order solver on 100k features does
not fit here), ``multiclass`` (``--classes`` classes, one-vs-rest logistic: the objective is the
sum of the per-class binary objectives, which scikit-learn's SGDClassifier also minimizes; the
full-batch peer is OneVsRest(LogisticRegression)), ``regression`` (squared error + l2, f* in
closed form; the full-batch peer is scikit-learn's Ridge), ``hinge`` (the binary data with the
hinge loss, scikit-learn's SGD default, and no intercept for any contender; f* and the
full-batch peer from LinearSVC, liblinear's dual coordinate descent, f* after 5000 of its
iterations: a negative gap means a point better than liblinear's). dask-ml's LogisticRegression takes
binary dense problems only; its LinearRegression serves the regression problem.

Writes a markdown table (and, with matplotlib, a plot of gap against time) to
``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import math
import platform
import time
import warnings

import numpy as np
from common import gather_local, local_client, write_table

TARGETS = (1e-2, 1e-3, 1e-4, 1e-6)


def objective(X, y, coef, intercept, alpha, classes=None, loss="log_loss"):
    """Mean loss + alpha/2 ||coef||^2: logistic (or ``loss="hinge"``) one-vs-rest over
    ``classes`` (None: squared error)."""
    coef = np.asarray(coef, dtype=np.float64).reshape(
        -1, X.shape[1]
    )  # (K, d), as scikit-learn stores it
    Z = np.asarray(X @ coef.T.astype(X.dtype), dtype=np.float64) + np.ravel(intercept)
    penalty = 0.5 * alpha * float(np.sum(np.square(coef)))
    if classes is None:
        return float(0.5 * np.mean(np.square(y - Z[:, 0]))) + penalty
    if len(classes) == 2:
        S = np.where(y == classes[1], 1.0, -1.0)[:, None]
    else:
        S = np.where(y[:, None] == np.asarray(classes)[None, :], 1.0, -1.0)
    if loss == "hinge":
        return float(np.sum(np.mean(np.maximum(0.0, 1.0 - S * Z), axis=0))) + penalty
    return float(np.sum(np.mean(np.logaddexp(0.0, -S * Z), axis=0))) + penalty


def first_time(points, f_star, target):
    for t, f in sorted(points):
        if (f - f_star) / f_star <= target:
            return t
    return math.inf


def run_dasksgd(X, y, alpha, epochs, batch_size, regression=False, loss=None):
    from dasksgd import SGDClassifier, SGDRegressor

    Est = SGDRegressor if regression else SGDClassifier
    kw = {} if loss is None else {"loss": loss, "fit_intercept": False}
    est = Est(alpha=alpha, batch_size=batch_size, max_iter=epochs, tol=None, random_state=0, **kw)
    est.fit(X, y)
    ends = est.history_.dropna(subset=["objective"])
    return list(zip(ends["time"], ends["objective"]))


def run_sklearn_sgd(Xn, yn, alpha, epochs, classes, prefixes=True, loss="log_loss", **params):
    from sklearn.linear_model import SGDClassifier, SGDRegressor

    def make():
        if classes is None:
            return SGDRegressor(alpha=alpha, random_state=0, **params)
        hinge = {"fit_intercept": False} if loss == "hinge" else {}
        return SGDClassifier(alpha=alpha, random_state=0, loss=loss, **hinge, **params)

    def feed(est, X, y):
        if classes is None:
            est.partial_fit(X, y)
        else:
            est.partial_fit(X, y, classes=classes)

    points = []
    n = len(yn)
    if prefixes:
        for frac in (1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2):
            m = int(n * frac)
            est = make()
            t0 = time.perf_counter()
            feed(est, Xn[:m], yn[:m])
            points.append(
                (
                    time.perf_counter() - t0,
                    objective(Xn, yn, est.coef_, est.intercept_, alpha, classes, loss),
                )
            )
    est = make()
    total = 0.0
    for _ in range(epochs):
        t0 = time.perf_counter()
        feed(est, Xn, yn)
        total += time.perf_counter() - t0
        points.append((total, objective(Xn, yn, est.coef_, est.intercept_, alpha, classes, loss)))
    return points


def run_doubling(fit, evaluate, start=2, limit=256, budget=120.0):
    """Fits at max_iter = start, 2*start, ...: (time, objective) of each run."""
    points, it, spent = [], start, 0.0
    while it <= limit and spent < budget:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            model = fit(it)
            elapsed = time.perf_counter() - t0
        spent += elapsed
        points.append((elapsed, evaluate(model)))
        if int(np.max(np.atleast_1d(getattr(model, "n_iter_", it)))) < it:
            break  # converged before the cap
        it *= 2
    return points


def _f_star(problem, Xn, yn, alpha, classes):
    """The reference optimum: (f*, seconds, how)."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import LinearSVC

    n = Xn.shape[0]
    t0 = time.perf_counter()
    if problem == "hinge":
        # liblinear's dual coordinate descent (no intercept: with intercept_scaling large enough
        # to make its penalty negligible, the dual became too ill-conditioned to converge).
        ref = LinearSVC(
            loss="hinge",
            C=1.0 / (alpha * n),
            fit_intercept=False,
            tol=1e-12,
            max_iter=5000,
            random_state=0,
        ).fit(Xn.astype(np.float64), yn)
        coef, intercept = ref.coef_, ref.intercept_
        value = objective(Xn.astype(np.float64), yn, coef, intercept, alpha, classes, "hinge")
        return value, time.perf_counter() - t0, f"LinearSVC, {int(ref.n_iter_)} iterations"
    if problem == "regression":
        ref, how = (
            Ridge(alpha=alpha * n, solver="cholesky").fit(Xn, yn),
            "closed form (Ridge, cholesky)",
        )
    elif problem == "sparse":
        # No second-order solver fits 100k features here: a long L-BFGS run at tight tolerance.
        ref = LogisticRegression(C=1.0 / (alpha * n), solver="lbfgs", tol=1e-14, max_iter=3000).fit(
            Xn, yn
        )
        how = f"L-BFGS, {int(np.max(ref.n_iter_))} iterations"
    else:
        one = LogisticRegression(
            C=1.0 / (alpha * n), solver="newton-cholesky", tol=1e-12, max_iter=200
        )
        Xf = Xn.astype(np.float64)
        ref = OneVsRestClassifier(one).fit(Xf, yn) if problem == "multiclass" else one.fit(Xf, yn)
        how = "newton-cholesky" + (" per class" if problem == "multiclass" else "")
    coef, intercept = _coefs(ref)
    Xd = Xn if problem == "sparse" else Xn.astype(np.float64)
    return objective(Xd, yn, coef, intercept, alpha, classes), time.perf_counter() - t0, how


def _coefs(model):
    """(coef, intercept) of a linear model or of a one-vs-rest wrapper of binary ones."""
    if hasattr(model, "estimators_") and not hasattr(model, "coef_"):
        return (
            np.vstack([e.coef_ for e in model.estimators_]),
            np.hstack([e.intercept_ for e in model.estimators_]),
        )
    return model.coef_, model.intercept_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--problem",
        default="binary",
        choices=["binary", "sparse", "multiclass", "regression", "hinge"],
    )
    parser.add_argument("--n", type=int, default=2_000_000)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--nnz", type=int, default=50, help="stored values per row (sparse)")
    parser.add_argument("--classes", type=int, default=5, help="classes (multiclass)")
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--alpha", type=float, default=1e-5)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--sklearn-default-epochs", type=int, default=20)
    parser.add_argument("--skip", default="", help="comma-separated: dask-ml, sklearn, lbfgs")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    from distributed import wait
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.multiclass import OneVsRestClassifier

    from dasksgd.datasets import make_classification, make_regression

    dtype = np.dtype(args.dtype)
    problem = args.problem
    regression = problem == "regression"
    loss = "hinge" if problem == "hinge" else "log_loss"
    results: dict[str, list] = {}
    with local_client() as client:
        common = dict(chunks=args.chunk_rows, random_state=0, dtype=dtype)
        if regression:
            X, y = make_regression(args.n, args.d, **common)
        else:
            X, y = make_classification(
                args.n,
                args.d,
                n_classes=args.classes if problem == "multiclass" else 2,
                density=args.nnz / args.d if problem == "sparse" else None,
                **common,
            )
        X, y = client.persist([X, y])
        wait([X, y])
        Xn, yn = gather_local(client, X), gather_local(client, y)
        placement = sorted(len(v) for v in client.has_what().values())
        classes = None if regression else list(np.unique(yn))
        n, alpha = args.n, args.alpha
        f_star, ref_time, ref_how = _f_star(problem, Xn, yn, alpha, classes)
        print(
            f"f* = {f_star:.10f} ({ref_how}, {ref_time:.1f} s); keys per worker {placement}",
            flush=True,
        )

        def evaluate(model):
            return objective(Xn, yn, *_coefs(model), alpha, classes, loss)

        dloss = loss if problem == "hinge" else None
        results["dasksgd (defaults)"] = run_dasksgd(
            X, y, alpha, args.epochs, "auto", regression, dloss
        )
        best = None
        for B in (16_000, 64_000, 256_000, n):
            pts = run_dasksgd(X, y, alpha, args.epochs, B, regression, dloss)
            key = min(first_time(pts, f_star, 1e-3), first_time(pts, f_star, 1e-2) + 1e6)
            if best is None or key < best[0]:
                best = (key, B, pts)
        results[f"dasksgd (best fixed B={best[1]})"] = best[2]
        print("dasksgd done", flush=True)

        if "sklearn" not in skip:
            name = "SGDRegressor" if regression else "SGDClassifier"
            results[f"sklearn {name} (defaults)"] = run_sklearn_sgd(
                Xn, yn, alpha, args.sklearn_default_epochs, classes, prefixes=False, loss=loss
            )
            grid = [
                dict(learning_rate="constant", eta0=e, average=True)
                for e in (1e-4, 1e-3, 1e-2, 3e-2)
            ]
            grid += [dict(learning_rate="invscaling", eta0=1e-2 if regression else 1e-1)]
            if not regression:
                grid += [dict(learning_rate="optimal", average=True)]
            tuned = {
                str(g): run_sklearn_sgd(Xn, yn, alpha, 4, classes, loss=loss, **g) for g in grid
            }
            # The best of the grid at each target: the envelope of its points.
            results[f"sklearn {name} (best of tuned grid)"] = [
                p for pts in tuned.values() for p in pts
            ]
            print("sklearn SGD done", flush=True)
        if "lbfgs" not in skip:
            if regression:
                t0 = time.perf_counter()
                ridge = Ridge(alpha=alpha * n, solver="cholesky").fit(Xn, yn)
                results["sklearn Ridge (cholesky)"] = [(time.perf_counter() - t0, evaluate(ridge))]
            elif problem == "hinge":
                from sklearn.svm import LinearSVC

                def svc(it):
                    return LinearSVC(
                        loss="hinge",
                        C=1.0 / (alpha * n),
                        fit_intercept=False,
                        tol=1e-12,
                        max_iter=it,
                        random_state=0,
                    ).fit(Xn, yn)

                results["sklearn LinearSVC (liblinear dual)"] = run_doubling(
                    svc, evaluate, start=4, limit=4096
                )
            else:

                def lbfgs(it):
                    one = LogisticRegression(
                        C=1.0 / (alpha * n), solver="lbfgs", tol=1e-12, max_iter=it
                    )
                    return (
                        OneVsRestClassifier(one).fit(Xn, yn)
                        if problem == "multiclass"
                        else one.fit(Xn, yn)
                    )

                label = (
                    "OneVsRest(LogisticRegression lbfgs)"
                    if problem == "multiclass"
                    else "LogisticRegression (lbfgs)"
                )
                results[f"sklearn {label}"] = run_doubling(lbfgs, evaluate, start=4, limit=1024)
            print("full-batch peer done", flush=True)
        if "dask-ml" not in skip and problem in ("binary", "regression"):
            try:
                from dask_ml.linear_model import LinearRegression as DaskLinR
                from dask_ml.linear_model import LogisticRegression as DaskLR
                from dask_ml.wrappers import Incremental
            except ImportError:
                print("dask-ml not installed: skipped")
            else:
                Model = DaskLinR if regression else DaskLR
                for solver, start in (("lbfgs", 4), ("gradient_descent", 8), ("admm", 1)):
                    results[f"dask-ml {Model.__name__} ({solver})"] = run_doubling(
                        # dask-glm sums the loss: lamduh = 1/C = n * alpha matches alpha on the mean.
                        lambda it, s=solver: Model(
                            solver=s, C=1.0 / (alpha * n), max_iter=it, tol=1e-12
                        ).fit(X, y),
                        evaluate,
                        start=start,
                        budget=90.0,
                    )
                    print(f"dask-ml {solver} done", flush=True)
                from sklearn.linear_model import SGDClassifier as SkSGD
                from sklearn.linear_model import SGDRegressor as SkSGDR

                inc = Incremental(
                    SkSGDR(alpha=alpha, random_state=0)
                    if regression
                    else SkSGD(alpha=alpha, random_state=0)
                )
                pts, total = [], 0.0
                for _ in range(4):
                    t0 = time.perf_counter()
                    if regression:
                        inc.partial_fit(X, y)
                    else:
                        inc.partial_fit(X, y, classes=classes)
                    total += time.perf_counter() - t0
                    pts.append((total, evaluate(inc.estimator_)))
                results[f"dask-ml Incremental({type(inc.estimator).__name__})"] = pts

    lines = [
        f"Machine: {platform.machine()} {platform.processor() or ''} (2 cores), Python {platform.python_version()}; "
        "dask contenders on a LocalCluster of 2 worker processes x 1 thread, scikit-learn in the client process.",
        f"Problem ({problem}): dasksgd.datasets.{'make_regression' if regression else 'make_classification'} "
        f"n={args.n}, d={args.d}, {args.dtype}"
        + (f", {args.nnz} stored values per row (CSR)" if problem == "sparse" else "")
        + (f", {args.classes} classes" if problem == "multiclass" else "")
        + f"; {'squared error' if regression else loss.replace('_', ' ')}, alpha={alpha}; "
        f"f* = {f_star:.10f} ({ref_how}, {ref_time:.1f} s).",
        "",
        "| contender | s to 1e-2 | s to 1e-3 | s to 1e-4 | s to 1e-6 | best gap seen (at s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, pts in results.items():
        gaps = [((f - f_star) / f_star, t) for t, f in pts]
        g, t = min(gaps)
        cells = [first_time(pts, f_star, tg) for tg in TARGETS]
        lines.append(
            f"| {name} | "
            + " | ".join("-" if math.isinf(c) else f"{c:.2f}" for c in cells)
            + f" | {g:.1e} ({t:.1f}) |"
        )
    tag = "" if problem == "binary" else f"{problem}_"
    stem = f"time_to_accuracy_{tag}n{args.n}_d{args.d}_{args.dtype}"
    out = write_table(stem, "\n".join(lines))
    import json

    (out / f"{stem}.json").write_text(json.dumps({"f_star": f_star, "points": results}, indent=0))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, pts in results.items():
        pts = sorted(pts)
        gaps = np.array([max((f - f_star) / f_star, 1e-12) for _, f in pts])
        if "grid" in name:  # the best of several configurations: their lower envelope
            gaps = np.minimum.accumulate(gaps)
        ax.plot([t for t, _ in pts], gaps, "o-", ms=3, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("relative objective gap")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / f"{stem}.png", dpi=120)


if __name__ == "__main__":
    main()
