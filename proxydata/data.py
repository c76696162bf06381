"""Dataset plumbing: indexed samples, cheap label look-up, integer-array digests, splits.

The split arithmetic lives here; :class:`~proxydata.indexed.IndexedDataset`,
:func:`~proxydata.indexed.get_targets`, :func:`~proxydata.indexed.is_label_container`
and :func:`~proxydata.indexed.array_digest` live in :mod:`proxydata.indexed` (a
lower layer, which the batch reader and the fingerprint build on) and the
dataset fingerprint in :mod:`proxydata.fingerprint`; all are importable from here.
"""

from __future__ import annotations

import math
import numbers
from fractions import Fraction
from typing import Any

import numpy as np

from ._validation import check_fraction, check_int, check_labels, check_seed
from .exceptions import ProxydataValueError
from .fingerprint import dataset_fingerprint, fingerprint_differences
from .indexed import IndexedDataset, array_digest, get_targets, is_label_container

__all__ = [
    "IndexedDataset",
    "array_digest",
    "dataset_fingerprint",
    "fingerprint_differences",
    "get_targets",
    "is_label_container",
    "round_half_up",
    "share_count",
    "split_indices",
]


def round_half_up(x: float) -> int:
    """Round half up, ``floor(x + 0.5)``, of a float as it is.

    Python's ``round`` rounds halves to even (``round(2.5) == 2``). Counts derived
    from a ratio use :func:`share_count` instead, which forms ``r * n`` exactly
    from the decimal ``r`` prints as (``0.145 * 100`` in floats is just below
    ``14.5``).

    Parameters
    ----------
    x : float

    Returns
    -------
    int
    """
    return math.floor(x + 0.5)


def share_count(n: int, share: float) -> int:
    """How many of ``n`` items a share keeps: ``floor(share * n + 1/2)``, computed as written.

    The library's one rule for counts derived from a ratio (a proxy's kept count,
    a pruning step's count, a split's size). The product is formed from the
    decimal that ``share`` prints as (``repr(float(share))``), in exact rational
    arithmetic, so the result is what a person computes from the formula:
    ``share_count(100, 0.145)`` is 15 (``14.5`` rounded half up), although the
    binary float product ``0.145 * 100`` is ``14.499999999999998``.

    Parameters
    ----------
    n : int >= 0
    share : float

    Returns
    -------
    int

    Examples
    --------
    >>> share_count(100, 0.145), share_count(5, 0.5), share_count(10, 0.04)
    (15, 3, 0)
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ProxydataValueError(f"n must be an integer >= 0, got {n!r}")
    if isinstance(share, bool) or not isinstance(share, numbers.Real) or not math.isfinite(share):
        raise ProxydataValueError(f"share must be a finite number, got {share!r}")
    exact = Fraction(repr(float(share))) * int(n) + Fraction(1, 2)
    return math.floor(exact)


def split_indices(
    n: int,
    fraction: float = 0.5,
    seed: int = 0,
    stratify: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` into two disjoint parts, e.g. DARTS's train/val halves.

    The first part holds ``round(fraction * n)`` indices, or with ``stratify``
    ``round(fraction * n_c)`` of every class ``c``, halves rounded up (:func:`share_count`; so both
    parts keep the class proportions). Both parts are returned sorted.

    Parameters
    ----------
    n : int >= 2
    fraction : float in (0, 1)
        Share of the first part (a split share; ``ratio`` elsewhere is the
        share a proxy keeps, ``*_prune_ratio`` the share a pruning step removes).
    seed : int
        Seeds the permutation (``numpy.random.default_rng``).
    stratify : 1-D integer labels of length n, optional

    Returns
    -------
    first, second : np.ndarray of int64
    """
    n = check_int(n, "n", minimum=2)
    frac = check_fraction(fraction, "fraction", low_open=True, high_open=True)
    rng = np.random.default_rng(check_seed(seed))
    if stratify is None:
        perm = rng.permutation(n)
        k = share_count(n, frac)
        first = perm[:k]
    else:
        y = check_labels(stratify, "stratify", n=n)
        parts = []
        for c in np.unique(y):
            members = np.flatnonzero(y == c)
            k = share_count(int(members.size), frac)
            parts.append(rng.permutation(members)[:k])
        first = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    first = np.sort(first.astype(np.int64))
    mask = np.ones(n, dtype=bool)
    mask[first] = False
    return first, np.flatnonzero(mask).astype(np.int64)
