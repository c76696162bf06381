"""One result convention: the runs return dataclasses with ``to_dict()``; reading them as dicts is deprecated.

``search`` → :class:`SearchResult`, ``train_network``/``train_genotype`` →
:class:`TrainResult`, ``run_search`` → :class:`SearchRecord`,
``evaluate_genotype`` → :class:`GenotypeEvaluation`. ``to_dict()`` is the dict
the functions returned up to 0.2, key for key and in the same order; the old
``record["key"]`` reading still works, with a ``FutureWarning``.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Subset, TensorDataset

from proxydata.exceptions import ProxydataValueError
from proxydata.experiment import (
    GenotypeEvaluation,
    SearchConfig,
    SearchRecord,
    data_used,
    evaluate_genotype,
    run_search,
)
from proxydata.nas import SearchResult, TrainResult, train_genotype, train_network
from proxydata.nas.optim import NB201_SGD, SGDSettings

BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"

TRAIN_KEYS = [
    "test_acc",
    "test_loss",
    "train_loss",
    "train_acc",
    "train_samples",
    "params",
    "seconds",
    "cpu_seconds",
]
SEARCH_KEYS = [
    "algo", "genotype", "genotypes", "alphas", "epoch_seconds", "train_loss", "train_acc", "val_loss",
    "val_acc", "train_sizes", "val_sizes", "train_set_sizes", "val_set_sizes", "taus", "beta_weights",
    "skip_dropouts", "hessian_eigenvalues", "hessian_seconds", "search_seconds",
]  # fmt: skip
RECORD_HEAD = [
    "config", "train_pool", "val_size", "proxy_seconds", "kept_train", "kept_class_counts",
    "kept_balance", "wall_seconds", "search_cpu_seconds", "proxy_selection_cost",
]  # fmt: skip


@pytest.fixture(scope="module")
def loaders() -> tuple[DataLoader, DataLoader]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(24, 1, 8, 8, generator=g)
    y = torch.arange(24) % 3
    data = TensorDataset(x, y)
    return DataLoader(data, batch_size=8), DataLoader(data, batch_size=12)


@pytest.fixture(scope="module")
def trained(loaders) -> TrainResult:
    return train_genotype(BEST_C10, *loaders, 1, C=2, N=1, num_classes=3, in_channels=1, progress=False)


@pytest.fixture(scope="module")
def digits_record() -> SearchRecord:
    from proxydata import load_digits

    data = load_digits()
    config = SearchConfig(
        epochs=3, C=2, N=1, batch_size=30, bdp=True, bdp_kwargs={"interval": 2}, progress=False
    )
    return run_search(data, np.arange(0, 120), np.arange(120, 240), config)


def test_train_genotype_returns_a_train_result_whose_dict_is_the_old_one(trained) -> None:
    assert isinstance(trained, TrainResult) and trained.genotype == BEST_C10
    out = trained.to_dict()
    assert list(out) == ["genotype", *TRAIN_KEYS]  # the 0.2 dict, key for key and in order
    assert out["test_acc"] == trained.test_acc and out["train_loss"] == trained.train_loss
    assert 0.0 <= trained.test_acc <= 1.0 and trained.train_samples == 24
    json.dumps(out)


def test_train_network_has_no_genotype(loaders) -> None:
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    result = train_network(net, *loaders, 1, progress=False)
    assert isinstance(result, TrainResult) and result.genotype is None
    assert list(result.to_dict()) == TRAIN_KEYS
    assert result.params == 64 * 3 + 3


def test_reading_a_record_as_a_dict_warns_and_reads_to_dict(trained) -> None:
    with pytest.warns(FutureWarning, match=r"TrainResult as a dict \(\['test_acc'\]\).*to_dict\(\)"):
        assert trained["test_acc"] == trained.test_acc
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the attributes and to_dict() never warn
        assert trained.to_dict()["params"] == trained.params
    with pytest.warns(FutureWarning):
        assert "genotype" in trained and "nope" not in trained
    with pytest.warns(FutureWarning):
        assert trained.get("nope", 7) == 7 and trained.get("params") == trained.params
    with pytest.warns(FutureWarning):
        assert dict(trained) == trained.to_dict()  # keys() + [key], as dict() reads a mapping
    with pytest.warns(FutureWarning):
        assert list(trained) == list(trained.to_dict()) and len(trained) == len(TRAIN_KEYS) + 1
    with pytest.warns(FutureWarning):
        assert list(trained.items()) == list(trained.to_dict().items())
    with pytest.warns(FutureWarning), pytest.raises(KeyError):
        trained["nope"]
    with pytest.raises(TypeError):
        trained["test_acc"] = 1.0  # read-only: take to_dict() to change things


def test_train_genotype_recipe_keywords_override_nb201_once(loaders) -> None:
    assert SGDSettings.nb201() == SGDSettings.checked(**NB201_SGD)
    assert SGDSettings.nb201({"lr": 0.05}).lr == 0.05
    with pytest.raises(ProxydataValueError, match=r"recipe keywords may set .*got \['lr_max'\]"):
        train_genotype(BEST_C10, *loaders, 1, C=2, N=1, in_channels=1, lr_max=0.1, progress=False)
    with pytest.raises(TypeError):  # the recipe is keyword-only now
        train_genotype(BEST_C10, *loaders, 1, 2, 1, 3, 1, "cpu", 0, 0.1)  # type: ignore[misc]


def test_run_search_returns_a_record_whose_dict_is_the_old_one(digits_record) -> None:
    record = digits_record
    assert isinstance(record, SearchRecord) and isinstance(record.result, SearchResult)
    out = record.to_dict()
    assert list(out) == [*RECORD_HEAD, *SEARCH_KEYS, "pruner_history", "final_train", "final_val"]
    assert out["genotype"] == record.genotype == record.result.genotype
    assert out["config"]["bdp"] is True and out["train_pool"] == 120
    json.dumps(out)
    # a new dict every time, sharing nothing with the record
    out["config"]["epochs"] = 99
    out["pruner_history"].clear()
    assert record.config["epochs"] == 3 and record.pruner_history
    with pytest.warns(FutureWarning, match="SearchRecord"):
        assert record["kept_train"] == record.kept_train == 120


def test_data_used_reads_a_record_and_its_dict_alike(digits_record) -> None:
    assert data_used(digits_record) == data_used(digits_record.to_dict())
    assert 0.0 < data_used(digits_record) <= 1.0


def test_evaluate_genotype_returns_the_training_with_its_sizes() -> None:
    from proxydata import load_digits

    data = load_digits()
    out = evaluate_genotype(
        BEST_C10, Subset(data, range(60)), Subset(data, range(60, 90)), epochs=1, C=2, N=1, progress=False
    )
    assert isinstance(out, GenotypeEvaluation) and isinstance(out.train, TrainResult)
    assert out.test_acc == out.train.test_acc and (out.train_size, out.test_size, out.epochs) == (60, 30, 1)
    plain = out.to_dict()
    assert list(plain) == ["genotype", *TRAIN_KEYS, "epochs", "train_size", "test_size"]
    assert plain["seconds"] == out.seconds >= out.train.seconds  # the evaluation's own wall time
