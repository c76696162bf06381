"""The "MobileNet-like space" section of the results page, from ``mobilenet_space.jsonl`` alone.

Reads the records of ``benchmarks/mobilenet_space.py`` (CPU-scale DARTS-V1 searches of BDP's
Table 6 space, with and without the pruner) in the results folder; returns nothing without
that file. Imports nothing from the report package.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

RESULTS_FILE = "mobilenet_space.jsonl"
#: A run *collapsed* when at least this share of the layers that offer skip chose skip.
COLLAPSE_SHARE = 0.5


def load(path: Path) -> list[dict[str, Any]]:
    """The records of ``path`` (empty when it does not exist)."""
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def collapsed(record: dict[str, Any]) -> bool:
    """``num_skips >= COLLAPSE_SHARE · skip_offered`` (see the section's rule)."""
    return record["num_skips"] >= COLLAPSE_SHARE * record["skip_offered"]


def _mean(values: list[float]) -> str:
    if not values:
        return "—"
    m = statistics.fmean(values)
    sd = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{m:,.1f} ± {sd:,.1f}" if abs(m) < 1000 else f"{m:,.0f} ± {sd:,.0f}"


def _stage_sizes(space: dict[str, Any]) -> str:
    """The side of each stage's output map, from the record's space."""
    size = -(-space["input_size"] // space["stem_stride"])
    sides = []
    for stride in (2, 2, 2, 1, 2, 1):
        size = -(-size // stride)
        sides.append(str(size))
    return ", ".join(sides)


def _label(method: str) -> str:
    return "DARTS w/ BDP" if method == "bdp" else "DARTS"


def _bdp_text(records: list[dict[str, Any]]) -> str:
    bdp = next((r["bdp"] for r in records if r.get("bdp")), None)
    if bdp is None:
        return "no BDP run yet."
    return (
        f"progressive VoE pruning every T = {bdp['interval']} epochs while an epoch remains, "
        f"{bdp['train_prune_ratio']:.0%} of each initial split per step, training split lowest VoE first, "
        "validation split highest first, class balance on."
    )


def verdict(records: list[dict[str, Any]]) -> str:
    """The rule's outcome: reproduced / not reproduced / not decided (a method without runs)."""
    darts = [r for r in records if r["method"] == "darts"]
    bdp = [r for r in records if r["method"] == "bdp"]
    if not darts or not bdp:
        return "not decided (one of the two methods has no finished run)"
    n_d, n_b = sum(map(collapsed, darts)), sum(map(collapsed, bdp))
    outcome = "reproduced" if n_d == len(darts) and n_b == 0 else "not reproduced"
    return (
        f"**{outcome} at this scale**: {n_d} of {len(darts)} DARTS runs and {n_b} of {len(bdp)} "
        "DARTS w/ BDP runs collapsed"
    )


def mobilenet_section(path: Path) -> list[str]:
    """The section's lines (empty when ``path`` holds no record)."""
    records = load(path)
    if not records:
        return []
    first = records[0]
    cfg, sp = first["config"], first["space"]
    seeds = sorted({r["seed"] for r in records})
    lines = [
        "## The MobileNet-like space (BDP's Table 6), at CPU scale",
        "",
        f"**CPU-scale runs, not the paper's setting.** `{path.name}` ({len(records)} runs, made by "
        "`python benchmarks/mobilenet_space.py`): DARTS-V1 on the 21-layer MBConv chain of "
        "`proxydata.nas.spaces.mobilenet`, searched on CIFAR-10 at "
        f"{sp['input_size']} px (stem stride {sp['stem_stride']}) with width multiplier {sp['width_mult']}, "
        f"{cfg['train_size']} + {cfg['val_size']} images (a stratified sample of the training set), "
        f"{cfg['epochs']} epochs, batch {cfg['batch_size']}, seeds {', '.join(map(str, seeds))}. "
        f"The feature maps of the six stages are {_stage_sizes(sp)} pixels wide: where a map is 1×1, "
        "kernels 3, 5 and 7 compute the same function, so those layers' kernel choice is not informative. "
        "The paper searches 12.5 % of ImageNet at 224 px, multiplier 1, 30 epochs, batch 640, and "
        "trains the found networks on ImageNet; nothing here is trained after the search, so there "
        "is no accuracy. BDP: " + _bdp_text(records),
        "",
        f"Rule (stated before the numbers): a run *collapsed* when at least {COLLAPSE_SHARE:.0%} of the "
        "layers that offer skip chose skip. BDP's Sec. 4.3 says DARTS alone ends dominated by skip "
        "connections and DARTS w/ BDP does not; we call that reproduced at this scale only if every "
        f"DARTS run collapsed and no DARTS w/ BDP run did. With {len(seeds)} seed(s) this is a "
        "description, not a significance test.",
        "",
        f"Outcome: {verdict(records)}.",
        "",
        "MACs and parameters are `MobileNetNetwork(arch).cost()` (`proxydata.nas.counting`): at the "
        "run's scale, and for the same architecture at ImageNet scale (224 px, multiplier 1, 1000 "
        "classes), the scale of Table 6 (DARTS w/ BDP: 356 M, 4.2 M). 'Samples' counts training and "
        "validation samples processed over the whole search; CPU seconds are the search's own "
        "(`time.process_time`), on a shared 2-core machine.",
        "",
        "| method | seed | skips / offered | MACs (M), run | params (M), run | MACs (M), 224 px "
        "| params (M), 224 px | samples | CPU s | final train / val | architecture |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = sorted(records, key=lambda r: (r["method"] != "darts", r["seed"]))
    for r in order:
        run = r["cost_run_scale"]
        big = r["cost_imagenet"] or {"flops": float("nan"), "params": float("nan")}  # None: no such net
        final = "—" if r["final_train"] is None else f"{r['final_train']} / {r['final_val']}"
        lines.append(
            f"| {_label(r['method'])} | {r['seed']} | {r['num_skips']} / {r['skip_offered']} "
            f"| {run['flops'] / 1e6:.2f} | {run['params'] / 1e6:.2f} | {big['flops'] / 1e6:.0f} "
            f"| {big['params'] / 1e6:.2f} | {r['samples']:,} | {r['cpu_seconds']:,.0f} | {final} "
            f"| `{r['genotype'].replace(' | ', ' / ')}` |"
        )
    lines += [
        "",
        "| method | runs | skips | MACs (M), 224 px | params (M), 224 px | samples | CPU s |",
        "|---|---|---|---|---|---|---|",
    ]
    means = {}
    for method in ("darts", "bdp"):
        rs = [r for r in records if r["method"] == method]
        if not rs:
            continue
        means[method] = (
            statistics.fmean(r["samples"] for r in rs),
            statistics.fmean(r["cpu_seconds"] for r in rs),
        )
        lines.append(
            f"| {_label(method)} | {len(rs)} | {_mean([r['num_skips'] for r in rs])} "
            f"| {_mean([r['cost_imagenet']['flops'] / 1e6 for r in rs if r['cost_imagenet']])} "
            f"| {_mean([r['cost_imagenet']['params'] / 1e6 for r in rs if r['cost_imagenet']])} "
            f"| {_mean([r['samples'] for r in rs])} | {_mean([r['cpu_seconds'] for r in rs])} |"
        )
    if len(means) == 2:
        lines += [
            "",
            f"DARTS w/ BDP processed {means['bdp'][0] / means['darts'][0]:.0%} of DARTS's samples in "
            f"{means['bdp'][1] / means['darts'][1]:.0%} of its CPU time (means over runs).",
        ]
    lines += [
        "",
        "Architectures: stages separated by ` / `. Skips per epoch (the architecture derived after each "
        "epoch): "
        + "; ".join(f"{_label(r['method'])} seed {r['seed']}: {r['skips_per_epoch']}" for r in order)
        + ".",
        "",
    ]
    return lines
