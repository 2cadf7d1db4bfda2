"""What a shard returns for a step: an associative record of gradient statistics.

For the rows ``i`` of a (piece of a) batch, with margins ``Z = X W + b`` (``W`` is ``(d, K)``),
``D = s * dloss(Y, Z)`` (``s`` the sample weights) and ``xt_i = [x_i, 1]``:

==============  =========================================  ==============
field           value                                      shape
==============  =========================================  ==============
count           number of rows                             scalar
loss            ``sum_i s_i loss(y_i, z_i)``               scalar
grad_coef       ``sum_i x_i D_i``                           ``(d, K)``
grad_intercept  ``sum_i D_i``                               ``(K,)``
sqnorm          ``sum_i ||D_i||^2 ||xt_i||^2``              scalar
==============  =========================================  ==============

``sqnorm`` is the sum over the rows of the squared norms of the per-sample *loss* gradients,
obtained without forming them (``||D_i xt_i^T||_F^2 = ||D_i||^2 ||xt_i||^2``); with the penalty
gradient ``p`` the full per-sample squared norm adds ``2 <x_i D_i, p> + ||p||^2``, whose sum over
rows follows from ``grad_coef`` alone. Every field is a sum, so :meth:`GradStats.__add__` is
associative and the same record serves the tree reduce, the in-process path and the gradient
diversity estimate. A new statistic is one more field.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from .losses import Loss

__all__ = ["GradStats", "Maximum", "gradient_statistics", "margins", "row_sq_norms", "is_sparse"]


@dataclass(frozen=True)
class GradStats:
    """Sums of gradient statistics over a set of rows; ``a + b`` combines two disjoint sets.

    Attributes
    ----------
    count : float
        Number of rows.
    loss : float
        Weighted sum of the loss over the rows (all K outputs).
    grad_coef : ndarray of shape (d, K)
        Sum of the per-sample loss gradients with respect to the coefficients.
    grad_intercept : ndarray of shape (K,)
        Sum of the per-sample loss gradients with respect to the intercepts.
    sqnorm : float
        Sum of the squared norms of the per-sample loss gradients (coefficients and intercept).
    """

    count: float
    loss: float
    grad_coef: Any
    grad_intercept: Any
    sqnorm: float

    def __add__(self, other: "GradStats") -> "GradStats":
        if not isinstance(other, GradStats):
            return NotImplemented
        return GradStats(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    @classmethod
    def zeros(cls, n_features: int, n_outputs: int) -> "GradStats":
        """The neutral element for ``n_features`` coefficients and ``n_outputs`` outputs."""
        return cls(
            count=0.0,
            loss=0.0,
            grad_coef=np.zeros((n_features, n_outputs)),
            grad_intercept=np.zeros(n_outputs),
            sqnorm=0.0,
        )

    def to_numpy(self) -> "GradStats":
        """The same record with float64 numpy arrays and Python floats (device to host)."""
        return GradStats(
            count=float(self.count),
            loss=float(self.loss),
            grad_coef=_to_numpy(self.grad_coef),
            grad_intercept=_to_numpy(self.grad_intercept),
            sqnorm=float(self.sqnorm),
        )


@dataclass(frozen=True)
class Maximum:
    """A value whose ``+`` is the maximum, so that a largest value goes through the same
    associative reduce as the sums."""

    value: float

    def __add__(self, other: "Maximum") -> "Maximum":
        if not isinstance(other, Maximum):
            return NotImplemented
        return Maximum(max(self.value, other.value))


def _to_numpy(a: Any) -> np.ndarray:
    if hasattr(a, "get"):  # cupy
        a = a.get()
    return np.asarray(a, dtype=np.float64)


def is_sparse(X: Any) -> bool:
    """Whether ``X`` is a scipy (or cupyx) sparse matrix or array."""
    return hasattr(X, "tocsr") and hasattr(X, "nnz")


def row_sq_norms(X: Any, inv_scale2: Any = None, mean: Any = None, block: int = 65536) -> Any:
    """Squared Euclidean norm of every row of ``X`` (dense or sparse CSR).

    With ``inv_scale2`` and ``mean`` (shape ``(d,)``), the norm of the row in the coordinates
    ``(x_j - mean_j) / scale_j``. Sparse input is never densified (the shift is expanded);
    dense input is processed in blocks of rows so that no temporary the size of ``X`` is made.
    """
    if is_sparse(X):
        xp = array_namespace(X.data)
        if inv_scale2 is None:
            out = X.multiply(X).sum(axis=1)
        else:
            out = X.multiply(X) @ inv_scale2
            if mean is not None:
                out = out - 2.0 * (X @ (mean * inv_scale2)) + float(np.sum(mean * mean * inv_scale2))
        return xp.reshape(xp.asarray(out), (-1,))
    if isinstance(X, np.ndarray):
        return _row_sq_norms_numpy(X, inv_scale2, mean, block)
    xp = array_namespace(X)
    parts = []
    if inv_scale2 is not None:
        inv_scale2 = xp.asarray(inv_scale2, dtype=X.dtype)
        mean = None if mean is None else xp.asarray(mean, dtype=X.dtype)
    for a in range(0, X.shape[0], block):
        Xb = X[a : a + block]
        if mean is not None:
            Xb = Xb - mean
        sq = Xb * Xb
        parts.append(xp.sum(sq, axis=1) if inv_scale2 is None else sq @ inv_scale2)
    if not parts:
        return xp.zeros(0, dtype=X.dtype)
    return parts[0] if len(parts) == 1 else xp.concat(parts)


def _row_sq_norms_numpy(X: np.ndarray, inv_scale2: Any, mean: Any, block: int) -> np.ndarray:
    """numpy fast path: one read of X, through a cache-sized buffer, no temporary of X's size."""
    if inv_scale2 is None:
        return np.einsum("ij,ij->i", X, X)
    out = np.empty(X.shape[0], dtype=X.dtype)
    sinv = np.sqrt(np.asarray(inv_scale2, dtype=X.dtype))
    shift = None if mean is None else np.asarray(mean, dtype=X.dtype)
    rows = max(1, min(block, (1 << 21) // max(X[:1].nbytes, 1)))
    buf = np.empty((rows, X.shape[1]), dtype=X.dtype)
    for a in range(0, X.shape[0], rows):
        b = min(a + rows, X.shape[0])
        t = buf[: b - a]
        if shift is None:
            np.multiply(X[a:b], sinv, out=t)
        else:
            np.subtract(X[a:b], shift, out=t)
            t *= sinv
        out[a:b] = np.einsum("ij,ij->i", t, t)
    return out


def margins(X: Any, coef: Any, intercept: Any) -> Any:
    """``X @ coef + intercept`` of shape ``(n, K)`` for ``coef`` of shape ``(d, K)``."""
    return X @ coef + intercept


def gradient_statistics(
    X: Any,
    Y: Any,
    coef: Any,
    intercept: Any,
    loss: Loss,
    *,
    sample_weight: Any = None,
    row_norms: Any = None,
    fit_intercept: bool = True,
) -> GradStats:
    """Gradient statistics of the rows of ``X`` at the model ``(coef, intercept)``.

    Parameters
    ----------
    X : array or sparse matrix of shape (n, d)
        The rows.
    Y : array of shape (n, K)
        Targets as the loss sees them (+-1 per class for classification).
    coef : array of shape (d, K)
        Coefficients, in the dtype and namespace of ``X``.
    intercept : array of shape (K,)
        Intercepts.
    loss : Loss
        The loss of the margin.
    sample_weight : array of shape (n,), optional
        Per-row weights multiplying the loss.
    row_norms : array of shape (n,), optional
        ``||x_i||^2`` for every row, computed once per shard; needed for ``sqnorm``
        (``sqnorm`` is NaN without it).
    fit_intercept : bool
        Whether ``xt_i`` carries the constant 1 (it counts in ``sqnorm``).

    Returns
    -------
    GradStats
    """
    Z = margins(X, coef, intercept)
    xp = array_namespace(Z)
    D = loss.dloss(Y, Z)
    L = loss.loss(Y, Z)
    if sample_weight is not None:
        w = xp.reshape(sample_weight, (-1, 1))
        D = D * w
        L = L * w
    grad_coef = X.T @ D
    if row_norms is None:
        sqnorm = float("nan")
    else:
        d2 = xp.sum(D * D, axis=1)
        sqnorm = xp.sum((row_norms + (1.0 if fit_intercept else 0.0)) * d2)
    return GradStats(
        count=float(Z.shape[0]),
        loss=xp.sum(L),
        grad_coef=grad_coef,
        grad_intercept=xp.sum(D, axis=0),
        sqnorm=sqnorm,
    ).to_numpy()
