"""Polishing against an independent reference: LinearSVC's solution of the same QP."""

import numpy as np
import pytest
from references import XC, XR, YC, YR, hinge_kkt_residual, objective
from scipy.optimize import minimize
from sklearn.svm import LinearSVC, LinearSVR

from dasksgd.losses import get_loss
from dasksgd.polishing import Band, polish

ALPHA = 1e-2


def _band(loss, X, y, w, b, width, fit_intercept):
    """The Band of ``ShardSet.band``, written here from its definition for one shard."""
    z = X @ w + b
    a, kappa, _ = loss.to_kink(y, z)
    slope = -y if loss.name == "hinge" else np.sign(z - y)  # written here, not from to_kink
    near = np.abs(a) < width
    far = np.where(near | (a <= 0), 0.0, slope)
    Xt = np.column_stack([X, np.ones(len(y))]) if fit_intercept else X
    return Band(
        (Xt[near],),
        (a[near],),
        (slope[near],),
        (kappa[near],),
        (np.flatnonzero(near),),
        (Xt.T @ far)[None, :],
        float(np.sum(loss.loss(y, z))),
    )


def _smoothed_optimum(loss, X, y, mu, fit_intercept):
    n, d = X.shape
    L = loss.smoothed(mu)

    def f(p):
        w, b = p[:d], (p[d] if fit_intercept else 0.0)
        z = X @ w + b
        g = L.dloss(y, z)
        grad = np.concatenate([X.T @ g / n + ALPHA * w, [g.mean()] if fit_intercept else []])
        return np.mean(L.loss(y, z)) + ALPHA / 2 * w @ w, grad

    p = minimize(
        f,
        np.zeros(d + fit_intercept),
        jac=True,
        method="L-BFGS-B",
        options=dict(ftol=1e-15, gtol=1e-12, maxiter=5000),
    ).x
    return p[:d], (p[d] if fit_intercept else 0.0)


@pytest.mark.parametrize(
    "name",
    [
        "hinge",
        pytest.param(
            "epsilon_insensitive",
            marks=pytest.mark.xfail(
                reason="the active-set steps do not settle on the epsilon-insensitive QP yet "
                "(issue 16, B11); the fit does not polish it",
                strict=True,
            ),
        ),
    ],
)
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_active_set_steps_from_the_smoothed_optimum_reach_the_qp_optimum(name, fit_intercept):
    loss = get_loss(name, epsilon=0.1)
    X, y = (XC, 2.0 * YC - 1.0) if name == "hinge" else (XR, YR)
    n = len(y)
    Est = LinearSVC if name == "hinge" else LinearSVR
    kw = dict(loss=name, C=1 / (ALPHA * n), tol=1e-12, max_iter=10**7, dual=True, random_state=0)
    if name == "epsilon_insensitive":
        kw["epsilon"] = 0.1
    # A large intercept_scaling makes liblinear's penalty on the intercept negligible.
    ref = Est(fit_intercept=fit_intercept, intercept_scaling=100.0, **kw).fit(
        X, YC if name == "hinge" else y
    )
    b_ref = float(np.ravel(ref.intercept_)[0]) if fit_intercept else 0.0
    f_ref = objective(name, "l2", X, y, ref.coef_, b_ref, alpha=ALPHA)
    mu = 1e-2
    w, b = _smoothed_optimum(loss, X, y, mu, fit_intercept)
    fractions, optimal = [{}], False
    for _ in range(6):
        out = polish(
            _band(loss, X, y, w, b, mu, fit_intercept), fractions, mu, ALPHA, n, fit_intercept
        )
        assert out is not None
        coef, intercept, fractions, optimal = out
        if optimal:
            break
        w, b = coef[:, 0], intercept[0]
    assert optimal  # the certificate: the step reproduced its own assignment
    f = objective(name, "l2", X, y, w, b, alpha=ALPHA)
    assert (f - f_ref) / f_ref <= 1e-10  # as good as liblinear at tol=1e-12, or better
    if name == "hinge":
        assert hinge_kkt_residual(X, y, w, b, fit_intercept, ALPHA) < 1e-8


def test_no_band_rows_or_no_penalty_gives_no_candidate():
    loss = get_loss("hinge")
    band = _band(loss, XC, 2.0 * YC - 1.0, np.zeros(30), 0.0, 0.5, False)
    assert polish(band, [{}], 0.5, 0.0, len(YC), False) is None
    over = Band.empty(1, 30, overflow=True)
    assert polish(over, [{}], 0.5, ALPHA, len(YC), False) is None
