"""Writing files so that a reader sees all of one or none of it, and the digests that seal them.

One implementation for every file proxydata writes (saved proxies, feature
sidecars and progress files, study files):

- :func:`record_hash` / :func:`record_digest`: sha256 of a JSON record without
  its ``digest`` field, serialised as ``json.dumps(record, sort_keys=True)``
  (the bytes a format-3 saved proxy has always been hashed over), so any edit
  of any field — a value, a type, a key added or removed — changes the digest;
- :func:`atomic_write`: the bytes go to a temporary file in the same directory,
  are flushed to disk, then ``os.replace`` puts them in place — a reader (or a
  process killed half-way) sees the old file or the new one, never half;
- :func:`atomic_create`: the same, but only if the target does not exist yet
  (``os.link``, which fails on an existing name), for a file two processes may
  race to create;
- :func:`jsonable`: settings converted to plain JSON values (numpy scalars to
  Python numbers, tuples to lists) *before* anything is written, or a
  :class:`~proxydata.exceptions.ProxydataTypeError` naming the value.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._validation import show
from .exceptions import ProxydataTypeError

__all__ = ["atomic_create", "atomic_write", "jsonable", "record_digest", "record_hash"]


def record_hash(record: Mapping[str, Any], exclude: tuple[str, ...] = ("digest",)) -> Any:
    """A ``hashlib.sha256`` object fed with ``record`` less ``exclude`` as sorted-key JSON.

    The caller may feed it more (arrays, another digest) before ``hexdigest()``.
    """
    meta = {k: v for k, v in record.items() if k not in exclude}
    return hashlib.sha256(json.dumps(meta, sort_keys=True).encode())


def record_digest(record: Mapping[str, Any], *, salt: str = "") -> str:
    """sha256 (64 hex digits) of ``record`` without its ``digest``, then ``salt`` (e.g. a parent's digest)."""
    h = record_hash(record)
    if salt:
        h.update(f";{salt}".encode())
    return h.hexdigest()


def _tmp_name(path: str) -> str:
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.{os.getpid()}.tmp")


def _write_tmp(path: str, data: bytes) -> str:
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Replace ``path`` with ``data`` atomically (a temporary file beside it, then ``os.replace``)."""
    path = os.fspath(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = _write_tmp(path, raw)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def atomic_create(path: str | os.PathLike[str], data: bytes | str) -> bool:
    """Create ``path`` holding ``data`` unless it exists; True if this call created it.

    Written to a temporary file first and linked into place, so the file never
    exists half-written and two processes never both create it.
    """
    path = os.fspath(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = _write_tmp(path, raw)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: exclusive create, still written before visible
        try:
            with open(path, "xb") as fh:
                fh.write(raw)
            return True
        except FileExistsError:
            return False
    finally:
        _unlink(tmp)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def jsonable(value: Any, name: str) -> Any:
    """``value`` as plain JSON data (numpy scalars and 0-d arrays to numbers, tuples to lists), or raise.

    Raises
    ------
    ProxydataTypeError
        Naming ``name`` (with the key path) and the value that JSON cannot hold.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ProxydataTypeError(f"{name} must be finite to be recorded, got {show(value)}")
        return value
    if isinstance(value, (np.bool_, np.integer, np.floating)) or (
        isinstance(value, np.ndarray) and value.ndim == 0
    ):
        return jsonable(value.item(), name)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ProxydataTypeError(f"{name} must have str keys to be recorded, got key {show(k)}")
            out[k] = jsonable(v, f"{name}[{k!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [jsonable(v, f"{name}[{i}]") for i, v in enumerate(value)]
    raise ProxydataTypeError(
        f"{name} must hold JSON data (str, numbers, bools, None, lists, dicts) to be recorded, "
        f"got {show(value)} of type {type(value).__name__}"
    )
