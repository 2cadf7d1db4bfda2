"""Shards read from their source on every pass, a few at a time: training out of core.

A :class:`StreamingShardSet` answers the same requests as :class:`~.shards.ShardSet` on a
worker, but holds none of its rows' features: each shard is a :class:`ChunkSource`, the
culled task graph of one row chunk of ``X`` (a Parquet, Zarr, CSV or npy read, and whatever
the user's collection does to it), computed by this thread with Dask's synchronous scheduler
when its rows are needed. What comes back is not a Dask result: it is never in the worker's
managed memory and nothing depends on spilling. The targets and weights (``1 / d`` of the data)
are held; so are each shard's row norms in the optimizer's coordinates (one float per row, from
the plan's pass) and its column sums.

At most :data:`CACHED` prepared shards are kept, and one more is read ahead in a background
thread while the current one computes (reading Parquet or Zarr and numpy's products both
release the GIL), so a pass costs about the larger of its reads and its arithmetic.

Order. A worker's rows are its shards in an order drawn per epoch (seeded by the fit's seed,
the epoch and the worker's first shard), each shard's groups of rows shuffled within it as in
memory; the loop's window ``[start, end)`` of ``total`` rows is this worker's rows
``[N * start // total, N * end // total)`` of that order (``N`` its training rows), so a
mini-batch is drawn from the one or two shards being read instead of from all of them. Every
row is still used once per epoch, and a full pass is the same sum as in memory (small results
are kept per shard and summed in shard order at the root). What changes is the mini-batch
phase: a batch is a sample of a few partitions, not of the whole data. Where the partitions
differ (data sorted or grouped by file), a batch's gradient is further from the full gradient
than a uniform batch's, so the diversity estimate is lower and the batch-size rule chooses
smaller batches than in memory: conservative (more, smaller steps), never a larger step.
``tests/engine/test_streaming.py`` measures both cases.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..arrays import nbytes
from ..losses import Loss
from .shards import ShardOptions, ShardSet, TargetSpec, prepare_shard

__all__ = ["CACHED", "ChunkSource", "StreamingShardSet", "chunk_sources"]

#: Prepared shards a worker keeps between requests (the one a window ends in and the one
#: before); one more is being read ahead. Memory: about ``CACHED + 1`` partitions per worker,
#: plus what the reader needs to decode one (docs/cluster.rst, "Data larger than memory").
CACHED = 2


@dataclass(frozen=True)
class ChunkSource:
    """How to read one row chunk: its culled task graph and key (an opaque object, so that
    Dask does not take the graph for tasks of its own when it is sent to an actor)."""

    graph: dict
    key: Any
    shape: tuple[int, int]
    dtype: Any = np.float64

    def read(self) -> Any:
        """The chunk, computed here with Dask's synchronous scheduler."""
        import dask

        return dask.get(self.graph, self.key)


def chunk_sources(X: Any) -> list[ChunkSource]:
    """One :class:`ChunkSource` per row chunk of the dask array ``X`` (one column chunk)."""
    import dask
    from dask.core import flatten
    from dask.optimization import cull

    (X,) = dask.optimize(X)
    graph = dict(X.__dask_graph__())
    keys = list(flatten(X.__dask_keys__()))
    width = int(X.shape[1])
    out = []
    for key, rows in zip(keys, X.chunks[0]):
        dsk, _ = cull(graph, [key])
        out.append(ChunkSource(dsk, key, (int(rows), width), X.dtype))
    return out


class StreamingShardSet:
    """A worker's shards, read from their sources pass after pass (see the module's text).

    Parameters
    ----------
    indices : sequence of int
        Global indices of the shards.
    sources : sequence of ChunkSource
        How to read each shard's rows.
    ys, sws : sequences of arrays
        Each shard's targets and sample weights (or None): encoded and held (not these).
    spec, loss, options
        As for :func:`~.shards.build_shardset`.
    total_shards : int
        Shards of the whole fit.
    """

    def __init__(
        self,
        indices: Sequence[int],
        sources: Sequence[ChunkSource],
        ys: Sequence[Any],
        sws: Sequence[Any],
        spec: TargetSpec,
        loss: Loss,
        options: ShardOptions,
        total_shards: int,
    ) -> None:
        self.indices = list(indices)
        self.sources = dict(zip(self.indices, sources))
        self.spec, self.loss, self.options = spec, loss, options
        self.total_shards = total_shards
        # The training rows of every shard, without its features: labels, weights and the
        # validation split are checked here, at load, before any step (a placeholder X of no
        # columns: the split and the encodings depend only on the row count and the seed).
        # Only the encoded targets are kept (the raw ones are the caller's, released after).
        self._meta = {}
        for i, y, sw in zip(self.indices, ys, sws):
            rows = self.sources[i].shape[0]
            self._meta[i] = prepare_shard(
                i,
                np.empty((rows, 0), dtype=self.sources[i].dtype),
                y,
                sw,
                spec,
                validation_fraction=options.validation_fraction,
                seed=options.seed,
            )
        self.sizes = {i: self._meta[i].n for i in self.indices}
        self._layouts: dict[int, tuple[list[int], np.ndarray]] = {}  # see _layout
        self._norms: dict[int, Any] = {}  # row norms in the optimizer's coordinates
        self._columns: dict[int, Any] = {}  # column sums of the training rows
        self._cache: OrderedDict[int, ShardSet] = OrderedDict()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="dasksgd-read")
        self._ahead: tuple[int, Future] | None = None
        self._lock = threading.Lock()
        self._buffer: Any = None  # the work buffer, passed from one shard's set to the next
        self.reads: list[list[float]] = []  # [wall clock, seconds, bytes] not reported yet
        self.read_seconds = 0.0
        self.read_bytes = 0
        self.n_reads = 0
        self.peak_cached = 0

    # -- facts ---------------------------------------------------------------------------

    @property
    def n_rows(self) -> int:
        """Training rows of this worker's shards."""
        return sum(self.sizes.values())

    def info(self) -> dict:
        """As :meth:`ShardSet.info`, without reading a row; plus what was read."""
        out = ShardSet(list(self._meta.values()), self.loss, total_shards=self.total_shards)
        facts = out.info()
        facts["work"] = sum(self.sizes[i] * self.sources[i].shape[1] for i in self.indices)
        facts["nbytes"] = 0
        facts["dtype"] = None
        facts["streaming"] = True
        facts["reads"] = self.n_reads
        facts["read_seconds"] = self.read_seconds
        facts["read_bytes"] = self.read_bytes
        facts["peak_cached"] = self.peak_cached
        return facts

    # -- reading -------------------------------------------------------------------------

    def _read(self, i: int) -> ShardSet:
        """Read shard ``i`` from its source and prepare it (in the reading thread)."""
        t0 = time.perf_counter()
        X = self.sources[i].read()
        shard = prepare_shard(
            i,
            X,
            None,
            None,
            self.spec,
            validation_fraction=self.options.validation_fraction,
            seed=self.options.seed,
            expected_shape=self.sources[i].shape,
            encoded=self._meta[i],
        )
        seconds = time.perf_counter() - t0
        size = nbytes(X)
        with self._lock:
            self.read_seconds += seconds
            self.read_bytes += size
            self.n_reads += 1
            self.reads.append([time.time(), seconds, float(size)])
        o = self.options
        return ShardSet(
            [shard],
            self.loss,
            fit_intercept=o.fit_intercept,
            shuffle=o.shuffle,
            seed=o.seed,
            total_shards=self.total_shards,
        )

    def _get(self, i: int) -> ShardSet:
        """Shard ``i``, prepared: from the cache, from the read ahead, or read now."""
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        if self._ahead is not None and self._ahead[0] == i:
            ss = self._ahead[1].result()
            self._ahead = None
        else:
            ss = self._read(i)
        s = ss.shards[0]
        s.norms = self._norms.get(i)
        s.columns = self._columns.get(i)
        if self._buffer is not None:
            ss._buffer = self._buffer
        self._cache[i] = ss
        while len(self._cache) > CACHED:
            _, old = self._cache.popitem(last=False)
            self._buffer = old._buffer if old._buffer is not None else self._buffer
        self.peak_cached = max(self.peak_cached, len(self._cache) + (self._ahead is not None))
        return ss

    def _read_ahead(self, i: int | None) -> None:
        """Start reading shard ``i`` in the background (one at a time)."""
        if i is None or i in self._cache:
            return
        if self._ahead is not None:
            if self._ahead[0] == i:
                return
            self._ahead[1].result()  # a stale read ahead: let it finish, then drop it
        self._ahead = (i, self._pool.submit(self._read, i))

    def _each(self, fn: Callable[[ShardSet], Any], order: Sequence[int] | None = None) -> Any:
        """``fn`` of every shard, the held ones first, reading ahead; the results added."""
        order = list(self.indices if order is None else order)
        held = [i for i in order if i in self._cache]
        order = held + [i for i in order if i not in self._cache]
        total = None
        for k, i in enumerate(order):
            ss = self._get(i)
            self._read_ahead(order[k + 1] if k + 1 < len(order) else None)
            r = fn(ss)
            total = r if total is None else total + r
        return total

    def _keep(self, ss: ShardSet) -> None:
        """Keep what a pass measured on a shard for the passes after it."""
        s = ss.shards[0]
        if s.norms is not None:
            self._norms[s.index] = s.norms
        if s.columns is not None:
            self._columns[s.index] = s.columns

    # -- the requests --------------------------------------------------------------------

    def column_sums(self, stride: int = 1) -> Any:
        def one(ss: ShardSet) -> Any:
            r = ss.column_sums(stride)
            if stride > 1:  # the shard is here anyway: its exact sums cost no more reading
                ss.column_sums(1)
            self._keep(ss)
            return r

        return self._each(one)

    def set_scale(self, inv_scale2: np.ndarray, mean: np.ndarray | None) -> Any:
        def one(ss: ShardSet) -> Any:
            r = ss.set_scale(inv_scale2, mean)
            self._keep(ss)
            return r

        self._norms.clear()
        for ss in self._cache.values():
            ss.shards[0].norms = None
        return self._each(one)

    def objective(self, coef: np.ndarray, intercept: np.ndarray) -> Any:
        return self._each(lambda ss: ss.objective(coef, intercept))

    def validation(self, coef: np.ndarray, intercept: np.ndarray) -> Any:
        return self._each(lambda ss: ss.validation(coef, intercept))

    def gram(self, stride: int) -> Any:
        return self._each(lambda ss: ss.gram(stride))

    def gram_matvec(self, v: np.ndarray, stride: int) -> Any:
        return self._each(lambda ss: ss.gram_matvec(v, stride))

    def band(self, coef: np.ndarray, intercept: np.ndarray, width: float) -> Any:
        return self._each(lambda ss: ss.band(coef, intercept, width))

    def _order(self, epoch: int) -> list[int]:
        """This worker's shards in the order of ``epoch``."""
        return self._layout(epoch)[0]

    def _layout(self, epoch: int) -> tuple[list[int], np.ndarray]:
        """The shards in the order of ``epoch`` and where each starts in its rows: drawn once
        per epoch (kept for this one and the next), not at every step."""
        if epoch not in self._layouts:
            if self.options.shuffle:
                rng = np.random.default_rng([self.options.seed, epoch, self.indices[0], 104729])
                order = [self.indices[k] for k in rng.permutation(len(self.indices))]
            else:
                order = list(self.indices)
            cum = np.concatenate([[0], np.cumsum([self.sizes[i] for i in order])])
            self._layouts = {e: v for e, v in self._layouts.items() if e >= epoch - 1}
            self._layouts[epoch] = (order, cum)
        return self._layouts[epoch]

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
    ) -> Any:
        """As :meth:`ShardSet.step`, over this worker's rows in the epoch's shard order."""
        order, cum = self._layout(epoch)
        N = self.n_rows
        lo, hi = N * start // total, N * end // total
        if lo == 0 and hi == N:  # a full pass: the held shards first
            return self._each(
                lambda ss: ss.step(
                    coef, intercept, epoch, 0, ss.shards[0].n, ss.shards[0].n, probe, smoothing
                ),
                order,
            )
        total_stats = None
        k = int(np.searchsorted(cum, lo, side="right")) - 1
        while k < len(order) and cum[k] < hi:
            i, n_i = order[k], self.sizes[order[k]]
            a, b = max(lo, cum[k]) - cum[k], min(hi, cum[k + 1]) - cum[k]
            ss = self._get(i)
            # The next windows go on in this shard, then the next one: read that one now.
            self._read_ahead(order[k + 1] if k + 1 < len(order) else self._order(epoch + 1)[0])
            r = ss.step(coef, intercept, epoch, int(a), int(b), n_i, probe, smoothing)
            total_stats = r if total_stats is None else total_stats + r
            k += 1
        if total_stats is None:  # an empty window on this worker
            return ShardSet([], self.loss, total_shards=self.total_shards).step(
                coef, intercept, epoch, start, end, total, probe, smoothing
            )
        return total_stats

    def close(self) -> None:
        """Stop reading ahead and drop the held shards."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._cache.clear()
        self._ahead = None
