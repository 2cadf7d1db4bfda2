"""The method rule: mini-batch steps or full-batch quasi-Newton passes, by progress per second.

A fit with ``batch_size="auto"`` starts with mini-batch steps and used to reach the full-batch
L-BFGS phase only once they stalled. Where a mini-batch step is small (the safe per-sample step
``1 / L_max`` of rows with heavy-tailed norms: one-hot columns of rare categories, standardized)
and costs a good part of a pass (the per-step overhead of a cluster), an epoch of such steps
buys less than the same seconds of L-BFGS passes (``benchmarks/real_data.py``). This rule
weighs the two as Pollux (Qiao et al., OSDI 2021) weighs throughput against statistical
efficiency. What a mini-batch step buys is predicted from the descent lemma in expectation
for a batch of ``B`` rows drawn without replacement (Gower et al., ICML 2019, "SGD: general
analysis and improved rates")::

    E[F(w - eta g_B)] <= F(w) - d(B) ||grad F||^2,
    d(B) = eta (1 - L eta / 2) - (L eta^2 / 2) nu (n - B) / (B (n - 1)),

with ``eta`` the step the schedule gives a batch of ``B`` (``B`` from the diversity rule), and
``nu = n Delta - 1`` the gradient's noise over its signal; per second, over a step's cost
``overhead + B pass_time / n``. It is the mini-batch side's best case (no cost for gathering
its rows, no curvature beyond ``L``). Then:

1. After the fit's first step (a mini-batch at the start, whose statistics estimate
   ``||grad F||^2`` and ``n Delta`` without bias), the prediction is compared with what a
   full-batch gradient step is sure to buy per pass, ``||grad F||^2 / (2 L)``; if it does not
   beat that, the fit goes to full-batch passes at once (the rest of the first epoch is one
   step). Otherwise the first epoch runs as before.
2. In the full-batch phase, after every pass once ``PROBE`` passes are measured, L-BFGS's
   measured decrease per second is compared with the prediction at the pass's point (exact
   there); where the prediction is higher, one epoch of mini-batch steps is tried and kept only
   if it measured faster (then the batch-size rule decides, as before); else passes to the end.

Seconds are counted, not clocked: a step over ``B`` rows costs ``overhead + B pass_time / n``
with the plan's two measurements (``step_time``: a step's fixed cost at this model's size, on
this cluster; ``pass_time``: a pass's arithmetic), so given its plan a fit is deterministic (a
resumed checkpoint goes on bit for bit) and two fresh fits differ only where their plans'
timings fall on either side of a choice. A fixed ``batch_size`` uses no timing.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ...diversity import DiversityBatchSize, batch_diversity
from ...penalties import Penalty
from ...preconditioning import Preconditioner
from ...schedules import LearningRate, ScheduleState, scaled_step
from .base import EpochEvent, Rule, StepEvent

__all__ = ["GoodputRule", "GoodputState", "PROBE"]

#: Full-batch passes before the first comparison: the first pass proposes L-BFGS's first
#: trial, the second accepts it, the third is the first with curvature pairs.
PROBE = 3


class GoodputState(NamedTuple):
    """Where the rule is: ``first`` (the first epoch's mini-batch steps), ``full`` (passes,
    compared after each), ``trial`` (an epoch of mini-batch steps, measured), ``mini`` (they
    won: the batch-size rule decides from here) or ``final`` (they lost: passes to the end)."""

    mode: str = "first"
    spent: float = 0.0  # counted seconds of the fit's passes and steps so far
    at_step: int = 0  # steps taken at the last epoch's end
    ends: tuple = ()  # (spent, objective) at the last PROBE + 1 epoch ends
    rate: float = math.nan  # the decrease per second a trial must beat
    grad_sq: float = math.nan  # ||grad F||^2 at the last estimate (optimizer coordinates)
    ndelta: float = math.nan  # n * Delta there
    t: float = 0.0  # samples seen
    trial_epoch: int = -1  # the epoch of mini-batch steps being tried


class GoodputRule(Rule):
    """Full-batch passes where they buy more per second than mini-batch steps would.

    Parameters
    ----------
    policy : DiversityBatchSize
        The batch size a mini-batch step would have (the one the batch-size rule uses).
    schedule : LearningRate
        The per-sample step (``auto`` resolved), scaled to a batch as the schedule rule does.
    penalty, precond, n, fit_intercept
        As for the batch-size rule: the diversity, in the optimizer's coordinates.
    delta : float
        Slack of the step's scaling rule.
    max_step : float
        ``1 / L``.
    overhead : float
        Seconds of a step's fixed cost (the plan's measured ``step_time``: at this model's
        size, so the transfer of a wide or many-output model counts).
    pass_time : float
        Seconds of a pass over every row (the plan's measurement).
    """

    name = "goodput"

    def __init__(
        self,
        policy: DiversityBatchSize,
        schedule: LearningRate,
        penalty: Penalty,
        precond: Preconditioner,
        n: int,
        fit_intercept: bool,
        delta: float,
        max_step: float,
        overhead: float,
        pass_time: float,
    ) -> None:
        self.policy, self.schedule, self.penalty, self.precond = policy, schedule, penalty, precond
        self.n, self.fit_intercept, self.delta = n, fit_intercept, delta
        self.max_step, self.overhead, self.pass_time = max_step, overhead, pass_time

    def init(self) -> GoodputState:
        return GoodputState()

    def batch_size(self, state: GoodputState) -> int | None:
        return self.n if state.mode in ("full", "final") else None

    def step_cost(self, rows: float) -> float:
        """Counted seconds of a step over ``rows`` rows."""
        return self.overhead + min(rows, self.n) * self.pass_time / self.n

    def after_step(self, state: GoodputState, *, step: StepEvent) -> GoodputState:
        # Only the passes and the fit's first step are measured: nothing on the mini-batch
        # steps' path (their seconds are counted at the epoch's end).
        first = step.t == 0 and state.mode == "first"
        if state.mode in ("mini", "final") or not (step.full_batch or first):
            return state
        mean_sq, grad_sq = batch_diversity(
            step.stats, self.penalty, step.point[0], self.n, self.precond, self.fit_intercept
        )
        state = state._replace(
            grad_sq=grad_sq,
            ndelta=mean_sq / grad_sq if grad_sq > 0 else math.inf,
            t=step.t + step.count,
        )
        if first and not step.full_batch:
            # Against what a full-batch gradient step is sure to buy per pass (the descent
            # lemma's ||g||^2 / 2L): the first epoch's steps are worth taking, or not.
            bar = 0.5 * self.max_step * grad_sq / self.step_cost(self.n)
            if not self.mini_batch_rate(state) > bar:
                return state._replace(mode="full")
        return state

    def after_epoch(self, state: GoodputState, *, epoch: EpochEvent) -> GoodputState:
        if state.mode in ("mini", "final"):
            return state
        if state.mode == "trial" and epoch.epoch < state.trial_epoch:
            return state
        # The epoch's counted seconds: a pass (whose objective rides on the next pass), or k
        # steps over every row (k overheads and a pass's arithmetic) and the objective's pass.
        steps = epoch.at_step - state.at_step
        cost = (
            self.step_cost(self.n) if steps <= 1 else steps * self.overhead + 2.0 * self.pass_time
        )
        spent = state.spent + cost
        state = state._replace(spent=spent, at_step=epoch.at_step)
        if state.mode == "trial":
            # The epoch of mini-batch steps, measured: kept if it bought more per second.
            s0, f0 = state.ends[-1]
            won = (f0 - epoch.value) / (spent - s0) > state.rate
            return state._replace(mode="mini" if won else "final")
        if state.mode == "first":
            return state._replace(mode="full", ends=((spent, epoch.value),))
        ends = (*state.ends, (spent, epoch.value))[-(PROBE + 1) :]
        state = state._replace(ends=ends)
        if len(ends) <= PROBE:
            return state
        # Over several passes: L-BFGS's progress is uneven from one pass to the next.
        (s0, f0), (s1, f1) = ends[0], ends[-1]
        rate = (f0 - f1) / (s1 - s0) if s1 > s0 else math.nan
        if self.mini_batch_rate(state) > rate:
            return state._replace(mode="trial", rate=rate, trial_epoch=epoch.epoch + 1)
        return state

    def mini_batch_rate(self, state: GoodputState) -> float:
        """The objective's decrease per second a mini-batch step would buy at the last
        estimate's point (its best case; negative where its noise outweighs its descent)."""
        if not (self.pass_time > 0 and state.grad_sq > 0):
            return -math.inf
        n, B = self.n, self.policy.target(state.ndelta)
        if B >= n:
            return -math.inf
        L = 1.0 / self.max_step
        gamma = self.schedule.value(ScheduleState(), state.t + 1.0)
        eta = scaled_step(gamma, B, self.delta, self.max_step)
        nu = max(state.ndelta - 1.0, 0.0)
        d = eta * (1.0 - L * eta / 2.0) - L * eta**2 / 2.0 * nu * (n - B) / (B * (n - 1.0))
        return d * state.grad_sq / self.step_cost(B)
