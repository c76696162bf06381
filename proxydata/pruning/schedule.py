"""The pruning schedule of :class:`~proxydata.BiLevelPruner`: when it prunes, and how much.

Progressive pruning (BDP) happens at the end of epochs ``T, 2T, …`` while at
least one epoch remains (``S`` such steps); each step asks for
``round(p · n_initial)`` samples of a split, rounding halves up
(:func:`proxydata.data.share_count`).

Pruning ``"once"`` removes the same total in a single step at the end of epoch
``T`` (the first window): ``S_p · round(p · n_initial)``, where ``S_p`` is the
number of steps the progressive schedule of the same ``epochs``, ``T`` and ``p``
would make. Both modes therefore end at the same size, which is what BDP's
comparison of one-shot pruning with progressive pruning holds fixed.
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
        The count one step asks of each split: ``round(p · n_initial)``, or
        ``S_p · round(p · n_initial)`` when pruning once.
    mode : {"progressive", "once"}
        Progressive steps, or one step at epoch ``T`` removing the progressive total.
    """

    epochs: int
    interval: int
    prune_epochs: tuple[int, ...]
    initial: tuple[int, ...]
    asked: tuple[int, ...]
    mode: str = "progressive"

    @classmethod
    def build(
        cls,
        epochs: int,
        interval: int,
        initial: tuple[int, ...],
        prune_ratios: tuple[float, ...],
        ratio_names: tuple[str, ...],
        mode: str = "progressive",
    ) -> PruningSchedule:
        """The schedule for already validated arguments; raises if a split would be emptied."""
        progressive = tuple(range(interval, epochs, interval))
        per_step = tuple(share_count(n, p) for p, n in zip(prune_ratios, initial))
        if mode == "once":
            prune_epochs = progressive[:1]
            asked = tuple(len(progressive) * a for a in per_step)
        else:
            prune_epochs, asked = progressive, per_step
        schedule = cls(epochs, interval, prune_epochs, tuple(initial), asked, mode)
        for n, a, p, name in zip(initial, per_step, prune_ratios, ratio_names):
            total = len(progressive) * a
            if total and total >= n:
                how = " (pruning='once' removes them all at the first)" if mode == "once" else ""
                raise ProxydataValueError(
                    f"{name}={p} removes {a} samples at each of the {len(progressive)} pruning "
                    f"steps ({total} in all){how}, but the split has only {n}"
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
        return epoch in self.prune_epochs

    def ideal_sizes(self) -> list[tuple[int, ...]]:
        """``(epoch, n_after, …)`` per step: ``n_initial − s · asked`` after step ``s``."""
        return [
            (epoch, *(n - s * a for n, a in zip(self.initial, self.asked)))
            for s, epoch in enumerate(self.prune_epochs, start=1)
        ]
