"""The functional core: a fit without an estimator, and what it may import."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.utils import check_random_state

from dasksgd import SGDClassifier
from dasksgd.engine import FitResult, TargetSpec, fit


@pytest.mark.parametrize("params", [{}, {"loss": "log_loss", "average": True}, {"batch_size": 64}])
def test_the_estimator_is_a_thin_wrapper_over_fit(params):
    X, y = make_classification(800, 6, n_classes=3, n_informative=4, random_state=0)
    est = SGDClassifier(random_state=0, max_iter=6, tol=None, **params).fit(X, y)
    seed = int(check_random_state(0).randint(np.iinfo(np.int32).max))
    spec = TargetSpec(classes=np.unique(y))
    config = est._config(len(X), spec)
    res = fit(X, y, target=spec, config=config, seed=seed)
    assert isinstance(res, FitResult) and res.seed == seed and res.n_workers == 1
    coef, intercept = res.state.model()
    np.testing.assert_array_equal(coef.T, est.coef_)
    if config.loss.coupled:  # a multinomial model's intercepts are reported centred
        intercept = intercept - intercept.mean()
    np.testing.assert_array_equal(intercept, est.intercept_)
    assert res.n_iter == est.n_iter_ == 6
    cols = [c for c in res.history.columns if c != "time"]
    assert res.history[cols].equals(est.history_[cols])


def test_fit_leaves_the_inputs_and_the_start_state_alone():
    from dasksgd.engine import TrainState

    X, y = make_classification(300, 4, random_state=1)
    X0, y0 = X.copy(), y.copy()
    est = SGDClassifier(loss="log_loss", max_iter=3, tol=None)
    start = TrainState(coef=np.ones((4, 1)), intercept=np.zeros(1))
    spec = TargetSpec(classes=np.array([0, 1]))
    res = fit(
        X,
        y,
        target=spec,
        config=est._config(300, spec),
        seed=0,
        state=start,
    )
    np.testing.assert_array_equal(start.coef, np.ones((4, 1)))  # the result holds a new state
    assert start.step == 0 and res.state.step > 0
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_the_engine_imports_no_scikit_learn():
    code = """
import sys
import numpy as np
from dasksgd.engine import TargetSpec, TrainConfig
from dasksgd.engine import fit
from dasksgd.losses import get_loss
from dasksgd.penalties import get_penalty
from dasksgd.schedules import LearningRate

rng = np.random.default_rng(0)
X = rng.standard_normal((300, 4))
y = (X[:, 0] > 0).astype(int)
loss = get_loss("log_loss")
schedule = LearningRate(kind="auto", eta0=0.0, power_t=0.5, alpha=1e-4, loss=loss)
config = TrainConfig(loss=loss, penalty=get_penalty("l2", 1e-4), max_iter=3, schedule=schedule)
res = fit(X, y, target=TargetSpec(classes=np.array([0, 1])), config=config, seed=0)
assert res.n_iter == 3 and np.isfinite(res.objective)
print("sklearn" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "False"
