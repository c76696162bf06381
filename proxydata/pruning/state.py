"""The pruner's ``state_dict``: building it, and validating one completely before use.

Format (version 2; plain data, loadable with ``torch.load(weights_only=True)``)::

    {"version": 2, "config": {...}, "epoch": int,
     "pruned_at": int32 tensor (n_tracked,), 0 while kept, else the epoch after which pruned,
     "ring": float32 (T, n_tracked) or None, "current": float32 (2, n_tracked) or None,
     "rejected": int64 scalar tensor or None, "reduced": bool,
     "samplers": {"train": {"epoch": int}, "val": {"epoch": int}},
     "history": [one entry per epoch, numpy arrays as tensors]}

Version 1 (proxydata 0.1) also stored each sampler's ``pass_number`` and
``cursor``; it loads (they are checked and no longer needed: the running
epoch's observation counts say which samples a new iterator must yield first).

:func:`parse_state` checks every field and every invariant — types, shapes,
ranges, pruning epochs on the schedule, no class below ``min_per_class``,
no step pruning more than it asks, the history agreeing with ``pruned_at`` —
and returns a :class:`LoadedState`; the pruner assigns it only afterwards, so a
bad state dict changes nothing (:class:`~proxydata.CorruptStateError`).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._validation import show
from ..exceptions import CorruptStateError, ProxydataTypeError
from .schedule import PruningSchedule
from .split import SplitState

__all__ = ["STATE_VERSION", "LoadedState", "convert", "parse_state"]

STATE_VERSION = 2
_REQUIRED = ("version", "config", "epoch", "pruned_at", "ring", "current", "samplers", "history")


@dataclass(frozen=True)
class LoadedState:
    """A validated state dict, ready to assign."""

    epoch: int
    pruned_at: np.ndarray
    ring: torch.Tensor | None
    current: torch.Tensor | None
    rejected: torch.Tensor | None
    reduced: bool
    sampler_epochs: dict[str, int]
    history: list[dict[str, Any]]


def convert(obj: Any, *, to_torch: bool) -> Any:
    """Deep copy of a history with numpy arrays as tensors (``to_torch``) or back."""
    if isinstance(obj, dict):
        return {k: convert(v, to_torch=to_torch) for k, v in obj.items()}
    if isinstance(obj, list):
        return [convert(v, to_torch=to_torch) for v in obj]
    if to_torch and isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if not to_torch and isinstance(obj, torch.Tensor):
        return obj.detach().cpu().numpy().copy()
    return obj


def _fail(message: str) -> CorruptStateError:
    return CorruptStateError(f"state_dict: {message}; nothing was loaded")


def _int(value: Any, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _fail(f"{name} must be an int, got {show(value)}")
    if value < low or (high is not None and value > high):
        raise _fail(f"{name} must be in [{low}, {high if high is not None else 'inf'}], got {value}")
    return int(value)


def _tensor(value: Any, name: str, shape: tuple[int, ...], kind: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise _fail(f"{name} must be a tensor, got {type(value).__name__}")
    if tuple(value.shape) != shape:
        raise _fail(f"{name} must have shape {shape}, got {tuple(value.shape)}")
    is_float = value.dtype.is_floating_point
    if (kind == "float") != is_float or value.dtype == torch.bool or value.dtype.is_complex:
        raise _fail(f"{name} must hold {'floats' if kind == 'float' else 'integers'}, got {value.dtype}")
    return value.detach().cpu()


def _check_config(theirs: Any, mine: dict[str, Any]) -> None:
    if not isinstance(theirs, dict):
        raise _fail(f"config must be a dict, got {type(theirs).__name__}")
    diffs = [
        f"{k} is {theirs.get(k)!r} in the state_dict, {v!r} here"
        for k, v in mine.items()
        if theirs.get(k) != v
    ]
    if diffs:
        raise CorruptStateError("state_dict was made for another pruner: " + "; ".join(diffs))


def _check_pruned_at(
    pruned_at: np.ndarray, epoch: int, schedule: PruningSchedule, splits: list[SplitState], min_per_class: int
) -> None:
    allowed = {0} | {e for e in schedule.prune_epochs if e <= epoch}
    bad = sorted(set(np.unique(pruned_at).tolist()) - allowed)
    if bad:
        raise _fail(f"pruned_at holds epochs {bad} that are no pruning step up to epoch {epoch}")
    for split in splits:
        mine = pruned_at[split.positions]
        steps = np.bincount(mine, minlength=schedule.epochs + 1)[1:]
        if steps.size and steps.max() > split.asked:
            raise _fail(
                f"pruned_at prunes {int(steps.max())} {split.name} samples in one step, "
                f"more than its {split.asked}"
            )
        labels = split.tracked.labels[split.positions]
        kept = np.bincount(labels[mine == 0], minlength=split.num_classes)
        floor = np.minimum(split.initial_counts, min_per_class)
        low = np.flatnonzero(kept < floor)
        if low.size:
            raise _fail(
                f"pruned_at leaves class {int(low[0])} of the {split.name} split "
                f"below min_per_class={min_per_class}"
            )


def _check_buffers(sd: dict[str, Any], n: int, interval: int, pruned_at: np.ndarray) -> tuple:
    if sd["ring"] is None:
        if sd["current"] is not None:
            raise _fail("current must be None when ring is None")
        return None, None, None
    ring = _tensor(sd["ring"], "ring", (interval, n), "float")
    current = _tensor(sd["current"], "current", (2, n), "float")
    seen = ring[~torch.isnan(ring)]
    if seen.numel() and (not bool(torch.isfinite(seen).all()) or seen.min() < 0):
        raise _fail("ring must hold finite, non-negative EL2N values or NaN")
    total, count = current[0], current[1]
    if not bool(torch.isfinite(current).all()) or total.min() < 0 or count.min() < 0:
        raise _fail("current must hold finite, non-negative EL2N sums and counts")
    if not bool(torch.equal(count, count.round())):
        raise _fail("current[1] (observation counts) must hold whole numbers")
    if bool((count[torch.from_numpy(pruned_at != 0)] > 0).any()):
        raise _fail("current holds observations of pruned samples")
    rejected = sd.get("rejected")
    if rejected is not None:
        rejected = _tensor(rejected, "rejected", (), "int")
        if int(rejected) < 0:
            raise _fail(f"rejected must be >= 0, got {int(rejected)}")
    return ring, current, rejected


def _check_samplers(
    samplers: Any, version: int, splits: list[SplitState], pruned_at: np.ndarray
) -> dict[str, int]:
    if not isinstance(samplers, dict):
        raise _fail(f"samplers must be a dict, got {type(samplers).__name__}")
    epochs = {}
    for split in splits:
        st = samplers.get(split.name)
        if not isinstance(st, dict) or "epoch" not in st:
            raise _fail(f"samplers[{split.name!r}] is missing or has no 'epoch'")
        epochs[split.name] = _int(st["epoch"], f"samplers[{split.name!r}]['epoch']", 0)
        if version == 1:
            kept = int((pruned_at[split.positions] == 0).sum())
            length = -(-kept // split.sampler.num_replicas)
            _int(st.get("pass_number"), f"samplers[{split.name!r}]['pass_number']", 0)
            _int(st.get("cursor"), f"samplers[{split.name!r}]['cursor']", 0, length)
    return epochs


def _check_history(
    history: Any, epoch: int, schedule: PruningSchedule, splits: list[SplitState], pruned_at: np.ndarray
) -> list[dict[str, Any]]:
    if not isinstance(history, list) or len(history) != epoch:
        raise _fail(f"history must be a list of {epoch} entries (one per epoch), got {show(history)}")
    out = convert(history, to_torch=False)
    for i, entry in enumerate(out, start=1):
        if not isinstance(entry, dict) or entry.get("epoch") != i:
            raise _fail(f"history[{i - 1}] must be the entry of epoch {i}, got {show(entry)}")
        pruning = schedule.prunes_after(i)
        if entry.get("pruning_step") is not pruning:
            raise _fail(f"history[{i - 1}]['pruning_step'] must be {pruning}")
        for split in splits:
            mine = pruned_at[split.positions]
            n_kept = int(np.count_nonzero((mine == 0) | (mine > i)))
            if entry.get(f"n_{split.name}") != n_kept:
                raise _fail(f"history[{i - 1}]['n_{split.name}'] must be {n_kept} (from pruned_at)")
            info = entry.get(split.name)
            if not pruning:
                continue
            if not isinstance(info, dict) or not isinstance(info.get("indices"), np.ndarray):
                raise _fail(f"history[{i - 1}][{split.name!r}] must be a step record with 'indices'")
            expected = np.sort(split.initial[mine == i])
            if not np.array_equal(np.sort(info["indices"]), expected):
                raise _fail(f"history[{i - 1}][{split.name!r}]['indices'] disagree with pruned_at")
    return out


def parse_state(
    sd: Any,
    *,
    config: dict[str, Any],
    schedule: PruningSchedule,
    splits: list[SplitState],
    n_tracked: int,
    min_per_class: int,
) -> LoadedState:
    """Validate a state dict against this pruner; raise before anything is assigned."""
    if not isinstance(sd, dict):
        raise ProxydataTypeError(f"state_dict must be a dict, got {type(sd).__name__}")
    missing = [k for k in _REQUIRED if k not in sd]
    if missing:
        raise CorruptStateError(f"state_dict lacks the keys {missing}; it is not a BiLevelPruner state_dict")
    version = sd["version"]
    if version not in (1, STATE_VERSION) or isinstance(version, bool):
        raise _fail(f"version must be 1 or {STATE_VERSION}, got {show(version)}")
    _check_config(sd["config"], config)
    epoch = _int(sd["epoch"], "epoch", 0, schedule.epochs)
    pruned_at = _tensor(sd["pruned_at"], "pruned_at", (n_tracked,), "int").numpy().astype(np.int64)
    _check_pruned_at(pruned_at, epoch, schedule, splits, min_per_class)
    ring, current, rejected = _check_buffers(sd, n_tracked, schedule.interval, pruned_at)
    reduced = sd.get("reduced", False)
    if not isinstance(reduced, bool):
        raise _fail(f"reduced must be a bool, got {show(reduced)}")
    sampler_epochs = _check_samplers(sd["samplers"], int(version), splits, pruned_at)
    history = _check_history(sd["history"], epoch, schedule, splits, pruned_at)
    return LoadedState(
        epoch, pruned_at.astype(np.int32), ring, current, rejected, reduced, sampler_epochs, history
    )
