"""The pruner's ``state_dict``: building it, and validating one completely before use.

Format (version 2; plain data, loadable with ``torch.load(weights_only=True)``)::

    {"version": 2, "config": {...}, "epoch": int,
     "pruned_at": int32 tensor (n_tracked,), 0 while kept, else the epoch after which pruned,
     "ring": float32 (T, n_tracked) or None, "current": float32 (2, n_tracked) or None,
     "rejected": int64 scalar tensor or None, "deferred": int, "reduced": bool,
     "samplers": {"train": {"epoch": int}, "val": {"epoch": int}},
     "history": [one entry per epoch, numpy arrays as tensors]}

``config`` is :meth:`.config.PrunerConfig.identity`; its ``score`` and
``pruning`` (the one-shot EL2N mode) are newer than format 2, and a state
without them loads only into a pruner with their defaults (``"voe"``,
``"progressive"``) — the settings it was made with.

``deferred`` counts the running epoch's ``observe`` calls whose NaN/inf check
was deferred (logits on an accelerator); ``rejected`` (those of them that held
NaN/inf) never exceeds it, so it is 0 for logits on the CPU. States written
before ``deferred`` existed load without that check. ``current[1]`` counts
every observation, an index repeated within one batch as often as it appears;
the samplers' coverage counts are rebuilt from it on loading, so they are the
same before and after a resume.

Version 1 (proxydata 0.1) also stored each sampler's ``pass_number`` and
``cursor``; it loads (they are checked and no longer needed: the running
epoch's observation counts say which samples a new iterator must yield first).
Its history entries lack ``n_unobserved_<split>``, ``pruned_<split>`` and
``held_back_<split>``, which are filled in from ``pruned_at``.

:func:`parse_state` checks every field and every invariant — types, shapes,
ranges (EL2N values in ``[0, √2]``, sums at most ``√2`` per observation), pruning
epochs on the schedule, no class below ``min_per_class``, no step pruning more
than it asks, both samplers at the pruner's epoch, every history entry complete
and agreeing with ``pruned_at`` (:mod:`.history_check`) — and returns a
:class:`LoadedState`; the pruner assigns it only afterwards, so a bad state
dict changes nothing (:class:`~proxydata.CorruptStateError`).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._validation import show
from ..exceptions import CorruptStateError, ProxydataTypeError
from ..metrics import EL2N_MAX, EL2N_TOLERANCE
from .config import ADDED_SETTINGS
from .history_check import check_history
from .schedule import PruningSchedule
from .score_buffer import BufferState
from .split import SplitState

__all__ = ["STATE_VERSION", "LoadedState", "convert", "parse_state"]

STATE_VERSION = 2
_REQUIRED = ("version", "config", "epoch", "pruned_at", "ring", "current", "samplers", "history")


@dataclass(frozen=True)
class LoadedState:
    """A validated state dict, ready to assign."""

    epoch: int
    pruned_at: np.ndarray
    buffers: BufferState
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
    # A state written before a setting existed was made with its default (ADDED_SETTINGS).
    diffs = [
        f"{k} is {theirs.get(k, ADDED_SETTINGS.get(k))!r} in the state_dict, {v!r} here"
        for k, v in mine.items()
        if theirs.get(k, ADDED_SETTINGS.get(k)) != v
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
        return None, None, None, 0
    ring = _tensor(sd["ring"], "ring", (interval, n), "float")
    current = _tensor(sd["current"], "current", (2, n), "float")
    seen = ring[~torch.isnan(ring)].to(torch.float64)
    high = EL2N_MAX * (1.0 + EL2N_TOLERANCE)
    if seen.numel() and (not bool(torch.isfinite(seen).all()) or seen.min() < 0 or seen.max() > high):
        raise _fail(f"ring must hold EL2N values in [0, sqrt(2)] or NaN, got values outside [0, {high:.6f}]")
    total, count = current[0].to(torch.float64), current[1].to(torch.float64)
    if not bool(torch.isfinite(current).all()) or total.min() < 0 or count.min() < 0:
        raise _fail("current must hold finite, non-negative EL2N sums and counts")
    if not bool(torch.equal(count, count.round())):
        raise _fail("current[1] (observation counts) must hold whole numbers")
    # Each observation adds at most sqrt(2); float32 summation may add count·2⁻²³ relative error.
    if bool((total > count * EL2N_MAX * (1.0 + EL2N_TOLERANCE + count * 2.0**-23)).any()):
        raise _fail("current[0] must hold sums of EL2N values, at most sqrt(2) per observation in current[1]")
    if bool((count[torch.from_numpy(pruned_at != 0)] > 0).any()):
        raise _fail("current holds observations of pruned samples")
    rejected = sd.get("rejected")
    if rejected is not None:
        rejected = _tensor(rejected, "rejected", (), "int")
        if int(rejected) < 0:
            raise _fail(f"rejected must be >= 0, got {int(rejected)}")
    deferred = sd.get("deferred")
    if deferred is not None:  # absent in states of proxydata 0.2 and earlier: rejected unchecked then
        deferred = _int(deferred, "deferred", 0)
        if rejected is not None and int(rejected) > deferred:
            raise _fail(
                f"rejected is {int(rejected)}, but only {deferred} observe() call(s) of the running epoch "
                "had their NaN/inf check deferred (logits on an accelerator); on the CPU it is always 0"
            )
    return ring, current, rejected, deferred or 0


def _check_samplers(
    samplers: Any, version: int, splits: list[SplitState], pruned_at: np.ndarray, epoch: int
) -> dict[str, int]:
    if not isinstance(samplers, dict):
        raise _fail(f"samplers must be a dict, got {type(samplers).__name__}")
    epochs = {}
    for split in splits:
        st = samplers.get(split.name)
        if not isinstance(st, dict) or "epoch" not in st:
            raise _fail(f"samplers[{split.name!r}] is missing or has no 'epoch'")
        epochs[split.name] = _int(st["epoch"], f"samplers[{split.name!r}]['epoch']", 0)
        if epochs[split.name] != epoch:  # step() moves both samplers to the pruner's epoch
            raise _fail(
                f"samplers[{split.name!r}]['epoch'] is {epochs[split.name]}, but the pruner's epoch is "
                f"{epoch}; step() keeps them equal"
            )
        if version == 1:
            kept = int((pruned_at[split.positions] == 0).sum())
            length = -(-kept // split.sampler.num_replicas)
            _int(st.get("pass_number"), f"samplers[{split.name!r}]['pass_number']", 0)
            _int(st.get("cursor"), f"samplers[{split.name!r}]['cursor']", 0, length)
    return epochs


def _check_history(
    history: Any,
    epoch: int,
    version: int,
    schedule: PruningSchedule,
    splits: list[SplitState],
    pruned_at: np.ndarray,
) -> list[dict[str, Any]]:
    if not isinstance(history, list) or len(history) != epoch:
        raise _fail(f"history must be a list of {epoch} entries (one per epoch), got {show(history)}")
    return check_history(convert(history, to_torch=False), version, schedule, splits, pruned_at, _fail)


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
    ring, current, rejected, deferred = _check_buffers(sd, n_tracked, schedule.interval, pruned_at)
    reduced = sd.get("reduced", False)
    if not isinstance(reduced, bool):
        raise _fail(f"reduced must be a bool, got {show(reduced)}")
    sampler_epochs = _check_samplers(sd["samplers"], int(version), splits, pruned_at, epoch)
    history = _check_history(sd["history"], epoch, int(version), schedule, splits, pruned_at)
    buffers = BufferState(ring, current, rejected, reduced, deferred)
    return LoadedState(epoch, pruned_at.astype(np.int32), buffers, sampler_epochs, history)
