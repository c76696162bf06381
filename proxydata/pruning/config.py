"""The validated settings of a :class:`~proxydata.BiLevelPruner` and its identity.

:class:`PrunerConfig` checks every argument once, naming it and the value
received; :meth:`PrunerConfig.identity` is what a state dict must match and
:meth:`PrunerConfig.fingerprint` what every rank of a process group must share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._validation import (
    check_bool,
    check_choice,
    check_device,
    check_fraction,
    check_indices,
    check_int,
    show,
)
from ..data import array_digest
from ..exceptions import ProxydataTypeError, ProxydataValueError
from ..metrics import class_prune_limits
from ..samplers.sharding import resolve_replicas

__all__ = ["ADDED_SETTINGS", "LIMIT_STEPS", "PRUNING_MODES", "SCORES", "PrunerConfig", "checked_splits"]

CRITERIA = ("low", "high")
#: What a step ranks samples by: VoE over the window (BDP), or their mean EL2N over it (Paul et al.).
SCORES = ("voe", "el2n")
#: How the pruning is spread: BDP's steps at epochs T, 2T, ..., or the whole amount once at epoch T.
PRUNING_MODES = ("progressive", "once")
#: Settings added after state-dict format 2 appeared, with the value a state without them was made with.
#: ``S`` of the class-balance limit: BDP's ``E / T`` ("paper"), or the number of steps taken.
LIMIT_STEPS = ("paper", "taken")
#: Settings added after format version 1, with the value a state dict without them was made with.
ADDED_SETTINGS = {"score": "voe", "pruning": "progressive", "limit_steps": "taken"}


def checked_splits(train_indices: Any, val_indices: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Both splits as sorted int64 arrays: non-empty, unique, in ``[0, n)``, disjoint."""
    train = np.sort(check_indices(train_indices, n, "train_indices"))
    val = np.sort(check_indices(val_indices, n, "val_indices"))
    for name, part in (("train_indices", train), ("val_indices", val)):
        if part.size == 0:
            raise ProxydataValueError(f"{name} must not be empty")
    overlap = np.intersect1d(train, val)
    if overlap.size:
        raise ProxydataValueError(
            f"train_indices and val_indices must be disjoint, both contain {overlap[:5].tolist()}"
            + (" ..." if overlap.size > 5 else "")
        )
    return train, val


@dataclass(frozen=True)
class PrunerConfig:
    """Every setting of a pruner, validated (see :class:`~proxydata.BiLevelPruner`)."""

    epochs: int
    interval: int
    train_prune_ratio: float
    val_prune_ratio: float
    train_criterion: str
    val_criterion: str
    class_balance: bool
    min_per_class: int
    seed: int
    num_replicas: int
    rank: int
    limit_fn: Callable[..., Any]
    device: torch.device | None
    num_classes: int
    score: str = "voe"
    pruning: str = "progressive"
    limit_steps: str = "paper"

    @classmethod
    def from_arguments(cls, *, max_label: int, **kw: Any) -> PrunerConfig:
        """Check the constructor's keyword arguments; ``max_label`` bounds ``num_classes``."""
        limit_fn = class_prune_limits if kw["limit_fn"] is None else kw["limit_fn"]
        if not callable(limit_fn):
            raise ProxydataTypeError(
                f"limit_fn must be callable (counts, num_steps, balance), got {show(limit_fn)}"
            )
        num_replicas, rank = resolve_replicas(kw["num_replicas"], kw["rank"])
        k = kw["num_classes"]
        return cls(
            epochs=check_int(kw["epochs"], "epochs", minimum=1),
            interval=check_int(kw["interval"], "interval", minimum=2),
            train_prune_ratio=check_fraction(kw["train_prune_ratio"], "train_prune_ratio", high_open=True),
            val_prune_ratio=check_fraction(kw["val_prune_ratio"], "val_prune_ratio", high_open=True),
            train_criterion=check_choice(kw["train_criterion"], "train_criterion", CRITERIA),
            val_criterion=check_choice(kw["val_criterion"], "val_criterion", CRITERIA),
            class_balance=check_bool(kw["class_balance"], "class_balance"),
            min_per_class=check_int(kw["min_per_class"], "min_per_class", minimum=1),
            # seed + 2**32 + epoch seeds a torch.Generator, which takes at most 2**64 - 1
            seed=check_int(kw["seed"], "seed", minimum=0, maximum=2**63 - 1),
            num_replicas=num_replicas,
            rank=rank,
            limit_fn=limit_fn,
            device=None if kw["device"] is None else check_device(kw["device"]),
            num_classes=max_label + 1 if k is None else check_int(k, "num_classes", minimum=max_label + 1),
            score=check_choice(kw.get("score", "voe"), "score", SCORES),
            pruning=check_choice(kw.get("pruning", "progressive"), "pruning", PRUNING_MODES),
            limit_steps=check_choice(kw.get("limit_steps", "paper"), "limit_steps", LIMIT_STEPS),
        )

    def limit_steps_count(self, steps_taken: int) -> int:
        """``S`` passed to the limit function: ``max(1, epochs // interval)`` or ``steps_taken``.

        BDP (Sec. 3.2.4): "for a search process of E epochs and data pruning
        interval T, S = E / T" (``E // T`` when T does not divide E). The
        schedule itself prunes after epochs ``T, 2T, … < E`` (a step needs an
        epoch after it), one step fewer when T divides E: ``limit_steps="taken"``
        uses that count instead (this library's rule up to 0.2).
        """
        if self.limit_steps == "taken":
            return max(1, int(steps_taken))
        return max(1, self.epochs // self.interval)

    @property
    def limit_name(self) -> str:
        return getattr(self.limit_fn, "__qualname__", type(self.limit_fn).__qualname__)

    def identity(self, targets: np.ndarray, train: np.ndarray, val: np.ndarray) -> dict[str, Any]:
        """What a state dict must have been made with (the ``config`` of format version 1).

        Targets and splits enter as :func:`proxydata.data.array_digest` values.
        ``score``, ``pruning`` and ``limit_steps`` were added later: a state dict
        without them was made with the values of :data:`ADDED_SETTINGS`.
        """
        return {
            "n": int(targets.shape[0]),
            "targets": array_digest(targets),
            "train_indices": array_digest(train),
            "val_indices": array_digest(val),
            "epochs": self.epochs,
            "interval": self.interval,
            "train_prune_ratio": self.train_prune_ratio,
            "val_prune_ratio": self.val_prune_ratio,
            "train_criterion": self.train_criterion,
            "val_criterion": self.val_criterion,
            "class_balance": self.class_balance,
            "min_per_class": self.min_per_class,
            "seed": self.seed,
            "limit_fn": self.limit_name,
            "score": self.score,
            "pruning": self.pruning,
            "limit_steps": self.limit_steps,
        }

    def fingerprint(self, targets: np.ndarray, train: np.ndarray, val: np.ndarray) -> dict[str, Any]:
        """The fields every rank must share (arrays by content)."""
        same = self.identity(targets, train, val)
        same.update(targets=targets, train_indices=train, val_indices=val, num_classes=self.num_classes)
        return same
