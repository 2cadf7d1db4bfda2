"""Categorical, string and bool columns of a (pandas or dask) DataFrame as model features.

A :class:`TabularEncoder` is fitted once per fit, from the frame's dtypes and (for the columns
whose categories are not known from their dtype) one pass over the data, and then applied
partition by partition where the data are: bool columns become 0/1, numeric columns pass as
they are, and each categorical column becomes either one-hot columns, one per category (pandas'
categoricals give the codes; dask's ``categorize`` finds unknown categories in one pass), or
columns of a hashed space (scikit-learn's :class:`~sklearn.feature_extraction.FeatureHasher`,
no pass and no list of categories to keep). The fitted encoder is stored on the estimator
(``encoder_``), so that ``predict`` encodes new rows as the training rows were; its
:meth:`~TabularEncoder.get_feature_names_out` names the columns of ``coef_``.

Nothing here knows the estimators or the engine: it turns frames into arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["TabularEncoder", "encodes", "SPARSE_WIDTH", "HASH_FEATURES"]

#: One-hot encodings wider than this many columns are sparse (CSR chunks): a row then stores
#: one value per categorical column instead of the whole width.
SPARSE_WIDTH = 1024
#: Columns of the hashed space of ``string_encoding="hash"``.
HASH_FEATURES = 2**18


def is_categorical(dtype: Any) -> bool:
    import pandas as pd

    return isinstance(dtype, pd.CategoricalDtype)


def is_text(dtype: Any) -> bool:
    """A string column: pandas' ``string`` / ``str`` dtypes (numpy-, pyarrow- or NA-backed) or
    ``object`` (which dask and pandas give to Python strings)."""
    import pandas as pd

    return not is_categorical(dtype) and (
        pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype)
    )


def is_frame(X: Any) -> bool:
    """Whether ``X`` is a pandas or dask DataFrame (has columns and dtypes)."""
    return hasattr(X, "columns") and hasattr(X, "dtypes") and hasattr(X, "iloc")


def encodes(X: Any, categorical_features: Any) -> bool:
    """Whether fitting on ``X`` needs an encoder: a frame with a categorical or string column,
    or columns named in ``categorical_features``."""
    if not is_frame(X) or categorical_features is None:
        return False
    if not isinstance(categorical_features, str):
        return len(list(categorical_features)) > 0
    return any(is_categorical(t) or is_text(t) for t in X.dtypes)


@dataclass(frozen=True)
class _Column:
    name: Any
    kind: str  # "number", "onehot" or "hash"
    categories: tuple = ()

    @property
    def width(self) -> int:
        return len(self.categories) if self.kind == "onehot" else int(self.kind == "number")


@dataclass(frozen=True)
class TabularEncoder:
    """The fitted encoding of a frame's columns into a numeric design matrix.

    Build one with :meth:`fit`. Public only as the type of the estimators' ``encoder_``
    attribute: its :meth:`get_feature_names_out` names the columns of ``coef_``, and
    :meth:`transform` gives the matrix the model was trained on.

    Parameters
    ----------
    columns : tuple
        The encoding of every input column, in the frame's order.
    handle_unknown : {"error", "ignore"}, default="error"
        What a category that was not seen in training does at transform time: a
        ``ValueError`` naming the column, or all-zero one-hot columns.
    hash_features : int, default=HASH_FEATURES
        Columns of the hashed space of hashed string columns.
    sparse : bool, default=False
        Whether :meth:`transform` gives CSR matrices (hashed strings, or one-hot columns wider
        than :data:`SPARSE_WIDTH`).
    _names : tuple, default=()
        The names of the one-hot and numeric output columns (made by :meth:`fit`).
    """

    columns: tuple
    handle_unknown: str = "error"
    hash_features: int = HASH_FEATURES
    sparse: bool = False
    _names: tuple = field(default=(), repr=False)

    # -- fitting ---------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        X: Any,
        categorical_features: Any = "from_dtype",
        string_encoding: str = "onehot",
        handle_unknown: str = "error",
    ) -> "TabularEncoder":
        """The encoding of the frame ``X`` (pandas or dask).

        Parameters
        ----------
        X : pandas.DataFrame or dask.dataframe.DataFrame
            The training frame.
        categorical_features : "from_dtype" or list of column names
            "from_dtype": the ``category`` and string (``string``, ``str``, ``object``) columns
            are categorical; a list adds the columns it names (integer codes, say).
        string_encoding : {"onehot", "hash"}
            String columns: one-hot of their distinct values (found in one pass), or hashed
            ``column=value`` tokens in :data:`HASH_FEATURES` columns (no pass, no unknown
            values; collisions share a coefficient). ``category`` columns are always one-hot.
        handle_unknown : {"error", "ignore"}
            See the class's parameters.

        Returns
        -------
        TabularEncoder
            The fitted encoding.

        Raises
        ------
        ValueError
            For a column named in ``categorical_features`` that is not in ``X``, or a column
            that is neither numeric, bool, categorical nor string.
        """
        import pandas as pd

        listed = [] if isinstance(categorical_features, str) else list(categorical_features)
        missing = [c for c in listed if c not in X.columns]
        if missing:
            raise ValueError(
                f"categorical_features names columns that X does not have: {missing[:5]}; "
                f"its columns are {list(X.columns)[:20]}."
            )
        kinds: dict = {}
        for name, dtype in X.dtypes.items():
            if is_categorical(dtype) or name in listed:
                kinds[name] = "onehot"
            elif is_text(dtype):
                kinds[name] = "hash" if string_encoding == "hash" else "onehot"
            elif pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
                kinds[name] = "number"
            else:
                raise ValueError(
                    f"Column {name!r} of X has dtype {dtype}, which is neither numeric, bool, "
                    "categorical nor string; convert it (a date to numbers, say) before fitting."
                )
        found = _categories(X, [c for c, k in kinds.items() if k == "onehot"])
        columns = tuple(_Column(c, k, found.get(c, ())) for c, k in kinds.items())
        empty = [c.name for c in columns if c.kind == "onehot" and not c.categories]
        if empty:
            raise ValueError(
                f"Categorical columns {empty[:5]} of X have no value in any row (all missing); "
                "drop them before fitting."
            )
        onehot = sum(c.width for c in columns if c.kind == "onehot")
        sparse = any(c.kind == "hash" for c in columns) or onehot > SPARSE_WIDTH
        return cls(columns, handle_unknown, HASH_FEATURES, sparse, _names(columns))

    # -- what it gives ---------------------------------------------------------------------

    @property
    def n_features_in(self) -> int:
        return len(self.columns)

    @property
    def feature_names_in(self) -> list:
        return [c.name for c in self.columns]

    @property
    def n_features_out(self) -> int:
        hashed = self.hash_features if any(c.kind == "hash" for c in self.columns) else 0
        return sum(c.width for c in self.columns) + hashed

    def get_feature_names_out(self) -> np.ndarray:
        """Names of the encoded columns, the columns of the model's ``coef_``.

        Returns
        -------
        ndarray of str
            A numeric column's own name, ``"<column>_<category>"`` for a one-hot column
            (scikit-learn's ``OneHotEncoder`` names), ``"hash_<j>"`` for the hashed space.
        """
        names = list(self._names)
        if any(c.kind == "hash" for c in self.columns):
            names += [f"hash_{j}" for j in range(self.hash_features)]
        return np.asarray(names, dtype=object)

    # -- applying it -----------------------------------------------------------------------

    def check_columns(self, X: Any) -> None:
        """Refuse a frame whose columns are not the training frame's (by name, in order).

        Parameters
        ----------
        X : pandas.DataFrame or dask.dataframe.DataFrame
            The frame to encode.

        Raises
        ------
        ValueError
            Naming the unexpected and the missing columns.
        """
        got = list(X.columns)
        if got != self.feature_names_in:
            extra = [c for c in got if c not in self.feature_names_in]
            absent = [c for c in self.feature_names_in if c not in got]
            raise ValueError(
                "The feature names should match those that were passed during fit "
                f"(unexpected: {extra[:5]}, missing: {absent[:5]}"
                + ("; same names in another order" if not (extra or absent) else "")
                + ")."
            )

    def transform(self, X: Any) -> Any:
        """The encoded matrix of the frame ``X``.

        Parameters
        ----------
        X : pandas.DataFrame or dask.dataframe.DataFrame
            A frame with the training frame's columns.

        Returns
        -------
        ndarray, scipy.sparse.csr_matrix or dask.array.Array
            For pandas, the matrix (CSR when :attr:`sparse`); for dask, a dask array of one
            chunk of rows per partition, encoded where the partition is.
        """
        self.check_columns(X)
        if not hasattr(X, "to_delayed"):
            return self.transform_partition(X)
        import dask
        import dask.array as da
        import scipy.sparse as sp

        lengths = X.map_partitions(len).compute()
        width = self.n_features_out
        meta = sp.csr_matrix((0, width)) if self.sparse else np.empty((0, width))
        parts = [
            da.from_delayed(
                dask.delayed(self.transform_partition, pure=True)(part),
                shape=(int(n), width),
                dtype=np.float64,
                meta=meta,
            )
            for part, n in zip(X.to_delayed(), lengths)
        ]
        return da.concatenate(parts, axis=0)

    def transform_partition(self, part: Any) -> Any:
        """One pandas partition's rows, encoded.

        Parameters
        ----------
        part : pandas.DataFrame
            The rows, with the training frame's columns.

        Returns
        -------
        ndarray or scipy.sparse.csr_matrix
            The float64 values, CSR when :attr:`sparse`.
        """
        import scipy.sparse as sp

        n = len(part)
        blocks = []
        hashed = []
        for c in self.columns:
            values = part[c.name]
            if c.kind == "number":
                blocks.append(_numbers(values, c.name).reshape(-1, 1))
            elif c.kind == "onehot":
                codes = self._codes(values, c)
                if self.sparse:
                    keep = codes >= 0
                    blocks.append(
                        sp.csr_matrix(
                            (np.ones(int(keep.sum())), (np.flatnonzero(keep), codes[keep])),
                            shape=(n, c.width),
                        )
                    )
                else:
                    out = np.zeros((n, c.width))
                    rows = np.flatnonzero(codes >= 0)
                    out[rows, codes[rows]] = 1.0
                    blocks.append(out)
            else:
                hashed.append(values)
        if hashed:
            blocks.append(self._hash(hashed, n))
        if self.sparse:
            return sp.hstack([sp.csr_matrix(b) for b in blocks], format="csr", dtype=np.float64)
        return np.hstack(blocks) if blocks else np.empty((n, 0))

    def _codes(self, values: Any, column: _Column) -> np.ndarray:
        """Each row's category index (-1: missing, all-zero columns), unknown ones refused or,
        with ``handle_unknown="ignore"``, given -1 too."""
        import pandas as pd

        index = pd.Index(list(column.categories))
        codes = np.asarray(index.get_indexer(np.asarray(values, dtype=object)), dtype=np.intp)
        unknown = (codes < 0) & ~np.asarray(pd.isna(values))
        if unknown.any() and self.handle_unknown == "error":
            seen = pd.unique(np.asarray(values)[unknown])
            raise ValueError(
                f"Column {column.name!r} has categories that were not seen in training: "
                f"{[str(v) for v in seen[:5]]} ({int(unknown.sum())} rows). Drop or map those "
                "rows, or fit with handle_unknown='ignore' (an unseen category then has all of "
                "its one-hot columns zero)."
            )
        return codes

    def _hash(self, columns: list, n: int) -> Any:
        import pandas as pd
        from sklearn.feature_extraction import FeatureHasher

        tokens = [
            [f"{v.name}={x}" for v, x in zip(columns, row) if not pd.isna(x)]
            for row in zip(*(np.asarray(v, dtype=object) for v in columns))
        ]
        hasher = FeatureHasher(self.hash_features, input_type="string", alternate_sign=False)
        return hasher.transform(tokens) if n else hasher.transform([[]])[:0]


def _numbers(values: Any, name: Any) -> np.ndarray:
    """A numeric or bool column as float64; a missing value (NaN or pd.NA) stays NaN, which the
    workers (or scikit-learn's validation) refuse naming it."""
    import pandas as pd

    if isinstance(values.dtype, pd.api.extensions.ExtensionDtype):
        return values.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(values, dtype=np.float64)


def _categories(X: Any, names: list) -> dict:
    """The categories of the one-hot columns ``names``: a ``category`` column's own (known
    categories, in their order), the others' distinct values, sorted (one pass over a dask frame
    for all of them together, by dask's ``categorize``)."""
    import pandas as pd

    out: dict = {}
    find = []
    for c in names:
        dtype = X.dtypes[c]
        known = is_categorical(dtype) and (not hasattr(X, "to_delayed") or X[c].cat.known)
        if known:
            out[c] = tuple(dtype.categories)
        else:
            find.append(c)
    if not find:
        return out
    if hasattr(X, "to_delayed"):
        found = X[find].categorize(columns=find)
        for c in find:
            out[c] = _sorted(found.dtypes[c].categories)
    else:
        for c in find:
            values = X[c]
            uniq = values.cat.categories if is_categorical(values.dtype) else pd.unique(values)
            out[c] = _sorted(uniq)
    return out


def _sorted(values: Any) -> tuple:
    """Distinct non-missing values, sorted (by their text where types are mixed)."""
    import pandas as pd

    kept = [v for v in list(values) if not pd.isna(v)]
    try:
        return tuple(sorted(kept))
    except TypeError:
        return tuple(sorted(kept, key=str))


def _names(columns: tuple) -> tuple:
    names: list = []
    for c in columns:
        if c.kind == "number":
            names.append(str(c.name))
        elif c.kind == "onehot":
            names.extend(f"{c.name}_{v}" for v in c.categories)
    return tuple(names)
