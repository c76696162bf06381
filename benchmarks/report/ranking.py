"""The "Ranking fidelity" section of the results page, from the ranking-study files alone.

Reads ``ranking.jsonl`` (the study of ``benchmarks/ranking_study.py``),
``ranking_pilot_*.jsonl`` (the pilot), ``ranking_architectures.json`` and
``ranking_selections.json`` (how the cells and the selections were drawn) in the
results folder; draws ``ranking_fidelity.png``. Imports only ``proxydata``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

TRUTH = "cifar10_test_200ep"
SHORT = "cifar10_test_12ep"
ALPHA = 0.05
BOOTSTRAP = 2000
METHOD_ORDER = ("rs", "cc-rs", "km-or", "cc-or", "ae", "tl")


def _f(value: Any, spec: str = "+.2f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format(value, spec)


def _ci(entry: dict[str, Any], key: str) -> str:
    lo, hi = entry.get(f"{key}_ci", [math.nan, math.nan])
    return f"{_f(entry.get(key))} [{_f(lo)}, {_f(hi)}]"


def verdict(entry: dict[str, Any], suffix: str = "") -> str:
    """The rule of the section: keeps / loses / undecided (see the section's text)."""
    tau_lo = entry.get(f"tau_cross{suffix}_ci", [math.nan, math.nan])[0]
    gap_hi = entry.get(f"gap{suffix}_ci", [math.nan, math.nan])[1]
    if math.isnan(gap_hi) or math.isnan(tau_lo):
        return "undecided"
    if gap_hi < 0:
        return "loses"
    if tau_lo > 0:
        return "keeps"
    return "undecided"


def pilot_rows(results: Path) -> list[dict[str, Any]]:
    from proxydata.fidelity import read_study, study_agreement

    out = []
    for path in sorted(results.glob("ranking_pilot_*.jsonl")):
        settings, rows = read_study(path)
        ref = study_agreement(rows, truth_column=TRUTH, n_bootstrap=0)[0]
        out.append(
            {
                "recipe": settings["recipe"],
                "pool": settings["pool"].split()[0],
                "epochs": settings["epochs"],
                "cells": ref["architectures"],
                "seeds": ref["seeds"],
                "ceiling": ref["ceiling"],
                "ceiling_top": ref["ceiling_top"],
                "tau_truth": ref.get("tau_truth", math.nan),
                "cpu": sum(r["cpu_seconds"] for r in rows) / max(len(rows), 1),
            }
        )
    return out


def _method(name: str) -> str:
    return name.split(" r=")[0] if " r=" in name else name


def figure(agreement: list[dict[str, Any]], path: Path) -> bool:
    """tau_cross vs r, one line per method, next to full data's seed-to-seed tau (the ceiling).

    Drawn by the library's :func:`proxydata.plots.plot_ranking` (a user draws the
    same figure of their own study); False when matplotlib is missing.
    """
    try:
        from proxydata.plots import plot_ranking

        fig = plot_ranking(agreement)
    except ImportError:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return True


def top_half_words(keeps_top: list[str], ref: dict[str, Any]) -> str:
    """What the top half shows, read against full data's own agreement there."""
    if keeps_top:
        return f"Over the top half, {', '.join(keeps_top)} keep it."
    lo = ref.get("ceiling_top_ci", [math.nan, math.nan])[0]
    if lo > 0:
        return (
            "Over the top half no selection is shown to keep it, although full data agrees with its own "
            f"second seed there (ceiling {_f(ref['ceiling_top'])}, interval above 0)."
        )
    return (
        "Over the top half no selection is shown to keep it — nor is full data shown to agree with its "
        f"own second seed there (ceiling {_f(ref['ceiling_top'])}, interval reaching 0): at this recipe "
        "the top half's order is mostly seed noise."
    )


def ranking_section(results: Path, fig_dir: Path | None) -> tuple[list[str], list[str]]:
    """("In short" lines, section lines), empty without a study file; the figure into ``fig_dir``."""
    from proxydata.fidelity import read_study, study_agreement
    from proxydata.metrics import ranking_agreement

    study = results / "ranking.jsonl"
    if not study.exists():
        return [], []
    settings, rows = read_study(study)
    selections = json.loads((results / "ranking_selections.json").read_text())
    names = [n for n in selections["selections"] if n != settings["reference"]]
    m = len(names)
    confidence = 1.0 - ALPHA / m
    agreement = study_agreement(
        rows, truth_column=TRUTH, n_bootstrap=BOOTSTRAP, confidence=confidence, top_k=10
    )
    archs = json.loads((results / "ranking_architectures.json").read_text())
    planned = (m + 1) * len(archs["cells"]) * 2
    ref = agreement[0]
    cells = {r["architecture"]: r["table"] for r in rows}
    nb_short = ranking_agreement([t[TRUTH] for t in cells.values()], [t[SHORT] for t in cells.values()])
    top_cells = sorted(cells.values(), key=lambda t: t[TRUTH])[len(cells) // 2 :]
    nb_short_top = ranking_agreement([t[TRUTH] for t in top_cells], [t[SHORT] for t in top_cells])
    cpu_hours = sum(r["cpu_seconds"] for r in rows) / 3600
    lines = [
        "## Ranking fidelity",
        "",
        "Does a data selection keep the *order* of architectures? Every cell of a fixed sample of "
        f"{len(archs['cells'])} NAS-Bench-201 cells ({archs['how']}; "
        "`benchmarks/results/ranking_architectures.json`) is trained from scratch on full data and on every "
        "selection, with 2 seeds, and tested on held-out CIFAR-10 test images "
        "(`proxydata.fidelity.ranking_study`; `python benchmarks/ranking_study.py`). "
        f"Rows: {len(rows)} of {planned} planned; {cpu_hours:.1f} CPU-hours.",
        "",
        "**Rule, stated before the numbers.** A selection *keeps the ranking* when (a) its Kendall τ with "
        "full data across different seeds (`τ×`, see [the fidelity page](methods/fidelity.md)) is above 0 "
        "and "
        "(b) its gap to full data's own seed-to-seed τ (`τ× − ceiling`) is not below 0 — both at 95 % "
        "family-wise confidence: percentile bootstrap over the cells "
        f"({BOOTSTRAP} resamples), Bonferroni over the {m} selections "
        f"(each interval at {100 * confidence:.2f} %). It *loses the ranking* when the gap's "
        "interval lies below 0; otherwise the study cannot tell (*undecided*). The same rule is applied "
        "to the top half of the cells (by NB201 accuracy), where telling good cells apart is hard.",
        "",
        "### The noise ceiling first: the pilot",
        "",
        "Recipes of equal cost (pool × epochs = 8,000 sample-epochs; C = 8, N = 1, 16 px, batch 64, "
        "NAS-Bench-201's SGD recipe shortened), full data only, 2 seeds, on every 4th cell of the sample "
        "(15 cells):",
        "",
        "| recipe | pool | epochs | cells | seed-to-seed τ | top half | τ vs NB201 | CPU s / training |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    pilot = pilot_rows(results)
    for p in pilot:
        lines.append(
            f"| {p['recipe']} | {p['pool']} | {p['epochs']} | {p['cells']} | {_f(p['ceiling'])} | "
            f"{_f(p['ceiling_top'])} | {_f(p['tau_truth'])} | {p['cpu']:.1f} |"
        )
    best = max(pilot, key=lambda p: p["ceiling"])["recipe"] if pilot else None
    why = (
        "the highest all-cell ceiling of the pilot"
        if best == settings["recipe"]
        else f"although {best} had the pilot's highest all-cell ceiling"
    )
    lines += [
        "",
        f"Chosen: **{settings['recipe']}**, {why}. The budget decided the recipe's size: the study had to "
        "fit in what two shared CPU cores give in one working session (about 2 CPU-hours), not the 10 "
        "CPU-hours the plan allowed; with 15 cells a pilot τ has a standard error near 0.2, so the recipes "
        "are not clearly separated. For scale: NAS-Bench-201's own 12-epoch training (32 px, all 50k "
        f"training images) agrees with its 200-epoch result at τ = {nb_short['kendall_tau']:.2f} over these "
        f"{len(cells)} cells and {nb_short_top['kendall_tau']:.2f} over their top half.",
        "",
        "### Every selection against full data",
        "",
        f"Full data's seed-to-seed τ (the ceiling): **{_ci(ref, 'ceiling')}** over all cells, "
        f"{_ci(ref, 'ceiling_top')} over the top half; full data's τ with NB201: {_f(ref.get('tau_truth'))}. "
        f"Intervals: {100 * confidence:.2f} % bootstrap.",
        "",
        "| selection | r | τ× vs full [CI] | gap to ceiling [CI] | verdict | τ× top half [CI] "
        "| verdict (top) | τ (means) | top-10 | τ vs NB201 | cost |",
        "|---|---:|---|---|---|---|---|---:|---:|---:|---:|",
    ]
    for a in agreement[1:]:
        lines.append(
            f"| {a['selection']} | {a['ratio']:.3f} | {_ci(a, 'tau_cross')} | {_ci(a, 'gap')} | "
            f"{verdict(a)} | {_ci(a, 'tau_cross_top')} | {verdict(a, '_top')} | {_f(a['tau'])} | "
            f"{_f(a['top_k_overlap'], '.1f')} | {_f(a.get('tau_truth'))} | {a['cost']:.3f} |"
        )
    keeps = [a["selection"] for a in agreement[1:] if verdict(a) == "keeps"]
    loses = [a["selection"] for a in agreement[1:] if verdict(a) == "loses"]
    undecided = [a["selection"] for a in agreement[1:] if verdict(a) == "undecided"]
    keeps_top = [a["selection"] for a in agreement[1:] if verdict(a, "_top") == "keeps"]
    lines += [
        "",
        "**In plain words.** "
        + (
            f"Keep the ranking (all cells): {', '.join(keeps)}. "
            if keeps
            else "No selection is shown to keep the ranking. "
        )
        + (f"Lose it: {', '.join(loses)}. " if loses else "None is shown to lose it. ")
        + (f"Undecided: {', '.join(undecided)}. " if undecided else "")
        + top_half_words(keeps_top, ref)
        + ' Read *keeps* as "agrees with full data about as well as full data agrees with itself at '
        f"this recipe\": full data's own τ with NAS-Bench-201 is {_f(ref.get('tau_truth'))} here, so this "
        "small recipe says little about NAS-Bench-201's 200-epoch order, and a selection judged here "
        "should be judged again at a recipe with a higher ceiling before a search relies on it.",
        "",
        f"How the selections were made: {selections['how']['proxies']}; BDP: {selections['how']['bdp']}"
        + "".join(
            f" ({a['selection']}: the 4 % schedule asked for 40 of {ref['size']}; the class-balance "
            f"limit kept {a['size']})"
            for a in agreement[1:]
            if _method(a["selection"]).startswith("bdp") and a["size"] != round(0.04 * ref["size"])
        )
        + ". `cost` is the training samples processed relative to full data's.",
    ]
    if fig_dir is not None and figure(agreement, fig_dir / "ranking_fidelity.png"):
        lines += [
            "",
            "![Kendall τ with full data vs kept share, one line per method](figures/ranking_fidelity.png)",
        ]
    short = [
        f"- Ranking fidelity ({len(agreement) - 1} selections, {len(archs['cells'])} NB201 cells, rule and "
        f"Bonferroni intervals in its section): {len(keeps)} keep the ranking, {len(loses)} lose it, "
        f"{len(undecided)} undecided; full data's own seed-to-seed τ is {_f(ref['ceiling'])}"
        + (f"; kept by {', '.join(keeps)}." if keeps else ".")
    ]
    return short, [*lines, ""]
