"""Fuzzing the input checks: whatever arrays come in, a fit either works or raises a ValueError
that names the problem, before any training step; the caller's arrays are never modified."""

import dask.array as da
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dasksgd import SGDClassifier, SGDRegressor


@st.composite
def problems(draw):
    n = draw(st.integers(2, 40))
    d = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.standard_normal((n, d))
    bad = draw(st.sampled_from([None, np.nan, np.inf, -np.inf, 1e308]))
    if bad is not None:
        X[draw(st.integers(0, n - 1)), draw(st.integers(0, d - 1))] = bad
    y_len = n + draw(st.sampled_from([0, 0, 0, -1, 1]))
    n_classes = draw(st.integers(1, 3))
    y = rng.integers(0, n_classes, y_len)
    chunks = draw(st.one_of(st.none(), st.integers(1, max(n, 1))))
    weights = draw(
        st.sampled_from([None, None, "ok", "nan", "negative", "zeros", "short", "some-zero"])
    )
    sw = None
    if weights is not None:
        sw = rng.uniform(0.5, 2.0, n - 1 if weights == "short" else n)
        if weights == "nan":
            sw[draw(st.integers(0, n - 1))] = np.nan
        elif weights == "negative":
            sw[draw(st.integers(0, n - 1))] = -1.0
        elif weights == "zeros":
            sw[:] = 0.0
        elif weights == "some-zero":
            sw[: n // 2] = 0.0
    return X, y, bad, chunks, weights, sw


def _expected_errors(X, y, bad, n_classes_seen, weights=None):
    """The problems this input has (any one of them may be reported first)."""
    out = []
    if len(y) != X.shape[0] or weights == "short":
        out.append("inconsistent numbers of samples|expected")
    if weights == "nan":
        out.append("sample_weight contains NaN")
    if weights == "negative":
        out.append("Negative values in data passed to sample_weight")
    if weights == "zeros":
        out.append("at least one non-zero")
    if bad is not None and not np.isfinite(bad):
        out.append("NaN|infinity")
    if bad == 1e308:
        out.append("too large")
    if n_classes_seen < 2:
        out.append("classes")
    return "|".join(out) or None


@settings(
    max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    problems(),
    st.sampled_from(["numpy", "dask"]),
    st.sampled_from(["dense", "csr"]),
    st.sampled_from(["classifier", "regressor"]),
)
def test_fit_works_or_fails_clearly(problem, kind, layout, estimator):
    X, y, bad, chunks, weights, sw = problem
    X0, y0, sw0 = X.copy(), y.copy(), None if sw is None else sw.copy()
    event(f"{kind} {layout}, weights {weights}")
    Xs = sp.csr_matrix(X) if layout == "csr" else X
    if kind == "dask":
        c = chunks or X.shape[0]
        Xin = da.from_array(X, chunks=(c, X.shape[1]))
        if layout == "csr":
            Xin = Xin.map_blocks(sp.csr_matrix, meta=sp.csr_matrix((0, 0)))
        yin = da.from_array(y, chunks=c)
        swin = None if sw is None else da.from_array(sw, chunks=c)
    else:
        Xin, yin, swin = Xs, y, sw
    if estimator == "classifier":
        est = SGDClassifier(max_iter=2, tol=None, random_state=0)
        expected = _expected_errors(X, y, bad, len(np.unique(y)), weights)
    else:
        est = SGDRegressor(max_iter=2, tol=None, random_state=0)
        expected = _expected_errors(X, y, bad, 2, weights)
    if expected is None:
        est.fit(Xin, yin, sample_weight=swin)
        assert np.all(np.isfinite(est.coef_))
    else:
        with pytest.raises(ValueError, match=expected):
            est.fit(Xin, yin, sample_weight=swin)
        assert not hasattr(est, "coef_")
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    if sw is not None:
        np.testing.assert_array_equal(sw, sw0)
    if layout == "csr" and kind == "numpy":
        np.testing.assert_array_equal(Xs.toarray(), X0)
