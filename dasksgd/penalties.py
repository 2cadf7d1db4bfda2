"""Penalties on the coefficients: value, gradient of the smooth part, proximal step.

The penalty ``R(w)`` of scikit-learn's SGD estimators, scaled by ``alpha`` in the objective
``F(w) = mean_i loss_i + alpha * R(w)``::

    l2          R(w) = 1/2 ||w||^2
    l1          R(w) = ||w||_1
    elasticnet  R(w) = l1_ratio ||w||_1 + (1 - l1_ratio)/2 ||w||^2
    None        R(w) = 0

The smooth (squared) part enters the gradient; the l1 part is applied by its proximal operator
(soft thresholding) after the gradient step, which sets coefficients exactly to zero. The
intercept is never penalized.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from array_api_compat import array_namespace

__all__ = ["Penalty", "get_penalty", "PENALTIES"]

PENALTIES = frozenset({"l2", "l1", "elasticnet", None})


@dataclass(frozen=True)
class Penalty:
    """A penalty ``alpha * R(w)`` split into a smooth l2 part and an l1 part.

    Parameters
    ----------
    name : {"l2", "l1", "elasticnet", None}
        Which penalty.
    alpha : float
        Regularization strength.
    l1_ratio : float
        Mix of l1 in the elastic net, in [0, 1]; ignored by the other penalties.
    """

    name: str | None
    alpha: float
    l1_ratio: float = 0.15

    def __post_init__(self) -> None:
        if self.name not in PENALTIES:
            raise ValueError(
                f"Unknown penalty {self.name!r}; expected one of 'l2', 'l1', 'elasticnet' or None."
            )

    @property
    def l2_strength(self) -> float:
        """Coefficient ``c2`` of ``c2/2 ||w||^2`` in ``alpha * R``."""
        if self.name == "l2":
            return self.alpha
        if self.name == "elasticnet":
            return self.alpha * (1.0 - self.l1_ratio)
        return 0.0

    @property
    def l1_strength(self) -> float:
        """Coefficient ``c1`` of ``c1 ||w||_1`` in ``alpha * R``."""
        if self.name == "l1":
            return self.alpha
        if self.name == "elasticnet":
            return self.alpha * self.l1_ratio
        return 0.0

    def value(self, w: Any) -> float:
        """``alpha * R(w)``."""
        xp = array_namespace(w)
        out = 0.0
        if self.l2_strength:
            out += 0.5 * self.l2_strength * float(xp.sum(w * w))
        if self.l1_strength:
            out += self.l1_strength * float(xp.sum(xp.abs(w)))
        return out

    def smooth_grad(self, w: Any) -> Any:
        """Gradient of the smooth part of ``alpha * R`` (zero for pure l1 and None)."""
        return self.l2_strength * w

    def subgradient(self, w: Any) -> Any:
        """A (sub)gradient of ``alpha * R`` at ``w``: the smooth part plus ``c1 * sign(w)``."""
        g = self.smooth_grad(w)
        if self.l1_strength:
            xp = array_namespace(w)
            g = g + self.l1_strength * xp.sign(w)
        return g

    def prox(self, w: Any, step: Any) -> Any:
        """Proximal operator of ``step * c1 ||.||_1`` (soft thresholding); identity without l1.

        ``step`` may be an array broadcasting against ``w`` (a per-coordinate step, as a
        diagonal preconditioner gives).
        """
        if self.l1_strength == 0.0:
            return w
        thr = step * self.l1_strength
        xp = array_namespace(w)
        return xp.sign(w) * xp.clip(xp.abs(w) - thr, min=0.0)


def get_penalty(name: str | None, alpha: float, l1_ratio: float = 0.15) -> Penalty:
    """Return the :class:`Penalty` called ``name`` with strength ``alpha``."""
    return Penalty(name, float(alpha), float(l1_ratio))
