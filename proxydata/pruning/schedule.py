"""The pruning schedule of :class:`~proxydata.BiLevelPruner`: when it prunes, and how much.

Pruning happens at the end of epochs ``T, 2T, …`` while at least one epoch
remains (``S`` such steps); each step asks for ``round(p · n_initial)`` samples
of a split, rounding halves up (:func:`proxydata.data.share_count`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from ..data import share_count
from ..exceptions import ProxydataValueError

__all__ = ["PruningSchedule"]


@dataclass(frozen=True)
class PruningSchedule:
    """Epochs, interval, pruning epochs and the count each step asks of each split.

    Attributes
    ----------
    epochs : int
        Length of the search.
    interval : int
        ``T``: prune every ``T`` epochs; the VoE window is the last ``T`` epochs.
    prune_epochs : tuple of int
        ``T, 2T, … < epochs``: the epochs after which a step prunes.
    initial : tuple of int
        Initial size of every split, in the pruner's split order (train, val).
    asked : tuple of int
        ``round(p · n_initial)`` per split: the count one step asks for.
    """

    epochs: int
    interval: int
    prune_epochs: tuple[int, ...]
    initial: tuple[int, ...]
    asked: tuple[int, ...]

    @classmethod
    def build(
        cls,
        epochs: int,
        interval: int,
        initial: tuple[int, ...],
        prune_ratios: tuple[float, ...],
        ratio_names: tuple[str, ...],
    ) -> PruningSchedule:
        """The schedule for already validated arguments; raises if a split would be emptied."""
        prune_epochs = tuple(range(interval, epochs, interval))
        asked = tuple(share_count(n, p) for p, n in zip(prune_ratios, initial))
        schedule = cls(epochs, interval, prune_epochs, tuple(initial), asked)
        for n, a, p, name in zip(initial, asked, prune_ratios, ratio_names):
            total = schedule.num_steps * a
            if total and total >= n:
                raise ProxydataValueError(
                    f"{name}={p} removes {a} samples at each of the {schedule.num_steps} pruning "
                    f"steps ({total} in all), but the split has only {n}"
                )
        if schedule.num_steps == 0 and max(prune_ratios) > 0:
            warnings.warn(
                f"epochs={epochs} <= interval={interval}: no pruning step fits in the search (a step "
                "needs an epoch after it), so nothing will be pruned; lower interval to prune",
                RuntimeWarning,
                stacklevel=4,
            )
        return schedule

    @property
    def num_steps(self) -> int:
        """``S``, the number of pruning steps."""
        return len(self.prune_epochs)

    def prunes_after(self, epoch: int) -> bool:
        """True when a step prunes at the end of (1-based) ``epoch``."""
        return epoch % self.interval == 0 and epoch < self.epochs

    def ideal_sizes(self) -> list[tuple[int, ...]]:
        """``(epoch, n_after, …)`` per step: ``n_initial − s · asked`` after step ``s``."""
        return [
            (epoch, *(n - s * a for n, a in zip(self.initial, self.asked)))
            for s, epoch in enumerate(self.prune_epochs, start=1)
        ]
