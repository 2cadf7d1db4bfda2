"""Scores from sums: accuracy and R^2 as additive sums over blocks of rows, and the score from them.

The estimators' ``score`` on dask input (a task per block) and the engine's validation score
(a request per shard) both add :func:`score_sums` over their blocks and finish with
:func:`score_from_sums`: one formula for each score, whichever layer computes it. Written
against the array API, so the sums are taken where the rows are (numpy, cupy).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace

__all__ = ["score_sums", "score_from_sums"]


def score_sums(y: Any, pred: Any, sample_weight: Any = None, *, accuracy: bool) -> np.ndarray:
    """One block's sums: ``[weight, weight of the correct, 0, 0]`` (accuracy) or ``[weight,
    weighted squared error, sum of w y, sum of w y^2]`` (R^2), as host floats.

    Parameters
    ----------
    y, pred : arrays of shape (n,)
        True and predicted labels (accuracy) or values (R^2), in one namespace.
    sample_weight : array of shape (n,), optional
        Row weights (ones by default).
    accuracy : bool
        Which score the sums are for.
    """
    xp = array_namespace(pred)
    w = sample_weight
    if w is None:
        w = xp.ones(pred.shape[0], dtype=xp.float64, device=getattr(pred, "device", None))
    if accuracy:
        parts = [xp.sum(w), xp.sum(w * xp.astype(pred == y, w.dtype)), 0.0, 0.0]
    else:
        r = pred - y
        parts = [xp.sum(w), xp.sum(w * r * r), xp.sum(w * y), xp.sum(w * y * y)]
    return np.asarray([float(p) for p in parts])


def score_from_sums(sums: Any, *, accuracy: bool) -> float:
    """Accuracy, or R^2 (0 when the targets do not vary), from the blocks' summed sums."""
    weight, a, sy, syy = (float(v) for v in sums)
    if accuracy:
        return a / weight
    var = syy - sy * sy / weight
    return 1.0 - a / var if var > 0 else 0.0
