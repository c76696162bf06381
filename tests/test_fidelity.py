"""Ranking agreement and ranking studies (proxydata.metrics.ranking_agreement, proxydata.fidelity)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from torch import nn
from torch.utils.data import TensorDataset

from proxydata.exceptions import ProxydataTypeError, ProxydataValueError
from proxydata.fidelity import (
    RankingStudy,
    ranking_study,
    read_study,
    sample_nb201_architectures,
    study_agreement,
)
from proxydata.metrics import ranking_agreement
from proxydata.nas import NB201_OPS, Genotype, NB201Table

# --- ranking_agreement ------------------------------------------------------------------------


def test_agreement_hand_case():
    # a = 1 2 3 4, b swaps the last two: 5 concordant pairs, 1 discordant -> tau = 4/6
    r = ranking_agreement([1, 2, 3, 4], [1, 2, 4, 3], top_k=2)
    assert r["kendall_tau"] == pytest.approx(4 / 6)
    # rank differences 0 0 1 1: rho = 1 - 6 * 2 / (4 * 15) = 0.8
    assert r["spearman"] == pytest.approx(0.8)
    assert r["top_k_overlap"] == 1.0  # the top two are items 2 and 3 in both
    assert r["n"] == 4 and r["top_k"] == 2


def test_agreement_top_k_hand_case():
    # best three by a: items 4, 3, 2; by b: items 0, 3, 2 -> two of three shared
    r = ranking_agreement([1, 2, 3, 4, 5], [9, 1, 7, 8, 0], top_k=3)
    assert r["top_k_overlap"] == pytest.approx(2 / 3)


def test_agreement_reversed_is_minus_one():
    r = ranking_agreement([1, 2, 3], [3, 2, 1], top_k=1)
    assert r["kendall_tau"] == pytest.approx(-1.0) and r["spearman"] == pytest.approx(-1.0)
    assert r["top_k_overlap"] == 0.0


def test_agreement_ties_as_tau_b():
    # pairs: (0,1) tied in a only, (2,3) tied in b only; P=4, Q=0, Ta=1, Tb=1
    a, b = [1, 1, 2, 3], [1, 2, 3, 3]
    expected = 4 / np.sqrt((4 + 1) * (4 + 1))
    assert ranking_agreement(a, b, top_k=2)["kendall_tau"] == pytest.approx(expected)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=3, max_size=30).filter(
        lambda pairs: len({p[0] for p in pairs}) > 1 and len({p[1] for p in pairs}) > 1
    )
)
def test_agreement_equals_scipy_with_ties(pairs):
    a = [p[0] for p in pairs]
    b = [p[1] for p in pairs]
    r = ranking_agreement(a, b, top_k=1)
    tau = stats.kendalltau(a, b, variant="b")
    rho = stats.spearmanr(a, b)
    assert r["kendall_tau"] == pytest.approx(tau.statistic)
    assert r["kendall_p"] == pytest.approx(tau.pvalue)
    assert r["spearman"] == pytest.approx(rho.statistic)
    assert r["spearman_p"] == pytest.approx(rho.pvalue)


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "error", "match"),
    [
        ([1, 2, 3], [1, 2], {}, ProxydataValueError, "same length"),
        ([1, 2], [1, 2], {"top_k": 1}, ProxydataValueError, "at least 3"),
        ([1, float("nan"), 3], [1, 2, 3], {}, ProxydataValueError, "scores_a must be finite"),
        ([1, 2, 3], [1, 2, float("inf")], {}, ProxydataValueError, "scores_b must be finite"),
        ([1, 2, 3], [1, 2, 3], {"top_k": 0}, ProxydataValueError, "top_k"),
        ([1, 2, 3], [1, 2, 3], {"top_k": 4}, ProxydataValueError, "top_k"),
        ([1, 2, 3], [1, 2, 3], {"top_k": 1.5}, ProxydataTypeError, "top_k"),
        ("abc", [1, 2, 3], {}, ProxydataTypeError, "scores_a"),
        ([[1, 2], [3, 4], [5, 6]], [1, 2, 3], {}, ProxydataValueError, "1-D"),
    ],
)
def test_agreement_refuses_bad_input(a, b, kwargs, error, match):
    with pytest.raises(error, match=match):
        ranking_agreement(a, b, **kwargs)


# --- the architecture sample ------------------------------------------------------------------


def _table(tmp_path, n=40):
    rng = np.random.default_rng(0)
    path = tmp_path / "table.csv.gz"
    seen = set()
    with gzip.open(path, "wt") as fh:
        fh.write("index,arch_str,cifar10_test_200ep\n")
        i = 0
        while i < n:
            g = str(Genotype(tuple(rng.choice(NB201_OPS, size=6))))
            if g in seen:
                continue
            seen.add(g)
            fh.write(f"{i},{g},{10 + 2 * i}\n")
            i += 1
    return NB201Table(path)


def test_sample_is_stratified_over_the_whole_range(tmp_path):
    table = _table(tmp_path)  # values 10, 12, ..., 88, one per cell
    cells = sample_nb201_architectures(table, 4, seed=3)
    values = [table.lookup(c)["cifar10_test_200ep"] for c in cells]
    # four strata of ten cells: [10, 28], [30, 48], [50, 68], [70, 88]
    for j, v in enumerate(values):
        assert 10 + 20 * j <= v <= 28 + 20 * j
    assert cells == sample_nb201_architectures(table, 4, seed=3)
    with pytest.raises(ProxydataValueError, match="k must be <= 40"):
        sample_nb201_architectures(table, 41)
    with pytest.raises(ProxydataValueError, match="column"):
        sample_nb201_architectures(table, 4, column="nope")


# --- ranking_study ----------------------------------------------------------------------------


class _Linear(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(8, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, x):
        return self.net(x)


def _data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = (x[:, 0] > 0).long()
    return TensorDataset(x, y)


ARCHS = {f"mlp{h}": (lambda h=h: _Linear(h)) for h in (1, 2, 4, 8)}


def test_study_rows_resume_and_refuse(tmp_path):
    train, test = _data(64, 0), _data(32, 1)
    out = tmp_path / "study.jsonl"
    selections = {"full": None, "half": np.arange(0, 64, 2)}
    kw = dict(seeds=(0, 1), epochs=2, batch_size=16, out=out, n_bootstrap=20, progress=False)
    study = ranking_study(train, test, selections, ARCHS, **kw)
    assert isinstance(study, RankingStudy)
    assert len(study.rows) == 2 * 4 * 2
    keys = {(r["selection"], r["architecture"], r["seed"]) for r in study.rows}
    assert len(keys) == 16
    half_row = next(r for r in study.rows if r["selection"] == "half")
    assert half_row["selection_size"] == 32 and half_row["train_samples"] == 2 * 32
    assert [a["selection"] for a in study.agreement] == ["full", "half"]
    assert study.agreement[1]["cost"] == pytest.approx(0.5)

    # a rerun trains nothing and gives the same rows
    before = out.read_text()
    again = ranking_study(train, test, selections, ARCHS, **kw)
    assert out.read_text() == before
    assert sorted(json.dumps(r, sort_keys=True) for r in again.rows) == sorted(
        json.dumps(r, sort_keys=True) for r in study.rows
    )
    # same results with another process order: the runs are deterministic
    other = ranking_study(train, test, selections, ARCHS, **{**kw, "out": tmp_path / "b.jsonl"})
    assert {(r["selection"], r["architecture"], r["seed"]): r["test_acc"] for r in other.rows} == {
        (r["selection"], r["architecture"], r["seed"]): r["test_acc"] for r in study.rows
    }

    # other settings are refused, not mixed
    with pytest.raises(ProxydataValueError, match="other settings"):
        ranking_study(train, test, selections, ARCHS, **{**kw, "epochs": 3})
    # a selection of the same name with other indices is refused
    with pytest.raises(ProxydataValueError, match="other indices"):
        ranking_study(train, test, {"full": None, "half": np.arange(1, 64, 2)}, ARCHS, **kw)


def test_study_shards_cover_the_plan_once(tmp_path):
    train, test = _data(48, 0), _data(24, 1)
    out = tmp_path / "s.jsonl"
    kw = dict(seeds=(0, 1), epochs=1, batch_size=16, out=out, n_bootstrap=0, progress=False)
    ranking_study(train, test, {"full": None}, ARCHS, shard=(0, 2), **kw)
    _, rows = read_study(out)
    assert len(rows) == 4
    ranking_study(train, test, {"full": None}, ARCHS, shard=(1, 2), **kw)
    _, rows = read_study(out)
    assert len(rows) == 8 and len({(r["architecture"], r["seed"]) for r in rows}) == 8


def test_study_argument_errors():
    train, test = _data(16, 0), _data(8, 1)
    with pytest.raises(ProxydataValueError, match="reference"):
        ranking_study(train, test, {"sub": [0, 1, 2]}, ARCHS, progress=False)
    with pytest.raises(ProxydataValueError, match="at least 3"):
        ranking_study(train, test, {"full": None}, {"a": ARCHS["mlp1"]}, progress=False)
    with pytest.raises(ProxydataValueError, match=r"lie in \[0, 16\)"):
        ranking_study(train, test, {"full": None, "bad": [0, 16]}, ARCHS, progress=False)
    with pytest.raises(ProxydataValueError, match="duplicates"):
        ranking_study(train, test, {"full": None, "bad": [1, 1]}, ARCHS, progress=False)
    with pytest.raises(ProxydataValueError, match="shard"):
        ranking_study(train, test, {"full": None}, ARCHS, shard=(2, 2), progress=False)
    with pytest.raises(ProxydataValueError, match="seeds"):
        ranking_study(train, test, {"full": None}, ARCHS, seeds=(1, 1), progress=False)


def test_study_with_a_user_train_fn(tmp_path):
    train, test = _data(16, 0), _data(8, 1)
    calls = []

    def train_fn(arch, train_loader, test_loader, *, epochs, seed, device):
        calls.append(seed)
        return {"test_acc": 0.25 * int(arch()(torch.zeros(1, 8)).shape[1])}

    study = ranking_study(train, test, {"full": None}, ARCHS, seeds=(0, 1), train_fn=train_fn, progress=False)
    assert sorted(calls) == [0] * 4 + [1] * 4
    assert {r["test_acc"] for r in study.rows} == {50.0}


# --- study_agreement from rows alone -----------------------------------------------------------


def _rows(acc: dict[str, list[list[float]]], truth: list[float]) -> list[dict]:
    """Rows of selections over architectures a0..a(n-1) and seeds 0..s-1."""
    rows = []
    for sel, matrix in acc.items():
        for i, per_seed in enumerate(matrix):
            for seed, value in enumerate(per_seed):
                rows.append(
                    {
                        "selection": sel,
                        "architecture": f"a{i}",
                        "seed": seed,
                        "test_acc": value,
                        "selection_size": 100 if sel == "full" else 25,
                        "train_samples": 100 if sel == "full" else 25,
                        "cpu_seconds": 1.0,
                        "table": {"truth": truth[i]},
                    }
                )
    return rows


def test_agreement_rows_hand_case():
    # full: seed 0 = 1 2 3 4, seed 1 = 1 2 4 3 -> ceiling tau 4/6
    # sub:  seed 0 = 4 3 2 1, seed 1 = 1 2 3 4
    full = [[1, 1], [2, 2], [3, 4], [4, 3]]
    sub = [[4, 1], [3, 2], [2, 3], [1, 4]]
    rows = _rows({"full": full, "sub": sub}, truth=[10, 20, 30, 40])
    ref, sel = study_agreement(rows, truth_column="truth", top_k=2, n_bootstrap=0)
    assert ref["selection"] == "full" and ref["ceiling"] == pytest.approx(4 / 6)
    assert ref["tau_cross"] == pytest.approx(4 / 6)
    # cross pairs: tau(sub_0, full_1) = tau(4321, 1243) = -4/6; tau(sub_1, full_0) = tau(1234, 1234) = 1
    assert sel["tau_cross"] == pytest.approx((-4 / 6 + 1) / 2)
    # seed means: full 1 2 3.5 3.5, sub 2.5 2.5 2.5 2.5 (constant): no order -> NaN
    assert np.isnan(sel["tau"])
    assert ref["tau_truth"] == pytest.approx(
        ranking_agreement([10, 20, 30, 40], [1, 2, 3.5, 3.5], top_k=2)["kendall_tau"]
    )
    assert sel["cost"] == pytest.approx(0.25) and sel["ratio"] == pytest.approx(0.25)
    # the top half by truth is a2, a3: two items, too few to rank
    assert np.isnan(sel["tau_top"])


def test_agreement_bootstrap_interval_brackets_and_is_seeded():
    rng = np.random.default_rng(0)
    truth = list(range(12))
    full = [[t + rng.normal(0, 2), t + rng.normal(0, 2)] for t in truth]
    sub = [[t + rng.normal(0, 4), t + rng.normal(0, 4)] for t in truth]
    rows = _rows({"full": full, "sub": sub}, truth=truth)
    a = study_agreement(rows, truth_column="truth", n_bootstrap=200)
    b = study_agreement(rows, truth_column="truth", n_bootstrap=200)
    assert json.dumps(a) == json.dumps(b)  # NaN-safe: precision_at_10 of a 6-cell top half is NaN
    lo, hi = a[1]["tau_cross_ci"]
    assert lo <= a[1]["tau_cross"] <= hi and lo < hi


def test_agreement_selection_with_one_seed_is_compared_across_seeds():
    full = [[1, 4], [2, 3], [3, 2], [4, 1]]
    rows = _rows({"full": full, "sub": [[1], [2], [3], [4]]}, truth=[1, 2, 3, 4])
    sel = study_agreement(rows, truth_column="truth", top_k=2, n_bootstrap=0)[1]
    # sub seed 0 against full seed 1 only (4 3 2 1): reversed
    assert sel["seeds"] == 1 and sel["tau_cross"] == pytest.approx(-1.0)


def test_agreement_skips_incomplete_architectures():
    rows = _rows(
        {"full": [[1, 1], [2, 2], [3, 3], [4, 4]], "sub": [[1, 1], [2, 2], [3, 3], [4, 4]]}, [1, 2, 3, 4]
    )
    rows = [r for r in rows if not (r["selection"] == "sub" and r["architecture"] == "a0" and r["seed"] == 1)]
    sel = study_agreement(rows, truth_column="truth", n_bootstrap=0)[1]
    assert sel["architectures"] == 3 and sel["tau"] == pytest.approx(1.0)


def test_agreement_reference_with_more_seeds():
    # full has seeds 0, 1, 2; sub only 0, 1: sub is compared on seeds 0 and 1, the ceiling uses all three
    full = [[1, 1, 4], [2, 2, 3], [3, 3, 2], [4, 4, 1]]
    sub = [[1, 1], [2, 2], [3, 3], [4, 4]]
    rows = _rows({"full": full, "sub": sub}, truth=[1, 2, 3, 4])
    ref, sel = study_agreement(rows, truth_column="truth", top_k=2, n_bootstrap=0)
    # pairs (0,1): 1, (0,2): -1, (1,2): -1
    assert ref["ceiling"] == pytest.approx(-1 / 3) and sel["ceiling"] == pytest.approx(-1 / 3)
    # cross pairs: (sub 0, full 1) = 1, (sub 0, full 2) = -1, (sub 1, full 0) = 1, (sub 1, full 2) = -1
    assert sel["seeds"] == 2 and sel["tau_cross"] == pytest.approx(0.0) and sel["architectures"] == 4
    # the means are compared on the shared seeds 0 and 1 only: identical orders
    assert sel["tau"] == pytest.approx(1.0)


# --- the committed study ---------------------------------------------------------------------

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


@pytest.mark.shared_data
def test_committed_study_rows_are_real_cells_with_the_tables_accuracies(shared_data_dir: Path) -> None:
    study = RESULTS / "ranking.jsonl"
    if not study.exists():
        pytest.skip("benchmarks/results/ranking.jsonl not present")
    table = NB201Table(shared_data_dir / "nb201_accuracies.csv.gz")
    sample = json.loads((RESULTS / "ranking_architectures.json").read_text())
    cells = [c["arch"] for c in sample["cells"]]
    assert len(cells) >= 60 and len(set(cells)) == len(cells)
    drawn = sample_nb201_architectures(table, len(cells), column=sample["column"], seed=sample["seed"])
    assert cells == drawn
    _, rows = read_study(study)
    assert rows, "the study file holds no runs"
    for row in rows:
        assert row["architecture"] in cells
        assert row["table"] == table.lookup(row["architecture"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=2, max_size=40))
def test_fast_tau_b_equals_scipy(pairs):
    from proxydata.metrics import kendall_tau_b

    a = np.array([p[0] for p in pairs], dtype=float)
    b = np.array([p[1] for p in pairs], dtype=float)
    expected = stats.kendalltau(a, b, variant="b").statistic
    got = kendall_tau_b(a, b)
    if np.isnan(expected):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(expected, abs=1e-12)
