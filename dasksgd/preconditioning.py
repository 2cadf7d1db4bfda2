"""A diagonal preconditioner with implicit centering: SGD on standardized features, for free.

The optimizer works in the coordinates of standardized features ``xt = (x - mu) / s`` and the
model ``(wt, bt)`` there, while the data stay as they are (sparse stays sparse) and the model
kept and reported is the one of the original features::

    w = wt / s,        b = bt - mu . w

so ``x . w + b = xt . wt + bt`` for every row. The gradient in the new coordinates follows from
the sums the shards already return (``sum_i D_i x_i`` and ``sum_i D_i``)::

    grad_wt = (grad_w - mu grad_b) / s,        grad_bt = grad_b

This changes the path, not the optimum: the penalty is still that of ``w``
(``alpha/2 ||w||^2 = alpha/2 sum_j wt_j^2 / s_j^2``, a diagonal of its own), and the intercept
stays unpenalized. It is the linear-model analogue of LARS's per-layer rates: on data whose
features differ by orders of magnitude it shrinks the smoothness constant ``L`` by as much
(DESIGN.md: from 79 to 0.65 on a 2M x 100 problem). Without an intercept there is nothing to
absorb the shift, and only the scale is used.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from .penalties import Penalty

__all__ = ["ColumnMoments", "HessianBound", "Preconditioner", "fingerprint"]


def fingerprint(n: int, *arrays: np.ndarray) -> str:
    """A name for a set of rows: their count and a digest of what was measured on them."""
    digest = hashlib.blake2b(digest_size=16)
    for a in arrays:
        digest.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return f"{n}:{digest.hexdigest()}"


@dataclass(frozen=True)
class ColumnMoments:
    """Column sums and sums of squares over the rows of a stream seen so far.

    ``partial_fit`` scales the features by the moments of every row it was given, not of the
    last chunk alone: a chunk's own means would hide from the coefficients what differs between
    chunks (rows sorted by a feature or by the target), and its spread would change the scaling
    of every call.

    Attributes
    ----------
    sums, sq_sums : ndarray of shape (d,)
        Per-column sums of ``x`` and of ``x**2``.
    count : float
        Rows summed.
    rows : str
        The :func:`fingerprint` of the rows added last: the same rows given again (several
        epochs over one chunk) are not counted twice in a row, so that the scaling, and with it
        the fit, stays that of those rows.
    """

    sums: np.ndarray
    sq_sums: np.ndarray
    count: float
    rows: str = ""

    def add(self, other: "ColumnMoments") -> "ColumnMoments":
        """These moments and ``other``'s (unchanged when ``other`` holds the rows added last)."""
        if other.rows and other.rows == self.rows:
            return self
        return ColumnMoments(
            self.sums + other.sums,
            self.sq_sums + other.sq_sums,
            self.count + other.count,
            other.rows,
        )

    def preconditioner(self, *, center: bool, ridge: float = 0.0) -> "Preconditioner":
        """The scaling of these rows (see :meth:`Preconditioner.from_sums`)."""
        return Preconditioner.from_sums(
            self.sums, self.sq_sums, self.count, center=center, ridge=ridge
        )


@dataclass(frozen=True)
class Preconditioner:
    """Per-feature shift ``mu`` and scale ``s`` of the optimizer's coordinates.

    Attributes
    ----------
    mean : ndarray of shape (d,)
        Column means (zeros when not centering).
    scale : ndarray of shape (d,)
        Column standard deviations (root mean squares when not centering); 1 for constant
        columns.
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def identity(cls, n_features: int) -> "Preconditioner":
        return cls(np.zeros(n_features), np.ones(n_features))

    @classmethod
    def from_sums(
        cls,
        sums: np.ndarray,
        sq_sums: np.ndarray,
        count: float,
        *,
        center: bool,
        ridge: float = 0.0,
    ) -> "Preconditioner":
        """From column sums and sums of squares over ``count`` rows.

        ``scale_j = sqrt(var_j + ridge)``: with ``ridge = c2 / curvature`` (the l2 strength over
        the loss's curvature bound) this is the square root of the diagonal of the Hessian bound,
        ``curvature * var_j + c2`` (a Jacobi preconditioner), so that neither the data nor the
        penalty of a feature with a tiny spread makes the problem stiff.
        """
        count = max(float(count), 1.0)
        with np.errstate(over="ignore", invalid="ignore"):  # overflowing sums: scale 1, below
            mean = sums / count if center else np.zeros_like(sums)
            var = np.maximum(sq_sums / count - mean**2, 0.0)
            scale = np.sqrt(var + ridge)
        # Constant (or empty) columns: nothing to scale. Tiny spreads relative to the mean stay
        # unscaled too, where the subtraction above lost all precision.
        ok = np.isfinite(scale) & (scale > 1e-12 * np.maximum(np.abs(mean), 1.0)) & (var > 0)
        return cls(mean, np.where(ok, scale, 1.0))

    def fits(
        self, sq_sums: np.ndarray, count: float, ridge: float = 0.0, factor: float = 4.0
    ) -> bool:
        """Whether this scaling (taken from a sample of the rows) fits rows whose coordinates
        ``t = (x - mean) / scale`` have the column sums of squares ``sq_sums`` over ``count``.

        ``m_j = mean(t_j^2)`` is ``(var_j + shift_j^2) / scale_j^2`` for the rows' own variance
        and the error of the sample's mean. It does not fit when ``m_j > factor`` (the sample
        saw too little of the column's spread: a rare feature, an outlier, or a mean off by
        more than two scales), or when even ``m_j scale_j^2 + ridge``, which bounds the rows'
        own ``scale_j^2``, is under ``scale_j^2 / factor`` (the sample saw too much of it).
        Columns constant in the rows (``m_j`` zero to the rounding of the mean) fit any scale.
        """
        if not np.all(np.isfinite(sq_sums)):
            return False
        m = sq_sums / max(float(count), 1.0)
        s2 = self.scale**2
        constant = m * s2 <= (1e-12 * np.maximum(np.abs(self.mean), 1.0)) ** 2
        off = (m > factor) | (m * s2 + ridge < s2 / factor)
        return not bool(np.any(off & ~constant))

    @property
    def inv_scale2(self) -> np.ndarray:
        return 1.0 / self.scale**2

    # -- moving between the coordinates -------------------------------------------------

    def raw_direction(self, v: np.ndarray, fit_intercept: bool) -> np.ndarray:
        """The raw-space ``[w, b]`` whose margins equal those of ``v = [wt, bt]`` (no data)."""
        d = self.scale.shape[0]
        w = v[:d] / self.scale
        if not fit_intercept:
            return w
        return np.concatenate([w, [v[d] - float(self.mean @ w)]])

    def direction_matrix(self, fit_intercept: bool) -> np.ndarray:
        """``A``: the raw-space model of the optimizer's ``v`` is ``A v`` (:meth:`raw_direction`
        as a matrix); a raw Gram matrix ``G`` of ``[x, 1]`` is ``A' G A`` in these coordinates."""
        k = self.scale.shape[0] + int(fit_intercept)
        return np.column_stack([self.raw_direction(e, fit_intercept) for e in np.eye(k)])

    def gram_from_raw(self, out: np.ndarray, fit_intercept: bool) -> np.ndarray:
        """``[Xt' u, 1' u]`` from the raw ``[X' u, 1' u]`` of a gram-vector product."""
        d = self.scale.shape[0]
        g = out[:d]
        if fit_intercept:
            g = g - self.mean * out[d]
        g = g / self.scale
        return np.concatenate([g, out[d:]]) if fit_intercept else g

    def gradient(self, grad_coef: np.ndarray, grad_intercept: np.ndarray) -> np.ndarray:
        """Coefficient block of a gradient in the optimizer's coordinates (intercept unchanged)."""
        return (grad_coef - self.mean[:, None] * grad_intercept[None, :]) / self.scale[:, None]

    def metric(self, a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
        """Inner product of two model differences ``(coef, intercept)`` in the optimizer's
        coordinates (``wt = s w``, ``bt = b + mu . w``)."""
        s2 = (self.scale**2)[:, None]
        out = float(np.sum(s2 * a[0] * b[0]))
        return out + float(np.sum((a[1] + self.mean @ a[0]) * (b[1] + self.mean @ b[0])))

    # -- the update ---------------------------------------------------------------------

    def step(
        self,
        coef: np.ndarray,
        intercept: np.ndarray,
        grad_coef: np.ndarray,
        grad_intercept: np.ndarray,
        eta: float | np.ndarray,
        penalty: Penalty,
        fit_intercept: bool,
        eta_intercept: float | np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One proximal gradient step of size ``eta`` in the optimizer's coordinates.

        ``grad_coef`` / ``grad_intercept`` are the mean loss gradients in the original
        coordinates; the smooth penalty's gradient is added here and the l1 part applied by its
        prox. ``eta`` may be one size per output (shape ``(K,)``), and the intercepts' step
        ``eta_intercept`` another (default: ``eta``). Returns the new ``(coef, intercept)`` in
        the original coordinates.
        """
        eta_b = eta if eta_intercept is None else eta_intercept
        inv2 = self.inv_scale2[:, None]
        g = grad_coef + penalty.smooth_grad(coef)
        if fit_intercept:
            g = g - self.mean[:, None] * grad_intercept[None, :]
        new = penalty.prox(coef - eta * inv2 * g, eta * inv2)
        if not fit_intercept:
            return new, intercept
        # bt moves by -eta * grad_b; b = bt - mu . w follows the change of w.
        new_b = intercept - eta_b * grad_intercept + self.mean @ (coef - new)
        return new, new_b


@dataclass(frozen=True)
class HessianBound:
    """The curvature bound of a linear model's objective, factored: a metric for quasi-Newton.

    For a loss whose second derivative is at most ``c`` (1/4 for the logistic loss, 1 for the
    squared error) the Hessian of ``sum_i w_i loss(x_i . w + b) / n + l2/2 ||w||^2`` is at most
    ``M = c Xt' W Xt / n + l2 diag(1, ..., 1, 0)`` everywhere (``Xt = [X, 1]``): the step
    ``-M^{-1} g`` minimizes a quadratic that lies above the objective, so it always descends
    (Boehning & Lindsay, 1988, "Monotonicity of quadratic-approximation algorithms"; Boehning,
    1992, for the logistic loss), and as L-BFGS's initial inverse Hessian ``M^{-1}`` removes the
    correlations of the features, which a diagonal scaling cannot (correlated pixels, one-hot
    columns and their complements). For the squared error ``M`` is the Hessian itself.
    ``M`` is formed and factored in the preconditioner's coordinates, where its diagonal is
    ``c`` on every spread column (so it is well scaled for the factorization).

    Attributes
    ----------
    inverse_matrix : ndarray of shape (k, k)
        ``A M^{-1} A'`` (``k = d + fit_intercept``), ``M`` in the optimizer's coordinates and
        ``A`` their map to raw ones (:meth:`Preconditioner.direction_matrix`): the metric on
        raw gradients, formed once (a product per direction costs less than two triangular
        solves).
    fit_intercept : bool
        Whether the last coordinate is the intercept.
    """

    inverse_matrix: np.ndarray
    fit_intercept: bool

    @classmethod
    def from_gram(
        cls,
        gram: np.ndarray,
        n: float,
        precond: Preconditioner,
        fit_intercept: bool,
        curvature: float,
        l2: float,
    ) -> "HessianBound | None":
        """From the raw weighted Gram matrix ``Xt' W Xt`` of all ``n`` training rows; None
        where ``M`` is not positive definite in floating point (then keep a diagonal metric)."""
        A = precond.direction_matrix(fit_intercept)
        d = precond.scale.shape[0]
        M = curvature * (A.T @ gram @ A) / max(float(n), 1.0)
        M[np.arange(d), np.arange(d)] += l2 * precond.inv_scale2
        M = 0.5 * (M + M.T)
        top = float(np.max(np.diag(M))) if M.size else 0.0
        if not (np.isfinite(top) and top > 0.0):
            return None
        # Collinear columns without a penalty make M singular: 1e-10 of each diagonal entry
        # bounds the metric there, and columns without any spread (their gradient is zero)
        # get the scale of the others.
        diag = np.diag(M).copy()
        M[np.diag_indices_from(M)] += 1e-10 * diag + np.where(diag > 1e-300 * top, 0.0, top)
        try:
            factor = scipy.linalg.cho_factor(M, lower=True)
        except np.linalg.LinAlgError:
            return None
        P = A @ scipy.linalg.cho_solve(factor, A.T)
        return cls(0.5 * (P + P.T), fit_intercept)

    def inverse(self, v: np.ndarray) -> np.ndarray:
        """``M^{-1}`` applied to a flat raw gradient ``[coef (d, K) raveled, intercept (K)]``
        (the layout of :mod:`dasksgd.quasi_newton`), as a raw direction in the same layout:
        ``A M^{-1} A' v``, per output."""
        k = self.inverse_matrix.shape[0]
        d = k - int(self.fit_intercept)
        K = v.shape[0] // k
        V = v[: d * K].reshape(d, K)
        if self.fit_intercept:
            V = np.vstack([V, v[d * K :][None, :]])
        Z = self.inverse_matrix @ V
        if not self.fit_intercept:
            return Z.ravel()
        return np.concatenate([Z[:d].ravel(), Z[d]])
