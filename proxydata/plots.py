"""Figures of search runs, in the layout of the two papers (needs the ``plot`` extra).

Every function takes *records*: a list of dicts as written by
``benchmarks/reproduce.py`` or returned by :func:`proxydata.experiment.run_search`
(keys ``algo``, ``method``, ``ratio``, ``seed``, ``search_seconds``,
``genotype``, ``accuracies``, ``train_sizes``, ``val_sizes``), so the same
figures can be drawn from a user's own runs. Each returns the matplotlib
``Figure``; nothing is shown or saved unless ``path`` is given.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from .nas import NB201_OPS, Genotype

__all__ = [
    "group_mean_std",
    "plot_accuracy_vs_ratio",
    "plot_kept_sizes",
    "plot_operation_distribution",
    "plot_time_vs_ratio",
]


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("proxydata.plots needs matplotlib: pip install 'proxydata[plot]'") from exc
    return plt


def _check_records(records: Any) -> list[dict[str, Any]]:
    if not isinstance(records, Sequence) or isinstance(records, (str, bytes)):
        raise TypeError(f"records must be a list of run dicts, got {type(records).__name__}")
    if not records:
        raise ValueError("records must not be empty")
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise TypeError(f"records[{i}] must be a dict, got {type(rec).__name__}")
    return list(records)


def _value(rec: dict[str, Any], key: str) -> float:
    if key in rec:
        return float(rec[key])
    acc = rec.get("accuracies") or {}
    if key in acc:
        return float(acc[key])
    raise KeyError(f"record has no {key!r} (keys: {sorted(rec)})")


def group_mean_std(
    records: Sequence[dict[str, Any]], key: str, by: tuple[str, ...] = ("algo", "method", "ratio")
) -> dict[tuple, tuple[float, float, int]]:
    """Mean, population std and count of ``key`` per group of ``by`` fields.

    ``key`` is a record field (``search_seconds``) or an accuracy column
    (``cifar10_test_200ep``).
    """
    groups: dict[tuple, list[float]] = defaultdict(list)
    for rec in _check_records(records):
        groups[tuple(rec[b] for b in by)].append(_value(rec, key))
    return {g: (float(np.mean(v)), float(np.std(v)), len(v)) for g, v in sorted(groups.items())}


def _save(fig: Any, path: str | None) -> Any:
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


def _lines_vs_ratio(records: Sequence[dict[str, Any]], key: str, ylabel: str, path: str | None) -> Any:
    plt = _pyplot()
    stats = group_mean_std(records, key)
    algos = sorted({g[0] for g in stats})
    fig, axes = plt.subplots(1, len(algos), figsize=(5 * len(algos), 3.8), squeeze=False)
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
    plt = _pyplot()
    counts: dict[tuple[str, float], np.ndarray] = defaultdict(lambda: np.zeros(len(NB201_OPS)))
    for rec in _check_records(records):
        g = Genotype.parse(rec["genotype"])
        for op in g.ops:
            counts[(rec["algo"], float(rec["ratio"]))][NB201_OPS.index(op)] += 1
    keys = sorted(counts)
    shares = np.array([counts[k] / counts[k].sum() for k in keys])
    fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(keys) + 2), 3.8))
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
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for rec in _check_records(records):
        label = f"{rec.get('method', '?')} s{rec.get('seed', '?')}"
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
