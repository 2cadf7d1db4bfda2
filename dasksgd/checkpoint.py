"""Checkpoint files: written atomically, read back with a clear error when they do not fit.

A checkpoint is one file holding a dict: the format version, what identifies the fit (the
estimator's parameters that change the result, the data's shape, classes and column sums, and
the gradient at the zero model, which depends on every row's label and weight), the
seed, the plan measured on the data, and the model's and the training loop's states. The file
is a header line (``dasksgd-checkpoint``, the format, the SHA-256 of the rest) and a pickle of
that dict: a file without the header is never unpickled, and a damaged one (a flipped byte, a
truncated write) is refused by its checksum. The checksum is not a signature: a crafted file
with a valid header still runs code when unpickled, so resume only from checkpoints you wrote
(as with ``joblib`` or ``pickle`` models).

Writing goes to a temporary file in the same directory, flushed to disk, then renamed over the
old checkpoint (``os.replace`` is atomic on POSIX and Windows): a crash at any moment leaves
either the previous checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["FORMAT", "save", "load", "mismatch"]

#: Version of the checkpoint's layout; a file of another version is refused, not misread.
#: 3: a header line (magic, format, SHA-256 of the rest) before the pickle, checked before
#: anything is unpickled; the identity holds the gradient at the zero model (labels, weights).
FORMAT = 3

_MAGIC = "dasksgd-checkpoint"


def save(path: str | os.PathLike, payload: dict) -> None:
    """Write ``payload`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    body = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
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
        payload = pickle.loads(body)
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
