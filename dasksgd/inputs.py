"""Turning what a user passes (dask, pandas, numpy, scipy.sparse) into what the engine takes.

Dask inputs stay lazy and are only checked for shape here; their values are checked on the
workers as each shard is loaded. Nothing here modifies the user's objects.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from dask.base import is_dask_collection

__all__ = [
    "is_dask_collection",
    "as_dask_matrix",
    "as_dask_vector",
    "get_client",
    "persist",
    "label_counts",
    "check_2d",
]


def get_client() -> Any:
    """The default :class:`distributed.Client`, or None when there is none."""
    try:
        from distributed import default_client
    except ImportError:  # pragma: no cover - distributed is a dependency
        return None
    try:
        return default_client()
    except ValueError:
        return None


def persist(X: Any, y: Any, sample_weight: Any = None, *, streaming: Any = "auto") -> tuple:
    """``(X, y, sample_weight)``, their dask arrays persisted together on the current cluster
    (Nones and in-memory arrays pass through). Together, so that tasks shared by ``X`` and ``y``
    (a generator making both) run once, and the classes can be read from ``y`` without
    computing it a second time for the fit. ``X`` stays lazy when the fit will stream it
    (``streaming``, :func:`~dasksgd.engine.cluster.choose_streaming`)."""
    arrays = (X, y, sample_weight)
    client = get_client()
    if client is None or not any(is_dask_collection(a) for a in arrays):
        return arrays
    from .engine.cluster import choose_streaming

    if is_dask_collection(X) and choose_streaming(client, X, y, sample_weight, streaming):
        arrays = (None, y, sample_weight)
    lazy = [a for a in arrays if is_dask_collection(a)]
    done = iter(client.persist(lazy))
    out = tuple(next(done) if is_dask_collection(a) else a for a in arrays)
    return (X if out[0] is None else out[0], *out[1:])


def _unique_counts(block: Any) -> tuple[np.ndarray, np.ndarray]:
    from .arrays import to_numpy  # labels are counted on the host (they may live on a device)

    return np.unique(to_numpy(block, dtype=None), return_counts=True)


def label_counts(y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values of ``y`` (numpy or dask) and how often each occurs.

    For dask arrays each block is counted where it is (a task per block running
    ``numpy.unique``) and the counts are merged here: workers need not import dask.array.
    """
    if not is_dask_collection(y):
        return _unique_counts(y)
    import uuid

    import dask

    # A fresh name per call: the counts are not worth caching, and a name reused while the
    # scheduler still releases an earlier computation's keys can race with that release.
    token = uuid.uuid4().hex
    blocks = y.to_delayed().ravel()
    tasks = [
        dask.delayed(_unique_counts, pure=True)(
            b, dask_key_name=f"dasksgd-label-counts-{token}-{i}"
        )
        for i, b in enumerate(blocks)
    ]
    # On the client's cluster, where persist put y: not on whatever dask.config's "scheduler"
    # says (with "sync", the persisted blocks are missing dependencies in this process).
    client = get_client()
    parts = dask.compute(*tasks) if client is None else client.gather(client.compute(tasks))
    values = np.concatenate([v for v, _ in parts])
    counts = np.concatenate([c for _, c in parts])
    classes, where = np.unique(values, return_inverse=True)
    return classes, np.bincount(where.ravel(), weights=counts, minlength=len(classes))


def _frame_to_array(df: Any) -> Any:
    """A dask DataFrame or Series as a dask array with known chunk sizes.

    ``to_dask_array(lengths=True)`` fails when the optimized graph has another number of
    partitions than the collection reports (read_parquet merges row groups differently when fewer
    columns are read, so ``df[target]`` and ``df[features]`` can be split differently); then the
    chunk sizes are measured on the array itself.
    """
    try:
        return df.to_dask_array(lengths=True)
    except ValueError:
        return df.to_dask_array().compute_chunk_sizes()


def _is_nullable_number(dtype: Any) -> bool:
    """A pandas extension dtype of numbers or booleans that has its own missing value (``Int64``,
    ``Float64``, ``boolean``, pyarrow's): numpy cannot read it as a dtype."""
    import pandas as pd

    return (
        isinstance(dtype, pd.api.extensions.ExtensionDtype)
        and getattr(dtype, "kind", "O") in "iufb"
        and not isinstance(dtype, pd.CategoricalDtype)
    )


def _without_na(part: Any, name: str) -> Any:
    """A partition of a nullable column in its numpy dtype (``Int64`` labels stay integers, as
    scikit-learn reads them); a missing value is refused, as NaN is."""
    if bool(part.isna().any()):
        raise ValueError(
            f"Input {name} contains missing values (pd.NA); drop those rows or fill them "
            "before fitting."
        )
    return part.astype(part.dtype.numpy_dtype)


def check_2d(ndim: int) -> None:
    """Refuse an ``X`` that is not 2-D, with scikit-learn's message."""
    if ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {ndim}D array instead. Reshape your data either using "
            "array.reshape(-1, 1) if your data has a single feature or array.reshape(1, -1) if "
            "it contains a single sample."
        )


def as_dask_matrix(X: Any) -> tuple[Any, list[str] | None]:
    """A dask array with one column chunk and a float dtype, and the feature names if any.

    Raises
    ------
    ValueError
        For a 1-D array, non-numeric dataframe columns, or unknown row-chunk sizes that cannot be
        computed.
    """
    import dask.array as da
    import pandas as pd

    names = None
    if hasattr(X, "columns") and hasattr(X, "to_dask_array"):
        # Nullable columns (pd.NA becomes NaN, which the workers refuse naming the shard) and
        # bool ones (beside float columns, to_dask_array would make an object array) as floats.
        cast = [
            c
            for c, t in X.dtypes.items()
            if _is_nullable_number(t) or pd.api.types.is_bool_dtype(t)
        ]
        if cast:
            X = X.astype({c: np.float64 for c in cast})
        bad = [
            c
            for c, t in X.dtypes.items()
            if not (np.issubdtype(t, np.number) or np.issubdtype(t, np.bool_))
        ]
        if bad:
            raise ValueError(
                f"Columns {bad[:5]} of X are not numeric; leave categorical_features at "
                "'from_dtype' (the default: category and string columns are one-hot encoded) "
                "or name them in it, or encode them before fitting."
            )
        names = [str(c) for c in X.columns]
        X = _frame_to_array(X)
    if not isinstance(X, da.Array):
        raise TypeError(f"Expected a dask array or dataframe; got {type(X).__name__}.")
    check_2d(X.ndim)
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    if not hasattr(X.dtype, "kind"):  # chunks of an array API library with its own dtypes
        return _as_float_chunks(X), names
    if X.dtype not in (np.float32, np.float64):
        if X.dtype.kind not in "fiub":
            raise ValueError(f"X must be numeric; got dtype {X.dtype}.")
        X = X.astype(np.float64)
    return X, names


def _to_float64(block: Any) -> Any:
    from array_api_compat import array_namespace

    xp = array_namespace(block)
    return xp.astype(block, xp.float64)


def _as_float_chunks(X: Any) -> Any:
    """``X`` whose chunks are arrays of a namespace with its own dtype objects (not numpy's):
    float32 and float64 kept, integers and booleans made float64, anything else refused."""
    from array_api_compat import array_namespace

    meta = X._meta
    xp = array_namespace(meta)
    if xp.isdtype(meta.dtype, "real floating"):
        return X
    if not (xp.isdtype(meta.dtype, "integral") or xp.isdtype(meta.dtype, "bool")):
        raise ValueError(f"X must be numeric; got dtype {meta.dtype}.")
    return X.map_blocks(_to_float64, meta=_to_float64(meta), token="dasksgd-as-float")


def as_dask_vector(v: Any, X: Any, name: str) -> Any:
    """``v`` (dask, pandas or numpy, 1-D or one column) as a dask array chunked like ``X``'s
    rows."""
    import dask.array as da

    if v is None:
        return None
    if hasattr(v, "to_dask_array"):
        import pandas as pd

        if isinstance(v.dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_string_dtype(
            v.dtype
        ):
            v = v.astype(
                object
            )  # labels as Python strings (what dask would convert to, with a warning)
        elif _is_nullable_number(v.dtype):
            v = v.map_partitions(_without_na, name, meta=v._meta.astype(v.dtype.numpy_dtype))
        v = _frame_to_array(v)
    elif not isinstance(v, da.Array):
        v = np.asarray(v)
        if v.ndim == 0:
            v = np.full(X.shape[0], v.item())
        v = da.from_array(v, chunks=(X.chunks[0],) + v.shape[1:])
    if v.ndim == 2 and v.shape[1] == 1:
        v = v[:, 0]
    if v.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {v.shape}.")
    if any(np.isnan(c) for c in v.chunks[0]):
        v = v.compute_chunk_sizes()
    if v.shape[0] != X.shape[0]:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"[{X.shape[0]}, {v.shape[0]}]"
            f" ({name})."
        )
    if v.chunks[0] != X.chunks[0]:
        v = v.rechunk((X.chunks[0],))
    return v
