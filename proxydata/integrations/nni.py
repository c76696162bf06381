"""NNI 3.0 integration: an evaluator for ``(x, y, index)`` batches that feeds a BiLevelPruner.

NNI's ``Classification`` evaluator unpacks ``x, y = batch``, so it cannot take
the ``(x, y, index)`` items of :class:`proxydata.IndexedDataset`, and the pruner
needs the index of every sample the search sees. :class:`IndexedClassification`
is the same evaluator for indexed batches: its module calls
``pruner.observe(index, logits)`` in every ``training_step`` — which NNI's
one-shot strategies (DARTS, GumbelDARTS) call for the architecture step on a
validation batch and for the weight step on a training batch alike — and its
trainer carries a :class:`BiLevelPrunerCallback` that prunes at the end of
each epoch.

NNI 3.0 is built on the standalone ``pytorch_lightning`` package; the callback
here derives from its ``Callback`` (the one in
:mod:`proxydata.integrations.lightning` may derive from ``lightning.pytorch``).
NNI is imported here and nowhere else in proxydata.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn, optim

from .._validation import show
from ..exceptions import ProxydataTypeError
from ..pruning import BiLevelPruner
from ._optional import import_optional
from .lightning import PrunerCallbackHooks

_NEEDS = (
    "proxydata.integrations.nni needs NNI 3.0 and pytorch_lightning: pip install nni==3.0 "
    "pytorch_lightning torchmetrics (NNI pins old packages: use a separate environment)"
)
nni = import_optional("nni", _NEEDS)
pytorch_lightning = import_optional("pytorch_lightning", _NEEDS)
_evaluator = import_optional("nni.nas.evaluator.pytorch", _NEEDS)
ClassificationModule, Lightning, Trainer = (
    _evaluator.ClassificationModule,
    _evaluator.Lightning,
    _evaluator.Trainer,
)

#: The keywords of :class:`IndexedClassification` that go to its module (the rest go to the trainer).
MODULE_OPTIONS = ("criterion", "learning_rate", "weight_decay", "optimizer", "export_onnx")

__all__ = ["MODULE_OPTIONS", "BiLevelPrunerCallback", "IndexedClassification", "IndexedClassificationModule"]


class BiLevelPrunerCallback(PrunerCallbackHooks, pytorch_lightning.Callback):
    """The Lightning callback of :mod:`proxydata.integrations.lightning`, for NNI's ``pytorch_lightning``.

    Same behaviour and parameters; a pruner named by attribute is also looked
    up on the module NNI's one-shot strategies wrap (``training_module``).
    """


def _unpack(batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if not isinstance(batch, (list, tuple)) or len(batch) != 3:
        raise ProxydataTypeError(
            "IndexedClassificationModule expects (x, y, index) batches, e.g. from "
            f"proxydata.IndexedDataset; got {show(batch)}"
        )
    return batch[0], batch[1], batch[2]


@nni.trace
class IndexedClassificationModule(ClassificationModule):
    """NNI's ``ClassificationModule`` for ``(x, y, index)`` batches, observing every training batch.

    ``training_step`` computes the logits once, hands them to
    ``pruner.observe(index, logits)`` (EL2N is taken under ``no_grad``) and
    returns the cross-entropy; it logs ``train_loss`` and ``train_acc``, which
    NNI's final report reads when no validation loop runs (one-shot strategies).
    Validation and test steps drop the index.

    Parameters
    ----------
    pruner : BiLevelPruner
    num_classes : int
        For the accuracy metric (``torchmetrics >= 0.11`` needs it).
    criterion, learning_rate, weight_decay, optimizer, export_onnx
        As for NNI's ``ClassificationModule`` (``export_onnx`` defaults to False).
    """

    def __init__(
        self,
        pruner: BiLevelPruner,
        *,
        num_classes: int,
        criterion: type[nn.Module] = nn.CrossEntropyLoss,
        learning_rate: float = 0.001,
        weight_decay: float = 0.0,
        optimizer: type[optim.Optimizer] = optim.Adam,
        export_onnx: bool = False,
    ) -> None:
        if not isinstance(pruner, BiLevelPruner):
            raise ProxydataTypeError(f"pruner must be a BiLevelPruner, got {show(pruner)}")
        super().__init__(
            criterion=criterion,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            optimizer=optimizer,
            export_onnx=export_onnx,
            num_classes=num_classes,
        )
        self.pruner = pruner

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y, index = _unpack(batch)
        logits = self(x)
        self.pruner.observe(index, logits)
        loss = self.criterion(logits, y)
        self.log("train_loss", loss, prog_bar=True)
        for name, metric in self.metrics.items():
            self.log("train_" + name, metric(logits, y), prog_bar=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> Any:
        x, y, _ = _unpack(batch)
        return super().validation_step((x, y), batch_idx)

    def test_step(self, batch: Any, batch_idx: int) -> Any:
        x, y, _ = _unpack(batch)
        return super().test_step((x, y), batch_idx)


@nni.trace
class IndexedClassification(Lightning):
    """NNI's ``Classification`` evaluator for a search with a :class:`~proxydata.BiLevelPruner`.

    Parameters
    ----------
    pruner : BiLevelPruner
        Its samplers must be the samplers of ``train_dataloaders`` (weights) and
        ``val_dataloaders`` (architecture), over a :class:`proxydata.IndexedDataset`.
    train_dataloaders, val_dataloaders : nni.nas.evaluator.pytorch.DataLoader
        NNI's traced ``DataLoader``.
    num_classes : int
    **kwargs
        :data:`MODULE_OPTIONS` (``criterion``, ``learning_rate``, ``weight_decay``,
        ``optimizer``, ``export_onnx``) go to :class:`IndexedClassificationModule`,
        with its defaults; the rest to NNI's ``Trainer``, where ``max_epochs``
        defaults to ``pruner.epochs`` and a :class:`BiLevelPrunerCallback` is
        appended to ``callbacks``.
    """

    def __init__(
        self,
        pruner: BiLevelPruner,
        *,
        train_dataloaders: Any,
        val_dataloaders: Any,
        num_classes: int,
        **kwargs: Any,
    ) -> None:
        module_kwargs = {name: kwargs.pop(name) for name in MODULE_OPTIONS if name in kwargs}
        module = IndexedClassificationModule(pruner, num_classes=num_classes, **module_kwargs)
        trainer_kwargs = kwargs
        trainer_kwargs.setdefault("max_epochs", pruner.epochs)
        callbacks = [*trainer_kwargs.pop("callbacks", []), BiLevelPrunerCallback(pruner)]
        super().__init__(
            module,
            Trainer(callbacks=callbacks, **trainer_kwargs),
            train_dataloaders=train_dataloaders,
            val_dataloaders=val_dataloaders,
        )
