"""The dataset fingerprint a saved proxy is checked against.

``dataset_fingerprint(dataset)`` is ``"n=<len>;labels=<digest>;content=<digest>"``:

- ``labels`` — :func:`~proxydata.data.array_digest` of the int64 labels (the
  whole sequence: a proxy is a list of indices with their classes);
- ``content`` — ``sha256`` of :data:`CONTENT_SAMPLE` (64) items at evenly
  spaced positions ``p_j = floor(j·(n−1)/(k−1))``, ``j = 0..k−1``, ``k = min(64, n)``,
  each hashed as its shape and its float32 values (:func:`~proxydata.items.pixels_to_float`
  of the stored input; a string input as its UTF-8 text, any other object as
  its ``repr``), first 16 hex digits.

The content part reads 64 items whatever ``n``: replacing the images of a
dataset (same length, same labels) changes the fingerprint unless all 64
sampled items survive, at a cost measured in ``benchmarks/results/fingerprint.md``.
Where the inputs are stored in an array (see :func:`~proxydata.batches.array_source`
with ``raw=True``) the stored values are hashed, so a random augmentation
transform does not change the fingerprint; otherwise the items are read, and
if two reads of one item differ the content cannot be fingerprinted: it reads
``content=unstable`` (with a warning) and is not compared.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

import numpy as np
import torch

from ._validation import check_labels, show
from .batches import array_source
from .exceptions import CorruptStateError, ProxydataTypeError
from .indexed import array_digest, get_targets, is_label_container
from .items import ItemReader, input_tensor, pixels_to_float

__all__ = ["CONTENT_SAMPLE", "dataset_fingerprint", "fingerprint_differences", "fingerprint_positions"]

#: How many items the content digest reads.
CONTENT_SAMPLE = 64
UNSTABLE = "unstable"


def fingerprint_positions(n: int, k: int = CONTENT_SAMPLE) -> np.ndarray:
    """The ``min(k, n)`` evenly spaced positions ``floor(j·(n−1)/(k−1))`` the content digest reads."""
    k = min(k, n)
    if k <= 1:
        return np.zeros(k, dtype=np.int64)
    return (np.arange(k, dtype=np.int64) * (n - 1)) // (k - 1)


def dataset_fingerprint(
    dataset: Any,
    *,
    targets: Any = None,
    input_key: str | None = None,
    label_key: str | None = None,
) -> str:
    """A cheap identity of a dataset: its length, its labels and a sample of its content.

    ``"n=<len>;labels=<16 hex>;content=<16 hex>"`` (see the module notes for the
    formulas). Given labels alone (an array, a tensor, a list, a Hugging Face
    ``Column``) it is ``"n=<len>;labels=<16 hex>"``, the label-only form that
    proxydata 0.1 saved.

    Parameters
    ----------
    dataset : map-style dataset, or labels
    targets : 1-D integer labels, optional
        Used instead of reading the dataset's labels (as samplers accept ``targets=``).
    input_key, label_key : str, optional
        Keys of dict items (see :class:`~proxydata.IndexedDataset`).

    Returns
    -------
    str
    """
    labels_only = is_label_container(dataset)
    if targets is not None:
        y = check_labels(targets, "targets", n=None if labels_only else len(dataset))
    else:
        y = get_targets(dataset, progress=False, label_key=label_key)
    text = f"n={y.shape[0]};labels={array_digest(y)}"
    if labels_only:
        return text
    return f"{text};content={_content_digest(dataset, input_key)}"


def _content_digest(dataset: Any, input_key: str | None) -> str:
    positions = fingerprint_positions(len(dataset))
    source = array_source(dataset, input_key, raw=True)
    if source is not None:
        batch = source.floats(positions)
        parts = [_tensor_bytes(row) for row in batch]
    else:
        reader = ItemReader(input_key)

        def read(i: int) -> bytes:
            return _input_bytes(reader.input(dataset[i], i))

        parts = [read(int(i)) for i in positions]
        if parts and read(int(positions[0])) != parts[0]:
            warnings.warn(
                "the dataset's items change from one read to the next (a random transform?): "
                "its fingerprint covers length and labels only (content=unstable)",
                RuntimeWarning,
                stacklevel=3,
            )
            return UNSTABLE
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()[:16]


def _tensor_bytes(t: torch.Tensor) -> bytes:
    return repr(tuple(t.shape)).encode() + np.ascontiguousarray(t.numpy(), dtype="<f4").tobytes()


def _input_bytes(x: Any) -> bytes:
    """What the digest hashes of one item's input: its float32 values, else its text."""
    if isinstance(x, (str, bytes)):  # text datasets, file paths
        return x.encode() if isinstance(x, str) else bytes(x)
    try:
        return _tensor_bytes(pixels_to_float(input_tensor(x)).cpu())
    except ProxydataTypeError:
        # Any other object: its repr (one holding a memory address reads as unstable).
        return repr(x).encode()


def _fields(fingerprint: Any, which: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    if isinstance(fingerprint, str):
        for part in fingerprint.split(";"):
            key, sep, value = part.partition("=")
            if sep:
                fields[key] = value
    if not {"n", "labels"} <= fields.keys():
        raise CorruptStateError(
            f"{which} fingerprint is not a proxydata dataset fingerprint: {show(fingerprint)}"
        )
    return fields


def fingerprint_differences(saved: str, found: str) -> list[str]:
    """The fields (``"n"``, ``"labels"``, ``"content"``) in which two fingerprints differ.

    The content is compared only when both fingerprints carry it and neither is
    ``unstable``. A ``saved`` fingerprint without content (written by
    proxydata 0.1, which fingerprinted labels only) is still accepted on its
    length and labels, with a ``UserWarning`` that the content was not checked.

    Raises
    ------
    CorruptStateError
        If either string is not a fingerprint.
    """
    old, new = _fields(saved, "saved"), _fields(found, "found")
    differ = [key for key in ("n", "labels") if old[key] != new[key]]
    if "content" not in old and "content" in new:
        warnings.warn(
            "the saved proxy's fingerprint covers length and labels only (saved by proxydata 0.1): "
            "the dataset's content was not checked; save the proxy again to record it",
            UserWarning,
            stacklevel=2,
        )
    elif "content" in old and "content" in new and UNSTABLE not in (old["content"], new["content"]):
        if old["content"] != new["content"]:
            differ.append("content")
    return differ
