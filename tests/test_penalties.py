import numpy as np
import pytest

from dasksgd.penalties import get_penalty


def test_values():
    w = np.array([[1.0, -2.0], [0.5, 0.0]])
    assert get_penalty("l2", 0.1).value(w) == pytest.approx(0.1 * 0.5 * (1 + 4 + 0.25))
    assert get_penalty("l1", 0.1).value(w) == pytest.approx(0.1 * 3.5)
    en = get_penalty("elasticnet", 0.1, 0.3).value(w)
    assert en == pytest.approx(0.1 * (0.3 * 3.5 + 0.7 * 0.5 * 5.25))
    assert get_penalty(None, 0.1).value(w) == 0.0


def test_prox_is_soft_threshold():
    w = np.array([-1.0, -0.05, 0.0, 0.02, 0.7])
    p = get_penalty("l1", 0.1).prox(w, step=0.5)
    np.testing.assert_allclose(p, [-0.95, 0.0, 0.0, 0.0, 0.65])
    # The prox minimizes 1/2 ||v - w||^2 + step * c1 ||v||_1: check against a dense grid.
    grid = np.linspace(-2, 2, 400001)
    for wi, pi in zip(w, p):
        obj = 0.5 * (grid - wi) ** 2 + 0.5 * 0.1 * np.abs(grid)
        assert abs(grid[np.argmin(obj)] - pi) < 1e-4
    np.testing.assert_array_equal(get_penalty("l2", 0.1).prox(w, 0.5), w)


def test_smooth_gradient_is_finite_difference():
    rng = np.random.default_rng(1)
    w = rng.standard_normal(6)
    pen = get_penalty("elasticnet", 0.2, 0.4)
    smooth = get_penalty("l2", pen.l2_strength)
    h = 1e-6
    fd = np.array(
        [(smooth.value(w + h * e) - smooth.value(w - h * e)) / (2 * h) for e in np.eye(6)]
    )
    np.testing.assert_allclose(pen.smooth_grad(w), fd, rtol=1e-6)


def test_unknown_penalty():
    with pytest.raises(ValueError, match="Unknown penalty 'l3'"):
        get_penalty("l3", 0.1)
