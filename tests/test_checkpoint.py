"""Checkpoints: atomic files, clear refusals, and fits that resume where they were cut off."""

import hashlib
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from dasksgd import SGDClassifier, SGDRegressor
from dasksgd import checkpoint as ckpt
from dasksgd.datasets import make_classification

# -- the file ---------------------------------------------------------------------------------


def test_save_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "fit.ckpt"
    ckpt.save(path, {"state": 1})
    ckpt.save(path, {"state": 2})
    assert ckpt.load(path)["state"] == 2
    assert os.listdir(tmp_path) == ["fit.ckpt"]


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "fit.ckpt"
    ckpt.save(path, {"state": 1})
    with pytest.raises(TypeError, match="cannot hold a function"):
        ckpt.save(path, {"state": lambda: None})  # not a state
    assert ckpt.load(path)["state"] == 1
    assert os.listdir(tmp_path) == ["fit.ckpt"]


def _headed(body, fmt=ckpt.FORMAT):
    return f"dasksgd-checkpoint {fmt} {hashlib.sha256(body).hexdigest()}\n".encode() + body


def test_missing_checkpoint_is_none(tmp_path):
    assert ckpt.load(tmp_path / "nothing-here") is None


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"\x80\x05truncated", "is not a dasksgd checkpoint"),
        (pickle.dumps({"some": "dict"}), "is not a dasksgd checkpoint"),  # never unpickled
        (b"dasksgd-checkpoint 999 0123\n" + pickle.dumps({}), "has format 999"),
        (b"dasksgd-checkpoint 3 0123\n" + pickle.dumps({}), "has format 3, .* writes format 4"),
        (b"dasksgd-checkpoint 4 0123\n" + pickle.dumps({}), "is damaged"),
        # A valid header and checksum before a pickle: it is not an archive, never unpickled.
        (_headed(pickle.dumps({"state": 1})), "cannot be read"),
    ],
)
def test_unusable_files_are_refused_and_left_alone(tmp_path, content, match):
    path = tmp_path / "fit.ckpt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        ckpt.load(path)
    assert path.read_bytes() == content


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_checkpoint_is_refused_by_its_checksum(tmp_path, damage):
    path = tmp_path / "fit.ckpt"
    ckpt.save(path, {"state": np.arange(1000.0)})
    data = bytearray(path.read_bytes())
    if damage == "flip":  # one bit of one value: still a valid archive, another array
        data[len(data) // 2] ^= 1
    else:
        del data[-100:]
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="is damaged .*checksum"):
        ckpt.load(path)


def test_states_round_trip_with_their_types(tmp_path):
    from dasksgd.engine.loop import StepRecord
    from dasksgd.preconditioning import Preconditioner
    from dasksgd.schedules import WarmupState

    path = tmp_path / "fit.ckpt"
    payload = {
        "plain": [None, True, 3, 2.5, float("nan"), -float("inf"), "text", (1, (2.0,))],
        "int keys": {7: (0.5, 0.25), 9: (float("nan"), None)},
        "scalars": (np.float64(0.1), np.float32(0.2), np.int64(3), np.bool_(True)),
        "arrays": (np.arange(6.0).reshape(2, 3), np.array(["a", "bc"]), np.zeros(0)),
        "labels": np.array(["no", "yes"], dtype=object),
        "dataclass": Preconditioner.identity(3),
        "namedtuple": WarmupState(5),
        "nested": [StepRecord(*range(len(StepRecord._fields)))],
    }
    got = ckpt.load(path) if ckpt.save(path, payload) is None else None
    assert got.keys() == payload.keys()
    assert got["plain"][:4] == [None, True, 3, 2.5] and np.isnan(got["plain"][4])
    assert got["plain"][5:] == [-np.inf, "text", (1, (2.0,))]
    assert got["int keys"][7] == (0.5, 0.25) and list(got["int keys"]) == [7, 9]
    for a, b in zip(got["scalars"], payload["scalars"]):
        assert type(a) is type(b) and a == b  # numpy scalars stay numpy scalars of that dtype
    for a, b in zip(got["arrays"], payload["arrays"]):
        assert a.dtype == b.dtype and np.array_equal(a, b) and a.flags.writeable
    assert got["labels"].dtype == object and got["labels"].tolist() == ["no", "yes"]
    assert isinstance(got["dataclass"], Preconditioner)
    np.testing.assert_array_equal(got["dataclass"].mean, payload["dataclass"].mean)
    assert type(got["namedtuple"]) is WarmupState  # its fields: numbers and NaN, as repr shows
    assert repr(got["namedtuple"]) == repr(payload["namedtuple"])
    assert got["nested"] == payload["nested"] and type(got["nested"][0]) is StepRecord


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):  # what unpickling calls
        return (self.marker.touch, ())


def test_a_crafted_pickle_with_a_valid_header_runs_nothing(tmp_path):
    marker, path = tmp_path / "ran", tmp_path / "fit.ckpt"
    path.write_bytes(_headed(pickle.dumps({"state": _Exploit(marker)})))
    with pytest.raises(ValueError, match="cannot be read"):
        ckpt.load(path)
    assert not marker.exists()


def _crafted(manifest):
    """A checkpoint with a valid header and checksum whose manifest is ``manifest``."""
    buffer = io.BytesIO()
    np.savez(buffer, manifest=np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8))
    return _headed(buffer.getvalue())


@pytest.mark.parametrize(
    "name",
    [
        "os:system",  # not dasksgd's
        "subprocess:Popen",
        "dasksgd.engine.cluster:ClusterBackend",  # dasksgd's, but not a state
        "dasksgd.checkpoint:_class",
        "dasksgd.engine.loop:TrainState.copy",
    ],
)
def test_a_crafted_file_names_only_dasksgd_states(tmp_path, name):
    # Format 3 was a pickle: a crafted file at the checkpoint path ran code when a fit started.
    marker = tmp_path / "ran"
    for kind, body in [
        ("dataclass", {"fields": {}}),
        ("namedtuple", {"items": [f"touch {marker}"]}),
    ]:
        path = tmp_path / "fit.ckpt"
        path.write_bytes(_crafted({"dict": [["state", {kind: name, **body}]]}))
        with pytest.raises(ValueError, match="cannot be read .*not one of dasksgd's states"):
            ckpt.load(path)
    assert not marker.exists()


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        ckpt.load(tmp_path)


def test_mismatch_names_what_differs():
    a = {"alpha": 1e-4, "n_samples": 10, "column_sums": np.array([1.0, 2.0])}
    assert ckpt.mismatch(a, dict(a)) == []
    assert (
        ckpt.mismatch(a, {**a, "column_sums": np.array([1.0, 2.0 + 1e-13])}) == []
    )  # other chunking
    assert ckpt.mismatch(a, {**a, "alpha": 1e-3}) == ["alpha: 0.0001 then, 0.001 now"]
    assert ckpt.mismatch(a, {**a, "column_sums": np.array([1.0, 2.5])}) == [
        "column_sums: the data differ"
    ]


# -- the estimators ---------------------------------------------------------------------------

PARAMS = dict(batch_size=500, max_iter=30, tol=None, random_state=0, checkpoint_every=5)


def _data():
    X, y = make_classification(40_000, 20, random_state=7)
    return np.asarray(X), np.asarray(y)


def _step(path):
    saved = ckpt.load(path)
    return -1 if saved is None else saved["state"].step


def test_resume_after_the_process_was_killed(tmp_path):
    # A real crash: the fitting process gets SIGKILL once it has written a checkpoint; a fit in
    # this process with the same checkpoint ends with the model of an uninterrupted fit.
    path = tmp_path / "fit.ckpt"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_checkpoint import PARAMS, _data
        from dasksgd import SGDClassifier
        SGDClassifier(**PARAMS, checkpoint={str(path)!r}).fit(*_data())
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 120
        while not path.exists():
            assert proc.poll() is None, "the fit ended before it wrote a checkpoint"
            assert time.monotonic() < deadline, "no checkpoint after 120 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    saved = _step(path)
    assert 0 < saved < 30 * 80  # cut off mid-fit (80 steps per epoch)

    X, y = _data()
    X0, y0 = X.copy(), y.copy()
    resumed = SGDClassifier(**PARAMS, checkpoint=path).fit(X, y)
    reference = SGDClassifier(**PARAMS).fit(X, y)
    np.testing.assert_array_equal(resumed.coef_, reference.coef_)
    np.testing.assert_array_equal(resumed.intercept_, reference.intercept_)
    assert resumed.n_iter_ == reference.n_iter_ == 30
    cols = [c for c in reference.history_.columns if c != "time"]
    assert resumed.history_[cols].equals(reference.history_[cols])
    assert not path.exists()  # a finished fit removes its checkpoint
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_checkpoints_are_written_every_k_steps(tmp_path, monkeypatch):
    path = tmp_path / "fit.ckpt"
    seen = []
    original = ckpt.save

    def spy(p, payload):  # records what the real writer writes
        seen.append(payload["state"].step)
        original(p, payload)

    monkeypatch.setattr(ckpt, "save", spy)
    SGDRegressor(
        batch_size=100, max_iter=2, tol=None, checkpoint=path, checkpoint_every=3, random_state=0
    ).fit(*_regression())
    assert seen == list(range(3, 20, 3))  # 10 steps per epoch, 2 epochs
    assert not path.exists()


def _regression():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 5))
    return X, X @ np.arange(5.0) + 0.1 * rng.standard_normal(1000)


def _cut_short(est, X, y, path, after_step):
    """Fit, and interrupt the fit (Ctrl-C: SIGINT to the main thread) once it has written the
    checkpoint of ``after_step`` or a later step.

    The signal is sent by another thread as soon as that checkpoint is written, so it lands
    wherever the fit is then (in its next step, most often while it waits on the workers). A
    thread polling the file instead could, on a loaded machine, look only after the fit had
    ended and removed it.
    """
    main = threading.main_thread().ident
    save, sent = ckpt.save, []

    def save_then_interrupt(where, payload):
        save(where, payload)
        if not sent and payload["state"].step >= after_step:
            sent.append(payload["state"].step)
            threading.Thread(
                target=signal.pthread_kill, args=(main, signal.SIGINT), daemon=True
            ).start()

    # Python's own Ctrl-C handler, whatever the runner inherited: a shell starting pytest in
    # the background (``cmd &`` without job control) has SIGINT ignored, and the signal did
    # nothing (the fit ended, and the test waited its minute).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ckpt, "save", save_then_interrupt)
            with pytest.raises(KeyboardInterrupt):
                est.fit(X, y)
                time.sleep(
                    60
                )  # (if the fit ended first: the interrupt lands here, and the test fails below)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert sent and _step(path) >= after_step, "the fit was not interrupted in the middle"


@pytest.mark.parametrize("change", [{"alpha": 1e-2}, {"loss": "hinge"}, {"batch_size": 250}])
def test_a_checkpoint_of_another_fit_is_refused(tmp_path, change):
    path = tmp_path / "fit.ckpt"
    X, y = _data()
    _cut_short(SGDClassifier(**PARAMS, checkpoint=path), X, y, path, 10)
    before = path.read_bytes()
    key = next(iter(change))
    with pytest.raises(ValueError, match=f"written by another fit.*{key}"):
        SGDClassifier(**{**PARAMS, **change}, checkpoint=path).fit(X, y)
    assert path.read_bytes() == before  # left for the fit it belongs to
    est = SGDClassifier(**PARAMS, checkpoint=path).fit(X, y)  # which can still resume
    np.testing.assert_array_equal(est.coef_, SGDClassifier(**PARAMS).fit(X, y).coef_)


def test_a_checkpoint_of_other_data_is_refused(tmp_path):
    path = tmp_path / "fit.ckpt"
    X, y = _data()
    _cut_short(SGDClassifier(**PARAMS, checkpoint=path), X, y, path, 10)
    X2 = X.copy()
    X2[123, 4] += 1.0
    with pytest.raises(ValueError, match="column_sums: the data differ"):
        SGDClassifier(**PARAMS, checkpoint=path).fit(X2, y)
    with pytest.raises(ValueError, match="n_samples"):
        SGDClassifier(**PARAMS, checkpoint=path).fit(X[:-500], y[:-500])


def test_a_checkpoint_of_other_labels_or_weights_is_refused(tmp_path):
    # The same X and the same classes, counts too: only which row has which label (or weight)
    # differs, which the column sums and the classes cannot see.
    path = tmp_path / "fit.ckpt"
    X, y = _data()
    _cut_short(SGDClassifier(**PARAMS, checkpoint=path), X, y, path, 10)
    swapped = y.copy()
    one, zero = np.flatnonzero(y == 1)[0], np.flatnonzero(y == 0)[0]
    swapped[[one, zero]] = swapped[[zero, one]]
    weights = np.ones(len(y))
    weights[7] = 2.0
    for labels, sw in [(swapped, None), (y, weights)]:
        with pytest.raises(ValueError, match="labels and weights: the data differ"):
            SGDClassifier(**PARAMS, checkpoint=path).fit(X, labels, sample_weight=sw)
    est = SGDClassifier(**PARAMS, checkpoint=path).fit(X, y)  # its own fit still resumes
    np.testing.assert_array_equal(est.coef_, SGDClassifier(**PARAMS).fit(X, y).coef_)


def test_a_checkpoint_path_that_cannot_be_written_is_refused_at_once(tmp_path):
    est = SGDClassifier(**PARAMS, checkpoint=tmp_path / "missing" / "fit.ckpt")
    with pytest.raises(ValueError, match="the directory .*missing' does not exist"):
        est.fit(*_data())
    assert not hasattr(est, "coef_")


def test_estimator_is_unchanged_by_an_interrupted_fit(tmp_path):
    path = tmp_path / "fit.ckpt"
    X, y = _data()
    est = SGDClassifier(**{**PARAMS, "max_iter": 2}).fit(X[:5000], y[:5000])
    coef = est.coef_.copy()
    est.set_params(max_iter=30, checkpoint=path)
    _cut_short(est, X, y, path, 10)
    np.testing.assert_array_equal(est.coef_, coef)


@pytest.mark.cluster
def test_resume_on_a_cluster(tmp_path, client):
    import dask.array as da

    path = tmp_path / "fit.ckpt"
    X, y = _data()
    Xd, yd = da.from_array(X, chunks=(5000, 20)), da.from_array(y, chunks=5000)
    params = {**PARAMS, "batch_size": 2500, "max_iter": 10}  # 16 steps per epoch
    _cut_short(SGDClassifier(**params, checkpoint=path), Xd, yd, path, 50)
    resumed = SGDClassifier(**params, checkpoint=path).fit(Xd, yd)
    reference = SGDClassifier(**params).fit(Xd, yd)
    np.testing.assert_array_equal(resumed.coef_, reference.coef_)
    np.testing.assert_array_equal(resumed.intercept_, reference.intercept_)
    assert not path.exists()
