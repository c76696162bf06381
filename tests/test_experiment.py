"""proxydata.experiment: the search configuration, its checks and the run record (issue 11)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import Subset, TensorDataset

from proxydata.exceptions import ProxydataTypeError, ProxydataValueError
from proxydata.experiment import SearchConfig, evaluate_genotype, image_shape, run_search
from proxydata.metrics import class_balance_degree

BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


@pytest.mark.parametrize(
    ("fields", "error", "match"),
    [
        (dict(algo="not-an-algorithm"), ProxydataValueError, "algo"),
        (dict(epochs=0), ProxydataValueError, "epochs"),
        (dict(C=0), ProxydataValueError, "C"),
        (dict(batch_size=1.5), ProxydataTypeError, "batch_size"),
        (dict(seed=-1), ProxydataValueError, "seed"),
        (dict(num_workers=-1), ProxydataValueError, "num_workers"),
        (dict(augment_padding=-2), ProxydataValueError, "augment_padding"),
        (dict(hessian_samples=-1), ProxydataValueError, "hessian_samples"),
        (dict(hessian_iterations=0), ProxydataValueError, "hessian_iterations"),
        (dict(bdp="yes"), ProxydataTypeError, "bdp"),
        (dict(proxy="kmeans"), ProxydataValueError, "proxy"),
        (dict(proxy="rs", ratio=1.5), ProxydataValueError, "ratio"),
        (dict(ratio=0.5), ProxydataValueError, "needs a proxy"),
        (dict(device=0), ProxydataTypeError, "device"),
        (dict(device="tpu:x"), ProxydataValueError, "device"),
        (dict(progress="no"), ProxydataTypeError, "progress"),
        (dict(search_kwargs=[("w_lr", 0.1)]), ProxydataTypeError, "search_kwargs"),
        (dict(bdp_kwargs=None), ProxydataTypeError, "bdp_kwargs"),
    ],
)
def test_search_config_errors_name_the_field(fields, error, match) -> None:
    with pytest.raises(error, match=match):
        SearchConfig(**fields).validate()


def test_run_search_needs_a_search_config(digits) -> None:
    with pytest.raises(ProxydataTypeError, match="config"):
        run_search(digits, [0, 1], [2, 3], {"epochs": 1})  # type: ignore[arg-type]


def test_a_valid_config_validates_to_itself() -> None:
    config = SearchConfig(proxy="cc-rs", ratio=0.5)
    assert config.validate() is config


def test_image_shape() -> None:
    images = TensorDataset(torch.zeros(2, 3, 4, 5), torch.zeros(2, dtype=torch.int64))
    assert image_shape(images) == (3, 4, 5)
    flat = TensorDataset(torch.zeros(2, 12), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ProxydataValueError, match=r"\(C, H, W\)"):
        image_shape(flat)


@pytest.fixture(scope="module")
def zeros_and_twos(digits):
    """40 digits of classes 0 and 2 (20 each): label id 1 is unused."""
    y = np.asarray(digits.targets)
    idx = np.concatenate([np.flatnonzero(y == 0)[:20], np.flatnonzero(y == 2)[:20]])
    return Subset(digits, idx.tolist())


def test_kept_balance_counts_only_the_classes_present(zeros_and_twos) -> None:
    train = np.arange(0, 40, 2)  # 10 zeros, 10 twos
    val = np.arange(1, 40, 2)
    config = SearchConfig(epochs=1, C=2, N=1, batch_size=10, progress=False)
    record = run_search(zeros_and_twos, train, val, config)
    # the unused id 1 is not a class of zero samples: a balanced pool has degree 1
    assert record.kept_class_counts == [10, 10]
    assert record.kept_balance == pytest.approx(1.0)
    assert record.kept_balance == class_balance_degree(record.kept_class_counts)
    assert record.kept_train == 20 and record.train_pool == 20 and record.val_size == 20
    assert record.result.train_sizes == [20] and record.result.val_sizes == [20]


def test_record_with_the_pruner_is_plain_json(zeros_and_twos) -> None:
    train, val = np.arange(0, 40, 2), np.arange(1, 40, 2)
    config = SearchConfig(
        epochs=3,
        C=2,
        N=1,
        batch_size=10,
        progress=False,
        bdp=True,
        bdp_kwargs=dict(interval=2, train_prune_ratio=0.2, val_prune_ratio=0.2),
    )
    record = run_search(zeros_and_twos, train, val, config)
    assert [h["epoch"] for h in record.pruner_history] == [1, 2, 3]  # counted from 1
    step = record.pruner_history[1]["train"]
    assert isinstance(step["indices"], list) and all(type(i) is int for i in step["indices"])
    assert record.final_train == 20 - step["pruned"]
    json.loads(json.dumps(record.to_dict()))  # no numpy left (the record is a SearchRecord since 0.3)


def test_evaluate_genotype_records_sizes(zeros_and_twos) -> None:
    train = Subset(zeros_and_twos, list(range(0, 40, 2)))
    test = Subset(zeros_and_twos, list(range(1, 40, 2)))
    out = evaluate_genotype(BEST_C10, train, test, epochs=1, C=2, N=1, batch_size=10, progress=False)
    assert out.train_size == 20 and out.test_size == 20 and out.epochs == 1
    assert 0.0 <= out.test_acc <= 1.0 and len(out.train.train_loss) == 1
    json.dumps(out.to_dict())  # a GenotypeEvaluation since 0.3
