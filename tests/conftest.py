import pytest


@pytest.fixture(scope="session")
def _session_client():
    """A real LocalCluster with two worker processes, shared by the cluster tests."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        worker_dashboard_address=None,
    )
    client = Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


@pytest.fixture
def client(_session_client):
    """The shared cluster's client, current for the duration of one test only (so that the
    other tests see no default client and train in-process). Both workers are there when it
    starts: in one full run on a heavily loaded machine a test found the cluster without
    workers (the cause was not established; a worker being restarted or reconnecting fits)."""
    _session_client.wait_for_workers(2, timeout=120)
    with _session_client.as_current():
        yield _session_client
