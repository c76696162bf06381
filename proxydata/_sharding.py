"""Compatibility shim: the sharding helpers live in :mod:`proxydata.samplers.sharding`.

Kept so that modules not yet moved keep importing; new code imports from
``proxydata.samplers.sharding``.
"""

from __future__ import annotations

from .samplers.sharding import (
    ShardedIndexSampler,
    epoch_order,
    replica_length,
    resolve_replicas,
    shard,
)

__all__ = ["ShardedIndexSampler", "epoch_order", "replica_length", "resolve_replicas", "shard"]
