"""proxydata.integrations.nni: NNI 3.0's DARTS strategy searching with a BiLevelPruner.

NNI pins old versions of several packages, so it lives in its own environment;
this file is skipped where NNI is not importable (as in the project's venv)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

pytest.importorskip(
    "nni", reason="NNI 3.0 is not installed (it needs its own environment; see docs/integrations/nni.md)"
)
pytest.importorskip("pytorch_lightning", reason="NNI 3.0's evaluators need pytorch_lightning")

from nni.nas.evaluator.pytorch import DataLoader
from nni.nas.experiment import NasExperiment
from nni.nas.nn.pytorch import LayerChoice, ModelSpace
from nni.nas.strategy import DARTS

from proxydata import BiLevelPruner, IndexedDataset
from proxydata.exceptions import ProxydataTypeError
from proxydata.integrations.nni import IndexedClassification, IndexedClassificationModule

N_TRAIN, N_VAL, FEATURES, CLASSES = 96, 96, 16, 4


class TinySpace(ModelSpace):
    """One choice between two operations: what DARTS's alphas decide."""

    def __init__(self) -> None:
        super().__init__()
        self.op = LayerChoice(
            [
                nn.Linear(FEATURES, CLASSES),
                nn.Sequential(nn.Linear(FEATURES, 8), nn.ReLU(), nn.Linear(8, CLASSES)),
            ],
            label="op",
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def _dataset() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(N_TRAIN + N_VAL) % CLASSES
    x = torch.randn(N_TRAIN + N_VAL, FEATURES, generator=g) + F.one_hot(y, FEATURES).float()
    return TensorDataset(x, y)


def test_darts_strategy_observes_both_splits_and_prunes_each_interval(tmp_path) -> None:
    torch.manual_seed(0)
    data = _dataset()
    pruner = BiLevelPruner(
        data.tensors[1], range(N_TRAIN), range(N_TRAIN, N_TRAIN + N_VAL),
        epochs=5, interval=2, train_prune_ratio=0.25, val_prune_ratio=0.25, seed=0,
    )  # fmt: skip
    indexed = IndexedDataset(data)
    evaluator = IndexedClassification(
        pruner,
        train_dataloaders=DataLoader(indexed, batch_size=16, sampler=pruner.train_sampler),
        val_dataloaders=DataLoader(indexed, batch_size=16, sampler=pruner.val_sampler),
        num_classes=CLASSES,
        learning_rate=0.05,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    experiment = NasExperiment(TinySpace(), evaluator, DARTS())
    experiment.config.experiment_working_directory = str(tmp_path)  # not ~/nni-experiments
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        experiment.run()
    assert pruner.epoch == 5
    # pruned after epochs 2 and 4: 24 samples of each split each time
    assert [h["n_train"] for h in pruner.history] == [96, 72, 72, 48, 48]
    assert [h["n_val"] for h in pruner.history] == [96, 72, 72, 48, 48]
    # every kept sample of both splits was observed in every epoch
    assert [h["n_observed_train"] for h in pruner.history] == [96, 96, 72, 72, 48]
    assert [h["n_observed_val"] for h in pruner.history] == [96, 96, 72, 72, 48]
    (best,) = experiment.export_top_models(formatter="dict")
    experiment.stop()  # now, not at interpreter exit (its log would go to closed streams)
    assert best["op"] in (0, 1)
    print("history:", [(h["epoch"], h["n_train"], h["n_val"]) for h in pruner.history], "best:", best)
    assert np.isin(pruner.kept_train, np.arange(N_TRAIN)).all()


def test_module_refuses_two_item_batches_with_a_clear_message() -> None:
    pruner = BiLevelPruner([0, 1] * 4, range(4), range(4, 8), epochs=3, interval=2)
    module = IndexedClassificationModule(pruner, num_classes=2)
    module.model = nn.Linear(3, 2)
    with pytest.raises(ProxydataTypeError, match=r"expects \(x, y, index\) batches"):
        module.training_step((torch.zeros(2, 3), torch.zeros(2, dtype=torch.long)), 0)
    with pytest.raises(ProxydataTypeError, match="pruner must be a BiLevelPruner"):
        IndexedClassificationModule(None, num_classes=2)  # type: ignore[arg-type]
