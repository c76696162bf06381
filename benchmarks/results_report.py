"""Write ``docs/results.md`` (tables, figures, analysis) from ``reproduction.jsonl``.

Every number in the document is computed here from the JSON lines; nothing is
typed in by hand. Regenerate with::

    python benchmarks/reproduce.py --report

Records of protocol v1 (issue 6: no ``protocol`` field, BDP schedule in the
config only) and v2 (issue 12: every setting in ``options`` and in the key)
are read alike: :func:`normalise` gives each the same fields, v1 rows are
labelled ``v1``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from proxydata.experiment import data_used

COLUMNS = (
    ("cifar10_test_200ep", "CIFAR-10"),
    ("cifar100_test_200ep", "CIFAR-100"),
    ("imagenet16_test_200ep", "ImageNet16-120"),
)
C10 = COLUMNS[0][0]
METHOD_ORDER = ("full", "rs", "cc-rs", "km-or", "cc-or", "ae", "tl", "bdp")
ALGO_ORDER = ("darts-v1", "beta-darts", "darts-v2", "gdas")
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
#: Claim 5's cost rule: BDP's cost at most this share of full data's.
COST_RULE = 0.55
#: Significance level of the paired t-tests behind the verdicts.
ALPHA = 0.05

Group = tuple[str, str, float, str, int]  # algo, method, ratio, label, protocol


def load_records(path: Path) -> list[dict[str, Any]]:
    """The runs of ``path``, one per run key (the first, should a run appear twice), normalised.

    A run made twice, with and without the Hessian measurement, is one run: the
    measurement does not change the search (the two must find the same cell), so
    the pair gives the eigenvalues of the one and the cost of the other.
    """
    records: dict[str, dict[str, Any]] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                records.setdefault(rec.get("key", str(len(records))), rec)
    return [normalise(r) for r in merge_hessian_twins(list(records.values()))]


def _identity_without_hessian(rec: dict[str, Any]) -> str:
    opts = {k: v for k, v in (rec.get("options") or {}).items() if k != "hessian"}
    ident = (rec["algo"], rec["method"], rec["ratio"], rec["seed"], int(rec.get("protocol", 1)), opts)
    return json.dumps(ident, sort_keys=True)


#: What a run costs: taken from the twin run without the Hessian measurement.
COST_FIELDS = ("search_cpu_seconds", "wall_seconds", "search_seconds", "epoch_seconds")


def merge_hessian_twins(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
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
        twin = (
            plain.get(_identity_without_hessian(rec)) if (rec.get("options") or {}).get("hessian") else None
        )
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


def normalise(rec: dict[str, Any]) -> dict[str, Any]:
    """Add ``_v`` (protocol), ``_method`` and ``_label`` (the run's settings, Hessian excluded)."""
    rec = dict(rec)
    version = int(rec.get("protocol", 1))
    method = rec["method"]
    if version >= 2:
        opts = dict(rec.get("options") or {})
        opts.pop("hessian", None)  # recorded, but it does not change the search
        label = _options_label(opts)
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


def _options_label(opts: dict[str, Any]) -> str:
    parts = []
    bdp = opts.get("bdp")
    if bdp:
        parts.append(
            f"T{bdp['interval']} p{bdp['train_ratio']:g}/{bdp['val_ratio']:g} "
            f"{bdp['train_criterion']}/{bdp['val_criterion']} limit={bdp['limit']}"
        )
    parts += [f"{k}={opts[k]}" for k in sorted(opts) if k != "bdp"]
    return " ".join(parts)


def _norm_all(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r if "_v" in r else normalise(r) for r in records]


def _acc(rec: dict[str, Any], col: str) -> float:
    return float(rec["accuracies"][col])


def _fmt(values: list[float], digits: int = 2) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def _mean(recs: list[dict[str, Any]], fn: Any) -> float:
    return float(np.mean([fn(r) for r in recs])) if recs else float("nan")


def groups_of(records: list[dict[str, Any]]) -> dict[Group, list[dict[str, Any]]]:
    """Runs grouped by (algo, method, ratio, label, protocol); seeds within a group."""
    out: dict[Group, list[dict[str, Any]]] = defaultdict(list)
    for rec in _norm_all(records):
        out[(rec["algo"], rec["_method"], float(rec["ratio"]), rec["_label"], rec["_v"])].append(rec)
    return out


def row_name(key: Group) -> str:
    algo, method, ratio, label, version = key
    name = f"{algo} {method}" + (f" r={ratio:g}" if ratio != 1.0 else "")
    return name + (f" [{label}]" if label else "") + (" (v1)" if version == 1 else "")


def _samples_used(rec: dict[str, Any]) -> int:
    return int(sum(rec.get("train_sizes", [])) + sum(rec.get("val_sizes", [])))


def _cpu(rec: dict[str, Any]) -> float:
    """The search's CPU seconds, less the Hessian measurements where their time was recorded."""
    return float(rec.get("search_cpu_seconds") or float("nan")) - float(sum(rec.get("hessian_seconds") or ()))


# ---------------------------------------------------------------- static proxies (Less is More)


def _static(key: Group) -> bool:
    return key[1] != "bdp" and key[3] == ""


def method_table(records: list[dict[str, Any]], algo: str) -> list[str]:
    """Static proxies of one algorithm (layout of *Less is More*, Tables 1-4)."""
    groups = groups_of(records)
    lines = [
        "| method | r | protocol | seeds | "
        + " | ".join(name for _, name in COLUMNS)
        + " | search s | train kept | samples processed |",
        "|---|---|---|---|" + "---|" * len(COLUMNS) + "---|---|---|",
    ]
    keys = [k for k in groups if k[0] == algo and _static(k)]
    for key in sorted(keys, key=lambda k: (k[4], k[1] != "full", k[2], METHOD_ORDER.index(k[1]))):
        recs = groups[key]
        accs = [_fmt([_acc(r, c) for r in recs]) for c, _ in COLUMNS]
        lines.append(
            f"| {key[1]} | {key[2]:g} | v{key[4]} | {len(recs)} | "
            + " | ".join(accs)
            + f" | {_fmt([r['search_seconds'] for r in recs], 0)}"
            + f" | {_fmt([r['kept_train'] for r in recs], 0)}"
            + f" | {_fmt([_samples_used(r) for r in recs], 0)} |"
        )
    return lines


def _static_sets(records: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]], dict]]:
    """Per (algo, protocol): the full-data runs and the static-proxy groups of the same protocol."""
    groups = groups_of(records)
    out = []
    for algo in sorted({k[0] for k in groups}, key=_algo_rank):
        for version in sorted({k[4] for k in groups if k[0] == algo}):
            full = groups.get((algo, "full", 1.0, "", version), [])
            cells = {
                k: v
                for k, v in groups.items()
                if k[0] == algo and k[4] == version and _static(k) and k[1] != "full"
            }
            if full and cells:
                out.append((f"{algo} (v{version})", full, cells))
    return out


def _algo_rank(algo: str) -> int:
    return ALGO_ORDER.index(algo) if algo in ALGO_ORDER else len(ALGO_ORDER)


def analysis(records: list[dict[str, Any]]) -> list[str]:
    """*Less is More*'s claims 1-4, each checked against the records by a stated rule."""
    out = [
        "**1. Search time is linear in r** (rule: mean search time at r, divided by the full-data "
        "mean, is within 0.1 of r; wall clock, and the search's own CPU clock where recorded)."
    ]
    sets = _static_sets(records)
    for name, full, cells in sets:
        for clock, label in (("search_seconds", "wall"), ("search_cpu_seconds", "CPU")):
            f_t = [r for r in full if r.get(clock)]
            if not f_t:
                continue
            t_full = _mean(f_t, lambda r, c=clock: r[c])
            parts, worst = [], 0.0
            for ratio in sorted({k[2] for k in cells}):
                recs = [r for k, v in cells.items() if k[2] == ratio for r in v if r.get(clock)]
                if not recs:
                    continue
                rel = _mean(recs, lambda r, c=clock: r[c]) / t_full
                worst = max(worst, abs(rel - ratio))
                parts.append(f"r={ratio:g}: {rel:.3f} ({len(recs)} runs)")
            if parts:
                verdict = "holds" if worst <= 0.1 else "does not hold"
                out.append(
                    f"- {name}, {label} time: relative to full data ({len(f_t)} runs, {t_full:.0f} s) "
                    f"{', '.join(parts)}; largest gap {worst:.3f} → **{verdict}**."
                )
    claim2 = [
        "",
        "**2. Proxies at r ≤ 0.5 are not worse than full data** (rule: a (method, r) cell is *not worse* "
        "when its mean CIFAR-10 accuracy is at least the full-data mean minus the full-data std).",
    ]
    claim3 = [
        "",
        "**3. Some proxies find better cells than full data** (rule: mean CIFAR-10 accuracy above the "
        "full-data mean).",
    ]
    for name, full, cells in sets:
        f_vals = [_acc(r, C10) for r in full]
        f_mean, f_std = float(np.mean(f_vals)), float(np.std(f_vals))
        means = {k: _mean(v, lambda r: _acc(r, C10)) for k, v in cells.items()}
        low = [k for k in cells if k[2] <= 0.5]
        not_worse = [k for k in low if means[k] >= f_mean - f_std]
        if low:
            verdict = (
                "holds" if len(not_worse) == len(low) else ("holds partly" if not_worse else "does not hold")
            )
            worse = sorted(f"{k[1]} r={k[2]:g}" for k in low if k not in not_worse)
            claim2.append(
                f"- {name}: full data {f_mean:.2f} ± {f_std:.2f}; {len(not_worse)} of {len(low)} "
                "proxy cells at r ≤ 0.5 are not worse"
                + (f" (worse: {', '.join(worse)})" if worse else "")
                + f" → **{verdict}**."
            )
        better = sorted(((m, k) for k, m in means.items() if m > f_mean), reverse=True)
        best = ", ".join(f"{k[1]} r={k[2]:g} ({m:.2f})" for m, k in better[:4]) or "none"
        claim3.append(
            f"- {name}: {len(better)} of {len(cells)} proxy cells beat full data on average "
            f"(best: {best}) → **{'holds' if better else 'does not hold'}**."
        )
    out += [*claim2, *claim3, "", *_collapse(records)]
    return out


def _collapse(records: list[dict[str, Any]]) -> list[str]:
    groups = groups_of(records)
    out = [
        "**4. DARTS collapses to skip connections; do proxies or BDP avoid it?** (share of the six cell "
        "edges that are `skip_connect`, and runs that found the all-skip cell.)"
    ]
    for algo in sorted({k[0] for k in groups}, key=_algo_rank):
        for label, select in (
            ("full data", lambda k: k[1] == "full"),
            ("static proxies", lambda k: k[1] not in ("full", "bdp")),
            ("BDP", lambda k: k[1] == "bdp"),
        ):
            recs = [r for k, v in groups.items() if k[0] == algo and select(k) for r in v]
            if recs:
                skip = np.mean([r["genotype"].count("skip_connect") / 6 for r in recs])
                n_all = sum(r["genotype"] == ALL_SKIP for r in recs)
                out.append(
                    f"- {algo}, {label}: skip_connect share {skip:.2f}; all-skip cell in {n_all} of "
                    f"{len(recs)} runs."
                )
    return out


# ---------------------------------------------------------------- BDP (Tu et al.)


def _limit_effect(entry: dict[str, Any], split: str, min_per_class: int) -> tuple[int, int]:
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


def _limit_steps(rec: dict[str, Any]) -> list[tuple[int, int, int]]:
    """``(epoch, protected, shortfall)`` of every pruning step, both splits summed."""
    mpc = int(((rec.get("config") or {}).get("bdp_kwargs") or {}).get("min_per_class", 1))
    out = []
    for entry in rec.get("pruner_history") or []:
        effects = [_limit_effect(entry, s, mpc) for s in ("train", "val") if isinstance(entry.get(s), dict)]
        if effects:
            out.append((int(entry["epoch"]), sum(e[0] for e in effects), sum(e[1] for e in effects)))
    return out


def _limit_activity(
    recs: list[dict[str, Any]],
) -> tuple[list[float], list[float], tuple[list[float], list[float]]]:
    """Per run: samples the limit protected, its shortfall, and the final balance degrees."""
    protected, shortfall, b_train, b_val = [], [], [], []
    for rec in recs:
        steps = _limit_steps(rec)
        protected.append(float(sum(s[1] for s in steps)))
        shortfall.append(float(sum(s[2] for s in steps)))
        history = rec.get("pruner_history") or []
        if history:
            b_train.append(float(history[-1]["train_balance"]))
            b_val.append(float(history[-1]["val_balance"]))
    return protected, shortfall, (b_train, b_val)


def _first_binding_epoch(rec: dict[str, Any]) -> int | None:
    """The first epoch whose pruning step the limit changed (protected or shortfall > 0)."""
    return next((epoch for epoch, prot, short in _limit_steps(rec) if prot or short), None)


def _final_share(rec: dict[str, Any]) -> float:
    """Final kept share of both splits (pruned runs), 1.0 otherwise."""
    if "final_train" not in rec:
        return float(rec["kept_train"]) / float(rec["train_pool"])
    return (rec["final_train"] + rec["final_val"]) / float(rec["train_pool"] + rec["val_size"])


def table4(records: list[dict[str, Any]]) -> list[str]:
    """Full data vs BDP for every algorithm and setting, in the layout of BDP's Table 4."""
    groups = groups_of(records)
    keys = [k for k in groups if k[1] in ("full", "bdp") and k[2] == 1.0]
    keys.sort(
        key=lambda k: (_algo_rank(k[0]), k[4], "split=" in k[3], "augment=" in k[3], k[1] != "full", k[3])
    )
    lines = [
        "| method | seeds | cost: search CPU s | cost: wall s | data % (samples processed) | final kept % | "
        + " | ".join(name for _, name in COLUMNS)
        + " |",
        "|---|---|---|---|---|---|" + "---|" * len(COLUMNS),
    ]
    for key in keys:
        recs = groups[key]
        cpu = [_cpu(r) for r in recs if r.get("search_cpu_seconds")]
        lines.append(
            f"| {row_name(key)} | {len(recs)} | {_fmt(cpu, 0)} "
            f"| {_fmt([r['search_seconds'] for r in recs], 0)} "
            f"| {_fmt([100 * data_used(r) for r in recs], 1)} "
            f"| {_fmt([100 * _final_share(r) for r in recs], 1)} | "
            + " | ".join(_fmt([_acc(r, c) for r in recs]) for c, _ in COLUMNS)
            + " |"
        )
    return lines


def _baseline(groups: dict[Group, list[dict[str, Any]]], key: Group) -> list[dict[str, Any]]:
    """The full-data runs a BDP group is compared with: same algorithm, protocol and split/augmentation."""
    extra = " ".join(p for p in key[3].split(" ") if p.startswith(("split=", "augment=", "beta=")))
    found = groups.get((key[0], "full", 1.0, extra, key[4]), [])
    if not found and key[4] == 2 and key[0] == "darts-v1" and not extra:
        found = groups.get((key[0], "full", 1.0, "", 1), [])  # the v1 full-data runs
    return found


def _hessian(rec: dict[str, Any]) -> bool:
    """Does the record's CPU time include Hessian measurements?"""
    measured = bool((rec.get("options") or {}).get("hessian"))
    return measured and not rec.get("hessian_seconds") and "cost_without_hessian" not in rec


def _cpu_baseline(
    groups: dict[Group, list[dict[str, Any]]], key: Group, full: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Full-data runs whose CPU time is comparable: with the Hessian recorded iff the BDP runs had it."""
    with_h = _hessian(groups[key][0])
    same = [r for r in full if _hessian(r) == with_h]
    if same:
        return same
    if not with_h and key[0] == "darts-v1" and key[4] == 2 and " split=" not in f" {key[3]}":
        v1 = groups.get((key[0], "full", 1.0, "", 1), [])
        if "augment=" not in key[3]:
            return v1
    return []


def paired_test(
    a: list[dict[str, Any]], b: list[dict[str, Any]], value: Any = None, digits: int = 2
) -> tuple[str, float | None]:
    """``a − b`` of ``value(run)`` (CIFAR-10 accuracy by default) over the seeds both have,
    as text, and the two-sided p-value of a paired t-test.

    Runs of one seed share the supernet's initialisation and the data order, so
    pairing by seed removes that part of the seed-to-seed spread. The p-value is
    ``None`` with fewer than two pairs, 1.0 when every pair is equal, and 0.0
    when every pair differs by the same nonzero amount (no spread to test against).
    """
    from scipy import stats

    value = value or (lambda r: _acc(r, C10))
    by_seed = {r["seed"]: value(r) for r in b}
    pairs = [(value(r), by_seed[r["seed"]]) for r in a if r["seed"] in by_seed]
    if len(pairs) < 2:
        return "", None
    d = np.array([x - y for x, y in pairs])
    if np.all(d == d[0]):
        p_value = 1.0 if d[0] == 0 else 0.0
        p_text = "identical in every seed" if d[0] == 0 else "the same difference in every seed"
    else:
        p_value = float(stats.ttest_rel([x for x, _ in pairs], [y for _, y in pairs]).pvalue)
        p_text = "paired t-test " + ("p < 0.01" if p_value < 0.01 else f"p = {p_value:.2f}")
        p_text += "" if p_value < ALPHA else ", not significant at 5 %"
    spread = f"{d.mean():+.{digits}f} ± {d.std():.{digits}f}"
    return f"seed-paired difference {spread} over {len(pairs)} seeds, {p_text}", p_value


#: Appended to a verdict whose seed-paired difference is not significant.
WEAK_NOTE = " (on the means only: the paired difference is not significant at 5 %)"


def _verdict(verdict: str, p_value: float | None) -> str:
    """``→ **verdict**``, saying so when the seed-paired difference it rests on is not significant."""
    weak = p_value is not None and p_value >= ALPHA
    return f" → **{verdict}**" + (WEAK_NOTE if weak else "")


def _tally(lines: list[str]) -> str:
    """How many verdict lines hold, and how many of those rest on a significant difference."""
    holds = [line for line in lines if "→ **holds" in line]
    strong = [line for line in holds if WEAK_NOTE not in line]
    failing = len(lines) - len(holds)
    return (
        f"{len(holds)} of {len(lines)} hold ({len(strong)} of them with a seed-paired difference "
        f"significant at 5 %), {failing} {'does' if failing == 1 else 'do'} not"
    )


def _collapse_note(bdp: list[dict[str, Any]], full: list[dict[str, Any]]) -> str:
    """Where full data collapsed to the all-skip cell, BDP's gain is partly that collapse avoided."""
    n_full = sum(r["genotype"] == ALL_SKIP for r in full)
    if not n_full:
        return ""
    n_bdp = sum(r["genotype"] == ALL_SKIP for r in bdp)
    return (
        f"; full data found the all-skip cell in {n_full} of {len(full)} seeds, BDP in {n_bdp} of {len(bdp)}"
    )


def claim5_rows(records: list[dict[str, Any]]) -> list[str]:
    """Claim 5's verdict line for every BDP setting with a full-data baseline."""
    groups = groups_of(records)
    rows = []
    for key in sorted((k for k in groups if k[1] == "bdp"), key=lambda k: (_algo_rank(k[0]), k[4], k[3])):
        full = _baseline(groups, key)
        if not full:
            continue
        bdp = groups[key]
        a_b, a_f = _mean(bdp, lambda r: _acc(r, C10)), _mean(full, lambda r: _acc(r, C10))
        samples = _mean(bdp, _samples_used) / _mean(full, _samples_used)
        cpu_b = [r for r in bdp if r.get("search_cpu_seconds")]
        cpu_f = [r for r in _cpu_baseline(groups, key, full) if r.get("search_cpu_seconds")]
        cpu = _mean(cpu_b, _cpu) / _mean(cpu_f, _cpu) if cpu_b and cpu_f else float("nan")
        acc_ok = a_b >= a_f
        on_samples = acc_ok and samples <= COST_RULE
        on_cpu = acc_ok and not np.isnan(cpu) and cpu <= COST_RULE
        if on_samples and on_cpu:
            verdict = "holds on both clocks"
        elif on_samples:
            verdict = "holds on samples processed" + ("" if np.isnan(cpu) else ", not on CPU seconds")
        elif acc_ok:
            verdict = "does not hold (cost above the rule)"
        else:
            verdict = "does not hold (accuracy below full data)"
        paired, p_value = paired_test(bdp, full)
        if verdict.endswith("(cost above the rule)"):
            p_value = None  # the cost decides; the accuracy difference does not
        rows.append(
            f"- {row_name(key)} (n={len(bdp)}) vs {row_name(_group_key(full[0]))} (n={len(full)}): "
            f"CIFAR-10 {a_b:.2f} vs {a_f:.2f}"
            + (f" ({paired})" if paired else "")
            + f"; samples processed {samples:.3f} of full; CPU seconds "
            + (
                "not comparable yet (no full-data run with the same Hessian setting)"
                if np.isnan(cpu)
                else f"{cpu:.3f} of full"
            )
            + _verdict(verdict, p_value)
            + _collapse_note(bdp, full)
            + "."
        )
    return rows


def claim5(records: list[dict[str, Any]]) -> list[str]:
    out = [
        f"**5. BDP finds cells at least as good as full-data search at ≤ ~{COST_RULE:.0%} of its cost** "
        "(Tu et al., Table 4: DARTS 3.2 → 1.6 GPU-h on CIFAR-10). Rule: mean CIFAR-10 accuracy of the "
        "BDP runs ≥ that of the full-data runs of the same algorithm and split, and cost "
        f"≤ {COST_RULE:.0%} of full data's, measured both as samples processed and as the search's "
        "CPU seconds (where recorded; against full-data runs that recorded the Hessian exactly when "
        "the BDP runs did: it costs CPU time but does not change the search; records with "
        "`hessian_seconds` have that time taken out, and a run repeated without the measurement "
        "(same settings and seed, the same cell) gives its cost from the repeat). A verdict that "
        "rests on an accuracy difference whose seed-paired t-test gives p ≥ 0.05 says so.",
    ]
    out += claim5_rows(records)
    out += [
        "",
        "CPU seconds exceed the share of samples processed because part of a search's cost does not "
        "shrink with the data: the pruner's bookkeeping of every forward pass, and, where recorded, the "
        "per-epoch Hessian eigenvalue on a fixed batch (the same cost for full data and BDP, which pulls "
        "the ratio towards 1).",
    ]
    return out


def rerun_check(records: list[dict[str, Any]]) -> list[str]:
    """Do protocol-v2 full-data runs find the same cells as the v1 runs of the same seed?"""
    groups = groups_of(records)
    out = []
    for algo in ALGO_ORDER:
        v1 = {r["seed"]: r for r in groups.get((algo, "full", 1.0, "", 1), [])}
        v2 = {r["seed"]: r for r in groups.get((algo, "full", 1.0, "", 2), [])}
        common = sorted(set(v1) & set(v2))
        if common:
            same = sum(v1[s]["genotype"] == v2[s]["genotype"] for s in common)
            first = [s for s in common if v1[s]["train_loss"][0] != v2[s]["train_loss"][0]]
            gap = max(abs(v1[s]["train_loss"][0] - v2[s]["train_loss"][0]) for s in common)
            seeds = ", ".join(map(str, common))
            out.append(
                f"- Re-run check, {algo} full data: the v2 runs (newer code, Hessian recorded) found the "
                f"same cell as the v1 runs for {same} of {len(common)} seeds ({seeds}). "
                f"Their first epoch's training loss already differs in {len(first)} of {len(common)} seeds "
                f"(by at most {gap:.1e}). "
                "The code is not the cause: the v1 commit and the v2 code, run one after the other on "
                "one machine (`reproduce.py --grid full --algos darts-v1 --seeds 1 2 --epochs 2` in a "
                "checkout of each), give bit-identical losses and cells, equal to the v2 records' to the "
                "last bit. The v1 runs were made a day earlier, in a session whose machine or libraries "
                "rounded differently "
                "(those records do not say which); DARTS-V1's search amplifies a last-bit difference into "
                "a different cell. Records now carry their `environment` (versions, CPU kernels)."
            )
    return out


def _group_key(rec: dict[str, Any]) -> Group:
    return (rec["algo"], rec["_method"], float(rec["ratio"]), rec["_label"], rec["_v"])


def _limit_variant(label: str, limit: str) -> str:
    return " ".join(f"limit={limit}" if p.startswith("limit=") else p for p in label.split(" "))


def claim6(records: list[dict[str, Any]]) -> list[str]:
    """The class-balance limit: every BDP setting run with and without it (and alternatives)."""
    groups = groups_of(records)
    out = [
        "**6. The automatic class-balance limit helps** (Tu et al., Sec. 3.3). Rule: mean CIFAR-10 "
        "accuracy with the limit above that without it; the claim is only tested where the limit changed "
        "a pruning step. 'Same cell' counts the seeds whose found cell equals the no-limit run's; "
        "'first binding' is the earliest epoch (and pruning step) at which the limit changed what a step "
        "pruned, in any seed.",
        "",
        "The limit changes a step in two ways, both summed over the steps and both splits per run: "
        "'protected' counts samples VoE order alone would have pruned but the class limit kept, others "
        "being pruned in their place (the step still prunes as many as asked; samples that "
        "`min_per_class` alone keeps are not counted); 'shortfall' counts how many fewer than asked a "
        "step pruned because every remaining candidate's class was at its limit (the kept set ends "
        "larger). A limit with zero in both never touched the run. Runs recorded before the pruner's "
        "history had `protected_by` are attributed from the class counts (see `_limit_effect`).",
        "",
        "| setting | limit | seeds | protected / run | shortfall / run | first binding epoch | "
        "final balance train | final balance val | same cell as no limit | CIFAR-10 | CIFAR-100 | "
        "ImageNet16-120 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for key in sorted(
        (k for k in groups if k[1] == "bdp" and "limit=none" in k[3]), key=lambda k: (k[4], k[0], k[3])
    ):
        variants = {
            limit: groups[(*key[:3], _limit_variant(key[3], limit), key[4])]
            for limit in ("ours", "none", "linear")
            if (*key[:3], _limit_variant(key[3], limit), key[4]) in groups
        }
        setting = row_name(key).replace(" limit=none", "")
        out += [_limit_row(setting, limit, recs, variants["none"]) for limit, recs in variants.items()]
        if "ours" in variants:
            verdicts.append(_limit_verdict(setting, variants))
    return [*out, "", *verdicts, "", *_first_step_note(groups), "", *balance_per_step(records)]


def _first_step_note(groups: dict[Group, list[dict[str, Any]]]) -> list[str]:
    """Where each limited schedule starts to bind, and how tight its first step's limit is (item 5b)."""
    lines = []
    for key in sorted(groups, key=lambda k: (k[4], k[0], k[3])):
        recs = groups[key]
        if key[1] != "bdp" or "limit=none" in key[3]:
            continue
        steps = [_step_number(r, e) for r in recs if (e := _first_binding_epoch(r)) is not None]
        tight = [t for t in (_first_step_tightness(r) for r in recs) if t is not None]
        if not steps and not tight:
            continue
        where = (
            "first binding at step " + ", ".join(str(s) for s in sorted(steps)) if steps else "never binding"
        )
        first = sum(s == 1 for s in steps)
        lines.append(
            f"- {row_name(key)}: {where} ({first} of {len(recs)} seeds from step 1)"
            + (
                f"; before step 1, B = {np.mean([t[0] for t in tight]):.2f} and the limit lets a step "
                f"prune up to {100 * np.mean([t[1] for t in tight]):.0f} % of a class."
                if tight
                else "."
            )
        )
    if not lines:
        return []
    return [
        "Where the limit starts to bind (issue 12, item 5b). B and the share are the training split's "
        "(mean over seeds); the share is N_k / n_k of the first step, S^-(1-B) for the library's limit:",
        "",
        *lines,
    ]


def _step_number(rec: dict[str, Any], epoch: int) -> int:
    interval = int((rec.get("config") or {}).get("bdp_kwargs", {}).get("interval", 1)) or 1
    return epoch // interval


def _first_step_tightness(rec: dict[str, Any]) -> tuple[float, float] | None:
    """Training split's balance degree before the first pruning step and its limit's share N / n."""
    for entry in rec.get("pruner_history") or []:
        step = entry.get("train")
        if isinstance(step, dict):
            if step.get("limits") is None or step.get("balance_before") is None:
                return None
            counts = np.asarray(step["counts_before"], dtype=np.float64)
            return float(step["balance_before"]), float(np.sum(step["limits"]) / counts.sum())
    return None


def _limit_row(setting: str, limit: str, recs: list[dict[str, Any]], none: list[dict[str, Any]]) -> str:
    by_seed = {r["seed"]: r for r in none}
    protected, shortfall, (b_t, b_v) = _limit_activity(recs)
    firsts = [e for e in (_first_binding_epoch(r) for r in recs) if e is not None]
    paired = [r for r in recs if r["seed"] in by_seed]
    same = sum(r["genotype"] == by_seed[r["seed"]]["genotype"] for r in paired)
    return (
        f"| {setting} | {limit} | {len(recs)} | {_fmt(protected, 0)} | {_fmt(shortfall, 0)} | "
        + (_step_of(recs[0], min(firsts)) if firsts else "never")
        + f" | {_fmt(b_t, 3)} | {_fmt(b_v, 3)} | {same} of {len(paired)} | "
        + " | ".join(_fmt([_acc(r, c) for r in recs]) for c, _ in COLUMNS)
        + " |"
    )


def _step_of(rec: dict[str, Any], epoch: int) -> str:
    """``"epoch (step k of S)"``: steps end epochs T, 2T, ... while an epoch remains."""
    interval = int((rec.get("config") or {}).get("bdp_kwargs", {}).get("interval", 0))
    epochs = int((rec.get("config") or {}).get("epochs", 0))
    if interval <= 0 or epochs <= 0:
        return str(epoch)
    return f"{epoch} (step {epoch // interval} of {(epochs - 1) // interval})"


def _limit_verdict(setting: str, variants: dict[str, list[dict[str, Any]]]) -> str:
    """Judge claim 6 on the seeds every variant of the setting has run (paired)."""
    seeds = set.intersection(*({r["seed"] for r in recs} for recs in variants.values()))
    if not seeds:
        return f"- {setting}: no seed has run with and without the limit yet → **not tested**."
    paired = {k: {r["seed"]: r for r in v if r["seed"] in seeds} for k, v in variants.items()}
    touched = sum(
        _first_binding_epoch(r) is not None for k in paired if k != "none" for r in paired[k].values()
    )
    if touched == 0:
        return f"- {setting}: the limit never changed a pruning step → **not tested**."
    accs = {k: float(np.mean([_acc(r, C10) for r in v.values()])) for k, v in paired.items()}
    changed = sum(paired["ours"][s]["genotype"] != paired["none"][s]["genotype"] for s in seeds)
    v = "holds" if accs["ours"] > accs["none"] else "does not hold"
    alt = f"; linear limit {accs['linear']:.2f}" if "linear" in accs else ""
    diff, p_value = paired_test(list(paired["ours"].values()), list(paired["none"].values()))
    return (
        f"- {setting}, on the {len(seeds)} seed(s) run with every limit: CIFAR-10 {accs['ours']:.2f} with "
        f"our limit vs {accs['none']:.2f} without{alt}"
        + (f" ({diff})" if diff else "")
        + f"; our limit changed the found cell in {changed} of {len(seeds)}"
        + _verdict(v, p_value if changed else None)
        + (" (fewer than 3 seeds: provisional)" if len(seeds) < 3 else "")
        + "."
    )


def criterion_table(records: list[dict[str, Any]]) -> list[str]:
    """BDP Table 3: training × validation pruning criterion, DARTS-V1, at each schedule run with all four."""
    groups = groups_of(records)
    out = []
    bases = {
        (k[0], k[3].replace(k[3].split(" ")[2], "{c}"), k[4])
        for k in groups
        if k[1] == "bdp" and k[3].startswith("T") and "limit=ours" in k[3]
    }
    for algo, template, version in sorted(bases):
        cells = {}
        for crit in ("low/low", "low/high", "high/low", "high/high"):
            recs = groups.get((algo, "bdp", 1.0, template.format(c=crit), version), [])
            if recs:
                cells[crit] = recs
        if len(cells) < 2:
            continue
        out += [
            f"Setting `{algo} {template.format(c='·/·')}`: CIFAR-10 accuracy (mean ± std, seeds) by the "
            "criterion that prunes each split ('low' = lowest VoE first).",
            "",
            "| train \\ val | low | high |",
            "|---|---|---|",
        ]
        for tc in ("low", "high"):
            row = []
            for vc in ("low", "high"):
                recs = cells.get(f"{tc}/{vc}", [])
                row.append(f"{_fmt([_acc(r, C10) for r in recs])} ({len(recs)})" if recs else "–")
            out.append(f"| {tc} | " + " | ".join(row) + " |")
        ranked = sorted(cells, key=lambda c: _mean(cells[c], lambda r: _acc(r, C10)), reverse=True)
        best = ranked[0]
        verdict = "holds" if best == "low/high" else "does not hold"
        # The best against the runner-up: is the winner's margin more than seed noise?
        diff, p_value = paired_test(cells[best], cells[ranked[1]])
        out += [
            "",
            f"Tu et al.'s Table 3 finds low (train) / high (val) best. Rule: the low/high cell has the "
            f"highest mean. Here the best is {best}"
            + (f" (against the runner-up {ranked[1]}: {diff})" if diff else "")
            + _verdict(verdict, p_value)
            + ("" if len(cells) == 4 else f" (only {len(cells)} of 4 cells run so far)")
            + ".",
            "",
        ]
    return out or ["No criterion runs in this file yet.", ""]


def hessian_summary(records: list[dict[str, Any]]) -> list[str]:
    groups = groups_of(records)
    out = [
        "| run | seeds | eigenvalue, epoch 1 | epoch 10 | last epoch | max over epochs |",
        "|---|---|---|---|---|---|",
    ]
    for key in sorted(groups, key=lambda k: (_algo_rank(k[0]), k[1] != "full", k[3])):
        recs = [r for r in groups[key] if r.get("hessian_eigenvalues")]
        if not recs:
            continue
        ev = [r["hessian_eigenvalues"] for r in recs]
        at = [lambda e: e[0], lambda e: e[min(9, len(e) - 1)], lambda e: e[-1], max]
        out.append(
            f"| {row_name(key)} | {len(recs)} | " + " | ".join(_fmt([f(e) for e in ev], 3) for f in at) + " |"
        )
    if len(out) <= 2:
        return ["No run recorded the Hessian yet."]
    out += ["", "BDP's Fig. 3c: the dominant eigenvalue grows more slowly under BDP than on full data. Rule: "
            "the mean last-epoch eigenvalue of the BDP runs is below that of the full-data runs of the "
            "same algorithm (both with the Hessian recorded)."]  # fmt: skip
    for key in sorted(groups, key=lambda k: (_algo_rank(k[0]), k[3])):
        if key[1] != "bdp":
            continue
        bdp_runs = [r for r in groups[key] if r.get("hessian_eigenvalues")]
        extra = " ".join(p for p in key[3].split(" ") if p.startswith(("split=", "augment=", "beta=")))
        full_runs = [
            r for r in groups.get((key[0], "full", 1.0, extra, key[4]), []) if r.get("hessian_eigenvalues")
        ]
        if bdp_runs and full_runs:
            bdp = [r["hessian_eigenvalues"][-1] for r in bdp_runs]
            full = [r["hessian_eigenvalues"][-1] for r in full_runs]
            verdict = "holds" if np.mean(bdp) < np.mean(full) else "does not hold"
            diff, p_value = paired_test(bdp_runs, full_runs, lambda r: r["hessian_eigenvalues"][-1], 3)
            out.append(
                f"- {row_name(key)}: last-epoch eigenvalue {_fmt(bdp, 3)} (n={len(bdp)}) vs full data "
                f"{_fmt(full, 3)} (n={len(full)})"
                + (f" ({diff})" if diff else "")
                + _verdict(verdict, p_value)
                + "."
            )
    return out


# ---------------------------------------------------------------- figures


LIMIT_STYLES = {"ours": ("-", "tab:blue"), "none": ("--", "tab:orange"), "linear": (":", "tab:green")}


def _limit_families(groups: dict[Group, list[dict[str, Any]]]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """BDP settings (label without its limit) -> limit -> runs, for settings run with several limits."""
    families: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for key, recs in groups.items():
        if key[1] != "bdp":
            continue
        limit = next((p.split("=", 1)[1] for p in key[3].split(" ") if p.startswith("limit=")), None)
        if limit in LIMIT_STYLES:
            setting = row_name(key).replace(f" limit={limit}", "")
            families.setdefault(setting, {})[limit] = recs
    return {k: v for k, v in sorted(families.items()) if len(v) > 1}


def balance_per_step(records: list[dict[str, Any]]) -> list[str]:
    """Item 5's balance per epoch as numbers: both splits' balance degree after every pruning step.

    One table per setting run with several limits; a cell is ``train / val``, the
    mean over the setting's runs of :math:`B` after that step (the figure shows
    the same series with the epochs between steps). Below the tables, the splits
    that our limit left *less* balanced than no limit: a per-class cap keeps a
    large class from losing more than its share, so it also blocks pruning that
    would have evened the classes out.
    """
    out, lower = [], []
    for setting, by_limit in _limit_families(groups_of(records)).items():
        rows, final = [], {}
        for limit, recs in by_limit.items():
            hist = [
                [e for e in r["pruner_history"] if e["pruning_step"]] for r in recs if r.get("pruner_history")
            ]
            if not hist:
                continue
            n = min(len(h) for h in hist)
            b = {
                split: [float(np.mean([h[i][f"{split}_balance"] for h in hist])) for i in range(n)]
                for split in ("train", "val")
            }
            final[limit] = {split: values[-1] for split, values in b.items()}
            cells = [f"{t:.2f} / {v:.2f}" for t, v in zip(b["train"], b["val"])]
            rows.append((limit, len(hist), [e["epoch"] for e in hist[0][:n]], cells))
        if not rows:
            continue
        out += [
            f"`{setting}`: balance degree B of the training / validation split after each pruning step "
            "(mean over seeds).",
            "",
            "| limit | seeds | " + " | ".join(f"epoch {e}" for e in rows[0][2]) + " |",
            "|---|---|" + "---|" * len(rows[0][2]),
            *(f"| {limit} | {n} | " + " | ".join(cells) + " |" for limit, n, _, cells in rows),
            "",
        ]
        if "ours" in final and "none" in final:
            lower += [
                f"`{setting}` {split} ({final['ours'][split]:.2f} vs {final['none'][split]:.2f})"
                for split in ("train", "val")
                if final["ours"][split] < final["none"][split] - 0.005
            ]
    if out:
        out.append(
            "Our limit caps what each class may lose in a step, in proportion to its size; it keeps a small "
            "class from being pruned away but also keeps a large one from losing more than its share. Splits "
            "it left less balanced after the last step than no limit did: "
            + ("; ".join(lower) if lower else "none")
            + "."
        )
    return out


def _kept_and_balance_figure(
    plt: Any, families: dict[str, dict[str, list[dict[str, Any]]]], path: Path
) -> None:
    """One row per BDP setting: kept training share and both balance degrees per epoch, by limit."""
    fig, axes = plt.subplots(len(families), 3, figsize=(14, 2.3 * len(families)), squeeze=False)
    for row, (setting, by_limit) in zip(axes, families.items()):
        for limit, recs in by_limit.items():
            hist = [r["pruner_history"] for r in recs if r.get("pruner_history")]
            if not hist:
                continue
            n = min(len(h) for h in hist)
            epochs = [h["epoch"] for h in hist[0][:n]]
            pool = recs[0]["train_pool"]
            series = (
                np.mean([[e["n_train"] / pool for e in h[:n]] for h in hist], axis=0),
                np.mean([[e["train_balance"] for e in h[:n]] for h in hist], axis=0),
                np.mean([[e["val_balance"] for e in h[:n]] for h in hist], axis=0),
            )
            style, color = LIMIT_STYLES[limit]
            for ax, values in zip(row, series):
                ax.plot(epochs, values, style, color=color, label=f"limit={limit} ({len(hist)})")
        row[0].set_ylabel(setting.replace(" bdp ", "\n"), fontsize=7)
        row[2].legend(fontsize=6, loc="lower left")
    for ax, title in zip(
        axes[0], ("kept training share", "training balance degree B", "validation balance B")
    ):
        ax.set_title(title)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def figures(records: list[dict[str, Any]], fig_dir: Path) -> list[str]:
    """Kept size and balance per epoch, accuracy vs samples processed, eigenvalue trajectories."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = groups_of(records)
    fig_dir.mkdir(parents=True, exist_ok=True)
    out = []

    families = _limit_families(groups)
    if families:
        _kept_and_balance_figure(plt, families, fig_dir / "bdp_kept_and_balance.png")
        out += [
            "![kept size and class balance per epoch, by class limit](figures/bdp_kept_and_balance.png)",
            "",
        ]

    fig, ax = plt.subplots(figsize=(13, 6))
    ax.set_prop_cycle(color=[plt.cm.tab20(i % 20) for i in range(40)])
    for key, recs in sorted(groups.items(), key=lambda kv: row_name(kv[0])):
        if key[0] not in ("darts-v1", "beta-darts"):
            continue
        x = [100 * data_used(r) for r in recs]
        y = [_acc(r, C10) for r in recs]
        marker = {"full": "s", "bdp": "o"}.get(key[1], "^")
        ax.errorbar(np.mean(x), np.mean(y), yerr=np.std(y), fmt=marker, capsize=3, label=row_name(key))
    ax.set_xlabel("samples processed, % of full-data search")
    ax.set_ylabel("CIFAR-10 accuracy of the found cell (%, mean ± std)")
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5), ncol=2)
    fig.tight_layout()
    fig.savefig(fig_dir / "accuracy_vs_samples.png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    out += ["![accuracy against samples processed](figures/accuracy_vs_samples.png)", ""]

    hess = {k: [r for r in v if r.get("hessian_eigenvalues")] for k, v in groups.items()}
    hess = {k: v for k, v in hess.items() if v}
    if hess:
        fig, ax = plt.subplots(figsize=(8, 5))
        for key, recs in sorted(hess.items(), key=lambda kv: row_name(kv[0])):
            n = min(len(r["hessian_eigenvalues"]) for r in recs)
            ev = np.array([r["hessian_eigenvalues"][:n] for r in recs])
            ax.plot(range(1, n + 1), ev.mean(axis=0), label=f"{row_name(key)} ({len(recs)})")
        ax.set_xlabel("epoch")
        ax.set_ylabel("dominant eigenvalue of ∇²_α L_val")
        ax.legend(fontsize=6)
        fig.tight_layout()
        fig.savefig(fig_dir / "hessian_eigenvalue.png", dpi=110)
        plt.close(fig)
        out += ["![dominant Hessian eigenvalue per epoch](figures/hessian_eigenvalue.png)", ""]
    return out


# ---------------------------------------------------------------- the page

CAVEATS = [
    "## How far these runs carry",
    "",
    "- CPU-scale searches: 16-px images, 5,000 + 5,000 search images, one cell per stage (N = 1), "
    "C = 8, 20 epochs, against the papers' 32-px images, 25,000 + 25,000 images, N = 5, C = 16 and 50 "
    "epochs. The accuracies are those of the found cells trained at full scale by NAS-Bench-201, so "
    "what is compared is each search's choice of cell.",
    "- Three seeds per row, more where the 'seeds' column says so: DARTS-V1's outcome is nearly "
    "binary here (a cell with convolutions or a "
    "collapsed one), so read the means together with their standard deviations.",
    "- The BDP schedules are ours, chosen to end near the final sizes of BDP's Table 4 (4 % of "
    "CIFAR-10, 14 % of CIFAR-100); the paper's own interval and ratios are not published in a form "
    "we could use. The class-balance limit formula is ours (`docs/methods/bdp.md`); `limit=linear` "
    "is a second expression of ours, not the paper's.",
    "- β-DARTS uses the linear ramp of its weight scaled to the search length "
    "(`proxydata.nas.beta_decay_weight`, lambda_max 25); TL used a backbone trained from scratch; "
    "AE and TL were trained for fewer epochs than in *Less is More*.",
    "- Rows marked (v1) were run by protocol v1 (issue 6, commit in each record's `code`); their "
    "keys carry no settings, their BDP schedule is read from the record's config.",
    "- CPU seconds were measured on a 2-core machine shared with other jobs; even the search's own "
    "CPU time varies with the load (cache and memory contention), and the v1 rows were run hours "
    "before the v2 rows: read CPU ratios across protocols as rough.",
    "- A row with fewer than 3 seeds is a grid still running when this page was generated: its "
    "numbers are what exists, not an estimate.",
]


def protocol_lines(records: list[dict[str, Any]]) -> list[str]:
    first = records[0]
    cfg = first["config"]
    seeds = sorted({r["seed"] for r in records})
    labels = sorted({r["_label"] for r in records if r["_label"]})
    splits = sorted({(r["_label"].split("split=")[1].split(" ")[0], r["train_pool"], r["val_size"])
                     for r in records if "split=" in r["_label"]})  # fmt: skip
    lines = [
        f"- Search splits: {first['train_pool']} training and {first['val_size']} validation images, "
        "stratified samples of NAS-Bench-201's `cifar10valid_train` / `cifar10valid_valid` halves of "
        "CIFAR-10 (indices in `benchmarks/results/reproduction_split.npz`)"
        + "".join(
            f"; `split={s}`: a long-tailed subset of both, class c keeps round(n_max · {s[2:]}^(−c/9)) "
            f"({tp} + {vs} images)"
            for s, tp, vs in splits
        )
        + ";",
        f"- supernet C = {cfg['C']}, N = {cfg['N']}, batch {cfg['batch_size']}, {cfg['epochs']} epochs, "
        f"seeds {', '.join(map(str, seeds))}; optimisers: the NAS-Bench-201 defaults of "
        "`proxydata.nas.search`;",
        "- augmentation: none, except rows labelled `augment=P` (random crop after P pixels of zero padding "
        "and a horizontal flip on both search splits, seeded; NAS-Bench-201 pads 4 at 32 px, 2 is the "
        "same share at 16 px);",
        "- BDP labels read `T<interval> p<train ratio>/<val ratio> <train criterion>/<val criterion> "
        "limit=<ours|none|linear>`: a pruning step at the end of every T-th epoch while an epoch remains "
        "(T2: 9 steps, T4: 4, T5: 3), each removing that share of the initial split; p0.1067 ends each "
        "split near 4 %, p0.0956 near 14 %, p0.24 with T4 near 4 %, p0.2 with T5 (v1) at 40 %;",
        "- Hessian: where recorded, the dominant eigenvalue of the validation cross-entropy's Hessian "
        "with respect to the architecture parameters, after every epoch, on a fixed seeded batch of "
        "validation images, by power iteration on Hessian-vector products "
        "(`proxydata.nas.dominant_hessian_eigenvalue`, at most 10 iterations warm-started from the "
        "previous epoch's eigenvector). It does not change the search.",
        f"- settings seen in this file: {', '.join(f'`{lb}`' for lb in labels)}.",
    ]
    return lines


SUITE_ITEMS = {
    "paper": "item 2: DARTS-V1 + BDP to 4 % ± class limit, full data, with the Hessian",
    "paper14": "item 2: DARTS-V1 + BDP to 14 % ± class limit",
    "beta": "item 3: β-DARTS full vs + BDP ± class limit, with the Hessian",
    "criteria": "item 4: criterion table low/low, high/low, high/high (low/high: item 2)",
    "balance": "item 5: long-tailed split (IF 10), full and BDP with our / no / linear limit, two schedules",
    "aug": "item 2 with augmentation: BDP ± class limit, full",
    "v2proxy": "item 6: DARTS-V2 static-proxy grid r ∈ {0.25, 0.5} and full data",
}


def coverage(records: list[dict[str, Any]]) -> list[str]:
    """Planned runs of each suite of ``reproduce.py`` against the runs in the file."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import reproduce

    done = {r.get("key") for r in records}
    args = reproduce.parse_args(["--grid", *reproduce.SUITES])
    scale = reproduce.build_grid(args)[0]["scale"]
    lines = [
        f"| suite | what | planned runs (seeds {', '.join(map(str, args.seeds))}) | in this file | "
        "more seeds in this file |",
        "|---|---|---|---|---|",
    ]

    def keys(suite: str, seeds: Any) -> list[str]:
        out = []
        for seed in seeds:
            for run in reproduce.suite_runs(suite, seed, args):
                run.update(protocol=2, scale=scale)
                out.append(reproduce.run_key(run))
        return out

    for suite in reproduce.SUITES:
        planned = keys(suite, args.seeds)
        extra = [k for k in keys(suite, range(max(args.seeds) + 1, 100)) if k in done]
        extra_seeds = sorted({int(k.split("|")[5]) for k in extra})
        more = f"{len(extra)} (seeds {', '.join(map(str, extra_seeds))})" if extra else "–"
        n_done = sum(k in done for k in planned)
        lines.append(f"| `{suite}` | {SUITE_ITEMS.get(suite, '')} | {len(planned)} | {n_done} | {more} |")
    return lines


def summary(records: list[dict[str, Any]]) -> list[str]:
    """The verdicts of claims 5 and 6, Table 3 and Fig. 3c on the protocol-v2 runs, one line each."""
    c5 = [line for line in claim5_rows(records) if "(v1)" not in line]
    c6 = [
        line for line in claim6(records) if line.startswith("- ") and "(v1)" not in line and " → **" in line
    ]
    c6_tested = [line for line in c6 if "**not tested**" not in line]
    t3 = [line for line in criterion_table(records) if line.startswith("Tu et al.'s Table 3")]
    hs = [line for line in hessian_summary(records) if line.startswith("- ")]
    both = sum("→ **holds on both clocks" in line for line in c5)
    out = ["Claim 5 (BDP ≥ full data at ≤ ~55 % of the cost): of the BDP settings compared with full data, "
           f"{_tally(c5)}; {both} hold on both clocks.", "", *c5, ""]  # fmt: skip
    cell_changed = [line for line in c6_tested if "changed the found cell in 0 of" not in line]
    out += ["Claim 6 (the class-balance limit helps): the limit changed a pruning step in "
            f"{len(c6_tested)} settings and the found cell in {len(cell_changed)} of them; of those "
            f"{len(cell_changed)}, {_tally(cell_changed)}.", "", *c6, ""]  # fmt: skip
    out += ["Table 3 (pruning criteria): " + (t3[0] if t3 else "no criterion runs yet."), ""]
    out += [f"Fig. 3c (sharpness): {_tally(hs)}." if hs else "Fig. 3c (sharpness):", "",
            *(hs or ["- no run recorded the Hessian yet."])]  # fmt: skip
    return out


def write_report(jsonl: Path, md_path: Path, fig_dir: Path) -> None:
    """Write the results document and its figures."""
    records = load_records(jsonl)
    if not records:
        raise SystemExit(f"{jsonl} holds no runs")
    n_v = {v: sum(r["_v"] == v for r in records) for v in sorted({r["_v"] for r in records})}
    lines = [
        "# Reproduction results",
        "",
        "Generated by `python benchmarks/reproduce.py --report` from "
        f"`benchmarks/results/{jsonl.name}` ({len(records)} runs: "
        + ", ".join(f"{n} of protocol v{v}" for v, n in n_v.items())
        + "); every number below is computed from that file. The runs were made by "
        "`python benchmarks/reproduce.py` (see its `--help`). Accuracies are the found cell's "
        "NAS-Bench-201 200-epoch test accuracies (%, mean ± population std over seeds); 'data %' is "
        "the samples processed (training + validation, all epochs) as a share of a full-data search's "
        "(`proxydata.experiment.data_used`); 'CPU s' is the search loop's own CPU time.",
        "",
        "## Which runs exist",
        "",
        "The grid of issue 12 runs suite by suite in this order, seed by seed, in the background "
        "(`reproduce.py --grid paper paper14 beta criteria balance aug v2proxy --shard auto`); a suite "
        "with fewer runs in the file than planned was not finished when this page was generated, and "
        "the sections below judge only what exists.",
        "",
        *coverage(records),
        "",
        "## In short",
        "",
        *summary(records),
        "",
        "## Protocol",
        "",
        *protocol_lines(records),
        "",
        "## BDP against full-data search (layout of BDP's Table 4)",
        "",
        *table4(records),
        "",
        *claim5(records),
        "",
        *rerun_check(records),
        "",
        "## The class-balance limit (claim 6; issue 12, item 5)",
        "",
        *claim6(records),
        "",
        "## Pruning criteria (BDP's Table 3)",
        "",
        *criterion_table(records),
        "## Sharpness: the dominant Hessian eigenvalue (BDP's Fig. 3c)",
        "",
        *hessian_summary(records),
        "",
        "## Figures",
        "",
        *figures(records, fig_dir),
        "## Static proxies (*Less is More*)",
        "",
    ]
    for algo in sorted({r["algo"] for r in records}, key=_algo_rank):
        if any(_static(_group_key(r)) and r["_method"] != "full" for r in records if r["algo"] == algo):
            lines += [f"### {algo}", "", *method_table(records, algo), ""]
    km = next((r for r in records if r["_method"] == "km-or"), None)
    tl = next((r for r in records if r["_method"] == "tl"), None)
    if km or tl:
        lines += [
            "Proxy settings: "
            + "; ".join(
                f"{r['_method']} `{json.dumps(r['config']['proxy_kwargs'], sort_keys=True)}`"
                for r in (km, tl)
                if r
            )
            + ' (TL uses `backbone="scratch"`: ImageNet weights cannot be downloaded on these machines).',
            "",
        ]
    lines += ["### Which claims of *Less is More* hold here", "", *analysis(records), "", *CAVEATS, ""]
    md_path.write_text("\n".join(lines), encoding="utf-8")
