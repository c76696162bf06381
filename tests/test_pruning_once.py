"""BiLevelPruner's one-shot EL2N mode (BDP's Table 2): score="el2n", pruning="once".

Hand-computed on a 20-sample toy problem; the state dict round trip; a tiny real search.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import proxydata
from proxydata import BiLevelPruner, CorruptStateError, ProxydataTypeError, ProxydataValueError
from proxydata.nas import SearchNetwork, search
from proxydata.pruning.scores import mean_el2n

pytestmark = pytest.mark.filterwarnings("ignore:only .* kept samples:RuntimeWarning")

# train = 0..11 (class 0: 0..9, class 1: 10, 11); val = 12..19 (class 0: 12..15, class 1: 16..19)
Y = np.array([0] * 10 + [1] * 2 + [0] * 4 + [1] * 4)
TRAIN, VAL = np.arange(12), np.arange(12, 20)
# epochs=7, interval T=3: the progressive schedule prunes after epochs 3 and 6 (S_p = 2) and asks
# round(0.25 · 12) = 3 training and round(0.25 · 8) = 2 validation samples per step; pruning once
# asks 2 · 3 = 6 and 2 · 2 = 4 after epoch 3 only.
CONFIG = dict(epochs=7, interval=3, train_prune_ratio=0.25, val_prune_ratio=0.25, seed=0)

# EL2N per sample in epochs 1, 2, 3 (a list: several observations in that epoch, averaged; [] none).
WINDOW = {
    # train                                     mean EL2N over the observed epochs (by hand)
    0: [0.1, 0.2, 0.3],  # 0.2
    1: [0.5, 0.5, 0.5],  # 0.5
    2: [[0.05, 0.15], [], []],  # one epoch, mean 0.1: a score (it would have no VoE)
    3: [0.9, 0.9, 0.9],  # 0.9
    4: [0.3, 0.3, 0.3],  # 0.3
    5: [[], [], []],  # never observed: no score, never pruned
    6: [0.6, 0.6, 0.6],  # 0.6
    7: [0.7, 0.7, 0.7],  # 0.7
    8: [0.8, 0.8, 0.8],  # 0.8
    9: [0.4, 0.4, 0.4],  # 0.4
    10: [0.05, 0.05, 0.05],  # 0.05 (class 1)
    11: [0.15, 0.15, 0.15],  # 0.15 (class 1)
    # val
    12: [0.1, 0.1, 0.1],  # 0.1
    13: [0.2, 0.2, 0.2],  # 0.2
    14: [[0.9], [], []],  # 0.9 (one epoch)
    15: [0.3, 0.5, 0.7],  # 0.5
    16: [0.8, 0.8, 0.8],  # 0.8 (class 1)
    17: [0.6, 0.6, 0.6],  # 0.6 (class 1)
    18: [0.7, 0.7, 0.7],  # 0.7 (class 1)
    19: [0.05, 0.05, 0.05],  # 0.05 (class 1)
}


def _feed(pruner: BiLevelPruner, epoch: int) -> None:
    """Observe epoch ``epoch`` (0-based) of WINDOW; later epochs repeat the last one."""
    e = min(epoch, 2)
    for index, values in WINDOW.items():
        if index not in set(pruner.kept_train.tolist()) | set(pruner.kept_val.tolist()):
            continue
        obs = values[e] if isinstance(values[e], list) else [values[e]]
        for x in obs:
            pruner.observe_el2n([index], torch.tensor([x]))


def _once(**kw) -> BiLevelPruner:
    return BiLevelPruner(Y, TRAIN, VAL, **{**CONFIG, "score": "el2n", "pruning": "once", **kw})


def test_mean_el2n_by_hand() -> None:
    window = np.array([[0.2, np.nan, 0.5, np.nan], [0.4, 0.7, np.nan, np.nan], [0.6, np.nan, 0.25, np.nan]])
    got = mean_el2n(window)
    np.testing.assert_allclose(got[:3], [0.4, 0.7, 0.375])
    assert np.isnan(got[3])  # never observed: no score


def test_once_schedule_prunes_the_progressive_total_after_the_first_window() -> None:
    once, progressive = _once(), BiLevelPruner(Y, TRAIN, VAL, **CONFIG)
    assert progressive.prune_epochs == [3, 6] and progressive.schedule.asked == (3, 2)
    assert once.prune_epochs == [3] and once.num_steps == 1 and once.schedule.asked == (6, 4)
    # the same final size, reached at epoch 3 instead of 6
    assert progressive.pruning_schedule() == [(3, 9, 6), (6, 6, 4)]
    assert once.pruning_schedule() == [(3, 6, 4)]
    assert [once.schedule.prunes_after(e) for e in range(1, 8)] == [False, False, True] + [False] * 4


def test_one_shot_el2n_prunes_by_hand() -> None:
    pruner = _once()
    results = []
    for epoch in range(7):
        _feed(pruner, epoch)
        results.append(pruner.step())
    assert [r is not None for r in results] == [False, False, True, False, False, False, False]
    train, val = results[2]["train"], results[2]["val"]
    assert train["score"] == val["score"] == "el2n"
    # lowest mean EL2N first: 10 (0.05), 2 (0.1), [11 (0.15): class 1 would be emptied], 0, 4, 9, 1
    assert train["indices"].tolist() == [10, 2, 0, 4, 9, 1]
    np.testing.assert_allclose(train["voe"], [0.05, 0.1, 0.2, 0.3, 0.4, 0.5], rtol=1e-6)
    assert train["protected"].tolist() == [11]
    assert train["protected_by"] == {"class_limit": 0, "min_per_class": 1}
    assert train["n_candidates"] == 11  # sample 5 was never observed
    # highest mean EL2N first: 14 (0.9, one epoch), 16 (0.8), 18 (0.7), 17 (0.6)
    assert val["indices"].tolist() == [14, 16, 18, 17]
    # S = E / T = 7 // 3 = 2 (BDP's, the default): train counts [10, 2], B = (2 / 10) = 0.2,
    # N = floor([10, 2] / 2^0.8) = floor([5.74, 1.15]) = [5, 1]; val [4, 4], B = 1: N = [4, 4]
    assert pruner.limit_s == 2
    assert train["limits"] == [5, 1] and val["limits"] == [4, 4]
    assert pruner.kept_train.tolist() == [3, 5, 6, 7, 8, 11]
    assert pruner.kept_val.tolist() == [12, 13, 15, 19]
    assert [h["n_train"] for h in pruner.history] == [12, 12, 6, 6, 6, 6, 6]


def test_progressive_voe_on_the_same_window_ranks_otherwise() -> None:
    """The same observations under VoE: one-epoch samples 2 and 14 have no score."""
    pruner = BiLevelPruner(Y, TRAIN, VAL, **CONFIG)
    for epoch in range(3):
        _feed(pruner, epoch)
        result = pruner.step()
    assert result["train"]["score"] == "voe"
    assert 2 not in result["train"]["indices"].tolist()
    assert 14 not in result["val"]["indices"].tolist()
    assert result["train"]["pruned"] == 3  # one step of the progressive schedule


def test_scores_view_is_the_mean_el2n() -> None:
    pruner = _once()
    for epoch in range(2):
        _feed(pruner, epoch)
        pruner.step()
    got = dict(zip(pruner.kept_train.tolist(), pruner.scores("train").tolist()))
    assert got[0] == pytest.approx(0.15) and got[2] == pytest.approx(0.1) and np.isnan(got[5])
    voe_pruner = BiLevelPruner(Y, TRAIN, VAL, **CONFIG)
    np.testing.assert_array_equal(voe_pruner.scores("val"), voe_pruner.voe("val"))


@pytest.mark.parametrize(
    ("kw", "error", "message"),
    [
        ({"score": "loss"}, ProxydataValueError, "score must be one of ('voe', 'el2n'), got 'loss'"),
        ({"score": 1}, ProxydataTypeError, "score must be one of"),
        ({"pruning": "twice"}, ProxydataValueError, "pruning must be one of ('progressive', 'once')"),
        ({"pruning": None}, ProxydataTypeError, "pruning must be one of"),
    ],
)
def test_bad_score_or_pruning_names_the_argument(kw: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        BiLevelPruner(Y, TRAIN, VAL, **{**CONFIG, **kw})


def test_once_refuses_a_total_that_empties_a_split() -> None:
    with pytest.raises(ProxydataValueError, match=r"pruning='once' removes them all at the first"):
        _once(train_prune_ratio=0.5)  # 2 steps · 6 = 12 of 12 training samples


def test_no_step_fits_warns_in_once_mode_too() -> None:
    with pytest.warns(RuntimeWarning, match="no pruning step fits"):
        p = _once(epochs=3)
    assert p.prune_epochs == [] and p.schedule.asked == (0, 0)


def _round_trip(sd: dict) -> dict:
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def test_state_dict_round_trip_resumes_exactly() -> None:
    straight = _once()
    for epoch in range(7):
        _feed(straight, epoch)
        straight.step()
    first = _once()
    for epoch in range(2):
        _feed(first, epoch)
        first.step()
    sd = _round_trip(first.state_dict())
    assert sd["config"]["score"] == "el2n" and sd["config"]["pruning"] == "once"
    resumed = _once()
    resumed.load_state_dict(sd)
    for epoch in range(2, 7):
        _feed(resumed, epoch)
        resumed.step()
    assert resumed.kept_train.tolist() == straight.kept_train.tolist()
    assert resumed.kept_val.tolist() == straight.kept_val.tolist()
    assert resumed.history[2]["train"]["indices"].tolist() == [10, 2, 0, 4, 9, 1]
    # loading into a pruner of another score or mode is refused, naming the setting
    for other, name in ((BiLevelPruner(Y, TRAIN, VAL, **CONFIG, pruning="once"), "score"),
                        (BiLevelPruner(Y, TRAIN, VAL, **CONFIG, score="el2n"), "pruning")):  # fmt: skip
        with pytest.raises(CorruptStateError, match=f"{name} is '"):
            other.load_state_dict(sd)
        assert other.epoch == 0


def test_a_state_without_the_new_settings_loads_only_with_their_defaults() -> None:
    """States written before score/pruning existed were made with "voe" and "progressive"."""
    p = BiLevelPruner(Y, TRAIN, VAL, **CONFIG)
    _feed(p, 0)
    p.step()
    sd = p.state_dict()
    for key in ("score", "pruning"):
        del sd["config"][key]
    fresh = BiLevelPruner(Y, TRAIN, VAL, **CONFIG)
    fresh.load_state_dict(_round_trip(sd))
    assert fresh.epoch == 1
    with pytest.raises(CorruptStateError, match="score is 'voe' in the state_dict, 'el2n' here"):
        BiLevelPruner(Y, TRAIN, VAL, **CONFIG, score="el2n").load_state_dict(sd)


def test_ranks_share_score_and_pruning_in_the_fingerprint() -> None:
    p = _once()
    fields = p.config.fingerprint(p.targets, TRAIN, VAL)
    assert fields["score"] == "el2n" and fields["pruning"] == "once"


def test_tiny_search_on_digits_in_one_shot_el2n_mode() -> None:
    digits = proxydata.load_digits()
    ds = proxydata.IndexedDataset(digits)
    train_idx, val_idx = proxydata.split_indices(200, 0.5, seed=0, stratify=digits.targets[:200])
    pruner = BiLevelPruner(digits.targets, train_idx, val_idx, epochs=4, interval=2, train_prune_ratio=0.2,
                           val_prune_ratio=0.2, seed=0, score="el2n", pruning="once")  # fmt: skip
    # progressive: one step (epoch 2 < 4); pruning once asks the same: round(0.2 · n)
    assert pruner.prune_epochs == [2]
    train_loader = DataLoader(ds, batch_size=50, sampler=pruner.train_sampler)
    val_loader = DataLoader(ds, batch_size=50, sampler=pruner.val_sampler)
    net = SearchNetwork(C=2, N=1, num_classes=10, in_channels=1, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # every kept sample is observed
        r = search(net, train_loader, val_loader, epochs=4, pruner=pruner, progress=False)
    n_t, n_v = len(train_idx), len(val_idx)
    asked_t, asked_v = round(0.2 * n_t), round(0.2 * n_v)
    assert r.train_set_sizes == [n_t, n_t, n_t - asked_t, n_t - asked_t]
    assert r.val_set_sizes == [n_v, n_v, n_v - asked_v, n_v - asked_v]
    step = pruner.history[1]["train"]
    assert step["score"] == "el2n" and step["pruned"] == asked_t
    # the pruned training samples are those of lowest mean EL2N over epochs 1-2
    kept_scores = pruner.history[1]["train"]["voe"]
    assert np.all(np.diff(kept_scores) >= 0)


def test_one_shot_with_the_steps_taken_lets_the_limit_allow_whole_classes() -> None:
    # limit_steps="taken": S = 1 step, N_k = floor(n_k / 1) = n_k
    pruner = _once(limit_steps="taken")
    assert pruner.limit_s == 1
    for epoch in range(3):
        _feed(pruner, epoch)
        out = pruner.step()
    assert out["train"]["limits"] == [10, 2] and out["val"]["limits"] == [4, 4]


@pytest.mark.parametrize(
    "epochs,interval,paper,taken",
    [(20, 2, 10, 9), (20, 4, 5, 4), (20, 5, 4, 3), (7, 3, 2, 2), (21, 2, 10, 10), (3, 2, 1, 1)],
)
def test_limit_s_is_e_over_t_as_the_paper(epochs: int, interval: int, paper: int, taken: int) -> None:
    # BDP Sec. 3.2.4: S = E / T (E // T); the schedule steps after T, 2T, ... < E
    kw = dict(epochs=epochs, interval=interval, train_prune_ratio=0.01, val_prune_ratio=0.01)
    a = BiLevelPruner(np.zeros(400, dtype=np.int64), np.arange(200), np.arange(200, 400), **kw)
    b = BiLevelPruner(
        np.zeros(400, dtype=np.int64), np.arange(200), np.arange(200, 400), limit_steps="taken", **kw
    )
    assert a.limit_s == paper and a.num_steps == taken
    assert b.limit_s == taken


def test_limit_with_s_from_e_over_t_by_hand() -> None:
    # E = 20, T = 2: S = 10. Counts [90, 30, 60]: B = (1/3)(30/90 + 60/90 + 30/60) = 1.5/3 = 0.5,
    # N = floor([90, 30, 60] / 10^0.5) = floor([28.46, 9.49, 18.97]) = [28, 9, 18]
    from proxydata.metrics import class_balance_degree, class_prune_limits

    assert class_balance_degree([90, 30, 60]) == pytest.approx(0.5)
    assert class_prune_limits([90, 30, 60], 10).tolist() == [28, 9, 18]
    # with the 9 steps taken instead: floor([90, 30, 60] / 3) = [30, 10, 20]
    assert class_prune_limits([90, 30, 60], 9).tolist() == [30, 10, 20]


def test_limit_steps_is_checked() -> None:
    with pytest.raises(ProxydataValueError, match="limit_steps"):
        _once(limit_steps="E/T")
