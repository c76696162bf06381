"""One search run, configured end to end: proxy or pruner, loaders, supernet, loop.

This is what ``proxydata search``, ``proxydata demo`` and
``benchmarks/reproduce.py`` share. A user with their own loop does not need it:
it is the reference wiring of the library's pieces, written the way a user's
code would be.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from torch.utils.data import DataLoader, Subset

from ._records import DictAccess
from ._validation import check_bool, check_choice, check_device, check_int, check_ratio, check_seed, show
from .data import IndexedDataset, get_targets
from .exceptions import ProxydataTypeError, ProxydataValueError
from .metrics import class_balance_degree, class_counts
from .nas import (
    CropFlipDataset,
    SearchResult,
    TrainResult,
    make_supernet,
    search,
    train_genotype,
)
from .nas.search_options import SPACE_ALGORITHMS
from .nas.supernet import Supernet
from .pruning import BiLevelPruner, GlisterSelector
from .pruning.history import to_plain
from .samplers import make_proxy, registered_methods
from .samplers.sharding import ShardedIndexSampler

__all__ = [
    "GenotypeEvaluation",
    "SearchConfig",
    "SearchRecord",
    "data_used",
    "evaluate_genotype",
    "full_data_samples",
    "image_shape",
    "run_search",
]

#: The adaptive selectors ``SearchConfig.adaptive`` accepts.
ADAPTIVE_METHODS = ("glister",)


@dataclass
class SearchConfig:
    """Settings of one search run (every field has the NAS-Bench-201 default).

    Attributes
    ----------
    algo : one of :data:`proxydata.nas.ALGORITHMS`
    epochs, C, N, batch_size, seed : int
    device : str
    proxy : str or None
        Static proxy acronym (``rs``, ``cc-rs``, ``km-or``, ``cc-or``, ``ae``,
        ``tl``) applied to the search training split, or None for all of it.
    ratio : float in (0, 1]
        Proxy ratio ``r``.
    proxy_kwargs : dict
        Extra constructor arguments of the proxy (e.g. ``n_clusters``, ``epochs``).
    bdp : bool
        Wrap the loop with :class:`~proxydata.BiLevelPruner`.
    bdp_kwargs : dict
        Its arguments other than targets, splits and epochs (``interval``,
        ``train_prune_ratio``, ``val_prune_ratio``, ``class_balance``, ...).
    adaptive : {"glister"} or None
        Re-select the training subset during the search with
        :class:`~proxydata.GlisterSelector` (Adaptive-NAS); not with ``proxy`` or ``bdp``.
    adaptive_kwargs : dict
        Its arguments other than targets, splits, epochs and seed (``ratio``,
        ``interval``, ``eta``).
    search_kwargs : dict
        Optimiser settings passed to :func:`proxydata.nas.search`.
    network_kwargs : dict
        Settings of the supernet passed to :func:`proxydata.nas.make_supernet`
        (e.g. ``{"reinforce": {"samples_per_batch": 8}}`` for ENAS); JSON values only.
    augment_padding : int or None
        Search-time augmentation of both splits (random crop after this much
        zero padding, horizontal flip; :class:`~proxydata.nas.CropFlipDataset`,
        seeded by ``seed``); None for none.
    hessian_samples : int
        When > 0, the dominant eigenvalue of the validation loss's Hessian with
        respect to the architecture parameters is recorded after every epoch on
        this many validation samples (drawn once, seeded by ``seed``,
        unaugmented); DARTS algorithms only.
    hessian_iterations : int
        Power-iteration budget of each eigenvalue.
    num_workers : int
        DataLoader workers.
    progress : bool
    space : {"nb201", "darts"}
        The search space: NAS-Bench-201's cell (``N`` cells per stage) or the DARTS
        space (:class:`~proxydata.nas.spaces.darts.DartsSupernet` of ``N`` cells; ``algo``
        one of :data:`~proxydata.nas.search_options.DARTS_SPACE_ALGORITHMS`).
    """

    algo: str = "darts-v1"
    epochs: int = 50
    C: int = 16
    N: int = 5
    batch_size: int = 64
    seed: int = 0
    device: str = "cpu"
    proxy: str | None = None
    ratio: float = 1.0
    proxy_kwargs: dict[str, Any] = field(default_factory=dict)
    bdp: bool = False
    bdp_kwargs: dict[str, Any] = field(default_factory=dict)
    adaptive: str | None = None
    adaptive_kwargs: dict[str, Any] = field(default_factory=dict)
    search_kwargs: dict[str, Any] = field(default_factory=dict)
    network_kwargs: dict[str, Any] = field(default_factory=dict)
    augment_padding: int | None = None
    hessian_samples: int = 0
    hessian_iterations: int = 20
    num_workers: int = 0
    progress: bool = True
    space: str = "nb201"

    def validate(self) -> SearchConfig:
        """Check every field (``ProxydataValueError`` / ``ProxydataTypeError`` naming it); return self."""
        space = check_choice(self.space, "space", tuple(SPACE_ALGORITHMS))
        check_choice(self.algo, "algo", SPACE_ALGORITHMS[space])
        check_int(self.epochs, "epochs", minimum=1)
        check_int(self.C, "C", minimum=1)
        check_int(self.N, "N", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_seed(self.seed)
        check_int(self.num_workers, "num_workers", minimum=0)
        if self.augment_padding is not None:
            check_int(self.augment_padding, "augment_padding", minimum=0)
        check_int(self.hessian_samples, "hessian_samples", minimum=0)
        check_int(self.hessian_iterations, "hessian_iterations", minimum=1)
        check_bool(self.bdp, "bdp")
        check_bool(self.progress, "progress")
        check_device(self.device)
        for name in ("proxy_kwargs", "bdp_kwargs", "search_kwargs", "network_kwargs"):
            if not isinstance(getattr(self, name), dict):
                raise ProxydataTypeError(f"{name} must be a dict, got {show(getattr(self, name))}")
        taken = sorted({"targets", "train_indices", "val_indices", "epochs", "seed"} & set(self.bdp_kwargs))
        if taken:  # run_search passes these itself: the pruner's epochs are the search's
            raise ProxydataValueError(
                f"bdp_kwargs must not set {taken}: run_search builds the pruner with the search's "
                f"epochs={self.epochs}, seed={self.seed} and splits"
            )
        self._validate_adaptive()
        if self.proxy is not None:
            check_choice(self.proxy, "proxy", registered_methods())
        check_ratio(self.ratio)
        if self.proxy is None and self.ratio != 1.0:
            raise ProxydataValueError(f"ratio={self.ratio} needs a proxy method (proxy is None)")
        return self

    def _validate_adaptive(self) -> None:
        if not isinstance(self.adaptive_kwargs, dict):
            raise ProxydataTypeError(f"adaptive_kwargs must be a dict, got {show(self.adaptive_kwargs)}")
        if self.adaptive is None:
            if self.adaptive_kwargs:
                raise ProxydataValueError("adaptive_kwargs needs adaptive='glister' (adaptive is None)")
            return
        check_choice(self.adaptive, "adaptive", ADAPTIVE_METHODS)
        for other, value in (("proxy", self.proxy is not None), ("bdp", self.bdp)):
            if value:
                raise ProxydataValueError(f"adaptive={self.adaptive!r} cannot be combined with {other}")
        taken = sorted(
            {"targets", "train_indices", "val_indices", "epochs", "seed"} & set(self.adaptive_kwargs)
        )
        if taken:
            raise ProxydataValueError(
                f"adaptive_kwargs must not set {taken}: run_search builds the selector with the search's "
                f"epochs={self.epochs}, seed={self.seed} and splits"
            )


@dataclass
class SearchRecord(DictAccess):
    """What :func:`run_search` returns: the run's settings, data and costs, and the search's result.

    Reading it as the dict :func:`run_search` returned up to 0.2
    (``record["genotype"]``) still works until 0.4, with a ``FutureWarning``;
    :meth:`to_dict` gives that dict (JSON-able, as the CLI and the benchmarks write it).

    Attributes
    ----------
    config : dict
        The :class:`SearchConfig`, as a dict taken when the run started.
    train_pool, val_size : int
        Sizes of the DARTS training split (the pool a proxy is drawn from) and of
        the validation split.
    proxy_seconds : float
        The proxy's selection time (0 without a proxy).
    proxy_selection_cost : dict or None
        The proxy's ``selection_cost`` (``samples`` passed through a network,
        ``cpu_seconds``, ``wall_seconds``; see
        :class:`~proxydata.samplers.base.ProxySampler`), None without a proxy:
        what the selection spent, to state a search's saving net of it.
    kept_train : int
        Training samples the proxy kept (all of the pool without one).
    kept_class_counts : list of int
        Their count per class (the dataset's classes present).
    kept_balance : float
        :func:`~proxydata.metrics.class_balance_degree` of those counts.
    wall_seconds, search_cpu_seconds : float
        Wall time and CPU time (this process) of the search: on a shared machine
        the wall time also counts other jobs' load, the CPU time only this search's work.
    result : SearchResult
        What :func:`~proxydata.nas.search` returned.
    pruner_history : list of dict or None
        The pruner's history (plain data) when ``config.bdp``, or the adaptive
        selector's when ``config.adaptive``.
    adaptive_selection_cost : dict or None
        The adaptive selector's ``selection_cost`` (``samples`` passed through
        the network for the selection only, ``cpu_seconds``, ``wall_seconds``,
        ``selections``) when ``config.adaptive``.
    final_train, final_val : int or None
        The pruner's (selector's) kept sizes after the last epoch.
    accuracies : dict or None
        The found cell's row of the NAS-Bench-201 table, when one was given.
    """

    config: dict[str, Any]
    train_pool: int
    val_size: int
    proxy_seconds: float
    kept_train: int
    kept_class_counts: list[int]
    kept_balance: float
    wall_seconds: float
    search_cpu_seconds: float
    result: SearchResult
    pruner_history: list[dict[str, Any]] | None = None
    adaptive_selection_cost: dict[str, Any] | None = None
    final_train: int | None = None
    final_val: int | None = None
    accuracies: dict[str, Any] | None = None
    proxy_selection_cost: dict[str, Any] | None = None

    @property
    def genotype(self) -> str:
        """The found cell (``result.genotype``)."""
        return self.result.genotype

    def to_dict(self) -> dict[str, Any]:
        """A new JSON-able dict: the run's fields, then the :class:`~proxydata.nas.SearchResult` fields,
        then the pruner's and the table's when present (sharing nothing with the record)."""
        head = ("config", "train_pool", "val_size", "proxy_seconds", "kept_train", "kept_class_counts")
        head += ("kept_balance", "wall_seconds", "search_cpu_seconds", "proxy_selection_cost")
        out = {name: copy.deepcopy(getattr(self, name)) for name in head}
        out.update(self.result.to_dict())
        if self.pruner_history is not None:
            out["pruner_history"] = copy.deepcopy(self.pruner_history)
            out["final_train"], out["final_val"] = self.final_train, self.final_val
            if self.adaptive_selection_cost is not None:
                out["adaptive_selection_cost"] = dict(self.adaptive_selection_cost)
        if self.accuracies is not None:
            out["accuracies"] = dict(self.accuracies)
        return out


@dataclass
class GenotypeEvaluation(DictAccess):
    """What :func:`evaluate_genotype` returns: the training's record and the data it ran on.

    Reading it as the dict :func:`evaluate_genotype` returned up to 0.2 still works
    until 0.4, with a ``FutureWarning``; :meth:`to_dict` gives that dict.

    Attributes
    ----------
    train : TrainResult
        :func:`~proxydata.nas.train_genotype`'s record (``train.test_acc`` in [0, 1], ...).
    epochs, train_size, test_size : int
    seconds : float
        Wall time of the whole evaluation (loaders included).
    """

    train: TrainResult
    epochs: int
    train_size: int
    test_size: int
    seconds: float

    @property
    def test_acc(self) -> float:
        """The test accuracy, in [0, 1] (``train.test_acc``)."""
        return self.train.test_acc

    def to_dict(self) -> dict[str, Any]:
        """:meth:`TrainResult.to_dict` with ``epochs``, ``train_size``, ``test_size`` and this ``seconds``."""
        out = self.train.to_dict()
        out.update(
            epochs=self.epochs, train_size=self.train_size, test_size=self.test_size, seconds=self.seconds
        )
        return out


def image_shape(dataset: Any) -> tuple[int, int, int]:
    """``(C, H, W)`` of the dataset's first image."""
    x = dataset[0][0]
    if getattr(x, "ndim", 0) != 3:
        shape = getattr(x, "shape", None)
        raise ProxydataValueError(f"dataset items must be (C, H, W) image tensors, got shape {shape}")
    return tuple(int(s) for s in x.shape)  # type: ignore[return-value]


def run_search(
    dataset: Any,
    train_indices: Any,
    val_indices: Any,
    config: SearchConfig,
    *,
    table: Any = None,
    callbacks: tuple = (),
) -> SearchRecord:
    """Run one architecture search and return its record.

    Parameters
    ----------
    dataset : map-style dataset of ``(image, label)``
        Holds both search splits.
    train_indices, val_indices : 1-D integer arrays
        The DARTS training split (the pool a static proxy is drawn from) and
        the validation split (architecture steps).
    config : SearchConfig
    table : proxydata.nas.NB201Table, optional
        When given, the found genotype's benchmark accuracies are added.
    callbacks : tuple of callables
        Passed to :func:`proxydata.nas.search`.

    Returns
    -------
    SearchRecord
        The config, the proxy's selection seconds and kept sizes, the search's
        :class:`~proxydata.nas.SearchResult`, the pruner's history when used, and
        ``accuracies`` from the table when given; ``to_dict()`` for the JSON-able dict.
    """
    if not isinstance(config, SearchConfig):
        raise ProxydataTypeError(f"config must be a SearchConfig, got {show(config)}")
    config.validate()
    settings = asdict(config)
    targets = get_targets(dataset, progress=False)
    train_idx = np.asarray(train_indices, dtype=np.int64)
    val_idx = np.asarray(val_indices, dtype=np.int64)
    kept, proxy_seconds, selection_cost = _apply_proxy(dataset, train_idx, targets, config)
    pruner = None
    if config.bdp:
        pruner = BiLevelPruner(
            targets, kept, val_idx, epochs=config.epochs, seed=config.seed, **config.bdp_kwargs
        )
    elif config.adaptive is not None:
        pruner = GlisterSelector(
            targets, kept, val_idx, epochs=config.epochs, seed=config.seed, **config.adaptive_kwargs
        )
    result, wall_seconds, cpu_seconds = _search(dataset, targets, kept, val_idx, config, pruner, callbacks)
    # only the dataset's classes that are present are counted: unused label ids
    # do not pull the balance degree down
    counts = class_counts(targets[kept], classes=np.unique(targets))
    return SearchRecord(
        config=settings,
        train_pool=int(train_idx.size),
        val_size=int(val_idx.size),
        proxy_seconds=proxy_seconds,
        kept_train=int(kept.size),
        kept_class_counts=counts.tolist(),
        kept_balance=class_balance_degree(counts),
        wall_seconds=wall_seconds,
        search_cpu_seconds=cpu_seconds,
        result=result,
        pruner_history=None if pruner is None else to_plain(pruner.history),
        adaptive_selection_cost=None if config.adaptive is None else dict(pruner.selection_cost),
        final_train=None if pruner is None else int(pruner.kept_train.size),
        final_val=None if pruner is None else int(pruner.kept_val.size),
        accuracies=None if table is None else table.lookup(result.genotype),
        proxy_selection_cost=selection_cost,
    )


def _search(
    dataset: Any,
    targets: np.ndarray,
    kept: np.ndarray,
    val_idx: np.ndarray,
    config: SearchConfig,
    pruner: BiLevelPruner | GlisterSelector | None,
    callbacks: tuple,
) -> tuple[SearchResult, float, float]:
    """The loaders, the supernet and :func:`~proxydata.nas.search` with ``config``'s settings.

    Returns the result, and the wall and CPU seconds (this process) of the search itself.
    """
    train_loader, val_loader = _search_loaders(dataset, kept, val_idx, config, pruner)
    search_kwargs = dict(config.search_kwargs)
    if config.hessian_samples > 0:
        search_kwargs["hessian_batch"] = hessian_batch(dataset, val_idx, config.hessian_samples, config.seed)
        search_kwargs["hessian_iterations"] = config.hessian_iterations
    start, cpu_start = time.perf_counter(), time.process_time()
    result = search(
        _supernet(dataset, targets, config),
        train_loader,
        val_loader,
        algo=config.algo,
        epochs=config.epochs,
        pruner=pruner,
        device=config.device,
        seed=config.seed,
        callbacks=callbacks,
        progress=config.progress,
        **search_kwargs,
    )
    return result, time.perf_counter() - start, time.process_time() - cpu_start


def _supernet(dataset: Any, targets: np.ndarray, config: SearchConfig) -> Supernet:
    """The seeded supernet for ``config.algo`` (its defaults), sized for the dataset's images and labels."""
    return make_supernet(
        config.algo,
        C=config.C,
        N=config.N,
        num_classes=int(targets.max()) + 1,  # the output layer covers every label id
        in_channels=image_shape(dataset)[0],
        space=config.space,
        seed=config.seed,
        **config.network_kwargs,
    )


def _apply_proxy(
    dataset: Any, train_idx: np.ndarray, targets: np.ndarray, config: SearchConfig
) -> tuple[np.ndarray, float, dict[str, Any] | None]:
    """The kept training indices (the proxy drawn from ``train_idx``, or all of it), the proxy's
    seconds and its ``selection_cost`` (None without a proxy)."""
    if config.proxy is None:
        return train_idx, 0.0, None
    proxy = make_proxy(
        config.proxy,
        Subset(dataset, train_idx.tolist()),
        ratio=config.ratio,
        seed=config.seed,
        progress=config.progress,
        targets=targets[train_idx],
        **config.proxy_kwargs,
    )
    return train_idx[proxy.indices], float(proxy.fit_seconds), dict(proxy.selection_cost or {}) or None


def _search_loaders(
    dataset: Any,
    kept: np.ndarray,
    val_idx: np.ndarray,
    config: SearchConfig,
    pruner: BiLevelPruner | GlisterSelector | None,
) -> tuple[DataLoader, DataLoader]:
    """The two loaders over the (augmented) indexed dataset: the pruner's samplers, or seeded shuffles."""
    searched = dataset
    if config.augment_padding is not None:
        searched = CropFlipDataset(dataset, padding=config.augment_padding, flip=True, seed=config.seed)
    indexed = IndexedDataset(searched)
    if pruner is not None:
        train_sampler, val_sampler = pruner.train_sampler, pruner.val_sampler
    else:
        train_sampler = ShardedIndexSampler(kept, seed=config.seed)
        val_sampler = ShardedIndexSampler(val_idx, seed=config.seed + 1)

    def loader(sampler: Any) -> DataLoader:
        return DataLoader(
            indexed, batch_size=config.batch_size, sampler=sampler, num_workers=config.num_workers
        )

    return loader(train_sampler), loader(val_sampler)


def hessian_batch(dataset: Any, val_indices: np.ndarray, size: int, seed: int) -> tuple[Any, Any]:
    """A fixed validation batch: ``size`` indices of ``val_indices`` drawn without replacement."""
    import torch

    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(val_indices, size=min(size, val_indices.size), replace=False))
    items = [dataset[int(i)] for i in chosen]
    x = torch.stack([torch.as_tensor(item[0]) for item in items])
    y = torch.as_tensor([int(item[1]) for item in items], dtype=torch.int64)
    return x, y


def full_data_samples(train_size: int, val_size: int, batch_size: int) -> tuple[int, int]:
    """Training and validation samples one epoch of a full-data search processes.

    The loop pairs every training batch with the next validation batch, the
    validation loader restarting when it runs out (and at every epoch), so the
    validation count is that of ``ceil(train_size / batch_size)`` batches cycled
    through ``val_size`` samples: ``val_size`` times per complete pass, plus the
    batches of the last partial pass (``batch_size`` each, the last one of a
    pass ``val_size mod batch_size`` when it is not 0).
    """
    check_int(train_size, "train_size", minimum=0)
    check_int(val_size, "val_size", minimum=1)
    check_int(batch_size, "batch_size", minimum=1)
    n_batches = -(-train_size // batch_size)
    per_pass = -(-val_size // batch_size)
    passes, rest = divmod(n_batches, per_pass)
    # the partial pass stops before its last (possibly short) batch
    return train_size, passes * val_size + rest * batch_size


def data_used(record: SearchRecord | dict[str, Any]) -> float:
    """Share of the search data a run processed, against a full-data run of equal length.

    ``sum_e (train_sizes[e] + val_sizes[e]) / (epochs · (n_t + n_v))`` where
    ``(n_t, n_v)`` = :func:`full_data_samples` of the run's training pool,
    validation split and batch size: exactly 1.0 for a full-data search (the
    validation batches are paired with the training batches, so the validation
    loader may wrap around or stop early), about ``r`` for a static proxy of
    ratio ``r``, less for a pruned run. Records without a batch size (older
    files) are compared with ``epochs · (train_pool + val_size)``.

    ``record`` is a :class:`SearchRecord` or its ``to_dict()`` (as read back from a file).
    """
    if isinstance(record, SearchRecord):
        record = record.to_dict()
    epochs = len(record.get("train_sizes") or ())
    pool, val = int(record["train_pool"]), int(record["val_size"])
    batch = (record.get("config") or {}).get("batch_size")
    if batch and val > 0:
        pool, val = full_data_samples(pool, val, int(batch))
    full = epochs * (pool + val)
    if full == 0:
        return float("nan")
    used = sum(record.get("train_sizes") or ()) + sum(record.get("val_sizes") or ())
    return float(used) / full


def evaluate_genotype(
    genotype: Any,
    train_set: Any,
    test_set: Any,
    *,
    epochs: int,
    C: int,
    N: int,
    num_classes: int | None = None,
    batch_size: int = 64,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    **train_kwargs: Any,
) -> GenotypeEvaluation:
    """Train the cell ``genotype`` from scratch and measure its test accuracy.

    A thin wrapper of :func:`proxydata.nas.train_genotype` that builds the two
    loaders (training shuffled with a generator seeded by ``seed``) and records
    the sizes and the wall time.

    Parameters
    ----------
    genotype : str or proxydata.nas.Genotype
    train_set, test_set : map-style datasets of ``(image, label)``
        Disjoint: ``test_set`` must not have been seen by the search.
    epochs, C, N : int
        Training epochs and the stand-alone network's width and depth.
    num_classes : int, optional
        Default: the largest label of ``train_set`` plus one.
    batch_size, seed, device, progress
    **train_kwargs
        Passed to :func:`~proxydata.nas.train_genotype` (``lr``, ...).

    Returns
    -------
    GenotypeEvaluation
        ``train_genotype``'s :class:`~proxydata.nas.TrainResult` (``test_acc`` in
        [0, 1], ...) with ``epochs``, ``train_size``, ``test_size`` and the
        evaluation's ``seconds``.
    """
    import torch

    check_int(epochs, "epochs", minimum=1)
    check_seed(seed)
    if num_classes is None:
        num_classes = int(get_targets(train_set, progress=False).max()) + 1
    g = torch.Generator()
    g.manual_seed(seed)
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=g)
    test_loader = DataLoader(test_set, batch_size=max(batch_size, 256), shuffle=False)
    start = time.perf_counter()
    trained = train_genotype(
        str(genotype),
        train_loader,
        test_loader,
        epochs=epochs,
        C=C,
        N=N,
        num_classes=num_classes,
        in_channels=image_shape(train_set)[0],
        device=device,
        seed=seed,
        progress=progress,
        **train_kwargs,
    )
    return GenotypeEvaluation(
        train=trained,
        epochs=epochs,
        train_size=len(train_set),
        test_size=len(test_set),
        seconds=time.perf_counter() - start,
    )
