"""Loss functions of a linear model, as functions of the margin.

Every loss is a value ``loss(y, z)`` and its derivative ``dloss(y, z)`` with respect to the
margin ``z = x . w + b``; for a linear model that is all the arithmetic a gradient step needs
(the gradient of sample ``i`` is ``dloss(y_i, z_i) * [x_i, 1]``). Classification losses take
``y`` in {-1, +1}; regression losses take real ``y``. Both are evaluated elementwise, so a
``(n, K)`` matrix of margins and labels (one-vs-rest with K classes) works as it is.

The one exception is ``"multinomial"``, the softmax cross-entropy of ``K >= 3`` classes (what
``multi_class="multinomial"`` trains): a row's loss couples its K margins. It takes the same
``(n, K)`` +-1 matrix of labels (one +1 per row), puts the row's loss in the column of its class
(so a sum over the matrix is the sum of the rows' losses) and returns the gradient in the margins,
``softmax(z_i) - onehot(y_i)``, a row at a time. Everything the engine sums (the gradient
``X^T D``, the per-sample squared norms ``||D_i||^2 ||xt_i||^2`` of the diversity estimate) is
then the multinomial one unchanged.

The functions are written against the array API namespace of their inputs
(:mod:`array_api_compat`), so the same code runs on numpy and cupy arrays. All of them are
numerically stable for any finite margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from array_api_compat import array_namespace

__all__ = [
    "Loss",
    "get_loss",
    "LOSSES",
    "CLASSIFICATION_LOSSES",
    "REGRESSION_LOSSES",
    "SMOOTHABLE",
]


@dataclass(frozen=True)
class Loss:
    """A loss of the margin, its derivative, and what the step-size rules need to know.

    Parameters
    ----------
    name : str
        The name used by the estimators' ``loss`` parameter.
    epsilon : float
        Width of the insensitive / quadratic zone for the epsilon-insensitive and huber losses;
        ignored by the others.
    smoothing : float
        ``mu > 0`` makes the loss its Moreau envelope of parameter ``mu`` (only for the losses in
        :data:`SMOOTHABLE`): the kink of the hinge at margin 1, or of the epsilon-insensitive
        loss at ``|r| = epsilon``, becomes a quadratic of curvature ``1/mu`` over a band of width
        ``mu``, and ``loss - mu/2 <= smoothed <= loss``. The full-batch phase minimizes it for
        shrinking ``mu`` (:class:`~dasksgd.engine.rules.UpdateRule`).

    Attributes
    ----------
    curvature : float
        An upper bound of ``d^2 loss / dz^2`` (the smoothness of the loss in the margin). For the
        non-smooth losses (hinge, perceptron, epsilon-insensitive) it is 1: not a bound, only the
        scale used to cap the step size.
    smooth : bool
        Whether the loss has a Lipschitz-continuous derivative.
    """

    name: str
    epsilon: float = 0.1
    smoothing: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in LOSSES:
            raise ValueError(f"Unknown loss {self.name!r}; expected one of {sorted(LOSSES)}.")
        if self.smoothing and self.name not in SMOOTHABLE:
            raise ValueError(f"The {self.name} loss has no smoothed version.")

    def smoothed(self, mu: float) -> "Loss":
        """This loss's Moreau envelope of parameter ``mu`` (``mu = 0``: the loss itself)."""
        return Loss(self.name, self.epsilon, float(mu))

    @property
    def exact(self) -> "Loss":
        """The loss without smoothing."""
        return Loss(self.name, self.epsilon) if self.smoothing else self

    @property
    def is_classification(self) -> bool:
        """Whether ``y`` is a +-1 label (True) or a real target (False)."""
        return self.name in CLASSIFICATION_LOSSES or self.name == "multinomial"

    @property
    def curvature(self) -> float:
        return 1.0 / self.smoothing if self.smoothing else _CURVATURE[self.name]

    @property
    def coupled(self) -> bool:
        """Whether a row's outputs share its loss (multinomial), rather than being K independent
        problems (one-vs-rest): a quasi-Newton metric must then not treat them apart."""
        return self.name == "multinomial"

    @property
    def smooth(self) -> bool:
        return bool(self.smoothing) or self.name not in _NON_SMOOTH

    def loss(self, y: Any, z: Any, xp: Any = None) -> Any:
        """Elementwise loss of margin ``z`` for target ``y`` (``xp``: their array namespace,
        when the caller knows it)."""
        xp = array_namespace(y, z) if xp is None else xp
        if self.smoothing:
            return _SMOOTHED[self.name](xp, y, z, self.epsilon, self.smoothing)[0]
        return _VALUE[self.name](xp, y, z, self.epsilon)

    def dloss(self, y: Any, z: Any, xp: Any = None) -> Any:
        """Elementwise derivative of the loss with respect to the margin ``z``."""
        xp = array_namespace(y, z) if xp is None else xp
        if self.smoothing:
            return _SMOOTHED[self.name](xp, y, z, self.epsilon, self.smoothing)[1]
        return _DERIV[self.name](xp, y, z, self.epsilon)

    def to_kink(self, y: Any, z: Any, xp: Any = None) -> tuple[Any, Any, Any]:
        """For a smoothable loss, per margin: how far it lies past the loss's kink into the
        sloped piece (``a``: the smoothed loss is quadratic for ``0 < a < mu``), the margin of
        the kink on that side (``kappa``), and the sloped piece's slope in the margin (``-y``
        for the hinge, ``sign(z - y)`` for the epsilon-insensitive loss), wherever the margin
        lies."""
        xp = array_namespace(y, z) if xp is None else xp
        if self.name == "hinge":
            return 1.0 - y * z, y + 0.0 * z, -y + 0.0 * z
        if self.name == "epsilon_insensitive":
            side = xp.sign(z - y)
            return xp.abs(z - y) - self.epsilon, y + self.epsilon * side, side
        raise ValueError(f"The {self.name} loss has no kink to polish at.")

    def value_and_deriv(self, y: Any, z: Any, xp: Any = None) -> tuple[Any, Any]:
        """``(loss(y, z), dloss(y, z))``, sharing the work the two have in common.

        Equal, bit for bit, to calling :meth:`loss` and :meth:`dloss`.
        """
        xp = array_namespace(y, z) if xp is None else xp
        if self.smoothing:
            return _SMOOTHED[self.name](xp, y, z, self.epsilon, self.smoothing)
        both = _BOTH.get(self.name)
        if both is not None:
            return both(xp, y, z, self.epsilon)
        return _VALUE[self.name](xp, y, z, self.epsilon), _DERIV[self.name](xp, y, z, self.epsilon)


def get_loss(name: str, epsilon: float = 0.1) -> Loss:
    """Return the :class:`Loss` called ``name`` (see :data:`LOSSES`)."""
    return Loss(name, float(epsilon))


# --- classification ----------------------------------------------------------------------


def _log_value(xp, y, z, eps):
    # log(1 + exp(-u)) = max(-u, 0) + log1p(exp(-|u|)): no overflow for any u.
    u = y * z
    return xp.where(u > 0, 0.0 * u, -u) + xp.log1p(xp.exp(-xp.abs(u)))


def _log_deriv(xp, y, z, eps):
    # d/dz = -y * sigmoid(-u); exp(-|u|) never overflows.
    u = y * z
    e = xp.exp(-xp.abs(u))
    return -y * xp.where(u >= 0, e / (1.0 + e), 1.0 / (1.0 + e))


def _log_both(xp, y, z, eps):
    # The two above with one exponential (the costliest part of a pass's elementwise work).
    u = y * z
    e = xp.exp(-xp.abs(u))
    value = xp.where(u > 0, 0.0 * u, -u) + xp.log1p(e)
    return value, -y * xp.where(u >= 0, e / (1.0 + e), 1.0 / (1.0 + e))


def _hinge_value(xp, y, z, eps, threshold=1.0):
    return xp.where(threshold - y * z > 0, threshold - y * z, 0.0 * z)


def _hinge_deriv(xp, y, z, eps, threshold=1.0):
    return xp.where(y * z <= threshold, -y, 0.0 * y)


def _perceptron_value(xp, y, z, eps):
    return _hinge_value(xp, y, z, eps, threshold=0.0)


def _perceptron_deriv(xp, y, z, eps):
    return _hinge_deriv(xp, y, z, eps, threshold=0.0)


def _sq_hinge_value(xp, y, z, eps):
    r = _hinge_value(xp, y, z, eps)
    return r * r


def _sq_hinge_deriv(xp, y, z, eps):
    return -2.0 * y * _hinge_value(xp, y, z, eps)


def _mod_huber_value(xp, y, z, eps):
    u = y * z
    quad = (1.0 - u) * (1.0 - u)
    return xp.where(u >= 1.0, 0.0 * u, xp.where(u >= -1.0, quad, -4.0 * u))


def _mod_huber_deriv(xp, y, z, eps):
    u = y * z
    return xp.where(u >= 1.0, 0.0 * u, xp.where(u >= -1.0, -2.0 * (1.0 - u) * y, -4.0 * y))


def _huberized(xp, a, mu):
    """The Moreau envelope of ``max(a, 0)`` of parameter ``mu`` and its derivative in ``a``:
    0 below 0, ``a^2 / (2 mu)`` on ``[0, mu]``, ``a - mu/2`` above."""
    c = xp.clip(a, min=0.0, max=mu)
    return c * (a - 0.5 * c) / mu, c / mu


def _smooth_hinge(xp, y, z, eps, mu):
    value, slope = _huberized(xp, 1.0 - y * z, mu)
    return value, -y * slope


def _smooth_eps(xp, y, z, eps, mu):
    r = z - y
    value, slope = _huberized(xp, xp.abs(r) - eps, mu)
    return value, xp.sign(r) * slope


def _softmax_both(xp, y, z, eps):
    """Softmax cross-entropy of each row of margins ``z`` (``(n, K)``, ``K >= 2``) for the class
    marked +1 in ``y``, placed in that class's column, and its gradient ``softmax(z) - onehot``.
    A 1-D ``z`` (a single output, as the "optimal" schedule's probe asks) is the binary logistic
    loss."""
    if z.ndim == 1 or z.shape[-1] == 1:
        return _log_both(xp, y, z, eps)
    m = xp.max(z, axis=1, keepdims=True)  # shifted: exp never overflows
    e = xp.exp(z - m)
    s = xp.sum(e, axis=1, keepdims=True)
    onehot = xp.astype(y > 0, z.dtype)
    return onehot * (m + xp.log(s) - z), e / s - onehot


def _softmax_value(xp, y, z, eps):
    return _softmax_both(xp, y, z, eps)[0]


def _softmax_deriv(xp, y, z, eps):
    return _softmax_both(xp, y, z, eps)[1]


# --- regression --------------------------------------------------------------------------


def _sq_value(xp, y, z, eps):
    r = z - y
    return 0.5 * r * r


def _sq_deriv(xp, y, z, eps):
    return z - y


def _huber_value(xp, y, z, eps):
    r = xp.abs(z - y)
    return xp.where(r <= eps, 0.5 * r * r, eps * r - 0.5 * eps * eps)


def _huber_deriv(xp, y, z, eps):
    return xp.clip(z - y, min=-eps, max=eps)


def _eps_value(xp, y, z, eps):
    r = xp.abs(z - y) - eps
    return xp.where(r > 0, r, 0.0 * r)


def _eps_deriv(xp, y, z, eps):
    r = z - y
    return xp.where(xp.abs(r) > eps, xp.sign(r), 0.0 * r)


def _sq_eps_value(xp, y, z, eps):
    r = _eps_value(xp, y, z, eps)
    return r * r


def _sq_eps_deriv(xp, y, z, eps):
    return 2.0 * xp.sign(z - y) * _eps_value(xp, y, z, eps)


_VALUE = {
    "log_loss": _log_value,
    "hinge": _hinge_value,
    "perceptron": _perceptron_value,
    "squared_hinge": _sq_hinge_value,
    "modified_huber": _mod_huber_value,
    "multinomial": _softmax_value,
    "squared_error": _sq_value,
    "huber": _huber_value,
    "epsilon_insensitive": _eps_value,
    "squared_epsilon_insensitive": _sq_eps_value,
}
_DERIV = {
    "log_loss": _log_deriv,
    "hinge": _hinge_deriv,
    "perceptron": _perceptron_deriv,
    "squared_hinge": _sq_hinge_deriv,
    "modified_huber": _mod_huber_deriv,
    "multinomial": _softmax_deriv,
    "squared_error": _sq_deriv,
    "huber": _huber_deriv,
    "epsilon_insensitive": _eps_deriv,
    "squared_epsilon_insensitive": _sq_eps_deriv,
}
_BOTH = {"log_loss": _log_both, "multinomial": _softmax_both}
_CURVATURE = {
    "log_loss": 0.25,
    "hinge": 1.0,
    "perceptron": 1.0,
    "squared_hinge": 2.0,
    "modified_huber": 2.0,
    # The Hessian of a row's softmax loss in its margins, diag(p) - p p^T, has eigenvalues at
    # most 1/2 (Boehning, 1992).
    "multinomial": 0.5,
    "squared_error": 1.0,
    "huber": 1.0,
    "epsilon_insensitive": 1.0,
    "squared_epsilon_insensitive": 2.0,
}
_NON_SMOOTH = frozenset({"hinge", "perceptron", "epsilon_insensitive"})
_SMOOTHED = {"hinge": _smooth_hinge, "epsilon_insensitive": _smooth_eps}

#: The non-smooth losses whose full-batch phase minimizes a smoothed loss down to the loss's own
#: optimum. Not the perceptron: its objective's minimum is the zero model (any ``w`` scaled
#: down only lowers it), so only its stochastic steps are of use.
SMOOTHABLE = frozenset(_SMOOTHED)

#: Names of all losses (with "multinomial", which the estimators reach through ``multi_class``).
LOSSES = frozenset(_VALUE)
#: Losses of a +-1 label, the values of :class:`~dasksgd.SGDClassifier`'s ``loss``.
CLASSIFICATION_LOSSES = frozenset(
    {"log_loss", "hinge", "perceptron", "squared_hinge", "modified_huber"}
)
#: Losses of a real target, used by :class:`~dasksgd.SGDRegressor`. scikit-learn's
#: SGDClassifier also accepts them (regression on +-1 labels); so does ours.
REGRESSION_LOSSES = LOSSES - CLASSIFICATION_LOSSES - {"multinomial"}
