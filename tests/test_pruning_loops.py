"""The pruner's samplers in the loop styles research code uses, with and without DataLoader workers.

Every style must observe every kept sample of both splits in every epoch (the
coverage guarantee) and reach the decisions of the plain ``num_workers=0`` loop
on the same observations. The logits are a fixed function of (index, epoch), so
any difference can only come from which samples were observed.
"""

from __future__ import annotations

import itertools
import warnings

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from proxydata import BiLevelPruner, IndexedDataset

N, K, BATCH, EPOCHS = 48, 3, 6, 5
CONFIG = dict(epochs=EPOCHS, interval=2, train_prune_ratio=0.25, val_prune_ratio=0.25, seed=3)


def _logits(indices: torch.Tensor, epoch: int) -> torch.Tensor:
    i = indices.to(torch.float64)[:, None]
    k = torch.arange(1, K + 1, dtype=torch.float64)[None, :]
    return (2.5 * torch.sin(0.37 * i * k + epoch * (0.5 + 0.11 * k) + (i % 4))).float()


def _dataset() -> IndexedDataset:
    x = torch.arange(N, dtype=torch.float32)[:, None]
    return IndexedDataset(TensorDataset(x, torch.arange(N) % K))


def _pruner() -> BiLevelPruner:
    return BiLevelPruner(torch.arange(N) % K, range(0, N // 2), range(N // 2, N), **CONFIG)


def _val_batches(style: str, val_loader: DataLoader):
    """One validation batch per training step, drawn the way the style draws it."""
    if style == "zip_cycle":
        yield from itertools.cycle(val_loader)
    elif style == "next_iter":  # NASLib / xautodl: a new iterator at every step
        while True:
            yield next(iter(val_loader))
    else:  # a persistent iterator, renewed when it runs out
        it = iter(val_loader)
        while True:
            try:
                yield next(it)
            except StopIteration:
                it = iter(val_loader)


def _search(style: str, num_workers: int, persistent: bool) -> BiLevelPruner:
    pruner, ds = _pruner(), _dataset()
    extra = {"num_workers": num_workers, "persistent_workers": persistent}
    if num_workers:
        extra["prefetch_factor"] = 3
    train_loader = DataLoader(ds, batch_size=BATCH, sampler=pruner.train_sampler, **extra)
    val_loader = DataLoader(ds, batch_size=BATCH, sampler=pruner.val_sampler, **extra)
    for epoch in range(EPOCHS):
        val_batches = _val_batches(style, val_loader)
        for (_, _, i), (_, _, iv) in zip(train_loader, val_batches):
            pruner.observe(iv, _logits(iv, epoch))
            pruner.observe(i, _logits(i, epoch))
        pruner.step()
    return pruner


def _decisions(pruner: BiLevelPruner) -> list:
    return [
        (h["epoch"], h[s]["indices"].tolist())
        for h in pruner.history
        if h["pruning_step"]
        for s in ("train", "val")
    ]


@pytest.fixture(scope="module")
def reference() -> BiLevelPruner:
    return _search("zip_cycle", 0, False)


@pytest.mark.parametrize("style", ["zip_cycle", "next_iter", "persistent_iterator"])
@pytest.mark.parametrize(("num_workers", "persistent"), [(0, False), (2, False), (2, True)])
def test_every_loop_style_covers_both_splits_and_decides_like_the_plain_loop(
    style, num_workers, persistent, reference
):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a coverage warning fails the test
        pruner = _search(style, num_workers, persistent)
    for h in pruner.history:
        assert (h["n_unobserved_train"], h["n_unobserved_val"]) == (0, 0), h["epoch"]
    assert [h["n_train"] for h in pruner.history] == [24, 18, 18, 12, 12]
    assert _decisions(pruner) == _decisions(reference)
    assert pruner.kept_train.tolist() == reference.kept_train.tolist()
    assert pruner.kept_val.tolist() == reference.kept_val.tolist()


def test_the_plain_loop_visits_the_epochs_seeded_order_exactly():
    pruner, ds = _pruner(), _dataset()
    loader = DataLoader(ds, batch_size=BATCH, sampler=pruner.val_sampler)
    expected = pruner.val_sampler.epoch_indices().tolist()
    seen = []
    for _, _, iv in loader:
        seen += iv.tolist()
        pruner.observe(iv, _logits(iv, 0))
    assert seen == expected and sorted(seen) == list(range(N // 2, N))


def test_iterating_changes_no_state_and_dropped_batches_come_back():
    pruner = _pruner()
    sampler = pruner.val_sampler
    first = list(sampler)
    assert list(sampler) == first and sampler.epoch == 0  # a pass changes nothing
    pruner.observe(torch.tensor(first[:6]), _logits(torch.tensor(first[:6]), 0))
    # A new iterator yields the rest of the epoch's order: the six observed samples are done.
    assert list(sampler) == first[6:]
    pruner.observe(torch.tensor(first[6:]), _logits(torch.tensor(first[6:]), 0))
    assert list(sampler) == first  # every sample observed once: a new round
    pruner.train_sampler.set_epoch(0)  # set_epoch is the one mutator
    assert pruner.val_sampler.epoch_indices().tolist() == first


def test_a_loop_that_draws_too_few_batches_is_warned_once_and_recorded():
    pruner, ds = _pruner(), _dataset()
    train_loader = DataLoader(ds, batch_size=BATCH, sampler=pruner.train_sampler)
    val_loader = DataLoader(ds, batch_size=BATCH, sampler=pruner.val_sampler)
    with pytest.warns(RuntimeWarning) as record:
        for epoch in range(3):
            for step, ((_, _, i), (_, _, iv)) in enumerate(zip(train_loader, itertools.cycle(val_loader))):
                pruner.observe(i, _logits(i, epoch))
                if step < 2:  # only two validation batches of four are used
                    pruner.observe(iv, _logits(iv, epoch))
            pruner.step()
    messages = [str(w.message) for w in record if "kept samples" in str(w.message)]
    assert len(messages) == 1 and "only 12 of the 24 kept samples of the val split" in messages[0]
    assert "use_distributed_sampler=False" in messages[0]
    assert [h["n_observed_val"] for h in pruner.history] == [12, 12, 12]
    assert [h["n_unobserved_val"] for h in pruner.history] == [12, 12, pruner.history[1]["n_val"] - 12]
    assert [h["n_unobserved_train"] for h in pruner.history] == [0, 0, 0]
    assert "*" in pruner.summary()


def test_setting_the_current_epoch_again_keeps_a_running_iterator():
    # Lightning calls set_epoch(current epoch) itself; that must not cut an epoch short.
    pruner = _pruner()
    it = iter(pruner.train_sampler)
    first = [next(it) for _ in range(3)]
    pruner.train_sampler.set_epoch(0)
    rest = list(it)
    assert len(first + rest) == N // 2
    it = iter(pruner.train_sampler)
    pruner.train_sampler.set_epoch(1)  # a new epoch: the old iterator stops
    assert list(it) == []


def test_kept_set_sampler_remove_and_restore_are_checked():
    sampler = _pruner().val_sampler
    sampler.remove([24, 25])
    assert sampler.indices.tolist() == list(range(26, N)) and len(sampler) == 22
    with pytest.raises(ValueError, match="not in the kept set"):
        sampler.remove([24])
    with pytest.raises(ValueError, match="outside the split"):
        sampler.restore([0, 30])
    sampler.restore(range(N // 2, N))
    assert len(sampler) == N // 2
