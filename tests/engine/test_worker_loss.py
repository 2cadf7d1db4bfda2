"""A worker killed in the middle of a fit: the engine rebuilds its shards and the fit ends with
the model an undisturbed fit gives."""

import os
import signal
import threading
import time

import numpy as np
import pytest

from dasksgd import SGDClassifier
from dasksgd.datasets import make_classification

pytestmark = pytest.mark.cluster


def test_fit_survives_a_killed_worker():
    from distributed import Client, LocalCluster

    params = dict(batch_size=1000, max_iter=8, tol=None, random_state=0)

    def data():  # generated block by block where it is computed: lost chunks are recomputed
        return make_classification(200_000, 10, chunks=25_000, random_state=3)

    # Undisturbed: the same chunks in this process (equal to a cluster fit, bit for bit).
    reference = SGDClassifier(**params).fit(*data())

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0", worker_dashboard_address=None) as cluster, \
            Client(cluster, set_as_default=False) as client, client.as_current():
        pids = client.run(os.getpid)
        victim = sorted(pids)[1]
        killed = threading.Event()

        def kill_later():
            time.sleep(1.5)
            os.kill(pids[victim], signal.SIGKILL)
            killed.set()

        threading.Thread(target=kill_later, daemon=True).start()
        t0 = time.perf_counter()
        est = SGDClassifier(**params).fit(*data())
        took = time.perf_counter() - t0
    assert killed.is_set() and took > 1.5, "the worker was not killed during the fit"
    np.testing.assert_array_equal(est.coef_, reference.coef_)
    np.testing.assert_array_equal(est.intercept_, reference.intercept_)


def test_fit_survives_a_hung_worker():
    # SIGSTOP: the worker's connections stay open but nothing answers (a frozen machine, a
    # partition). The request times out, the worker fails a ping, it is removed from the
    # cluster, and the fit goes on without it to the undisturbed model.
    import dask
    from distributed import Client, LocalCluster

    params = dict(batch_size=1000, max_iter=8, tol=None, random_state=0)

    def data():
        return make_classification(200_000, 10, chunks=25_000, random_state=3)

    reference = SGDClassifier(**params).fit(*data())
    with dask.config.set({"dasksgd.timeouts.request": "2s", "dasksgd.timeouts.ping": "1s"}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                         dashboard_address=":0", worker_dashboard_address=None) as cluster, \
            Client(cluster, set_as_default=False) as client, client.as_current():
        pids = client.run(os.getpid)
        victim = sorted(pids)[1]
        stopped = threading.Event()

        def stop_later():
            time.sleep(1.5)
            os.kill(pids[victim], signal.SIGSTOP)
            stopped.set()

        threading.Thread(target=stop_later, daemon=True).start()
        try:
            t0 = time.perf_counter()
            est = SGDClassifier(**params).fit(*data())
            took = time.perf_counter() - t0
            remaining = set(client.scheduler_info()["workers"])
        finally:
            os.kill(pids[victim], signal.SIGCONT)  # let it and the cluster shut down
    assert stopped.is_set() and took > 1.5, "the worker was not stopped during the fit"
    assert victim not in remaining
    np.testing.assert_array_equal(est.coef_, reference.coef_)
    np.testing.assert_array_equal(est.intercept_, reference.intercept_)


def test_a_worker_joining_mid_fit_is_left_alone_until_the_next_fit():
    # Documented behaviour: shards are placed when a fit starts (or rebuilt after a loss); a
    # worker that joins in between gets nothing from the running fit, and shards from the next.
    from distributed import Client, LocalCluster

    params = dict(batch_size=1000, max_iter=6, tol=None, random_state=0)

    def data():
        return make_classification(200_000, 10, chunks=25_000, random_state=3)

    reference = SGDClassifier(**params).fit(*data())
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0", worker_dashboard_address=None) as cluster, \
            Client(cluster, set_as_default=False) as client, client.as_current():
        joined = threading.Event()

        def join_later():
            time.sleep(1.0)
            cluster.scale(2)
            client.wait_for_workers(2, timeout=60)
            joined.set()

        threading.Thread(target=join_later, daemon=True).start()
        est = SGDClassifier(**params).fit(*data())
        assert joined.is_set(), "the worker joined after the fit: make the fit longer"
        again = SGDClassifier(**params).fit(*data())
    assert est.n_workers_ == 1 and again.n_workers_ == 2
    np.testing.assert_array_equal(est.coef_, reference.coef_)
    np.testing.assert_array_equal(again.coef_, reference.coef_)
