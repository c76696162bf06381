"""``proxydata demo``: one short search, three ways, on scikit-learn's digits.

The same DARTS-V1 search (a small NAS-Bench-201 supernet, C = 8, N = 1, for the
8×8 images) runs on

1. the full search data,
2. a static CC-OR proxy of ratio 0.5 of the training split (Moser et al., 2022),
3. the full data with :class:`~proxydata.BiLevelPruner` (Tu et al., 2023),

and each found cell is trained briefly from scratch and tested on a stratified
hold-out that no search saw. Everything runs offline on the CPU in about a
minute; the numbers are a smoke test of the wiring, not a benchmark (1,438
search images cannot rank NAS-Bench-201 cells reliably).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch.utils.data import Subset

from ._validation import check_bool, check_int, check_seed
from .data import split_indices
from .datasets import load_digits
from .experiment import SearchConfig, data_used, evaluate_genotype, run_search

__all__ = ["DEMO_EPOCHS", "DEMO_SCRATCH_EPOCHS", "format_table", "run_demo"]

DEMO_EPOCHS = 10
DEMO_SCRATCH_EPOCHS = 10
TEST_FRACTION = 0.2


def _runs(epochs: int) -> list[tuple[str, dict[str, Any]]]:
    # The pruner prunes 10 % of each initial split every ``interval`` epochs,
    # about four times over the search (VoE needs a window of >= 2 epochs).
    interval = max(2, epochs // 5)
    return [
        ("full data", {}),
        ("CC-OR r=0.5", {"proxy": "cc-or", "ratio": 0.5}),
        (
            "BiLevelPruner",
            {
                "bdp": True,
                "bdp_kwargs": {
                    "interval": interval,
                    "train_prune_ratio": 0.1,
                    "val_prune_ratio": 0.1,
                    "class_balance": True,
                },
            },
        ),
    ]


def _splits(targets: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(search pool, DARTS training split, validation split, test hold-out), all stratified."""
    pool, test = split_indices(targets.size, 1.0 - TEST_FRACTION, seed=seed, stratify=targets)
    first, second = split_indices(pool.size, 0.5, seed=seed, stratify=targets[pool])
    return pool, pool[first], pool[second], test


def run_demo(
    epochs: int = DEMO_EPOCHS,
    scratch_epochs: int = DEMO_SCRATCH_EPOCHS,
    *,
    seed: int = 0,
    device: str = "cpu",
    C: int = 8,
    N: int = 1,
    batch_size: int = 64,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the demo and return its JSON-able record.

    Data: digits (1,797 images) → a stratified 20 % test hold-out; the rest is
    split in stratified halves, the DARTS training and validation splits.

    Parameters
    ----------
    epochs : int
        Search epochs of each of the three runs.
    scratch_epochs : int
        Epochs of training each found cell from scratch on both search splits.
    seed : int
        Seeds the splits, the proxy, the pruner, the searches and the training.
    device : str
    C, N, batch_size : int
        Supernet and stand-alone network size, batch size.
    progress : bool
        Progress bars and the searches' epoch lines, each run announced by a line
        ``== demo run k/3: NAME (E search epochs) ==``.

    Returns
    -------
    dict
        ``settings`` and ``runs``: one entry per run with its ``name``, the
        :func:`~proxydata.experiment.run_search` ``record`` and ``from_scratch``
        (the found cell's :func:`~proxydata.experiment.evaluate_genotype`, with its
        test accuracy), both as their ``to_dict()``.
    """
    epochs = check_int(epochs, "epochs", minimum=1)
    scratch_epochs = check_int(scratch_epochs, "scratch_epochs", minimum=1)
    seed = check_seed(seed)
    progress = check_bool(progress, "progress")
    dataset = load_digits()
    pool, train_idx, val_idx, test = _splits(dataset.targets, seed)
    train_set, test_set = Subset(dataset, pool.tolist()), Subset(dataset, test.tolist())
    sizes = dict(C=C, N=N, batch_size=batch_size, seed=seed, device=device, progress=progress)

    runs = []
    plan = _runs(epochs)
    for k, (name, overrides) in enumerate(plan, start=1):
        if progress:  # the searches' logs look alike: say which run follows
            print(f"== demo run {k}/{len(plan)}: {name} ({epochs} search epochs) ==", flush=True)
        config = SearchConfig(algo="darts-v1", epochs=epochs, **sizes, **overrides)
        record = run_search(dataset, train_idx, val_idx, config)
        scratch = evaluate_genotype(
            record.genotype, train_set, test_set, epochs=scratch_epochs, num_classes=10, **sizes
        )
        runs.append({"name": name, "record": record.to_dict(), "from_scratch": scratch.to_dict()})
    return {
        "settings": {
            "data": "digits",
            "algo": "darts-v1",
            "epochs": epochs,
            "scratch_epochs": scratch_epochs,
            "seed": seed,
            "C": C,
            "N": N,
            "batch_size": batch_size,
            "train_split": int(train_idx.size),
            "val_split": int(val_idx.size),
            "test": int(test.size),
        },
        "runs": runs,
    }


def format_table(result: dict[str, Any]) -> str:
    """The side-by-side table the demo prints."""
    s = result["settings"]
    head = (
        f"DARTS-V1 on digits: {s['epochs']} search epochs, supernet C={s['C']} N={s['N']}; "
        f"splits train {s['train_split']} / val {s['val_split']}; each cell trained "
        f"{s['scratch_epochs']} epochs from scratch, tested on {s['test']} held-out images"
    )
    header = ("run", "train kept", "val kept", "data used", "search s", "CPU s", "test acc", "genotype")
    rows = [header]
    for run in result["runs"]:
        r = run["record"]
        rows.append(
            (
                run["name"],
                f"{r.get('final_train', r['kept_train'])}/{r['train_pool']}",
                f"{r.get('final_val', r['val_size'])}/{r['val_size']}",
                f"{data_used(r):.0%}",
                f"{r['search_seconds'] + r.get('proxy_seconds', 0.0):.1f}",
                f"{r['search_cpu_seconds']:.1f}" if "search_cpu_seconds" in r else "-",
                f"{100.0 * run['from_scratch']['test_acc']:.1f} %",
                r["genotype"],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = [head, ""]
    for k, row in enumerate(rows):
        cells = [row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i]) for i in range(len(widths))]
        lines.append("  ".join([*cells, row[-1]]))
        if k == 0:
            lines.append("  ".join(["-" * w for w in widths] + ["-" * len(header[-1])]))
    lines.append("")
    lines.append(
        "data used: samples processed (both splits, all epochs) relative to a full-data search; "
        "search s: wall-clock seconds, including the proxy selection; CPU s: the search's CPU time "
        "in this process, the fairer cost figure on a busy machine."
    )
    return "\n".join(lines)
