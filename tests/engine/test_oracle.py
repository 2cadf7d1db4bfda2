"""The training loop step by step against a plain numpy mini-batch loop written from the formulas.

scikit-learn checks its Cython SGD against a 30-line ``asgd`` in its tests; this is the same
habit for :func:`dasksgd.engine.loop.train`. The reference below knows nothing of dasksgd but
the definition of a batch (rows ``[pos, end)`` of the epoch, each shard giving its proportional
share, a tail under half a batch merged into the last step) and computes every step from the
loss and penalty formulas: fixed ``B``, a constant (or ``invscaling``) per-sample rate scaled by
``B / (1 + delta)``, no shuffle. Each rule is then switched on where a closed form exists:
sample weights, iterate averaging, l1 / elastic-net proximal steps, the diagonal preconditioner
(plain SGD on standardized features, mapped back), and FISTA momentum with restarts on full
batches. Every step's model, step size and batch loss must match.
"""

import math

import numpy as np
import pytest

from dasksgd.engine.local import LocalBackend
from dasksgd.engine.loop import Plan, TrainConfig, TrainState, apply_plan, train
from dasksgd.engine.shards import TargetSpec
from dasksgd.losses import get_loss
from dasksgd.penalties import get_penalty
from dasksgd.preconditioning import Preconditioner
from dasksgd.schedules import LearningRate

RTOL, ATOL = 1e-10, 1e-13


def _loss_and_deriv(name, Y, Z):
    """Per-row loss (summed over outputs) and its derivative with respect to the margins."""
    if name == "squared_error":
        R = Z - Y
        return 0.5 * np.sum(R**2, axis=1), R
    if name == "multinomial":  # softmax cross-entropy; the class is the +1 of each row
        top = Z.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(Z - top).sum(axis=1))
        onehot = (Y > 0).astype(float)
        return lse - np.sum(onehot * Z, axis=1), np.exp(Z - lse[:, None]) - onehot
    U = Y * Z  # log_loss on +-1 targets
    return np.sum(np.logaddexp(0.0, -U), axis=1), -Y / (1.0 + np.exp(U))


def _soft(w, thr):
    return np.sign(w) * np.maximum(np.abs(w) - thr, 0.0)


def reference_path(
    shards,
    *,
    loss,
    alpha,
    l1_ratio,
    penalty,
    B,
    eta0,
    delta,
    epochs,
    power_t=None,
    average_start=None,
    momentum=False,
    mean=None,
    scale=None,
):
    """Models after every step of plain mini-batch SGD (and the step sizes and batch losses).

    ``shards`` is a list of ``(X, Y, sw)`` with ``Y`` the (n, K) targets the loss sees. With
    ``mean``/``scale`` the steps are taken on ``T = (X - mean) / scale`` with the penalty of the
    original coefficients ``w = wt / scale`` and reported back as ``(w, bt - mean . w)``.
    """
    l2 = alpha if penalty == "l2" else alpha * (1 - l1_ratio) if penalty == "elasticnet" else 0.0
    l1 = alpha if penalty == "l1" else alpha * l1_ratio if penalty == "elasticnet" else 0.0
    d, K = shards[0][0].shape[1], shards[0][1].shape[1]
    mu = np.zeros(d) if mean is None else mean
    s = np.ones(d) if scale is None else scale
    n = sum(len(X) for X, _, _ in shards)
    wt, bt = np.zeros((d, K)), np.zeros(K)  # the model in the optimizer's coordinates
    x_prev, t_fista = None, 1.0  # FISTA
    avg, n_avg, seen = None, 0, 0.0
    out = []
    for _ in range(epochs):
        pos = 0
        while pos < n:
            end = min(pos + B, n)
            end = n if n - end < B // 2 else end
            parts = [
                (
                    X[len(X) * pos // n : len(X) * end // n],
                    Y[len(X) * pos // n : len(X) * end // n],
                    None if sw is None else sw[len(X) * pos // n : len(X) * end // n],
                )
                for X, Y, sw in shards
            ]
            Xb = np.vstack([p[0] for p in parts])
            Yb = np.vstack([p[1] for p in parts])
            swb = None if shards[0][2] is None else np.concatenate([p[2] for p in parts])
            m = len(Xb)
            Tb = (Xb - mu) / s
            Lrow, D = _loss_and_deriv(loss, Yb, Tb @ wt + bt)
            if swb is not None:
                Lrow, D = Lrow * swb, D * swb[:, None]
            gamma = eta0 if power_t is None else eta0 / (seen + 1.0) ** power_t
            eta = m * gamma / (1.0 + delta)
            # Mean gradient in t-coordinates; the penalty is that of w = wt / s:
            # l2/2 sum (wt_j / s_j)^2 + l1 sum |wt_j| / s_j.
            g_w = Tb.T @ D / m + l2 * wt / s[:, None] ** 2
            g_b = D.sum(0) / m
            new_w = _soft(wt - eta * g_w, eta * l1 / s[:, None])
            new_b = bt - eta * g_b
            if momentum and m == n:
                if x_prev is None:
                    x_prev, t_fista, (wt, bt) = (new_w, new_b), 1.0, (new_w, new_b)
                else:
                    move = (new_w - x_prev[0], new_b - x_prev[1])
                    mapping = (wt - new_w, bt - new_b)
                    if np.sum(mapping[0] * move[0]) + np.sum(mapping[1] * move[1]) > 0.0:
                        x_prev, t_fista, (wt, bt) = (new_w, new_b), 1.0, (new_w, new_b)  # restart
                    else:
                        t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t_fista**2))
                        beta = (t_fista - 1.0) / t_next
                        x_prev, t_fista = (new_w, new_b), t_next
                        wt, bt = new_w + beta * move[0], new_b + beta * move[1]
            else:
                wt, bt = new_w, new_b
            seen += m
            model = (new_w, new_b) if momentum else (wt, bt)
            if average_start is not None and seen >= average_start:
                n_avg += 1
                avg = (
                    (model[0].copy(), model[1].copy())
                    if avg is None
                    else (
                        avg[0] + (model[0] - avg[0]) / n_avg,
                        avg[1] + (model[1] - avg[1]) / n_avg,
                    )
                )
                model = avg
            w = model[0] / s[:, None]
            out.append(
                {
                    "coef": w,
                    "intercept": model[1] - mu @ w,
                    "eta": eta,
                    "m": m,
                    "loss": float(Lrow.sum()) / m,
                }
            )
            pos = end
    return out


def _targets(y, classes):
    if classes is None:
        return y.reshape(-1, 1).astype(float)
    if len(classes) == 2:
        return np.where(y == classes[1], 1.0, -1.0)[:, None]
    return np.where(y[:, None] == classes[None, :], 1.0, -1.0)


CASES = {  # loss, penalty, K (classes; None: regression), B, extra
    "plain": ("squared_error", "l2", None, 64, {}),
    "no-penalty-weights": ("squared_error", None, None, 50, {"weights": True}),
    "invscaling": ("squared_error", "l2", None, 64, {"power_t": 0.5}),
    "logistic-binary": ("log_loss", "l2", 2, 40, {}),
    "logistic-ovr": ("log_loss", "l2", 3, 64, {}),
    "l1-prox": ("squared_error", "l1", None, 32, {}),
    "elasticnet-averaged": ("log_loss", "elasticnet", 2, 48, {"average_start": 300.0}),
    "preconditioned": ("squared_error", "l2", None, 64, {"precondition": True}),
    "preconditioned-logistic": ("log_loss", "elasticnet", 3, 40, {"precondition": True}),
    "fista-full-batch": ("squared_error", "l1", None, 10_000, {"momentum": True}),
    "multinomial": ("multinomial", "l2", 4, 64, {"weights": True}),
    "multinomial-preconditioned": ("multinomial", "elasticnet", 3, 40, {"precondition": True}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_train_matches_a_plain_numpy_loop_step_by_step(case):
    name, pen, n_classes, B, extra = CASES[case]
    rng = np.random.default_rng(7)
    n, d, epochs, alpha, l1_ratio, delta = 523, 5, 3, 1e-2, 0.3, 1.0
    # Features of different scales and offsets, so that the preconditioner has work to do.
    X = rng.standard_normal((n, d)) * [1.0, 2.0, 0.5, 1.0, 3.0] + [0.0, 1.0, -2.0, 0.5, 0.0]
    z = X @ rng.standard_normal(d)
    if n_classes is None:
        y = z + 0.3 * rng.standard_normal(n)
        classes = None
    else:
        y = np.digitize(
            z + rng.standard_normal(n), np.quantile(z, np.linspace(0, 1, n_classes + 1)[1:-1])
        )
        classes = np.arange(n_classes)
    sw = rng.uniform(0.2, 2.0, n) if extra.get("weights") else None
    cut = 200  # two shards of unequal size: each gives its proportional share of a batch
    parts = [
        (X[:cut], y[:cut], None if sw is None else sw[:cut]),
        (X[cut:], y[cut:], None if sw is None else sw[cut:]),
    ]

    lossf = get_loss(name)
    # A stable constant step: half of 1/L for a batch of B rows in the optimizer's coordinates.
    T = (X - X.mean(0)) / X.std(0) if extra.get("precondition") else X
    lam = np.linalg.eigvalsh(np.c_[T, np.ones(n)].T @ np.c_[T, np.ones(n)] / n)[-1]
    eta0 = 0.5 * (1 + delta) / (min(B, n) * lossf.curvature * lam)
    power_t = extra.get("power_t")
    schedule = LearningRate(
        kind="invscaling" if power_t else "constant",
        eta0=eta0,
        power_t=power_t or 0.5,
        alpha=alpha,
        loss=lossf,
    )
    config = TrainConfig(
        loss=lossf,
        penalty=get_penalty(pen, alpha, l1_ratio),
        schedule=schedule,
        batch_size=B,
        delta=delta,
        max_iter=epochs,
        tol=None,
        average_start=extra.get("average_start"),
        precondition=bool(extra.get("precondition")),
        warmup_steps=1,
        accelerate=bool(extra.get("momentum")),
    )
    spec = TargetSpec(classes=classes)
    backend = LocalBackend(parts, spec, lossf, shuffle=False, seed=0)
    mean = scale = None
    precond = Preconditioner.identity(d)
    if extra.get("precondition"):
        # The column statistics of the rows, as the plan takes them (the scaling is the plan's
        # choice; what the loop must do with it is the reference's business).
        ridge = config.penalty.l2_strength / lossf.curvature
        precond = Preconditioner.from_sums(X.sum(0), (X**2).sum(0), n, center=True, ridge=ridge)
        mean, scale = precond.mean, precond.scale
    plan = Plan(precond=precond, max_step=math.inf, gamma=eta0, overhead=0.0, row_cost=1.0, b_min=1)
    apply_plan(backend, config, plan)
    K = spec.n_outputs
    seen = []
    train(
        backend,
        config,
        TrainState(coef=np.zeros((d, K)), intercept=np.zeros(K)),
        plan=plan,
        checkpoint=lambda state, loop: seen.append([a.copy() for a in state.model()]),
        checkpoint_every=1,
    )
    history = train(
        backend, config, TrainState(coef=np.zeros((d, K)), intercept=np.zeros(K)), plan=plan
    ).history

    Y = _targets(y, classes)
    shards = [
        (X[:cut], Y[:cut], None if sw is None else sw[:cut]),
        (X[cut:], Y[cut:], None if sw is None else sw[cut:]),
    ]
    ref = reference_path(
        shards,
        loss=name,
        alpha=alpha,
        l1_ratio=l1_ratio,
        penalty=pen,
        B=min(B, n),
        eta0=eta0,
        delta=delta,
        epochs=epochs,
        power_t=power_t,
        average_start=extra.get("average_start"),
        momentum=bool(extra.get("momentum")),
        mean=mean,
        scale=scale,
    )
    assert len(seen) == len(ref) == len(history)
    for k, (got, want) in enumerate(zip(seen, ref)):
        np.testing.assert_allclose(
            got[0], want["coef"], rtol=RTOL, atol=ATOL, err_msg=f"coef after step {k + 1}"
        )
        np.testing.assert_allclose(
            got[1], want["intercept"], rtol=RTOL, atol=ATOL, err_msg=f"intercept after step {k + 1}"
        )
    np.testing.assert_array_equal(history["batch_size"], [r["m"] for r in ref])
    np.testing.assert_allclose(history["learning_rate"], [r["eta"] for r in ref], rtol=1e-14)
    np.testing.assert_allclose(history["loss"], [r["loss"] for r in ref], rtol=RTOL)
    if extra.get("average_start") is not None:  # the average starts where it should, not at step 1
        assert not np.allclose(seen[0][0], seen[-1][0])
    if extra.get("momentum"):
        assert len(ref) == epochs  # one full-batch step per epoch


def test_the_reference_is_not_blind_to_the_rules():
    # The oracle's cases differ from each other: a reference that ignored the preconditioner or
    # the prox would make the comparisons above vacuous.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 3)) * [1.0, 5.0, 0.2] + 1.0
    Y = (X @ [1.0, -1.0, 2.0]).reshape(-1, 1)
    common = dict(
        loss="squared_error", alpha=0.1, l1_ratio=0.5, B=20, eta0=0.01, delta=1.0, epochs=2
    )
    plain = reference_path([(X, Y, None)], penalty="l2", **common)[-1]["coef"]
    lasso = reference_path([(X, Y, None)], penalty="l1", **common)[-1]["coef"]
    scaled = reference_path([(X, Y, None)], penalty="l2", mean=X.mean(0), scale=X.std(0), **common)[
        -1
    ]["coef"]
    assert not np.allclose(plain, lasso) and not np.allclose(plain, scaled)
