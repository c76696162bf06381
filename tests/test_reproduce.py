"""benchmarks/reproduce.py --quick end to end on the shared CIFAR-10 data (issue 6)."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
from pathlib import Path

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
