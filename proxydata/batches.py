"""Reading a dataset's inputs a batch at a time, by position.

Feature extraction (KM-OR, CC-OR), the samplers that train a network (AE, TL)
and the dataset fingerprint read many images. When the images live in one
array this module reads them from there directly, one slice or fancy-indexing
call per batch, instead of item by item: :func:`array_source` finds such an
array behind the usual wrappers (:class:`~proxydata.data.IndexedDataset`,
:class:`~torch.utils.data.Subset`) in

- an :class:`~proxydata.datasets.ArrayDataset` without a transform,
- a :class:`~torch.utils.data.TensorDataset` (its first tensor),
- a Hugging Face ``datasets.Dataset`` without a ``set_transform`` (its input
  column, read through the ``numpy`` format; ``Image`` columns as ``(C, H, W)``).

Values go through :func:`~proxydata.items.pixels_to_float`, so a batch read
here equals the same items read one by one (uint8 → ``/255``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Subset, TensorDataset

from .datasets import ArrayDataset
from .exceptions import ProxydataValueError
from .indexed import IndexedDataset
from .items import ItemReader, input_tensor, is_hf_dataset, pixels_to_float

__all__ = ["ArraySource", "ImageBatches", "array_source", "batch_slices"]

Selection = slice | np.ndarray


class ArraySource:
    """Inputs of a dataset held in one array (or column), read by position.

    Parameters
    ----------
    storage : np.ndarray or torch.Tensor
        The stored inputs, one per row.
    scale : float, optional
        Divisor of :func:`~proxydata.items.pixels_to_float` (None: by dtype).
    rows : np.ndarray of int64, optional
        Dataset position ``i`` is storage row ``rows[i]`` (a ``Subset``); None = identity.
    """

    def __init__(self, storage: Any, scale: float | None, rows: np.ndarray | None = None) -> None:
        self.storage = storage
        self.scale = scale
        self.rows = rows

    def __len__(self) -> int:
        return self._stored() if self.rows is None else int(self.rows.shape[0])

    def view(self, rows: np.ndarray) -> ArraySource:
        """The same source seen through ``Subset`` positions ``rows``."""
        out = copy.copy(self)
        out.rows = rows if self.rows is None else self.rows[rows]
        return out

    def raw(self, sel: Selection) -> np.ndarray | torch.Tensor:
        """Stored values at dataset positions ``sel`` (a slice or an int array), unscaled."""
        return self._read(sel if self.rows is None else self.rows[sel])

    def floats(self, sel: Selection) -> torch.Tensor:
        """Inputs at positions ``sel`` as float32 (``pixels_to_float``), shape ``(b, ...)``, on the CPU."""
        return pixels_to_float(self.raw(sel), self.scale).cpu()

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        """:meth:`floats` of consecutive positions, ``batch_size`` at a time, in dataset order."""
        n = len(self)
        for start in range(0, n, batch_size):
            yield self.floats(slice(start, min(start + batch_size, n)))

    def _stored(self) -> int:
        return int(self.storage.shape[0])

    def _read(self, pos: Selection) -> np.ndarray | torch.Tensor:
        if isinstance(self.storage, torch.Tensor) and isinstance(pos, np.ndarray):
            return self.storage[torch.from_numpy(pos)]
        return self.storage[pos]


class HFColumnSource(ArraySource):
    """The input column of a Hugging Face dataset, read a batch per call.

    A column of nested lists of numbers is read through the ``arrow`` format and
    reshaped (hundreds of times faster than the ``numpy`` format, which converts
    row by row); other columns (``Image``, ``Array3D``, ...) through the
    ``numpy`` format. Stored uint8 values (an ``Image`` column, or a
    ``Value("uint8")`` leaf) are scaled by 1/255; ``Image`` batches
    ``(b, H, W, C)`` become ``(b, C, H, W)``, the layout of the ``torch`` format.
    """

    def __init__(self, dataset: Any, key: str) -> None:
        feature = dataset.features[key]
        self.is_image = type(feature).__name__ == "Image"
        self.nested = type(feature).__name__ in ("List", "LargeList", "Sequence")
        uint8 = self.is_image or _leaf_dtype(feature) == "uint8"
        column = dataset.select_columns([key])
        super().__init__(column.with_format("arrow" if self.nested else "numpy"), 255.0 if uint8 else None)
        self.key = key

    def _stored(self) -> int:
        return len(self.storage)

    def _read(self, pos: Selection) -> np.ndarray:
        values = self.storage[pos if isinstance(pos, slice) else pos.tolist()]
        if self.nested:
            return _nested_lists_as_array(values.column(self.key).combine_chunks(), self.key)
        values = values[self.key]
        try:
            batch = values if isinstance(values, np.ndarray) else np.asarray(values)
        except ValueError as exc:
            raise ProxydataValueError(f"column {self.key!r} holds inputs of different shapes: {exc}") from exc
        if batch.dtype == object:
            raise ProxydataValueError(
                f"column {self.key!r} holds inputs of different shapes; they must share one"
            )
        return batch.transpose(0, 3, 1, 2) if self.is_image and batch.ndim == 4 else batch


def _nested_lists_as_array(column: Any, key: str) -> np.ndarray:
    """An arrow array of equally shaped nested lists of numbers as one ``(b, d1, d2, ...)`` array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dims: list[int] = []
    values = column
    while isinstance(values.type, (pa.ListType, pa.LargeListType, pa.FixedSizeListType)):
        if values.null_count:
            raise ProxydataValueError(f"column {key!r} holds missing values")
        lengths = pc.list_value_length(values).to_numpy(zero_copy_only=False)
        if lengths.size and np.any(lengths != lengths[0]):
            raise ProxydataValueError(f"column {key!r} holds inputs of different shapes; they must share one")
        dims.append(int(lengths[0]) if lengths.size else 0)
        values = values.flatten()
    if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)) or values.null_count:
        raise ProxydataValueError(f"column {key!r} must hold numbers, got {values.type} (or missing values)")
    return values.to_numpy(zero_copy_only=False).reshape(len(column), *dims)


def _leaf_dtype(feature: Any) -> str | None:
    while hasattr(feature, "feature"):  # List / Sequence / LargeList nest their item feature
        feature = feature.feature
    return getattr(feature, "dtype", None)


def array_source(dataset: Any, input_key: str | None = None, *, raw: bool = False) -> ArraySource | None:
    """The :class:`ArraySource` behind ``dataset``, or None when items must be read one by one.

    Looks through :class:`~proxydata.data.IndexedDataset` (using its
    ``input_key``) and nested :class:`~torch.utils.data.Subset` wrappers.

    Parameters
    ----------
    dataset : map-style dataset
    input_key : str, optional
        Input column of a Hugging Face dataset (auto-detected when None).
    raw : bool
        Also return the stored array when the dataset transforms its items (an
        ``ArrayDataset`` transform, a Hugging Face ``set_transform``, or the
        ``.data`` array of a torchvision-style dataset): the stored content,
        not what the items hold. Used by the dataset fingerprint.
    """
    subsets: list[np.ndarray] = []
    while isinstance(dataset, (IndexedDataset, Subset)):
        if isinstance(dataset, IndexedDataset):
            input_key = dataset.input_key if input_key is None else input_key
        else:
            subsets.append(np.asarray(dataset.indices, dtype=np.int64))
        dataset = dataset.dataset
    source = _direct_source(dataset, input_key, raw)
    for rows in reversed(subsets):  # innermost Subset first
        source = None if source is None else source.view(rows)
    return source


def _direct_source(dataset: Any, input_key: str | None, raw: bool) -> ArraySource | None:
    if isinstance(dataset, ArrayDataset) and (raw or dataset.transform is None):
        return ArraySource(dataset.images, dataset.scale)
    if isinstance(dataset, TensorDataset) and dataset.tensors:
        return ArraySource(dataset.tensors[0], None)
    if is_hf_dataset(dataset) and (raw or dataset.format.get("type") != "custom"):
        key = ItemReader(input_key).input_key_for(dataset.column_names)
        return HFColumnSource(dataset, key)
    data = getattr(dataset, "data", None)
    if (
        raw
        and isinstance(data, (np.ndarray, torch.Tensor))
        and data.ndim >= 1
        and data.shape[0] == len(dataset)
    ):
        return ArraySource(data, None)
    return None


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
    """Read images of ``dataset`` in batches, by index, as float32 ``(b, C, H, W)``.

    Parameters
    ----------
    dataset : map-style dataset
        Items ``(x, y, ...)`` or dicts (see :class:`~proxydata.items.ItemReader`)
        whose input is an image ``(C, H, W)`` or ``(H, W)`` (a channel axis is added).
    name : str
        The sampler's name, for error messages.
    input_key : str, optional
        Input key of dict items (auto-detected when None).

    Raises
    ------
    ValueError
        The items are not images (e.g. 1-D feature vectors).
    """

    def __init__(self, dataset: Any, name: str, *, input_key: str | None = None) -> None:
        self.name = name
        self.dataset = dataset
        self.source = array_source(dataset, input_key)
        self.reader = ItemReader(input_key)
        first = self.get(np.array([0]))
        if first.ndim != 4:
            raise ProxydataValueError(
                f"{name} needs image data: items (C, H, W) or (H, W), got items of shape "
                f"{tuple(first.shape[1:])} (a feature vector dataset is not an image dataset)"
            )
        self.shape: tuple[int, int, int] = tuple(first.shape[1:])  # type: ignore[assignment]

    def get(self, indices: np.ndarray) -> torch.Tensor:
        """Images at dataset ``indices`` as a float32 ``(b, C, H, W)`` tensor."""
        if self.source is not None:
            x = self.source.floats(np.asarray(indices, dtype=np.int64))
        else:
            items = [self._item(i) for i in indices.tolist()]
            try:
                x = torch.stack(items)
            except RuntimeError as exc:
                raise ProxydataValueError(
                    f"{self.name} needs images of one shape; dataset items differ: {exc}"
                ) from exc
        return x.unsqueeze(1) if x.ndim == 3 else x

    def _item(self, i: int) -> torch.Tensor:
        return pixels_to_float(input_tensor(self.reader.input(self.dataset[i], i)))
