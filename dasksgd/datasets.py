"""Synthetic data generated block by block, so that it can be made on the workers."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["make_classification", "make_regression"]


def _rows(
    rng: np.random.Generator,
    rows: int,
    n_features: int,
    scales: np.ndarray,
    density: float | None,
    dtype,
):
    """Gaussian rows (dense), or CSR rows with ``density * n_features`` Gaussian values each at
    uniformly random columns; and their unscaled margins' features."""
    if density is None:
        Z = rng.standard_normal((rows, n_features))
        return (Z * scales).astype(dtype), Z
    import scipy.sparse as sp

    k = max(1, int(round(density * n_features)))
    cols = rng.integers(0, n_features, size=(rows, k))
    cols.sort(axis=1)
    vals = rng.standard_normal((rows, k))
    indptr = np.arange(0, rows * k + 1, k)
    Z = sp.csr_matrix((vals.ravel(), cols.ravel(), indptr), shape=(rows, n_features))
    Z.sum_duplicates()
    X = sp.csr_matrix((Z.data * scales[Z.indices], Z.indices, Z.indptr), shape=Z.shape).astype(
        dtype
    )
    return X, Z


def _block(
    seed: int, index: int, rows: int, coef: np.ndarray, scales: np.ndarray, dtype, density, task
) -> tuple:
    rng = np.random.default_rng([seed, index])
    X, Z = _rows(rng, rows, coef.shape[0], scales, density, dtype)
    z = np.asarray(Z @ coef)
    if task == "regression":
        return X, z[:, 0] + rng.standard_normal(rows)
    if z.shape[1] == 1:  # binary: labels from the logistic model
        return X, (rng.random(rows) < 1.0 / (1.0 + np.exp(-z[:, 0]))).astype(np.int64)
    # Multiclass: labels drawn from the softmax of the class scores.
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    u = rng.random((rows, 1))
    return X, np.minimum((p.cumsum(axis=1) < u).sum(axis=1), z.shape[1] - 1).astype(np.int64)


def _make(
    task, n_samples, n_features, n_outputs, chunks, scale_spread, density, random_state, dtype
):
    import dask
    import dask.array as da
    from dask.base import tokenize

    # Keys name everything that shapes the data: two data sets never share a key on a cluster.
    token = tokenize(
        task,
        n_samples,
        n_features,
        n_outputs,
        chunks,
        scale_spread,
        density,
        random_state,
        np.dtype(dtype).str,
    )
    rng = np.random.default_rng(random_state)
    active = n_features if density is None else max(1, int(round(density * n_features)))
    coef = rng.standard_normal((n_features, n_outputs)) * (3.0 / np.sqrt(active))
    scales = 10.0 ** (scale_spread * rng.uniform(-1.0, 1.0, n_features))
    meta = None
    if density is not None:
        import scipy.sparse as sp

        meta = sp.csr_matrix((0, n_features), dtype=dtype)
    xs, ys = [], []
    y_dtype = np.float64 if task == "regression" else np.int64
    for i, start in enumerate(range(0, n_samples, chunks)):
        rows = min(chunks, n_samples - start)
        part = dask.delayed(_block, pure=True, nout=2)(
            random_state,
            i,
            rows,
            coef,
            scales,
            dtype,
            density,
            task,
            dask_key_name=f"dasksgd-make-data-{task}-{token}-{i}",
        )
        xs.append(da.from_delayed(part[0], (rows, n_features), dtype=dtype, meta=meta))
        ys.append(da.from_delayed(part[1], (rows,), dtype=y_dtype))
    return da.concatenate(xs), da.concatenate(ys)


def make_classification(
    n_samples: int = 200_000,
    n_features: int = 50,
    *,
    n_classes: int = 2,
    chunks: int = 25_000,
    scale_spread: float = 0.0,
    density: float | None = None,
    random_state: int = 0,
    dtype: type = np.float64,
) -> tuple[Any, Any]:
    """A logistic-model classification problem as lazy dask arrays.

    Rows are Gaussian; labels are drawn from the logistic model (softmax for more than two
    classes) of fixed random coefficients, so the problem has a known, non-separable structure.
    Every block is generated from its own seeded generator where it is computed (on a worker
    under a distributed client): nothing is sent from the client but the coefficients.

    Parameters
    ----------
    n_samples, n_features : int
        Shape of ``X``.
    n_classes : int
        Number of classes.
    chunks : int
        Rows per block.
    scale_spread : float
        Feature ``j`` is multiplied by ``10 ** (scale_spread * u_j)`` with ``u_j`` uniform in
        [-1, 1]: 0 gives standardized features, 1 features spanning two decades.
    density : float, optional
        Fraction of stored values per row: blocks are then ``scipy.sparse`` CSR matrices with
        ``density * n_features`` Gaussian values per row at random columns.
    random_state : int
        Seed of the coefficients and of every block.
    dtype : numpy dtype
        dtype of ``X``.

    Returns
    -------
    X : dask.array.Array of shape (n_samples, n_features)
        The rows (blocks of ``chunks`` rows; numpy, or CSR with ``density``).
    y : dask.array.Array of shape (n_samples,)
        Labels in {0, ..., n_classes - 1}.
    """
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2; got {n_classes}.")
    return _make(
        "classification",
        n_samples,
        n_features,
        1 if n_classes == 2 else n_classes,
        chunks,
        scale_spread,
        density,
        random_state,
        dtype,
    )


def make_regression(
    n_samples: int = 200_000,
    n_features: int = 50,
    *,
    chunks: int = 25_000,
    scale_spread: float = 0.0,
    density: float | None = None,
    random_state: int = 0,
    dtype: type = np.float64,
) -> tuple[Any, Any]:
    """A linear regression problem (unit Gaussian noise) as lazy dask arrays.

    Rows as in :func:`make_classification`; ``y = x . w + e`` with fixed random ``w`` (on the
    unscaled features) and standard normal ``e``.

    Parameters
    ----------
    n_samples, n_features : int
        Shape of ``X``.
    chunks : int
        Rows per block.
    scale_spread : float
        Spread of the feature scales, as for :func:`make_classification`.
    density : float, optional
        Fraction of stored values per row (CSR blocks), as for :func:`make_classification`.
    random_state : int
        Seed of the coefficients and of every block.
    dtype : numpy dtype
        dtype of ``X``.

    Returns
    -------
    X : dask.array.Array of shape (n_samples, n_features)
        The rows.
    y : dask.array.Array of shape (n_samples,)
        Targets.
    """
    return _make(
        "regression", n_samples, n_features, 1, chunks, scale_spread, density, random_state, dtype
    )
