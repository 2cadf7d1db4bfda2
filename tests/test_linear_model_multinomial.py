"""The multinomial (softmax) model of SGDClassifier against scikit-learn's LogisticRegression."""

import os
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
from references import standardize
from scipy.special import logsumexp
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.linear_model import LogisticRegression

from dasksgd import SGDClassifier

ALPHA = 1e-2


def _data(loader):
    X, y = loader(return_X_y=True)
    return standardize(X), y


def objective(X, y, coef, intercept, alpha=ALPHA, l1_ratio=0.0, sample_weight=None):
    """Mean (weighted) cross-entropy plus the elastic-net penalty, from the formulas."""
    classes = np.unique(y)
    Z = X @ np.atleast_2d(coef).T + intercept
    if Z.shape[1] == 1:  # two classes: the logistic model of the second
        Z = np.hstack([np.zeros_like(Z), Z])
    rows = logsumexp(Z, axis=1) - Z[np.arange(len(y)), np.searchsorted(classes, y)]
    sw = np.ones(len(y)) if sample_weight is None else sample_weight
    pen = l1_ratio * np.abs(coef).sum() + 0.5 * (1 - l1_ratio) * np.sum(coef**2)
    return float(np.mean(sw * rows) + alpha * pen)


def _tight(**kw):
    return SGDClassifier(
        **{"alpha": ALPHA, "tol": 1e-12, "max_iter": 2000, "random_state": 0, **kw}
    )


@pytest.mark.parametrize("loader", [load_iris, load_wine])
@pytest.mark.parametrize("weighted", [False, True])
def test_l2_matches_logistic_regression(loader, weighted):
    X, y = _data(loader)
    sw = np.random.default_rng(0).uniform(0.2, 3.0, len(y)) if weighted else None
    est = _tight().fit(X, y, sample_weight=sw)
    ref = LogisticRegression(C=1 / (ALPHA * len(y)), tol=1e-12, max_iter=10000).fit(
        X, y, sample_weight=sw
    )
    assert est.coef_.shape == ref.coef_.shape == (3, X.shape[1])
    f_ref = objective(X, y, ref.coef_, ref.intercept_, sample_weight=sw)
    f_est = objective(X, y, est.coef_, est.intercept_, sample_weight=sw)
    assert -1e-12 <= (f_est - f_ref) / f_ref < 1e-9
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-4, atol=1e-5)
    # Intercepts are only defined up to a common shift: both are centred.
    np.testing.assert_allclose(est.intercept_, ref.intercept_, atol=1e-4)
    assert abs(est.intercept_.sum()) < 1e-12
    np.testing.assert_allclose(est.predict_proba(X), ref.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(est.predict(X), ref.predict(X))


def test_binary_is_the_logistic_model_whatever_multi_class():
    X, y = _data(load_breast_cancer)
    ref = LogisticRegression(C=1 / (ALPHA * len(y)), tol=1e-12, max_iter=10000).fit(X, y)
    for mc in ("auto", "multinomial", "ovr"):
        est = _tight(multi_class=mc).fit(X, y)
        assert est.coef_.shape == (1, X.shape[1])
        f_ref = objective(X, y, ref.coef_, ref.intercept_)
        assert (objective(X, y, est.coef_, est.intercept_) - f_ref) / f_ref < 1e-9
        np.testing.assert_allclose(est.predict_proba(X), ref.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("l1_ratio", [0.5, 1.0])
def test_elastic_net_reaches_the_saga_optimum(l1_ratio):
    X, y = _data(load_wine)
    n = len(y)
    ref = LogisticRegression(
        C=1 / (ALPHA * n), l1_ratio=l1_ratio, solver="saga", tol=1e-12, max_iter=100000
    ).fit(X, y)
    est = _tight(penalty="elasticnet", l1_ratio=l1_ratio, tol=None, max_iter=3000).fit(X, y)
    f_ref = objective(X, y, ref.coef_, ref.intercept_, l1_ratio=l1_ratio)
    f_est = objective(X, y, est.coef_, est.intercept_, l1_ratio=l1_ratio)
    assert (f_est - f_ref) / f_ref < 1e-6
    # The same coefficients at exactly zero (the proximal step gives exact zeros).
    zero = np.abs(ref.coef_) < 1e-8
    assert zero.any()
    np.testing.assert_array_equal(est.coef_ == 0.0, zero)


def test_class_weight_is_sample_weight_in_the_softmax_loss():
    X, y = _data(load_wine)
    cw = {0: 2.0, 1: 0.5, 2: 1.0}
    est = _tight(class_weight=cw).fit(X, y)
    ref = LogisticRegression(
        C=1 / (ALPHA * len(y)), class_weight=cw, tol=1e-12, max_iter=10000
    ).fit(X, y)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-4, atol=1e-5)


def test_ovr_keeps_one_binary_problem_per_class():
    X, y = _data(load_iris)
    ovr = _tight(multi_class="ovr").fit(X, y)
    mn = _tight().fit(X, y)
    # OvR's probabilities are normalized binary ones, not the softmax of its margins.
    Z = ovr.decision_function(X)
    soft = np.exp(Z - logsumexp(Z, axis=1, keepdims=True))
    assert not np.allclose(ovr.predict_proba(X), soft, atol=1e-3)
    Z = mn.decision_function(X)
    np.testing.assert_allclose(mn.predict_proba(X), np.exp(Z - logsumexp(Z, axis=1, keepdims=True)))
    assert not np.allclose(ovr.coef_, mn.coef_, atol=1e-2)


@pytest.mark.parametrize("loss", ["hinge", "modified_huber"])
def test_multinomial_needs_the_log_loss(loss):
    X, y = _data(load_iris)
    est = SGDClassifier(loss=loss, multi_class="multinomial")
    with pytest.raises(ValueError, match="multi_class='multinomial' is the softmax model"):
        est.fit(X, y)
    assert not hasattr(est, "coef_")
    # "auto" is one-vs-rest for the other losses.
    assert SGDClassifier(loss=loss, max_iter=5, tol=None).fit(X, y).coef_.shape == (3, 4)


def test_auto_batches_reach_the_optimum_from_minibatches():
    # batch_size="auto" measures the diversity of the softmax gradients (their per-sample norms
    # in closed form: tests/test_statistics.py checks them against brute force); the fit starts
    # in mini-batches and ends at the full-batch optimum.
    rng = np.random.default_rng(0)
    n, d, K = 20000, 10, 5
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((d, K))
    logits = X @ W
    y = np.array([rng.choice(K, p=np.exp(z - logsumexp(z))) for z in logits])
    est = SGDClassifier(alpha=1e-4, tol=1e-10, max_iter=200, random_state=0).fit(X, y)
    assert est.history_["batch_size"].iloc[0] < n  # started in mini-batches
    ref = LogisticRegression(C=1 / (1e-4 * n), tol=1e-12, max_iter=10000).fit(X, y)
    f_ref = objective(X, y, ref.coef_, ref.intercept_, alpha=1e-4)
    assert (objective(X, y, est.coef_, est.intercept_, alpha=1e-4) - f_ref) / f_ref < 1e-7


@pytest.mark.cluster
def test_on_a_cluster_it_is_the_in_memory_model(client):
    X, y = _data(load_wine)
    Xd, yd = da.from_array(X, chunks=(45, -1)), da.from_array(y, chunks=45)
    sw = np.linspace(0.5, 2.0, len(y))
    est = _tight().fit(Xd, yd, sample_weight=da.from_array(sw, chunks=45))
    assert est.n_workers_ == 2
    ref = LogisticRegression(C=1 / (ALPHA * len(y)), tol=1e-12, max_iter=10000).fit(
        X, y, sample_weight=sw
    )
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-4, atol=1e-5)
    proba = est.predict_proba(Xd)
    assert isinstance(proba, da.Array)
    np.testing.assert_allclose(proba.compute(), ref.predict_proba(X), atol=1e-5)


def test_partial_fit_trains_the_softmax_model():
    X, y = _data(load_iris)
    est = SGDClassifier(alpha=ALPHA, random_state=0)
    for _ in range(30):
        for chunk in np.array_split(np.random.default_rng(1).permutation(len(y)), 3):
            est.partial_fit(X[chunk], y[chunk], classes=np.unique(y))
    assert est._multinomial
    ref = LogisticRegression(C=1 / (ALPHA * len(y)), tol=1e-12, max_iter=10000).fit(X, y)
    f_ref = objective(X, y, ref.coef_, ref.intercept_)
    assert 0 <= (objective(X, y, est.coef_, est.intercept_) - f_ref) / f_ref < 5e-2
    assert est.score(X, y) >= ref.score(X, y) - 0.03


FASHION = Path("/usr/share/datasets/fashion-mnist")  # apt-get install dataset-fashion-mnist


def _fashion(n):
    import gzip

    if not FASHION.exists():
        if os.environ.get("DASKSGD_REQUIRE_FASHION"):
            pytest.fail(f"{FASHION} is missing though .ci/run installed it")
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    with gzip.open(FASHION / "train-images-idx3-ubyte.gz", "rb") as f:
        X = np.frombuffer(f.read(16 + 784 * n), dtype=np.uint8, offset=16).reshape(n, 784)
    with gzip.open(FASHION / "train-labels-idx1-ubyte.gz", "rb") as f:
        y = np.frombuffer(f.read(8 + n), dtype=np.uint8, offset=8)
    return X.astype(np.float64) / 255.0, y


def test_fashion_mnist_matches_logistic_regression():
    # Real images, 10 classes: raw pixels (the preconditioner scales them), every one of the
    # 7,850 coefficients against lbfgs at a tight tolerance.
    X, y = _fashion(2000)
    alpha = 1e-3
    ref = LogisticRegression(C=1 / (alpha * len(y)), tol=1e-12, max_iter=20000).fit(X, y)
    est = SGDClassifier(alpha=alpha, tol=1e-12, max_iter=1000, random_state=0).fit(X, y)
    f_ref = objective(X, y, ref.coef_, ref.intercept_, alpha=alpha)
    f_est = objective(X, y, est.coef_, est.intercept_, alpha=alpha)
    assert est._multinomial and est.coef_.shape == (10, 784)
    assert abs(f_est - f_ref) / f_ref < 1e-8
    np.testing.assert_allclose(est.coef_, ref.coef_, atol=1e-3 * np.abs(ref.coef_).max())
    np.testing.assert_allclose(est.predict_proba(X), ref.predict_proba(X), atol=1e-4)
