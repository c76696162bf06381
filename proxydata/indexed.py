"""Indexed samples and their labels: the pieces every reader of a user's dataset shares.

:class:`IndexedDataset` (items ``(x, y, index)``), :func:`get_targets` (labels
found as cheaply as possible), :func:`is_label_container` and
:func:`array_digest` (the library's one hash of an integer array). They sit
below :mod:`proxydata.batches` and :mod:`proxydata.fingerprint`, which read
through them; :mod:`proxydata.data` re-exports them under their old names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset, Subset, TensorDataset

from ._validation import check_bool, check_labels
from .exceptions import ProxydataTypeError, ProxydataValueError
from .items import SUPPORTED_ITEMS, ItemReader, hf_column, input_tensor, is_hf_column, is_hf_dataset

__all__ = ["IndexedDataset", "array_digest", "get_targets", "is_label_container"]


class IndexedDataset(Dataset):
    """Wrap a map-style dataset so that every item is ``(x, y, index)``.

    The index is the position in the wrapped dataset, which is what
    :class:`~proxydata.BiLevelPruner` needs in ``observe(indices, logits)``.
    Tuple items ``(x, y, ...)`` give ``x`` and ``y`` unchanged. Dict items (a
    Hugging Face ``datasets.Dataset``, any ``{"image": x, "label": y}``
    dataset) give ``item[input_key]`` and ``item[label_key]``; a nested list
    input (the plain Hugging Face format) becomes a tensor so that the default
    ``DataLoader`` collation works, values and dtype unchanged.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        Any map-style dataset whose items are ``(x, y, ...)`` tuples or dicts.
    input_key, label_key : str, optional
        Keys of dict items; when None, the one key present among
        ``image``, ``img``, ``pixel_values`` (input) and ``label``, ``labels``,
        ``fine_label`` (label) is used. Must be None for tuple items.

    Examples
    --------
    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> ds = IndexedDataset(TensorDataset(torch.zeros(3, 2), torch.tensor([0, 1, 0])))
    >>> ds[2][2]
    2
    """

    def __init__(self, dataset: Any, input_key: str | None = None, label_key: str | None = None) -> None:
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise ProxydataTypeError(
                f"dataset must be a map-style dataset with __getitem__ and __len__, "
                f"got {type(dataset).__name__}"
            )
        self.dataset = dataset
        self.input_key = input_key
        self.label_key = label_key
        self._reader = ItemReader(input_key, label_key)
        if is_hf_dataset(dataset) and dataset.format.get("type") != "custom":
            # A bad key fails here rather than in the first batch of a search.
            self._reader.input_key_for(dataset.column_names)
            self._reader.label_key_for(dataset.column_names)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, Any, int]:
        item = self.dataset[index]
        if isinstance(item, Mapping):
            x = self._reader.input(item, index)
            return (
                (input_tensor(x) if isinstance(x, list) else x),
                self._reader.label(item, index),
                int(index),
            )
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise ProxydataTypeError(
                f"dataset items must be {SUPPORTED_ITEMS}; got {type(item).__name__} at index {index}"
            )
        self._reader.label(item, index)  # input_key/label_key given for tuple items: a clear error
        return item[0], item[1], int(index)

    @property
    def targets(self) -> np.ndarray:
        """Labels of the wrapped dataset (see :func:`get_targets`)."""
        return get_targets(self.dataset, progress=False, label_key=self.label_key)


def get_targets(dataset: Any, progress: bool = True, *, label_key: str | None = None) -> np.ndarray:
    """Labels of a dataset, found as cheaply as possible.

    Looks, in order, at: labels passed directly (an array, a tensor, a list of
    integers, a Hugging Face ``Column`` such as ``hf["label"]``);
    :class:`IndexedDataset`; :class:`~torch.utils.data.Subset` (the parent's
    labels at the subset's indices); :class:`~torch.utils.data.TensorDataset`
    (its second tensor); :class:`~torch.utils.data.ConcatDataset`; a Hugging
    Face ``datasets.Dataset`` (its label column, read in one call); ``.targets``;
    ``.labels``. Otherwise it reads every item once (with a progress bar) and
    takes its label: the second element of a tuple item, ``item[label_key]`` of
    a dict item. A list of ``(x, y)`` pairs or of dicts is read as a dataset.

    Parameters
    ----------
    dataset : map-style dataset, or labels
    progress : bool
        Show a progress bar when the items must be read.
    label_key : str, optional
        Label key of dict items; when None, the one present among ``label``,
        ``labels``, ``fine_label``.

    Returns
    -------
    np.ndarray of int64, shape (len(dataset),)

    Raises
    ------
    TypeError
        Labels that are not integers (``0.5`` and ``True`` included), items that
        are neither ``(x, y, ...)`` tuples nor dicts with a label key.
    ValueError
        Negative labels, labels of the wrong length, an absent or ambiguous label key.
    """
    check_bool(progress, "progress")
    reader = ItemReader(label_key=label_key)
    if is_hf_column(dataset):
        return check_labels(hf_column(dataset.source, dataset.column_name), "targets")
    if is_label_container(dataset):
        _refuse_bools(dataset, "targets")
        return check_labels(dataset, "targets")
    wrapped = _targets_of_torch_dataset(dataset, progress, label_key)
    if wrapped is not None:
        return wrapped
    if is_hf_dataset(dataset):
        key = reader.label_key_for(dataset.column_names)
        return check_labels(hf_column(dataset, key), f"dataset[{key!r}]", n=len(dataset))
    for attr in ("targets", "labels"):
        value = getattr(dataset, attr, None)
        if value is not None and not callable(value):
            _refuse_bools(value, f"dataset.{attr}")
            return check_labels(value, f"dataset.{attr}", n=len(dataset))
    if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
        raise ProxydataTypeError(
            f"dataset must be a map-style dataset or labels, got {type(dataset).__name__}"
        )
    return _read_labels(dataset, reader, progress)


def _targets_of_torch_dataset(dataset: Any, progress: bool, label_key: str | None) -> np.ndarray | None:
    """Labels of the wrappers and tensor datasets of ``torch.utils.data`` (and ours), else None."""
    if isinstance(dataset, IndexedDataset):
        return get_targets(dataset.dataset, progress, label_key=label_key or dataset.label_key)
    if isinstance(dataset, Subset):
        parent = get_targets(dataset.dataset, progress, label_key=label_key)
        return parent[np.asarray(dataset.indices, dtype=np.int64)]
    if isinstance(dataset, TensorDataset):
        if len(dataset.tensors) < 2:
            raise ProxydataValueError("TensorDataset needs a second tensor of labels")
        return check_labels(dataset.tensors[1].reshape(-1), "targets", n=len(dataset))
    if isinstance(dataset, ConcatDataset):
        return np.concatenate([get_targets(d, progress, label_key=label_key) for d in dataset.datasets])
    return None


def _refuse_bools(values: Any, name: str) -> None:
    """A list of labels holding ``True``/``False`` would pass as 1/0: refuse it."""
    if isinstance(values, (list, tuple)):
        for k, v in enumerate(values):
            if isinstance(v, (bool, np.bool_)):
                raise ProxydataTypeError(f"{name} must contain integers, got the bool {v!r} at position {k}")


def is_label_container(obj: Any) -> bool:
    """Whether ``obj`` is labels rather than a dataset: an array, a tensor, a
    Hugging Face ``Column``, or a list/tuple whose first element is not an item
    (a tuple, list or dict: a list of ``(x, y)`` pairs is a dataset)."""
    if isinstance(obj, (np.ndarray, torch.Tensor)) or is_hf_column(obj):
        return True
    return isinstance(obj, (list, tuple)) and not (obj and isinstance(obj[0], (tuple, list, Mapping)))


def _read_labels(dataset: Any, reader: ItemReader, progress: bool) -> np.ndarray:
    from tqdm.auto import tqdm

    labels: list[Any] = []
    for i in tqdm(range(len(dataset)), desc="reading labels", disable=not progress, leave=False):
        y = reader.label(dataset[i], i)
        if isinstance(y, torch.Tensor):
            y = y.detach().cpu().numpy()
        if isinstance(y, (np.ndarray, np.generic)):
            if y.size != 1:
                raise ProxydataTypeError(
                    f"the label of item {i} must be one class index, got shape {y.shape}"
                )
            y = y.item()
        if isinstance(y, (bool, np.bool_)):
            raise ProxydataTypeError(f"the label of item {i} must be a class index, got the bool {y!r}")
        labels.append(y)
    # Collected first, converted once: a label 0.5 is an error, never truncated to 0.
    return check_labels(np.asarray(labels) if labels else np.zeros(0, np.int64), "targets")


def array_digest(values: Any) -> str:
    """First 16 hex digits of ``sha256`` of ``values`` as little-endian int64.

    The library's one hash of an integer array (labels, index sets): a saved
    proxy's and the pruner's state fingerprints use it.

    Parameters
    ----------
    values : array-like of integers

    Returns
    -------
    str of 16 hexadecimal digits
    """
    return hashlib.sha256(np.ascontiguousarray(values, dtype="<i8").tobytes()).hexdigest()[:16]
