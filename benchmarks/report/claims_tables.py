"""BDP's Tables 1-3 as the paper designed them (issue 27), and the one-shot-vs-progressive ablation.

- **Table 1** (Tu et al., Sec. 1, Tab. 1): DARTS on full data, the search data
  split train : val 1:9, 3:7, 5:5, 7:3, 9:1 at a fixed total; the paper finds the
  all-skip collapse at 1:9-5:5 and better cells at 7:3 and 9:1.
- **Table 2** (Tab. 2): 50 % of each split pruned once by EL2N, the highest or the
  lowest scores of the training × of the validation split, against plain DARTS;
  the paper finds Low | High far above DARTS (82.30 vs 54.30).
- **Table 3** (Sec. 3.2.3, Tab. 3): the four criteria at five pruning-ratio
  combinations, each criterion's average and best; the paper finds Low | High
  (prune the lowest VoE of the training split, the highest of the validation
  split) best.
- **Ablation** (suite ``once``, not a paper table): pruning once by EL2N at
  epoch T against BDP's progressive VoE pruning, at the same final size.

Each section states its rule, directional where the paper's claim is, before its
numbers; a cell the results file does not hold reads "not run", a verdict on
fewer than 8 seeds "insufficient seeds: k of 8". Every row also carries the
bistable statistic (:mod:`.bistable`): the share of seeds that found the
all-skip cell and the mean of the others.
"""

from __future__ import annotations

from suites import CRITERIA, PAPER_RATIOS, TABLE1_RATIOS, TABLE2_SHARE, TABLE3_COMBOS

from .bistable import collapsed, fewer_collapses_p, summary_cells
from .records import COLUMNS, Group, Record, acc, final_share, groups_of
from .statistics import (
    MIN_SEEDS,
    bonferroni_min_p,
    describe,
    fmt,
    intersection_union_p,
    mean,
    one_sided_p,
    paired_differences,
    seeds_of,
)
from .verdicts import FAILS, HOLDS, Verdict

#: The command that runs the three tables at the verdicts' seeds.
TABLES_COMMAND = (
    "python benchmarks/reproduce.py --grid table1 table2 table3 --seeds 0 1 2 3 4 5 6 7 --hessian 0 "
    "--shard auto"
)
ONCE = "score=el2n pruning=once"

Section = list[str | Verdict]


def not_run_note() -> str:
    """How to make a table's runs."""
    return f"`{TABLES_COMMAND}` makes these runs; the page judges them once they are in the results file."


def _row(name: str, recs: list[Record]) -> str:
    if not recs:
        return f"| {name} | 0 | not run | – | – | " + " | ".join("–" for _ in COLUMNS) + " |"
    return (
        f"| {name} | {len(recs)} | {fmt([100 * final_share(r) for r in recs], 1)} | {summary_cells(recs)} | "
        + " | ".join(fmt([acc(r, c) for r in recs]) for c, _ in COLUMNS)
        + " |"
    )


def _header(first: str) -> list[str]:
    return [
        f"| {first} | seeds | final kept % | all-skip (Wilson 95 %) | CIFAR-10 without all-skip (n) | "
        + " | ".join(name for _, name in COLUMNS)
        + " |",
        "|---|---|---|---|---|" + "---|" * len(COLUMNS),
    ]


def _plain(groups: dict[Group, list[Record]]) -> list[Record]:
    """Plain full-data DARTS-V1 runs of protocol v2 (Table 1's 5:5, Table 2's baseline)."""
    return groups.get(("darts-v1", "full", 1.0, "", 2), [])


# ------------------------------------------------------------------------------------------- Table 1


def table1_cells(records: list[Record]) -> dict[str, list[Record]]:
    """Table 1's cells by ratio ``a:b``: DARTS-V1 full-data runs on a ``sizes=t+v`` split (5:5: plain)."""
    groups = groups_of(records)
    cells: dict[str, list[Record]] = {f"{a}:{b}": [] for a, b in TABLE1_RATIOS}
    cells["5:5"] = _plain(groups)
    for (algo, method, ratio, label, version), recs in groups.items():
        if (algo, method, ratio, version) != ("darts-v1", "full", 1.0, 2) or not label.startswith("sizes="):
            continue
        t, v = (int(x) for x in label.split("=", 1)[1].split("+"))
        for a, b in TABLE1_RATIOS:
            if t * b == v * a:  # the split's ratio is a:b exactly
                cells[f"{a}:{b}"] = recs
    return cells


def table1_verdicts(cells: dict[str, list[Record]]) -> list[Verdict | str]:
    """C1 (the train : val scale matters): 7:3 or 9:1 above 5:5, on the mean and in collapses."""
    base = cells.get("5:5", [])
    uneven = {k: cells.get(k, []) for k in ("7:3", "9:1") if cells.get(k)}
    if not base or not uneven:
        return ["- Table 1: not judged (it needs the 5:5 runs and those of 7:3 or 9:1)."]
    gaps = {k: mean(v, acc) - mean(base, acc) for k, v in uneven.items()}
    diffs = {k: paired_differences(v, base) for k, v in uneven.items()}
    best = max(gaps, key=lambda k: gaps[k])
    seeds = min(seeds_of(v, base) for v in uneven.values())
    shares = {k: sum(1 for r in v if _skip(r)) for k, v in uneven.items()}
    return [
        Verdict(
            claim="T1",
            subject="DARTS-V1, 7:3 or 9:1 against DARTS's 5:5 split",
            outcome=HOLDS if gaps[best] > 0 else FAILS,
            seeds=seeds,
            detail="; ".join(f"{k} − 5:5 = {gaps[k]:+.2f} ({describe(diffs[k])})" for k in uneven)
            + f"; the better is {best}",
            p=bonferroni_min_p([one_sided_p(d, "greater") for d in diffs.values()]),
            no_test="fewer than two paired seeds",
        ),
        Verdict(
            claim="T1 collapse",
            subject="DARTS-V1, 7:3 or 9:1 collapses less often than 5:5",
            outcome=HOLDS if min(shares[k] / len(uneven[k]) for k in uneven) < _share(base) else FAILS,
            seeds=seeds,
            detail=", ".join(f"{k}: {shares[k]} of {len(uneven[k])}" for k in uneven)
            + f" all-skip against 5:5's {sum(_skip(r) for r in base)} of {len(base)}",
            p=bonferroni_min_p([fewer_collapses_p(v, base) for v in uneven.values()]),
            no_test="no runs",
        ),
    ]


def _skip(rec: Record) -> bool:
    return collapsed(rec)


def _share(recs: list[Record]) -> float:
    return sum(_skip(r) for r in recs) / len(recs) if recs else float("nan")


def table1_section(records: list[Record]) -> tuple[Section, list[Verdict]]:
    """Table 1: the rule, the table (every ratio, 'not run' where absent), the verdicts."""
    cells = table1_cells(records)
    verdicts = table1_verdicts(cells)
    sizes = sorted({(r["train_pool"], r["val_size"]) for recs in cells.values() for r in recs})
    section: Section = [
        "The paper's design: DARTS (here DARTS-V1) on full data, the search data split train : val "
        "in the ratios " + ", ".join(f"{a}:{b}" for a, b in TABLE1_RATIOS) + " at the same total "
        "(5:5 is DARTS's split and the protocol's; the others are stratified samples of the same "
        "NAS-Bench-201 halves, label `sizes=<train>+<val>`"
        + (f"; here {', '.join(f'{t} + {v}' for t, v in sizes)} images" if sizes else "")
        + "). The paper finds the all-skip cell at 1:9, 3:7 and 5:5 and better cells at 7:3 and 9:1 "
        "(C1: 'uneven dataset splits can hopefully yield superior performances'). Rules: the better "
        "of 7:3 and 9:1 has a higher mean CIFAR-10 accuracy than 5:5 (test: one-sided seed-paired "
        "t-tests of each against 5:5, Bonferroni's 2 · smallest p); and one of them collapses to the "
        "all-skip cell in a smaller share of seeds than 5:5 (Fisher's exact test, one-sided, "
        f"Bonferroni over the two). A verdict needs {MIN_SEEDS} seeds.",
        "",
        *_header("train : val"),
        *(_row(name, recs) for name, recs in cells.items()),
        "",
        *verdicts,
    ]
    if not any(cells.values()):
        section += ["", not_run_note()]
    return section, [v for v in verdicts if isinstance(v, Verdict)]


# ------------------------------------------------------------------------------------------- Table 2


def table2_cells(records: list[Record]) -> dict[str, list[Record]]:
    """Table 2's cells: ``DARTS`` (plain) and the four criteria of one-shot 50 % EL2N pruning.

    A one-shot EL2N run without the class limit whose schedule removes
    :data:`~suites.TABLE2_SHARE` of each split (within one sample per step) is
    a Table 2 cell, whatever its scale's per-step ratio.
    """
    groups = groups_of(records)
    cells: dict[str, list[Record]] = {"DARTS": _plain(groups), **{c: [] for c in CRITERIA}}
    for (algo, method, _, label, version), recs in groups.items():
        if (algo, method, version) != ("darts-v1", "bdp", 2) or not label.endswith(f"limit=none {ONCE}"):
            continue
        opts = recs[0]["options"]["bdp"]
        steps = len(range(opts["interval"], recs[0]["config"]["epochs"], opts["interval"]))
        if abs(steps * opts["train_ratio"] - TABLE2_SHARE) < 0.01:
            cells[f"{opts['train_criterion']}/{opts['val_criterion']}"] = recs
    return cells


def table2_verdicts(cells: dict[str, list[Record]]) -> list[Verdict | str]:
    """C2: Low | High above plain DARTS, on the mean and in collapses."""
    base, best = cells.get("DARTS", []), cells.get("low/high", [])
    if not base or not best:
        return ["- Table 2: not judged (it needs plain DARTS and the low/high one-shot runs)."]
    d = paired_differences(best, base)
    seeds = seeds_of(best, base)
    ranked = sorted((c for c in CRITERIA if cells.get(c)), key=lambda c: mean(cells[c], acc), reverse=True)
    return [
        Verdict(
            claim="T2",
            subject="DARTS-V1 after pruning 50 % once by EL2N, low/high, against plain DARTS",
            outcome=HOLDS if mean(best, acc) > mean(base, acc) else FAILS,
            seeds=seeds,
            detail=f"CIFAR-10 {mean(best, acc):.2f} vs {mean(base, acc):.2f}"
            + (f" ({describe(d)})" if d.size else "")
            + f"; the criteria by mean: {', '.join(f'{c} {mean(cells[c], acc):.2f}' for c in ranked)}",
            p=one_sided_p(d, "greater"),
            no_test="fewer than two paired seeds",
        ),
        Verdict(
            claim="T2 collapse",
            subject="one-shot EL2N low/high collapses less often than plain DARTS",
            outcome=HOLDS if _share(best) < _share(base) else FAILS,
            seeds=seeds,
            detail=f"all-skip in {sum(_skip(r) for r in best)} of {len(best)} against "
            f"{sum(_skip(r) for r in base)} of {len(base)}",
            p=fewer_collapses_p(best, base),
            no_test="no runs",
        ),
    ]


def table2_section(records: list[Record]) -> tuple[Section, list[Verdict]]:
    """Table 2: the rule, the table ('not run' where absent), the verdicts."""
    cells = table2_cells(records)
    verdicts = table2_verdicts(cells)
    section: Section = [
        "The paper's design: 50 % of each split pruned once, by EL2N, removing the samples with the "
        "lowest or the highest scores of the training split × of the validation split (named as in "
        "Table 3 by the side pruned: `low/high` prunes the lowest-EL2N training and the highest-EL2N "
        "validation samples), then DARTS on what is left, against plain DARTS. Here the pruner scores "
        "every sample by its mean EL2N over the first T = 2 epochs of the search and prunes once after "
        'epoch 2 (`BiLevelPruner(score="el2n", pruning="once")`; the paper scores before the search, '
        "by EL2N's usual averaged training runs), with no class limit. The paper finds Low | High far "
        "above DARTS (82.30 vs 54.30, the all-skip cell; C2). Rules: low/high's mean CIFAR-10 accuracy "
        "above plain DARTS's (one-sided seed-paired t-test); low/high collapses to the all-skip cell "
        f"in a smaller share of seeds (Fisher's exact test, one-sided). A verdict needs {MIN_SEEDS} seeds.",
        "",
        *_header("T / V pruned"),
        *(_row(name, recs) for name, recs in cells.items()),
        "",
        *verdicts,
    ]
    if not any(cells.values()):
        section += ["", not_run_note()]
    return section, [v for v in verdicts if isinstance(v, Verdict)]


# ------------------------------------------------------------------------------------------- Table 3


def _table3_label(train: str, val: str, crit: str) -> str:
    return f"T2 p{PAPER_RATIOS[train]:g}/{PAPER_RATIOS[val]:g} {crit} limit=none"


def table3_cells(records: list[Record]) -> dict[tuple[str, str], dict[str, list[Record]]]:
    """``{(train, val): {criterion: runs}}`` for the combinations of :data:`~suites.TABLE3_COMBOS`."""
    groups = groups_of(records)
    return {
        (t, v): {c: groups.get(("darts-v1", "bdp", 1.0, _table3_label(t, v, c), 2), []) for c in CRITERIA}
        for t, v in TABLE3_COMBOS
    }


def _pairs(cells: dict[tuple[str, str], dict[str, list[Record]]], a: str, b: str) -> list[float]:
    """``acc(a) − acc(b)`` for every (combination, seed) both criteria ran."""
    out: list[float] = []
    for crits in cells.values():
        out += paired_differences(crits[a], crits[b]).tolist()
    return out


def table3_verdict(cells: dict[tuple[str, str], dict[str, list[Record]]]) -> Verdict | str:
    """Low | High has the highest average over the combinations; paired by (combination, seed)."""
    import numpy as np

    ran = [c for c in CRITERIA if any(crits[c] for crits in cells.values())]
    # the combinations every criterion that ran has runs of: the averages compare like with like
    common = {combo: crits for combo, crits in cells.items() if all(crits[c] for c in ran)}
    if "low/high" not in ran or len(ran) < 2 or not common:
        return (
            "- Table 3: not judged (it needs low/high and another criterion at a combination where every "
            "criterion run has runs)."
        )
    means = {c: float(np.mean([mean(crits[c], acc) for crits in common.values()])) for c in ran}
    others = [c for c in means if c != "low/high"]
    diffs = {c: np.array(_pairs(common, "low/high", c)) for c in others}
    seeds = min(seeds_of(crits["low/high"], crits[c]) for crits in common.values() for c in others)
    ranked = sorted(means, key=lambda c: means[c], reverse=True)
    return Verdict(
        claim="T3",
        subject="DARTS-V1 with BDP's VoE pruning, low/high the best criterion on the average",
        outcome=HOLDS if ranked[0] == "low/high" else FAILS,
        seeds=seeds,
        detail=f"averages over the {len(common)} combination(s) every criterion ran: "
        f"{', '.join(f'{c} {means[c]:.2f}' for c in ranked)}; low/high − "
        + "; ".join(
            f"{c}: {describe(diffs[c]).replace('seeds', '(combination, seed) pairs')}" for c in others
        ),
        p=intersection_union_p([one_sided_p(diffs[c], "greater") for c in others]),
        no_test="fewer than two paired runs",
    )


def table3_section(records: list[Record]) -> tuple[Section, list[Verdict]]:
    """Table 3: every (combination, criterion) cell, then each criterion's average and best, the verdict."""
    cells = table3_cells(records)
    verdict = table3_verdict(cells)
    combos = ", ".join(
        f"{100 * (1 - 9 * PAPER_RATIOS[t]):.0f} % / {100 * (1 - 9 * PAPER_RATIOS[v]):.0f} %"
        for t, v in TABLE3_COMBOS
    )
    section: Section = [
        "The paper's design: BDP's progressive VoE pruning with the four criteria (which end of the "
        "VoE order each split loses first) at five pruning-ratio combinations, reported per criterion "
        "as the average and the best over the combinations. The paper does not list its five "
        f"combinations; ours end the training / validation split at {combos} (T = 2, 9 steps; the "
        "pairs of its Table 4's 4 % and 14 % end points and their midpoint). The class limit is off: "
        "the paper chooses the criterion (Sec. 3.2.3) before it introduces the limit (Sec. 3.2.4). "
        "Average = mean over the combinations of each combination's mean over seeds; best = the best "
        "combination's mean (in the table over the combinations each criterion ran; in the verdict over "
        "those every criterion ran). The paper finds Low | High best (81.41 average on CIFAR-10). Rule: "
        "low/high has the highest average; test: one-sided t-tests of low/high against each other "
        "criterion on the differences paired by combination and seed, the largest p (it must beat "
        f"all three). A verdict needs {MIN_SEEDS} seeds.",
        "",
        "| criterion (T / V pruned) | "
        + " | ".join(f"p{PAPER_RATIOS[t]:g}/{PAPER_RATIOS[v]:g}" for t, v in TABLE3_COMBOS)
        + " | average | best |",
        "|---|" + "---|" * (len(TABLE3_COMBOS) + 2),
    ]
    for c in CRITERIA:
        row = [
            f"{fmt([acc(r) for r in cells[combo][c]])} ({len(cells[combo][c])})"
            if cells[combo][c]
            else "not run"
            for combo in cells
        ]
        combo_means = [mean(cells[combo][c], acc) for combo in cells if cells[combo][c]]
        avg = f"{sum(combo_means) / len(combo_means):.2f}" if combo_means else "–"
        best = f"{max(combo_means):.2f}" if combo_means else "–"
        section.append(f"| {c} | " + " | ".join(row) + f" | {avg} | {best} |")
    section += [
        "",
        "All-skip share and the mean without the all-skip seeds, per criterion over the five combinations:",
        "",
        "| criterion | runs | all-skip (Wilson 95 %) | CIFAR-10 without all-skip (n) |",
        "|---|---|---|---|",
    ]
    for c in CRITERIA:
        recs = [r for combo in cells for r in cells[combo][c]]
        section.append(f"| {c} | {len(recs)} | {summary_cells(recs)} |")
    section += ["", verdict]
    if not any(r for crits in cells.values() for r in crits.values()):
        section += ["", not_run_note()]
    return section, [verdict] if isinstance(verdict, Verdict) else []


# ------------------------------------------------------------------------------- one-shot ablation


def _once_pairs(groups: dict[Group, list[Record]]) -> list[tuple[str, str, list[Record], list[Record]]]:
    """(strength, BDP label, progressive VoE runs, one-shot EL2N runs) of each paper-strength schedule."""
    out = []
    for name, p in PAPER_RATIOS.items():
        label = f"T2 p{p:g}/{p:g} low/high limit=ours"
        progressive = groups.get(("darts-v1", "bdp", 1.0, label, 2), [])
        once = groups.get(("darts-v1", "bdp", 1.0, f"{label} {ONCE}", 2), [])
        if name == "9pct" and not (progressive or once):
            continue
        out.append((name.replace("pct", " %"), label, progressive, once))
    return out


def once_verdict(strength: str, label: str, progressive: list[Record], once: list[Record]) -> Verdict | str:
    """Progressive VoE above one-shot EL2N on the mean; one-sided paired test."""
    if not progressive or not once:
        missing = " and ".join(
            n for n, r in (("progressive VoE", progressive), ("one-shot EL2N", once)) if not r
        )
        return f"- Ablation at {strength} (`{label}`): not run ({missing} missing)."
    d = paired_differences(progressive, once)
    sizes = {
        tuple(sorted({(r.get("final_train"), r.get("final_val")) for r in recs}))
        for recs in (progressive, once)
    }
    same = "the same final sizes" if len(sizes) == 1 else "DIFFERENT final sizes (the comparison is void)"
    return Verdict(
        claim="once",
        subject=f"progressive VoE vs one-shot EL2N to {strength} [{label}]",
        outcome=(HOLDS if mean(progressive, acc) > mean(once, acc) else FAILS) if len(sizes) == 1 else FAILS,
        seeds=seeds_of(progressive, once),
        detail=f"CIFAR-10 {mean(progressive, acc):.2f} vs {mean(once, acc):.2f}"
        + (f" ({describe(d)})" if d.size else "")
        + f"; {same}",
        p=one_sided_p(d, "greater"),
        no_test="fewer than two paired seeds",
    )


def once_section(records: list[Record]) -> tuple[Section, list[Verdict]]:
    """The ablation: the rule, the table per strength ('not run' where absent), the verdicts."""
    pairs = _once_pairs(groups_of(records))
    section: Section = [
        "Not a paper table (suite `once`): BDP argues (Sec. 3.2.1, L2) that pruning once before the search "
        "discards samples the search still needs. Pruning once, by EL2N, after the first window, against "
        "BDP's progressive pruning by VoE, ending at the same size: the one-shot runs (`score=el2n "
        "pruning=once`) rank by the mean EL2N of the first T = 2 epochs and remove, after epoch 2, "
        "everything the progressive schedule removes over its 9 steps; training split lowest first, "
        "validation split highest first, our class limit on both. Rule: progressive VoE's mean CIFAR-10 "
        "accuracy above one-shot EL2N's, at equal final sizes (else the comparison is void and fails). "
        f"Test: one-sided seed-paired t-test of progressive > one-shot; a verdict needs {MIN_SEEDS} seeds.",
        "",
        *_header("schedule"),
    ]
    verdicts: list[Verdict] = []
    lines: list[str | Verdict] = []
    for strength, label, progressive, once in pairs:
        section += [
            _row(f"progressive VoE to {strength}", progressive),
            _row(f"one-shot EL2N to {strength}", once),
        ]
        v = once_verdict(strength, label, progressive, once)
        lines.append(v)
        if isinstance(v, Verdict):
            verdicts.append(v)
    section += ["", *lines]
    if not any(once for *_, once in pairs):
        section += [
            "",
            "`python benchmarks/reproduce.py --grid once --seeds 0 1 2 3 4 5 6 7 --shard auto` makes "
            "these runs.",
        ]
    return section, verdicts
