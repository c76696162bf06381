"""What guards a :class:`~proxydata.pruning.glister.GlisterSelector`: its state dict and its ranks.

* :func:`parse_selector_state` checks every field of a state dict (format in
  :meth:`GlisterSelector.state_dict <proxydata.pruning.glister.GlisterSelector.state_dict>`)
  and returns a :class:`LoadedSelectorState`; the selector assigns it only
  afterwards, so a bad state changes nothing
  (:class:`~proxydata.CorruptStateError` naming the field).
* :func:`check_selector_config` compares the selector's settings across the
  ranks of a process group once (one ``all_gather`` of digests);
  :func:`check_selector_decisions` compares the epoch and the new subset at
  every ``step()``, with whether choosing raised on that rank, so that a rank
  that failed never leaves the others waiting. Both raise
  :class:`~proxydata.RankMismatchError` on every rank.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from .._ranks import differing_ranks, gather_rows, int64_digest, sharding_problems
from .._validation import show
from ..exceptions import CorruptStateError, ProxydataTypeError, RankMismatchError

__all__ = [
    "COST_KEYS",
    "HISTORY_KEYS",
    "STATE_VERSION",
    "LoadedSelectorState",
    "SelectorShape",
    "check_selector_config",
    "check_selector_decisions",
    "collective_device",
    "digest",
    "parse_selector_state",
]

STATE_VERSION = 1
COST_KEYS = ("samples", "cpu_seconds", "wall_seconds", "selections")
HISTORY_KEYS = (
    "epoch",
    "selected",
    "subset_size",
    "entered",
    "gain",
    "scored",
    "cpu_seconds",
    "wall_seconds",
)
_FIELDS = ("version", "config", "epoch", "subset", "observed", "sums", "scored", "samplers", "history")


def digest(value: Any) -> int:
    """A 64-bit digest of a setting or decision (int arrays by content, the rest by ``repr``)."""
    if isinstance(value, np.ndarray):
        return int64_digest(np.ascontiguousarray(value, dtype="<i8").tobytes())
    return int64_digest(repr(value).encode())


def collective_device() -> torch.device:
    """Where tensors must be for the group's collectives (NCCL: the current GPU)."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


# -- ranks ------------------------------------------------------------------------------------
def check_selector_config(fields: dict[str, Any], num_replicas: int, rank: int) -> None:
    """Raise ``RankMismatchError`` on every rank unless all ranks built the selector alike."""
    world = int(dist.get_world_size())
    row = [digest(v) for v in fields.values()] + [int(num_replicas), int(rank)]
    table = gather_rows(row, world)
    problems = [
        f"{name} (ranks {d} differ from rank 0)"
        for j, name in enumerate(fields)
        if (d := differing_ranks(table, j))
    ]
    problems += sharding_problems(table[:, -2], table[:, -1], world)
    if problems:
        raise RankMismatchError(
            f"GlisterSelector was built differently on the {world} ranks of the process group "
            f"(this is rank {dist.get_rank()}): " + "; ".join(problems) + ". Build it on every rank "
            "with the same arguments, and num_replicas/rank left to the process group."
        )


def check_selector_decisions(facts: dict[str, Any], when: str, failure: BaseException | None = None) -> None:
    """Raise ``RankMismatchError`` on every rank unless all ranks hold the same ``facts``.

    ``failure`` is what this rank raised while choosing: it still joins the
    collective; if every rank failed each raises its own, else all raise
    ``RankMismatchError``.
    """
    world = int(dist.get_world_size())
    row = [0 if failure is None else 1] + [digest(v) for v in facts.values()]
    table = gather_rows(row, world)
    failed = np.flatnonzero(table[:, 0])
    if failure is not None and failed.size == world:
        raise failure
    problems = []
    if failed.size:
        detail = f" (here: {type(failure).__name__}: {failure})" if failure is not None else ""
        problems.append(f"selecting raised on ranks {failed.tolist()} only{detail}")
    problems += [
        f"the {name} (ranks {d} differ from rank 0)"
        for j, name in enumerate(facts, start=1)
        if (d := differing_ranks(table, j))
    ]
    if problems:
        raise RankMismatchError(
            f"GlisterSelector.step() {when}: the {world} ranks of the process group disagree (this is "
            f"rank {dist.get_rank()}): " + "; ".join(problems) + ". Nothing was changed by this step "
            "on any rank; a state dict loaded on some ranks only, or step() skipped on a rank, lead here."
        ) from failure


# -- the state dict ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SelectorShape:
    """What a state dict must fit: the selector's identity, sizes and schedule."""

    identity: dict[str, Any]
    k: int
    train: np.ndarray
    n_tracked: int
    num_classes: int
    epochs: int
    select_epochs: tuple[int, ...]


@dataclass(frozen=True)
class LoadedSelectorState:
    """A validated state dict, ready to assign."""

    epoch: int
    subset: np.ndarray
    observed: np.ndarray
    sums: torch.Tensor | None
    scored: int
    history: list[dict[str, Any]]
    selection_cost: dict[str, Any]


def parse_selector_state(state_dict: Any, shape: SelectorShape) -> LoadedSelectorState:
    """Check every field of ``state_dict`` against ``shape`` (``CorruptStateError`` names a bad one)."""
    if not isinstance(state_dict, dict):
        raise ProxydataTypeError(f"state_dict must be a dict, got {show(state_dict)}")
    missing = [k for k in (*_FIELDS, "selection_cost") if k not in state_dict]
    if missing:
        raise _fail(f"missing fields {missing}")
    if state_dict["version"] != STATE_VERSION:
        raise _fail(f"version must be {STATE_VERSION}, got {show(state_dict['version'])}")
    _check_config(state_dict["config"], shape.identity)
    epoch = _int(state_dict["epoch"], "epoch", 0, shape.epochs)
    subset, observed, sums = _arrays(state_dict, shape, epoch)
    samplers = state_dict["samplers"]
    if not isinstance(samplers, dict) or any(samplers.get(k) != epoch for k in ("train", "val", "scoring")):
        raise _fail(f"samplers must all be at epoch {epoch}, got {show(samplers)}")
    history = _history(state_dict["history"], epoch, shape.select_epochs)
    cost = _cost(state_dict["selection_cost"], sum(1 for e in shape.select_epochs if e <= epoch), epoch)
    scored = _int(state_dict["scored"], "scored", 0)
    return LoadedSelectorState(epoch, subset, observed, sums, scored, history, cost)


def _check_config(theirs: Any, mine: dict[str, Any]) -> None:
    if not isinstance(theirs, dict):
        raise _fail(f"config must be a dict, got {show(theirs)}")
    diffs = [
        f"{k} is {theirs.get(k)!r} in the state_dict, {v!r} here"
        for k, v in mine.items()
        if theirs.get(k) != v
    ]
    if diffs:
        raise _fail("config: made for another selector: " + "; ".join(diffs))


def _arrays(
    s: dict[str, Any], shape: SelectorShape, epoch: int
) -> tuple[np.ndarray, np.ndarray, torch.Tensor | None]:
    subset = _tensor(s["subset"], "subset", (shape.k,), integer=True).numpy().astype(np.int64)
    if np.any(np.diff(subset) <= 0) or not np.isin(subset, shape.train).all():
        raise _fail("subset must hold sorted, distinct indices of the training split")
    observed = _tensor(s["observed"], "observed", (shape.n_tracked,), integer=True).numpy()
    if observed.min(initial=0) < 0:
        raise _fail("observed must be >= 0")
    sums = s["sums"]
    if sums is not None:
        sums = _tensor(sums, "sums", (shape.n_tracked, shape.num_classes + 1), integer=False).to(
            torch.float64
        )
        if not bool(torch.isfinite(sums).all()):
            raise _fail("sums must be finite")
        counts = sums[:, -1]
        if bool((counts < 0).any()) or not bool((counts == counts.round()).all()):
            raise _fail("sums[:, -1] must hold observation counts (non-negative integers)")
        if (epoch + 1) not in shape.select_epochs:
            raise _fail(f"sums must be None: epoch {epoch + 1} does not end with a selection")
    return subset, observed.astype(np.int32, copy=True), sums


def _history(history: Any, epoch: int, select_epochs: tuple[int, ...]) -> list[dict[str, Any]]:
    if not isinstance(history, list) or len(history) != epoch:
        raise _fail(f"history must be a list of {epoch} entries, got {show(history)}")
    for e, h in enumerate(history, start=1):
        ok = isinstance(h, dict) and set(h) == set(HISTORY_KEYS)
        if not ok or h["epoch"] != e or h["selected"] != (e in select_epochs):
            raise _fail(f"history[{e - 1}] is not the entry of epoch {e}: {show(h)}")
    return [dict(h) for h in history]


def _cost(cost: Any, selections: int, epoch: int) -> dict[str, Any]:
    if not isinstance(cost, dict) or set(cost) != set(COST_KEYS):
        raise _fail(f"selection_cost must have the keys {COST_KEYS}, got {show(cost)}")
    for k in COST_KEYS:
        v = cost[k]
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 0:
            raise _fail(f"selection_cost[{k!r}] must be a finite number >= 0, got {show(v)}")
    if cost["selections"] != selections:
        raise _fail(f"selection_cost['selections'] is {cost['selections']}, not {selections} (epoch {epoch})")
    return {k: cost[k] for k in COST_KEYS}


def _fail(message: str) -> CorruptStateError:
    return CorruptStateError(f"state_dict: {message}; nothing was loaded")


def _int(value: Any, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _fail(f"{name} must be an int, got {show(value)}")
    if value < low or (high is not None and value > high):
        raise _fail(f"{name} must be in [{low}, {high if high is not None else 'inf'}], got {value}")
    return int(value)


def _tensor(value: Any, name: str, shape: tuple[int, ...], *, integer: bool) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise _fail(f"{name} must be a tensor, got {type(value).__name__}")
    if tuple(value.shape) != shape:
        raise _fail(f"{name} must have shape {shape}, got {tuple(value.shape)}")
    if value.dtype == torch.bool or value.dtype.is_complex or value.dtype.is_floating_point == integer:
        raise _fail(f"{name} must hold {'integers' if integer else 'floats'}, got {value.dtype}")
    return value.detach().cpu()
