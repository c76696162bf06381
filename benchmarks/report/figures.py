"""The page's figures: kept share and balance per epoch, accuracy against samples, Hessian eigenvalue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from proxydata.experiment import data_used

from .limits import LIMIT_STYLES, limit_families
from .records import C10, Group, Record, acc, arch_steps, groups_of, row_name


def _kept_and_balance_figure(plt: Any, families: dict[str, dict[str, list[Record]]], path: Path) -> None:
    """One row per BDP setting: kept training share and both balance degrees per epoch, by limit."""
    fig, axes = plt.subplots(len(families), 3, figsize=(14, 2.3 * len(families)), squeeze=False)
    for row, (setting, by_limit) in zip(axes, families.items()):
        for limit, recs in by_limit.items():
            hist = [r["pruner_history"] for r in recs if r.get("pruner_history")]
            if not hist:
                continue
            n = min(len(h) for h in hist)
            epochs = [h["epoch"] for h in hist[0][:n]]
            pool = recs[0]["train_pool"]
            series = (
                np.mean([[e["n_train"] / pool for e in h[:n]] for h in hist], axis=0),
                np.mean([[e["train_balance"] for e in h[:n]] for h in hist], axis=0),
                np.mean([[e["val_balance"] for e in h[:n]] for h in hist], axis=0),
            )
            style, color = LIMIT_STYLES[limit]
            for ax, values in zip(row, series):
                ax.plot(epochs, values, style, color=color, label=f"limit={limit} ({len(hist)})")
        row[0].set_ylabel(setting.replace(" bdp ", "\n"), fontsize=7)
        row[2].legend(fontsize=6, loc="lower left")
    for ax, title in zip(
        axes[0], ("kept training share", "training balance degree B", "validation balance B")
    ):
        ax.set_title(title)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def figures(records: list[Record], fig_dir: Path) -> list[str]:
    """Kept size and balance per epoch, accuracy vs samples processed, eigenvalue trajectories."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = groups_of(records)
    fig_dir.mkdir(parents=True, exist_ok=True)
    out = []

    families = limit_families(groups)
    if families:
        _kept_and_balance_figure(plt, families, fig_dir / "bdp_kept_and_balance.png")
        out += [
            "![kept size and class balance per epoch, by class limit](figures/bdp_kept_and_balance.png)",
            "",
        ]

    fig, ax = plt.subplots(figsize=(13, 6))
    ax.set_prop_cycle(color=[plt.cm.tab20(i % 20) for i in range(40)])
    for key, recs in sorted(groups.items(), key=lambda kv: row_name(kv[0])):
        if key[0] not in ("darts-v1", "beta-darts"):
            continue
        x = [100 * data_used(r) for r in recs]
        y = [acc(r, C10) for r in recs]
        marker = {"full": "s", "bdp": "o"}.get(key[1], "^")
        ax.errorbar(np.mean(x), np.mean(y), yerr=np.std(y), fmt=marker, capsize=3, label=row_name(key))
    ax.set_xlabel("samples processed, % of full-data search")
    ax.set_ylabel("CIFAR-10 accuracy of the found cell (%, mean ± std)")
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5), ncol=2)
    fig.tight_layout()
    fig.savefig(fig_dir / "accuracy_vs_samples.png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    out += ["![accuracy against samples processed](figures/accuracy_vs_samples.png)", ""]

    hess = {k: [r for r in v if r.get("hessian_eigenvalues")] for k, v in groups.items()}
    hess = {k: v for k, v in hess.items() if v}
    if hess:
        _hessian_figure(plt, hess, fig_dir / "hessian_eigenvalue.png")
        out += [
            "![dominant Hessian eigenvalue by epoch and by step](figures/hessian_eigenvalue.png)",
            "",
        ]
    return out


def _hessian_figure(plt: Any, hess: dict[Group, list[Record]], path: Path) -> None:
    """Mean dominant eigenvalue against epochs (left) and against architecture steps made (right).

    BDP makes fewer architecture steps per epoch as its splits shrink (one per
    training batch), so the right panel compares the runs at equal steps.
    """
    fig, (by_epoch, by_step) = plt.subplots(1, 2, figsize=(13, 5))
    for key, recs in sorted(hess.items(), key=lambda kv: row_name(kv[0])):
        n = min(len(r["hessian_eigenvalues"]) for r in recs)
        ev = np.array([r["hessian_eigenvalues"][:n] for r in recs]).mean(axis=0)
        steps = np.array([arch_steps(r)[:n] for r in recs]).mean(axis=0)
        style = "--" if key[1] == "full" else "-"
        (line,) = by_epoch.plot(range(1, n + 1), ev, style, label=f"{row_name(key)} ({len(recs)})")
        by_step.plot(steps, ev, style, color=line.get_color())
    by_epoch.set_xlabel("epoch")
    by_step.set_xlabel("architecture steps made (mean over seeds)")
    for ax in (by_epoch, by_step):
        ax.set_ylabel("dominant eigenvalue of ∇²_α L_val")
    by_epoch.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
