"""Saved proxies: the file format, and reading one back with every field checked.

A saved proxy is one JSON object (``.json``) or an npz archive holding that
object as the string ``meta`` beside the arrays ``indices``, ``scores`` and
``split``::

    {"format": 3, "method": "cc-or", "class": "ClassOutlierProxy",
     "params": {...selection parameters...}, "resolved": {...}, "seed": 0,
     "version": "0.1.0", "fingerprint": "n=...;labels=...", "n": 1797,
     "fit_seconds": 0.1, "split": null or [...], "indices": [...], "scores": [...],
     "digest": "<64 hex>"}

``split`` holds the dataset indices the proxy selected within (``indices=``),
null for the whole dataset. ``digest`` is the sha256 of the file's content
(:func:`content_digest`: the record without ``digest``, ``indices``, ``scores``
and ``split`` as canonical JSON, then those three arrays' bytes): any edit — a
kept index swapped for another of the same class, a changed parameter — makes
the file fail to load. Constructor arguments a file can only describe (a feature
array, a module) are written as ``{"object": "<description>"}`` and read back
as :class:`SavedObject`. Files of format 1 (no ``format`` field) are read with
their old parameter names translated and missing parameters set to their
defaults; files of formats 1 and 2 carry no digest and no split. A format this
release does not know (a newer one, or anything else) is refused.

:func:`read` checks everything before the caller builds anything and raises
:class:`~proxydata.exceptions.CorruptStateError` naming the path and the problem.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import math
import os
import zipfile
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from .._version import __version__
from ..exceptions import CorruptStateError, ProxydataError
from ..fingerprint import dataset_fingerprint, fingerprint_differences
from ..metrics import class_counts
from .selection import kept_quota, method_class, resolve_split
from .sharding import check_sampler_seed

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "FORMAT",
    "SavedObject",
    "SavedProxy",
    "content_digest",
    "encode_param",
    "fingerprint",
    "read",
    "write",
]

#: Version of the file layout written by :func:`write`.
FORMAT = 3
#: The formats :func:`read` accepts (1 has no ``format`` field).
READABLE_FORMATS = (1, 2, 3)
#: The first format whose files carry a ``digest`` and a ``split``.
DIGEST_FORMAT = 3
# Format-1 parameter names and what they are called now.
_RENAMED = {"batch_size": "feature_batch_size", "backbone_name": "backbone", "model_name": "model"}


@dataclass(frozen=True)
class SavedObject:
    """A constructor argument that a saved proxy can only describe (an array, a module).

    A loaded proxy's ``get_params()`` holds one of these where the original
    proxy held the object; rebuilding from it raises ``TypeError`` naming the
    parameter, since the object itself was not saved.
    """

    description: str

    def __repr__(self) -> str:
        return f"SavedObject({self.description!r})"


@dataclass(frozen=True)
class SavedProxy:
    """A saved proxy that passed every check of :func:`read`."""

    klass: type
    params: dict[str, Any]
    resolved: dict[str, Any]
    indices: np.ndarray
    scores: np.ndarray | None
    targets: np.ndarray
    fit_seconds: float
    split: np.ndarray | None = None
    selection_cost: dict[str, Any] | None = None


def fingerprint(dataset: Any, labels: np.ndarray) -> str:
    """The identity a saved proxy is checked against: length, labels and sampled content.

    :func:`~proxydata.fingerprint.dataset_fingerprint` of ``dataset`` with the
    labels the proxy used.
    """
    return dataset_fingerprint(dataset, targets=labels)


def describe(value: Any) -> str:
    """A short description of an object argument (never its content)."""
    if isinstance(value, SavedObject):
        return value.description
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return f"{type(value).__name__} {str(value.dtype).replace('torch.', '')} {tuple(value.shape)}"
    if isinstance(value, nn.Module):
        return f"module {type(value).__name__}"
    return f"{type(value).__name__} {value!r}"[:80]


def encode_param(value: Any) -> Any:
    """``value`` as JSON data: scalars, lists, or ``{"object": description}``."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return encode_param(value.item())
    if isinstance(value, torch.device):
        return str(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        items = [encode_param(v) for v in value]
        if not any(isinstance(v, dict) for v in items):
            return items
    return {"object": describe(value)}


def _decode_param(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"object"} and isinstance(value["object"], str):
        return SavedObject(value["object"])
    return value


def record_of(proxy: Any) -> dict[str, Any]:
    """The JSON record of ``proxy`` (without indices and scores)."""
    return {
        "format": FORMAT,
        "method": proxy.method,
        "class": type(proxy).__name__,
        "params": {name: encode_param(getattr(proxy, name)) for name in proxy.saved_param_names()},
        "resolved": {key: encode_param(v) for key, v in proxy.resolved.items()},
        "seed": proxy.seed,
        "version": __version__,
        "fingerprint": fingerprint(proxy.dataset, proxy.targets),
        "n": proxy.n,
        "fit_seconds": proxy.fit_seconds,
        "selection_cost": _cost_of(proxy),
    }


def _cost_of(proxy: Any) -> dict[str, Any] | None:
    """The proxy's ``selection_cost`` as JSON data (None when it was not recorded)."""
    cost = getattr(proxy, "selection_cost", None)
    return None if cost is None else {key: encode_param(value) for key, value in cost.items()}


def content_digest(
    record: dict[str, Any], indices: np.ndarray, scores: np.ndarray | None, split: np.ndarray | None
) -> str:
    """sha256 (64 hex digits) of a saved proxy's content, as :func:`write` stores it in ``digest``.

    Hashes the record without ``digest``, ``indices``, ``scores`` and ``split``
    as JSON with sorted keys, then the kept indices and the split as
    little-endian int64 and the scores as little-endian float64 (a non-finite
    score as NaN, as a JSON file stores it), each array preceded by its length.
    """
    meta = {k: v for k, v in record.items() if k not in ("digest", "indices", "scores", "split")}
    h = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    parts: list[tuple[str, np.ndarray | None]] = [
        ("indices", None if indices is None else np.ascontiguousarray(indices, dtype="<i8")),
        ("split", None if split is None else np.ascontiguousarray(split, dtype="<i8")),
        ("scores", None if scores is None else _canonical_scores(scores)),
    ]
    for name, arr in parts:
        h.update(f";{name}=".encode() + (b"null" if arr is None else f"{arr.size}:".encode() + arr.tobytes()))
    return h.hexdigest()


def _canonical_scores(scores: np.ndarray) -> np.ndarray:
    out = np.array(scores, dtype="<f8")
    out[~np.isfinite(out)] = np.nan
    return out


def write(proxy: Any, path: str) -> None:
    """Write ``proxy`` to ``path``: npz when it ends in ``.npz``, JSON otherwise."""
    record = record_of(proxy)
    split = proxy.split if proxy.has_split() else None
    record["digest"] = content_digest(record, proxy.indices, proxy.scores, split)
    if path.endswith(".npz"):
        arrays: dict[str, Any] = {"indices": proxy.indices, "meta": np.array(json.dumps(record))}
        if proxy.scores is not None:
            arrays["scores"] = proxy.scores
        if split is not None:
            arrays["split"] = split
        np.savez_compressed(path, **arrays)
        return
    record["split"] = None if split is None else split.tolist()
    record["indices"] = proxy.indices.tolist()
    scores = proxy.scores
    record["scores"] = None if scores is None else [float(s) if math.isfinite(s) else None for s in scores]
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(record, fh)


# -- reading ----------------------------------------------------------------------------------------


class _Problem:
    """Raises CorruptStateError for one path."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, what: str) -> CorruptStateError:
        return CorruptStateError(f"saved proxy {self.path!r} is invalid: {what}")


def _parse_json(raw: bytes, fail: _Problem) -> tuple[dict[str, Any], Any, Any, Any]:
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail(f"not a JSON file ({exc})") from None
    if not isinstance(record, dict):
        raise fail(f"expected a JSON object, got {type(record).__name__}")
    if "indices" not in record:
        raise fail("no 'indices' field")
    return record, record["indices"], record.get("scores"), record.get("split")


def _parse_npz(raw: bytes, fail: _Problem) -> tuple[dict[str, Any], Any, Any, Any]:
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise fail("not an npz archive (a single array)")
            missing = {"meta", "indices"} - set(z.files)
            if missing:
                raise fail(f"npz archive lacks {sorted(missing)}")
            meta, indices = z["meta"], z["indices"]
            scores = z["scores"] if "scores" in z.files else None
            split = z["split"] if "split" in z.files else None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise fail(f"not a readable npz archive ({type(exc).__name__}: {exc})") from None
    if meta.ndim != 0 or meta.dtype.kind != "U":
        raise fail(f"'meta' must be a JSON string, got dtype {meta.dtype} shape {meta.shape}")
    try:
        record = json.loads(str(meta))
    except json.JSONDecodeError as exc:
        raise fail(f"'meta' is not JSON ({exc})") from None
    if not isinstance(record, dict):
        raise fail(f"'meta' must hold a JSON object, got {type(record).__name__}")
    return record, indices, scores, split


def _int_array(value: Any, fail: _Problem, name: str = "indices") -> np.ndarray:
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise fail(f"{name} must be a list of integers ({exc})") from None
    if arr.ndim != 1:
        raise fail(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise fail(f"{name} must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _check_format(record: dict[str, Any], fail: _Problem) -> int:
    version = record.get("format", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version not in READABLE_FORMATS:
        raise fail(
            f"format {version!r} is not one this proxydata ({__version__}) reads "
            f"({', '.join(map(str, READABLE_FORMATS))}); a newer proxydata wrote it, or the file was edited"
        )
    return version


def _check_split(raw: Any, n: int, fail: _Problem) -> np.ndarray | None:
    if raw is None:
        return None
    split = _int_array(raw, fail, "split")
    if split.size == 0 or split[0] < 0 or split[-1] >= n or (np.diff(split) <= 0).any():
        raise fail(f"split must be sorted, unique dataset indices in [0, {n}), at least one")
    return split


def _float_array(value: Any, n: int, fail: _Problem) -> np.ndarray:
    if isinstance(value, list):
        value = [math.nan if s is None else s for s in value]
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise fail(f"scores must be numbers ({exc})") from None
    if arr.shape != (n,):
        raise fail(f"scores must hold one value per sample ({n}), got shape {arr.shape}")
    return arr


def _upgrade_params(params: dict[str, Any], klass: type[Any]) -> dict[str, Any]:
    """Format-1 parameters under today's names, with missing ones set to their defaults."""
    names = klass.saved_param_names()
    out = {(_RENAMED[k] if k in _RENAMED and _RENAMED[k] in names else k): v for k, v in params.items()}
    # Format 1 saved an object argument as a name; the names a constructor takes stay names.
    named = {"features": ("pixels",), "backbone": ("resnet18", "scratch"), "model": ()}
    for key, keep in named.items():
        value = out.get(key)
        if key == "model" and value == "ConvAutoencoder":
            out[key] = None  # the default network
        elif isinstance(value, str) and value not in keep:
            out[key] = {"object": value}
    defaults = inspect.signature(klass.__init__).parameters
    for name in names:
        if name not in out and defaults[name].default is not inspect.Parameter.empty:
            out[name] = encode_param(defaults[name].default)
    return out


def _check_params(record: dict[str, Any], klass: type[Any], fail: _Problem) -> dict[str, Any]:
    params = record.get("params")
    if not isinstance(params, dict):
        raise fail(f"'params' must be an object, got {type(params).__name__}")
    if record.get("format", 1) == 1:
        params = _upgrade_params(params, klass)
    expected = set(klass.saved_param_names())
    missing, unknown = expected - set(params), set(params) - expected
    if missing or unknown:
        raise fail(
            f"params of method {klass.method!r} lack {sorted(missing)} / have unknown {sorted(unknown)}"
        )
    decoded = {k: _decode_param(v) for k, v in params.items()}
    try:
        klass.check_params(decoded, loading=True)
        check_sampler_seed(record.get("seed"))
    except ProxydataError as exc:
        raise fail(f"parameter check failed: {exc}") from None
    if record["seed"] != decoded["seed"]:
        raise fail(f"seed {record['seed']!r} differs from params seed {decoded['seed']!r}")
    return decoded


def _check_kept(
    indices: np.ndarray,
    labels: np.ndarray,
    klass: Any,
    ratio: float,
    fail: _Problem,
    split: np.ndarray | None = None,
) -> None:
    n = labels.shape[0]
    if indices.size and (indices[0] < 0 or indices[-1] >= n or (np.diff(indices) <= 0).any()):
        if indices.min() < 0 or indices.max() >= n:
            raise fail(f"indices must lie in [0, {n}), got {int(indices.min())}..{int(indices.max())}")
        raise fail("indices must be sorted and unique")
    if split is not None:
        outside = np.setdiff1d(indices, split, assume_unique=True)
        if outside.size:
            raise fail(
                f"indices must lie within the split, but {outside.size} do not (e.g. {int(outside[0])})"
            )
        labels = labels[split]
        indices = np.searchsorted(split, indices)
    classes = np.unique(labels)
    quota = kept_quota(labels, classes, ratio, klass.class_conditional)
    kept = class_counts(labels[indices], classes=classes) if klass.class_conditional else [indices.size]
    if not np.array_equal(np.asarray(kept), quota):
        raise fail(
            f"indices keep {indices.size} samples, but {klass.method!r} with ratio={ratio!r} keeps "
            f"{int(quota.sum())} ({'per class ' if klass.class_conditional else ''}round(r * n))"
        )


def read(
    path: str,
    cls: type[Any],
    dataset: Any,
    *,
    targets: Any,
    resolve_targets: Callable[[Any, Any], np.ndarray],
    split: Any = None,
) -> SavedProxy:
    """Read and check the saved proxy at ``path`` for ``dataset``; build nothing.

    ``cls`` is the class :meth:`~proxydata.samplers.base.ProxySampler.load` was
    called on: the file's method must be it or a subclass. ``split`` (optional)
    is the split the caller expects (dataset indices, any order): a file saved
    for another split is refused. The steps, in order: the file's layout and
    format, the method, the parameters, the dataset, the split, the kept
    indices, the scores, the digest and the recorded extras.

    Raises
    ------
    CorruptStateError
        Naming ``path`` and the first problem found.
    OSError
        If the file cannot be read at all.
    """
    fail = _Problem(path)
    record, raw_indices, raw_scores, raw_split = _read_record(path, fail)
    version = _check_format(record, fail)
    klass = _check_method(record, cls, fail)
    params = _check_params(record, klass, fail)
    labels = _check_dataset(record, resolve_targets(dataset, targets), dataset, fail)
    n = int(labels.shape[0])
    saved_split = _check_split(raw_split, n, fail)
    if split is not None:
        _check_expected_split(split, saved_split, n, fail)
    indices = _int_array(raw_indices, fail)
    _check_kept(indices, labels, klass, float(params["ratio"]), fail, saved_split)
    scores = _check_scores(raw_scores, klass, n, saved_split, fail)
    if version >= DIGEST_FORMAT:
        stored = record.get("digest")
        if not isinstance(stored, str) or stored != content_digest(record, indices, scores, saved_split):
            raise fail(
                "its content does not match its digest: the file was edited or damaged after it was "
                "written (save the proxy again)"
            )
    resolved, seconds = _check_extras(record, fail)
    cost = _check_cost(record, fail)
    return SavedProxy(klass, params, resolved, indices, scores, labels, seconds, saved_split, cost)


def _read_record(path: str, fail: _Problem) -> tuple[dict[str, Any], Any, Any, Any]:
    """The file's record and its raw ``indices``, ``scores`` and ``split`` (npz or JSON by the suffix)."""
    with open(path, "rb") as fh:
        raw = fh.read()
    parse = _parse_npz if path.endswith(".npz") else _parse_json
    return parse(raw, fail)


def _check_method(record: dict[str, Any], cls: type[Any], fail: _Problem) -> type[Any]:
    """The registered class of the file's method: matching its ``class``, and ``cls`` or a subclass."""
    method = record.get("method")
    try:
        klass = method_class(method)
    except ProxydataError as exc:
        raise fail(f"method: {exc}") from None
    if record.get("class", klass.__name__) != klass.__name__:
        raise fail(f"method {method!r} ({klass.__name__}) does not match class {record.get('class')!r}")
    # Every registered class derives from ProxySampler, so load on the base accepts them all.
    if not issubclass(klass, cls):
        raise fail(f"it holds a {klass.method!r} proxy, not a {cls.method!r} one")
    return klass


def _check_dataset(record: dict[str, Any], labels: np.ndarray, dataset: Any, fail: _Problem) -> np.ndarray:
    """``labels`` (of ``dataset``) when the dataset's fingerprint and size are the saved ones."""
    found = fingerprint(dataset, labels)
    try:
        differ = fingerprint_differences(record.get("fingerprint"), found)
    except CorruptStateError as exc:
        raise fail(str(exc)) from None
    if differ or record.get("n") != labels.shape[0]:
        raise fail(
            f"dataset does not match the saved proxy: fingerprint differs in {differ or ['n']} "
            f"(dataset {found!r}, saved {record.get('fingerprint')!r})"
        )
    return labels


def _check_expected_split(split: Any, saved_split: np.ndarray | None, n: int, fail: _Problem) -> None:
    """Refuse a file saved for another split than the ``indices=`` given to load."""
    try:
        expected = resolve_split(split, n)
    except ProxydataError as exc:
        raise fail(f"indices= given to load: {exc}") from None
    if expected.size == n:
        expected = None
    if (expected is None) != (saved_split is None) or (
        expected is not None and not np.array_equal(expected, saved_split)
    ):
        raise fail(
            "it was saved for another split than indices= names ("
            f"saved: {'the whole dataset' if saved_split is None else f'{saved_split.size} indices'}, "
            f"given: {'the whole dataset' if expected is None else f'{expected.size} indices'}, "
            "or the same number of other indices)"
        )


def _check_scores(
    raw_scores: Any, klass: type[Any], n: int, saved_split: np.ndarray | None, fail: _Problem
) -> np.ndarray | None:
    """The scores, one float per sample and NaN outside the split, or None for a method without."""
    if klass.has_scores != (raw_scores is not None):
        raise fail(f"scores must be {'given' if klass.has_scores else 'null'} for {klass.method!r}")
    scores = None if raw_scores is None else _float_array(raw_scores, n, fail)
    if scores is not None and saved_split is not None:
        outside = np.ones(n, dtype=bool)
        outside[saved_split] = False
        if not np.isnan(scores[outside]).all():
            raise fail("scores must be NaN (null) outside the split")
    return scores


def _check_extras(record: dict[str, Any], fail: _Problem) -> tuple[dict[str, Any], float]:
    """The recorded ``resolved`` object and ``fit_seconds`` (a number >= 0)."""
    resolved = record.get("resolved", {})
    seconds = record.get("fit_seconds", 0.0)
    if not isinstance(resolved, dict):
        raise fail(f"'resolved' must be an object, got {type(resolved).__name__}")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds >= 0:
        raise fail(f"fit_seconds must be a number >= 0, got {seconds!r}")
    return resolved, float(seconds)


#: The fields of a recorded ``selection_cost`` (files written before it was recorded have none).
COST_FIELDS = ("samples", "cpu_seconds", "wall_seconds")


def _check_cost(record: dict[str, Any], fail: _Problem) -> dict[str, Any] | None:
    """The recorded ``selection_cost``: None, or an object of numbers >= 0 (``samples`` an integer)."""
    cost = record.get("selection_cost")
    if cost is None:
        return None
    if not isinstance(cost, dict) or set(cost) != set(COST_FIELDS):
        raise fail(f"selection_cost must be null or an object of {list(COST_FIELDS)}, got {cost!r}")
    for key in COST_FIELDS:
        value = cost[key]
        kinds = int if key == "samples" else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or not value >= 0:
            raise fail(f"selection_cost.{key} must be a number >= 0 (samples: an integer), got {value!r}")
    return {
        "samples": int(cost["samples"]),
        "cpu_seconds": float(cost["cpu_seconds"]),
        "wall_seconds": float(cost["wall_seconds"]),
    }
