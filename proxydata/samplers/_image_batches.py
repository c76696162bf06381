"""Batched image access for samplers that train a network on a dataset.

:class:`ImageBatches` reads batches of images ``(b, C, H, W)`` float32 by
dataset index. An :class:`~proxydata.datasets.ArrayDataset` without a
transform (also behind :class:`~torch.utils.data.Subset` /
:class:`~proxydata.data.IndexedDataset` wrappers) is sliced directly from its
array, one fancy-indexing call per batch; any other map-style dataset is read
item by item (``dataset[i][0]``), as a ``DataLoader`` with no workers would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Subset

from ..data import IndexedDataset
from ..datasets import ArrayDataset

__all__ = ["ImageBatches", "batch_slices"]


def batch_slices(order: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """Consecutive chunks of ``order`` of ``batch_size``; a trailing chunk of one
    sample is merged into the previous one (BatchNorm cannot train on a batch of one)."""
    n = order.size
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else n
        yield order[start:stop]


class ImageBatches:
    """Read images of ``dataset`` in batches, by index.

    Parameters
    ----------
    dataset : map-style dataset
        Items ``(x, y, ...)`` whose ``x`` is an image tensor/array ``(C, H, W)``
        or ``(H, W)`` (a channel axis is added).
    name : str
        The sampler's name, for error messages.

    Raises
    ------
    ValueError
        The items are not images (e.g. 1-D feature vectors).
    """

    def __init__(self, dataset: Any, name: str) -> None:
        self.name = name
        self._array, self._map, self._scale = self._find_array(dataset)
        self.dataset = dataset
        first = self.get(np.array([0]))
        if first.ndim != 4:
            raise ValueError(
                f"{name} needs image data: items (C, H, W) or (H, W), got items of shape "
                f"{tuple(first.shape[1:])} (a feature vector dataset is not an image dataset)"
            )
        self.shape: tuple[int, int, int] = tuple(first.shape[1:])  # type: ignore[assignment]

    @staticmethod
    def _find_array(dataset: Any) -> tuple[np.ndarray | None, np.ndarray | None, float]:
        index_map = None
        while True:
            if isinstance(dataset, IndexedDataset):
                dataset = dataset.dataset
            elif isinstance(dataset, Subset):
                sub = np.asarray(dataset.indices, dtype=np.int64)
                index_map = sub if index_map is None else sub[index_map]
                dataset = dataset.dataset
            else:
                break
        if isinstance(dataset, ArrayDataset) and dataset.transform is None:
            return dataset.images, index_map, dataset.scale
        return None, None, 1.0

    def get(self, indices: np.ndarray) -> torch.Tensor:
        """Images at dataset ``indices`` as a float32 ``(b, C, H, W)`` tensor."""
        if self._array is not None:
            pos = indices if self._map is None else self._map[indices]
            x = torch.from_numpy(np.asarray(self._array[pos], dtype=np.float32))
            return x / self._scale
        items = []
        for i in indices.tolist():
            x = self.dataset[i][0]
            x = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
            items.append(x.to(torch.float32))
        try:
            x = torch.stack(items)
        except RuntimeError as exc:
            raise ValueError(f"{self.name} needs images of one shape; dataset items differ: {exc}") from exc
        return x.unsqueeze(1) if x.ndim == 3 else x
