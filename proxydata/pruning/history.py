"""The per-epoch history record of a :class:`~proxydata.BiLevelPruner` and its summary table.

One entry per completed epoch (``step()`` call)::

    {"epoch": e, "pruning_step": bool,
     "n_train", "train_class_counts", "train_balance", "n_observed_train",
     "n_unobserved_train", "pruned_train", "held_back_train",   # and the same for val
     "train": step info or None, "val": step info or None}

``n_observed_<split>`` counts the samples kept at the start of the epoch that
were observed in it (summed over ranks), ``n_unobserved_<split>`` the rest;
``pruned_<split>`` / ``held_back_<split>`` are 0 on epochs without a pruning
step. A step info (see :meth:`BiLevelPruner.step`) holds numpy arrays;
:func:`to_plain` makes the copy handed to listeners, of plain Python numbers.

:func:`entry_scalars` is the one naming scheme of the loggers: the TensorBoard
logger and the Lightning callback both write ``<prefix>/<quantity>/<split>``
(:data:`SCALARS`, default prefix ``bdp``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .selection import Selection

__all__ = [
    "SCALARS",
    "entry_scalars",
    "format_summary",
    "history_table",
    "make_entry",
    "step_info",
    "to_plain",
]

#: The scalars a logger writes per split: ``(quantity, key of the history entry)``;
#: the tag is ``<prefix>/<quantity>/<split>``.
SCALARS = (
    ("kept", "n_{s}"),
    ("balance", "{s}_balance"),
    ("observed", "n_observed_{s}"),
    ("unobserved", "n_unobserved_{s}"),
    ("pruned", "pruned_{s}"),
    ("held_back", "held_back_{s}"),
)


def step_info(
    selection: Selection,
    criterion: str,
    counts: np.ndarray,
    balance: float,
    limits: np.ndarray | None,
    n_kept: int,
    score: str = "voe",
) -> dict[str, Any]:
    """The record of one split's pruning step.

    ``voe`` holds the scores the step ranked the pruned samples by and ``score``
    names them: ``"voe"``, or ``"el2n"`` (their mean EL2N over the window).
    """
    return {
        "score": score,
        "criterion": criterion,
        "asked": selection.asked,
        "pruned": selection.pruned,
        "held_back": selection.held_back,
        "held_back_by": selection.held_back_by,
        "n_candidates": selection.n_candidates,
        "n_without_voe": int(n_kept - selection.n_candidates),
        "counts_before": counts.tolist(),
        "balance_before": balance,
        "limits": None if limits is None else limits.tolist(),
        "indices": selection.indices,
        "voe": selection.voe,
        "protected": selection.protected,
        "protected_by": selection.protected_by,
    }


def make_entry(epoch: int, pruning: bool, splits: list[dict[str, Any]]) -> dict[str, Any]:
    """One history entry from per-split facts.

    Each item of ``splits``: ``name``, ``n`` (kept after the epoch), ``counts``
    (class counts after), ``balance``, ``observed`` and ``unobserved`` (of the
    samples kept at the epoch's start) and ``info`` (step info or None).
    """
    entry: dict[str, Any] = {"epoch": int(epoch), "pruning_step": bool(pruning)}
    for s in splits:
        name, info = s["name"], s["info"]
        entry[f"n_{name}"] = int(s["n"])
        entry[f"{name}_class_counts"] = [int(c) for c in s["counts"]]
        entry[f"{name}_balance"] = float(s["balance"])
        entry[f"n_observed_{name}"] = int(s["observed"])
        entry[f"n_unobserved_{name}"] = int(s["unobserved"])
        entry[f"pruned_{name}"] = 0 if info is None else int(info["pruned"])
        entry[f"held_back_{name}"] = 0 if info is None else int(info["held_back"])
    for s in splits:
        entry[s["name"]] = s["info"]
    return entry


def entry_scalars(entry: dict[str, Any], prefix: str = "bdp") -> dict[str, float]:
    """The scalars of one history entry under the loggers' one naming scheme.

    ``<prefix>/<quantity>/<split>`` for every quantity of :data:`SCALARS` and both
    splits (``bdp/kept/train``: kept training samples after the epoch), plus, at a
    pruning step, ``<prefix>/protected_by_limit/<split>``: the samples VoE order
    alone would have pruned that the class-balance limit kept. Values are plain
    floats; keys absent from ``entry`` are left out. The epoch is not a scalar:
    it is the x-axis (``entry["epoch"]``, completed epochs counted from 1).

    Examples
    --------
    >>> entry = {"epoch": 2, "pruning_step": False, "n_train": 90, "train_balance": 1.0, "train": None}
    >>> entry_scalars(entry)
    {'bdp/kept/train': 90.0, 'bdp/balance/train': 1.0}
    """
    prefix = prefix.rstrip("/")
    out: dict[str, float] = {}
    for split in ("train", "val"):
        for quantity, key in SCALARS:
            value = entry.get(key.format(s=split))
            if value is not None:
                out[f"{prefix}/{quantity}/{split}"] = float(value)
        info = entry.get(split)
        if entry.get("pruning_step") and isinstance(info, dict):
            protected = (info.get("protected_by") or {}).get("class_limit")
            if protected is not None:
                out[f"{prefix}/protected_by_limit/{split}"] = float(protected)
    return out


def history_table(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat row of numbers per history entry (what ``BiLevelPruner.to_pandas()`` tabulates).

    The entry's scalars (``epoch``, ``pruning_step``, ``n_train``, ``train_balance``,
    ``n_observed_train``, ``n_unobserved_train``, ``pruned_train``,
    ``held_back_train`` and the same for ``val``), and per split the step's
    ``asked_<split>``, ``protected_by_limit_<split>`` (samples VoE order would
    have pruned that the class-balance limit kept) and
    ``protected_by_min_<split>`` (kept by ``min_per_class``): ``None`` on epochs
    without a step.
    """
    rows = []
    for entry in history:
        row = {k: v for k, v in entry.items() if isinstance(v, (bool, int, float)) or v is None}
        row = {k: v for k, v in row.items() if k not in ("train", "val")}
        for split in ("train", "val"):
            info = entry.get(split)
            protected = (info or {}).get("protected_by") or {}
            row[f"asked_{split}"] = info["asked"] if info else None
            row[f"protected_by_limit_{split}"] = protected.get("class_limit") if info else None
            row[f"protected_by_min_{split}"] = protected.get("min_per_class") if info else None
        rows.append(row)
    return rows


def to_plain(obj: Any) -> Any:
    """A deep copy with numpy arrays as lists and numpy scalars as Python numbers."""
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _protected(info: dict[str, Any] | None) -> str:
    if not info:
        return ""
    return str((info.get("protected_by") or {}).get("class_limit", 0))


def _row(h: dict[str, Any]) -> tuple[str, ...]:
    t, v = h["train"], h["val"]
    missed = [h.get("n_unobserved_train", 0), h.get("n_unobserved_val", 0)]
    return (
        str(h["epoch"]),
        str(h["n_train"]),
        str(h["n_val"]),
        f"{h['train_balance']:.3f}",
        f"{h['val_balance']:.3f}",
        str(h["n_observed_train"]) + ("*" if missed[0] else ""),
        str(h["n_observed_val"]) + ("*" if missed[1] else ""),
        f"{t['pruned']}/{t['asked']}" if t else "",
        f"{v['pruned']}/{v['asked']}" if v else "",
        _protected(t),
        _protected(v),
    )


_COLUMNS = (
    "epoch",
    "kept train",
    "kept val",
    "B train",
    "B val",
    "seen train",
    "seen val",
    "pruned/asked train",
    "pruned/asked val",
    "protected train",
    "protected val",
)
#: What each column reads, printed under the table.
_LEGEND = (
    "  kept: samples kept after the epoch; B: class balance degree; seen: kept samples observed in the epoch",
    "  pruned/asked: samples a step pruned / the round(p·n_initial) it asked for (the difference "
    "was held back)",
    "  protected: samples VoE order would have pruned that the class-balance limit kept",
)


def format_summary(config: Any, schedule: Any, splits: list[Any], epoch: int, history: list[dict]) -> str:
    """The pruner's settings, then one row for the start and one per epoch, columns aligned.

    Every column holds one reading, named in its header and in the legend under
    the table: kept sizes, balance degrees, samples observed, ``pruned/asked``
    per split at a pruning step, and the samples the class-balance limit
    protected (``history[i][split]["protected_by"]["class_limit"]``). A ``*``
    marks an epoch in which some kept samples of the split were not observed.
    """
    limit = getattr(config.limit_fn, "__name__", type(config.limit_fn).__name__)
    head = [
        f"BiLevelPruner: {_n(schedule.epochs, 'epoch')}, T={schedule.interval}, "
        f"{_n(schedule.num_steps, 'pruning step')} (after epochs {list(schedule.prune_epochs)}), "
        f"{_n(epoch, 'epoch')} done",
        *(
            f"  {s.name + ':':6s} {s.n_initial} samples, {s.asked} ({s.prune_ratio:.0%}) per step, "
            f"{s.criterion} VoE first"
            for s in splits
        ),
        f"  class balance limit: {limit if config.class_balance else 'off'}; "
        f"min_per_class={config.min_per_class}",
    ]
    start = [
        "0",
        *(str(s.n_initial) for s in splits),
        *(f"{s.balance_degree(s.initial_counts):.3f}" for s in splits),
    ]
    rows = [_COLUMNS, (*start, *([""] * (len(_COLUMNS) - len(start))))]
    rows += [_row(h) for h in history]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += _LEGEND
    if any(h.get("n_unobserved_train") or h.get("n_unobserved_val") for h in history):
        lines.append("  * some kept samples of the split were not observed in that epoch")
    return "\n".join(head + lines)
