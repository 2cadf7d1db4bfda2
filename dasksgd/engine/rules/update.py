"""The update rules: the optimizer phase (proximal SGD with momentum, or L-BFGS) and averaging."""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import numpy as np

from ...acceleration import Momentum, MomentumState
from ...penalties import Penalty
from ...polishing import Band, polish
from ...preconditioning import HessianBound, Preconditioner
from ...quasi_newton import QuasiNewton, QuasiNewtonState
from .base import Rule, StepEvent

__all__ = [
    "UpdateRule",
    "UpdateState",
    "AveragingRule",
    "AveragingState",
    "BoundMetric",
    "quasi_newton",
]


class UpdateState(NamedTuple):
    """Momentum's state, L-BFGS's state, L-BFGS's accepted point (the model in that phase) and
    its exact objective, and the smoothing of the loss L-BFGS minimizes (0: the loss itself)."""

    momentum: MomentumState = MomentumState()
    quasi: QuasiNewtonState = QuasiNewtonState()
    accepted: tuple | None = None
    exact: float = math.nan
    smoothing: float = 0.0
    rows: str = ""  # the fingerprint of the rows this state was measured on (see carry)
    # A chunk of a stream after another (partial_fit on new rows): plain proximal steps, as SGD
    # over a stream takes; no L-BFGS, no momentum (see carry).
    plain: bool = False


#: Continuation of the smoothed full-batch phase: the smoothing shrinks by this factor once what
#: L-BFGS's model still expects to gain on the smoothed objective is less than ``CONTINUE``
#: times the gap between the exact and the smoothed objective at the accepted point (then
#: minimizing the smoothed problem further buys less than what its smoothing costs). A small
#: CONTINUE solves each smoothed problem well, which is what polishing needs to find the kink
#: rows (benchmarks/nonsmooth.py shows the gaps; with 0.1 polishing never took).
SHRINK = 0.1
CONTINUE = 1e-4
#: Smallest smoothing, relative to the objective (its cost is at most ``mu / 2``): below it,
#: rounding in the band's quadratic, and nothing left to gain.
SMALLEST = 1e-12
#: Active-set steps per polishing (each one request), and the objective, relative to the best,
#: past which its candidates are running away (the active-set step is only locally convergent).
POLISH_STEPS = 6
RUNAWAY = 2.0


class UpdateRule(Rule):
    """Moves the model: one preconditioned proximal step, or one L-BFGS iteration.

    A step whose batch is every row, given ``quasi``, is an L-BFGS iteration: the pass's
    objective and gradient at the point accept or reject the last trial and give the next one.
    The model is the accepted point, except after the first pass of the phase, which has
    nothing accepted but its start: there the model is the trial, a safe ``1/L`` step from it
    (so a fit that ends there has moved; its objective is measured at the epoch's end).
    Any other step is a proximal gradient step of size ``step.eta`` (times the roll-backs'
    factor) in the preconditioner's coordinates, extrapolated by momentum on full batches.
    Leaving the L-BFGS phase (the batch shrank) forgets its memory.

    With ``smoothable`` (the hinge and epsilon-insensitive losses, whose subgradient steps
    cycle around the optimum), the L-BFGS phase minimizes the loss's Moreau envelope of
    parameter ``mu`` (:meth:`~dasksgd.losses.Loss.smoothed`; Nesterov, 2005, "Smooth
    minimization of non-smooth functions"; Beck & Teboulle, 2012, "Smoothing and first order
    methods") with continuation: ``mu`` starts at the mean loss of the phase's first pass and
    shrinks by ``SHRINK`` whenever what L-BFGS expects to gain (``-g'p / 2``) is less than
    ``CONTINUE`` times what the smoothing costs at the accepted point (``F - F_mu``, measured by
    the same pass: the shards return both). Since ``F_mu <= F <= F_mu + mu/2``, the exact
    objective goes to its minimum as ``mu`` goes to 0; the model reported is the point of lowest
    exact objective measured. For the hinge (``band`` given) each shrink first tries
    active-set steps from the rows near the margin (``dasksgd.polishing``).

    Parameters
    ----------
    penalty : Penalty
        Its smooth part enters the gradient, its l1 part the prox.
    precond : Preconditioner
        The optimizer's coordinates.
    fit_intercept : bool
        Whether the intercept moves.
    momentum : Momentum
        Extrapolation of full-batch proximal steps.
    quasi : QuasiNewton, optional
        L-BFGS for the exact steps (None: the problem is not smooth, momentum instead).
    n : int
        Training rows (the divisor of the exact objective).
    average_start : float, optional
        Samples seen before iterate averaging starts (None: no averaging). L-BFGS's accepted
        points are not averaged: once averaging has started, full batches take proximal steps.
    smoothable : bool
        The loss is non-smooth with a smoothed version (``quasi`` then minimizes it).
    band : callable, optional
        ``band(coef, intercept, mu)``: the rows inside the smoothing band
        (:class:`~dasksgd.polishing.Band`). Given (and an l2 penalty), each continuation step
        also tries the polished candidate of :func:`~dasksgd.polishing.polish`.
    polishes : bool
        Whether ``band`` is used (the hinge loss).
    rows : str
        The plan's name for the rows (:attr:`~dasksgd.engine.plan.Plan.rows`): a state made on
        other rows is not carried into this fit (see :meth:`carry`).
    """

    name = "update"
    persistent = True

    def __init__(
        self,
        penalty: Penalty,
        precond: Preconditioner,
        fit_intercept: bool,
        momentum: Momentum,
        quasi: QuasiNewton | None,
        n: int,
        average_start: float | None = None,
        smoothable: bool = False,
        band: Callable[[np.ndarray, np.ndarray, float], Band] | None = None,
        polishes: bool = False,
        rows: str = "",
        stream: bool = False,
    ) -> None:
        self.penalty, self.precond, self.fit_intercept = penalty, precond, fit_intercept
        self.momentum, self.quasi, self.n = momentum, quasi, n
        self.average_start = math.inf if average_start is None else average_start
        self.smoothable, self.band = smoothable, band
        # Which rows (the plan's name for them): another chunk of a stream is another objective.
        self.rows, self.stream = rows, stream
        self.polishes = polishes
        self._scaled: dict[float, QuasiNewton] = {}

    def init(self) -> UpdateState:
        return UpdateState(rows=self.rows)

    def carry(self, state: UpdateState) -> UpdateState:
        # Another call (partial_fit): on the last call's rows, the state goes on (then calls
        # are the fit of as many epochs). On other rows, L-BFGS's memory and accepted objective
        # belong to another objective (judging a trial on new rows against the old value
        # rejected it, back to the last call's start), and a chunk's own objective is not the
        # stream's: a line search or momentum on it moves the model to that chunk's optimum
        # (a chunk of one class: towards predicting only that class). Such a call takes the
        # plain proximal steps of SGD over a stream (``stream``; benchmarks/stream.py).
        if state.rows == self.rows:
            return state
        return UpdateState(rows=self.rows, plain=self.stream)

    def model(self, state: UpdateState) -> tuple[np.ndarray, np.ndarray] | None:
        # The accepted point, or the iterate x (not the extrapolated point momentum evaluates at).
        if state.accepted is not None:
            return state.accepted
        if state.momentum.coef is not None:
            return state.momentum.coef, state.momentum.intercept
        return None

    def objective(self, state: UpdateState) -> float | None:
        # In the L-BFGS phase the model is the accepted point, whose pass measured its objective.
        return None if state.accepted is None else state.exact

    def smoothing(self, state: UpdateState) -> float | None:
        return state.smoothing or None

    def after_step(self, state: UpdateState, *, step: StepEvent) -> UpdateState:
        # Every new state names the rows it was measured on (see carry).
        st = step.stats
        # The same test as AveragingRule's: this step's iterate is averaged.
        averaged = step.t + step.count >= self.average_start
        if step.full_batch and self.quasi is not None and not averaged and not state.plain:
            if not self.smoothable:
                return self._lbfgs(state, step)
            if state.smoothing:
                return self._smoothed(state, step)
            # The phase's first pass measured the loss itself: a subgradient step from it (below),
            # and the smoothing of the next passes, on the scale of the mean loss here.
            mean = st.loss / (self.n * st.grad_intercept.shape[0])
            mu = mean if math.isfinite(mean) and mean > 0.0 else 1.0
            state = self._proximal(UpdateState(state.momentum, rows=self.rows), step)
            return state._replace(smoothing=mu)
        if state.accepted is not None or state.smoothing:  # the batch shrank: stochastic steps
            state = UpdateState(state.momentum, rows=self.rows)
        return self._proximal(state, step)

    def _lbfgs(self, state: UpdateState, step: StepEvent) -> UpdateState:
        """One L-BFGS iteration on the pass's objective; the model is the accepted point."""
        train, fi = step.train, self.fit_intercept
        value, grad, here = self._measured(step, step.stats.loss)
        quasi, nxt = self._quasi(step.step_scale).update(state.quasi, here, value, grad)
        train.coef, train.intercept = _unflat(nxt, step.point[1], fi)
        step.eta = quasi.t
        if state.quasi.x is None:
            # Nothing accepted yet but the start: report the safe first trial (see the class).
            step.iterate = (train.coef, train.intercept)
            return UpdateState(MomentumState(), quasi, rows=self.rows)
        accepted = _unflat(quasi.x, step.point[1], fi)
        step.iterate = accepted
        return UpdateState(state.momentum, quasi, accepted, quasi.f, rows=self.rows)

    def _smoothed(self, state: UpdateState, step: StepEvent) -> UpdateState:
        """One L-BFGS iteration on the loss smoothed by ``state.smoothing``, with continuation
        and polishing; the model is the point of lowest exact objective so far."""
        train, st, fi, mu = step.train, step.stats, self.fit_intercept, state.smoothing
        value, grad, here = self._measured(step, st.smooth_loss)
        exact = st.loss / self.n + self.penalty.value(step.point[0])
        best, best_value = state.accepted, state.exact
        if best is None or exact < best_value:  # any measured point counts, trials too
            best, best_value = step.point, exact
        method = self._quasi(step.step_scale)
        quasi, nxt = method.update(state.quasi, here, value, grad)
        # What is left to gain on the smoothed problem, as L-BFGS's model predicts it
        # (``-g'p / 2`` for its direction from the accepted point), against what the
        # smoothing costs there; a first step's model is only a bound, and says nothing.
        taken = bool(quasi.memory) and quasi.x is here
        left, cost = -0.5 * float(quasi.g @ quasi.p), exact - value
        if taken and left <= CONTINUE * cost and mu * SHRINK > SMALLEST * abs(exact):
            # Continuation, and a polished candidate from the rows near a kink; without
            # one, the accepted point is measured again with less smoothing.
            found = self._polish(step.point, mu, best_value)
            mu *= SHRINK
            if found is not None:
                best, best_value = found
                quasi, nxt = self._remeasure(quasi, _flat(*best, fi))
            else:
                quasi, nxt = self._remeasure(quasi, here)
        train.coef, train.intercept = _unflat(nxt, step.point[1], fi)
        step.eta, step.iterate = quasi.t, best
        return UpdateState(state.momentum, quasi, _copy(best), best_value, mu, rows=self.rows)

    @staticmethod
    def _remeasure(quasi: QuasiNewtonState, x: np.ndarray) -> tuple[QuasiNewtonState, np.ndarray]:
        """L-BFGS at ``x``, to be measured again (an infinite f makes it accept the pass there;
        a zero step adds no curvature pair)."""
        return quasi._replace(x=x, f=math.inf, p=0.0 * x, t=1.0), x

    def _polish(
        self, point: tuple[np.ndarray, np.ndarray], width: float, best_value: float
    ) -> tuple[tuple[np.ndarray, np.ndarray], float] | None:
        """Active-set steps (:func:`~dasksgd.polishing.polish`) from ``point`` over the rows
        within ``width`` of a kink, each a request that also measures its candidate: up to
        ``POLISH_STEPS``, until one reproduces its model or they run away. Returns the best
        candidate and its objective if it beats ``best_value`` (else None). Only for the hinge:
        for the epsilon-insensitive loss the steps do not settle yet (tests/test_polishing.py)."""
        if self.band is None or self.penalty.l2_strength <= 0.0 or not self.polishes:
            return None
        K, fi, found = point[1].shape[0], self.fit_intercept, None
        fractions: list = [{} for _ in range(K)]
        for i in range(POLISH_STEPS):
            band = self.band(*point, width)
            value = band.loss / self.n + self.penalty.value(point[0])
            if i:  # a candidate, measured by its band's request
                if value < best_value:
                    found, best_value = (point, value), value
                if not math.isfinite(value) or value > RUNAWAY * best_value:
                    break
            out = polish(band, fractions, width, self.penalty.l2_strength, self.n, fi)
            if out is None:
                break
            coef, intercept, fractions, settled = out
            if settled:  # the step reproduced its model's assignment: nothing more to find
                break
            point = (coef, intercept)
        return found

    def _measured(self, step: StepEvent, loss_sum: float) -> tuple[float, np.ndarray, np.ndarray]:
        """The pass's objective (of ``loss_sum``), its gradient and its point, flat."""
        st, pen, fi, point = step.stats, self.penalty, self.fit_intercept, step.point
        value = loss_sum / self.n + pen.value(point[0])
        grad = _flat(
            st.grad_coef / self.n + pen.smooth_grad(point[0]), st.grad_intercept / self.n, fi
        )
        return value, grad, _flat(*point, fi)

    def _proximal(self, state: UpdateState, step: StepEvent) -> UpdateState:
        """One preconditioned proximal gradient step, with momentum on full batches."""
        train, st, pen, fi = step.train, step.stats, self.penalty, self.fit_intercept
        point = step.point
        step.eta *= step.step_scale
        eta, eta_b = step.eta, None
        if step.block_scale is not None:  # a trust-ratio rule spread the step over the blocks
            coef_scale, intercept_scale = step.block_scale
            eta = step.eta * coef_scale
            eta_b = None if intercept_scale is None else step.eta * intercept_scale
        new = self.precond.step(
            *point, st.grad_coef / st.count, st.grad_intercept / st.count, eta, pen, fi, eta_b
        )
        momentum, (train.coef, train.intercept) = self.momentum.update(
            state.momentum,
            point=point,
            new=new,
            full_batch=st.count == self.n and not state.plain,
            metric=self.precond.metric,
        )
        step.iterate = new
        return state._replace(momentum=momentum)

    def _quasi(self, scale: float) -> QuasiNewton:
        """L-BFGS whose first step is scaled by the roll-backs' factor."""
        if scale == 1.0:
            return self.quasi
        if scale not in self._scaled:
            q = self.quasi
            self._scaled[scale] = QuasiNewton(
                q.precondition, q.first_step * scale, q.memory, q.c1, q.block
            )
        return self._scaled[scale]


def quasi_newton(
    precond: Preconditioner,
    fit_intercept: bool,
    first_step: float,
    bound: Callable[[], HessianBound | None] | None = None,
    coupled: bool = False,
) -> QuasiNewton:
    """L-BFGS whose initial inverse Hessian is the preconditioner's metric ``P``, or, given
    ``bound`` (a request for the objective's :class:`~dasksgd.preconditioning.HessianBound`),
    that bound's inverse, whose first step is a majorization step (of size 1).

    ``coupled``: the outputs share each row's loss (multinomial), so the curvature pairs are of
    the whole model, not one per output."""
    d = precond.scale.shape[0]

    def metric_inverse(v: np.ndarray) -> np.ndarray:
        # P v: the preconditioned step direction of a gradient v (see Preconditioner.step).
        K = v.shape[0] // (d + int(fit_intercept))
        gc = v[: d * K].reshape(d, K)
        if not fit_intercept:
            return (precond.inv_scale2[:, None] * gc).ravel()
        gb = v[d * K :]
        dc = precond.inv_scale2[:, None] * (gc - precond.mean[:, None] * gb[None, :])
        return np.concatenate([dc.ravel(), gb - precond.mean @ dc])

    # One block per output where the one-vs-rest problems are independent (see QuasiNewton).
    block = None if coupled else d + int(fit_intercept)
    if bound is None:
        return QuasiNewton(metric_inverse, first_step, block=block)
    fallback = BoundMetric(bound, lambda v: first_step * metric_inverse(v))
    return QuasiNewton(fallback, 1.0, block=block)


class BoundMetric:
    """``v -> M^{-1} v`` for the objective's curvature bound ``M``, requested at the first call.

    The first call comes with the fit's first full-batch direction, so fits that end in
    mini-batch steps never pay for the bound (a Gram matrix of every row: ``n k^2``
    operations, a few passes' worth for ``k`` near a hundred). Where ``M`` is not positive
    definite, ``fallback`` (the diagonal metric, scaled to its safe first step).
    """

    def __init__(
        self,
        request: Callable[[], HessianBound | None],
        fallback: Callable[[np.ndarray], np.ndarray],
    ) -> None:
        self.request, self.fallback = request, fallback
        self._bound: HessianBound | None = None
        self._asked = False

    def __call__(self, v: np.ndarray) -> np.ndarray:
        if not self._asked:
            self._asked = True
            self._bound = self.request()
        return self.fallback(v) if self._bound is None else self._bound.inverse(v)


def _copy(model: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return model[0].copy(), model[1].copy()


def _flat(coef: np.ndarray, intercept: np.ndarray, fit_intercept: bool) -> np.ndarray:
    return np.concatenate([coef.ravel(), intercept]) if fit_intercept else coef.ravel().copy()


def _unflat(
    v: np.ndarray, intercept: np.ndarray, fit_intercept: bool
) -> tuple[np.ndarray, np.ndarray]:
    K = intercept.shape[0]
    if not fit_intercept:
        return v.reshape(-1, K).copy(), intercept
    return v[: v.shape[0] - K].reshape(-1, K).copy(), v[v.shape[0] - K :].copy()


class AveragingState(NamedTuple):
    """The running average of the iterates and how many it holds."""

    coef: Any = None
    intercept: Any = None
    count: int = 0


class AveragingRule(Rule):
    """Averaged SGD (Polyak-Ruppert): the model reported is the mean of the iterates once
    ``start`` samples have been seen.

    Parameters
    ----------
    start : float
        Samples seen before averaging starts.
    """

    name = "averaging"
    persistent = True

    def __init__(self, start: float) -> None:
        self.start = start

    def init(self) -> AveragingState:
        return AveragingState()

    def model(self, state: AveragingState) -> tuple[np.ndarray, np.ndarray] | None:
        return (state.coef, state.intercept) if state.count else None

    def after_step(self, state: AveragingState, *, step: StepEvent) -> AveragingState:
        if step.t + step.count < self.start:
            return state
        coef, intercept = step.iterate
        if state.count == 0:
            return AveragingState(coef.copy(), intercept.copy(), 1)
        k = state.count + 1
        return AveragingState(
            state.coef + (coef - state.coef) / k,
            state.intercept + (intercept - state.intercept) / k,
            k,
        )
