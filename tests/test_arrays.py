"""Arrays of other namespaces (here array_api_strict on a non-CPU device, standing in for cupy):
the helpers that cross to the host, and the estimators trained and predicting on such arrays in
memory, as dask chunks in-process, and as dask chunks on a LocalCluster."""

import numpy as np
import pytest

from dasksgd import SGDClassifier, SGDRegressor, arrays

xps = pytest.importorskip("array_api_strict")
DEVICE = xps.Device("device1")
ArrayType = type(xps.asarray([0.0]))


def dev(a):
    return xps.asarray(np.asarray(a), device=DEVICE)


def _register_concatenate():
    # What dask registers for cupy chunks (dask/array/backends.py): concatenating blocks of an
    # array type. Needed by dask itself (not by dasksgd) to assemble blocks of strict arrays.
    from dask.array.dispatch import concatenate_lookup

    concatenate_lookup.register(ArrayType)(lambda arrs, axis=0: xps.concat(list(arrs), axis=axis))


_register_concatenate()


# -- helpers ------------------------------------------------------------------------------


def test_to_numpy_and_back():
    a = dev([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(RuntimeError):
        np.asarray(a)  # the device refuses implicit conversion, as cupy does
    h = arrays.to_numpy(a)
    assert isinstance(h, np.ndarray) and h.dtype == np.float64
    np.testing.assert_array_equal(h, [[1, 2], [3, 4]])
    b = arrays.to_like(np.ones((2, 2)), a)
    assert b.device == DEVICE and b.dtype == xps.float64
    c = arrays.on_device_of(np.array([1, 2]), a)
    assert c.device == DEVICE and c.dtype == xps.int64


def test_rows():
    a = dev(np.arange(12.0).reshape(6, 2))
    np.testing.assert_array_equal(
        arrays.to_numpy(arrays.row_slice(a, 1, 99, 2)), [[2, 3], [6, 7], [10, 11]]
    )
    np.testing.assert_array_equal(
        arrays.to_numpy(arrays.take_rows(a, np.array([5, 0]))), [[10, 11], [0, 1]]
    )
    np.testing.assert_array_equal(
        arrays.to_numpy(arrays.take_rows(a, slice(4, None))), [[8, 9], [10, 11]]
    )
    assert arrays.nbytes(a) == 96 and arrays.itemsize(a.dtype) == 8
    assert arrays.is_device_array(a) and not arrays.is_device_array(np.ones(2))
    assert arrays.is_float(a) and not arrays.is_float(dev([1, 2]))


# -- estimators ---------------------------------------------------------------------------


def _data(kind, n=600, d=5):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d)) * rng.uniform(0.5, 2.0, d)
    if kind == "regression":
        return X, X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)
    k = 2 if kind == "binary" else 3
    return X, np.argmax(X[:, :k] + 0.3 * rng.standard_normal((n, k)), axis=1)


CASES = [
    ("binary", "log_loss"),
    ("multiclass", "modified_huber"),
    ("multiclass", "hinge"),
    ("regression", "squared_error"),
]


def _est(kind, loss, **kw):
    cls = SGDRegressor if kind == "regression" else SGDClassifier
    return cls(loss=loss, max_iter=5, tol=None, random_state=0, **kw)


@pytest.mark.parametrize(("kind", "loss"), CASES)
@pytest.mark.parametrize("weighted", [False, True])
def test_in_memory_device_arrays(kind, loss, weighted):
    X, y = _data(kind)
    sw = np.random.default_rng(1).uniform(0.5, 2.0, len(y)) if weighted else None
    on = _est(kind, loss).fit(dev(X), dev(y), sample_weight=None if sw is None else dev(sw))
    host = _est(kind, loss).fit(X, y, sample_weight=sw)
    # The same fit up to rounding (the two paths sum in different orders).
    np.testing.assert_allclose(on.coef_, host.coef_, rtol=1e-5, atol=1e-8)
    # Predictions on the device equal the same model's predictions on the host.
    pred = on.predict(dev(X))
    assert isinstance(pred, ArrayType) and pred.device == DEVICE  # predictions stay where X is
    if kind == "regression":
        np.testing.assert_allclose(arrays.to_numpy(pred), on.predict(X), rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_array_equal(arrays.to_numpy(pred, dtype=None), on.predict(X))
    assert on.score(dev(X), dev(y)) == pytest.approx(on.score(X, y), rel=1e-12)
    if kind != "regression":
        Z = on.decision_function(dev(X))
        assert isinstance(Z, ArrayType)
        np.testing.assert_allclose(
            arrays.to_numpy(Z), on.decision_function(X), rtol=1e-12, atol=1e-12
        )
    if loss in ("log_loss", "modified_huber"):
        P = on.predict_proba(dev(X))
        assert isinstance(P, ArrayType) and P.device == DEVICE
        np.testing.assert_allclose(arrays.to_numpy(P), on.predict_proba(X), rtol=1e-12, atol=1e-15)
        logP = on.predict_log_proba(dev(X))
        assert isinstance(logP, ArrayType)
        np.testing.assert_allclose(arrays.to_numpy(logP), on.predict_log_proba(X), rtol=1e-12)


def test_string_labels_with_device_rows():
    X, y = _data("multiclass")
    labels = np.array(["ant", "bee", "cat"])[y]
    est = _est("multiclass", "log_loss").fit(dev(X), labels)
    pred = est.predict(dev(X))
    assert isinstance(pred, np.ndarray) and pred.dtype.kind == "U"  # no device holds strings
    np.testing.assert_array_equal(pred, est.predict(X))
    assert set(pred) <= {"ant", "bee", "cat"} and est.score(dev(X), labels) > 0.8


def test_device_input_errors():
    X, y = _data("binary")
    with pytest.raises(ValueError, match="NaN"):
        bad = X.copy()
        bad[3, 1] = np.nan
        _est("binary", "log_loss").fit(dev(bad), y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        _est("binary", "log_loss").fit(dev(X), y[:-1])
    est = _est("binary", "log_loss").fit(dev(X), y)
    with pytest.raises(ValueError, match="expecting 5 features"):
        est.predict(dev(X[:, :4]))
    with pytest.raises(ValueError, match="2D"):
        _est("binary", "log_loss").fit(dev(X[:, 0]), y)


def _dask_device(X, chunks):
    import dask.array as da

    return da.from_array(X, chunks=(chunks,) + X.shape[1:]).map_blocks(
        dev, meta=dev(np.empty((0,) * X.ndim, X.dtype))
    )


def _check_dask_device(kind, loss, reference_fit):
    X, y = _data(kind, n=3000)
    Xd, yd = _dask_device(X, 1000), _dask_device(y, 1000)
    on = _est(kind, loss, batch_size=500).fit(Xd, yd)
    np.testing.assert_allclose(on.coef_, reference_fit(X, y).coef_, rtol=1e-5, atol=1e-8)
    pred = on.predict(Xd)
    assert isinstance(pred._meta, ArrayType)
    block = pred.to_delayed()[1].compute()
    assert isinstance(block, ArrayType) and block.device == DEVICE
    expected = on.predict(X[1000:2000])
    if kind == "regression":
        np.testing.assert_allclose(arrays.to_numpy(block), expected, rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_array_equal(arrays.to_numpy(block, dtype=None), expected)
    assert on.score(Xd, yd) == pytest.approx(on.score(X, y), rel=1e-12)


@pytest.mark.parametrize(("kind", "loss"), CASES[:2] + CASES[3:])
def test_dask_chunks_on_device_in_process(kind, loss):
    import dask.array as da

    _check_dask_device(
        kind,
        loss,
        lambda X, y: _est(kind, loss, batch_size=500).fit(
            da.from_array(X, chunks=(1000, X.shape[1])), da.from_array(y, chunks=1000)
        ),
    )


@pytest.mark.cluster
def test_dask_chunks_on_device_on_a_cluster(client):
    import dask.array as da

    client.run(_register_concatenate)
    kind, loss = "multiclass", "log_loss"
    _check_dask_device(
        kind,
        loss,
        lambda X, y: _est(kind, loss, batch_size=500).fit(
            da.from_array(X, chunks=(1000, X.shape[1])), da.from_array(y, chunks=1000)
        ),
    )


def test_gpu_check_runs_without_a_gpu(tmp_path):
    # The GPU script must run anywhere: without cupy or a GPU it says the GPU parts are skipped,
    # runs the parity check on device-held strict arrays, and exits 0.
    import importlib.util
    import subprocess
    import sys
    from pathlib import Path

    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("cupy is installed: the script would run its GPU parts")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"
    out = subprocess.run(
        [sys.executable, str(script), "--no-write"], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert "GPU part SKIPPED" in out.stdout
    assert "| PASS" in out.stdout
