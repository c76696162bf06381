"""``proxydata select METHOD --data SRC --ratio R [-o FILE]``: compute, report and save a proxy."""

from __future__ import annotations

import argparse
import time

import numpy as np

from .._validation import check_ratio
from .arrays import check_features_rows, read_indices_file
from .checks import check_output, check_source
from .options import check_proxy_inputs, method_kwargs

__all__ = ["class_table", "cmd_select"]


def class_table(
    counts_full: np.ndarray, counts_kept: np.ndarray, width: int = 10, classes: np.ndarray | None = None
) -> list[str]:
    """Per-class counts as rows of ``width`` classes (readable for 100 classes too).

    ``classes`` are the class ids the columns stand for (default ``0, 1, ...``).
    """
    ids = np.arange(counts_full.size) if classes is None else np.asarray(classes)
    lines = []
    for start in range(0, counts_full.size, width):
        cols = range(start, min(start + width, counts_full.size))
        lines.append("  class " + "".join(f"{int(ids[c]):>7d}" for c in cols))
        lines.append("  all   " + "".join(f"{int(counts_full[c]):>7d}" for c in cols))
        lines.append("  kept  " + "".join(f"{int(counts_kept[c]):>7d}" for c in cols))
    return lines


def cmd_select(args: argparse.Namespace) -> int:
    """``proxydata select``: build a proxy sampler, report it, save it."""
    from ..datasets import load_source
    from ..metrics import class_balance_degree, class_counts
    from ..samplers import make_proxy

    # every check first: nothing is loaded or computed for a command that would fail
    method = args.method
    ratio = check_ratio(args.ratio, "--ratio")
    kwargs = method_kwargs(args, method)
    check_output(args.output, suffixes=(".json", ".npz"))
    check_proxy_inputs(method, kwargs, "select")
    check_source(args.data, args.download)

    dataset = load_source(args.data, download=args.download)
    targets = np.asarray(dataset.targets, dtype=np.int64)
    # --indices: the split to select within (dataset indices); --features: one row per sample of --data
    split = None if getattr(args, "indices", None) is None else read_indices_file(args.indices, targets.size)
    if isinstance(kwargs.get("features"), str) and kwargs["features"] != "pixels":
        check_features_rows(kwargs["features"], targets.size)
    if split is not None:
        kwargs["indices"] = split
    start = time.perf_counter()
    proxy = make_proxy(
        method, dataset, ratio=ratio, seed=args.seed, progress=not args.no_progress, targets=targets, **kwargs
    )
    seconds = time.perf_counter() - start

    # only the classes present count: unused ids would pull the balance degree down
    pool = targets if split is None else targets[split]
    classes = np.unique(pool)
    full = class_counts(pool, classes=classes)
    kept = class_counts(targets[proxy.indices], classes=classes)
    n, m = pool.size, int(proxy.indices.size)
    of = "" if split is None else f" (the {n} indices of {args.indices})"
    print(
        f"{method} proxy of {args.data}{of}: kept {m} of {n} samples ({100.0 * m / n:.1f} %), "
        f"ratio {ratio:g}, seed {args.seed}"
    )
    print("per-class counts:")
    for line in class_table(full, kept, classes=classes):
        print(line)
    print(
        f"class balance degree: kept {class_balance_degree(kept):.4f} "
        f"(all data {class_balance_degree(full):.4f})"
    )
    print(f"selection time: {seconds:.2f} s")
    cost = proxy.selection_cost or {}
    print(
        f"selection cost: {cost.get('samples', 0)} sample passes through a network, "
        f"{cost.get('cpu_seconds', 0.0):.2f} CPU s (this process)"
    )
    if args.output:
        proxy.save(args.output)
        print(f"wrote {args.output}")
    return 0
