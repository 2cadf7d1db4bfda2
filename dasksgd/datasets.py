"""Synthetic data generated block by block, so that it can be made on the workers."""

from __future__ import annotations

import numpy as np

__all__ = ["make_classification"]


def _block(seed: int, index: int, rows: int, coef: np.ndarray, scales: np.ndarray, dtype) -> tuple:
    rng = np.random.default_rng([seed, index])
    X = rng.standard_normal((rows, coef.shape[0])) * scales
    z = (X / scales) @ coef
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-z))).astype(np.int64)
    return X.astype(dtype), y


def make_classification(
    n_samples: int = 200_000,
    n_features: int = 50,
    *,
    chunks: int = 25_000,
    scale_spread: float = 0.0,
    random_state: int = 0,
    dtype=np.float64,
):
    """A logistic-model binary classification problem as lazy dask arrays.

    Rows are Gaussian; labels are drawn from the logistic model of a fixed random coefficient
    vector (so the problem has a known, non-separable structure). Every block is generated from
    its own seeded generator where it is computed (on a worker under a distributed client):
    nothing is sent from the client but the coefficients.

    Parameters
    ----------
    n_samples, n_features : int
        Shape of ``X``.
    chunks : int
        Rows per block.
    scale_spread : float
        Feature ``j`` is multiplied by ``10 ** (scale_spread * u_j)`` with ``u_j`` uniform in
        [-1, 1]: 0 gives standardized features, 1 features spanning two decades.
    random_state : int
        Seed of the coefficients and of every block.
    dtype : numpy dtype
        dtype of ``X``.

    Returns
    -------
    X : dask.array.Array of shape (n_samples, n_features)
    y : dask.array.Array of shape (n_samples,)
        Labels in {0, 1}.
    """
    import dask
    import dask.array as da

    rng = np.random.default_rng(random_state)
    coef = rng.standard_normal(n_features) * (3.0 / np.sqrt(n_features))
    scales = 10.0 ** (scale_spread * rng.uniform(-1.0, 1.0, n_features))
    xs, ys = [], []
    for i, start in enumerate(range(0, n_samples, chunks)):
        rows = min(chunks, n_samples - start)
        part = dask.delayed(_block, pure=True, nout=2)(random_state, i, rows, coef, scales, dtype,
                                                       dask_key_name=f"dasksgd-make-data-{random_state}-{i}")
        xs.append(da.from_delayed(part[0], (rows, n_features), dtype=dtype))
        ys.append(da.from_delayed(part[1], (rows,), dtype=np.int64))
    return da.concatenate(xs), da.concatenate(ys)
