"""One split (training or validation) of a :class:`~proxydata.BiLevelPruner`.

A :class:`SplitState` holds what belongs to one split: its settings (prune
ratio, criterion, the count each step asks for), its initial indices and the
classes present in them, and its sampler, whose kept set is the split's kept
set. The class balance degree ``B`` is computed over the classes present
initially (:func:`proxydata.metrics.class_balance_degree`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ..metrics import class_balance_degree
from .history import step_info
from .samplers import KeptSetSampler
from .selection import LimitFn, compute_class_limits, select_for_pruning
from .tracked import TrackedSet

__all__ = ["SplitState", "build_splits"]

# The validation sampler's shuffles are seeded apart from the training sampler's
# (both add the epoch to their seed, so a small offset would make them collide).
VAL_SEED_OFFSET = 2**32


class SplitState:
    """Settings, kept set and class counts of one split.

    Parameters
    ----------
    name : {"train", "val"}
    initial : np.ndarray of int64, sorted
        The split's indices when the pruner was built.
    prune_ratio : float
        Share of the initial split removed per step.
    criterion : {"low", "high"}
        Prune the lowest or the highest VoE first.
    asked : int
        ``round(prune_ratio · n_initial)``.
    tracked : TrackedSet
        The pruner's map of tracked samples (shared by both splits).
    num_classes : int
    sampler : KeptSetSampler
        The split's sampler; its kept set is the split's.
    """

    def __init__(
        self,
        name: str,
        initial: np.ndarray,
        *,
        prune_ratio: float,
        criterion: str,
        asked: int,
        tracked: TrackedSet,
        num_classes: int,
        sampler: KeptSetSampler,
    ) -> None:
        self.name = name
        self.initial = initial
        self.prune_ratio = prune_ratio
        self.criterion = criterion
        self.asked = asked
        self.tracked = tracked
        self.num_classes = num_classes
        self.sampler = sampler
        self.positions = tracked.positions(initial)  # buffer positions of the initial indices
        self.initial_counts = np.bincount(tracked.labels[self.positions], minlength=num_classes)
        self.present = np.flatnonzero(self.initial_counts)
        self.coverage_warned = False

    @property
    def kept(self) -> np.ndarray:
        """Kept dataset indices (sorted, read-only)."""
        return self.sampler.indices

    @property
    def n_initial(self) -> int:
        """Size of the split when the pruner was built."""
        return int(self.initial.size)

    def kept_positions(self) -> np.ndarray:
        """Buffer positions of the kept samples, in index order."""
        return self.tracked.positions(self.kept)

    def class_counts(self) -> np.ndarray:
        """Kept samples per class, length ``num_classes``."""
        labels = self.tracked.labels[self.kept_positions()]
        return np.bincount(labels, minlength=self.num_classes).astype(np.int64)

    def balance_degree(self, counts: np.ndarray | None = None) -> float:
        """``B`` of the kept set (or of ``counts``) over the classes present initially."""
        c = self.class_counts() if counts is None else counts
        return class_balance_degree(c[self.present])

    def remove(self, indices: np.ndarray, epoch: int) -> None:
        """Prune ``indices`` after ``epoch``: the sampler shrinks in place."""
        if indices.size:
            self.tracked.mark_pruned(indices, epoch)
            self.sampler.remove(indices)

    def select(
        self,
        voe_all: np.ndarray,
        num_steps: int,
        limit_fn: LimitFn | None,
        min_per_class: int,
        score: str = "voe",
    ) -> dict[str, Any]:
        """Choose this step's samples (:func:`.selection.select_for_pruning`) and record why.

        ``voe_all`` is the score of every tracked sample — its VoE, or its mean
        EL2N when ``score`` is ``"el2n"`` (NaN: none); ``limit_fn`` None turns the
        class-balance limit off.
        """
        positions = self.kept_positions()
        labels = self.tracked.labels[positions]
        counts = np.bincount(labels, minlength=self.num_classes).astype(np.int64)
        balance = self.balance_degree(counts)
        limits = None
        if limit_fn is not None and self.asked:
            limits, balance = compute_class_limits(counts, self.present, num_steps, limit_fn)
        sel = select_for_pruning(
            self.kept, labels, voe_all[positions], self.asked, self.criterion, self.num_classes,
            min_per_class, limits,
        )  # fmt: skip
        return step_info(sel, self.criterion, counts, balance, limits, int(positions.size), score)

    def facts(self, info: dict[str, Any] | None, kept_before: int, observed: int) -> dict[str, Any]:
        """This split's part of a history entry, after the epoch's step (see :func:`.history.make_entry`)."""
        counts = self.class_counts()
        return {
            "name": self.name,
            "n": int(self.kept.size),
            "counts": counts,
            "balance": self.balance_degree(counts),
            "observed": observed,
            "unobserved": kept_before - observed,
            "info": info,
        }

    def restore(self, pruned_at: np.ndarray) -> None:
        """Set the kept set from a (validated) per-position pruning record."""
        self.sampler.restore(self.initial[pruned_at[self.positions] == 0])

    def warn_if_uncovered(self, epoch: int, kept: int, seen: int, interval: int, info: dict | None) -> None:
        """Warn when a pruning step found no VoE, and (once per run) when coverage was partial."""
        if info is not None and info["asked"] and info["n_candidates"] == 0:
            warnings.warn(
                f"no sample of the {self.name} split had a {info.get('score', 'voe')} score at epoch "
                f"{epoch} (a VoE needs observations in 2 of the last {interval} epochs, a mean EL2N in "
                f"1): nothing was pruned from it. Is observe() "
                f"called for the {self.name} batches?",
                RuntimeWarning,
                stacklevel=3,
            )
        if seen < kept and not self.coverage_warned:
            self.coverage_warned = True
            warnings.warn(
                f"only {seen} of the {kept} kept samples of the {self.name} split were observed in "
                f"epoch {epoch} (summed over ranks); the others get no score for it. Likely causes: "
                f"the loop drew fewer batches from pruner.{self.name}_sampler than it has; the sampler "
                "was wrapped by another distributed sampler (Lightning: Trainer(use_distributed_sampler="
                "False)); num_replicas is not the number of ranks. Warned once per split; the history "
                f"records n_unobserved_{self.name} every epoch.",
                RuntimeWarning,
                stacklevel=3,
            )


def build_splits(
    parts: tuple[np.ndarray, np.ndarray],
    config: Any,
    schedule: Any,
    tracked: TrackedSet,
    observed: Callable[[np.ndarray], np.ndarray],
) -> list[SplitState]:
    """The training and validation :class:`SplitState` with their samplers.

    ``config`` is the pruner's :class:`~.config.PrunerConfig`, ``schedule`` its
    :class:`~.schedule.PruningSchedule`, ``observed`` the recorder's counts.
    """
    settings = (
        ("train", config.seed, config.train_prune_ratio, config.train_criterion),
        ("val", config.seed + VAL_SEED_OFFSET, config.val_prune_ratio, config.val_criterion),
    )
    splits = []
    for k, ((name, seed, ratio, criterion), part) in enumerate(zip(settings, parts)):
        sampler = KeptSetSampler(
            part, seed=seed, num_replicas=config.num_replicas, rank=config.rank, observed=observed
        )
        splits.append(
            SplitState(
                name,
                sampler.initial,
                prune_ratio=ratio,
                criterion=criterion,
                asked=schedule.asked[k],
                tracked=tracked,
                num_classes=config.num_classes,
                sampler=sampler,
            )
        )
    return splits
