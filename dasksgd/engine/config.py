"""What a fit of the training loop is told: the frozen configuration of one fit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..losses import Loss, get_loss
from ..penalties import Penalty, get_penalty
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
    goodput: bool = True  # "auto" batches: full-batch passes while they beat mini-batch steps
    trust_ratio: bool = False  # LARS: per-block fractions of the proximal steps' size
    stream: bool = False  # partial_fit: a call on new rows is a chunk of a stream (UpdateRule)

    @classmethod
    def from_params(
        cls,
        loss: str,
        *,
        penalty: str | None = "l2",
        alpha: float = 1e-4,
        l1_ratio: float = 0.15,
        epsilon: float = 0.1,
        learning_rate: str = "auto",
        eta0: float = 0.0,
        power_t: float = 0.5,
        average: bool | int = False,
        **options: Any,
    ) -> "TrainConfig":
        """The configuration for scikit-learn-style parameters (those of the estimators).

        ``average``: True averages from the first sample, an int from that many samples,
        False (or 0) not at all. ``options`` are the other fields (``batch_size``, ``tol``, ...).

        Examples
        --------
        >>> TrainConfig.from_params("log_loss", alpha=1e-3, batch_size=256).batch_size
        256
        """
        lossf = get_loss(loss, epsilon)
        schedule = LearningRate(
            kind=learning_rate, eta0=eta0, power_t=power_t, alpha=alpha, loss=lossf
        )
        if average is True:
            start = 1.0
        elif average is False or average == 0:
            start = None
        else:
            start = float(average)
        return cls(
            loss=lossf,
            penalty=get_penalty(penalty, alpha, l1_ratio),
            schedule=schedule,
            average_start=start,
            **options,
        )
