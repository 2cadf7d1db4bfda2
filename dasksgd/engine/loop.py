"""The synchronous mini-batch SGD loop, independent of where the shards live.

:func:`train` drives a backend (in-process or cluster) that answers requests by summing
:class:`~dasksgd.statistics.GradStats` over shards. Once per fit, :func:`make_plan` measures what
the rules need (per-feature scales, the smoothness bounds ``L`` and ``L_max``, the per-step
overhead). Per step: one request (``step``) for the statistics of the batch, one update of the
model here, and the policies (batch size from gradient diversity, step size, warmup) advance
their explicit states; full-batch steps of smooth problems are L-BFGS steps
(:mod:`dasksgd.quasi_newton`), others use momentum (:mod:`dasksgd.acceleration`). Per epoch: the
training objective of the epoch's model (known from the L-BFGS pass, or carried by the next
full-batch step as a probe, or one loss-only ``objective`` request), which also drives the
stopping rules and the stall rule of the batch size; and one ``validation`` request when early
stopping holds rows out.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..acceleration import Momentum, MomentumState
from ..diversity import DiversityBatchSize, DiversitySmoother, FixedBatchSize, batch_diversity
from ..losses import Loss
from ..penalties import Penalty
from ..preconditioning import Preconditioner
from ..quasi_newton import QuasiNewton, QuasiNewtonState
from ..schedules import LearningRate, ScheduleState, Warmup, scaled_step, smoothness

__all__ = [
    "TrainConfig", "TrainState", "TrainResult", "LoopState", "Plan", "apply_plan", "make_plan", "train", "HISTORY_COLUMNS",
]

logger = logging.getLogger("dasksgd")

HISTORY_COLUMNS = [
    "step", "epoch", "samples", "batch_size", "diversity", "batch_bound", "learning_rate", "loss",
    "time", "objective", "validation_score",
]


@dataclass(frozen=True)
class TrainConfig:
    """Everything the loop needs to know that does not change during a fit."""

    loss: Loss
    penalty: Penalty
    schedule: LearningRate
    batch_size: int | str = "auto"  # an int, or "auto": from the gradient diversity
    delta: float = 1.0
    fit_intercept: bool = True
    max_iter: int = 1000
    tol: float | None = 1e-3
    n_iter_no_change: int = 5
    early_stopping: bool = False
    average_start: float | None = None  # samples before averaging starts; None: no averaging
    precondition: bool = True  # diagonal preconditioner: centered, Jacobi-scaled features
    warmup_steps: int = 5
    accelerate: bool = True  # full-batch steps: L-BFGS (smooth problems) or momentum with restarts


@dataclass(frozen=True)
class Plan:
    """What :func:`make_plan` measured on the data, once per fit.

    Attributes
    ----------
    precond : Preconditioner
        Column means and scales: the optimizer works on standardized features (identity
        without ``precondition``).
    max_step : float
        ``1 / L``, the full-batch step limit of the mean objective (in those coordinates).
    gamma : float
        ``1 / L_max``, the safe step of one sample.
    overhead : float
        Seconds of bookkeeping per step on this backend (its ``step_overhead``).
    row_cost : float
        Modelled seconds per row of a step's arithmetic, all workers together.
    b_min : int
        Smallest batch that amortizes the overhead: ``overhead / row_cost`` rows.
    """

    precond: Preconditioner
    max_step: float
    gamma: float
    overhead: float
    row_cost: float
    b_min: int


@dataclass
class TrainState:
    """The model and the counters that carry over between calls (``partial_fit``, warm start)."""

    coef: np.ndarray  # (d, K)
    intercept: np.ndarray  # (K,)
    t: float = 0.0  # samples seen
    epoch: int = 0  # epochs started (seeds the shuffles)
    step: int = 0
    schedule: ScheduleState = field(default_factory=ScheduleState)
    avg_coef: np.ndarray | None = None
    avg_intercept: np.ndarray | None = None
    n_avg: int = 0
    momentum: MomentumState = field(default_factory=MomentumState)
    quasi: QuasiNewtonState = field(default_factory=QuasiNewtonState)
    accepted: tuple | None = None  # the quasi-Newton phase's accepted point: the model

    def copy(self) -> "TrainState":
        return replace(
            self,
            momentum=MomentumState(*(a.copy() if isinstance(a, np.ndarray) else a for a in self.momentum)),
            coef=self.coef.copy(),
            intercept=self.intercept.copy(),
            avg_coef=None if self.avg_coef is None else self.avg_coef.copy(),
            avg_intercept=None if self.avg_intercept is None else self.avg_intercept.copy(),
        )

    def model(self) -> tuple[np.ndarray, np.ndarray]:
        """The model to report: the average when averaging has started, else the iterate (not
        the extrapolated point that momentum evaluates the gradient at)."""
        if self.n_avg > 0:
            return self.avg_coef, self.avg_intercept
        if self.accepted is not None:
            return self.accepted
        if self.momentum.coef is not None:
            return self.momentum.coef, self.momentum.intercept
        return self.coef, self.intercept


@dataclass
class TrainResult:
    """What :func:`train` returns: the final state, epochs run, and the step history."""

    state: TrainState
    n_iter: int
    converged: bool
    history: pd.DataFrame
    batch_size: int
    objective: float
    rollbacks: int = 0


#: An epoch that decreases the objective by at most this fraction of the previous epoch's
#: decrease has stalled (the batch-size policy then doubles the batch).
STALL = 0.1

#: Divergence: an epoch objective above this multiple of the best one so far (or a non-finite
#: loss) rolls back to the last good model and halves the step size, at most ROLLBACKS times.
EXPLODE = 100.0
ROLLBACKS = 5


class _Diverged(Exception):
    """Raised inside an epoch whose model went non-finite or exploded."""


#: Arithmetic over overhead of a step at the smallest "auto" batch.
FLOOR_RATIO = 4.0

#: Up to this many coefficients, L comes from the sample's Gram matrix (one request);
#: above it, from a power iteration (one request per iteration).
GRAM_FEATURES = 1024


def _power_iteration(backend: Any, precond: Preconditioner, k: int, fi: bool, stride: int, iters: int,
                     seed: int) -> float:
    """Largest eigenvalue of the sample's scaled Gram matrix by power iteration."""
    v = np.random.default_rng(seed).standard_normal(k)
    v /= np.linalg.norm(v)
    lam = 0.0
    for _ in range(iters):
        out = backend.call("gram_matvec", precond.raw_direction(v, fi), stride)
        av = precond.gram_from_raw(out[:-1], fi) / max(out[-1], 1.0)
        new = float(np.linalg.norm(av))
        if new == 0.0:
            break
        v = av / new
        converged = abs(new - lam) <= 1e-3 * new
        lam = new
        if converged:
            break
    return lam


#: Seconds per stored value of X of a gradient step on one core, as measured by
#: benchmarks/batch_size_tradeoff.py on the 2-core development machine (about 6 ns: the two
#: matrix-vector products, the loss, and the epoch's shuffle; a fused kernel would do ~1 ns).
#: Used by the cost model of the smallest batch of batch_size="auto".
ROW_COST = 5e-9


def make_plan(
    backend: Any, config: TrainConfig, n_features: int, *, n_outputs: int = 1, sample: int = 20000,
    iters: int = 30, seed: int = 0,
) -> Plan:
    """Measure the data once per fit: scales, ``L`` (power iteration), ``L_max``, smallest batch.

    Costs the column scales of about ``sample`` rows, one pass over all rows in those
    coordinates (row norms; it also checks the scales, and in the rare case they do not fit
    the rows, one pass for the column scales of all rows and the row norms again), and the
    Gram matrix of the sample (or up to ``iters`` requests of a power iteration on
    ``Xt' S Xt / n`` over it, for many features).
    """
    fi = bool(config.fit_intercept)
    stride = max(1, backend.n_train // sample)
    ridge = config.penalty.l2_strength / config.loss.curvature
    # Dense rows: the scaling from a sample (every stride-th row; a pass of column sums over all
    # rows cost a sixth of a fit); the pass that follows measures every row in it, and says if
    # the sample missed something (a rare feature, a far outlier): then the scaling of all the
    # rows. Sparse rows: a sample has too few values per column, and their column sums cost
    # little (as many operations as stored values).
    by_sample = stride > 1 and backend.work_per_row >= n_features
    precond = _scaling(backend, config, n_features, stride if by_sample else 1)
    scale = _set_scale(backend, config, precond)
    if config.precondition and by_sample and not precond.fits(scale.sq_sums, scale.count, ridge):
        precond = _scaling(backend, config, n_features)
        scale = _set_scale(backend, config, precond)
    if not (math.isfinite(scale.largest) and np.all(np.isfinite(scale.sq_sums))):
        raise ValueError(
            "The features' spread is too large for float64 arithmetic (their squares overflow "
            "once centered and scaled); scale the features."
        )
    largest_row = scale.largest + (1.0 if fi else 0.0)  # the intercept's coordinate
    loss = config.loss
    # The l2 penalty in the optimizer's coordinates: alpha / s_j^2 on coordinate j.
    l2 = config.penalty.l2_strength * float(np.max(precond.inv_scale2))
    gamma = 1.0 / (loss.curvature * largest_row + l2) if (largest_row or l2) else 1.0

    k = n_features + int(fi)
    if k <= GRAM_FEATURES:
        # Few features: the sample's Gram matrix in one request, its top eigenvalue exactly.
        out = backend.call("gram", stride)
        G = out[:-1].reshape(k, k) / max(out[-1], 1.0)
        A = np.column_stack([precond.raw_direction(e, fi) for e in np.eye(k)])
        lam = float(np.linalg.eigvalsh(A.T @ G @ A)[-1])
    else:
        lam = _power_iteration(backend, precond, k, fi, stride, iters, seed)
    L = smoothness(lam, loss, l2)
    # The floor of "auto": the batch whose arithmetic costs a quarter of the step's fixed
    # overhead (a pass then costs at most 5x its arithmetic; below the floor the overhead would
    # dominate while the diversity rule says nothing is gained). A cost model, not a timing, so
    # that two fits of the same data are bit-for-bit identical.
    row_cost = ROW_COST * backend.work_per_row * n_outputs / backend.n_workers
    b_min = int(min(max(math.ceil(backend.step_overhead / (FLOOR_RATIO * row_cost)), 1), backend.n_train))
    return Plan(precond, 1.0 / L if L > 0 else math.inf, gamma, backend.step_overhead, row_cost, b_min)


def _scaling(backend: Any, config: TrainConfig, n_features: int, stride: int = 1) -> Preconditioner:
    """The preconditioner from the column sums of every ``stride``-th row (the identity without
    ``config.precondition``)."""
    if not config.precondition:
        return Preconditioner.identity(n_features)
    d, sums = n_features, backend.call("column_sums", stride)
    ridge = config.penalty.l2_strength / config.loss.curvature
    return Preconditioner.from_sums(sums[:d], sums[d : 2 * d], sums[-1], center=config.fit_intercept, ridge=ridge)


def _set_scale(backend: Any, config: TrainConfig, precond: Preconditioner) -> Any:
    """Have the shards measure their rows in ``precond``'s coordinates (a ``ScaleStats``)."""
    return backend.call("set_scale", precond.inv_scale2, precond.mean if config.fit_intercept else None)


def apply_plan(backend: Any, config: TrainConfig, plan: Plan) -> None:
    """Give ``backend`` the feature scaling of a plan measured earlier on the same data (a
    resumed fit reuses its plan, so that it goes on exactly as it would have)."""
    _set_scale(backend, config, plan.precond)


def _objective(backend: Any, config: TrainConfig, coef: np.ndarray, intercept: np.ndarray) -> float:
    count, total = backend.call("objective", coef, intercept)
    return total / max(count, 1.0) + config.penalty.value(coef)


def _validation_score(backend: Any, config: TrainConfig, coef: np.ndarray, intercept: np.ndarray) -> float:
    w, a, sy, syy = backend.call("validation", coef, intercept)
    if config.loss.is_classification:
        return a / w
    var = syy - sy * sy / w
    return 1.0 - a / var if var > 0 else 0.0


def _quasi_newton(config: TrainConfig, plan: Plan) -> QuasiNewton | None:
    """L-BFGS for the full-batch phase when the problem is smooth (else None: momentum)."""
    if not (config.accelerate and config.loss.smooth and config.penalty.l1_strength == 0.0
            and config.average_start is None):
        return None
    precond, fi = plan.precond, config.fit_intercept
    d = precond.scale.shape[0]

    def metric_inverse(v: np.ndarray) -> np.ndarray:
        # P v: the preconditioned step direction of a gradient v (see Preconditioner.step).
        K = v.shape[0] // (d + int(fi))
        gc = v[: d * K].reshape(d, K)
        if not fi:
            return (precond.inv_scale2[:, None] * gc).ravel()
        gb = v[d * K :]
        dc = precond.inv_scale2[:, None] * (gc - precond.mean[:, None] * gb[None, :])
        return np.concatenate([dc.ravel(), gb - precond.mean @ dc])

    return QuasiNewton(metric_inverse, plan.max_step if math.isfinite(plan.max_step) else plan.gamma)


def _flat(coef: np.ndarray, intercept: np.ndarray, fit_intercept: bool) -> np.ndarray:
    return np.concatenate([coef.ravel(), intercept]) if fit_intercept else coef.ravel().copy()


def _unflat(v: np.ndarray, intercept: np.ndarray, fit_intercept: bool) -> tuple[np.ndarray, np.ndarray]:
    K = intercept.shape[0]
    if not fit_intercept:
        return v.reshape(-1, K).copy(), intercept
    return v[: v.shape[0] - K].reshape(-1, K).copy(), v[v.shape[0] - K :].copy()


def _batch_end(pos: int, size: int, n: int) -> int:
    """End of the step that starts at row ``pos`` of an epoch of ``n`` rows with batches of
    ``size``: a tail shorter than half a batch joins the step rather than making a small, noisy
    step of its own at full step size."""
    end = min(pos + size, n)
    return n if n - end < size // 2 else end


def _batch_policy(config: TrainConfig, plan: Plan, n: int):
    if config.batch_size == "auto":
        return DiversityBatchSize(config.delta, plan.b_min, n)
    return FixedBatchSize(int(config.batch_size), n)


@dataclass
class LoopState:
    """The loop's own counters and policy states between steps.

    With a :class:`TrainState` it is everything a fit needs to go on from where it was: a
    checkpoint holds both, and :func:`train` given them (``resume=``) continues exactly as the
    uninterrupted fit would have.
    """

    batches: Any  # the batch-size policy's state
    smoother: Any  # the diversity smoother's state
    warmup: Any  # the warmup's state
    good: TrainState  # the last model that did not diverge
    epochs_run: int = 0
    pos: int = 0  # rows of the current epoch already stepped over
    objective: float = math.nan
    best: float | None = None  # best objective (or validation score) for the stopping rule
    no_improve: int = 0
    best_seen: float = math.inf  # lowest objective so far, for the divergence rule
    step_scale: float = 1.0  # halved at each roll-back
    rollbacks: int = 0
    progress: list = field(default_factory=list)  # objective decrease of each epoch
    rows: list = field(default_factory=list)  # history rows, one per step
    epoch_rows: dict = field(default_factory=dict)  # step -> (objective, validation score)


def train(
    backend: Any,
    config: TrainConfig,
    state: TrainState,
    *,
    plan: Plan,
    max_iter: int | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    on_step: Callable[[dict], None] | None = None,
    start_time: float | None = None,
    checkpoint: Callable[[TrainState, LoopState], None] | None = None,
    checkpoint_every: int = 100,
    resume: LoopState | None = None,
) -> TrainResult:
    """Run epochs of synchronous mini-batch SGD from ``state``.

    Parameters
    ----------
    backend : LocalBackend or ClusterBackend
        Where the shards are.
    config : TrainConfig
        Loss, penalty, schedule, batch size and stopping rules.
    state : TrainState
        Starting model and counters; not modified (the result holds a new state).
    plan : Plan
        What :func:`make_plan` measured on the same backend.
    max_iter : int, optional
        Epochs to run (a resumed fit counts those it ran before); ``config.max_iter`` by default.
    on_epoch : callable, optional
        Called with a dict (epoch, objective, batch_size, learning_rate, time) after each epoch.
    on_step : callable, optional
        Called with a dict (step, epoch, batch_size, bound, learning_rate, loss, time) after each
        step (``bound``: the diversity rule's ``delta * n * Delta + 1``).
    start_time : float, optional
        ``time.perf_counter()`` when the fit started (loading included); the history's times
        count from it. Default: now.
    checkpoint : callable, optional
        Called with the model's and the loop's states after every ``checkpoint_every``-th step;
        it must not keep references to them (they change afterwards): write them out.
    checkpoint_every : int
        Steps between checkpoints.
    resume : LoopState, optional
        The loop state saved with ``state`` by ``checkpoint``: continue that fit.

    Returns
    -------
    TrainResult

    Raises
    ------
    FloatingPointError
        If the model still diverges after ``ROLLBACKS`` roll-backs: an epoch whose objective is not
        finite or explodes (over ``EXPLODE`` times the best so far) restarts from the last good
        model with half the step size.
    """
    state = state.copy()
    pen, n = config.penalty, backend.n_train
    sched = config.schedule
    if sched.kind == "auto":
        sched = replace(sched, eta0=plan.gamma)
    precond = plan.precond
    batches, smoother, warmup = _batch_policy(config, plan, n), DiversitySmoother(), Warmup(config.warmup_steps)
    momentum = Momentum(config.accelerate)
    quasi = _quasi_newton(config, plan)
    fi = config.fit_intercept
    max_iter = config.max_iter if max_iter is None else max_iter
    t0 = time.perf_counter() if start_time is None else start_time
    if resume is None:
        ls = LoopState(batches.init(), smoother.init(), warmup.init(), good=state.copy())
    else:
        ls = replace(resume, progress=list(resume.progress), rows=list(resume.rows),
                     epoch_rows=dict(resume.epoch_rows), good=resume.good.copy())
        if quasi is not None and ls.rollbacks:
            quasi = QuasiNewton(quasi.precondition, quasi.first_step * ls.step_scale)
        if ls.rows:  # times go on from where the saved fit stopped
            t0 -= ls.rows[-1][8]
    converged = False

    def end_epoch(epoch: int, at_step: int, value: float, coef: np.ndarray, intercept: np.ndarray) -> bool:
        """Record an epoch's objective, apply the stopping rules; True when the fit is done."""
        nonlocal converged
        if not math.isfinite(value) or value > EXPLODE * ls.best_seen:
            raise _Diverged(f"the training objective became {value:.6g} in epoch {epoch + 1}")
        if math.isfinite(ls.objective):
            ls.progress.append(ls.objective - value)
            if ls.batches.size < n and ls.progress[-1] <= 0.0:
                # A whole epoch of mini-batch steps did not lower the objective: their noise
                # outweighs their descent. Exact (full-batch, quasi-Newton) steps from here.
                ls.batches = batches.exact(ls.batches)
            elif len(ls.progress) >= 2 and ls.batches.size < n and ls.progress[-1] <= STALL * ls.progress[-2]:
                # The epoch barely moved: the batch's noise is the limit (see DiversityBatchSize).
                ls.batches = batches.stalled(ls.batches)
        ls.objective = value
        ls.best_seen = min(ls.best_seen, value)
        ls.good = state.copy()  # (a deferred objective arrives before the next step is applied)
        score = math.nan
        if config.early_stopping:
            score = _validation_score(backend, config, coef, intercept)
        ls.epoch_rows[at_step] = (value, score)
        if on_epoch is not None:
            on_epoch({
                "epoch": epoch + 1, "objective": value, "validation_score": score,
                "batch_size": ls.batches.size,
                "learning_rate": ls.rows[-1][6] if ls.rows else math.nan,
                "time": time.perf_counter() - t0, "steps": at_step,
            })
        logger.debug("epoch %d: objective %.6g, B %d", epoch + 1, value, ls.batches.size)
        if config.tol is None:
            return False
        # scikit-learn's rule: n_iter_no_change epochs without an improvement of tol.
        if config.early_stopping:
            improved = ls.best is None or score >= ls.best + config.tol
            ls.best = score if ls.best is None else max(ls.best, score)
        else:
            improved = ls.best is None or value <= ls.best - config.tol
            ls.best = value if ls.best is None else min(ls.best, value)
        ls.no_improve = 0 if improved else ls.no_improve + 1
        if ls.no_improve >= config.n_iter_no_change:
            nxt = sched.on_plateau(state.schedule)
            if nxt is None:
                converged = True
                return True
            state.schedule, ls.no_improve = nxt, 0
        return False

    # An epoch whose objective rides on the next step: when that step is a full pass anyway, the
    # loss of the epoch's model comes from the same pass (one more column of margins) instead of
    # a pass of its own. (epoch, step, coef, intercept). Never pending at a checkpoint: it is
    # settled by the first step of the next epoch, before that step's update.
    pending: tuple | None = None
    done = False
    while ls.epochs_run < max_iter:
        try:
            epoch = state.epoch
            while ls.pos < n:
                end = _batch_end(ls.pos, ls.batches.size, n)
                probe = None
                if pending is not None and not (np.array_equal(pending[2], state.coef)
                                                and np.array_equal(pending[3], state.intercept)):
                    probe = (pending[2], pending[3])
                st = backend.call("step", state.coef, state.intercept, epoch, ls.pos, end, n, probe)
                if pending is not None:
                    p_epoch, p_step, p_coef, p_intercept = pending
                    pending = None
                    value = (st.loss if probe is None else st.probe_loss) / n + pen.value(p_coef)
                    if end_epoch(p_epoch, p_step, value, p_coef, p_intercept):
                        done = True  # this step is not taken: the model stays the epoch's
                        break
                ls.pos = end
                if st.count == 0:
                    continue
                exact = quasi is not None and st.count == n  # an L-BFGS pass: its line search copes
                if not exact and not math.isfinite(st.loss):
                    raise _Diverged(f"the loss of a batch became {st.loss} in epoch {epoch + 1}")
                if ls.best_seen == math.inf:  # the first batch estimates the starting objective
                    ls.best_seen = st.loss / st.count + pen.value(state.coef)
                # Diversity at the current model, from the statistics the step brought anyway.
                mean_sq, grad_sq = batch_diversity(st, pen, state.coef, n, precond, config.fit_intercept)
                ls.smoother = smoother.update(ls.smoother, mean_sq=mean_sq, grad_sq=grad_sq)
                ndelta = smoother.value(ls.smoother)
                target = scaled_step(sched.value(state.schedule, state.t + 1.0), st.count, config.delta, plan.max_step)
                ls.warmup, eta = warmup.update(ls.warmup, target=target)
                eta *= ls.step_scale
                point = (state.coef, state.intercept)
                if exact:
                    # Full batch, smooth problem: L-BFGS; the objective and gradient at the point
                    # accept or reject the last trial and give the next one.
                    value = st.loss / n + pen.value(state.coef)
                    grad = _flat(st.grad_coef / n + pen.smooth_grad(state.coef), st.grad_intercept / n, fi)
                    state.quasi, nxt = quasi.update(state.quasi, _flat(*point, fi), value, grad)
                    state.accepted = _unflat(state.quasi.x, state.intercept, fi)
                    state.coef, state.intercept = _unflat(nxt, state.intercept, fi)
                    eta = state.quasi.t
                else:
                    if state.accepted is not None:  # the batch shrank: back to stochastic steps
                        state.quasi, state.accepted = QuasiNewtonState(), None
                    new = precond.step(*point, st.grad_coef / st.count, st.grad_intercept / st.count, eta, pen,
                                       config.fit_intercept)
                    state.momentum, (state.coef, state.intercept) = momentum.update(
                        state.momentum, point=point, new=new, full_batch=st.count == n, metric=precond.metric,
                    )
                state.t += st.count
                state.step += 1
                if config.average_start is not None and state.t >= config.average_start:
                    if state.n_avg == 0:
                        state.avg_coef, state.avg_intercept = new[0].copy(), new[1].copy()
                    else:
                        k = state.n_avg + 1
                        state.avg_coef += (new[0] - state.avg_coef) / k
                        state.avg_intercept += (new[1] - state.avg_intercept) / k
                    state.n_avg += 1
                ls.rows.append(
                    (state.step, epoch, state.t, st.count, ndelta / n, config.delta * ndelta + 1.0, eta,
                     st.loss / st.count, time.perf_counter() - t0)
                )
                ls.batches = batches.update(ls.batches, ndelta=ndelta)
                if on_step is not None:
                    row = ls.rows[-1]
                    on_step({"step": row[0], "epoch": epoch + 1, "batch_size": int(st.count), "bound": row[5],
                             "learning_rate": eta, "loss": row[7], "time": row[8]})
                if checkpoint is not None and state.step % checkpoint_every == 0:
                    checkpoint(state, ls)
            if done:
                break
            state.epoch += 1
            ls.epochs_run += 1
            ls.pos = 0
            coef, intercept = state.model()
            if state.accepted is not None:
                # Quasi-Newton phase: the model is the accepted point, whose objective its pass
                # measured already.
                if end_epoch(epoch, state.step, state.quasi.f, coef, intercept):
                    break
                continue
            if ls.epochs_run < max_iter and not config.early_stopping and _batch_end(0, ls.batches.size, n) == n:
                pending = (epoch, state.step, coef.copy(), intercept.copy())
                continue
            if end_epoch(epoch, state.step, _objective(backend, config, coef, intercept), coef, intercept):
                break
        except _Diverged as why:
            # Back to the last model that did not diverge, with half the step size.
            ls.rollbacks += 1
            if ls.rollbacks > ROLLBACKS:
                raise FloatingPointError(
                    f"{why}, and {ROLLBACKS} roll-backs to the last good model with half the step "
                    "size each did not cure it. Lower eta0 or use learning_rate='auto', scale the "
                    "features (or keep precondition=True), and check the data for extreme rows."
                ) from None
            logger.warning("%s: rolled back to the last good model, step size x %g", why, 0.5 ** ls.rollbacks)
            ls.step_scale *= 0.5
            state = replace(ls.good.copy(), epoch=state.epoch + 1, step=state.step, t=state.t)
            ls.pos, pending, done = 0, None, False
            quasi = None if quasi is None else QuasiNewton(quasi.precondition, quasi.first_step * 0.5)
            ls.epochs_run += 1

    history = pd.DataFrame(ls.rows, columns=HISTORY_COLUMNS[:9])
    history["objective"] = np.nan
    history["validation_score"] = np.nan
    if len(history):
        idx = history.index[history["step"].isin(list(ls.epoch_rows))]
        for i in idx:
            obj, sc = ls.epoch_rows[int(history.at[i, "step"])]
            history.at[i, "objective"] = obj
            history.at[i, "validation_score"] = sc
    for col in ("step", "epoch", "batch_size"):
        history[col] = history[col].astype(np.int64)
    last_batch = int(history["batch_size"].iloc[-1]) if len(history) else ls.batches.size
    return TrainResult(state, ls.epochs_run, converged, history, last_batch, ls.objective, ls.rollbacks)
