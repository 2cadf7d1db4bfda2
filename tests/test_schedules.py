import math

import numpy as np
import pytest

from dasksgd.losses import get_loss
from dasksgd.schedules import LearningRate, Warmup, scaled_step, smoothness, trust_ratios


def test_scikit_learn_schedules():
    loss = get_loss("hinge")
    assert (
        LearningRate(kind="constant", eta0=0.1, power_t=0.5, alpha=1e-4, loss=loss).value(
            LearningRate(kind="constant", eta0=0.1, power_t=0.5, alpha=1e-4, loss=loss).init(), 50
        )
        == 0.1
    )
    inv = LearningRate(kind="invscaling", eta0=0.2, power_t=0.5, alpha=1e-4, loss=loss)
    assert inv.value(inv.init(), 16) == pytest.approx(0.05)
    opt = LearningRate(kind="optimal", eta0=0.0, power_t=0.5, alpha=1e-2, loss=loss)
    # Bottou's t0: the first step is that of a typical weight sqrt(1/sqrt(alpha)) (= sklearn).
    typw = math.sqrt(1.0 / math.sqrt(1e-2))
    assert opt.value(opt.init(), 1) == pytest.approx(typw)
    assert opt.value(opt.init(), 101) == pytest.approx(1.0 / (1e-2 * (1.0 / (typw * 1e-2) + 100)))


def test_adaptive_decays_then_stops():
    lr = LearningRate(kind="adaptive", eta0=1.0, power_t=0.5, alpha=1e-4, loss=get_loss("log_loss"))
    s = lr.init()
    values = []
    while s is not None:
        values.append(lr.value(s, 1))
        s = lr.on_plateau(s)
    assert values[:3] == [1.0, 0.2, pytest.approx(0.04)]
    assert values[-1] > 1e-6 and values[-1] / 5 <= 1e-6
    assert (
        LearningRate(
            kind="constant", eta0=1.0, power_t=0.5, alpha=1e-4, loss=get_loss("log_loss")
        ).on_plateau(lr.init())
        is None
    )


def test_schedule_validation():
    with pytest.raises(ValueError, match="alpha must be > 0 since learning_rate is 'optimal'"):
        LearningRate(kind="optimal", eta0=0.0, power_t=0.5, alpha=0.0, loss=get_loss("log_loss"))
    with pytest.raises(ValueError, match="eta0 must be > 0"):
        LearningRate(kind="invscaling", eta0=0.0, power_t=0.5, alpha=0.1, loss=get_loss("log_loss"))


def test_scaled_step_is_linear_until_the_cap():
    assert scaled_step(0.01, 100, 1.0, 10.0) == pytest.approx(0.5)
    assert scaled_step(0.01, 10_000, 1.0, 10.0) == 10.0
    assert smoothness(4.0, get_loss("log_loss"), 0.5) == pytest.approx(1.5)


def test_warmup_ramps_jumps_linearly():
    w = Warmup(steps=4, threshold=1.5)
    s, eta = w.update(w.init(), target=1.0)
    assert eta == 1.0  # the first step is taken as asked
    seq = []
    for _ in range(6):
        s, eta = w.update(s, target=9.0)
        seq.append(eta)
    np.testing.assert_allclose(seq, [3.0, 5.0, 7.0, 9.0, 9.0, 9.0])
    s, eta = w.update(s, target=2.0)  # a fall applies at once
    assert eta == 2.0
    s, eta = w.update(s, target=2.5)  # a small rise too
    assert eta == 2.5
    with pytest.raises(ValueError):
        Warmup(steps=0)


@pytest.mark.parametrize("intercept", [True, False])
def test_trust_ratios_are_lars_ratios_over_the_largest_of_their_kind(intercept):
    rng = np.random.default_rng(0)
    coef, step = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    coef[:, 2] *= 10.0  # a block of large weights: the largest ratio
    b, u = (rng.standard_normal(3), rng.standard_normal(3)) if intercept else (None, None)
    fc, fb = trust_ratios(coef, b, step, u)
    # By hand, block by block: ||w_b|| / ||u_b||, then over the largest of its kind.
    ratios = np.array([np.linalg.norm(coef[:, k]) / np.linalg.norm(step[:, k]) for k in range(3)])
    np.testing.assert_allclose(fc, ratios / ratios.max(), rtol=1e-14)
    assert fc[2] == 1.0 and fc.min() < 0.5
    if intercept:
        ratios = np.abs(b) / np.abs(u)
        np.testing.assert_allclose(fb, ratios / ratios.max(), rtol=1e-14)
    else:
        assert fb is None
    # One output: nothing to spread.
    one = trust_ratios(
        coef[:, :1], None if b is None else b[:1], step[:, :1], None if u is None else u[:1]
    )
    assert one[0].tolist() == [1.0] and (one[1] is None or one[1].tolist() == [1.0])


def test_trust_ratios_of_zero_blocks_are_one():
    # The zero start (every block zero): the plain step. A zero block among others: 1 too.
    fc, fb = trust_ratios(np.zeros((4, 2)), np.zeros(2), np.ones((4, 2)), np.ones(2))
    assert fc.tolist() == [1.0, 1.0] and fb.tolist() == [1.0, 1.0]
    coef = np.array([[2.0, 0.0], [0.0, 0.0]])
    fc, fb = trust_ratios(coef, np.array([1.0, 0.0]), np.ones((2, 2)), np.array([0.0, 1.0]))
    # Only the first coefficient block has both norms: its ratio is its kind's largest, 1.
    assert fc.tolist() == [1.0, 1.0] and fb.tolist() == [1.0, 1.0]
