import numpy as np
import pytest

from dasksgd.losses import CLASSIFICATION_LOSSES, LOSSES, get_loss

RNG = np.random.default_rng(0)
#: The losses of one margin (all but the multinomial one, whose rows couple their margins: tested
#: below on its own).
ELEMENTWISE = LOSSES - {"multinomial"}


def _sklearn_reference(name):
    """scikit-learn's own loss objects, as (loss(y, z), dloss(y, z)) on arrays."""
    sgd = pytest.importorskip("sklearn.linear_model._sgd_fast")
    from sklearn._loss.loss import HalfBinomialLoss, HalfSquaredError

    if name == "log_loss":
        ref = HalfBinomialLoss()

        def conv(y):
            return ((y + 1) / 2).astype(np.float64)

        # Same margin, labels in {0, 1}: the same loss and derivative in the raw prediction.
        return (lambda y, z: ref.loss(conv(y), z), lambda y, z: ref.gradient(conv(y), z))
    if name == "squared_error":
        ref = HalfSquaredError()
        return (lambda y, z: ref.loss(y, z), lambda y, z: ref.gradient(y, z))
    objs = {
        "hinge": sgd.Hinge(1.0),
        "perceptron": sgd.Hinge(0.0),
        "squared_hinge": sgd.SquaredHinge(1.0),
        "modified_huber": sgd.ModifiedHuber(),
        "epsilon_insensitive": sgd.EpsilonInsensitive(0.1),
        "squared_epsilon_insensitive": sgd.SquaredEpsilonInsensitive(0.1),
    }
    o = objs[name]
    return (
        lambda y, z: np.array([o.py_loss(zi, yi) for yi, zi in zip(y, z)]),
        lambda y, z: np.array([o.py_dloss(zi, yi) for yi, zi in zip(y, z)]),
    )


def _targets(name, n):
    if name in CLASSIFICATION_LOSSES:
        return RNG.choice([-1.0, 1.0], size=n)
    return RNG.standard_normal(n)


@pytest.mark.parametrize(
    "name", sorted(ELEMENTWISE - {"huber"})
)  # huber: see test_huber_closed_form
def test_matches_scikit_learn(name):
    ref = _sklearn_reference(name)
    y, z = _targets(name, 200), 3 * RNG.standard_normal(200)
    loss = get_loss(name, 0.1)
    np.testing.assert_allclose(loss.loss(y, z), ref[0](y, z), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(loss.dloss(y, z), ref[1](y, z), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_array_api_strict_on_a_device_matches_numpy(name):
    # The losses are written once against the array API: on strict arrays held on a non-CPU
    # device (no numpy-only call can pass) they give numpy's values.
    xps = pytest.importorskip("array_api_strict")
    dev = xps.Device("device1")
    y, z = _targets(name, 200), 3 * RNG.standard_normal(200)
    ys, zs = xps.asarray(y, device=dev), xps.asarray(z, device=dev)
    loss = get_loss(name, 0.1)
    v, g = loss.value_and_deriv(ys, zs)
    for got, want in [
        (loss.loss(ys, zs), loss.loss(y, z)),
        (loss.dloss(ys, zs), loss.dloss(y, z)),
        (v, loss.loss(y, z)),
        (g, loss.dloss(y, z)),
    ]:
        assert got.device == dev
        np.testing.assert_allclose(np.from_dlpack(got), want, rtol=1e-15, atol=0)


def test_huber_closed_form():
    loss = get_loss("huber", 0.5)
    y = np.zeros(5)
    z = np.array([-2.0, -0.5, 0.1, 0.5, 3.0])
    np.testing.assert_allclose(loss.loss(y, z), [0.5 * 2 - 0.125, 0.125, 0.005, 0.125, 1.5 - 0.125])
    np.testing.assert_allclose(loss.dloss(y, z), [-0.5, -0.5, 0.1, 0.5, 0.5])


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_derivative_is_finite_difference(name):
    loss = get_loss(name, 0.3)
    y, z = _targets(name, 300), 3 * RNG.standard_normal(300)
    h = 1e-6
    fd = (loss.loss(y, z + h) - loss.loss(y, z - h)) / (2 * h)
    # Away from the kinks of the piecewise losses, the derivative is the slope.
    kinks = {
        "hinge": [1.0],
        "perceptron": [0.0],
        "squared_hinge": [1.0],
        "modified_huber": [1.0, -1.0],
    }
    if name in CLASSIFICATION_LOSSES:
        dist = np.min([np.abs(y * z - k) for k in kinks.get(name, [np.inf])], axis=0)
    else:
        r = np.abs(z - y)
        dist = np.abs(r - 0.3) if name != "squared_error" else np.full_like(r, np.inf)
    ok = dist > 1e-3
    np.testing.assert_allclose(loss.dloss(y, z)[ok], fd[ok], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_for_huge_margins(name, dtype):
    loss = get_loss(name)
    z = (
        np.array([-1e30, -1e4, 1e4, 1e30], dtype=dtype)
        if dtype == np.float64
        else np.array([-1e18, -1e4, 1e4, 1e18], dtype=dtype)
    )
    y = np.ones(4, dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        v = loss.loss(y, z)
        d = loss.dloss(y, z)
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(d))
    if name == "log_loss":
        v = loss.loss(y, z)
        np.testing.assert_allclose(v[1:3], [1e4, 0.0], rtol=1e-6)
        np.testing.assert_allclose(d, [-1.0, -1.0, 0.0, 0.0])


def test_unknown_loss():
    with pytest.raises(ValueError, match="Unknown loss 'logistic'"):
        get_loss("logistic")


def test_curvature_bounds_second_derivative():
    for name in sorted(ELEMENTWISE):
        loss = get_loss(name)
        if not loss.smooth:
            continue
        y, z = _targets(name, 500), 4 * RNG.standard_normal(500)
        h = 1e-4
        second = (loss.dloss(y, z + h) - loss.dloss(y, z - h)) / (2 * h)
        assert np.all(second <= loss.curvature + 1e-6), name


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_value_and_deriv_is_loss_and_dloss(name):
    rng = np.random.default_rng(3)
    z = np.concatenate([rng.standard_normal(50) * 5, [0.0, 1.0, -1.0, 40.0, -40.0, 800.0, -800.0]])
    y = (
        np.where(rng.random(z.shape) < 0.5, 1.0, -1.0)
        if name in CLASSIFICATION_LOSSES
        else rng.standard_normal(z.shape)
    )
    loss = get_loss(name, 0.3)
    value, deriv = loss.value_and_deriv(y, z)
    np.testing.assert_array_equal(value, loss.loss(y, z))
    np.testing.assert_array_equal(deriv, loss.dloss(y, z))


@pytest.mark.parametrize("name", ["hinge", "epsilon_insensitive"])
@pytest.mark.parametrize("mu", [1e-3, 0.1, 2.0])
def test_smoothed_loss_is_the_moreau_envelope(name, mu):
    # The envelope min_v loss(v) + (z - v)^2 / (2 mu), by brute force on a fine grid of v; its
    # derivative by finite differences; and the bounds loss - mu/2 <= smoothed <= loss.
    exact, smooth = get_loss(name, epsilon=0.3), get_loss(name, epsilon=0.3).smoothed(mu)
    rng = np.random.default_rng(0)
    y = rng.choice([-1.0, 1.0], 200) if name == "hinge" else rng.standard_normal(200)
    z = 3.0 * rng.standard_normal(200)
    v = z[:, None] + np.linspace(-6.0, 6.0, 120001)[None, :] * max(mu, 0.05)
    envelope = np.min(exact.loss(y[:, None] + 0 * v, v) + (z[:, None] - v) ** 2 / (2 * mu), axis=1)
    spacing = 12.0 * max(mu, 0.05) / 120000
    np.testing.assert_allclose(smooth.loss(y, z), envelope, rtol=0, atol=2 * spacing)
    h = 1e-6
    fd = (smooth.loss(y, z + h) - smooth.loss(y, z - h)) / (2 * h)
    np.testing.assert_allclose(smooth.dloss(y, z), fd, atol=1e-5 / mu)
    assert np.all(smooth.loss(y, z) <= exact.loss(y, z) + 1e-15)
    assert np.all(smooth.loss(y, z) >= exact.loss(y, z) - mu / 2 - 1e-15)
    assert smooth.smooth and smooth.curvature == pytest.approx(1.0 / mu)


def test_only_kinked_losses_have_a_smoothed_version():
    with pytest.raises(ValueError, match="no smoothed version"):
        get_loss("log_loss").smoothed(0.1)


# --- the multinomial (softmax) loss ----------------------------------------------------------


def _softmax_problem(n=300, K=4, scale=3.0, dtype=np.float64):
    labels = RNG.integers(0, K, n)
    Y = -np.ones((n, K), dtype=dtype)
    Y[np.arange(n), labels] = 1.0
    return labels, Y, (scale * RNG.standard_normal((n, K))).astype(dtype)


@pytest.mark.parametrize("K", [3, 7])
def test_multinomial_matches_scikit_learn(K):
    # scikit-learn's HalfMultinomialLoss: per-row loss and its gradient in the raw predictions.
    from sklearn._loss.loss import HalfMultinomialLoss

    labels, Y, Z = _softmax_problem(K=K)
    Z[:3] *= 1e3  # confident rows, right and wrong
    ref = HalfMultinomialLoss(n_classes=K)
    loss = get_loss("multinomial")
    value, deriv = loss.value_and_deriv(Y, Z)
    want = ref.loss(labels.astype(np.float64), np.ascontiguousarray(Z))
    np.testing.assert_allclose(value.sum(axis=1), want, rtol=1e-12, atol=1e-12)
    # The row's loss sits in its class's column.
    assert np.all(value[Y < 0] == 0.0)
    grad = ref.gradient(labels.astype(np.float64), np.ascontiguousarray(Z))
    np.testing.assert_allclose(deriv, grad, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(value, loss.loss(Y, Z))
    np.testing.assert_array_equal(deriv, loss.dloss(Y, Z))


def test_multinomial_hessian_is_within_its_curvature_bound():
    # The Hessian of a row's loss in its margins, by finite differences of the derivative: its
    # largest eigenvalue is at most the bound, and reaches near it for two tied classes.
    loss = get_loss("multinomial")
    _, Y, Z = _softmax_problem(n=50, K=5, scale=2.0)
    Z[0] = [0.0, 0.0, -50.0, -50.0, -50.0]
    h = 1e-5
    top = []
    for i in range(Z.shape[0]):
        H = np.empty((5, 5))
        for k in range(5):
            e = np.zeros(5)
            e[k] = h
            H[:, k] = (
                loss.dloss(Y[i : i + 1], Z[i : i + 1] + e)
                - loss.dloss(Y[i : i + 1], Z[i : i + 1] - e)
            )[0] / (2 * h)
        top.append(np.linalg.eigvalsh(0.5 * (H + H.T))[-1])
    assert max(top) <= loss.curvature + 1e-8
    assert top[0] == pytest.approx(0.5, rel=1e-6)
    assert loss.coupled and loss.is_classification and loss.smooth


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_multinomial_stable_for_huge_margins(dtype):
    loss = get_loss("multinomial")
    big = 1e30 if dtype == np.float64 else 1e18
    Y = np.array([[1, -1, -1], [1, -1, -1], [-1, 1, -1]], dtype=dtype)
    Z = np.array([[big, -big, 0.0], [-big, big, 0.0], [1e4, 0.0, -1e4]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        value, deriv = loss.value_and_deriv(Y, Z)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(deriv))
    np.testing.assert_allclose(value.sum(axis=1), [0.0, 2 * big, 1e4], rtol=1e-6)
    np.testing.assert_allclose(deriv[2], [1.0, -1.0, 0.0], atol=1e-6)


def test_multinomial_on_a_strict_device_matches_numpy():
    xps = pytest.importorskip("array_api_strict")
    dev = xps.Device("device1")
    _, Y, Z = _softmax_problem()
    loss = get_loss("multinomial")
    v, g = loss.value_and_deriv(xps.asarray(Y, device=dev), xps.asarray(Z, device=dev))
    assert v.device == dev and g.device == dev
    want_v, want_g = loss.value_and_deriv(Y, Z)
    np.testing.assert_allclose(np.from_dlpack(v), want_v, rtol=1e-15, atol=0)
    np.testing.assert_allclose(np.from_dlpack(g), want_g, rtol=1e-15, atol=0)


def test_multinomial_of_one_margin_is_the_logistic_loss():
    # A single column (the "optimal" schedule's probe of a typical margin) is the binary loss.
    y, z = _targets("log_loss", 50), RNG.standard_normal(50)
    np.testing.assert_array_equal(
        get_loss("multinomial").dloss(y, z), get_loss("log_loss").dloss(y, z)
    )
