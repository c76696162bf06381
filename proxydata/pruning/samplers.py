"""The samplers :class:`~proxydata.BiLevelPruner` hands to the user's DataLoaders.

A :class:`KeptSetSampler` is a :class:`~proxydata._sharding.ShardedIndexSampler`
over a split's kept set (which the pruner shrinks in place) with one addition:
an iterator started while the epoch's shuffled pass is not finished *continues*
that pass instead of starting it again. A full ``for batch in loader`` loop
visits the kept set exactly once per epoch as usual; loops that take one batch
at a time with ``next(iter(val_loader))`` (NASLib's style) therefore still walk
through the whole validation split rather than seeing its first batch over and
over. Once a pass is used up, the next iterator starts a new pass with a fresh
permutation. (So after a loop that broke off mid-epoch, the next iterator of the
same epoch yields the rest of that pass.)

An iterator belongs to its epoch: once ``set_epoch`` has been called (the pruner
calls it in ``step()``, after shrinking the kept set), an older iterator stops
instead of yielding indices of a finished epoch, some of which may have been
pruned. Indices a DataLoader's workers prefetched before the step cannot be
recalled, so create loader iterators afresh each epoch, as usual.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from .._sharding import ShardedIndexSampler, epoch_order, shard

__all__ = ["KeptSetSampler"]


class KeptSetSampler(ShardedIndexSampler):
    """Epoch-shuffled, sharded sampler over a kept set whose iterators share a cursor.

    Pass 0 of epoch ``e`` is the permutation of
    :class:`~proxydata._sharding.ShardedIndexSampler` (seeded ``seed + e``);
    pass ``p > 0`` is seeded from ``numpy.random.SeedSequence((seed, e, p))``.
    ``set_epoch`` starts pass 0 again. Parameters as for ``ShardedIndexSampler``.
    """

    def __init__(self, indices: np.ndarray, **kwargs: object) -> None:
        super().__init__(indices, **kwargs)  # type: ignore[arg-type]
        self.pass_number = 0
        self.cursor = 0
        self._generation = 0  # bumped by set_epoch: older iterators stop

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.pass_number = 0
        self.cursor = 0
        self._generation += 1

    def pass_indices(self, pass_number: int | None = None) -> np.ndarray:
        """This rank's visiting order for one pass of the current epoch."""
        p = self.pass_number if pass_number is None else int(pass_number)
        if p == 0 or not self.shuffle or self._indices.size <= 1:
            order = epoch_order(self._indices, shuffle=self.shuffle, seed=self.seed, epoch=self.epoch)
        else:
            state = np.random.SeedSequence((self.seed, self.epoch, p)).generate_state(2, dtype=np.uint32)
            g = torch.Generator()
            g.manual_seed(int(state[0]) << 32 | int(state[1]))
            order = self._indices[torch.randperm(self._indices.size, generator=g).numpy()]
        return shard(order, self.num_replicas, self.rank, self.drop_last)

    def __iter__(self) -> Iterator[int]:
        order = self.pass_indices()
        if order.size == 0:
            return iter(())
        if self.cursor >= order.size:
            self.pass_number += 1
            self.cursor = 0
            order = self.pass_indices()
        return self._walk(order, self.pass_number, self.cursor, self._generation)

    def _walk(self, order: np.ndarray, pass_number: int, start: int, generation: int) -> Iterator[int]:
        for i in range(start, order.size):
            if self._generation != generation:  # a new epoch began: this iterator is stale
                return
            # Only the newest pass moves the shared cursor (an old iterator may linger).
            if self.pass_number == pass_number and self.cursor <= i:
                self.cursor = i + 1
            yield int(order[i])

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pass_number": self.pass_number, "cursor": self.cursor}

    def load(self, state: dict[str, int]) -> None:
        self.epoch = int(state["epoch"])
        self.pass_number = int(state["pass_number"])
        self.cursor = int(state["cursor"])
        self._generation += 1
