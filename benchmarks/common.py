"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import contextlib
import pathlib
from typing import Iterator

import numpy as np

#: Where every benchmark writes its tables, plots and raw points (the docs include them).
RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def write_table(stem: str, text: str) -> pathlib.Path:
    """Print a benchmark's markdown and write it to ``results/<stem>.md``; returns the folder."""
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.md").write_text(text + "\n")
    return RESULTS


@contextlib.contextmanager
def local_client(n_workers: int = 2) -> Iterator:
    """A ``Client`` of a ``LocalCluster`` of ``n_workers`` one-thread worker processes on
    127.0.0.1 without a dashboard: every benchmark's cluster, closed on exit."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def gather_local(client, arr):
    """A persisted dask array's chunks, copied to this process and stacked here.

    ``arr.compute()`` would concatenate the chunks in a task on one worker, and Dask then keeps
    them all there (its memory manager drops the other replicas): every Dask contender timed
    afterwards would start from data held by one worker.
    """
    import scipy.sparse as sp
    from distributed import futures_of, wait

    wait(arr)
    by_key = {f.key: f for f in futures_of(arr)}
    keys = [k for row in arr.__dask_keys__() for k in (row if isinstance(row, list) else [row])]
    parts = client.gather([by_key[k] for k in keys])
    if sp.issparse(parts[0]):
        return sp.vstack(parts, format="csr")
    return np.concatenate(parts)
