"""Relative objective gap of full-batch dasksgd fits to the exact optimum, per loss family.

The same problems as tests/test_linear_model.py (scikit-learn's bundled data sets,
standardized; references from LogisticRegression, Ridge, Lasso, ElasticNet, LinearSVC,
LinearSVR, or L-BFGS on the objective written from the formulas).

    python benchmarks/parity.py
"""

import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))

from references import PARITY, XC, XR, YC, YR, objective, reference  # noqa: E402

from dasksgd import SGDClassifier, SGDRegressor  # noqa: E402


def main() -> None:
    print(
        "| loss | penalty | intercept | alpha | epochs (B = n) | relative gap | tested bound | fit s |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for loss, penalty, fit_intercept, alpha, tol in PARITY:
        classif = loss in ("log_loss", "squared_hinge", "modified_huber", "hinge")
        X, y = (XC, YC) if classif else (XR, YR)
        t0 = time.perf_counter()
        est = (SGDClassifier if classif else SGDRegressor)(
            loss=loss,
            penalty=penalty,
            alpha=alpha,
            l1_ratio=0.5,
            fit_intercept=fit_intercept,
            batch_size=len(y),
            learning_rate="constant",
            eta0=1e3,
            tol=None,
            max_iter=3000,
            random_state=0,
        ).fit(X, y)
        elapsed = time.perf_counter() - t0
        ys = 2.0 * y - 1.0 if classif else y
        f = objective(loss, penalty, X, ys, est.coef_, est.intercept_[0], alpha=alpha)
        f_star = reference(loss, penalty, X, ys, fit_intercept, alpha=alpha)
        print(
            f"| {loss} | {penalty} | {fit_intercept} | {alpha:g} | 3000 | {(f - f_star) / abs(f_star):.1e} "
            f"| {tol:.0e} | {elapsed:.2f} |"
        )


if __name__ == "__main__":
    main()
