import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from dasksgd.quasi_newton import QuasiNewton


def _run(qn, fun, x0, evaluations):
    state, point = qn.init(), x0
    for _ in range(evaluations):
        f, g = fun(point)
        state, point = qn.update(state, point, f, g)
    return state


def test_quadratic_is_solved_to_rounding():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((8, 8))
    A = M @ M.T + 0.1 * np.eye(8)  # condition number ~ 1e3
    b = rng.standard_normal(8)
    x_star = np.linalg.solve(A, b)
    L = np.linalg.eigvalsh(A)[-1]

    def fun(x):
        return 0.5 * x @ A @ x - b @ x, A @ x - b

    state = _run(QuasiNewton(lambda v: v.copy(), 1.0 / L, memory=10), fun, np.zeros(8), 40)
    # Objective values resolve x to about sqrt(machine epsilon * condition number).
    np.testing.assert_allclose(state.x, x_star, rtol=1e-6)
    assert state.f == pytest.approx(fun(x_star)[0], rel=1e-13)


def test_logistic_matches_newton():
    X, y = make_classification(500, 5, random_state=0)
    S = np.where(y == 1, 1.0, -1.0)
    alpha = 1e-3
    ref = LogisticRegression(C=1.0 / (alpha * len(y)), solver="newton-cholesky", tol=1e-12).fit(
        X, y
    )
    Xt = np.column_stack([X, np.ones(len(y))])

    def fun(v):
        u = S * (Xt @ v)
        f = np.mean(np.logaddexp(0.0, -u)) + 0.5 * alpha * v[:-1] @ v[:-1]
        g = Xt.T @ (-S / (1.0 + np.exp(u))) / len(y)
        g[:-1] += alpha * v[:-1]
        return f, g

    L = 0.25 * np.linalg.eigvalsh(Xt.T @ Xt / len(y))[-1] + alpha
    state = _run(QuasiNewton(lambda v: v.copy(), 1.0 / L), fun, np.zeros(6), 60)
    f_ref = fun(np.concatenate([ref.coef_.ravel(), ref.intercept_]))[0]
    assert state.f == pytest.approx(f_ref, rel=1e-12)


def test_rejected_trials_backtrack_and_still_converge():
    # A first step 1000 times too long: the trial raises the objective and is halved until the
    # Armijo test passes; the iterate never goes up.
    A, b = np.diag([1.0, 10.0]), np.array([1.0, 1.0])

    def fun(x):
        return 0.5 * x @ A @ x - b @ x, A @ x - b

    qn = QuasiNewton(lambda v: v.copy(), 100.0)
    state, point, accepted = qn.init(), np.zeros(2), []
    for _ in range(60):
        f, g = fun(point)
        state, point = qn.update(state, point, f, g)
        accepted.append(state.f)
    assert state.backtracks > 0
    assert all(b_ <= a_ for a_, b_ in zip(accepted, accepted[1:]))
    np.testing.assert_allclose(state.x, [1.0, 0.1], rtol=1e-8)


def test_preconditioner_is_the_first_metric():
    # The first direction is -first_step * P g.
    qn = QuasiNewton(lambda v: np.array([2.0, 0.5]) * v, 0.1)
    state, nxt = qn.update(qn.init(), np.array([1.0, 1.0]), 3.0, np.array([1.0, 4.0]))
    np.testing.assert_allclose(nxt, [1.0 - 0.2, 1.0 - 0.2])
    assert state.f == 3.0 and state.t == 1.0


def test_blocks_are_separate_lbfgs_runs():
    # Two independent quadratics side by side (the layout of K one-vs-rest outputs): with
    # ``block``, each column's iterates are those of L-BFGS on that column alone, as long as
    # every trial is accepted (no backtracking on these problems from these starts).
    rng = np.random.default_rng(1)
    As = []
    for _ in range(2):
        M = rng.standard_normal((4, 4))
        As.append(M @ M.T + np.eye(4))
    b = rng.standard_normal((4, 2))

    def joint(v):
        X = v.reshape(4, 2)
        f = sum(0.5 * X[:, j] @ As[j] @ X[:, j] - b[:, j] @ X[:, j] for j in range(2))
        G = np.column_stack([As[j] @ X[:, j] - b[:, j] for j in range(2)])
        return f, G.ravel()

    L = max(np.linalg.eigvalsh(A)[-1] for A in As)
    state = _run(QuasiNewton(lambda v: v.copy(), 1.0 / L, block=4), joint, np.zeros(8), 6)
    for j in range(2):

        def alone(x, j=j):
            return 0.5 * x @ As[j] @ x - b[:, j] @ x, As[j] @ x - b[:, j]

        one = _run(QuasiNewton(lambda v: v.copy(), 1.0 / L), alone, np.zeros(4), 6)
        assert state.backtracks == 0 and one.backtracks == 0
        np.testing.assert_allclose(state.x.reshape(4, 2)[:, j], one.x, rtol=1e-10)
