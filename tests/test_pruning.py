"""BiLevelPruner: hand-computed pruning, VoE, invariants, loaders, resume, bad inputs."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, TensorDataset

from proxydata import BiLevelPruner, IndexedDataset
from proxydata.metrics import class_prune_limits, el2n, voe
from proxydata.pruning import ScoreRecorder, select_for_pruning

# Many tests observe part of a split on purpose; the coverage warning has tests of its own.
pytestmark = pytest.mark.filterwarnings("ignore:only .* kept samples:RuntimeWarning")

# ---------------------------------------------------------------------------------------------
# The 20-sample toy problem, computed by hand.
#
# Labels: train = 0..11 (class 0: 0..9, class 1: 10, 11); val = 12..19 (class 0: 12..15,
# class 1: 16..19). epochs=7, interval T=3 → pruning after epochs 3 and 6 (6 < 7), S = 2.
# train_prune_ratio = val_prune_ratio = 0.25 → asked = round(0.25·12) = 3 (train),
# round(0.25·8) = 2 (val) per step.
#
# Each entry lists the EL2N of one sample in the three epochs of a window; a list inside
# means several observations in that epoch (averaged) or none ([]).
# spread(m, d) = (m − d, m, m + d): population variance 2d²/3.
# ---------------------------------------------------------------------------------------------
TOY_Y = np.array([0] * 10 + [1] * 2 + [0] * 4 + [1] * 4)


def spread(m: float, d: float) -> list[float]:
    return [m - d, m, m + d]


WINDOW_1 = {
    # train                                        VoE (by hand)
    0: [[0.125, 0.375], [0.25], [0.25]],  # epoch 1 mean 0.25 → (0.25, 0.25, 0.25): 0
    1: spread(0.5, 0.06),  # 2·0.06²/3 = 0.0024
    2: spread(0.5, 0.09),  # 0.0054
    3: spread(0.5, 0.12),  # 0.0096
    4: [[0.2], [], [0.4]],  # epochs 1, 3 only: var(0.2, 0.4) = 0.01
    5: [[], [0.7], []],  # one epoch: no VoE
    6: spread(0.5, 0.15),  # 0.015
    7: spread(0.5, 0.18),  # 0.0216
    8: spread(0.5, 0.21),  # 0.0294
    9: spread(0.5, 0.24),  # 0.0384
    10: [0.5, 0.5, 0.5],  # 0 (class 1)
    11: spread(0.5, 0.03),  # 0.0006 (class 1)
    # val
    12: spread(0.5, 0.03),  # 0.0006
    13: [0.25, 0.5, 0.75],  # 1/24 = 0.041667
    14: [[0.1], [0.7], []],  # epochs 1, 2: var(0.1, 0.7) = 0.09
    15: [[], [], [0.9]],  # one epoch: no VoE
    16: spread(0.5, 0.06),  # 0.0024
    17: spread(0.5, 0.24),  # 0.0384
    18: [0.0, 0.25, 0.5],  # 1/24, an exact tie with 13 (broken by index: 13 first)
    19: spread(0.5, 0.09),  # 0.0054
}
# Step 1 (after epoch 3), train, "low" first:
#   VoE order 0 (0), 10 (0; tie with 0, index order), 11 (0.0006), 1 (0.0024), 2, 3, 4 (0.01), 6, ...
#   counts (10, 2) → B = 2/(2·1) · 2/10 = 0.2; N = floor(n / 2^(1−0.2)) = floor(n / 1.7411)
#   → N_0 = floor(5.743) = 5, N_1 = floor(1.149) = 1; caps min(N, n − 1) = (5, 1).
#   Walk: take 0 (c0), take 10 (c1 reaches 1), skip 11 (c1 full), take 1 → pruned [0, 10, 1].
#   VoE order alone would prune [0, 10, 11] and empty class 1: 11 is "protected".
# Step 1, val, "high" first: 14 (0.09), 13 (1/24), 18 (1/24), 17 (0.0384), 19, 16, 12.
#   counts (4, 4) → B = 1 → N = (4, 4); caps (3, 3) → pruned [14, 13], nothing protected.
WINDOW_2 = {
    # train (kept: 2..9, 11)
    2: [0.3, 0.3, 0.6],  # mean 0.4 → (0.01 + 0.01 + 0.04)/3 = 0.02
    3: [[0.1], [], [0.2]],  # var(0.1, 0.2) = 0.0025
    **{i: [[], [0.5], []] for i in range(4, 10)},  # one epoch each: no VoE
    11: [0.5, 0.5, 0.5],  # 0 (class 1)
    # val (kept: 12, 15..19)
    12: [[0.1], [0.9], []],  # var(0.1, 0.9) = 0.16
    15: [0.0, 0.75, 0.0],  # mean 0.25 → (0.0625 + 0.25 + 0.0625)/3 = 0.125
    16: spread(0.5, 0.03),  # 0.0006
    17: spread(0.5, 0.06),  # 0.0024
    18: spread(0.5, 0.09),  # 0.0054
    # 19: never observed → no VoE
}
# Step 2 (after epoch 6), train: candidates 11 (0), 3 (0.0025), 2 (0.02); 4..9 have no VoE
#   (one window epoch; their window-1 values are forgotten). counts (8, 1) → B = 1/8;
#   N = floor(n / 2^0.875) = floor(n / 1.834) → (4, 0). Walk: skip 11 (cap 0), take 3, take 2:
#   pruned [3, 2], asked 3 → 1 held back by the class limit; 11 protected.
# Step 2, val: 12 (0.16), 15 (0.125), 18 (0.0054), 17 (0.0024), 16 (0.0006); 19 no VoE.
#   counts (2, 4) → B = 2/4 = 0.5; N = floor(n / 2^0.5) → (floor(1.414), floor(2.828)) = (1, 2);
#   caps (min(1, 1), min(2, 3)) = (1, 2). Walk: take 12, skip 15 (c0 full), take 18 → [12, 18].
# Final: train kept {4, 5, 6, 7, 8, 9, 11} (7, one more than the schedule's 6), val {15, 16, 17, 19}.


def _feed(pruner: BiLevelPruner, window: dict[int, list]) -> list[dict | None]:
    infos = []
    for t in range(3):
        for index, values in window.items():
            v = values[t]
            for x in v if isinstance(v, list) else [v]:
                pruner.observe_el2n([index], torch.tensor([x]))
        infos.append(pruner.step())
    return infos


def _toy(class_balance: bool = True) -> BiLevelPruner:
    return BiLevelPruner(
        TOY_Y,
        range(12),
        range(12, 20),
        epochs=7,
        interval=3,
        train_prune_ratio=0.25,
        val_prune_ratio=0.25,
        class_balance=class_balance,
    )


def test_toy_problem_prunes_the_hand_computed_samples():
    pruner = _toy()
    assert pruner.pruning_schedule() == [(3, 9, 6), (6, 6, 4)]
    infos = _feed(pruner, WINDOW_1)
    assert infos[:2] == [None, None]
    step1 = infos[2]
    assert step1["epoch"] == 3
    t, v = step1["train"], step1["val"]
    assert t["indices"].tolist() == [0, 10, 1]
    np.testing.assert_allclose(t["voe"], [0.0, 0.0, 0.0024], atol=1e-7)
    assert t["limits"] == [5, 1] and t["balance_before"] == pytest.approx(0.2)
    assert t["protected"].tolist() == [11]
    # 11 is class 1's second candidate: min_per_class = 1 alone already keeps it (N_1 = n_1 - 1).
    assert t["protected_by"] == {"class_limit": 0, "min_per_class": 1}
    assert (t["asked"], t["pruned"], t["held_back"]) == (3, 3, 0)
    assert t["n_candidates"] == 11 and t["n_without_voe"] == 1  # sample 5
    assert v["indices"].tolist() == [14, 13]
    np.testing.assert_allclose(v["voe"], [0.09, 1 / 24], atol=1e-7)
    assert v["limits"] == [4, 4] and v["protected"].size == 0
    # The whole window's VoE, sample by sample (kept samples only, in index order).
    np.testing.assert_allclose(
        pruner.voe("train"),
        [0.0054, 0.0096, 0.01, np.nan, 0.015, 0.0216, 0.0294, 0.0384, 0.0006],
        atol=1e-7,
    )
    assert pruner.kept_train.tolist() == [2, 3, 4, 5, 6, 7, 8, 9, 11]
    assert pruner.kept_val.tolist() == [12, 15, 16, 17, 18, 19]

    infos = _feed(pruner, WINDOW_2)
    step2 = infos[2]
    t, v = step2["train"], step2["val"]
    assert t["indices"].tolist() == [3, 2]
    np.testing.assert_allclose(t["voe"], [0.0025, 0.02], atol=1e-7)
    assert t["limits"] == [4, 0] and t["balance_before"] == pytest.approx(0.125)
    assert (t["asked"], t["pruned"], t["held_back"]) == (3, 2, 1)
    assert t["held_back_by"] == {"no_voe": 0, "class_limit": 1, "min_per_class": 0}
    assert t["protected"].tolist() == [11] and t["n_without_voe"] == 6
    assert v["indices"].tolist() == [12, 18]
    np.testing.assert_allclose(v["voe"], [0.16, 0.0054], atol=1e-6)
    assert v["limits"] == [1, 2] and v["balance_before"] == pytest.approx(0.5)
    assert v["protected"].tolist() == [15]
    assert pruner.kept_train.tolist() == [4, 5, 6, 7, 8, 9, 11]
    assert pruner.kept_val.tolist() == [15, 16, 17, 19]
    sizes = [(h["epoch"], h["n_train"], h["n_val"]) for h in pruner.history if h["pruning_step"]]
    assert sizes == [(3, 9, 6), (6, 7, 4)]
    assert pruner.history[3]["n_observed_train"] == 3  # epoch 4: samples 2, 3, 11


def test_toy_problem_without_class_balance_holds_back_by_min_per_class():
    # Without the limit only min_per_class = 1 protects class 1; the choices coincide here,
    # but the shortfall of step 2 is attributed to min_per_class (class 1 has one sample left).
    pruner = _toy(class_balance=False)
    step1 = _feed(pruner, WINDOW_1)[2]
    assert step1["train"]["indices"].tolist() == [0, 10, 1]
    assert step1["train"]["limits"] is None
    step2 = _feed(pruner, WINDOW_2)[2]
    assert step2["train"]["indices"].tolist() == [3, 2]
    assert step2["train"]["held_back_by"] == {"no_voe": 0, "class_limit": 0, "min_per_class": 1}


def test_class_limit_formula_values_match_the_toy_comments():
    assert class_prune_limits([10, 2], 2).tolist() == [5, 1]
    assert class_prune_limits([8, 1], 2).tolist() == [4, 0]
    assert class_prune_limits([2, 4], 2).tolist() == [1, 2]


def test_shortfall_for_missing_voe_is_recorded():
    # Only two training samples are observed twice: 2 of the 3 asked can be pruned.
    pruner = BiLevelPruner(
        TOY_Y, range(12), range(12, 20), epochs=5, interval=2, train_prune_ratio=0.25, val_prune_ratio=0.0
    )
    for _ in range(2):
        pruner.observe_el2n([0, 1, 2], torch.tensor([0.1, 0.2, 0.3]) * (1 + pruner.epoch))
        pruner.observe_el2n([3], torch.tensor([0.5]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = pruner.step()
    t = info["train"]
    # VoE: 0 → var(0.1, 0.2) = 0.0025, 1 → 0.01, 2 → 0.0225, 3 → var(0.5, 0.5) = 0;
    assert t["indices"].tolist() == [3, 0, 1]
    pruner2 = BiLevelPruner(
        TOY_Y, range(12), range(12, 20), epochs=5, interval=2, train_prune_ratio=0.25, val_prune_ratio=0.0
    )
    for _ in range(2):
        pruner2.observe_el2n([0, 1], torch.tensor([0.1, 0.2]) * (1 + pruner2.epoch))
        info = pruner2.step()
    t = info["train"]
    assert t["indices"].tolist() == [0, 1]
    assert t["held_back_by"] == {"no_voe": 1, "class_limit": 0, "min_per_class": 0}
    assert info["val"]["asked"] == 0 and info["val"]["pruned"] == 0


# --- VoE semantics ---------------------------------------------------------------------------
def test_voe_equals_numpy_var_when_every_epoch_is_observed():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 30)
    T = 4
    pruner = BiLevelPruner(y, range(0, 15), range(15, 30), epochs=9, interval=T)
    values = rng.uniform(0, 1.4, size=(T, 30)).astype(np.float32)
    for t in range(T):
        pruner.observe_el2n(np.arange(30), torch.from_numpy(values[t]))
        if t < T - 1:
            pruner.step()
    expected = np.var(values.astype(np.float64), axis=0)
    # Before the pruning step of epoch T: the window of epochs 1..T-1 plus the unfolded epoch.
    pruner.step()
    full = pruner.recorder.voe()
    np.testing.assert_allclose(full, expected, rtol=1e-12, atol=1e-15)
    # and via metrics.voe on the ring (the documented semantics)
    ring = pruner.recorder.window().T
    np.testing.assert_allclose(full, voe(ring, ~np.isnan(ring)), rtol=1e-12)


def test_missing_epochs_are_excluded_and_fewer_than_two_never_prune():
    y = np.zeros(8, dtype=int)
    pruner = BiLevelPruner(
        y,
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        epochs=7,
        interval=3,
        train_prune_ratio=0.25,
        val_prune_ratio=0.25,
        class_balance=False,
    )
    obs = {  # epoch → {index: el2n}; dyadic values so that equal variances are exactly equal
        0: {0: 0.25, 1: 0.25, 2: 0.75, 3: 0.5, 4: 0.125, 5: 0.5, 6: 1.375, 7: 0.25},
        1: {0: 0.5, 1: 0.25, 2: 0.75, 4: 0.125, 5: 0.5, 7: 0.5},
        2: {0: 0.75, 1: 0.25, 4: 1.25, 5: 0.5, 7: 0.75},
    }
    for e in range(3):
        idx = list(obs[e])
        pruner.observe_el2n(idx, torch.tensor([obs[e][i] for i in idx]))
        info = pruner.step()
    # train ("low"): 0 → var(.25, .5, .75) = 1/24; 1 → 0; 2 → seen in epochs 1, 2 only:
    # var(.75, .75) = 0 (it would be 0.125 if the missing epoch counted as 0); 3 → one epoch,
    # no VoE. Tie 1 vs 2 at 0 → lower index first: prune [1].
    assert info["train"]["indices"].tolist() == [1]
    np.testing.assert_allclose(pruner.voe("train"), [1 / 24, 0.0, np.nan])  # kept 0, 2, 3
    # val ("high"): 4 → var(.125, .125, 1.25) = 0.28125; 5 → 0; 7 → 1/24; 6 → one epoch, no VoE
    # (were its two missing epochs zeros, var(1.375, 0, 0) = 0.42 would make it the first pick).
    assert info["val"]["indices"].tolist() == [4]
    np.testing.assert_allclose(info["val"]["voe"], [0.28125])
    np.testing.assert_allclose(pruner.voe("val"), [0.0, np.nan, 1 / 24])  # kept 5, 6, 7


def test_observe_averages_el2n_within_an_epoch_and_matches_metrics_el2n():
    g = torch.Generator().manual_seed(0)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    pruner = BiLevelPruner(
        y, [0, 1, 2], [3, 4, 5], epochs=4, interval=2, train_prune_ratio=0.0, val_prune_ratio=0.0
    )
    a = torch.randn(3, 3, generator=g)
    b = torch.randn(2, 3, generator=g)
    pruner.observe(torch.tensor([0, 1, 4]), a)
    pruner.observe(np.array([0, 5]), b.double())
    pruner.step()
    col = pruner.recorder.window()[0]
    e_a = el2n(a, y[[0, 1, 4]]).numpy()
    e_b = el2n(b.double(), y[[0, 5]]).numpy()
    np.testing.assert_allclose(col[[1, 4]], e_a[[1, 2]], rtol=1e-6)
    np.testing.assert_allclose(col[0], (e_a[0] + e_b[0]) / 2, rtol=1e-6)
    np.testing.assert_allclose(col[5], e_b[1], rtol=1e-6)
    assert np.isnan(col[[2, 3]]).all()
    assert pruner.history[0]["n_observed_train"] == 2 and pruner.history[0]["n_observed_val"] == 2


def test_el2n_of_confident_samples_keeps_its_precision():
    # p_y → 1: sqrt(‖p‖² − 2p_y + 1) cancels to 0 in float32; the recorded EL2N must not.
    y = np.zeros(10, dtype=int)
    y[5:] = 1
    pruner = BiLevelPruner(y, range(5), range(5, 10), epochs=3, interval=2, num_classes=10)
    z = torch.zeros(5, 10, dtype=torch.float64)
    z[:, 0] = torch.tensor([8.0, 10.0, 12.0, 14.0, 16.0])
    p = torch.softmax(z, dim=1)
    exact = torch.sqrt((1 - p[:, 0]) ** 2 + (p[:, 1:] ** 2).sum(1))  # float64 reference
    pruner.observe(torch.arange(5), z.float())
    pruner.step()
    np.testing.assert_allclose(pruner.recorder.window()[0, :5], exact.numpy(), rtol=1e-5)
    assert exact[-1] < 2e-6


# --- the selection walk against a direct Python greedy, with ties -----------------------------
def _greedy(indices, labels, voe_, asked, criterion, k, min_per_class, limits):
    cands = [j for j in range(len(indices)) if np.isfinite(voe_[j])]
    sign = 1 if criterion == "low" else -1
    cands.sort(key=lambda j: (sign * voe_[j], indices[j]))
    counts = np.bincount(labels, minlength=k)
    taken, per_class = [], np.zeros(k, dtype=int)
    for j in cands:
        c = labels[j]
        if limits is not None and per_class[c] >= limits[c]:
            continue
        if counts[c] - per_class[c] - 1 < min_per_class:
            continue
        if len(taken) == asked:
            break
        taken.append(indices[j])
        per_class[c] += 1
    return taken


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_selection_equals_the_greedy_walk(data):
    m = data.draw(st.integers(0, 30))
    k = data.draw(st.integers(1, 4))
    labels = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=m, max_size=m)), dtype=np.int64)
    raw = data.draw(st.lists(st.one_of(st.none(), st.integers(0, 5)), min_size=m, max_size=m))
    voe_ = np.array([np.nan if v is None else v / 7 for v in raw], dtype=np.float64)  # many ties
    drawn = data.draw(st.sets(st.integers(0, 200), min_size=m, max_size=m))
    indices = np.array(sorted(drawn), dtype=np.int64)
    asked = data.draw(st.integers(0, m))
    criterion = data.draw(st.sampled_from(["low", "high"]))
    mpc = data.draw(st.integers(1, 3))
    limits = data.draw(st.one_of(st.none(), st.lists(st.integers(0, 6), min_size=k, max_size=k)))
    limits = None if limits is None else np.array(limits, dtype=np.int64)
    sel = select_for_pruning(indices, labels, voe_, asked, criterion, k, mpc, limits)
    assert sel.indices.tolist() == _greedy(indices, labels, voe_, asked, criterion, k, mpc, limits)
    assert sum(sel.held_back_by.values()) == asked - sel.pruned
    assert all(v >= 0 for v in sel.held_back_by.values())


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    k=st.integers(1, 6),
    asked=st.integers(1, 400),
    criterion=st.sampled_from(["low", "high"]),
    balanced=st.booleans(),
)
def test_selection_of_a_large_split_equals_the_greedy_walk(seed, k, asked, criterion, balanced):
    # Large enough that only a prefix of the VoE order is sorted; integer VoEs force ties at the cut.
    rng = np.random.default_rng(seed)
    m = 3000
    labels = rng.integers(0, k, m) if balanced else np.minimum(rng.geometric(0.5, m) - 1, k - 1)
    voe_ = rng.integers(0, 25, m).astype(np.float64)
    voe_[rng.random(m) < 0.1] = np.nan
    indices = np.sort(rng.choice(10 * m, m, replace=False))
    limits = rng.integers(0, 3 * asked // k + 2, k)
    sel = select_for_pruning(indices, labels, voe_, asked, criterion, k, 2, limits)
    assert sel.indices.tolist() == _greedy(indices, labels, voe_, asked, criterion, k, 2, limits)
    unconstrained = _greedy(indices, labels, voe_, asked, criterion, k, 1, None)
    assert sel.protected.tolist() == [i for i in unconstrained if i not in set(sel.indices.tolist())]
    # "class_limit" protection: exactly the protected samples min_per_class alone would prune.
    floor_only = set(_greedy(indices, labels, voe_, asked, criterion, k, 2, None))
    assert sel.protected_by["class_limit"] == sum(i in floor_only for i in sel.protected.tolist())
    assert sum(sel.protected_by.values()) == sel.protected.size


@pytest.mark.parametrize(
    ("limit_0", "min_per_class", "asked", "protected", "by"),
    [
        # class 0 (indices 0-5) has the lowest VoE; class 1 (6-11) follows.
        # Limit 2, floor cap 6 - 1 = 5: 0, 1 taken, then 6, 7; 2, 3 kept by the limit alone.
        (2, 1, 4, [2, 3], {"class_limit": 2, "min_per_class": 0}),
        # Limit 4 above the floor cap 6 - 3 = 3: 0, 1, 2, 6, 7 taken; 3, 4 kept by min_per_class.
        (4, 3, 5, [3, 4], {"class_limit": 0, "min_per_class": 2}),
        # Limit 2 below the floor cap 3: 2 is the limit's (rank 2 < 3), 3 and 4 min_per_class's.
        (2, 3, 5, [2, 3, 4], {"class_limit": 1, "min_per_class": 2}),
    ],
)
def test_protected_samples_are_attributed_to_the_cap_that_kept_them(
    limit_0, min_per_class, asked, protected, by
):
    labels = np.r_[np.zeros(6, dtype=np.int64), np.ones(6, dtype=np.int64)]
    voe_ = np.arange(12, dtype=np.float64)
    sel = select_for_pruning(
        np.arange(12, dtype=np.int64), labels, voe_, asked, "low", 2, min_per_class, np.array([limit_0, 6])
    )
    assert sel.protected.tolist() == protected
    assert sel.protected_by == by


def test_selection_walks_past_the_sorted_prefix_when_caps_skip_many():
    # 2000 class-0 samples with the lowest VoE, class 0 capped at 5: the walk must go deep.
    m = 3000
    labels = np.r_[np.zeros(2000, dtype=np.int64), np.ones(1000, dtype=np.int64)]
    voe_ = np.r_[np.arange(2000) / 1e4, 1 + np.arange(1000) / 1e4]
    indices = np.arange(m, dtype=np.int64)
    sel = select_for_pruning(indices, labels, voe_, 100, "low", 2, 1, np.array([5, 500]))
    assert sel.indices.tolist() == list(range(5)) + list(range(2000, 2095))
    assert sel.protected.tolist() == list(range(5, 100))


# --- invariants over random runs --------------------------------------------------------------
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
@pytest.mark.filterwarnings("ignore:epochs=.* <= interval:RuntimeWarning")  # short runs are drawn too
def test_invariants_of_random_runs(data):
    n = data.draw(st.integers(8, 60), label="n")
    k = data.draw(st.integers(1, 5), label="k")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    is_val = rng.random(n) < data.draw(st.sampled_from([0.3, 0.5, 0.7]))
    is_val[0], is_val[1] = False, True
    epochs = data.draw(st.integers(1, 12), label="epochs")
    interval = data.draw(st.integers(2, 4), label="interval")
    p_t = data.draw(st.sampled_from([0.0, 0.05, 0.1, 0.15, 0.25]))
    p_v = data.draw(st.sampled_from([0.0, 0.05, 0.1, 0.15, 0.25]))
    class_balance = data.draw(st.booleans())
    mpc = data.draw(st.integers(1, 3))
    p_seen = data.draw(st.sampled_from([0.6, 0.9, 1.0]))
    try:
        pruner = BiLevelPruner(
            y,
            np.flatnonzero(~is_val),
            np.flatnonzero(is_val),
            epochs=epochs,
            interval=interval,
            train_prune_ratio=p_t,
            val_prune_ratio=p_v,
            class_balance=class_balance,
            min_per_class=mpc,
            seed=seed,
            num_classes=k,  # the highest class may be absent from y
        )
    except ValueError as exc:  # a schedule that would prune a whole split
        assert "pruning steps" in str(exc)
        return
    schedule = dict((e, (a, b)) for e, a, b in pruner.pruning_schedule())
    held = {"train": 0, "val": 0}
    prev = {"train": set(pruner.kept_train.tolist()), "val": set(pruner.kept_val.tolist())}
    initial_counts = {s: pruner.class_counts(s) for s in ("train", "val")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # partial coverage, schedules without a step
        for _ in range(epochs):
            kept = np.concatenate([pruner.kept_train, pruner.kept_val])
            seen = kept[rng.random(kept.size) < p_seen]
            if seen.size:
                pruner.observe(torch.from_numpy(seen), torch.from_numpy(rng.normal(0, 2, (seen.size, k))))
            counts_before = {s: pruner.class_counts(s) for s in ("train", "val")}
            info = pruner.step()
            assert (info is not None) == (pruner.epoch in schedule)
            now = {"train": set(pruner.kept_train.tolist()), "val": set(pruner.kept_val.tolist())}
            assert not now["train"] & now["val"]
            for s in ("train", "val"):
                assert now[s] <= prev[s]  # kept sets only shrink
                counts = pruner.class_counts(s)
                assert np.all(counts >= np.minimum(counts_before[s], mpc))  # min_per_class
                assert np.all(counts <= initial_counts[s])
                if info is None:
                    assert now[s] == prev[s]
                    continue
                d = info[s]
                assert set(d["indices"].tolist()) == prev[s] - now[s]
                assert np.all(np.isfinite(d["voe"]))
                assert d["pruned"] == d["asked"] - d["held_back"]
                if d["limits"] is not None:
                    per_class = np.bincount(y[d["indices"]], minlength=k)
                    assert np.all(per_class <= np.array(d["limits"]))  # never over the limit
                held[s] += d["held_back"]
            if info is not None:
                ideal_t, ideal_v = schedule[pruner.epoch]
                assert len(now["train"]) == ideal_t + held["train"]  # sizes follow the schedule
                assert len(now["val"]) == ideal_v + held["val"]
            prev = now
    assert pruner.epoch == epochs and len(pruner.history) == epochs


# --- samplers and DataLoaders -----------------------------------------------------------------
def _tensor_problem(n: int = 60, k: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = torch.arange(n) % k
    return IndexedDataset(TensorDataset(x, y)), y


@pytest.mark.parametrize("num_workers", [0, 2])
def test_dataloader_visits_exactly_the_kept_set_once_per_epoch(num_workers):
    ds, y = _tensor_problem()
    pruner = BiLevelPruner(
        y, range(0, 30), range(30, 60), epochs=5, interval=2, train_prune_ratio=0.2, val_prune_ratio=0.2
    )
    loaders = {
        "train": DataLoader(ds, batch_size=7, sampler=pruner.train_sampler, num_workers=num_workers),
        "val": DataLoader(ds, batch_size=7, sampler=pruner.val_sampler, num_workers=num_workers),
    }
    g = torch.Generator().manual_seed(1)
    orders = []
    for _ in range(5):
        for split, loader in loaders.items():
            seen = []
            for _, _, index in loader:
                seen.extend(index.tolist())
                pruner.observe(index, torch.randn(len(index), 3, generator=g))
            kept = pruner.kept_train if split == "train" else pruner.kept_val
            assert sorted(seen) == kept.tolist()  # each kept sample exactly once
            orders.append(seen)
        pruner.step()
    assert len(pruner.kept_train) == 30 - 2 * 6 and len(pruner.kept_val) == 30 - 2 * 6
    assert orders[0] != sorted(orders[0])  # shuffled ...
    assert orders[0][:5] != orders[2][:5]  # ... afresh each epoch (step() calls set_epoch)
    assert pruner.train_sampler.epoch == 5 and pruner.val_sampler.epoch == 5


def test_sampler_shuffles_are_seeded():
    _, y = _tensor_problem()
    a = BiLevelPruner(y, range(0, 30), range(30, 60), epochs=6, seed=3)
    b = BiLevelPruner(y, range(0, 30), range(30, 60), epochs=6, seed=3)
    c = BiLevelPruner(y, range(0, 30), range(30, 60), epochs=6, seed=4)
    assert list(a.train_sampler) == list(b.train_sampler)
    assert list(a.train_sampler) != list(c.train_sampler)


def test_naslib_style_next_iter_walks_the_whole_validation_split():
    # NASLib takes `next(iter(valid_queue))` at every step; each new iterator continues the pass.
    ds, y = _tensor_problem()
    pruner = BiLevelPruner(
        y, range(0, 30), range(30, 60), epochs=5, interval=2, train_prune_ratio=0.1, val_prune_ratio=0.1
    )
    train_loader = DataLoader(ds, batch_size=6, sampler=pruner.train_sampler)
    val_loader = DataLoader(ds, batch_size=6, sampler=pruner.val_sampler)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        seen_val = []
        for _, _, i in train_loader:
            _, _, iv = next(iter(val_loader))
            seen_val.extend(iv.tolist())
            pruner.observe(iv, torch.randn(len(iv), 3, generator=g))
            pruner.observe(i, torch.randn(len(i), 3, generator=g))
        n_batches = -(-len(pruner.kept_train) // 6)
        n_val_batches = -(-len(pruner.kept_val) // 6)
        if n_batches >= n_val_batches:  # enough steps to cover the validation split once
            assert set(seen_val) == set(pruner.kept_val.tolist())
        pruner.step()
    sizes = [(h["epoch"], h["n_train"], h["n_val"]) for h in pruner.history if h["pruning_step"]]
    assert sizes == pruner.pruning_schedule()


def test_an_iterator_from_a_finished_epoch_stops_instead_of_yielding_pruned_indices():
    ds, y = _tensor_problem()
    pruner = BiLevelPruner(
        y, range(0, 30), range(30, 60), epochs=5, interval=2, train_prune_ratio=0.2, val_prune_ratio=0.2
    )
    g = torch.Generator().manual_seed(0)
    loader = DataLoader(ds, batch_size=4, sampler=pruner.val_sampler)
    stale = None
    for _ in range(2):
        for _, _, i in DataLoader(ds, batch_size=30, sampler=pruner.train_sampler):
            pruner.observe(i, torch.randn(len(i), 3, generator=g))
        for _, _, iv in loader:
            pruner.observe(iv, torch.randn(len(iv), 3, generator=g))
        stale = iter(loader)  # a new pass of the same epoch, kept across the step below
        next(stale)
        pruner.step()
    assert len(pruner.kept_val) == 24
    with pytest.raises(StopIteration):
        next(stale)  # stale: the epoch it belonged to is over (and some of its samples are pruned)
    assert sorted(i for batch in loader for i in batch[2].tolist()) == pruner.kept_val.tolist()


def test_random_validation_sample_per_training_batch():
    # A loop that pairs every training batch with validation samples drawn at random.
    ds, y = _tensor_problem(n=80)
    pruner = BiLevelPruner(
        y, range(0, 40), range(40, 80), epochs=7, interval=2, train_prune_ratio=0.1, val_prune_ratio=0.1
    )
    train_loader = DataLoader(ds, batch_size=8, sampler=pruner.train_sampler)
    rng = np.random.default_rng(0)
    g = torch.Generator().manual_seed(0)
    for _ in range(7):
        for _, _, i in train_loader:
            iv = rng.choice(pruner.kept_val, size=16)  # with repeats: averaged per epoch
            xv = torch.stack([ds[j][0] for j in iv])
            pruner.observe(torch.from_numpy(iv), torch.randn(len(iv), 3, generator=g) + xv[:, :3])
            pruner.observe(i, torch.randn(len(i), 3, generator=g))
        pruner.step()
    for h in pruner.history:
        if h["pruning_step"]:
            assert h["val"]["pruned"] == h["val"]["asked"] == 4
    assert len(pruner.kept_val) == 40 - 3 * 4


# --- resume --------------------------------------------------------------------------------------
def _el2n_for(indices: np.ndarray, epoch: int) -> torch.Tensor:
    # A deterministic, irregular "EL2N" per (sample, epoch).
    i = indices.astype(np.float64)
    return torch.from_numpy((0.7 + 0.6 * np.sin(i * 1.37 + epoch * (0.3 + i % 5))).astype(np.float32))


def _run_epoch_part(pruner: BiLevelPruner, epoch: int, stop: int | None = None) -> list[int]:
    """Observe `stop` batches of 5 from both samplers (all when None); return the visited order."""
    visited = []
    its = [iter(pruner.train_sampler), iter(pruner.val_sampler)]
    count = 0
    while stop is None or count < stop:
        batch = [list(_take(it, 5)) for it in its]
        if not batch[0] and not batch[1]:
            break
        for b in batch:
            if b:
                idx = np.array(b)
                pruner.observe_el2n(idx, _el2n_for(idx, epoch))
                visited.extend(b)
        count += 1
    return visited


def _take(it, k):
    for _ in range(k):
        try:
            yield next(it)
        except StopIteration:
            return


def test_resume_from_state_dict_mid_run_makes_identical_decisions(tmp_path):
    y = np.arange(80) % 4
    kw = dict(epochs=12, interval=3, train_prune_ratio=0.15, val_prune_ratio=0.1, seed=7)
    ref = BiLevelPruner(y, range(0, 50), range(50, 80), **kw)
    ref_visits = []
    for e in range(12):
        ref_visits.append(_run_epoch_part(ref, e))
        ref.step()

    run = BiLevelPruner(y, range(0, 50), range(50, 80), **kw)
    visits = []
    for e in range(4):
        visits.append(_run_epoch_part(run, e))
        run.step()
    first_half = _run_epoch_part(run, 4, stop=2)  # stop in the middle of epoch 5
    path = tmp_path / "pruner.pt"
    torch.save(run.state_dict(), path)
    del run
    resumed = BiLevelPruner(y, range(0, 50), range(50, 80), **kw)
    resumed.load_state_dict(torch.load(path))  # weights_only=True by default
    second_half = _run_epoch_part(resumed, 4)  # fresh iterators continue the pass
    visits.append(first_half + second_half)
    resumed.step()
    for e in range(5, 12):
        visits.append(_run_epoch_part(resumed, e))
        resumed.step()
    assert sorted(visits[4]) == sorted(ref_visits[4])
    assert visits == ref_visits
    assert resumed.kept_train.tolist() == ref.kept_train.tolist()
    assert resumed.kept_val.tolist() == ref.kept_val.tolist()
    for a, b in zip(resumed.history, ref.history):
        assert a.keys() == b.keys()
        for s in ("train", "val"):
            if a[s] is not None:
                np.testing.assert_array_equal(a[s]["indices"], b[s]["indices"])
                np.testing.assert_array_equal(a[s]["voe"], b[s]["voe"])
    assert resumed.summary() == ref.summary()


def test_state_dict_is_a_copy_and_validated():
    y = np.arange(40) % 2
    p = BiLevelPruner(y, range(20), range(20, 40), epochs=6, interval=2)
    p.observe_el2n([0, 1], torch.tensor([0.3, 0.4]))
    sd = p.state_dict()
    p.observe_el2n([0], torch.tensor([0.5]))
    assert sd["current"][1, 0].item() == 1.0  # unaffected by later observations
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    sd2 = torch.load(buf)
    other_targets = BiLevelPruner((np.arange(40) + 1) % 2, range(20), range(20, 40), epochs=6, interval=2)
    with pytest.raises(ValueError, match="targets"):
        other_targets.load_state_dict(sd2)
    other_epochs = BiLevelPruner(y, range(20), range(20, 40), epochs=8, interval=2)
    with pytest.raises(ValueError, match="epochs is 6 in the state_dict, 8 here"):
        other_epochs.load_state_dict(sd2)
    other_split = BiLevelPruner(y, range(1, 20), range(20, 40), epochs=6, interval=2)
    with pytest.raises(ValueError, match="train_indices"):
        other_split.load_state_dict(sd2)
    with pytest.raises(TypeError, match="state_dict must be a dict"):
        p.load_state_dict([1, 2])
    with pytest.raises(ValueError, match="lacks the keys"):
        p.load_state_dict({"version": 1})
    broken = dict(sd2, ring=torch.zeros(3, 3))
    fresh = BiLevelPruner(y, range(20), range(20, 40), epochs=6, interval=2)
    with pytest.raises(ValueError, match="shape"):
        fresh.load_state_dict(broken)
    assert not fresh.recorder.allocated and fresh.epoch == 0  # nothing half-loaded
    fresh.load_state_dict(sd2)
    assert [a[0] for a in fresh.recorder.running()] == pytest.approx([0.3, 1.0])


# --- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"val_indices": [5, 10, 11]}, ValueError, "disjoint"),
        ({"val_indices": []}, ValueError, "val_indices must not be empty"),
        ({"train_indices": [0, 0, 1]}, ValueError, "duplicates"),
        ({"train_indices": [0, 25]}, ValueError, r"train_indices must lie in \[0, 20\)"),
        ({"train_indices": [0.5, 1.0]}, TypeError, "integers"),
        ({"epochs": 0}, ValueError, "epochs must be >= 1"),
        ({"interval": 1}, ValueError, "interval must be >= 2"),
        ({"train_prune_ratio": 1.0}, ValueError, "train_prune_ratio"),
        ({"val_prune_ratio": -0.1}, ValueError, "val_prune_ratio"),
        ({"train_prune_ratio": 0.5, "epochs": 20, "interval": 2}, ValueError, "pruning steps"),
        ({"train_criterion": "lowest"}, ValueError, "train_criterion"),
        ({"val_criterion": 1}, TypeError, "val_criterion"),
        ({"class_balance": 1}, TypeError, "class_balance"),
        ({"min_per_class": 0}, ValueError, "min_per_class"),
        ({"seed": -1}, ValueError, "seed"),
        ({"limit_fn": 3}, TypeError, "limit_fn"),
        ({"num_replicas": 2, "rank": 2}, ValueError, "rank"),
        ({"device": 3}, TypeError, "device"),
    ],
)
def test_constructor_rejects_bad_arguments(kwargs, exc, match):
    args = dict(targets=np.arange(20) % 2, train_indices=range(0, 10), val_indices=range(10, 20), epochs=6)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        BiLevelPruner(**args)


def test_targets_may_be_a_dataset_or_a_list():
    ds, y = _tensor_problem(n=12)
    a = BiLevelPruner(ds, range(6), range(6, 12), epochs=3, interval=2)
    b = BiLevelPruner(y.tolist(), range(6), range(6, 12), epochs=3, interval=2)
    assert a.targets.tolist() == b.targets.tolist() == y.tolist()


@pytest.fixture
def small() -> BiLevelPruner:
    y = np.arange(20) % 2
    p = BiLevelPruner(
        y, range(0, 10), range(10, 18), epochs=5, interval=2, train_prune_ratio=0.2, val_prune_ratio=0.0
    )
    for _ in range(2):
        p.observe(torch.arange(10), torch.randn(10, 2, generator=torch.Generator().manual_seed(p.epoch)))
        p.step()
    return p


@pytest.mark.parametrize(
    ("indices", "logits", "exc", "match"),
    [
        ([18], torch.zeros(1, 2), ValueError, "index 18 is in neither"),
        ([25], torch.zeros(1, 2), ValueError, r"in \[0, 20\), got 25"),
        ([-1], torch.zeros(1, 2), ValueError, "got -1"),
        (torch.tensor([1.0]), torch.zeros(1, 2), TypeError, "integer tensor"),
        (np.array([[1]]), torch.zeros(1, 2), ValueError, "1-D"),
        ("1", torch.zeros(1, 2), TypeError, "indices"),
        ([10, 11], torch.zeros(3, 2), ValueError, "one row per index"),
        ([10], torch.zeros(1, 1), ValueError, "must have 2 columns"),
        ([10], torch.zeros(1, 3), ValueError, "must have 2 columns"),
        ([10], torch.zeros(1, 2, device="meta"), ValueError, "meta"),
        ([10], torch.zeros(2), ValueError, "shape"),
        ([10], torch.zeros(1, 2, dtype=torch.long), TypeError, "floating point"),
        ([10], [[0.0, 1.0]], TypeError, "torch.Tensor"),
        ([10, 11], torch.tensor([[0.0, 1.0], [float("nan"), 0.0]]), ValueError, "finite"),
        ([10, 11], torch.tensor([[0.0, float("inf")], [0.0, 0.0]]), ValueError, "finite"),
    ],
)
def test_observe_rejects_bad_input_and_records_nothing(small, indices, logits, exc, match):
    before = small.recorder.running()
    with pytest.raises(exc, match=match):
        small.observe(indices, logits)
    assert all(np.array_equal(a, b) for a, b in zip(small.recorder.running(), before))


def test_huge_but_finite_logits_are_accepted(small):
    # Their float64 sum overflows; the element-wise check then finds them finite.
    z = torch.tensor([[1e308, 1e308], [0.0, 50.0]], dtype=torch.float64)
    small.observe([10, 11], z)
    assert [a[10] for a in small.recorder.running()] == pytest.approx([0.5**0.5, 1.0])  # p = (0.5, 0.5)
    assert small.recorder.running()[0][11] == pytest.approx(0.0, abs=1e-12)


def test_observe_rejects_pruned_indices_naming_them(small):
    pruned = small.history[1]["train"]["indices"]
    assert pruned.size == 2
    with pytest.raises(ValueError, match=f"index {pruned[0]} was pruned from the train split after epoch 2"):
        small.observe(torch.tensor([int(pruned[0]), 11]), torch.zeros(2, 2))
    before = small.recorder.running()
    with pytest.raises(ValueError, match="was pruned"):
        small.observe(torch.tensor([11, int(pruned[1])]), torch.zeros(2, 2))  # valid first index: nothing
    assert all(np.array_equal(a, b) for a, b in zip(small.recorder.running(), before))


def test_deferred_nan_check_records_nothing_and_step_reports_once(monkeypatch):
    # On accelerators NaN/inf are detected without a host sync; emulate that path on the CPU.
    monkeypatch.setattr(ScoreRecorder, "defers_checks", staticmethod(lambda device: True))
    y = np.arange(20) % 2
    p = BiLevelPruner(y, range(10), range(10, 20), epochs=5, interval=2)
    p.observe([0, 1], torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    bad = torch.tensor([[float("nan"), 0.0], [0.0, 1.0]])
    p.observe([0, 2], bad)  # no error here, and nothing recorded
    assert p.recorder.running()[1][:3].tolist() == [1.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="1 observe\\(\\) call"):
        p.step()
    assert p.epoch == 0 and p.history == []
    assert p.step() is None and p.epoch == 1  # reported once, then the run goes on
    assert p.history[0]["n_observed_train"] == 2


def test_bad_limit_fn_output_leaves_the_pruner_unchanged():
    y = np.arange(20) % 2
    p = BiLevelPruner(y, range(10), range(10, 20), epochs=5, interval=2, limit_fn=lambda c, s, b: [1])
    for _ in range(2):
        p.observe(torch.arange(20), torch.randn(20, 2, generator=torch.Generator().manual_seed(p.epoch)))
        if p.epoch == 1:
            with pytest.raises(ValueError, match="limit_fn must return one limit per class"):
                p.step()
            assert p.epoch == 1 and len(p.history) == 1
            assert np.isnan(p.recorder.window()[1]).all()  # the epoch was not folded in
        else:
            p.step()


def test_custom_limit_fn_replaces_the_formula():
    calls = []

    def no_pruning(counts, num_steps, balance):
        calls.append((list(counts), num_steps, balance))
        return np.zeros_like(counts)

    y = np.arange(20) % 2
    p = BiLevelPruner(y, range(10), range(10, 20), epochs=5, interval=2, limit_fn=no_pruning)
    for _ in range(2):
        p.observe(torch.arange(20), torch.randn(20, 2, generator=torch.Generator().manual_seed(p.epoch)))
        info = p.step()
    assert calls == [([5, 5], 2, 1.0), ([5, 5], 2, 1.0)]
    assert info["train"]["pruned"] == 0
    assert info["train"]["held_back_by"]["class_limit"] == info["train"]["asked"] == 1


def test_warns_when_a_split_was_never_observed():
    y = np.arange(20) % 2
    p = BiLevelPruner(y, range(10), range(10, 20), epochs=5, interval=2)
    with pytest.warns(RuntimeWarning, match="val split"):
        for _ in range(2):
            p.observe(torch.arange(10), torch.randn(10, 2, generator=torch.Generator().manual_seed(p.epoch)))
            p.step()
    assert len(p.kept_train) == 9 and len(p.kept_val) == 10


def test_sharding_without_a_process_group_warns_and_splits_the_kept_set():
    y = np.arange(40) % 2
    ranks = [
        BiLevelPruner(y, range(20), range(20, 40), epochs=4, interval=2, num_replicas=2, rank=r)
        for r in (0, 1)
    ]
    parts = [list(p.train_sampler) for p in ranks]
    assert sorted(parts[0] + parts[1]) == list(range(20)) and len(parts[0]) == 10
    with pytest.warns(RuntimeWarning, match="not initialised"):
        ranks[0].step()


def test_summary_and_schedule_and_repr():
    y = np.arange(40) % 2
    p = BiLevelPruner(
        y, range(20), range(20, 40), epochs=7, interval=2, train_prune_ratio=0.1, val_prune_ratio=0.2
    )
    assert p.num_steps == 3 and p.prune_epochs == [2, 4, 6]
    assert p.pruning_schedule() == [(2, 18, 16), (4, 16, 12), (6, 14, 8)]
    for _ in range(3):
        kept = torch.from_numpy(np.concatenate([p.kept_train, p.kept_val]))
        p.observe(kept, torch.randn(len(kept), 2, generator=torch.Generator().manual_seed(p.epoch)))
        p.step()
    text = p.summary()
    assert "T=2" in text and "3 pruning steps" in text
    rows = [line.split() for line in text.splitlines() if line.strip()[:1].isdigit()]
    assert [r[:3] for r in rows] == [
        ["0", "20", "20"],
        ["1", "20", "20"],
        ["2", "18", "16"],
        ["3", "18", "16"],
    ]
    assert "2/2" in text and "4/4" in text
    assert "kept_train=18/20" in repr(p)


def test_device_argument_allocates_the_buffers_at_once():
    y = np.arange(20) % 2
    lazy = BiLevelPruner(y, range(10), range(10, 20), epochs=6)
    fixed = BiLevelPruner(y, range(10), range(10, 20), epochs=4, interval=2, device="cpu")
    assert not lazy.recorder.allocated  # allocated on the first observe, on the logits' device
    assert fixed.recorder.window().shape == (2, 20) and fixed.recorder.allocated
    assert fixed.recorder.nbytes() == 2 * 20 * 4 + 2 * 20 * 4 + 8  # ring + running epoch + counter
    lazy.observe([0], torch.zeros(1, 2))
    assert lazy.recorder.device.type == "cpu" and lazy.recorder.window().shape == (5, 20)
