"""The engine and the estimators on a real LocalCluster with two worker processes."""

import time
import tracemalloc

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from dasksgd import SGDClassifier, SGDRegressor
from dasksgd.datasets import make_classification
from dasksgd.engine import (
    ClusterBackend,
    LocalBackend,
    Plan,
    TargetSpec,
    TrainConfig,
    TrainState,
    train,
)
from dasksgd.engine.cluster import assign_shards
from dasksgd.losses import get_loss
from dasksgd.penalties import get_penalty
from dasksgd.preconditioning import Preconditioner
from dasksgd.schedules import LearningRate

pytestmark = pytest.mark.cluster


def _data(n=4000, d=6, chunks=500, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (X @ rng.standard_normal(d) + 0.3 * rng.standard_normal(n) > 0).astype(int)
    return X, y, da.from_array(X, chunks=(chunks, d)), da.from_array(y, chunks=chunks)


def _config(B=256):
    loss = get_loss("log_loss")
    return TrainConfig(
        loss=loss,
        penalty=get_penalty("l2", 1e-3),
        schedule=LearningRate(kind="optimal", eta0=0.0, power_t=0.5, alpha=1e-3, loss=loss),
        batch_size=B,
        max_iter=3,
        tol=None,
    )


PLAN = Plan(
    precond=Preconditioner.identity(6), max_step=1.0, gamma=1.0, overhead=0.0, row_cost=1.0, b_min=1
)


def test_both_workers_compute_and_match_in_process(client):
    X, y, Xd, yd = _data()
    spec = TargetSpec(np.array([0, 1]))
    backend = ClusterBackend(client, Xd, yd, None, spec, get_loss("log_loss"), seed=5)
    try:
        result = train(backend, _config(), TrainState(np.zeros((6, 1)), np.zeros(1)), plan=PLAN)
        infos = backend.info()
    finally:
        backend.close()
    assert len({i["worker"] for i in infos}) == 2
    steps = [i["calls"]["step"] for i in infos]
    assert steps == [len(result.history)] * 2  # every step ran on both workers
    assert sorted(sum((i["index"] for i in infos), [])) == list(
        range(8)
    )  # each shard on one worker
    assert sum(sum(i["n_train"]) for i in infos) == 4000

    # The same shards in this process give the same model, bit for bit: small results are summed
    # in shard order at the root, as in process.
    parts = [(X[i : i + 500], y[i : i + 500], None) for i in range(0, 4000, 500)]
    local = LocalBackend(parts, spec, get_loss("log_loss"), seed=5)
    ref = train(local, _config(), TrainState(np.zeros((6, 1)), np.zeros(1)), plan=PLAN)
    np.testing.assert_array_equal(result.state.coef, ref.state.coef)


def test_deeper_tree_over_three_workers():
    """With fan-in 2 and three workers, one worker sums another's partial (actor to actor)."""
    from distributed import Client, LocalCluster

    X, y, Xd, yd = _data(n=3000, chunks=500)
    spec = TargetSpec(np.array([0, 1]))
    with (
        LocalCluster(
            n_workers=3,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            worker_dashboard_address=None,
        ) as cluster,
        Client(cluster, set_as_default=False) as c3,
    ):
        flat = ClusterBackend(c3, Xd, yd, None, spec, get_loss("log_loss"), seed=1, fan_in=8)
        deep = ClusterBackend(c3, Xd, yd, None, spec, get_loss("log_loss"), seed=1, fan_in=2)
        try:
            assert len(flat.tree) == 3 and len(deep.tree) == 2 and len(deep.tree[0][1]) == 1
            W, b = np.ones((6, 1)) * 0.1, np.zeros(1)
            a = flat.call("step", W, b, 0, 0, 3000, 3000)
            d = deep.call("step", W, b, 0, 0, 3000, 3000)
            assert a.count == d.count == 3000
            np.testing.assert_allclose(a.grad_coef, d.grad_coef, rtol=1e-12)
        finally:
            flat.close()
            deep.close()


def test_requests_go_straight_to_the_workers_unless_the_client_says_not_to(client):
    """A default client sends the requests over direct connections to the workers (not through
    the scheduler's relay of actor calls); a client made with ``direct_to_workers=False`` keeps
    the relay. Both give the same fit, bit for bit."""
    from distributed import Client

    X, y, Xd, yd = _data()
    spec = TargetSpec(np.array([0, 1]))
    results = []
    with Client(client.scheduler.address, direct_to_workers=False, set_as_default=False) as relayed:
        for c, direct in ((client, True), (relayed, False)):
            backend = ClusterBackend(c, Xd, yd, None, spec, get_loss("log_loss"), seed=5)
            try:
                assert (backend._routes is not None) == direct
                results.append(
                    train(backend, _config(), TrainState(np.zeros((6, 1)), np.zeros(1)), plan=PLAN)
                )
                infos = backend.info()
            finally:
                backend.close()
            assert [i["calls"]["step"] for i in infos] == [len(results[-1].history)] * 2
    np.testing.assert_array_equal(results[0].state.coef, results[1].state.coef)
    np.testing.assert_array_equal(results[0].state.intercept, results[1].state.intercept)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (
            ["a", "b", "a", "b", "b", "a", "a", "b"],
            ["a", "b", "a", "b", "b", "a", "a", "b"],
        ),  # balanced: nothing moves
        (["a"] * 8, ["a"] * 4 + ["b"] * 4),  # all on one worker: half moves
        (["a", "a", "a", "a", "a", "b", "b", "b"], ["a"] * 4 + ["b"] * 4),  # 5/3: one moves
        (["gone"] * 4 + ["a"] * 4, ["b"] * 4 + ["a"] * 4),  # holder left: to the least loaded
    ],
)
def test_assign_shards_keeps_chunks_in_place_when_balanced(where, expected):
    plan = assign_shards([100] * 8, [[w] for w in where], ["b", "a"])
    owner = {i: w for w, ix in plan for i in ix}
    assert [owner[i] for i in range(8)] == expected
    assert [ix for _, ix in plan] == sorted(ix for _, ix in plan)  # ordered by first shard


def test_assign_shards_balances_uneven_shards():
    sizes = [500, 100, 100, 100, 100, 100]
    plan = assign_shards(sizes, [["a"]] * 6, ["a", "b"])
    loads = sorted(sum(sizes[i] for i in ix) for _, ix in plan)
    assert loads == [500, 500]


def _placed(client, X, chunks, workers):
    """X as a dask array whose row chunk i lives on workers[i] (scattered there)."""
    parts = []
    for i, w in enumerate(workers):
        block = X[i * chunks : (i + 1) * chunks]
        fut = client.scatter(block, workers=[w])
        parts.append(da.from_delayed(fut, shape=block.shape, dtype=block.dtype))
    return da.concatenate(parts)


def test_result_does_not_depend_on_where_the_chunks_are(client):
    X, y, _, _ = _data()
    w0, w1 = sorted(client.scheduler_info()["workers"])
    fits = []
    for placement in ([w0, w1] * 4, [w1] * 4 + [w0] * 4, [w0] * 8):
        Xd, yd = _placed(client, X, 500, placement), _placed(client, y, 500, placement)
        Xd, yd = client.persist([Xd, yd])
        from distributed import futures_of, wait

        wait([Xd, yd])
        who = client.who_has(futures_of(Xd))
        assert [who[k][0] for k in sorted(who, key=lambda k: k[1])] == placement
        est = SGDClassifier(batch_size=300, max_iter=3, tol=None, random_state=7).fit(Xd, yd)
        fits.append(est)
    for est in fits[1:]:
        np.testing.assert_array_equal(est.coef_, fits[0].coef_)
        np.testing.assert_array_equal(est.intercept_, fits[0].intercept_)
    assert all(est.n_workers_ == 2 for est in fits)


def test_fit_is_reproducible_and_predictions_lazy(client):
    X, y, Xd, yd = _data()
    kw = dict(batch_size=300, max_iter=4, tol=None, random_state=7)
    a = SGDClassifier(**kw).fit(Xd, yd)
    b = SGDClassifier(**kw).fit(Xd, yd)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.intercept_, b.intercept_)
    assert a.n_workers_ == 2
    pred = a.predict(Xd)
    assert isinstance(pred, da.Array) and pred.name.startswith("dasksgd-predict")
    np.testing.assert_array_equal(pred.compute(), a.predict(X))
    proba = a.predict_proba(Xd)
    assert isinstance(proba, da.Array)
    np.testing.assert_allclose(proba.compute(), a.predict_proba(X))
    assert a.score(Xd, yd) == pytest.approx(a.score(X, y))
    assert a.score(X, y) > 0.9


def test_data_is_not_gathered_to_the_client(client):
    X, y = make_classification(200_000, 20, chunks=25_000, random_state=1)  # 32 MB, made on workers
    X, y = client.persist([X, y])
    tracemalloc.start()
    try:
        SGDClassifier(batch_size=20_000, max_iter=2, tol=None, random_state=0).fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4e6, f"the client allocated {peak / 1e6:.1f} MB during the fit"


def test_load_tasks_are_named(client):
    from distributed import get_task_stream

    _, _, Xd, yd = _data()
    with get_task_stream(client) as ts:
        SGDClassifier(max_iter=1, tol=None, random_state=0).fit(Xd, yd)
    names = {str(t["key"]) for t in ts.data}
    assert any("dasksgd-load-shards" in k for k in names)
    assert any("dasksgd-label-counts" in k for k in names)  # the classes, counted per block


def test_dataframe_input_and_regressor(client):
    rng = np.random.default_rng(3)
    pdf = pd.DataFrame(rng.standard_normal((2000, 3)), columns=["a", "b", "c"])
    target = pdf @ np.array([1.0, -2.0, 0.5]) + 0.1
    ddf = dd.from_pandas(pdf, npartitions=4)
    dy = dd.from_pandas(target, npartitions=4)
    reg = SGDRegressor(
        alpha=1e-6,
        batch_size=500,
        learning_rate="constant",
        eta0=1.0,
        max_iter=200,
        tol=None,
        random_state=0,
    ).fit(ddf, dy)
    assert list(reg.feature_names_in_) == ["a", "b", "c"]
    np.testing.assert_allclose(reg.coef_, [1.0, -2.0, 0.5], atol=1e-3)
    pred = reg.predict(ddf)
    assert dask.is_dask_collection(pred)
    np.testing.assert_allclose(pred.compute(), reg.predict(pdf), rtol=1e-12)
    assert reg.score(ddf, dy) > 0.999
    with pytest.raises(ValueError, match="feature names should match"):
        reg.predict(ddf.rename(columns={"a": "z"}))


def test_string_labels_multiclass_with_weights(client):
    X, _, Xd, _ = _data()
    labels = np.array(["a", "b", "c"])[np.argmax(X[:, :3], axis=1)]
    yd = da.from_array(labels, chunks=500)
    sw = da.from_array(np.linspace(0.5, 1.5, len(labels)), chunks=500)
    clf = SGDClassifier(batch_size=512, max_iter=20, random_state=0).fit(Xd, yd, sample_weight=sw)
    assert list(clf.classes_) == ["a", "b", "c"]
    assert clf.coef_.shape == (3, 6)
    assert clf.score(Xd, yd) > 0.9


def test_bad_dask_input_fails_before_training(client):
    X, y, Xd, yd = _data()
    bad = X.copy()
    bad[1234, 2] = np.nan  # in shard 2 of 8
    clf = SGDClassifier(random_state=0)
    with pytest.raises(ValueError, match=r"Input X contains NaN \(shard 2\)"):
        clf.fit(da.from_array(bad, chunks=(500, 6)), yd)
    assert not hasattr(clf, "coef_") and not hasattr(clf, "history_")
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.fit(Xd, yd[:-1])
    with pytest.raises(ValueError, match="Expected 2D array"):
        clf.fit(Xd[:, 0], yd)
    with pytest.raises(ValueError, match="has to be greater than one"):
        clf.fit(Xd, da.zeros(4000, chunks=500))
    clf.fit(Xd, yd)
    with pytest.raises(ValueError, match="X has 5 features, but SGDClassifier is expecting 6"):
        clf.predict(Xd[:, :5])
    with pytest.raises(ValueError, match=r"y contains labels \[7\] that are not in classes"):
        SGDClassifier().partial_fit(
            Xd, da.from_array(np.where(y == 1, 7, 0), chunks=500), classes=[0, 1]
        )


def test_a_dask_target_is_checked_as_scikit_learn_checks_one_in_memory(client):
    # A float target is continuous, not 4,000 classes; NaN is named, not made a class.
    X, y, Xd, _ = _data()
    clf = SGDClassifier(random_state=0)
    for target, match in [
        (X[:, 0], "Unknown label type: continuous"),
        (np.where(np.arange(len(y)) == 7, np.nan, y), "Input y contains NaN"),
    ]:
        with pytest.raises(ValueError, match=match):
            clf.fit(Xd, da.from_array(target, chunks=500))
        with pytest.raises(ValueError, match=match):  # the in-memory message is the same
            SGDClassifier().fit(X, target)
    assert not hasattr(clf, "coef_")
    # Integer-valued floats are classes, as in memory.
    fitted = clf.fit(Xd, da.from_array(y.astype(float), chunks=500))
    assert list(fitted.classes_) == [0.0, 1.0]


def test_nullable_pandas_columns_in_dask_frames(client):
    # Int64 / Float64 / boolean: numpy cannot read their dtype ("boolean value of NA is
    # ambiguous", "Unknown label type: unknown" for an Int64 target without a missing value).
    X, y, _, _ = _data()
    df = pd.DataFrame(X[:, :4], columns=list("abcd"))
    df["n"] = pd.Series(np.arange(len(y)) % 5, dtype="Int64")
    df["b"] = pd.Series(X[:, 4] > 0, dtype="boolean")
    ddf = dd.from_pandas(df, npartitions=4)
    labels = pd.Series(y, dtype="Int64")
    clf = SGDClassifier(max_iter=3, tol=None, random_state=0)
    clf.fit(ddf, dd.from_pandas(labels, npartitions=4))
    assert clf.classes_.tolist() == [0, 1] and clf.classes_.dtype.kind == "i"  # as in memory
    ref = SGDClassifier(max_iter=3, tol=None, random_state=0)
    ref.fit(
        dd.from_pandas(df.astype(float), npartitions=4), dd.from_pandas(pd.Series(y), npartitions=4)
    )
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=1e-12)
    target = pd.Series(X[:, 5], dtype="Float64")
    SGDRegressor(max_iter=3, tol=None).fit(ddf, dd.from_pandas(target, npartitions=4))
    # A missing value is refused, by name, as NaN is in memory.
    labels[7] = pd.NA
    with pytest.raises(ValueError, match=r"Input y contains missing values \(pd.NA\)"):
        SGDClassifier().fit(ddf, dd.from_pandas(labels, npartitions=4))
    target[7] = pd.NA
    with pytest.raises(ValueError, match=r"Input y contains missing values \(pd.NA\)"):
        SGDRegressor().fit(ddf, dd.from_pandas(target, npartitions=4))
    df.loc[9, "n"] = pd.NA
    with pytest.raises(ValueError, match=r"Input X contains NaN \(shard 0\)"):
        SGDClassifier().fit(dd.from_pandas(df, npartitions=4), y)


@pytest.mark.parametrize("Est", [SGDClassifier, SGDRegressor])
def test_predict_refuses_rows_that_are_not_finite_in_a_dask_array(client, Est):
    X, y, Xd, yd = _data()
    est = Est(max_iter=3, tol=None, random_state=0).fit(Xd, yd)
    bad = X.copy()
    bad[[10, 2100], 3] = [np.nan, np.inf]
    Bd = da.from_array(bad, chunks=(500, 6))
    with pytest.raises(ValueError, match=r"Input X contains NaN or infinity \(1 of the 500 rows"):
        est.predict(Bd).compute()
    with pytest.raises(ValueError, match="Input X contains NaN or infinity"):
        est.score(Bd, yd)
    with pytest.raises(ValueError, match="Input X contains NaN"):  # in memory: scikit-learn's
        est.predict(bad)
    # The finite rows' blocks still predict as in memory.
    np.testing.assert_array_equal(est.predict(Bd[500:2000]).compute(), est.predict(X[500:2000]))


def test_a_local_dask_scheduler_setting_does_not_pull_the_fit_off_the_cluster(client):
    # With a Client alive, dask.config's scheduler="sync" counted the classes of the persisted
    # y in this process: "Missing dependency ... dasksgd-label-counts-...".
    X, y, Xd, yd = _data()
    with dask.config.set(scheduler="sync"):
        clf = SGDClassifier(max_iter=3, tol=None, random_state=0).fit(Xd, yd)
    assert list(clf.classes_) == [0, 1]
    ref = SGDClassifier(max_iter=3, tol=None, random_state=0).fit(Xd, yd)
    np.testing.assert_array_equal(clf.coef_, ref.coef_)


@pytest.mark.timeout(120)
def test_data_that_cannot_fit_the_workers_memory_are_refused_before_loading():
    # 1.2 GB on two workers of 500 MiB: the nanny would restart them while the shards load;
    # with streaming=False that is said before any work, with what to do.
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            memory_limit="500MiB",
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        # The workers copy chunks that are not C-ordered floats (Fortran-ordered chunks, as
        # pandas makes from Parquet): data of 1/1.6 of the workers' room fit as they are, not
        # with a copy.
        from dasksgd.engine.cluster import memory_shortfall

        workers = client.scheduler_info()["workers"].values()
        room = sum(0.8 * w["memory_limit"] - w["metrics"]["memory"] for w in workers)
        rows = int(room / 1.6 / 80) // 4 * 4
        X = da.random.random((rows, 10), chunks=(rows // 4, 10))
        assert memory_shortfall(client, [], features=X) is None
        message = memory_shortfall(client, [], features=X.map_blocks(np.asfortranarray))
        assert message and f"~{X.nbytes / 2**20:,.0f} MiB of the workers' copy of X" in message
        assert memory_shortfall(client, [], features=X.astype(np.float32)) is None
        big = da.random.random((15_000_000, 10), chunks=(1_000_000, 10))
        y = (big[:, 0] > 0.5).astype(int)
        est = SGDClassifier(streaming=False)
        with pytest.raises(
            MemoryError, match=r"do not fit the cluster's memory: .* 500, 500 MiB.*streaming=True"
        ):
            est.fit(big, y)
        assert not hasattr(est, "coef_")
        assert not client.has_what() or not any(client.has_what().values())  # nothing loaded
        X, y, Xd, yd = _data()  # data that fit the same workers are trained
        assert SGDClassifier(max_iter=3, tol=None).fit(Xd, yd).score(Xd, yd) > 0.8


@pytest.mark.timeout(120)
def test_a_worker_with_less_memory_than_its_share_is_named_before_loading():
    # 700 MB fit the sum of the workers' room, but the rows are shared out evenly: the worker
    # of 300 MiB would get ~400 MiB and be restarted while its shards load.
    import subprocess
    import sys

    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            memory_limit="3GiB",
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        small = subprocess.Popen(
            [sys.executable, "-m", "dask", "worker", cluster.scheduler_address, "--host",
             "127.0.0.1", "--nthreads", "1", "--memory-limit", "300MiB", "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            client.wait_for_workers(2, timeout=60)
            address = next(
                a
                for a, w in client.scheduler_info()["workers"].items()
                if w["memory_limit"] < 2**30
            )
            big = da.random.random((8_750_000, 10), chunks=(500_000, 10))
            y = (big[:, 0] > 0.5).astype(int)
            est = SGDClassifier(streaming=False)
            with pytest.raises(MemoryError, match=rf"do not fit worker {address}'s memory"):
                est.fit(big, y)
            assert not hasattr(est, "coef_")
            assert not any(client.has_what().values())  # nothing loaded
        finally:
            small.terminate()
            small.wait(timeout=30)


@pytest.mark.timeout(120)
def test_a_cluster_without_workers_is_refused_within_the_ping_timeout():
    # Persisting (the regressor) or counting the classes (the classifier) would wait forever.
    from distributed import Client, LocalCluster

    X, y, Xd, yd = _data()
    with (
        LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=None) as cluster,
        Client(cluster) as client,
        dask.config.set({"dasksgd.timeouts.ping": "1s"}),
    ):
        assert not client.scheduler_info()["workers"]
        for est in (SGDClassifier(), SGDRegressor()):
            t0 = time.perf_counter()
            with pytest.raises(RuntimeError, match="has no workers .*within 1 s"):
                est.fit(Xd, yd)
            assert time.perf_counter() - t0 < 30
            assert not hasattr(est, "coef_")


def test_column_chunks_are_merged(client):
    X, y, _, yd = _data()
    Xd = da.from_array(X, chunks=(500, 2))
    a = SGDClassifier(max_iter=2, tol=None, random_state=0).fit(Xd, yd)
    b = SGDClassifier(max_iter=2, tol=None, random_state=0).fit(
        da.from_array(X, chunks=(500, 6)), yd
    )
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_sparse_chunks(client):
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    n, d = 20_000, 2_000
    X = sp.random(n, d, density=20 / d, format="csr", random_state=1, dtype=np.float64)
    y = (X @ rng.standard_normal(d) > 0).astype(int)
    Xd = da.from_array(X, chunks=(5_000, d), asarray=False)
    clf = SGDClassifier(alpha=1e-5, max_iter=5, tol=None, random_state=0).fit(
        Xd, da.from_array(y, chunks=5_000)
    )
    assert clf.score(X, y) > 0.9
    pred = clf.predict(Xd)
    assert isinstance(pred, da.Array)
    np.testing.assert_array_equal(pred.compute(), clf.predict(X))
    # The diversity estimate works on sparse rows too (no per-sample gradient is formed).
    assert (clf.history_["diversity"] > 0).all()


def test_float32_shards_stay_float32_on_the_workers(client):
    X, y, _, _ = _data(n=4000, d=6)
    Xd = da.from_array(X.astype(np.float32), chunks=(500, 6))
    yd = da.from_array(y, chunks=500)
    backend = ClusterBackend(
        client, Xd, yd, None, TargetSpec(np.array([0, 1])), get_loss("log_loss"), seed=0
    )
    try:
        backend.call("set_scale", np.ones(6), np.zeros(6))
        st = backend.call(
            "step", np.full((6, 1), 0.1), np.zeros(1), 0, 0, 800, 4000
        )  # packs the work buffer
        infos = backend.info()
    finally:
        backend.close()
    assert st.count == 800
    assert all(i["dtype"] == "float32" and i["buffer_dtype"] == "float32" for i in infos)
    assert sum(i["nbytes"] for i in infos) == 4000 * 6 * 4  # held once, at 4 bytes a value


def _bad_inputs(X, y):
    import dask

    wrong_width = da.concatenate(
        [
            da.from_array(X[:500], chunks=(250, 4)),
            da.from_delayed(dask.delayed(lambda: X[500:, :3])(), shape=(500, 4), dtype=float),
        ]
    )
    empty = (
        da.concatenate(
            [
                da.from_array(X[:500], chunks=(250, 4)),
                da.zeros((0, 4), chunks=(0, 4)),
                da.from_array(X[500:], chunks=(250, 4)),
            ]
        ),
        da.concatenate(
            [
                da.from_array(y[:500], chunks=250),
                da.zeros((0,), dtype=int, chunks=0),
                da.from_array(y[500:], chunks=250),
            ]
        ),
    )
    return {
        "wrong width": (wrong_width, da.from_array(y, chunks=250), "declares \\(500, 4\\)"),
        "object dtype": (
            da.from_array(X.astype(object), chunks=(250, 4)),
            da.from_array(y, chunks=250),
            "numeric",
        ),
        "empty partition": (*empty, None),
        "y chunks not aligned with X": (
            da.from_array(X, chunks=(250, 4)),
            da.from_array(y, chunks=300),
            None,
        ),
    }


@pytest.mark.parametrize(
    "case", ["wrong width", "object dtype", "empty partition", "y chunks not aligned with X"]
)
def test_bad_chunks_fail_clearly_or_are_handled(client, case):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 4))
    y = (X[:, 0] > 0).astype(int)
    X0 = X.copy()
    Xd, yd, error = _bad_inputs(X, y)[case]
    est = SGDClassifier(max_iter=3, tol=None, random_state=0)
    if error is None:
        assert est.fit(Xd, yd).score(X, y) > 0.95
    else:
        with pytest.raises(ValueError, match=error):
            est.fit(Xd, yd)
        assert not hasattr(est, "coef_")
    np.testing.assert_array_equal(X, X0)  # the user's data are untouched


def test_twenty_concurrent_fits_do_not_cross_talk(client):
    """As GridSearchCV with a Dask backend would: 20 fits at once on one cluster, each the same
    model (bit for bit) as the same fit run alone."""
    from concurrent.futures import ThreadPoolExecutor

    X, y, Xd, yd = _data(n=3000, d=6, chunks=500)
    grid = [dict(alpha=a, random_state=r) for a in (1e-5, 1e-4, 1e-3, 1e-2, 1e-1) for r in range(4)]

    def fit(params):
        with client.as_current():  # the client is current per thread
            return SGDClassifier(batch_size=200, max_iter=3, tol=None, **params).fit(Xd, yd)

    with ThreadPoolExecutor(len(grid)) as pool:
        together = list(pool.map(fit, grid))
    for params, est in zip(grid, together):
        alone = fit(params)
        assert est.n_workers_ == 2
        np.testing.assert_array_equal(est.coef_, alone.coef_)
        np.testing.assert_array_equal(est.intercept_, alone.intercept_)
        np.testing.assert_array_equal(
            est.history_["objective"].dropna(), alone.history_["objective"].dropna()
        )
