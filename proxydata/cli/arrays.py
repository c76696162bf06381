"""The arrays a command line names by file: ``select --features`` and ``select --indices``.

Each is checked before any work and refused in one line naming the flag.
"""

from __future__ import annotations

import os

import numpy as np

from .checks import UsageError

__all__ = ["check_features_file", "check_features_rows", "read_indices_file"]


def check_features_file(path: str, flag: str = "--features") -> None:
    """Refuse a features file that is missing, not ``.npy``, or not a 2-D numeric array.

    The file is opened memory-mapped (``numpy.load(mmap_mode="r")``): only its
    header is read here, and the proxy later reads its rows from disk.
    """
    if not path.endswith(".npy"):
        raise UsageError(
            f"{flag} {path!r}: give 'pixels' or a .npy file (an (n, d) array, one row per sample)"
        )
    if not os.path.isfile(path):
        raise UsageError(f"{flag}: no such file {path!r}")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise UsageError(
            f"{flag} {path!r} is not a .npy array file ({' '.join(str(exc).split())[:160]})"
        ) from None
    if array.ndim != 2 or array.dtype.kind not in "fiu":
        raise UsageError(
            f"{flag} {path!r} holds a {array.dtype} array of shape {array.shape}, not an (n, d) number array"
        )


def check_features_rows(path: str, n: int, flag: str = "--features") -> None:
    """Refuse a features file whose row count is not ``n``, the number of samples of ``--data``."""
    rows = int(np.load(path, mmap_mode="r", allow_pickle=False).shape[0])
    if rows != n:
        raise UsageError(f"{flag} {path!r} has {rows} rows; --data has {n} samples (one row per sample)")


def read_indices_file(path: str, n: int | None = None, flag: str = "--indices") -> np.ndarray:
    """The dataset indices in ``path``: a ``.npy`` 1-D integer array, or whitespace-separated text.

    In text, ``#`` starts a comment. With ``n`` (the size of ``--data``) every
    index must lie in ``[0, n)``; no index may repeat.
    """
    if not os.path.isfile(path):
        raise UsageError(f"{flag}: no such file {path!r}")
    if path.endswith(".npy"):
        try:
            values = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise UsageError(
                f"{flag} {path!r} is not a .npy array file ({' '.join(str(exc).split())[:160]})"
            ) from None
        if values.ndim != 1 or values.dtype.kind not in "iu":
            raise UsageError(
                f"{flag} {path!r} holds a {values.dtype} array of shape {values.shape}, not 1-D integers"
            )
    else:
        with open(path, encoding="utf-8") as fh:
            words = [w for line in fh for w in line.split("#")[0].split()]
        try:
            values = np.array([int(w) for w in words], dtype=np.int64)
        except ValueError as exc:
            raise UsageError(f"{flag} {path!r}: not whitespace-separated integers ({exc})") from None
    indices = values.astype(np.int64)
    if indices.size == 0:
        raise UsageError(f"{flag} {path!r} holds no index")
    if n is not None and (indices.min() < 0 or indices.max() >= n):
        bad = int(indices[(indices < 0) | (indices >= n)][0])
        raise UsageError(f"{flag} {path!r}: index {bad} is outside the {n} samples of --data")
    if np.unique(indices).size != indices.size:
        raise UsageError(f"{flag} {path!r}: an index appears more than once")
    return indices
