"""Relative objective gap of dasksgd's defaults on the non-smooth losses, against liblinear.

Hinge on scikit-learn's breast-cancer data, epsilon-insensitive (epsilon=0.1) on the diabetes
data (both standardized, alpha=1e-2), with and without an intercept, after 10 / 100 / 1000
epochs (``tol=None``). The reference is LinearSVC / LinearSVR at ``tol=1e-12`` with
``intercept_scaling=100`` (its penalty on the intercept is then negligible). Issue 16, B11.

    python benchmarks/nonsmooth.py
"""

import pathlib
import sys
import time
import warnings

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402
from references import XC, XR, YC, YR, objective  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.svm import LinearSVC, LinearSVR  # noqa: E402

from dasksgd import SGDClassifier, SGDRegressor  # noqa: E402

ALPHA = 1e-2


def main() -> None:
    warnings.simplefilter("ignore", ConvergenceWarning)
    print("| loss | intercept | epochs | relative gap | max coef error | fit s |")
    print("|---|---|---:|---:|---:|---:|")
    for loss, X, y, Ref, Est in [
        ("hinge", XC, YC, LinearSVC, SGDClassifier),
        ("epsilon_insensitive", XR, YR, LinearSVR, SGDRegressor),
    ]:
        ys = 2.0 * y - 1.0 if loss == "hinge" else y
        for fi in (False, True):
            kw = dict(C=1 / (ALPHA * len(y)), tol=1e-12, max_iter=10**7, dual=True, random_state=0)
            if loss == "epsilon_insensitive":
                kw["epsilon"] = 0.1
            ref = Ref(loss=loss, fit_intercept=fi, intercept_scaling=100.0, **kw).fit(X, y)
            b = float(np.ravel(ref.intercept_)[0]) if fi else 0.0
            f_ref = objective(loss, "l2", X, ys, ref.coef_, b, alpha=ALPHA)
            for epochs in (10, 100, 1000):
                t0 = time.perf_counter()
                est = Est(
                    loss=loss,
                    alpha=ALPHA,
                    fit_intercept=fi,
                    tol=None,
                    max_iter=epochs,
                    random_state=0,
                ).fit(X, y)
                seconds = time.perf_counter() - t0
                f = objective(loss, "l2", X, ys, est.coef_, est.intercept_[0], alpha=ALPHA)
                err = np.abs(np.ravel(est.coef_) - np.ravel(ref.coef_)).max()
                print(
                    f"| {loss} | {fi} | {epochs} | {(f - f_ref) / f_ref:.1e} | {err:.1e} "
                    f"| {seconds:.2f} |"
                )


if __name__ == "__main__":
    main()
