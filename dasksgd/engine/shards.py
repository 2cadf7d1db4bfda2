"""The shards one process holds, and every computation the training loop asks of them.

A :class:`ShardSet` is plain Python over in-memory arrays: the in-process backend uses one
holding all shards, and on a cluster every worker's actor wraps one holding that worker's
shards. Shards are validated and prepared (targets encoded, weights folded, row norms computed,
validation rows split off) once, when they are loaded.

A step covers a window ``[start, end)`` of the epoch's ``total`` training rows; shard ``j`` with
``n_j`` rows takes its rows ``[n_j * start // total, n_j * end // total)`` of its epoch order, so
a batch is split across shards in proportion to their sizes and every row is used exactly once per
epoch. The rows are never copied at load: the shard keeps the array it was given (a persisted
chunk) and, with ``shuffle``, each epoch permutes the order of small groups of rows (tens of KB
each; seeded permutations keyed by the shard's global index). A step packs its scattered groups,
in that order, into a reusable 64-byte-aligned work buffer and computes there (runs longer than
the buffer, e.g. a full pass, are used in place): no gather of single rows (which costs about
five passes of arithmetic) and no fresh memory per fit (first touches of fresh memory cost
~0.5 s per 200 MB on the machines measured). Results were checked to be independent of the
buffers' alignment with this machine's OpenBLAS (bit-for-bit); BLAS builds whose kernels depend
on alignment (MKL outside its CNR mode) may differ in the last bits between runs.
"""

from __future__ import annotations

import math
import mmap
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
from array_api_compat import array_namespace, device

from ..arrays import (
    float_dtype,
    is_float,
    itemsize,
    nbytes,
    row_slice,
    take_rows,
    to_like,
    to_numpy,
    values,
)
from ..losses import Loss
from ..metrics import score_sums
from ..polishing import MAX_BAND, Band
from ..statistics import (
    GradStats,
    ScaleStats,
    gradient_statistics,
    is_sparse,
    loss_sum,
    margins,
    scaled_norms,
)
from .tree import ByShard

__all__ = [
    "ShardOptions",
    "ShardSet",
    "TargetSpec",
    "build_shardset",
    "check_weights",
    "prepare_shard",
]


@dataclass(frozen=True)
class TargetSpec:
    """How raw targets become what the loss sees.

    Parameters
    ----------
    classes : ndarray or None
        Sorted class labels for classification (one-vs-rest +-1 columns; one column when there
        are two classes), None for regression (the target as one column).
    class_weight : ndarray or None
        Weight of each class, aligned with ``classes``.
    """

    classes: np.ndarray | None = None
    class_weight: np.ndarray | None = None

    @property
    def n_outputs(self) -> int:
        if self.classes is None or len(self.classes) <= 2:
            return 1
        return len(self.classes)


@dataclass
class _Shard:
    index: int
    X: Any
    Y: Any
    sw: Any
    norms: Any
    X_val: Any = None
    Y_val: Any = None
    sw_val: Any = None
    block: int = 0  # rows per block
    order: Any = None  # this epoch's order of the blocks
    cum: Any = None  # row offsets of the blocks in that order
    columns: Any = None  # (sums, sums of squares) of the training rows' columns, when known

    @property
    def n(self) -> int:
        return self.X.shape[0]

    def runs(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Physical row ranges ``[starts[j], ends[j])`` holding rows ``[lo, hi)`` of this epoch's
        order, in that order."""
        if lo == 0 and hi == self.n:
            # The whole shard: the order of a sum's terms is all that would change.
            return np.array([0]), np.array([self.n])
        i0 = int(np.searchsorted(self.cum, lo, side="right")) - 1
        i1 = int(np.searchsorted(self.cum, hi, side="left"))
        if i1 == i0 + 1:  # inside one group (a small batch): one run
            base = int(self.order[i0]) * self.block - int(self.cum[i0])
            return np.array([lo + base]), np.array([hi + base])
        # The blocks i0..i1-1 (in this epoch's order), clipped to [lo, hi), at their physical rows.
        first, last = self.cum[i0:i1], self.cum[i0 + 1 : i1 + 1]
        base = self.order[i0:i1] * self.block - first
        a = np.maximum(first, lo) + base
        e = np.minimum(last, hi) + base
        # Blocks that follow each other physically make one run.
        joined = np.flatnonzero(a[1:] == e[:-1])
        if joined.size:
            keep = np.ones(a.size, dtype=bool)
            keep[joined + 1] = False
            ends = np.ones(a.size, dtype=bool)
            ends[joined] = False
            a, e = a[keep], e[ends]
        return a, e


#: Seconds a step spends on every shard whatever its rows (numpy's per-call costs: ~20 small
#: calls), from ``benchmarks/step_overhead.py`` at 2 to 32 shards on 2 workers (the figures:
#: docs/performance.md). Part of the backends' step overhead cost model.
SHARD_OVERHEAD = 6e-5

#: Floats a request may send up the tree per shard, all shards together, to keep every shard's
#: result apart (see :class:`ShardSet`): 512 KB per step, 16 MB for a request made once per fit.
PER_SHARD_FLOATS = 1 << 16
ONCE_FLOATS = 1 << 21

_ALIGN = 64
#: Bytes of X per group of rows: the unit an epoch's shuffle reorders. A batch's groups are
#: computed where they lie, and 1 MB amortizes a product's fixed cost: ``benchmarks/kernel.py``
#: compares a row's cost in mini-batch steps with a full pass, and with smaller groups
#: gathered into the work buffer (``--gathered``).
GROUP_BYTES = 1 << 20
#: Runs of rows at least this long are computed in place, shorter ones gathered.
IN_PLACE_BYTES = 64 << 10
#: Bytes of the work buffer a step computes in.
BUFFER_BYTES = 8 << 20


#: Values per block of a Gram request (a float64 copy of 2^21 values is 16 MB).
GRAM_BLOCK = 2**21


def _weighted_gram(X: Any, sw: Any, fit_intercept: bool) -> np.ndarray:
    """``Xt' diag(sw) Xt`` of a block of rows (``Xt = [X, 1]`` with an intercept), float64, on
    the host. As ``R' R`` for ``R = diag(sqrt(sw)) X`` (numpy then takes BLAS's symmetric
    product, half the operations of a general one)."""
    xp = array_namespace(values(X))
    m = X.shape[0]
    r = None if sw is None else xp.sqrt(xp.astype(sw, xp.float64))
    if is_sparse(X):
        R = X.astype(np.float64)
        if r is not None:
            R = R.multiply(xp.reshape(r, (-1, 1))).tocsr()
        core = R.T @ R
        core = core.toarray() if is_sparse(core) else core
    else:
        R = xp.astype(X, xp.float64)
        if r is not None:
            R = R * xp.reshape(r, (-1, 1))
        core = R.T @ R
    d = X.shape[1]
    G = np.zeros((d + int(fit_intercept),) * 2)
    G[:d, :d] = to_numpy(core)
    if fit_intercept:
        ones = xp.ones((m,), dtype=xp.float64, device=device(values(X)))
        col = R.T @ (ones if r is None else r)  # X' sw
        G[:d, d] = G[d, :d] = to_numpy(col).ravel()
        G[d, d] = float(m if r is None else xp.sum(r * r))
    return G


def _empty_aligned(shape: tuple, dtype: Any) -> np.ndarray:
    """An uninitialized array on a 64-byte boundary.

    Large buffers are anonymous memory maps populated in one go (page-aligned): numpy's own
    allocation of a fresh large array pays a page fault per page on first touch (transparent
    huge pages zeroed), a populated map pays once.
    """
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if nbytes >= 1 << 20 and hasattr(mmap, "MAP_POPULATE"):
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | mmap.MAP_POPULATE
        return np.frombuffer(mmap.mmap(-1, nbytes, flags=flags), dtype=dtype).reshape(shape)
    buf = np.empty(nbytes + _ALIGN, dtype=np.uint8)
    off = (-buf.ctypes.data) % _ALIGN
    return buf[off : off + nbytes].view(dtype).reshape(shape)


def _copy_aligned(a: np.ndarray) -> np.ndarray:
    out = _empty_aligned(a.shape, a.dtype)
    out[...] = a
    return out


def _check_finite(a: Any, name: str, where: str) -> None:
    data = a.data if is_sparse(a) else a
    xp = array_namespace(data)
    # One pass without a temporary: a NaN or inf anywhere makes the sum non-finite. Only then
    # (or when the sum overflowed) is the exact, allocating check made.
    with np.errstate(over="ignore"):  # an overflowing sum only asks for the exact check
        if math.isfinite(float(xp.sum(data))):
            return
    if not bool(xp.all(xp.isfinite(data))):
        what = "NaN" if bool(xp.any(xp.isnan(data))) else "infinity or a value too large"
        raise ValueError(f"Input {name} contains {what}{where}.")


def _check_values(X: Any, where: str) -> None:
    """Refuse non-finite values, and values whose squares overflow, naming the shard."""
    _check_finite(X, "X", where)
    v = X.data if is_sparse(X) else X
    xp = array_namespace(v)
    v = xp.reshape(v, (-1,))
    with np.errstate(over="ignore", invalid="ignore"):
        if isinstance(v, np.ndarray):
            sq = float(np.einsum("i,i->", v, v, dtype=np.float64))
        else:  # in the rows' own precision, as their arithmetic will be; no temporary
            sq = float(v @ v)
    if not math.isfinite(sq):
        _too_large(v, where)


def _column_sums(X: Any) -> tuple[np.ndarray, np.ndarray]:
    """Column sums and sums of squares of ``X`` (float64, on the host), without a temporary of
    ``X``'s size for dense numpy rows."""
    if is_sparse(X):
        col, sq = X.sum(axis=0), X.multiply(X).sum(axis=0)
    elif isinstance(X, np.ndarray):
        col, sq = X.sum(axis=0, dtype=np.float64), np.einsum("ij,ij->j", X, X, dtype=np.float64)
    else:
        xp = array_namespace(X)
        col, sq = xp.sum(X, axis=0), xp.sum(X * X, axis=0)
    return to_numpy(col, dtype=np.float64).ravel(), to_numpy(sq, dtype=np.float64).ravel()


def _encode(
    y: np.ndarray, spec: TargetSpec, dtype: Any, where: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """Targets as an ``(n, K)`` host matrix, and the class index of every row (None for
    regression). Labels are checked against the classes on the host: they may be strings."""
    if not isinstance(y, np.ndarray) and hasattr(y, "__array_namespace__"):
        y = to_numpy(y, dtype=None)
    if spec.classes is None:
        y = np.asarray(y)
        if y.dtype.kind not in "fiub":
            raise ValueError(f"Regression targets y must be numeric; got dtype {y.dtype}{where}.")
        y = y.astype(dtype, copy=False)
        _check_finite(y, "y", where)
        return y.reshape(-1, 1), None
    classes = spec.classes
    y = np.asarray(y)
    idx = np.searchsorted(classes, y)
    idx = np.clip(idx, 0, len(classes) - 1)
    bad = classes[idx] != y
    if np.any(bad):
        unknown = np.unique(y[bad])[:5]
        raise ValueError(
            f"y contains labels {unknown.tolist()} that are not in classes "
            f"{classes.tolist()}{where}."
        )
    if len(classes) <= 2:
        Y = np.where(idx == 1, 1.0, -1.0).astype(dtype).reshape(-1, 1)
    else:
        Y = np.full((y.shape[0], len(classes)), -1.0, dtype=dtype)
        Y[np.arange(y.shape[0]), idx] = 1.0
    return Y, idx


def _too_large(values: Any, where: str) -> None:
    """Finite values whose squares (or sums) overflow: no gradient arithmetic survives them."""
    xp = array_namespace(values)
    biggest = float(xp.max(xp.abs(values)))
    raise ValueError(
        f"Input X contains values too large for float64 arithmetic (largest magnitude "
        f"{biggest:.3g}; their squares overflow){where}. Scale the features."
    )


def check_weights(total: float, n_val: int = 0, val_weight: float = 0.0) -> None:
    """Refuse a fit whose rows all weigh zero (it would return the starting model), or whose
    held-out rows all do (the validation score would be 0 / 0)."""
    # The held-out rows first, as scikit-learn (its message, when every row weighs zero).
    if n_val > 0 and not val_weight > 0:
        raise ValueError(
            "The sample weights for validation set are all zero, consider using a different "
            "random state."
        )
    if not total > 0:
        raise ValueError(
            "Sample weights must contain at least one non-zero number (every training row has "
            "weight 0, after class weights); give some rows a positive sample_weight."
        )
    if not math.isfinite(total):
        # Every statistic of the plan is a weighted sum: it would overflow too (numpy's
        # LinAlgError, deep in the plan), and only the weights' ratios and alpha matter.
        raise ValueError(
            f"The sample weights (after class weights) sum to {total}, more than float64 "
            "arithmetic can hold; divide them by a common factor (and alpha by the same "
            "factor, for the same model)."
        )


@dataclass(frozen=True)
class ShardOptions:
    """How a fit's shards are prepared and ordered: the same for every shard, in every process.

    Attributes
    ----------
    fit_intercept : bool
        Whether the model has an intercept.
    shuffle : bool
        Reorder every shard's groups of rows at each epoch.
    seed : int
        Seed of those orders and of the validation split.
    validation_fraction : float
        Rows of every shard held out for the validation score.
    """

    fit_intercept: bool = True
    shuffle: bool = True
    seed: int = 0
    validation_fraction: float = 0.0


def build_shardset(
    indices: Sequence[int],
    parts: Sequence[tuple[Any, Any, Any]],
    spec: TargetSpec,
    loss: Loss,
    options: ShardOptions,
    *,
    shapes: Sequence[tuple[int, int] | None] | None = None,
    total_shards: int | None = None,
) -> "ShardSet":
    """The :class:`ShardSet` of the parts ``(X, y, sample_weight)`` with global ``indices``,
    each validated and prepared (:func:`prepare_shard`); ``shapes`` are the shapes their dask
    arrays declared, checked against the data."""
    shapes = list(shapes) if shapes is not None else [None] * len(indices)
    shards = [
        prepare_shard(
            i,
            X,
            y,
            sw,
            spec,
            validation_fraction=options.validation_fraction,
            seed=options.seed,
            expected_shape=shape,
        )
        for i, (X, y, sw), shape in zip(indices, parts, shapes)
    ]
    return ShardSet(
        shards,
        loss,
        fit_intercept=options.fit_intercept,
        shuffle=options.shuffle,
        seed=options.seed,
        total_shards=total_shards,
    )


def prepare_shard(
    index: int,
    X: Any,
    y: Any,
    sample_weight: Any,
    spec: TargetSpec,
    *,
    validation_fraction: float = 0.0,
    seed: int = 0,
    expected_shape: tuple[int, int] | None = None,
    encoded: _Shard | None = None,
) -> _Shard:
    """Validate one shard and prepare it for training.

    ``encoded``: the same shard prepared before (from its targets and weights, with no
    features): its encoded targets and weights are taken, and the rows split as they were
    (a streamed shard, read again; ``y`` and ``sample_weight`` are then ignored).

    ``expected_shape`` is the shape the chunk's dask array declares for it, when it came from
    one: a chunk whose data disagree (a ``from_delayed`` or ``map_blocks`` with a wrong shape) is
    reported here rather than as a broadcasting error in the middle of training.

    Raises
    ------
    ValueError
        On non-finite values, mismatched lengths or shapes, unknown labels or negative weights;
        the message names the shard.
    """
    where = f" (shard {index})"
    if is_sparse(X):
        X = X.tocsr()
    if getattr(X, "ndim", 2) != 2:
        raise ValueError(f"Expected 2D array, got {X.ndim}D array instead{where}.")
    if expected_shape is not None and tuple(X.shape) != tuple(expected_shape):
        raise ValueError(
            f"Chunk {index} of X holds an array of shape {tuple(X.shape)}, but the dask array "
            f"declares {tuple(expected_shape)} for it: the chunks' data must match the array's "
            "metadata (check the shapes given to from_delayed / map_blocks)."
        )
    if isinstance(X, np.ndarray) and X.dtype.kind not in "fiub":
        raise ValueError(f"X must be numeric; got dtype {X.dtype}{where}.")
    if not is_float(X):
        if isinstance(values(X), np.ndarray):
            X = X.astype(np.float64)
        else:
            xp = array_namespace(values(X))
            if not (xp.isdtype(X.dtype, "integral") or xp.isdtype(X.dtype, "bool")):
                raise ValueError(f"X must be numeric; got dtype {X.dtype}{where}.")
            X = X.astype(xp.float64) if is_sparse(X) else xp.astype(X, xp.float64)
    dtype = float_dtype(X)
    if isinstance(X, np.ndarray) and not (X.flags.aligned and X.flags.c_contiguous):
        # Chunks that travelled between workers can arrive at any byte offset of a frame;
        # arithmetic on misaligned doubles is several times slower (and rounds differently).
        X = _copy_aligned(X)
    if not isinstance(X, np.ndarray):
        # Dense numpy rows are checked by the plan's pass over them (ShardSet.set_scale), which
        # reads them anyway: a pass of their own here cost a sixth of a fit of 2M x 100 rows.
        _check_values(X, where)
    n = X.shape[0]
    if encoded is not None:
        return _split_like(encoded, index, X, validation_fraction, seed)
    n_y = y.shape[0] if hasattr(y, "shape") else len(y)
    if n_y != n:
        raise ValueError(
            f"Found input variables with inconsistent numbers of samples: [{n}, {n_y}]{where}."
        )
    host = np.float64 if str(dtype) == "float64" else np.float32
    Y, idx = _encode(y, spec, host, where)
    sw = None
    if sample_weight is not None:  # weights are checked on the host, then joined to the rows
        sw = to_numpy(sample_weight, dtype=host).reshape(-1)
        if sw.shape[0] != n:
            raise ValueError(f"sample_weight.shape == ({sw.shape[0]},), expected ({n},){where}.")
        _check_finite(sw, "sample_weight", where)
        if np.any(sw < 0):
            raise ValueError(f"Negative values in data passed to sample_weight{where}.")
    if spec.class_weight is not None and idx is not None:
        cw = spec.class_weight[idx].astype(host)
        sw = cw if sw is None else sw * cw
    # Targets and weights go where the rows are (the same namespace, device and dtype).
    Y = to_like(Y, X)
    sw = None if sw is None else to_like(sw, X)
    shard = _Shard(index, X, Y, sw, None)
    split = _validation_split(n, index, validation_fraction, seed)
    if split is not None:
        tr, va = split
        shard.X_val, shard.Y_val = take_rows(X, va), take_rows(Y, va)
        shard.sw_val = None if sw is None else take_rows(sw, va)
        shard.X, shard.Y = take_rows(X, tr), take_rows(Y, tr)
        shard.sw = None if sw is None else take_rows(sw, tr)
    # Column sums and row norms are measured later (ShardSet.column_sums, ShardSet.set_scale).
    return shard


def _validation_split(n: int, index: int, fraction: float, seed: int) -> tuple | None:
    """``(training rows, validation rows)`` of a shard of ``n`` rows, or None (no split)."""
    if not fraction > 0:
        return None
    n_val = int(np.ceil(fraction * n))
    if n_val >= n:
        raise ValueError(
            f"validation_fraction={fraction} leaves no training rows in shard "
            f"{index} of {n} rows; use larger shards or a smaller validation_fraction."
        )
    perm = np.random.default_rng([seed, index, 7919]).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _split_like(encoded: _Shard, index: int, X: Any, fraction: float, seed: int) -> _Shard:
    """The shard of rows ``X`` with ``encoded``'s targets and weights, split as they were."""
    rows = encoded.n + (0 if encoded.X_val is None else encoded.X_val.shape[0])
    if X.shape[0] != rows:
        raise ValueError(
            f"Shard {index} read {X.shape[0]} rows from its source, {rows} at the start of "
            "the fit: the files changed while the fit read them."
        )
    Y, sw, Y_val, sw_val = (to_like(a, X) if a is not None else None for a in (
        encoded.Y, encoded.sw, encoded.Y_val, encoded.sw_val))  # fmt: skip
    split = _validation_split(rows, index, fraction, seed)
    if split is None:
        return _Shard(index, X, Y, sw, None)
    tr, va = split
    return _Shard(index, take_rows(X, tr), Y, sw, None, take_rows(X, va), Y_val, sw_val)


def _index(starts: np.ndarray, ends: np.ndarray) -> Any:
    """The rows of the runs ``[starts[j], ends[j])`` in order: a slice for one run, else an
    index array."""
    if starts.size == 1:
        return slice(int(starts[0]), int(ends[0]))
    lengths = ends - starts
    # Row k of the result is starts[j] + (k - offset_j) for the run j it falls in.
    return np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(
        int(lengths.sum())
    )


class ShardSet:
    """Shards resident in one process and the computations a training loop asks of them.

    Parameters
    ----------
    shards : sequence of prepared shards
        From :func:`prepare_shard`, any order (they are kept sorted by global index).
    loss : Loss
        The loss.
    fit_intercept : bool
        Whether the model has an intercept.
    shuffle : bool
        Permute the order of each shard's groups of rows at the start of every epoch.
    seed : int
        Seed of the permutations.
    total_shards : int, optional
        Shards of the whole fit, when this set holds some of them (a worker's): results small
        enough come back per shard (:class:`~dasksgd.engine.tree.ByShard`), to be summed in
        shard order at the root, so the sums do not depend on which worker holds which shard.
        None: results are summed here, in shard order.
    """

    def __init__(
        self,
        shards: Sequence[_Shard],
        loss: Loss,
        *,
        fit_intercept: bool = True,
        shuffle: bool = True,
        seed: int = 0,
        total_shards: int | None = None,
    ) -> None:
        self.shards = sorted(shards, key=lambda s: s.index)
        self.total_shards = total_shards
        self.loss = loss
        self.fit_intercept = fit_intercept
        self.shuffle = shuffle
        self.seed = seed
        self._epoch: int | None = None
        self._buffer: np.ndarray | None = None
        for s in self.shards:
            s.norms = None
            if is_sparse(s.X):  # bytes per row: stored values and their column indices
                width = max(int(s.X.nnz * (itemsize(s.X.dtype) + 4) / max(s.n, 1)), 1)
            else:
                width = max(int(s.X.shape[1]) * itemsize(s.X.dtype), 1)
            # Groups of ~1 MB (at most 4096 rows), but at least 64 of them per shard so that
            # small data shuffle too.
            s.block = int(max(1, min(GROUP_BYTES // width, 4096, -(-s.n // 64))))

    # -- facts --------------------------------------------------------------------------

    @property
    def n_rows(self) -> int:
        """Training rows of these shards."""
        return sum(s.n for s in self.shards)

    def info(self) -> dict:
        """Rows per shard (train and validation), dtype and bytes held."""
        held = sum(nbytes(a) for s in self.shards for a in (s.X, s.X_val) if a is not None)
        with np.errstate(over="ignore"):  # weights that overflow: check_weights names them
            weight = sum(
                float(s.n) if s.sw is None else float(array_namespace(s.sw).sum(s.sw))
                for s in self.shards
            )
        work = sum(
            (s.X.nnz if is_sparse(s.X) else s.X.shape[0] * s.X.shape[1]) for s in self.shards
        )
        return {
            "work": work,  # stored values of X: multiply-adds of one pass, per output
            "index": [s.index for s in self.shards],
            "n_train": [s.n for s in self.shards],
            # Total weight of the training rows (class weights included); 0 means nothing to fit.
            "weight": weight,
            "n_val": [0 if s.X_val is None else s.X_val.shape[0] for s in self.shards],
            "val_weight": sum(
                float(s.X_val.shape[0])
                if s.sw_val is None
                else float(array_namespace(s.sw_val).sum(s.sw_val))
                for s in self.shards
                if s.X_val is not None
            ),
            "nbytes": held,
            "dtype": str(self.shards[0].X.dtype) if self.shards else None,
            "buffer_dtype": None if self._buffer is None else str(self._buffer.dtype),
        }

    def column_sums(self, stride: int = 1) -> np.ndarray:
        """``[sum_i x_i, sum_i x_i^2 (per column), count]`` over the training rows (kept after
        the first request), or over every ``stride``-th of them (a sample, not kept)."""
        parts = []
        for s in self.shards:
            if stride > 1:
                sample = row_slice(s.X, 0, s.n, stride)
                parts.append(
                    (s.index, np.concatenate([*_column_sums(sample), [float(sample.shape[0])]]))
                )
                continue
            if s.columns is None:
                s.columns = _column_sums(s.X)  # the rows never change
            parts.append((s.index, np.concatenate([*s.columns, [float(s.n)]])))
        return self._combine(parts, np.zeros(2 * self._n_features + 1), once=True)

    def set_scale(self, inv_scale2: np.ndarray, mean: np.ndarray | None) -> ScaleStats:
        """Measure the row norms in the coordinates ``t = (x - mean) / scale``.

        The norms feed the per-sample squared gradient norms of the diversity estimate, which
        must be taken in the coordinates the optimizer works in; the largest bounds the
        per-sample smoothness. The column sums of ``t^2`` tell the plan whether a scaling taken
        from a sample of the rows fits all of them. This is the first pass over dense numpy
        rows, and it checks their values: non-finite or overflowing values raise here, before
        any step, naming the shard.
        """
        parts = []
        for s in self.shards:
            with np.errstate(over="ignore", invalid="ignore"):  # bad values: checked next
                s.norms, sq = scaled_norms(s.X, inv_scale2, mean, columns=s.columns)
            if not np.all(np.isfinite(sq)):
                # This shard's values, or a scaling made non-finite by another shard's values
                # (that shard raises): the exact check, only when something is off.
                _check_values(s.X, f" (shard {s.index})")
            largest = float(array_namespace(s.norms).max(s.norms)) if s.n else 0.0
            parts.append((s.index, ScaleStats(largest, sq, float(s.n))))
        return self._combine(parts, ScaleStats(0.0, np.zeros(self._n_features), 0.0), once=True)

    # -- combining the shards' results --------------------------------------------------

    @property
    def _n_features(self) -> int:
        return int(self.shards[0].X.shape[1]) if self.shards else 0

    def _combine(self, parts: list[tuple[int, Any]], zero: Any, once: bool = False) -> Any:
        """The shards' ``(index, result)`` pairs (in shard order): summed here, or kept apart
        per shard (see
        ``total_shards``) when that costs at most ``PER_SHARD_FLOATS`` (``ONCE_FLOATS`` for a
        request made once per fit) on the way to the root."""
        if self.total_shards is not None:
            size = (
                zero.grad_coef.size + zero.grad_intercept.size + 5
                if isinstance(zero, GradStats)
                else np.size(zero)
            )
            if size * self.total_shards <= (ONCE_FLOATS if once else PER_SHARD_FLOATS):
                return ByShard(dict(parts), zero)
        out = zero
        for _, p in parts:
            out = out + p
        return out

    # -- the step -----------------------------------------------------------------------

    def _model(self, shard: _Shard, coef: np.ndarray, intercept: np.ndarray):
        """The host model as arrays next to the shard's rows (its namespace, device, dtype)."""
        return to_like(coef, shard.X), to_like(intercept, shard.X)

    def set_epoch(self, epoch: int) -> None:
        """Order every shard's blocks for ``epoch`` (once; later calls are no-ops)."""
        if epoch == self._epoch:
            return
        self._epoch = epoch
        for s in self.shards:
            n_blocks = -(-s.n // s.block)
            if self.shuffle:
                s.order = np.random.default_rng([self.seed, epoch, s.index]).permutation(n_blocks)
            else:
                s.order = np.arange(n_blocks)
            sizes = np.minimum(s.block, s.n - s.order * s.block)
            s.cum = np.concatenate([[0], np.cumsum(sizes)])

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
        """Statistics of this process's share of the batch ``[start, end)`` of ``total`` rows
        (and the loss at ``probe``, another model, in the same pass); ``smoothing > 0``: the
        gradient is that of the loss smoothed by ``smoothing`` (:meth:`Loss.smoothed`)."""
        self.set_epoch(epoch)
        loss = self.loss.smoothed(smoothing) if smoothing else self.loss
        zero, parts = GradStats.zeros(coef.shape[0], coef.shape[1]), []
        if not self.shards:
            return zero
        # Every shard of a process shares a dtype and device: convert the model once.
        W, b = self._model(self.shards[0], coef, intercept)
        if probe is not None:
            probe = self._model(self.shards[0], *probe)
        # A diverging model overflows here; the loop sees the non-finite sums and rolls back.
        with np.errstate(over="ignore", invalid="ignore"):
            for s in self.shards:
                lo, hi = s.n * start // total, s.n * end // total
                if hi > lo:
                    parts.append((s.index, self._stats(s, s.runs(lo, hi), W, b, probe, loss)))
        return self._combine(parts, zero)

    def _work(self, X: Any) -> np.ndarray:
        """The reusable aligned work buffer, as rows shaped like ``X``'s."""
        width = X.shape[1] * X.dtype.itemsize
        rows = max(1, BUFFER_BYTES // max(width, 1))
        buf = self._buffer
        if buf is None or buf.dtype != X.dtype or buf.shape[1] != X.shape[1]:
            buf = self._buffer = _empty_aligned((rows, X.shape[1]), X.dtype)
        return buf

    def _stats(
        self,
        s: _Shard,
        runs: tuple[np.ndarray, np.ndarray],
        W: Any,
        b: Any,
        probe: Any = None,
        loss: Loss | None = None,
    ) -> GradStats:
        """Statistics of the rows in ``runs`` (in order), through the work buffer."""
        out = None
        for X, idx in self._pieces(s, *runs):
            st = gradient_statistics(
                X,
                take_rows(s.Y, idx),
                W,
                b,
                self.loss if loss is None else loss,
                sample_weight=None if s.sw is None else take_rows(s.sw, idx),
                row_norms=None if s.norms is None else take_rows(s.norms, idx),
                fit_intercept=self.fit_intercept,
                probe=probe,
            )
            out = st if out is None else out + st
        return out

    def _pieces(self, s: _Shard, starts: np.ndarray, ends: np.ndarray):
        """``(rows, index)`` pieces covering the runs in order: short numpy runs are packed into
        the work buffer (so one product covers many of them), long ones are used in place;
        other arrays (sparse, cupy) are gathered in one go."""
        if not isinstance(s.X, np.ndarray):
            # Sparse (or device) rows: one row gather per step, proportional to the stored values.
            idx = _index(starts, ends)
            yield take_rows(s.X, idx), idx
            return
        if starts.size == 1:  # one run: computed where it lies, whatever its length
            yield s.X[int(starts[0]) : int(ends[0])], slice(int(starts[0]), int(ends[0]))
            return
        buf = self._work(s.X)
        cap = buf.shape[0]
        # A run of IN_PLACE_BYTES or more is computed where it lies (a view): gathering it would
        # cost a copy, more than the fixed cost of one more product. Shorter runs are gathered
        # into the buffer, as many as it holds per product.
        long_run = min(cap, max(1, IN_PLACE_BYTES // (s.X.shape[1] * s.X.dtype.itemsize)))
        lengths = ends - starts
        if int(lengths.max()) < long_run and int(lengths.sum()) <= cap:
            # The usual small batch: all its runs in one gather, without a loop over them.
            yield self._pack(s.X, buf, _index(starts, ends))
            return
        k, parts = 0, []
        for a, e in zip(starts.tolist(), ends.tolist()):
            if e - a >= long_run:
                if k:
                    yield self._pack(s.X, buf, _index(*np.array(parts).T))
                    k, parts = 0, []
                yield s.X[a:e], slice(a, e)
                continue
            while a < e:
                take = min(e - a, cap - k)
                parts.append((a, a + take))
                k, a = k + take, a + take
                if k == cap:
                    yield self._pack(s.X, buf, _index(*np.array(parts).T))
                    k, parts = 0, []
        if k:
            yield self._pack(s.X, buf, _index(*np.array(parts).T))

    @staticmethod
    def _pack(X: np.ndarray, buf: np.ndarray, idx: Any):
        """The rows ``idx`` of ``X`` copied into the front of the buffer in one gather."""
        if isinstance(idx, slice):
            k = idx.stop - idx.start
            buf[:k] = X[idx]
        else:
            k = idx.size
            np.take(X, idx, axis=0, out=buf[:k])
        return buf[:k], idx

    def objective(self, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
        """``[rows, sum of the weighted loss]`` over every training row (one product, no
        gradient)."""
        parts: list = []
        if self.shards:
            W, b = self._model(self.shards[0], coef, intercept)
            with np.errstate(over="ignore", invalid="ignore"):  # see step
                parts = [
                    (
                        s.index,
                        np.array(
                            [float(s.n), loss_sum(s.X, s.Y, W, b, self.loss, sample_weight=s.sw)]
                        ),
                    )
                    for s in self.shards
                    if s.n
                ]
        return self._combine(parts, np.zeros(2))

    def validation(self, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
        """Sums for a validation score: ``[weight, correct]`` (classification, accuracy) or
        ``[weight, sse, sum_y, sum_y2]`` (regression, R^2), over the validation rows."""
        parts = []
        for s in self.shards:
            if s.X_val is None or s.X_val.shape[0] == 0:
                continue
            W, b = self._model(s, coef, intercept)
            Z = margins(s.X_val, W, b)
            xp = array_namespace(Z)
            w = (
                xp.ones(Z.shape[0], dtype=Z.dtype, device=device(Z))
                if s.sw_val is None
                else s.sw_val
            )
            if not self.loss.is_classification:
                part = score_sums(s.Y_val[:, 0], Z[:, 0], w, accuracy=False)
            elif Z.shape[1] == 1:
                part = score_sums(s.Y_val[:, 0] > 0, Z[:, 0] > 0, w, accuracy=True)
            else:
                part = score_sums(
                    xp.argmax(s.Y_val, axis=1), xp.argmax(Z, axis=1), w, accuracy=True
                )
            parts.append((s.index, part))
        return self._combine(parts, np.zeros(4))

    def gram(self, stride: int) -> np.ndarray:
        """``[Xt' S Xt (flattened), count]`` over every ``stride``-th training row, ``Xt`` with a
        column of ones when the model has an intercept and ``S`` the sample weights (for few
        features: the whole spectrum of the sample in one request, instead of a power
        iteration; over every row, L-BFGS's metric, :class:`~dasksgd.preconditioning.HessianBound`).
        In float64, a block of rows at a time (no copy of a shard); sparse rows stay sparse."""
        k = self._n_features + int(self.fit_intercept)
        parts = []
        for s in self.shards:
            X = row_slice(s.X, 0, s.n, stride)
            m = X.shape[0]
            if m == 0:
                continue
            sw = None if s.sw is None else row_slice(s.sw, 0, s.n, stride)
            G, rows = np.zeros((k, k)), max(GRAM_BLOCK // max(k, 1), 1)
            with np.errstate(over="ignore", invalid="ignore"):  # the plan names an overflow
                for lo in range(0, m, rows):
                    G += _weighted_gram(
                        row_slice(X, lo, lo + rows),
                        None if sw is None else row_slice(sw, lo, lo + rows),
                        self.fit_intercept,
                    )
            parts.append((s.index, np.concatenate([G.ravel(), [float(m)]])))
        return self._combine(parts, np.zeros(k * k + 1), once=True)

    def band(self, coef: np.ndarray, intercept: np.ndarray, width: float) -> Band:
        """The training rows within ``width`` of a kink of the loss, per output, and the summed
        slopes of the others (:class:`~dasksgd.polishing.Band`: what polishing needs). More than
        ``MAX_BAND`` rows come back as an overflow, without rows."""
        K, k = coef.shape[1], self._n_features + int(self.fit_intercept)
        parts = []
        for s in self.shards:
            if not s.n:
                continue
            W, b = self._model(s, coef, intercept)
            Z = margins(s.X, W, b)
            a, kappa, slope = self.loss.to_kink(s.Y, Z)
            xp = array_namespace(a)
            if s.sw is not None:
                slope = slope * xp.reshape(s.sw, (-1, 1))
            close = xp.abs(a) < width
            near = to_numpy(close)
            if int(near.sum()) > MAX_BAND:
                total = loss_sum(s.X, s.Y, W, b, self.loss, sample_weight=s.sw)
                parts.append((s.index, replace(Band.empty(K, k, overflow=True), loss=total)))
                continue
            far = xp.where(close | (a <= 0.0), 0.0 * slope, slope)
            outside = np.zeros((K, k))
            outside[:, : self._n_features] = to_numpy(s.X.T @ far).T
            if self.fit_intercept:
                outside[:, -1] = to_numpy(xp.sum(far, axis=0))
            pieces: list = [[], [], [], [], []]
            for j in range(K):
                idx = np.flatnonzero(near[:, j])
                Xb = take_rows(s.X, idx)
                Xb = to_numpy(Xb.toarray() if is_sparse(Xb) else Xb).astype(np.float64)
                if self.fit_intercept:
                    Xb = np.concatenate([Xb, np.ones((idx.size, 1))], axis=1)
                pieces[0].append(Xb)
                for p, v in zip(pieces[1:4], (a, slope, kappa)):
                    p.append(to_numpy(take_rows(v[:, j], idx)).astype(np.float64))
                pieces[4].append(idx.astype(np.int64) + (int(s.index) << 40))
            total = loss_sum(s.X, s.Y, W, b, self.loss, sample_weight=s.sw)
            band = Band(*(tuple(p) for p in pieces), outside, total)
            parts.append((s.index, band))
        return self._combine(parts, Band.empty(K, k), once=True)

    def gram_matvec(self, v: np.ndarray, stride: int) -> np.ndarray:
        """``[Xt' S Xt v, count]`` over every ``stride``-th training row (for power iteration).

        ``Xt`` is ``X`` with a column of ones when the model has an intercept; ``v`` has
        ``d + fit_intercept`` entries.
        """
        out = []
        d = self._n_features
        for s in self.shards:
            X = row_slice(s.X, 0, s.n, stride)
            if X.shape[0] == 0:
                continue
            W, _ = self._model(s, v[:, None], np.zeros(1))
            xp = array_namespace(values(X))
            u = X @ W[:d, :]
            if self.fit_intercept:
                u = u + W[d, :]
            if s.sw is not None:
                u = u * xp.reshape(row_slice(s.sw, 0, s.n, stride), (-1, 1))
            g = X.T @ u
            parts = [to_numpy(g).ravel()]
            if self.fit_intercept:
                parts.append([float(xp.sum(u))])
            parts.append([float(X.shape[0])])
            out.append((s.index, np.concatenate(parts)))
        return self._combine(out, np.zeros(v.shape[0] + 1))
