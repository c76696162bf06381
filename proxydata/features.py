"""Sample features for the geometric proxy samplers (KM-OR, CC-OR).

Two kinds: the raw pixels of every image, flattened (``C*H*W`` values, 3,072
for CIFAR), optionally standardised per feature as the reference code of
Moser et al. (2022) does for KM-OR; and the output of any ``nn.Module`` run
over the dataset (an embedding). Both return one float32 matrix of shape
``(n, d)``; no float64 copy of it is ever made (a float64 CIFAR-10 pixel
matrix would take 1.2 GB).

Features larger than memory live in a ``.npy`` file, memory-mapped
(:func:`load_features`; :func:`extract_features` writes one across the ranks of
a ``torch.distributed`` group). :class:`FeatureMatrix` reads any such matrix a
chunk of rows at a time, standardised on the fly when asked
(:func:`column_moments`), so that KM-OR, CC-OR and the standardisation never
hold a second copy of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ._threads import warn_if_threads_oversubscribe
from ._validation import check_bool, check_device, check_int
from .batches import array_source
from .exceptions import ProxydataTypeError, ProxydataValueError
from .feature_files import InputCollate, extract_features, load_features, model_identity
from .items import ItemReader

__all__ = [
    "FeatureMatrix",
    "column_moments",
    "extract_features",
    "is_array_backed",
    "load_features",
    "model_features",
    "model_identity",
    "pixel_batches",
    "pixel_features",
    "standardize_",
    "stored_features",
]

#: Bytes of float32 per chunk a :class:`FeatureMatrix` reads at a time (about 8 MB:
#: large enough for BLAS, small enough to stay in cache-friendly buffers).
CHUNK_BYTES = 8 * 2**20
#: Bytes of float64 :func:`column_moments` converts at a time.
MOMENT_BYTES = 2 * 2**20


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
    warn_if_threads_oversubscribe("feature extraction", dev)
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
    column (as scikit-learn's ``StandardScaler``). The moments come from
    :func:`column_moments` (one pass in float64 chunks); they are then applied in
    float32 as ``(x - mean) * (1 / std)``, the arithmetic :class:`FeatureMatrix`
    applies on the fly.

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
    if x.shape[0] == 0:
        raise ProxydataValueError("x must have at least one row")
    mean, std = column_moments(x, chunk_rows=bs)
    shift, factor = _applied(mean, std)
    for start in range(0, x.shape[0], bs):
        block = x[start : start + bs]
        block -= shift
        block *= factor
    return mean, std


def column_moments(x: Any, *, chunk_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Column means and population standard deviations of an ``(n, d)`` matrix, in one streaming pass.

    Every chunk of rows is converted to float64 and reduced to its own mean and
    sum of squared deviations, and the chunks are merged with the pairwise
    update of Chan, Golub & LeVeque (1979):
    ``delta = mean_b - mean``, ``mean += delta * n_b / N``,
    ``M2 += M2_b + delta^2 * n_a * n_b / N``; ``std = sqrt(M2 / n)``, with
    ``std_j = 1`` where a column is constant. Only one chunk is ever held in
    float64, and a memory-mapped matrix is read once, sequentially.

    Parameters
    ----------
    x : np.ndarray, np.memmap, torch.Tensor or FeatureMatrix
        The raw (unstandardised) values.
    chunk_rows : int, optional
        Rows per chunk (default: about 2 MB of float64).

    Returns
    -------
    mean, std : np.ndarray of float64, shape (d,)

    Raises
    ------
    ValueError
        If a value is NaN or inf (naming the first such sample).
    """
    matrix = x if isinstance(x, FeatureMatrix) else FeatureMatrix(x)
    raw = FeatureMatrix(matrix.x) if matrix.standardized else matrix
    if chunk_rows is None:  # about 2 MB of float64 at a time
        rows = int(max(16, MOMENT_BYTES // (8 * raw.d)))
    else:
        rows = check_int(chunk_rows, "chunk_rows", minimum=1)
    d = raw.d
    mean = np.zeros(d, dtype=np.float64)
    m2 = np.zeros(d, dtype=np.float64)
    buf = np.empty((min(rows, raw.n), d), dtype=np.float64)
    count = 0
    for _, block in raw.chunks(rows):
        b = block.shape[0]
        wide = buf[:b]
        wide[...] = block
        block_mean = wide.sum(axis=0) / b
        wide -= block_mean
        wide *= wide
        block_m2 = wide.sum(axis=0)
        total = count + b
        delta = block_mean - mean
        mean += delta * (b / total)
        m2 += block_m2 + delta * delta * (count * b / total)
        count = total
    if not (np.isfinite(mean).all() and np.isfinite(m2).all()):
        raw.check_finite("x")
    std = np.sqrt(m2 / count)
    # A constant column has an exact float64 mean and deviations of exactly 0.
    std[std == 0.0] = 1.0
    return mean, std


def _applied(mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The float32 shift and factor standardisation applies: ``(x - shift) * factor``."""
    return mean.astype(np.float32), (1.0 / std).astype(np.float32)


class FeatureMatrix:
    """An ``(n, d)`` feature matrix read a chunk of rows at a time, optionally standardised on the fly.

    Wraps an array without copying it: an in-memory array, a memory-mapped
    ``.npy`` (:func:`load_features`) or a CPU tensor. With ``mean``/``std``
    every row read is ``(x - mean) * (1 / std)`` in float32, exactly what
    :func:`standardize_` writes in place, so a standardised matrix never has to
    exist as a whole. Chunks are float32 and C-contiguous; they are views of
    ``x`` when it is float32, C-contiguous and not standardised, else written
    into one reused buffer (valid until the next chunk is read).

    Parameters
    ----------
    x : np.ndarray, np.memmap or torch.Tensor of shape (n, d)
        Numeric values; any numeric dtype (converted a chunk at a time).
    mean, std : np.ndarray of shape (d,), optional
        Standardise with these moments (both or neither).
    chunk_rows : int, optional
        Rows per chunk (default: about 8 MB of float32, at least 64 rows).

    Attributes
    ----------
    x : np.ndarray
        The wrapped matrix, as given (a tensor as its numpy view).
    n, d : int
    standardized : bool
    """

    def __init__(
        self,
        x: Any,
        *,
        mean: np.ndarray | None = None,
        std: np.ndarray | None = None,
        chunk_rows: int | None = None,
    ) -> None:
        arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x
        if not isinstance(arr, np.ndarray):
            raise ProxydataTypeError(f"x must be a numpy array, memmap or torch.Tensor, got {_describe(x)}")
        if arr.ndim != 2:
            raise ProxydataValueError(f"x must be 2-D (n, d), got shape {tuple(arr.shape)}")
        if arr.dtype == bool or arr.dtype.kind not in "iuf":
            raise ProxydataTypeError(f"x must be numeric, got dtype {arr.dtype}")
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ProxydataValueError(f"x must not be empty, got shape {tuple(arr.shape)}")
        if (mean is None) != (std is None):
            raise ProxydataValueError("mean and std must be given together")
        self.x = arr
        self.n, self.d = int(arr.shape[0]), int(arr.shape[1])
        self.standardized = mean is not None
        self._shift: np.ndarray | None = None
        self._factor: np.ndarray | None = None
        if mean is not None and std is not None:
            mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
            if mean.shape != (self.d,) or std.shape != (self.d,):
                raise ProxydataValueError(
                    f"mean and std must have shape ({self.d},), got {mean.shape} and {std.shape}"
                )
            self._shift, self._factor = _applied(mean, std)
        self.chunk_rows = (
            self.default_chunk_rows()
            if chunk_rows is None
            else check_int(chunk_rows, "chunk_rows", minimum=1)
        )

    @classmethod
    def standardize(cls, x: Any, *, chunk_rows: int | None = None) -> FeatureMatrix:
        """``x`` standardised per column with its own :func:`column_moments` (one pass over ``x``)."""
        matrix = cls(x, chunk_rows=chunk_rows)
        mean, std = column_moments(matrix)
        return cls(matrix.x, mean=mean, std=std, chunk_rows=chunk_rows)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.d)

    @property
    def is_view(self) -> bool:
        """Whether rows are read without conversion (float32, C-contiguous, not standardised)."""
        return not self.standardized and self.x.dtype == np.float32 and self.x.flags.c_contiguous

    def default_chunk_rows(self) -> int:
        return int(max(64, CHUNK_BYTES // (4 * self.d)))

    def chunks(self, chunk_rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, rows)`` for consecutive chunks, in order: ``rows`` are rows ``start, start + 1, ...``."""
        rows = self.chunk_rows if chunk_rows is None else chunk_rows
        if self.is_view:
            for start in range(0, self.n, rows):
                yield start, self.x[start : start + rows]
            return
        buf = np.empty((min(rows, self.n), self.d), dtype=np.float32)
        for start in range(0, self.n, rows):
            block = self.x[start : start + rows]
            yield start, self._convert(block, buf[: block.shape[0]])

    def raw_chunks(self, chunk_rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """As :meth:`chunks`, but not standardised: the stored values as float32
        (views when ``x`` is float32 and C-contiguous). Standardised rows are
        ``(raw - shift) * factor``."""
        return FeatureMatrix(self.x, chunk_rows=self.chunk_rows).chunks(chunk_rows)

    @property
    def shift(self) -> np.ndarray | None:
        """The float32 ``mean`` standardisation subtracts (None when not standardised)."""
        return self._shift

    @property
    def factor(self) -> np.ndarray | None:
        """The float32 ``1 / std`` standardisation multiplies by (None when not standardised)."""
        return self._factor

    def take(self, index: np.ndarray) -> np.ndarray:
        """Rows ``index`` (sorted reads are fastest on a memory-mapped file) as a new float32 array."""
        idx = np.asarray(index, dtype=np.int64)
        return self._convert(self.x[idx], np.empty((idx.shape[0], self.d), dtype=np.float32))

    def materialize(self) -> np.ndarray:
        """The whole (standardised) float32 matrix in memory: ``x`` itself when no conversion is
        needed and ``x`` is not memory-mapped, else a new array (the copy this class otherwise avoids)."""
        if self.is_view and not isinstance(self.x, np.memmap):
            return self.x
        out = np.empty((self.n, self.d), dtype=np.float32)
        for start, block in self.chunks():
            out[start : start + block.shape[0]] = block
        return out

    def check_finite(self, name: str = "features") -> None:
        """Raise ``ValueError`` naming the first sample holding a NaN or inf value.

        One pass that sums every chunk (a non-finite value makes its chunk's sum
        non-finite; overflow of a finite sum is told apart by a second look).
        """
        for start, block in FeatureMatrix(self.x, chunk_rows=self.chunk_rows).chunks():
            if not np.isfinite(block.sum(dtype=np.float64)):
                bad = ~np.isfinite(block).all(axis=1)
                if bad.any():
                    first = start + int(np.flatnonzero(bad)[0])
                    raise ProxydataValueError(
                        f"{name} must be finite, got NaN or inf values (first at sample {first})"
                    )

    def _convert(self, block: np.ndarray, out: np.ndarray) -> np.ndarray:
        if self._shift is None or self._factor is None:
            out[...] = block
            return out
        np.subtract(block, self._shift, out=out, casting="same_kind")
        out *= self._factor
        return out


def stored_features(dataset: Any, input_key: str | None = None) -> np.ndarray | None:
    """The pixel matrix of ``dataset`` as a view of its stored array, when no conversion is needed.

    For a dataset whose inputs are one float32, C-contiguous array read without
    scaling (a float ``TensorDataset``, an ``ArrayDataset`` of float32 images,
    not behind a ``Subset``), row ``i`` of the returned ``(n, d)`` view equals
    row ``i`` of :func:`pixel_features` — without reading a single item or
    copying a byte. None otherwise (uint8 images must be converted).
    """
    _check_dataset(dataset)
    source = array_source(dataset, input_key)
    if source is None or source.rows is not None or source.scale not in (None, 1.0):
        return None
    storage = source.storage
    if isinstance(storage, torch.Tensor):
        if storage.device.type != "cpu" or storage.dtype != torch.float32 or storage.requires_grad:
            return None
        storage = storage.numpy()
    if not isinstance(storage, np.ndarray) or storage.dtype != np.float32 or not storage.flags.c_contiguous:
        return None
    if storage.ndim < 1 or storage.shape[0] != len(dataset):
        return None
    return storage.reshape(storage.shape[0], -1)


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
    collate = InputCollate(ItemReader(input_key))
    return iter(DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate))


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
