"""Comparing a few int64 per rank across a ``torch.distributed`` process group.

The one rank-agreement helper of the library: the static proxies
(:mod:`proxydata.samplers.agreement`) and the pruner
(:mod:`proxydata.pruning.distributed`) both digest what every rank must share
to signed 64-bit integers (:func:`int64_digest`, blake2b of the little-endian
int64 bytes), gather one row per rank with a single ``all_gather``
(:func:`gather_rows`) and report the columns where a rank differs from rank 0
(:func:`differing_ranks`) and a sharding that does not describe the group
(:func:`sharding_problems`).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["differing_ranks", "gather_rows", "group_size", "int64_digest", "sharding_problems"]


def group_size() -> int:
    """World size of the initialised default process group, else 1."""
    if dist.is_available() and dist.is_initialized():
        return int(dist.get_world_size())
    return 1


def int64_digest(data: bytes) -> int:
    """A signed 64-bit digest of ``data``: blake2b with an 8-byte digest, read little-endian."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little", signed=True)


def _collective_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def gather_rows(row: list[int], world: int) -> np.ndarray:
    """Every rank's ``row`` of int64 as a ``(world, len(row))`` array: one ``all_gather``, on every rank."""
    mine = torch.tensor(row, dtype=torch.int64, device=_collective_device())
    gathered = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(gathered, mine)
    return torch.stack(gathered).cpu().numpy()


def differing_ranks(table: np.ndarray, column: int) -> list[int]:
    """The ranks whose value in ``column`` differs from rank 0's."""
    return np.flatnonzero(table[:, column] != table[0, column]).tolist()


def sharding_problems(replicas: np.ndarray, ranks: np.ndarray, world: int) -> list[str]:
    """Problems of the ranks' ``num_replicas`` (each the world size) and ``rank`` (0..world-1, once each)."""
    problems = []
    if np.any(replicas != world):
        problems.append(
            f"num_replicas is {replicas.tolist()} on ranks 0..{world - 1}, not the world size {world}"
        )
    if sorted(ranks.tolist()) != list(range(world)):
        problems.append(f"rank is {ranks.tolist()} on ranks 0..{world - 1}, not each of 0..{world - 1} once")
    return problems
