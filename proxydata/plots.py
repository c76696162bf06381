"""Figures of search runs, in the layout of the two papers (needs the ``plot`` extra).

Every function takes *records*: a list of dicts as written by
``benchmarks/reproduce.py`` or ``proxydata search -o``, or the
:class:`~proxydata.experiment.SearchRecord` s :func:`proxydata.experiment.run_search`
returns (read through their ``to_dict()``), so the same figures can be drawn
from a user's own runs. A record names its run by ``algo``, ``method``, ``ratio`` and ``seed``;
a :func:`~proxydata.experiment.run_search` record, which keeps them in its
``config``, is read through :func:`run_fields` (``method`` is the proxy acronym,
``"full"``, ``"bdp"`` or ``"bdp-nobalance"``). The values drawn are
``search_seconds``, ``genotype``, ``accuracies`` (from a NAS-Bench-201 table),
``train_sizes`` and ``val_sizes``.

Each function returns a :class:`matplotlib.figure.Figure` made without pyplot:
importing this module or drawing leaves matplotlib's backend and pyplot's list
of open figures alone (a notebook keeps its inline backend; show a figure by
making it a cell's value). Nothing is saved unless ``path`` is given.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from .exceptions import ProxydataTypeError, ProxydataValueError
from .nas import NB201_OPS, Genotype

__all__ = [
    "VERDICT_COLOURS",
    "group_mean_std",
    "plot_accuracy_vs_ratio",
    "plot_kept_sizes",
    "plot_operation_distribution",
    "plot_ranking",
    "plot_ranking_gaps",
    "plot_time_vs_ratio",
    "run_fields",
    "selection_group",
]


def _figure(figsize: tuple[float, float]) -> Any:
    """A figure outside pyplot: no backend switch, no global list of figures to close."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("proxydata.plots needs matplotlib: pip install 'proxydata[plot]'") from exc
    return Figure(figsize=figsize)


def _as_dict(record: Any) -> Any:
    """A record's dict: a ``SearchRecord``'s ``to_dict()``, anything else as it is."""
    return record.to_dict() if callable(getattr(record, "to_dict", None)) else record


def _check_records(records: Any) -> list[dict[str, Any]]:
    if not isinstance(records, Sequence) or isinstance(records, (str, bytes)):
        raise ProxydataTypeError(f"records must be a list of run dicts, got {type(records).__name__}")
    if not records:
        raise ProxydataValueError("records must not be empty")
    out = [_as_dict(rec) for rec in records]
    for i, rec in enumerate(out):
        if not isinstance(rec, dict):
            raise ProxydataTypeError(f"records[{i}] must be a dict, got {type(rec).__name__}")
    return out


def run_fields(record: Any) -> dict[str, Any]:
    """The ``algo``, ``method``, ``ratio`` and ``seed`` that name a record's run.

    Top-level keys win (``benchmarks/reproduce.py`` writes them); otherwise they
    are read from the ``config`` of a :func:`~proxydata.experiment.run_search`
    record: ``method`` is ``config["proxy"]`` for a static proxy, ``"bdp"``
    (``"bdp-nobalance"`` without the class-balance limit) for the pruner, and
    ``"full"`` for neither. ``record`` may be a ``SearchRecord`` (its ``to_dict()`` is read).
    """
    record = _as_dict(record)
    config = record.get("config") or {}
    derived: dict[str, Any] = {}
    if config:
        if config.get("proxy"):
            method = config["proxy"]
        elif config.get("bdp"):
            balance = (config.get("bdp_kwargs") or {}).get("class_balance", True)
            method = "bdp" if balance else "bdp-nobalance"
        else:
            method = "full"
        derived = {
            "algo": config.get("algo"),
            "method": method,
            "ratio": config.get("ratio"),
            "seed": config.get("seed"),
        }
    out = {}
    for key in ("algo", "method", "ratio", "seed"):
        value = record.get(key, derived.get(key))
        if value is None:
            raise ProxydataValueError(
                f"record has no {key!r}, neither at the top level nor in a run_search 'config' "
                f"(keys: {sorted(record)})"
            )
        out[key] = value
    out["ratio"] = float(out["ratio"])
    return out


def _value(rec: dict[str, Any], key: str) -> float:
    if key in rec:
        return float(rec[key])
    acc = rec.get("accuracies") or {}
    if key in acc:
        return float(acc[key])
    raise ProxydataValueError(
        f"record has no {key!r}: neither a field nor an accuracy column (fields: {sorted(rec)}; "
        f"accuracies: {sorted(acc)}; run_search adds accuracies when given a table)"
    )


def group_mean_std(
    records: Sequence[dict[str, Any]], key: str, by: tuple[str, ...] = ("algo", "method", "ratio")
) -> dict[tuple, tuple[float, float, int]]:
    """Mean, population std and count of ``key`` per group of ``by`` fields.

    ``key`` is a record field (``search_seconds``) or an accuracy column
    (``cifar10_test_200ep``); ``by`` names fields of :func:`run_fields`.
    """
    groups: dict[tuple, list[float]] = defaultdict(list)
    for rec in _check_records(records):
        fields = {**rec, **run_fields(rec)}
        groups[tuple(fields[b] for b in by)].append(_value(rec, key))
    return {g: (float(np.mean(v)), float(np.std(v)), len(v)) for g, v in sorted(groups.items())}


def _save(fig: Any, path: str | None) -> Any:
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


def _lines_vs_ratio(records: Sequence[dict[str, Any]], key: str, ylabel: str, path: str | None) -> Any:
    stats = group_mean_std(records, key)
    algos = sorted({g[0] for g in stats})
    fig = _figure((5 * len(algos), 3.8))
    axes = fig.subplots(1, len(algos), squeeze=False)
    for ax, algo in zip(axes[0], algos):
        methods = sorted({g[1] for g in stats if g[0] == algo})
        references = iter(zip(("black", "dimgray", "darkgoldenrod", "teal"), ("--", ":", "-.", (0, (5, 1)))))
        for method in methods:
            pts = sorted((g[2], m, s) for g, (m, s, _) in stats.items() if g[0] == algo and g[1] == method)
            r = np.array([p[0] for p in pts])
            mean = np.array([p[1] for p in pts])
            std = np.array([p[2] for p in pts])
            if r.size == 1:
                color, style = next(references, ("gray", "--"))
                label = f"{method} (r={r[0]:g})"
                ax.axhline(mean[0], color=color, linestyle=style, linewidth=1.2, label=label)
                continue
            ax.errorbar(r, mean, yerr=std, marker="o", capsize=3, label=method)
        ax.set_title(algo)
        ax.set_xlabel("proxy ratio r")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def plot_accuracy_vs_ratio(
    records: Sequence[dict[str, Any]], column: str = "cifar10_test_200ep", path: str | None = None
) -> Any:
    """Benchmark accuracy of the found cells against the proxy ratio, per method.

    Mean ± std over seeds, one panel per search algorithm (the layout of
    *Less is More*, Fig. 2). Runs at a single ratio (full data, BDP) are drawn
    as horizontal reference lines.
    """
    return _lines_vs_ratio(records, column, f"{column} (%)", path)


def plot_time_vs_ratio(records: Sequence[dict[str, Any]], path: str | None = None) -> Any:
    """Search seconds against the proxy ratio, per method (*Less is More*, Fig. 2)."""
    return _lines_vs_ratio(records, "search_seconds", "search seconds", path)


def plot_operation_distribution(records: Sequence[dict[str, Any]], path: str | None = None) -> Any:
    """Share of each operation among the six edges of the found cells.

    One stacked bar per (algorithm, ratio), pooled over methods and seeds
    (*Less is More*, Fig. 5): a bar dominated by ``skip_connect`` shows the
    DARTS collapse.
    """
    counts: dict[tuple[str, float], np.ndarray] = defaultdict(lambda: np.zeros(len(NB201_OPS)))
    for rec in _check_records(records):
        g = Genotype.parse(rec["genotype"])
        fields = run_fields(rec)
        for op in g.ops:
            counts[(fields["algo"], fields["ratio"])][NB201_OPS.index(op)] += 1
    keys = sorted(counts)
    shares = np.array([counts[k] / counts[k].sum() for k in keys])
    fig = _figure((max(5, 0.7 * len(keys) + 2), 3.8))
    ax = fig.subplots()
    bottom = np.zeros(len(keys))
    for j, op in enumerate(NB201_OPS):
        ax.bar(range(len(keys)), shares[:, j], bottom=bottom, label=op)
        bottom += shares[:, j]
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([f"{a}\nr={r:g}" for a, r in keys], fontsize=7)
    ax.set_ylabel("share of cell edges")
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    return _save(fig, path)


def _is_history(records: Any) -> bool:
    """Whether ``records`` is a pruner's ``history`` (entries with ``epoch`` and ``n_train``)."""
    return (
        isinstance(records, Sequence)
        and not isinstance(records, (str, bytes))
        and bool(records)
        and all(isinstance(h, dict) and "epoch" in h and "n_train" in h for h in records)
    )


def _kept_size_runs(records: Any) -> list[tuple[str, list[int], list[int]]]:
    """``(label, train sizes, val sizes)`` per run: samples used in each epoch, from 1.

    A pruner's history gives one run: the samples kept at the start of epoch
    ``e`` are those it observed in ``e`` plus those it did not
    (``n_observed_<split> + n_unobserved_<split>``).
    """
    history = getattr(records, "history", records)  # a BiLevelPruner, or its history
    if _is_history(history):
        sizes = [
            [int(h[f"n_observed_{s}"]) + int(h[f"n_unobserved_{s}"]) for h in history]
            for s in ("train", "val")
        ]
        return [("BiLevelPruner", sizes[0], sizes[1])]
    runs = []
    for rec in _check_records(records):
        fields = run_fields(rec)
        runs.append((f"{fields['method']} s{fields['seed']}", rec.get("train_sizes"), rec.get("val_sizes")))
    return runs


def plot_kept_sizes(records: Any, path: str | None = None) -> Any:
    """Training and validation samples used per epoch (BDP, Fig. 3a/b).

    ``records`` are search records (one line each, label ``method seed``, from
    their ``train_sizes`` / ``val_sizes``), or the ``history`` of a
    :class:`~proxydata.BiLevelPruner` driven by your own loop (or the pruner
    itself): one line, the samples kept at the start of each epoch. Two panels.
    """
    fig = _figure((10, 3.8))
    axes = fig.subplots(1, 2)
    for label, *per_split in _kept_size_runs(records):
        for ax, sizes in zip(axes, per_split):
            if sizes:
                ax.plot(range(1, len(sizes) + 1), sizes, marker=".", label=label)
    for ax, title in zip(axes, ("training split", "validation split")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel("samples used")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def selection_group(name: str) -> str:
    """The method a ranking study's selection name stands for: the lines of :func:`plot_ranking`.

    ``"cc-or r=0.5"`` and ``"cc-or 0.5"`` are ``"cc-or"`` (a trailing ratio is
    dropped); any other name (``"bdp 4%"``, ``"mine"``) is its own group.
    """
    if " r=" in name:
        return name.split(" r=")[0]
    head, _, last = name.rpartition(" ")
    try:
        float(last)
    except ValueError:
        return name
    return head or name


def _agreement(study: Any) -> list[dict[str, Any]]:
    agreement = getattr(study, "agreement", study)
    if not isinstance(agreement, Sequence) or isinstance(agreement, (str, bytes)) or not agreement:
        raise ProxydataTypeError(
            f"study must be a RankingStudy or its non-empty agreement list, got {type(study).__name__}"
        )
    for i, entry in enumerate(agreement):
        if not isinstance(entry, dict) or not {"selection", "ratio", "ceiling"} <= set(entry):
            raise ProxydataValueError(
                f"agreement[{i}] must be a dict with 'selection', 'ratio' and 'ceiling' "
                "(a study_agreement row)"
            )
    return list(agreement)


def _ranking_panel(ax: Any, agreement: list[dict[str, Any]], statistic: str, suffix: str) -> None:
    ref = agreement[0]
    ceiling = ref.get(f"ceiling{suffix}")
    interval = ref.get(f"ceiling{suffix}_ci")
    if interval is not None and all(np.isfinite(interval)):
        ax.axhspan(interval[0], interval[1], color="0.85", label="ceiling's interval")
    if ceiling is not None and np.isfinite(ceiling):
        ax.axhline(ceiling, color="k", lw=1.5, label="ceiling: full data seed-to-seed τ")
    groups: dict[str, list[tuple[float, float]]] = {}
    for entry in agreement[1:]:
        value = entry.get(f"{statistic}{suffix}")
        if value is not None and np.isfinite(value):
            arm = entry.get("arm", "epochs")  # the equal-steps arm is a line of its own
            group = selection_group(entry["selection"]) + ("" if arm == "epochs" else f" [{arm}]")
            groups.setdefault(group, []).append((float(entry["ratio"]), value))
    for group, points in groups.items():
        points.sort()
        style = {"marker": "o"} if len(points) > 1 else {"marker": "*", "ms": 12, "ls": ""}
        ax.plot([p[0] for p in points], [p[1] for p in points], label=group, **style)
    ax.axhline(0, color="0.5", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("kept share r (selection size / full data's)")
    ax.grid(alpha=0.3)


def plot_ranking(study: Any, path: str | None = None, *, statistic: str = "tau_cross") -> Any:
    """How well each selection of a ranking study keeps full data's order, against the kept share.

    One line per method (:func:`selection_group` of the selection names) of
    ``statistic`` (default ``tau_cross``, Kendall's τ with full data across
    different seeds; ``tau`` or ``rho`` also work) against ``ratio`` on a log
    axis, next to the reference's ``ceiling`` (full data's own seed-to-seed τ)
    and its interval when the study has one. A second panel shows the top half
    of the cells (``<statistic>_top``) when the study measured it. A selection
    alone in its group is a star.

    Parameters
    ----------
    study : RankingStudy or list of dict
        A :class:`~proxydata.fidelity.RankingStudy`, or its ``agreement`` (the
        reference first, as :func:`~proxydata.fidelity.study_agreement` returns it).
    path : str, optional
        Save the figure there too.
    statistic : str
        The agreement column drawn.

    Returns
    -------
    matplotlib.figure.Figure
    """
    agreement = _agreement(study)
    if not any(statistic in entry for entry in agreement):
        raise ProxydataValueError(f"statistic={statistic!r} is not a column of the agreement")
    top = any(np.isfinite(e.get(f"{statistic}_top", np.nan)) for e in agreement[1:])
    fig = _figure((10, 4) if top else (5.5, 4))
    axes = list(np.atleast_1d(fig.subplots(1, 2 if top else 1, sharey=True)))
    for ax, suffix, title in zip(axes, ("", "_top"), ("all cells", "top half of the cells")):
        _ranking_panel(ax, agreement, statistic, suffix)
        ax.set_title(title)
    axes[0].set_ylabel(f"{statistic} with full data")
    axes[-1].legend(fontsize=7, ncol=2, framealpha=0.9)
    fig.tight_layout()
    return _save(fig, path)


#: Colours of :func:`plot_ranking_gaps` per verdict.
VERDICT_COLOURS = {"keeps": "tab:green", "loses": "tab:red", "undecided": "0.45"}


def plot_ranking_gaps(
    study: Any,
    path: str | None = None,
    *,
    order: Sequence[str] | None = None,
    titles: dict[str, str] | None = None,
) -> Any:
    """Every selection's gap to the ceiling with its interval and verdict, one panel per arm.

    The gap is ``tau_cross - ceiling`` (:func:`~proxydata.fidelity.study_agreement`);
    a selection *keeps* the ranking when its interval lies above the margin
    ``-delta`` (drawn dashed), *loses* it when the interval lies below, and is
    *undecided* otherwise (:func:`~proxydata.fidelity.margin_verdict`); the
    colour is the verdict. Selections are grouped into panels by their ``arm``
    (``"epochs"`` when absent).

    Parameters
    ----------
    study : RankingStudy or list of dict
        A :class:`~proxydata.fidelity.RankingStudy` or its ``agreement`` (from
        :func:`~proxydata.fidelity.family_agreement` for family-wise intervals),
        the reference first; entries need ``gap``, ``gap_ci`` and ``verdict``,
        the reference ``delta``.
    path : str, optional
        Save the figure there too.
    order : sequence of str, optional
        The selections top to bottom (default: as they first appear).
    titles : dict, optional
        A panel title per arm (default: the arm's name).

    Returns
    -------
    matplotlib.figure.Figure
    """
    agreement = _agreement(study)
    ref, entries = agreement[0], agreement[1:]
    missing = [e["selection"] for e in entries if not {"gap", "gap_ci", "verdict"} <= set(e)]
    if not entries or missing or "delta" not in ref:
        raise ProxydataValueError(
            "study must have selections with 'gap', 'gap_ci' and 'verdict' and a reference with 'delta' "
            f"(study_agreement's verdict columns); missing for {missing or 'the reference'}"
        )
    arms = list(dict.fromkeys(e.get("arm", "epochs") for e in entries))
    names = list(order) if order is not None else []
    names += [n for n in dict.fromkeys(e["selection"] for e in entries) if n not in names]
    fig = _figure((5.2 * len(arms), max(3.0, 0.3 * len(names) + 1.5)))
    axes = np.atleast_1d(fig.subplots(1, len(arms), sharey=True, squeeze=False)[0])
    for ax, arm in zip(axes, arms):
        for entry in (e for e in entries if e.get("arm", "epochs") == arm):
            y, colour = names.index(entry["selection"]), VERDICT_COLOURS.get(entry["verdict"], "0.45")
            ax.plot(list(entry["gap_ci"]), [y, y], color=colour, lw=2.5)
            ax.plot([entry["gap"]], [y], "o", color=colour, ms=5)
        ax.axvline(-ref["delta"], color="k", ls="--", lw=1, label=f"margin −δ = {-ref['delta']:.2f}")
        ax.axvline(0, color="0.6", lw=0.8)
        ax.set_title((titles or {}).get(arm, arm), fontsize=9)
        ax.set_xlabel("gap τ× − ceiling (Kendall τ)")
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names, fontsize=7)
    axes[0].invert_yaxis()
    for verdict, colour in VERDICT_COLOURS.items():
        axes[0].plot([], [], color=colour, lw=2.5, label=verdict)
    axes[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return _save(fig, path)
