"""What a fit of the training loop is told: the frozen configuration of one fit."""

from __future__ import annotations

from dataclasses import dataclass

from ..losses import Loss
from ..penalties import Penalty
from ..schedules import LearningRate

__all__ = ["TrainConfig"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything the loop needs to know that does not change during a fit."""

    loss: Loss
    penalty: Penalty
    schedule: LearningRate
    batch_size: int | str = "auto"  # an int, or "auto": from the gradient diversity
    delta: float = 1.0
    fit_intercept: bool = True
    max_iter: int = 1000
    tol: float | None = 1e-3
    n_iter_no_change: int = 5
    early_stopping: bool = False
    average_start: float | None = None  # samples before averaging starts; None: no averaging
    precondition: bool = True  # diagonal preconditioner: centered, Jacobi-scaled features
    warmup_steps: int = 5
    accelerate: bool = True  # full-batch steps: L-BFGS (smooth problems) or momentum with restarts
