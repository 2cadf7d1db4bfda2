import math

import dask.array as da
import numpy as np
import pytest
from references import BACKENDS, on_backend, random_problem

from dasksgd import gradient_diversity
from dasksgd.diversity import DiversitySmoother, batch_diversity, diversity_terms
from dasksgd.losses import LOSSES, get_loss
from dasksgd.penalties import get_penalty
from dasksgd.statistics import gradient_statistics, row_sq_norms

RNG = np.random.default_rng(7)


def _per_sample_gradients(name, penalty, alpha, X, Y, W, b, fit_intercept, l1_ratio=0.15):
    """Every per-sample gradient of f_i = loss_i + alpha R, by central differences of f_i."""
    loss, pen = get_loss(name, 0.2), get_penalty(penalty, alpha, l1_ratio)
    d, K = W.shape
    theta0 = np.concatenate([W.ravel(), b if fit_intercept else []])

    def f(theta, i):
        Wt = theta[: d * K].reshape(d, K)
        bt = theta[d * K :] if fit_intercept else np.zeros(K)
        z = X[i] @ Wt + bt
        return float(np.sum(loss.loss(Y[i : i + 1], z[None]))) + pen.value(Wt)

    h = 1e-6
    G = np.empty((X.shape[0], theta0.size))
    for i in range(X.shape[0]):
        for j in range(theta0.size):
            e = np.zeros_like(theta0)
            e[j] = h
            G[i, j] = (f(theta0 + e, i) - f(theta0 - e, i)) / (2 * h)
    return G


def _problem(name, K, n=25, d=4):
    return random_problem(RNG, name, K, n, d)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("penalty", ["l2", "l1", "elasticnet", None])
@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("backend", BACKENDS)
def test_exact_against_per_sample_gradients(name, penalty, K, fit_intercept, backend):
    X, Y, W, b = _problem(name, K)
    G = _per_sample_gradients(name, penalty, 0.3, X, Y, W, b, fit_intercept)
    expected = np.sum(G**2) / np.sum(G.sum(axis=0) ** 2)
    got = gradient_diversity(
        on_backend(X, backend),
        on_backend(Y if K > 1 else Y[:, 0], backend),
        W.T if K > 1 else W[:, 0],
        (b if K > 1 else b[0]) if fit_intercept else None,
        loss=name,
        penalty=penalty,
        alpha=0.3,
        epsilon=0.2,
    )
    assert got == pytest.approx(expected, rel=1e-5)


def test_identical_gradients_give_one_over_n():
    n = 40
    X = np.tile([[1.0, -2.0, 0.5]], (n, 1))
    y = np.ones(n)
    assert gradient_diversity(X, y, np.array([0.1, 0.2, 0.3]), 0.5) == pytest.approx(1.0 / n)


def test_orthogonal_gradients_give_one():
    X = np.eye(6) * np.arange(1.0, 7.0)[:, None]
    y = RNG.standard_normal(6)
    assert gradient_diversity(
        X, y, np.zeros(6), loss="squared_error", penalty=None
    ) == pytest.approx(1.0)


def test_stationary_point_is_infinite():
    X = np.array([[1.0], [-1.0]])
    y = np.array([1.0, 1.0])
    assert gradient_diversity(X, y, np.zeros(1), loss="squared_error", penalty=None) == math.inf


def test_dask_equals_numpy():
    X, Y, W, b = _problem("log_loss", 3, n=503, d=5)
    ref = gradient_diversity(X, Y, W.T, b, alpha=0.01)
    Xd = da.from_array(X, chunks=(100, 2))
    got = gradient_diversity(Xd, da.from_array(Y, chunks=(100, 3)), W.T, b, alpha=0.01)
    assert got == pytest.approx(ref, rel=1e-12)
    got2 = gradient_diversity(Xd, Y, W.T, b, alpha=0.01)  # y in memory, X lazy
    assert got2 == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("m", [10, 60, 150])
def test_batch_estimate_is_unbiased(m):
    """Over many batches drawn without replacement, the estimates average to the exact values."""
    n = 200
    X = RNG.standard_normal((n, 4)) + 0.3
    y = np.where(RNG.random(n) < 0.7, 1.0, -1.0).reshape(-1, 1)
    W, b = np.full((4, 1), 0.05), np.zeros(1)
    loss, pen = get_loss("log_loss"), get_penalty("l2", 0.1)
    rn = row_sq_norms(X)
    full = gradient_statistics(X, y, W, b, loss, row_norms=rn)
    sq, norm2 = diversity_terms(full, pen, W)
    exact_mean_sq, exact_grad_sq = sq / n, norm2 / n**2
    rng = np.random.default_rng(0)
    draws = np.array(
        [
            batch_diversity(
                gradient_statistics(X[idx], y[idx], W, b, loss, row_norms=rn[idx]), pen, W, n
            )
            for idx in (rng.choice(n, m, replace=False) for _ in range(4000))
        ]
    )
    se = draws.std(axis=0) / np.sqrt(len(draws))
    assert abs(draws[:, 0].mean() - exact_mean_sq) < 4 * se[0]
    assert abs(draws[:, 1].mean() - exact_grad_sq) < 4 * se[1]
    # The plug-in ||mean g||^2 is biased: its mean is far off by comparison.
    plug_in = np.mean(
        [
            np.sum(
                np.concatenate(
                    [(s.grad_coef / m + pen.subgradient(W)).ravel(), s.grad_intercept / m]
                )
                ** 2
            )
            for s in (
                gradient_statistics(X[idx], y[idx], W, b, loss, row_norms=rn[idx])
                for idx in (rng.choice(n, m, replace=False) for _ in range(500))
            )
        ]
    )
    if m < n / 2:
        assert plug_in - exact_grad_sq > 10 * se[1]


def test_full_batch_estimate_is_exact():
    X, Y, W, b = _problem("squared_error", 1, n=50)
    st = gradient_statistics(X, Y, W, b, get_loss("squared_error"), row_norms=row_sq_norms(X))
    pen = get_penalty("l2", 0.1)
    mean_sq, grad_sq = batch_diversity(st, pen, W, 50)
    assert mean_sq / grad_sq == pytest.approx(
        50 * gradient_diversity(X, Y[:, 0], W[:, 0], b[0], loss="squared_error", alpha=0.1)
    )


def test_smoother():
    sm = DiversitySmoother(beta=0.9)
    s = sm.init()
    assert math.isnan(sm.value(s))
    s = sm.update(s, mean_sq=10.0, grad_sq=2.0)
    assert sm.value(s) == pytest.approx(5.0)  # bias-corrected: no pull towards zero
    for _ in range(5):
        s = sm.update(s, mean_sq=10.0, grad_sq=2.0)
    assert sm.value(s) == pytest.approx(5.0)
    s = sm.update(s, mean_sq=float("nan"), grad_sq=1.0)  # skipped
    assert sm.value(s) == pytest.approx(5.0)
    for _ in range(60):
        s = sm.update(s, mean_sq=10.0, grad_sq=-1.0)
    assert sm.value(s) == math.inf  # gradient below the noise level
    with pytest.raises(ValueError):
        DiversitySmoother(beta=1.0)


def test_batch_policy_follows_the_rule_with_hysteresis():
    from dasksgd.diversity import DiversityBatchSize, FixedBatchSize

    p = DiversityBatchSize(delta=1.0, b_min=100, b_max=100_000)  # taken whole over 12,500 rows
    s = p.init()
    assert s.size == 100
    assert p.update(s, ndelta=110.0).size == 100  # below the floor
    s = p.update(s, ndelta=999.0)
    assert s.size == 1000 and s.changes == 1
    assert p.update(s, ndelta=1100.0).size == 1000  # +10%: not worth a change
    assert p.update(s, ndelta=1300.0).size == 1301
    assert p.update(s, ndelta=600.0).size == 1000  # -40%: kept
    assert p.update(s, ndelta=300.0).size == 301  # halved: follows
    assert p.update(s, ndelta=math.inf).size == 100_000  # below the noise level: the cap
    assert p.update(s, ndelta=math.nan) == s
    assert p.update(BatchStateLike(3500), ndelta=3999.0).size == 3500  # +14%: kept
    assert p.update(BatchStateLike(3500), ndelta=4999.0).size == 5000
    assert (
        p.update(BatchStateLike(10_000), ndelta=12_499.0).size == 12_500
    )  # an eighth of the data: the rule
    assert (
        p.update(BatchStateLike(10_000), ndelta=12_500.0).size == 100_000
    )  # over an eighth: the whole data
    assert p.update(BatchStateLike(9000), ndelta=1e9).size == 100_000  # the cap
    f = FixedBatchSize(50, 20)
    assert f.init().size == 20 and f.update(f.init(), ndelta=1e6).size == 20
    with pytest.raises(ValueError):
        DiversityBatchSize(0.0, 1, 10)
    with pytest.raises(ValueError):
        DiversityBatchSize(1.0, 20, 10)


def test_a_stalled_epoch_doubles_the_batch_and_keeps_it():
    from dasksgd.diversity import DiversityBatchSize, FixedBatchSize

    p = DiversityBatchSize(delta=1.0, b_min=100, b_max=100_000)
    s = p.update(p.init(), ndelta=999.0)
    assert s.size == 1000
    s = p.stalled(s)
    assert s.size == s.floor == 2000
    assert p.update(s, ndelta=300.0).size == 2000  # the rule asks for less: the floor holds
    assert p.update(s, ndelta=3000.0).size == 3001  # and more is still granted
    assert p.stalled(p.stalled(s)).size == 8000
    assert p.stalled(p.stalled(p.stalled(s))).size == 100_000  # 16,000 is over an eighth: all of it
    assert p.exact(s).size == p.exact(s).floor == 100_000  # an epoch that raised the objective
    assert p.update(p.exact(s), ndelta=300.0).size == 100_000
    f = FixedBatchSize(50, 1000)
    assert f.stalled(f.init()) == f.init() == f.exact(f.init())


def BatchStateLike(size):
    from dasksgd.diversity import BatchState

    return BatchState(size)
