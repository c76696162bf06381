"""Cost of the dataset fingerprint a saved proxy is checked against (issue 9).

Times, in one run, on each dataset and in two forms:

* ``labels only`` — the fingerprint of proxydata 0.1 (length + a hash of the labels),
  ``dataset_fingerprint(labels)``;
* ``labels + 64 items`` — today's ``dataset_fingerprint(dataset)``: the labels plus
  a hash of 64 evenly spaced items;
* ``every item`` — the obvious alternative: the labels plus a hash of every
  item's float32 values, read the same way.

Forms: ``array`` — an :class:`~proxydata.ArrayDataset` (the stored array is
sliced); ``items`` — the same data behind a dataset that only has ``__getitem__``,
``__len__`` and ``.targets`` (as a torchvision dataset with ``ToTensor``), read one
item at a time.

Datasets: scikit-learn's digits (1,797 × 1×8×8, always available) and the
CIFAR-10 training set at 16×16 (50,000 × 3×16×16, ``cifar10_16x16.npz`` from
``$PROXYDATA_SHARED_DATA`` or ``<repo>/../shared/data``; skipped when absent).
Each figure is the median of ``--repeat`` runs (default 5) with one torch thread.

    python benchmarks/fingerprint.py                    # writes benchmarks/results/fingerprint.md
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from proxydata import ArrayDataset, load_digits
from proxydata.data import array_digest
from proxydata.fingerprint import dataset_fingerprint
from proxydata.items import input_tensor, pixels_to_float

REPO = Path(__file__).resolve().parents[1]


class ItemsOnly(torch.utils.data.Dataset):
    """The data behind ``__getitem__``/``__len__``/``.targets`` only: items are read one by one."""

    def __init__(self, dataset: ArrayDataset) -> None:
        self.dataset = dataset
        self.targets = dataset.targets

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        return self.dataset[i]


def every_item_digest(dataset) -> str:
    """The alternative: labels plus a sha256 over every item's float32 values."""
    digest = hashlib.sha256()
    if isinstance(dataset, ArrayDataset):
        for start in range(0, len(dataset), 4096):
            digest.update(
                pixels_to_float(dataset.images[start : start + 4096], dataset.scale).numpy().tobytes()
            )
    else:
        for i in range(len(dataset)):
            digest.update(pixels_to_float(input_tensor(dataset[i][0])).numpy().tobytes())
    return f"n={len(dataset)};labels={array_digest(dataset.targets)};all={digest.hexdigest()[:16]}"


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def shared_data() -> Path:
    env = os.environ.get("PROXYDATA_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def datasets() -> list[tuple[str, ArrayDataset]]:
    out = [("digits (1,797 × 1×8×8)", load_digits())]
    path = shared_data() / "cifar10_16x16.npz"
    if path.is_file():
        with np.load(path) as z:
            out.append(
                (
                    "CIFAR-10 16×16 (50,000 × 3×16×16)",
                    ArrayDataset(z["x_train"], z["y_train"].astype(np.int64)),
                )
            )
    else:
        print(f"skipping CIFAR-10: {path} not found")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "fingerprint.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name, data in datasets():
        for form, ds in (("array", data), ("items", ItemsOnly(data))):
            cells = [
                median_seconds(lambda ds=ds: dataset_fingerprint(ds.targets), args.repeat),
                median_seconds(lambda ds=ds: dataset_fingerprint(ds), args.repeat),
                median_seconds(lambda ds=ds: every_item_digest(ds), args.repeat),
            ]
            rows.append((name, form, *cells))
            print(name, form, " ".join(f"{c * 1000:.2f} ms" for c in cells))
    lines = [
        "# Dataset fingerprint: cost",
        "",
        "Written by `benchmarks/fingerprint.py` (median of "
        f"{args.repeat} runs, one torch thread, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs shared with other work, torch {torch.__version__}).",
        "",
        "| dataset | form | labels only (0.1) | labels + 64 items (now) | every item (alternative) |",
        "|---|---|---:|---:|---:|",
    ]
    for name, form, a, b, c in rows:
        lines.append(f"| {name} | {form} | {a * 1000:.2f} ms | {b * 1000:.2f} ms | {c * 1000:.1f} ms |")
    lines += [
        "",
        "`array`: an `ArrayDataset`, whose stored array is sliced; `items`: the same data read one item",
        "at a time (a dataset with only `__getitem__`, `__len__` and `.targets`). The content part reads",
        "64 items whatever the dataset's size (65 in the `items` form: one item is read twice to detect a",
        "random transform), so its cost does not grow with `n`; hashing every item grows linearly.",
        "",
    ]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
