"""The test data of ``search --train-from-scratch`` and ``rank``: never seen by the search or the selections.

The source's own test split when it has one (npz ``x_test``/``y_test``, the
CIFAR test set); otherwise a stratified hold-out of ``--test-fraction`` of the
data, taken first, before anything else is drawn from the rest.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

__all__ = ["hold_out_test", "source_test_split"]


def source_test_split(spec: str, download: bool) -> Any:
    """The source's own test set (npz ``x_test``/``y_test``, CIFAR test), or None."""
    from ..datasets import load_npz, load_torchvision

    kind, _, rest = spec.partition(":")
    if kind == "npz":
        with np.load(rest, allow_pickle=False) as z:
            has_test = "x_test" in z.files and "y_test" in z.files
        return load_npz(rest, split="test") if has_test else None
    if kind in ("cifar10", "cifar100"):
        return load_torchvision(kind, rest, train=False, download=download)
    return None


def hold_out_test(
    args: argparse.Namespace, dataset: Any, targets: np.ndarray
) -> tuple[np.ndarray, Any, int | None]:
    """``(pool, test set, held)`` for ``--data``, ``--download``, ``--test-fraction`` and ``--seed``.

    ``pool`` holds the dataset indices left for the command (all of them when the
    source has its own test split); ``held`` is the size of the stratified
    hold-out, None when the source's test split is used.
    """
    from torch.utils.data import Subset

    from ..data import split_indices

    test_set = source_test_split(args.data, args.download)
    if test_set is not None:
        return np.arange(targets.size, dtype=np.int64), test_set, None
    keep, held = split_indices(targets.size, 1.0 - args.test_fraction, seed=args.seed, stratify=targets)
    return keep, Subset(dataset, np.asarray(held, dtype=np.int64).tolist()), int(held.size)
