"""Scores from sums against scikit-learn's own metrics, over blocks and array backends."""

import numpy as np
import pytest
from references import BACKENDS, on_backend
from sklearn.metrics import accuracy_score, r2_score

from dasksgd.metrics import score_from_sums, score_sums


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("accuracy", [True, False])
def test_sums_over_blocks_give_scikit_learns_score(backend, weighted, accuracy):
    rng = np.random.default_rng(0)
    n = 1000
    if accuracy:
        y, pred = rng.integers(0, 3, n), rng.integers(0, 3, n)
    else:
        y = rng.standard_normal(n) * 2.0 + 1.0
        pred = y + 0.5 * rng.standard_normal(n)
    w = rng.uniform(0.1, 2.0, n) if weighted else None
    cuts = [0, 137, 500, 501, n]  # blocks of unequal sizes, one of a single row
    total = sum(
        score_sums(
            on_backend(y[a:b], backend),
            on_backend(pred[a:b], backend),
            None if w is None else on_backend(w[a:b], backend),
            accuracy=accuracy,
        )
        for a, b in zip(cuts[:-1], cuts[1:])
    )
    ref = (accuracy_score if accuracy else r2_score)(y, pred, sample_weight=w)
    assert score_from_sums(total, accuracy=accuracy) == pytest.approx(ref, rel=1e-12)


def test_r2_of_constant_targets_is_zero():
    y = np.full(10, 3.0)
    assert score_from_sums(score_sums(y, y + 1.0, accuracy=False), accuracy=False) == 0.0
