"""The "DARTS space" section of the results page, from ``darts_space_cpu.jsonl`` and ``darts_space_step.md``.

Reads the records of ``benchmarks/darts_space_cpu.py`` (CPU-scale DARTS-V1 and
PC-DARTS searches of BDP's Table 5 space, full data and with the pruner, each
found cell trained from scratch) and the figure file of
``benchmarks/darts_space_step.py`` (the supernet's step against DARTS's
``MixedOp``) in the results folder; returns nothing when neither exists. Its
verdicts (claim ``"T5 DARTS"``, one per algorithm) join the page's Holm family.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from .statistics import describe, one_sided_p
from .verdicts import FAILS, HOLDS, Verdict

RESULTS_FILE = "darts_space_cpu.jsonl"
CLAIM = "T5 DARTS"
STEP_FILE = "darts_space_step.md"
#: BDP's test accuracy is *comparable* when the mean paired difference (BDP − full) is at least
#: minus this, in percentage points.
MARGIN_PP = 1.0
#: Table 5 (CIFAR-10 accuracy, %): without and with BDP.
PAPER = {"darts-v1": (97.00, 97.46), "pc-darts": (97.43, 97.30), "p-darts": (97.50, 97.21)}
NAMES = {"darts-v1": "DARTS-V1", "darts-v2": "DARTS-V2", "pc-darts": "PC-DARTS", "p-darts": "P-DARTS",
         "beta-darts": "β-DARTS", "gdas": "GDAS"}  # fmt: skip


def load(path: Path) -> list[dict[str, Any]]:
    """The records of ``path`` (empty when it does not exist)."""
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _mean(values: list[float], fmt: str = "{:.1f}") -> str:
    if not values:
        return "—"
    sd = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{fmt.format(statistics.fmean(values))} ± {fmt.replace('+', '').format(sd)}"


def pairs(records: list[dict[str, Any]], algo: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(full, bdp) records of ``algo`` with the same seed, by seed."""
    by = {(r["method"], r["seed"]): r for r in records if r["algo"] == algo}
    seeds = sorted({s for m, s in by if m == "full"} & {s for m, s in by if m == "bdp"})
    return [(by["full", s], by["bdp", s]) for s in seeds]


def verdict(records: list[dict[str, Any]], algo: str) -> Verdict | None:
    """The rule's outcome and test for ``algo`` (see the section); None without a seed-paired run.

    Rule on the means: (a) BDP processed fewer samples in every pair, (b) the mean paired
    test-accuracy difference ``d = BDP − full`` (points) is at least ``−MARGIN_PP``, (c) BDP's
    normal cells hold on average no more ``skip_connect``. Test: non-inferiority of (b), a
    one-sided paired t-test of H0 ``mean(d) ≤ −MARGIN_PP``.
    """
    ps = pairs(records, algo)
    if not ps:
        return None
    d = np.array([100 * (b["test_acc"] - f["test_acc"]) for f, b in ps], dtype=np.float64)
    cheaper = sum(b["samples"] < f["samples"] for f, b in ps)
    skips = (
        statistics.fmean(b["skip_connect_normal"] for _f, b in ps),
        statistics.fmean(f["skip_connect_normal"] for f, _b in ps),
    )
    failed = []
    if cheaper < len(ps):
        failed.append(f"BDP processed fewer samples in only {cheaper} of {len(ps)} pairs")
    if d.mean() < -MARGIN_PP - 1e-9:  # the margin itself passes, whatever the rounding of 100 · (a − b)
        failed.append(f"mean accuracy difference {d.mean():+.2f} points, below −{MARGIN_PP:g}")
    if skips[0] > skips[1]:
        failed.append(f"BDP's normal cells hold more skip connections ({skips[0]:.2f} vs {skips[1]:.2f})")
    samples = statistics.fmean(b["samples"] / f["samples"] for f, b in ps)
    return Verdict(
        claim=CLAIM,
        subject=f"{NAMES[algo]}, BDP against full data",
        outcome=HOLDS if not failed else f"{FAILS} (" + "; ".join(failed) + ")",
        seeds=len(ps),
        detail=(
            f"test accuracy BDP − full (points): {describe(d)}; BDP's samples {samples:.0%} of full data's "
            f"(fewer in {cheaper} of {len(ps)} pairs); normal-cell skips {skips[0]:.2f} (BDP) vs "
            f"{skips[1]:.2f} (full)"
        ),
        p=one_sided_p(d, "greater", MARGIN_PP),
        test=f"non-inferiority by {MARGIN_PP:g} point, one-sided paired t-test",
        no_test="fewer than two seed pairs",
    )


def _scale_text(first: dict[str, Any], seeds: list[int]) -> str:
    s = first["settings"]
    return (
        f"CIFAR-10 downsampled to 16×16, a stratified {s['n_per_split']:,} + {s['n_per_split']:,} split "
        f"of the training images (one split for every run), a search network of C = {s['C']} and "
        f"{s['layers']} cells, {s['epochs']} epochs, batch {s['batch_size']}, DARTS's optimisers for "
        f"both algorithms, seeds {', '.join(map(str, seeds))}. BDP prunes both splits every "
        f"T = {s['interval']} epochs while an epoch remains, to about 4 % of their size (the paper's "
        "strength). Each found cell is trained from scratch as a NetworkCIFAR of "
        f"C = {s['eval_C']}, {s['eval_layers']} cells, {s['eval_epochs']} epochs on the "
        f"{2 * s['n_per_split']:,} search images (DARTS's recipe without the auxiliary head, cutout 8) "
        "and tested on the 10,000 CIFAR-10 test images."
    )


def _fraction(settings: dict[str, Any]) -> int:
    """How many times more images × pixels × epochs the paper's search processes (50,000 · 32² · 50)."""
    ours = 2 * settings["n_per_split"] * 16**2 * settings["epochs"]
    return round(50_000 * 32**2 * 50 / ours)


def _step_lines(path: Path) -> list[str]:
    """The speed figure file, its headings demoted under this section."""
    if not path.exists():
        return []
    out = ["### The supernet's step against DARTS's MixedOp (issue 25, item 6)"]
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            continue
        out.append("##" + line if line.startswith("## ") else line)
    return [*out, ""]


def darts_space_section(path: Path, step_path: Path | None = None) -> list[str | Verdict]:
    """The section's lines and verdicts, to render after Holm (empty when neither file exists)."""
    records = load(path)
    step = _step_lines(step_path if step_path is not None else path.parent / STEP_FILE)
    if not records and not step:
        return []
    lines = ["## The DARTS space (BDP's Table 5), at CPU scale", ""]
    if records:
        lines += _runs_lines(path, records)
    return lines + step


def _runs_lines(path: Path, records: list[dict[str, Any]]) -> list[str | Verdict]:
    seeds = sorted({r["seed"] for r in records})
    algos = [a for a in NAMES if any(r["algo"] == a for r in records)]
    paper = "; ".join(f"{NAMES[a]} {PAPER[a][0]:.2f} → {PAPER[a][1]:.2f} %" for a in algos if a in PAPER)
    lines: list[str | Verdict] = [
        f"**CPU-scale runs, not the paper's setting.** `{path.name}` ({len(records)} runs, made by "
        "`python benchmarks/darts_space_cpu.py`): " + _scale_text(records[0], seeds),
        "",
        "The paper searches C = 16, 8 cells at 32 px on 25,000 + 25,000 images for 50 epochs and trains "
        "the cells at C = 36, 20 cells for 600 epochs. At this scale a search sees about "
        f"1/{_fraction(records[0]['settings'])} of the paper's images × pixels × epochs on a narrower "
        f"network, and a cell is trained for {records[0]['settings']['eval_epochs']} epochs, so the "
        "accuracies below rank "
        "cells by how fast they learn, not by what they reach; DARTS's drift to skip connections, which "
        "grows over long searches, has little time to appear. What this scale can show: that every "
        "algorithm runs with the pruner on this space, what BDP saves in samples and CPU time, and "
        "whether BDP's cells are grossly worse. What it cannot show: Table 5's accuracies or "
        "differences of a few tenths of a point.",
        "",
        "Rule (stated before the numbers), per algorithm over the seeds run with both methods: BDP's "
        "Table 5 claim (CIFAR-10: " + paper + ") *holds at this scale* when (a) BDP processed "
        "fewer samples than full data in every pair, (b) the mean paired difference of test accuracy "
        f"(BDP − full, same seed) is at least −{MARGIN_PP:g} point, and (c) BDP's normal cells hold on "
        "average no more `skip_connect` than full data's (Fig. 4: BDP suppresses parameter-free "
        f"operations). Test: non-inferiority of (b), a one-sided paired t-test of H0 mean(BDP − full) "
        f"≤ −{MARGIN_PP:g} point, in the page's Holm family (claim T5 DARTS). As everywhere on this page, a "
        "verdict on fewer than 8 seed pairs is undecided.",
        "",
    ]
    lines += [v for v in (verdict(records, a) for a in algos) if v is not None]
    lines += [
        "",
        "| algorithm | method | runs | skips (normal) | samples | CPU s (search) | params (M) "
        "| test acc (%) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for a in algos:
        for method in ("full", "bdp"):
            rs = [r for r in records if r["algo"] == a and r["method"] == method]
            if rs:
                lines.append(
                    f"| {NAMES[a]} | {'w/ BDP' if method == 'bdp' else 'full data'} | {len(rs)} "
                    f"| {_mean([r['skip_connect_normal'] for r in rs])} "
                    f"| {_mean([r['samples'] for r in rs], '{:,.0f}')} "
                    f"| {_mean([r['search_cpu_seconds'] for r in rs], '{:,.0f}')} "
                    f"| {_mean([r['eval']['params'] / 1e6 for r in rs], '{:.3f}')} "
                    f"| {_mean([100 * r['test_acc'] for r in rs], '{:.2f}')} |"
                )
        ps = pairs(records, a)
        if ps:
            ratio_s = statistics.fmean(b["samples"] / f["samples"] for f, b in ps)
            ratio_t = statistics.fmean(b["search_cpu_seconds"] / f["search_cpu_seconds"] for f, b in ps)
            lines.append(
                f"| {NAMES[a]} | BDP / full, paired | {len(ps)} | | {ratio_s:.0%} | {ratio_t:.0%} | | "
                f"{_mean([100 * (b['test_acc'] - f['test_acc']) for f, b in ps], '{:+.2f}')} |"
            )
    lines += [
        "",
        "Mean ± population standard deviation over seeds (as the verdicts). Samples count training and "
        "validation samples processed "
        "over the search; CPU seconds are the search's own (`time.process_time`, one thread, on a 2-core "
        "machine shared with one other run); parameters are the trained network's (auxiliary head not "
        "counted).",
        "",
        "| algorithm | method | seed | skips | samples | CPU s | test acc (%) | normal cell "
        "| reduction cell |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    order = sorted(records, key=lambda r: (algos.index(r["algo"]), r["method"] != "full", r["seed"]))
    for r in order:
        normal, reduce = _cells(r["genotype"])
        lines.append(
            f"| {NAMES[r['algo']]} | {'w/ BDP' if r['method'] == 'bdp' else 'full data'} | {r['seed']} "
            f"| {r['skip_connect_normal']} | {r['samples']:,} | {r['search_cpu_seconds']:,.0f} "
            f"| {100 * r['test_acc']:.2f} | {normal} | {reduce} |"
        )
    return [*lines, ""]


def _cells(genotype: str) -> tuple[str, str]:
    """Compact ``op@input`` lists of the normal and reduction cells of a DARTS genotype text."""
    import re

    def cell(name: str) -> str:
        m = re.search(name + r"=\[(.*?)\]", genotype)
        if m is None:
            return "?"
        genes = re.findall(r"\('([a-z_0-9]+)', (\d+)\)", m.group(1))
        return " ".join(f"{op}@{i}" for op, i in genes)

    return cell("normal"), cell("reduce")
