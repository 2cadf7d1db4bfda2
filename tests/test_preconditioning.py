import numpy as np
import pytest
import scipy.sparse as sp

from dasksgd.losses import get_loss
from dasksgd.penalties import get_penalty
from dasksgd.preconditioning import ColumnMoments, HessianBound, Preconditioner, fingerprint
from dasksgd.statistics import gradient_statistics, row_sq_norms

RNG = np.random.default_rng(5)
X = RNG.standard_normal((200, 3)) * [0.1, 5.0, 50.0] + [3.0, -1.0, 100.0]
Y = np.where(RNG.random((200, 1)) < 0.5, -1.0, 1.0)
LOSS = get_loss("log_loss")


def _pc(ridge=0.0):
    return Preconditioner.from_sums(X.sum(0), (X**2).sum(0), 200, center=True, ridge=ridge)


def test_from_sums_is_mean_and_std():
    pc = _pc()
    np.testing.assert_allclose(pc.mean, X.mean(0))
    np.testing.assert_allclose(pc.scale, X.std(0))
    np.testing.assert_allclose(_pc(0.5).scale, np.sqrt(X.var(0) + 0.5))
    flat = Preconditioner.from_sums(np.array([6.0]), np.array([12.0]), 3, center=True)
    assert flat.scale[0] == 1.0  # constant column: left alone


def _moments(rows):
    return ColumnMoments(rows.sum(0), (rows**2).sum(0), len(rows), fingerprint(len(rows), rows))


def test_stream_moments_scale_like_all_rows_seen():
    # B10: the chunks of a stream together are scaled as the rows they add up to; the same rows
    # given twice in a row are one chunk (epochs over it), given again later another pass.
    a, b = X[:50], X[50:]
    m = _moments(a).add(_moments(b))
    pc = m.preconditioner(center=True)
    np.testing.assert_allclose(pc.mean, X.mean(0))
    np.testing.assert_allclose(pc.scale, X.std(0))
    first = _moments(a)
    assert first.add(_moments(a)) is first
    again = m.add(_moments(a))
    assert again.count == 250
    np.testing.assert_allclose(again.preconditioner(center=True).mean, np.r_[a, a, b].mean(0))


@pytest.mark.parametrize("penalty", ["l2", "l1", "elasticnet"])
def test_step_is_gradient_step_on_standardized_features(penalty):
    pc = _pc()
    pen = get_penalty(penalty, 0.05, 0.5)
    w, b = RNG.standard_normal((3, 1)) * 0.01, np.array([0.2])
    st = gradient_statistics(X, Y, w, b, LOSS)
    new_w, new_b = pc.step(w, b, st.grad_coef / 200, st.grad_intercept / 200, 0.3, pen, True)

    # The same step done by hand on Z = (X - mu)/s with wt = s*w, bt = b + mu.w; the penalty
    # alpha R(w) = alpha R(wt / s).
    Z = (X - pc.mean) / pc.scale
    wt, bt = w * pc.scale[:, None], b + pc.mean @ w
    stz = gradient_statistics(Z, Y, wt, bt, LOSS)
    assert stz.loss == pytest.approx(st.loss)  # same margins
    g = stz.grad_coef / 200 + pen.smooth_grad(wt / pc.scale[:, None]) / pc.scale[:, None]
    thr = 0.3 * pen.l1_strength / pc.scale[:, None]  # prox of c1 * sum |wt_j| / s_j
    v = wt - 0.3 * g
    wt2 = np.sign(v) * np.maximum(np.abs(v) - thr, 0.0)
    bt2 = bt - 0.3 * stz.grad_intercept / 200
    np.testing.assert_allclose(new_w, wt2 / pc.scale[:, None], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(new_b, bt2 - pc.mean @ (wt2 / pc.scale[:, None]), rtol=1e-12)


def test_gram_round_trip():
    pc = _pc()
    v = RNG.standard_normal(4)
    raw = pc.raw_direction(v, True)
    Xt = np.column_stack([X, np.ones(200)])
    u = Xt @ raw
    Z = np.column_stack([(X - pc.mean) / pc.scale, np.ones(200)])
    np.testing.assert_allclose(u, Z @ v, rtol=1e-10)  # same margins
    out = np.concatenate([X.T @ u, [u.sum()]])
    np.testing.assert_allclose(pc.gram_from_raw(out, True), Z.T @ (Z @ v), rtol=1e-8)


def test_centered_row_norms_dense_and_sparse():
    pc = _pc()
    Xs = X.copy()
    Xs[np.abs(Xs) < 2] = 0.0
    expected = np.sum(((Xs - pc.mean) / pc.scale) ** 2, axis=1)
    np.testing.assert_allclose(
        row_sq_norms(Xs, pc.inv_scale2, pc.mean, block=7), expected, rtol=1e-10
    )
    np.testing.assert_allclose(
        row_sq_norms(sp.csr_matrix(Xs), pc.inv_scale2, pc.mean), expected, rtol=1e-8
    )


def _sample_pc(A, stride, ridge=0.0):
    S = A[::stride]
    return Preconditioner.from_sums(S.sum(0), (S**2).sum(0), len(S), center=True, ridge=ridge)


def _fits(pc, A, ridge=0.0):
    T2 = ((A - pc.mean) / pc.scale) ** 2
    return pc.fits(T2.sum(0), len(A), ridge)


def test_a_sample_scaling_fits_rows_like_the_sample():
    A = np.random.default_rng(0).standard_normal((20000, 4)) * [1e-3, 1.0, 10.0, 1e4] + [
        5.0,
        0.0,
        -3.0,
        1e5,
    ]
    A[:, 0] = 7.25  # a constant column
    assert _fits(_sample_pc(A, 100), A)


def test_a_sample_that_missed_a_rare_feature_does_not_fit():
    A = np.random.default_rng(1).standard_normal((20000, 3))
    A[:, 2] = 0.0
    A[1::100, 2] = 1.0  # one row in 100, none of them in the sample of every 100th row
    pc = _sample_pc(A, 100)
    assert pc.scale[2] == 1.0 and pc.mean[2] == 0.0  # constant in the sample
    assert not _fits(pc, A)  # the rows' own scale is 0.1: ten times smaller
    assert _fits(_sample_pc(A, 1), A)
    # ... unless the penalty's ridge dominates the column's spread anyway
    assert _fits(pc, A, ridge=1.0)


def test_a_sample_that_caught_the_only_outlier_does_not_fit():
    A = np.random.default_rng(2).standard_normal((20000, 2))
    A[0, 1] = 1e4  # in the sample of every 100th row, where it dominates the spread
    assert not _fits(_sample_pc(A, 100), A)
    A[0, 1], A[1, 1] = 0.0, 1e4  # missed by the sample: then it is the rows' spread that is larger
    assert not _fits(_sample_pc(A, 100), A)


def _bound(loss, alpha, fit_intercept, w=None):
    Xt = np.hstack([X, np.ones((len(X), 1))]) if fit_intercept else X
    w = np.ones(len(X)) if w is None else w
    pc = Preconditioner.from_sums(
        X.sum(0), (X**2).sum(0), 200, center=fit_intercept, ridge=alpha / loss.curvature
    )
    gram = Xt.T @ (Xt * w[:, None])
    return HessianBound.from_gram(gram, len(X), pc, fit_intercept, loss.curvature, alpha), Xt


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_hessian_bound_of_the_squared_error_is_its_hessian(fit_intercept):
    # Against the closed form: one step -M^{-1} g from zero is the ridge solution.
    alpha, w = 0.3, RNG.random(200) + 0.5
    bound, Xt = _bound(get_loss("squared_error"), alpha, fit_intercept, w)
    y = RNG.standard_normal(200)
    pen = np.r_[np.ones(3), [0.0] * fit_intercept]
    H = Xt.T @ (Xt * w[:, None]) / 200 + alpha * np.diag(pen)
    ridge = np.linalg.solve(H, Xt.T @ (w * y) / 200)
    g = -Xt.T @ (w * y) / 200  # the gradient at zero, in the flat layout for one output
    np.testing.assert_allclose(-bound.inverse(g), ridge, rtol=1e-8)  # 1e-10 jitter


def test_hessian_bound_of_the_logistic_loss_bounds_its_hessian_per_output():
    # Brute force: M - H(w) is positive semidefinite at random models, and M^{-1} acts on
    # each output's block [coef[:, k], intercept[k]] of the flat layout alone.
    alpha = 1e-3
    bound, Xt = _bound(LOSS, alpha, True)
    pen = np.diag([1.0, 1.0, 1.0, 0.0])
    cols = np.column_stack([bound.inverse(e) for e in np.eye(4)])
    M = np.linalg.inv(cols)
    for seed in range(5):
        wb = np.random.default_rng(seed).standard_normal(4) * [1.0, 0.1, 0.01, 1.0]
        p = 1.0 / (1.0 + np.exp(-Xt @ wb))
        H = Xt.T @ (Xt * (p * (1 - p))[:, None]) / 200 + alpha * pen
        assert np.linalg.eigvalsh(M - H).min() > -1e-9 * np.abs(M).max()
    np.testing.assert_allclose(M[:3, :3], 0.25 * X.T @ X / 200 + alpha * np.eye(3), rtol=1e-8)
    G = RNG.standard_normal((4, 3))  # three outputs: coef rows 0-2, intercept row 3
    flat = np.concatenate([G[:3].ravel(), G[3]])
    out = bound.inverse(flat)
    want = cols @ G
    np.testing.assert_allclose(out, np.concatenate([want[:3].ravel(), want[3]]), rtol=1e-10)


def test_hessian_bound_without_spread_or_penalty_is_still_a_metric():
    Xc = np.hstack([X, np.full((200, 1), 2.0)])  # a constant column, no penalty
    Xt = np.hstack([Xc, np.ones((200, 1))])
    pc = Preconditioner.from_sums(Xc.sum(0), (Xc**2).sum(0), 200, center=True)
    bound = HessianBound.from_gram(Xt.T @ Xt, 200, pc, True, 0.25, 0.0)
    g = RNG.standard_normal(5)
    v = bound.inverse(g)
    assert np.all(np.isfinite(v))
    assert float(g @ v) > 0.0  # positive definite: -v descends
