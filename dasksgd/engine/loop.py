"""The synchronous mini-batch SGD loop, independent of where the shards live.

:func:`train` is the seed's algorithm: every step, one request to the backend for the summed
:class:`~dasksgd.statistics.GradStats` of the batch (a reduce over the shards), then the rules
decide and the model moves; every epoch, the training objective of the epoch's model, from which
the rules decide again (stop, grow the batch, decay the step, roll back). The rules
(:mod:`dasksgd.engine.rules`: batch size from gradient diversity, step size and warmup, the
optimizer phase, averaging, stopping, divergence) and the callbacks
(:mod:`dasksgd.engine.callbacks`) are objects with one protocol; :func:`build_rules` lists
the default ones, and the loop holds no branch per rule. Once per fit,
:func:`~dasksgd.engine.plan.make_plan` measures what the rules need (per-feature scales, the
smoothness bounds ``L`` and ``L_max``, the per-step overhead).

The epoch's objective comes from the rules when one knows it (the L-BFGS phase's accepted
point), else rides on the next step when that is a full pass anyway (one more column of margins:
the "probe"), else costs one loss-only ``objective`` request.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import pandas as pd

from ..acceleration import Momentum
from ..losses import SMOOTHABLE
from ..metrics import score_from_sums
from ..preconditioning import HessianBound
from ..quasi_newton import QuasiNewton
from ..schedules import Warmup
from ..statistics import GradStats
from .callbacks import Checkpoint, LogEpochs, Report
from .config import TrainConfig
from .plan import GRAM_FEATURES, Plan, apply_plan, make_plan
from .rules import (
    AveragingRule,
    BatchSizeRule,
    Callback,
    Diverged,
    DivergenceRule,
    EpochEvent,
    GoodputRule,
    Rule,
    Rules,
    ScheduleRule,
    StepEvent,
    StoppingRule,
    TrustRatioRule,
    UpdateRule,
    WarmupRule,
    batch_policy,
    quasi_newton,
)

__all__ = [
    "TrainConfig",
    "TrainState",
    "TrainResult",
    "LoopState",
    "StepRecord",
    "Plan",
    "apply_plan",
    "make_plan",
    "build_rules",
    "train",
    "HISTORY_COLUMNS",
]

logger = logging.getLogger("dasksgd")

#: Roll-backs after which a diverging fit stops with advice.
ROLLBACKS = 5


class StepRecord(NamedTuple):
    """One row of the history: a step (a named tuple: cheap to make every step, and the rows
    of the history DataFrame as they are)."""

    step: int
    epoch: int
    samples: float
    batch_size: float
    diversity: float  # the smoothed estimate of Delta(w)
    batch_bound: float  # delta * n * Delta + 1: the batch the diversity rule allows
    learning_rate: float
    loss: float  # the batch's mean loss
    time: float


HISTORY_COLUMNS = [*StepRecord._fields, "objective", "validation_score"]


@dataclass
class TrainState:
    """The model, the counters, and the rules' states: what carries over between calls
    (``partial_fit``; a warm start keeps only the model) and what a roll-back restores (see
    :mod:`dasksgd.engine.rules.base` for which rule's state does what)."""

    coef: np.ndarray  # (d, K): the point the next gradient is taken at
    intercept: np.ndarray  # (K,)
    t: float = 0.0  # samples seen
    epoch: int = 0  # epochs started (seeds the shuffles)
    step: int = 0
    rules: dict = field(default_factory=dict)  # rule name -> its state (immutable values)
    report: tuple | None = None  # the model to report when a rule has one (average, accepted point)

    def copy(self) -> "TrainState":
        return replace(
            self, coef=self.coef.copy(), intercept=self.intercept.copy(), rules=dict(self.rules)
        )

    def model(self) -> tuple[np.ndarray, np.ndarray]:
        """The model to report: a rule's (the average once averaging started, the accepted
        point of L-BFGS, the iterate under momentum), else the point."""
        return self.report if self.report is not None else (self.coef, self.intercept)


@dataclass
class LoopState:
    """The loop's own counters between steps.

    With a :class:`TrainState` it is everything a fit needs to go on from where it was: a
    checkpoint holds both, and :func:`train` given them (``resume=``) continues exactly as the
    uninterrupted fit would have.
    """

    good: TrainState  # the model at the last epoch end that did not diverge
    epochs_run: int = 0
    pos: int = 0  # rows of the current epoch already stepped over
    objective: float = math.nan  # the last epoch's
    step_scale: float = 1.0  # halved at each roll-back
    rollbacks: int = 0
    records: list = field(default_factory=list)  # StepRecord, one per step
    epoch_rows: dict = field(default_factory=dict)  # step -> (objective, validation score)

    def copy(self) -> "LoopState":
        return replace(
            self,
            good=self.good.copy(),
            records=list(self.records),
            epoch_rows=dict(self.epoch_rows),
        )


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


def build_rules(
    config: TrainConfig,
    plan: Plan,
    n: int,
    validate: Callable[[np.ndarray, np.ndarray], float] | None = None,
    objective: Callable[[np.ndarray, np.ndarray], float] | None = None,
    band: Callable[[np.ndarray, np.ndarray, float], Any] | None = None,
    gram: Callable[[int], np.ndarray] | None = None,
) -> list[Rule]:
    """The default rules of a fit, in the order their hooks run.

    Divergence first (it judges what the others would build on), then the batch size (its
    diversity estimate is taken at the step's point), the stopping rule (its verdict reaches the
    schedule), the step size and its warmup (and, with ``trust_ratio``, its share per block),
    the update of the model, and averaging (of the updated iterates). ``validate(coef,
    intercept)`` scores the held-out rows (early stopping); ``objective(coef, intercept)``
    measures a model's training objective (the divergence rule checks a suspected explosion of
    the first epochs with it); ``band(coef, intercept, mu)`` the rows inside a smoothed loss's
    band (polishing a non-smooth loss's full-batch phase); ``gram(stride)`` the raw weighted
    Gram matrix of the rows (L-BFGS's metric, for few features).
    """
    quasi = _quasi_newton(config, plan, n, gram)
    schedule = config.schedule
    if schedule.kind == "auto":
        schedule = replace(schedule, eta0=plan.gamma)
    fi = config.fit_intercept
    policy = batch_policy(config.batch_size, config.delta, plan.b_min, n)
    rules = [
        DivergenceRule(config.penalty, line_search=quasi is not None, objective=objective),
        BatchSizeRule(policy, config.penalty, plan.precond, n, fi),
        StoppingRule(
            config.tol, config.n_iter_no_change, validate if config.early_stopping else None
        ),
        ScheduleRule(schedule, config.delta, plan.max_step),
        WarmupRule(Warmup(config.warmup_steps)),
        *([TrustRatioRule(plan.precond, config.penalty, fi)] if config.trust_ratio else []),
        UpdateRule(
            config.penalty,
            plan.precond,
            fi,
            Momentum(config.accelerate),
            quasi,
            n,
            config.average_start,
            smoothable=quasi is not None and config.loss.name in SMOOTHABLE,
            band=band,
            polishes=config.loss.name == "hinge",
            rows=plan.rows,
            stream=config.stream,
        ),
    ]
    if config.average_start is not None:
        rules.append(AveragingRule(config.average_start))
    if (
        config.goodput
        and config.batch_size == "auto"
        and quasi is not None
        and config.loss.name not in SMOOTHABLE
        and plan.b_min < n
        and math.isfinite(plan.max_step)
        and plan.pass_time > 0
    ):
        # Before the batch-size rule: while it answers, the batch is every row.
        rules.insert(
            1,
            GoodputRule(
                policy,
                schedule,
                config.penalty,
                plan.precond,
                n,
                fi,
                config.delta,
                plan.max_step,
                plan.step_time if math.isfinite(plan.step_time) else plan.overhead,
                plan.pass_time,
            ),
        )
    return rules


#: The bound is worth its Gram matrix (a few passes' worth of arithmetic) where the diagonal
#: scaling leaves at least this condition number (``Plan.condition``): on independent features
#: it buys nothing (benchmarks/time_to_accuracy.py got slower with it); the real tables'
#: conditions are far above (``python benchmarks/real_data.py --norms`` prints them).
BOUND_CONDITION = 100.0


def _quasi_newton(
    config: TrainConfig, plan: Plan, n: int, gram: Callable[[int], np.ndarray] | None
) -> QuasiNewton | None:
    """L-BFGS for the full-batch phase when the problem is smooth (else None: momentum); for a
    smooth loss, up to ``GRAM_FEATURES`` coefficients and a stiff problem (``plan.condition``
    over ``BOUND_CONDITION``, or not measured), with the objective's curvature bound as its
    metric (from the Gram matrix of every row: a sample misses the rare categories whose
    columns make a one-hot table stiff)."""
    smooth = config.loss.smooth or config.loss.name in SMOOTHABLE
    if not (config.accelerate and smooth and config.penalty.l1_strength == 0.0):
        return None
    fi, precond = config.fit_intercept, plan.precond
    k = precond.scale.shape[0] + int(fi)
    bound = None
    if (
        gram is not None
        and config.loss.smooth
        and k <= GRAM_FEATURES
        and not plan.condition <= BOUND_CONDITION
    ):

        def bound() -> HessianBound | None:
            out = gram(1)
            return HessianBound.from_gram(
                out[:-1].reshape(k, k),
                n,
                precond,
                fi,
                config.loss.curvature,
                config.penalty.l2_strength,
            )

    return quasi_newton(
        precond,
        fi,
        plan.max_step if math.isfinite(plan.max_step) else plan.gamma,
        bound,
        coupled=config.loss.coupled,
    )


def _batch_end(pos: int, size: int, n: int) -> int:
    """End of the step that starts at row ``pos`` of an epoch of ``n`` rows with batches of
    ``size``: a tail shorter than half a batch joins the step rather than making a small, noisy
    step of its own at full step size."""
    end = min(pos + size, n)
    return n if n - end < size // 2 else end


@dataclass(frozen=True)
class _Pending:
    """An epoch whose objective rides on the next step's pass (the step is a full pass anyway)."""

    epoch: int
    at_step: int
    coef: np.ndarray
    intercept: np.ndarray

    def probe(self, state: TrainState) -> tuple[np.ndarray, np.ndarray] | None:
        """The model whose loss the pass must also measure (None: it is the point itself)."""
        same = np.array_equal(self.coef, state.coef) and np.array_equal(
            self.intercept, state.intercept
        )
        return None if same else (self.coef, self.intercept)

    def objective(self, stats: GradStats, probe: Any, n: int, penalty: Any) -> float:
        """The epoch's objective, from the pass that measured it."""
        return (stats.loss if probe is None else stats.probe_loss) / n + penalty.value(self.coef)

    @property
    def epoch_end(self) -> tuple[int, int, tuple[np.ndarray, np.ndarray]]:
        """``(epoch, at_step, model)`` of :meth:`_Fit.end_epoch`."""
        return self.epoch, self.at_step, (self.coef, self.intercept)


def train(
    backend: Any,
    config: TrainConfig,
    state: TrainState,
    *,
    plan: Plan,
    max_iter: int | None = None,
    rules: Sequence[Rule] | None = None,
    callbacks: Sequence[Callback] = (),
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
    rules : sequence of Rule, optional
        The rules, in order; :func:`build_rules` by default.
    callbacks : sequence of Callback
        Called after the rules at every step and epoch (after ``on_step`` / ``on_epoch``,
        before ``checkpoint``).
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
        finite or explodes restarts from the last good model with half the step size.
    """
    fit = _Fit(
        backend,
        config,
        plan,
        rules,
        callbacks,
        start_time,
        reports=(on_step, on_epoch),
        checkpoint=(checkpoint, checkpoint_every),
    )
    max_iter, n = config.max_iter if max_iter is None else max_iter, fit.n
    state, ls = fit.start(state, resume)
    pending: _Pending | None = None
    while ls.epochs_run < max_iter:
        try:
            while ls.pos < n:  # the epoch's steps: a batch, a reduce, an update
                end = _batch_end(ls.pos, fit.rules.batch_size(state.rules), n)
                probe = None if pending is None else pending.probe(state)
                smoothing = fit.rules.smoothing(state.rules)
                stats = backend.step(
                    state.coef, state.intercept, state.epoch, ls.pos, end, n, probe, smoothing
                )
                if pending is not None:  # the last epoch's objective came with this pass
                    value = pending.objective(stats, probe, n, config.penalty)
                    verdict, pending = fit.end_epoch(state, ls, *pending.epoch_end, value), None
                    if verdict.stop:  # this step is not taken: the model stays the one judged
                        return fit.result(state, ls, verdict.converged)
                ls.pos = end
                if stats.count:
                    fit.update(state, ls, stats)
            epoch, ls.pos = state.epoch, 0
            state.epoch += 1
            ls.epochs_run += 1
            model = state.model()
            value = fit.rules.objective(state.rules)
            if value is None and fit.can_defer(state, ls, max_iter):
                pending = _Pending(epoch, state.step, model[0].copy(), model[1].copy())
                continue
            value = fit.objective(*model) if value is None else value
            verdict = fit.end_epoch(state, ls, epoch, state.step, model, value)
            if verdict.stop:
                return fit.result(state, ls, verdict.converged)
        except Diverged as why:
            state, pending = fit.roll_back(state, ls, why), None
    return fit.result(state, ls, False)


class _Fit:
    """What :func:`train` does at each point of the loop, over one fit's backend, rules and
    callbacks (the loop itself only orders these calls)."""

    def __init__(
        self,
        backend: Any,
        config: TrainConfig,
        plan: Plan,
        rules: Sequence[Rule] | None,
        callbacks: Sequence[Callback],
        start_time: float | None,
        *,
        reports: tuple = (None, None),
        checkpoint: tuple = (None, 100),
    ) -> None:
        callbacks = [
            *callbacks,
            *([Report(*reports)] if any(reports) else []),
            LogEpochs(),
            *([Checkpoint(*checkpoint)] if checkpoint[0] is not None else []),
        ]
        self.backend, self.config, self.n = backend, config, backend.n_train
        if rules is None:
            rules = build_rules(
                config,
                plan,
                self.n,
                validate=self.validation_score,
                objective=self.objective,
                band=backend.band,
                gram=backend.gram,
            )
        self.rules = Rules.of(rules)
        # Only the callbacks that watch steps are called at every step.
        self.step_callbacks = [c.after_step for c in callbacks if _watches_steps(c)]
        self.epoch_callbacks = [c.after_epoch for c in callbacks]
        # An epoch's objective may wait for the next pass unless a rule asks the backend then.
        self.defer = not self.rules.measures_at_epoch_end
        self.t0 = time.perf_counter() if start_time is None else start_time

    def start(self, state: TrainState, resume: LoopState | None) -> tuple[TrainState, LoopState]:
        state = state.copy()
        state.rules = self.rules.init(state.rules, fresh=resume is None)
        if resume is None:
            return state, LoopState(good=state.copy())
        if resume.records:  # times go on from where the saved fit stopped
            self.t0 -= resume.records[-1].time
        return state, resume.copy()

    def update(self, state: TrainState, ls: LoopState, stats: GradStats) -> None:
        """The rules decide on one step's statistics and move the model; history and callbacks."""
        step = StepEvent(
            stats,
            (state.coef, state.intercept),
            state.epoch,
            state.t,
            stats.count == self.n,
            ls.step_scale,
            state,
            loop=ls,
        )
        self.rules.after_step(state.rules, step)
        state.t += stats.count
        state.step += 1
        state.report = self.rules.model(state.rules)
        step.time = time.perf_counter() - self.t0
        ls.records.append(
            StepRecord(
                state.step,
                state.epoch,
                state.t,
                stats.count,
                step.ndelta / self.n,
                self.config.delta * step.ndelta + 1.0,
                step.eta,
                stats.loss / stats.count,
                step.time,
            )
        )
        for after_step in self.step_callbacks:
            after_step(step=step)

    def end_epoch(
        self,
        state: TrainState,
        ls: LoopState,
        epoch: int,
        at_step: int,
        model: tuple[np.ndarray, np.ndarray],
        value: float,
    ) -> EpochEvent:
        """The rules judge an epoch's objective (a divergence raises); history and callbacks."""
        event = EpochEvent(epoch, at_step, value, ls.objective, model, state, loop=ls)
        self.rules.after_epoch(state.rules, event)
        ls.objective, ls.good = value, state.copy()
        ls.epoch_rows[at_step] = (value, event.validation_score)
        event.batch_size, event.time = (
            self.rules.batch_size(state.rules),
            time.perf_counter() - self.t0,
        )
        for after_epoch in self.epoch_callbacks:
            after_epoch(epoch=event)
        return event

    def can_defer(self, state: TrainState, ls: LoopState, max_iter: int) -> bool:
        """Whether the epoch's objective may ride on the next step: it is a full pass anyway,
        there is one, and no rule asks the backend for something at the epoch's end."""
        if not self.defer or ls.epochs_run >= max_iter:
            return False
        return _batch_end(0, self.rules.batch_size(state.rules), self.n) == self.n

    def roll_back(self, state: TrainState, ls: LoopState, why: Diverged) -> TrainState:
        """Back to the last good model, with half the step size (the next epoch starts)."""
        ls.rollbacks += 1
        if ls.rollbacks > ROLLBACKS:
            raise FloatingPointError(
                f"{why}, and {ROLLBACKS} roll-backs to the last good model with half the step "
                "size each did not cure it. Lower eta0 or use learning_rate='auto', scale the "
                "features (or keep precondition=True), and check the data for extreme rows."
            ) from None
        logger.warning(
            "%s: rolled back to the last good model, step size x %g", why, 0.5**ls.rollbacks
        )
        ls.step_scale *= 0.5
        ls.pos = 0
        ls.epochs_run += 1
        good = ls.good.copy()
        return replace(
            good,
            epoch=state.epoch + 1,
            step=state.step,
            t=state.t,
            rules=self.rules.restore(state.rules, good.rules),
        )

    def objective(self, coef: np.ndarray, intercept: np.ndarray) -> float:
        count, total = self.backend.objective(coef, intercept)
        return total / max(count, 1.0) + self.config.penalty.value(coef)

    def validation_score(self, coef: np.ndarray, intercept: np.ndarray) -> float:
        sums = self.backend.validation(coef, intercept)
        return score_from_sums(sums, accuracy=self.config.loss.is_classification)

    def result(self, state: TrainState, ls: LoopState, converged: bool) -> TrainResult:
        history = pd.DataFrame(ls.records, columns=HISTORY_COLUMNS[:-2])
        # The epochs' figures on the rows of the steps they ended at (steps only increase).
        objective, score = np.full(len(history), np.nan), np.full(len(history), np.nan)
        if ls.epoch_rows and len(history):
            at, values = list(ls.epoch_rows), np.array(list(ls.epoch_rows.values()), dtype=float)
            rows = np.searchsorted(history["step"].to_numpy(), at)
            found = (rows < len(history)) & (
                history["step"].to_numpy()[np.minimum(rows, len(history) - 1)] == at
            )
            objective[rows[found]], score[rows[found]] = values[found, 0], values[found, 1]
        history["objective"], history["validation_score"] = objective, score
        for col in ("step", "epoch", "batch_size"):
            history[col] = history[col].astype(np.int64)
        last = (
            int(history["batch_size"].iloc[-1])
            if len(history)
            else self.rules.batch_size(state.rules)
        )
        return TrainResult(
            state, ls.epochs_run, converged, history, last, ls.objective, ls.rollbacks
        )


def _watches_steps(callback: Callback) -> bool:
    return type(callback).after_step is not Callback.after_step
