"""The xautodl recipe: an NB201 search model of xautodl (DARTS-V1), its loop style, the pruner's two
loaders in place of xautodl's ``SearchDataset`` pairing (docs/integrations/xautodl.md)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

pytest.importorskip("xautodl", reason="xautodl is not installed (pip install --no-deps xautodl)")

from xautodl.models.cell_operations import NAS_BENCH_201
from xautodl.models.cell_searchs import TinyNetworkDarts

from proxydata import BiLevelPruner, IndexedDataset

N_TRAIN, N_VAL, CLASSES = 48, 48, 3


def _dataset() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(N_TRAIN + N_VAL) % CLASSES
    x = torch.randn(N_TRAIN + N_VAL, 3, 8, 8, generator=g) + y[:, None, None, None].float()
    return TensorDataset(x, y)


def _search(num_workers: int) -> tuple[BiLevelPruner, list[tuple[list[int], list[int]]], torch.Tensor]:
    """xautodl's DARTS-V1 first-order loop over the pruner's loaders; returns the arch parameters."""
    torch.manual_seed(0)
    data = IndexedDataset(_dataset())
    pruner = BiLevelPruner(
        _dataset().tensors[1], range(N_TRAIN), range(N_TRAIN, N_TRAIN + N_VAL),
        epochs=5, interval=2, train_prune_ratio=0.25, val_prune_ratio=0.25, seed=0,
    )  # fmt: skip
    train_loader = DataLoader(data, batch_size=12, sampler=pruner.train_sampler, num_workers=num_workers)
    valid_loader = DataLoader(data, batch_size=12, sampler=pruner.val_sampler, num_workers=num_workers)
    network = TinyNetworkDarts(4, 1, 4, CLASSES, NAS_BENCH_201, affine=False, track_running_stats=False)
    criterion = nn.CrossEntropyLoss()
    w_optimizer = torch.optim.SGD(network.get_weights(), lr=0.05, momentum=0.9)
    a_optimizer = torch.optim.Adam(network.get_alphas(), lr=3e-3, betas=(0.5, 0.999))
    seen_val: list[tuple[list[int], list[int]]] = []  # (kept at the epoch's start, drawn)
    for _epoch in range(pruner.epochs):
        seen_val.append((pruner.kept_val.tolist(), []))
        for base_inputs, base_targets, base_index in train_loader:
            # xautodl's SearchDataset drew a random validation sample per training sample;
            # here the architecture batch comes from the pruner's validation loader
            arch_inputs, arch_targets, arch_index = next(iter(valid_loader))
            w_optimizer.zero_grad()
            _, logits = network(base_inputs)
            criterion(logits, base_targets).backward()
            nn.utils.clip_grad_norm_(network.parameters(), 5)
            w_optimizer.step()
            pruner.observe(base_index, logits)
            a_optimizer.zero_grad()
            _, logits = network(arch_inputs)
            criterion(logits, arch_targets).backward()
            a_optimizer.step()
            pruner.observe(arch_index, logits)
            seen_val[-1][1].extend(arch_index.tolist())
        pruner.step()
    return pruner, seen_val, network.arch_parameters.detach().clone()


@pytest.mark.parametrize("num_workers", [0, pytest.param(2, marks=pytest.mark.slow)])
def test_xautodl_darts_loop_with_the_pruners_loaders_walks_both_splits(num_workers: int) -> None:
    # with workers, each new iterator's prefetched-but-unused batches come back later in the epoch
    pruner, seen_val, alphas = _search(num_workers=num_workers)
    assert [h["n_train"] for h in pruner.history] == [48, 36, 36, 24, 24]
    assert [h["n_val"] for h in pruner.history] == [48, 36, 36, 24, 24]
    # one new validation iterator per step still walks the whole kept validation split, once
    for kept, drawn in seen_val:
        assert sorted(drawn) == kept
    assert [h["n_observed_val"] for h in pruner.history] == [48, 48, 36, 36, 24]
    assert [h["n_observed_train"] for h in pruner.history] == [48, 48, 36, 36, 24]
    assert alphas.shape == (6, len(NAS_BENCH_201)) and bool((alphas != 0).any())
    assert set(pruner.kept_val.tolist()) <= set(range(N_TRAIN, N_TRAIN + N_VAL))
