"""``ProxySampler``: what every static proxy sampler shares.

A proxy sampler chooses its subset eagerly, in the constructor, and is then a
plain :class:`torch.utils.data.Sampler` over the kept indices: shuffled per
epoch (``set_epoch``), sharded across ranks like ``DistributedSampler`` (and an
instance of it, so that frameworks which wrap other samplers in a
``DistributedSampler`` — Lightning's default ``use_distributed_sampler=True`` —
leave it alone and call its ``set_epoch``), and savable to JSON or npz together
with a fingerprint of the dataset it was computed on
(:mod:`proxydata.samplers.saved` reads such files back).

A proxy of one split of a dataset takes the split's dataset indices
(``indices=``): it selects among them, with per-class quotas from the split's
labels, and yields dataset indices, so it goes straight on a loader over the
whole dataset.

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
from torch.utils.data import DistributedSampler, Subset

from .._validation import check_bool, check_labels, check_ratio
from ..data import get_targets
from ..exceptions import ProxydataTypeError, ProxydataValueError
from ..items import first_unstable_item
from ..metrics import class_balance_degree, class_counts
from . import selection
from .agreement import check_selection_agrees, group_size
from .saved import SavedProxy, read, write
from .selection import *  # noqa: F403  (the selection rules, re-exported under their old path)
from .selection import RUNTIME_PARAMS, SPLIT_PARAM, kept_quota, register, resolve_split
from .sharding import ShardedIndexSampler, check_sampler_seed

# The selection rules are re-exported under this module's old names.
__all__ = ["ProxySampler", *selection.__all__]


class ProxySampler(ShardedIndexSampler, DistributedSampler):
    """Base class of the static proxy samplers (Moser et al., 2022).

    Subclasses set the class attributes ``method`` (the paper's acronym) and
    ``class_conditional``, store their own constructor arguments as given
    before calling ``super().__init__``, check them in :meth:`check_params`,
    implement :meth:`_select` over the candidates (:meth:`pool_dataset`,
    :meth:`pool_targets`, :attr:`pool_size`: the split, or the whole dataset)
    returning positions among them, and, for results only a fresh selection has
    (a trained network, a clustering), :meth:`_forget_fitted`.

    A proxy is a :class:`~torch.utils.data.DistributedSampler` by type (its own
    sharding, not that class's): Lightning and other frameworks that wrap a
    plain sampler in a ``DistributedSampler`` leave it as it is, so its shards
    are not split a second time, and call its ``set_epoch``.

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
    indices : 1-D integer dataset indices, optional
        The split to select within (e.g. the search training split of a
        dataset that also holds the validation split): the proxy keeps
        ``round(r * n_split)`` of them (per class: ``round(r * n_c)`` with
        ``n_c`` counted in the split), computes features and losses for them
        only, and yields dataset indices, so ``DataLoader(dataset,
        sampler=proxy)`` never draws outside the split. Unique, in
        ``[0, len(dataset))``, any order. None: the whole dataset.

    Attributes
    ----------
    indices : np.ndarray of int64
        Sorted kept dataset indices (a subset of ``split``).
    split : np.ndarray of int64
        Sorted dataset indices the selection chose from (``indices=``, or all).
    scores : np.ndarray of float64 or None
        Per-sample score the selection ranked by (distance or loss), one per
        dataset sample (NaN outside the split), or None.
    targets : np.ndarray of int64
        The labels of ``dataset`` (as given or as found).
    classes : np.ndarray of int64
        The class ids present in the split, ascending.
    resolved : dict
        What the selection resolved (backend, device, ...), saved with it.
    fit_seconds : float
        Wall time of the selection.
    selection_cost : dict
        What choosing cost, so that a search's saving can be stated net of it:
        ``samples`` — passes of a sample through a network (a forward pass, or
        a forward and backward pass; features computed by a module count one
        per sample; 0 where no network runs: RS, CC-RS, and the geometric
        methods on pixels or given features), ``cpu_seconds`` — CPU time of
        this process during the selection (:func:`time.process_time`: every
        thread, no GPU time), ``wall_seconds`` — ``fit_seconds``. Saved with
        the selection; None on a proxy loaded from a file written before it
        was recorded.
    """

    method: ClassVar[str] = ""
    #: Whether the kept count is ``round(r * n_c)`` per class (else ``round(r * n)``).
    class_conditional: ClassVar[bool] = False
    #: Whether the selection produces per-sample scores.
    has_scores: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.method:
            register(cls)

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
        indices: Any = None,
    ) -> None:
        self.ratio = ratio
        self.seed = seed
        self.progress = progress
        self.check_params({name: getattr(self, name) for name in self.saved_param_names()})
        check_bool(progress, "progress")
        self.ratio = float(ratio)
        self.dataset = dataset
        self.targets = self._resolve_targets(dataset, targets)
        split = resolve_split(indices, self.n)
        self._split_arg = indices
        self.split = np.arange(self.n, dtype=np.int64) if split is None else split
        self.classes = np.unique(self.pool_targets())
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
        self._samples_spent = 0
        start, cpu_start = time.perf_counter(), time.process_time()
        positions, scores = self._select()
        self.fit_seconds = time.perf_counter() - start
        self.selection_cost: dict[str, Any] | None = {
            "samples": int(self._samples_spent),
            "cpu_seconds": time.process_time() - cpu_start,
            "wall_seconds": self.fit_seconds,
        }
        self._indices = np.sort(self.split[np.asarray(positions, dtype=np.int64)])
        self.scores = None if scores is None else self._scores_of_dataset(scores)
        self._check_ranks_agree()

    # -- to implement -------------------------------------------------------
    def _select(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Return (kept positions among the candidates ``0..pool_size-1``, their scores or None)."""
        raise NotImplementedError

    def _forget_fitted(self) -> None:
        """Set the results only a fresh selection has to None (on a loaded proxy)."""

    def spend_samples(self, count: int) -> None:
        """Count ``count`` passes of samples through a network in ``selection_cost["samples"]``.

        Subclasses call it from :meth:`_select` for every batch a network
        processes (training, scoring, feature extraction).
        """
        self._samples_spent = getattr(self, "_samples_spent", 0) + int(count)

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
        """The parameters that decide the selection: saved with it, checked on load.

        The split (``indices=``) is saved too, as the file's ``split``.
        """
        return [name for name in cls.get_param_names() if name not in (*RUNTIME_PARAMS, SPLIT_PARAM)]

    def get_params(self) -> dict[str, Any]:
        """The constructor's arguments as given (``targets``: the labels used).

        ``type(p)(dataset, **p.get_params())`` rebuilds the same selection.
        ``num_replicas``/``rank`` hold the resolved values; ``indices`` is the
        split as given (``proxy.indices`` is the kept set).
        """
        return {
            name: (self._split_arg if name == SPLIT_PARAM else getattr(self, name))
            for name in self.get_param_names()
        }

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

    # -- the candidates: the split, or the whole dataset ----------------------
    @property
    def pool_size(self) -> int:
        """Number of candidates: the split's size (``len(dataset)`` without ``indices=``)."""
        return int(self.split.shape[0])

    def has_split(self) -> bool:
        """Whether the proxy selects within a split (``indices=`` was given) rather than everything."""
        return self.pool_size != self.n

    def pool_targets(self) -> np.ndarray:
        """Labels of the candidates, in split order."""
        return self.targets[self.split]

    def pool_dataset(self) -> Any:
        """The candidates as a dataset: ``dataset``, or ``Subset(dataset, split)``.

        Position ``j`` is dataset index ``split[j]``; array-backed datasets are
        still read from their array behind the ``Subset``.
        """
        return Subset(self.dataset, self.split.tolist()) if self.has_split() else self.dataset

    def class_codes(self) -> np.ndarray:
        """Every candidate's class as a dense code ``0..len(classes)-1`` (position in ``classes``)."""
        return np.searchsorted(self.classes, self.pool_targets())

    def quota(self) -> np.ndarray:
        """Kept count per class of ``classes`` (``round(r * n_c)``), or ``[round(r * n)]``, in the split."""
        return kept_quota(self.pool_targets(), self.classes, self.ratio, self.class_conditional)

    def _scores_of_dataset(self, scores: Any) -> np.ndarray:
        """Scores of the candidates placed at their dataset indices (NaN outside the split)."""
        values = np.asarray(scores, dtype=np.float64)
        if not self.has_split():
            return values
        out = np.full(self.n, np.nan)
        out[self.split] = values
        return out

    def _refuse_changing_items(self, dataset: Any, fix: str) -> None:
        """Raise before the work when reading ``dataset`` twice gives other items (random transforms).

        Reads a few items twice (:func:`~proxydata.items.first_unstable_item`);
        call it only where the items are read one by one (not from a stored array).
        """
        position = first_unstable_item(dataset)
        if position is not None:
            index = int(self.split[position])
            raise ProxydataValueError(
                f"{type(self).__name__}: dataset item {index} differs between two reads (a random "
                "transform, e.g. torchvision's transform=RandomCrop/RandomHorizontalFlip or a Hugging "
                "Face .with_transform/.set_transform?), so the selection would be a random subset that "
                f"changes from run to run; {fix}"
            )

    def _check_ranks_agree(self) -> None:
        """Under a process group of several ranks, check that every rank kept the same samples."""
        world, rank = self.sharding()
        self._agreed = check_selection_agrees(type(self).__name__, self._indices, self.split, world, rank)

    def epoch_indices(self) -> np.ndarray:
        # A proxy built before the process group existed is checked at its first pass under it.
        if not self._agreed and self.deferred:
            self._check_ranks_agree()
        world = group_size()
        if world > 1 and self.num_replicas == 1 and not getattr(self, "_warned_unsharded", False):
            self._warned_unsharded = True
            warnings.warn(
                f"{type(self).__name__} was built with num_replicas=1 but runs in a process group of "
                f"{world} ranks: it does not shard, so every rank iterates all {self._indices.size} kept "
                "samples (and Lightning does not wrap it, since it is a DistributedSampler). Leave "
                "num_replicas/rank to None to shard by the group, unless each rank should see everything.",
                RuntimeWarning,
                stacklevel=2,
            )
        return super().epoch_indices()

    # DistributedSampler's attributes, for code that reads them from any DistributedSampler.
    @property
    def num_samples(self) -> int:
        """Indices this rank yields per epoch (``len(proxy)``)."""
        return len(self)

    @property
    def total_size(self) -> int:
        """Indices all ranks yield together per epoch (padded or truncated)."""
        return len(self) * self.num_replicas

    def _check_quota(self) -> None:
        """Refuse a ratio that keeps nothing; warn when it drops a whole class."""
        quota = self.quota()
        if quota.sum() == 0:
            raise ProxydataValueError(
                f"ratio={self.ratio!r} keeps no sample of the {self.pool_size} (round(r * n) = 0"
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
        """Kept samples of every class present in the split (aligned with ``classes``)."""
        return class_counts(self.targets[self._indices], classes=self.classes)

    def balance_degree(self) -> float:
        """:func:`~proxydata.metrics.class_balance_degree` of the kept set.

        Over the classes present in the split: an unused class id does not
        count, a class the proxy dropped counts as empty.
        """
        return class_balance_degree(self.kept_class_counts())

    def __repr__(self) -> str:
        split = f", split={self.pool_size} of {self.n}" if self.has_split() else ""
        return (
            f"{type(self).__name__}(method={self.method!r}, kept={self._indices.size}/{self.pool_size}"
            f"{split}, ratio={self.ratio}, seed={self.seed})"
        )

    # -- persistence ------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the selection to ``path`` (``.npz`` → npz, anything else → JSON).

        The file holds the method, its selection parameters, what was resolved
        (backend, device), the library version, the dataset fingerprint, the
        kept indices and the scores. See :func:`proxydata.samplers.saved.write`.
        """
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
        indices: Any = None,
    ) -> ProxySampler:
        """Load a saved selection for ``dataset`` without recomputing it.

        Everything is checked before anything is built: the file's format (a
        version this release reads) and its digest (any edit of a file written
        since format 3 is refused), the method (registered, and ``cls`` or a
        subclass), every parameter, the seed, the dataset fingerprint, the
        split, the indices (integers, sorted, unique, within the split, as many
        per class as the method and ratio keep) and the scores (one per sample).
        Results only a fresh selection has (a trained network, a clustering)
        are None on the loaded proxy; constructor arguments a file can only
        describe (an array, a module) come back as
        :class:`~proxydata.samplers.saved.SavedObject`.

        ``indices`` (optional) is the split the caller expects: a file saved
        for another split is refused. Left to None, the proxy keeps the split
        the file was saved with.

        Raises
        ------
        CorruptStateError
            Naming ``path`` and what is wrong (also for a file made on another
            dataset or another split, or for another method than ``cls``).
        OSError
            If the file cannot be read.
        """
        saved = read(
            os.fspath(path),
            cls,
            dataset,
            targets=targets,
            resolve_targets=cls._resolve_targets,
            split=indices,
        )
        return _rebuild(
            saved, dataset, shuffle=shuffle, num_replicas=num_replicas, rank=rank, drop_last=drop_last
        )


def _rebuild(
    saved: SavedProxy,
    dataset: Any,
    *,
    shuffle: bool,
    num_replicas: int | None,
    rank: int | None,
    drop_last: bool,
) -> ProxySampler:
    """The proxy a checked saved file describes, built without selecting (:meth:`ProxySampler.load`)."""
    klass: type[ProxySampler] = saved.klass
    obj = klass.__new__(klass)
    obj.dataset = dataset
    obj.targets = saved.targets
    obj.split = np.arange(saved.targets.shape[0], dtype=np.int64) if saved.split is None else saved.split
    obj._split_arg = saved.split
    obj.classes = np.unique(obj.pool_targets())
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
    obj.selection_cost = saved.selection_cost
    obj._forget_fitted()
    obj._check_ranks_agree()
    return obj
