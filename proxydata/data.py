"""Dataset plumbing: indexed samples, cheap label look-up, fingerprints, splits."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset, Subset, TensorDataset

from ._validation import check_bool, check_fraction, check_int, check_labels, check_seed

__all__ = ["IndexedDataset", "dataset_fingerprint", "get_targets", "round_half_up", "split_indices"]


class IndexedDataset(Dataset):
    """Wrap a map-style dataset so that every item is ``(x, y, index)``.

    The index is the position in the wrapped dataset, which is what
    :class:`~proxydata.BiLevelPruner` needs in ``observe(indices, logits)``.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        Any map-style dataset whose items are ``(x, y, ...)`` tuples.

    Examples
    --------
    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> ds = IndexedDataset(TensorDataset(torch.zeros(3, 2), torch.tensor([0, 1, 0])))
    >>> ds[2][2]
    2
    """

    def __init__(self, dataset: Any) -> None:
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise TypeError(
                f"dataset must be a map-style dataset with __getitem__ and __len__, "
                f"got {type(dataset).__name__}"
            )
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, Any, int]:
        item = self.dataset[index]
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise TypeError(
                f"dataset items must be (x, y, ...) tuples, got {type(item).__name__} at index {index}"
            )
        return item[0], item[1], int(index)

    @property
    def targets(self) -> np.ndarray:
        """Labels of the wrapped dataset (see :func:`get_targets`)."""
        return get_targets(self.dataset, progress=False)


def get_targets(dataset: Any, progress: bool = True) -> np.ndarray:
    """Labels of a dataset, found as cheaply as possible.

    Looks, in order, at: an array/tensor/list passed directly; ``.targets``;
    ``.labels``; :class:`~torch.utils.data.Subset` (the parent's labels at the
    subset's indices); :class:`~torch.utils.data.TensorDataset` (its second
    tensor); :class:`~torch.utils.data.ConcatDataset`; :class:`IndexedDataset`.
    Otherwise iterates over the dataset once (with a progress bar) and takes the
    second element of every item.

    Returns
    -------
    np.ndarray of int64, shape (len(dataset),)
    """
    check_bool(progress, "progress")
    if isinstance(dataset, (np.ndarray, torch.Tensor, list, tuple)):
        return check_labels(dataset, "targets")
    if isinstance(dataset, IndexedDataset):
        return get_targets(dataset.dataset, progress)
    if isinstance(dataset, Subset):
        parent = get_targets(dataset.dataset, progress)
        return parent[np.asarray(dataset.indices, dtype=np.int64)]
    if isinstance(dataset, TensorDataset):
        if len(dataset.tensors) < 2:
            raise ValueError("TensorDataset needs a second tensor of labels")
        return check_labels(dataset.tensors[1].reshape(-1), "targets", n=len(dataset))
    if isinstance(dataset, ConcatDataset):
        return np.concatenate([get_targets(d, progress) for d in dataset.datasets])
    for attr in ("targets", "labels"):
        value = getattr(dataset, attr, None)
        if value is not None and not callable(value):
            return check_labels(value, f"dataset.{attr}", n=len(dataset))
    if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
        raise TypeError(f"dataset must be a map-style dataset or labels, got {type(dataset).__name__}")
    from tqdm.auto import tqdm

    labels = np.empty(len(dataset), dtype=np.int64)
    for i in tqdm(range(len(dataset)), desc="reading labels", disable=not progress, leave=False):
        y = dataset[i][1]
        labels[i] = int(y.item() if isinstance(y, torch.Tensor) else y)
    return check_labels(labels, "targets")


def dataset_fingerprint(dataset: Any) -> str:
    """A cheap identity of a dataset: its length and a hash of its labels.

    ``"n=<len>;labels=<first 16 hex digits of sha256(int64 labels)>"``. Two
    datasets with the same length and label sequence share a fingerprint; that
    is what a saved proxy (a list of indices with their classes) depends on.
    """
    y = get_targets(dataset, progress=False)
    digest = hashlib.sha256(np.ascontiguousarray(y, dtype="<i8").tobytes()).hexdigest()[:16]
    return f"n={y.shape[0]};labels={digest}"


def round_half_up(x: float) -> int:
    """Round half up, ``floor(x + 0.5)``: the library's ``round`` for kept counts.

    Python's ``round`` rounds halves to even (``round(2.5) == 2``); kept counts
    use this rule instead, so ``r = 0.5`` of 5 samples keeps 3 and counts grow
    monotonically with ``n``.

    Parameters
    ----------
    x : float

    Returns
    -------
    int
    """
    return math.floor(x + 0.5)


def split_indices(
    n: int,
    fraction: float = 0.5,
    seed: int = 0,
    stratify: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` into two disjoint parts, e.g. DARTS's train/val halves.

    The first part holds ``round(fraction * n)`` indices, or with ``stratify``
    ``round(fraction * n_c)`` of every class ``c``, halves rounded up (so both parts keep the class
    proportions). Both parts are returned sorted.

    Parameters
    ----------
    n : int >= 2
    fraction : float in (0, 1)
        Share of the first part.
    seed : int
        Seeds the permutation (``numpy.random.default_rng``).
    stratify : 1-D integer labels of length n, optional

    Returns
    -------
    first, second : np.ndarray of int64
    """
    n = check_int(n, "n", minimum=2)
    frac = check_fraction(fraction, "fraction", low_open=True, high_open=True)
    rng = np.random.default_rng(check_seed(seed))
    if stratify is None:
        perm = rng.permutation(n)
        k = round_half_up(frac * n)
        first = perm[:k]
    else:
        y = check_labels(stratify, "stratify", n=n)
        parts = []
        for c in np.unique(y):
            members = np.flatnonzero(y == c)
            k = round_half_up(frac * members.size)
            parts.append(rng.permutation(members)[:k])
        first = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    first = np.sort(first.astype(np.int64))
    mask = np.ones(n, dtype=bool)
    mask[first] = False
    return first, np.flatnonzero(mask).astype(np.int64)
