"""Argument checks shared by every public entry point.

Each check raises ``TypeError`` for a value of the wrong kind and ``ValueError``
for a value of the right kind but outside its domain; both messages name the
argument and show the offending value, in the manner of scikit-learn's
``check_scalar``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from .exceptions import ProxydataTypeError, ProxydataValueError


def show(value: Any) -> str:
    """``repr(value)`` cut to 80 characters, for error messages."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_ratio(ratio: Any, name: str = "ratio") -> float:
    """Return ``ratio`` as a float in ``(0, 1]`` or raise."""
    if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real):
        raise ProxydataTypeError(f"{name} must be a real number in (0, 1], got {show(ratio)}")
    value = float(ratio)
    if math.isnan(value) or not 0.0 < value <= 1.0:
        raise ProxydataValueError(f"{name} must be in (0, 1], got {show(ratio)}")
    return value


def check_fraction(value: Any, name: str, *, low_open: bool = False, high_open: bool = False) -> float:
    """Return ``value`` as a float in ``[0, 1]`` (ends optionally open) or raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ProxydataTypeError(f"{name} must be a real number in [0, 1], got {show(value)}")
    out = float(value)
    bad = math.isnan(out) or out < 0.0 or out > 1.0 or (low_open and out == 0.0) or (high_open and out == 1.0)
    if bad:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ProxydataValueError(f"{name} must be in {lo}0, 1{hi}, got {show(value)}")
    return out


def check_int(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an int within ``[minimum, maximum]`` or raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ProxydataTypeError(f"{name} must be an integer, got {show(value)}")
    out = int(value)
    if minimum is not None and out < minimum:
        raise ProxydataValueError(f"{name} must be >= {minimum}, got {out}")
    if maximum is not None and out > maximum:
        raise ProxydataValueError(f"{name} must be <= {maximum}, got {out}")
    return out


def check_float(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    strictly_positive: bool = False,
) -> float:
    """Return ``value`` as a finite float (optionally bounded below) or raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ProxydataTypeError(f"{name} must be a real number, got {show(value)}")
    out = float(value)
    if not math.isfinite(out):
        raise ProxydataValueError(f"{name} must be finite, got {show(value)}")
    if strictly_positive and out <= 0:
        raise ProxydataValueError(f"{name} must be > 0, got {show(value)}")
    if minimum is not None and out < minimum:
        raise ProxydataValueError(f"{name} must be >= {minimum}, got {show(value)}")
    return out


def check_seed(seed: Any, name: str = "seed") -> int:
    """Return a non-negative integer seed or raise."""
    return check_int(seed, name, minimum=0)


def check_choice(value: Any, name: str, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices`` (strings) or raise."""
    options = tuple(choices)
    if not isinstance(value, str):
        raise ProxydataTypeError(f"{name} must be one of {options}, got {show(value)}")
    if value not in options:
        raise ProxydataValueError(f"{name} must be one of {options}, got {show(value)}")
    return value


def check_bool(value: Any, name: str) -> bool:
    """Return ``value`` if it is a bool or raise."""
    if not isinstance(value, (bool, np.bool_)):
        raise ProxydataTypeError(f"{name} must be a bool, got {show(value)}")
    return bool(value)


def as_int_array(values: Any, name: str) -> np.ndarray:
    """Convert a 1-D sequence/array/tensor of integers to ``np.int64``.

    Floats are accepted only when every value is integral (labels loaded from a
    float CSV, say); anything else raises ``TypeError``.
    """
    if isinstance(values, torch.Tensor):
        arr = values.detach().cpu().numpy()
    elif isinstance(values, np.ndarray):
        arr = values
    elif isinstance(values, (Sequence, range)) and not isinstance(values, (str, bytes)):
        arr = np.asarray(values)
    else:
        raise ProxydataTypeError(f"{name} must be a 1-D sequence of integers, got {type(values).__name__}")
    if arr.ndim != 1:
        raise ProxydataValueError(f"{name} must be 1-D, got shape {tuple(arr.shape)}")
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise ProxydataTypeError(f"{name} must contain integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ProxydataTypeError(f"{name} must contain integers, got non-integral floats")
    return arr.astype(np.int64, copy=False)


def check_labels(labels: Any, name: str = "targets", n: int | None = None) -> np.ndarray:
    """Return labels as a non-negative ``np.int64`` array (optionally of length ``n``)."""
    arr = as_int_array(labels, name)
    if n is not None and arr.shape[0] != n:
        raise ProxydataValueError(f"{name} must have length {n}, got {arr.shape[0]}")
    if arr.size and arr.min() < 0:
        raise ProxydataValueError(f"{name} must be non-negative class indices, got minimum {int(arr.min())}")
    return arr


def check_indices(indices: Any, n: int, name: str = "indices", *, unique: bool = True) -> np.ndarray:
    """Return dataset indices in ``[0, n)`` as ``np.int64`` (unique unless told otherwise)."""
    arr = as_int_array(indices, name)
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise ProxydataValueError(f"{name} must lie in [0, {n}), got {bad}")
        if unique and np.unique(arr).size != arr.size:
            raise ProxydataValueError(f"{name} must not contain duplicates")
    return arr


def check_device(device: Any, name: str = "device", *, available: bool = True) -> torch.device:
    """Return a ``torch.device`` for a string or device this machine has, or raise.

    ``"cuda"`` (or ``"cuda:1"``, ``"mps"``, ...) where torch reports no such device
    is a ``ProxydataValueError`` here, before any work, rather than torch's
    error at the first tensor moved there. ``available=False`` checks the
    spelling only (a setting read back from a file, not used to run anything).
    """
    if isinstance(device, torch.device):
        out = device
    elif isinstance(device, str):
        try:
            out = torch.device(device)
        except RuntimeError as exc:
            raise ProxydataValueError(f"{name} is not a valid device: {show(device)}") from exc
    else:
        raise ProxydataTypeError(f"{name} must be a str or torch.device, got {show(device)}")
    if out.type == "cpu" or not available:
        return out
    if out.type == "mps":
        available, count = torch.backends.mps.is_available(), None
    else:
        backend = getattr(torch, out.type, None)
        is_available = getattr(backend, "is_available", None)
        available = bool(is_available()) if callable(is_available) else False
        count = getattr(backend, "device_count", None)
    if not available:
        raise ProxydataValueError(
            f"{name}={show(str(out))}: no {out.type} device is available on this machine; use 'cpu'"
        )
    if out.index is not None and callable(count) and out.index >= count():
        raise ProxydataValueError(f"{name}={show(str(out))}: this machine has {count()} {out.type} device(s)")
    return out
