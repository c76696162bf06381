"""benchmarks/reproduce.py --quick end to end on the shared CIFAR-10 data (issue 6)."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from proxydata.experiment import data_used

REPO = Path(__file__).resolve().parents[1]


def _load_module(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _table(path: Path) -> dict[str, dict[str, str]]:
    with gzip.open(path, "rt", newline="") as fh:
        return {row["arch_str"]: row for row in csv.DictReader(fh)}


@pytest.mark.slow
def test_quick_grid_records_match_the_table(shared_data_dir: Path, tmp_path: Path) -> None:
    reproduce = _load_module("reproduce")
    out = tmp_path / "quick.jsonl"
    args = ["--quick", "--out", str(out), "--data-dir", str(shared_data_dir)]
    assert reproduce.main(args) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    # --quick: full, bdp with and without the class limit, rs and cc-or at r = 0.5 (DARTS-V1, seed 0)
    assert sorted(r["method"] for r in records) == ["bdp", "bdp", "cc-or", "full", "rs"]
    assert sorted(r["options"]["bdp"]["limit"] for r in records if r["method"] == "bdp") == ["none", "ours"]
    assert all(r["protocol"] == 2 and r["key"].startswith("v2|") for r in records)
    table = _table(shared_data_dir / "nb201_accuracies.csv.gz")
    for rec in records:
        assert rec["genotype"] in table, rec["genotype"]
        row = table[rec["genotype"]]
        for column, value in rec["accuracies"].items():
            assert value == pytest.approx(float(row[column]), abs=1e-9)
        assert len(rec["genotypes"]) == 3
    by_method = {r["method"]: r for r in records}
    assert data_used(by_method["full"]) == 1.0
    pool = by_method["full"]["train_pool"]
    assert abs(pool - 256) <= 5  # stratified: per-class rounding may move the total slightly
    assert by_method["full"]["kept_train"] == pool
    assert by_method["rs"]["kept_train"] == (pool + 1) // 2  # round(0.5 * pool), halves up
    # a second call finds every run done and appends nothing
    assert reproduce.main(args) == 0
    assert len(out.read_text().splitlines()) == len(records)
    assert (tmp_path / "quick_split.npz").exists()


def test_report_numbers_come_from_the_records(tmp_path: Path) -> None:
    report = _load_module("results_report")
    ops = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    base = {
        "scale": "s",
        "kept_train": 10,
        "val_size": 10,
        "train_sizes": [10],
        "val_sizes": [10],
        "genotype": ops,
    }
    records = [
        {
            **base,
            "algo": "darts-v1",
            "method": "full",
            "ratio": 1.0,
            "seed": 0,
            "search_seconds": 100.0,
            "accuracies": {
                "cifar10_test_200ep": 90.0,
                "cifar100_test_200ep": 70.0,
                "imagenet16_test_200ep": 40.0,
            },
        },
        {
            **base,
            "algo": "darts-v1",
            "method": "full",
            "ratio": 1.0,
            "seed": 1,
            "search_seconds": 100.0,
            "accuracies": {
                "cifar10_test_200ep": 92.0,
                "cifar100_test_200ep": 70.0,
                "imagenet16_test_200ep": 40.0,
            },
        },
        {
            **base,
            "algo": "darts-v1",
            "method": "rs",
            "ratio": 0.5,
            "seed": 0,
            "search_seconds": 52.0,
            "accuracies": {
                "cifar10_test_200ep": 93.0,
                "cifar100_test_200ep": 71.0,
                "imagenet16_test_200ep": 41.0,
            },
        },
    ]
    table = "\n".join(report.method_table(records, "darts-v1"))
    assert "| full | 1 | v1 | 2 | 91.00 ± 1.00 |" in table  # mean and population std of 90 and 92
    text = "\n".join(report.analysis(records))
    assert "r=0.5: 0.520" in text  # 52 s / 100 s
    assert "1 of 1 proxy cells beat full data" in text


def test_committed_results_are_real_cells_with_the_tables_accuracies(shared_data_dir: Path) -> None:
    """Every committed run found a NAS-Bench-201 cell, and its recorded accuracies are the table's."""
    results = REPO / "benchmarks" / "results" / "reproduction.jsonl"
    records = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    assert records
    table = _table(shared_data_dir / "nb201_accuracies.csv.gz")
    for rec in records:
        assert rec["genotype"] in table, (rec["key"], rec["genotype"])
        assert rec["genotype"] == rec["genotypes"][-1]
        row = table[rec["genotype"]]
        for column, value in rec["accuracies"].items():
            assert value == pytest.approx(float(row[column]), abs=1e-9), (rec["key"], column)
    v2 = [r for r in records if r.get("protocol") == 2]
    assert all(r["key"].startswith("v2|") for r in v2)
    assert len({r["key"] for r in records}) == len(records)  # one line per run


def test_v2_keys_carry_every_setting() -> None:
    reproduce = _load_module("reproduce")
    args = reproduce.parse_args(
        ["--grid", "paper", "paper14", "beta", "criteria", "balance", "aug", "v2proxy"]
    )
    grid = reproduce.build_grid(args)
    keys = [reproduce.run_key(r) for r in grid]
    assert len(set(keys)) == len(keys)  # different schedules, criteria, limits, splits coexist
    assert any("T2 p0.1067/0.1067 high/low limit=ours" in k for k in keys)
    assert any("limit=linear split=lt10" in k for k in keys)
    assert any("augment=2" in k for k in keys)
    assert any(k.split("|")[2] == "beta-darts" and "beta=25.0" in k for k in keys)
    v1 = {"scale": "s", "algo": "darts-v1", "method": "bdp", "ratio": 1.0, "seed": 0}
    assert reproduce.run_key(v1) == "s|darts-v1|bdp|1.00|0"  # v1 records keep their keys


def test_linear_limit_and_long_tailed_split() -> None:
    import numpy as np

    reproduce = _load_module("reproduce")
    counts = np.array([100, 50, 10])
    assert reproduce.linear_limits(counts, 4, 1.0).tolist() == [100, 50, 10]
    assert reproduce.linear_limits(counts, 4, 0.0).tolist() == [25, 12, 2]
    assert reproduce.linear_limits(counts, 4, 0.5).tolist() == [62, 31, 6]  # n · (0.5 + 0.5 / 4)
    labels = np.repeat(np.arange(10), 100)
    lt = reproduce.long_tailed(np.arange(1000), labels, 10.0, seed=0)
    per_class = np.bincount(labels[lt], minlength=10)
    assert per_class[0] == 100 and per_class[9] == 10
    assert per_class.tolist() == sorted(per_class.tolist(), reverse=True)
    assert np.array_equal(lt, reproduce.long_tailed(np.arange(1000), labels, 10.0, seed=0))


def test_report_reads_v2_records_and_judges_the_limit(tmp_path: Path) -> None:
    report = _load_module("results_report")
    ops = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    acc = {"cifar10_test_200ep": 90.0, "cifar100_test_200ep": 70.0, "imagenet16_test_200ep": 40.0}

    def rec(limit: str, c10: float, held: int, step: dict | None = None) -> dict:
        bdp = {"interval": 2, "train_ratio": 0.1, "val_ratio": 0.1, "train_criterion": "low",
               "val_criterion": "high", "limit": limit}  # fmt: skip
        step = step or {"held_back_by": {"class_limit": held}, "protected_by": {"class_limit": 0}}
        history = [
            {
                "epoch": 2,
                "pruning_step": True,
                "n_train": 9,
                "train_balance": 0.9,
                "val_balance": 0.8,
                "train": step,
                "val": {},
                "train_class_counts": [4, 5],
            }
        ]
        return {"protocol": 2, "algo": "darts-v1", "method": "bdp", "ratio": 1.0, "seed": 0,
                "options": {"bdp": bdp}, "genotype": ops, "accuracies": {**acc, "cifar10_test_200ep": c10},
                "pruner_history": history,
                "train_pool": 10, "val_size": 10, "kept_train": 10, "train_sizes": [10], "val_sizes": [10],
                "search_seconds": 1.0}  # fmt: skip

    text = "\n".join(report.claim6([rec("ours", 91.0, 7), rec("none", 90.0, 0)]))
    assert "| ours | 1 | 0 | 7 | 2 |" in text  # nothing protected, shortfall 7, first binding at epoch 2
    assert (
        "91.00 with our limit vs 90.00 without; our limit changed the found cell in 0 of 1 → **holds**"
        in text
    )
    # Protection alone (the step pruned as many as asked) is binding too.
    protecting = {"held_back_by": {"class_limit": 0}, "protected_by": {"class_limit": 5, "min_per_class": 1}}
    text = "\n".join(report.claim6([rec("ours", 89.0, 0, protecting), rec("none", 90.0, 0)]))
    assert "| ours | 1 | 5 | 0 | 2 |" in text and "**does not hold**" in text
    # Records without protected_by: class 0 was pruned exactly to its limit 2 (< floor cap 5): the
    # limit's; class 1 pruned to its floor (min_per_class 1) with a looser limit: not the limit's.
    legacy = {"held_back_by": {"class_limit": 0}, "counts_before": [6, 6], "protected": [1, 2, 3]}
    text = "\n".join(
        report.claim6([rec("ours", 91.0, 0, {**legacy, "limits": [2, 6]}), rec("none", 90.0, 0)])
    )
    assert "| ours | 1 | 3 | 0 | 2 |" in text
    text = "\n".join(
        report.claim6([rec("ours", 91.0, 0, {**legacy, "limits": [3, 6]}), rec("none", 90.0, 0)])
    )
    assert "| ours | 1 | 0 | 0 | never |" in text
    text = "\n".join(report.claim6([rec("ours", 91.0, 0), rec("none", 90.0, 0)]))
    assert "**not tested**" in text


def test_balance_per_step_by_hand() -> None:
    report = _load_module("results_report")

    def rec(limit: str, seed: int, balances: list[tuple[float, float]]) -> dict:
        bdp = {"interval": 2, "train_ratio": 0.1, "val_ratio": 0.1, "train_criterion": "low",
               "val_criterion": "high", "limit": limit}  # fmt: skip
        # Epoch 1 is not a pruning step and must not appear; epochs 2 and 4 are.
        history = [{"epoch": 1, "pruning_step": False, "train_balance": 0.0, "val_balance": 0.0}] + [
            {"epoch": 2 * (i + 1), "pruning_step": True, "train_balance": t, "val_balance": v}
            for i, (t, v) in enumerate(balances)
        ]
        return {"protocol": 2, "algo": "darts-v1", "method": "bdp", "ratio": 1.0, "seed": seed,
                "options": {"bdp": bdp}, "genotype": "g", "pruner_history": history}  # fmt: skip

    lines = report.balance_per_step(
        [
            rec("ours", 0, [(0.9, 0.8), (0.7, 0.5)]),
            rec("ours", 1, [(0.7, 0.6), (0.5, 0.3)]),  # mean: 0.80 / 0.70, then 0.60 / 0.40
            rec("none", 0, [(0.8, 0.7), (0.4, 0.9)]),
        ]
    )
    text = "\n".join(lines)
    assert "| limit | seeds | epoch 2 | epoch 4 |" in text
    assert "| ours | 2 | 0.80 / 0.70 | 0.60 / 0.40 |" in text
    assert "| none | 1 | 0.80 / 0.70 | 0.40 / 0.90 |" in text
    # Final val B: 0.40 with our limit, 0.90 without; final train B is higher with it (0.60 vs 0.40).
    assert lines[-1].endswith("low/high]` val (0.40 vs 0.90).")


def test_report_folds_a_run_without_the_hessian_into_its_twin() -> None:
    report = _load_module("results_report")
    cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"

    def rec(seed: int, hessian: int | None, cpu: float, genotype: str = cell) -> dict:
        opts = {"hessian": hessian} if hessian else {}
        return {"protocol": 2, "algo": "darts-v1", "method": "full", "ratio": 1.0, "seed": seed,
                "options": opts, "genotype": genotype, "search_cpu_seconds": cpu, "wall_seconds": cpu + 1,
                "search_seconds": cpu + 2,
                "hessian_eigenvalues": [1.0] if hessian else [], "key": f"{seed}|{hessian}"}  # fmt: skip

    merged = report.merge_hessian_twins([rec(0, 128, 300.0), rec(1, 128, 310.0), rec(0, None, 200.0)])
    assert len(merged) == 2
    by_seed = {r["seed"]: r for r in merged}
    assert by_seed[0]["search_cpu_seconds"] == 200.0 and by_seed[0]["hessian_eigenvalues"] == [1.0]
    assert by_seed[0]["search_seconds"] == 202.0 and by_seed[0]["wall_seconds"] == 201.0
    assert by_seed[0]["cost_without_hessian"] == "0|None" and not report._hessian(by_seed[0])
    assert by_seed[1]["search_cpu_seconds"] == 310.0 and report._hessian(by_seed[1])
    with pytest.raises(ValueError, match="different cells"):
        report.merge_hessian_twins([rec(0, 128, 300.0), rec(0, None, 200.0, cell.replace("skip", "none"))])


def test_paired_test_by_hand() -> None:
    report = _load_module("results_report")

    def runs(accs: dict[int, float]) -> list[dict]:
        return [{"seed": s, "accuracies": {"cifar10_test_200ep": a}} for s, a in accs.items()]

    # d = (5, 2, 10): mean 17/3, population std sqrt(98/9) = 3.30; t = mean / (s / sqrt(3)) with
    # s = sqrt(49/3), t = 2.4286; df = 2: two-sided p = 1 - t / sqrt(t^2 + 2) = 0.136.
    text, p = report.paired_test(runs({0: 90, 1: 80, 2: 70, 3: 50}), runs({0: 85, 1: 78, 2: 60}))
    assert text == (
        "seed-paired difference +5.67 ± 3.30 over 3 seeds, paired t-test p = 0.14, not significant at 5 %"
    )
    assert p == pytest.approx(1 - 2.4286 / np.sqrt(2.4286**2 + 2), abs=1e-4)
    text, p = report.paired_test(runs({0: 90, 1: 80}), runs({0: 90, 1: 80}))
    assert text.endswith("identical in every seed") and p == 1.0
    assert report.paired_test(runs({0: 91, 1: 81}), runs({0: 90, 1: 80}))[1] == 0.0  # no spread: exact
    assert report.paired_test(runs({0: 90}), runs({0: 80})) == ("", None)  # one pair: no test


def test_verdicts_say_when_they_rest_on_a_non_significant_difference() -> None:
    report = _load_module("results_report")
    assert report._verdict("holds", 0.04) == " → **holds**"
    assert report._verdict("holds", None) == " → **holds**"
    weak = report._verdict("holds", 0.05)
    assert weak == " → **holds**" + report.WEAK_NOTE and "not significant at 5 %" in weak
    lines = [f"- a{report._verdict('holds', 0.01)}.", f"- b{report._verdict('holds', 0.3)}.",
             f"- c{report._verdict('does not hold', 0.3)}."]  # fmt: skip
    assert report._tally(lines) == (
        "2 of 3 hold (1 of them with a seed-paired difference significant at 5 %), 1 does not"
    )
