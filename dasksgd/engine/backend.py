"""The contract between the loop and wherever the shards are: :class:`Backend`.

A backend answers named requests by running the :class:`~dasksgd.engine.shards.ShardSet` method
of that name on every shard and summing the results (in shard order). It provides one
primitive, ``call(name, *args)``: how a request reaches the shards (a method call in this
process, actor calls down a tree on a cluster); subclassing :class:`Backend` gives it the named,
typed requests on top. ``tests/engine/test_backend.py`` checks that every request here is a
``ShardSet`` method with the same parameters, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from ..polishing import Band
from ..statistics import GradStats, ScaleStats

__all__ = ["Backend", "StepArgs", "REQUESTS"]

#: The requests of :class:`Backend`, each the name of a ``ShardSet`` method.
REQUESTS = (
    "step",
    "objective",
    "validation",
    "column_sums",
    "set_scale",
    "gram",
    "gram_matvec",
    "band",
)


class StepArgs(NamedTuple):
    """The arguments of a ``step`` request, by name: the model, the epoch (it seeds the
    shuffle), the batch's rows ``[start, end)`` of the epoch's ``total``, the probe model
    whose loss the same pass measures (or None), and the loss's smoothing (0: none)."""

    coef: np.ndarray
    intercept: np.ndarray
    epoch: int
    start: int
    end: int
    total: int
    probe: tuple[np.ndarray, np.ndarray] | None = None
    smoothing: float = 0.0


@runtime_checkable
class Backend(Protocol):
    """What the loop, the plan and the functional core need of a backend.

    Attributes
    ----------
    n_train : int
        Training rows (validation rows held out).
    n_workers : int
        Processes computing (1 in process).
    work_per_row : float
        Stored values of X per row (the arithmetic of a row, per output).
    step_overhead : float
        Modelled seconds of bookkeeping per step (a cost model, so fits are reproducible).
    """

    n_train: int
    n_workers: int
    work_per_row: float

    @property
    def step_overhead(self) -> float: ...

    def call(self, op: str, *args: Any) -> Any:
        """Run the ``ShardSet`` method ``op`` on every shard; the results summed in shard order."""
        ...

    def close(self) -> None:
        """Release the shards."""
        ...

    # -- the named requests: what the loop asks ---------------------------------------------

    def step(
        self,
        coef: np.ndarray,
        intercept: np.ndarray,
        epoch: int,
        start: int,
        end: int,
        total: int,
        probe: tuple[np.ndarray, np.ndarray] | None = None,
        smoothing: float = 0.0,
    ) -> GradStats:
        """The summed statistics of the batch (and the probe model's loss); the gradient of the
        loss smoothed by ``smoothing`` when it is positive."""
        return self.call("step", coef, intercept, epoch, start, end, total, probe, smoothing)

    def objective(self, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
        """``[rows, sum of the weighted loss]`` over every training row."""
        return self.call("objective", coef, intercept)

    def validation(self, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
        """The held-out rows' sums a validation score is made of."""
        return self.call("validation", coef, intercept)

    def column_sums(self, stride: int = 1) -> np.ndarray:
        """``[sum x, sum x^2 (per column), count]`` over every ``stride``-th training row."""
        return self.call("column_sums", stride)

    def set_scale(self, inv_scale2: np.ndarray, mean: np.ndarray | None) -> ScaleStats:
        """Measure the rows in the optimizer's coordinates (and check their values)."""
        return self.call("set_scale", inv_scale2, mean)

    def gram(self, stride: int) -> np.ndarray:
        """The Gram matrix of every ``stride``-th row (with the intercept's column), and the
        count."""
        return self.call("gram", stride)

    def gram_matvec(self, v: np.ndarray, stride: int) -> np.ndarray:
        """``Xt' (Xt v)`` over every ``stride``-th row, and the count."""
        return self.call("gram_matvec", v, stride)

    def band(self, coef: np.ndarray, intercept: np.ndarray, width: float) -> Band:
        """The rows within ``width`` of a kink of the loss, per output, and the summed slopes of
        the others (what polishing needs)."""
        return self.call("band", coef, intercept, width)
