"""The cluster backend: shards resident on Dask workers, one actor per worker, a tree reduce.

Loading uses the task graph for what it is good at: the row chunks of the (already persisted)
dask arrays are the shards; every shard stays on a worker that already holds it (unless that
would unbalance the rows, :func:`assign_shards`) and each worker gets one :class:`ShardHolder`
actor built from its shards, which validates and prepares them once. From then on a step is one
actor call per worker: the model goes down the reduction tree (:mod:`.tree`), every worker
computes its own shards' statistics, adds its children's and passes the result up; the client
only sees what the top of the tree sends. Small results (the usual case: ``d K`` coefficients
per shard) travel per shard and are summed in shard order at the client, so the result does not
depend on where the chunks were; large ones are summed on the way. No data moves after loading
and nothing is gathered to the client.

A step is as cheap as the transport allows: the requests to the tree heads go out and their
answers are awaited in one coroutine on the client's event loop (one hop from the calling
thread and back), over direct connections to the workers (an actor call from a default client
is relayed by the scheduler), as one pickle each way; a worker runs a step it expects to be
short on its event loop instead of handing it to a thread. ``benchmarks/step_overhead.py``
measures this step against a task per shard per step through the scheduler and against the
floor of a trivial call to both workers (docs/architecture.md has its table).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any, Callable

from dask.base import tokenize

from ..losses import Loss
from .backend import Backend, StepArgs
from .shards import SHARD_OVERHEAD, ShardOptions, TargetSpec, build_shardset, check_weights
from .streaming import StreamingShardSet, chunk_sources
from .transport import Unresponsive, bounded, connect, evict, execute, is_lost, pack, unpack
from .tree import ByShard, build_tree

__all__ = [
    "ClusterBackend",
    "ShardHolder",
    "assign_shards",
    "check_cluster",
    "WORKER_TOPIC",
]

logger = logging.getLogger("dasksgd")

#: Topic of the scheduler events in which every worker's actor reports the seconds its shards
#: took per step (read by the dashboard page, :mod:`dasksgd.dashboard`).
WORKER_TOPIC = "dasksgd-worker"

#: Seconds between two of those reports from one worker.
REPORT_INTERVAL = 0.5

#: A step a worker expects to take less than this runs on its event loop, not in a thread.
INLINE_SECONDS = 1e-3


class _LostWhileLoading(Exception):
    """Workers left the cluster while their actors loaded (``workers``: their addresses)."""

    def __init__(self, workers: set) -> None:
        super().__init__(", ".join(sorted(workers)))
        self.workers = workers


class ShardHolder:
    """Actor on one worker that holds that worker's shards and answers the loop's requests."""

    def __init__(
        self,
        indices: list[int],
        xs: list[Any],
        ys: list[Any],
        sws: list[Any],
        spec: TargetSpec,
        loss: Loss,
        options: ShardOptions,
        total_shards: int,
        shapes: list[tuple[int, int]] | None = None,
        fit_id: str | None = None,
        streaming: bool = False,
    ) -> None:
        # Streaming: ``xs`` are ChunkSources, read pass after pass; else the chunks themselves.
        if streaming:
            self.shardset = StreamingShardSet(
                indices, xs, ys, sws, spec, loss, options, total_shards
            )
        else:
            self.shardset = build_shardset(
                indices,
                list(zip(xs, ys, sws)),
                spec,
                loss,
                options,
                shapes=shapes,
                total_shards=total_shards,
            )
        self.calls: dict[str, int] = {}
        self.fit_id = fit_id
        self._times: list[list[float]] = []  # [wall clock, seconds] of steps not reported yet
        self._reported = 0.0
        self._rows = self.shardset.n_rows
        self._row_seconds: float | None = None  # seconds per row of the last step

    def _report(self, seconds: float | None) -> None:
        """Queue a step's time (None: none, just send what is queued); send the queue as a
        scheduler event every REPORT_INTERVAL s, or now when ``seconds`` is None (on the worker's
        batched stream to the scheduler: no round trip)."""
        now = time.time()
        if seconds is not None:
            self._times.append([now, seconds])
        reads = getattr(self.shardset, "reads", None)  # [wall clock, seconds, bytes] of reads
        if (self._times or reads) and (seconds is None or now - self._reported >= REPORT_INTERVAL):
            from distributed import get_worker

            worker = get_worker()
            event = {"fit": self.fit_id, "worker": worker.address, "times": self._times}
            if reads:
                event["reads"], self.shardset.reads = list(reads), []
            worker.log_event(WORKER_TOPIC, event)
            self._times, self._reported = [], now

    async def ping(self) -> str:
        """Answered on the worker's event loop: whether the worker is alive and responsive."""
        return "pong"

    def info(self) -> dict:
        """Shard sizes and bytes, how many requests of each kind this actor served, and the
        worker's peak resident memory."""
        from distributed import get_worker

        out = self.shardset.info()
        out["calls"] = dict(self.calls)
        out["worker"] = get_worker().address
        out["peak_rss"] = peak_rss()
        return out

    def read_totals(self) -> list[float]:
        """``[bytes, seconds]`` this actor has read from the data's source (streaming; zeros
        otherwise): the progress bar's read throughput, asked once an epoch."""
        ss = self.shardset
        return [float(getattr(ss, "read_bytes", 0)), float(getattr(ss, "read_seconds", 0.0))]

    async def run(self, request: bytes) -> bytes:
        """Run a request (``pack((op, args, children))``) on this worker's shards, add the
        children's results in order, and return the sum, packed."""
        op, args, children = unpack(request)
        pending = [child.run(pack((op, args, sub))) for child, sub in children]
        self.calls[op] = self.calls.get(op, 0) + 1
        fn = getattr(self.shardset, op)
        t0 = time.perf_counter()
        if op == "step":
            step = StepArgs(*args)
            start, end, n = step.start, step.end, step.total
            rows = max(self._rows * (end - start) / max(n, 1), 1.0)
            # A step expected to be short runs right here: handing it to a thread and back would
            # cost about as much as it. Anything longer runs off the event loop, so that the
            # worker keeps answering while it works.
            if self._row_seconds is not None and rows * self._row_seconds < INLINE_SECONDS:
                total = fn(*args)
            else:
                total = await asyncio.to_thread(fn, *args)
            seconds = time.perf_counter() - t0
            self._row_seconds = seconds / rows
        else:
            total = await asyncio.to_thread(fn, *args)
        if self.fit_id is not None:  # other requests (an epoch's objective, ...) flush the queue
            self._report(seconds if op == "step" else None)
        for fut in pending:
            total = total + unpack(await fut)
        return pack(total)


def assign_shards(
    sizes: list[int], holders: list[list[str]], workers: list[str], slack: float = 0.1
) -> list[tuple[str, list[int]]]:
    """Give every shard to one worker, leaving it where it is unless that unbalances the rows.

    Shards are taken largest first (those no available worker holds last); each goes to the
    least loaded worker that already holds it,
    unless that worker would then hold more than ``1 + slack`` times its fair share of the rows
    (or no worker holds it), in which case it goes to the least loaded worker (one transfer).
    Where the chunks are does not change the result: the sums of small results are taken in
    shard order at the root (:class:`~.tree.ByShard`).

    Parameters
    ----------
    sizes : list of int
        Rows of each shard, in shard order.
    holders : list of list of str
        Workers holding each shard now.
    workers : list of str
        Available workers.
    slack : float
        Imbalance accepted to avoid moving a shard.

    Returns
    -------
    list of (worker, shard indices)
        For each worker given shards, its shards in order; ordered by their first shard.
    """
    workers = sorted(workers)
    rank = {w: i for i, w in enumerate(workers)}
    fair = sum(sizes) / max(len(workers), 1)
    load = dict.fromkeys(workers, 0)
    given: dict[str, list[int]] = {w: [] for w in workers}
    # Shards some worker holds first (they set where the rest go), largest first.
    homeless = [not any(w in load for w in holders[i]) for i in range(len(sizes))]
    for i in sorted(range(len(sizes)), key=lambda i: (homeless[i], -sizes[i], i)):
        least = min(workers, key=lambda w: (load[w], rank[w]))
        here = [w for w in holders[i] if w in load]
        w = min(here, key=lambda w: (load[w], rank[w])) if here else least
        if load[w] + sizes[i] > (1.0 + slack) * fair and load[least] < load[w]:
            w = least
        load[w] += sizes[i]
        given[w].append(i)
    out = [(w, sorted(ix)) for w, ix in given.items() if ix]
    return sorted(out, key=lambda item: item[1][0])


def peak_rss() -> int:
    """This process's peak resident memory in bytes: Linux's ``VmHWM``, which starts afresh
    at ``exec`` (``getrusage``'s ``ru_maxrss`` keeps the parent's peak across it: a worker
    spawned by a process holding gigabytes would report those); elsewhere ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS: bytes; Linux: KiB


def _pong() -> str:
    return "pong"


#: A worker's peak memory over its shards' bytes, less one (docs/cluster.rst: 1.13x measured).
MEMORY_OVERHEAD = 0.15


#: What to do when the data do not fit and the fit may not stream them.
STREAM_ADVICE = (
    " Or stream the rows from their source (streaming=True, or streaming='auto', the "
    "default): each pass reads them again, a few partitions per worker at a time."
)


def check_cluster(client: Any, arrays: list, *, advice: str = "") -> None:
    """Before anything is persisted: the cluster has a worker, and room for ``arrays`` (the
    first of them the features, see :func:`memory_shortfall`).

    Raises :class:`MemoryError` with :func:`memory_shortfall`'s message (and ``advice``) when
    they do not fit; see there for what is judged.
    """
    message = memory_shortfall(client, arrays[1:], features=arrays[0])
    if message is not None:
        raise MemoryError(message + advice)


def wait_for_workers(client: Any) -> dict:
    """The scheduler's workers, waiting up to ``dasksgd.timeouts.ping`` for one.

    Without a worker, persisting the data or counting the classes waits forever.
    """
    ping = timeouts()["ping"]
    workers = bounded(client.scheduler_info, ping, "scheduler_info")["workers"]
    if not workers:
        try:
            client.wait_for_workers(1, timeout=ping)
        except TimeoutError:
            raise RuntimeError(
                f"The Dask cluster at {client.scheduler.address} has no workers (none joined "
                f"within {ping:g} s, dasksgd.timeouts.ping); start some before fitting."
            ) from None
        workers = bounded(client.scheduler_info, ping, "scheduler_info")["workers"]
    return workers


def _prepared_share(block: Any) -> Any:
    """On a worker: the bytes the actor's prepared copy of this chunk takes per byte of it
    (0 when it trains on the chunk itself: float, C-ordered, aligned; see prepare_shard)."""
    import numpy as np

    from ..arrays import float_dtype, is_float

    if not isinstance(block, np.ndarray):
        return np.zeros((1, 1))
    if is_float(block) and block.flags.c_contiguous and block.flags.aligned:
        return np.zeros((1, 1))
    return np.full((1, 1), np.dtype(float_dtype(block)).itemsize / block.dtype.itemsize)


def memory_shortfall(client: Any, arrays: list, *, features: Any = None) -> str | None:
    """Why ``features`` and ``arrays`` would not fit the workers' memory, or None when they
    would (or cannot be judged).

    Data that cannot fit the workers' memory make the nanny restart them halfway through
    loading: the need is the arrays' bytes (from their chunk sizes) plus ``MEMORY_OVERHEAD`` of
    them (only the overhead for arrays already persisted: their bytes are in the workers' memory
    now), plus, for ``features``, the actors' prepared copy of its chunks when they make one
    (chunks in Fortran order, as pandas makes them from a Parquet or CSV table, or of integers):
    where the verdict depends on it, one chunk is computed on a worker to see
    (:func:`_prepared_share`; the first chunk stands for all). The room, summed over the
    workers, is their memory limit times Dask's pause fraction less what each holds now, and
    each worker's room is judged against its even share of the rows (how the shards are placed).
    Arrays of unknown size (unknown chunks, sparse or device chunks) and workers without a limit
    are not judged. One request to the scheduler when it has workers.
    """
    import dask
    import numpy as np
    from distributed import futures_of

    workers = wait_for_workers(client)
    need = 0.0
    for a in [features, *arrays]:
        if a is None:
            continue
        if type(getattr(a, "_meta", None)) is not np.ndarray or any(
            np.isnan(c) for c in a.chunks[0]
        ):
            return None
        share = MEMORY_OVERHEAD if futures_of(a) else 1.0 + MEMORY_OVERHEAD
        need += float(a.nbytes) * share
    limits = [w.get("memory_limit") or 0 for w in workers.values()]
    if not workers or not all(limits):
        return None
    fraction = (
        dask.config.get("distributed.worker.memory.pause", 0.8)
        or dask.config.get("distributed.worker.memory.terminate", 0.95)
        or 1.0
    )
    held = [float((w.get("metrics") or {}).get("memory", 0) or 0) for w in workers.values()]
    rooms = [max(limit * fraction - used, 0.0) for limit, used in zip(limits, held)]
    if features is None or not features.npartitions:
        return _verdict(need, 0.0, list(workers), limits, rooms, fraction)
    # The copy is at most one of float64 per element (of float32 for float32 chunks): the
    # probe is only worth its chunk where the answer depends on it.
    dtype = np.dtype(features.dtype)
    worst = float(features.nbytes) * (1.0 if dtype.kind == "f" else 8.0 / dtype.itemsize)
    if _verdict(need + worst, worst, list(workers), limits, rooms, fraction) is None:
        return None
    probe = features.blocks[0].map_blocks(_prepared_share, chunks=(1, 1), dtype=float)
    copies = float(features.nbytes) * float(
        bounded(lambda: client.compute(probe).result(), timeouts()["load"], "the probe")[0, 0]
    )
    return _verdict(need + copies, copies, list(workers), limits, rooms, fraction)


def _verdict(
    need: float, copies: float, workers: list, limits: list, rooms: list, fraction: float
) -> str | None:
    """:func:`memory_shortfall`'s message for a need of ``need`` bytes (``copies`` of them
    the workers' copy of X), or None when it fits."""
    mb = 2.0**20
    what = f"the arrays and {MEMORY_OVERHEAD:.0%} more"
    if copies:
        what += f", and ~{copies / mb:,.0f} MiB of the workers' copy of X in the C order and "
        what += "float dtype they train on"
    if need > sum(rooms):
        return (
            f"The data do not fit the cluster's memory: the fit needs ~{need / mb:,.0f} MiB "
            f"({what}), the {len(workers)} workers have "
            f"~{sum(rooms) / mb:,.0f} MiB below their pause threshold ({fraction:g} of "
            f"{', '.join(f'{limit / mb:,.0f}' for limit in limits)} MiB, less what they hold). "
            "Give the workers more memory or add workers, or fit a sample of the rows."
        )
    # The shards are shared out by rows, evenly (assign_shards), whatever each worker's limit:
    # a worker with less room than its share is restarted while its shards load.
    share = need / len(workers)
    small = [(a, r) for a, r in zip(workers, rooms) if r < share]
    if small:
        address, room = min(small, key=lambda item: item[1])
        return (
            f"The data do not fit worker {address}'s memory: each of the {len(workers)} workers "
            f"holds an even share of the rows, ~{share / mb:,.0f} MiB with the overhead, and "
            f"it has ~{room / mb:,.0f} MiB below its pause threshold ({len(small)} such "
            "workers). Give that worker more memory, or start workers of equal memory."
        )
    return None


def choose_streaming(client: Any, X: Any, y: Any, sample_weight: Any, mode: Any) -> bool:
    """Whether a fit streams ``X`` from its source (``mode``: "auto", True or False).

    "auto" streams when ``X`` is not in the cluster's memory yet and the arrays would not fit
    it (:func:`memory_shortfall`); False then raises the :class:`MemoryError` that says so,
    before any work. ``X`` already persisted is trained where it is. The targets and weights
    are held either way, and must fit.
    """
    from distributed import futures_of

    arrays = [X, y, sample_weight]
    if futures_of(X):
        if mode is True:
            raise ValueError(
                "streaming=True reads X from its source on every pass, but X is persisted (its "
                "chunks are in the workers' memory already): pass the collection before "
                "persist(), or streaming='auto' to train on the persisted chunks."
            )
        check_cluster(client, arrays)
        return False
    if mode is False:
        check_cluster(client, arrays, advice=STREAM_ADVICE)
        return False
    if mode == "auto" and memory_shortfall(client, arrays[1:], features=X) is None:
        return False
    check_cluster(client, [None, y, sample_weight])
    logger.info("X does not fit the workers' memory (or streaming=True): streaming its rows")
    return True


def timeouts() -> dict[str, float]:
    """Seconds the cluster backend waits, from Dask's configuration (``dasksgd.timeouts.*``).

    ``request``: the least time a request may take before the workers are pinged (it grows to
    10 times the longest the same request took in this fit); ``ping``: how long a worker has to
    answer a ping before it counts as hung; ``load``: for persisting the data and building the
    shards. A request whose workers all answer pings is waited for ``PATIENCE`` request
    timeouts before the fit gives up.
    """
    import dask
    from dask.utils import parse_timedelta

    defaults = {"request": "60s", "ping": "10s", "load": "1h"}
    return {
        k: float(parse_timedelta(dask.config.get(f"dasksgd.timeouts.{k}", v)))
        for k, v in defaults.items()
    }


#: Request timeouts waited for while every worker answers pings, before the fit gives up.
PATIENCE = 10


class ClusterBackend(Backend):
    """Runs the loop's requests on shards resident on the workers of ``client``.

    Parameters
    ----------
    client : distributed.Client
        The cluster.
    X, y, sample_weight : dask.array.Array
        Row-chunked, aligned, single column chunk for ``X``; ``sample_weight`` may be None.
    spec : TargetSpec
        How targets are encoded.
    loss : Loss
        The loss.
    fit_intercept, shuffle, seed, validation_fraction
        As for :class:`ShardSet`.
    fan_in : int
        Most partial sums any node of the reduction tree receives per step.
    fit_id : str, optional
        Tags the workers' step-time reports (:data:`WORKER_TOPIC` events) with the fit; None:
        the workers report nothing.
    streaming : {"auto", True, False}
        Read ``X``'s rows from its source on every pass instead of persisting them
        (:mod:`.streaming`); "auto": when they would not fit the workers' memory
        (:func:`choose_streaming`).
    """

    def __init__(
        self,
        client: Any,
        X: Any,
        y: Any,
        sample_weight: Any,
        spec: TargetSpec,
        loss: Loss,
        *,
        fit_intercept: bool = True,
        shuffle: bool = True,
        seed: int = 0,
        validation_fraction: float = 0.0,
        fan_in: int = 8,
        fit_id: str | None = None,
        streaming: Any = "auto",
    ) -> None:
        self.client = client
        self.fit_id = fit_id
        self._mode = streaming
        self.streaming: bool | None = None  # decided at the first load
        self._sources: list | None = None
        self._data = (X, y, sample_weight)
        self._target = (spec, loss)
        self._options = ShardOptions(fit_intercept, shuffle, seed, validation_fraction)
        self._fan_in = fan_in
        self._scale: tuple | None = None  # the last set_scale request, replayed after a rebuild
        self._alive: set | None = None
        self._excluded: set = set()  # workers found hung: never used again by this fit
        self.recoveries = 0
        self.timeouts = timeouts()
        self._slowest: dict[str, float] = {}  # longest time each kind of request took
        with client.as_current():
            self._load()

    def _load(self) -> None:
        """Persist the arrays, place the shards and build one actor per worker (again after a
        lost worker: on those that remain)."""
        (X, y, sample_weight), fan_in = self._data, self._fan_in
        from distributed import futures_of, wait

        client = self.client
        arrays = [X, y] + ([] if sample_weight is None else [sample_weight])
        load = self.timeouts["load"]
        # The first load only (a rebuild's data are in memory already, counted as held), and
        # not again for data the classifier persisted, and so checked, to count its classes.
        if self.streaming is None:
            if all(futures_of(a) for a in arrays):
                self.streaming = False
            else:
                self.streaming = choose_streaming(client, X, y, sample_weight, self._mode)
        if self.streaming and self._sources is None:
            self._sources = chunk_sources(X)
        held = arrays[1:] if self.streaming else arrays
        persisted = client.persist(held)
        wait(persisted, timeout=load)
        self._persisted = persisted  # keeps the shards (streaming: the targets) alive
        parts = [self._sources] if self.streaming else []
        for arr in persisted:
            by_key = {f.key: f for f in futures_of(arr)}
            keys = [
                k for row in arr.__dask_keys__() for k in (row if isinstance(row, list) else [row])
            ]
            parts.append([by_key[k] for k in keys])
        x_parts, y_parts = parts[0], parts[1]
        sw_parts = parts[2] if sample_weight is not None else [None] * len(x_parts)
        sizes = [int(c) for c in X.chunks[0]]
        gone: set = set()
        for _ in range(self.max_recoveries + 1):
            try:
                plan, self.actors = self._place(x_parts, y_parts, sw_parts, sizes, gone)
                break
            except _LostWhileLoading as exc:
                # Its load task is pinned to it and would wait for it for ever: load again,
                # on the workers that are left (its chunks come back from their lineage).
                logger.warning("worker(s) %s left while the shards loaded; loading again", exc)
                gone |= exc.workers
        else:
            raise RuntimeError(
                f"Workers kept leaving the cluster while the shards loaded ({sorted(gone)}); "
                "check the workers' memory limits and logs."
            )
        if self.streaming:  # the actors hold the targets encoded: the raw ones can go
            self._persisted = []
        infos = [a.info().result(timeout=self.timeouts["request"]) for a in self.actors]
        check_weights(
            sum(i["weight"] for i in infos),
            sum(sum(i["n_val"]) for i in infos),
            sum(i["val_weight"] for i in infos),
        )
        self.workers = [w for w, _ in plan]
        self.most_shards = max(len(block) for _, block in plan)
        self.n_train = sum(sum(i["n_train"]) for i in infos)
        self.n_val = sum(sum(i["n_val"]) for i in infos)
        self.n_workers = len(self.actors)
        self.work_per_row = sum(i["work"] for i in infos) / max(self.n_train, 1)
        self.tree = build_tree(self.actors, fan_in)
        self._routes = self._connect()

    def _place(self, x_parts, y_parts, sw_parts, sizes, gone: set) -> tuple[list, list]:
        """Give the shards to the workers (leaving out ``gone``) and build their actors:
        ``(plan, actors)``. Raises :class:`_LostWhileLoading` when a worker whose actor is
        still loading leaves the cluster."""
        (X, y, _), (spec, loss), client = self._data, self._target, self.client
        load = self.timeouts["load"]
        # Streaming: where the targets are (the rows are read wherever their shard goes).
        placed = y_parts if self.streaming else x_parts
        who_has = bounded(lambda: client.who_has(placed), self.timeouts["ping"], "who_has")
        holders = [list(who_has.get(f.key, ())) for f in placed]
        workers = list(
            bounded(client.scheduler_info, self.timeouts["ping"], "scheduler_info")["workers"]
        )
        if self._alive is not None:  # after a loss: only the workers that answered
            workers = [w for w in workers if w in self._alive]
        workers = [w for w in workers if w not in gone]
        if not workers:
            raise RuntimeError("The Dask cluster has no workers; start some before fitting.")
        plan = assign_shards(sizes, holders, workers)
        # Fresh per load: a rebuild after a lost worker must not meet the old actors' keys.
        token = tokenize(X.name, y.name, self._options.seed, uuid.uuid4().hex)
        futures = [
            client.submit(
                ShardHolder,
                block,
                [x_parts[i] for i in block],
                [y_parts[i] for i in block],
                [sw_parts[i] for i in block],
                spec,
                loss,
                self._options,
                len(sizes),
                [(sizes[i], int(X.shape[1])) for i in block],
                self.fit_id,
                bool(self.streaming),
                actor=True,
                workers=[worker],
                allow_other_workers=False,
                key=f"dasksgd-load-shards-{token}-{j}",
            )
            for j, (worker, block) in enumerate(plan)
        ]
        self._actor_futures = futures
        # Watched, a ping timeout at a time: a pinned task whose worker left never finishes.
        from distributed import wait

        deadline = time.monotonic() + load
        while True:
            try:
                wait(
                    futures,
                    timeout=max(min(self.timeouts["ping"], deadline - time.monotonic()), 0.1),
                )
                break
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"The shards did not load within dasksgd.timeouts.load ({load:g} s)."
                    ) from None
            present = set(
                bounded(client.scheduler_info, self.timeouts["ping"], "scheduler_info")["workers"]
            )
            waiting = {w for (w, _), f in zip(plan, futures) if not f.done()}
            lost = waiting - present
            # A hung worker (stopped, frozen) stays listed for minutes: one that does not
            # answer a ping is removed from the cluster, and its shards go to the others.
            hung = [w for w in sorted(waiting & present) if not self._answers(w)]
            if hung:
                self._evict(hung)
                lost |= set(hung)
            if lost:
                client.cancel(futures)
                raise _LostWhileLoading(lost)
        # Shards are validated as they load: a bad value raises here, before any step.
        return plan, [f.result(timeout=load) for f in futures]

    #: Seconds of a step's round trip (model out, sums back), with one shard per worker: the
    #: cost model's constant, from benchmarks/step_overhead.py on the 2-core development machine.
    transport_overhead = 1.7e-3

    @property
    def step_overhead(self) -> float:
        """Seconds of bookkeeping per step: the round trip and the fixed cost of every shard on
        the busiest worker (a cost model, not a timing: two fits of the same data and layout
        are identical). Sets the smallest "auto" batch."""
        return self.transport_overhead + SHARD_OVERHEAD * self.most_shards

    def info(self) -> list[dict]:
        """What each worker's actor holds and how many requests it served."""
        return [a.info().result(timeout=self.timeouts["request"]) for a in self.actors]

    def read_totals(self) -> tuple[float, float] | None:
        """Bytes and seconds the workers have read from the data's source since their actors
        started (summed), or None when the fit does not stream. One round trip per worker."""
        if not self.streaming:
            return None
        totals = [a.read_totals().result(timeout=self.timeouts["request"]) for a in self.actors]
        return sum(t[0] for t in totals), sum(t[1] for t in totals)

    #: Rebuilds after lost workers that one fit may make before it gives up.
    max_recoveries = 3

    def call(self, op: str, *args: Any) -> Any:
        """Run ``op`` on every shard through the reduction tree and return the sum.

        A worker lost during the request (its actor cannot be reached), or hung (no answer
        within the request's timeout, and none to a ping: it is then removed from the cluster),
        makes the backend rebuild its actors on the workers that remain, from the persisted
        arrays (Dask recomputes the lost chunks from their lineage), and run the request again.
        Every request is a pure function of its arguments and the shards, and small results are
        summed in shard order, so the fit continues exactly as if nothing had happened.
        """
        broken = False
        while True:
            try:
                if broken:
                    self._rebuild()
                    broken = False
                total = self._gather(op, args)
                break
            except Exception as exc:  # noqa: BLE001 - only a lost worker is handled, see is_lost
                if not is_lost(exc):
                    raise
                if self.recoveries >= self.max_recoveries:
                    raise RuntimeError(
                        f"Lost contact with a worker during '{op}' after "
                        f"{self.recoveries} rebuilds "
                        f"of the shards ({exc}). The estimator is unchanged; check the cluster and "
                        "fit again."
                    ) from exc
                self.recoveries += 1
                logger.warning(
                    "lost contact with a worker during %r (%s): rebuilding the shards on the "
                    "remaining workers",
                    op,
                    exc,
                )
                if isinstance(exc, Unresponsive):
                    self._evict(exc.workers)
                broken = True
                time.sleep(0.5 * self.recoveries)  # let the scheduler notice the loss
        if op == "set_scale":
            self._scale = args
        return total.total() if isinstance(total, ByShard) else total

    def _gather(self, op: str, args: tuple) -> Any:
        """Send ``op`` to every tree head and add their results, in one hop to the client's event
        loop and back: the requests go out and the answers are awaited in one coroutine there
        (fetching each actor future's result from this thread would cost a hop each)."""
        t0 = time.perf_counter()
        sent: list = []

        async def request() -> list:
            if not sent:  # the first wait sends; a later one (after a timeout) awaits the same
                if self._routes is None:
                    sent.extend(head.run(pack((op, args, sub))) for head, sub in self.tree)
                else:
                    sent.extend(
                        asyncio.ensure_future(
                            execute(route, head.key, "run", pack((op, args, sub)))
                        )
                        for route, (head, sub) in zip(self._routes, self.tree)
                    )
            # shield: a timeout cancels this wait, not the requests (they are awaited again)
            return [unpack(await asyncio.shield(fut)) for fut in sent]

        values = self._wait(request, op, t0)
        total = None
        for value in values:
            total = value if total is None else total + value
        self._slowest[op] = max(self._slowest.get(op, 0.0), time.perf_counter() - t0)
        return total

    def _wait(self, request: Callable[[], Any], op: str, t0: float) -> Any:
        """Run ``request`` (a coroutine function) on the client's loop, never without a limit.
        When the limit passes, the workers are pinged: one that does not answer is hung
        (:class:`Unresponsive`); if all answer, the request is only slow, and is given more
        time, up to ``PATIENCE`` limits."""
        limit = max(self.timeouts["request"], 10.0 * self._slowest.get(op, 0.0))
        for _ in range(PATIENCE):
            remaining = limit - (time.perf_counter() - t0) % limit
            try:
                return self.client.sync(request, callback_timeout=remaining)
            except TimeoutError:
                hung = self._unresponsive()
                waited = time.perf_counter() - t0
                if hung:
                    raise Unresponsive(hung, op, waited) from None
                logger.warning(
                    "'%s' is taking %.0f s; every worker answers, still waiting", op, waited
                )
        raise TimeoutError(
            f"'{op}' got no answer in {PATIENCE} x {limit:.0f} s although every worker "
            "answers pings. The estimator is unchanged. Raise the dask config "
            "'dasksgd.timeouts.request' if one step legitimately takes that long, or look at "
            "the workers (the dashboard's call stacks)."
        )

    def _connect(self) -> list | None:
        """Direct connections from the client to the tree heads' workers, or None to keep the
        actors' own calls.

        An actor call from a client that does not say ``direct_to_workers=True`` is relayed by
        the scheduler: one more hop each way (``benchmarks/step_overhead.py`` times both
        routes). The requests go straight to the workers when a
        connection can be made (checked here, once per load), unless the client was made with
        ``direct_to_workers=False`` (a client that cannot reach the workers' network).
        """
        where = {actor.key: worker for actor, worker in zip(self.actors, self.workers)}
        try:
            return connect(
                self.client, [where[head.key] for head, _ in self.tree], self.timeouts["ping"]
            )
        except Exception as exc:  # noqa: BLE001 - any failure: the scheduler relays, as before
            logger.info(
                "cannot reach the workers directly (%s); requests go through the scheduler", exc
            )
            return None

    def _unresponsive(self) -> list[str]:
        """Workers whose actor does not answer a ping within the ping timeout."""
        deadline = time.perf_counter() + self.timeouts["ping"]
        pings = [a.ping() for a in self.actors]
        hung = []
        for worker, ping in zip(self.workers, pings):
            try:
                ping.result(timeout=max(deadline - time.perf_counter(), 0.01))
            except Exception:  # noqa: BLE001 - a timeout, or a closed connection: no answer either way
                hung.append(worker)
        return hung

    def _answers(self, worker: str) -> bool:
        """Whether ``worker``'s process answers a ping within the ping timeout (its event
        loop answers while its thread computes)."""
        try:
            out = bounded(
                lambda: self.client.run(_pong, workers=[worker], on_error="return"),
                self.timeouts["ping"],
                "ping",
            )
        except Exception:  # noqa: BLE001 - a timeout, or a closed connection: no answer either way
            return False
        return out.get(worker) == "pong"

    def _evict(self, workers: list[str]) -> None:
        logger.warning("removing unresponsive worker(s) %s from the cluster", ", ".join(workers))
        try:
            evict(self.client, workers, self.timeouts["ping"])
        except Exception as exc:  # noqa: BLE001 - the rebuild below leaves them out all the same
            logger.warning("could not remove %s: %s", workers, exc)
        self._excluded.update(workers)

    def _rebuild(self) -> None:
        self.actors, self.tree, self._actor_futures, self._routes = [], [], [], None
        # The workers that answer now (a lost one may still be listed by the scheduler).
        answers = bounded(
            lambda: self.client.run(_pong, on_error="return"), self.timeouts["ping"], "ping"
        )
        self._alive = {w for w, a in answers.items() if a == "pong"} - self._excluded
        with self.client.as_current():
            self._load()
        if self._scale is not None:
            self._gather("set_scale", self._scale)

    def close(self) -> None:
        """Release the actors and the persisted shards."""
        self.actors = []
        self.tree = []
        self._actor_futures = []
        self._routes = None
        self._persisted = []
