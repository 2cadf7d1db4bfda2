"""Fitted estimators saved and loaded: skops (scikit-learn's safe format) and joblib."""

import io

import joblib
import numpy as np
import pandas as pd
import pytest
from references import XC, XR, YC, YR
from sklearn.datasets import load_iris

from dasksgd import SGDClassifier, SGDRegressor

sio = pytest.importorskip("skops.io")


def _iris_frame():
    X, y = load_iris(return_X_y=True)
    df = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    df["size"] = pd.Series(np.where(X[:, 0] > 5.8, "big", "small"), dtype="string")
    return df, np.array(["setosa", "versicolor", "virginica"])[y]


def _skops(est):
    blob = sio.dumps(est)
    untrusted = sio.get_untrusted_types(data=blob)
    # Nothing but the estimator's own class needs trusting: no pandas or engine internals.
    assert untrusted == [f"dasksgd.linear_model.{type(est).__name__}"]
    return sio.loads(blob, trusted=untrusted)


def _joblib(est):
    buf = io.BytesIO()
    joblib.dump(est, buf)
    buf.seek(0)
    return joblib.load(buf)


CASES = {
    "multinomial on a frame": lambda: (SGDClassifier(random_state=0), *_iris_frame()),
    "binary": lambda: (SGDClassifier(loss="hinge", random_state=0), XC, YC),
    "regression": lambda: (SGDRegressor(random_state=0), XR, YR),
}


@pytest.mark.parametrize("save", [_skops, _joblib], ids=["skops", "joblib"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_loaded_model_predicts_and_continues_as_the_original(save, case):
    est, X, y = CASES[case]()
    est.set_params(max_iter=30, tol=None).fit(X, y)
    loaded = save(est)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    np.testing.assert_array_equal(loaded.coef_, est.coef_)
    pd.testing.assert_frame_equal(loaded.history_, est.history_)
    if hasattr(est, "encoder_"):
        assert loaded.encoder_ == est.encoder_
    if hasattr(est, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    # The training state came back too: the next partial_fit is the original's, bit for bit.
    kw = {"classes": np.unique(y)} if hasattr(est, "classes_") else {}
    est.partial_fit(X, y, **kw)
    loaded.partial_fit(X, y, **kw)
    np.testing.assert_array_equal(loaded.coef_, est.coef_)
