"""The batch-size rule: the diversity estimate of every batch, and the size of the next one."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from ...diversity import (
    BatchState,
    DiversityBatchSize,
    DiversitySmoother,
    FixedBatchSize,
    SmootherState,
    batch_diversity,
)
from ...penalties import Penalty
from ...preconditioning import Preconditioner
from .base import EpochEvent, Rule, StepEvent

__all__ = ["BatchSizeRule", "BatchRuleState", "STALL"]

#: An epoch that decreases the objective by at most this fraction of the previous epoch's
#: decrease has stalled (the batch-size policy then doubles the batch).
STALL = 0.1


class BatchRuleState(NamedTuple):
    """The policy's batch state, the smoother's state, and the last epoch's objective decrease."""

    batch: BatchState
    smoother: SmootherState
    progress: float | None = None
    borrowed: bool = False  # the epoch's steps were of a size another rule chose


class BatchSizeRule(Rule):
    """Decides ``B``: the policy (fixed, or the diversity rule) fed by the smoothed estimate.

    After every step the batch's statistics give an unbiased estimate of the pieces of
    ``n * Delta(w)`` at the step's point (:func:`~dasksgd.diversity.batch_diversity`), folded into
    the :class:`~dasksgd.diversity.DiversitySmoother`; the policy turns the smoothed value into the
    next ``B``. After every epoch, the objective's progress: an epoch that did not lower it sends
    ``B`` to the whole data (the steps' noise outweighs their descent), one that decreased it by
    at most ``STALL`` times the previous decrease doubles a floor under ``B``.

    Parameters
    ----------
    policy : FixedBatchSize or DiversityBatchSize
        Turns the estimate into a batch size.
    penalty : Penalty
        Part of every per-sample gradient.
    precond : Preconditioner
        The diversity is measured in the optimizer's coordinates.
    n : int
        Training rows.
    fit_intercept : bool
        Whether the intercept's gradient counts.
    smoother : DiversitySmoother, optional
        The moving average of the estimates.
    """

    name = "batch_size"

    def __init__(
        self,
        policy: FixedBatchSize | DiversityBatchSize,
        penalty: Penalty,
        precond: Preconditioner,
        n: int,
        fit_intercept: bool,
        smoother: DiversitySmoother | None = None,
    ) -> None:
        self.policy, self.penalty, self.precond, self.n = policy, penalty, precond, n
        self.fit_intercept = fit_intercept
        self.smoother = DiversitySmoother() if smoother is None else smoother

    def init(self) -> BatchRuleState:
        return BatchRuleState(self.policy.init(), self.smoother.init())

    def batch_size(self, state: BatchRuleState) -> int:
        return state.batch.size

    def after_step(self, state: BatchRuleState, *, step: StepEvent) -> BatchRuleState:
        mean_sq, grad_sq = batch_diversity(
            step.stats, self.penalty, step.point[0], self.n, self.precond, self.fit_intercept
        )
        smoothed = self.smoother.update(state.smoother, mean_sq=mean_sq, grad_sq=grad_sq)
        step.ndelta = self.smoother.value(smoothed)
        # The constructor, not _replace: this runs every step.
        borrowed = state.borrowed or (step.full_batch and state.batch.size < self.n)
        return BatchRuleState(
            self.policy.update(state.batch, ndelta=step.ndelta), smoothed, state.progress, borrowed
        )

    def after_epoch(self, state: BatchRuleState, *, epoch: EpochEvent) -> BatchRuleState:
        if state.borrowed:  # another rule's epoch (GoodputRule's passes): not this rule's to judge
            return state._replace(borrowed=False)
        if not math.isfinite(epoch.previous):  # the first epoch: nothing to compare with
            return state
        progress, batch = epoch.previous - epoch.value, state.batch
        if batch.size < self.n and progress <= 0.0:
            # A whole epoch of mini-batch steps did not lower the objective: their noise
            # outweighs their descent. Exact (full-batch, quasi-Newton) steps from here.
            batch = self.policy.exact(batch)
        elif (
            state.progress is not None
            and batch.size < self.n
            and progress <= STALL * state.progress
        ):
            # The epoch barely moved: the batch's noise is the limit (see DiversityBatchSize).
            batch = self.policy.stalled(batch)
        return BatchRuleState(batch, state.smoother, progress)


def batch_policy(batch_size: int | str, delta: float, b_min: int, n: int) -> Any:
    """The policy for ``batch_size``: ``"auto"`` (the diversity rule above ``b_min``) or an int."""
    if batch_size == "auto":
        return DiversityBatchSize(delta, b_min, n)
    return FixedBatchSize(int(batch_size), n)
