"""A cluster that speaks TLS (temporary certificates) trains as usual."""

import dask.array as da
import numpy as np
import pytest

from dasksgd import SGDClassifier

pytestmark = pytest.mark.cluster


def test_fit_on_a_tls_cluster():
    from distributed import Client, LocalCluster
    from distributed.security import Security

    security = Security.temporary()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4000, 6))
    y = (X @ rng.standard_normal(6) > 0).astype(int)
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            protocol="tls",
            security=security,
            dashboard_address=":0",
            worker_dashboard_address=None,
        ) as cluster,
        Client(cluster, security=security, set_as_default=False) as client,
        client.as_current(),
    ):
        assert client.scheduler.address.startswith("tls://127.0.0.1:")
        assert all(w.startswith("tls://127.0.0.1:") for w in client.scheduler_info()["workers"])
        est = SGDClassifier(max_iter=5, tol=None, random_state=0).fit(
            da.from_array(X, chunks=(500, 6)), da.from_array(y, chunks=500)
        )
        assert est.n_workers_ == 2
        assert est.score(X, y) > 0.95
        pred = est.predict(da.from_array(X, chunks=(500, 6))).compute()
        np.testing.assert_array_equal(pred, est.predict(X))
