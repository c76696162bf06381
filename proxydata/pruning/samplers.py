"""The samplers :class:`~proxydata.BiLevelPruner` hands to the user's DataLoaders.

A :class:`KeptSetSampler` follows the ``DistributedSampler`` contract: the
visiting order of an epoch is the permutation seeded by ``seed + epoch`` of the
split's kept set, padded to a multiple of ``num_replicas`` and strided by rank,
and only :meth:`~KeptSetSampler.set_epoch` changes the epoch. Iterating changes
no state, so ranks cannot drift apart.

It adds one input, *what has been observed this epoch* (the pruner's record of
``observe`` calls on this rank), to guarantee **coverage**: a new iterator
yields only this rank's samples not observed yet in the epoch (more exactly:
those observed least often, so that after a full round the next iterator
starts a new one), in the epoch's order. So batches a DataLoader's workers
prefetched and a loop dropped come back in the next iterator,
``next(iter(val_loader))`` at every step (NASLib, xautodl) walks the whole
split, and an iterator created after resuming mid-epoch yields the rest of it.
An iterator created at the start of an epoch yields the epoch's order
exactly, so a plain ``for batch in loader`` loop (``zip``, ``cycle``, any
``num_workers``) sees the seeded order and resumes exactly.

An iterator belongs to its epoch and its kept set: after ``set_epoch`` or a
change of the kept set it stops rather than yield samples that may have been
pruned. Batches that workers fetched before the change cannot be recalled, so
create a loader's iterator afresh every epoch (a ``for`` loop does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from torch.utils.data import Sampler

from .._validation import check_indices, check_int, check_seed
from ..exceptions import ProxydataValueError
from ..samplers.sharding import epoch_order, replica_length, shard

__all__ = ["KeptSetSampler"]

ObservedCounts = Callable[[np.ndarray], np.ndarray]


def _readonly(array: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(array, dtype=np.int64)
    out.setflags(write=False)
    return out


class KeptSetSampler(Sampler[int]):
    """Epoch-shuffled, rank-sharded sampler over a split's kept set, with coverage.

    Parameters
    ----------
    indices : 1-D integer array, sorted
        The split's initial dataset indices; the kept set starts as all of them.
    seed : int
        The epoch ``e`` permutation is seeded with ``seed + e`` (as
        ``DistributedSampler``).
    num_replicas, rank : int
        Rank ``rank`` takes every ``num_replicas``-th sample of the padded order.
    observed : callable ``(dataset indices) -> counts``, optional
        How often each index was observed on this rank in the current epoch.
        None: no coverage ordering (every iterator yields the epoch's order).
    """

    def __init__(
        self,
        indices: np.ndarray,
        *,
        seed: int,
        num_replicas: int = 1,
        rank: int = 0,
        observed: ObservedCounts | None = None,
    ) -> None:
        self.initial = _readonly(np.sort(np.asarray(indices, dtype=np.int64)))
        self._indices = self.initial
        self.seed = check_seed(seed)
        self.num_replicas = check_int(num_replicas, "num_replicas", minimum=1)
        self.rank = check_int(rank, "rank", minimum=0, maximum=self.num_replicas - 1)
        self.epoch = 0
        self._observed = observed
        self._generation = 0  # bumped when the epoch or the kept set changes: older iterators stop

    @property
    def indices(self) -> np.ndarray:
        """The kept indices (all ranks together), sorted, read-only."""
        return self._indices

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch that seeds the order (``step()`` calls it); older iterators stop.

        Setting the current epoch again changes nothing (frameworks such as
        Lightning call ``set_epoch`` at the start of every epoch too).
        """
        epoch = check_int(epoch, "epoch", minimum=0)
        if epoch != self.epoch:
            self.epoch = epoch
            self._generation += 1

    def remove(self, indices: Any) -> None:
        """Drop ``indices`` (kept dataset indices) from the kept set; older iterators stop."""
        drop = check_indices(indices, int(self.initial[-1]) + 1, "indices")
        missing = drop[~np.isin(drop, self._indices)]
        if missing.size:
            raise ProxydataValueError(f"indices are not in the kept set: {missing[:5].tolist()}")
        self._indices = _readonly(self._indices[~np.isin(self._indices, drop)])
        self._generation += 1

    def restore(self, kept: Any) -> None:
        """Set the kept set to ``kept``, a subset of the initial indices (for resuming)."""
        new = np.sort(check_indices(kept, int(self.initial[-1]) + 1, "kept"))
        outside = new[~np.isin(new, self.initial)]
        if outside.size:
            raise ProxydataValueError(f"kept holds indices outside the split: {outside[:5].tolist()}")
        self._indices = _readonly(new)
        self._generation += 1

    def epoch_indices(self) -> np.ndarray:
        """This rank's share of the epoch's order: a function of (seed, epoch, rank, replicas)."""
        order = epoch_order(self._indices, shuffle=True, seed=self.seed, epoch=self.epoch)
        return shard(order, self.num_replicas, self.rank, False)

    def iteration_order(self) -> np.ndarray:
        """What a new iterator yields: the rest of the current round, in epoch order.

        A round is one pass over this rank's share; the samples of the current
        round are those observed least often so far in the epoch (at first:
        not yet). When every sample has been observed equally often, a new
        round is the whole share again.
        """
        order = self.epoch_indices()
        if self._observed is None or order.size == 0:
            return order
        counts = self._observed(order)
        return order[counts == counts.min()]

    def __iter__(self) -> Iterator[int]:
        return self._walk(self.iteration_order(), self._generation)

    def _walk(self, order: np.ndarray, generation: int) -> Iterator[int]:
        for index in order.tolist():
            if self._generation != generation:  # a new epoch or kept set: this iterator is stale
                return
            yield index

    def __len__(self) -> int:
        return replica_length(int(self._indices.size), self.num_replicas, False)

    def __repr__(self) -> str:
        return (
            f"KeptSetSampler(kept={self._indices.size}/{self.initial.size}, epoch={self.epoch}, "
            f"rank={self.rank}/{self.num_replicas})"
        )
