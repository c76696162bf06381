"""A statistic for a bistable outcome: the share of seeds that collapsed, and the accuracy of the rest.

A DARTS search on NAS-Bench-201 either collapses to the all-skip cell
(:data:`~report.records.ALL_SKIP`, 54.30 % on CIFAR-10) or finds a cell with
parameters, so a mean over a few seeds mostly counts collapses. Every setting
is therefore also reported as

- the share of its seeds that found the all-skip cell, ``k / n``, with the
  Wilson score interval (95 %) — :func:`wilson`;
- the mean CIFAR-10 accuracy of the seeds that did not collapse, next to the
  overall mean — :func:`collapse_summary`;

and two settings' collapse rates are compared with Fisher's exact test, one
sided in the direction a claim asserts (:func:`fewer_collapses_p`). Fisher's
test conditions on both margins and is exact; Barnard's unconditional test
would be more powerful, but scipy evaluates it on a quasi-random grid of
nuisance values, and the page must come out the same on every run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

from .records import ALL_SKIP, Group, Record, acc, algo_rank, groups_of, row_name

#: The normal quantile of a two-sided 95 % interval.
Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval of a binomial share ``k / n`` (Wilson 1927).

    ``(p + z²/2n ± z · sqrt(p(1 − p)/n + z²/4n²)) / (1 + z²/n)`` with ``p = k / n``;
    for ``k = 2, n = 8``: ``(0.0715, 0.5907)``. ``(0, 1)`` when ``n = 0``.
    """
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def collapsed(rec: Record) -> bool:
    """Did the run find the all-skip cell?"""
    return rec["genotype"] == ALL_SKIP


@dataclass(frozen=True)
class CollapseSummary:
    """The bistable statistic of one setting (see the module notes)."""

    n: int
    k: int
    low: float
    high: float
    mean_all: float
    mean_rest: float  # NaN when every seed collapsed

    def share_text(self) -> str:
        """``k/n (lo–hi %)``: the collapsed share with its Wilson interval."""
        return f"{self.k}/{self.n} ({100 * self.low:.0f}–{100 * self.high:.0f} %)"

    def rest_text(self) -> str:
        """The mean of the seeds that did not collapse (``–`` when none)."""
        return "–" if math.isnan(self.mean_rest) else f"{self.mean_rest:.2f} ({self.n - self.k})"


def collapse_summary(recs: Sequence[Record]) -> CollapseSummary:
    """:class:`CollapseSummary` of ``recs`` (CIFAR-10 accuracies)."""
    k = sum(collapsed(r) for r in recs)
    low, high = wilson(k, len(recs))
    rest = [acc(r) for r in recs if not collapsed(r)]
    every = [acc(r) for r in recs]
    return CollapseSummary(
        n=len(recs),
        k=k,
        low=low,
        high=high,
        mean_all=sum(every) / len(every) if every else float("nan"),
        mean_rest=sum(rest) / len(rest) if rest else float("nan"),
    )


def fewer_collapses_p(a: Sequence[Record], b: Sequence[Record]) -> float | None:
    """One-sided p-value of "``a`` collapses less often than ``b``" (Fisher's exact test).

    The table is ``[[k_a, n_a − k_a], [k_b, n_b − k_b]]`` and the alternative an
    odds ratio below 1. For ``a`` 0 of 8 and ``b`` 6 of 8 it is
    ``C(8,0) C(8,6) / C(16,6) = 28 / 8008 = 0.0035``. None when either is empty.
    """
    if not a or not b:
        return None
    ka, kb = sum(collapsed(r) for r in a), sum(collapsed(r) for r in b)
    table = [[ka, len(a) - ka], [kb, len(b) - kb]]
    return float(stats.fisher_exact(table, alternative="less").pvalue)


def collapse_table(records: list[Record]) -> list[str]:
    """Every setting of the file: seeds, the all-skip share (Wilson 95 %), mean and mean of the rest."""
    groups = groups_of(records)
    keys = sorted(groups, key=lambda g: (algo_rank(g[0]), g[4], g[1] != "full", g[1], g[2], g[3]))
    lines = [
        "| setting | seeds | all-skip (Wilson 95 %) | CIFAR-10 mean | mean without the all-skip seeds (n) |",
        "|---|---|---|---|---|",
    ]
    for key in keys:
        s = collapse_summary(groups[key])
        lines.append(f"| {row_name(key)} | {s.n} | {s.share_text()} | {s.mean_all:.2f} | {s.rest_text()} |")
    return lines


def summary_cells(recs: Sequence[Record]) -> str:
    """``all-skip k/n (interval) | mean without them``: two table cells for a row of a section."""
    if not recs:
        return "– | –"
    s = collapse_summary(recs)
    return f"{s.share_text()} | {s.rest_text()}"


__all__ = [
    "CollapseSummary",
    "Group",
    "collapse_summary",
    "collapse_table",
    "collapsed",
    "fewer_collapses_p",
    "summary_cells",
    "wilson",
]
