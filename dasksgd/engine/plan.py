"""What the loop measures on the data once per fit: the scaling, the smoothness, the floor of B.

:func:`make_plan` costs the column scales of a sample of rows, one pass over all rows in those
coordinates (their norms, which also check the values; timed), the sample's Gram matrix (or a
power iteration over it), and three timed steps over a few rows; :func:`apply_plan` gives a
resumed fit's shards the plan it saved.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..preconditioning import ColumnMoments, Preconditioner, fingerprint
from ..schedules import smoothness
from .config import TrainConfig

__all__ = ["Plan", "make_plan", "apply_plan"]


@dataclass(frozen=True)
class Plan:
    """What :func:`make_plan` measured on the data, once per fit.

    Attributes
    ----------
    precond : Preconditioner
        Column means and scales: the optimizer works on standardized features (identity
        without ``precondition``).
    max_step : float
        ``1 / L``, the full-batch step limit of the mean objective (in those coordinates).
    gamma : float
        ``1 / L_max``, the safe step of one sample.
    overhead : float
        Seconds of bookkeeping per step on this backend (its ``step_overhead``).
    row_cost : float
        Modelled seconds per row of a step's arithmetic, all workers together.
    b_min : int
        Smallest batch that amortizes the overhead: ``overhead / row_cost`` rows.
    rows : str
        A :func:`~dasksgd.preconditioning.fingerprint` of the rows measured (an optimizer's
        state is kept across ``partial_fit`` calls only for the same rows).
    moments : ColumnMoments, optional
        The column moments the scaling came from (with those of the stream's earlier rows);
        none without ``precondition``.
    pass_time : float
        Measured seconds of one pass over every row (the pass of the row norms): what
        :class:`~dasksgd.engine.rules.GoodputRule` counts a pass as.
    step_time : float
        Measured seconds of a step's fixed cost at this fit's model size (a step over a few
        rows, less their arithmetic): the round trip, the model out and the sums back, every
        shard's bookkeeping. What :class:`~dasksgd.engine.rules.GoodputRule` counts a step as,
        beside its rows (``overhead`` is a cost model of a small model's step, for ``b_min``);
        nan where no rule weighs it (a fixed ``batch_size``, ``partial_fit``).
    condition : float
        The condition number of the loss's curvature bound in these coordinates, on the
        sample's Gram matrix (bounded by its extreme eigenvalues; nan above ``GRAM_FEATURES``):
        where it is small the diagonal scaling already is L-BFGS's best metric.
    """

    precond: Preconditioner
    max_step: float
    gamma: float
    overhead: float
    row_cost: float
    b_min: int
    rows: str = ""
    moments: ColumnMoments | None = None
    pass_time: float = math.nan
    step_time: float = math.nan
    condition: float = math.nan


#: Rows of the steps that measure a step's fixed cost, and how many are timed (the fastest
#: counts: the first may pay for connections and caches).
PROBE_ROWS = 256
PROBE_STEPS = 3


def _step_time(backend: Any, n_features: int, n_outputs: int, pass_time: float) -> float:
    """Seconds of a step's fixed cost at this model size: the fastest of ``PROBE_STEPS`` steps
    of the zero model over the epoch's first ``PROBE_ROWS`` rows, less those rows' share of a
    pass."""
    n = backend.n_train
    rows = min(n, PROBE_ROWS)
    coef, intercept = np.zeros((n_features, n_outputs)), np.zeros(n_outputs)
    best = math.inf
    for _ in range(PROBE_STEPS):
        began = time.perf_counter()
        backend.step(coef, intercept, 0, 0, rows, n)
        best = min(best, time.perf_counter() - began)
    return max(best - rows * pass_time / max(n, 1), 0.0)


#: Arithmetic over overhead of a step at the smallest "auto" batch.
FLOOR_RATIO = 4.0

#: Up to this many coefficients, L comes from the sample's Gram matrix (one request);
#: above it, from a power iteration (one request per iteration).
GRAM_FEATURES = 1024


def _power_iteration(
    backend: Any, precond: Preconditioner, k: int, fi: bool, stride: int, iters: int, seed: int
) -> float:
    """Largest eigenvalue of the sample's scaled Gram matrix by power iteration."""
    v = np.random.default_rng(seed).standard_normal(k)
    v /= np.linalg.norm(v)
    lam = 0.0
    for _ in range(iters):
        out = backend.gram_matvec(precond.raw_direction(v, fi), stride)
        av = precond.gram_from_raw(out[:-1], fi) / max(out[-1], 1.0)
        new = float(np.linalg.norm(av))
        if new == 0.0:
            break
        v = av / new
        converged = abs(new - lam) <= 1e-3 * new
        lam = new
        if converged:
            break
    return lam


#: Seconds per stored value of X of a gradient step on one core (the two matrix-vector
#: products, the loss, and the epoch's shuffle), from benchmarks/batch_size_tradeoff.py on the
#: 2-core development machine. Used by the cost model of the smallest batch of "auto".
ROW_COST = 5e-9


def make_plan(
    backend: Any,
    config: TrainConfig,
    n_features: int,
    *,
    n_outputs: int = 1,
    sample: int = 20000,
    iters: int = 30,
    seed: int = 0,
    prior: ColumnMoments | None = None,
) -> Plan:
    """Measure the data once per fit: scales, ``L`` (power iteration), ``L_max``, smallest batch.

    Costs the column scales of about ``sample`` rows, one pass over all rows in those
    coordinates (row norms; it also checks the scales, and in the rare case they do not fit
    the rows, one pass for the column scales of all rows and the row norms again), and the
    Gram matrix of the sample (or up to ``iters`` requests of a power iteration on
    ``Xt' S Xt / n`` over it, for many features). With ``prior``, the column moments of a
    stream's earlier rows, the scaling is that of all the stream's rows (``partial_fit``).
    """
    fi = bool(config.fit_intercept)
    stride = max(1, backend.n_train // sample)
    ridge = config.penalty.l2_strength / config.loss.curvature
    # Dense rows: the scaling from a sample (every stride-th row; a pass of column sums over all
    # rows cost a sixth of a fit); the pass that follows measures every row in it, and says if
    # the sample missed something (a rare feature, a far outlier): then the scaling of all the
    # rows. Sparse rows: a sample has too few values per column, and their column sums cost
    # little (as many operations as stored values).
    by_sample = stride > 1 and backend.work_per_row >= n_features
    moments = _moments(backend, config, n_features, stride if by_sample else 1)
    seen = moments.rows if moments is not None else ""
    precond, moments = _scaling(config, n_features, moments, prior)
    began = time.perf_counter()
    scale = _set_scale(backend, config, precond)
    if config.precondition and by_sample and not precond.fits(scale.sq_sums, scale.count, ridge):
        precond, moments = _scaling(
            config, n_features, _moments(backend, config, n_features), prior
        )
        began = time.perf_counter()
        scale = _set_scale(backend, config, precond)
    # Timed once here (the fit is deterministic given its plan): the cost of a pass over every
    # row, what GoodputRule weighs steps against.
    pass_time = time.perf_counter() - began
    # Only GoodputRule weighs it ("auto" batches, not partial_fit): three steps are not free.
    step_time = (
        _step_time(backend, n_features, n_outputs, pass_time)
        if config.goodput and config.batch_size == "auto"
        else math.nan
    )
    # The rows' name: the column sums (when measured) and what the pass measured on all rows.
    rows = seen + fingerprint(backend.n_train, scale.sq_sums, np.array([scale.largest]))
    if not (math.isfinite(scale.largest) and np.all(np.isfinite(scale.sq_sums))):
        raise ValueError(
            "The features' spread is too large for float64 arithmetic (their squares overflow "
            "once centered and scaled); scale the features."
        )
    largest_row = scale.largest + (1.0 if fi else 0.0)  # the intercept's coordinate
    loss = config.loss
    # The l2 penalty in the optimizer's coordinates: alpha / s_j^2 on coordinate j.
    l2 = config.penalty.l2_strength * float(np.max(precond.inv_scale2))
    gamma = 1.0 / (loss.curvature * largest_row + l2) if (largest_row or l2) else 1.0

    k = n_features + int(fi)
    if k <= GRAM_FEATURES:
        # Few features: the sample's Gram matrix in one request, its top eigenvalue exactly.
        out = backend.gram(stride)
        _check_curvature(out)
        G = out[:-1].reshape(k, k) / max(out[-1], 1.0)
        A = precond.direction_matrix(fi)
        spectrum = np.linalg.eigvalsh(A.T @ G @ A)
        lam = float(spectrum[-1])
        # The condition number the diagonal scaling leaves to L-BFGS (Weyl's bounds on the
        # curvature bound's eigenvalues, the penalty's smallest on a coefficient below).
        c, pen = loss.curvature, config.penalty.l2_strength * precond.inv_scale2
        low = c * max(float(spectrum[0]), 0.0) + (float(pen.min()) if pen.size else 0.0)
        top = c * lam + (float(pen.max()) if pen.size else 0.0)
        condition = top / low if low > 0 else math.inf
    else:
        lam = _power_iteration(backend, precond, k, fi, stride, iters, seed)
        _check_curvature(np.array([lam]))
        condition = math.nan
    L = smoothness(lam, loss, l2)
    # The floor of "auto": the batch whose arithmetic costs a quarter of the step's fixed
    # overhead (a pass then costs at most 5x its arithmetic; below the floor the overhead would
    # dominate while the diversity rule says nothing is gained). A cost model, not a timing, so
    # that two fits of the same data are bit-for-bit identical.
    row_cost = ROW_COST * backend.work_per_row * n_outputs / backend.n_workers
    b_min = int(
        min(max(math.ceil(backend.step_overhead / (FLOOR_RATIO * row_cost)), 1), backend.n_train)
    )
    return Plan(
        precond,
        1.0 / L if L > 0 else math.inf,
        gamma,
        backend.step_overhead,
        row_cost,
        b_min,
        rows,
        moments,
        pass_time,
        step_time,
        condition,
    )


def _check_curvature(values: np.ndarray) -> None:
    """Refuse a weighted Gram matrix that overflowed: each value is finite (checked), but a
    weight times a feature's square is not (the eigensolver would fail with numpy's
    ``LinAlgError``)."""
    if not np.all(np.isfinite(values)):
        raise ValueError(
            "The sample weights (after class weights) times the squared features overflow "
            "float64 arithmetic; divide the weights by a common factor (and alpha by the same "
            "factor, for the same model), or scale the features."
        )


def _moments(
    backend: Any, config: TrainConfig, n_features: int, stride: int = 1
) -> ColumnMoments | None:
    """The column moments of every ``stride``-th row, weighted to stand for all the rows (none
    without ``config.precondition``)."""
    if not config.precondition:
        return None
    d, sums = n_features, backend.column_sums(stride)
    rows = fingerprint(backend.n_train, sums)
    if stride > 1 and sums[-1] > 0:  # a sample: each of its rows stands for ~stride rows
        sums = sums * (backend.n_train / sums[-1])
    return ColumnMoments(sums[:d], sums[d : 2 * d], float(sums[-1]), rows)


def _scaling(
    config: TrainConfig,
    n_features: int,
    moments: ColumnMoments | None,
    prior: ColumnMoments | None,
) -> tuple[Preconditioner, ColumnMoments | None]:
    """The preconditioner of ``moments`` and ``prior``'s rows together (the identity without
    ``config.precondition``), and those moments."""
    if moments is None:
        return Preconditioner.identity(n_features), None
    if prior is not None:
        moments = prior.add(moments)
    ridge = config.penalty.l2_strength / config.loss.curvature
    return moments.preconditioner(center=config.fit_intercept, ridge=ridge), moments


def _set_scale(backend: Any, config: TrainConfig, precond: Preconditioner) -> Any:
    """Have the shards measure their rows in ``precond``'s coordinates (a ``ScaleStats``)."""
    return backend.set_scale(precond.inv_scale2, precond.mean if config.fit_intercept else None)


def apply_plan(backend: Any, config: TrainConfig, plan: Plan) -> None:
    """Give ``backend`` the feature scaling of a plan measured earlier on the same data (a
    resumed fit reuses its plan, so that it goes on exactly as it would have)."""
    _set_scale(backend, config, plan.precond)
