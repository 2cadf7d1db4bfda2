"""The estimators against independent references: scikit-learn's solvers and closed forms."""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from references import (
    ALPHA,
    PARITY,
    XC,
    XR,
    YC,
    YR,
    hinge_kkt_residual,
    objective,
    reference,
    standardize,
)
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import Lasso, LogisticRegression, Ridge
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.estimator_checks import parametrize_with_checks

from dasksgd import SGDClassifier, SGDRegressor


@pytest.mark.parametrize("loss, penalty, fit_intercept, alpha, tol", PARITY)
def test_full_batch_reaches_exact_optimum(loss, penalty, fit_intercept, alpha, tol):
    classif = loss in ("log_loss", "squared_hinge", "modified_huber", "hinge")
    X, y = (XC, YC) if classif else (XR, YR)
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
    ys = 2.0 * y - 1.0 if classif else y
    f = objective(loss, penalty, X, ys, est.coef_, est.intercept_[0], alpha=alpha)
    f_star = reference(loss, penalty, X, ys, fit_intercept, alpha=alpha)
    gap = (f - f_star) / abs(f_star)
    assert gap >= -1e-9, (
        "better than the reference optimum: the reference or the objective is wrong"
    )
    assert gap <= tol


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("alpha", [1e-7, 1e-6])
def test_full_batch_squared_error_is_ridge_after_one_pass(fit_intercept, alpha):
    # L-BFGS's metric is the objective's curvature bound (few features, a stiff problem: the
    # diabetes columns are correlated and alpha small), which for the squared error is its
    # Hessian: the first full-batch step is Newton's, onto the closed form.
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    n = len(y)
    ridge = Ridge(alpha=alpha * n, fit_intercept=fit_intercept, tol=1e-12).fit(X, y)
    est = SGDRegressor(
        alpha=alpha, batch_size=n, max_iter=1, tol=None, fit_intercept=fit_intercept
    ).fit(X, y)
    np.testing.assert_allclose(
        est.coef_, ridge.coef_, rtol=1e-7, atol=1e-7 * abs(ridge.coef_).max()
    )
    np.testing.assert_allclose(est.intercept_[0], ridge.intercept_, rtol=1e-9)


@pytest.mark.parametrize("alpha, stiff", [(1e-1, False), (1e-6, True)])
def test_the_curvature_bound_is_requested_only_for_a_stiff_problem(alpha, stiff, monkeypatch):
    # The Gram matrix of every row costs a few passes: it is asked for only where the diagonal
    # scaling leaves a condition number over BOUND_CONDITION (a strong penalty makes the
    # diabetes problem well conditioned).
    from sklearn.datasets import load_diabetes

    from dasksgd.engine.local import LocalBackend

    X, y = load_diabetes(return_X_y=True)
    strides, gram = [], LocalBackend.gram
    monkeypatch.setattr(
        LocalBackend, "gram", lambda self, stride: strides.append(stride) or gram(self, stride)
    )
    SGDRegressor(alpha=alpha, batch_size=len(y), max_iter=3, tol=None).fit(X, y)
    # The plan's request (here a sample of every row: 442 rows), then the bound's.
    assert len(strides) == (2 if stiff else 1)


def test_l1_gives_exact_zeros_like_lasso():
    est = SGDRegressor(
        penalty="l1",
        alpha=0.05,
        batch_size=len(YR),
        learning_rate="constant",
        eta0=1e3,
        tol=None,
        max_iter=3000,
    ).fit(XR, YR)
    ref = Lasso(alpha=0.05, tol=1e-14, max_iter=100000).fit(XR, YR)
    np.testing.assert_array_equal(est.coef_ == 0, ref.coef_ == 0)
    np.testing.assert_allclose(est.coef_, ref.coef_, atol=1e-6)


def test_minibatch_adaptive_is_close():
    est = SGDClassifier(
        alpha=ALPHA,
        batch_size=64,
        learning_rate="adaptive",
        eta0=0.5,
        max_iter=50,
        tol=None,
        random_state=0,
    ).fit(XC, YC)
    f = objective("log_loss", "l2", XC, 2.0 * YC - 1, est.coef_, est.intercept_[0])
    f_star = reference("log_loss", "l2", XC, 2.0 * YC - 1, True)
    assert 0 <= (f - f_star) / f_star < 2e-3


def test_averaging_reduces_the_noise_floor():
    kw = dict(
        alpha=ALPHA,
        batch_size=16,
        learning_rate="constant",
        eta0=0.05,
        max_iter=40,
        tol=None,
        random_state=0,
    )
    plain = SGDClassifier(**kw).fit(XC, YC)
    averaged = SGDClassifier(average=20 * len(YC), **kw).fit(XC, YC)
    f_star = reference("log_loss", "l2", XC, 2.0 * YC - 1, True)
    gaps = [
        (objective("log_loss", "l2", XC, 2.0 * YC - 1, e.coef_, e.intercept_[0]) - f_star) / f_star
        for e in (plain, averaged)
    ]
    assert gaps[1] < 0.5 * gaps[0]


def test_trust_ratio_fits_reach_the_one_vs_rest_optimum():
    # Mini-batch steps with LARS's ratios converge (if slower: docs/performance.md), and the
    # default fit, which ends in L-BFGS iterations that ignore them, reaches the optimum.
    X, y = load_wine(return_X_y=True)
    X = standardize(X)

    def gap(est):
        def f(coef, intercept):
            return sum(
                objective("log_loss", "l2", X, 2.0 * (y == k) - 1, coef[k], intercept[k])
                for k in range(3)
            )

        ref = OneVsRestClassifier(
            LogisticRegression(C=1 / (ALPHA * len(y)), max_iter=10000, tol=1e-12)
        ).fit(X, y)
        best = f(
            np.vstack([e.coef_ for e in ref.estimators_]),
            [e.intercept_[0] for e in ref.estimators_],
        )
        return (f(est.coef_, est.intercept_) - best) / best

    kw = dict(alpha=ALPHA, random_state=0, trust_ratio=True, multi_class="ovr")
    mini = dict(batch_size=32, learning_rate="adaptive", eta0=0.5, max_iter=200, tol=None)
    with_ratios = SGDClassifier(**kw, **mini).fit(X, y)
    without = SGDClassifier(alpha=ALPHA, random_state=0, multi_class="ovr", **mini).fit(X, y)
    assert 0 <= gap(with_ratios) < 2e-2
    assert not np.allclose(with_ratios.coef_, without.coef_, rtol=1e-3)  # the ratios acted
    assert 0 <= gap(SGDClassifier(**kw).fit(X, y)) < 1e-5


@pytest.mark.parametrize("loader", [load_iris, load_wine])
def test_multiclass_accuracy_close_to_logistic_regression(loader):
    X, y = loader(return_X_y=True)
    X = standardize(X)
    est = SGDClassifier(
        alpha=ALPHA,
        multi_class="ovr",
        batch_size=len(y),
        learning_rate="constant",
        eta0=1e3,
        tol=None,
        max_iter=3000,
    ).fit(X, y)
    assert est.coef_.shape == (len(np.unique(y)), X.shape[1])
    ref = OneVsRestClassifier(
        LogisticRegression(C=1 / (ALPHA * len(y)), max_iter=10000, tol=1e-12)
    ).fit(X, y)
    assert est.score(X, y) >= ref.score(X, y) - 0.02
    # Each one-vs-rest column is the binary problem of its class.
    np.testing.assert_allclose(
        est.coef_, np.vstack([e.coef_ for e in ref.estimators_]), rtol=1e-4, atol=1e-5
    )


def test_sample_weight_matches_logistic_regression():
    rng = np.random.default_rng(0)
    sw = rng.uniform(0.2, 3.0, len(YC))
    est = SGDClassifier(
        alpha=ALPHA, batch_size=len(YC), learning_rate="constant", eta0=1e3, tol=None, max_iter=3000
    ).fit(XC, YC, sample_weight=sw)
    ref = LogisticRegression(C=1 / (ALPHA * len(YC)), tol=1e-12, max_iter=10000).fit(
        XC, YC, sample_weight=sw
    )

    def weighted(e):
        z = XC @ e.coef_.ravel() + e.intercept_[0]
        return np.mean(sw * np.logaddexp(0, -(2.0 * YC - 1) * z)) + 0.5 * ALPHA * np.sum(e.coef_**2)

    assert -1e-12 <= (weighted(est) - weighted(ref)) / weighted(ref) < 1e-7


def test_class_weight_balanced_is_sample_weight():
    y = YC.copy()
    kw = dict(alpha=ALPHA, batch_size=100, max_iter=5, tol=None, random_state=3)
    a = SGDClassifier(class_weight="balanced", **kw).fit(XC, y)
    b = SGDClassifier(**kw).fit(XC, y, sample_weight=compute_sample_weight("balanced", y))
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-12)


@pytest.mark.parametrize("weight", [-1.0, np.inf, np.nan])
def test_class_weight_that_is_not_a_weight_is_refused_before_any_work(weight):
    est = SGDClassifier(class_weight={1: weight})
    with pytest.raises(ValueError, match=r"class_weight must be finite and non-negative; got \{1:"):
        est.fit(XC, YC)
    assert not hasattr(est, "coef_")
    SGDClassifier(class_weight={1: 0.0}, max_iter=2, tol=None).fit(XC, YC)  # 0 ignores a class


@pytest.mark.parametrize("Est", [SGDClassifier, SGDRegressor])
def test_weights_that_overflow_float64_are_refused_with_the_way_out(Est):
    y = YC if Est is SGDClassifier else XC[:, 0]
    with pytest.raises(ValueError, match="sum to inf, more than float64"):
        Est().fit(XC, y, sample_weight=np.full(len(y), 1e308))
    X = XC.copy()
    X[0, 0] = 1e3  # each weight is finite, as is their sum; a weight times x^2 is not
    with pytest.raises(ValueError, match="times the squared features overflow"):
        Est().fit(X, y, sample_weight=np.full(len(y), 1e303))
    # The way out the messages give: weights over c and alpha over c, the same model.
    kw = dict(max_iter=200, tol=1e-10, random_state=0)
    sw = np.linspace(0.5, 2.0, len(y))
    a = Est(alpha=1e-3, **kw).fit(XC, y, sample_weight=sw)
    b = Est(alpha=1e-3 / 8, **kw).fit(XC, y, sample_weight=sw / 8)

    def objective(e):  # of the first problem, at e's model
        z = XC @ e.coef_.ravel() + np.ravel(e.intercept_)[0]
        loss = np.logaddexp(0, -(2.0 * y - 1) * z) if Est is SGDClassifier else (y - z) ** 2 / 2
        return np.mean(sw * loss) + 0.5e-3 * np.sum(e.coef_**2)

    assert abs(objective(b) - objective(a)) <= 1e-6 * objective(a)


def test_a_class_weight_that_overflows_float64_is_refused():
    with pytest.raises(ValueError, match="class weights\\) sum to inf"):
        SGDClassifier(class_weight={0: 1e308}).fit(XC, YC)


def test_string_labels_and_probabilities():
    labels = np.array(["malignant", "benign"])[YC]
    est = SGDClassifier(alpha=ALPHA, random_state=0).fit(XC, labels)
    assert list(est.classes_) == ["benign", "malignant"]
    assert set(est.predict(XC)) <= set(labels)
    P = est.predict_proba(XC)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    np.testing.assert_allclose(P[:, 1], 1 / (1 + np.exp(-est.decision_function(XC))), rtol=1e-12)
    np.testing.assert_allclose(est.predict_log_proba(XC), np.log(P))
    assert not hasattr(SGDClassifier(loss="hinge"), "predict_proba")


def test_modified_huber_probabilities():
    X, y = load_iris(return_X_y=True)
    est = SGDClassifier(loss="modified_huber", random_state=0).fit(standardize(X), y)
    P = est.predict_proba(standardize(X))
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert np.all(P >= 0)


def test_partial_fit_continues():
    rng = np.random.default_rng(0)
    est = SGDClassifier(alpha=ALPHA, batch_size=64, random_state=0)
    objectives = []
    for _ in range(5):
        idx = rng.permutation(len(YC))[:300]
        est.partial_fit(XC[idx], YC[idx], classes=[0, 1])
        objectives.append(
            objective("log_loss", "l2", XC, 2.0 * YC - 1, est.coef_, est.intercept_[0])
        )
    assert est.n_iter_ == 5
    assert est.t_ == 5 * 300 + 1
    assert objectives[-1] < objectives[0]
    assert len(est.history_) == 5 * 5  # 300 rows in steps of 64
    with pytest.raises(ValueError, match="classes must be passed on the first call to partial_fit"):
        SGDClassifier().partial_fit(XC, YC)


def test_warm_start_starts_from_previous_model():
    est = SGDClassifier(alpha=ALPHA, warm_start=True, max_iter=3, tol=None, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(XC, YC)
        first = est.history_["objective"].dropna().to_numpy()
        est.fit(XC, YC)
    second = est.history_["objective"].dropna().to_numpy()
    assert second[0] < first[0]
    cold = SGDClassifier(alpha=ALPHA, max_iter=3, tol=None, random_state=0).fit(XC, YC)
    assert cold.history_["objective"].dropna().iloc[0] == pytest.approx(first[0])


def test_early_stopping_and_history():
    est = SGDRegressor(
        early_stopping=True, n_iter_no_change=3, max_iter=500, batch_size=32, random_state=0
    ).fit(XR, YR)
    assert est.n_iter_ < 500
    h = est.history_
    assert {
        "step",
        "epoch",
        "samples",
        "batch_size",
        "diversity",
        "learning_rate",
        "loss",
        "time",
        "objective",
    } <= set(h.columns)
    assert (h["diversity"] > 0).all()
    ends = h.dropna(subset=["objective"])
    assert len(ends) == est.n_iter_
    assert ends["validation_score"].notna().all()
    assert h["samples"].iloc[-1] == est.t_ - 1
    assert (np.diff(h["time"]) >= 0).all()
    # 10% held out: the epochs run over the other 90%.
    assert h.groupby("epoch")["batch_size"].sum().iloc[0] == len(YR) - int(np.ceil(0.1 * len(YR)))


def test_convergence_warning():
    with pytest.warns(ConvergenceWarning, match="Maximum number of iteration reached"):
        SGDClassifier(max_iter=1, tol=1e-12).fit(XC, YC)


def test_sparse_equals_dense():
    Xs = XC.copy()
    Xs[np.abs(Xs) < 0.7] = 0.0
    kw = dict(alpha=ALPHA, batch_size=50, max_iter=3, tol=None, random_state=0)
    a = SGDClassifier(**kw).fit(Xs, YC)
    b = SGDClassifier(**kw).fit(sp.csr_matrix(Xs), YC)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-10, atol=1e-12)


def test_float32_stays_float32():
    est = SGDClassifier(random_state=0).fit(XC.astype(np.float32), YC)
    assert est.decision_function(XC.astype(np.float32)).dtype == np.float32
    assert est.score(XC.astype(np.float32), YC) > 0.95


def test_pandas_feature_names():
    df = pd.DataFrame(XC[:, :4], columns=["a", "b", "c", "d"])
    est = SGDClassifier(random_state=0).fit(df, YC)
    assert list(est.feature_names_in_) == ["a", "b", "c", "d"]


def test_reproducible():
    kw = dict(batch_size=37, max_iter=4, tol=None, random_state=11)
    a, b = SGDClassifier(**kw).fit(XC, YC), SGDClassifier(**kw).fit(XC, YC)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    c = SGDClassifier(**{**kw, "random_state": 12}).fit(XC, YC)
    assert not np.array_equal(a.coef_, c.coef_)


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, match",
    [
        (
            {"alpha": -1},
            r"The 'alpha' parameter of SGDClassifier must be a float in the range \[0.0, inf\)",
        ),
        (
            {"batch_size": 0},
            r"The 'batch_size' parameter of SGDClassifier must be an int in the range \[1, inf\)",
        ),
        ({"loss": "logistic"}, r"The 'loss' parameter of SGDClassifier must be a str among"),
        ({"fan_in": 1}, r"The 'fan_in' parameter"),
        ({"delta": 0}, r"The 'delta' parameter"),
        (
            {"learning_rate": "optimal", "alpha": 0},
            r"alpha must be > 0 since learning_rate is 'optimal'",
        ),
        ({"learning_rate": "constant", "eta0": 0}, r"eta0 must be > 0"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        SGDClassifier(**params).fit(XC, YC)


def test_bad_input_messages():
    X = XC.copy()
    X[3, 2] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        SGDClassifier().fit(X, YC)
    X[3, 2] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        SGDClassifier().fit(X, YC)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        SGDClassifier().fit(XC, YC[:-1])
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array instead"):
        SGDClassifier().fit(XC[:, 0], YC)
    with pytest.raises(
        ValueError, match="The number of classes has to be greater than one; got 1 class"
    ):
        SGDClassifier().fit(XC, np.zeros(len(YC)))
    yr = YR.copy()
    yr[0] = np.nan
    with pytest.raises(ValueError, match="Input y contains NaN"):
        SGDRegressor().fit(XR, yr)
    est = SGDClassifier(random_state=0).fit(XC, YC)
    with pytest.raises(
        ValueError, match="X has 29 features, but SGDClassifier is expecting 30 features as input"
    ):
        est.predict(XC[:, 1:])


def test_failure_leaves_estimator_and_data_untouched():
    est = SGDClassifier(random_state=0).fit(XC, YC)
    coef = est.coef_.copy()
    X = XC.copy()
    X[-1, 0] = np.nan
    X_before = X.copy()
    with pytest.raises(ValueError):
        est.fit(X, YC)
    np.testing.assert_array_equal(est.coef_, coef)
    np.testing.assert_array_equal(X, X_before)
    assert est.score(XC, YC) > 0.95


def test_user_arrays_not_modified():
    X, y, sw = XC.copy(), YC.copy(), np.ones(len(YC))
    SGDClassifier(random_state=0, max_iter=3, tol=None).fit(X, y, sample_weight=sw)
    np.testing.assert_array_equal(X, XC)
    np.testing.assert_array_equal(y, YC)
    np.testing.assert_array_equal(sw, 1.0)


# -- scikit-learn's estimator contract --------------------------------------------------------

_SW_REASON = (
    "sample weights scale each row's loss as in scikit-learn's SGD (the objective is normalized by "
    "the number of rows, and schedules count rows), so weights are not the same as repeated rows"
)


def _expected_failures(est):
    return {
        "check_sample_weight_equivalence_on_dense_data": _SW_REASON,
        "check_sample_weight_equivalence_on_sparse_data": _SW_REASON,
    }


@parametrize_with_checks(
    [SGDClassifier(random_state=0), SGDRegressor(random_state=0)],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_pipeline_and_grid_search():
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    X, y = load_breast_cancer(return_X_y=True)  # unscaled: the pipeline scales it
    pipe = make_pipeline(StandardScaler(), SGDClassifier(random_state=0))
    search = GridSearchCV(
        pipe,
        {"sgdclassifier__alpha": [1e-4, 1e-2], "sgdclassifier__loss": ["log_loss", "hinge"]},
        cv=3,
    ).fit(X, y)
    assert search.best_score_ > 0.95
    assert search.best_estimator_[-1].coef_.shape == (1, 30)


def test_predictions_of_two_models_computed_together_are_their_own():
    # Lazy predictions are named by what they compute: with a fixed name, two models'
    # predictions on the same dask X shared their keys, and one graph got the other's results.
    import dask
    import dask.array as da

    Xd = da.from_array(XC, chunks=(200, XC.shape[1]))
    a = SGDClassifier(max_iter=3, tol=None, random_state=0).fit(XC, YC)
    b = SGDClassifier(max_iter=3, tol=None, random_state=0, alpha=1.0).fit(XC, YC)
    r = SGDRegressor(max_iter=3, tol=None, random_state=0).fit(XR, YR)
    outs = dask.compute(
        a.decision_function(Xd),
        b.decision_function(Xd),
        a.predict_proba(Xd),
        b.predict_proba(Xd),
        r.predict(da.from_array(XR, chunks=(200, XR.shape[1]))),
    )
    np.testing.assert_allclose(outs[0], a.decision_function(XC), rtol=1e-12)
    np.testing.assert_allclose(outs[1], b.decision_function(XC), rtol=1e-12)
    np.testing.assert_allclose(outs[2], a.predict_proba(XC), rtol=1e-12)
    np.testing.assert_allclose(outs[3], b.predict_proba(XC), rtol=1e-12)
    np.testing.assert_allclose(outs[4], r.predict(XR), rtol=1e-12)
    assert not np.allclose(outs[0], outs[1])


def test_sorted_rows_whose_first_batch_the_start_fits_train_without_false_divergence():
    # The first batch of rows sorted by y has y = 0, which w = 0 fits exactly: its loss (the
    # divergence rule's first estimate of the starting objective) is 0, and every epoch looked
    # like an explosion: five roll-backs, then FloatingPointError.
    rng = np.random.RandomState(0)
    X = rng.randn(20000, 5)
    y = np.maximum(X.sum(1), 0)
    order = np.argsort(y)
    X, y = X[order], y[order]
    est = SGDRegressor(shuffle=False, random_state=0).fit(X, y)
    assert est.history_["objective"].notna().any()
    ref = Ridge(alpha=1e-4 * len(y)).fit(X, y)  # the same objective's optimum
    assert est.score(X, y) == pytest.approx(ref.score(X, y), abs=1e-3)


@pytest.mark.parametrize("Est", [SGDClassifier, SGDRegressor])
def test_partial_fit_refuses_early_stopping_as_scikit_learn_does(Est):
    X, y = XC[:200], YC[:200]
    kwargs = {"classes": np.unique(YC)} if Est is SGDClassifier else {}
    with pytest.raises(ValueError, match="early_stopping should be False with partial_fit"):
        Est(early_stopping=True).partial_fit(X, y, **kwargs)
    est = Est().partial_fit(X, y, **kwargs)  # and on a later call, before any work
    coef = est.coef_.copy()
    with pytest.raises(ValueError, match="early_stopping should be False with partial_fit"):
        est.set_params(early_stopping=True).partial_fit(X, y)
    np.testing.assert_array_equal(est.coef_, coef)


def test_tol_zero_stops_once_the_objective_no_longer_moves():
    # Exact full-batch steps at the optimum repeat its objective exactly: that is no
    # improvement, also with tol=0 (it was counted as one, so the fit ran every epoch and then
    # warned that it had not converged).
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = SGDRegressor(tol=0, max_iter=300, random_state=0).fit(X, y)
    assert est.n_iter_ < 300
    ref = Ridge(alpha=1e-4 * len(y)).fit(X, y)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-6)


@pytest.mark.parametrize("Est", [SGDClassifier, SGDRegressor])
def test_l1_ratio_none_is_for_the_other_penalties(Est):
    X, y = (XC, YC) if Est is SGDClassifier else (XR, YR)
    with pytest.raises(ValueError, match="l1_ratio must be set when penalty is 'elasticnet'"):
        Est(penalty="elasticnet", l1_ratio=None).fit(X, y)
    a = Est(penalty="l2", l1_ratio=None, max_iter=5, tol=None, random_state=0).fit(X, y)
    b = Est(penalty="l2", max_iter=5, tol=None, random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)  # ignored, as with any other value


def test_negative_power_t_is_deprecated_as_in_scikit_learn():
    with pytest.warns(FutureWarning, match="Negative values for `power_t` are deprecated"):
        SGDRegressor(power_t=-0.5, max_iter=2, tol=None).fit(XR, YR)


@pytest.mark.parametrize("Est", [SGDClassifier, SGDRegressor])
def test_sparsify_and_densify(Est):
    X, y = (XC, YC) if Est is SGDClassifier else (XR, YR)
    est = Est(penalty="l1", alpha=0.05, max_iter=20, tol=None, random_state=0).fit(X, y)
    dense, pred = est.coef_.copy(), est.predict(X)
    assert (dense == 0).any()  # l1 zeroed some coefficients: what sparsify is for
    assert sp.issparse(est.sparsify().coef_)
    np.testing.assert_array_equal(est.coef_.toarray().reshape(dense.shape), dense)
    np.testing.assert_array_equal(est.predict(X), pred)
    est.densify()
    assert isinstance(est.coef_, np.ndarray) and est.coef_.shape == dense.shape
    np.testing.assert_array_equal(est.coef_, dense)
    with pytest.raises(NotFittedError):
        Est().sparsify()


def test_n_jobs_is_accepted_and_changes_nothing():
    a = SGDClassifier(n_jobs=4, max_iter=5, tol=None, random_state=0).fit(XC, YC)
    b = SGDClassifier(max_iter=5, tol=None, random_state=0).fit(XC, YC)
    assert a.get_params()["n_jobs"] == 4
    np.testing.assert_array_equal(a.coef_, b.coef_)
    with pytest.raises(ValueError, match="'n_jobs' parameter of SGDClassifier must be"):
        SGDClassifier(n_jobs="all").fit(XC, YC)


@pytest.mark.parametrize("Est", [SGDClassifier, SGDRegressor])
def test_coef_init_starts_the_fit_there(Est):
    X, y = (XC, YC) if Est is SGDClassifier else (XR, YR)
    done = Est(alpha=ALPHA, tol=1e-10, max_iter=1000, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cold = Est(alpha=ALPHA, max_iter=1, random_state=0).fit(X, y)
        warm = Est(alpha=ALPHA, max_iter=1, random_state=0).fit(
            X, y, coef_init=done.coef_, intercept_init=done.intercept_
        )
    # One epoch from the optimum stays there; one epoch from zero does not get there.
    far = np.linalg.norm(cold.coef_ - done.coef_)
    assert np.linalg.norm(warm.coef_ - done.coef_) < 1e-2 * far
    # coef_init wins over warm_start, and the estimator's own model is not the start.
    ws = Est(alpha=ALPHA, max_iter=1, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ws.fit(X, y)
        ws.fit(X, y, coef_init=np.zeros_like(done.coef_))
    np.testing.assert_allclose(ws.coef_, cold.coef_, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"coef_init": np.zeros(3)}, "coef_init does not match"),
        ({"intercept_init": np.zeros(2)}, "intercept_init does not match"),
        ({"coef_init": np.full(30, np.nan)}, "finite"),
    ],
)
def test_coef_init_of_the_wrong_shape_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SGDClassifier().fit(XC, YC, **kwargs)


def test_average_that_never_starts_changes_nothing():
    # average=<int> starts averaging after that many samples: before, the fit is the same fit
    # (the full-batch phase included, L-BFGS there).
    kw = dict(alpha=ALPHA, max_iter=200, tol=1e-8, random_state=0)
    plain = SGDClassifier(**kw).fit(XC, YC)
    assert (plain.history_["batch_size"] == len(YC)).any()
    late = SGDClassifier(average=10**9, **kw).fit(XC, YC)
    np.testing.assert_array_equal(late.coef_, plain.coef_)
    assert late.n_iter_ == plain.n_iter_


def test_hinge_reaches_the_optimum_of_a_small_problem():
    # Issue 16's example (B11): subgradient steps with momentum cycled at (-0.94, 0.94); the
    # optimum of the l2-penalized hinge here is (-1, 1) with intercept 0 (closed form: every
    # row at margin 1 costs alpha/2 * 2, one below costs more).
    X = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    y = np.array([0, 0, 1, 1])
    est = SGDClassifier(loss="hinge", alpha=0.1, tol=None, max_iter=200, random_state=0)
    est.fit(X, y)
    np.testing.assert_allclose(est.coef_, [[-1.0, 1.0]], atol=1e-9)
    assert abs(est.intercept_[0]) < 1e-9


def test_one_full_batch_epoch_moves_the_model():
    # B8: an epoch that starts the L-BFGS phase used to report its start (all zeros here).
    est = SGDClassifier(alpha=ALPHA, batch_size=len(YC), max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(XC, YC)
    assert np.abs(est.coef_).max() > 0.0
    start = objective("log_loss", "l2", XC, 2.0 * YC - 1.0, np.zeros(30), 0.0)
    f = objective("log_loss", "l2", XC, 2.0 * YC - 1.0, est.coef_, est.intercept_[0])
    assert f < start
    assert est.history_["objective"].dropna().iloc[-1] == pytest.approx(f, rel=1e-10)


@pytest.mark.parametrize("batch_size", ["auto", len(YC)])
def test_one_epoch_without_improvement_is_not_a_repeated_report(batch_size):
    # With n_iter_no_change=1 a single epoch that only reports again the point the last epoch
    # reported (entering the L-BFGS phase) used to end the fit far from the optimum.
    est = SGDClassifier(
        alpha=ALPHA,
        n_iter_no_change=1,
        tol=1e-6,
        batch_size=batch_size,
        max_iter=200,
        random_state=0,
    ).fit(XC, YC)
    ys = 2.0 * YC - 1.0
    f = objective("log_loss", "l2", XC, ys, est.coef_, est.intercept_[0])
    f_star = reference("log_loss", "l2", XC, ys, True)
    assert (f - f_star) / f_star < 1e-4


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_hinge_fit_meets_the_qp_optimality_conditions(fit_intercept):
    # B11: the full-batch phase (smoothed L-BFGS, then active-set polishing) ends at the QP's
    # optimum; its conditions are checked here independently of dasksgd.
    est = SGDClassifier(
        loss="hinge",
        alpha=ALPHA,
        fit_intercept=fit_intercept,
        tol=None,
        max_iter=300,
        random_state=0,
    ).fit(XC, YC)
    ys = 2.0 * YC - 1.0
    residual = hinge_kkt_residual(XC, ys, est.coef_[0], est.intercept_[0], fit_intercept, ALPHA)
    assert residual < 1e-8


def test_scikit_learn_wording_where_code_matches_on_it():
    # scikit-learn's test suite (and user code) match these messages; the regexes are theirs.
    with pytest.raises(ValueError, match=r"partial_fit\. In order to use 'balanced' weights"):
        SGDClassifier(class_weight="balanced").partial_fit(XC, YC, classes=np.unique(YC))
    with pytest.raises(ValueError, match="validation set are all zero, consider using a"):
        SGDClassifier(early_stopping=True, validation_fraction=0.4).fit(
            XC, YC, sample_weight=np.zeros(len(YC))
        )
    with pytest.warns(
        ConvergenceWarning,
        match="Maximum number of iteration reached before convergence. Consider increasing "
        "max_iter to improve the fit.",
    ):
        SGDClassifier(max_iter=1, tol=1e-3, random_state=0).fit(XC, YC)


def test_partial_fit_does_not_carry_lbfgs_across_chunks():
    # B9: the L-BFGS state of one call's rows judged the next call's trial against another
    # objective; two calls on scikit-learn's toy data ended at the all-zero start.
    X = np.array([[-2, -1], [-1, -1], [-1, -2], [1, 1], [1, 2], [2, 1]], dtype=float)
    y = np.array([1, 1, 1, 2, 2, 2])
    est = SGDClassifier(alpha=0.01, random_state=0)
    est.partial_fit(X[:2], y[:2], classes=[1, 2])
    est.partial_fit(X[2:], y[2:])
    assert np.abs(est.coef_).max() > 0.1
    np.testing.assert_array_equal(est.predict([[-1, -1], [2, 2], [3, 2]]), [1, 2, 2])
    # A stream of chunks goes towards the optimum (a regression check: 0.56 before this fix).
    ys = 2.0 * YC - 1.0
    f_star = reference("log_loss", "l2", XC, ys, True)
    est = SGDClassifier(alpha=ALPHA, random_state=0)
    for _ in range(20):
        for a in range(0, len(YC), 100):
            est.partial_fit(XC[a : a + 100], YC[a : a + 100], classes=[0, 1])
    f = objective("log_loss", "l2", XC, ys, est.coef_, est.intercept_[0])
    assert (f - f_star) / f_star < 0.15


def test_a_partial_fit_call_on_new_rows_is_a_plain_gradient_step():
    # A chunk after another is a step of SGD over a stream: at the call's step size, the
    # chunk's mean gradient and the penalty's, from the last call's model (a numpy step).
    # Before, a call on new rows took L-BFGS's line search on the chunk's own objective: on
    # chunks of one class, to that class's optimum (20 passes of the breast-cancer data sorted
    # by class in chunks of 100 ended at a gap of 9.5; benchmarks/stream.py).
    from scipy.special import expit

    est = SGDClassifier(alpha=ALPHA, precondition=False, shuffle=False, random_state=0)
    est.partial_fit(XC[:100], YC[:100], classes=[0, 1])
    w0, b0 = est.coef_.ravel().copy(), float(est.intercept_[0])
    chunk = np.flatnonzero(YC == 1)[:100]  # one class only
    est.partial_fit(XC[chunk], YC[chunk])
    assert len(est.history_) == 2  # one step: the chunk is one batch
    eta = float(est.history_["learning_rate"].iloc[-1])
    X, ys = XC[chunk], 2.0 * YC[chunk] - 1.0
    g = -ys * expit(-ys * (X @ w0 + b0))  # the logistic loss's derivative in the margin
    np.testing.assert_allclose(est.coef_.ravel(), w0 - eta * (X.T @ g / 100 + ALPHA * w0))
    np.testing.assert_allclose(est.intercept_[0], b0 - eta * g.mean())


def _stream_order(order):
    """The breast-cancer rows in a stream's order: as given, sorted by class (one class per
    chunk of 100) or by a feature."""
    return {
        "given": np.arange(len(YC)),
        "by class": np.argsort(YC, kind="stable"),
        "by a feature": np.argsort(XC[:, 0], kind="stable"),
    }[order]


@pytest.mark.parametrize("order", ["given", "by class", "by a feature"])
def test_partial_fit_with_the_defaults_goes_towards_the_optimum(order):
    # 20 passes of chunks of 100 rows with every parameter at its default (a regression check:
    # 9.1e-2, 9.5 and 3.3 before calls on new rows took plain steps; 3.7e-2, 0.11, 2.2e-2 now).
    rows = _stream_order(order)
    ys = 2.0 * YC - 1.0
    f_star = reference("log_loss", "l2", XC, ys, True)
    est = SGDClassifier(alpha=ALPHA, random_state=0)
    for _ in range(20):
        for a in range(0, len(YC), 100):
            est.partial_fit(XC[rows[a : a + 100]], YC[rows[a : a + 100]], classes=[0, 1])
    gap = objective("log_loss", "l2", XC, ys, est.coef_, est.intercept_[0]) / f_star - 1.0
    assert 0.0 <= gap < 0.3, gap


@pytest.mark.parametrize("order", ["given", "by class", "by a feature"])
def test_partial_fit_is_sgd_over_a_stream(order):
    # B10: partial_fit over a stream of chunks of 100 rows, with scikit-learn's per-sample
    # settings, gets as close to the optimum as scikit-learn's per-sample SGD over the same
    # stream. The features are scaled by the moments of all the rows seen: with each chunk's
    # own, the gaps after 10 passes were 0.046 (rows as given), 4.9 (sorted by class: one
    # class per chunk) and 1.2 (sorted by a feature), against scikit-learn's 0.006, 0.017, 0.003.
    from sklearn.linear_model import SGDClassifier as SklearnSGD

    rows = _stream_order(order)
    ys = 2.0 * YC - 1.0
    f_star = reference("log_loss", "l2", XC, ys, True)
    ours = SGDClassifier(alpha=ALPHA, batch_size=1, learning_rate="optimal", random_state=0)
    theirs = SklearnSGD(loss="log_loss", alpha=ALPHA, random_state=0)
    for _ in range(10):
        for a in range(0, len(YC), 100):
            chunk = rows[a : a + 100]
            for est in (ours, theirs):
                est.partial_fit(XC[chunk], YC[chunk], classes=[0, 1])
    gap = [
        objective("log_loss", "l2", XC, ys, e.coef_, e.intercept_[0]) / f_star - 1.0
        for e in (ours, theirs)
    ]
    assert 0.0 <= gap[0] <= 2.0 * gap[1], gap


def test_partial_fit_on_the_same_rows_is_the_fit_of_as_many_epochs():
    # The optimizer's state is kept when the rows are the last call's (L-BFGS included).
    est = SGDClassifier(alpha=ALPHA, batch_size=len(YC), random_state=0)
    for _ in range(4):
        est.partial_fit(XC, YC, classes=[0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = SGDClassifier(
            alpha=ALPHA, batch_size=len(YC), max_iter=4, tol=None, random_state=0
        ).fit(XC, YC)
    np.testing.assert_array_equal(est.coef_, ref.coef_)
