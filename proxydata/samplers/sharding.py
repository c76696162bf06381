"""Epoch shuffling and rank sharding, shared by every sampler of the library.

The behaviour mirrors :class:`torch.utils.data.DistributedSampler`: the order of
epoch ``e`` is a permutation drawn from a ``torch.Generator`` seeded with
``(seed + e) mod 2**64``; with ``drop_last=False`` the order is padded by
wrapping around so that it divides evenly among ranks, and rank ``r`` takes
every ``num_replicas``-th element starting at ``r``.

A pass is a function of ``(seed, epoch, rank, num_replicas)`` only: iterating
changes no state, and :meth:`ShardedIndexSampler.set_epoch` is the one
mutator, so ranks that iterate a different number of times never drift apart.

``num_replicas``/``rank`` left to None are read from the process group when the
sampler is built; a sampler built before ``torch.distributed`` is initialised
reads them again at every pass, so that it shards once the group exists (as
when Lightning or ``torchrun`` starts the group after the script built it).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from .._validation import check_bool, check_int
from ..exceptions import ProxydataValueError

__all__ = [
    "MAX_SEED",
    "ShardedIndexSampler",
    "check_sampler_seed",
    "epoch_order",
    "group_initialised",
    "replica_length",
    "resolve_replicas",
    "shard",
]

#: The largest seed a sampler accepts: torch generators take 64-bit seeds.
MAX_SEED = 2**64 - 1


def check_sampler_seed(seed: Any, name: str = "seed") -> int:
    """Return ``seed`` as an int in ``[0, 2**64 - 1]`` or raise naming ``name``."""
    return check_int(seed, name, minimum=0, maximum=MAX_SEED)


def group_initialised() -> bool:
    """Whether a default ``torch.distributed`` process group exists."""
    return dist.is_available() and dist.is_initialized()


def resolve_replicas(num_replicas: Any, rank: Any) -> tuple[int, int]:
    """Fill ``num_replicas``/``rank`` from an initialised process group when None."""
    if num_replicas is None:
        num_replicas = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    if rank is None:
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    world = check_int(num_replicas, "num_replicas", minimum=1)
    r = check_int(rank, "rank", minimum=0)
    if r >= world:
        raise ProxydataValueError(f"rank must be in [0, {world - 1}] for num_replicas={world}, got {r}")
    return world, r


def replica_length(total: int, num_replicas: int, drop_last: bool) -> int:
    """Items one rank yields per epoch for ``total`` indices."""
    if drop_last:
        return total // num_replicas
    return math.ceil(total / num_replicas)


def epoch_order(indices: np.ndarray, *, shuffle: bool, seed: int, epoch: int) -> np.ndarray:
    """The full (unsharded) visiting order of one epoch: a permutation seeded ``seed + epoch``."""
    if not shuffle or indices.size <= 1:
        return indices
    g = torch.Generator()
    g.manual_seed((int(seed) + int(epoch)) % (MAX_SEED + 1))
    perm = torch.randperm(indices.size, generator=g).numpy()
    return indices[perm]


def shard(order: np.ndarray, num_replicas: int, rank: int, drop_last: bool) -> np.ndarray:
    """Rank ``rank``'s share of ``order``, padded or truncated like DistributedSampler.

    Padding repeats the order from its start until its length divides by
    ``num_replicas``; ``drop_last`` truncates instead. Rank ``r`` then takes
    positions ``r, r + num_replicas, ...``.
    """
    per_rank = replica_length(order.size, num_replicas, drop_last)
    total = per_rank * num_replicas
    if order.size == 0:
        return order
    if total > order.size:
        reps = math.ceil(total / order.size)
        order = np.tile(order, reps)[:total]
    else:
        order = order[:total]
    return order[rank:total:num_replicas]


class ShardedIndexSampler(Sampler[int]):
    """A sampler over a set of dataset indices, shuffled per epoch and sharded.

    Parameters
    ----------
    indices : np.ndarray of int64
        The indices to visit (kept sorted by the owner).
    shuffle : bool
        A fresh permutation for every epoch, seeded ``seed + epoch``; ``False``
        visits the indices in ascending order. Iterating does not advance the
        epoch: call :meth:`set_epoch` at the start of every epoch, as with
        ``DistributedSampler``, or every pass repeats the same order.
    seed : int in [0, 2**64 - 1]
    num_replicas, rank : int, optional
        Distributed sharding; read from ``torch.distributed`` when initialised.
        Left to None while no process group exists, they are read again at
        every pass (and by ``len``), so a sampler built before the group
        shards once it exists; ``num_replicas``/``rank`` always give the
        values the next pass uses.
    drop_last : bool
        Drop the tail instead of padding when the indices do not divide.
    """

    def __init__(
        self,
        indices: np.ndarray,
        *,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
    ) -> None:
        self._indices = np.asarray(indices, dtype=np.int64)
        self.shuffle = check_bool(shuffle, "shuffle")
        self.seed = check_sampler_seed(seed)
        self._sharding = resolve_replicas(num_replicas, rank)
        # None while no group exists: read from the group at every pass once it does
        self._deferred = (
            (num_replicas, rank) if None in (num_replicas, rank) and not group_initialised() else None
        )
        self.drop_last = check_bool(drop_last, "drop_last")
        self.epoch = 0

    def sharding(self) -> tuple[int, int]:
        """``(num_replicas, rank)`` of the next pass (re-read from a group created after the sampler)."""
        if self._deferred is not None and group_initialised():
            return resolve_replicas(*self._deferred)
        return self._sharding

    @property
    def num_replicas(self) -> int:
        """Ranks the indices are sharded over (the resolved value the next pass uses)."""
        return self.sharding()[0]

    @property
    def rank(self) -> int:
        """This process's shard (the resolved value the next pass uses)."""
        return self.sharding()[1]

    @property
    def deferred(self) -> bool:
        """Whether the sharding is read from a process group created after the sampler was built."""
        return self._deferred is not None and group_initialised()

    @property
    def indices(self) -> np.ndarray:
        """The indices this sampler draws from (all ranks together), sorted."""
        return self._indices

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch that seeds the next passes' shuffle (as ``DistributedSampler``)."""
        self.epoch = check_int(epoch, "epoch", minimum=0)

    def epoch_indices(self) -> np.ndarray:
        """This rank's indices for the current epoch, in visiting order."""
        order = epoch_order(self._indices, shuffle=self.shuffle, seed=self.seed, epoch=self.epoch)
        world, rank = self.sharding()
        return shard(order, world, rank, self.drop_last)

    def __iter__(self) -> Iterator[int]:
        # A pure function of (seed, epoch, rank, num_replicas): no state moves here.
        return iter(self.epoch_indices().tolist())

    def __len__(self) -> int:
        return replica_length(int(self._indices.size), self.num_replicas, self.drop_last)
