"""Gradient diversity: its exact value, its estimate from one mini-batch, and its smoothing.

For per-sample gradients ``g_i`` of ``f_i(w) = loss(y_i, x_i . w + b) + alpha R(w)``
(Yin et al., "Gradient Diversity: a Key Ingredient for Scalable Distributed Learning", 2018)::

    Delta(w) = sum_i ||g_i||^2 / ||sum_i g_i||^2

``n * Delta(w) = E||g_s||^2 / ||grad F(w)||^2`` is the batch size up to which a mini-batch step
makes about as much progress as that many serial steps. Nothing here forms a per-sample gradient:
with ``p`` the penalty gradient and :class:`~dasksgd.statistics.GradStats` ``s`` of the rows,

    sum_i ||g_i||^2 = s.sqnorm + 2 <s.grad_coef, p> + count ||p||^2
    sum_i g_i       = (s.grad_coef + count p, s.grad_intercept)

Everything is a function of :class:`GradStats`, so the exact value over all rows and the estimate
from a batch come from the same sums the training step already reduces.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from .arrays import is_device_array, namespace, to_like, to_numpy
from .losses import get_loss
from .penalties import Penalty, get_penalty
from .statistics import GradStats, gradient_statistics, is_sparse, row_sq_norms

__all__ = [
    "gradient_diversity",
    "diversity_terms",
    "batch_diversity",
    "DiversitySmoother",
    "SmootherState",
    "BatchState",
    "FixedBatchSize",
    "DiversityBatchSize",
]


def diversity_terms(
    stats: GradStats,
    penalty: Penalty,
    coef: np.ndarray,
    precond: Any = None,
    fit_intercept: bool = True,
) -> tuple[float, float]:
    """``(sum_i ||g_i||^2, ||sum_i g_i||^2)`` over the rows summarized by ``stats``.

    Parameters
    ----------
    stats : GradStats
        Sums over the rows (``sqnorm`` must be present).
    penalty : Penalty
        The penalty; its (sub)gradient ``p`` is added to every per-sample gradient.
    coef : ndarray of shape (d, K)
        The model's coefficients.
    precond : Preconditioner, optional
        Measure the gradients in the optimizer's coordinates (standardized features);
        ``stats.sqnorm`` must then come from the row norms in those coordinates.
    fit_intercept : bool
        Whether the intercept is a parameter (its gradient counts in the norms).
    """
    p = penalty.subgradient(coef)
    G = stats.grad_coef
    if precond is not None:
        p = p / precond.scale[:, None]
        G = (
            precond.gradient(G, stats.grad_intercept)
            if fit_intercept
            else G / precond.scale[:, None]
        )
    n = stats.count
    sq = stats.sqnorm + 2.0 * float(np.sum(G * p)) + n * float(np.sum(p * p))
    total = G + n * p
    norm2 = float(np.sum(total * total))
    if fit_intercept:
        norm2 += float(np.sum(stats.grad_intercept**2))
    return sq, norm2


def batch_diversity(
    stats: GradStats,
    penalty: Penalty,
    coef: np.ndarray,
    n_total: float,
    precond: Any = None,
    fit_intercept: bool = True,
) -> tuple[float, float]:
    """Unbiased pieces of ``n * Delta(w)`` from one batch drawn without replacement.

    Returns ``(mean_sq, grad_sq)``: the batch mean of ``||g_i||^2`` (unbiased for
    ``E||g_s||^2``) and an unbiased estimate of ``||grad F(w)||^2``. The plain plug-in
    ``||mean g||^2`` is biased upward by the variance of the batch mean; with ``m`` rows drawn
    without replacement from ``n`` and sample variance ``v``, that variance is
    ``v / m * (1 - m / n)``, which is subtracted. ``grad_sq`` can be zero or negative when the
    gradient is below the noise level of the batch. ``n * Delta`` is ``mean_sq / grad_sq``.
    """
    m = stats.count
    sq, norm2 = diversity_terms(stats, penalty, coef, precond, fit_intercept)
    mean_sq = sq / m
    if m < 2:
        return mean_sq, math.nan
    mean_norm2 = norm2 / (m * m)
    var = max((sq - m * mean_norm2) / (m - 1.0), 0.0)
    return mean_sq, mean_norm2 - var / m * max(1.0 - m / n_total, 0.0)


class SmootherState(NamedTuple):
    """Bias-corrected moving averages of the numerator and denominator of ``n * Delta``."""

    num: float = 0.0
    den: float = 0.0
    weight: float = 0.0  # 1 - beta**k after k updates, for the bias correction


class DiversitySmoother:
    """Exponential moving average of ``(E||g||^2, ||grad F||^2)`` estimates across steps.

    The two averages are kept apart and divided at the end (a ratio of averages is far less
    noisy than an average of ratios when the denominator is near zero). Like Adam's moments the
    averages are divided by ``1 - beta**k``, so early values are not biased towards zero.

    Parameters
    ----------
    beta : float
        Decay per step, in [0, 1).
    """

    def __init__(self, beta: float = 0.7) -> None:
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"beta must be in [0, 1); got {beta}.")
        self.beta = beta

    def init(self) -> SmootherState:
        return SmootherState()

    def update(self, state: SmootherState, *, mean_sq: float, grad_sq: float) -> SmootherState:
        """Fold in one batch's estimates (NaN estimates are skipped)."""
        if not (math.isfinite(mean_sq) and math.isfinite(grad_sq)):
            return state
        b = self.beta
        return SmootherState(
            num=b * state.num + (1.0 - b) * mean_sq,
            den=b * state.den + (1.0 - b) * grad_sq,
            weight=b * state.weight + (1.0 - b),
        )

    def value(self, state: SmootherState) -> float:
        """Smoothed ``n * Delta``: NaN before any update, ``inf`` when the gradient is below
        noise."""
        if state.weight == 0.0:
            return math.nan
        num, den = state.num / state.weight, state.den / state.weight
        return num / den if den > 0.0 else math.inf


def _as_model(coef: Any, intercept: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    coef = np.asarray(coef, dtype=np.float64)
    W = coef.reshape(-1, 1) if coef.ndim == 1 else coef.T
    K = W.shape[1]
    if intercept is None:
        return W, np.zeros(K), False
    return (
        W,
        np.broadcast_to(np.asarray(intercept, dtype=np.float64).reshape(-1), (K,)).copy(),
        True,
    )


def gradient_diversity(
    X: Any,
    y: Any,
    coef: Any,
    intercept: Any = None,
    *,
    loss: str = "log_loss",
    penalty: str | None = "l2",
    alpha: float = 0.0,
    l1_ratio: float = 0.15,
    epsilon: float = 0.1,
) -> float:
    """Exact gradient diversity ``Delta(w) = sum_i ||g_i||^2 / ||sum_i g_i||^2`` over all rows.

    Parameters
    ----------
    X : {ndarray, sparse matrix, dask array} of shape (n_samples, n_features)
        The rows.
    y : {ndarray, dask array} of shape (n_samples,) or (n_samples, n_outputs)
        What the loss sees: +-1 for classification losses (one column per class for
        one-vs-rest), real values for regression.
    coef : ndarray of shape (n_features,) or (n_outputs, n_features)
        Coefficients.
    intercept : float or ndarray of shape (n_outputs,), optional
        Intercepts; None means the model has no intercept (no constant column).
    loss : str, default="log_loss"
        One of :data:`dasksgd.losses.LOSSES`.
    penalty : {"l2", "l1", "elasticnet"} or None, default="l2"
        Penalty whose (sub)gradient ``alpha * grad R(w)`` is part of every ``g_i``.
    alpha : float, default=0.0
        Regularization strength.
    l1_ratio : float, default=0.15
        Elastic-net mixing.
    epsilon : float, default=0.1
        Width of the huber / epsilon-insensitive losses.

    Returns
    -------
    float
        ``Delta(w)``, at least ``1/n``; ``inf`` at a stationary point.

    Notes
    -----
    Dask input is one pass of blockwise statistics summed by a tree of ``dasksgd-diversity``
    tasks; the result equals the in-memory one up to rounding.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.eye(3)
    >>> y = np.array([1.0, 2.0, 3.0])
    >>> float(gradient_diversity(X, y, np.zeros(3), loss="squared_error"))  # orthogonal: 1
    1.0
    """
    lossf = get_loss(loss, epsilon)
    pen = get_penalty(penalty, alpha, l1_ratio)
    W, b, fit_intercept = _as_model(coef, intercept)

    def block(Xb, yb):
        if is_device_array(Xb):  # computed where the rows are; the model goes to them
            xp = namespace(Xb)
            Xb = Xb.astype(xp.float64) if is_sparse(Xb) else xp.astype(Xb, xp.float64)
            Yb = to_like(to_numpy(yb).reshape(Xb.shape[0], -1), Xb)
            Wb, bb = to_like(W, Xb), to_like(b, Xb)
        else:
            Yb = np.asarray(yb, dtype=np.float64).reshape(Xb.shape[0], -1)
            Xb = Xb if is_sparse(Xb) else np.asarray(Xb, dtype=np.float64)
            Wb, bb = W, b
        return gradient_statistics(
            Xb, Yb, Wb, bb, lossf, row_norms=row_sq_norms(Xb), fit_intercept=fit_intercept
        )

    from dask.base import is_dask_collection

    if is_dask_collection(X):
        import dask
        import dask.array as da

        if len(X.chunks[1]) > 1:
            X = X.rechunk({1: -1})
        yd = (
            y
            if is_dask_collection(y)
            else da.from_array(np.asarray(y), chunks=(X.chunks[0],) + np.shape(y)[1:])
        )
        if yd.chunks[0] != X.chunks[0]:
            yd = yd.rechunk({0: X.chunks[0]})
        from dask.base import tokenize

        token = tokenize(X.name, yd.name, W, b, loss, epsilon)
        xs, ys = X.to_delayed().ravel(), yd.to_delayed().ravel()
        parts = [
            dask.delayed(block)(a, c, dask_key_name=f"dasksgd-diversity-{token}-{i}")
            for i, (a, c) in enumerate(zip(xs, ys))
        ]
        level = 0
        while len(parts) > 1:  # a pairwise tree of sums, in block order
            level += 1
            parts = [
                dask.delayed(_add)(
                    parts[i], parts[i + 1], dask_key_name=f"dasksgd-reduce-{token}-{level}-{i}"
                )
                if i + 1 < len(parts)
                else parts[i]
                for i in range(0, len(parts), 2)
            ]
        stats = parts[0].compute()
    else:
        stats = block(X, y)
    sq, norm2 = diversity_terms(stats, pen, W, fit_intercept=fit_intercept)
    return sq / norm2 if norm2 > 0 else math.inf


def _add(a: GradStats, b: GradStats) -> GradStats:
    return a + b


# -- batch-size policies --------------------------------------------------------------------


#: A batch over this fraction of the data is taken whole: an epoch of fewer than 8 noisy steps
#: (each already at the full-batch step limit 1/L, where the linear scaling saturates) makes less
#: progress than the exact quasi-Newton step the full batch allows. Chosen over 1/2 by
#: ``benchmarks/time_to_accuracy.py`` (binary and sparse problems faster to 1e-6; the
#: sparse run's figures are in docs/performance.md).
WHOLE_FRACTION = 1 / 8


class BatchState(NamedTuple):
    """State of a batch-size policy: the batch size of the next step, how often it changed, and
    the smallest size it may take from now on (raised when an epoch stalls)."""

    size: int
    changes: int = 0
    floor: int = 0


class FixedBatchSize:
    """The same batch size at every step (capped by the number of rows).

    Parameters
    ----------
    size : int
        Rows per step.
    n_total : int
        Training rows.
    """

    def __init__(self, size: int, n_total: int) -> None:
        if size < 1:
            raise ValueError(f"batch size must be >= 1; got {size}.")
        self.size = int(min(size, n_total))

    def init(self) -> BatchState:
        return BatchState(self.size)

    def update(self, state: BatchState, *, ndelta: float) -> BatchState:
        return state

    def stalled(self, state: BatchState) -> BatchState:
        """A fixed batch size stays fixed."""
        return state

    def exact(self, state: BatchState) -> BatchState:
        """A fixed batch size stays fixed."""
        return state


class DiversityBatchSize:
    """``B = delta * n * Delta(w) + 1``, clipped to ``[b_min, b_max]``, with hysteresis.

    The batch-size rule of Yin et al. (2018): up to that size a mini-batch step of ``B`` rows makes
    about ``B`` times the progress of one serial step. ``n * Delta`` is the smoothed estimate of
    :class:`DiversitySmoother`; ``inf`` (gradient below the noise level) sends ``B`` to
    ``b_max``, and so does a rule over ``WHOLE_FRACTION * b_max`` (an exact full-batch step then
    replaces a few noisy ones, and the full-batch phase can take quasi-Newton steps). ``B`` grows
    only when the rule asks for ``grow`` times more (or for the cap) and shrinks only when it asks
    for ``shrink`` times less, so that estimation noise does not make it thrash.

    Near the optimum of a noisy problem (regression with noise, say) the rule can settle where
    the gradient it measures is the noise of its own steps: ``B`` then stays put while the
    objective stops improving. :meth:`stalled` (called by the loop when an epoch makes almost no
    progress) doubles a floor under ``B``, the batch-size form of decaying the step size
    (Smith et al., 2018), until the steps are exact; :meth:`exact` (an epoch that did not lower
    the objective at all: the steps' noise outweighs their descent) goes to the full batch at once.

    Parameters
    ----------
    delta : float
        Slack of the rule (> 0).
    b_min : int
        Smallest batch: the one that amortizes the per-step overhead.
    b_max : int
        Largest batch (the number of training rows: full-batch descent).
    grow, shrink : float
        Hysteresis factors (> 1).
    """

    def __init__(
        self, delta: float, b_min: int, b_max: int, *, grow: float = 1.25, shrink: float = 2.0
    ) -> None:
        if delta <= 0:
            raise ValueError(f"delta must be > 0; got {delta}.")
        if not 1 <= b_min <= b_max:
            raise ValueError(f"need 1 <= b_min <= b_max; got b_min={b_min}, b_max={b_max}.")
        if grow <= 1 or shrink <= 1:
            raise ValueError("grow and shrink must be > 1.")
        self.delta, self.b_min, self.b_max = float(delta), int(b_min), int(b_max)
        self.grow, self.shrink = grow, shrink

    def init(self) -> BatchState:
        return BatchState(self.b_min)

    def target(self, ndelta: float) -> int:
        """The clipped rule for an estimate of ``n * Delta``."""
        if ndelta == math.inf:
            return self.b_max
        # Over WHOLE_FRACTION of the data is taken whole: the step is then exact, which lets
        # the full-batch phase take quasi-Newton steps (a few noisy steps an epoch
        # make less progress than one of those).
        return self._whole(int(min(max(self.delta * ndelta + 1.0, self.b_min), self.b_max)))

    def update(self, state: BatchState, *, ndelta: float) -> BatchState:
        """The batch size after a new estimate of ``n * Delta`` (NaN keeps it)."""
        if math.isnan(ndelta):
            return state
        new, B = self._whole(max(self.target(ndelta), state.floor)), state.size
        if new > B and (new >= B * self.grow or new == self.b_max):
            return BatchState(new, state.changes + 1, state.floor)
        if new * self.shrink <= B:
            return BatchState(new, state.changes + 1, state.floor)
        return state

    def stalled(self, state: BatchState) -> BatchState:
        """Double the batch and put a floor there: the last epoch made almost no progress."""
        floor = self._whole(min(2 * state.size, self.b_max))
        return BatchState(floor, state.changes + 1, floor)

    def exact(self, state: BatchState) -> BatchState:
        """The whole data from now on: an epoch of steps did not lower the objective at all."""
        return BatchState(self.b_max, state.changes + 1, self.b_max)

    def _whole(self, B: int) -> int:
        """Over ``WHOLE_FRACTION`` of the data: the whole data."""
        return self.b_max if B > WHOLE_FRACTION * self.b_max else B
