import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from references import on_backend, random_problem

from dasksgd import statistics
from dasksgd.losses import LOSSES, get_loss
from dasksgd.statistics import GradStats, gradient_statistics, loss_sum, row_sq_norms

RNG = np.random.default_rng(42)


def _problem(name, K, n=37, d=5):
    return random_problem(RNG, name, K, n, d)


def _brute_force(loss, X, Y, W, b, sw, fit_intercept):
    """Per-sample gradients formed one row at a time, then summed."""
    n, d = X.shape
    K = W.shape[1]
    gsum_w, gsum_b, total, sq = np.zeros((d, K)), np.zeros(K), 0.0, 0.0
    h = 1e-6
    for i in range(n):
        s = 1.0 if sw is None else sw[i]
        z = X[i] @ W + b
        # The derivative of the per-sample loss (the row's sum over its outputs: the multinomial
        # loss couples them) in each margin, by finite differences of loss.loss:
        e = h * np.eye(K)
        dz = np.array(
            [
                (
                    np.sum(loss.loss(Y[i : i + 1], (z + e[k])[None]))
                    - np.sum(loss.loss(Y[i : i + 1], (z - e[k])[None]))
                )
                / (2 * h)
                for k in range(K)
            ]
        )
        g_w = s * np.outer(X[i], dz)
        g_b = s * dz
        gsum_w += g_w
        gsum_b += g_b
        total += s * float(np.sum(loss.loss(Y[i : i + 1], z[None])))
        sq += np.sum(g_w**2) + (np.sum(g_b**2) if fit_intercept else 0.0)
    return gsum_w, gsum_b, total, sq


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize(
    ("backend", "block_bytes"), [("numpy", None), ("numpy", 200), ("strict", None)]
)
def test_against_per_sample_gradients(
    name, K, weighted, fit_intercept, backend, block_bytes, monkeypatch
):
    if block_bytes is not None:  # blocks of 5 rows: the cache-blocked path of large arrays
        monkeypatch.setattr(statistics, "BLOCK_BYTES", block_bytes)
    loss = get_loss(name, 0.2)
    X, Y, W, b = _problem(name, K)
    sw = RNG.uniform(0.1, 3.0, X.shape[0]) if weighted else None
    Xb, swb = on_backend(X, backend), on_backend(sw, backend)
    st_ = gradient_statistics(
        Xb,
        on_backend(Y, backend),
        on_backend(W, backend),
        on_backend(b, backend),
        loss,
        sample_weight=swb,
        row_norms=row_sq_norms(Xb),
        fit_intercept=fit_intercept,
    )
    assert isinstance(st_.grad_coef, np.ndarray)  # statistics come back to the host
    gw, gb, total, sq = _brute_force(loss, X, Y, W, b, sw, fit_intercept)
    assert st_.count == X.shape[0]
    np.testing.assert_allclose(st_.grad_coef, gw, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(st_.grad_intercept, gb, rtol=1e-5, atol=1e-6)
    assert st_.loss == pytest.approx(total, rel=1e-12)
    assert st_.sqnorm == pytest.approx(sq, rel=1e-5)


@pytest.mark.parametrize("name", ["log_loss", "hinge", "squared_error"])
def test_sparse_equals_dense(name):
    X, Y, W, b = _problem(name, 3)
    X[X < 0.5] = 0.0
    loss = get_loss(name)
    dense = gradient_statistics(X, Y, W, b, loss, row_norms=row_sq_norms(X))
    Xs = sp.csr_matrix(X)
    sparse = gradient_statistics(Xs, Y, W, b, loss, row_norms=row_sq_norms(Xs))
    np.testing.assert_allclose(sparse.grad_coef, dense.grad_coef, rtol=1e-12)
    np.testing.assert_allclose(sparse.grad_intercept, dense.grad_intercept, rtol=1e-12)
    assert sparse.sqnorm == pytest.approx(dense.sqnorm, rel=1e-12)
    assert sparse.loss == pytest.approx(dense.loss, rel=1e-12)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(
    ("backend", "block_bytes"), [("numpy", None), ("numpy", 200), ("strict", None)]
)
def test_probe_loss_and_loss_sum(name, weighted, backend, block_bytes, monkeypatch):
    if block_bytes is not None:
        monkeypatch.setattr(statistics, "BLOCK_BYTES", block_bytes)
    loss = get_loss(name, 0.2)
    X, Y, W, b = _problem(name, 2)
    W2, b2 = W + RNG.standard_normal(W.shape), b - 0.3
    sw = RNG.uniform(0.1, 3.0, X.shape[0]) if weighted else np.ones(X.shape[0])
    expected = sum(
        sw[i] * float(np.sum(loss.loss(Y[i : i + 1], (X[i] @ W2 + b2)[None])))
        for i in range(X.shape[0])
    )
    on = {
        k: on_backend(v, backend) for k, v in dict(X=X, Y=Y, W=W, b=b, W2=W2, b2=b2, sw=sw).items()
    }
    swb = on["sw"] if weighted else None
    st_ = gradient_statistics(
        on["X"], on["Y"], on["W"], on["b"], loss, sample_weight=swb, probe=(on["W2"], on["b2"])
    )
    plain = gradient_statistics(on["X"], on["Y"], on["W"], on["b"], loss, sample_weight=swb)
    assert loss_sum(on["X"], on["Y"], on["W2"], on["b2"], loss, sample_weight=swb) == pytest.approx(
        expected, rel=1e-12
    )
    assert st_.probe_loss == pytest.approx(expected, rel=1e-12)
    assert plain.probe_loss == 0.0
    # The probe does not change the statistics of the model itself.
    np.testing.assert_allclose(st_.grad_coef, plain.grad_coef, rtol=1e-13, atol=1e-15)
    assert st_.loss == pytest.approx(plain.loss, rel=1e-13)
    assert loss_sum(X, Y, W2, b2, loss, sample_weight=sw if weighted else None) == pytest.approx(
        expected, rel=1e-12
    )
    Xs = sp.csr_matrix(X)
    assert loss_sum(Xs, Y, W2, b2, loss, sample_weight=sw if weighted else None) == pytest.approx(
        expected, rel=1e-12
    )


def test_float32_blocks_accumulate_in_float64(monkeypatch):
    # 200k float32 rows in 10k blocks of 20: float32 running sums would drift by ~1e-5 relative.
    monkeypatch.setattr(statistics, "BLOCK_BYTES", 320)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((200_000, 4)).astype(np.float32)
    Y = np.where(rng.random((200_000, 1)) < 0.5, 1.0, -1.0).astype(np.float32)
    W, b = (rng.standard_normal((4, 1)) * 0.3).astype(np.float32), np.full(1, 0.1, dtype=np.float32)
    loss = get_loss("log_loss")
    st32 = gradient_statistics(X, Y, W, b, loss)
    ref = gradient_statistics(
        X.astype(np.float64), Y.astype(np.float64), W.astype(np.float64), b.astype(np.float64), loss
    )
    assert st32.loss == pytest.approx(ref.loss, rel=1e-6)
    np.testing.assert_allclose(st32.grad_coef, ref.grad_coef, rtol=1e-5)
    assert loss_sum(X, Y, W, b, loss) == pytest.approx(ref.loss, rel=1e-6)


def test_split_rows_sum_to_whole():
    X, Y, W, b = _problem("log_loss", 3, n=100)
    loss = get_loss("log_loss")
    rn = row_sq_norms(X)
    whole = gradient_statistics(X, Y, W, b, loss, row_norms=rn)
    parts = [
        gradient_statistics(X[a:c], Y[a:c], W, b, loss, row_norms=rn[a:c])
        for a, c in [(0, 13), (13, 60), (60, 100)]
    ]
    total = parts[0] + parts[1] + parts[2]
    np.testing.assert_allclose(total.grad_coef, whole.grad_coef, rtol=1e-12)
    assert total.count == whole.count and total.loss == pytest.approx(whole.loss, rel=1e-12)


def _stats(d=3, K=2):
    f = st.floats(-1e3, 1e3, allow_nan=False, width=64)
    ints = st.integers(0, 2**20).map(float)
    return st.builds(
        GradStats,
        count=ints,
        loss=ints,
        grad_coef=arrays(np.float64, (d, K), elements=st.integers(-(2**20), 2**20).map(float)),
        grad_intercept=arrays(np.float64, (K,), elements=f),
        sqnorm=ints,
    )


@settings(max_examples=60, deadline=None)
@given(_stats(), _stats(), _stats())
def test_combine_is_associative(a, b, c):
    # Exact for integer-valued fields; within rounding for the rest.
    left, right = (a + b) + c, a + (b + c)
    assert left.count == right.count and left.loss == right.loss and left.sqnorm == right.sqnorm
    np.testing.assert_array_equal(left.grad_coef, right.grad_coef)
    np.testing.assert_allclose(left.grad_intercept, right.grad_intercept, rtol=1e-12, atol=1e-9)
    zero = GradStats.zeros(3, 2)
    same = a + zero
    np.testing.assert_array_equal(same.grad_coef, a.grad_coef)
    assert same.count == a.count


def test_sum_adds_every_field():
    # __add__ names the fields one by one (it is on the client's per-step path): a new field
    # must be added there too.
    from dataclasses import fields

    names = [f.name for f in fields(GradStats)]
    a = GradStats(
        *[np.full((2, 1), i + 1.0) if "grad" in n else i + 1.0 for i, n in enumerate(names)]
    )
    b = GradStats(
        *[
            np.full((2, 1), 10.0 * (i + 1)) if "grad" in n else 10.0 * (i + 1)
            for i, n in enumerate(names)
        ]
    )
    total = a + b
    for i, name in enumerate(names):
        np.testing.assert_array_equal(getattr(total, name), 11.0 * (i + 1), err_msg=name)
