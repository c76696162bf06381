"""Reading ``reproduction.jsonl``: one record per run, Hessian twins folded, runs grouped by setting.

Records of protocol v1 (issue 6: no ``protocol`` field, BDP schedule in the
config only) and v2 (issue 12: every setting in ``options`` and in the key) are
read alike: :func:`normalise` gives each the same fields, v1 rows are labelled
``v1``.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from suites import options_label

COLUMNS = (
    ("cifar10_test_200ep", "CIFAR-10"),
    ("cifar100_test_200ep", "CIFAR-100"),
    ("imagenet16_test_200ep", "ImageNet16-120"),
)
C10 = COLUMNS[0][0]
METHOD_ORDER = ("full", "rs", "cc-rs", "km-or", "cc-or", "ae", "tl", "bdp")
ALGO_ORDER = ("darts-v1", "beta-darts", "darts-v2", "gdas")
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
#: What a run costs: taken from the twin run without the Hessian measurement.
COST_FIELDS = ("search_cpu_seconds", "wall_seconds", "search_seconds", "epoch_seconds")

Record = dict[str, Any]
Group = tuple[str, str, float, str, int]  # algo, method, ratio, label, protocol


def load_records(path: Path) -> list[Record]:
    """The runs of ``path``, one per run key (the first, should a run appear twice), normalised.

    A run made twice, with and without the Hessian measurement, is one run: the
    measurement does not change the search (the two must find the same cell), so
    the pair gives the eigenvalues of the one and the cost of the other.
    """
    records: dict[str, Record] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                records.setdefault(rec.get("key", str(len(records))), rec)
    return [normalise(r) for r in merge_hessian_twins(list(records.values()))]


def _identity_without_hessian(rec: Record) -> str:
    opts = {k: v for k, v in (rec.get("options") or {}).items() if k != "hessian"}
    ident = (rec["algo"], rec["method"], rec["ratio"], rec["seed"], int(rec.get("protocol", 1)), opts)
    return json.dumps(ident, sort_keys=True)


def merge_hessian_twins(records: list[Record]) -> list[Record]:
    """Fold each run without the Hessian into its twin with it (same settings and seed).

    The merged record keeps the twin's eigenvalues and takes the cost
    (:data:`COST_FIELDS`) of the run without the measurement;
    ``cost_without_hessian`` marks it.

    Raises
    ------
    ValueError
        When the twins found different cells: the measurement changed the search.
    """
    plain = {_identity_without_hessian(r): r for r in records if not (r.get("options") or {}).get("hessian")}
    merged, folded = [], set()
    for rec in records:
        measured = (rec.get("options") or {}).get("hessian")
        twin = plain.get(_identity_without_hessian(rec)) if measured else None
        if twin is None:
            merged.append(rec)
            continue
        if twin["genotype"] != rec["genotype"]:
            raise ValueError(
                f"{rec['key']} and {twin['key']} found different cells: "
                f"{rec['genotype']} vs {twin['genotype']}"
            )
        both = dict(rec, **{k: twin[k] for k in COST_FIELDS if k in twin})
        both["cost_without_hessian"] = twin["key"]
        merged.append(both)
        folded.add(id(twin))
    return [r for r in merged if id(r) not in folded]


def normalise(rec: Record) -> Record:
    """Add ``_v`` (protocol), ``_method`` and ``_label`` (the run's settings, Hessian excluded)."""
    rec = dict(rec)
    version = int(rec.get("protocol", 1))
    method = rec["method"]
    if version >= 2:
        opts = dict(rec.get("options") or {})
        opts.pop("hessian", None)  # recorded, but it does not change the search
        label = options_label(opts)
    elif method.startswith("bdp"):
        bk = (rec.get("config") or {}).get("bdp_kwargs") or {}
        p_t, p_v = bk.get("train_prune_ratio", "?"), bk.get("val_prune_ratio", "?")
        limit = "none" if method == "bdp-nobalance" or bk.get("class_balance") is False else "ours"
        label = f"T{bk.get('interval', '?')} p{p_t:g}/{p_v:g} low/high limit={limit}"
        method = "bdp"
    else:
        label = ""
    rec.update(_v=version, _method=method, _label=label)
    return rec


def norm_all(records: list[Record]) -> list[Record]:
    """Every record normalised (those already normalised as they are)."""
    return [r if "_v" in r else normalise(r) for r in records]


def group_key(rec: Record) -> Group:
    """(algo, method, ratio, label, protocol) of a normalised record."""
    return (rec["algo"], rec["_method"], float(rec["ratio"]), rec["_label"], rec["_v"])


def groups_of(records: list[Record]) -> dict[Group, list[Record]]:
    """Runs grouped by (algo, method, ratio, label, protocol); seeds within a group."""
    out: dict[Group, list[Record]] = defaultdict(list)
    for rec in norm_all(records):
        out[group_key(rec)].append(rec)
    return out


def row_name(key: Group) -> str:
    """``algo method [r=..] [label] (v1)``: how the page names a group."""
    algo, method, ratio, label, version = key
    name = f"{algo} {method}" + (f" r={ratio:g}" if ratio != 1.0 else "")
    return name + (f" [{label}]" if label else "") + (" (v1)" if version == 1 else "")


def algo_rank(algo: str) -> int:
    """Sort position of an algorithm on the page."""
    return ALGO_ORDER.index(algo) if algo in ALGO_ORDER else len(ALGO_ORDER)


def is_static(key: Group) -> bool:
    """A static-proxy or full-data group (no BDP, no extra setting)."""
    return key[1] != "bdp" and key[3] == ""


def acc(rec: Record, col: str = C10) -> float:
    """The found cell's NAS-Bench-201 accuracy in column ``col`` (CIFAR-10 by default)."""
    return float(rec["accuracies"][col])


def samples_used(rec: Record) -> int:
    """Training plus validation samples processed over all epochs."""
    return int(sum(rec.get("train_sizes", [])) + sum(rec.get("val_sizes", [])))


def cpu(rec: Record) -> float:
    """The search's CPU seconds, less the Hessian measurements where their time was recorded."""
    return float(rec.get("search_cpu_seconds") or float("nan")) - float(sum(rec.get("hessian_seconds") or ()))


def final_share(rec: Record) -> float:
    """Final kept share of both splits (pruned runs), the kept training share otherwise."""
    if "final_train" not in rec:
        return float(rec["kept_train"]) / float(rec["train_pool"])
    return (rec["final_train"] + rec["final_val"]) / float(rec["train_pool"] + rec["val_size"])


def extra_label(label: str) -> str:
    """The parts of a label that also apply to full data: ``split=``, ``augment=``, ``beta=``."""
    return " ".join(p for p in label.split(" ") if p.startswith(("split=", "augment=", "beta=")))


def baseline(groups: dict[Group, list[Record]], key: Group) -> list[Record]:
    """The full-data runs a BDP group is compared with: same algorithm, protocol and split/augmentation."""
    extra = extra_label(key[3])
    found = groups.get((key[0], "full", 1.0, extra, key[4]), [])
    if not found and key[4] == 2 and key[0] == "darts-v1" and not extra:
        found = groups.get((key[0], "full", 1.0, "", 1), [])  # the v1 full-data runs
    return found


def with_hessian(rec: Record) -> bool:
    """Does the record's CPU time include Hessian measurements?"""
    measured = bool((rec.get("options") or {}).get("hessian"))
    return measured and not rec.get("hessian_seconds") and "cost_without_hessian" not in rec


def cpu_baseline(groups: dict[Group, list[Record]], key: Group, full: list[Record]) -> list[Record]:
    """Full-data runs whose CPU time is comparable: with the Hessian recorded iff the BDP runs had it."""
    measured = with_hessian(groups[key][0])
    same = [r for r in full if with_hessian(r) == measured]
    if same:
        return same
    if not measured and key[0] == "darts-v1" and key[4] == 2 and " split=" not in f" {key[3]}":
        v1 = groups.get((key[0], "full", 1.0, "", 1), [])
        if "augment=" not in key[3]:
            return v1
    return []


def arch_steps(rec: Record) -> list[int]:
    """Architecture steps made by the end of each epoch (cumulative).

    The search makes one architecture step per training batch (the validation
    loader is cycled), so epoch ``e`` makes ``ceil(train_sizes[e] / batch_size)``.
    """
    batch = int((rec.get("config") or {}).get("batch_size", 64))
    total, out = 0, []
    for n in rec.get("train_sizes") or []:
        total += math.ceil(int(n) / batch)
        out.append(total)
    return out


def seed_cells(recs: list[Record]) -> dict[int, str]:
    """``{seed: found genotype}`` of a group."""
    return {int(r["seed"]): r["genotype"] for r in recs}
