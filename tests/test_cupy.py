"""cupy on a real GPU: skipped cleanly where cupy or a GPU is missing (CI has neither; the same
paths run there on array_api_strict device arrays, tests/test_arrays.py)."""

import numpy as np
import pytest

from dasksgd import SGDClassifier, SGDRegressor

cupy = pytest.importorskip("cupy")
try:
    HAS_GPU = cupy.cuda.runtime.getDeviceCount() > 0
except Exception:  # noqa: BLE001 - a CUDA driver error means no usable GPU
    HAS_GPU = False
pytestmark = pytest.mark.skipif(not HAS_GPU, reason="cupy is installed but no GPU is usable")


def _data(n=5000, d=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    return X, np.argmax(X[:, :3] + 0.3 * rng.standard_normal((n, 3)), axis=1)


def test_in_memory_cupy_matches_numpy():
    X, y = _data()
    gpu = SGDClassifier(max_iter=10, tol=None, random_state=0).fit(cupy.asarray(X), cupy.asarray(y))
    cpu = SGDClassifier(max_iter=10, tol=None, random_state=0).fit(X, y)
    np.testing.assert_allclose(gpu.coef_, cpu.coef_, rtol=1e-3, atol=1e-4)  # float32 on both
    pred = gpu.predict(cupy.asarray(X))
    assert isinstance(pred, cupy.ndarray)
    np.testing.assert_array_equal(pred.get(), gpu.predict(X))
    P = gpu.predict_proba(cupy.asarray(X))
    assert isinstance(P, cupy.ndarray)
    np.testing.assert_allclose(P.get(), gpu.predict_proba(X), rtol=1e-4, atol=1e-6)


def test_dask_cupy_chunks():
    import dask.array as da

    X, _ = _data(n=6000)
    y = X @ np.arange(1.0, 9.0, dtype=np.float32)
    Xd = da.from_array(X, chunks=(2000, 8)).map_blocks(cupy.asarray)
    yd = da.from_array(y, chunks=2000).map_blocks(cupy.asarray)
    est = SGDRegressor(max_iter=20, tol=None, random_state=0, batch_size=1000).fit(Xd, yd)
    np.testing.assert_allclose(est.coef_, np.arange(1.0, 9.0), rtol=1e-2)
    pred = est.predict(Xd).compute()
    assert isinstance(pred, cupy.ndarray)
    np.testing.assert_allclose(pred.get(), est.predict(X), rtol=1e-4, atol=1e-4)
