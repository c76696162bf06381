"""Which samples one pruning step removes from one split (pure numpy).

Given the kept samples of a split with their VoE, the step walks the samples
in VoE order (ascending for ``"low"``, descending for ``"high"``; ties by
dataset index) and takes them one by one, skipping a sample whose class has
reached its cap, until ``asked`` are taken or the candidates run out. A class's
cap is ``min(N_k, n_k − min_per_class)`` — ``N_k`` the automatic class-balance
limit when class balancing is on (BDP, Tu et al. 2023, Sec. 3.3) — so no class
ever falls below ``min_per_class``. Samples without a VoE are never candidates.

The walk is computed without a Python loop: a candidate is taken iff its rank
within its class (in VoE order) is below the class's cap, and the first
``asked`` such candidates are exactly the ones the greedy walk takes. Only a
prefix of the VoE order is sorted unless the caps make the walk go deeper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import show
from ..exceptions import ProxydataTypeError, ProxydataValueError
from ..metrics import class_balance_degree

__all__ = ["Selection", "compute_class_limits", "select_for_pruning"]

LimitFn = Callable[[np.ndarray, int, float], Any]


@dataclass
class Selection:
    """The outcome of one pruning step on one split.

    Attributes
    ----------
    indices : np.ndarray of int64
        Pruned dataset indices, in the order they were taken (VoE order).
    voe : np.ndarray of float64
        Their VoE.
    asked : int
        ``round(p · n_initial)``: how many the schedule asked for.
    held_back_by : dict
        ``asked − pruned`` split by cause, attributed in this order: ``"no_voe"``
        (too few samples had a VoE), ``"class_limit"`` (the class-balance limit
        ``N_k`` capped the candidates), ``"min_per_class"`` (taking more would
        take a class below ``min_per_class``).
    protected : np.ndarray of int64
        Samples that VoE order alone would have pruned (the first ``asked``
        candidates) but the class caps kept.
    protected_by : dict
        ``len(protected)`` split by cause: ``"class_limit"`` for the samples
        ``min_per_class`` alone would have let the step prune (the class-balance
        limit changed the step), ``"min_per_class"`` for the rest.
    n_candidates : int
        Kept samples with a VoE.
    """

    indices: np.ndarray
    voe: np.ndarray
    asked: int
    held_back_by: dict[str, int]
    protected: np.ndarray
    n_candidates: int
    protected_by: dict[str, int]

    @property
    def pruned(self) -> int:
        return int(self.indices.size)

    @property
    def held_back(self) -> int:
        return self.asked - self.pruned


def _rank_within_class(classes: np.ndarray) -> np.ndarray:
    """``r_j`` = number of earlier entries with the same class as entry ``j``."""
    m = classes.size
    if m == 0:
        return np.empty(0, dtype=np.int64)
    order = np.argsort(classes, kind="stable")
    grouped = classes[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    sizes = np.diff(np.r_[starts, m])
    rank_sorted = np.arange(m, dtype=np.int64) - np.repeat(starts, sizes)
    rank = np.empty(m, dtype=np.int64)
    rank[order] = rank_sorted
    return rank


def _ordered_prefix(key: np.ndarray, k: int) -> np.ndarray:
    """Positions of the smallest keys in stable order: a prefix of ``argsort(key, stable)``.

    Holds at least ``min(k, len(key))`` positions, and every position whose key
    equals the largest key taken, so that ties at the cut are ordered by position
    exactly as the full stable sort orders them. ``O(len(key))`` plus sorting the
    prefix, instead of sorting everything.
    """
    m = key.size
    if k >= m // 2:
        return np.argsort(key, kind="stable")
    cut = key[np.argpartition(key, k - 1)[:k]].max()
    prefix = np.flatnonzero(key <= cut)
    return prefix[np.argsort(key[prefix], kind="stable")]


def compute_class_limits(
    counts: np.ndarray, present: np.ndarray, num_steps: int, limit_fn: LimitFn
) -> tuple[np.ndarray, float]:
    """Per-class limits ``N_k`` of one step and the split's balance degree ``B``.

    ``B`` and the limits are computed over the classes ``present`` in the split
    when the pruner was built (a class the split never had is not an
    imbalance pruning could cause); absent classes get limit 0. A limit of
    ``+inf`` (``math.inf`` or ``np.inf``) means "no limit" for that class;
    limits above a class's count are recorded as its count.

    Parameters
    ----------
    counts : np.ndarray of int64, shape (K,)
        Current class counts of the split.
    present : np.ndarray of int64
        Class ids that were present initially.
    num_steps : int
        ``S``.
    limit_fn : callable ``(counts, S, B) -> limits``
        E.g. :func:`proxydata.metrics.class_prune_limits`.

    Returns
    -------
    limits : np.ndarray of int64, shape (K,)
    balance : float

    Raises
    ------
    ProxydataValueError, ProxydataTypeError
        When ``limit_fn`` returns anything but one non-negative integer (or
        ``+inf``) per present class.
    """
    sub = counts[present]
    balance = class_balance_degree(sub)
    raw = limit_fn(sub.copy(), int(num_steps), balance)
    arr = np.asarray(raw.detach().cpu().numpy() if hasattr(raw, "detach") else raw)
    if arr.shape != sub.shape:
        raise ProxydataValueError(
            f"limit_fn must return one limit per class, shape {sub.shape}, got shape {arr.shape}"
        )
    if arr.dtype.kind == "f":
        unlimited = np.isposinf(arr)
        arr = np.where(unlimited, sub.astype(np.float64), arr)
        if not np.all(np.isfinite(arr) & (arr == np.floor(arr))):
            raise ProxydataTypeError(f"limit_fn must return non-negative integers or inf, got {show(raw)}")
    elif arr.dtype.kind not in "iu":
        raise ProxydataTypeError(f"limit_fn must return non-negative integers or inf, got {show(raw)}")
    if arr.size and arr.min() < 0:
        raise ProxydataValueError(f"limit_fn must return non-negative integers or inf, got {show(raw)}")
    limits = np.zeros(counts.shape, dtype=np.int64)
    limits[present] = np.minimum(arr, sub).astype(np.int64)
    return limits, balance


def select_for_pruning(
    indices: np.ndarray,
    labels: np.ndarray,
    voe: np.ndarray,
    asked: int,
    criterion: str,
    num_classes: int,
    min_per_class: int,
    limits: np.ndarray | None,
) -> Selection:
    """Choose the samples one step prunes from one split.

    Parameters
    ----------
    indices : np.ndarray of int64, sorted ascending
        The split's kept dataset indices.
    labels, voe : np.ndarray, same length
        Their classes and VoE (NaN = no VoE, never pruned).
    asked : int
        Number to prune.
    criterion : {"low", "high"}
        Prune the lowest or the highest VoE first.
    num_classes : int
    min_per_class : int
        No class is taken below this count.
    limits : np.ndarray of int64, shape (num_classes,), optional
        Class-balance limits ``N_k``; None disables them.

    Returns
    -------
    Selection
    """
    has_voe = np.isfinite(voe)
    cand_pos = np.flatnonzero(has_voe)
    # Sort key: ascending for "low", descending for "high"; ties by index (positions are in
    # index order because indices are sorted, and every sort below is stable).
    key = voe[cand_pos] if criterion == "low" else -voe[cand_pos]
    m = key.size

    counts = np.bincount(labels, minlength=num_classes)
    floor_cap = np.maximum(counts - min_per_class, 0)
    cap = floor_cap if limits is None else np.minimum(limits, floor_cap)
    per_class = np.bincount(labels[cand_pos], minlength=num_classes)
    avail_all = int(np.minimum(per_class, cap).sum())
    taken, protected, rank = _walk(cand_pos, key, labels, cap, int(asked), min(int(asked), avail_all))
    # A protected sample was the rank-th candidate of its class; min_per_class alone caps at floor_cap.
    by_limit = int(np.count_nonzero(rank < floor_cap[labels[protected]]))
    return Selection(
        indices=indices[taken].astype(np.int64),
        voe=voe[taken].astype(np.float64),
        asked=int(asked),
        held_back_by=_held_back_by(int(asked), int(m), per_class, limits, avail_all),
        protected=indices[protected].astype(np.int64),
        n_candidates=int(m),
        protected_by={"class_limit": by_limit, "min_per_class": int(protected.size) - by_limit},
    )


def _walk(
    cand_pos: np.ndarray, key: np.ndarray, labels: np.ndarray, cap: np.ndarray, asked: int, expected: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions the greedy walk takes, those VoE order alone would take but the caps keep,
    and the latter's rank within their class in VoE order.

    Usually the walk ends early: only a prefix of the candidates is ordered, with a
    fall-back to the full order when the class caps skip too many of them.
    """
    order = _ordered_prefix(key, 2 * asked + 64)
    while True:
        cand = cand_pos[order]
        cls = labels[cand]
        rank = _rank_within_class(cls)
        taken = cand[rank < cap[cls]][:asked]
        if taken.size == expected or order.size == key.size:
            break
        order = np.argsort(key, kind="stable")
    unconstrained = cand[:asked]
    kept = ~np.isin(unconstrained, taken)
    return taken, unconstrained[kept], rank[:asked][kept]


def _held_back_by(
    asked: int, with_voe: int, per_class: np.ndarray, limits: np.ndarray | None, avail: int
) -> dict:
    """``asked − pruned`` split by cause, in the order no VoE, class limit, min_per_class."""
    within_limit = int(np.minimum(per_class, limits).sum()) if limits is not None else with_voe
    return {
        "no_voe": asked - min(asked, with_voe),
        "class_limit": min(asked, with_voe) - min(asked, within_limit),
        "min_per_class": min(asked, within_limit) - min(asked, avail),
    }
