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
probe_loss      ``sum_i s_i loss(y_i, z'_i)`` at a second  scalar
                model (the probe), 0 without one
==============  =========================================  ==============

``sqnorm`` is the sum over the rows of the squared norms of the per-sample *loss* gradients,
obtained without forming them (``||D_i xt_i^T||_F^2 = ||D_i||^2 ||xt_i||^2``); with the penalty
gradient ``p`` the full per-sample squared norm adds ``2 <x_i D_i, p> + ||p||^2``, whose sum over
rows follows from ``grad_coef`` alone. Every field is a sum, so :meth:`GradStats.__add__` is
associative and the same record serves the tree reduce, the in-process path and the gradient
diversity estimate. A new statistic is one more field.

The probe lets a step also report the objective of another model in the same pass over the
rows (the loop asks for the loss of the last epoch's model with the next full-batch step,
instead of a pass of its own): its margins come from the same product, one more column of
``W``. Dense numpy rows are processed in cache-sized blocks, so that both products (margins,
then gradient) read each block from memory once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from .arrays import is_sparse, row_slice, to_like, to_numpy
from .losses import Loss

__all__ = [
    "GradStats",
    "ScaleStats",
    "gradient_statistics",
    "loss_sum",
    "margins",
    "row_sq_norms",
    "scaled_norms",
    "is_sparse",
]


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
    probe_loss : float
        Weighted sum of the loss at the probe model, when one was given (else 0).
    smooth_loss : float
        With a smoothed loss (``Loss.smoothing > 0``), the weighted sum of the smoothed loss, the
        function the gradient is of (``loss`` stays the exact loss's sum); else ``loss``.
    """

    count: float
    loss: float
    grad_coef: Any
    grad_intercept: Any
    sqnorm: float
    probe_loss: float = 0.0
    smooth_loss: float = 0.0

    def __add__(self, other: "GradStats") -> "GradStats":
        if not isinstance(other, GradStats):
            return NotImplemented
        # Field by field, not through dataclasses.fields(): the client adds one record per
        # shard every step, and that introspection showed in its profile.
        return GradStats(
            self.count + other.count,
            self.loss + other.loss,
            self.grad_coef + other.grad_coef,
            self.grad_intercept + other.grad_intercept,
            self.sqnorm + other.sqnorm,
            self.probe_loss + other.probe_loss,
            self.smooth_loss + other.smooth_loss,
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
            grad_coef=to_numpy(self.grad_coef),
            grad_intercept=to_numpy(self.grad_intercept),
            sqnorm=float(self.sqnorm),
            probe_loss=float(self.probe_loss),
            smooth_loss=float(self.smooth_loss),
        )


@dataclass(frozen=True)
class ScaleStats:
    """What the rows measure in the optimizer's coordinates ``t = (x - mean) / scale``: the
    largest squared row norm (``+`` keeps the maximum) and, per column, the sum of ``t^2`` over
    ``count`` rows (``+`` adds). ``sq_sums / count`` is about 1 per column when the scaling fits
    the rows; far from 1, the scaling came from rows that do not represent them."""

    largest: float
    sq_sums: np.ndarray
    count: float

    def __add__(self, other: "ScaleStats") -> "ScaleStats":
        if not isinstance(other, ScaleStats):
            return NotImplemented
        return ScaleStats(
            max(self.largest, other.largest), self.sq_sums + other.sq_sums, self.count + other.count
        )


def row_sq_norms(X: Any, inv_scale2: Any = None, mean: Any = None, block: int = 65536) -> Any:
    """Squared Euclidean norm of every row of ``X`` (dense or sparse CSR).

    With ``inv_scale2`` and ``mean`` (shape ``(d,)``), the norm of the row in the coordinates
    ``(x_j - mean_j) / scale_j`` (see :func:`scaled_norms`).
    """
    if inv_scale2 is not None:
        return scaled_norms(X, inv_scale2, mean, block)[0]
    if is_sparse(X):
        xp = array_namespace(X.data)
        return xp.reshape(xp.asarray(X.multiply(X).sum(axis=1)), (-1,))
    if isinstance(X, np.ndarray):
        return np.einsum("ij,ij->i", X, X)
    xp = array_namespace(X)
    return xp.sum(X * X, axis=1)


def scaled_norms(
    X: Any,
    inv_scale2: Any,
    mean: Any = None,
    block: int = 65536,
    columns: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[Any, np.ndarray]:
    """Squared norm of every row of ``X`` in the coordinates ``t = (x - mean) / scale`` (``mean``
    None: no shift), and the column sums of ``t^2`` (float64, on the host), from one read of
    ``X``.

    Sparse input is never densified (the shift is expanded), and its sums of ``t^2`` follow from
    the raw column sums and sums of squares: ``columns`` when the caller has them already.
    Dense input is processed in blocks of rows so that no temporary the size of ``X`` is made.
    """
    inv2 = np.asarray(inv_scale2, dtype=np.float64)
    if is_sparse(X):
        xp = array_namespace(X.data)
        sq = X.multiply(X)
        out = sq @ to_like(inv2, X)
        col_x, col = (None, to_numpy(sq.sum(axis=0)).ravel()) if columns is None else columns
        if mean is not None:
            m = np.asarray(mean, dtype=np.float64)
            col_x = to_numpy(X.sum(axis=0)).ravel() if col_x is None else col_x
            out = out - 2.0 * (X @ to_like(m * inv2, X)) + float(np.sum(m * m * inv2))
            col = col - 2.0 * m * col_x + X.shape[0] * m * m
        return xp.reshape(xp.asarray(out), (-1,)), col * inv2
    if isinstance(X, np.ndarray):
        return _scaled_norms_numpy(X, inv2, mean, block)
    xp = array_namespace(X)
    parts, col = [], np.zeros(X.shape[1])
    inv = to_like(inv2, X)
    shift = None if mean is None else to_like(mean, X)
    for a in range(0, X.shape[0], block):
        Xb = row_slice(X, a, a + block)
        if shift is not None:
            Xb = Xb - shift
        sq = Xb * Xb * inv
        parts.append(xp.sum(sq, axis=1))
        col += to_numpy(xp.sum(sq, axis=0))
    if not parts:
        return xp.zeros(0, dtype=X.dtype), col
    return (parts[0] if len(parts) == 1 else xp.concat(parts)), col


#: Bytes of X per block of the row-norm pass: the shifted, scaled copy of a block is read
#: twice (row sums and column sums of its squares) while it is in the core's cache.
NORM_BLOCK_BYTES = 1 << 19


def _scaled_norms_numpy(
    X: np.ndarray, inv2: np.ndarray, mean: Any, block: int
) -> tuple[np.ndarray, np.ndarray]:
    """numpy fast path: one read of X, through a cache-sized buffer, no temporary of X's size."""
    out = np.empty(X.shape[0], dtype=X.dtype)
    col = np.zeros(X.shape[1])
    sinv = np.sqrt(inv2).astype(X.dtype)
    shift = None if mean is None else np.asarray(mean, dtype=X.dtype)
    rows = max(1, min(block, NORM_BLOCK_BYTES // max(X[:1].nbytes, 1)))
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
        col += np.einsum("ij,ij->j", t, t)
    return out, col


def margins(X: Any, coef: Any, intercept: Any) -> Any:
    """``X @ coef + intercept`` of shape ``(n, K)`` for ``coef`` of shape ``(d, K)``."""
    return X @ coef + intercept


#: Bytes of X per block of the dense numpy kernel: the block stays in the core's cache between
#: the margin product and the gradient product, so a pass reads X from memory once
#: (``benchmarks/kernel.py`` and ``benchmarks/throughput.py`` time the pass).
BLOCK_BYTES = 1 << 20


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
    probe: tuple[Any, Any] | None = None,
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
    probe : (coef, intercept), optional
        A second model, like the first; its weighted loss sum is ``probe_loss``.

    Returns
    -------
    GradStats
    """
    # plain numpy for numpy models: the same functions without the compat layer's wrappers
    xp = np if isinstance(coef, np.ndarray) else array_namespace(coef)
    blocks = _row_blocks(X)
    if blocks is None:
        return GradStats(
            float(X.shape[0]),
            *_sums(X, Y, coef, intercept, loss, sample_weight, row_norms, fit_intercept, probe, xp),
        ).to_numpy()
    total = None
    for sl in blocks:
        part = _sums(
            X[sl],
            Y[sl],
            coef,
            intercept,
            loss,
            None if sample_weight is None else sample_weight[sl],
            None if row_norms is None else row_norms[sl],
            fit_intercept,
            probe,
            xp,
        )
        if total is None:  # float64 accumulators: float32 blocks add up without drift
            total = [np.asarray(v, dtype=np.float64) for v in part]
        else:
            for acc, v in zip(total, part):
                acc += v
    return GradStats(float(X.shape[0]), *total).to_numpy()


def loss_sum(
    X: Any, Y: Any, coef: Any, intercept: Any, loss: Loss, *, sample_weight: Any = None
) -> float:
    """``sum_i s_i loss(y_i, x_i W + b)`` (all outputs), without the gradient's second product;
    dense numpy rows in cache-sized blocks, accumulated in float64."""
    blocks = _row_blocks(X)
    pieces = (
        [(X, Y, sample_weight)]
        if blocks is None
        else [(X[sl], Y[sl], None if sample_weight is None else sample_weight[sl]) for sl in blocks]
    )
    total = 0.0
    for Xb, Yb, sw in pieces:
        L = loss.loss(Yb, margins(Xb, coef, intercept))
        xp = array_namespace(L)
        if sw is not None:
            L = L * xp.reshape(sw, (-1, 1))
        total += float(xp.sum(L))
    return total


def _row_blocks(X: Any) -> list[slice] | None:
    """Row slices of ``BLOCK_BYTES`` for a dense numpy ``X``; None to take ``X`` whole (small
    arrays, and sparse or device arrays, where a slice would copy and gain nothing)."""
    n = X.shape[0]
    width = X[:1].nbytes if isinstance(X, np.ndarray) else 0
    if not width or n * width <= 2 * BLOCK_BYTES:
        return None
    rows = max(1, BLOCK_BYTES // width)
    return [slice(a, a + rows) for a in range(0, n, rows)]


def _sums(X, Y, coef, intercept, loss, sample_weight, row_norms, fit_intercept, probe, xp):
    """``(loss, grad_coef, grad_intercept, sqnorm, probe_loss, smooth_loss)`` of the rows of
    ``X``."""
    Z = X @ coef + intercept
    L, D = loss.value_and_deriv(Y, Z, xp=xp)
    # A smoothed loss: L is its value; the exact loss is what every figure reports.
    Ls, L = (L, loss.exact.loss(Y, Z, xp=xp)) if loss.smoothing else (None, L)
    # The probe's margins in a product of their own: with the block in cache it costs little,
    # and BLAS's matrix-vector kernel is faster here than a matrix product with 2 columns.
    Lp = None if probe is None else loss.exact.loss(Y, X @ probe[0] + probe[1], xp=xp)
    if sample_weight is not None:
        w = xp.reshape(sample_weight, (-1, 1))
        D = D * w
        L = L * w
        Lp = None if Lp is None else Lp * w
        Ls = None if Ls is None else Ls * w
    probe_loss = 0.0 if Lp is None else xp.sum(Lp)
    total = xp.sum(L)
    smooth_loss = total if Ls is None else xp.sum(Ls)
    grad_coef = X.T @ D
    if row_norms is None:
        sqnorm = float("nan")
    else:
        sqnorm = xp.sum((row_norms + (1.0 if fit_intercept else 0.0)) * xp.sum(D * D, axis=1))
    return total, grad_coef, xp.sum(D, axis=0), sqnorm, probe_loss, smooth_loss
