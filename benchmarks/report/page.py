"""The results page: rules first, "In short" after Holm over every test, then the sections.

Every number is computed from ``reproduction.jsonl``; nothing is typed in by hand.
Regenerate with ``python benchmarks/reproduce.py --report``.
"""

from __future__ import annotations

import json
from pathlib import Path

from .bistable import collapse_summary, collapse_table
from .claims_bdp import (
    COST_RULE,
    claim5,
    claim5_verdicts,
    claim6_verdicts,
    criterion_sections,
    first_step_note,
    headline,
    hessian_verdicts,
)
from .claims_static import MARGIN, TIME_GAP, static_claims
from .claims_tables import TABLES_COMMAND, once_section, table1_section, table2_section, table3_section
from .darts_space import MARGIN_PP as DARTS_SPACE_MARGIN
from .darts_space import RESULTS_FILE as DARTS_SPACE_FILE
from .darts_space import darts_space_section
from .figures import figures
from .limits import reached_table
from .mobilenet import RESULTS_FILE as MOBILENET_FILE
from .mobilenet import mobilenet_section
from .ranking import ranking_section
from .ranking_arms import ranking_arms_section
from .records import Record, algo_rank, group_key, groups_of, is_static, load_records, row_name
from .rerun import rerun_note
from .statistics import ALPHA, MIN_SEEDS, fmt_p
from .tables import balance_per_step, coverage, hessian_table, limit_row, method_table, table4
from .verdicts import Verdict, apply_holm, render, tally

Section = list[str | Verdict]


def caveats(records: list[Record]) -> list[str]:
    """How far the runs carry: their scale (from the records), seeds, schedules, clocks."""
    cfg = records[0]["config"]
    sizes = sorted({(r["train_pool"], r["val_size"]) for r in records if not r["_label"]})
    return [
        "## How far these runs carry",
        "",
        f"- CPU-scale searches: {cfg.get('resolution', 16) if 'resolution' in cfg else 16}-px images, "
        + ", ".join(f"{t:,} + {v:,}" for t, v in sizes)
        + f" search images, N = {cfg['N']}, C = {cfg['C']}, {cfg['epochs']} epochs, against the papers' "
        "32-px images, 25,000 + 25,000 images, N = 5, C = 16 and 50 epochs. The accuracies are those of "
        "the found cells trained at full scale by NAS-Bench-201, so what is compared is each search's "
        "choice of cell. The scale was cut from 5,000 + 5,000 images (130–280 s a run on this shared "
        "machine) so that every setting of the paper tables can reach 8 seeds; the all-skip collapse "
        "still occurs at it (see the collapse table).",
        f"- A verdict on fewer than {MIN_SEEDS} seeds reads 'insufficient seeds: k of {MIN_SEEDS}' and is "
        "not decided; the runs grow seed by seed for every setting (`--shard auto`, seed-major), so a "
        "setting short of 8 seeds has its remaining runs still to come.",
        "- DARTS-V1's outcome is nearly binary here (a cell with convolutions or the collapsed all-skip "
        "cell): read each mean with the share of collapsed seeds and the mean of the others.",
        "- BDP's Table 3 combinations and the 4 % / 14 % schedules are ours (the paper gives the end "
        "points, not the interval and ratios); the class-limit formula is ours "
        "(`docs/methods/bdp.md`), with the paper's S = E / T.",
        "- TL uses a backbone trained from scratch; AE and TL are trained for fewer epochs than in "
        "*Less is More*. ENAS scores 4 controller samples per validation batch with an update after "
        "each (`reinforce=s4a1`; xautodl's 50 updates an epoch), which one sample per batch in updates "
        "of 20 would not give at this scale.",
        "- CPU seconds were measured on a 2-core machine shared with other jobs: read CPU ratios as rough.",
        "",
    ]


def protocol_lines(records: list[Record]) -> list[str]:
    """The protocol as the records give it: splits, supernet, seeds, augmentation, labels, Hessian."""
    first = next((r for r in records if not r["_label"]), records[0])  # the protocol's own split
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


def rules() -> list[str]:
    """How every verdict is judged, stated before any number."""
    return [
        f"- **Seeds.** A verdict rests on the seeds its compared runs share; on fewer than {MIN_SEEDS} it "
        f"reads **insufficient seeds: k of {MIN_SEEDS}**, followed by what the rule gave on the means, "
        "and is not counted as decided.",
        "- **Tests.** Runs of one seed share the supernet's initialisation and the data order, so every "
        "comparison pairs runs by seed. Each claim is tested in the direction it asserts: a one-sided "
        "paired t-test (n − 1 degrees of freedom) of the seed-paired differences. A claim about several "
        "cells takes the largest p-value when every cell must pass, and Bonferroni's k · (smallest p) "
        "when one cell is enough.",
        f"- **Multiple comparisons.** Every test on this page is corrected together by Holm–Bonferroni "
        f"(step-down, family-wise error {ALPHA:.0%}); each verdict shows its raw and its Holm p-value, and "
        "a test *survives* when its Holm p-value is below 5 %.",
        "- **Distinct outcomes.** Settings that found the same cell in every seed (e.g. our class limit "
        "and no limit where the limit changed no found cell) are one piece of evidence: judged and "
        "tested once.",
        f"- Claim 1 (search time linear in r): relative search time within {TIME_GAP} of r at every r; "
        "a measurement, no test.",
        f"- Claim 2 (proxies at r ≤ 0.5 not worse): every cell's mean ≥ full data's − {MARGIN:g} point "
        "and above the collapsed all-skip cell's accuracy; test: non-inferiority by that margin, every cell.",
        "- Claim 3 (some proxy better): some cell's mean above full data's; test: superiority, one cell.",
        f"- Claim 5 (BDP at least as good at ≤ {COST_RULE:.0%} of the cost): mean ≥ full data's and cost "
        f"≤ {COST_RULE:.0%} on both clocks (samples processed and CPU seconds); test: BDP > full data. Its "
        "headline is the comparison whose full-data runs never collapsed.",
        "- Claim 6 (the class limit helps): mean with our limit > mean without, where the limit changed "
        "a pruning step; test: our limit > none (no test where the two found the same cells).",
        "- BDP's Table 1 (7:3 or 9:1 better than DARTS's 5:5): the better of 7:3 and 9:1 above 5:5 on "
        "the mean (one-sided paired t-tests, Bonferroni over the two); one of them collapses to the "
        "all-skip cell in fewer seeds than 5:5 (Fisher's exact test, one-sided, Bonferroni over the two).",
        "- BDP's Table 2 (one-shot 50 % EL2N pruning, low/high, beats plain DARTS): low/high above plain "
        "DARTS on the mean (one-sided paired t-test); low/high collapses in fewer seeds (Fisher, one-sided).",
        "- BDP's Table 3 (low/high the best criterion): low/high has the highest average over the five "
        "combinations; test: low/high > each other criterion, paired by (combination, seed), the largest p.",
        "- Criteria with our class limit (suite `criteria`, not a paper table): low/high has the highest "
        "mean; test: low/high > each other cell, the largest p.",
        "- Ablation (suite `once`, not a paper table): progressive VoE above one-shot EL2N at the same final "
        "size; test: progressive > one-shot.",
        "- **Collapse.** For every setting the page gives the share of seeds that found the all-skip cell "
        "with its Wilson 95 % interval and the mean of the other seeds next to the overall mean "
        "(`benchmarks/report/bistable.py`); collapse rates are compared with Fisher's exact test.",
        "- Fig. 3c (BDP keeps the dominant Hessian eigenvalue lower): BDP's last-epoch eigenvalue below "
        "full data's at the same epoch, and, separately, below full data's after as many architecture "
        "steps (BDP makes fewer per epoch as its splits shrink); test: BDP < full data.",
        f"- BDP's Table 5 at CPU scale (claim T5 DARTS): BDP's cells within {DARTS_SPACE_MARGIN:g} point "
        "of full data's test accuracy on the mean, with fewer samples in every pair and no more skip "
        f"connections; test: non-inferiority by {DARTS_SPACE_MARGIN:g} point (see its section).",
    ]


def _by_claim(verdicts: list[Verdict], *claims: str) -> list[Verdict]:
    return [v for v in verdicts if v.claim in claims]


#: The verdicts of the page in the order "In short" lists them: (claim ids, what is claimed, source).
SHORT = (
    (("T1", "T1 collapse"), "uneven splits (7:3, 9:1) beat DARTS's 5:5", "BDP's Table 1 (design)"),
    (("T2", "T2 collapse"), "50 % one-shot EL2N, low/high, beats plain DARTS", "BDP's Table 2 (design)"),
    (("T3",), "low/high the best of four criteria over five ratio combinations", "BDP's Table 3 (design)"),
    (("5",), "BDP at least as good as full data at ≤ ~55 % of the cost", "BDP's claim (our schedules)"),
    (("6",), "the class limit helps, where it changed a step", "BDP's claim (Table 7 layout, our formula)"),
    (("crit",), "low/high best with our class limit at 4 %", "issue 12, item 4; not a paper table"),
    (("once",), "progressive VoE beats one-shot EL2N at the same final size", "ablation; not a paper table"),
    (("3c epochs",), "BDP keeps the Hessian eigenvalue lower, at equal epochs", "BDP's Fig. 3c"),
    (("3c steps",), "the same at equal architecture steps", "BDP's Fig. 3c"),
    (("T5 DARTS",), "BDP's DARTS-space cells within 1 point of full data's", "BDP's Table 5 (CPU scale)"),
    (("1",), "search time linear in r", "*Less is More*"),
    (("2",), "proxies at r ≤ 0.5 not worse than full data", "*Less is More*, Tables 1–4 layout"),
    (("3",), "some proxy better than full data", "*Less is More*"),
)  # fmt: skip


def in_short(verdicts: list[Verdict], n_tests: int, c5: list[Verdict]) -> list[str]:
    """Two lists kept apart: the Holm family (the tests), and the verdicts on the means per claim."""
    survivors = [v for v in verdicts if v.survives]
    names = "; ".join(f"{v.claim}: {v.subject} (Holm p {fmt_p(v.p_holm or 1.0)})" for v in survivors)
    top = headline(c5)
    out = [
        "**The Holm family (tests).** "
        f"{n_tests} tests on this page, corrected together (Holm–Bonferroni, family-wise 5 %): "
        + (f"{len(survivors)} survive — {names}." if survivors else "none survives.")
        + " A test that survives is evidence for its claim's direction whatever the seeds; one that does "
        "not is no evidence against it.",
        "",
        "**The verdicts on the means (rules, not tests),** per claim: decided on ≥ 8 seeds or not, and "
        "how many of each claim's tests survive Holm. The source names the paper table only where the "
        "runs follow the paper's design ('design').",
        "",
        "| claim | source | verdicts |",
        "|---|---|---|",
    ]
    rows = [(what, source, tally(_by_claim(verdicts, *ids))) for ids, what, source in SHORT]
    rows = [row for row in rows if row[2] != "nothing judged"]
    out += [f"| {what} | {source} | {text} |" for what, source, text in rows] or [
        "| – | – | nothing judged yet |"
    ]
    out += [
        "",
        "**Claim 5, headline** (BDP ≥ full data at ≤ ~55 % of the cost, where full data never collapsed):",
        "",
        *(render(v) for v in top),
        "",
    ]
    if not top:
        out[-2:-1] = ["- none in this file."]
    return out


def claim6_section(records: list[Record], families: list, verdicts: list[Verdict]) -> Section:
    """Claim 6: its rule, the per-setting table of what the limit did, the verdicts, where it binds."""
    out: Section = [
        "**6. The automatic class-balance limit helps** (Tu et al., Sec. 3.3). Rule: mean CIFAR-10 "
        "accuracy with the limit above that without it; judged only where the limit changed a pruning "
        "step, and without a test where it changed no found cell. 'Same cell' counts the seeds whose found "
        "cell equals the no-limit run's; 'first binding' is the earliest epoch (and pruning step) at which "
        "the limit changed what a step pruned, in any seed.",
        "",
        "The limit changes a step in two ways, both summed over the steps and both splits per run: "
        "'protected' counts samples VoE order alone would have pruned but the class limit kept, others "
        "being pruned in their place (the step still prunes as many as asked; samples that "
        "`min_per_class` alone keeps are not counted); 'shortfall' counts how many fewer than asked a "
        "step pruned because every remaining candidate's class was at its limit (the kept set ends "
        "larger). A limit with zero in both never touched the run. Runs recorded before the pruner's "
        "history had `protected_by` are attributed from the class counts (`report.limits.limit_effect`).",
        "",
        "| setting | limit | seeds | protected / run | shortfall / run | first binding epoch | "
        "final balance train | final balance val | same cell as no limit | CIFAR-10 | CIFAR-100 | "
        "ImageNet16-120 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for setting, variants in families:
        out += [limit_row(setting, limit, recs, variants["none"]) for limit, recs in variants.items()]
    return [
        *out,
        "",
        *verdicts,
        "",
        "What each BDP setting's schedule asks to keep of each split (1 − S_p · p, S_p pruning steps) "
        "and what its runs kept (mean, range over seeds). The class limit uses the paper's S = E / T; "
        "where a run kept more than asked, the limit (or `min_per_class`) held samples back:",
        "",
        *reached_table(groups_of(records)),
        "",
        *first_step_note(records),
        "",
        *balance_per_step(records),
    ]


def hessian_section(records: list[Record], verdicts: list[Verdict]) -> Section:
    """Fig. 3c: the eigenvalue table, then the verdicts at equal epochs and at equal architecture steps."""
    table = hessian_table(records)
    if not table:
        return ["No run recorded the Hessian yet."]
    return [
        *table,
        "",
        "BDP's Fig. 3c: the dominant eigenvalue grows more slowly under BDP than on full data. Rules: "
        "BDP's mean last-epoch eigenvalue below full data's (same algorithm, both with the Hessian "
        "recorded), at equal epochs and at equal architecture steps (full data's eigenvalue interpolated "
        "linearly between its epochs at the BDP run's total steps, seed by seed).",
        "",
        "At equal epochs:",
        "",
        *_by_claim(verdicts, "3c epochs"),
        "",
        "At equal architecture steps:",
        "",
        *_by_claim(verdicts, "3c steps"),
    ]


def render_all(section: Section) -> list[str]:
    """A section's lines, verdicts rendered."""
    return [render(item) if isinstance(item, Verdict) else item for item in section]


def static_section(records: list[Record], claims: Section, notes: list[str]) -> list[str]:
    """The static-proxy tables of *Less is More*, the proxies' settings, claims 1–4 and the caveats."""
    lines = []
    for algo in sorted({r["algo"] for r in records}, key=algo_rank):
        if any(is_static(group_key(r)) and r["_method"] != "full" for r in records if r["algo"] == algo):
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
    return [*lines, "### Which claims of *Less is More* hold here", "", *render_all(claims), "", *notes, ""]


def enas_section(records: list[Record]) -> list[str]:
    """ENAS (*Less is More*'s Table 3): per setting, collapse, accuracy and the controller's entropy."""
    groups = groups_of(records)
    keys = sorted((k for k in groups if k[0] == "enas"), key=lambda k: (k[1] != "full", k[2], k[1]))
    if not keys:
        return [
            "No ENAS run in this file yet (`python benchmarks/reproduce.py --grid enas "
            "--seeds 0 1 2 3 4 5 6 7 --shard auto` makes them)."
        ]
    lines = [
        "*Less is More*'s Table 3 reports ENAS (xautodl's) on full data and on the six proxies: "
        "poor cells everywhere (skip and average-pool only), and proxies as good as full data. ENAS here "
        "initialises its controller as xautodl and scores 4 cells per validation batch, an update after "
        "each (`reinforce=s4a1`). The controller's sampling entropy (nats, summed over the 6 edges; a "
        "uniform policy has 9.66) after the first and the last epoch shows whether it learned; claims 2 "
        "and 3 below judge the proxies against full data as for the other algorithms.",
        "",
        "| setting | seeds | CIFAR-10 | all-skip (Wilson 95 %) | CIFAR-10 without all-skip (n) | "
        "entropy after epoch 1 | entropy at the end |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in keys:
        recs = groups[key]
        s = collapse_summary(recs)
        ent = [r["controller_entropy"] for r in recs if r.get("controller_entropy")]
        first = f"{sum(e[0] for e in ent) / len(ent):.2f}" if ent else "–"
        last = f"{sum(e[-1] for e in ent) / len(ent):.2f}" if ent else "–"
        lines.append(
            f"| {row_name(key)} | {s.n} | {s.mean_all:.2f} | {s.share_text()} | {s.rest_text()} "
            f"| {first} | {last} |"
        )
    return lines


def write_report(jsonl: Path, md_path: Path, fig_dir: Path) -> None:
    """Write the results document and its figures from ``jsonl`` alone."""
    records = load_records(jsonl)
    if not records:
        raise SystemExit(f"{jsonl} holds no runs")
    c5 = claim5_verdicts(records)
    families, c6 = claim6_verdicts(records)
    crit = criterion_sections(records)
    (t1, t1_verdicts), (t2, t2_verdicts) = table1_section(records), table2_section(records)
    (t3, t3_verdicts), (once, once_verdicts) = table3_section(records), once_section(records)
    hess = hessian_verdicts(records)
    static = static_claims(records)
    verdicts = [
        *t1_verdicts,
        *t2_verdicts,
        *t3_verdicts,
        *c5,
        *c6,
        *[v for v in crit if isinstance(v, Verdict)],
    ]
    verdicts += [*once_verdicts, *hess]
    verdicts += [v for v in static if isinstance(v, Verdict)]
    darts_space = darts_space_section(jsonl.parent / DARTS_SPACE_FILE)
    verdicts += [v for v in darts_space if isinstance(v, Verdict)]
    n_tests = apply_holm(verdicts)
    ranking_short, ranking_lines = ranking_arms_section(jsonl.parent, fig_dir) or ranking_section(
        jsonl.parent, fig_dir
    )
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
        "The suites of `reproduce.py` run in the background seed-major (seed 0 of every setting, then "
        f"seed 1, …) with `--shard auto`, e.g. `{TABLES_COMMAND}` for the paper tables; a suite with "
        "fewer runs in the file than planned was not finished when this page was generated, and the "
        "sections below judge only what exists (a verdict short of 8 seeds says 'k of 8').",
        "",
        *coverage(records),
        "",
        "## How the verdicts are judged",
        "",
        *rules(),
        "",
        "## In short",
        "",
        *in_short(verdicts, n_tests, c5),
        *ranking_short,
        "",
        "## Protocol",
        "",
        *protocol_lines(records),
        "",
        "## BDP against full-data search (layout of BDP's Table 4)",
        "",
        *table4(records),
        "",
        *render_all(claim5(records, c5)),
        "",
        *rerun_note(records),
        "",
        "## The class-balance limit (claim 6; issue 12, item 5)",
        "",
        *render_all(claim6_section(records, families, c6)),
        "",
        "## Split ratio of the search data (BDP's Table 1, the paper's design)",
        "",
        *render_all(t1),
        "",
        "## One-shot EL2N pruning of 50 % (BDP's Table 2, the paper's design)",
        "",
        *render_all(t2),
        "",
        "## Pruning criteria × ratio combinations (BDP's Table 3, the paper's design)",
        "",
        *render_all(t3),
        "",
        "## Pruning criteria with our class limit at 4 % (issue 12, item 4; not a paper table)",
        "",
        "Rule: the low/high cell (training split pruned lowest VoE first, validation split highest "
        "first, BDP's choice) has the highest mean CIFAR-10 accuracy of the four; test: one-sided "
        "seed-paired t-tests of low/high against each other cell, the largest p.",
        "",
        *render_all(crit),
        "## Ablation: one-shot EL2N against progressive VoE (not a paper table)",
        "",
        *render_all(once),
        "",
        "## ENAS (*Less is More*'s Table 3)",
        "",
        *enas_section(records),
        "",
        "## Collapse to the all-skip cell, every setting",
        "",
        "A search on NAS-Bench-201 either collapses to the all-skip cell (54.30 % on CIFAR-10) or finds a "
        "cell with parameters, so a mean over few seeds mostly counts collapses. Per setting: the share of "
        "seeds that collapsed with its Wilson 95 % interval, and the mean of the other seeds next to the "
        "overall mean.",
        "",
        *collapse_table(records),
        "",
        "## Sharpness: the dominant Hessian eigenvalue (BDP's Fig. 3c)",
        "",
        *render_all(hessian_section(records, hess)),
        "",
        "## Figures",
        "",
        *figures(records, fig_dir),
        "## Static proxies (*Less is More*)",
        "",
        *static_section(records, static, caveats(records)),
        "",
        *ranking_lines,
        *render_all(darts_space),
        *mobilenet_section(jsonl.parent / MOBILENET_FILE),
    ]
    md_path.write_text("\n".join(lines), encoding="utf-8")
