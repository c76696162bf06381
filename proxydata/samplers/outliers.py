"""Geometric outlier-removal proxies: KM-OR and CC-OR (Moser et al., 2022, Sec. 3.2).

Both rank the samples by a distance in feature space (raw pixels by default)
and drop the farthest ones, on the view that outliers are the samples a proxy
can do without.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.utils.data import Subset

from .._validation import check_bool, check_choice, check_device, check_int
from ..cluster import BACKENDS, KMeansResult, kmeans
from ..exceptions import ProxydataTypeError, ProxydataValueError
from ..features import (
    FeatureMatrix,
    is_array_backed,
    load_features,
    model_features,
    pixel_batches,
    pixel_features,
    stored_features,
)
from ..metrics import class_means, distances_to_class_means
from .base import ProxySampler, lowest, lowest_per_class, shared_args
from .saved import SavedObject, describe

__all__ = ["ClassOutlierProxy", "KMeansOutlierProxy", "check_features", "resolve_features"]

FEATURE_KINDS = ("pixels",)

Features = str | os.PathLike | np.ndarray | torch.Tensor | nn.Module


def resolve_features(
    dataset: Any,
    features: Features,
    *,
    standardize: bool,
    device: Any = "cpu",
    batch_size: int = 512,
    progress: bool = True,
    targets: Any = None,
    rows: np.ndarray | None = None,
) -> tuple[FeatureMatrix, bool]:
    """The feature matrix a geometric sampler works on, without copying what already exists.

    Parameters
    ----------
    dataset : map-style dataset
    features : "pixels", a ``.npy`` path, array/tensor/memmap of shape (n, ...), or nn.Module
        ``"pixels"`` — the raw pixels: a view of the stored array when it is
        float32 (:func:`~proxydata.features.stored_features`), else
        :func:`~proxydata.features.pixel_features`; a path — the memory-mapped
        file (:func:`~proxydata.features.load_features`, refused if its sidecar
        names another dataset); an array — used as given, one row per sample; a
        module — :func:`~proxydata.features.model_features` of that module.
    standardize : bool
        Standardise every column (zero mean, unit variance) on the fly: one pass
        computes the moments (:func:`~proxydata.features.column_moments`), and
        the rows are standardised as they are read; the data is never copied or
        modified.
    targets : 1-D labels, optional
        The dataset's labels (for a feature file's fingerprint check).
    rows : np.ndarray of int64, optional
        Dataset indices to return features for (a split), in this order: only
        these items are read (pixels, a module); of an array or a file only
        these rows are taken (a copy of the split's rows). None: every sample.

    Returns
    -------
    features : FeatureMatrix
        Finiteness is checked by whoever reads it (the moments pass, k-means,
        the class means).
    owned : bool
        Whether the underlying array was made here (private to the caller).
    """
    n = len(dataset)
    owned = from_items = False
    source = dataset if rows is None else Subset(dataset, np.asarray(rows, dtype=np.int64).tolist())
    if isinstance(features, (str, os.PathLike)) and _is_kind(features):
        x = stored_features(dataset)
        if x is None:
            x = pixel_features(source, batch_size=batch_size, progress=progress)
            owned = from_items = True
    elif isinstance(features, (str, os.PathLike)):
        x = load_features(features, dataset=dataset, targets=targets)
    elif isinstance(features, nn.Module):
        x = model_features(source, features, device=device, batch_size=batch_size, progress=progress)
        owned = from_items = True
    elif isinstance(features, (np.ndarray, torch.Tensor)):
        x = features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else features
    else:
        check_features(features)
    expected = len(rows) if from_items and rows is not None else n
    if x.ndim < 1 or x.shape[0] != expected:
        raise ProxydataValueError(
            f"features must have one row per sample ({expected} rows), got shape {tuple(x.shape)}"
        )
    if x.dtype == bool or x.dtype.kind not in "iuf":
        raise ProxydataTypeError(f"features must be numeric, got dtype {x.dtype}")
    if x.ndim != 2:
        x = x.reshape(n, -1)  # a view of a contiguous array
    if x.shape[1] == 0:
        raise ProxydataValueError(f"features must have at least one column, got shape {tuple(x.shape)}")
    if rows is not None and not from_items:  # the split's rows of an array or a file
        x = np.ascontiguousarray(x[np.asarray(rows, dtype=np.int64)])
        owned = True
    if standardize:
        return FeatureMatrix.standardize(x), owned
    return FeatureMatrix(x), owned


def check_features(features: Any, *, loading: bool = False) -> None:
    """Check a ``features=`` argument: ``"pixels"``, a ``.npy`` path, an (n, d) array/tensor or an nn.Module.

    ``loading=True`` also accepts the :class:`~proxydata.samplers.saved.SavedObject`
    a saved proxy holds in place of an array or module.
    """
    if isinstance(features, (str, os.PathLike)):
        if _is_kind(features) or os.fspath(features).endswith(".npy"):
            return
        raise ProxydataValueError(
            f"features must be one of {FEATURE_KINDS} or the path of a .npy file, got {features!r}"
        )
    if isinstance(features, (np.ndarray, torch.Tensor, nn.Module)) or (
        loading and isinstance(features, SavedObject)
    ):
        return
    raise ProxydataTypeError(
        "features must be 'pixels', a .npy path, an array of shape (n, d) or an nn.Module, "
        f"got {type(features).__name__}"
    )


def _is_kind(features: str | os.PathLike) -> bool:
    return isinstance(features, str) and features in FEATURE_KINDS


class _FeatureProxy(ProxySampler):
    """The feature parameters KM-OR and CC-OR share (``features``, ``standardize``,
    ``device``, ``feature_batch_size`` and its deprecated alias ``batch_size``)."""

    @classmethod
    def check_params(cls, params: dict[str, Any], *, loading: bool = False) -> None:
        super().check_params(params, loading=loading)
        check_features(params["features"], loading=loading)
        check_bool(params["standardize"], "standardize")
        if params["device"] is not None:  # a proxy loaded from a file runs nothing there
            check_device(params["device"], available=not loading)
        check_int(params["feature_batch_size"], "feature_batch_size", minimum=1)
        if params.get("batch_size") is not None:
            check_int(params["batch_size"], "batch_size", minimum=1)

    def _warn_deprecated_batch_size(self) -> None:
        if self.batch_size is not None:
            warnings.warn(
                f"{type(self).__name__}(batch_size=...) is deprecated: the feature-extraction batch "
                "is now called feature_batch_size (batch_size names a training batch elsewhere)",
                DeprecationWarning,
                stacklevel=3,
            )

    def feature_device(self) -> torch.device:
        """The device a feature module runs on: ``device``, or the CPU when None."""
        return torch.device("cpu") if self.device is None else check_device(self.device)

    def extraction_batch(self) -> int:
        """Samples per feature batch: ``batch_size`` if given (deprecated), else ``feature_batch_size``."""
        alias = getattr(self, "batch_size", None)
        return int(self.feature_batch_size if alias is None else alias)

    def _resolve_features(self) -> tuple[FeatureMatrix, bool]:
        """The feature rows of the candidates (the split), checked to be reproducible first."""
        self._refuse_unstable_reads()
        if isinstance(self.features, nn.Module):
            self.spend_samples(self.pool_size)  # one forward pass of the feature module per candidate
        return resolve_features(
            self.dataset,
            self.features,
            standardize=self.standardize,
            device=self.feature_device(),
            batch_size=self.extraction_batch(),
            progress=self.progress,
            targets=self.targets,
            rows=self.split if self.has_split() else None,
        )

    def _refuse_unstable_reads(self) -> None:
        """Refuse items that change between reads, where features are read from the items."""
        if isinstance(self.features, (np.ndarray, torch.Tensor)):
            return  # the features are given: nothing is read
        data = self.pool_dataset()
        if not is_array_backed(data):
            self._refuse_changing_items(
                data,
                "pass the dataset without its random transforms (the same data with a deterministic "
                "transform, or none; Hugging Face: dataset.with_format(None) or the dataset before "
                ".with_transform), or pass features=<an (n, d) array computed once>",
            )

    def _record_features(self) -> None:
        given = self.features
        self.resolved["features"] = given if isinstance(given, str) else describe(given)
        self.resolved["feature_device"] = str(self.feature_device())


class KMeansOutlierProxy(_FeatureProxy):
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
    features : "pixels", a ``.npy`` path, array or memmap of shape (n, d), or nn.Module
        See :func:`resolve_features`. Kept as given (``get_params`` returns it).
        An array has one row per dataset sample (with ``indices=``, the
        split's rows are used). Features read from the items (pixels, a
        module) need items that do not change between reads: a dataset with a
        random transform is refused (``ValueError``) unless ``features=`` is
        an array.
        A memory-mapped file is streamed, never copied.
    standardize : bool
        Standardise every feature before clustering (``StandardScaler``),
        on the fly: the features are not copied.
    backend : {"auto", "numpy", "faiss", "sklearn"}
        k-means backend, see :func:`proxydata.cluster.kmeans`; ``"auto"`` is
        faiss where faiss has a GPU (and ``device`` is None or CUDA), else
        proxydata's own Lloyd (``"numpy"``). The backend that ran is
        ``resolved["backend"]``.
    n_iter, n_init : int
        Lloyd iterations and independent restarts of k-means.
    device : str or torch.device, optional
        Where a feature module runs and where faiss clusters (``"cuda"``: every
        GPU faiss sees, ``"cuda:i"``: GPU ``i``); None is the CPU.
    feature_batch_size : int
        Samples per batch when computing features.
    batch_size : int, optional
        Deprecated alias of ``feature_batch_size`` (DeprecationWarning).
    seed, shuffle, num_replicas, rank, drop_last, progress, targets, indices
        See :class:`~proxydata.samplers.base.ProxySampler`; with ``indices=``
        (a split) the features are computed for the split only.

    Attributes
    ----------
    kmeans_result : KMeansResult or None
        Centroids, assignments, objective, backend and time of the clustering
        (None for a proxy read with :meth:`load`).
    resolved : dict
        ``backend`` and ``device`` k-means ran with, ``features`` (a
        description), ``feature_device``.
    """

    method = "km-or"

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
        device: str | torch.device | None = None,
        feature_batch_size: int = 512,
        batch_size: int | None = None,
        seed: int = 0,
        shuffle: bool = True,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
        progress: bool = True,
        targets: Any = None,
        indices: Any = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.features = features
        self.standardize = standardize
        self.backend = backend
        self.n_iter = n_iter
        self.n_init = n_init
        self.device = device
        self.feature_batch_size = feature_batch_size
        self.batch_size = batch_size
        self._warn_deprecated_batch_size()
        self.kmeans_result: KMeansResult | None = None
        super().__init__(dataset, ratio, **shared_args(locals()))

    @classmethod
    def check_params(cls, params: dict[str, Any], *, loading: bool = False) -> None:
        super().check_params(params, loading=loading)
        check_int(params["n_clusters"], "n_clusters", minimum=1)
        check_choice(params["backend"], "backend", BACKENDS)
        check_int(params["n_iter"], "n_iter", minimum=1)
        check_int(params["n_init"], "n_init", minimum=1)

    def _forget_fitted(self) -> None:
        self.kmeans_result = None

    def _select(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n_clusters > self.pool_size:
            raise ProxydataValueError(
                f"n_clusters must be <= the number of samples n={self.pool_size}, got {self.n_clusters}"
            )
        x, owned = self._resolve_features()
        result = kmeans(
            x,
            self.n_clusters,
            backend=self.backend,
            seed=self.seed,
            n_iter=self.n_iter,
            n_init=self.n_init,
            device=self.feature_device(),
            copy_x=not owned,
            progress=self.progress,
        )
        self.kmeans_result = result
        self._record_features()
        self.resolved.update(backend=result.backend, device=result.device)
        return lowest(result.distances, int(self.quota()[0])), result.distances


class ClassOutlierProxy(_FeatureProxy):
    """CC-OR: in every class, drop the samples farthest from the class mean.

    With ``mu_c = (1/n_c) sum_{y_i = c} x_i`` the mean feature vector of class
    ``c``, the score of sample ``i`` is ``d_i = ||x_i - mu_{y_i}||_2``. Every
    class ``c`` present in the dataset keeps its ``round(r * n_c)`` samples of
    smallest ``d_i`` (ties broken by the lower index), so the class proportions
    are preserved. A NaN or inf feature is an error (it would make its whole
    class's mean NaN).

    Parameters
    ----------
    dataset : map-style dataset
    ratio : float in (0, 1]
    features : "pixels", a ``.npy`` path, array or memmap of shape (n, d), or nn.Module
        See :func:`resolve_features`; raw pixels by default. Kept as given. An
        array or file has one row per dataset sample; items read for features
        must not change between reads (see :class:`KMeansOutlierProxy`).
        Streamed a chunk at a time (two passes: class means, then distances).
    standardize : bool
        Standardise every feature first (off by default, as in the paper code).
    device : str or torch.device, optional
        Where a feature module runs; None is the CPU.
    feature_batch_size : int
        Samples per batch when computing features.
    batch_size : int, optional
        Deprecated alias of ``feature_batch_size`` (DeprecationWarning).
    seed, shuffle, num_replicas, rank, drop_last, progress, targets, indices
        See :class:`~proxydata.samplers.base.ProxySampler`; with ``indices=``
        (a split) the features are computed for the split only.
    """

    method = "cc-or"
    class_conditional: ClassVar[bool] = True

    def __init__(
        self,
        dataset: Any,
        ratio: float,
        *,
        features: str | np.ndarray | torch.Tensor | nn.Module = "pixels",
        standardize: bool = False,
        device: str | torch.device | None = None,
        feature_batch_size: int = 512,
        batch_size: int | None = None,
        seed: int = 0,
        shuffle: bool = True,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
        progress: bool = True,
        targets: Any = None,
        indices: Any = None,
    ) -> None:
        self.features = features
        self.standardize = standardize
        self.device = device
        self.feature_batch_size = feature_batch_size
        self.batch_size = batch_size
        self._warn_deprecated_batch_size()
        super().__init__(dataset, ratio, **shared_args(locals()))

    def _select(self) -> tuple[np.ndarray, np.ndarray]:
        codes = self.class_codes()  # dense ids: memory grows with the classes present, not max(label)
        batches = self._feature_batches()
        means = class_means(batches(), codes, self.classes.size)
        scores = distances_to_class_means(batches(), codes, means)
        self._record_features()
        return lowest_per_class(scores, codes, self.quota()), scores

    def _feature_batches(self) -> Callable[[], Iterator[torch.Tensor | np.ndarray]]:
        """A re-iterable source of the candidates' feature rows, in split order (never a full copy)."""
        data = self.pool_dataset()
        if (
            _is_kind(self.features)
            and not self.standardize
            and is_array_backed(data)
            and stored_features(data) is None
        ):
            # Raw pixels stored as integers: stream them twice (means, then
            # distances) instead of holding the (n, d) float matrix.
            bs = self.extraction_batch()
            return lambda: pixel_batches(data, batch_size=bs)
        x, _ = self._resolve_features()
        return lambda: (block for _, block in x.chunks())
