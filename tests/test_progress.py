"""verbose fits: a tqdm bar over the epochs on stderr, log lines on the "dasksgd" logger."""

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
    assert f"objective={objective:.6g}" in last and "B=250" in last


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


def test_verbose_2_logs_each_epoch(caplog):
    X, y = _data()
    with caplog.at_level(logging.INFO, logger="dasksgd"):
        SGDRegressor(verbose=2, max_iter=3, tol=None, random_state=0).fit(X, y.astype(float))
    epochs = [r.getMessage() for r in caplog.records if r.getMessage().startswith("-- Epoch")]
    assert len(epochs) == 3


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
