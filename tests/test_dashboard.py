"""The live training page, served by a real scheduler: its data equal the fit's history, and a
real headless Chromium draws a running fit (a screenshot is kept in test-artifacts/)."""

import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from dasksgd import SGDClassifier
from dasksgd import checkpoint as ckpt
from dasksgd.datasets import make_classification

pytestmark = pytest.mark.cluster

ARTIFACTS = Path(
    os.environ.get("DASKSGD_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts")
)


@pytest.fixture(scope="module")
def cluster_client():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            worker_dashboard_address=None,
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


def _base(client):
    base = client.dashboard_link.rsplit("/", 1)[0]
    assert base.startswith("http://127.0.0.1:")  # bound to the loopback interface
    return base


def _get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read().decode()


def _history(base, cursor=(0, 0)):
    """Every fit data.json tells of after ``cursor``, merged as the page merges the answers
    (each holds what is new; ``more`` asks again at once), and the last cursor."""
    fits, answers = {}, 0
    while True:
        data = json.loads(
            _get(f"{base}/dasksgd/data.json?since={cursor[0]!r}&wsince={cursor[1]!r}")
        )
        answers += 1
        cursor = data["cursor"]
        for u in data["fits"]:
            f = fits.setdefault(u["id"], {"id": u["id"], "steps": [], "epochs": [], "workers": {}})
            f.update({k: u[k] for k in ("label", "status", "start") if k in u})
            f["steps"] += u["steps"]
            f["epochs"] += u["epochs"]
            for w, t in u["workers"].items():
                f["workers"].setdefault(w, []).extend(t)
            for w, t in u.get("reads", {}).items():
                f.setdefault("reads", {}).setdefault(w, []).extend(t)
        if not data["more"]:
            return list(fits.values()), cursor, answers


def test_page_data_are_the_fit_history(cluster_client):
    client = cluster_client
    X, y = make_classification(60_000, 8, chunks=15_000, random_state=1)
    with client.as_current():
        est = SGDClassifier(
            alpha=2.5e-4, batch_size=3000, max_iter=4, tol=None, random_state=0
        ).fit(X, y)
    history, cursor, _ = _history(_base(client))
    fits = [f for f in history if "alpha=0.00025" in f["label"]]
    assert len(fits) == 1 and fits[0]["status"] == "done"
    f, h = fits[0], est.history_
    steps = np.array(f["steps"], dtype=float)
    np.testing.assert_array_equal(steps[:, 0], h["step"])
    np.testing.assert_array_equal(steps[:, 1], h["batch_size"])
    np.testing.assert_array_equal(steps[:, 3], h["learning_rate"])
    np.testing.assert_array_equal(steps[:, 4], h["loss"])
    np.testing.assert_array_equal([e[1] for e in f["epochs"]], h["objective"].dropna())
    assert sorted(f["workers"]) == sorted(client.scheduler_info()["workers"])
    assert all(len(t) > 0 for t in f["workers"].values())
    assert "<title>dasksgd: training</title>" in _get(_base(client) + "/dasksgd")
    # A poll after the last answer sends nothing again.
    assert _history(_base(client), cursor)[0] == []


def test_a_streamed_fit_shows_its_reads_on_the_page_and_the_bar(cluster_client, tmp_path, capsys):
    import dask.dataframe as dd
    import pandas as pd

    X, y = make_classification(40_000, 8, chunks=40_000, random_state=2)
    X, y = np.asarray(X), np.asarray(y)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(8)]).assign(y=y)
    dd.from_pandas(frame, npartitions=16).to_parquet(tmp_path, write_index=False)
    df = dd.read_parquet(tmp_path)
    with cluster_client.as_current():
        SGDClassifier(
            alpha=1.1e-4, streaming=True, max_iter=3, tol=None, verbose=1, random_state=0
        ).fit(df[[f"f{i}" for i in range(8)]], df["y"])
    (f,) = [f for f in _history(_base(cluster_client))[0] if "alpha=0.00011" in f["label"]]
    assert sorted(f["reads"]) == sorted(cluster_client.scheduler_info()["workers"])
    rows = [r for t in f["reads"].values() for r in t]
    assert all(r[1] > 0 for r in rows)
    # Three epochs read every partition about three times (those still held are not read).
    assert sum(r[2] for r in rows) >= 2 * X.nbytes
    last = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert re.search(r"s/epoch, read [\d.]+ MB/s", last), last


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("DASKSGD_REQUIRE_CHROMIUM"):
        pytest.fail("Chromium is required here (DASKSGD_REQUIRE_CHROMIUM is set) but not installed")
    pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium)")


def _chrome(binary, *args, timeout=90):
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--virtual-time-budget=4000",
    ]
    return subprocess.run([binary, *flags, *args], capture_output=True, text=True, timeout=timeout)


def test_chromium_shows_a_running_fit(cluster_client):
    chromium = _chromium()
    client = cluster_client
    X, y = make_classification(400_000, 20, chunks=50_000, random_state=2)
    est = SGDClassifier(alpha=3.5e-4, batch_size=5000, max_iter=12, tol=None, random_state=0)
    errors = []

    def fit():
        try:
            with client.as_current():
                est.fit(X, y)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=fit)
    thread.start()
    try:
        url = _base(client) + "/dasksgd"
        deadline = time.monotonic() + 120
        while True:  # until the running fit has published a couple of epochs
            try:
                history = _history(_base(client))[0]
            except urllib.error.HTTPError:  # the fit registers the page as it starts
                history = []
            fits = [f for f in history if "alpha=0.00035" in f.get("label", "")]
            if fits and len(fits[0]["epochs"]) >= 2:
                break
            assert thread.is_alive() and time.monotonic() < deadline, (
                "the fit ended before the page saw it"
            )
            time.sleep(0.2)
        dom = _chrome(chromium, "--dump-dom", url).stdout
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "dashboard.png"
        _chrome(chromium, "--window-size=1300,900", f"--screenshot={shot}", url)
        running = thread.is_alive()
    finally:
        thread.join()
    assert not errors, errors
    assert running, "the fit ended before the page was loaded; make it longer"
    fit_id = fits[0]["id"]
    section = re.search(rf'<div class="fit" data-fit="{fit_id}">.*?</div></div>', dom, re.S)
    assert section, "the page does not show the running fit"
    html = section.group(0)
    assert "running" in html  # drawn while the fit ran

    def series(name):
        m = re.search(
            rf'data-series="{re.escape(name)}" data-n="(\d+)" data-last="[^"]*" data-y="([^"]*)"',
            html,
        )
        assert m, f"no {name!r} series on the page"
        n, ys = int(m.group(1)), [float(v) for v in m.group(2).split(",") if v]
        assert n == len(ys) and n > 0
        return np.array(ys)

    h = est.history_
    B = series("batch size")
    assert 0 < len(B) < len(h)  # part of the fit: it was still running
    np.testing.assert_array_equal(B, h["batch_size"].to_numpy()[: len(B)])
    lr = series("step size")
    np.testing.assert_allclose(lr, h["learning_rate"].to_numpy()[: len(lr)], rtol=1e-12)
    # The objective is drawn as its decrease: its distance to the best value the page saw (on
    # a log axis, so the best itself, 0, is not drawn).
    passes = series("seconds per pass")  # one point per epoch after the first
    assert len(passes) >= 1 and (passes > 0).all()
    decrease = series("objective - best")
    shown = h["objective"].dropna().to_numpy()[: len(decrease) + 1]
    expected = shown - shown.min()
    np.testing.assert_allclose(decrease, expected[expected > 0][: len(decrease)], rtol=1e-9)
    # Every legend entry in its series' colour (a stylesheet rule once made them all grey: the
    # inline style wins over any rule), and ticks on both axes of every panel.
    for svg in re.findall(r"<svg .*?</svg>", html, re.S):
        lines = dict(re.findall(r'stroke="(#[0-9a-f]{6})"[^>]*data-series="([^"]+)"', svg))
        legends = re.findall(
            r'class="legend" data-series="([^"]+)"[^>]*style="fill:(#[0-9a-f]{6})"', svg
        )
        assert legends and {name: color for name, color in legends} == {
            n: c for c, n in lines.items()
        }
        assert len(set(color for _, color in legends)) == len(legends)  # told apart
        for axis in ("x", "y"):
            assert len(re.findall(rf'class="tick" data-axis="{axis}"', svg)) >= 2, (axis, svg[:200])
    assert (
        ".legend{" not in dom.split("</style>")[0]
        or "fill" not in dom.split(".legend{")[1].split("}")[0]
    )
    workers = re.findall(r'data-series="127\.0\.0\.1:\d+" data-n="(\d+)"', html)
    assert len(workers) == 2 and all(int(n) > 0 for n in workers)  # step times of both workers
    assert shot.exists() and shot.stat().st_size > 10_000


def test_every_task_dasksgd_submits_is_named_dasksgd(cluster_client):
    # The task stream and the progress page show what a fit does: every task dasksgd adds to
    # the user's graph has a "dasksgd-..." name.
    from distributed import get_task_stream

    client = cluster_client
    X, y = make_classification(40_000, 6, chunks=10_000, random_state=4)
    users = {
        k if isinstance(k, str) else k[0]
        for k in list(dict(X.__dask_graph__())) + list(dict(y.__dask_graph__()))
    }
    with client.as_current(), get_task_stream(client) as stream:
        est = SGDClassifier(max_iter=2, tol=None, random_state=0, class_weight="balanced").fit(X, y)
        est.predict_proba(X).compute()
        est.score(X, y)
    names = {t["key"] if isinstance(t["key"], str) else t["key"][0] for t in stream.data}
    # The user's own tasks (also as dask renames them when it fuses them) and dask's finalize
    # task of the user's .compute() are not ours.
    tokens = {t for u in users for t in re.findall(r"[0-9a-f]{16,}", u)}
    ours = {
        n
        for n in names - users
        if not n.startswith("finalize-") and not any(t in n for t in tokens)
    }
    assert ours and all("dasksgd-" in n for n in ours), sorted(
        n for n in ours if "dasksgd-" not in n
    )


def test_a_failed_fit_is_shown_as_failed(cluster_client, tmp_path, monkeypatch):
    client = cluster_client
    X, y = make_classification(40_000, 6, chunks=10_000, random_state=5)
    est = SGDClassifier(
        alpha=4.5e-4,
        batch_size=2000,
        max_iter=3,
        tol=None,
        random_state=0,
        checkpoint=tmp_path / "fit.ckpt",
        checkpoint_every=2,
    )

    def disk_full(path, payload):  # the first checkpoint cannot be written: mid-fit
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(ckpt, "save", disk_full)
    with client.as_current(), pytest.raises(OSError, match="No space left"):
        est.fit(X, y)
    fits = [f for f in _history(_base(client))[0] if "alpha=0.00045" in f["label"]]
    assert len(fits) == 1 and fits[0]["status"] == "failed" and len(fits[0]["steps"]) == 2


def test_a_long_history_comes_in_bounded_answers_each_row_once(cluster_client):
    # data.json sent every step the scheduler held on every poll (megabytes for a fast fit).
    from dasksgd.dashboard import MAX_ROWS, TOPIC

    client, fit = cluster_client, "long-history-fit"
    n_events, per_event = 12, MAX_ROWS // 4  # 3 MAX_ROWS rows in all
    for e in range(n_events):
        rows = [[e * per_event + i, 64, 1.0, 0.1, 0.5, 0.0] for i in range(per_event)]
        client.log_event(TOPIC, {"fit": fit, "label": "long", "start": 0.0, "steps": rows})
    base, cursor, got = _base(client), [0, 0], []
    while True:
        body = _get(f"{base}/dasksgd/data.json?since={cursor[0]!r}&wsince={cursor[1]!r}")
        data = json.loads(body)
        rows = sum(len(f["steps"]) + len(f["epochs"]) for f in data["fits"])
        assert rows <= MAX_ROWS
        got += [s[0] for f in data["fits"] if f["id"] == fit for s in f["steps"]]
        cursor = data["cursor"]
        if not data["more"]:
            break
    assert got == list(range(n_events * per_event))  # every step once, in order


def test_what_any_client_logs_reaches_the_page_as_numbers_and_text(cluster_client):
    # Any client of the cluster can log a "dasksgd" event; the page inserted a step's number,
    # its batch size and an epoch's number as they came.
    from dasksgd.dashboard import TOPIC, WORKER_TOPIC

    client, evil = cluster_client, '<img src=x onerror="document.title=1">'
    client.log_event(
        TOPIC,
        {
            "fit": evil,
            "label": evil,
            "start": evil,
            "status": evil,
            "steps": [[evil, evil, float("nan"), 0.1, 0.5, 0.0], "not a row", [1, True, 3.0]],
            "epochs": [[evil, 1.0, 2.0, 3], [2, 0.5, 3.0, 4]],
        },
    )
    client.log_event(WORKER_TOPIC, {"fit": evil, "worker": evil, "times": [[evil, 1e400]]})
    [f] = [f for f in _history(_base(client))[0] if f["id"] == evil]
    assert f["label"] == evil and f["start"] is None  # text as text; a number or null
    assert f["steps"] == [[None, None, None, 0.1, 0.5, 0.0], [1.0, None, 3.0]]
    assert f["epochs"] == [[None, 1.0, 2.0, 3.0], [2.0, 0.5, 3.0, 4.0]]
    assert f["workers"] == {evil: [[None, None]]}
    chromium = _chromium()
    dom = _chrome(chromium, "--dump-dom", _base(client) + "/dasksgd").stdout
    assert "<title>dasksgd: training</title>" in dom  # the title the script would have changed
    assert "<img" not in dom and "&lt;img src=x" in dom  # drawn, as text


def _swap_web_application(dask_scheduler):
    """Take the scheduler's web application away (or give it back)."""
    saved = getattr(dask_scheduler, "_test_saved_application", None)
    dask_scheduler._test_saved_application = dask_scheduler.http_application
    dask_scheduler.http_application = saved


def test_no_link_to_a_page_the_scheduler_does_not_serve():
    # A scheduler without a web application to add the routes to: the fit gave a link anyway.
    from distributed import Client, LocalCluster

    from dasksgd.dashboard import enable

    with (
        LocalCluster(n_workers=1, processes=True, host="127.0.0.1", dashboard_address=":0") as c,
        Client(c, set_as_default=False) as client,
    ):
        client.run_on_scheduler(_swap_web_application)
        try:
            assert enable(client) is None
            X, y = make_classification(2000, 4, chunks=1000, random_state=0)
            with client.as_current():
                SGDClassifier(max_iter=2, tol=None).fit(X, y)  # trains without the page
        finally:
            client.run_on_scheduler(_swap_web_application)  # the scheduler closes it
    with (
        LocalCluster(n_workers=1, processes=True, host="127.0.0.1", dashboard_address=":0") as c,
        Client(c, set_as_default=False) as client,
    ):
        link = enable(client)
        assert link == client.dashboard_link.rsplit("/", 1)[0] + "/dasksgd"
        assert "<title>dasksgd: training</title>" in _get(link)


def _slow_block(block):
    time.sleep(3)  # a slow read: the shards load for seconds
    return block


def test_the_page_shows_a_fit_from_its_start_while_its_shards_load(cluster_client):
    # The page was a 404, and the fit absent from it, until the shards were loaded.
    import urllib.error

    client = cluster_client
    X, y = make_classification(20_000, 5, chunks=10_000, random_state=6)
    X = X.map_blocks(_slow_block, dtype=X.dtype)  # y's blocks do not wait for X's
    est = SGDClassifier(alpha=5.5e-4, max_iter=2, tol=None, random_state=0)
    base = _base(client)
    try:
        cursor = _history(base)[1]  # what the page already knows: from here on
    except urllib.error.HTTPError:
        cursor = (0, 0)  # no fit registered the page yet on this cluster
    thread = threading.Thread(target=_fit_as_current, args=(client, est, X, y))
    thread.start()
    try:
        seen, deadline = [], time.monotonic() + 60
        while not seen and time.monotonic() < deadline:
            try:
                seen = [
                    f for f in _history(base, cursor)[0] if "alpha=0.00055" in f.get("label", "")
                ]
            except urllib.error.HTTPError:  # the fit registers the page as it starts
                pass
            time.sleep(0.1)
        assert thread.is_alive()  # the blocks are still sleeping: no step can have run
        assert seen and seen[0]["status"] == "loading" and seen[0]["steps"] == []
    finally:
        thread.join()
    [f] = [f for f in _history(base, cursor)[0] if "alpha=0.00055" in f["label"]]
    assert f["status"] == "done" and len(f["steps"]) == len(est.history_)


def _fit_as_current(client, est, X, y):
    with client.as_current():
        est.fit(X, y)


def test_a_verbose_fit_prints_its_page(cluster_client, capsys):
    # The link was only an INFO log: a user without a logging handler never saw it.
    client = cluster_client
    X, y = make_classification(4000, 4, chunks=2000, random_state=7)
    with client.as_current():
        SGDClassifier(max_iter=2, tol=None, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert f"Training progress: {_base(client)}/dasksgd" in out
    assert "<title>dasksgd: training</title>" in _get(_base(client) + "/dasksgd")


def test_candidates_on_one_plot_and_the_validation_score():
    from distributed import Client, LocalCluster

    chromium = _chromium()
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0"
        ) as c,
        Client(c, set_as_default=False) as client,
    ):  # a cluster of its own: the comparison holds every fit of the cluster
        X, y = make_classification(40_000, 6, chunks=10_000, random_state=8)
        fits = []
        with client.as_current():
            for alpha, early in ((6.5e-4, True), (7.5e-4, False)):
                est = SGDClassifier(alpha=alpha, early_stopping=early, max_iter=6, random_state=0)
                fits.append(est.fit(X, y))
        time.sleep(1.0)  # the reporter's last events reach the scheduler
        dom = _chrome(chromium, "--dump-dom", _base(client) + "/dasksgd").stdout
        history = _history(_base(client))[0]
    compare = re.search(r'<div class="compare">.*?</svg></div></div></div>', dom, re.S)
    assert compare, "no comparison of the fits"
    names = re.findall(r'class="legend" data-series="([^"]+)"', compare.group(0))
    # Named by the parameters that set them apart, not by their whole repr.
    assert "alpha=0.00065, early_stopping=True" in names
    assert "alpha=0.00075, early_stopping=default" in names
    [fit_id] = [f["id"] for f in history if "alpha=0.00065" in f.get("label", "")]
    section = re.search(rf'<div class="fit" data-fit="{fit_id}">.*?</div></div>', dom, re.S)
    m = re.search(r'data-panel="validation".*?data-y="([^"]*)"', section.group(0), re.S)
    assert m, "no validation score panel for a fit with early_stopping"
    shown = [float(v) for v in m.group(1).split(",")]
    expected = fits[0].history_["validation_score"].dropna().to_numpy()
    np.testing.assert_allclose(shown, expected, rtol=1e-12)
