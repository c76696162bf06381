"""BDP's Tables 1 and 2 (issue 18, item 3): the train : val ratio, and one-shot EL2N vs progressive VoE.

Our reading of the tables (the paper's text was not available to us): Table 1
searches with DARTS on full data while the search data is split train : val in
several ratios (DARTS splits 1:1); Table 2 prunes once by EL2N at the start of
the search against BDP's progressive VoE pruning, at the same final size. Each
section states its rule before its numbers; a cell the results file does not
hold reads "not run", a verdict on fewer than 8 seeds "insufficient seeds: k of 8".
"""

from __future__ import annotations

from suites import PAPER_RATIOS, TABLE1_RATIOS, default_settings, table1_sizes

from .records import COLUMNS, Group, Record, acc, final_share, groups_of
from .statistics import (
    MIN_SEEDS,
    bonferroni_min_p,
    describe,
    fmt,
    mean,
    one_sided_p,
    paired_differences,
    seeds_of,
)
from .verdicts import FAILS, HOLDS, Verdict

#: Table 1's rule: the ratio matters when some ratio's mean is this many points from 1:1's.
T1_MARGIN = 1.0
#: The command that runs the three tables at the verdicts' seeds.
TABLES_COMMAND = (
    "python benchmarks/reproduce.py --grid table1 table2 table3 --seeds 0 1 2 3 4 5 6 7 --shard auto"
)
ONCE = "score=el2n pruning=once"

Section = list[str | Verdict]


def not_run_note() -> str:
    """Why the tables have no numbers yet, and how to make them."""
    return (
        "These runs were not made in the session that added the suites (a CPU budget of one shared "
        f"2-core machine); `{TABLES_COMMAND}` makes them, and this page judges them from the results "
        "file once they are there."
    )


def _row(name: str, recs: list[Record]) -> str:
    if not recs:
        return f"| {name} | 0 | not run | " + " | ".join("–" for _ in COLUMNS) + " |"
    return (
        f"| {name} | {len(recs)} | {fmt([100 * final_share(r) for r in recs], 1)} | "
        + " | ".join(fmt([acc(r, c) for r in recs]) for c, _ in COLUMNS)
        + " |"
    )


def _header(first: str) -> list[str]:
    return [
        f"| {first} | seeds | final kept % | " + " | ".join(name for _, name in COLUMNS) + " |",
        "|---|---|---|" + "---|" * len(COLUMNS),
    ]


def table1_cells(records: list[Record]) -> dict[str, list[Record]]:
    """Table 1's cells by ratio ``a:b``: DARTS-V1 full-data runs of protocol v2 on that split."""
    groups = groups_of(records)
    cells = {}
    for (a, b), sizes in zip(TABLE1_RATIOS, table1_sizes(default_settings())):
        label = "" if sizes is None else f"sizes={sizes[0]}+{sizes[1]}"
        cells[f"{a}:{b}"] = groups.get(("darts-v1", "full", 1.0, label, 2), [])
    return cells


def table1_verdict(cells: dict[str, list[Record]]) -> Verdict | str:
    """The ratio matters: some ratio's mean ≥ T1_MARGIN points from 1:1's; two-sided paired tests."""
    base, others = cells.get("1:1", []), {k: v for k, v in cells.items() if k != "1:1" and v}
    if not base or not others:
        return "- Table 1: not run (it needs the 1:1 runs and at least one other ratio)."
    gaps = {k: mean(v, acc) - mean(base, acc) for k, v in others.items()}
    diffs = {k: paired_differences(v, base) for k, v in others.items()}
    two_sided = []
    for d in diffs.values():
        up, down = one_sided_p(d, "greater"), one_sided_p(d, "less")
        two_sided.append(None if up is None or down is None else min(1.0, 2 * min(up, down)))
    largest = max(gaps, key=lambda k: abs(gaps[k]))
    return Verdict(
        claim="T1",
        subject="darts-v1 full data by train : val ratio",
        outcome=HOLDS if abs(gaps[largest]) >= T1_MARGIN else FAILS,
        seeds=min(seeds_of(v, base) for v in others.values()),
        detail="; ".join(f"{k} − 1:1 = {gaps[k]:+.2f} ({describe(diffs[k])})" for k in others)
        + f"; the largest gap is ratio {largest}'s",
        p=bonferroni_min_p(two_sided),
        no_test="fewer than two paired seeds",
    )


def table1_section(records: list[Record]) -> tuple[Section, list[Verdict]]:
    """Table 1: the rule, the table (every ratio, 'not run' where absent), the verdict."""
    cells = table1_cells(records)
    verdict = table1_verdict(cells)
    section: Section = [
        "Our reading of BDP's Table 1: DARTS-V1 on full data, the search data (5,000 + 5,000 images "
        "in the protocol) split train : val in the ratios "
        + ", ".join(f"{a}:{b}" for a, b in TABLE1_RATIOS)
        + " at the same total (1:1 is DARTS's split and the protocol's; the others are stratified "
        "samples of the same NAS-Bench-201 halves, label `sizes=<train>+<val>`). Rule: the ratio "
        f"matters when some ratio's mean CIFAR-10 accuracy lies at least {T1_MARGIN:g} point from "
        "1:1's (either side). Test: two-sided seed-paired t-test of each ratio against 1:1, "
        f"Bonferroni's k · (smallest p); a verdict needs {MIN_SEEDS} seeds.",
        "",
        *_header("train : val"),
        *(_row(name, recs) for name, recs in cells.items()),
        "",
        verdict,
    ]
    if not any(cells.values()):
        section += ["", not_run_note()]
    return section, [verdict] if isinstance(verdict, Verdict) else []


def _table2_pairs(groups: dict[Group, list[Record]]) -> list[tuple[str, str, list[Record], list[Record]]]:
    """(strength, BDP label, progressive VoE runs, one-shot EL2N runs) of each paper-strength schedule."""
    out = []
    for name, p in PAPER_RATIOS.items():
        label = f"T2 p{p:g}/{p:g} low/high limit=ours"
        progressive = groups.get(("darts-v1", "bdp", 1.0, label, 2), [])
        once = groups.get(("darts-v1", "bdp", 1.0, f"{label} {ONCE}", 2), [])
        out.append((name.replace("pct", " %"), label, progressive, once))
    return out


def table2_verdict(strength: str, label: str, progressive: list[Record], once: list[Record]) -> Verdict | str:
    """Progressive VoE above one-shot EL2N on the mean; one-sided paired test."""
    if not progressive or not once:
        missing = " and ".join(
            n for n, r in (("progressive VoE", progressive), ("one-shot EL2N", once)) if not r
        )
        return f"- Table 2 at {strength} (`{label}`): not run ({missing} missing)."
    d = paired_differences(progressive, once)
    sizes = {
        tuple(sorted({(r.get("final_train"), r.get("final_val")) for r in recs}))
        for recs in (progressive, once)
    }
    same = "the same final sizes" if len(sizes) == 1 else "DIFFERENT final sizes (the comparison is void)"
    return Verdict(
        claim="T2",
        subject=f"progressive VoE vs one-shot EL2N to {strength} [{label}]",
        outcome=(HOLDS if mean(progressive, acc) > mean(once, acc) else FAILS) if len(sizes) == 1 else FAILS,
        seeds=seeds_of(progressive, once),
        detail=f"CIFAR-10 {mean(progressive, acc):.2f} vs {mean(once, acc):.2f}"
        + (f" ({describe(d)})" if d.size else "")
        + f"; {same}",
        p=one_sided_p(d, "greater"),
        no_test="fewer than two paired seeds",
    )


def table2_section(records: list[Record]) -> tuple[Section, list[Verdict]]:
    """Table 2: the rule, the table per strength ('not run' where absent), the verdicts."""
    pairs = _table2_pairs(groups_of(records))
    section: Section = [
        "Our reading of BDP's Table 2: pruning once, by EL2N, at the start of the search against BDP's "
        "progressive pruning by VoE, ending at the same size. The one-shot runs (`score=el2n "
        "pruning=once`) rank by the mean EL2N of the first T = 2 epochs and remove, after epoch 2, "
        'everything the progressive schedule removes over its 9 steps (`BiLevelPruner(score="el2n", '
        'pruning="once")`, `docs/methods/bdp.md`); training split lowest first, validation split highest '
        "first, as the progressive runs. With one step the class limit allows whole classes (S = 1), so "
        "only `min_per_class` binds. Rule: progressive VoE's mean CIFAR-10 accuracy above one-shot EL2N's, "
        "at equal final sizes (else the comparison is void and fails). Test: one-sided seed-paired t-test "
        f"of progressive > one-shot; a verdict needs {MIN_SEEDS} seeds.",
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
        v = table2_verdict(strength, label, progressive, once)
        lines.append(v)
        if isinstance(v, Verdict):
            verdicts.append(v)
    section += ["", *lines]
    if not any(once for *_, once in pairs):
        section += ["", not_run_note()]
    return section, verdicts
