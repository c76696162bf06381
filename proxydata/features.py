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
from torch.utils.data import DataLoader

from ._validation import check_bool, check_device, check_int
from .batches import array_source
from .exceptions import ProxydataTypeError, ProxydataValueError
from .items import ItemReader, input_tensor, pixels_to_float

__all__ = ["is_array_backed", "model_features", "pixel_batches", "pixel_features", "standardize_"]


def pixel_features(
    dataset: Any,
    *,
    standardize: bool = False,
    batch_size: int = 1024,
    progress: bool = True,
    input_key: str | None = None,
) -> np.ndarray:
    """Raw pixels of every sample, flattened to one row each.

    Row ``i`` is item ``i``'s input ``x`` (``dataset[i][0]``, or
    ``dataset[i][input_key]`` for dict items) flattened in ``(C, H, W)`` order,
    as float32 with uint8 pixels scaled to ``[0, 1]``
    (:func:`~proxydata.items.pixels_to_float`). With ``standardize=True`` every column
    ``j`` is replaced by ``(x_j - mean_j) / std_j`` (population std; a constant
    column gets ``std_j = 1``), i.e. scikit-learn's ``StandardScaler``, which the
    paper code applies to the pixels before KM-OR.

    A dataset whose inputs are stored in one array (see
    :func:`is_array_backed`: an ``ArrayDataset`` without a transform, a
    ``TensorDataset``, a Hugging Face dataset, behind ``Subset`` /
    ``IndexedDataset`` wrappers) is read straight from it, a chunk at a time;
    any other dataset of ``(x, y, ...)`` items, dict items or bare ``x`` items
    is read through a ``DataLoader``.

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
    input_key : str, optional
        Input key of dict items; when None, the one present among ``image``,
        ``img``, ``pixel_values``.

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
    out = _collect(_input_batches(dataset, bs, input_key), len(dataset), "pixels", progress)
    if standardize:
        standardize_(out, batch_size=bs)
    return out


def pixel_batches(
    dataset: Any, *, batch_size: int = 1024, input_key: str | None = None
) -> Iterator[torch.Tensor]:
    """Yield the rows of :func:`pixel_features` (unstandardised) a batch at a time.

    Each batch is a float32 tensor of shape ``(b, d)``, in dataset order. For an
    array-backed dataset (see :func:`is_array_backed`) this streams over the
    image array without ever holding the full ``(n, d)`` float matrix, which is
    how CC-OR scores CIFAR-10 in two cheap passes.
    """
    _check_dataset(dataset)
    bs = check_int(batch_size, "batch_size", minimum=1)
    return (xb.reshape(xb.shape[0], -1) for xb in _input_batches(dataset, bs, input_key))


def is_array_backed(dataset: Any, input_key: str | None = None) -> bool:
    """Whether the inputs of ``dataset`` can be read in slices from one stored array.

    True for an :class:`~proxydata.datasets.ArrayDataset` without a transform,
    a :class:`~torch.utils.data.TensorDataset` and a Hugging Face dataset
    without a ``set_transform``, also behind :class:`~torch.utils.data.Subset`
    and :class:`~proxydata.IndexedDataset` wrappers
    (:func:`proxydata.batches.array_source`).
    """
    return array_source(dataset, input_key) is not None


def model_features(
    dataset: Any,
    model: nn.Module,
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    progress: bool = True,
    input_key: str | None = None,
) -> np.ndarray:
    """Output of ``model`` on every sample, flattened to one row each.

    The model runs in eval mode under ``torch.no_grad()`` on batches of the
    item images ``x``; its training flag is restored afterwards. Row ``i`` is
    ``model(x_i)`` flattened, as float32.

    Parameters
    ----------
    dataset : map-style dataset of ``(x, y, ...)`` or dict items
        Inputs as :func:`pixel_features` reads them (uint8 scaled to ``[0, 1]``).
    model : torch.nn.Module
        Any feature extractor, e.g. a backbone without its classifier.
    device : str or torch.device
        Where the model and the batches run.
    batch_size : int
    progress : bool
        Show a tqdm progress bar.
    input_key : str, optional
        Input key of dict items (see :func:`pixel_features`).

    Returns
    -------
    np.ndarray of float32, shape (n, d)
    """
    _check_dataset(dataset)
    if not isinstance(model, nn.Module):
        raise ProxydataTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    dev = check_device(device)
    bs = check_int(batch_size, "batch_size", minimum=1)
    progress = check_bool(progress, "progress")
    batches = _input_batches(dataset, bs, input_key)
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
        raise ProxydataTypeError(f"x must be a 2-D float32 numpy array, got {_describe(x)}")
    if not x.flags.writeable:
        raise ProxydataValueError("x must be writeable (it is standardised in place)")
    bs = check_int(batch_size, "batch_size", minimum=1)
    n, d = x.shape
    if n == 0:
        raise ProxydataValueError("x must have at least one row")
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
        raise ProxydataTypeError(f"dataset must be a map-style dataset, got {type(dataset).__name__}")
    if len(dataset) == 0:
        raise ProxydataValueError("dataset must not be empty, got 0 samples")


def _input_batches(dataset: Any, batch_size: int, input_key: str | None) -> Iterator[torch.Tensor]:
    """Float32 input batches ``(b, ...)`` in dataset order: from the stored array, else via a DataLoader."""
    source = array_source(dataset, input_key)
    if source is not None:
        return source.batches(batch_size)
    collate = _StackInputs(ItemReader(input_key))
    return iter(DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate))


class _StackInputs:
    """DataLoader ``collate_fn``: the items' inputs as float32, stacked (a class: workers pickle it)."""

    def __init__(self, reader: ItemReader) -> None:
        self.reader = reader

    def __call__(self, items: list[Any]) -> torch.Tensor:
        tensors = [pixels_to_float(input_tensor(self.reader.input(item))) for item in items]
        shape = tensors[0].shape
        for t in tensors[1:]:
            if t.shape != shape:
                raise ProxydataValueError(
                    f"dataset images must share one shape, got {tuple(shape)} and {tuple(t.shape)}"
                )
        return torch.stack(tensors)


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
                raise ProxydataValueError(
                    f"features must share one size, got {out.shape[1]} and {rows.shape[1]}"
                )
            if pos + rows.shape[0] > n:
                raise ProxydataValueError(f"dataset yielded more than len(dataset)={n} items")
            out[pos : pos + rows.shape[0]] = rows
            pos += rows.shape[0]
            bar.update(rows.shape[0])
    if out is None or pos != n:
        raise ProxydataValueError(f"dataset yielded {pos} items, expected len(dataset)={n}")
    return out


def _describe(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"array of dtype {x.dtype} and shape {x.shape}"
    return type(x).__name__
