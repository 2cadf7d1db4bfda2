"""verbose fits: a tqdm bar over the epochs on stderr; with verbose=2 a line per epoch on
stdout (as scikit-learn prints) and on the "dasksgd" logger."""

import logging

import numpy as np
import pytest

from dasksgd import SGDClassifier, SGDRegressor
from dasksgd import checkpoint as ckpt
from dasksgd.progress import Progress


def _disk_full(path, payload):
    """A checkpoint write that fails as a full disk does (the fit fails mid-way)."""
    raise OSError(28, "No space left on device", str(path))


def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 5))
    return X, (X[:, 0] + 0.5 * rng.standard_normal(2000) > 0).astype(int)


def test_verbose_fit_draws_a_bar_and_prints_nothing_else(capsys):
    X, y = _data()
    est = SGDClassifier(verbose=1, max_iter=4, tol=None, batch_size=250, random_state=0).fit(X, y)
    out, err = capsys.readouterr()
    assert out == ""  # no prints: the bar goes to stderr
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert "SGDClassifier" in last and "4.0/4 epochs" in last
    objective = est.history_["objective"].dropna().iloc[-1]
    assert f"objective={objective:.6g}" in last and "B=250, eta=" in last
    assert "converged" not in last  # tol=None: it ran its 4 epochs


def test_a_fit_that_converged_says_so_and_labels_its_full_batch_steps(capsys):
    X, y = _data()
    est = SGDClassifier(verbose=1, max_iter=500, random_state=0).fit(X, y)
    assert est.n_iter_ < 500  # the stopping rule ended it: the bar stops short of its total
    last = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert f"{est.n_iter_:.1f}/500 epochs" in last
    assert f"converged at epoch {est.n_iter_}" in last
    assert "full batch, t=" in last  # the line search's step, not a mini-batch step size


def test_bar_advances_within_an_epoch():
    lines = []

    class Sink:
        def write(self, s):
            lines.append(s)

        def flush(self):
            pass

    bar = Progress(2, 1000, "fit", file=Sink(), mininterval=0)
    bar.on_step({"batch_size": 250, "learning_rate": 0.5})
    assert bar.bar.n == pytest.approx(0.25)
    for _ in range(3):
        bar.on_step({"batch_size": 250, "learning_rate": 0.5})
    bar.on_epoch({"epoch": 1, "objective": 0.3})
    assert bar.bar.n == pytest.approx(1.0)
    bar.on_epoch({"epoch": 2, "objective": float("nan")})  # no objective yet: the last one stays
    bar.close()
    assert bar.bar.n == pytest.approx(2.0) and "objective=0.3" in "".join(lines)


def test_verbose_2_prints_each_epoch_and_logs_it(caplog, capsys):
    # The lines went only to a logger without a handler: nothing showed in a script.
    X, y = _data()
    with caplog.at_level(logging.INFO, logger="dasksgd"):
        est = SGDRegressor(verbose=2, max_iter=3, tol=None, random_state=0)
        est.fit(X, y.astype(float))
    epochs = [r.getMessage() for r in caplog.records if r.getMessage().startswith("-- Epoch")]
    assert len(epochs) == 3
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("-- ")]
    objectives = est.history_["objective"].dropna()
    assert printed == epochs and len(objectives) == 3
    assert all(
        f"-- Epoch {k + 1}: objective {v:.6g}," in printed[k] for k, v in enumerate(objectives)
    )


def test_a_failed_fit_closes_its_bar(capsys, tmp_path, monkeypatch):
    X, y = _data()
    est = SGDRegressor(
        verbose=1,
        max_iter=5,
        tol=None,
        batch_size=100,
        random_state=0,
        checkpoint=tmp_path / "fit.ckpt",
        checkpoint_every=3,
    )
    monkeypatch.setattr(ckpt, "save", _disk_full)
    with pytest.raises(OSError, match="No space left"):  # the first checkpoint, mid-fit
        est.fit(X, y.astype(float))
    err = capsys.readouterr().err
    assert "SGDRegressor" in err and err.endswith("\n")  # tqdm ends a closed bar's line
    assert not hasattr(est, "coef_")


def test_each_epoch_shows_its_seconds_and_a_streamed_fits_read_rate():
    lines, read = [], [0.0]

    class Sink:
        def write(self, s):
            lines.append(s)

        def flush(self):
            pass

    def reads():  # bytes and seconds read so far, as ClusterBackend.read_totals answers
        return read[0], 0.0

    bar = Progress(3, 1000, "fit", reads=reads, file=Sink(), mininterval=0)
    read[0] = 5e6  # the plan's passes, before the first step: not in the first epoch's rate
    bar.on_step({"batch_size": 1000, "learning_rate": 0.5, "time": 10.0})
    read[0] = 205e6
    bar.on_epoch({"epoch": 1, "objective": 0.3, "time": 12.0})
    assert "2 s/epoch, read 100 MB/s" in lines[-1]
    read[0] = 0.0  # the actors were rebuilt (a worker lost): no rate for that epoch
    bar.on_epoch({"epoch": 2, "objective": 0.2, "time": 16.0})
    assert "4 s/epoch" in lines[-1] and "MB/s" not in lines[-1]
    bar.close()
    plain = Progress(2, 1000, "fit", file=Sink(), mininterval=0)  # a fit that does not stream
    plain.on_step({"batch_size": 1000, "learning_rate": 0.5, "time": 1.0})
    plain.on_epoch({"epoch": 1, "objective": 0.3, "time": 1.5})
    assert "0.5 s/epoch" in lines[-1] and "MB/s" not in lines[-1]
    plain.close()
