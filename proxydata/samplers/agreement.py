"""Static proxies under ``torch.distributed``: every rank must serve the same selection.

A proxy shards its kept indices like ``DistributedSampler``, which is only
right when every rank kept the same samples. Ranks that built the proxy
differently (``RandomProxy(ds, 0.5, seed=rank)``, another split, another
file) would serve overlapping shards whose union is not the kept set.
:func:`check_selection_agrees` compares a 64-bit digest of the decision itself —
the kept indices and the split they were chosen from — across the ranks of the
process group with one ``all_gather`` of four int64 per rank, and raises
:class:`~proxydata.exceptions.RankMismatchError` on every rank when they differ,
or when a rank's ``num_replicas``/``rank`` do not describe the group.
"""

from __future__ import annotations

import numpy as np
import torch.distributed as dist

from .._ranks import differing_ranks, gather_rows, group_size, int64_digest, sharding_problems
from ..exceptions import RankMismatchError

__all__ = ["check_selection_agrees", "group_size", "selection_digest"]


def selection_digest(values: np.ndarray) -> int:
    """A signed 64-bit digest (blake2b) of an integer array's little-endian int64 bytes."""
    return int64_digest(np.ascontiguousarray(values, dtype="<i8").tobytes())


def check_selection_agrees(
    name: str, kept: np.ndarray, split: np.ndarray, num_replicas: int, rank: int
) -> bool:
    """Raise :class:`RankMismatchError` on every rank unless all ranks kept the same samples.

    Does nothing without a process group of several ranks, or for a proxy that
    does not shard (``num_replicas == 1``: a proxy one rank builds for itself).
    Otherwise one collective: every rank must call it (every rank builds or
    loads the proxy, as in the DDP recipe).

    Parameters
    ----------
    name : str
        The proxy's class name, for the message.
    kept, split : np.ndarray of int64
        The kept dataset indices and the dataset indices they were chosen from.
    num_replicas, rank : int
        The proxy's sharding; must be the group's world size and this process's rank.

    Returns
    -------
    bool
        Whether the ranks were compared (False without a group, or when not sharding).
    """
    world = group_size()
    if world <= 1 or num_replicas <= 1:
        return False
    row = [selection_digest(kept), selection_digest(split), int(num_replicas), int(rank)]
    table = gather_rows(row, world)
    problems = []
    for column, what in ((0, "the kept indices"), (1, "the split (indices=) they were chosen from")):
        differ = differing_ranks(table, column)
        if differ:
            problems.append(f"{what} (ranks {differ} differ from rank 0)")
    problems += sharding_problems(table[:, 2], table[:, 3], world)
    if problems:
        raise RankMismatchError(
            f"{name} differs across the {world} ranks of the process group (this is rank "
            f"{dist.get_rank()}): " + "; ".join(problems) + ". Every rank must serve the same "
            "selection: build it on every rank from the same dataset, split, ratio and seed (a seed "
            "that depends on the rank gives each rank another subset, and the shards then overlap), "
            "or build it once and load the saved file on every rank."
        )
    return True
