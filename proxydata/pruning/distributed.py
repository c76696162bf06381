"""What a :class:`~proxydata.BiLevelPruner` needs from ``torch.distributed``.

Every rank must build the pruner identically — same targets, splits, seed,
schedule, ratios, criteria, class balance — and with ``num_replicas`` equal to
the world size; otherwise shards overlap or kept sets diverge silently.
:func:`check_ranks_agree` compares a fixed-length digest of every field across
ranks with a single ``all_gather`` (fixed length, so ranks whose splits differ
in size still meet in the same collective) and raises
:class:`~proxydata.RankMismatchError` on every rank, naming the fields.

The configuration cannot show everything that decides (a ``limit_fn`` is
compared by name only, a state dict may be loaded on some ranks only), so
:func:`check_decisions_agree` also compares the decisions themselves: at every
``step()`` a digest of the epoch and of both kept sets, before the step and
after its choice but before anything changes, together with whether the
choice raised on that rank. Any difference raises ``RankMismatchError`` on every
rank, and a rank that raised does not leave the others waiting in a collective.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch.distributed as dist

from .._ranks import differing_ranks, gather_rows, group_size, int64_digest, sharding_problems
from ..exceptions import RankMismatchError

__all__ = ["RankGuard", "check_decisions_agree", "check_ranks_agree", "group_size"]


def field_digest(value: Any) -> int:
    """A 64-bit digest of one configuration field (arrays by content, the rest by ``repr``)."""
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value, dtype="<i8").tobytes()
    else:
        data = repr(value).encode()
    return int64_digest(data)


def check_ranks_agree(fields: dict[str, Any], num_replicas: int, rank: int) -> None:
    """Raise :class:`RankMismatchError` on every rank unless all ranks hold the same ``fields``.

    Also checks that every rank's ``num_replicas`` is the world size and that
    the ranks' ``rank`` values are ``0 … world − 1``, each once. One
    ``all_gather`` of ``len(fields) + 2`` int64 per rank.
    """
    world = int(dist.get_world_size())
    names = list(fields)
    row = [field_digest(fields[k]) for k in names] + [int(num_replicas), int(rank)]
    table = gather_rows(row, world)
    problems = []
    for j, name in enumerate(names):
        differ = differing_ranks(table, j)
        if differ:
            problems.append(f"{name} (ranks {differ} differ from rank 0)")
    problems += sharding_problems(table[:, -2], table[:, -1], world)
    if problems:
        raise RankMismatchError(
            f"BiLevelPruner was built differently on the {world} ranks of the process group "
            f"(this is rank {dist.get_rank()}): "
            + "; ".join(problems)
            + ". Build it on every rank with the same arguments, and num_replicas/rank left to "
            "the process group (or equal to its world size and rank)."
        )


def check_decisions_agree(facts: dict[str, Any], when: str, failure: BaseException | None = None) -> None:
    """Raise :class:`RankMismatchError` on every rank unless all ranks hold the same ``facts``.

    ``facts`` are what the ranks decided (the epoch, the kept sets), compared by
    ``field_digest`` with one ``all_gather`` of ``len(facts) + 1`` int64 per
    rank. ``failure`` is an exception this rank met while deciding: it joins
    the collective all the same, so that the others never wait for it; if every
    rank failed each raises its own ``failure``, if only some did all raise
    ``RankMismatchError``. ``when`` says where in ``step()`` this is, for the message.
    """
    world = int(dist.get_world_size())
    names = list(facts)
    row = [0 if failure is None else 1] + [field_digest(facts[k]) for k in names]
    table = gather_rows(row, world)
    failed = np.flatnonzero(table[:, 0])
    if failure is not None and failed.size == world:
        raise failure
    problems = []
    if failed.size:
        detail = f" (here: {type(failure).__name__}: {failure})" if failure is not None else ""
        problems.append(f"deciding raised on ranks {failed.tolist()} only{detail}")
    for j, name in enumerate(names, start=1):
        differ = differing_ranks(table, j)
        if differ:
            problems.append(f"the {name} (ranks {differ} differ from rank 0)")
    if problems:
        raise RankMismatchError(
            f"BiLevelPruner.step() {when}: the {world} ranks of the process group disagree "
            f"(this is rank {dist.get_rank()}): " + "; ".join(problems) + ". Nothing was changed by "
            "this step on any rank. Every rank must decide alike: a limit_fn whose result depends on "
            "the rank, a state dict loaded on some ranks only, or step() skipped on a rank lead here."
        ) from failure


class RankGuard:
    """Decides whether a step reduces across ranks, checking agreement once first.

    Parameters
    ----------
    fingerprint : callable returning the fields every rank must share
    num_replicas, rank : int
        The pruner's sharding.
    """

    def __init__(self, fingerprint: Callable[[], dict[str, Any]], num_replicas: int, rank: int) -> None:
        self.fingerprint = fingerprint
        self.num_replicas = num_replicas
        self.rank = rank
        self.agreed = False
        self.warned = False

    def check(self) -> None:
        """Compare the configuration across ranks (one collective); raises on a mismatch."""
        check_ranks_agree(self.fingerprint(), self.num_replicas, self.rank)
        self.agreed = True

    def agree(self, facts: dict[str, Any], when: str, failure: BaseException | None = None) -> None:
        """:func:`check_decisions_agree` (call only when :meth:`distributed` is True)."""
        check_decisions_agree(facts, when, failure)

    def distributed(self) -> bool:
        """True with a process group of several ranks (checked once); warns once if num_replicas is unused."""
        if group_size() > 1:
            if not self.agreed:
                self.check()
            return True
        if self.num_replicas > 1 and not self.warned:
            self.warned = True
            warnings.warn(
                f"num_replicas={self.num_replicas} but torch.distributed is not initialised: the score "
                "buffers are not summed across ranks, so ranks may keep different samples",
                RuntimeWarning,
                stacklevel=3,
            )
        return False
