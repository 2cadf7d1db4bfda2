"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import numpy as np


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
