"""*Less is More*'s claims 1–4, judged on the static-proxy runs by rules stated before the numbers."""

from __future__ import annotations

import numpy as np

from .records import ALL_SKIP, Group, Record, acc, algo_rank, groups_of, is_static
from .statistics import fmt_p, mean, one_sided_p, paired_differences, seeds_of
from .verdicts import FAILS, HOLDS, Verdict, distinct_outcomes

#: Claim 1: largest allowed gap between a proxy's relative search time and its ratio r.
TIME_GAP = 0.1
#: Claim 2: "not worse" allows this many points of CIFAR-10 accuracy below full data.
MARGIN = 1.0

Section = list[str | Verdict]


def static_sets(records: list[Record]) -> list[tuple[str, list[Record], dict[Group, list[Record]]]]:
    """Per (algo, protocol): the full-data runs and the static-proxy groups of the same protocol."""
    groups = groups_of(records)
    out = []
    for algo in sorted({k[0] for k in groups}, key=algo_rank):
        for version in sorted({k[4] for k in groups if k[0] == algo}):
            full = groups.get((algo, "full", 1.0, "", version), [])
            cells = {
                k: v
                for k, v in groups.items()
                if k[0] == algo and k[4] == version and is_static(k) and k[1] != "full"
            }
            if full and cells:
                out.append((f"{algo} (v{version})", full, cells))
    return out


def all_skip_accuracy(records: list[Record]) -> float | None:
    """CIFAR-10 accuracy of the all-skip cell (DARTS's collapse), when some run found it."""
    found = [acc(r) for r in records if r.get("genotype") == ALL_SKIP and r.get("accuracies")]
    return found[0] if found else None


def claim1(records: list[Record]) -> Section:
    """Search time is linear in r: the relative search time at every r within :data:`TIME_GAP` of r."""
    out: Section = [
        "**1. Search time is linear in r.** Rule: the mean search time at r, divided by the full-data "
        f"mean, is within {TIME_GAP} of r at every r (wall clock, and the search's own CPU clock where "
        "recorded). A measured ratio: no test."
    ]
    for name, full, cells in static_sets(records):
        for clock, label in (("search_seconds", "wall"), ("search_cpu_seconds", "CPU")):
            f_t = [r for r in full if r.get(clock)]
            if not f_t:
                continue
            t_full = mean(f_t, lambda r, c=clock: r[c])
            parts, worst = [], 0.0
            for ratio in sorted({k[2] for k in cells}):
                recs = [r for k, v in cells.items() if k[2] == ratio for r in v if r.get(clock)]
                if recs:
                    rel = mean(recs, lambda r, c=clock: r[c]) / t_full
                    worst = max(worst, abs(rel - ratio))
                    parts.append(f"r={ratio:g}: {rel:.3f} ({len(recs)} runs)")
            if parts:
                out.append(
                    Verdict(
                        claim="1",
                        subject=f"{name}, {label} time",
                        outcome=HOLDS if worst <= TIME_GAP else FAILS,
                        seeds=len({r["seed"] for r in f_t}),
                        detail=f"relative to full data ({len(f_t)} runs, {t_full:.0f} s) {', '.join(parts)}; "
                        f"largest gap {worst:.3f}",
                        no_test="a measured ratio",
                    )
                )
    return out


def claim2(records: list[Record]) -> Section:
    """Proxies at r ≤ 0.5 are not worse than full data (non-inferiority by :data:`MARGIN`, no collapse)."""
    skip = all_skip_accuracy(records)
    floor = (
        f"above the all-skip cell's {skip:.2f} (DARTS's collapse)"
        if skip is not None
        else "(no run collapsed)"
    )
    out: Section = [
        f"**2. Proxies at r ≤ 0.5 are not worse than full data.** Rule: a (method, r) cell is not worse when "
        f"its mean CIFAR-10 accuracy is at least the full-data mean minus {MARGIN:g} point and {floor}, "
        "so a collapsed proxy fails; the claim holds when every cell at r ≤ 0.5 is not worse. Test: for "
        f"each cell a one-sided seed-paired t-test of non-inferiority (H1: mean difference > −{MARGIN:g}); "
        "the claim's p-value is the largest of its cells' (every cell must be not worse)."
    ]
    for name, full, cells in static_sets(records):
        low = {k: v for k, v in cells.items() if k[2] <= 0.5}
        if not low:
            continue
        f_mean = mean(full, acc)
        means = {k: mean(v, acc) for k, v in low.items()}
        ok = [k for k in low if means[k] >= f_mean - MARGIN and (skip is None or means[k] > skip)]
        p_cells = [one_sided_p(paired_differences(v, full), "greater", MARGIN) for v in low.values()]
        p = None if any(q is None for q in p_cells) else max(q for q in p_cells if q is not None)
        worse = sorted(f"{k[1]} r={k[2]:g} ({means[k]:.2f})" for k in low if k not in ok)
        n_distinct = len(distinct_outcomes(list(low.items())))
        out.append(
            Verdict(
                claim="2",
                subject=name,
                outcome=HOLDS if len(ok) == len(low) else ("holds partly" if ok else FAILS),
                seeds=min(seeds_of(full, v) for v in low.values()),
                detail=f"full data {f_mean:.2f}; {len(ok)} of {len(low)} cells at r ≤ 0.5 not worse"
                + (f" ({n_distinct} distinct outcomes)" if n_distinct < len(low) else "")
                + (f"; worse: {', '.join(worse)}" if worse else ""),
                p=p,
                no_test="fewer than two seeds paired with full data",
            )
        )
    return out


def claim3(records: list[Record]) -> Section:
    """Some proxies find better cells than full data (superiority; Bonferroni over the distinct cells)."""
    out: Section = [
        "**3. Some proxies find better cells than full data.** Rule: some (method, r) cell's mean CIFAR-10 "
        "accuracy is above the full-data mean. Test: for each distinct outcome (cells that found the same "
        "genotype in every seed counted once) a one-sided seed-paired t-test (H1: proxy better); the claim's "
        "p-value is k times the smallest of the k (Bonferroni: some cell must be better)."
    ]
    for name, full, cells in static_sets(records):
        f_mean = mean(full, acc)
        means = {k: mean(v, acc) for k, v in cells.items()}
        better = sorted(((m, k) for k, m in means.items() if m > f_mean), reverse=True)
        outcomes = distinct_outcomes(list(cells.items()))
        p_cells = [one_sided_p(paired_differences(o[0][1], full), "greater") for o in outcomes]
        tested = [q for q in p_cells if q is not None]
        p = min(1.0, len(tested) * min(tested)) if tested else None
        best = ", ".join(f"{k[1]} r={k[2]:g} ({m:.2f})" for m, k in better[:4]) or "none"
        smallest = f"; smallest cell p {fmt_p(min(tested))} of {len(tested)}" if tested else ""
        out.append(
            Verdict(
                claim="3",
                subject=name,
                outcome=HOLDS if better else FAILS,
                seeds=min(seeds_of(full, v) for v in cells.values()),
                detail=f"full data {f_mean:.2f}; {len(better)} of {len(cells)} cells beat it on the mean "
                f"(best: {best}){smallest}",
                p=p,
                no_test="fewer than two seeds paired with full data",
            )
        )
    return out


def claim4(records: list[Record]) -> list[str]:
    """DARTS's collapse to skip connections: the share of skip edges and all-skip runs (no verdict)."""
    groups = groups_of(records)
    out = [
        "**4. DARTS collapses to skip connections; do proxies or BDP avoid it?** (share of the six cell "
        "edges that are `skip_connect`, and runs that found the all-skip cell; described, not judged.)"
    ]
    for algo in sorted({k[0] for k in groups}, key=algo_rank):
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


def static_claims(records: list[Record]) -> Section:
    """Claims 1–4 of *Less is More*, in order."""
    return [*claim1(records), "", *claim2(records), "", *claim3(records), "", *claim4(records)]
