"""Greedy geometric coreset baselines on the features KM-OR uses: herding and k-center greedy.

* **Herding** (Welling, "Herding Dynamical Weights to Learn", ICML 2009; the
  per-class exemplar selection of iCaRL, Rebuffi et al. 2017): per class, pick
  one sample at a time so that the mean of the picked features stays as close
  as possible to the class mean.
* **k-center greedy** (Sener & Savarese, "Active Learning for Convolutional
  Neural Networks: A Core-Set Approach", ICLR 2018): pick, one at a time, the
  sample farthest from every sample picked so far (the 2-approximation of the
  minimax facility location problem).

Both run on the same features as KM-OR (standardised raw pixels by default, a
``.npy`` file — memory-mapped —, an array or a module's embedding;
:func:`~proxydata.samplers.outliers.resolve_features`). Each greedy step is one
matrix-vector product over the candidates' rows: the rows are held in memory
as float32 when they fit in ``memory_budget`` bytes, else read from the
(memory-mapped) matrix a chunk at a time at every step.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from .._validation import check_int
from ..features import FeatureMatrix
from .base import shared_args
from .outliers import _FeatureProxy

__all__ = ["HerdingProxy", "KCenterProxy", "RowBlocks", "herding_order", "kcenter_order"]

#: Default bytes of float32 rows a greedy selection keeps in memory (beyond: streamed per step).
MEMORY_BUDGET = 2 * 2**30


class RowBlocks:
    """Rows ``rows`` of a feature matrix, re-iterable in chunks: in memory when they fit, else re-read.

    Parameters
    ----------
    x : FeatureMatrix
    rows : np.ndarray of int64, sorted
        Row positions in ``x``.
    budget : int
        Bytes of float32 that may be held: above it every pass reads the rows
        again from ``x`` (``x.take``), a chunk at a time. Every row of a
        float32 matrix already in memory is used as it is (no copy).
    """

    def __init__(self, x: FeatureMatrix, rows: np.ndarray, budget: int) -> None:
        self.x, self.rows = x, np.asarray(rows, dtype=np.int64)
        self.n, self.d = int(self.rows.size), x.d
        self.chunk = max(1, x.chunk_rows)
        every_row = self.n == x.n and bool(np.array_equal(self.rows, np.arange(x.n)))
        if every_row and x.is_view and not isinstance(x.x, np.memmap):
            self.held: np.ndarray | None = x.x  # already float32 in memory: no copy
        elif self.n * self.d * 4 <= budget:
            self.held = x.take(self.rows)
        else:
            self.held = None

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, self.n, self.chunk):
            stop = min(start + self.chunk, self.n)
            block = self.held[start:stop] if self.held is not None else self.x.take(self.rows[start:stop])
            yield start, block

    def row(self, position: int) -> np.ndarray:
        """Row ``position`` (of ``rows``) as float64."""
        if self.held is not None:
            return self.held[position].astype(np.float64)
        return self.x.take(self.rows[position : position + 1])[0].astype(np.float64)

    def sq_norms_and_sum(self) -> tuple[np.ndarray, np.ndarray]:
        """``||x_i||²`` of every row and the column sums, in float64 (one pass)."""
        norms = np.empty(self.n, dtype=np.float64)
        total = np.zeros(self.d, dtype=np.float64)
        for start, block in self:
            b = block.astype(np.float64)
            norms[start : start + b.shape[0]] = np.einsum("ij,ij->i", b, b)
            total += b.sum(axis=0)
        return norms, total

    def dot(self, v: np.ndarray) -> np.ndarray:
        """``x_i · v`` for every row, in float64."""
        out = np.empty(self.n, dtype=np.float64)
        for start, block in self:
            out[start : start + block.shape[0]] = block.astype(np.float64) @ v
        return out


def herding_order(blocks: RowBlocks, m: int) -> np.ndarray:
    """The first ``m`` herding picks among ``blocks``' rows (positions, in pick order).

    With ``μ`` the rows' mean and ``s_t`` the sum of the ``t`` rows picked,
    pick ``t + 1`` is ``argmin_i ||μ − (s_t + x_i)/(t + 1)||`` over the rows not
    yet picked, i.e. ``argmax_i 2 x_i·w_t − ||x_i||²`` with
    ``w_t = (t + 1) μ − s_t``; ties go to the lower position.
    """
    norms, total = blocks.sq_norms_and_sum()
    mu = total / blocks.n
    picked = np.empty(m, dtype=np.int64)
    taken = np.zeros(blocks.n, dtype=bool)
    s = np.zeros(blocks.d, dtype=np.float64)
    for t in range(m):
        w = (t + 1) * mu - s
        gain = 2.0 * blocks.dot(w) - norms
        gain[taken] = -np.inf
        i = int(np.argmax(gain))
        picked[t], taken[i] = i, True
        s += blocks.row(i)
    return picked


def kcenter_order(blocks: RowBlocks, m: int, first: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``m`` k-center greedy picks from ``first``, and every row's final distance.

    ``δ_i = min_{c picked} ||x_i − x_c||``; each next pick is
    ``argmax_i δ_i`` over the rows not yet picked (ties to the lower position);
    ``δ²`` is updated as ``||x_i||² − 2 x_i·x_c + ||x_c||²`` (clamped at 0).

    Returns
    -------
    picked : np.ndarray of int64, shape (m,)
        Positions in pick order.
    distance : np.ndarray of float64, shape (n,)
        ``δ_i`` to the nearest pick (0 for the picks).
    """
    norms, _ = blocks.sq_norms_and_sum()
    picked = np.empty(m, dtype=np.int64)
    d2 = np.full(blocks.n, np.inf)
    taken = np.zeros(blocks.n, dtype=bool)
    c = int(first)
    for t in range(m):
        picked[t], taken[c] = c, True
        xc = blocks.row(c)
        np.minimum(d2, np.maximum(norms - 2.0 * blocks.dot(xc) + norms[c], 0.0), out=d2)
        d2[c] = 0.0
        if t + 1 < m:
            gap = np.where(taken, -np.inf, d2)
            c = int(np.argmax(gap))
    d2[taken] = 0.0
    return picked, np.sqrt(d2)


class _GreedyProxy(_FeatureProxy):
    """The feature parameters of herding and k-center greedy, plus ``memory_budget``."""

    @classmethod
    def check_params(cls, params: dict[str, Any], *, loading: bool = False) -> None:
        super().check_params(params, loading=loading)
        check_int(params["memory_budget"], "memory_budget", minimum=0)

    def _forget_fitted(self) -> None:
        self.order = None


class HerdingProxy(_GreedyProxy):
    """Herding: per class, greedily match the class mean of the features.

    In every class ``c`` with rows ``x_i`` (features as KM-OR's) and mean
    ``μ_c``, the ``round(r·n_c)`` samples are picked one at a time, pick
    ``t + 1`` minimising ``||μ_c − (1/(t+1)) Σ_{picked} x||``
    (:func:`herding_order`; Welling 2009, per class as iCaRL's exemplars).
    Deterministic: ``seed`` only seeds the epoch shuffles.

    Cost: ``Σ_c m_c`` greedy steps of one pass over the class's ``n_c × d``
    rows each, i.e. about ``r·n²·d / K`` multiply-adds for ``K`` balanced
    classes.

    Parameters
    ----------
    dataset : map-style dataset
    ratio : float in (0, 1]
    features : "pixels", a ``.npy`` path, array or memmap of shape (n, d), or nn.Module
        As :class:`~proxydata.samplers.outliers.KMeansOutlierProxy` (kept as given).
    standardize : bool
        Standardise every feature first (on the fly), as KM-OR does by default.
    device : str or torch.device, optional
        Where a feature module runs.
    feature_batch_size : int
        Samples per feature-extraction batch.
    memory_budget : int
        Bytes of float32 rows held in memory per class (beyond: re-read from
        the features every step, e.g. a memory-mapped file larger than memory).
    seed, shuffle, num_replicas, rank, drop_last, progress, targets, indices
        See :class:`~proxydata.samplers.base.ProxySampler`.

    Attributes
    ----------
    order : np.ndarray of int64 or None
        The kept dataset indices in the order herding picked them, class by class.
    """

    method = "herding"
    class_conditional: ClassVar[bool] = True
    has_scores: ClassVar[bool] = False

    def __init__(
        self,
        dataset: Any,
        ratio: float,
        *,
        features: str | np.ndarray | torch.Tensor | nn.Module = "pixels",
        standardize: bool = True,
        device: str | torch.device | None = None,
        feature_batch_size: int = 512,
        memory_budget: int = MEMORY_BUDGET,
        seed: int = 0,
        shuffle: bool = True,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
        progress: bool = True,
        targets: Any = None,
        indices: Any = None,
    ) -> None:
        self.features, self.standardize, self.device = features, standardize, device
        self.feature_batch_size, self.memory_budget = feature_batch_size, memory_budget
        self.order: np.ndarray | None = None
        super().__init__(dataset, ratio, **shared_args(locals()))

    def _select(self) -> tuple[np.ndarray, None]:
        x, _ = self._resolve_features()
        x.check_finite()
        codes, quota = self.class_codes(), self.quota()
        order = []
        for c in range(self.classes.size):
            rows = np.flatnonzero(codes == c)
            if quota[c] == 0:
                continue
            picked = herding_order(RowBlocks(x, rows, self.memory_budget), int(quota[c]))
            order.append(rows[picked])
        self._record_features()
        positions = np.concatenate(order) if order else np.empty(0, dtype=np.int64)
        self.order = self.split[positions]
        return positions, None


class KCenterProxy(_GreedyProxy):
    """k-center greedy (Sener & Savarese, 2018): cover the features with the kept samples.

    Starting from one sample drawn with ``seed``, each next pick is the sample
    farthest from every pick so far, ``argmax_i min_{c} ||x_i − x_c||``
    (:func:`kcenter_order`), until ``round(r·n)`` are kept; over the whole
    split, not per class (as the paper). The paper runs it on a network's
    last-layer embedding (pass ``features=<module>`` or an array for that); the
    default is KM-OR's standardised pixels. The first pick is our choice (the
    paper starts from an already labelled set).

    Cost: ``m`` greedy steps of one pass over the ``n × d`` rows each
    (``r·n²·d`` multiply-adds).

    Parameters
    ----------
    dataset, ratio, features, standardize, device, feature_batch_size, memory_budget
        As :class:`HerdingProxy`.
    seed, shuffle, num_replicas, rank, drop_last, progress, targets, indices
        See :class:`~proxydata.samplers.base.ProxySampler`; ``seed`` also draws the first pick.

    Attributes
    ----------
    scores : np.ndarray of float64
        Every sample's distance to its nearest kept sample (0 for the kept).
    order : np.ndarray of int64 or None
        The kept dataset indices in pick order.
    """

    method = "k-center"

    def __init__(
        self,
        dataset: Any,
        ratio: float,
        *,
        features: str | np.ndarray | torch.Tensor | nn.Module = "pixels",
        standardize: bool = True,
        device: str | torch.device | None = None,
        feature_batch_size: int = 512,
        memory_budget: int = MEMORY_BUDGET,
        seed: int = 0,
        shuffle: bool = True,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
        progress: bool = True,
        targets: Any = None,
        indices: Any = None,
    ) -> None:
        self.features, self.standardize, self.device = features, standardize, device
        self.feature_batch_size, self.memory_budget = feature_batch_size, memory_budget
        self.order: np.ndarray | None = None
        super().__init__(dataset, ratio, **shared_args(locals()))

    def first_pick(self) -> int:
        """Position of the first pick: ``np.random.default_rng(seed).integers(pool_size)``."""
        return int(np.random.default_rng(self.seed).integers(self.pool_size))

    def _select(self) -> tuple[np.ndarray, np.ndarray]:
        x, _ = self._resolve_features()
        x.check_finite()
        blocks = RowBlocks(x, np.arange(self.pool_size, dtype=np.int64), self.memory_budget)
        picked, distance = kcenter_order(blocks, int(self.quota()[0]), self.first_pick())
        self._record_features()
        self.order = self.split[picked]
        return picked, distance
