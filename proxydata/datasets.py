"""Image datasets held in one array, and the loaders that build them.

:class:`ArrayDataset` items are ``(image tensor (C, H, W) float32, label int)``
and its ``targets`` an int64 array; :func:`load_digits`, :func:`load_npz` and
:func:`load_torchvision` return one. Nothing is downloaded unless
``download=True``. The command line's source strings (``"digits"``,
``"npz:PATH"``, ``"cifar10:ROOT"``, ``"cifar100:ROOT"``) are resolved by
:func:`load_source` (also importable from :mod:`proxydata.sources`).
"""

from __future__ import annotations

import os
import zipfile
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ._validation import check_bool, check_float, check_labels
from .exceptions import ProxydataTypeError, ProxydataValueError
from .items import default_scale, pixels_to_float

__all__ = [
    "SOURCE_FORMS",
    "ArrayDataset",
    "check_finite_images",
    "load_digits",
    "load_npz",
    "load_source",
    "load_torchvision",
]


def check_finite_images(images: np.ndarray, name: str, *, chunk: int = 4096) -> None:
    """Refuse float images holding NaN or inf, naming ``name`` and the first bad image.

    Integer images pass untouched; float images are scanned ``chunk`` images at
    a time (no full-size boolean copy). Every sampler and search would fail on
    such values later, after minutes of work; here it fails before any.
    """
    if images.dtype.kind != "f" or images.ndim == 0:
        return
    for start in range(0, images.shape[0], chunk):
        block = images[start : start + chunk]
        finite = np.isfinite(block.reshape(block.shape[0], -1)).all(axis=1)
        if not finite.all():
            first = start + int(np.flatnonzero(~finite)[0])
            bad = int((~np.isfinite(images)).sum())
            raise ProxydataValueError(
                f"{name} must be finite, got {bad} NaN or inf value(s) (first in image {first}); "
                "clean or drop those images first"
            )


class ArrayDataset(Dataset):
    """Images held in one array, served as float tensors in ``[0, 1]``.

    Parameters
    ----------
    images : np.ndarray or torch.Tensor
        ``(n, H, W)``, ``(n, H, W, C)`` (channels last, as CIFAR arrays) or
        ``(n, C, H, W)`` when ``channels_last=False``. uint8 images are divided
        by 255; float images by ``scale``.
    targets : 1-D integer labels of length n
    scale : float, optional
        Divisor for non-uint8 images (e.g. 16 for scikit-learn digits).
    channels_last : bool, optional
        Whether 4-D images are ``(n, H, W, C)``; guessed when None (last axis of
        size 1, 3 or 4 and the second axis not).
    transform : callable, optional
        Applied to the float image tensor of each item.

    Notes
    -----
    The array is kept as given (uint8 stays uint8: 150 MB for CIFAR-10 rather
    than 600 MB); each item is converted when it is read
    (:func:`~proxydata.items.pixels_to_float`), and the feature extractors read
    whole slices of the array (:func:`~proxydata.batches.array_source`).
    """

    def __init__(
        self,
        images: Any,
        targets: Any,
        *,
        scale: float | None = None,
        channels_last: bool | None = None,
        transform: Any = None,
    ) -> None:
        arr = images.numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
        if arr.ndim == 3:
            arr = arr[:, None, :, :]
        elif arr.ndim == 4:
            if channels_last is None:
                channels_last = arr.shape[-1] in (1, 3, 4) and arr.shape[1] not in (1, 3, 4)
            if channels_last:
                arr = arr.transpose(0, 3, 1, 2)
        else:
            raise ProxydataValueError(f"images must be 3-D or 4-D, got shape {tuple(arr.shape)}")
        if arr.dtype.kind not in "uif":
            raise ProxydataTypeError(f"images must be numeric, got dtype {arr.dtype}")
        check_finite_images(arr, "images")
        self.images = np.ascontiguousarray(arr)
        self.targets = check_labels(targets, "targets", n=arr.shape[0])
        if scale is None:
            scale = default_scale(arr.dtype)
        self.scale = check_float(scale, "scale", strictly_positive=True)
        self.transform = transform

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return int(self.targets.max()) + 1 if self.targets.size else 0

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = pixels_to_float(self.images[index], self.scale)
        if self.transform is not None:
            x = self.transform(x)
        return x, int(self.targets[index])


def load_digits() -> ArrayDataset:
    """scikit-learn's bundled handwritten digits: 1,797 images 1×8×8, 10 classes.

    Pixel values 0..16 are scaled to ``[0, 1]``. No download is needed.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    images = bunch.images.astype(np.float32)
    return ArrayDataset(images, bunch.target.astype(np.int64), scale=16.0)


def load_npz(path: str, split: str = "train", *, scale: float | None = None) -> ArrayDataset:
    """Images and labels from an npz file with arrays ``x_<split>``, ``y_<split>``.

    Accepts channels-last (``(n, H, W, C)``, as the CIFAR files in
    ``shared/data``) or channels-first arrays. The labels must be integers (a
    float label such as ``0.5`` is an error, never truncated). uint8 images are
    scaled by 1/255; float images must already lie in ``[0, 1]`` unless
    ``scale`` is given (a float array holding 0–255 values is an error rather
    than a guess: pass ``scale=255`` or store the images as uint8).

    Parameters
    ----------
    path : str
    split : str
        Suffix of the array names, e.g. ``"train"`` or ``"test"``.
    scale : float, optional
        Divisor of the images (see :class:`ArrayDataset`).

    Raises
    ------
    ValueError
        A missing or unreadable file, absent arrays, float images outside ``[0, 1]``
        or holding NaN/inf.
    TypeError
        Labels that are not integers.
    """
    if not os.path.isfile(path):
        raise ProxydataValueError(f"path does not name an npz file: {path!r}")
    kx, ky = f"x_{split}", f"y_{split}"
    try:
        with np.load(path, allow_pickle=False) as z:
            files = list(z.files)
            images = z[kx] if kx in files else None
            labels = z[ky] if ky in files else None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ProxydataValueError(f"cannot read npz file {path!r}: {exc}") from exc
    if images is None or labels is None:
        raise ProxydataValueError(f"npz file {path!r} lacks arrays {kx!r}/{ky!r}; it has {files}")
    targets = check_labels(labels, f"{ky} of {path!r}")
    check_finite_images(images, f"{kx} of {path!r}")
    if images.dtype.kind == "f" and scale is None and images.size:
        lo, hi = float(np.nanmin(images)), float(np.nanmax(images))
        if lo < 0.0 or hi > 1.0:
            raise ProxydataValueError(
                f"{kx} of {path!r} holds float images with values in [{lo:g}, {hi:g}], not [0, 1]: "
                "store them as uint8 or pass scale= (e.g. scale=255)"
            )
    return ArrayDataset(images, targets, scale=scale)


def load_torchvision(name: str, root: str, *, train: bool = True, download: bool = False) -> Any:
    """CIFAR-10/100 from a torchvision folder, as an :class:`ArrayDataset`.

    Never downloads unless ``download=True``; a missing folder raises ``ValueError``
    that says so. Needs the ``vision`` extra (torchvision).
    """
    check_bool(download, "download")
    try:
        import torchvision
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "cifar10/cifar100 sources need torchvision: pip install 'proxydata[vision]'"
        ) from exc
    classes = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}
    if name not in classes:
        raise ProxydataValueError(f"name must be one of {sorted(classes)}, got {name!r}")
    try:
        ds = classes[name](root=root, train=train, download=download)
    except RuntimeError as exc:
        raise ProxydataValueError(
            f"{name} not found under root={root!r} (pass download=True / --download to fetch it)"
        ) from exc
    return ArrayDataset(np.asarray(ds.data), np.asarray(ds.targets, dtype=np.int64))


#: The accepted forms, for messages and ``--help`` texts.
SOURCE_FORMS = ("digits", "npz:PATH", "cifar10:ROOT", "cifar100:ROOT")


def load_source(spec: str, *, download: bool = False) -> ArrayDataset:
    """Resolve a data source string of the command line.

    ``"digits"`` — scikit-learn digits; ``"npz:PATH"`` — arrays ``x_train``,
    ``y_train``; ``"cifar10:ROOT"`` / ``"cifar100:ROOT"`` — torchvision folders.
    """
    if not isinstance(spec, str):
        raise ProxydataTypeError(f"data must be a source string, got {type(spec).__name__}")
    kind, _, rest = spec.partition(":")
    if kind == "digits" and not rest:
        return load_digits()
    if kind == "npz" and rest:
        return load_npz(rest)
    if kind in ("cifar10", "cifar100") and rest:
        return load_torchvision(kind, rest, download=download)
    forms = ", ".join(repr(f) for f in SOURCE_FORMS)
    raise ProxydataValueError(f"data must be one of {forms}, got {spec!r}")
