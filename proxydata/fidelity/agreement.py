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
from ..metrics import NASLIB_K, kendall_tau_b, naslib_ranking_metrics, ranking_agreement

__all__ = ["MARGIN", "family_agreement", "margin_verdict", "sign_verdict", "study_agreement", "versus_random"]


#: The equivalence margin relative to the ceiling (``docs/methods/fidelity.md``): a selection
#: "keeps" the ranking when it loses less than this share of full data's seed-to-seed tau.
MARGIN = 0.2


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
    margin: float = MARGIN,
    random_of: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One agreement row per selection and arm, from the rows of a study alone.

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
    - ``precision_at_5`` / ``precision_at_10`` / ``tau_top_5`` / ``tau_top_10``
      (NASLib's, :func:`~proxydata.metrics.naslib_ranking_metrics`) of the seed
      means against the reference's, and ``*_truth`` against the truth;
    - ``verdict`` (``"keeps"`` / ``"loses"`` / ``"undecided"``, :func:`margin_verdict`)
      from ``gap_ci`` and the margin ``delta = margin * ceiling``; ``verdict_top``
      likewise over the top half;
    - ``random``, ``vs_random``, ``vs_random_ci``, ``vs_random_verdict``: the
      paired difference of ``tau_cross`` from the random selection of the same
      size (:func:`versus_random`), when the rows hold it;
    - ``size``, ``ratio`` (size over the reference's), ``train_samples`` and
      ``cpu_seconds`` summed, and ``cost`` (train samples per run over the
      reference's per run).

    Rows are grouped by ``(selection, arm)`` (a row without ``arm`` is of the
    ``"epochs"`` arm; the reference is one group whatever its arm). The
    architectures are taken in sorted order before any resampling and every row
    records ``bootstrap_seed``, so the result does not depend on the order of
    ``rows``.

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
    margin : float
        The equivalence margin relative to the ceiling (``delta = margin * ceiling``);
        :data:`MARGIN` (0.2), chosen in ``docs/methods/fidelity.md`` before the study.
    random_of : mapping of str to str, optional
        Selection name to the name of its random counterpart of the same size;
        by default ``"<method> r=<r>"`` is paired with ``"rs r=<r>"``.

    Returns
    -------
    list of dict
        The reference first, then the ``(selection, arm)`` groups in the order
        they first appear in ``rows``.
    """
    rows = [dict(r) for r in rows]
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", minimum=0)
    confidence = check_fraction(confidence, "confidence", low_open=True, high_open=True)
    top_k = check_int(top_k, "top_k", minimum=1)
    margin = check_fraction(margin, "margin")
    names = list(dict.fromkeys(r["selection"] for r in rows))
    if reference not in names:
        raise ProxydataValueError(f"reference {reference!r} has no rows; selections are {names}")
    groups = _groups(rows, reference)
    seeds = sorted({int(r["seed"]) for r in groups[reference, None]})
    all_archs = sorted({r["architecture"] for r in rows})  # sorted: the file's order cannot matter
    ref_full = _matrix(groups[reference, None], reference, all_archs, seeds)
    truth_of = _truths(rows, truth_column)
    out = []
    for name, arm in groups:
        mine = groups[name, arm]
        # the seeds this selection shares with the reference (a reference may have more)
        common = sorted({int(r["seed"]) for r in mine} & set(seeds))
        sel_full = _matrix(mine, name, all_archs, common)
        complete = np.isfinite(sel_full).all(axis=1) & np.isfinite(ref_full).all(axis=1)
        archs = [a for a, ok in zip(all_archs, complete) if ok]
        sel = sel_full[complete]
        ref = _matrix(groups[reference, None], reference, all_archs, common)[complete]
        ref_all = ref_full[complete]
        pairs = (
            [(i, j) for i, s in enumerate(common) for j, r in enumerate(seeds) if s != r],
            [(i, j) for i in range(len(seeds)) for j in range(i + 1, len(seeds))],
        )
        entry = _size_and_cost(mine, groups[reference, None], name, len(archs), len(common))
        entry["arm"] = "epochs" if arm is None else arm
        entry["top_k"] = min(top_k, len(archs)) if archs else top_k
        entry["bootstrap_seed"] = bootstrap_seed
        entry["confidence"] = confidence
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
            delta = margin * entry.get(f"ceiling{suffix}", float("nan"))
            entry[f"delta{suffix}"] = delta
            entry[f"verdict{suffix}"] = margin_verdict(entry.get(f"gap{suffix}_ci"), delta)
        out.append(entry)
    _add_versus_random(out, groups, reference, random_of, n_bootstrap, bootstrap_seed, confidence)
    return out


def family_agreement(
    rows: Sequence[Mapping[str, Any]],
    *,
    alpha: float = 0.05,
    reference: str = "full",
    truth_column: str | None = "cifar10_test_200ep",
    top_k: int = 10,
    n_bootstrap: int = 2000,
    bootstrap_seed: int = 0,
    margin: float = MARGIN,
    random_of: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """:func:`study_agreement` with family-wise intervals, for verdicts: Bonferroni over the selections.

    ``confidence = 1 - alpha / m`` with ``m`` the number of selections (other than
    the reference) in the largest arm: every interval then covers with
    probability at least ``1 - alpha`` jointly over the verdicts of an arm, and
    over its comparisons with random (the rule of ``docs/methods/fidelity.md``).
    """
    alpha = check_fraction(alpha, "alpha", low_open=True, high_open=True)
    per_arm: dict[str, set[str]] = {}
    for r in rows:
        if r["selection"] != reference:
            per_arm.setdefault(r.get("arm", "epochs"), set()).add(r["selection"])
    m = max((len(v) for v in per_arm.values()), default=1)
    return study_agreement(
        rows,
        reference=reference,
        truth_column=truth_column,
        top_k=top_k,
        n_bootstrap=n_bootstrap,
        bootstrap_seed=bootstrap_seed,
        confidence=1.0 - alpha / m,
        margin=margin,
        random_of=random_of,
    )


def margin_verdict(interval: Sequence[float] | None, delta: float) -> str:
    """``"keeps"`` if ``interval`` lies above ``-delta``, ``"loses"`` if below, else ``"undecided"``.

    The equivalence rule of ``docs/methods/fidelity.md``: with ``[lo, hi]`` the
    interval of ``gap = tau_cross - ceiling``, keeps when ``lo > -delta``, loses
    when ``hi < -delta``. Undecided without an interval (or with NaN).
    """
    if interval is None or delta is None or not np.isfinite(delta):
        return "undecided"
    lo, hi = float(interval[0]), float(interval[1])
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "undecided"
    if lo > -delta:
        return "keeps"
    if hi < -delta:
        return "loses"
    return "undecided"


def sign_verdict(interval: Sequence[float] | None) -> str:
    """``"better"`` if ``interval`` lies above 0, ``"worse"`` if below, else ``"cannot tell"``."""
    if interval is None:
        return "cannot tell"
    lo, hi = float(interval[0]), float(interval[1])
    if np.isfinite(lo) and lo > 0:
        return "better"
    if np.isfinite(hi) and hi < 0:
        return "worse"
    return "cannot tell"


def _groups(rows: list[dict[str, Any]], reference: str) -> dict[tuple[str, str | None], list[dict[str, Any]]]:
    """Rows by ``(selection, arm)``; the reference's under ``(reference, None)``, first."""
    out: dict[tuple[str, str | None], list[dict[str, Any]]] = {(reference, None): []}
    for r in rows:
        key = (reference, None) if r["selection"] == reference else (r["selection"], r.get("arm", "epochs"))
        out.setdefault(key, []).append(r)
    return out


def default_random_of(name: str) -> str | None:
    """``"<method> r=<r>"`` -> ``"rs r=<r>"`` (None for other names and for RS itself)."""
    if " r=" not in name or name.startswith("rs "):
        return None
    return "rs r=" + name.split(" r=", 1)[1]


def versus_random(
    rows: Sequence[Mapping[str, Any]],
    selection: str,
    random: str,
    *,
    reference: str = "full",
    arm: str = "epochs",
    n_bootstrap: int = 1000,
    bootstrap_seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """``tau_cross(selection) - tau_cross(random)``, paired over cells and seeds, with its interval.

    Both are measured against the same reference seeds, over the architectures
    both selections and the reference have for every seed the three share, and
    resampled together (the same bootstrap draws of the architectures, taken in
    sorted order, ``numpy.random.default_rng(bootstrap_seed)``), so what the two
    share cancels. ``vs_random_verdict`` is :func:`sign_verdict` of the interval:
    ``"better"``, ``"worse"`` or ``"cannot tell"``.

    Returns
    -------
    dict
        ``random``, ``vs_random``, ``vs_random_ci``, ``vs_random_verdict``,
        ``vs_random_architectures``, ``vs_random_seeds``.
    """
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", minimum=0)
    confidence = check_fraction(confidence, "confidence", low_open=True, high_open=True)
    groups = _groups([dict(r) for r in rows], reference)
    return _paired(
        groups, reference, (selection, arm), (random, arm), n_bootstrap, bootstrap_seed, confidence
    )


def _paired(
    groups: dict[tuple[str, str | None], list[dict[str, Any]]],
    reference: str,
    a: tuple[str, str],
    b: tuple[str, str],
    n_bootstrap: int,
    seed: int,
    confidence: float,
) -> dict[str, Any]:
    nan = float("nan")
    out: dict[str, Any] = {"random": b[0], "vs_random": nan, "vs_random_ci": [nan, nan]}
    ref_rows = groups.get((reference, None), [])
    seeds_of = [{int(r["seed"]) for r in groups.get(g, [])} for g in (a, b, (reference, None))]
    common = sorted(seeds_of[0] & seeds_of[1] & seeds_of[2])
    ref_seeds = sorted(seeds_of[2])
    archs = sorted({r["architecture"] for g in (a, b) for r in groups.get(g, [])})
    mats = [_matrix(groups.get(g, []), g[0], archs, common) for g in (a, b)]
    ref = _matrix(ref_rows, reference, archs, ref_seeds)
    ok = np.isfinite(mats[0]).all(axis=1) & np.isfinite(mats[1]).all(axis=1) & np.isfinite(ref).all(axis=1)
    pairs = [(i, j) for i, s in enumerate(common) for j, r in enumerate(ref_seeds) if s != r]
    idx = np.flatnonzero(ok)
    out["vs_random_architectures"], out["vs_random_seeds"] = int(idx.size), len(common)
    if idx.size < 3 or not pairs:
        out["vs_random_verdict"] = "cannot tell"
        return out

    def diff(pick: np.ndarray) -> float:
        return _cross_tau(mats[0][pick], ref[pick], pairs) - _cross_tau(mats[1][pick], ref[pick], pairs)

    out["vs_random"] = diff(idx)
    if n_bootstrap:
        rng = np.random.default_rng(seed)
        out["vs_random_ci"] = _interval(
            [diff(rng.choice(idx, size=idx.size, replace=True)) for _ in range(n_bootstrap)], confidence
        )
    out["vs_random_verdict"] = sign_verdict(out["vs_random_ci"])
    return out


def _add_versus_random(
    out: list[dict[str, Any]],
    groups: dict[tuple[str, str | None], list[dict[str, Any]]],
    reference: str,
    random_of: Mapping[str, str] | None,
    n_bootstrap: int,
    seed: int,
    confidence: float,
) -> None:
    """Add :func:`versus_random`'s keys to every entry whose random counterpart has rows."""
    for entry in out:
        name, arm = entry["selection"], entry["arm"]
        if name == reference:
            continue
        random = random_of.get(name) if random_of is not None else default_random_of(name)
        if random is None or random == name or (random, arm) not in groups:
            continue
        entry.update(_paired(groups, reference, (name, arm), (random, arm), n_bootstrap, seed, confidence))


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
    mine: list[dict[str, Any]], ref_rows: list[dict[str, Any]], name: str, architectures: int, seeds: int
) -> dict[str, Any]:
    """The start of a selection's agreement row: its size and cost, absolute and against the reference."""
    # per run, so that a selection with fewer runs so far is not made to look cheaper
    ref_samples = sum(r["train_samples"] for r in ref_rows) / len(ref_rows)
    ref_size = ref_rows[0]["selection_size"]
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
            out.update(_naslib(ref_mean, ref_mean, ""))
    elif rank_only:  # inside a bootstrap loop: tau only, the fast way
        out["tau"] = _tau(ref_mean, sel_mean)
    else:
        agree = ranking_agreement(ref_mean, sel_mean, top_k=k)
        out["tau"], out["rho"] = agree["kendall_tau"], agree["spearman"]
        out["top_k_overlap"] = agree["top_k_overlap"]
        out.update(_naslib(agree, None, ""))
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
        out.update(_naslib(agree, None, "_truth"))
    return out


def _naslib(agree: Any, same: np.ndarray | None, suffix: str) -> dict[str, float]:
    """NASLib's metrics from a :func:`ranking_agreement` result (or of a scoring with itself)."""
    if same is not None:
        agree = naslib_ranking_metrics(agree, same)
    return {f"{k}{suffix}": float(agree[k]) for k in _NASLIB_KEYS}


_NASLIB_KEYS = tuple(f"{m}_{k}" for k in NASLIB_K for m in ("precision_at", "tau_top"))
