"""``ProxySampler``: what every static proxy sampler shares.

A proxy sampler chooses its subset eagerly, in the constructor, and is then a
plain :class:`torch.utils.data.Sampler` over the kept indices: shuffled per
epoch (``set_epoch``), sharded across ranks like ``DistributedSampler``, and
savable to JSON or npz together with a fingerprint of the dataset it was
computed on (:mod:`proxydata.samplers.saved` reads such files back).

Constructor arguments are stored as given and :meth:`ProxySampler.get_params`
reads them back from the signature (the scikit-learn contract), so
``type(p)(dataset, **p.get_params())`` rebuilds the same selection; what was
resolved while selecting (a k-means backend, a device) is in ``resolved``.
"""

from __future__ import annotations

import inspect
import os
import time
import warnings
from typing import Any, ClassVar

import numpy as np
from torch.utils.data import Subset

from .._validation import check_bool, check_labels, check_ratio
from ..data import get_targets, share_count
from ..exceptions import ProxydataTypeError, ProxydataValueError
from ..metrics import class_balance_degree, class_counts
from .sharding import ShardedIndexSampler, check_sampler_seed

__all__ = [
    "RUNTIME_PARAMS",
    "SHARED_PARAMS",
    "ProxySampler",
    "highest",
    "kept_quota",
    "lowest",
    "lowest_per_class",
    "method_class",
    "proxy_size",
    "registered_methods",
    "shared_args",
]

_REGISTRY: dict[str, type[ProxySampler]] = {}

#: Constructor arguments that shape how a proxy is served, not what it keeps:
#: not saved with a selection, given again to :meth:`ProxySampler.load`.
RUNTIME_PARAMS = ("shuffle", "num_replicas", "rank", "drop_last", "progress", "targets")


#: The sampler parameters every proxy's constructor spells out after its own.
SHARED_PARAMS = ("seed", "shuffle", "num_replicas", "rank", "drop_last", "progress", "targets")


def shared_args(namespace: dict[str, Any]) -> dict[str, Any]:
    """The shared sampler arguments out of a constructor's ``locals()``, to pass on to the base."""
    return {name: namespace[name] for name in SHARED_PARAMS}


def proxy_size(n: int, ratio: float) -> int:
    """Kept count ``m = round(r * n)``, rounding halves up (``floor(r * n + 0.5)``).

    Round-half-up (not Python's round-half-even) so that, e.g., ``r = 0.5`` of 5
    samples keeps 3: the rule is monotone in ``n`` and easy to compute by hand.
    ``r * n`` is the product of the decimal ``r`` prints as, computed exactly
    (:func:`proxydata.data.share_count`): ``proxy_size(100, 0.145)`` is 15, as
    by hand, where the float product ``14.499999999999998`` would give 14.
    """
    return share_count(n, ratio)


def kept_quota(labels: np.ndarray, classes: np.ndarray, ratio: float, class_conditional: bool) -> np.ndarray:
    """Kept count ``[round(r * n)]``, or ``round(r * n_c)`` for every class of ``classes``."""
    if not class_conditional:
        return np.array([proxy_size(int(labels.shape[0]), ratio)], dtype=np.int64)
    counts = class_counts(labels, classes=classes)
    return np.array([proxy_size(int(c), ratio) for c in counts], dtype=np.int64)


def lowest(scores: np.ndarray, m: int) -> np.ndarray:
    """Positions of the ``m`` smallest scores, ties broken by lower position."""
    return np.argsort(scores, kind="stable")[:m]


def highest(scores: np.ndarray, m: int) -> np.ndarray:
    """Positions of the ``m`` largest scores, ties broken by lower position."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:m]


def lowest_per_class(scores: np.ndarray, labels: np.ndarray, quota: np.ndarray) -> np.ndarray:
    """Indices of the ``quota[c]`` lowest scores within every class ``c``.

    ``labels`` are dense class codes ``0..len(quota)-1``. One lexicographic sort
    by (class, score, index) ranks every sample within its class; a sample is
    kept when its rank is below its class's quota.
    """
    n = scores.shape[0]
    order = np.lexsort((np.arange(n), scores, labels))
    sorted_labels = labels[order]
    first_of_class = np.searchsorted(sorted_labels, sorted_labels, side="left")
    rank = np.arange(n) - first_of_class
    return np.sort(order[rank < quota[sorted_labels]])


def registered_methods() -> list[str]:
    """Acronyms of every registered proxy method (``rs``, ``cc-rs``, ...)."""
    return sorted(_REGISTRY)


def method_class(name: str) -> type[ProxySampler]:
    """The sampler class registered under acronym ``name`` (case-insensitive)."""
    if not isinstance(name, str):
        raise ProxydataTypeError(f"name must be a proxy method name (str), got {name!r}")
    key = name.strip().lower().replace("_", "-")
    if key not in _REGISTRY:
        by_class = {cls.__name__.lower(): cls for cls in _REGISTRY.values()}
        if key in by_class:
            return by_class[key]
        raise ProxydataValueError(f"name must be one of {registered_methods()}, got {name!r}")
    return _REGISTRY[key]


class ProxySampler(ShardedIndexSampler):
    """Base class of the static proxy samplers (Moser et al., 2022).

    Subclasses set the class attributes ``method`` (the paper's acronym) and
    ``class_conditional``, store their own constructor arguments as given
    before calling ``super().__init__``, check them in :meth:`check_params`,
    implement :meth:`_select` and, for results only a fresh selection has (a
    trained network, a clustering), :meth:`_forget_fitted`.

    Parameters
    ----------
    dataset : map-style dataset
        The dataset the proxy indexes (e.g. the search training split).
    ratio : float in (0, 1]
        ``r``: the proxy keeps ``round(r * n)`` samples (per class for the
        class-conditional methods). ``r = 1`` keeps everything; a ratio that
        keeps nothing is an error.
    seed : int in [0, 2**64 - 1]
        Seeds every random choice (the selection and the epoch shuffles).
    shuffle : bool
        Shuffle the kept indices per epoch (seeded ``seed + epoch``, changed
        only by :meth:`set_epoch`); ``False`` yields index order.
    num_replicas, rank : int, optional
        Shard like ``DistributedSampler`` (read from ``torch.distributed`` if
        None); the attributes hold the resolved values.
    drop_last : bool
        Drop the tail instead of padding when sharding.
    progress : bool
        Show progress bars for slow work.
    targets : 1-D labels, optional
        Labels of ``dataset`` if they should not be looked up with
        :func:`~proxydata.data.get_targets`.

    Attributes
    ----------
    indices : np.ndarray of int64
        Sorted kept dataset indices.
    scores : np.ndarray of float64 or None
        Per-sample score the selection ranked by (distance or loss), or None.
    targets : np.ndarray of int64
        The labels of ``dataset`` (as given or as found).
    classes : np.ndarray of int64
        The class ids present in ``dataset``, ascending.
    resolved : dict
        What the selection resolved (backend, device, ...), saved with it.
    fit_seconds : float
        Wall time of the selection.
    """

    method: ClassVar[str] = ""
    #: Whether the kept count is ``round(r * n_c)`` per class (else ``round(r * n)``).
    class_conditional: ClassVar[bool] = False
    #: Whether the selection produces per-sample scores.
    has_scores: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.method:
            _REGISTRY[cls.method] = cls

    def __init__(
        self,
        dataset: Any,
        ratio: float,
        *,
        seed: int = 0,
        shuffle: bool = True,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
        progress: bool = True,
        targets: Any = None,
    ) -> None:
        self.ratio = ratio
        self.seed = seed
        self.progress = progress
        self.check_params({name: getattr(self, name) for name in self.saved_param_names()})
        check_bool(progress, "progress")
        self.ratio = float(ratio)
        self.dataset = dataset
        self.targets = self._resolve_targets(dataset, targets)
        self.classes = np.unique(self.targets)
        super().__init__(
            np.empty(0, dtype=np.int64),
            shuffle=shuffle,
            seed=seed,
            num_replicas=num_replicas,
            rank=rank,
            drop_last=drop_last,
        )
        self._check_quota()
        self.resolved: dict[str, Any] = {}
        start = time.perf_counter()
        indices, scores = self._select()
        self.fit_seconds = time.perf_counter() - start
        self._indices = np.sort(np.asarray(indices, dtype=np.int64))
        self.scores = None if scores is None else np.asarray(scores, dtype=np.float64)

    # -- to implement -------------------------------------------------------
    def _select(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Return (kept indices, per-sample scores or None)."""
        raise NotImplementedError

    def _forget_fitted(self) -> None:
        """Set the results only a fresh selection has to None (on a loaded proxy)."""

    # -- parameters -----------------------------------------------------------
    @classmethod
    def get_param_names(cls) -> list[str]:
        """Names of the constructor's parameters after ``dataset``, read from its signature."""
        names = []
        for p in inspect.signature(cls.__init__).parameters.values():
            if p.name in ("self", "dataset"):
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"{cls.__name__}.__init__ must spell out its parameters, not *{p.name}")
            names.append(p.name)
        return names

    @classmethod
    def saved_param_names(cls) -> list[str]:
        """The parameters that decide the selection: saved with it, checked on load."""
        return [name for name in cls.get_param_names() if name not in RUNTIME_PARAMS]

    def get_params(self) -> dict[str, Any]:
        """The constructor's arguments as given (``targets``: the labels used).

        ``type(p)(dataset, **p.get_params())`` rebuilds the same selection.
        ``num_replicas``/``rank`` hold the resolved values.
        """
        return {name: getattr(self, name) for name in self.get_param_names()}

    @classmethod
    def check_params(cls, params: dict[str, Any], *, loading: bool = False) -> None:
        """Check the selection parameters in ``params``; raise naming the bad one.

        ``loading=True`` also accepts :class:`~proxydata.samplers.saved.SavedObject`
        where a constructor takes an object (an array, a module) that a saved
        file can only describe.
        """
        if "ratio" in params:
            check_ratio(params["ratio"])
        if "seed" in params:
            check_sampler_seed(params["seed"])

    # -- helpers --------------------------------------------------------------
    @staticmethod
    def _resolve_targets(dataset: Any, targets: Any) -> np.ndarray:
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise ProxydataTypeError(f"dataset must be a map-style dataset, got {type(dataset).__name__}")
        n = len(dataset)
        if n == 0:
            raise ProxydataValueError("dataset must not be empty, got 0 samples")
        if targets is None:
            y = get_targets(dataset, progress=False)
        else:
            y = check_labels(targets, "targets")
        if y.shape[0] != n:
            raise ProxydataValueError(f"targets must have length len(dataset)={n}, got {y.shape[0]}")
        return y

    def class_codes(self) -> np.ndarray:
        """Every sample's class as a dense code ``0..len(classes)-1`` (position in ``classes``)."""
        return np.searchsorted(self.classes, self.targets)

    def quota(self) -> np.ndarray:
        """Kept count per class of ``classes`` (``round(r * n_c)``), or ``[round(r * n)]``."""
        return kept_quota(self.targets, self.classes, self.ratio, self.class_conditional)

    def _check_quota(self) -> None:
        """Refuse a ratio that keeps nothing; warn when it drops a whole class."""
        quota = self.quota()
        if quota.sum() == 0:
            raise ProxydataValueError(
                f"ratio={self.ratio!r} keeps no sample of the {self.n} (round(r * n) = 0"
                f"{' in every class' if self.class_conditional else ''}); raise ratio"
            )
        if self.class_conditional and (quota == 0).any():
            dropped = self.classes[quota == 0]
            warnings.warn(
                f"ratio={self.ratio!r} keeps no sample of {dropped.size} class(es) "
                f"(e.g. class {int(dropped[0])}: round(r * n_c) = 0); the proxy lacks them",
                RuntimeWarning,
                stacklevel=4,
            )

    @property
    def n(self) -> int:
        """Size of the full dataset."""
        return int(self.targets.shape[0])

    @property
    def num_classes(self) -> int:
        """``max(label) + 1``: the width of a classifier over the labels."""
        return int(self.targets.max()) + 1

    def subset(self) -> Subset:
        """The kept samples as a :class:`torch.utils.data.Subset` of the dataset."""
        return Subset(self.dataset, self._indices.tolist())

    def kept_class_counts(self) -> np.ndarray:
        """Kept samples of every class present in the dataset (aligned with ``classes``)."""
        return class_counts(self.targets[self._indices], classes=self.classes)

    def balance_degree(self) -> float:
        """:func:`~proxydata.metrics.class_balance_degree` of the kept set.

        Over the classes present in the dataset: an unused class id does not
        count, a class the proxy dropped counts as empty.
        """
        return class_balance_degree(self.kept_class_counts())

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(method={self.method!r}, kept={self._indices.size}/{self.n}, "
            f"ratio={self.ratio}, seed={self.seed})"
        )

    # -- persistence ------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the selection to ``path`` (``.npz`` → npz, anything else → JSON).

        The file holds the method, its selection parameters, what was resolved
        (backend, device), the library version, the dataset fingerprint, the
        kept indices and the scores. See :func:`proxydata.samplers.saved.write`.
        """
        from .saved import write

        write(self, os.fspath(path))

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        dataset: Any,
        *,
        shuffle: bool = True,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
        targets: Any = None,
    ) -> ProxySampler:
        """Load a saved selection for ``dataset`` without recomputing it.

        Everything is checked before anything is built: the file's format, the
        method (registered, and ``cls`` or a subclass), every parameter, the
        seed, the dataset fingerprint, the indices (integers, sorted, unique,
        in range, as many per class as the method and ratio keep) and the
        scores (one per sample). Results only a fresh selection has (a trained
        network, a clustering) are None on the loaded proxy; constructor
        arguments a file can only describe (an array, a module) come back as
        :class:`~proxydata.samplers.saved.SavedObject`.

        Raises
        ------
        CorruptStateError
            Naming ``path`` and what is wrong (also for a file made on another
            dataset, or for another method than ``cls``).
        OSError
            If the file cannot be read.
        """
        from .saved import read

        saved = read(os.fspath(path), cls, dataset, targets=targets, resolve_targets=cls._resolve_targets)
        klass: type[ProxySampler] = saved.klass
        obj = klass.__new__(klass)
        obj.dataset = dataset
        obj.targets = saved.targets
        obj.classes = np.unique(saved.targets)
        for name in klass.saved_param_names():
            setattr(obj, name, saved.params[name])
        obj.ratio = float(saved.params["ratio"])
        obj.progress = False
        ShardedIndexSampler.__init__(
            obj,
            saved.indices,
            shuffle=shuffle,
            seed=saved.params["seed"],
            num_replicas=num_replicas,
            rank=rank,
            drop_last=drop_last,
        )
        obj.scores = saved.scores
        obj.resolved = saved.resolved
        obj.fit_seconds = saved.fit_seconds
        obj._forget_fitted()
        return obj
