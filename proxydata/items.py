"""How the library reads one item of a user's dataset.

A dataset's items are either tuples ``(x, y, ...)`` (torchvision,
``TensorDataset``) or dicts ``{"image": x, "label": y, ...}`` (Hugging Face
``datasets``, WebDataset-style pipelines). :class:`ItemReader` takes the input
and the label out of either kind; the keys of dict items are given
(``input_key=``, ``label_key=``) or found among the common names
:data:`INPUT_KEYS` and :data:`LABEL_KEYS`.

:func:`pixels_to_float` is the library's one conversion of stored pixels to the
float values every sampler works on: uint8 divided by 255, anything else as is
(or divided by an explicit ``scale``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import torch

from ._validation import check_int, show
from .exceptions import ProxydataTypeError, ProxydataValueError

__all__ = [
    "INPUT_KEYS",
    "LABEL_KEYS",
    "UNSTABLE_CHECKS",
    "ItemReader",
    "default_scale",
    "first_unstable_item",
    "hf_column",
    "input_tensor",
    "is_hf_column",
    "is_hf_dataset",
    "pixels_to_float",
]

#: Keys tried, in order, for the input of a dict item.
INPUT_KEYS: tuple[str, ...] = ("image", "img", "pixel_values")
#: Keys tried, in order, for the label of a dict item.
LABEL_KEYS: tuple[str, ...] = ("label", "labels", "fine_label")

SUPPORTED_ITEMS = (
    "(x, y, ...) tuples, or dicts with an input key "
    f"({', '.join(INPUT_KEYS)}, or input_key=...) and a label key "
    f"({', '.join(LABEL_KEYS)}, or label_key=...)"
)


def pixels_to_float(x: np.ndarray | torch.Tensor, scale: float | None = None) -> torch.Tensor:
    """Stored pixels as a float32 tensor: ``float32(x) / float32(scale)``.

    With ``scale=None`` uint8 values are divided by 255 (to ``[0, 1]``, as
    torchvision's ``ToTensor``) and every other dtype is only cast to float32.
    The division is one correctly rounded float32 operation, so a batch and
    the same images converted one at a time are bit-identical.

    Parameters
    ----------
    x : np.ndarray or torch.Tensor
        Any shape; one image or a batch.
    scale : float, optional
        Divisor; overrides the dtype rule (e.g. 16 for scikit-learn's digits).

    Returns
    -------
    torch.Tensor of float32, same shape as ``x`` (on ``x``'s device)
    """
    if scale is None:
        scale = default_scale(x.dtype)
    if isinstance(x, torch.Tensor):
        out = x.to(torch.float32)
        return out / scale if scale != 1.0 else out
    block = np.asarray(x).astype(np.float32)
    if scale != 1.0:
        # numpy, single-threaded: memory-bound work that torch's thread pool only slows down.
        np.divide(block, np.float32(scale), out=block)
    return torch.from_numpy(block)


def default_scale(dtype: np.dtype | torch.dtype) -> float:
    """The divisor :func:`pixels_to_float` applies by default: 255 for uint8, else 1."""
    return 255.0 if dtype in (np.uint8, torch.uint8) else 1.0


def input_tensor(x: Any) -> torch.Tensor:
    """One item's input as a tensor, values and dtype unchanged.

    A tensor is returned as is, an array or a nested list of numbers is
    converted, and a PIL image becomes ``(C, H, W)`` (the layout of torchvision's
    ``ToTensor``; a one-band image stays ``(H, W)``).

    Raises
    ------
    TypeError
        For anything else (a string, a dict, ...), naming what is supported.
    """
    if isinstance(x, torch.Tensor):
        return x
    if _is_pil_image(x):
        arr = np.array(x)
        return torch.from_numpy(arr.transpose(2, 0, 1).copy() if arr.ndim == 3 else arr)
    if isinstance(x, (np.ndarray, list, tuple)) or np.isscalar(x):
        arr = np.asarray(x)
        if arr.dtype.kind in "biuf":
            return torch.from_numpy(np.ascontiguousarray(arr))
    raise ProxydataTypeError(
        f"an item's input must be a tensor, a numpy array, a PIL image or a nested list of numbers, "
        f"got {type(x).__name__}: {show(x)}"
    )


def _is_pil_image(x: Any) -> bool:
    return type(x).__module__.startswith("PIL.") and hasattr(x, "getbands")


def is_hf_dataset(obj: Any) -> bool:
    """Whether ``obj`` is a map-style Hugging Face ``datasets.Dataset`` (no import of ``datasets``)."""
    return (
        type(obj).__module__.startswith("datasets.")
        and hasattr(obj, "column_names")
        and hasattr(obj, "with_format")
        and hasattr(obj, "__len__")
    )


def is_hf_column(obj: Any) -> bool:
    """Whether ``obj`` is a lazy column of a Hugging Face dataset (``dataset["label"]``, datasets >= 4)."""
    return type(obj).__module__.startswith("datasets.") and type(obj).__name__ == "Column"


def hf_column(dataset: Any, key: str) -> np.ndarray:
    """One column of a Hugging Face dataset as a numpy array, read in one call.

    Reads the stored values (a ``set_transform`` is not applied), in the
    dataset's row order (a ``select``/``shuffle`` is).
    """
    if key not in dataset.column_names:
        raise ProxydataValueError(
            f"key {key!r} is not a column of the dataset; columns: {dataset.column_names}"
        )
    return np.asarray(dataset.select_columns([key]).with_format("numpy")[:][key])


def find_key(keys: Collection[str], given: str | None, candidates: tuple[str, ...], what: str) -> str:
    """``given`` if it is one of ``keys``, else the one candidate among ``keys``, else raise.

    Parameters
    ----------
    keys : the keys of an item (or the columns of a dataset)
    given : the user's ``input_key`` / ``label_key``, or None to auto-detect
    candidates : the common names tried
    what : ``"input_key"`` or ``"label_key"``, for messages
    """
    if given is not None:
        if given not in keys:
            raise ProxydataValueError(
                f"{what}={given!r} is not a key of the dataset's items; keys: {sorted(keys)}"
            )
        return given
    found = [k for k in candidates if k in keys]
    if len(found) == 1:
        return found[0]
    if not found:
        raise ProxydataValueError(
            f"no {what.split('_')[0]} key found among the item keys {sorted(keys)} "
            f"(tried {list(candidates)}); pass {what}=..."
        )
    raise ProxydataValueError(f"several possible {what}s {found} in the item keys; pass {what}=... to choose")


class ItemReader:
    """Take the input and the label out of a dataset's items.

    Tuple items give ``item[0]`` and ``item[1]``; dict items give
    ``item[input_key]`` and ``item[label_key]``, each key given or found once
    among :data:`INPUT_KEYS` / :data:`LABEL_KEYS` (exactly one must be present).
    A bare item (neither tuple nor dict) is its own input and has no label.

    Parameters
    ----------
    input_key, label_key : str, optional
        Keys of dict items; with tuple items they must be None.
    """

    def __init__(self, input_key: str | None = None, label_key: str | None = None) -> None:
        for name, value in (("input_key", input_key), ("label_key", label_key)):
            if value is not None and not isinstance(value, str):
                raise ProxydataTypeError(f"{name} must be a str or None, got {show(value)}")
        self.input_key = input_key
        self.label_key = label_key
        self._resolved: dict[str, str] = {}

    def input(self, item: Any, index: int | None = None) -> Any:
        """The input ``x`` of ``item`` (``index`` is only for messages)."""
        if isinstance(item, Mapping):
            return item[self._key(item, "input_key", self.input_key, INPUT_KEYS)]
        if isinstance(item, (tuple, list)):
            self._no_keys_for_tuples(item, index)
            if not item:
                raise ProxydataTypeError(
                    f"dataset items must be {SUPPORTED_ITEMS}; got an empty {_at(item, index)}"
                )
            return item[0]
        if self.input_key is not None:
            raise ProxydataTypeError(f"input_key={self.input_key!r} needs dict items, got {_at(item, index)}")
        return item

    def label(self, item: Any, index: int | None = None) -> Any:
        """The label ``y`` of ``item``."""
        if isinstance(item, Mapping):
            return item[self._key(item, "label_key", self.label_key, LABEL_KEYS)]
        if isinstance(item, (tuple, list)) and len(item) >= 2:
            self._no_keys_for_tuples(item, index)
            return item[1]
        raise ProxydataTypeError(f"dataset items must be {SUPPORTED_ITEMS}; got {_at(item, index)}")

    def input_key_for(self, keys: Collection[str]) -> str:
        """The input key among ``keys`` (a Hugging Face dataset's columns): given, or the one common name."""
        return self._resolve(keys, "input_key", self.input_key, INPUT_KEYS)

    def label_key_for(self, keys: Collection[str]) -> str:
        """The label key among ``keys``: given, or the one common name."""
        return self._resolve(keys, "label_key", self.label_key, LABEL_KEYS)

    def _key(self, item: Mapping, what: str, given: str | None, candidates: tuple[str, ...]) -> str:
        key = self._resolved.get(what)
        if key is None or key not in item:
            key = self._resolve(item.keys(), what, given, candidates)
        return key

    def _resolve(
        self, keys: Collection[str], what: str, given: str | None, candidates: tuple[str, ...]
    ) -> str:
        key = find_key(keys, given, candidates, what)
        self._resolved[what] = key
        return key

    def _no_keys_for_tuples(self, item: Any, index: int | None) -> None:
        if self.input_key is not None or self.label_key is not None:
            raise ProxydataTypeError(
                f"input_key/label_key apply to dict items; the dataset's items are tuples "
                f"({_at(item, index)})"
            )

    def __repr__(self) -> str:
        return f"ItemReader(input_key={self.input_key!r}, label_key={self.label_key!r})"


#: How many items :func:`first_unstable_item` reads twice.
UNSTABLE_CHECKS = 16


def first_unstable_item(
    dataset: Any, k: int = UNSTABLE_CHECKS, *, input_key: str | None = None
) -> int | None:
    """The first of ``k`` evenly spaced positions whose input differs between two reads, else None.

    Reads item ``p`` twice at ``p_j = floor(j·(n−1)/(k−1))``, ``j = 0..k−1``
    (``min(k, n)`` positions), and compares the two inputs: their shapes, dtypes
    and values (a tensor, an array, a PIL image, nested lists), else ``==``. A
    random transform (torchvision's ``transform=``, a Hugging Face
    ``with_transform``) is caught unless it left all ``k`` items unchanged on
    both reads (a flip with probability 1/2 escapes with probability
    ``2**-16``). Cost: ``2·k`` item reads.

    Parameters
    ----------
    dataset : map-style dataset
    k : int
        Positions read.
    input_key : str, optional
        Input key of dict items (see :class:`ItemReader`).

    Returns
    -------
    int or None
        A position (in ``dataset``) whose two reads differ.
    """
    n = len(dataset)
    k = min(check_int(k, "k", minimum=1), n)
    positions = [(j * (n - 1)) // (k - 1) for j in range(k)] if k > 1 else list(range(k))
    reader = ItemReader(input_key)
    for p in positions:
        first, second = reader.input(dataset[p], p), reader.input(dataset[p], p)
        if not _same_input(first, second):
            return p
    return None


def _same_input(a: Any, b: Any) -> bool:
    try:
        ta, tb = input_tensor(a), input_tensor(b)
    except ProxydataTypeError:
        try:
            return bool(a == b)
        except Exception:  # an object without a usable ==: no evidence that it changed
            return True
    if ta.shape != tb.shape or ta.dtype != tb.dtype:
        return False
    # compared as bytes: a NaN pixel equals itself
    raw_a = ta.detach().contiguous().reshape(-1).view(torch.uint8)
    raw_b = tb.detach().contiguous().reshape(-1).view(torch.uint8)
    return bool(torch.equal(raw_a.cpu(), raw_b.cpu()))


def _at(item: Any, index: int | None) -> str:
    where = "" if index is None else f" at index {index}"
    return f"{type(item).__name__}{where}"
