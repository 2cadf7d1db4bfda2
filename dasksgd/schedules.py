"""Learning-rate schedules and the mini-batch step-size rule.

A schedule gives the *per-sample* step ``gamma_t`` after ``t`` samples, as scikit-learn's SGD
does (``constant``, ``optimal``, ``invscaling``, ``adaptive``). A mini-batch step of ``B``
samples moves along the *mean* gradient with

    eta_B = min(B * gamma_t / (1 + delta), 1 / L)

the linear scaling rule of Goyal et al. (2017) with the ``(1 + delta)`` slack of the batch-size
theorem in Yin et al. (2018), capped by the full-batch limit ``1/L`` where ``L`` bounds the
smoothness of the mean loss; :func:`trust_ratios` spreads that step over the model's blocks
(LARS's per-layer rates). The schedules are small pure objects: ``init()`` returns an explicit
state, ``value(state, t)`` the step, ``on_plateau(state)`` the state after a plateau.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np

from .losses import Loss

__all__ = [
    "LearningRate",
    "ScheduleState",
    "Warmup",
    "WarmupState",
    "scaled_step",
    "smoothness",
    "trust_ratios",
]

SCHEDULES = frozenset({"auto", "constant", "optimal", "invscaling", "adaptive"})


class ScheduleState(NamedTuple):
    """State of a :class:`LearningRate`: the factor applied by ``adaptive`` plateaus."""

    scale: float = 1.0


@dataclass(frozen=True, kw_only=True)
class LearningRate:
    """Per-sample learning rate ``gamma_t`` of scikit-learn's SGD schedules.

    Parameters
    ----------
    kind : {"auto", "constant", "optimal", "invscaling", "adaptive"}
        ``auto``: the constant ``eta0`` that the fit sets to ``1 / L_max``, the safe step of
        serial SGD (``L_max`` bounds the smoothness of every per-sample loss); ``constant``:
        ``eta0``; ``optimal``: ``1 / (alpha (t0 + t - 1))`` with Bottou's
        heuristic ``t0``; ``invscaling``: ``eta0 / t**power_t``; ``adaptive``: ``eta0``, divided
        by 5 at each plateau of the objective.
    eta0 : float
        Initial rate of ``constant``, ``invscaling`` and ``adaptive``.
    power_t : float
        Exponent of ``invscaling``.
    alpha : float
        Regularization strength (``optimal`` needs it > 0).
    loss : Loss
        The loss (``optimal`` uses its derivative to choose ``t0``).
    """

    kind: str
    eta0: float
    power_t: float
    alpha: float
    loss: Loss

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(
                f"Unknown learning_rate {self.kind!r}; expected one of {sorted(SCHEDULES)}."
            )
        if self.kind == "optimal" and self.alpha <= 0:
            raise ValueError(
                "alpha must be > 0 since learning_rate is 'optimal'. alpha is used to compute "
                "the optimal learning rate."
            )
        if self.kind not in ("optimal", "auto") and self.eta0 <= 0:
            raise ValueError(f"eta0 must be > 0 with learning_rate={self.kind!r}; got {self.eta0}.")

    def init(self) -> ScheduleState:
        return ScheduleState()

    @cached_property
    def _t0(self) -> float:
        # Bottou's heuristic, as scikit-learn: the first step is that of a typical weight.
        # Cached: value() is called every step.
        import numpy as np

        typw = math.sqrt(1.0 / math.sqrt(self.alpha))
        d = float(self.loss.dloss(np.asarray([1.0]), np.asarray([-typw]))[0])
        eta_init = typw / max(1.0, d)
        return 1.0 / (eta_init * self.alpha)

    def value(self, state: ScheduleState, t: float) -> float:
        """Per-sample learning rate after ``t`` samples (``t >= 1``)."""
        if self.kind == "optimal":
            return 1.0 / (self.alpha * (self._t0 + t - 1.0))
        if self.kind == "invscaling":
            return self.eta0 / t**self.power_t
        return self.eta0 * state.scale

    def on_plateau(self, state: ScheduleState) -> ScheduleState | None:
        """The state after the objective stopped improving, or None if training should stop.

        Only ``adaptive`` reacts (divides by 5 until the rate falls below 1e-6).
        """
        if self.kind != "adaptive":
            return None
        new = ScheduleState(state.scale / 5.0)
        return new if self.eta0 * new.scale > 1e-6 else None


class WarmupState(NamedTuple):
    """State of :class:`Warmup`: the current step, the ramp's start and target, steps into it."""

    eta: float = math.nan
    start: float = math.nan
    target: float = math.nan
    k: int = 0


class Warmup:
    """Gradual warmup (Goyal et al., 2017): ramp a jump of the step size in linearly.

    When the step the rules ask for rises by more than ``threshold`` times the current one (the
    batch size jumped), the step goes there linearly over ``steps`` steps; a fall or a small rise
    applies at once.

    Parameters
    ----------
    steps : int
        Length of a ramp (>= 1; 1 disables warmup).
    threshold : float
        Smallest jump that is ramped (> 1).
    """

    def __init__(self, steps: int = 5, threshold: float = 1.5) -> None:
        if steps < 1 or threshold <= 1:
            raise ValueError(f"need steps >= 1 and threshold > 1; got {steps}, {threshold}.")
        self.steps, self.threshold = int(steps), float(threshold)

    def init(self) -> WarmupState:
        return WarmupState()

    def update(self, state: WarmupState, *, target: float) -> tuple[WarmupState, float]:
        """The new state and the step to take, given the step the rules ask for."""
        if not math.isfinite(state.eta) or target <= state.eta:
            return WarmupState(target, target, target, self.steps), target
        ramping = state.k < self.steps
        if target > state.eta * self.threshold and target != state.target:
            state = WarmupState(state.eta, state.eta, target, 0)
        elif not ramping:
            return WarmupState(target, target, target, self.steps), target
        else:
            state = state._replace(target=target)
        k = state.k + 1
        eta = state.start + (state.target - state.start) * min(k / self.steps, 1.0)
        return state._replace(eta=eta, k=k), eta


def scaled_step(gamma: float, batch: float, delta: float, max_step: float) -> float:
    """Mean-form step ``min(batch * gamma / (1 + delta), max_step)``."""
    return min(batch * gamma / (1.0 + delta), max_step)


def smoothness(lambda_max: float, loss: Loss, l2_strength: float) -> float:
    """Bound ``L`` of the smoothness of the mean objective.

    ``lambda_max`` is the largest eigenvalue of ``Xt' S Xt / n`` (``Xt`` with the intercept
    column, ``S`` the sample weights); the loss's curvature bound and the l2 part of the penalty
    complete it.
    """
    return loss.curvature * lambda_max + l2_strength


def trust_ratios(
    coef: np.ndarray,
    intercept: np.ndarray | None,
    step_coef: np.ndarray,
    step_intercept: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-block factors on the step size: LARS's trust ratios, each kind's largest scaled to one.

    The blocks are each output's coefficients (a column of ``coef``, shape ``(d, K)``) and each
    output's intercept. Block ``b``'s ratio is ``||w_b|| / ||u_b||``, its weights' norm over
    its step direction's (You, Gitman & Ginsburg, 2017, "Large batch training of convolutional
    networks"), both in the optimizer's coordinates. LARS multiplies a global rate by these
    ratios; here the step size is already the largest safe one (``1/L`` caps it for the whole
    model), so the coefficient blocks' ratios are divided by the largest of them, and the
    intercepts' by theirs: the block with the largest ratio of each kind takes the step the
    rules decided and the others a fraction of it, so no block steps further than without
    the ratios. (Scaled together, the intercepts' ratios, large once they have converged,
    throttled every coefficient block.) With one output the factors are all one. A block
    whose weights or direction are zero (every block at the zero start) has the factor 1, as
    in optax's ``scale_by_trust_ratio``.

    Parameters
    ----------
    coef, intercept : ndarray of shape (d, K) and (K,) (or None: no intercept)
        The model, in the optimizer's coordinates.
    step_coef, step_intercept : ndarray of the same shapes (or None)
        The step's direction in the same coordinates.

    Returns
    -------
    coef_factor, intercept_factor : ndarray of shape (K,) (the second None without intercept)
        Factors in ``(0, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> c, i = trust_ratios(np.array([[3.0, 1.0]]), None, np.array([[1.0, 1.0]]), None)
    >>> c.tolist()
    [1.0, 0.3333333333333333]
    """
    coef_factor = _over_largest(
        np.sqrt(np.sum(coef * coef, axis=0)), np.sqrt(np.sum(step_coef * step_coef, axis=0))
    )
    if intercept is None:
        return coef_factor, None
    return coef_factor, _over_largest(np.abs(intercept), np.abs(step_intercept))


def _over_largest(w: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``(w / u) / max(w / u)`` where both are positive and finite, 1 elsewhere."""
    defined = (w > 0.0) & (u > 0.0) & np.isfinite(w) & np.isfinite(u)
    out = np.ones_like(w)
    if defined.any():
        r = w[defined] / u[defined]
        out[defined] = r / r.max()
    return out
