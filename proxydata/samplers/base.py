"""``ProxySampler``: what every static proxy sampler shares.

A proxy sampler chooses its subset eagerly, in the constructor, and is then a
plain :class:`torch.utils.data.Sampler` over the kept indices: reshuffled every
epoch (``set_epoch``), sharded across ranks like ``DistributedSampler``, and
savable to JSON or npz together with a fingerprint of the dataset it was
computed on.
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any, ClassVar

import numpy as np
from torch.utils.data import Subset

from .._sharding import ShardedIndexSampler
from .._validation import check_bool, check_labels, check_ratio, check_seed
from .._version import __version__
from ..data import dataset_fingerprint, get_targets, round_half_up
from ..metrics import class_balance_degree, class_counts

__all__ = ["ProxySampler", "highest", "lowest", "method_class", "proxy_size", "registered_methods"]

_REGISTRY: dict[str, type[ProxySampler]] = {}


def proxy_size(n: int, ratio: float) -> int:
    """Kept count ``m = round(r * n)``, rounding halves up (``floor(r * n + 0.5)``).

    Round-half-up (not Python's round-half-even) so that, e.g., ``r = 0.5`` of 5
    samples keeps 3: the rule is monotone in ``n`` and easy to compute by hand.
    """
    return round_half_up(ratio * n)


def lowest(scores: np.ndarray, m: int) -> np.ndarray:
    """Positions of the ``m`` smallest scores, ties broken by lower position."""
    return np.argsort(scores, kind="stable")[:m]


def highest(scores: np.ndarray, m: int) -> np.ndarray:
    """Positions of the ``m`` largest scores, ties broken by lower position."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:m]


def registered_methods() -> list[str]:
    """Acronyms of every registered proxy method (``rs``, ``cc-rs``, ...)."""
    return sorted(_REGISTRY)


def method_class(name: str) -> type[ProxySampler]:
    """The sampler class registered under acronym ``name`` (case-insensitive)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a proxy method name (str), got {name!r}")
    key = name.strip().lower().replace("_", "-")
    if key not in _REGISTRY:
        by_class = {cls.__name__.lower(): cls for cls in _REGISTRY.values()}
        if key in by_class:
            return by_class[key]
        raise ValueError(f"name must be one of {registered_methods()}, got {name!r}")
    return _REGISTRY[key]


class ProxySampler(ShardedIndexSampler):
    """Base class of the static proxy samplers (Moser et al., 2022).

    Subclasses set the class attribute ``method`` (the paper's acronym), list
    their own constructor parameters in ``param_names``, assign those
    parameters *before* calling ``super().__init__`` and implement
    :meth:`_select`.

    Parameters
    ----------
    dataset : map-style dataset
        The dataset the proxy indexes (e.g. the search training split).
    ratio : float in (0, 1]
        ``r``: the proxy keeps ``round(r * n)`` samples (per class for the
        class-conditional methods). ``r = 1`` keeps everything.
    seed : int
        Seeds every random choice (selection and the epoch shuffles).
    shuffle : bool
        Reshuffle the kept indices every epoch; ``False`` yields index order.
    num_replicas, rank : int, optional
        Shard like ``DistributedSampler`` (read from ``torch.distributed`` if None).
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
    fit_seconds : float
        Wall time of the selection.
    """

    method: ClassVar[str] = ""
    param_names: ClassVar[tuple[str, ...]] = ()

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
        self.ratio = check_ratio(ratio)
        self.progress = check_bool(progress, "progress")
        self.dataset = dataset
        self.targets = self._resolve_targets(dataset, targets)
        super().__init__(
            np.empty(0, dtype=np.int64),
            shuffle=shuffle,
            seed=check_seed(seed),
            num_replicas=num_replicas,
            rank=rank,
            drop_last=drop_last,
        )
        start = time.perf_counter()
        indices, scores = self._select()
        self.fit_seconds = time.perf_counter() - start
        self._indices = np.sort(np.asarray(indices, dtype=np.int64))
        self.scores = None if scores is None else np.asarray(scores, dtype=np.float64)

    # -- to implement -------------------------------------------------------
    def _select(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Return (kept indices, per-sample scores or None)."""
        raise NotImplementedError

    # -- helpers --------------------------------------------------------------
    @staticmethod
    def _resolve_targets(dataset: Any, targets: Any) -> np.ndarray:
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"dataset must be a map-style dataset, got {type(dataset).__name__}")
        n = len(dataset)
        if n == 0:
            raise ValueError("dataset must not be empty, got 0 samples")
        if targets is None:
            y = get_targets(dataset, progress=False)
        else:
            y = check_labels(targets, "targets")
        if y.shape[0] != n:
            raise ValueError(f"targets must have length len(dataset)={n}, got {y.shape[0]}")
        return y

    @property
    def n(self) -> int:
        """Size of the full dataset."""
        return int(self.targets.shape[0])

    @property
    def num_classes(self) -> int:
        return int(self.targets.max()) + 1

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters that determine the selection (saved with it)."""
        params = {"ratio": self.ratio, "seed": self.seed}
        for name in self.param_names:
            params[name] = getattr(self, name)
        return params

    def subset(self) -> Subset:
        """The kept samples as a :class:`torch.utils.data.Subset` of the dataset."""
        return Subset(self.dataset, self._indices.tolist())

    def kept_class_counts(self) -> np.ndarray:
        """Kept samples per class (length = number of classes of the dataset)."""
        return class_counts(self.targets[self._indices], self.num_classes)

    def balance_degree(self) -> float:
        """:func:`~proxydata.metrics.class_balance_degree` of the kept set."""
        return class_balance_degree(self.kept_class_counts())

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(method={self.method!r}, kept={self._indices.size}/{self.n}, "
            f"ratio={self.ratio}, seed={self.seed})"
        )

    # -- persistence ------------------------------------------------------------
    def _record(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "class": type(self).__name__,
            "params": _jsonable(self.get_params()),
            "seed": self.seed,
            "version": __version__,
            "fingerprint": dataset_fingerprint(self.targets),
            "n": self.n,
            "fit_seconds": self.fit_seconds,
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the selection to ``path`` (``.npz`` → npz, anything else → JSON).

        The file holds the method, its parameters, the seed, the library
        version, the dataset fingerprint, the kept indices and the scores.
        """
        path = os.fspath(path)
        record = self._record()
        if path.endswith(".npz"):
            arrays: dict[str, Any] = {"indices": self._indices, "meta": np.array(json.dumps(record))}
            if self.scores is not None:
                arrays["scores"] = self.scores
            np.savez_compressed(path, **arrays)
            return
        record["indices"] = self._indices.tolist()
        record["scores"] = None if self.scores is None else [_float_or_none(s) for s in self.scores]
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(record, fh)

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

        Raises
        ------
        ValueError
            If the file was made on a dataset with another fingerprint (length or
            labels differ), or for another method than ``cls``.
        """
        path = os.fspath(path)
        if path.endswith(".npz"):
            with np.load(path, allow_pickle=False) as z:
                record = json.loads(str(z["meta"]))
                indices = z["indices"].astype(np.int64)
                scores = z["scores"].astype(np.float64) if "scores" in z.files else None
        else:
            with open(path, encoding="utf-8") as fh:
                record = json.load(fh)
            indices = np.asarray(record["indices"], dtype=np.int64)
            raw = record.get("scores")
            scores = None if raw is None else np.array([np.nan if s is None else s for s in raw])
        klass = method_class(record["method"])
        if cls is not ProxySampler and not issubclass(klass, cls):
            raise ValueError(f"path holds a {record['method']!r} proxy, not a {cls.method!r} one: {path!r}")
        obj = klass.__new__(klass)
        obj.dataset = dataset
        obj.targets = cls._resolve_targets(dataset, targets)
        found = dataset_fingerprint(obj.targets)
        if found != record["fingerprint"]:
            raise ValueError(
                f"dataset does not match the saved proxy {path!r}: fingerprint {found!r}, "
                f"saved {record['fingerprint']!r}"
            )
        params = record["params"]
        obj.ratio = float(params["ratio"])
        for name in klass.param_names:
            if name in params:
                setattr(obj, name, params[name])
        obj.progress = False
        obj.fit_seconds = float(record.get("fit_seconds", 0.0))
        ShardedIndexSampler.__init__(
            obj,
            indices,
            shuffle=shuffle,
            seed=int(record["seed"]),
            num_replicas=num_replicas,
            rank=rank,
            drop_last=drop_last,
        )
        obj.scores = scores
        return obj


def _float_or_none(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = value
        elif isinstance(value, (np.integer, np.floating)):
            out[key] = value.item()
        elif isinstance(value, (list, tuple)):
            out[key] = list(value)
        else:  # modules, devices, callables: record what they were, not their state
            out[key] = repr(value) if not hasattr(value, "__name__") else value.__name__
    return out
