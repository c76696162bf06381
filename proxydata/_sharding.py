"""Epoch shuffling and rank sharding shared by every sampler in the library.

The behaviour mirrors :class:`torch.utils.data.DistributedSampler`: the order of
an epoch is a permutation drawn from a ``torch.Generator`` seeded with
``seed + epoch``; with ``drop_last=False`` the order is padded by wrapping around
so that it divides evenly among ranks, and rank ``r`` takes every
``num_replicas``-th element starting at ``r``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from ._validation import check_bool, check_int, check_seed


def resolve_replicas(num_replicas: Any, rank: Any) -> tuple[int, int]:
    """Fill ``num_replicas``/``rank`` from an initialised process group when None."""
    if num_replicas is None:
        num_replicas = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    if rank is None:
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    world = check_int(num_replicas, "num_replicas", minimum=1)
    r = check_int(rank, "rank", minimum=0)
    if r >= world:
        raise ValueError(f"rank must be in [0, {world - 1}] for num_replicas={world}, got {r}")
    return world, r


def replica_length(total: int, num_replicas: int, drop_last: bool) -> int:
    """Items one rank yields per epoch for ``total`` kept indices."""
    if drop_last:
        return total // num_replicas
    return math.ceil(total / num_replicas)


def epoch_order(indices: np.ndarray, *, shuffle: bool, seed: int, epoch: int) -> np.ndarray:
    """The full (unsharded) visiting order of one epoch."""
    if not shuffle or indices.size <= 1:
        return indices
    g = torch.Generator()
    g.manual_seed(int(seed) + int(epoch))
    perm = torch.randperm(indices.size, generator=g).numpy()
    return indices[perm]


def shard(order: np.ndarray, num_replicas: int, rank: int, drop_last: bool) -> np.ndarray:
    """Rank ``rank``'s share of ``order``, padded or truncated like DistributedSampler."""
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
    """A sampler over a set of dataset indices, reshuffled each epoch and sharded.

    Parameters
    ----------
    indices : np.ndarray of int64
        The indices to visit (kept sorted by the owner).
    shuffle : bool
        Fresh permutation each epoch (seeded by ``seed + epoch``); ``False``
        visits the indices in ascending order. Every pass over the sampler
        advances ``epoch`` by one, so successive epochs differ without any
        call; :meth:`set_epoch` sets it explicitly (as with ``DistributedSampler``).
    seed : int
    num_replicas, rank : int, optional
        Distributed sharding; read from ``torch.distributed`` when initialised.
    drop_last : bool
        Drop the tail instead of padding when the kept set does not divide.
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
        self.seed = check_seed(seed)
        self.num_replicas, self.rank = resolve_replicas(num_replicas, rank)
        self.drop_last = check_bool(drop_last, "drop_last")
        self.epoch = 0

    @property
    def indices(self) -> np.ndarray:
        """The indices this sampler draws from (all ranks together), sorted."""
        return self._indices

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch that seeds the next pass's shuffle (as ``DistributedSampler``)."""
        self.epoch = check_int(epoch, "epoch", minimum=0)

    def epoch_indices(self) -> np.ndarray:
        """This rank's indices for the current epoch, in visiting order."""
        order = epoch_order(self._indices, shuffle=self.shuffle, seed=self.seed, epoch=self.epoch)
        return shard(order, self.num_replicas, self.rank, self.drop_last)

    def __iter__(self) -> Iterator[int]:
        order = self.epoch_indices()
        # Advance so that the next pass is a fresh shuffle even when the user never
        # calls set_epoch; set_epoch(e) before a pass still pins it to seed + e, so
        # both styles give the same sequence of orders on every rank.
        self.epoch += 1
        return iter(order.tolist())

    def __len__(self) -> int:
        return replica_length(int(self._indices.size), self.num_replicas, self.drop_last)
