"""Lightning integration: :class:`BiLevelPrunerCallback` drives a :class:`~proxydata.BiLevelPruner`.

Add the callback to ``Trainer(callbacks=[...])`` and change nothing else in the
loop: it calls ``pruner.step()`` at the end of every training epoch, saves and
restores the pruner's state in Lightning checkpoints, logs every history entry
through the trainer's loggers, and refuses a set-up in which Lightning would
wrap the pruner's samplers in a second distributed sampler.

Lightning is imported here and nowhere else in proxydata (``import proxydata``
works without it). Both package names are supported: ``lightning``
(``lightning.pytorch``) first, then ``pytorch_lightning``.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

from .._validation import show
from ..exceptions import ProxydataTypeError, ProxydataValueError
from ..pruning import BiLevelPruner
from ..pruning.history import entry_scalars
from ._optional import import_optional

# the unified package first, then the standalone one
pl = import_optional(
    ("lightning.pytorch", "pytorch_lightning"),
    "proxydata.integrations.lightning needs Lightning: pip install 'proxydata[lightning]' "
    "(or pip install lightning)",
)

__all__ = ["BiLevelPrunerCallback", "PrunerCallbackHooks", "history_metrics"]

FIX_SAMPLER = (
    "set `Trainer(use_distributed_sampler=False)`: the pruner's samplers already shard by rank, and "
    "Lightning's DistributedSamplerWrapper would split them a second time (each rank then sees part "
    "of its shard) or pad pruned epochs back to their first length"
)
FIX_REPLICAS = (
    "build the pruner where the process group exists (in `LightningModule.setup()`, so that "
    "num_replicas and rank are read from it) or pass `num_replicas=trainer.world_size, "
    "rank=trainer.global_rank`, and give the callback the attribute's name, "
    "e.g. `BiLevelPrunerCallback('pruner')`"
)


def history_metrics(entry: dict[str, Any], prefix: str = "pruner/") -> dict[str, float]:
    """Deprecated: every number of one history entry, flattened (the callback's names before 0.3).

    The callback now logs :func:`proxydata.pruning.history.entry_scalars`
    (``bdp/kept/train``, ...), the names :class:`~proxydata.integrations.tensorboard.TensorBoardLogger`
    writes; this function, and ``BiLevelPrunerCallback(legacy_names=True)``, keep
    the old names (``pruner/n_train``, ``pruner/train/pruned``) for one more
    release and warn (``FutureWarning``).

    Numbers and booleans are kept (as ``float``), nested dicts are flattened
    with ``/`` (``pruner/train/pruned``), lists, arrays and ``None`` are left
    out, and so is ``epoch`` (loggers record it themselves).
    """
    warnings.warn(
        "history_metrics is deprecated and will be removed in proxydata 0.4: use "
        "proxydata.pruning.history.entry_scalars (bdp/kept/train, ...), the names the Lightning "
        "callback and TensorBoardLogger log",
        FutureWarning,
        stacklevel=2,
    )
    return _flat_metrics(entry, prefix)


def _flat_metrics(entry: dict[str, Any], prefix: str) -> dict[str, float]:
    if not isinstance(entry, dict):
        raise ProxydataTypeError(f"entry must be a history dict, got {show(entry)}")
    out: dict[str, float] = {}
    for key, value in entry.items():
        if key == "epoch":
            continue
        if isinstance(value, dict):
            out.update(_flat_metrics(value, f"{prefix}{key}/"))
        elif isinstance(value, numbers.Real):  # bool, int, float and numpy scalars
            out[f"{prefix}{key}"] = float(value)
    return out


class PrunerCallbackHooks:
    """What :class:`BiLevelPrunerCallback` does, independent of the Lightning package.

    The hooks have Lightning's names and signatures; a callback class is this
    mixin plus the ``Callback`` base of one Lightning package (``lightning``
    here, ``pytorch_lightning`` in :mod:`proxydata.integrations.nni`).
    Parameters as for :class:`BiLevelPrunerCallback`.
    """

    def __init__(
        self,
        pruner: BiLevelPruner | str = "pruner",
        *,
        log: bool = True,
        prefix: str = "bdp",
        legacy_names: bool = False,
    ) -> None:
        if isinstance(pruner, str):
            if not pruner.isidentifier():
                raise ProxydataValueError(
                    f"pruner must be a BiLevelPruner or a LightningModule attribute name, got {show(pruner)}"
                )
        elif not isinstance(pruner, BiLevelPruner):
            raise ProxydataTypeError(
                f"pruner must be a BiLevelPruner or a LightningModule attribute name, got {show(pruner)}"
            )
        if not isinstance(log, bool):
            raise ProxydataTypeError(f"log must be a bool, got {show(log)}")
        if not isinstance(prefix, str):
            raise ProxydataTypeError(f"prefix must be a str, got {show(prefix)}")
        if not isinstance(legacy_names, bool):
            raise ProxydataTypeError(f"legacy_names must be a bool, got {show(legacy_names)}")
        if legacy_names:
            warnings.warn(
                "BiLevelPrunerCallback(legacy_names=True) logs the names of proxydata 0.2 "
                "(pruner/n_train, pruner/train/pruned, ...); it will be removed in proxydata 0.4. "
                "The default names are those of TensorBoardLogger (bdp/kept/train, ...).",
                FutureWarning,
                stacklevel=2,
            )
        self.prefix = prefix
        self.legacy_names = legacy_names
        self._source = pruner
        self._pruner = pruner if isinstance(pruner, BiLevelPruner) else None
        self.log = log
        self._pending: dict[str, Any] | None = None
        self._between_epochs = True  # False while an epoch's batches run: a checkpoint then is mid-epoch

    @property
    def pruner(self) -> BiLevelPruner:
        """The pruner this callback drives (resolved from the module at fit start when named)."""
        if self._pruner is None:
            raise ProxydataValueError(
                f"the pruner is read from the LightningModule attribute {self._source!r} at fit start; "
                "it is not known before Trainer.fit"
            )
        return self._pruner

    # -- fit start -------------------------------------------------------------------
    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self._resolve(pl_module)
        self._check_trainer(trainer)
        self._apply_pending()

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        # strategies that restore checkpoints after setup call load_state_dict after on_fit_start
        self._apply_pending()

    def _resolve(self, pl_module: Any) -> None:
        if isinstance(self._source, BiLevelPruner):
            return
        found = getattr(pl_module, self._source, None)
        if found is None:  # NNI's one-shot strategies wrap the user's module as `training_module`
            found = getattr(getattr(pl_module, "training_module", None), self._source, None)
        if not isinstance(found, BiLevelPruner):
            raise ProxydataValueError(
                f"BiLevelPrunerCallback({self._source!r}): {type(pl_module).__name__}.{self._source} "
                f"must be a BiLevelPruner when fit starts (build it in setup()), got {show(found)}"
            )
        self._pruner = found

    def _check_trainer(self, trainer: Any) -> None:
        pruner = self.pruner
        world, rank = int(trainer.world_size), int(trainer.global_rank)
        if world > 1 and _wraps_samplers(trainer):
            raise ProxydataValueError(
                f"BiLevelPrunerCallback: this Trainer runs {world} processes with "
                f"use_distributed_sampler=True; {FIX_SAMPLER}"
            )
        if (pruner.num_replicas, pruner.rank) != (world, rank):
            raise ProxydataValueError(
                f"BiLevelPrunerCallback: the pruner was built with num_replicas={pruner.num_replicas}, "
                f"rank={pruner.rank}, but this process is rank {rank} of {world}; {FIX_REPLICAS}"
            )
        max_epochs = trainer.max_epochs
        if max_epochs is None or max_epochs < 0 or max_epochs > pruner.epochs:
            raise ProxydataValueError(
                f"BiLevelPrunerCallback: Trainer(max_epochs={max_epochs}) runs past the pruner's "
                f"schedule of epochs={pruner.epochs}; pass max_epochs=pruner.epochs"
            )

    # -- every epoch -----------------------------------------------------------------
    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        pruner = self.pruner
        if pruner.epoch != trainer.current_epoch:
            raise ProxydataValueError(
                f"BiLevelPrunerCallback: the pruner has completed {pruner.epoch} epochs but the trainer "
                f"starts epoch {trainer.current_epoch}; use a fresh pruner for each fit, and resume "
                "with Trainer.fit(ckpt_path=...) from a checkpoint written with this callback"
            )

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self._between_epochs = False

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self.pruner.step()
        self._between_epochs = True
        if self.log and trainer.loggers:
            entry = self.pruner.history[-1]
            if self.legacy_names:
                metrics = _flat_metrics(entry, "pruner/")
            else:
                metrics = entry_scalars(entry, self.prefix)
            for logger in trainer.loggers:  # loggers write on global rank 0 only
                logger.log_metrics(metrics, step=trainer.global_step)

    # -- checkpoints -----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        if self._pruner is None:
            return {} if self._pending is None else dict(self._pending)
        return {"pruner": self._pruner.state_dict(), "between_epochs": self._between_epochs}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict) or "pruner" not in state_dict:
            raise ProxydataValueError(
                "the checkpoint's BiLevelPrunerCallback state holds no pruner state "
                f"(keys {sorted(state_dict) if isinstance(state_dict, dict) else show(state_dict)})"
            )
        if not state_dict.get("between_epochs", True):
            warnings.warn(
                "BiLevelPrunerCallback: this checkpoint was written in the middle of an epoch; Lightning "
                "does not resume DataLoaders mid-epoch, so batches of that epoch may be observed again "
                "and the pruning will differ from an uninterrupted run. Resume from a checkpoint written "
                "at the end of an epoch for an exact result.",
                RuntimeWarning,
                stacklevel=2,
            )
        # Applied at fit start: a pruner named by attribute may not exist yet.
        self._pending = state_dict
        if self._pruner is not None:
            self._apply_pending()

    def _apply_pending(self) -> None:
        if self._pending is not None and self._pruner is not None:
            self._pruner.load_state_dict(self._pending["pruner"])
            self._pending = None


class BiLevelPrunerCallback(PrunerCallbackHooks, pl.Callback):
    """Run a :class:`~proxydata.BiLevelPruner` inside ``Trainer.fit``.

    The pruner's schedule (prune after epochs ``T, 2T, …``) is driven by
    Lightning's epochs: ``pruner.step()`` runs in ``on_train_epoch_end``,
    before checkpoint callbacks, so a checkpoint written at the end of epoch
    ``e`` holds the pruner as it starts epoch ``e + 1``. Resuming with
    ``Trainer.fit(ckpt_path=...)`` from any epoch-end checkpoint ends with the
    same kept sets as the uninterrupted run (and, with a deterministic model,
    the same weights). Resuming from a checkpoint written in the middle of an
    epoch (``every_n_train_steps``) warns (``RuntimeWarning``): Lightning does
    not resume DataLoaders mid-epoch, so that epoch's observations would differ.

    Checks at fit start (each a :class:`~proxydata.exceptions.ProxydataValueError`
    raised on every rank, before any batch):

    * with several processes, ``Trainer(use_distributed_sampler=True)`` (the
      default) is refused: it would wrap the pruner's samplers in a second
      distributed sampler;
    * ``pruner.num_replicas`` / ``pruner.rank`` must be the trainer's
      ``world_size`` / ``global_rank``;
    * ``Trainer(max_epochs)`` must not exceed ``pruner.epochs``;
    * at every epoch start, the pruner's completed epochs must equal the
      trainer's ``current_epoch`` (a pruner reused across fits, or a checkpoint
      without the pruner's state, is caught here).

    Parameters
    ----------
    pruner : BiLevelPruner or str, default "pruner"
        The pruner, or the name of the ``LightningModule`` attribute that holds
        it. Use a name under a multi-process strategy: the module builds the
        pruner in its ``setup()``, where ``torch.distributed`` is initialised,
        so each process gets its own rank's samplers.
    log : bool, default True
        Send every history entry's scalars to the trainer's loggers under the
        names :class:`~proxydata.integrations.tensorboard.TensorBoardLogger`
        writes, ``<prefix>/<quantity>/<split>``
        (:func:`proxydata.pruning.history.entry_scalars`: ``bdp/kept/train``,
        ``bdp/balance/val``, ``bdp/pruned/train``, ...). The x-axis is
        ``trainer.global_step`` at the end of the epoch, as for Lightning's own
        metrics (TensorBoardLogger's is the epoch).
    prefix : str, default "bdp"
        First part of every name.
    legacy_names : bool, default False
        Deprecated (``FutureWarning``; removed in 0.4): log the names of
        proxydata 0.2 instead, every number of the entry flattened under
        ``pruner/`` (``pruner/n_train``, ``pruner/train/pruned``).

    Examples
    --------
    >>> import lightning.pytorch as pl  # doctest: +SKIP
    >>> callback = BiLevelPrunerCallback(pruner)  # doctest: +SKIP
    >>> trainer = pl.Trainer(max_epochs=pruner.epochs, callbacks=[callback])  # doctest: +SKIP
    """


def _wraps_samplers(trainer: Any) -> bool:
    """Whether Lightning will wrap the DataLoaders' samplers in a DistributedSampler."""
    connector = getattr(trainer, "_accelerator_connector", None)
    # No public accessor exists (Lightning 2.6); an unknown layout counts as the default (True).
    return bool(getattr(connector, "use_distributed_sampler", True))
