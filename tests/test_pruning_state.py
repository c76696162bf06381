"""BiLevelPruner.load_state_dict: complete validation before anything changes; the version-1 format."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch

from proxydata import BiLevelPruner, CorruptStateError

Y = np.arange(60) % 3
KW = dict(epochs=8, interval=2, train_prune_ratio=0.2, val_prune_ratio=0.2, seed=1)


def _el2n(indices: np.ndarray, epoch: int) -> torch.Tensor:
    i = indices.astype(np.float64)
    return torch.from_numpy((0.7 + 0.6 * np.sin(i * 1.37 + epoch * (0.3 + i % 5))).astype(np.float32))


def _pruner() -> BiLevelPruner:
    return BiLevelPruner(Y, range(0, 30), range(30, 60), **KW)


def _run(pruner: BiLevelPruner, until: int) -> BiLevelPruner:
    while pruner.epoch < until:
        for sampler in (pruner.train_sampler, pruner.val_sampler):
            idx = np.fromiter(sampler, dtype=np.int64)
            pruner.observe_el2n(idx, _el2n(idx, pruner.epoch))
        pruner.step()
    return pruner


def _saved(pruner: BiLevelPruner) -> dict:
    """The state dict as it comes back from disk: torch.save, then torch.load(weights_only=True)."""
    buf = io.BytesIO()
    torch.save(pruner.state_dict(), buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.fixture(scope="module")
def mid_run() -> dict:
    """State after 5 epochs (two pruning steps) plus half an observed epoch."""
    pruner = _run(_pruner(), 5)
    idx = pruner.kept_train[:7]
    pruner.observe_el2n(idx, _el2n(idx, 5))
    return _saved(pruner)


def _edit(state: dict, path: tuple, value) -> dict:
    out = copy.deepcopy(state)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


def _pruned_at(state: dict, change) -> torch.Tensor:
    p = state["pruned_at"].clone()
    change(p)
    return p


def _set_first(state: dict, epoch: int) -> torch.Tensor:
    return _pruned_at(state, lambda p: p.__setitem__(0, epoch))


def _empty_class_1(pruned_at: torch.Tensor) -> torch.Tensor:
    # Training samples of class 1 are 1, 4, ..., 28: five pruned at each step (within the 6 asked).
    p = torch.zeros_like(pruned_at)
    p[torch.tensor([1, 4, 7, 10, 13])] = 2
    p[torch.tensor([16, 19, 22, 25, 28])] = 4
    return p


def _first_seen(ring: torch.Tensor, value: float) -> torch.Tensor:
    out = ring.clone()
    flat = out.view(-1)
    flat[int(torch.nonzero(~torch.isnan(flat))[0])] = value
    return out


def _first_observed_sum(current: torch.Tensor, value: float) -> torch.Tensor:
    out = current.clone()
    j = int(torch.nonzero(out[1] == 1)[0])
    out[0, j] = value
    return out


def _edit_entry(state: dict, k: int, change) -> list:
    history = copy.deepcopy(state["history"])
    change(history[k])
    return history


CASES = {
    "version 3": (("version",), 3, "version"),
    "negative epoch": (("epoch",), -1, "epoch must be in"),
    "epoch past the end": (("epoch",), 9, "epoch must be in"),
    "float epoch": (("epoch",), 5.0, "epoch must be an int"),
    "float pruned_at": (("pruned_at",), lambda s: s["pruned_at"].float(), "pruned_at must hold integers"),
    "pruned_at of a non-step epoch": (("pruned_at",), lambda s: _set_first(s, 3), "no pruning step"),
    "pruned_at of a future step": (("pruned_at",), lambda s: _set_first(s, 6), "no pruning step"),
    "pruned_at wrong length": (("pruned_at",), lambda s: s["pruned_at"][:-1], "shape"),
    "pruned_at beyond the asked count": (
        ("pruned_at",), lambda s: _pruned_at(s, lambda p: p[:30].masked_fill_(p[:30] == 0, 2)), "more than"),
    "pruned_at emptying a class": (("pruned_at",), lambda s: _empty_class_1(s["pruned_at"]), "min_per_class"),
    "history of ints": (("history",), [1, 2], "history"),
    "history too short": (("history",), lambda s: s["history"][:-1], "history"),
    "history disagreeing with pruned_at": (
        ("history",), lambda s: [dict(h, n_train=h["n_train"] + 1) for h in s["history"]], "n_train"),
    "sampler epoch None": (("samplers", "train", "epoch"), None, "epoch"),
    "no sampler": (("samplers",), {"train": {"epoch": 5}}, "samplers"),
    "ring of the wrong shape": (("ring",), torch.zeros(3, 3), "shape"),
    "negative ring value": (("ring",), lambda s: s["ring"].clone().fill_(-1.0), "ring must hold EL2N values"),
    "ring value of 1e30": (("ring",), lambda s: _first_seen(s["ring"], 1e30), "ring must hold EL2N values"),
    "ring value above sqrt(2)": (
        ("ring",), lambda s: _first_seen(s["ring"], 1.5), "ring must hold EL2N values"),
    "sum above sqrt(2) per observation": (
        ("current",), lambda s: _first_observed_sum(s["current"], 1.5), r"current\[0\] must hold sums"),
    "rejected on the CPU": (("rejected",), torch.tensor(5), "rejected is 5, but only 0"),
    "sampler epoch 99": (
        ("samplers", "train", "epoch"), 99, "samplers.'train'..'epoch'. is 99, but the pruner's epoch is 5"),
    "val sampler a step behind": (("samplers", "val", "epoch"), 4, "the pruner's epoch is 5"),
    "history entry without train_balance": (
        ("history",), lambda s: _edit_entry(s, 0, lambda h: h.pop("train_balance")), "train_balance"),
    "history with a wrong balance": (
        ("history",), lambda s: _edit_entry(s, 2, lambda h: h.update(val_balance=0.5)), "val_balance"),
    "history with wrong class counts": (
        ("history",), lambda s: _edit_entry(s, 0, lambda h: h.update(train_class_counts=[9, 11, 10])),
        "train_class_counts"),
    "history with a float count": (
        ("history",), lambda s: _edit_entry(s, 0, lambda h: h.update(n_observed_val=30.0)), "n_observed_val"),
    "history with observed + unobserved != kept": (
        ("history",), lambda s: _edit_entry(s, 0, lambda h: h.update(n_unobserved_val=3)),
        "n_unobserved_val"),
    "history with a wrong pruned count": (
        ("history",), lambda s: _edit_entry(s, 1, lambda h: h.update(pruned_train=2)), "pruned_train"),
    "history with a held-back count off a step": (
        ("history",), lambda s: _edit_entry(s, 0, lambda h: h.update(held_back_val=1)), "held_back_val"),
    "step record without asked": (
        ("history",), lambda s: _edit_entry(s, 1, lambda h: h["train"].pop("asked")), "step record"),
    "step record with a wrong held_back": (
        ("history",), lambda s: _edit_entry(s, 3, lambda h: h["val"].update(held_back=2)), "held_back"),
    "step record on an epoch without a step": (
        ("history",), lambda s: _edit_entry(s, 0, lambda h: h.update(train=s["history"][1]["train"])),
        "None"),
    "fractional counts": (("current",), lambda s: s["current"].clone().add_(0.5), "whole numbers"),
    "counts of pruned samples": (
        ("current",), lambda s: s["current"].clone().fill_(1.0), "observations of pruned"),
    "negative rejected": (("rejected",), torch.tensor(-1), "rejected"),
    "reduced not a bool": (("reduced",), "yes", "reduced"),
    "config for other epochs": (("config", "epochs"), 10, "epochs is 10 in the state_dict, 8 here"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_a_corrupt_state_dict_is_refused_and_changes_nothing(mid_run, case):
    path, value, match = CASES[case]
    bad = _edit(mid_run, path, value(mid_run) if callable(value) else value)
    pruner = _run(_pruner(), 1)
    before = _saved(pruner)
    with pytest.raises(CorruptStateError, match=match):
        pruner.load_state_dict(bad)
    after = pruner.state_dict()
    assert after["epoch"] == before["epoch"] and torch.equal(after["pruned_at"], before["pruned_at"])
    assert torch.equal(after["ring"].nan_to_num(-1), before["ring"].nan_to_num(-1))
    assert torch.equal(after["current"], before["current"])
    assert len(pruner.history) == 1


def test_a_refused_state_leaves_a_pruner_that_runs_like_an_uninterrupted_one(mid_run):
    # The old loader applied the buffers before failing on a sampler field: the run then pruned twice.
    reference = _run(_pruner(), KW["epochs"])
    pruner = _pruner()
    with pytest.raises(CorruptStateError):
        pruner.load_state_dict(_edit(mid_run, ("samplers", "val", "epoch"), None))
    _run(pruner, KW["epochs"])
    assert pruner.kept_train.tolist() == reference.kept_train.tolist()
    assert pruner.kept_val.tolist() == reference.kept_val.tolist()


def test_resume_from_disk_mid_epoch_equals_the_uninterrupted_run(mid_run):
    reference = _run(_pruner(), 5)
    idx = reference.kept_train[:7]
    reference.observe_el2n(idx, _el2n(idx, 5))
    resumed = _pruner()
    resumed.load_state_dict(mid_run)
    # The half-observed epoch: a new iterator yields only what is left of it.
    rest = np.fromiter(resumed.train_sampler, dtype=np.int64)
    assert sorted(rest.tolist() + idx.tolist()) == sorted(resumed.kept_train.tolist())
    for p in (reference, resumed):
        _run(p, KW["epochs"])
    assert resumed.kept_train.tolist() == reference.kept_train.tolist()
    assert resumed.kept_val.tolist() == reference.kept_val.tolist()
    assert resumed.summary() == reference.summary()


def _as_version_1(state: dict) -> dict:
    old = copy.deepcopy(state)
    old["version"] = 1
    old["samplers"] = {
        s: {"epoch": v["epoch"], "pass_number": 0, "cursor": 3} for s, v in state["samplers"].items()
    }
    for h in old["history"]:
        for key in [k for k in h if k.startswith(("n_unobserved_", "pruned_", "held_back_"))]:
            del h[key]
    return old


def test_the_version_1_format_still_loads(mid_run):
    pruner = _pruner()
    pruner.load_state_dict(_as_version_1(mid_run))
    assert pruner.epoch == 5 and len(pruner.kept_train) == 30 - 2 * 6
    assert "5" in pruner.summary()
    bad = _edit(_as_version_1(mid_run), ("samplers", "train", "cursor"), -1)
    with pytest.raises(CorruptStateError, match="cursor"):
        _pruner().load_state_dict(bad)
    bad = _edit(_as_version_1(mid_run), ("samplers", "train", "cursor"), None)
    with pytest.raises(CorruptStateError, match="cursor"):
        _pruner().load_state_dict(bad)


def test_an_index_repeated_in_one_batch_counts_twice_before_and_after_a_resume_from_disk():
    # One rule everywhere: every occurrence is an observation (the buffer's count, the samplers'
    # coverage count and the saved state agree). It used to count once on the host and twice
    # in the state, so the next pass yielded 20 samples before a resume and 19 after.
    pruner = BiLevelPruner(np.arange(40) % 2, range(20), range(20, 40), epochs=4, interval=2)
    pruner.observe_el2n([0, 0, *range(1, 10)], torch.full((11,), 0.5))
    pruner.observe_el2n(list(range(10, 20)), torch.full((10,), 0.5))
    resumed = BiLevelPruner(np.arange(40) % 2, range(20), range(20, 40), epochs=4, interval=2)
    resumed.load_state_dict(_saved(pruner))
    before, after = list(pruner.train_sampler), list(resumed.train_sampler)
    assert before == after
    assert sorted(before) == list(range(1, 20))  # index 0 was observed twice: the others come first
    assert pruner.recorder.running()[1][0] == 2 == resumed.recorder.running()[1][0]
