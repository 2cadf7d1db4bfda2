"""A fit that something disturbs half-way, on a real cluster (shared by the worker-loss tests)."""

import os
import threading
import time

import numpy as np

from dasksgd import SGDClassifier
from dasksgd.datasets import make_classification

#: Long enough (~3-5 s on 2 workers) to be disturbed after 1.5 s.
PARAMS = dict(batch_size=1000, max_iter=8, tol=None, random_state=0)


def data():
    """Generated block by block where it is computed: lost chunks are recomputed."""
    return make_classification(200_000, 10, chunks=25_000, random_state=3)


def reference(**params):
    """The undisturbed fit: the same chunks in this process (equal to a cluster fit, bit for
    bit)."""
    return SGDClassifier(**{**PARAMS, **params}).fit(*data())


def victim(client):
    """``(address, pid)`` of the second worker of ``client``'s cluster."""
    pids = client.run(os.getpid)
    address = sorted(pids)[1]
    return address, pids[address]


def fit_while(disturb, after=1.5, **params):
    """Fit on the current client's cluster and call ``disturb()`` ``after`` seconds in.

    Returns the estimator; fails unless ``disturb`` ran before the fit ended.
    """
    done = threading.Event()

    def later():
        time.sleep(after)
        disturb()
        done.set()

    threading.Thread(target=later, daemon=True).start()
    t0 = time.perf_counter()
    est = SGDClassifier(**{**PARAMS, **params}).fit(*data())
    took = time.perf_counter() - t0
    assert done.is_set() and took > after, "the fit ended before it was disturbed: make it longer"
    return est


def assert_same(est, ref):
    np.testing.assert_array_equal(est.coef_, ref.coef_)
    np.testing.assert_array_equal(est.intercept_, ref.intercept_)
