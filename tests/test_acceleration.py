import numpy as np

from dasksgd.acceleration import Momentum
from dasksgd.penalties import get_penalty
from dasksgd.preconditioning import Preconditioner


def _run(momentum, steps=200):
    """Proximal gradient on an ill-conditioned quadratic 1/2 w'Aw - c'w, step 1/L."""
    A = np.diag(np.logspace(0, -3, 6))
    c = np.ones(6)
    w_star = np.linalg.solve(A, c)
    pc = Preconditioner.identity(6)
    pen = get_penalty(None, 0.0)
    state = momentum.init()
    point = (np.zeros((6, 1)), np.zeros(1))
    for _ in range(steps):
        g = A @ point[0] - c[:, None]
        new = pc.step(*point, g, np.zeros(1), 1.0, pen, False)
        state, point = momentum.update(
            state, point=point, new=new, full_batch=True, metric=pc.metric
        )
    x = momentum.iterate(state, *point)[0][:, 0]
    f = lambda w: 0.5 * w @ A @ w - c @ w  # noqa: E731
    return f(x) - f(w_star), state


def test_momentum_accelerates_and_restarts():
    plain, _ = _run(Momentum(enabled=False))
    fast, state = _run(Momentum())
    assert fast < plain / 100
    assert state.restarts >= 1


def test_no_momentum_on_minibatches():
    m = Momentum()
    new = (np.ones((2, 1)), np.zeros(1))
    state, point = m.update(
        m.init(),
        point=(np.zeros((2, 1)), np.zeros(1)),
        new=new,
        full_batch=False,
        metric=Preconditioner.identity(2).metric,
    )
    assert state.coef is None and point is new
