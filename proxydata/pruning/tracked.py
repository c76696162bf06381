"""The samples a pruner tracks: dataset index ↔ buffer position, split, pruning epoch.

Both splits share one score buffer; :class:`TrackedSet` maps a dataset index to
its column (``position``) in it, remembers which split it belongs to and after
which epoch it was pruned (0 while kept), and checks the indices ``observe``
receives.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..exceptions import ProxydataTypeError, ProxydataValueError

__all__ = ["TrackedSet"]


class TrackedSet:
    """Positions, labels, split membership and pruning epoch of every tracked sample.

    Parameters
    ----------
    targets : np.ndarray of int64, shape (n,)
        Labels of the whole dataset.
    splits : sequence of (name, sorted indices)
        Disjoint splits; position order is ascending dataset index.
    """

    def __init__(self, targets: np.ndarray, splits: list[tuple[str, np.ndarray]]) -> None:
        self.n = int(targets.shape[0])
        self.names = [name for name, _ in splits]
        self.indices = np.sort(np.concatenate([idx for _, idx in splits]))
        self.pos = np.full(self.n, -1, dtype=np.int64)
        self.pos[self.indices] = np.arange(self.indices.size, dtype=np.int64)
        self.labels = np.ascontiguousarray(targets[self.indices], dtype=np.int64)
        self.split_id = np.zeros(self.indices.size, dtype=np.int8)
        for k, (_, idx) in enumerate(splits):
            self.split_id[self.pos[idx]] = k
        # 0 while kept, else the epoch after which the sample was pruned.
        self.pruned_at = np.zeros(self.indices.size, dtype=np.int32)
        self.observable = np.zeros(self.n, dtype=bool)  # kept tracked samples, for observe()
        self.observable[self.indices] = True

    def __len__(self) -> int:
        return int(self.indices.size)

    def positions(self, indices: np.ndarray) -> np.ndarray:
        """Buffer positions of tracked dataset indices."""
        return self.pos[indices]

    def mark_pruned(self, indices: np.ndarray, epoch: int) -> None:
        """Record that ``indices`` were pruned after ``epoch``."""
        self.pruned_at[self.pos[indices]] = epoch
        self.observable[indices] = False

    def set_pruned_at(self, pruned_at: np.ndarray) -> None:
        """Replace the whole record (validated by the caller)."""
        self.pruned_at = pruned_at.astype(np.int32, copy=True)
        self.observable[:] = False
        self.observable[self.indices[self.pruned_at == 0]] = True

    def check_observed(self, indices: Any) -> np.ndarray:
        """``indices`` as int64 if every one is a kept tracked sample, else raise naming the first bad one."""
        if isinstance(indices, torch.Tensor):
            if indices.dtype.is_floating_point or indices.dtype.is_complex or indices.dtype == torch.bool:
                raise ProxydataTypeError(f"indices must be an integer tensor, got dtype {indices.dtype}")
            arr = indices.numpy() if indices.device.type == "cpu" else indices.cpu().numpy()
        elif isinstance(indices, np.ndarray):
            arr = indices
        elif isinstance(indices, (list, tuple, range)):
            arr = np.asarray(indices)
            if arr.size == 0:
                arr = arr.astype(np.int64)
        else:
            raise ProxydataTypeError(
                f"indices must be a 1-D integer tensor, array or sequence, got {type(indices).__name__}"
            )
        if arr.ndim != 1:
            raise ProxydataValueError(f"indices must be 1-D, got shape {tuple(arr.shape)}")
        if arr.dtype.kind not in "iu":
            raise ProxydataTypeError(f"indices must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64, copy=False)
        if arr.size:
            lo, hi = int(arr.min()), int(arr.max())
            if lo < 0 or hi >= self.n:
                bad = lo if lo < 0 else hi
                raise ProxydataValueError(f"indices must be dataset indices in [0, {self.n}), got {bad}")
            ok = self.observable[arr]
            if not ok.all():
                raise ProxydataValueError(self._why_not_observable(int(arr[np.argmin(ok)])))
        return arr

    def _why_not_observable(self, index: int) -> str:
        pos = int(self.pos[index])
        if pos < 0:
            return f"indices: index {index} is in neither train_indices nor val_indices of this pruner"
        split = self.names[int(self.split_id[pos])]
        return (
            f"indices: index {index} was pruned from the {split} split after epoch "
            f"{int(self.pruned_at[pos])}; draw batches through pruner.{split}_sampler, which "
            "shrinks in place, and create the loader's iterator afresh each epoch (an iterator "
            "kept across step() may still deliver batches its workers fetched before it)"
        )
