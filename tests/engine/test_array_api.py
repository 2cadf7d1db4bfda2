"""The in-process engine on array_api_strict arrays on a non-CPU device.

array_api_strict refuses everything numpy allows that the standard does not (flat indexing of
2-D arrays, out-of-range slices, implicit conversion of a non-CPU array to numpy, arrays of two
devices in one operation): shards held on its ``device1`` train only if no numpy-only call
touches their data and the model is moved to their device, as on cupy. The results must match
the numpy path's.
"""

import numpy as np
import pytest

from dasksgd.engine.local import LocalBackend
from dasksgd.engine.loop import TrainConfig, TrainState, make_plan, train
from dasksgd.engine.shards import TargetSpec
from dasksgd.losses import get_loss
from dasksgd.penalties import get_penalty
from dasksgd.schedules import LearningRate

xps = pytest.importorskip("array_api_strict")
DEVICE = xps.Device("device1")


def _on_device(a, dtype):
    return None if a is None else xps.asarray(np.asarray(a, dtype=dtype), device=DEVICE)


def _problem(kind, n=400, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * rng.uniform(0.5, 3.0, d) + rng.uniform(-1, 1, d)
    w = rng.standard_normal(d)
    if kind == "regression":
        return X, X @ w + 0.3 * rng.standard_normal(n), None
    if kind == "binary":
        return X, (X @ w + 0.5 * rng.standard_normal(n) > 0).astype(np.int64), np.array([0, 1])
    Z = X @ rng.standard_normal((d, 3))
    return X, np.argmax(Z + rng.standard_normal(Z.shape), axis=1), np.array([0, 1, 2])


def _fit(
    to,
    kind,
    loss,
    penalty,
    *,
    dtype=np.float64,
    weights=False,
    early_stopping=False,
    average=None,
    batch_size="auto",
    d=6,
    n=400,
):
    X, y, classes = _problem(kind, n=n, d=d)
    sw = np.random.default_rng(1).uniform(0.2, 2.0, X.shape[0]) if weights else None
    loss_ = get_loss(loss)
    spec = TargetSpec(classes=classes)
    config = TrainConfig(
        loss=loss_,
        penalty=get_penalty(penalty, 1e-3, 0.4),
        schedule=LearningRate(kind="auto", eta0=0.0, power_t=0.5, alpha=1e-3, loss=loss_),
        batch_size=batch_size,
        max_iter=6,
        tol=None,
        early_stopping=early_stopping,
        average_start=average,
    )
    cut = [0, 150, 260, X.shape[0]]
    parts = [
        (
            to(X[a:b], dtype),
            y[a:b]
            if to is _host
            else _on_device(y[a:b], np.int64 if classes is not None else dtype),
            None if sw is None else to(sw[a:b], dtype),
        )
        for a, b in zip(cut, cut[1:])
    ]
    backend = LocalBackend(
        parts, spec, loss_, seed=2, validation_fraction=0.2 if early_stopping else 0.0
    )
    plan = make_plan(backend, config, X.shape[1], n_outputs=spec.n_outputs, seed=2)
    K = spec.n_outputs
    return train(
        backend,
        config,
        TrainState(coef=np.zeros((X.shape[1], K)), intercept=np.zeros(K)),
        plan=plan,
    )


def _host(a, dtype):
    return None if a is None else np.asarray(a, dtype=dtype)


def _same(a, b, rtol):
    # The two paths sum in different orders (numpy's kernels block and fuse), so rounding
    # differs in the last bits and L-BFGS or momentum carry that a little further.
    ca, ia = a.state.model()
    cb, ib = b.state.model()
    assert isinstance(ca, np.ndarray) and ca.dtype == np.float64  # the model is on the host
    np.testing.assert_allclose(ca, cb, rtol=rtol, atol=rtol * 1e-3)
    np.testing.assert_allclose(ia, ib, rtol=rtol, atol=rtol * 1e-3)
    np.testing.assert_array_equal(a.history["batch_size"], b.history["batch_size"])
    assert a.objective == pytest.approx(b.objective, rel=rtol)


@pytest.mark.parametrize("penalty", ["l2", "l1", "elasticnet"])
@pytest.mark.parametrize(
    ("kind", "loss"),
    [
        ("binary", "log_loss"),
        ("binary", "hinge"),
        ("binary", "modified_huber"),
        ("binary", "squared_hinge"),
        ("multiclass", "log_loss"),
        ("regression", "squared_error"),
        ("regression", "huber"),
        ("regression", "epsilon_insensitive"),
    ],
)
def test_engine_on_strict_arrays_matches_numpy(kind, loss, penalty):
    _same(_fit(_on_device, kind, loss, penalty), _fit(_host, kind, loss, penalty), 1e-6)


@pytest.mark.parametrize(
    "option", ["weights", "early_stopping", "average", "float32", "fixed_batch", "wide"]
)
def test_engine_options_on_strict_arrays(option):
    kw = {
        "weights": dict(weights=True),
        "early_stopping": dict(early_stopping=True),
        "average": dict(average=100.0),
        "float32": dict(dtype=np.float32),
        "fixed_batch": dict(batch_size=64),
        "wide": dict(
            d=1100, n=300
        ),  # over GRAM_FEATURES: the power iteration's gram_matvec requests
    }[option]
    kind = "multiclass" if option == "weights" else "binary"
    rtol = 1e-3 if option == "float32" else 1e-6
    _same(
        _fit(_on_device, kind, "log_loss", "l2", **kw),
        _fit(_host, kind, "log_loss", "l2", **kw),
        rtol,
    )
