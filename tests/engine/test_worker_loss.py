"""A worker killed in the middle of a fit: the engine rebuilds its shards and the fit ends with
the model an undisturbed fit gives."""

import os
import signal

import dask
import pytest
from distributed import Client, LocalCluster
from disturb import assert_same, fit_while, reference, victim

pytestmark = pytest.mark.cluster


def _cluster(n_workers=2):
    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
        worker_dashboard_address=None,
    )


def test_fit_survives_a_killed_worker():
    ref = reference()
    with (
        _cluster() as cluster,
        Client(cluster, set_as_default=False) as client,
        client.as_current(),
    ):
        _, pid = victim(client)
        est = fit_while(lambda: os.kill(pid, signal.SIGKILL))
    assert_same(est, ref)


def test_fit_survives_a_hung_worker():
    # SIGSTOP: the worker's connections stay open but nothing answers (a frozen machine, a
    # partition). The request times out, the worker fails a ping, it is removed from the
    # cluster, and the fit goes on without it to the undisturbed model.
    ref = reference()
    with (
        dask.config.set({"dasksgd.timeouts.request": "2s", "dasksgd.timeouts.ping": "1s"}),
        _cluster() as cluster,
        Client(cluster, set_as_default=False) as client,
        client.as_current(),
    ):
        address, pid = victim(client)
        try:
            est = fit_while(lambda: os.kill(pid, signal.SIGSTOP))
            remaining = set(client.scheduler_info()["workers"])
        finally:
            os.kill(pid, signal.SIGCONT)  # let it and the cluster shut down
    assert address not in remaining
    assert_same(est, ref)


def test_a_worker_joining_mid_fit_is_left_alone_until_the_next_fit():
    # Documented behaviour: shards are placed when a fit starts (or rebuilt after a loss); a
    # worker that joins in between gets nothing from the running fit, and shards from the next.
    from disturb import PARAMS, data

    from dasksgd import SGDClassifier

    ref = reference(max_iter=6)
    with (
        _cluster(n_workers=1) as cluster,
        Client(cluster, set_as_default=False) as client,
        client.as_current(),
    ):

        def join():
            cluster.scale(2)
            client.wait_for_workers(2, timeout=60)

        est = fit_while(join, after=1.0, max_iter=6)
        again = SGDClassifier(**{**PARAMS, "max_iter": 6}).fit(*data())
    assert est.n_workers_ == 1 and again.n_workers_ == 2
    assert_same(est, ref)
    assert_same(again, ref)
