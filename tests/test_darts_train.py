"""DARTS's evaluation recipe at tiny scale on the CPU (proxydata.nas.spaces.darts.train)."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import TensorDataset

from proxydata.exceptions import ProxydataTypeError, ProxydataValueError
from proxydata.nas.spaces.darts import DartsAugmentedDataset, cutout, train_darts_network


def _data(n: int, size: int, seed: int) -> TensorDataset:
    """Two classes told apart by the sign of the mean brightness: learnable in a few steps."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 3, size, size, generator=gen) * 0.5 + (y.float() * 2 - 1)[:, None, None, None]
    return TensorDataset(x, y)


TINY = {"C": 4, "layers": 3, "num_classes": 2, "batch_size": 8, "eval_batch_size": 16}


def test_cutout_hand_checks():
    image = torch.ones(2, 8, 8)
    gen = torch.Generator().manual_seed(0)
    out = cutout(image, 4, gen)
    zero = out == 0
    assert torch.equal(zero[0], zero[1])  # every channel
    rows, cols = zero[0].any(1).nonzero().flatten(), zero[0].any(0).nonzero().flatten()
    # one contiguous square of side <= 4, clipped at the border
    assert 1 <= len(rows) <= 4 and 1 <= len(cols) <= 4
    assert int(zero[0].sum()) == len(rows) * len(cols)
    assert torch.equal(image, torch.ones(2, 8, 8))  # input untouched
    assert cutout(image, 0) is image
    # the centre is uniform: over many draws every pixel is cut, the corners least often
    counts = torch.zeros(8, 8)
    for _ in range(400):
        counts += (cutout(torch.ones(1, 8, 8), 4, gen)[0] == 0).float()
    assert bool((counts > 0).all())
    assert counts[0, 0] < counts[3, 3]
    # length 16 around (y, x): rows y-8 .. y+7, so at most 16·16 pixels
    assert int((cutout(torch.ones(1, 32, 32), 16, gen) == 0).sum()) <= 256


def test_augmented_dataset_is_a_function_of_seed_epoch_index():
    base = _data(4, 16, 0)
    a = DartsAugmentedDataset(base, padding=2, cutout_length=4, seed=3)
    b = DartsAugmentedDataset(base, padding=2, cutout_length=4, seed=3)
    assert torch.equal(a[1][0], b[1][0]) and torch.equal(a[1][0], a[1][0])  # re-reads agree
    first = a[1][0]
    a.set_epoch(1)
    assert not torch.equal(a[1][0], first)
    assert a[1][1] == base[1][1] and a[1][0].shape == (3, 16, 16)
    with pytest.raises(ProxydataValueError, match="epoch must be >= 0"):
        a.set_epoch(-1)


def test_training_loss_falls_and_record_is_complete():
    train, test = _data(32, 16, 0), _data(16, 16, 1)
    result = train_darts_network(
        "DARTS_V2", train, test, epochs=4, auxiliary=False, lr=0.1, cutout_length=4, padding=2, **TINY
    )
    assert result.train_loss[-1] < result.train_loss[0]
    assert result.train_samples == 4 * 32
    assert result.test_acc >= 0.75  # the classes differ in brightness
    assert result.params > 0 and result.flops > 0
    assert result.settings["lr"] == 0.1 and result.settings["epochs"] == 4
    assert result.genotype.startswith("Genotype(normal=[('sep_conv_3x3', 0)")
    json.dumps(result.to_dict())


def test_same_seed_same_record_and_rng_restored():
    train, test = _data(16, 16, 0), _data(8, 16, 1)
    before = torch.get_rng_state()
    runs = [
        train_darts_network("PDARTS", train, test, epochs=2, auxiliary=False, seed=5, **TINY).to_dict()
        for _ in range(2)
    ]
    assert torch.equal(torch.get_rng_state(), before)
    for run in runs:
        run.pop("seconds")
        run.pop("cpu_seconds")
    assert runs[0] == runs[1]
    other = train_darts_network("PDARTS", train, test, epochs=2, auxiliary=False, seed=6, **TINY)
    assert other.train_loss != runs[0]["train_loss"]


def test_auxiliary_head_and_drop_path_at_32_px():
    train, test = _data(8, 32, 0), _data(4, 32, 1)
    with_aux = train_darts_network(
        "PC_DARTS", train, test, epochs=2, drop_path_prob=0.5, C=2, layers=3, num_classes=2, batch_size=8
    )
    without = train_darts_network(
        "PC_DARTS",
        train,
        test,
        epochs=2,
        drop_path_prob=0.5,
        C=2,
        layers=3,
        num_classes=2,
        batch_size=8,
        auxiliary_weight=0.0,
    )
    # the first epoch (drop path 0 · 0 / 2 = 0, same weights): the loss differs by the auxiliary term only
    assert with_aux.train_loss[0] > without.train_loss[0]
    assert with_aux.params == without.params  # auxiliary head not counted


def test_train_argument_errors():
    data = _data(4, 16, 0)
    with pytest.raises(ProxydataValueError, match="epochs must be >= 1"):
        train_darts_network("DARTS_V2", data, data, epochs=0)
    with pytest.raises(ProxydataValueError, match=r"drop_path_prob must be in \[0, 1\)"):
        train_darts_network("DARTS_V2", data, data, epochs=1, drop_path_prob=1.0)
    with pytest.raises(ProxydataTypeError, match="train_data must be a map-style dataset"):
        train_darts_network("DARTS_V2", 3, data, epochs=1)
    with pytest.raises(ProxydataValueError, match="test_data must not be empty"):
        train_darts_network("DARTS_V2", data, [], epochs=1)
    with pytest.raises(ProxydataValueError, match="device"):
        train_darts_network("DARTS_V2", data, data, epochs=1, device="cuda:99")
    with pytest.raises(ProxydataValueError, match="auxiliary=False"):
        train_darts_network("DARTS_V2", data, data, epochs=1, **TINY)  # 16 px: aux head too small
