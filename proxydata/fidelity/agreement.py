"""Agreement of a ranking study's selections with the reference, with the ceiling and the truth.

:func:`study_agreement` reads only the rows of a study (those of
:func:`~proxydata.fidelity.ranking_study` or of
:func:`~proxydata.fidelity.read_study`): for every selection, Kendall's tau-b,
Spearman's rho and the top-k overlap (:func:`~proxydata.metrics.ranking_agreement`)
of its accuracies against the reference's, across seeds (``tau_cross``) next to
the reference's own seed-to-seed agreement (the ceiling), against a ground
truth when the rows carry one, over all architectures and over the top half,
each with a percentile bootstrap interval over architectures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._validation import check_fraction, check_int
from ..exceptions import ProxydataValueError
from ..metrics import kendall_tau_b, ranking_agreement

__all__ = ["study_agreement"]


def _matrix(rows: list[dict[str, Any]], selection: str, archs: list[str], seeds: list[int]) -> np.ndarray:
    """``(architectures, seeds)`` accuracies of one selection (NaN where missing)."""
    at = {(r["architecture"], int(r["seed"])): r["test_acc"] for r in rows if r["selection"] == selection}
    return np.array([[at.get((a, s), np.nan) for s in seeds] for a in archs], dtype=np.float64)


def _cross_tau(x: np.ndarray, y: np.ndarray, pairs: list[tuple[int, int]]) -> float:
    """Mean over the column pairs ``(i, j)`` of ``tau(x[:, i], y[:, j])`` (NaN without pairs)."""
    if not pairs:
        return float("nan")
    return float(np.mean([_tau(x[:, i], y[:, j]) for i, j in pairs]))


def _tau(a: np.ndarray, b: np.ndarray) -> float:
    return kendall_tau_b(a, b)


def _interval(values: list[float], confidence: float) -> list[float]:
    finite = np.asarray([v for v in values if np.isfinite(v)])
    if finite.size == 0:
        return [float("nan"), float("nan")]
    tail = 50.0 * (1.0 - confidence)
    return [float(np.percentile(finite, tail)), float(np.percentile(finite, 100.0 - tail))]


def study_agreement(
    rows: Sequence[Mapping[str, Any]],
    *,
    reference: str = "full",
    truth_column: str | None = "cifar10_test_200ep",
    top_k: int = 10,
    n_bootstrap: int = 1000,
    bootstrap_seed: int = 0,
    confidence: float = 0.95,
) -> list[dict[str, Any]]:
    """One agreement row per selection, from the rows of a study alone.

    Only architectures with a result for every seed under both the selection and
    ``reference`` are compared, over the seeds the two share (the ceiling uses
    every seed of the reference). With ``A`` the selection's ``(architecture,
    seed)`` accuracies and ``F`` the reference's:

    - ``tau`` / ``rho`` / ``top_k_overlap``: :func:`~proxydata.metrics.ranking_agreement`
      of ``F``'s seed means against ``A``'s seed means;
    - ``tau_cross``: ``mean_{i != j} tau(A[:, i], F[:, j])`` over every seed
      ``i`` of the selection and every other seed ``j`` of the reference (pairs
      of different seeds, so a shared initialisation cannot inflate it);
    - ``ceiling``: full data's seed-to-seed agreement
      ``mean_{i < j} tau(F[:, i], F[:, j])``, the same estimator on the reference;
    - ``gap``: ``tau_cross - ceiling`` (its interval, from the same resamples,
      says whether the selection falls short of the ceiling);
    - ``tau_truth`` / ``rho_truth`` / ``top_k_overlap_truth``: ``A``'s seed means
      against ``truth_column`` of the rows' ``table`` (when present);
    - each of these also over the **top half** (``*_top``): the architectures
      whose truth (or, without one, whose reference mean) is at least the median;
    - ``*_ci``: the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
      quantiles over ``n_bootstrap`` resamples of the architectures (with
      replacement; ``numpy.random.default_rng(bootstrap_seed)``, the same
      resamples for every statistic of a selection);
    - ``size``, ``ratio`` (size over the reference's), ``train_samples`` and
      ``cpu_seconds`` summed, and ``cost`` (train samples per run over the
      reference's per run).

    Parameters
    ----------
    rows : sequence of mapping
        Rows of :func:`ranking_study` (or of :func:`read_study`).
    reference : str
    truth_column : str or None
    top_k : int
        Capped at the number of architectures compared.
    n_bootstrap : int
    bootstrap_seed : int
    confidence : float
        In ``(0, 1)``; e.g. ``1 - 0.05 / m`` for Bonferroni over ``m`` selections.

    Returns
    -------
    list of dict
        In the order selections first appear in ``rows``, the reference first.
    """
    rows = [dict(r) for r in rows]
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", minimum=0)
    confidence = check_fraction(confidence, "confidence", low_open=True, high_open=True)
    top_k = check_int(top_k, "top_k", minimum=1)
    names = list(dict.fromkeys(r["selection"] for r in rows))
    if reference not in names:
        raise ProxydataValueError(f"reference {reference!r} has no rows; selections are {names}")
    names.remove(reference)
    names.insert(0, reference)
    seeds = sorted({int(r["seed"]) for r in rows if r["selection"] == reference})
    all_archs = list(dict.fromkeys(r["architecture"] for r in rows))
    ref_full = _matrix(rows, reference, all_archs, seeds)
    truth_of = _truths(rows, truth_column)
    out = []
    for name in names:
        # the seeds this selection shares with the reference (a reference may have more)
        common = sorted({int(r["seed"]) for r in rows if r["selection"] == name} & set(seeds))
        sel_full = _matrix(rows, name, all_archs, common)
        complete = np.isfinite(sel_full).all(axis=1) & np.isfinite(ref_full).all(axis=1)
        archs = [a for a, ok in zip(all_archs, complete) if ok]
        sel = sel_full[complete]
        ref = _matrix(rows, reference, all_archs, common)[complete]
        ref_all = ref_full[complete]
        pairs = (
            [(i, j) for i, s in enumerate(common) for j, r in enumerate(seeds) if s != r],
            [(i, j) for i in range(len(seeds)) for j in range(i + 1, len(seeds))],
        )
        entry = _size_and_cost(rows, name, reference, len(archs), len(common))
        truth = np.array([truth_of.get(a, np.nan) for a in archs])
        has_truth = bool(archs) and np.isfinite(truth).all()
        basis = truth if has_truth else ref.mean(axis=1)
        top = basis >= np.median(basis) if archs else np.zeros(0, dtype=bool)
        for half, mask in (("all", np.ones(len(archs), dtype=bool)), ("top", top)):
            suffix = "" if half == "all" else "_top"

            stats = _stats_with_intervals(
                (sel, ref, ref_all, truth if has_truth else None),
                np.flatnonzero(mask),
                pairs=pairs,
                top_k=top_k,
                is_reference=name == reference,
                n_bootstrap=n_bootstrap,
                seed=bootstrap_seed,
                confidence=confidence,
            )
            entry.update({_suffixed(k, suffix): v for k, v in stats.items()})
        out.append(entry)
    return out


def _truths(rows: list[dict[str, Any]], truth_column: str | None) -> dict[str, float]:
    """``{architecture: its truth_column value}`` from the rows' ``table`` (empty without a column)."""
    truth_of: dict[str, float] = {}
    if truth_column is not None:
        for r in rows:
            value = (r.get("table") or {}).get(truth_column)
            if value is not None:
                truth_of[r["architecture"]] = float(value)
    return truth_of


def _size_and_cost(
    rows: list[dict[str, Any]], name: str, reference: str, architectures: int, seeds: int
) -> dict[str, Any]:
    """The start of a selection's agreement row: its size and cost, absolute and against the reference."""
    ref_rows = [r for r in rows if r["selection"] == reference]
    # per run, so that a selection with fewer runs so far is not made to look cheaper
    ref_samples = sum(r["train_samples"] for r in ref_rows) / len(ref_rows)
    ref_size = ref_rows[0]["selection_size"]
    mine = [r for r in rows if r["selection"] == name]
    return {
        "selection": name,
        "size": mine[0]["selection_size"],
        "ratio": mine[0]["selection_size"] / ref_size,
        "architectures": architectures,
        "seeds": seeds,
        "train_samples": int(sum(r["train_samples"] for r in mine)),
        "cpu_seconds": float(sum(r["cpu_seconds"] for r in mine)),
        "cost": sum(r["train_samples"] for r in mine) / len(mine) / ref_samples if ref_samples else None,
    }


def _suffixed(key: str, suffix: str) -> str:
    """``tau`` -> ``tau_top``; ``tau_ci`` -> ``tau_top_ci``."""
    return f"{key[:-3]}{suffix}_ci" if key.endswith("_ci") else f"{key}{suffix}"


def _stats_with_intervals(
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None],
    idx: np.ndarray,
    *,
    pairs: tuple[list[tuple[int, int]], list[tuple[int, int]]],
    top_k: int,
    is_reference: bool,
    n_bootstrap: int,
    seed: int,
    confidence: float,
) -> dict[str, Any]:
    """:func:`_half_stats` of the architectures ``idx``; ``<stat>_ci``: intervals over resamples of them."""

    def at(pick: np.ndarray, rank_only: bool = False) -> dict[str, float]:
        sel, ref, ref_all, truth = (None if a is None else a[pick] for a in arrays)
        return _half_stats(sel, ref, ref_all, truth, pairs, top_k, is_reference, rank_only=rank_only)

    out: dict[str, Any] = dict(at(idx))
    if n_bootstrap and idx.size >= 3:
        rng = np.random.default_rng(seed)
        draws: dict[str, list[float]] = {}
        for _ in range(n_bootstrap):
            for k, v in at(rng.choice(idx, size=idx.size, replace=True), rank_only=True).items():
                draws.setdefault(k, []).append(v)
        out.update({f"{k}_ci": _interval(v, confidence) for k, v in draws.items()})
    return out


def _half_stats(
    sel: np.ndarray,
    ref: np.ndarray,
    ref_all: np.ndarray,
    truth: np.ndarray | None,
    pairs: tuple[list[tuple[int, int]], list[tuple[int, int]]],
    top_k: int,
    is_reference: bool,
    *,
    rank_only: bool = False,
) -> dict[str, float]:
    """The agreement statistics of one set of architectures (see :func:`study_agreement`).

    ``pairs``: the (selection seed column, reference seed column) pairs of
    different seeds, and the (reference, reference) pairs of the ceiling.
    """
    nan = float("nan")
    out: dict[str, float] = {}
    n = sel.shape[0]
    if n < 3:
        keys = ["tau", "rho", "tau_cross", "ceiling", "gap"] + (
            ["tau_truth", "rho_truth"] if truth is not None else []
        )
        return {k: nan for k in keys}
    sel_mean, ref_mean = sel.mean(axis=1), ref.mean(axis=1)
    k = min(top_k, n)
    if is_reference:
        out["tau"] = 1.0
        if not rank_only:
            out["rho"] = out["top_k_overlap"] = 1.0
    elif rank_only:  # inside a bootstrap loop: tau only, the fast way
        out["tau"] = _tau(ref_mean, sel_mean)
    else:
        agree = ranking_agreement(ref_mean, sel_mean, top_k=k)
        out["tau"], out["rho"] = agree["kendall_tau"], agree["spearman"]
        out["top_k_overlap"] = agree["top_k_overlap"]
    ceiling = _cross_tau(ref_all, ref_all, pairs[1])
    out["tau_cross"] = ceiling if is_reference else _cross_tau(sel, ref_all, pairs[0])
    out["ceiling"] = ceiling
    out["gap"] = out["tau_cross"] - ceiling
    if truth is not None and rank_only:
        out["tau_truth"] = _tau(truth, sel_mean)
    elif truth is not None:
        agree = ranking_agreement(truth, sel_mean, top_k=k)
        out["tau_truth"], out["rho_truth"] = agree["kendall_tau"], agree["spearman"]
        out["top_k_overlap_truth"] = agree["top_k_overlap"]
    return out
