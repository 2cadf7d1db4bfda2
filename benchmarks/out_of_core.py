"""Data larger than the cluster's memory: a streamed fit against the floor of reading the files.

The data: the flights table of ``real_data.py`` ("flights late, standardized": 327,346 rows of
125 float32 columns, target ``arr_delay > 15``), its rows in their given order (by date) in
8 files, and ``--copies`` copies of those files (hard links: no disk space, and the page cache
holds one copy, so every read below is decoding from the page cache, not the disk's
throughput). The rows are copies, so the data's objective is the table's own and its optimum
the table's in-memory one (``f*``, newton-cholesky at tol=1e-12 in float64 on the float32
values). Written once in each format: Parquet (``dask.dataframe.read_parquet``, no
compression) and an npy stack (``dask.array.from_npy_stack``, read whole, not memory-mapped).

Per format, on a fresh ``LocalCluster`` of 2 one-thread workers of ``--limit`` MiB each:

- **read floor**: every partition read once with the fit's own reader (each chunk's culled
  graph, computed by the synchronous scheduler, as ``dasksgd.engine.streaming`` does), half
  the partitions on each worker, both at once, no arithmetic: the wall time of the slower.
- **dasksgd streamed**: ``SGDClassifier(alpha=1e-5, random_state=0)`` with every other
  parameter at its default (``streaming="auto"`` chooses to stream): the whole fit call;
  seconds per epoch (an epoch is one pass: a mini-batch epoch, or one quasi-Newton step) and
  the bytes read over the fit; the time at which the epochs' objectives first went under a
  gap of 1e-4 and 1e-6 (history, counted from the call: the row count, the plan's passes and
  the loading included); every worker's peak RSS; whether a worker paused (its log) or was
  restarted (its pid).

And once (Parquet):

- **dask-ml Incremental**: ``Incremental(sklearn SGDClassifier(loss="log_loss",
  alpha=1e-5))`` on the same files (``to_dask_array(lengths=True)``), a pass per call
  (``fit`` then ``partial_fit``), each block in turn (dask-ml's wrapper is sequential), until
  ``--budget`` s; the gap after each pass (measured outside the timing).
- **dasksgd in memory, a subset that fits**: the 8 distinct files (1/copies of the rows, the
  same objective), ``streaming=False``, on its own 2-worker cluster of the same limits.

    python benchmarks/out_of_core.py [--copies 41] [--limit 1024] [--dir /tmp/dasksgd-ooc]
    python benchmarks/out_of_core.py --workers 1 --limit 2048 --max-iter 18 --no-peers

Writes ``results/out_of_core[_Nworkers][_max_iterN].md``. ``--workers 1`` leaves the machine's
second core to the read-ahead thread (with 2 one-thread workers on 2 cores, reading and the
arithmetic share the cores; the floor uses both for reading alone).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import pathlib
import pickle
import platform
import time
import warnings

import numpy as np
from common import write_table
from real_data import ALPHA, Problem, optimum, problems

from dasksgd.engine.cluster import peak_rss

FILES = 8  # distinct files of rows; the data are --copies of them
LEVELS = (1e-4, 1e-6)


def _read_all(sources: list) -> tuple[float, float]:
    """On a worker: read each source once (the fit's reader), keep nothing."""
    t0, size = time.perf_counter(), 0
    for s in sources:
        size += s.read().nbytes
    return time.perf_counter() - t0, float(size)


WORKERS = [2]  # --workers


@contextlib.contextmanager
def cluster(limit: int):
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=WORKERS[0],
            threads_per_worker=1,
            processes=True,
            memory_limit=limit,
            host="127.0.0.1",
            dashboard_address=None,
            worker_dashboard_address=None,
        ) as c,
        Client(c) as client,
    ):
        yield client


def write(folder: pathlib.Path, X: np.ndarray, y: np.ndarray, copies: int) -> dict:
    """The Parquet and npy-stack datasets (FILES distinct files, linked ``copies`` times)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = np.array_split(np.arange(len(y)), FILES)
    pq_dir, npy_x, npy_y, sub = (folder / n for n in ("parquet", "npy-X", "npy-y", "subset"))
    if not (folder / "done").exists():
        for d in (pq_dir, npy_x, npy_y, sub):
            d.mkdir(parents=True, exist_ok=True)
        names = [f"f{j}" for j in range(X.shape[1])]
        for k, rows in enumerate(parts):
            table = pa.table({**{n: X[rows, j] for j, n in enumerate(names)}, "y": y[rows]})
            pq.write_table(table, sub / f"part-{k:05d}.parquet", compression="none")
            np.save(npy_x / f"base-{k}.npy", X[rows])
            np.save(npy_y / f"base-{k}.npy", y[rows])
        for c in range(copies):
            for k in range(FILES):
                i = c * FILES + k
                os.link(sub / f"part-{k:05d}.parquet", pq_dir / f"part-{i:05d}.parquet")
                os.link(npy_x / f"base-{k}.npy", npy_x / f"{i}.npy")
                os.link(npy_y / f"base-{k}.npy", npy_y / f"{i}.npy")
        sizes = tuple(len(r) for r in parts) * copies
        for d, dt, width in ((npy_x, X.dtype, (X.shape[1],)), (npy_y, y.dtype, ())):
            info = {"chunks": (sizes, *[(w,) for w in width]), "dtype": dt, "axis": 0}
            (d / "info").write_bytes(pickle.dumps(info))
        (folder / "done").write_text("")
    return {"parquet": pq_dir, "npy": (npy_x, npy_y), "subset": sub}


def columns(df, d):
    return df[[f"f{j}" for j in range(d)]], df["y"]


def collections(fmt: str, where, d: int):
    import dask.array as da
    import dask.dataframe as dd

    if fmt == "npy":
        return da.from_npy_stack(str(where[0]), mmap_mode=None), da.from_npy_stack(
            str(where[1]), mmap_mode=None
        )
    return columns(dd.read_parquet(str(where)), d)


def epoch_seconds(history) -> tuple[list[float], list[float]]:
    """Seconds of each epoch after the first: those of one full-batch step (a pass over the
    rows that measures the objective and the gradient) and the mini-batch ones (their steps'
    pass, and the pass that measures the epoch's objective)."""
    h = history.dropna(subset=["objective"])
    full = history["batch_size"].max()
    ends, times = list(h["epoch"]), list(h["time"])
    one, mini = [], []
    for k in range(1, len(ends)):
        steps = history[history["epoch"] == ends[k]]
        (one if (steps["batch_size"] == full).all() else mini).append(times[k] - times[k - 1])
    return one, mini


def gaps_at(history, f_star: float) -> tuple[list[float], list[float]]:
    ep = history.dropna(subset=["objective"])
    return list(ep["time"]), list((ep["objective"] - f_star) / f_star)


def first_under(times, gaps, level) -> float:
    return next((t for t, g in zip(times, gaps) if g < level), float("nan"))


def _frame_to_array(X):
    from dasksgd.inputs import _frame_to_array as to_array  # the estimators' conversion

    return to_array(X)


def floor(client, X) -> tuple[float, float]:
    """Wall seconds to read every partition once on both workers at once, and the bytes."""
    from dasksgd.engine.streaming import chunk_sources

    sources = chunk_sources(X)
    workers = sorted(client.scheduler_info()["workers"])
    halves = [sources[k :: len(workers)] for k in range(len(workers))]
    client.run(lambda: None)  # both workers up
    t0 = time.perf_counter()
    futures = [
        client.submit(_read_all, h, workers=[w], pure=False, allow_other_workers=False)
        for h, w in zip(halves, workers)
    ]
    out = client.gather(futures)
    return time.perf_counter() - t0, sum(b for _, b in out)


def health(client, pids) -> tuple[list[int], bool, bool]:
    peaks = sorted(client.run(peak_rss).values())
    logs = client.get_worker_logs()
    paused = any("Pausing worker" in line for lines in logs.values() for _, line in lines)
    return peaks, paused, client.run(os.getpid) != pids


class _Seen(logging.Handler):
    """Whether the "dasksgd" logger said the fit streams its rows."""

    seen = False

    def emit(self, record: logging.LogRecord) -> None:
        self.seen = self.seen or "streaming its rows" in record.getMessage()


def streamed(fmt, where, d, limit, f_star, mode="auto", extra=None) -> dict:
    from dasksgd import SGDClassifier

    streamed_log = _Seen()
    logger = logging.getLogger("dasksgd")
    logger.addHandler(streamed_log)
    logger.setLevel(logging.INFO)

    with cluster(limit) as client:
        pids = client.run(os.getpid)
        X, y = collections(fmt, where, d)
        wall, size = floor(client, X if fmt == "npy" else _frame_to_array(X))
        t0 = time.perf_counter()
        est = SGDClassifier(alpha=ALPHA, random_state=0, streaming=mode, **(extra or {}))
        est.fit(X, y)
        seconds = time.perf_counter() - t0
        peaks, paused, restarted = health(client, pids)
    logger.removeHandler(streamed_log)
    times, gaps = gaps_at(est.history_, f_star)
    one, mini = epoch_seconds(est.history_)
    return {
        "floor": wall,
        "bytes": size,
        "fit": seconds,
        "epochs": est.n_iter_,
        "streamed": streamed_log.seen,
        "pass": float(np.median(one)) if one else float("nan"),
        "mini": float(np.median(mini)) if mini else float("nan"),
        "counts": (len(one), len(mini)),
        "to": [first_under(times, gaps, lv) for lv in LEVELS],
        "gap": gaps[-1],
        "peaks": peaks,
        "paused": paused,
        "restarted": restarted,
    }


def in_memory(where, d, limit, f_star, extra=None) -> dict:
    import dask.dataframe as dd

    from dasksgd import SGDClassifier

    with cluster(limit) as client:
        pids = client.run(os.getpid)
        X, y = columns(dd.read_parquet(str(where)), d)
        t0 = time.perf_counter()
        est = SGDClassifier(alpha=ALPHA, random_state=0, streaming=False, **(extra or {}))
        est.fit(X, y)
        seconds = time.perf_counter() - t0
        peaks, paused, restarted = health(client, pids)
    times, gaps = gaps_at(est.history_, f_star)
    return {"fit": seconds, "epochs": est.n_iter_, "to": [first_under(times, gaps, lv) for lv in LEVELS],
            "gap": gaps[-1], "peaks": peaks, "paused": paused, "restarted": restarted}  # fmt: skip


def incremental(where, d, limit, p: Problem, f_star, budget) -> dict:
    import dask.dataframe as dd
    from dask_ml.wrappers import Incremental
    from sklearn.linear_model import SGDClassifier as SkSGD

    with cluster(limit) as client:
        pids = client.run(os.getpid)
        # One array of every column, then split: the features' and the target's frames can
        # be partitioned differently (read_parquet merges row groups of fewer columns).
        both = dd.read_parquet(str(where)).to_dask_array(lengths=True)
        X, y = both[:, :d], both[:, d]
        inc = Incremental(SkSGD(loss="log_loss", alpha=ALPHA, random_state=0))
        spent, points = 0.0, []
        while spent < budget:
            t0 = time.perf_counter()
            if points:
                inc.partial_fit(X, y)
            else:
                inc.fit(X, y, classes=[0, 1])
            spent += time.perf_counter() - t0
            e = inc.estimator_
            points.append((spent, (p.objective(e.coef_, e.intercept_) - f_star) / f_star))
        peaks, paused, restarted = health(client, pids)
    return {"points": points, "peaks": peaks, "paused": paused, "restarted": restarted}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=41)
    ap.add_argument("--limit", type=int, default=1024, help="each worker's memory limit, MiB")
    ap.add_argument("--dir", default="/tmp/dasksgd-ooc")
    ap.add_argument("--formats", default="parquet,npy")
    ap.add_argument("--streaming", default="auto", choices=["auto", "true"],
                    help="the streamed fits' parameter (true: stream small data too)")  # fmt: skip
    ap.add_argument("--workers", type=int, default=2, help="one thread each")
    ap.add_argument(
        "--max-iter",
        type=int,
        default=None,
        help="dasksgd's fits run this many epochs (tol=None) instead of the defaults",
    )
    ap.add_argument("--no-peers", action="store_true", help="no dask-ml run")
    ap.add_argument("--budget", type=float, default=300.0, help="dask-ml's seconds of passes")
    args = ap.parse_args()
    WORKERS[0] = args.workers
    extra = {} if args.max_iter is None else {"max_iter": args.max_iter, "tol": None}
    warnings.simplefilter("ignore")
    limit = args.limit * 2**20
    p = next(q for q in problems(["flights"]) if q.name == "flights late, standardized")
    X32 = p.X.astype(np.float32)
    p = Problem(p.name, p.kind, X32.astype(np.float64), p.y)  # the values the fits read
    f_star = optimum(p)
    n, d = X32.shape
    where = write(pathlib.Path(args.dir), X32, p.y.astype(np.int64), args.copies)
    total = X32.nbytes * args.copies
    mb = 2.0**20
    head = (
        f"flights late, standardized: {n:,} x {d} float32, {args.copies} copies in "
        f"{FILES * args.copies} files: {total / 1e9:.2f} GB of features, "
        f"{total / (args.workers * limit):.1f}x the {args.workers} workers' total memory limit "
        f"({args.limit} MiB each, one thread each); alpha={ALPHA:g}, "
        + (
            "every parameter at its default"
            if args.max_iter is None
            else f"max_iter={args.max_iter}, tol=None"
        )  # fmt: skip
        + f"; {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}. Reads come from the page cache (hard-linked copies)."
    )
    rows = ["| contender | streamed | fit s | epochs | s per full-batch epoch (a pass) | "
            "s per mini-batch epoch | read floor s | s to 1e-4 | s to 1e-6 | final gap | "
            "peak RSS MiB | paused / restarted |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]  # fmt: skip
    notes = []
    for fmt in args.formats.split(","):
        mode = True if args.streaming == "true" else "auto"
        r = streamed(fmt, where[fmt], d, limit, f_star, mode, extra)
        rows.append(
            f"| dasksgd, {fmt} | {'yes' if r['streamed'] else 'no'} | {r['fit']:.1f} | "
            f"{r['epochs']} | {r['pass']:.1f} | {r['mini']:.1f} | {r['floor']:.1f} | "
            f"{r['to'][0]:.1f} | {r['to'][1]:.1f} | {r['gap']:.1e} | "
            f"{', '.join(f'{v / mb:.0f}' for v in r['peaks'])} | "
            f"{'yes' if r['paused'] else 'no'} / {'yes' if r['restarted'] else 'no'} |"
        )
        notes.append(
            f"- {fmt}: a full-batch epoch (one pass) in {r['pass'] / r['floor']:.2f}x the read "
            f"floor (median of {r['counts'][0]}), a mini-batch epoch in "
            f"{r['mini'] / r['floor']:.2f}x (median of {r['counts'][1]}); the floor read "
            f"{r['bytes'] / 1e9:.2f} GB at {r['bytes'] / r['floor'] / 1e6:.0f} MB/s."
        )
    if "parquet" in args.formats and not args.no_peers:
        r = incremental(where["parquet"], d, limit, p, f_star, args.budget)
        pts = r["points"]
        to = [next((s for s, g in pts if g < lv), float("nan")) for lv in LEVELS]
        rows.append(
            f"| dask-ml Incremental (sklearn SGD log_loss), parquet | yes | {pts[-1][0]:.1f} | "
            f"{len(pts)} | - | {pts[0][0]:.1f} (first) | - | {to[0]:.1f} | {to[1]:.1f} | "
            f"{pts[-1][1]:.1e} | {', '.join(f'{v / mb:.0f}' for v in r['peaks'])} | "
            f"{'yes' if r['paused'] else 'no'} / {'yes' if r['restarted'] else 'no'} |"
        )
        notes.append(
            "- dask-ml Incremental, gap after each pass: "
            + ", ".join(f"{g:.1e} ({s:.0f} s)" for s, g in pts)
        )
    if "parquet" in args.formats:
        r = in_memory(where["subset"], d, limit, f_star, extra)
        rows.append(
            f"| dasksgd, the {FILES} distinct files (1/{args.copies} of the rows) | no | "
            f"{r['fit']:.1f} | {r['epochs']} | - | - | - | {r['to'][0]:.1f} | {r['to'][1]:.1f} | "
            f"{r['gap']:.1e} | {', '.join(f'{v / mb:.0f}' for v in r['peaks'])} | "
            f"{'yes' if r['paused'] else 'no'} / {'yes' if r['restarted'] else 'no'} |"
        )
    stem = "out_of_core" + (f"_{args.workers}workers" if args.workers != 2 else "")
    stem += f"_max_iter{args.max_iter}" if args.max_iter is not None else ""
    write_table(stem, "\n".join([head, "", *rows, "", *notes]))


if __name__ == "__main__":
    main()
