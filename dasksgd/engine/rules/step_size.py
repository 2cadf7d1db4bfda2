"""The step-size rules: the schedule with the mini-batch scaling rule, the warmup ramp, and
the per-block trust ratios."""

from __future__ import annotations

from ...penalties import Penalty
from ...preconditioning import Preconditioner
from ...schedules import (
    LearningRate,
    ScheduleState,
    Warmup,
    WarmupState,
    scaled_step,
    trust_ratios,
)
from .base import EpochEvent, Rule, StepEvent

__all__ = ["ScheduleRule", "WarmupRule", "TrustRatioRule"]


class ScheduleRule(Rule):
    """``eta = min(B * gamma_t / (1 + delta), 1/L)``: the step the rules ask for.

    ``gamma_t`` is the per-sample rate of the schedule after ``t`` samples (scikit-learn's
    schedules); the scaling is the linear rule with the ``(1 + delta)`` slack of the batch-size
    theorem (:func:`~dasksgd.schedules.scaled_step`). At a plateau of the objective (the stopping
    rule's verdict) the schedule either decays (``adaptive``) or agrees that the fit is done.

    Parameters
    ----------
    schedule : LearningRate
        The per-sample schedule (``auto`` already resolved to a constant ``eta0``).
    delta : float
        Slack of the batch-size rule.
    max_step : float
        ``1 / L``, the full-batch step limit.
    """

    name = "schedule"
    persistent = True

    def __init__(self, schedule: LearningRate, delta: float, max_step: float) -> None:
        self.schedule, self.delta, self.max_step = schedule, delta, max_step

    def init(self) -> ScheduleState:
        return self.schedule.init()

    def after_step(self, state: ScheduleState, *, step: StepEvent) -> ScheduleState:
        gamma = self.schedule.value(state, step.t + 1.0)
        step.eta = scaled_step(gamma, step.count, self.delta, self.max_step)
        return state

    def after_epoch(self, state: ScheduleState, *, epoch: EpochEvent) -> ScheduleState:
        if not epoch.plateau:
            return state
        decayed = self.schedule.on_plateau(state)
        if decayed is None:
            epoch.stop = epoch.converged = True
            return state
        return decayed


class WarmupRule(Rule):
    """Gradual warmup (Goyal et al., 2017): a jump of the step size is ramped in over a few steps.

    Parameters
    ----------
    warmup : Warmup
        The ramp (:class:`~dasksgd.schedules.Warmup`).
    """

    name = "warmup"

    def __init__(self, warmup: Warmup) -> None:
        self.warmup = warmup

    def init(self) -> WarmupState:
        return self.warmup.init()

    def after_step(self, state: WarmupState, *, step: StepEvent) -> WarmupState:
        state, step.eta = self.warmup.update(state, target=step.eta)
        return state


class TrustRatioRule(Rule):
    """Per-block trust ratios (LARS): each output's coefficients and intercept take their own
    fraction of the step size (:func:`~dasksgd.schedules.trust_ratios`).

    After the step-size rules (it spreads the step they decided) and before the update (which
    applies it to a proximal step; L-BFGS's iterations have their own line search and ignore
    it). The ratios are taken in the optimizer's coordinates, where the step moves: the
    weights ``s * w`` and ``b + mu . w``, the direction ``P`` times the batch's mean gradient
    (its smooth penalty included).

    Parameters
    ----------
    precond : Preconditioner
        The optimizer's coordinates.
    penalty : Penalty
        Its smooth part's gradient is part of the direction.
    fit_intercept : bool
        Whether the intercepts are blocks.
    """

    name = "trust_ratio"

    def __init__(self, precond: Preconditioner, penalty: Penalty, fit_intercept: bool) -> None:
        self.precond, self.penalty, self.fit_intercept = precond, penalty, fit_intercept

    def after_step(self, state: None, *, step: StepEvent) -> None:
        coef, intercept = step.point
        st, pc = step.stats, self.precond
        grad = st.grad_coef / st.count + self.penalty.smooth_grad(coef)
        if not self.fit_intercept:
            step.block_scale = trust_ratios(
                pc.scale[:, None] * coef, None, grad / pc.scale[:, None], None
            )
            return state
        grad_b = st.grad_intercept / st.count
        step.block_scale = trust_ratios(
            pc.scale[:, None] * coef,
            intercept + pc.mean @ coef,
            pc.gradient(grad, grad_b),
            grad_b,
        )
        return state
