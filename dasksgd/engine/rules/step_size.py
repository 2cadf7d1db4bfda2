"""The step-size rules: the schedule with the mini-batch scaling rule, and the warmup ramp."""

from __future__ import annotations

from ...schedules import LearningRate, ScheduleState, Warmup, WarmupState, scaled_step
from .base import EpochEvent, Rule, StepEvent

__all__ = ["ScheduleRule", "WarmupRule"]


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
