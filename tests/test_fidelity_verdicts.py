"""Issue 28: NASLib's ranking metrics, the margin verdict, the comparison with random, the two arms."""

from __future__ import annotations

import hashlib
import json
import math
import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import TensorDataset

from proxydata.exceptions import ProxydataTypeError, ProxydataValueError
from proxydata.fidelity import TrainRecipe, ranking_study, read_study, study_agreement, upgrade_study
from proxydata.fidelity.agreement import margin_verdict, sign_verdict, versus_random
from proxydata.fidelity.study import arm_epochs
from proxydata.metrics import naslib_ranking_metrics, ranking_agreement

# --- precision@k and tau within the top k -----------------------------------------------------


def test_naslib_metrics_hand_case():
    a = np.array([1.0, 2, 3, 4, 5, 6, 7])
    b = np.array([7.0, 6, 5, 1, 2, 4, 3])
    m = naslib_ranking_metrics(a, b, ks=(3, 5))
    # top 3 by a: items 4, 5, 6; by b: items 0, 1, 2 -> none shared
    assert m["precision_at_3"] == 0.0
    # top 5 by a: items 2..6; by b: items 0, 1, 2, 5, 6 -> {2, 5, 6}
    assert m["precision_at_5"] == pytest.approx(3 / 5)
    # within items 4, 5, 6: a = 5 6 7, b = 2 4 3 -> pairs (4,5) +, (4,6) +, (5,6) - -> 1/3
    assert m["tau_top_3"] == pytest.approx(1 / 3)
    # within items 2..6: a = 3 4 5 6 7, b = 5 1 2 4 3 rises in 5 of the 10 pairs
    # ((1,2), (1,4), (1,3), (2,4), (2,3)) and falls in 5 -> tau 0
    assert m["tau_top_5"] == pytest.approx(0.0)


def test_naslib_metrics_nan_when_k_exceeds_n_and_in_ranking_agreement():
    r = ranking_agreement([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 6, 5], top_k=3)
    assert r["precision_at_5"] == 1.0
    # top 5 by a: items 1..5, b orders them 2 3 4 6 5: one discordant pair of 10
    assert r["tau_top_5"] == pytest.approx(0.8)
    assert math.isnan(r["precision_at_10"]) and math.isnan(r["tau_top_10"])


def test_naslib_metrics_identical_scorings_are_perfect():
    a = np.arange(12.0)
    m = naslib_ranking_metrics(a, a)
    assert m == {"precision_at_5": 1.0, "tau_top_5": 1.0, "precision_at_10": 1.0, "tau_top_10": 1.0}


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 20), min_size=10, max_size=25), st.randoms())
def test_precision_at_k_is_a_share_and_symmetric_under_swapping_k_sets(values, rnd):
    a = np.asarray(values, dtype=float)
    b = a.copy()
    rnd.shuffle(b)
    m = naslib_ranking_metrics(a, b)
    for k in (5, 10):
        p = m[f"precision_at_{k}"]
        assert 0.0 <= p <= 1.0 and (p * k) == pytest.approx(round(p * k))


# --- the margin verdict and the sign verdict --------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "delta", "expected"),
    [
        ([-0.05, 0.02], 0.1, "keeps"),
        ([-0.3, -0.15], 0.1, "loses"),
        ([-0.2, 0.0], 0.1, "undecided"),
        ([-0.1, 0.0], 0.1, "undecided"),  # on the margin: not strictly above
        ([float("nan"), 0.1], 0.1, "undecided"),
        (None, 0.1, "undecided"),
        ([-0.05, 0.02], float("nan"), "undecided"),
    ],
)
def test_margin_verdict(interval, delta, expected):
    assert margin_verdict(interval, delta) == expected


@pytest.mark.parametrize(
    ("interval", "expected"),
    [([0.01, 0.2], "better"), ([-0.2, -0.01], "worse"), ([-0.1, 0.1], "cannot tell"), (None, "cannot tell")],
)
def test_sign_verdict(interval, expected):
    assert sign_verdict(interval) == expected


# --- the study's verdicts do not depend on the order of the rows ------------------------------


def _study_rows(n_archs: int = 16, seeds: int = 2) -> list[dict]:
    """Synthetic rows: full data (noise 1), 'good r=0.1' (noise 1.2), 'rs r=0.1' (noise 100), 'bad r=0.1'
    (reversed), in two arms."""
    rng = np.random.default_rng(3)
    truth = np.linspace(50, 90, n_archs)
    rows = []
    spec = {
        ("full", "epochs"): (1.0, 1),
        ("good r=0.1", "epochs"): (1.2, 1),
        ("rs r=0.1", "epochs"): (100.0, 1),
        ("bad r=0.1", "epochs"): (1.0, -1),
        ("good r=0.1", "steps"): (1.0, 1),
        ("rs r=0.1", "steps"): (100.0, 1),
    }
    for (sel, arm), (noise, sign) in spec.items():
        for i in range(n_archs):
            for s in range(seeds):
                rows.append(
                    {
                        "selection": sel,
                        "arm": arm,
                        "architecture": f"cell{i:02d}",
                        "seed": s,
                        "test_acc": float(sign * truth[i] + rng.normal(0, noise)),
                        "selection_size": 100 if sel == "full" else 10,
                        "train_samples": 100 if sel == "full" or arm == "steps" else 10,
                        "cpu_seconds": 1.0,
                        "table": {"truth": float(truth[i])},
                    }
                )
    return rows


def _by_key(agreement: list[dict]) -> dict:
    return {(a["selection"], a["arm"]): json.dumps(a, sort_keys=True) for a in agreement}


def test_shuffled_rows_give_the_same_verdicts_and_intervals():
    rows = _study_rows()
    first = study_agreement(rows, truth_column="truth", n_bootstrap=300)
    for seed in range(3):
        shuffled = list(rows)
        random.Random(seed).shuffle(shuffled)
        again = study_agreement(shuffled, truth_column="truth", n_bootstrap=300)
        assert _by_key(again) == _by_key(first)
    verdicts = {(a["selection"], a["arm"]): a["verdict"] for a in first}
    assert verdicts[("bad r=0.1", "epochs")] == "loses" and verdicts[("good r=0.1", "epochs")] == "keeps"
    assert first[0]["selection"] == "full" and first[0]["verdict"] == "keeps"  # its gap is 0 by definition
    assert all(a["bootstrap_seed"] == 0 for a in first)


def test_shuffled_study_file_gives_the_same_verdicts(tmp_path):
    # the fields a study file's rows carry besides the ones the statistics read
    extra = {"test_loss": 1.0, "wall_seconds": 1.0, "finished": "2026-12-07T00:00:00"}
    rows = [
        {
            **r,
            **extra,
            # a monotone map into [0, 100] keeps every selection's order (all the statistics read)
            "test_acc": 100.0 / (1.0 + math.exp(-(r["test_acc"] - 50.0) / 20.0)),
            "selection_digest": hashlib.sha256(r["selection"].encode()).hexdigest()[:16],
        }
        for r in _study_rows()
    ]
    settings_line = {"kind": "settings", "format": 1}
    paths = []
    for seed in (0, 1):
        shuffled = list(rows)
        random.Random(seed).shuffle(shuffled)
        path = tmp_path / f"s{seed}.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in [settings_line, *shuffled]) + "\n")
        upgrade_study(path)  # sealed as a study file the library writes today (format 2), rows kept in order
        paths.append(path)
    results = [study_agreement(read_study(p)[1], truth_column="truth", n_bootstrap=200) for p in paths]
    assert _by_key(results[0]) == _by_key(results[1])


def test_margin_is_relative_to_the_ceiling():
    rows = _study_rows()
    agreement = study_agreement(rows, truth_column="truth", n_bootstrap=0, margin=0.25)
    ref = agreement[0]
    assert ref["delta"] == pytest.approx(0.25 * ref["ceiling"])
    assert all(a["verdict"] == "undecided" for a in agreement)  # no intervals without resamples


def test_versus_random_is_paired_and_signed():
    rows = _study_rows()
    agreement = study_agreement(rows, truth_column="truth", n_bootstrap=300)
    at = {(a["selection"], a["arm"]): a for a in agreement}
    good, bad = at[("good r=0.1", "epochs")], at[("bad r=0.1", "epochs")]
    assert good["random"] == "rs r=0.1" and good["vs_random_verdict"] == "better"
    assert bad["vs_random_verdict"] == "worse"
    assert good["vs_random"] == pytest.approx(good["tau_cross"] - at[("rs r=0.1", "epochs")]["tau_cross"])
    assert "vs_random" not in at[("rs r=0.1", "epochs")]  # random is not compared with itself
    # the same as the standalone function
    alone = versus_random(rows, "good r=0.1", "rs r=0.1", arm="epochs", n_bootstrap=300)
    assert alone["vs_random_ci"] == good["vs_random_ci"]
    # the steps arm is compared with the steps arm's random selection
    assert at[("good r=0.1", "steps")]["random"] == "rs r=0.1"


def test_every_agreement_row_carries_naslib_metrics():
    agreement = study_agreement(_study_rows(), truth_column="truth", n_bootstrap=0)
    for a in agreement:
        for key in ("precision_at_5", "precision_at_10", "tau_top_5", "tau_top_10", "precision_at_5_truth"):
            assert key in a
    assert agreement[0]["precision_at_10"] == 1.0


def test_margin_argument_checked():
    with pytest.raises(ProxydataValueError, match="margin"):
        study_agreement(_study_rows(), truth_column="truth", n_bootstrap=0, margin=1.5)


# --- two arms ---------------------------------------------------------------------------------


def test_arm_epochs():
    assert arm_epochs("epochs", 8, 64, 2000, 200) == 8
    assert arm_epochs("steps", 8, 64, 2000, 200) == 64  # 8 x 32 steps over 4 steps an epoch
    assert arm_epochs("steps", 8, 64, 2000, 2000) == 8
    assert arm_epochs("steps", 3, 128, 1000, 999) == 3
    with pytest.raises(ProxydataValueError, match="arm"):
        arm_epochs("time", 8, 64, 2000, 200)


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(x)


def test_study_runs_both_arms_seed_major(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g)
    train, test = TensorDataset(x, (x[:, 0] > 0).long()), TensorDataset(x[:16], (x[:16, 0] > 0).long())
    calls = []

    def train_fn(arch, train_loader, test_loader, *, epochs, seed, device):
        calls.append((len(train_loader), epochs, seed))
        return {"test_acc": 0.5, "train_samples": epochs * 0}

    archs = {f"m{i}": _Tiny for i in range(3)}
    out = tmp_path / "arms.jsonl"
    study = ranking_study(
        train,
        test,
        {"full": None, "quarter": np.arange(0, 64, 4)},
        archs,
        seeds=(0, 1),
        epochs=2,
        batch_size=16,
        train_fn=train_fn,
        out=out,
        n_bootstrap=0,
        progress=False,
        arms=("epochs", "steps"),
    )
    # full: 3 archs x 2 seeds; quarter: 3 x 2 x 2 arms
    assert len(study.rows) == 6 + 12
    steps_rows = [r for r in study.rows if r["arm"] == "steps"]
    assert {r["epochs"] for r in steps_rows} == {8} and {r["sgd_steps"] for r in steps_rows} == {8}
    full_rows = [r for r in study.rows if r["selection"] == "full"]
    assert {r["sgd_steps"] for r in full_rows} == {8}  # 2 epochs x 4 batches
    # seed-major: every seed-0 run of the quarter (both arms) before any of seed 1
    quarter_seeds = [seed for n, _, seed in calls if n == 1]
    assert quarter_seeds == sorted(quarter_seeds)
    # read back: the arms are kept apart
    _, rows = read_study(out)
    assert len(rows) == 18
    agreement = study_agreement(rows, truth_column=None, n_bootstrap=0)
    assert [(a["selection"], a["arm"]) for a in agreement] == [
        ("full", "epochs"),
        ("quarter", "epochs"),
        ("quarter", "steps"),
    ]


def test_arms_argument_checked():
    x = torch.randn(16, 8)
    ds = TensorDataset(x, (x[:, 0] > 0).long())
    archs = {f"m{i}": _Tiny for i in range(3)}
    with pytest.raises(ProxydataValueError, match="arms"):
        ranking_study(ds, ds, {"full": None}, archs, arms=("epochs", "epochs"), progress=False)
    with pytest.raises(ProxydataTypeError, match="arms"):
        ranking_study(ds, ds, {"full": None}, archs, arms="steps", progress=False)


# --- the per-step recipe ----------------------------------------------------------------------


def test_train_recipe_cosine_schedule_hand_values():
    r = TrainRecipe(lr=0.1, warmup=0.1)
    # 10 steps: 1 warm-up step (lr 0.1), then cosine over 9 steps from 0.1
    assert r.lr_at(0, 10) == pytest.approx(0.1)
    assert r.lr_at(1, 10) == pytest.approx(0.1)
    assert r.lr_at(1 + 9 // 2, 10) < 0.1
    assert r.lr_at(9, 10) == pytest.approx(0.05 * (1 + math.cos(math.pi * 8 / 9)))


def test_train_recipe_trains_a_cell_and_counts_steps():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 3, 8, 8, generator=g)
    ds = TensorDataset(x, torch.arange(32) % 10)
    loader = torch.utils.data.DataLoader(ds, batch_size=8)
    cell = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|none~1|skip_connect~2|"
    for schedule in ("cosine", "onecycle"):
        out = TrainRecipe(C=4, N=1, schedule=schedule, label_smoothing=0.1)(
            cell, loader, loader, epochs=2, seed=0
        )
        assert out["sgd_steps"] == 8 and out["train_samples"] == 64 and 0.0 <= out["test_acc"] <= 1.0
    with pytest.raises(ProxydataValueError, match="schedule"):
        TrainRecipe(schedule="step")


# --- what `proxydata rank` prints ---------------------------------------------------------------


def test_rank_report_labels_columns_truly_and_prints_verdicts():
    from proxydata.cli.rank_command import rank_report
    from proxydata.fidelity import family_agreement

    rows = [r for r in _study_rows(n_archs=8) if r["arm"] == "epochs"]
    agreement = family_agreement(rows, truth_column="truth", n_bootstrap=200)
    assert agreement[0]["confidence"] == pytest.approx(1 - 0.05 / 3)  # three selections besides full
    lines = rank_report(agreement)
    head = lines[0].split()
    assert "top8" in head and "top10" not in head  # top_k capped at the 8 cells, and said so
    assert "tau x top" in lines[0] and "tau top" not in lines[0].replace("tau x top", "")
    verdicts = [line for line in lines if line.startswith("  ")]
    assert len(verdicts) == 3
    bad = next(line for line in verdicts if line.strip().startswith("bad r=0.1"))
    assert " loses " in bad and "vs rs r=0.1: worse" in bad
    assert any("-delta" in line for line in lines)
