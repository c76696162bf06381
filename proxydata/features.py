"""Sample features for the geometric proxy samplers (KM-OR, CC-OR).

Two kinds: the raw pixels of every image, flattened (``C*H*W`` values, 3,072
for CIFAR), optionally standardised per feature as the reference code of
Moser et al. (2022) does for KM-OR; and the output of any ``nn.Module`` run
over the dataset (an embedding). Both return one float32 matrix of shape
``(n, d)``; no float64 copy of it is ever made (a float64 CIFAR-10 pixel
matrix would take 1.2 GB).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from ._validation import check_bool, check_device, check_int
from .datasets import ArrayDataset

__all__ = ["is_array_backed", "model_features", "pixel_batches", "pixel_features", "standardize_"]


def pixel_features(
    dataset: Any,
    *,
    standardize: bool = False,
    batch_size: int = 1024,
    progress: bool = True,
) -> np.ndarray:
    """Raw pixels of every sample, flattened to one row each.

    Row ``i`` is item ``i``'s image tensor ``x`` (``dataset[i][0]``) flattened
    in ``(C, H, W)`` order, as float32. With ``standardize=True`` every column
    ``j`` is replaced by ``(x_j - mean_j) / std_j`` (population std; a constant
    column gets ``std_j = 1``), i.e. scikit-learn's ``StandardScaler``, which the
    paper code applies to the pixels before KM-OR.

    An :class:`~proxydata.datasets.ArrayDataset` without a transform (or a
    :class:`~torch.utils.data.Subset` of one) is read straight from its image
    array, a chunk at a time; any other dataset of ``(x, y, ...)`` items (or
    bare ``x`` items) is read through a ``DataLoader``.

    Parameters
    ----------
    dataset : map-style dataset
    standardize : bool
        Standardise every feature (column) to zero mean and unit variance. The
        moments are accumulated in float64 chunk by chunk; the result stays float32.
    batch_size : int
        Rows converted at a time.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    np.ndarray of float32, shape (n, d)

    Raises
    ------
    TypeError
        If ``dataset`` is not a map-style dataset or its items hold no tensor/array.
    ValueError
        If ``dataset`` is empty or its images differ in shape.
    """
    _check_dataset(dataset)
    standardize = check_bool(standardize, "standardize")
    bs = check_int(batch_size, "batch_size", minimum=1)
    progress = check_bool(progress, "progress")
    source = _array_source(dataset)
    if source is not None:
        out = _pixels_from_array(*source, bs, progress)
    else:
        out = _collect(_loader_batches(dataset, bs), len(dataset), "pixels", progress)
    if standardize:
        standardize_(out, batch_size=bs)
    return out


def pixel_batches(dataset: Any, *, batch_size: int = 1024) -> Iterator[torch.Tensor]:
    """Yield the rows of :func:`pixel_features` (unstandardised) a batch at a time.

    Each batch is a float32 tensor of shape ``(b, d)``, in dataset order. For an
    array-backed dataset (see :func:`is_array_backed`) this streams over the
    image array without ever holding the full ``(n, d)`` float matrix, which is
    how CC-OR scores CIFAR-10 in two cheap passes.
    """
    _check_dataset(dataset)
    bs = check_int(batch_size, "batch_size", minimum=1)
    return _pixel_batch_iter(dataset, bs)


def _pixel_batch_iter(dataset: Any, batch_size: int) -> Iterator[torch.Tensor]:
    source = _array_source(dataset)
    if source is None:
        for xb in _loader_batches(dataset, batch_size):
            yield xb.reshape(xb.shape[0], -1)
        return
    images, rows, scale = source
    d = int(np.prod(images.shape[1:]))
    for xb in _array_batches(images, rows, scale, batch_size):
        yield xb.reshape(xb.shape[0], d)


def is_array_backed(dataset: Any) -> bool:
    """Whether ``dataset`` is an :class:`~proxydata.datasets.ArrayDataset` without a
    transform (or a ``Subset`` of one), whose pixels can be read straight from memory."""
    return _array_source(dataset) is not None


def model_features(
    dataset: Any,
    model: nn.Module,
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    progress: bool = True,
) -> np.ndarray:
    """Output of ``model`` on every sample, flattened to one row each.

    The model runs in eval mode under ``torch.no_grad()`` on batches of the
    item images ``x``; its training flag is restored afterwards. Row ``i`` is
    ``model(x_i)`` flattened, as float32.

    Parameters
    ----------
    dataset : map-style dataset of ``(x, y, ...)`` items
    model : torch.nn.Module
        Any feature extractor, e.g. a backbone without its classifier.
    device : str or torch.device
        Where the model and the batches run.
    batch_size : int
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    np.ndarray of float32, shape (n, d)
    """
    _check_dataset(dataset)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    dev = check_device(device)
    bs = check_int(batch_size, "batch_size", minimum=1)
    progress = check_bool(progress, "progress")
    source = _array_source(dataset)
    if source is not None:
        images, rows, scale = source
        batches = _array_batches(images, rows, scale, bs)
    else:
        batches = _loader_batches(dataset, bs)

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            outputs = (model(xb.to(dev)).reshape(xb.shape[0], -1) for xb in batches)
            return _collect(outputs, len(dataset), "model features", progress)
    finally:
        model.train(was_training)


def standardize_(x: np.ndarray, *, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Standardise the columns of a float32 matrix in place.

    ``x_ij <- (x_ij - mean_j) / std_j`` with the population standard deviation
    ``std_j = sqrt(mean_i (x_ij - mean_j)^2)``, and ``std_j = 1`` for a constant
    column (as scikit-learn's ``StandardScaler``). Both moments are accumulated
    in float64 over chunks of ``batch_size`` rows (two passes, no cancellation
    of a sum-of-squares formula), so only a chunk is ever held in float64; they
    are then applied in float32 as ``(x - mean) * (1 / std)``.

    Returns
    -------
    mean, std : np.ndarray of float64, shape (d,)
        The moments that were applied.
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 2:
        raise TypeError(f"x must be a 2-D float32 numpy array, got {_describe(x)}")
    if not x.flags.writeable:
        raise ValueError("x must be writeable (it is standardised in place)")
    bs = check_int(batch_size, "batch_size", minimum=1)
    n, d = x.shape
    if n == 0:
        raise ValueError("x must have at least one row")
    total = np.zeros(d, dtype=np.float64)
    for start in range(0, n, bs):
        total += x[start : start + bs].sum(axis=0, dtype=np.float64)
    mean = total / n
    sq = np.zeros(d, dtype=np.float64)
    for start in range(0, n, bs):
        dev = x[start : start + bs].astype(np.float64)
        dev -= mean
        dev *= dev
        sq += dev.sum(axis=0)
    std = np.sqrt(sq / n)
    # A constant float32 column has an exact float64 mean, hence std exactly 0.
    std[std == 0.0] = 1.0
    # Applied in float32 (the result is float32 anyway): one cheap in-place pass.
    shift = mean.astype(np.float32)
    factor = (1.0 / std).astype(np.float32)
    for start in range(0, n, bs):
        block = x[start : start + bs]
        block -= shift
        block *= factor
    return mean, std


# -- sources -----------------------------------------------------------------------


def _check_dataset(dataset: Any) -> None:
    if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
        raise TypeError(f"dataset must be a map-style dataset, got {type(dataset).__name__}")
    if len(dataset) == 0:
        raise ValueError("dataset must not be empty, got 0 samples")


def _array_source(dataset: Any) -> tuple[np.ndarray, np.ndarray | None, float] | None:
    """``(images, rows or None, scale)`` when ``dataset`` is served from one array."""
    rows: np.ndarray | None = None
    while isinstance(dataset, Subset):
        idx = np.asarray(dataset.indices, dtype=np.int64)
        rows = idx if rows is None else idx[rows]
        dataset = dataset.dataset
    if isinstance(dataset, ArrayDataset) and dataset.transform is None:
        return dataset.images, rows, dataset.scale
    return None


def _array_batches(
    images: np.ndarray, rows: np.ndarray | None, scale: float, batch_size: int
) -> Iterator[torch.Tensor]:
    n = images.shape[0] if rows is None else rows.shape[0]
    divisor = np.float32(scale)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        chunk = images[start:stop] if rows is None else images[rows[start:stop]]
        block = chunk.astype(np.float32)
        # float32(x) / float32(scale), bit-identical to ArrayDataset.__getitem__'s
        # torch division. numpy, single-threaded: this is memory-bound work, and
        # torch's thread pool only slows it down when the cores are busy.
        np.divide(block, divisor, out=block)
        yield torch.from_numpy(block)


def _pixels_from_array(
    images: np.ndarray, rows: np.ndarray | None, scale: float, batch_size: int, progress: bool
) -> np.ndarray:
    # Converts chunk by chunk into one preallocated float32 matrix: no uint8 copy
    # of a Subset's rows and no temporary larger than a chunk.
    n = images.shape[0] if rows is None else rows.shape[0]
    d = int(np.prod(images.shape[1:]))
    out = np.empty((n, d), dtype=np.float32)
    divisor = np.float32(scale)
    from tqdm.auto import tqdm

    with tqdm(total=n, desc="pixels", unit="img", disable=not progress, leave=False) as bar:
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            chunk = images[start:stop] if rows is None else images[rows[start:stop]]
            block = out[start:stop]
            block[...] = chunk.reshape(stop - start, d)
            np.divide(block, divisor, out=block)  # as in _array_batches
            bar.update(stop - start)
    return out


def _first_tensor(item: Any) -> torch.Tensor:
    x = item[0] if isinstance(item, (tuple, list)) else item
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x)
    raise TypeError(
        f"dataset items must be (x, y, ...) with x a tensor or array, got x of type {type(x).__name__} "
        "(add a transform such as torchvision's ToTensor)"
    )


def _stack_images(items: list[Any]) -> torch.Tensor:
    tensors = [_first_tensor(item) for item in items]
    shape = tensors[0].shape
    for t in tensors[1:]:
        if t.shape != shape:
            raise ValueError(f"dataset images must share one shape, got {tuple(shape)} and {tuple(t.shape)}")
    return torch.stack(tensors).float()


def _loader_batches(dataset: Any, batch_size: int) -> Iterator[torch.Tensor]:
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=_stack_images)
    yield from loader


def _collect(batches: Iterator[torch.Tensor], n: int, desc: str, progress: bool) -> np.ndarray:
    """Write flattened float32 batches into one preallocated ``(n, d)`` matrix."""
    from tqdm.auto import tqdm

    out: np.ndarray | None = None
    pos = 0
    with tqdm(total=n, desc=desc, unit="img", disable=not progress, leave=False) as bar:
        for batch in batches:
            rows = batch.detach().reshape(batch.shape[0], -1).float().cpu().numpy()
            if out is None:
                out = np.empty((n, rows.shape[1]), dtype=np.float32)
            elif rows.shape[1] != out.shape[1]:
                raise ValueError(f"features must share one size, got {out.shape[1]} and {rows.shape[1]}")
            if pos + rows.shape[0] > n:
                raise ValueError(f"dataset yielded more than len(dataset)={n} items")
            out[pos : pos + rows.shape[0]] = rows
            pos += rows.shape[0]
            bar.update(rows.shape[0])
    if out is None or pos != n:
        raise ValueError(f"dataset yielded {pos} items, expected len(dataset)={n}")
    return out


def _describe(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"array of dtype {x.dtype} and shape {x.shape}"
    return type(x).__name__
