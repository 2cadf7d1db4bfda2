"""A cluster of real ``dask scheduler`` / ``dask worker`` processes over TCP on 127.0.0.1, as a
user starts one by hand: a fit on it matches the in-process fit, and survives a killed worker."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from disturb import assert_same, fit_while, reference, victim

from dasksgd import SGDRegressor
from dasksgd.datasets import make_regression

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cli_cluster(tmp_path_factory):
    """``python -m dask scheduler`` and two ``python -m dask worker`` processes (each with its
    nanny, which restarts a worker that dies); yields the scheduler's address."""
    from distributed import Client

    sched_file = tmp_path_factory.mktemp("cli-cluster") / "scheduler.json"
    common = ["--no-dashboard"]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dask",
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--scheduler-file",
                str(sched_file),
                *common,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists():
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "dask",
                        "worker",
                        address,
                        "--host",
                        "127.0.0.1",
                        "--nthreads",
                        "1",
                        "--memory-limit",
                        "2GiB",
                        *common,
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        with Client(address, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGINT)
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_fit_on_cli_processes_matches_in_process(cli_cluster):
    from distributed import Client

    X, y = make_regression(60_000, 8, chunks=10_000, random_state=2)
    params = dict(batch_size=2000, max_iter=5, tol=None, random_state=0)
    reference = SGDRegressor(**params).fit(X, y)
    with Client(cli_cluster, set_as_default=False) as client, client.as_current():
        client.wait_for_workers(2, timeout=60)
        est = SGDRegressor(**params).fit(X, y)
        pred = est.predict(X).compute()
    assert est.n_workers_ == 2
    np.testing.assert_array_equal(est.coef_, reference.coef_)
    np.testing.assert_allclose(pred, reference.predict(X).compute(), rtol=1e-12)


def test_fit_on_cli_processes_survives_a_killed_worker(cli_cluster):
    from distributed import Client

    ref = reference()
    with Client(cli_cluster, set_as_default=False) as client, client.as_current():
        client.wait_for_workers(2, timeout=60)
        _, pid = victim(client)
        est = fit_while(
            lambda: os.kill(pid, signal.SIGKILL)
        )  # the nanny restarts it: a worker joins mid-fit
    assert_same(est, ref)
