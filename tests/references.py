"""Independent references for the estimators: objectives written from the formulas, and the
exact optima of scikit-learn's and scipy's solvers. Used by the tests and by
benchmarks/parity.py."""

import numpy as np
from scipy.optimize import minimize
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC, LinearSVR

ALPHA = 1e-2


def standardize(X):
    return StandardScaler().fit_transform(X)


XC, YC = load_breast_cancer(return_X_y=True)
XC = standardize(XC)
XR, YR = load_diabetes(return_X_y=True)
XR = standardize(XR)
YR = (YR - YR.mean()) / YR.std()


# An objective written here from the formulas, independent of dasksgd.losses.
def ref_loss(name, y, z, eps=0.1):
    u = y * z
    r = z - y
    return {
        "log_loss": lambda: np.logaddexp(0.0, -u),
        "hinge": lambda: np.maximum(0.0, 1.0 - u),
        "squared_hinge": lambda: np.maximum(0.0, 1.0 - u) ** 2,
        "modified_huber": lambda: np.where(u >= 1, 0.0, np.where(u >= -1, (1 - u) ** 2, -4 * u)),
        "squared_error": lambda: 0.5 * r**2,
        "huber": lambda: np.where(np.abs(r) <= eps, 0.5 * r**2, eps * np.abs(r) - 0.5 * eps**2),
        "epsilon_insensitive": lambda: np.maximum(0.0, np.abs(r) - eps),
        "squared_epsilon_insensitive": lambda: np.maximum(0.0, np.abs(r) - eps) ** 2,
    }[name]()


def objective(name, penalty, X, y, coef, intercept, l1_ratio=0.5, alpha=ALPHA):
    coef = np.ravel(coef)
    z = X @ coef + intercept
    pen = {
        "l2": 0.5 * np.sum(coef**2),
        "l1": np.sum(np.abs(coef)),
        "elasticnet": l1_ratio * np.sum(np.abs(coef)) + (1 - l1_ratio) * 0.5 * np.sum(coef**2),
    }[penalty]
    return float(np.mean(ref_loss(name, y, z)) + alpha * pen)


def lbfgs_optimum(name, X, y, fit_intercept, alpha):
    d = X.shape[1]

    def f(p):
        return objective(name, "l2", X, y, p[:d], p[d] if fit_intercept else 0.0, alpha=alpha)

    res = minimize(
        f,
        np.zeros(d + fit_intercept),
        method="L-BFGS-B",
        options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 20000},
    )
    return res.fun


def reference(name, penalty, X, y, fit_intercept, alpha=ALPHA):
    n = len(y)
    if alpha != ALPHA:  # only the generic solver takes another alpha
        return lbfgs_optimum(name, X, y, fit_intercept, alpha)
    if name == "log_loss":
        r = LogisticRegression(C=1 / (ALPHA * n), tol=1e-12, max_iter=10000).fit(X, y > 0)
    elif name == "squared_error" and penalty == "l2":
        r = Ridge(alpha=ALPHA * n, tol=1e-12).fit(X, y)
    elif name == "squared_error" and penalty == "l1":
        r = Lasso(alpha=ALPHA, tol=1e-14, max_iter=100000).fit(X, y)
    elif name == "squared_error" and penalty == "elasticnet":
        r = ElasticNet(alpha=ALPHA, l1_ratio=0.5, tol=1e-14, max_iter=100000).fit(X, y)
    elif name == "hinge":
        r = LinearSVC(
            loss="hinge",
            C=1 / (ALPHA * n),
            fit_intercept=False,
            tol=1e-10,
            max_iter=10**6,
            random_state=0,
        ).fit(X, y)
    elif name == "epsilon_insensitive":
        r = LinearSVR(
            loss="epsilon_insensitive",
            epsilon=0.1,
            C=1 / (ALPHA * n),
            fit_intercept=False,
            tol=1e-10,
            max_iter=10**6,
            dual=True,
            random_state=0,
        ).fit(X, y)
    else:
        return lbfgs_optimum(name, X, y, fit_intercept, alpha)
    b = np.ravel(r.intercept_)[0] if fit_intercept else 0.0
    return objective(name, penalty, X, y, r.coef_, b)


def hinge_kkt_residual(X, y, w, b, fit_intercept, alpha):
    """The hinge QP's optimality conditions, checked here: some theta in [0, 1] on the rows at
    margin 1 with ``sum_margin theta_i y_i x_i + sum_{margin < 1} y_i x_i = alpha n [w, 0]``
    (scipy's bounded least squares finds the best theta; the residual is relative). ``y`` is
    +-1."""
    from scipy.optimize import lsq_linear

    n = len(y)
    Xt = np.column_stack([X, np.ones(n)]) if fit_intercept else X
    u = y * (X @ w + b)
    at, inside = np.abs(u - 1.0) < 1e-7, u < 1.0 - 1e-7
    target = alpha * n * np.concatenate([w, [0.0]] if fit_intercept else [w])
    rhs = target - Xt[inside].T @ y[inside]
    A = (Xt[at] * y[at, None]).T
    fit = lsq_linear(A, rhs, bounds=(0.0, 1.0), lsmr_tol="auto") if at.any() else None
    residual = rhs if fit is None else A @ fit.x - rhs
    return float(np.linalg.norm(residual) / np.linalg.norm(target))


PARITY = [
    # loss, penalty, fit_intercept, alpha, tolerance on the relative objective gap
    ("log_loss", "l2", True, ALPHA, 1e-10),
    # The curvature bound of these two is tight, so 1/L steps need a better-conditioned problem.
    ("squared_hinge", "l2", True, 0.05, 1e-10),
    ("modified_huber", "l2", True, 0.05, 1e-10),
    ("hinge", "l2", False, ALPHA, 1e-10),  # smoothed L-BFGS, then polished to the QP's optimum
    ("squared_error", "l2", True, ALPHA, 1e-10),
    ("squared_error", "l1", True, ALPHA, 1e-10),
    ("squared_error", "elasticnet", True, ALPHA, 1e-10),
    ("huber", "l2", True, ALPHA, 1e-10),
    ("squared_epsilon_insensitive", "l2", True, ALPHA, 1e-10),
    ("epsilon_insensitive", "l2", False, ALPHA, 1e-6),  # smoothed L-BFGS, not polished
]


def random_problem(rng, loss_name, K, n, d):
    """Random rows, targets as the loss sees them ((n, K): +-1 one-vs-rest or real), and a
    random model (W of shape (d, K), b of shape (K,))."""
    from dasksgd.losses import get_loss

    X = rng.standard_normal((n, d))
    if get_loss(loss_name).is_classification:
        Y = -np.ones((n, K))
        Y[np.arange(n), rng.integers(0, K, n)] = 1.0
    else:
        Y = rng.standard_normal((n, K))
    return X, Y, rng.standard_normal((d, K)), rng.standard_normal(K)


#: Array backends of the test matrix: numpy, and array_api_strict arrays on a non-CPU device (a
#: stand-in for cupy: it refuses numpy-only calls, implicit host conversion and mixed devices).
BACKENDS = ["numpy", "strict"]


def on_backend(a, backend):
    """``a`` (a numpy array, or None) as an array of ``backend``."""
    if a is None or backend == "numpy":
        return a
    import array_api_strict as xps

    return xps.asarray(np.asarray(a), device=xps.Device("device1"))
