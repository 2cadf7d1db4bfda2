"""Streamed fits on real clusters: Parquet data larger than the workers' memory, read pass
after pass; the same optimum as in memory; a worker killed mid-pass."""

import logging
import os
import signal
import threading
import time

import dask.dataframe as dd
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from distributed import Client, LocalCluster
from sklearn.linear_model import LogisticRegression, Ridge

from dasksgd import SGDClassifier, SGDRegressor
from dasksgd.engine.cluster import peak_rss

pytestmark = pytest.mark.cluster

ALPHA = 1e-4
D = 40


def _base(n, seed=0, regression=False):
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, D)) * np.linspace(0.5, 3.0, D) + 1.0).astype(np.float32)
    z = X @ rng.standard_normal(D) / D**0.5 + rng.standard_normal(n)
    y = z if regression else (z > np.median(z)).astype(np.int64)
    return X, y


def _write(path, X, y, copies=1, rows=None):
    """Files of ``rows`` rows each (all rows by default), and ``copies`` of them (hard links:
    no disk space, and the page cache holds one). The objective of copies of the rows is the
    rows' objective, so their optimum is the rows' in-memory one."""
    table = pa.table({**{f"f{i}": X[:, i] for i in range(D)}, "y": y})
    rows = rows or len(y)
    files = []
    for a in range(0, len(y), rows):
        files.append(f"{path}/part-{len(files):05d}.parquet")
        pq.write_table(table.slice(a, rows), files[-1], compression="none")
    k = len(files)
    for _ in range(copies - 1):
        for f in files[: len(files)]:
            os.link(f, f"{path}/part-{k:05d}.parquet")
            k += 1
    return dd.read_parquet(str(path))


def _gap(est, X, y, regression=False, alpha=ALPHA):
    Xd = X.astype(np.float64)
    n = len(y)
    if regression:
        ref = Ridge(alpha=alpha * n, tol=1e-12).fit(Xd, y)

        def F(w, b):
            return 0.5 * np.mean((Xd @ w + b - y) ** 2) + 0.5 * alpha * w @ w
    else:
        ref = LogisticRegression(C=1 / (alpha * n), tol=1e-12, max_iter=10000).fit(Xd, y)

        def F(w, b):
            return np.mean(np.logaddexp(0, -(2 * y - 1) * (Xd @ w + b))) + 0.5 * alpha * w @ w

    f_star = F(np.ravel(ref.coef_), float(np.ravel(ref.intercept_)[0]))
    return (F(np.ravel(est.coef_), float(np.ravel(est.intercept_)[0])) - f_star) / f_star


def _columns(df):
    return df[[f"f{i}" for i in range(D)]], df["y"]


@pytest.mark.timeout(600)
def test_parquet_larger_than_the_workers_memory_is_streamed_with_bounded_memory(tmp_path, caplog):
    # 1.5 GB of float32 rows (240 files of 40,000 rows; copies of one) on two workers of
    # 700 MiB, which hold ~280 MiB each before any data (Python, numpy, pandas, pyarrow, Dask):
    # 2.6 times the memory they have left below their pause threshold.
    limit, alpha = 700 * 2**20, 1e-3
    X, y = _base(40_000)
    df = _write(tmp_path, X, y, copies=240)
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            memory_limit=limit,
            host="127.0.0.1",
            dashboard_address=None,
            worker_dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        pids = client.run(os.getpid)
        Xf, yf = _columns(df)
        est = SGDClassifier(alpha=alpha, streaming=False)
        with pytest.raises(
            MemoryError, match=r"~\d,\d\d\d MiB .*copy of X.* 700, 700 MiB.*streaming=True"
        ):
            est.fit(Xf, yf)  # refused before any work, saying what to do
        assert not hasattr(est, "coef_")
        with caplog.at_level(logging.INFO, logger="dasksgd"):
            est = SGDClassifier(alpha=alpha, random_state=0).fit(Xf, yf)  # "auto" streams
        assert "streaming its rows" in caplog.text
        assert client.run(os.getpid) == pids  # no worker was restarted
        peaks = client.run(peak_rss)  # VmHWM: each worker's own peak
        assert all(p < 0.95 * limit for p in peaks.values()), peaks
    assert _gap(est, X, y, alpha=alpha) < 1e-6


@pytest.mark.parametrize("regression", [False, True])
def test_a_streamed_fit_reaches_the_in_memory_optimum(client, tmp_path, regression):
    X, y = _base(60_000, seed=1, regression=regression)
    df = _write(tmp_path, X, y, rows=6_000)
    make = SGDRegressor if regression else SGDClassifier
    gaps = {}
    for streaming in (True, False):
        est = make(alpha=ALPHA, streaming=streaming, random_state=0).fit(*_columns(df))
        gaps[streaming] = _gap(est, X, y, regression)
    assert gaps[True] < 1e-6 and gaps[False] < 1e-6, gaps


def test_streaming_true_on_persisted_data_is_refused(client):
    import dask.array as da

    X, y = _base(2_000)
    Xp = da.from_array(X, chunks=(500, D)).persist()
    with pytest.raises(ValueError, match="X is persisted"):
        SGDClassifier(streaming=True).fit(Xp, da.from_array(y, chunks=500))


def test_streaming_true_needs_a_client(tmp_path):
    X, y = _base(2_000)
    Xf, yf = _columns(_write(tmp_path, X, y, rows=500))
    with pytest.raises(ValueError, match="no distributed.Client"):
        SGDRegressor(streaming=True).fit(Xf, yf.astype(float))


@pytest.mark.timeout(300)
def test_a_streamed_fit_survives_a_worker_killed_mid_pass(tmp_path):
    X, y = _base(40_000, seed=2)
    df = _write(tmp_path, X, y, copies=10, rows=10_000)  # 40 files, 64 MB
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            worker_dashboard_address=None,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
        client.as_current(),
    ):
        pids = client.run(os.getpid)
        victim = pids[sorted(pids)[1]]
        killed = threading.Event()

        def later():
            time.sleep(1.5)
            os.kill(victim, signal.SIGKILL)
            killed.set()

        threading.Thread(target=later, daemon=True).start()
        # 30 epochs of streamed passes: several seconds.
        est = SGDClassifier(alpha=ALPHA, streaming=True, max_iter=30, tol=None, random_state=0).fit(
            *_columns(df)
        )
        assert killed.is_set(), "the fit ended before the worker was killed: make it longer"
    assert _gap(est, X, y) < 1e-6
