"""Geometric outlier-removal proxies: KM-OR and CC-OR (Moser et al., 2022, Sec. 3.2).

Both rank the samples by a distance in feature space (raw pixels by default)
and drop the farthest ones, on the view that outliers are the samples a proxy
can do without.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from .._validation import check_bool, check_choice, check_device, check_int
from ..cluster import BACKENDS, KMeansResult, kmeans
from ..features import is_array_backed, model_features, pixel_batches, pixel_features, standardize_
from .base import ProxySampler, lowest, proxy_size

__all__ = ["ClassOutlierProxy", "KMeansOutlierProxy", "resolve_features"]

FEATURE_KINDS = ("pixels",)


def resolve_features(
    dataset: Any,
    features: str | np.ndarray | torch.Tensor | nn.Module,
    *,
    standardize: bool,
    device: Any = None,
    batch_size: int = 512,
    progress: bool = True,
) -> tuple[np.ndarray, bool]:
    """The feature matrix a geometric sampler works on.

    Parameters
    ----------
    dataset : map-style dataset
    features : "pixels", array/tensor of shape (n, d), or nn.Module
        ``"pixels"`` — :func:`~proxydata.features.pixel_features`; an array —
        used as given (one row per sample); a module —
        :func:`~proxydata.features.model_features` of that module.
    standardize : bool
        Standardise every column (zero mean, unit variance). A given array is
        copied first, never modified.

    Returns
    -------
    features : np.ndarray of float32, shape (n, d)
    owned : bool
        Whether the matrix is private to the caller (may be modified in place).
    """
    n = len(dataset)
    if isinstance(features, str):
        check_choice(features, "features", FEATURE_KINDS)
        x = pixel_features(dataset, standardize=standardize, batch_size=batch_size, progress=progress)
        return x, True
    if isinstance(features, nn.Module):
        x = model_features(
            dataset,
            features,
            device="cpu" if device is None else device,
            batch_size=batch_size,
            progress=progress,
        )
        owned = True
    elif isinstance(features, (np.ndarray, torch.Tensor)):
        arr = features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else features
        if arr.ndim < 1 or arr.shape[0] != n:
            raise ValueError(
                f"features must have one row per sample ({n} rows), got shape {tuple(arr.shape)}"
            )
        if arr.dtype == bool or arr.dtype.kind not in "iuf":
            raise TypeError(f"features must be numeric, got dtype {arr.dtype}")
        x = np.ascontiguousarray(arr.reshape(n, -1), dtype=np.float32)
        owned = not np.shares_memory(x, arr)
    else:
        raise TypeError(
            f"features must be 'pixels', an array of shape (n, d) or an nn.Module, "
            f"got {type(features).__name__}"
        )
    if x.shape[1] == 0:
        raise ValueError(f"features must have at least one column, got shape {tuple(x.shape)}")
    for start in range(0, n, 4096):
        if not np.isfinite(x[start : start + 4096]).all():
            raise ValueError("features must be finite, got NaN or inf values")
    if standardize:
        if not owned:
            x = x.copy()
            owned = True
        standardize_(x, batch_size=batch_size)
    return x, owned


def _describe_features(features: Any) -> str:
    """Check ``features`` and say what to record about it in a saved proxy
    (a name or a shape, never the array itself)."""
    if isinstance(features, str):
        return check_choice(features, "features", FEATURE_KINDS)
    if not isinstance(features, (np.ndarray, torch.Tensor, nn.Module)):
        raise TypeError(
            f"features must be 'pixels', an array of shape (n, d) or an nn.Module, "
            f"got {type(features).__name__}"
        )
    if isinstance(features, (np.ndarray, torch.Tensor)):
        return f"array{tuple(features.shape)}"
    return type(features).__name__


class KMeansOutlierProxy(ProxySampler):
    """KM-OR: drop the samples farthest from their nearest k-means centroid.

    k-means with ``K = n_clusters`` clusters runs on the features (standardised
    raw pixels by default, as in the paper's reference code); the score of
    sample ``i`` is ``d_i = ||x_i - c_{a_i}||_2``, its Euclidean distance to the
    nearest centroid. The proxy keeps the ``m = round(r * n)`` samples of
    smallest ``d_i`` over the whole dataset (not per class), ties broken by the
    lower index.

    Parameters
    ----------
    dataset : map-style dataset
    ratio : float in (0, 1]
    n_clusters : int
        ``K``; the reference code uses 50, 100, 150 or 200. Must not exceed ``n``.
    features : "pixels", array of shape (n, d), or nn.Module
        See :func:`resolve_features`.
    standardize : bool
        Standardise every feature before clustering (``StandardScaler``).
    backend : {"auto", "faiss", "sklearn"}
        k-means backend, see :func:`proxydata.cluster.kmeans`.
    n_iter, n_init : int
        Lloyd iterations and independent restarts of k-means.
    device : str or torch.device, optional
        Where a feature module runs and where faiss clusters (GPU if available).
    batch_size : int
        Samples per batch when computing features.
    **kwargs
        ``seed``, ``shuffle``, ``num_replicas``, ``rank``, ``drop_last``,
        ``progress``, ``targets``: see :class:`~proxydata.samplers.base.ProxySampler`.

    Attributes
    ----------
    kmeans_result : KMeansResult or None
        Centroids, assignments, objective, backend and time of the clustering
        (None for a proxy read with :meth:`load`).
    """

    method = "km-or"
    param_names: ClassVar[tuple[str, ...]] = (
        "n_clusters",
        "features",
        "standardize",
        "backend",
        "n_iter",
        "n_init",
    )
    kmeans_result: KMeansResult | None = None
    device: torch.device | None = None
    batch_size: int = 512

    def __init__(
        self,
        dataset: Any,
        ratio: float,
        *,
        n_clusters: int = 100,
        features: str | np.ndarray | torch.Tensor | nn.Module = "pixels",
        standardize: bool = True,
        backend: str = "auto",
        n_iter: int = 25,
        n_init: int = 1,
        device: Any = None,
        batch_size: int = 512,
        **kwargs: Any,
    ) -> None:
        self.n_clusters = check_int(n_clusters, "n_clusters", minimum=1)
        self._features = features
        self.features = _describe_features(features)
        self.standardize = check_bool(standardize, "standardize")
        self.backend = check_choice(backend, "backend", BACKENDS)
        self.n_iter = check_int(n_iter, "n_iter", minimum=1)
        self.n_init = check_int(n_init, "n_init", minimum=1)
        self.device = None if device is None else check_device(device)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        super().__init__(dataset, ratio, **kwargs)

    def _select(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n_clusters > self.n:
            raise ValueError(f"n_clusters must be <= the number of samples n={self.n}, got {self.n_clusters}")
        features, self._features = self._features, None  # keep no model or array alive
        x, owned = resolve_features(
            self.dataset,
            features,
            standardize=self.standardize,
            device=self.device,
            batch_size=self.batch_size,
            progress=self.progress,
        )
        self.kmeans_result = kmeans(
            x,
            self.n_clusters,
            backend=self.backend,
            seed=self.seed,
            n_iter=self.n_iter,
            n_init=self.n_init,
            device=self.device,
            copy_x=not owned,
            progress=self.progress,
        )
        scores = self.kmeans_result.distances
        return lowest(scores, proxy_size(self.n, self.ratio)), scores


class ClassOutlierProxy(ProxySampler):
    """CC-OR: in every class, drop the samples farthest from the class mean.

    With ``mu_c = (1/n_c) sum_{y_i = c} x_i`` the mean feature vector of class
    ``c``, the score of sample ``i`` is ``d_i = ||x_i - mu_{y_i}||_2``. Every
    class ``c`` keeps its ``round(r * n_c)`` samples of smallest ``d_i`` (ties
    broken by the lower index), so the class proportions are preserved.

    Parameters
    ----------
    dataset : map-style dataset
    ratio : float in (0, 1]
    features : "pixels", array of shape (n, d), or nn.Module
        See :func:`resolve_features`; raw pixels by default.
    standardize : bool
        Standardise every feature first (off by default, as in the paper code).
    device : str or torch.device, optional
        Where a feature module runs.
    batch_size : int
        Samples per batch when computing features.
    **kwargs
        ``seed``, ``shuffle``, ``num_replicas``, ``rank``, ``drop_last``,
        ``progress``, ``targets``: see :class:`~proxydata.samplers.base.ProxySampler`.
    """

    method = "cc-or"
    param_names: ClassVar[tuple[str, ...]] = ("features", "standardize")
    device: torch.device | None = None
    batch_size: int = 512

    def __init__(
        self,
        dataset: Any,
        ratio: float,
        *,
        features: str | np.ndarray | torch.Tensor | nn.Module = "pixels",
        standardize: bool = False,
        device: Any = None,
        batch_size: int = 512,
        **kwargs: Any,
    ) -> None:
        self._features = features
        self.features = _describe_features(features)
        self.standardize = check_bool(standardize, "standardize")
        self.device = None if device is None else check_device(device)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        super().__init__(dataset, ratio, **kwargs)

    def _select(self) -> tuple[np.ndarray, np.ndarray]:
        y = self.targets
        batches = self._feature_batches()
        means = class_means(batches(), y, self.num_classes)
        scores = distances_to_class_means(batches(), y, means)
        counts = np.bincount(y, minlength=self.num_classes)
        quota = np.array([proxy_size(int(c), self.ratio) for c in counts], dtype=np.int64)
        return lowest_per_class(scores, y, quota), scores

    def _feature_batches(self) -> Callable[[], Iterator[torch.Tensor | np.ndarray]]:
        """A re-iterable source of feature rows, in dataset order."""
        features, self._features = self._features, None  # keep no model or array alive
        bs = self.batch_size
        if isinstance(features, str) and not self.standardize and is_array_backed(self.dataset):
            # Raw pixels of an in-memory array: stream them twice (means, then
            # distances) instead of holding the (n, d) float matrix.
            check_choice(features, "features", FEATURE_KINDS)
            return lambda: pixel_batches(self.dataset, batch_size=bs)
        x, _ = resolve_features(
            self.dataset,
            features,
            standardize=self.standardize,
            device=self.device,
            batch_size=bs,
            progress=self.progress,
        )
        return lambda: (x[i : i + bs] for i in range(0, x.shape[0], bs))


def class_means(
    batches: Iterable[torch.Tensor | np.ndarray], labels: np.ndarray, num_classes: int
) -> np.ndarray:
    """``mu_c = (1/n_c) sum_{y_i = c} x_i`` for every class, accumulated in float64.

    ``batches`` yields consecutive blocks of rows of the feature matrix (in
    dataset order, together covering ``labels``). Each block's rows are grouped
    by class (a sort of the block's labels) and summed with one
    ``np.add.reduceat``, so only one block is ever held in float64 and the cost
    does not grow with the number of classes. Empty classes get a zero mean.

    Returns
    -------
    np.ndarray of float64, shape (num_classes, d)
    """
    y = np.ascontiguousarray(labels, dtype=np.int64)
    sums: np.ndarray | None = None
    start = 0
    for block in batches:
        rows = block.numpy() if isinstance(block, torch.Tensor) else np.asarray(block)
        b = rows.shape[0]
        yb = y[start : start + b]
        order = np.argsort(yb, kind="stable")
        sorted_labels = yb[order]
        firsts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
        if sums is None:
            sums = np.zeros((num_classes, rows.shape[1]), dtype=np.float64)
        sums[sorted_labels[firsts]] += np.add.reduceat(rows[order].astype(np.float64), firsts, axis=0)
        start += b
    if sums is None or start != y.shape[0]:
        raise ValueError(f"features must have {y.shape[0]} rows, got {start}")
    counts = np.maximum(np.bincount(y, minlength=num_classes), 1)
    return sums / counts[:, None]


def distances_to_class_means(
    batches: Iterable[torch.Tensor | np.ndarray], labels: np.ndarray, means: np.ndarray
) -> np.ndarray:
    """``d_i = ||x_i - mu_{y_i}||_2`` in float64, one block of rows at a time.

    ``batches`` yields consecutive blocks of rows of the feature matrix, as in
    :func:`class_means`. Plain numpy (single-threaded): the work is memory-bound.

    Returns
    -------
    np.ndarray of float64, shape (n,)
    """
    y = np.ascontiguousarray(labels, dtype=np.int64)
    out = np.empty(y.shape[0], dtype=np.float64)
    start = 0
    for block in batches:
        rows = block.numpy() if isinstance(block, torch.Tensor) else np.asarray(block)
        stop = start + rows.shape[0]
        diff = rows.astype(np.float64)
        diff -= means[y[start:stop]]
        out[start:stop] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        start = stop
    if start != y.shape[0]:
        raise ValueError(f"features must have {y.shape[0]} rows, got {start}")
    return out


def lowest_per_class(scores: np.ndarray, labels: np.ndarray, quota: np.ndarray) -> np.ndarray:
    """Indices of the ``quota[c]`` lowest scores within every class ``c``.

    One lexicographic sort by (class, score, index) ranks every sample within
    its class; a sample is kept when its rank is below its class's quota.
    """
    n = scores.shape[0]
    order = np.lexsort((np.arange(n), scores, labels))
    sorted_labels = labels[order]
    first_of_class = np.searchsorted(sorted_labels, sorted_labels, side="left")
    rank = np.arange(n) - first_of_class
    return np.sort(order[rank < quota[sorted_labels]])
