"""What the class-balance limit did: per pruning step, per run, per setting (claim 6, item 5).

Reads the pruner's history stored in each BDP record (``pruner_history``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .records import Group, Record, row_name


def limit_effect(entry: dict[str, Any], split: str, min_per_class: int) -> tuple[int, int]:
    """One split's pruning step, the class limit's effect: (protected, shortfall).

    ``protected``: samples VoE order alone would have pruned that the class-balance
    limit kept (others were pruned in their place; protection by ``min_per_class``
    alone is not counted); ``shortfall``: how many fewer than asked the step pruned
    because of the limit. Records older than the history's ``protected_by`` are
    attributed from the class counts: a step's protected samples are the limit's
    when some class was pruned exactly to a limit below its ``min_per_class`` cap
    and no class down to that floor (a step with both is counted for the limit).
    """
    step = entry[split]
    shortfall = int((step.get("held_back_by") or {}).get("class_limit", 0))
    if "protected_by" in step:
        return int(step["protected_by"]["class_limit"]), shortfall
    protected = len(step.get("protected") or ())
    if not protected or step.get("limits") is None:
        return 0, shortfall
    before = np.asarray(step["counts_before"])
    pruned = before - np.asarray(entry[f"{split}_class_counts"])
    limits = np.asarray(step["limits"])
    floor = np.maximum(before - min_per_class, 0)
    at_limit = bool(np.any((pruned == limits) & (limits < floor)))
    return (protected if at_limit else 0), shortfall


def limit_steps(rec: Record) -> list[tuple[int, int, int]]:
    """``(epoch, protected, shortfall)`` of every pruning step, both splits summed."""
    mpc = int(((rec.get("config") or {}).get("bdp_kwargs") or {}).get("min_per_class", 1))
    out = []
    for entry in rec.get("pruner_history") or []:
        effects = [limit_effect(entry, s, mpc) for s in ("train", "val") if isinstance(entry.get(s), dict)]
        if effects:
            out.append((int(entry["epoch"]), sum(e[0] for e in effects), sum(e[1] for e in effects)))
    return out


def limit_activity(
    recs: list[Record],
) -> tuple[list[float], list[float], tuple[list[float], list[float]]]:
    """Per run: samples the limit protected, its shortfall, and the final balance degrees."""
    protected, shortfall, b_train, b_val = [], [], [], []
    for rec in recs:
        steps = limit_steps(rec)
        protected.append(float(sum(s[1] for s in steps)))
        shortfall.append(float(sum(s[2] for s in steps)))
        history = rec.get("pruner_history") or []
        if history:
            b_train.append(float(history[-1]["train_balance"]))
            b_val.append(float(history[-1]["val_balance"]))
    return protected, shortfall, (b_train, b_val)


def first_binding_epoch(rec: Record) -> int | None:
    """The first epoch whose pruning step the limit changed (protected or shortfall > 0)."""
    return next((epoch for epoch, prot, short in limit_steps(rec) if prot or short), None)


def step_number(rec: Record, epoch: int) -> int:
    """The pruning step (1-based) that ends at ``epoch`` (steps end epochs T, 2T, ...)."""
    interval = int((rec.get("config") or {}).get("bdp_kwargs", {}).get("interval", 1)) or 1
    return epoch // interval


def first_step_tightness(rec: Record) -> tuple[float, float] | None:
    """Training split's balance degree before the first pruning step and its limit's share N / n."""
    for entry in rec.get("pruner_history") or []:
        step = entry.get("train")
        if isinstance(step, dict):
            if step.get("limits") is None or step.get("balance_before") is None:
                return None
            counts = np.asarray(step["counts_before"], dtype=np.float64)
            return float(step["balance_before"]), float(np.sum(step["limits"]) / counts.sum())
    return None


def step_of(rec: Record, epoch: int) -> str:
    """``"epoch (step k of S)"``: steps end epochs T, 2T, ... while an epoch remains."""
    interval = int((rec.get("config") or {}).get("bdp_kwargs", {}).get("interval", 0))
    epochs = int((rec.get("config") or {}).get("epochs", 0))
    if interval <= 0 or epochs <= 0:
        return str(epoch)
    return f"{epoch} (step {epoch // interval} of {(epochs - 1) // interval})"


def limit_variant(label: str, limit: str) -> str:
    """``label`` with its ``limit=`` part set to ``limit``."""
    return " ".join(f"limit={limit}" if p.startswith("limit=") else p for p in label.split(" "))


#: Line style and colour of each class limit in the figures (the families below are the limits it names).
LIMIT_STYLES = {"ours": ("-", "tab:blue"), "none": ("--", "tab:orange"), "linear": (":", "tab:green")}


def limit_families(groups: dict[Group, list[Record]]) -> dict[str, dict[str, list[Record]]]:
    """BDP settings (label without its limit) -> limit -> runs, for settings run with several limits."""
    families: dict[str, dict[str, list[Record]]] = {}
    for key, recs in groups.items():
        if key[1] != "bdp":
            continue
        limit = next((p.split("=", 1)[1] for p in key[3].split(" ") if p.startswith("limit=")), None)
        if limit in LIMIT_STYLES:
            setting = row_name(key).replace(f" limit={limit}", "")
            families.setdefault(setting, {})[limit] = recs
    return {k: v for k, v in sorted(families.items()) if len(v) > 1}


def target_share(rec: Record) -> tuple[float, float] | None:
    """The share of each split (train, val) the run's schedule asks to keep: ``1 − S_p · p``.

    ``S_p = |{T, 2T, …} ∩ [T, E)|`` pruning steps of ``p`` of the initial split
    each (one-shot runs remove the same total). None for a run without a pruner.
    """
    bdp = (rec.get("options") or {}).get("bdp")
    if not bdp:
        return None
    epochs = int((rec.get("config") or {}).get("epochs", 0))
    steps = len(range(int(bdp["interval"]), epochs, int(bdp["interval"])))
    return 1.0 - steps * float(bdp["train_ratio"]), 1.0 - steps * float(bdp["val_ratio"])


def reached_share(rec: Record) -> tuple[float, float] | None:
    """The share of each split (train, val) the run actually kept at its end (None without a pruner)."""
    if rec.get("final_train") is None or rec.get("final_val") is None:
        return None
    return rec["final_train"] / float(rec["train_pool"]), rec["final_val"] / float(rec["val_size"])


def shortfall_note(recs: list[Record], factor: float = 1.5) -> str:
    """``the class limit kept …`` when the runs ended above ``factor`` × the schedule's target, else ``""``.

    Compares the mean kept share of each split with the target (:func:`target_share`).
    """
    pairs = [(t, r) for t, r in ((target_share(x), reached_share(x)) for x in recs) if t and r]
    if not pairs:
        return ""
    target = [float(np.mean([t[i] for t, _ in pairs])) for i in (0, 1)]
    reached = [float(np.mean([r[i] for _, r in pairs])) for i in (0, 1)]
    if all(r <= factor * t for r, t in zip(reached, target)):
        return ""
    return (
        f"the schedule asks for {100 * target[0]:.0f} % / {100 * target[1]:.0f} % of the training / "
        f"validation split, the runs kept {100 * reached[0]:.1f} % / {100 * reached[1]:.1f} %: the class "
        "limit keeps BDP far from its target"
    )


def reached_table(groups: dict[Group, list[Record]]) -> list[str]:
    """Per BDP setting: the schedule's target share of each split and what the runs reached (mean, range)."""
    lines = [
        "| setting | seeds | target train % | reached train % | target val % | reached val % |",
        "|---|---|---|---|---|---|",
    ]
    for key in sorted(groups, key=lambda k: (k[4], k[0], k[3])):
        recs = groups[key]
        pairs = [(t, r) for t, r in ((target_share(x), reached_share(x)) for x in recs) if t and r]
        if key[1] != "bdp" or not pairs:
            continue
        cells = []
        for i in (0, 1):
            got = [100 * r[i] for _, r in pairs]
            span = f"{np.mean(got):.1f}" + (f" ({min(got):.1f}–{max(got):.1f})" if len(got) > 1 else "")
            cells += [f"{100 * pairs[0][0][i]:.1f}", span]
        lines.append(f"| {row_name(key)} | {len(pairs)} | " + " | ".join(cells) + " |")
    return lines
