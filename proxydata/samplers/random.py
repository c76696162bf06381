"""Random proxies: RS and CC-RS (Moser et al., 2022, Sec. 3.1)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .base import ProxySampler

__all__ = ["ClassRandomProxy", "RandomProxy"]


class RandomProxy(ProxySampler):
    """RS: ``m = round(r * n)`` samples drawn uniformly without replacement.

    The draw uses ``numpy.random.default_rng(seed)`` over the candidates (the
    split given as ``indices=``, in ascending dataset order, or the whole
    dataset); the parameters are those of
    :class:`~proxydata.samplers.base.ProxySampler`. ``scores`` is None. The
    labels are read too (for the fingerprint a saved proxy is checked against,
    and for :meth:`kept_class_counts`): a dataset without labels needs
    ``targets=``.
    """

    method = "rs"
    has_scores: ClassVar[bool] = False

    def _select(self) -> tuple[np.ndarray, None]:
        m = int(self.quota()[0])
        rng = np.random.default_rng(self.seed)
        return rng.choice(self.pool_size, size=m, replace=False), None


class ClassRandomProxy(ProxySampler):
    """CC-RS: ``round(r * n_c)`` samples drawn uniformly within every class ``c``.

    Keeps the class proportions of the dataset (or of the split given as
    ``indices=``) exactly, up to rounding. The classes are those present, visited
    in ascending order, one
    ``numpy.random.default_rng(seed)`` drawing for all of them. ``scores`` is None.
    """

    method = "cc-rs"
    class_conditional: ClassVar[bool] = True
    has_scores: ClassVar[bool] = False

    def _select(self) -> tuple[np.ndarray, None]:
        rng = np.random.default_rng(self.seed)
        labels = self.pool_targets()
        order = np.argsort(labels, kind="stable")  # members of a class, ascending
        starts = np.searchsorted(labels[order], self.classes)
        ends = np.r_[starts[1:], order.size]
        kept = []
        for m, lo, hi in zip(self.quota().tolist(), starts.tolist(), ends.tolist()):
            if m:
                kept.append(rng.choice(order[lo:hi], size=m, replace=False))
        return (np.concatenate(kept) if kept else np.empty(0, dtype=np.int64)), None
