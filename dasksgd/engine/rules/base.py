"""The protocol of the training loop's rules, the events they see, and their container.

The loop (:func:`dasksgd.engine.loop.train`) is the seed's algorithm and nothing else: take a
batch, reduce its statistics, update the model, and at the end of an epoch measure the
objective. Everything that *decides* (the batch size, the step size and its warmup, the
optimizer phase, averaging, stopping, divergence) is a :class:`Rule`; everything that only
*watches* (progress bar, dashboard, checkpoints, logging) is a :class:`Callback`.

Two shapes, on purpose:

- A rule has explicit state, as an optax ``GradientTransformation`` does: ``init()`` returns
  it, and each hook takes it and returns the new one, with what was measured passed by
  keyword in an event. The state is the only thing that changes between calls, so a checkpoint
  of the states resumes a fit exactly, and a roll-back restores them. Rules are composed by
  :class:`Rules`, optax's ``chain``: every hook walks the rules in order, each rule reading what
  the rules before it decided (the event is the running "update" that passes through the
  chain) and writing its own decision.
- A callback holds no state of the fit (xgboost's ``TrainingCallback``): it is called after
  the rules, with the same events, and may end the fit at an epoch's end (``epoch.stop``).

Where a rule's state lives is fixed by one flag, :attr:`Rule.persistent`: a persistent rule's
state belongs to the model's trajectory (:class:`~dasksgd.engine.loop.TrainState`: carried
from one ``partial_fit`` call to the next, restored by a roll-back: the schedule, the optimizer
phase, the average; a warm start carries only the coefficients); any other rule's state is
what one fit call learned about the data (the batch size, the diversity estimate, the warmup
ramp, the stopping counters): fresh at each call, kept through a roll-back. A persistent
state carried into a new call passes through :meth:`Rule.carry` first: the optimizer phase's
(L-BFGS's memory and accepted point belong to one objective) starts afresh when the call's rows
are not the last call's. All states are in ``TrainState.rules``, keyed by :attr:`Rule.name`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import numpy as np

from ...statistics import GradStats

__all__ = ["Rule", "Callback", "Rules", "StepEvent", "EpochEvent", "Diverged"]


class Diverged(Exception):
    """Raised by a rule when the model went non-finite or exploded; the loop rolls back."""


@dataclass(slots=True)
class StepEvent:
    """One step, as it passes through the rules: what was measured, then what they decided.

    Measured (set by the loop): ``stats`` of the batch at ``point``, the ``epoch``, ``t`` (the
    samples seen *before* this step), ``full_batch`` (the batch is all the rows),
    ``step_scale`` (the roll-backs' factor on every step size)
    and ``train``, the :class:`~dasksgd.engine.loop.TrainState` whose model the update rule moves.

    Decided (by the rules, in chain order): ``ndelta`` (the smoothed estimate of
    ``n * Delta(w)``), ``eta`` (the step size taken), ``block_scale`` (per-block factors on
    ``eta`` of a proximal step, ``(coef (K,), intercept (K,))``; None: one step for all),
    ``iterate`` (the model after the step, before any extrapolation: what averaging averages).
    """

    stats: GradStats
    point: tuple[np.ndarray, np.ndarray]
    epoch: int
    t: float
    full_batch: bool
    step_scale: float
    train: Any
    ndelta: float = math.nan
    eta: float = math.nan
    block_scale: tuple[np.ndarray, np.ndarray] | None = None
    iterate: tuple[np.ndarray, np.ndarray] | None = None
    loop: Any = None  # the LoopState (callbacks that save the whole fit need it)
    time: float = math.nan  # seconds since the fit started, once the step is done

    @property
    def count(self) -> float:
        return self.stats.count


@dataclass(slots=True)
class EpochEvent:
    """The end of an epoch: its model's objective, and what the rules decide from it.

    Measured: ``epoch`` (0-based), ``at_step`` (the steps taken when it ended), ``value`` (the
    training objective of ``model``), ``previous`` (the last epoch's objective, NaN at the first),
    ``train``. Decided: ``validation_score`` (with early stopping), ``plateau`` (the stopping rule
    saw ``n_iter_no_change`` epochs without improvement: the schedule may decay or agree to
    stop), ``stop`` and ``converged``.
    """

    epoch: int
    at_step: int
    value: float
    previous: float
    model: tuple[np.ndarray, np.ndarray]
    train: Any
    validation_score: float = math.nan
    plateau: bool = False
    stop: bool = False
    converged: bool = False
    loop: Any = None
    time: float = math.nan
    batch_size: int = 0  # the next step's batch size, once the rules have decided


class Rule:
    """A rule of the training loop: explicit state, hooks that take what was measured by keyword.

    Subclasses set :attr:`name` (the key of the state) and override the hooks they need; the
    defaults leave the state alone and answer no query. A new rule is one such class, added to
    the list :func:`~dasksgd.engine.loop.build_rules` returns (or given to ``train(rules=...)``);
    the loop does not change.
    """

    #: Key of this rule's state in ``TrainState.rules``; unique within a fit.
    name: ClassVar[str] = ""
    #: True: the state is the model's trajectory (kept by partial_fit, restored by a roll-back).
    persistent: ClassVar[bool] = False
    #: True: the rule asks the backend for something at the end of an epoch (then the epoch's
    #: objective is measured at once, never deferred to the next step's pass).
    measures_at_epoch_end: ClassVar[bool] = False

    def init(self) -> Any:
        """The state at the start of a fit."""
        return None

    def carry(self, state: Any) -> Any:
        """A persistent state from an earlier call of ``train`` (``partial_fit``), as this call
        starts from it: the state itself by default; a rule whose state belongs to one call's
        rows starts afresh when the rows changed."""
        return state

    def after_step(self, state: Any, *, step: StepEvent) -> Any:
        """The new state after a step (and the rule's decisions, written into ``step``)."""
        return state

    def after_epoch(self, state: Any, *, epoch: EpochEvent) -> Any:
        """The new state at the end of an epoch (decisions written into ``epoch``)."""
        return state

    def batch_size(self, state: Any) -> int | None:
        """The batch size of the next step, if this rule decides it."""
        return None

    def objective(self, state: Any) -> float | None:
        """The objective of the model to report, if this rule already knows it (no pass)."""
        return None

    def model(self, state: Any) -> tuple[np.ndarray, np.ndarray] | None:
        """The model to report instead of the iterate (an average, an accepted point), if any."""
        return None

    def smoothing(self, state: Any) -> float | None:
        """The smoothing of the loss the next step's gradient is of (``Loss.smoothed``), if
        this rule decides it (0: the loss itself)."""
        return None


class Callback:
    """Watches the fit: called after the rules with the same events; holds no state of the fit.

    ``after_epoch`` may set ``epoch.stop = True`` to end the fit after that epoch.
    """

    def after_step(self, *, step: StepEvent) -> None:
        """Called after every step."""

    def after_epoch(self, *, epoch: EpochEvent) -> None:
        """Called after every epoch."""


@dataclass(frozen=True)
class Rules:
    """The rules of one fit, in the order their hooks run (optax's ``chain``).

    Each hook walks the rules in order and hands every rule its own state from
    ``train.rules`` and the same event; the queries (``batch_size``, ``objective``,
    ``smoothing``) return the first answer, ``model`` the last.
    """

    rules: tuple[Rule, ...]
    _hooks: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = tuple(r.name for r in self.rules)
        if any(not n for n in names) or len(set(names)) != len(names):
            raise ValueError(f"every rule needs a name of its own; got {names}.")
        # Each hook walks only the rules that define it (the step hooks run every step).
        hooks = {
            hook: tuple((r.name, getattr(r, hook)) for r in self.rules if _defines(r, hook))
            for hook in (
                "after_step",
                "after_epoch",
                "batch_size",
                "objective",
                "model",
                "smoothing",
            )
        }
        hooks["model"] = hooks["model"][::-1]
        object.__setattr__(self, "_hooks", hooks)

    @classmethod
    def of(cls, rules: Sequence[Rule]) -> "Rules":
        return cls(tuple(rules))

    @property
    def measures_at_epoch_end(self) -> bool:
        return any(r.measures_at_epoch_end for r in self.rules)

    def init(self, states: dict, *, fresh: bool) -> dict:
        """The states a call of ``train`` starts from: ``states`` (those of an earlier call or
        of a checkpoint), with every missing one, and (``fresh``) every one that is not
        persistent, initialized anew."""
        out = dict(states)
        for r in self.rules:
            if r.name not in out or (fresh and not r.persistent):
                out[r.name] = r.init()
            elif fresh:
                out[r.name] = r.carry(out[r.name])
        return out

    def restore(self, current: dict, good: dict) -> dict:
        """After a roll-back: the persistent states from ``good``, the others as they are."""
        return {r.name: (good[r.name] if r.persistent else current[r.name]) for r in self.rules}

    def after_step(self, states: dict, step: StepEvent) -> None:
        for name, hook in self._hooks["after_step"]:
            states[name] = hook(states[name], step=step)

    def after_epoch(self, states: dict, epoch: EpochEvent) -> None:
        for name, hook in self._hooks["after_epoch"]:
            states[name] = hook(states[name], epoch=epoch)

    def batch_size(self, states: dict) -> int:
        for name, query in self._hooks["batch_size"]:
            size = query(states[name])
            if size is not None:
                return size
        raise ValueError("no rule decides the batch size; add one (BatchSizeRule).")

    def objective(self, states: dict) -> float | None:
        for name, query in self._hooks["objective"]:
            value = query(states[name])
            if value is not None:
                return value
        return None

    def smoothing(self, states: dict) -> float:
        """The next step's loss smoothing (0 unless a rule decides one)."""
        for name, query in self._hooks["smoothing"]:
            mu = query(states[name])
            if mu is not None:
                return mu
        return 0.0

    def model(self, states: dict) -> tuple[np.ndarray, np.ndarray] | None:
        """The model to report: the last rule in the chain that has one (averaging comes after
        the optimizer, so the average wins over the accepted point)."""
        for name, query in self._hooks["model"]:
            m = query(states[name])
            if m is not None:
                return m
        return None


def _defines(rule: Rule, hook: str) -> bool:
    """Whether ``rule`` overrides ``hook`` of :class:`Rule` (the defaults do nothing)."""
    return getattr(type(rule), hook) is not getattr(Rule, hook)
