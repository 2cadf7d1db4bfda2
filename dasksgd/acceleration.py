"""Nesterov acceleration for the full-batch phase, with adaptive restart.

When ``batch_size="auto"`` has grown the batch to the whole data, each step is an exact
proximal gradient step, and plain gradient descent converges at the rate ``1 - 1/kappa``:
slow on ill-conditioned problems (collinear features, a weak penalty). FISTA's momentum (Beck &
Teboulle, 2009) improves that to ``1 - 1/sqrt(kappa)``; restarting the momentum whenever the
step turns against it (O'Donoghue & Candes, 2015) keeps it monotone in practice and adapts to
the local strong convexity without knowing it. Mini-batch steps never use momentum: their noise
would be amplified.

State is explicit: the last iterate ``x`` and FISTA's ``t``; the point handed to the next step
is the extrapolation ``y``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Momentum", "MomentumState"]


class MomentumState(NamedTuple):
    """Last iterate ``x`` (coef, intercept) and FISTA's ``t``; ``x`` is None when inactive."""

    coef: Any = None
    intercept: Any = None
    t: float = 1.0
    restarts: int = 0


class Momentum:
    """FISTA momentum with adaptive restart, active on full-batch steps only.

    Parameters
    ----------
    enabled : bool
        False makes :meth:`update` the identity (plain proximal gradient steps).
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def init(self) -> MomentumState:
        return MomentumState()

    def iterate(
        self, state: MomentumState, coef: np.ndarray, intercept: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The model to report: the last iterate ``x`` when momentum is active, else the point."""
        if state.coef is None:
            return coef, intercept
        return state.coef, state.intercept

    def update(
        self,
        state: MomentumState,
        *,
        point: tuple[np.ndarray, np.ndarray],
        new: tuple[np.ndarray, np.ndarray],
        full_batch: bool,
        metric: Any,
    ) -> tuple[MomentumState, tuple[np.ndarray, np.ndarray]]:
        """After a step from ``point`` (``y_k``) to ``new`` (``x_{k+1}``): the next point.

        ``metric(a, b)`` is the inner product of two (coef, intercept) differences in the
        optimizer's coordinates (the restart test is taken there).
        """
        if not (self.enabled and full_batch):
            return MomentumState(), new
        if state.coef is None:  # first full-batch step: nothing to extrapolate from yet
            return MomentumState(new[0], new[1], 1.0, state.restarts), new
        x_prev = (state.coef, state.intercept)
        move = (new[0] - x_prev[0], new[1] - x_prev[1])
        mapping = (point[0] - new[0], point[1] - new[1])  # the (scaled) gradient mapping at y
        if metric(mapping, move) > 0.0:
            # The step went against the momentum: restart from x_{k+1}.
            return MomentumState(new[0], new[1], 1.0, state.restarts + 1), new
        t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * state.t * state.t))
        beta = (state.t - 1.0) / t_next
        y = (new[0] + beta * move[0], new[1] + beta * move[1])
        return MomentumState(new[0], new[1], t_next, state.restarts), y
