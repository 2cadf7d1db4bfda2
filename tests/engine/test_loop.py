import numpy as np
import pytest
from sklearn.datasets import make_classification

from dasksgd.engine.local import LocalBackend
from dasksgd.engine.loop import TrainConfig, TrainState, _batch_end, make_plan, train
from dasksgd.engine.shards import TargetSpec
from dasksgd.losses import get_loss
from dasksgd.penalties import get_penalty
from dasksgd.schedules import LearningRate


def _objective(X, y, coef, intercept, alpha):
    z = X @ coef[:, 0] + intercept[0]
    u = np.where(y == 1, 1.0, -1.0) * z
    return float(np.mean(np.logaddexp(0.0, -u)) + 0.5 * alpha * np.sum(coef**2))


def _fit(X, y, epochs, batch_size, accelerate, alpha=1e-3):
    loss = get_loss("log_loss")
    config = TrainConfig(
        loss=loss,
        penalty=get_penalty("l2", alpha, 0.15),
        schedule=LearningRate(kind="auto", eta0=0.0, power_t=0.5, alpha=alpha, loss=loss),
        batch_size=batch_size,
        max_iter=epochs,
        tol=None,
        accelerate=accelerate,
    )
    backend = LocalBackend(
        [(X[:300], y[:300], None), (X[300:], y[300:], None)],
        TargetSpec(classes=np.array([0, 1])),
        loss,
        seed=3,
    )
    plan = make_plan(backend, config, X.shape[1], seed=3)
    state = TrainState(coef=np.zeros((X.shape[1], 1)), intercept=np.zeros(1))
    return train(backend, config, state, plan=plan)


@pytest.mark.parametrize("accelerate", [True, False])
@pytest.mark.parametrize("batch_size", [700, 64])
def test_epoch_objective_is_the_objective_of_the_epoch_model(accelerate, batch_size):
    # Full-batch epochs take their objective from the next step's pass (a probe model), the
    # last epoch and mini-batch epochs from a pass of their own: all must be the objective of
    # the model the epoch ended with, which a fit stopped after that epoch returns.
    X, y = make_classification(700, 6, random_state=0)
    alpha = 1e-3
    long = _fit(X, y, 5, batch_size, accelerate, alpha)
    reported = long.history.dropna(subset=["objective"])["objective"].to_numpy()
    assert len(reported) == 5
    for k in range(1, 6):
        short = _fit(X, y, k, batch_size, accelerate, alpha)
        coef, intercept = short.state.model()
        direct = _objective(X, y, coef, intercept, alpha)
        assert reported[k - 1] == pytest.approx(direct, rel=1e-12, abs=1e-14)
    coef, intercept = long.state.model()
    assert long.objective == pytest.approx(_objective(X, y, coef, intercept, alpha), rel=1e-12)


def test_stopping_on_a_deferred_objective_keeps_the_epoch_model():
    # tol stops the fit when the objective of a full-batch epoch arrives with the next step: that
    # step is not taken, so the model is the one whose objective was judged.
    X, y = make_classification(700, 6, random_state=1)
    loss = get_loss("log_loss")
    config = TrainConfig(
        loss=loss,
        penalty=get_penalty("l2", 1e-2, 0.15),
        schedule=LearningRate(kind="auto", eta0=0.0, power_t=0.5, alpha=1e-2, loss=loss),
        batch_size=700,
        max_iter=200,
        tol=1e-4,
        n_iter_no_change=2,
    )
    backend = LocalBackend([(X, y, None)], TargetSpec(classes=np.array([0, 1])), loss, seed=0)
    plan = make_plan(backend, config, X.shape[1])
    res = train(
        backend, config, TrainState(coef=np.zeros((6, 1)), intercept=np.zeros(1)), plan=plan
    )
    assert res.converged and res.n_iter < 200
    assert (
        res.history["step"].iloc[-1] == res.state.step == res.n_iter
    )  # one full-batch step per epoch
    coef, intercept = res.state.model()
    assert res.objective == pytest.approx(_objective(X, y, coef, intercept, 1e-2), rel=1e-12)


@pytest.mark.parametrize(
    ("pos", "size", "n", "end"),
    [
        (0, 10, 100, 10),
        (90, 10, 100, 100),
        (86, 10, 100, 100),
        (85, 10, 100, 95),
        (0, 70, 100, 100),
        (0, 60, 100, 60),
        (0, 1000, 100, 100),
    ],
)
def test_batch_end_merges_short_tails(pos, size, n, end):
    assert _batch_end(pos, size, n) == end


def _diverging_fit(step, max_iter=12):
    from dasksgd.engine.loop import Plan
    from dasksgd.preconditioning import Preconditioner

    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 5))
    y = X @ np.ones(5) + 0.1 * rng.standard_normal(2000)
    loss = get_loss("squared_error")
    # A plan whose step cap is far above 2/L: plain SGD steps of size `step` blow up.
    plan = Plan(
        precond=Preconditioner.identity(5),
        max_step=step,
        gamma=step,
        overhead=0.0,
        row_cost=1.0,
        b_min=1,
    )
    config = TrainConfig(
        loss=loss,
        penalty=get_penalty("l2", 1e-4, 0.15),
        schedule=LearningRate(kind="constant", eta0=1e9, power_t=0.5, alpha=1e-4, loss=loss),
        batch_size=64,
        max_iter=max_iter,
        tol=None,
        warmup_steps=1,
    )
    backend = LocalBackend([(X, y, None)], TargetSpec(), loss, seed=0)
    return (
        train(backend, config, TrainState(coef=np.zeros((5, 1)), intercept=np.zeros(1)), plan=plan),
        X,
        y,
    )


def test_divergence_rolls_back_and_halves_the_step():
    res, X, y = _diverging_fit(8.0)  # stable from 8 / 2**4 = 0.5
    assert 1 <= res.rollbacks <= 5
    coef, intercept = res.state.model()
    assert np.all(np.isfinite(coef)) and np.isfinite(res.objective)
    np.testing.assert_allclose(coef[:, 0], np.ones(5), atol=0.05)
    # The reported objective is the model's.
    direct = 0.5 * np.mean((y - X @ coef[:, 0] - intercept[0]) ** 2) + 0.5e-4 * np.sum(coef**2)
    assert res.objective == pytest.approx(direct, rel=1e-10)


def test_persistent_divergence_stops_with_advice():
    with pytest.raises(FloatingPointError, match="roll-backs to the last good model"):
        _diverging_fit(1e6)


# -- checkpoints: a fit resumed from any saved step ends exactly like the uninterrupted one ------


class _Crash(Exception):
    pass


def _resume_case(case):
    from dasksgd.engine.loop import Plan
    from dasksgd.preconditioning import Preconditioner

    rng = np.random.default_rng(5)
    if case == "diverging":  # roll-backs, their halved steps and the good model are state too
        X = rng.standard_normal((2000, 5))
        y = X @ np.ones(5) + 0.1 * rng.standard_normal(2000)
        loss = get_loss("squared_error")
        plan = Plan(
            precond=Preconditioner.identity(5),
            max_step=8.0,
            gamma=8.0,
            overhead=0.0,
            row_cost=1.0,
            b_min=1,
        )
        config = TrainConfig(
            loss=loss,
            penalty=get_penalty("l2", 1e-4, 0.15),
            schedule=LearningRate(kind="constant", eta0=1e9, power_t=0.5, alpha=1e-4, loss=loss),
            batch_size=64,
            max_iter=8,
            tol=None,
            warmup_steps=1,
        )
        return (
            config,
            (lambda: LocalBackend([(X, y, None)], TargetSpec(), loss, seed=0)),
            plan,
            5,
            1,
        )
    X, y = make_classification(
        1500, 8, n_classes=3 if case == "multiclass" else 2, n_informative=4, random_state=2
    )
    settings = {  # loss, penalty, batch size, extra config
        "auto-lbfgs": ("log_loss", "l2", "auto", {}),  # mini-batch phase, then L-BFGS
        "l1-momentum": ("hinge", "l1", 256, {}),
        "averaged": ("modified_huber", "elasticnet", 128, {"average_start": 500.0}),
        "early-stopping": (
            "log_loss",
            "l2",
            200,
            {"early_stopping": True, "tol": 1e-4, "n_iter_no_change": 2},
        ),
        "tol-stop": ("log_loss", "l2", 1500, {"tol": 1e-3, "n_iter_no_change": 2}),
        "multiclass": ("log_loss", "l2", "auto", {}),
    }
    name, pen, b, extra = settings[case]
    loss = get_loss(name)
    classes = np.unique(y)
    spec = TargetSpec(classes=classes)
    config = TrainConfig(
        loss=loss,
        penalty=get_penalty(pen, 1e-3, 0.3),
        schedule=LearningRate(kind="auto", eta0=0.0, power_t=0.5, alpha=1e-3, loss=loss),
        batch_size=b,
        **{"max_iter": 12, "tol": None, **extra},
    )
    shards = [(X[:700], y[:700], None), (X[700:], y[700:], None)]
    val = 0.2 if config.early_stopping else 0.0

    def backend():
        return LocalBackend(shards, spec, loss, seed=4, validation_fraction=val)

    from dataclasses import replace

    # A low floor under "auto" B, so that these 1500 rows see both the mini-batch and the
    # exact phase.
    plan = replace(make_plan(backend(), config, 8, n_outputs=spec.n_outputs, seed=4), b_min=16)
    return config, backend, plan, 8, spec.n_outputs


@pytest.mark.parametrize(
    "case",
    [
        "auto-lbfgs",
        "l1-momentum",
        "averaged",
        "early-stopping",
        "tol-stop",
        "multiclass",
        "diverging",
    ],
)
def test_resume_from_any_checkpoint_is_bit_identical(case):
    import pickle

    import pandas.testing as pd_testing

    from dasksgd.engine.loop import apply_plan

    config, make_backend, plan, d, K = _resume_case(case)

    def backend():  # as a fit builds it: the shards, then the plan's feature scaling
        b = make_backend()
        apply_plan(b, config, plan)
        return b

    snaps = []

    def keep(state, loop):
        snaps.append(pickle.dumps((state, loop)))  # as a checkpoint file would hold them

    fresh = TrainState(coef=np.zeros((d, K)), intercept=np.zeros(K))
    full = train(backend(), config, fresh, plan=plan, checkpoint=keep, checkpoint_every=1)
    assert len(snaps) == full.state.step >= 4
    picks = sorted({0, 1, len(snaps) // 3, len(snaps) // 2, len(snaps) - 2})
    for k in picks:
        # The crash: the fit dies right after its (k+1)-th checkpoint.
        count = []

        def crash(state, loop, k=k):
            count.append(1)
            if len(count) > k:
                raise _Crash

        with pytest.raises(_Crash):
            train(backend(), config, fresh, plan=plan, checkpoint=crash, checkpoint_every=1)
        state, loop = pickle.loads(snaps[k])
        res = train(backend(), config, state, plan=plan, resume=loop)
        coef, intercept = res.state.model()
        ref_coef, ref_intercept = full.state.model()
        np.testing.assert_array_equal(coef, ref_coef)
        np.testing.assert_array_equal(intercept, ref_intercept)
        assert (res.n_iter, res.converged, res.rollbacks, res.batch_size) == (
            full.n_iter,
            full.converged,
            full.rollbacks,
            full.batch_size,
        )
        assert res.objective == full.objective or (
            np.isnan(res.objective) and np.isnan(full.objective)
        )
        cols = [c for c in res.history.columns if c != "time"]
        pd_testing.assert_frame_equal(res.history[cols], full.history[cols], check_exact=True)
        assert res.history["time"].is_monotonic_increasing
    if case == "diverging":
        assert full.rollbacks >= 1
    if case == "auto-lbfgs":
        assert (full.history["batch_size"] < 1500).any() and (
            full.history["batch_size"] == 1500
        ).any()


def test_an_epoch_that_raises_the_objective_sends_the_batch_to_the_whole_data():
    from dataclasses import replace

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20000, 10))
    y = X @ np.ones(10) + 3.0 * rng.standard_normal(20000)  # noisy: small batches stall
    loss = get_loss("squared_error")
    config = TrainConfig(
        loss=loss,
        penalty=get_penalty("l2", 1e-4, 0.15),
        schedule=LearningRate(kind="auto", eta0=0.0, power_t=0.5, alpha=1e-4, loss=loss),
        batch_size="auto",
        max_iter=8,
        tol=None,
        goodput=False,  # the batch-size rule's own verdict (GoodputRule is tested apart)
    )
    backend = LocalBackend([(X, y, None)], TargetSpec(), loss, seed=0)
    plan = replace(make_plan(backend, config, 10), b_min=64)
    res = train(
        backend, config, TrainState(coef=np.zeros((10, 1)), intercept=np.zeros(1)), plan=plan
    )
    ends = res.history.dropna(subset=["objective"])
    f, B = ends["objective"].to_numpy(), ends["batch_size"].to_numpy()
    rose = np.nonzero(np.diff(f) > 0)[0]
    assert len(rose) and B[rose[0] + 1] < len(y)  # a mini-batch epoch raised the objective...
    assert (B[rose[0] + 2 :] == len(y)).all()  # ...and every step after it took all the rows
    # (the stall rule alone would only have doubled the batch)


def _scaling_plan(X, y):
    """The plan of a ridge regression on two shards of 1000 rows, with a sample of every 40th
    row; and the ridge of its preconditioner."""
    loss = get_loss("squared_error")
    config = TrainConfig(
        loss=loss,
        penalty=get_penalty("l2", 1e-6, 0.15),
        schedule=LearningRate(kind="auto", eta0=0.0, power_t=0.5, alpha=1e-6, loss=loss),
    )
    backend = LocalBackend(
        [(X[:1000], y[:1000], None), (X[1000:], y[1000:], None)], TargetSpec(), loss
    )
    return make_plan(backend, config, X.shape[1], sample=50), 1e-6 / loss.curvature


def _scaling(X, ridge):
    from dasksgd.preconditioning import Preconditioner

    X = X.toarray() if hasattr(X, "toarray") else X
    return Preconditioner.from_sums(X.sum(0), (X**2).sum(0), len(X), center=True, ridge=ridge)


@pytest.mark.parametrize("rare", [False, True])
def test_plan_scales_from_a_sample_unless_the_rows_say_otherwise(rare):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 4)) * [1.0, 3.0, 0.5, 1.0] + [0.0, 2.0, -1.0, 0.0]
    if rare:
        X[:, 3] = 0.0
        X[5::97, 3] = 2.0  # none of these rows is in the sample of every 40th row of the two shards
    plan, ridge = _scaling_plan(X, rng.standard_normal(2000))
    expected = _scaling(X if rare else np.vstack([X[:1000:40], X[1000::40]]), ridge)
    np.testing.assert_allclose(plan.precond.mean, expected.mean, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(plan.precond.scale, expected.scale, rtol=1e-12)
    # gamma = 1 / L_max from the row norms in the coordinates the plan chose (squared loss:
    # curvature 1).
    T2 = ((X - expected.mean) / expected.scale) ** 2
    l2 = 1e-6 * float(np.max(1.0 / expected.scale**2))
    assert plan.gamma == pytest.approx(1.0 / (T2.sum(1).max() + 1.0 + l2), rel=1e-10)


def test_plan_scales_sparse_rows_from_all_of_them():
    # A sample of sparse rows holds too few values per column: the plan takes every row's.
    import scipy.sparse as sp

    X = sp.random(2000, 30, density=0.1, format="csr", random_state=1)
    plan, ridge = _scaling_plan(X, np.random.default_rng(1).standard_normal(2000))
    full = _scaling(X, ridge)
    np.testing.assert_allclose(plan.precond.mean, full.mean, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(plan.precond.scale, full.scale, rtol=1e-12)
