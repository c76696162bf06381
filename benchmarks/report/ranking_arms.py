"""The "Ranking fidelity" section of issue 28: the recipe pilot, then the two-arm study with verdicts.

Reads only files of the results folder: the pilot's study files
``ranking_pilot/<recipe>.jsonl`` (full data, 20 cells, 2 seeds per recipe), the
study at the chosen recipe ``ranking_<recipe>.jsonl``, its selections
``ranking_selections_p<pool>_r<px>.json`` and ``ranking_architectures.json``.
Draws ``ranking_fidelity.png`` (every selection's gap interval, both arms).
Imports only ``proxydata``. The rules (margin, comparison with random,
intervals, arms) are those of ``docs/methods/fidelity.md``, fixed before the
study's numbers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

TRUTH = "cifar10_test_200ep"
SHORT = "cifar10_test_12ep"
ALPHA = 0.05
BOOTSTRAP = 1000
TARGET_TAU = 0.5
TIE = 0.05
PILOT_CELLS = 20
RULE = (
    f"the cheapest recipe (CPU seconds per run) whose τ vs NAS-Bench-201 over the 20 cells (seed means) "
    f"reaches {TARGET_TAU}; if none does, the highest τ, recipes within {TIE} of it counted as tied and the "
    "cheapest of those taken"
)
METHOD_ORDER = (
    "rs",
    "cc-rs",
    "km-or",
    "cc-or",
    "ae",
    "tl",
    "bdp",
    "entropy",
    "forgetting",
    "grand",
    "el2n",
    "herding",
    "k-center",
)
#: Selection methods of issue 31, to join the study by name once their samplers are registered.
LATER_METHODS = ("entropy", "forgetting", "grand", "el2n", "herding", "k-center")
ARMS = ("epochs", "steps")
RS_AT_BDP = "rs at bdp's share"
ARM_WORDS = {
    "epochs": "equal epochs (what the proxy saves)",
    "steps": "equal SGD steps (the same training on less data)",
}


def _f(value: Any, spec: str = "+.2f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format(value, spec)


def _ci(entry: dict[str, Any], key: str) -> str:
    lo, hi = entry.get(f"{key}_ci", [math.nan, math.nan])
    return f"{_f(entry.get(key))} [{_f(lo)}, {_f(hi)}]"


# --- the pilot --------------------------------------------------------------------------------


def pilot_summary(results: Path) -> list[dict[str, Any]]:
    """One row per pilot recipe: its settings, full data's tau vs NB201, seed-to-seed tau, cost."""
    from proxydata.fidelity import read_study, study_agreement
    from proxydata.metrics import kendall_tau_b

    out = []
    for path in sorted((results / "ranking_pilot").glob("*.jsonl")):
        settings, rows = read_study(path)
        if not rows:
            continue
        ref = study_agreement(rows, truth_column=TRUTH, n_bootstrap=BOOTSTRAP)[0]
        seeds = sorted({int(r["seed"]) for r in rows})
        per_seed = []
        for s in seeds:
            mine = sorted(
                (r["architecture"], r["test_acc"], r["table"][TRUTH]) for r in rows if r["seed"] == s
            )
            if len(mine) >= 3:
                import numpy as np

                per_seed.append(kendall_tau_b(np.array([m[2] for m in mine]), np.array([m[1] for m in mine])))
        train = settings.get("train_recipe", {})
        cpu = [r["cpu_seconds"] for r in rows]
        out.append(
            {
                "recipe": settings["recipe"],
                "resolution": settings.get("resolution"),
                "pool": settings["pool"].split()[0],
                "epochs": settings["epochs"],
                "batch": settings["batch_size"],
                "C": train.get("C"),
                "N": train.get("N"),
                "schedule": train.get("schedule"),
                "lr": train.get("lr"),
                "label_smoothing": train.get("label_smoothing"),
                "cells": ref["architectures"],
                "seeds": len(seeds),
                "rows": len(rows),
                "tau_truth": ref.get("tau_truth", math.nan),
                "tau_truth_ci": ref.get("tau_truth_ci", [math.nan, math.nan]),
                "tau_truth_top": ref.get("tau_truth_top", math.nan),
                "tau_truth_per_seed": per_seed,
                "seed0_cells": sum(1 for r in rows if int(r["seed"]) == 0),
                "planned_cells": PILOT_CELLS,
                "ceiling": ref["ceiling"],
                "ceiling_ci": ref.get("ceiling_ci", [math.nan, math.nan]),
                "ceiling_top": ref["ceiling_top"],
                "cpu_per_run": sum(cpu) / len(cpu),
                "cpu_hours": sum(cpu) / 3600,
                "mean_test_acc": sum(r["test_acc"] for r in rows) / len(rows),
            }
        )
    return out


def choose_recipe(summary: list[dict[str, Any]], *, first_seed: bool = False) -> tuple[str | None, str]:
    """The pilot's rule: the cheapest recipe with tau vs NB201 >= 0.5 (all cells, seed means).

    If none reaches it: the highest tau vs NB201, recipes within 0.05 of it counted
    as tied and the cheapest (CPU seconds per run) of those taken. Only recipes
    with every row of both seeds count; with ``first_seed``, the same rule on seed
    0's tau alone over the recipes whose seed 0 is complete (how the study's
    recipe was picked while seed 1 of the pilot still ran).
    """
    if first_seed:
        done = [
            {**p, "tau_truth": p["tau_truth_per_seed"][0]}
            for p in summary
            if p["tau_truth_per_seed"] and p["seed0_cells"] >= p["planned_cells"]
        ]
    else:
        done = [p for p in summary if p["seeds"] >= 2 and p["rows"] >= 2 * p["planned_cells"]]
        if len(done) < len(summary):  # the rule compares every recipe, so it waits for all of them
            return None, f"{len(done)} of {len(summary)} recipes have both seeds so far"
    if not done:
        return None, "the pilot has not finished a recipe"
    fit = [p for p in done if p["tau_truth"] >= TARGET_TAU]
    if fit:
        best = min(fit, key=lambda p: p["cpu_per_run"])
        return best["recipe"], f"the cheapest recipe whose τ vs NAS-Bench-201 reaches {TARGET_TAU}"
    top = max(p["tau_truth"] for p in done)
    tied = [p for p in done if p["tau_truth"] >= top - TIE]
    best = min(tied, key=lambda p: p["cpu_per_run"])
    return best["recipe"], (
        f"no recipe reaches τ = {TARGET_TAU} vs NAS-Bench-201; the highest τ, recipes within {TIE} of it "
        "counted as tied and the cheapest of those taken"
    )


def pilot_markdown(
    summary: list[dict[str, Any]], chosen: str | None, reason: str, study: str | None = None
) -> list[str]:
    """The pilot table (``benchmarks/results/ranking_pilot.md`` and the results page)."""
    lines = [
        "| recipe | px | pool | epochs | batch | C | N | schedule (peak lr) | label smoothing "
        "| cells × seeds | τ vs NB201 [95 % CI] | top half | per seed | seed-to-seed τ [95 % CI] | top half "
        "| CPU s / run | mean acc % |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---|---|---:|---:|---:|",
    ]
    for p in summary:
        mark = "**" if p["recipe"] == chosen else ""
        lo, hi = p["tau_truth_ci"]
        clo, chi = p["ceiling_ci"]
        lines.append(
            f"| {mark}{p['recipe']}{mark} | {p['resolution']} | {p['pool']} | {p['epochs']} | {p['batch']} | "
            f"{p['C']} | {p['N']} | {p['schedule']} ({p['lr']}) | {p['label_smoothing']} | "
            f"{p['cells']} × {p['seeds']} | {_f(p['tau_truth'])} [{_f(lo)}, {_f(hi)}] | "
            f"{_f(p['tau_truth_top'])} | {', '.join(_f(t) for t in p['tau_truth_per_seed'])} | "
            f"{_f(p['ceiling'])} [{_f(clo)}, {_f(chi)}] | {_f(p['ceiling_top'])} | "
            f"{p['cpu_per_run']:.1f} | {p['mean_test_acc']:.1f} |"
        )
    total = sum(p["cpu_hours"] for p in summary)
    lines += [
        "",
        f"Pilot cost: {total * 60:.0f} CPU-minutes in all. Rule (fixed before the pilot was complete): "
        f"{RULE}. "
        + (
            f"The complete pilot: {reason}, so **{chosen}**."
            if chosen
            else f"The pilot is not complete yet ({reason})."
        ),
    ]
    first, _ = choose_recipe(summary, first_seed=True)
    if study:
        lines.append("")
        lines.append(
            f"The study runs at **{study}**: to leave it time, it was launched when seed 0 of every "
            f"recipe was in, on the same rule applied to seed 0's τ (which picks {first or '—'})"
            + (
                "; the complete pilot agrees."
                if chosen == study
                else f"; the complete pilot picks {chosen or '— (not complete yet)'} instead — read the "
                "study with that in mind."
            )
        )
    return lines


# --- the study --------------------------------------------------------------------------------


def _study_file(results: Path, chosen: str | None) -> Path | None:
    if chosen and (results / f"ranking_{chosen}.jsonl").exists():
        return results / f"ranking_{chosen}.jsonl"
    files = sorted(results.glob("ranking_r[0-9]*.jsonl"))
    return files[0] if files else None


def _method(name: str) -> str:
    return name.split(" r=")[0]


def _order(agreement: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(a: dict[str, Any]) -> tuple[int, float, str]:
        m = _method(a["selection"])
        return (METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER), a["ratio"], m)

    return sorted(agreement, key=key)


def status_lines(rows: list[dict[str, Any]], selections: list[str], cells: int, seeds: int) -> list[str]:
    """Rows finished against planned, per seed and arm, and which (selection, arm) are still running."""
    done: dict[tuple[str, str, int], int] = {}
    for r in rows:
        arm = "epochs" if r["selection"] == "full" else r.get("arm", "epochs")
        done[r["selection"], arm, int(r["seed"])] = done.get((r["selection"], arm, int(r["seed"])), 0) + 1
    others = [s for s in selections if s != "full"]
    planned = cells * seeds * (1 + 2 * len(others))
    lines = [
        f"Rows finished: **{len(rows)} of {planned} planned** ({cells} cells × {seeds} seeds × "
        f"(full data + {len(others)} selections × 2 arms)), run seed-major: full data first, then every "
        "selection of seed 0 (equal-epochs arm, then equal-steps arm), then seed 1.",
        "",
        "| seed | arm | selections complete (all cells) | partial (cells done) | not started |",
        "|---:|---|---|---|---|",
    ]
    for seed in range(seeds):
        lines.append(
            f"| {seed} | full data | {'full' if done.get(('full', 'epochs', seed), 0) >= cells else '—'} | "
            + (
                f"full ({done[('full', 'epochs', seed)]})"
                if 0 < done.get(("full", "epochs", seed), 0) < cells
                else "—"
            )
            + f" | {'full' if not done.get(('full', 'epochs', seed)) else '—'} |"
        )
        for arm in ARMS:
            complete = [s for s in others if done.get((s, arm, seed), 0) >= cells]
            partial = [
                f"{s} ({done[(s, arm, seed)]})" for s in others if 0 < done.get((s, arm, seed), 0) < cells
            ]
            missing = [s for s in others if not done.get((s, arm, seed))]
            lines.append(
                f"| {seed} | {arm} | {len(complete)} of {len(others)} | {', '.join(partial) or '—'} | "
                f"{_missing(missing, others)} |"
            )
    return lines


def _missing(missing: list[str], others: list[str]) -> str:
    if not missing:
        return "—"
    return "all" if len(missing) == len(others) else ", ".join(missing)


def complete_seeds(rows: list[dict[str, Any]], cells: int) -> list[dict[str, Any]]:
    """The rows of the seeds a (selection, arm) has finished for every cell (all rows if it has none).

    A seed still running would otherwise shrink the cells a selection is compared
    on to those that seed has reached.
    """
    count: dict[tuple[str, str, int], int] = {}
    for r in rows:
        key = (r["selection"], r.get("arm", "epochs"), int(r["seed"]))
        count[key] = count.get(key, 0) + 1
    whole = {k for k, n in count.items() if n >= cells}
    has_whole = {(k[0], k[1]) for k in whole}
    return [
        r
        for r in rows
        if r["selection"] == "full"  # the reference: every seed (its seeds run first, before any selection)
        or (r["selection"], r.get("arm", "epochs"), int(r["seed"])) in whole
        or (r["selection"], r.get("arm", "epochs")) not in has_whole
    ]


def verdict_table(agreement: list[dict[str, Any]], arm: str) -> list[str]:
    lines = [
        "| selection | r | cells × seeds | τ× vs full [CI] | gap to ceiling [CI] | verdict "
        "| vs random: Δτ× [CI] | vs random | p@5 | p@10 | τ top-10 | τ vs NB201 | cost |",
        "|---|---:|---:|---|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for a in _order([a for a in agreement[1:] if a["arm"] == arm]):
        vs = f"{_ci(a, 'vs_random')} (vs {a['random']})" if "vs_random" in a else "— (is random)"
        lines.append(
            f"| {a['selection']} | {a['ratio']:.3f} | {a['architectures']} × {a['seeds']} | "
            f"{_ci(a, 'tau_cross')} | {_ci(a, 'gap')} | **{a['verdict']}** | {vs} | "
            f"{a.get('vs_random_verdict', '—')} | {_f(a.get('precision_at_5'), '.1f')} | "
            f"{_f(a.get('precision_at_10'), '.1f')} | {_f(a.get('tau_top_10'))} | {_f(a.get('tau_truth'))} | "
            f"{a['cost']:.2f} |"
        )
    return lines


def figure(agreement: list[dict[str, Any]], path: Path) -> bool:
    """Every selection's gap to the ceiling with its interval, one panel per arm; the margin drawn.

    Drawn by the library's :func:`proxydata.plots.plot_ranking_gaps` (a user draws the
    same figure of their own study); False when matplotlib is missing or no selection ran.
    """
    arms = [arm for arm in ARMS if any(a["arm"] == arm for a in agreement[1:])]
    if not arms:
        return False
    names = [a["selection"] for a in _order([a for a in agreement[1:] if a["arm"] == arms[0]])]
    for arm in arms[1:]:
        names += [
            a["selection"]
            for a in _order([a for a in agreement[1:] if a["arm"] == arm])
            if a["selection"] not in names
        ]
    try:
        from proxydata.plots import plot_ranking_gaps

        fig = plot_ranking_gaps(agreement, order=names, titles=ARM_WORDS)
    except ImportError:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return True


def ranking_arms_section(results: Path, fig_dir: Path | None) -> tuple[list[str], list[str]] | None:
    """("In short" lines, section lines) of issue 28's pilot and study; None without the pilot."""
    from proxydata.fidelity import family_agreement, read_study
    from proxydata.metrics import ranking_agreement

    summary = pilot_summary(results)
    if not summary:
        return None
    chosen, reason = choose_recipe(summary)
    study_path = _study_file(results, chosen)
    study_recipe = study_path.stem[len("ranking_") :] if study_path else None
    archs = json.loads((results / "ranking_architectures.json").read_text())
    cells = {c["arch"]: c for c in archs["cells"]}
    lines = [
        "## Ranking fidelity",
        "",
        "Does a data selection keep the *order* of architectures? Cells of a fixed sample of "
        f"{len(cells)} NAS-Bench-201 cells ({archs['how']}; `benchmarks/results/ranking_architectures.json`) "
        "are trained from scratch on full data and on every selection and tested on held-out CIFAR-10 "
        "test images (`proxydata.fidelity.ranking_study`; `python benchmarks/ranking_study.py`). The rules "
        "— the margin δ = 0.2 × full data's seed-to-seed τ (*keeps* / *loses* / *undecided*), the paired "
        "comparison with random selection of the same size, the two arms, bootstrap over the cells in "
        "sorted order with a recorded seed, Bonferroni family-wise intervals — are stated in "
        "[the fidelity page](methods/fidelity.md) and were fixed before the numbers.",
        "",
        "### The recipe first: the pilot",
        "",
        "Full data only, every third cell of the sample (20 cells), 2 seeds; each recipe trains "
        "`proxydata.fidelity.TrainRecipe` (per-step cosine with 5 % warm-up, or one-cycle; NAS-Bench-201's "
        "SGD otherwise). τ vs NB201 is Kendall τ of the seed means with NAS-Bench-201's 200-epoch CIFAR-10 "
        "accuracy; seed-to-seed τ is full data's agreement with itself under another seed (the ceiling). "
        "Also in `benchmarks/results/ranking_pilot.md`.",
        "",
        *pilot_markdown(summary, chosen, reason, study_recipe),
    ]
    known = [(c[TRUTH], _table_short(results, a)) for a, c in cells.items()]
    known = [k for k in known if math.isfinite(k[1])]
    nb = ranking_agreement([k[0] for k in known], [k[1] for k in known]) if len(known) >= 3 else {}
    nb["cells"] = len(known)
    short: list[str] = []
    if study_path is None:
        lines += ["", "The study at the chosen recipe has no rows yet."]
        return [], [*lines, ""]
    settings, rows = read_study(study_path)
    sel_file = results / f"ranking_selections_p{settings['pool'].split()[0]}_r{settings['resolution']}.json"
    saved = json.loads(sel_file.read_text()) if sel_file.exists() else _planned_selections()
    names = list(saved["selections"])
    agreement = family_agreement(
        complete_seeds(rows, len(cells)), alpha=ALPHA, truth_column=TRUTH, n_bootstrap=BOOTSTRAP
    )
    ref = agreement[0]
    seeds = 2
    cpu_hours = sum(r["cpu_seconds"] for r in rows) / 3600
    lines += [
        "",
        f"### The study at {settings['recipe']}",
        "",
        f"`benchmarks/results/{study_path.name}` ({cpu_hours:.1f} CPU-hours so far). "
        + " ".join(status_lines(rows, names, len(cells), seeds)[:1]),
        "",
        *status_lines(rows, names, len(cells), seeds)[2:],
        "",
        f"**What the reference is worth.** At this recipe full data ranks the {ref['architectures']} cells "
        f"like NAS-Bench-201 at τ = **{_ci(ref, 'tau_truth')}** (top half {_ci(ref, 'tau_truth_top')}); its "
        f"seed-to-seed τ (the ceiling) is {_ci(ref, 'ceiling')} (top half {_ci(ref, 'ceiling_top')}); so the "
        f"margin is δ = 0.2 × {_f(ref['ceiling'], '.2f')} = {_f(ref['delta'], '.3f')}. "
        + _below_target_words(ref, nb, summary, chosen),
        "",
        f"Intervals: {100 * ref['confidence']:.2f} % percentile bootstrap over the cells ({BOOTSTRAP} "
        f"resamples, seed {ref['bootstrap_seed']}; Bonferroni over the selections of an arm). "
        "A seed still running for a selection is left out until it has every cell (a selection with "
        "no finished seed is compared on the cells done); a selection with one seed so far is compared "
        "with full data's other seed (τ× never pairs equal seeds).",
    ]
    for arm in ARMS:
        if not any(a["arm"] == arm for a in agreement[1:]):
            lines += ["", f"#### Arm: {ARM_WORDS[arm]}", "", "No rows yet."]
            continue
        arm_rows = [a for a in agreement[1:] if a["arm"] == arm]
        counts = {
            v: [a["selection"] for a in arm_rows if a["verdict"] == v]
            for v in ("keeps", "loses", "undecided")
        }
        better = [a["selection"] for a in arm_rows if a.get("vs_random_verdict") == "better"]
        worse = [a["selection"] for a in arm_rows if a.get("vs_random_verdict") == "worse"]
        lines += [
            "",
            f"#### Arm: {ARM_WORDS[arm]}",
            "",
            *verdict_table(agreement, arm),
            "",
            f"Keeps: {', '.join(counts['keeps']) or 'none'}. Loses: {', '.join(counts['loses']) or 'none'}. "
            f"Undecided: {', '.join(counts['undecided']) or 'none'}. Better than random of the same size: "
            f"{', '.join(better) or 'none'}; worse: {', '.join(worse) or 'none'}.",
        ]
        short.append(
            f"- Ranking fidelity, {arm} arm ({len(arm_rows)} selections so far, recipe {settings['recipe']}, "
            f"full data's τ vs NB201 {_f(ref.get('tau_truth'))}): {len(counts['keeps'])} keep, "
            f"{len(counts['loses'])} lose, {len(counts['undecided'])} undecided; {len(better)} better than "
            f"random, {len(worse)} worse."
        )
    asked = saved.get("methods_asked", [])
    later = [m for m in LATER_METHODS if m not in asked]
    lines += [
        "",
        (
            f"How the selections were made: {saved['how']['proxies']}; BDP: {saved['how']['bdp']}; its "
            f"random counterpart: {saved['how'].get(RS_AT_BDP, '—')}. "
            if sel_file.exists()
            else f"The selections are still being made ({saved['how']['proxies']}). "
        )
        + "`cost` is the training samples processed relative to full data's. "
        + (
            f"Not yet run (issue 31's selections, added by name once on main): {', '.join(later)}."
            if later
            else ""
        ),
        "",
        "The earlier study at p1000-e8 (`benchmarks/results/ranking.jsonl`, per-epoch cosine, 8 epochs "
        "on 1,000 images) is superseded: its reference ranked the cells like NAS-Bench-201 at τ ≈ 0.12.",
    ]
    if fig_dir is not None and figure(agreement, fig_dir / "ranking_fidelity.png"):
        lines += [
            "",
            "![Every selection's gap to full data's ceiling with its family-wise interval; "
            "the dashed line is the margin](figures/ranking_fidelity.png)",
        ]
    return short, [*lines, ""]


def _planned_selections() -> dict[str, Any]:
    """What the study plans while its selections file is still being made (BDP's search running)."""
    names = [f"{m} r={r}" for m in (*METHOD_ORDER[:6], *LATER_METHODS) for r in (0.1, 0.25, 0.5)]
    names[18:18] = ["bdp (search running)", "rs at BDP's share"]
    how = "being made (`ranking_study.py arms-study --selections-only`)"
    return {
        "how": {"proxies": how, "bdp": how, RS_AT_BDP: how},
        "methods_asked": [*METHOD_ORDER[:6], *LATER_METHODS],
        "selections": {"full": None, **dict.fromkeys(names)},
    }


def _table_short(results: Path, arch: str) -> float:
    """NB201's 12-epoch accuracy of ``arch`` (from the study rows' tables, cached per results folder)."""
    cache = _SHORT_CACHE.setdefault(str(results), {})
    if not cache:
        for path in [
            *sorted(results.glob("ranking_r[0-9]*.jsonl")),
            *sorted((results / "ranking_pilot").glob("*.jsonl")),
        ]:
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    row = json.loads(line)
                    if "table" in row:
                        cache[row["architecture"]] = row["table"][SHORT]
    return cache.get(arch, math.nan)


_SHORT_CACHE: dict[str, dict[str, float]] = {}


def _below_target_words(
    ref: dict[str, Any], nb: dict[str, Any], summary: list[dict[str, Any]], chosen: str | None
) -> str:
    tau = ref.get("tau_truth", math.nan)
    if tau >= TARGET_TAU:
        return (
            f"That reaches the target of {TARGET_TAU}: the verdicts below speak about NAS-Bench-201's "
            "order too."
        )
    best = max((p["tau_truth_per_seed"][0] for p in summary if p["tau_truth_per_seed"]), default=math.nan)
    return (
        f"**That is below the target of {TARGET_TAU}**"
        + (
            f", and no pilot recipe reached it on seed 0 over its 20 cells (the best: {_f(best)}). "
            if not best >= TARGET_TAU
            else f", although the pilot's best recipe reached {_f(best)} on seed 0 over its 20 cells (a "
            "third of the sample: a rough estimate). "
        )
        + "Why: these networks (C ≤ 16, N ≤ 2, 16–32 px, a few hundred SGD steps on ≤ 10,000 "
        "images) reach 40–50 % test accuracy, so they are ranked by how fast a cell learns in its first "
        "epochs, not by where it ends; NAS-Bench-201's own 12-epoch training (C = 16, N = 5, 32 px, all "
        f"50,000 images) agrees with its 200-epoch order at τ = {_f(nb.get('kendall_tau'))} over "
        f"{nb['cells']} of these cells. "
        "What it would take: a recipe of that order — roughly 600,000 sample-epochs of a C = 16, N = 5 "
        "network per training, about an hour of one CPU core each, so thousands of CPU-hours for this study, "
        "or a GPU (minutes per training). Read every verdict below as agreement with *full data at this "
        "recipe*, not with NAS-Bench-201."
    )
