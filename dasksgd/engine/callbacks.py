"""Callbacks of the training loop: what watches a fit (progress, dashboard, checkpoints, logs).

A callback is called after the rules with the same events (:class:`~dasksgd.engine.rules.Callback`);
these adapt the plain functions the estimators pass (``on_step(dict)``, ``on_epoch(dict)``,
``checkpoint(state, loop)``) to that protocol.
"""

from __future__ import annotations

import logging
import math
from typing import Callable

from .rules import Callback, EpochEvent, StepEvent

__all__ = ["Report", "Checkpoint", "LogEpochs"]

logger = logging.getLogger("dasksgd")


class Report(Callback):
    """Calls ``on_step`` / ``on_epoch`` with a dict of the step's or the epoch's figures.

    ``on_step`` gets ``step, epoch`` (1-based), ``batch_size, bound`` (the diversity rule's
    ``delta * n * Delta + 1``), ``learning_rate, loss, time, full_batch`` (the batch is every
    row: ``learning_rate`` is then the line search's step along L-BFGS's direction, or the
    full gradient's step); ``on_epoch`` gets ``epoch,
    objective, validation_score, batch_size`` (the next step's), ``learning_rate`` (the last
    step's), ``time, steps``.
    """

    def __init__(
        self,
        on_step: Callable[[dict], None] | None = None,
        on_epoch: Callable[[dict], None] | None = None,
    ) -> None:
        self.on_step, self.on_epoch = on_step, on_epoch

    def after_step(self, *, step: StepEvent) -> None:
        if self.on_step is None:
            return
        row = step.loop.records[-1]
        self.on_step(
            {
                "step": row.step,
                "epoch": row.epoch + 1,
                "batch_size": int(row.batch_size),
                "bound": row.batch_bound,
                "learning_rate": row.learning_rate,
                "loss": row.loss,
                "time": row.time,
                "full_batch": bool(step.full_batch),
            }
        )

    def after_epoch(self, *, epoch: EpochEvent) -> None:
        if self.on_epoch is None:
            return
        records = epoch.loop.records
        self.on_epoch(
            {
                "epoch": epoch.epoch + 1,
                "objective": epoch.value,
                "validation_score": epoch.validation_score,
                "batch_size": epoch.batch_size,
                "learning_rate": records[-1].learning_rate if records else math.nan,
                "time": epoch.time,
                "steps": epoch.at_step,
            }
        )


class Checkpoint(Callback):
    """Calls ``save(train_state, loop_state)`` after every ``every``-th step; ``save`` must not
    keep references to them (they change afterwards): it writes them out."""

    def __init__(self, save: Callable[..., None], every: int = 100) -> None:
        self.save, self.every = save, every

    def after_step(self, *, step: StepEvent) -> None:
        if step.train.step % self.every == 0:
            self.save(step.train, step.loop)


class LogEpochs(Callback):
    """A debug line per epoch on the "dasksgd" logger."""

    def after_epoch(self, *, epoch: EpochEvent) -> None:
        logger.debug(
            "epoch %d: objective %.6g, B %d", epoch.epoch + 1, epoch.value, epoch.batch_size
        )
