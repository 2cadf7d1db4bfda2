"""The rules that end or undo epochs: divergence, and scikit-learn's stopping rule."""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

from ...penalties import Penalty
from .base import Diverged, EpochEvent, Rule, StepEvent

__all__ = ["DivergenceRule", "DivergenceState", "StoppingRule", "StoppingState", "EXPLODE"]

#: Epochs in a row that only report the last epoch's point again and are not counted by the
#: stopping rule: L-BFGS's report of a point measured by the epoch before, then rejected trials
#: (each halves the step: after four, the trial is a sixteenth of the direction).
REPEATS = 5

#: Divergence: an epoch objective above this multiple of the best one so far (or a non-finite
#: loss) rolls back to the last good model and halves the step size.
EXPLODE = 100.0


class DivergenceState(NamedTuple):
    """The lowest objective so far, whether it is exact (an epoch's objective, or the start's
    measured) or the first batch's estimate, and the point the fit started from."""

    best: float = math.inf
    exact: bool = False
    start: tuple | None = None


class DivergenceRule(Rule):
    """Says when the model diverged: the loop then rolls back (it raises
    :class:`~dasksgd.engine.rules.base.Diverged`).

    A batch whose loss is not finite has diverged, except a full pass taken by a line search
    (it rejects the trial by itself); so has an epoch whose objective is not finite or exceeds
    ``EXPLODE`` times the lowest so far. Until an epoch has ended, the lowest so far is the first
    batch's mean loss, an estimate of the starting objective: when an epoch's objective exceeds
    ``EXPLODE`` times that estimate, the verdict is checked against the starting objective itself
    (one loss-only pass, with ``objective``), so that a first batch of rows the start already
    fits (sorted data: a loss near 0) does not make every epoch "explode". Its state outlives a
    roll-back.

    Parameters
    ----------
    penalty : Penalty
        Added to the first batch's mean loss.
    line_search : bool
        Whether full passes are line-search trials (L-BFGS).
    objective : callable, optional
        ``objective(coef, intercept)``: the training objective of a model (one pass). Without it
        the estimate is trusted.
    """

    name = "divergence"

    def __init__(
        self,
        penalty: Penalty,
        line_search: bool,
        objective: Callable[[np.ndarray, np.ndarray], float] | None = None,
    ) -> None:
        self.penalty, self.line_search, self.objective_at = penalty, line_search, objective

    def init(self) -> DivergenceState:
        return DivergenceState()

    def after_step(self, state: DivergenceState, *, step: StepEvent) -> DivergenceState:
        st = step.stats
        if not (step.full_batch and self.line_search) and not math.isfinite(st.loss):
            raise Diverged(f"the loss of a batch became {st.loss} in epoch {step.epoch + 1}")
        if state.best == math.inf:
            estimate = st.loss / st.count + self.penalty.value(step.point[0])
            return DivergenceState(estimate, False, step.point)
        return state

    def after_epoch(self, state: DivergenceState, *, epoch: EpochEvent) -> DivergenceState:
        value, best = epoch.value, state.best
        if math.isfinite(value) and value > EXPLODE * best and not state.exact:
            if self.objective_at is not None and state.start is not None:
                best = self.objective_at(*state.start)  # the start's objective, measured
        if not math.isfinite(value) or value > EXPLODE * best:
            raise Diverged(f"the training objective became {value:.6g} in epoch {epoch.epoch + 1}")
        return DivergenceState(min(best, value), True, state.start)


class StoppingState(NamedTuple):
    """The best objective (or validation score) so far and the epochs since it improved."""

    best: float | None = None
    no_improve: int = 0
    repeated: int = 0  # epochs in a row that repeated the one before them exactly


class StoppingRule(Rule):
    """scikit-learn's rule: ``n_iter_no_change`` epochs without an improvement of more than
    ``tol``.

    The improvement is that of the training objective, or with ``validate`` (early stopping) of
    the validation score, measured here at every epoch's end. The verdict is a plateau; the
    schedule rule decides whether that ends the fit or decays the step.

    Parameters
    ----------
    tol : float or None
        Improvement that counts (None: never stop early).
    n_iter_no_change : int
        Epochs without one that make a plateau.
    validate : callable, optional
        ``validate(coef, intercept) -> score`` on the held-out rows (early stopping).
    """

    name = "stopping"

    def __init__(
        self,
        tol: float | None,
        n_iter_no_change: int,
        validate: Callable[[np.ndarray, np.ndarray], float] | None = None,
    ) -> None:
        self.tol, self.n_iter_no_change, self.validate = tol, n_iter_no_change, validate

    @property
    def measures_at_epoch_end(self) -> bool:  # type: ignore[override]
        return self.validate is not None

    def init(self) -> StoppingState:
        return StoppingState()

    def after_epoch(self, state: StoppingState, *, epoch: EpochEvent) -> StoppingState:
        if self.validate is not None:
            epoch.validation_score = self.validate(*epoch.model)
        if self.tol is None:
            return state
        if epoch.value == epoch.previous and state.repeated < REPEATS:
            # The same objective as the last epoch's, to the bit: the same point reported
            # again. In the L-BFGS phase an epoch's model is the accepted point: the epoch
            # before may have reported it already (with its objective taken from this pass),
            # or this epoch's pass was a trial the line search rejected (the step is halved).
            # Says nothing of progress, up to REPEATS in a row; then it counts as usual (a
            # line search that keeps failing is at the optimum's rounding).
            return state._replace(repeated=state.repeated + 1)
        best = state.best
        # Strictly better by more than tol: an epoch that repeats the best value exactly (a fit
        # at its optimum, exact steps) has not improved, also with tol=0.
        if self.validate is not None:
            score = epoch.validation_score
            improved = best is None or score > best + self.tol
            best = score if best is None else max(best, score)
        else:
            improved = best is None or epoch.value < best - self.tol
            best = epoch.value if best is None else min(best, epoch.value)
        no_improve = 0 if improved else state.no_improve + 1
        if no_improve >= self.n_iter_no_change:
            epoch.plateau, no_improve = True, 0
        return StoppingState(best, no_improve, 0)
