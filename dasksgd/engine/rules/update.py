"""The update rules: the optimizer phase (proximal SGD with momentum, or L-BFGS) and averaging."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from ...acceleration import Momentum, MomentumState
from ...penalties import Penalty
from ...preconditioning import Preconditioner
from ...quasi_newton import QuasiNewton, QuasiNewtonState
from .base import Rule, StepEvent

__all__ = ["UpdateRule", "UpdateState", "AveragingRule", "AveragingState", "quasi_newton"]


class UpdateState(NamedTuple):
    """Momentum's state, L-BFGS's state, and L-BFGS's accepted point (the model in that phase)."""

    momentum: MomentumState = MomentumState()
    quasi: QuasiNewtonState = QuasiNewtonState()
    accepted: tuple | None = None


class UpdateRule(Rule):
    """Moves the model: one preconditioned proximal step, or one L-BFGS iteration.

    A step whose batch is every row, given ``quasi``, is an L-BFGS iteration: the pass's
    objective and gradient at the point accept or reject the last trial and give the next one.
    Any other step is a proximal gradient step of size ``step.eta`` (times the roll-backs'
    factor) in the preconditioner's coordinates, extrapolated by momentum on full batches.
    Leaving the L-BFGS phase (the batch shrank) forgets its memory.

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
    ) -> None:
        self.penalty, self.precond, self.fit_intercept = penalty, precond, fit_intercept
        self.momentum, self.quasi, self.n = momentum, quasi, n
        self.average_start = math.inf if average_start is None else average_start
        self._scaled: dict[float, QuasiNewton] = {}

    def init(self) -> UpdateState:
        return UpdateState()

    def model(self, state: UpdateState) -> tuple[np.ndarray, np.ndarray] | None:
        # The accepted point, or the iterate x (not the extrapolated point momentum evaluates at).
        if state.accepted is not None:
            return state.accepted
        if state.momentum.coef is not None:
            return state.momentum.coef, state.momentum.intercept
        return None

    def objective(self, state: UpdateState) -> float | None:
        # In the L-BFGS phase the model is the accepted point, whose pass measured its objective.
        return None if state.accepted is None else state.quasi.f

    def after_step(self, state: UpdateState, *, step: StepEvent) -> UpdateState:
        train, st, pen, fi = step.train, step.stats, self.penalty, self.fit_intercept
        point = step.point
        # The same test as AveragingRule's: this step's iterate is averaged.
        averaged = step.t + step.count >= self.average_start
        if step.full_batch and self.quasi is not None and not averaged:
            value = st.loss / self.n + pen.value(point[0])
            grad = _flat(
                st.grad_coef / self.n + pen.smooth_grad(point[0]), st.grad_intercept / self.n, fi
            )
            quasi, nxt = self._quasi(step.step_scale).update(
                state.quasi, _flat(*point, fi), value, grad
            )
            accepted = _unflat(quasi.x, point[1], fi)
            train.coef, train.intercept = _unflat(nxt, point[1], fi)
            step.eta, step.iterate = quasi.t, accepted
            return UpdateState(state.momentum, quasi, accepted)
        if state.accepted is not None:  # the batch shrank: back to stochastic steps
            state = UpdateState(state.momentum)
        step.eta *= step.step_scale
        new = self.precond.step(
            *point, st.grad_coef / st.count, st.grad_intercept / st.count, step.eta, pen, fi
        )
        momentum, (train.coef, train.intercept) = self.momentum.update(
            state.momentum,
            point=point,
            new=new,
            full_batch=st.count == self.n,
            metric=self.precond.metric,
        )
        step.iterate = new
        return UpdateState(momentum, state.quasi, state.accepted)

    def _quasi(self, scale: float) -> QuasiNewton:
        """L-BFGS whose first step is scaled by the roll-backs' factor."""
        if scale == 1.0:
            return self.quasi
        if scale not in self._scaled:
            self._scaled[scale] = QuasiNewton(
                self.quasi.precondition, self.quasi.first_step * scale
            )
        return self._scaled[scale]


def quasi_newton(precond: Preconditioner, fit_intercept: bool, first_step: float) -> QuasiNewton:
    """L-BFGS whose initial inverse Hessian is the preconditioner's metric ``P``."""
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

    return QuasiNewton(metric_inverse, first_step)


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
