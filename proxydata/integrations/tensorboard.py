"""TensorBoard logging of a :class:`~proxydata.BiLevelPruner`'s history.

:class:`TensorBoardLogger` is a listener (:meth:`BiLevelPruner.add_listener`):
at every ``step()`` it writes, under ``<prefix>/``, the kept size, class
balance degree ``B``, observed and unobserved counts, and pruned / held-back
counts of both splits, and at a pruning step the samples the class-balance
limit protected (``protected_by_limit``: VoE order alone would have pruned
them; the limit binds without any shortfall) — the scalars of
:func:`proxydata.pruning.history.entry_scalars`, the names the Lightning
callback logs too — and the VoE histograms of the pruned samples and of the
samples kept (the scores the step ranked them by). The global step (x-axis)
is the epoch: ``entry["epoch"]``, completed epochs counted from 1. It takes any object with ``add_scalar`` and
``add_histogram`` (a ``torch.utils.tensorboard.SummaryWriter``, or
``tensorboardX``'s); :meth:`TensorBoardLogger.to_logdir` creates a
``SummaryWriter``, importing it only then (needs the ``tensorboard`` package).

Example::

    from proxydata.integrations.tensorboard import TensorBoardLogger
    logger = TensorBoardLogger.to_logdir("runs/bdp").attach(pruner)
    ...  # the search; every pruner.step() logs
    logger.close()
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import show
from ..exceptions import ProxydataTypeError
from ..pruning import BiLevelPruner
from ..pruning.history import entry_scalars
from ._optional import import_optional

__all__ = ["TensorBoardLogger"]


class TensorBoardLogger:
    """Writes every history entry of a pruner to a TensorBoard ``SummaryWriter``.

    Parameters
    ----------
    writer : SummaryWriter-like
        Has ``add_scalar(tag, value, step)`` and ``add_histogram(tag, values, step)``.
    prefix : str
        Tag prefix, e.g. ``"bdp"`` gives ``bdp/kept/train``.
    histograms : bool
        Also write the VoE histograms at pruning steps (needs :meth:`attach`).
    """

    def __init__(self, writer: Any, *, prefix: str = "bdp", histograms: bool = True) -> None:
        for method in ("add_scalar", "add_histogram"):
            if not callable(getattr(writer, method, None)):
                raise ProxydataTypeError(
                    f"writer must have an {method}() method (a SummaryWriter), got {show(writer)}"
                )
        if not isinstance(prefix, str):
            raise ProxydataTypeError(f"prefix must be a str, got {show(prefix)}")
        self.writer = writer
        self.prefix = prefix.rstrip("/")
        self.histograms = bool(histograms)
        self.pruner: Any = None

    @classmethod
    def to_logdir(cls, logdir: str, **kwargs: Any) -> TensorBoardLogger:
        """A logger over a new ``torch.utils.tensorboard.SummaryWriter(logdir)``."""
        board = import_optional(
            "torch.utils.tensorboard",
            "TensorBoardLogger.to_logdir needs the tensorboard package: pip install 'proxydata[tensorboard]'",
        )
        return cls(board.SummaryWriter(logdir), **kwargs)

    def attach(self, pruner: Any) -> TensorBoardLogger:
        """Listen to ``pruner`` (its VoE of kept samples feeds the histograms); returns self."""
        if not isinstance(pruner, BiLevelPruner):
            raise ProxydataTypeError(f"pruner must be a BiLevelPruner, got {show(pruner)}")
        self.pruner = pruner
        pruner.add_listener(self)
        return self

    def __call__(self, entry: dict[str, Any]) -> None:
        """Write one history entry (as a listener receives it); the global step is the epoch."""
        epoch = int(entry["epoch"])
        for tag, value in entry_scalars(entry, self.prefix).items():
            self.writer.add_scalar(tag, value, epoch)
        for split in ("train", "val"):
            info = entry.get(split)
            if entry.get("pruning_step") and info is not None and self.histograms:
                self._histograms(split, info, epoch)

    def _histograms(self, split: str, info: dict[str, Any], epoch: int) -> None:
        pruned = np.asarray(info["voe"], dtype=np.float64)
        if pruned.size:
            self.writer.add_histogram(f"{self.prefix}/voe_pruned/{split}", pruned, epoch)
        if self.pruner is not None:
            kept = self.pruner.voe(split)
            kept = kept[np.isfinite(kept)]
            if kept.size:
                self.writer.add_histogram(f"{self.prefix}/voe_kept/{split}", kept, epoch)

    def close(self) -> None:
        """Flush and close the writer."""
        self.writer.close()
