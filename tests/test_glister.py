"""GlisterSelector (GLISTER-ONLINE during a search): formulas on hand cases, greedy against a
reference loop, resume, coverage under ``next(iter(loader))``, argument checks, a real search."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, TensorDataset

import proxydata
from proxydata import (
    CorruptStateError,
    GlisterSelector,
    IndexedDataset,
    ProxydataTypeError,
    ProxydataValueError,
)
from proxydata.nas import SearchNetwork, search
from proxydata.pruning import glister_gains, glister_greedy, glister_val_gradient

N, K = 60, 3
TRAIN, VAL = np.arange(0, 40), np.arange(40, 60)


def _targets() -> np.ndarray:
    return (np.arange(N) * 7) % K


def _logits(indices: np.ndarray, epoch: int) -> torch.Tensor:
    # Deterministic logits per (sample, epoch), all distinct: no ties.
    i = torch.as_tensor(np.asarray(indices), dtype=torch.float64)[:, None]
    k = torch.arange(1, K + 1, dtype=torch.float64)[None, :]
    return (2.5 * torch.sin(0.37 * i * k + epoch * (0.5 + 0.11 * k) + (i % 4))).float()


def _drive(sel: GlisterSelector, epochs: int, batch: int = 7) -> None:
    """The loop: training and validation batches, the scoring pass, step()."""
    for _ in range(epochs):
        e = sel.epoch
        for sampler in (sel.train_sampler, sel.val_sampler, sel.scoring_sampler):
            order = np.fromiter(iter(sampler), dtype=np.int64)
            for start in range(0, order.size, batch):
                idx = order[start : start + batch]
                sel.observe(torch.from_numpy(idx), _logits(idx, e))
        sel.step()


# -- the formulas on hand cases ---------------------------------------------------------------
def test_gain_equals_its_formula_on_a_hand_case() -> None:
    # One validation sample, label 0, logits (0, 0): softmax (1/2, 1/2), g_V = (-1/2, 1/2).
    val_logits, val_labels = torch.tensor([[0.0, 0.0]], dtype=torch.float64), torch.tensor([0])
    g_val = glister_val_gradient(val_logits, val_labels, torch.zeros(2, dtype=torch.float64), 0.5)
    assert g_val.tolist() == [-0.5, 0.5]
    # A: label 0, softmax (1/4, 3/4) -> g = (-3/4, 3/4); B: label 0, softmax (3/4, 1/4) -> (-1/4, 1/4);
    # C: label 1, softmax (1/2, 1/2) -> (1/2, -1/2).  gain = eta * g . g_V with eta = 1/2:
    grads = torch.tensor([[-0.75, 0.75], [-0.25, 0.25], [0.5, -0.5]], dtype=torch.float64)
    gains = glister_gains(grads, g_val, 0.5)
    assert gains.tolist() == pytest.approx([0.5 * 0.75, 0.5 * 0.25, 0.5 * -0.5])
    # after a step b <- b - eta * s with s = g_A: logits (0,0) - 0.5 * (-3/4, 3/4) = (3/8, -3/8)
    p0 = 1 / (1 + math.exp(-0.75))
    moved = glister_val_gradient(val_logits, val_labels, grads[0], 0.5)
    assert moved.tolist() == pytest.approx([p0 - 1, 1 - p0])


def test_greedy_updates_the_validation_gradient_after_each_pick() -> None:
    # C = 2: every gradient is c * (-1, 1); gain = eta * 2 * c_i * c_V.
    grads = torch.tensor([[-0.75, 0.75], [-0.25, 0.25], [0.5, -0.5]], dtype=torch.float64)
    val_logits = torch.tensor([[0.0, 0.0], [0.0, math.log(3)]], dtype=torch.float64)
    val_labels = torch.tensor([0, 1])  # c_V = ((1 - 1/2) + (-1/4)) / 2 = 1/8
    eta = 2.0
    got = glister_greedy(grads, val_logits, val_labels, 2, eta=eta)
    # first pick A: gain 2 * 2 * 0.75 * 0.125 = 0.375. Then the validation logits move by
    # -eta * g_A = (1.5, -1.5): sample 0 -> (1.5, -1.5), p0 = 1/(1+e^-3); sample 1 -> (1.5, ln3 - 1.5),
    # p0 = 1/(1 + 3 e^-3); c_V = ((1 - p0) + (-p0')) / 2 < 0, so C (c = -1/2) beats B (static second).
    p0 = 1 / (1 + math.exp(-3))
    p0b = 1 / (1 + 3 * math.exp(-3))
    c_v = ((1 - p0) - p0b) / 2
    assert got.order.tolist() == [0, 2]
    assert got.gains.tolist() == pytest.approx([0.375, eta * 2 * -0.5 * c_v])
    static = glister_gains(grads, glister_val_gradient(val_logits, val_labels, torch.zeros(2), eta), eta)
    assert torch.argsort(static, descending=True)[:2].tolist() == [0, 1]  # the update made the difference


def test_ties_follow_the_tiebreak_order() -> None:
    grads = torch.tensor([[-0.5, 0.5]] * 4, dtype=torch.float64)  # four equal candidates
    val_logits, val_labels = torch.zeros(1, 2, dtype=torch.float64), torch.tensor([0])
    assert glister_greedy(grads, val_logits, val_labels, 2, eta=0.1).order.tolist() == [0, 1]
    got = glister_greedy(grads, val_logits, val_labels, 2, eta=0.1, tiebreak=np.array([2, 0, 3, 1]))
    assert got.order.tolist() == [2, 0]


def _reference_greedy(grads: np.ndarray, val_logits: np.ndarray, val_labels: np.ndarray, k: int, eta: float):
    """The obvious code: per pick, a Python loop over the candidates, the validation gradient recomputed."""
    remaining, picked, s = list(range(len(grads))), [], np.zeros(grads.shape[1])
    for _ in range(k):
        z = val_logits - eta * s
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(p)), val_labels] -= 1
        g_val = p.mean(axis=0)
        best, best_gain = None, -np.inf
        for i in remaining:
            gain = eta * float(np.dot(grads[i], g_val))
            if gain > best_gain:
                best, best_gain = i, gain
        picked.append(best)
        remaining.remove(best)
        s = s + grads[best]
    return picked


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 30),
    m=st.integers(1, 12),
    c=st.integers(2, 5),
    frac=st.floats(0.05, 1.0),
    eta=st.floats(0.01, 5.0),
    seed=st.integers(0, 2**16),
)
def test_greedy_equals_the_reference_loop(n, m, c, frac, eta, seed) -> None:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, c)) * 3
    y = rng.integers(0, c, size=n)
    grads = proxydata.pruning.glister_math.logit_gradients(torch.from_numpy(z), torch.from_numpy(y)).numpy()
    val_logits, val_labels = rng.normal(size=(m, c)) * 3, rng.integers(0, c, size=m)
    k = max(1, int(frac * n))
    got = glister_greedy(torch.from_numpy(grads), torch.from_numpy(val_logits), torch.from_numpy(val_labels),
                         k, eta=eta)  # fmt: skip
    assert got.order.tolist() == _reference_greedy(grads, val_logits, val_labels, k, eta)
    assert len(set(got.order.tolist())) == k


def test_fast_validation_gradient_falls_back_when_it_would_underflow() -> None:
    val_logits = torch.tensor([[800.0, -800.0, 0.0]], dtype=torch.float64)
    s = torch.tensor([0.0, 1e4, -1e4], dtype=torch.float64)
    fast = proxydata.pruning.glister_math._ValGradient(val_logits, torch.tensor([1]), 0.5)(s)
    assert torch.isfinite(fast).all()
    direct = glister_val_gradient(val_logits, torch.tensor([1]), s, 0.5)
    np.testing.assert_allclose(fast.numpy(), direct.numpy(), rtol=1e-12, atol=1e-15)


# -- the selector ---------------------------------------------------------------------------
def test_selector_reselects_every_interval_at_a_fixed_size() -> None:
    sel = GlisterSelector(_targets(), TRAIN, VAL, epochs=7, ratio=0.25, interval=2, seed=1)
    first = sel.subset
    assert first.size == 10 and np.isin(first, TRAIN).all()
    _drive(sel, 7)
    assert sel.select_epochs == [2, 4, 6]
    assert [h["selected"] for h in sel.history] == [False, True, False, True, False, True, False]
    assert all(h["subset_size"] == 10 for h in sel.history)
    assert sel.subset.size == 10
    # scoring passes: the 30 training samples outside the subset per selection (the validation split
    # is observed in full by its own sampler)
    assert [h["scored"] for h in sel.history if h["selected"]] == [30, 30, 30]
    cost = sel.selection_cost
    assert cost["samples"] == 90 and cost["selections"] == 3 and cost["cpu_seconds"] >= 0
    assert not np.array_equal(first, sel.subset)


def test_selection_equals_the_greedy_on_the_epoch_mean_logits() -> None:
    sel = GlisterSelector(_targets(), TRAIN, VAL, epochs=3, ratio=0.3, interval=1, eta=0.7, seed=4)
    for sampler in (sel.train_sampler, sel.train_sampler, sel.val_sampler, sel.scoring_sampler):
        idx = np.fromiter(iter(sampler), dtype=np.int64)  # the subset twice: mean of two observations
        sel.observe(idx, _logits(idx, 0))
    out = sel.step()
    y = torch.from_numpy(_targets())
    z = _logits(np.arange(N), 0).double()
    grads = proxydata.pruning.glister_math.logit_gradients(z[TRAIN], y[TRAIN])
    tiebreak = torch.randperm(TRAIN.size, generator=torch.Generator().manual_seed(4 + 1)).numpy()
    ref = glister_greedy(grads, z[VAL], y[VAL], 12, eta=0.7, tiebreak=tiebreak)
    assert out["order"].tolist() == TRAIN[ref.order].tolist()
    np.testing.assert_array_equal(sel.subset, np.sort(TRAIN[ref.order]))


def test_missing_logits_raise_and_change_nothing() -> None:
    sel = GlisterSelector(_targets(), TRAIN, VAL, epochs=3, ratio=0.25, interval=1)
    for sampler in (sel.train_sampler, sel.val_sampler):  # no scoring pass
        idx = np.fromiter(iter(sampler), dtype=np.int64)
        sel.observe(idx, _logits(idx, 0))
    before = sel.state_dict()
    with pytest.raises(ProxydataValueError, match="scoring_sampler"):
        sel.step()
    assert sel.epoch == 0 and np.array_equal(sel.subset, before["subset"].numpy())
    # the scoring pass yields exactly the 30 unobserved training samples; then step() works
    rest = np.fromiter(iter(sel.scoring_sampler), dtype=np.int64)
    assert sorted(rest.tolist()) == sorted(set(TRAIN.tolist()) - set(sel.subset.tolist()))
    sel.observe(rest, _logits(rest, 0))
    assert sel.step() is not None


def test_scoring_sampler_is_empty_outside_selection_epochs() -> None:
    sel = GlisterSelector(_targets(), TRAIN, VAL, epochs=5, ratio=0.5, interval=3)
    assert len(sel.scoring_sampler) == 0 and list(sel.scoring_sampler) == []
    _drive(sel, 2)
    assert len(sel.scoring_sampler) == 60  # nothing observed yet in the selection epoch
    assert sel.selection_due()


def test_state_dict_round_trips_through_a_file_and_resumes_identically(tmp_path) -> None:
    kwargs = dict(epochs=9, ratio=0.3, interval=2, seed=7)
    straight = GlisterSelector(_targets(), TRAIN, VAL, **kwargs)
    _drive(straight, 9)
    for stop, partial in ((3, False), (3, True), (4, False)):
        first = GlisterSelector(_targets(), TRAIN, VAL, **kwargs)
        _drive(first, stop)
        if partial:  # mid-epoch of a selection epoch: 5 of the 12 subset samples observed
            idx = np.fromiter(iter(first.train_sampler), dtype=np.int64)[:5]
            first.observe(idx, _logits(idx, first.epoch))
        torch.save(first.state_dict(), tmp_path / "sel.pt")
        resumed = GlisterSelector(_targets(), TRAIN, VAL, **kwargs)
        resumed.load_state_dict(torch.load(tmp_path / "sel.pt", weights_only=True))
        if partial:  # a new iterator yields only what was not observed yet
            assert len(list(resumed.train_sampler)) == 12 - 5
            for sampler in (resumed.train_sampler, resumed.val_sampler, resumed.scoring_sampler):
                idx = np.fromiter(iter(sampler), dtype=np.int64)
                resumed.observe(idx, _logits(idx, resumed.epoch))
            resumed.step()
        _drive(resumed, 9 - resumed.epoch)
        np.testing.assert_array_equal(resumed.subset, straight.subset)
        strip = lambda hs: [{k: v for k, v in h.items() if "seconds" not in k} for h in hs]  # noqa: E731
        assert strip(resumed.history) == strip(straight.history)
        assert resumed.selection_cost["samples"] == straight.selection_cost["samples"]


def test_a_bad_state_dict_changes_nothing() -> None:
    sel = GlisterSelector(_targets(), TRAIN, VAL, epochs=5, ratio=0.25, interval=2)
    _drive(sel, 2)
    good = sel.state_dict()
    other = GlisterSelector(_targets(), TRAIN, VAL, epochs=5, ratio=0.25, interval=2)
    before = other.state_dict()
    bad_cases = {
        "config": {**good, "config": {**good["config"], "eta": 0.5}},
        "subset": {**good, "subset": torch.tensor([*range(9), 45])},  # 45 is a validation index
        "epoch": {**good, "epoch": 99},
        "history": {**good, "history": good["history"][:1]},
        "samplers": {**good, "samplers": {"train": 0, "val": 2, "scoring": 2}},
        "selection_cost": {**good, "selection_cost": {**good["selection_cost"], "samples": -1}},
        "observed": {**good, "observed": torch.zeros(3, dtype=torch.int32)},
    }
    for name, bad in bad_cases.items():
        with pytest.raises(CorruptStateError, match=name):
            other.load_state_dict(bad)
        after = other.state_dict()
        assert after["epoch"] == before["epoch"] and torch.equal(after["subset"], before["subset"])
    with pytest.raises(ProxydataTypeError, match="state_dict"):
        other.load_state_dict([1])


def test_next_iter_per_step_still_covers_the_subset() -> None:
    x = torch.arange(N, dtype=torch.float32)[:, None]
    ds = IndexedDataset(TensorDataset(x, torch.from_numpy(_targets())))
    sel = GlisterSelector(_targets(), TRAIN, VAL, epochs=4, ratio=0.5, interval=2, seed=2)
    train_loader = DataLoader(ds, batch_size=6, sampler=sel.train_sampler)
    val_loader = DataLoader(ds, batch_size=5, sampler=sel.val_sampler)
    for _ in range(4):
        seen_train, seen_val = [], []
        e = sel.epoch
        for _, _, idx in train_loader:
            _, _, idx_v = next(iter(val_loader))  # NASLib / xautodl: a new iterator at every step
            sel.observe(idx_v, _logits(idx_v.numpy(), e))
            sel.observe(idx, _logits(idx.numpy(), e))
            seen_train += idx.tolist()
            seen_val += idx_v.tolist()
        assert sorted(seen_train) == sel.subset.tolist()  # every subset sample once
        assert sorted(seen_val) == VAL.tolist()  # 4 steps, 4 fresh iterators of 5: each sample once
        scored = []
        for _, _, idx in DataLoader(ds, batch_size=8, sampler=sel.scoring_sampler):
            sel.observe(idx, _logits(idx.numpy(), e))
            scored += idx.tolist()
        expect = sorted(set(TRAIN.tolist()) - set(sel.subset.tolist())) if sel.selection_due() else []
        assert sorted(scored) == expect
        sel.step()
    assert sel.epoch == 4


@pytest.mark.parametrize(
    ("kwargs", "exc", "name"),
    [
        (dict(epochs=0), ProxydataValueError, "epochs"),
        (dict(ratio=0.0), ProxydataValueError, "ratio"),
        (dict(ratio="a"), ProxydataTypeError, "ratio"),
        (dict(interval=0), ProxydataValueError, "interval"),
        (dict(eta=0.0), ProxydataValueError, "eta"),
        (dict(eta=float("nan")), ProxydataValueError, "eta"),
        (dict(seed=-1), ProxydataValueError, "seed"),
        (dict(num_classes=2), ProxydataValueError, "num_classes"),
        (dict(num_replicas=2, rank=2), ProxydataValueError, "rank"),
        (dict(val_indices=TRAIN[:3]), ProxydataValueError, "disjoint"),
    ],
)
def test_arguments_are_checked_by_name(kwargs, exc, name) -> None:
    args = {"train_indices": TRAIN, "val_indices": VAL, "epochs": 3, **kwargs}
    with pytest.raises(exc, match=name):
        GlisterSelector(_targets(), **args)


def test_observe_checks_its_inputs_and_the_end_of_the_run() -> None:
    sel = GlisterSelector(_targets(), TRAIN, VAL, epochs=1, ratio=0.5, interval=1)
    with pytest.raises(ProxydataValueError, match=r"in \[0, 60\)"):
        sel.observe([N], torch.zeros(1, K))
    with pytest.raises(ProxydataValueError, match="columns"):
        sel.observe([0], torch.zeros(1, K + 1))
    sel.step()  # epochs=1: no selection (selections at T, 2T, ... < epochs)
    assert sel.history[0]["selected"] is False
    with pytest.raises(ProxydataValueError, match="after the last epoch"):
        sel.observe([0], torch.zeros(1, K))


def test_a_tiny_real_search_reselects_every_interval() -> None:
    digits = proxydata.load_digits()
    ds = IndexedDataset(digits)
    train_idx, val_idx = np.arange(0, 120), np.arange(120, 200)
    sel = GlisterSelector(digits.targets, train_idx, val_idx, epochs=5, ratio=0.25, interval=2, seed=0)
    train_loader = DataLoader(ds, batch_size=30, sampler=sel.train_sampler)
    val_loader = DataLoader(ds, batch_size=30, sampler=sel.val_sampler)
    net = SearchNetwork(C=2, N=1, num_classes=10, in_channels=1, seed=0)
    subsets = [sel.subset]
    r = search(net, train_loader, val_loader, epochs=5, pruner=sel, progress=False,
               callbacks=[lambda e, res, n: subsets.append(sel.subset)])  # fmt: skip
    assert sel.epoch == 5 and r.train_set_sizes == [30] * 5
    assert [h["selected"] for h in sel.history] == [False, True, False, True, False]
    # the subset changes only after epochs 2 and 4
    same = [np.array_equal(a, b) for a, b in itertools.pairwise(subsets)]
    assert same == [True, False, True, False, True]
    # the loop's scoring pass: the 90 training samples outside the subset, and the 50 validation
    # samples the one validation batch paired with the one training batch (30) did not reach
    assert [h["scored"] for h in sel.history if h["selected"]] == [140, 140]
    assert sel.selection_cost["samples"] == 280


# -- run_search and the command line --------------------------------------------------------
def test_run_search_with_the_adaptive_selector_records_its_history_and_cost() -> None:
    from proxydata.experiment import SearchConfig, run_search

    digits = proxydata.load_digits()
    small = torch.utils.data.Subset(digits, list(range(60)))
    train, val = np.arange(0, 40), np.arange(40, 60)
    config = SearchConfig(epochs=3, C=2, N=1, batch_size=10, progress=False, adaptive="glister",
                          adaptive_kwargs={"ratio": 0.25, "interval": 1})  # fmt: skip
    record = run_search(small, train, val, config).to_dict()
    assert [h["selected"] for h in record["pruner_history"]] == [True, True, False]
    assert record["train_sizes"] == [10, 10, 10] and record["final_train"] == 10
    cost = record["adaptive_selection_cost"]
    assert cost["selections"] == 2 and cost["samples"] >= 2 * 30  # the 30 training samples outside
    json.loads(json.dumps(record))


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"adaptive": "craig"}, "adaptive"),
        ({"adaptive": "glister", "bdp": True}, "bdp"),
        ({"adaptive": "glister", "adaptive_kwargs": {"epochs": 3}}, "adaptive_kwargs"),
        ({"adaptive_kwargs": {"ratio": 0.5}}, "adaptive_kwargs"),
    ],
)
def test_search_config_checks_the_adaptive_settings(config, match) -> None:
    from proxydata.experiment import SearchConfig

    with pytest.raises(ProxydataValueError, match=match):
        SearchConfig(**config).validate()


def _tiny_source(tmp_path) -> str:
    rng = np.random.default_rng(0)
    src = tmp_path / "tiny.npz"
    np.savez(src, x_train=rng.integers(0, 256, (60, 8, 8, 3), dtype=np.uint8), y_train=np.tile([0, 1, 2], 20))
    return f"npz:{src}"


def test_cli_search_with_adaptive_glister(capsys, tmp_path) -> None:
    from proxydata.cli import main

    out_file = tmp_path / "glister.json"
    argv = ["search", "--data", _tiny_source(tmp_path), "--epochs", "3", "--C", "2", "--N", "1",
            "--batch-size", "10", "--no-progress", "--adaptive", "glister", "--ratio", "0.25",
            "--interval", "2", "-o", str(out_file)]  # fmt: skip
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    record = json.loads(out_file.read_text())
    assert record["config"]["adaptive"] == "glister"
    assert record["config"]["adaptive_kwargs"] == {"ratio": 0.25, "interval": 2}
    assert [h["selected"] for h in record["pruner_history"]] == [False, True, False]
    assert "adaptive selection cost: 1 selections" in out and "adaptive subset" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--interval", "2"], "--interval needs --adaptive"),
        (["--adaptive", "glister"], "needs --ratio"),
        (["--adaptive", "glister", "--ratio", "0.5", "--bdp"], "--bdp"),
        (["--adaptive", "glister", "--ratio", "0.5", "--interval", "0"], "--interval"),
        (["--adaptive", "glister", "--ratio", "0.5", "--eta", "-1"], "--eta"),
    ],
)
def test_cli_checks_the_adaptive_flags(capsys, tmp_path, argv, needle) -> None:
    from proxydata.cli import main

    code = main(["search", "--data", "digits", *argv])
    out, err = capsys.readouterr()
    assert code == 2 and needle in err and "Traceback" not in err + out
