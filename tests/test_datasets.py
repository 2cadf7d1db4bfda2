import numpy as np
import pytest
import scipy.sparse as sp

from dasksgd.datasets import make_classification, make_regression


def test_binary_is_reproducible_and_chunked():
    X, y = make_classification(1000, 5, chunks=300, random_state=3)
    assert X.chunks == ((300, 300, 300, 100), (5,))
    X2, y2 = make_classification(1000, 5, chunks=300, random_state=3)
    np.testing.assert_array_equal(X.compute(), X2.compute())
    np.testing.assert_array_equal(y.compute(), y2.compute())
    assert set(np.unique(y.compute())) == {0, 1}


def test_multiclass_labels_follow_a_linear_model():
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(6000, 8, n_classes=4, chunks=2000, random_state=1)
    X, y = X.compute(), y.compute()
    assert set(np.unique(y)) == {0, 1, 2, 3}
    # Softmax labels of a linear model: a linear classifier does far better than chance (0.25).
    assert LogisticRegression(max_iter=500).fit(X[:4000], y[:4000]).score(X[4000:], y[4000:]) > 0.6


def test_sparse_rows_have_the_density_asked():
    X, y = make_classification(
        2000, 1000, density=0.02, chunks=500, random_state=0, dtype=np.float32
    )
    Xc = X.compute()
    assert sp.issparse(Xc) and Xc.dtype == np.float32 and Xc.shape == (2000, 1000)
    per_row = np.diff(Xc.tocsr().indptr)
    assert per_row.max() <= 20 and per_row.mean() > 19.5  # 20 columns drawn; rare duplicates merge


def test_regression_noise_is_unit_gaussian():
    X, y = make_regression(20000, 6, chunks=5000, random_state=2)
    X, y = X.compute(), y.compute()
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    assert np.std(y - X @ coef) == pytest.approx(1.0, abs=0.03)
    assert np.std(X @ coef) > 1.0  # the signal is not negligible


def test_bad_n_classes():
    with pytest.raises(ValueError, match="n_classes"):
        make_classification(10, 2, n_classes=1)


def test_data_sets_never_share_keys():
    # Keys are what a cluster knows a result by: two data sets with one seed but another shape
    # (or task) must not collide, or one would be served the other's chunks.
    from dasksgd.datasets import make_classification, make_regression

    a = make_classification(100, 3, chunks=50, random_state=0)[0]
    b = make_classification(100, 4, chunks=50, random_state=0)[0]
    c = make_regression(100, 3, chunks=50, random_state=0)[0]
    keys = [set(dict(x.__dask_graph__())) for x in (a, b, c)]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2])
    assert (
        set(dict(make_classification(100, 3, chunks=50, random_state=0)[0].__dask_graph__()))
        == keys[0]
    )
