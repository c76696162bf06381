"""The selection rules every proxy shares, below :mod:`proxydata.samplers.base`.

Kept counts (``round(r * n)``, per class or in all), the ranking helpers
(lowest/highest scores, ties by position), the split check, the constructor's
shared parameter names and the registry of methods. Both
:class:`~proxydata.samplers.base.ProxySampler` and the saved-file reader
(:mod:`proxydata.samplers.saved`) use them; ``proxydata.samplers.base``
re-exports every name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_indices
from ..data import share_count
from ..exceptions import ProxydataTypeError, ProxydataValueError
from ..metrics import class_counts

__all__ = [
    "RUNTIME_PARAMS",
    "SHARED_PARAMS",
    "SPLIT_PARAM",
    "highest",
    "kept_quota",
    "lowest",
    "lowest_per_class",
    "method_class",
    "proxy_size",
    "register",
    "registered_methods",
    "resolve_split",
    "shared_args",
]

#: The proxy classes by method acronym; filled by :meth:`ProxySampler.__init_subclass__`.
_REGISTRY: dict[str, type[Any]] = {}

#: Constructor arguments that shape how a proxy is served, not what it keeps:
#: not saved with a selection, given again to :meth:`~proxydata.samplers.base.ProxySampler.load`.
RUNTIME_PARAMS = ("shuffle", "num_replicas", "rank", "drop_last", "progress", "targets")


#: The sampler parameters every proxy's constructor spells out after its own.
SHARED_PARAMS = ("seed", "shuffle", "num_replicas", "rank", "drop_last", "progress", "targets", "indices")

#: The constructor parameter naming the split a proxy selects within; saved as the
#: file's ``split`` (not among the selection parameters: ``proxy.indices`` is the kept set).
SPLIT_PARAM = "indices"


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


def resolve_split(indices: Any, n: int, name: str = "indices") -> np.ndarray | None:
    """The sorted dataset indices of a split (``indices=``), checked; None for the whole dataset.

    Integers in ``[0, n)``, unique, at least one; any order is accepted (the
    selection depends on the set, not on the order given).
    """
    if indices is None:
        return None
    split = check_indices(indices, n, name)
    if split.size == 0:
        raise ProxydataValueError(f"{name} must name at least one dataset index, got an empty sequence")
    return np.sort(split)


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


def method_class(name: str) -> type[Any]:
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


def register(cls: type[Any]) -> None:
    """Register a proxy class under its ``method`` acronym (called for every subclass that sets one)."""
    _REGISTRY[cls.method] = cls
