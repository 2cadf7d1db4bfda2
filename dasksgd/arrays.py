"""The few array operations the shards need that numpy, cupy and the array API spell differently.

Shard data (rows, targets, weights, row norms) stay in the namespace and on the device they
came in (numpy, cupy, any array API library through :mod:`array_api_compat`); the model and
the reduced statistics are small and live on the host as float64 numpy arrays. These helpers
cross between the two and index rows the way every namespace accepts. Sparse matrices (scipy,
cupyx) keep their own indexing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import (
    array_namespace,
    device,
    is_array_api_obj,
    is_cupy_array,
    is_numpy_array,
)

__all__ = [
    "is_device_array",
    "is_sparse",
    "namespace",
    "values",
    "to_numpy",
    "to_like",
    "on_device_of",
    "row_slice",
    "take_rows",
    "itemsize",
    "nbytes",
    "is_float",
    "float_dtype",
]


def is_sparse(X: Any) -> bool:
    """Whether ``X`` is a scipy (or cupyx) sparse matrix or array."""
    return hasattr(X, "tocsr") and hasattr(X, "nnz")


def is_device_array(X: Any) -> bool:
    """Whether ``X`` is an in-memory array of a namespace other than numpy (cupy, an array API
    library), or a sparse matrix whose values are one (cupyx): data dasksgd keeps where it is."""
    from dask.base import is_dask_collection

    if is_dask_collection(X) or isinstance(X, np.ndarray):
        return False
    v = getattr(X, "data", None) if is_sparse(X) else X  # (scipy's DOK and LIL hold no data array)
    return v is not None and is_array_api_obj(v) and not isinstance(v, np.ndarray)


def values(X: Any) -> Any:
    """The stored values of ``X``: its ``data`` when sparse, else ``X``."""
    return X.data if is_sparse(X) else X


def namespace(X: Any) -> Any:
    """The array API namespace of ``X``'s values (sparse: of its stored values)."""
    return array_namespace(values(X))


def to_numpy(a: Any, dtype: Any = np.float64) -> np.ndarray:
    """``a`` (an array of any namespace or device, or a scalar) as a numpy array on the host."""
    if isinstance(a, np.ndarray) or np.isscalar(a):
        return np.asarray(a, dtype=dtype)
    if is_cupy_array(a):
        return np.asarray(a.get(), dtype=dtype)
    if hasattr(a, "__dlpack__"):
        try:  # zero-copy for host arrays that speak DLPack (array_api_strict, torch on CPU, ...)
            return np.asarray(np.from_dlpack(a), dtype=dtype)
        except (TypeError, RuntimeError, BufferError, ValueError):
            pass
    return np.asarray(a, dtype=dtype)


def to_like(a: Any, like: Any, dtype: Any = None) -> Any:
    """Host values ``a`` as an array of ``like``'s namespace and device (and ``dtype``, by
    default ``like``'s)."""
    v = values(like)
    if isinstance(v, np.ndarray):
        return np.asarray(a, dtype=v.dtype if dtype is None else dtype)
    xp = array_namespace(v)
    return xp.asarray(np.asarray(a), dtype=v.dtype if dtype is None else dtype, device=device(v))


def on_device_of(a: Any, like: Any) -> Any:
    """Host values ``a``, with their own dtype, as an array of ``like``'s namespace and device."""
    v = values(like)
    if isinstance(v, np.ndarray):
        return np.asarray(a)
    return array_namespace(v).asarray(np.asarray(a), device=device(v))


def row_slice(X: Any, lo: int, hi: int, step: int = 1) -> Any:
    """Rows ``lo:hi:step`` of a 1-D or 2-D array or a sparse matrix (a view where the namespace
    gives one); bounds past the end are clipped, as numpy does."""
    n = X.shape[0]
    lo, hi = min(lo, n), min(hi, n)
    if is_sparse(X) or X.ndim == 1:
        return X[lo:hi:step]
    return X[lo:hi:step, ...]


def take_rows(X: Any, idx: Any) -> Any:
    """Rows ``idx`` (a slice or a host integer array) of ``X``, in that order."""
    if isinstance(idx, slice):
        return row_slice(
            X, idx.start or 0, X.shape[0] if idx.stop is None else idx.stop, idx.step or 1
        )
    if is_sparse(X) or isinstance(X, np.ndarray):
        return X[idx]
    xp = array_namespace(X)
    return xp.take(X, xp.asarray(np.asarray(idx, dtype=np.int64), device=device(X)), axis=0)


def itemsize(dtype: Any) -> int:
    """Bytes per element of a dtype of any namespace."""
    try:
        return np.dtype(dtype).itemsize
    except TypeError:  # a dtype object of another namespace: its name ends with numpy's
        return np.dtype(str(dtype).rsplit(".", 1)[-1]).itemsize


def nbytes(X: Any) -> int:
    """Bytes held by ``X`` (sparse: values, indices and row pointers)."""
    if is_sparse(X):
        return int(X.data.nbytes + X.indices.nbytes + X.indptr.nbytes)
    size = 1
    for n in X.shape:
        size *= int(n)
    return size * itemsize(X.dtype)


def is_float(X: Any) -> bool:
    """Whether ``X``'s values are real floating point (float32 or float64)."""
    v = values(X)
    if is_numpy_array(v) or isinstance(v, np.ndarray):
        return v.dtype in (np.float32, np.float64)
    xp = array_namespace(v)
    return v.dtype in (xp.float32, xp.float64)


def float_dtype(X: Any) -> Any:
    """``X``'s dtype when it is float32 or float64, else float64 of its namespace."""
    if is_float(X):
        return values(X).dtype
    v = values(X)
    return np.float64 if isinstance(v, np.ndarray) else array_namespace(v).float64
