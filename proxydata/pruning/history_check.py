"""Validating a loaded history against the pruning record it must agree with.

A state dict's ``history`` is checked entry by entry against what the
``pruned_at`` record implies (:mod:`.state` calls :func:`check_history`): every
key of :func:`.history.make_entry` present with the right type, and every
number that the record determines equal to it — kept sizes, class counts,
balance degrees, pruned and held-back counts, each step's pruned indices —
so that :meth:`BiLevelPruner.summary`, the listeners and the next ``step()``
never meet a half-written entry. Version-1 entries (proxydata 0.1) lack
``n_unobserved_<split>``, ``pruned_<split>`` and ``held_back_<split>``; they
are filled in from the record.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from .._validation import show
from ..exceptions import CorruptStateError
from .schedule import PruningSchedule
from .split import SplitState

__all__ = ["check_history"]

_ADDED_IN_V2 = ("n_unobserved_{s}", "pruned_{s}", "held_back_{s}")
_STEP_KEYS = ("asked", "pruned", "held_back", "indices", "voe")

Fail = Callable[[str], CorruptStateError]


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _split_facts(split: SplitState, mine: np.ndarray, epoch: int) -> dict[str, Any]:
    """What the pruning record says about ``split`` in (1-based) ``epoch``."""
    kept_after = (mine == 0) | (mine > epoch)
    kept_before = kept_after | (mine == epoch)
    labels = split.tracked.labels[split.positions[kept_after]]
    counts = np.bincount(labels, minlength=split.num_classes).astype(np.int64)
    return {
        "n": int(kept_after.sum()),
        "n_before": int(kept_before.sum()),
        "counts": counts.tolist(),
        "balance": split.balance_degree(counts),
        "pruned": np.sort(split.initial[mine == epoch]),
    }


def _check_step_record(info: Any, where: str, split: SplitState, pruned: np.ndarray, fail: Fail) -> None:
    if not isinstance(info, dict) or any(k not in info for k in _STEP_KEYS):
        raise fail(f"{where} must be a step record with the keys {list(_STEP_KEYS)}, got {show(info)}")
    indices, voe = info["indices"], info["voe"]
    if not isinstance(indices, np.ndarray) or not np.array_equal(np.sort(indices), pruned):
        raise fail(f"{where}['indices'] disagree with pruned_at")
    if not isinstance(voe, np.ndarray) or voe.shape != indices.shape:
        raise fail(f"{where}['voe'] must hold one VoE per pruned index, got {show(voe)}")
    expected = {"asked": split.asked, "pruned": int(pruned.size), "held_back": split.asked - int(pruned.size)}
    for key, value in expected.items():
        if not _is_int(info[key]) or int(info[key]) != value:
            raise fail(f"{where}[{key!r}] must be {value} (from pruned_at), got {show(info[key])}")


def _check_split(
    entry: dict[str, Any],
    where: str,
    split: SplitState,
    facts: dict[str, Any],
    pruning: bool,
    version: int,
    fail: Fail,
) -> None:
    s = split.name
    pruned = facts["pruned"]
    if version == 1:  # filled in, as a version-2 entry has them
        observed = entry.get(f"n_observed_{s}")
        if _is_int(observed):
            entry.setdefault(f"n_unobserved_{s}", facts["n_before"] - int(observed))
        entry.setdefault(f"pruned_{s}", int(pruned.size))
        entry.setdefault(f"held_back_{s}", split.asked - int(pruned.size) if pruning else 0)
    exact = {
        f"n_{s}": facts["n"],
        f"{s}_class_counts": facts["counts"],
        f"pruned_{s}": int(pruned.size),
        f"held_back_{s}": split.asked - int(pruned.size) if pruning else 0,
    }
    for key, value in exact.items():
        got = entry.get(key)
        if isinstance(value, list):
            same = (
                isinstance(got, list) and len(got) == len(value) and all(map(_is_int, got)) and got == value
            )
        else:
            same = _is_int(got) and int(got) == value
        if not same:
            raise fail(f"{where}[{key!r}] must be {value} (from pruned_at), got {show(got)}")
    balance = entry.get(f"{s}_balance")
    if not _is_real(balance) or not math.isclose(
        float(balance), facts["balance"], rel_tol=1e-9, abs_tol=1e-12
    ):
        raise fail(
            f"{where}['{s}_balance'] must be {facts['balance']!r} (from pruned_at), got {show(balance)}"
        )
    observed, unobserved = entry.get(f"n_observed_{s}"), entry.get(f"n_unobserved_{s}")
    if not _is_int(observed) or not 0 <= int(observed) <= facts["n_before"]:
        raise fail(
            f"{where}['n_observed_{s}'] must be an int in [0, {facts['n_before']}], got {show(observed)}"
        )
    if not _is_int(unobserved) or int(unobserved) != facts["n_before"] - int(observed):
        raise fail(
            f"{where}['n_unobserved_{s}'] must be {facts['n_before'] - int(observed)} "
            f"(kept at the epoch's start minus observed), got {show(unobserved)}"
        )
    info = entry.get(s, "missing")
    if pruning:
        _check_step_record(info, f"{where}[{s!r}]", split, pruned, fail)
    elif info is not None:
        raise fail(f"{where}[{s!r}] must be None on an epoch without a pruning step, got {show(info)}")


def check_history(
    history: list[Any],
    version: int,
    schedule: PruningSchedule,
    splits: list[SplitState],
    pruned_at: np.ndarray,
    fail: Fail,
) -> list[dict[str, Any]]:
    """Check every entry of a (numpy-converted) history; version-1 entries are completed in place.

    Raises ``fail(message)`` — a :class:`~proxydata.CorruptStateError` — at the first entry
    that is not what :func:`.history.make_entry` made for the epoch ``pruned_at`` describes.
    """
    for i, entry in enumerate(history, start=1):
        where = f"history[{i - 1}]"
        if not isinstance(entry, dict) or entry.get("epoch") != i or not _is_int(entry.get("epoch")):
            raise fail(f"{where} must be the entry of epoch {i}, got {show(entry)}")
        pruning = schedule.prunes_after(i)
        if entry.get("pruning_step") is not pruning:
            raise fail(f"{where}['pruning_step'] must be {pruning}")
        for split in splits:
            facts = _split_facts(split, pruned_at[split.positions], i)
            _check_split(entry, where, split, facts, pruning, version, fail)
    return history
