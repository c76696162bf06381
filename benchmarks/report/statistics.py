"""The page's statistics: seed-paired differences, one-sided paired t-tests, Holm's step-down.

Runs of one seed share the supernet's initialisation and the data order, so
every comparison pairs runs by seed. Each claim is tested in the direction it
asserts (one-sided), and the page corrects all its tests together with
Holm–Bonferroni (:func:`holm`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import stats

from .records import Record, acc

#: Significance level of every test, after Holm's correction.
ALPHA = 0.05
#: Seeds a verdict needs before the page presents it as decided.
MIN_SEEDS = 8


def fmt(values: Sequence[float], digits: int = 2) -> str:
    """``mean ± population std`` (one value as is; none as ``–``)."""
    if not len(values):
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def mean(recs: Sequence[Record], fn: Callable[[Record], float]) -> float:
    """Mean of ``fn`` over ``recs`` (NaN for none)."""
    return float(np.mean([fn(r) for r in recs])) if recs else float("nan")


def fmt_p(p: float) -> str:
    """A p-value for the page: three decimals, ``< 0.001`` below that."""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def paired_differences(
    a: Sequence[Record], b: Sequence[Record], value: Callable[[Record], float] | None = None
) -> np.ndarray:
    """``value(a_s) − value(b_s)`` for every seed ``s`` both have, in ``a``'s order (CIFAR-10 by default)."""
    value = value or acc
    by_seed = {r["seed"]: value(r) for r in b}
    return np.array([value(r) - by_seed[r["seed"]] for r in a if r["seed"] in by_seed], dtype=np.float64)


def one_sided_p(d: np.ndarray, alternative: str = "greater", margin: float = 0.0) -> float | None:
    """p-value of a one-sided paired t-test on the differences ``d``.

    ``alternative="greater"``: H0 ``mean(d) <= -margin`` against H1 ``mean(d) > -margin``
    (``margin > 0``: non-inferiority by ``margin``; 0: superiority).
    ``"less"``: H0 ``mean(d) >= margin`` against H1 ``mean(d) < margin``.
    The statistic is ``t = mean(d ± margin) / (s / sqrt(n))`` with the sample std ``s``,
    ``n − 1`` degrees of freedom. None with fewer than two pairs. When every
    shifted difference is the same, there is no spread to test against: 0.0 if
    it lies strictly in H1's direction, 1.0 otherwise.
    """
    if alternative not in ("greater", "less"):
        raise ValueError(f"alternative must be 'greater' or 'less', got {alternative!r}")
    if d.size < 2:
        return None
    shifted = d + margin if alternative == "greater" else d - margin
    if np.all(shifted == shifted[0]):
        inside = shifted[0] > 0 if alternative == "greater" else shifted[0] < 0
        return 0.0 if inside else 1.0
    return float(stats.ttest_1samp(shifted, 0.0, alternative=alternative).pvalue)


def describe(d: np.ndarray, digits: int = 2) -> str:
    """``seed-paired difference +m ± s over n seeds`` (population std), or that all were identical."""
    if d.size == 0:
        return ""
    text = f"seed-paired difference {d.mean():+.{digits}f} ± {d.std():.{digits}f} over {d.size} seeds"
    if np.all(d == 0):
        text += ", identical in every seed"
    return text


def paired_test(
    a: Sequence[Record],
    b: Sequence[Record],
    value: Callable[[Record], float] | None = None,
    digits: int = 2,
    alternative: str = "greater",
    margin: float = 0.0,
) -> tuple[str, float | None]:
    """The seed-paired difference ``a − b`` as text, and its one-sided p-value (:func:`one_sided_p`)."""
    d = paired_differences(a, b, value)
    return describe(d, digits), one_sided_p(d, alternative, margin)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (Holm 1979, step-down), in the input order.

    With the ``m`` p-values sorted ascending, ``p_(1) <= ... <= p_(m)``, the
    adjusted value of the ``i``-th is ``max_{j <= i} min(1, (m − j + 1) · p_(j))``;
    a test is rejected at level α exactly when its adjusted value is below α,
    which controls the family-wise error rate at α under any dependence.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1 or np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"p_values must be a flat sequence of numbers in [0, 1], got {list(p_values)}")
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted.tolist()


def intersection_union_p(p_values: Sequence[float | None]) -> float | None:
    """p-value of "every one of these one-sided alternatives holds": the largest (None if any is None)."""
    if not p_values or any(p is None for p in p_values):
        return None
    return float(max(p for p in p_values if p is not None))


def bonferroni_min_p(p_values: Sequence[float | None]) -> float | None:
    """p-value of "at least one of these alternatives holds": ``min(1, k · min p)`` over the k tests."""
    ps = [p for p in p_values if p is not None]
    if not ps:
        return None
    return float(min(1.0, len(ps) * min(ps)))


def interpolate(x: Sequence[float], y: Sequence[float], at: float) -> float:
    """``y`` linearly interpolated at ``at`` over increasing ``x`` (clamped to the ends)."""
    return float(np.interp(at, np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)))


def seeds_of(*groups: Sequence[Record]) -> int:
    """Seeds every group has: how many seeds a paired comparison of them rests on."""
    sets = [{r["seed"] for r in g} for g in groups if g]
    return len(set.intersection(*sets)) if sets else 0


def value_list(recs: Sequence[Record], fn: Callable[[Record], Any]) -> list[float]:
    """``[fn(r) for r in recs]`` as floats."""
    return [float(fn(r)) for r in recs]
