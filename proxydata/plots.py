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
    "group_mean_std",
    "plot_accuracy_vs_ratio",
    "plot_kept_sizes",
    "plot_operation_distribution",
    "plot_time_vs_ratio",
    "run_fields",
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


def plot_kept_sizes(records: Sequence[dict[str, Any]], path: str | None = None) -> Any:
    """Training and validation samples used per epoch (BDP, Fig. 3a/b).

    One line per record (label ``method seed``) in two panels.
    """
    fig = _figure((10, 3.8))
    axes = fig.subplots(1, 2)
    for rec in _check_records(records):
        fields = run_fields(rec)
        label = f"{fields['method']} s{fields['seed']}"
        for ax, key in zip(axes, ("train_sizes", "val_sizes")):
            sizes = rec.get(key)
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
