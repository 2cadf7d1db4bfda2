"""Checkpoint files: written atomically, read back with a clear error when they do not fit.

A checkpoint is one file holding a dict: the format version, what identifies the fit (the
estimator's parameters that change the result, the data's shape, classes and column sums, and
the gradient at the zero model, which depends on every row's label and weight), the
seed, the plan measured on the data, and the model's and the training loop's states. The file
is a header line (``dasksgd-checkpoint``, the format, the SHA-256 of the rest) and a numpy
``.npz`` archive: the arrays, and a JSON manifest of everything else (numbers, strings, and the
dataclasses and named tuples of dasksgd's own states, by name). No pickle: reading a file runs
no code but numpy's and json's parsers and dasksgd's own constructors (a crafted file can name
only dasksgd's state classes), arrays are read with ``allow_pickle=False``, and a damaged file
(a flipped byte, a truncated write) is refused by its checksum before anything is parsed.

Writing goes to a temporary file in the same directory, flushed to disk, then renamed over the
old checkpoint (``os.replace`` is atomic on POSIX and Windows): a crash at any moment leaves
either the previous checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FORMAT", "save", "load", "mismatch", "pack", "unpack", "is_packed"]

#: Version of the checkpoint's layout; a file of another version is refused, not misread.
#: 3: a header line (magic, format, SHA-256 of the rest) before the pickle, checked before
#: anything is unpickled; the identity holds the gradient at the zero model (labels, weights).
#: 4: no pickle: an ``.npz`` of the arrays and a JSON manifest behind the header.
FORMAT = 4

_MAGIC = "dasksgd-checkpoint"
_MANIFEST = "manifest"
#: Where the classes a manifest may name are defined (``module:qualname``).
_PACKAGE = "dasksgd."


def _name(obj: Any) -> str:
    cls = type(obj)
    if not cls.__module__.startswith(_PACKAGE):
        raise TypeError(f"a checkpoint holds dasksgd's own states; got a {cls.__qualname__}")
    return f"{cls.__module__}:{cls.__qualname__}"


def _encode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    """``obj`` as JSON values, its arrays (and numpy scalars, which keep their dtype: a resumed
    fit computes with the same types) moved to ``arrays``."""
    if obj is None or isinstance(obj, (bool, str)) or type(obj) in (int, float):
        return obj  # floats round-trip exactly (repr); NaN and infinity as json writes them
    if isinstance(obj, (np.ndarray, np.generic)):
        arr = np.asarray(obj)
        if arr.dtype.hasobject:  # labels of an object column: their values, one by one
            return {
                "objects": [_encode(v, arrays) for v in arr.ravel().tolist()],
                "shape": list(arr.shape),
            }
        key = f"a{len(arrays)}"
        arrays[key] = arr
        return {"array" if isinstance(obj, np.ndarray) else "scalar": key}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: _encode(getattr(obj, f.name), arrays) for f in dataclasses.fields(obj)}
        return {"dataclass": _name(obj), "fields": fields}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a NamedTuple
        return {"namedtuple": _name(obj), "items": [_encode(v, arrays) for v in obj]}
    if type(obj) is list and _columns(obj):
        # A loop's step records (one named tuple per step, thousands): columns as arrays, not a
        # JSON object per step (a save costs 3x less; tolist() gives back the Python numbers).
        cols = [np.array(c) for c in zip(*obj)]
        keys = [_encode(c, arrays)["array"] for c in cols]
        return {"records": _name(obj[0]), "columns": keys}
    if type(obj) in (tuple, list):
        return {type(obj).__name__: [_encode(v, arrays) for v in obj]}
    if isinstance(obj, dict):  # a user's class_weight may be any mapping type
        return {"dict": [[_encode(k, arrays), _encode(v, arrays)] for k, v in obj.items()]}
    raise TypeError(f"a checkpoint cannot hold a {type(obj).__qualname__}")


def _columns(items: list) -> bool:
    """Whether ``items`` are named tuples of one class whose every field holds Python ints
    throughout or Python floats throughout (what a column of one dtype gives back exactly)."""
    if not items or not (isinstance(items[0], tuple) and hasattr(items[0], "_fields")):
        return False
    cls = type(items[0])
    if any(type(r) is not cls for r in items):
        return False
    return all(
        all(type(v) is int for v in col) or all(type(v) is float for v in col)
        for col in zip(*items)
    )


def _class(name: str, kind: str) -> type:
    """A dasksgd state class by ``module:qualname``, only if it is one (nothing else is ever
    imported or called)."""
    module, _, qualname = name.partition(":")
    if not module.startswith(_PACKAGE) or "." in qualname:
        raise ValueError(f"names {name!r}, not one of dasksgd's states")
    cls = getattr(importlib.import_module(module), qualname, None)
    ok = isinstance(cls, type) and cls.__module__ == module
    ok = ok and (
        dataclasses.is_dataclass(cls)
        if kind == "dataclass"
        else issubclass(cls, tuple) and hasattr(cls, "_fields")
    )
    if not ok:
        raise ValueError(f"names {name!r}, not one of dasksgd's states")
    return cls


def _decode(value: Any, arrays: Any) -> Any:
    if not isinstance(value, dict):
        if isinstance(value, list):
            raise ValueError("holds a bare list")
        return value
    (kind, body), *rest = value.items()
    if kind == "array":
        return arrays[body]
    if kind == "scalar":
        return arrays[body][()]
    if kind == "objects":
        out = np.empty(len(body), dtype=object)
        out[:] = [_decode(v, arrays) for v in body]
        return out.reshape(value["shape"])
    if kind == "dataclass":
        fields = {k: _decode(v, arrays) for k, v in value["fields"].items()}
        return _class(body, kind)(**fields)
    if kind == "namedtuple":
        return _class(body, kind)(*(_decode(v, arrays) for v in value["items"]))
    if kind == "records":
        cls = _class(body, "namedtuple")
        return [cls(*r) for r in zip(*(arrays[k].tolist() for k in value["columns"]))]
    if kind == "tuple":
        return tuple(_decode(v, arrays) for v in body)
    if kind == "list":
        return [_decode(v, arrays) for v in body]
    if kind == "dict":
        return {_decode(k, arrays): _decode(v, arrays) for k, v in body}
    raise ValueError(f"holds an unknown entry {kind!r}")


_PACKED = "dasksgd-packed"


def pack(obj: Any) -> dict:
    """``obj`` (dasksgd's states, numbers, strings, arrays) as plain values: a dict of a JSON
    manifest and the arrays it refers to, the layout of a checkpoint in memory. What a fitted
    estimator's state becomes when it is saved: skops persists such a dict without trusting any
    type, and :func:`unpack` builds only dasksgd's own state classes back from it."""
    arrays: dict[str, np.ndarray] = {}
    return {_PACKED: json.dumps(_encode(obj, arrays)), "arrays": arrays}


def is_packed(value: Any) -> bool:
    """Whether ``value`` is what :func:`pack` returns."""
    return isinstance(value, dict) and set(value) == {_PACKED, "arrays"}


def unpack(value: dict) -> Any:
    """The object :func:`pack` was given."""
    return _decode(json.loads(value[_PACKED]), value["arrays"])


def save(path: str | os.PathLike, payload: dict) -> None:
    """Write ``payload`` to ``path`` atomically (temporary file, fsync, rename).

    Raises
    ------
    TypeError
        If ``payload`` holds something a checkpoint cannot (before anything is written).
    """
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    manifest = json.dumps(_encode(payload, arrays)).encode()
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, **{_MANIFEST: np.frombuffer(manifest, dtype=np.uint8)})
    body = buffer.getvalue()
    data = f"{_MAGIC} {FORMAT} {hashlib.sha256(body).hexdigest()}\n".encode() + body
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # the rename itself survives a power cut once the directory is synced (POSIX only)
        dfd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def load(path: str | os.PathLike) -> dict | None:
    """The checkpoint at ``path``, or None when there is none.

    Raises
    ------
    ValueError
        If the file is not a dasksgd checkpoint of this format (another file, one written by
        another version, or a damaged one: its checksum does not match), or if there is no
        file and its directory does not exist or cannot be written.
    """
    path = Path(path)
    if not path.exists():
        # Nothing to resume: the fit will write here, so say now (not at the first save,
        # after the loading and the plan) that it cannot.
        parent = path.parent
        if not parent.is_dir():
            raise ValueError(
                f"checkpoint={str(path)!r}: the directory {str(parent)!r} does not exist; "
                "create it, or give a path in an existing directory."
            )
        if not os.access(parent, os.W_OK):
            raise ValueError(
                f"checkpoint={str(path)!r}: the directory {str(parent)!r} is not writable; "
                "give a path where this process may write."
            )
        return None
    if path.is_dir():
        raise ValueError(
            f"checkpoint={str(path)!r} is a directory; give the path of a file to write."
        )
    data = path.read_bytes()
    head, _, body = data.partition(b"\n")
    fields = head.decode("ascii", "replace").split(" ")
    if len(fields) != 3 or fields[0] != _MAGIC:
        raise ValueError(
            f"{str(path)!r} is not a dasksgd checkpoint; choose another path "
            "(the file is left as it is)."
        )
    if fields[1] != str(FORMAT):
        raise ValueError(
            f"The checkpoint {str(path)!r} has format {fields[1]}, this dasksgd writes "
            f"format {FORMAT}; delete it to start afresh."
        )
    if hashlib.sha256(body).hexdigest() != fields[2]:
        raise ValueError(
            f"The checkpoint {str(path)!r} is damaged (its checksum does not match its "
            "contents: truncated or altered); delete it to start afresh."
        )
    try:
        with np.load(io.BytesIO(body), allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
        payload = _decode(json.loads(arrays.pop(_MANIFEST).tobytes()), arrays)
    except Exception as exc:  # noqa: BLE001 - any unreadable body gets the same advice
        raise ValueError(
            f"The checkpoint {str(path)!r} cannot be read ({type(exc).__name__}: {exc}); "
            "delete it (or choose another path) to start afresh."
        ) from None
    if not isinstance(payload, dict):
        raise ValueError(f"{str(path)!r} is not a dasksgd checkpoint; choose another path.")
    return payload


def mismatch(saved: dict, now: dict, *, rtol: float = 1e-9) -> list[str]:
    """What differs between the identity of a saved fit and of this one (empty: the same fit).

    Values are compared exactly, except floating-point arrays (column sums), which may differ by
    ``rtol`` (the same data summed in another chunking).
    """
    out = []
    for key in sorted(set(saved) | set(now)):
        a, b = saved.get(key), now.get(key)
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            a, b = np.asarray(a), np.asarray(b)
            same = a.shape == b.shape and (
                np.allclose(a, b, rtol=rtol, atol=0.0)
                if a.dtype.kind == "f"
                else np.array_equal(a, b)
            )
        else:
            same = a == b
        if not same:
            shown = (
                "the data differ"
                if isinstance(a, np.ndarray) and a.dtype.kind == "f"
                else f"{a!r} then, {b!r} now"
            )
            out.append(f"{key}: {shown}")
    return out
