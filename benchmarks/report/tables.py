"""The page's tables: static proxies, BDP's Table 4 layout, the class limit, balance per step, coverage."""

from __future__ import annotations

from typing import Any

import numpy as np
from suites import SUITES, default_settings, run_key, scale_of, suite_runs

from proxydata.experiment import data_used

from .limits import first_binding_epoch, limit_activity, limit_families, step_of
from .records import (
    COLUMNS,
    METHOD_ORDER,
    Record,
    acc,
    algo_rank,
    arch_steps,
    cpu,
    final_share,
    groups_of,
    is_static,
    row_name,
    samples_used,
)
from .statistics import fmt


def method_table(records: list[Record], algo: str) -> list[str]:
    """Static proxies of one algorithm (layout of *Less is More*, Tables 1-4)."""
    groups = groups_of(records)
    lines = [
        "| method | r | protocol | seeds | "
        + " | ".join(name for _, name in COLUMNS)
        + " | search s | train kept | samples processed |",
        "|---|---|---|---|" + "---|" * len(COLUMNS) + "---|---|---|",
    ]
    keys = [k for k in groups if k[0] == algo and is_static(k)]
    for key in sorted(keys, key=lambda k: (k[4], k[1] != "full", k[2], METHOD_ORDER.index(k[1]))):
        recs = groups[key]
        accs = [fmt([acc(r, c) for r in recs]) for c, _ in COLUMNS]
        lines.append(
            f"| {key[1]} | {key[2]:g} | v{key[4]} | {len(recs)} | "
            + " | ".join(accs)
            + f" | {fmt([r['search_seconds'] for r in recs], 0)}"
            + f" | {fmt([r['kept_train'] for r in recs], 0)}"
            + f" | {fmt([samples_used(r) for r in recs], 0)} |"
        )
    return lines


def table4(records: list[Record]) -> list[str]:
    """Full data vs BDP for every algorithm and setting, in the layout of BDP's Table 4."""
    groups = groups_of(records)
    keys = [k for k in groups if k[1] in ("full", "bdp") and k[2] == 1.0]
    keys.sort(
        key=lambda k: (algo_rank(k[0]), k[4], "split=" in k[3], "augment=" in k[3], k[1] != "full", k[3])
    )
    lines = [
        "| method | seeds | cost: search CPU s | cost: wall s | data % (samples processed) | final kept % | "
        + " | ".join(name for _, name in COLUMNS)
        + " |",
        "|---|---|---|---|---|---|" + "---|" * len(COLUMNS),
    ]
    for key in keys:
        recs = groups[key]
        cpu_s = [cpu(r) for r in recs if r.get("search_cpu_seconds")]
        lines.append(
            f"| {row_name(key)} | {len(recs)} | {fmt(cpu_s, 0)} "
            f"| {fmt([r['search_seconds'] for r in recs], 0)} "
            f"| {fmt([100 * data_used(r) for r in recs], 1)} "
            f"| {fmt([100 * final_share(r) for r in recs], 1)} | "
            + " | ".join(fmt([acc(r, c) for r in recs]) for c, _ in COLUMNS)
            + " |"
        )
    return lines


def limit_row(setting: str, limit: str, recs: list[Record], none: list[Record]) -> str:
    """One row of claim 6's table: what the limit did in ``recs`` and how many cells equal ``none``'s."""
    by_seed = {r["seed"]: r for r in none}
    protected, shortfall, (b_t, b_v) = limit_activity(recs)
    firsts = [e for e in (first_binding_epoch(r) for r in recs) if e is not None]
    paired = [r for r in recs if r["seed"] in by_seed]
    same = sum(r["genotype"] == by_seed[r["seed"]]["genotype"] for r in paired)
    return (
        f"| {setting} | {limit} | {len(recs)} | {fmt(protected, 0)} | {fmt(shortfall, 0)} | "
        + (step_of(recs[0], min(firsts)) if firsts else "never")
        + f" | {fmt(b_t, 3)} | {fmt(b_v, 3)} | {same} of {len(paired)} | "
        + " | ".join(fmt([acc(r, c) for r in recs]) for c, _ in COLUMNS)
        + " |"
    )


def balance_per_step(records: list[Record]) -> list[str]:
    """Item 5's balance per epoch as numbers: both splits' balance degree after every pruning step.

    One table per setting run with several limits; a cell is ``train / val``, the
    mean over the setting's runs of :math:`B` after that step (the figure shows
    the same series with the epochs between steps). Below the tables, the splits
    that our limit left *less* balanced than no limit: a per-class cap keeps a
    large class from losing more than its share, so it also blocks pruning that
    would have evened the classes out.
    """
    out, lower = [], []
    for setting, by_limit in limit_families(groups_of(records)).items():
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


SUITE_ITEMS = {
    "table1": "BDP's Table 1: full-data DARTS-V1 at train : val 1:9, 3:7, 5:5, 7:3, 9:1 of a fixed total",
    "table2": "BDP's Table 2: 50 % pruned once by EL2N, high/low × high/low, and plain DARTS",
    "table3": "BDP's Table 3: 4 criteria × 5 pruning-ratio combinations, no class limit",
    "enas": "*Less is More*'s Table 3: ENAS on full data and the six proxies at r = 0.25, 0.5",
    "pcdarts": "PC-DARTS on full data and with BDP to 4 % (low/high, our limit)",
    "paper": "issue 12, item 2: DARTS-V1 + BDP to 4 % ± class limit, full data, with the Hessian",
    "paper14": "issue 12, item 2: DARTS-V1 + BDP to 14 % ± class limit",
    "beta": "issue 12, item 3: β-DARTS full vs + BDP ± class limit, with the Hessian",
    "criteria": "issue 12, item 4: criteria low/low, high/low, high/high at 4 % with our limit",
    "balance": "issue 12, item 5: long-tailed split (IF 10), full and BDP with our / no / linear limit",
    "aug": "issue 12, item 2 with augmentation: BDP ± class limit, full",
    "v2proxy": "issue 12, item 6: DARTS-V2 static-proxy grid r ∈ {0.25, 0.5} and full data",
    "once": "ablation (not a paper table): one-shot EL2N vs progressive VoE at 4 % and 14 %",
}


def coverage(records: list[Record]) -> list[str]:
    """Planned runs of each suite of ``reproduce.py`` (its default protocol) against the runs in the file."""
    done = {r.get("key") for r in records}
    args = default_settings(seeds=list(range(8)))
    scale = scale_of(args)
    lines = [
        f"| suite | what | planned runs (seeds {', '.join(map(str, args.seeds))}) | in this file | "
        "more seeds in this file |",
        "|---|---|---|---|---|",
    ]

    def keys(suite: str, seeds: Any) -> list[str]:
        out = []
        for seed in seeds:
            for run in suite_runs(suite, seed, args):
                run.update(protocol=2, scale=scale)
                out.append(run_key(run))
        return out

    for suite in SUITES:
        planned = keys(suite, args.seeds)
        extra = [k for k in keys(suite, range(max(args.seeds) + 1, 100)) if k in done]
        extra_seeds = sorted({int(k.split("|")[5]) for k in extra})
        more = f"{len(extra)} (seeds {', '.join(map(str, extra_seeds))})" if extra else "–"
        n_done = sum(k in done for k in planned)
        lines.append(f"| `{suite}` | {SUITE_ITEMS.get(suite, '')} | {len(planned)} | {n_done} | {more} |")
    return lines


def hessian_table(records: list[Record]) -> list[str]:
    """Dominant Hessian eigenvalue of every group that recorded it, at a few epochs and its maximum."""
    groups = groups_of(records)
    out = [
        "| run | seeds | eigenvalue, epoch 1 | epoch 10 | last epoch | max over epochs "
        "| architecture steps by the last epoch |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in sorted(groups, key=lambda k: (algo_rank(k[0]), k[1] != "full", k[3])):
        recs = [r for r in groups[key] if r.get("hessian_eigenvalues")]
        if not recs:
            continue
        ev = [r["hessian_eigenvalues"] for r in recs]
        at = [lambda e: e[0], lambda e: e[min(9, len(e) - 1)], lambda e: e[-1], max]
        steps = [arch_steps(r)[-1] for r in recs if arch_steps(r)]
        out.append(
            f"| {row_name(key)} | {len(recs)} | "
            + " | ".join(fmt([f(e) for e in ev], 3) for f in at)
            + f" | {fmt(steps, 0)} |"
        )
    return out if len(out) > 2 else []
