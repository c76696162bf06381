"""benchmarks/gpu_darts_space.py runs its smoke setting on the CPU and writes one record (issue 25)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from scipy import stats

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_gpu_darts_space_smoke_on_cpu(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import gpu_darts_space
    finally:
        sys.path.remove(str(BENCH))
    out = tmp_path / "gpu.jsonl"
    argv = ["--data", "synthetic", "--size", "8", "--n-per-split", "40", "--C", "4", "--layers", "3",
            "--batch-size", "16", "--epochs", "1", "--schedule-epochs", "5", "--interval", "2",
            "--limit-batches", "2", "--method", "bdp", "--device", "cpu", "--out", str(out)]  # fmt: skip
    assert gpu_darts_space.main(argv) == 0
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["epochs_run"] == 1 and len(record["epoch_seconds"]) == 1 and record["scale"] == "smoke"
    # 40 per split: 8 images per class split evenly (split_indices rounds odd class halves up), so both
    # splits keep their 2 full batches of 16
    assert record["samples"] == 64 and record["device"] == "cpu"
    assert record["genotype"].startswith("Genotype(normal=[")
    assert 0 <= record["skip_connect_normal"] <= 8 and "git" in record["environment"]


def _section_module():
    sys.path.insert(0, str(BENCH))
    try:
        from report import darts_space
    finally:
        sys.path.remove(str(BENCH))
    return darts_space


def _record(algo: str, method: str, seed: int, **over) -> dict:
    settings = {"n_per_split": 5000, "C": 4, "layers": 5, "epochs": 5, "batch_size": 64, "interval": 2,
                "eval_C": 8, "eval_layers": 5, "eval_epochs": 3}  # fmt: skip
    genotype = (
        "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('sep_conv_3x3', 0), "
        "('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
        "('sep_conv_3x3', 1)], "
        "normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
        "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
        "('max_pool_3x3', 1)], reduce_concat=range(2, 6))"
    )
    base = {"key": f"{algo}/{method}/seed{seed}", "algo": algo, "method": method, "seed": seed,
            "genotype": genotype, "skip_connect_normal": 1, "samples": 50000 if method == "full" else 30000,
            "search_cpu_seconds": 600.0 if method == "full" else 400.0, "test_acc": 0.45,
            "eval": {"params": 120000}, "settings": settings}  # fmt: skip
    return {**base, **over}


def test_darts_space_section_states_its_rule_before_the_numbers_and_can_fail(tmp_path: Path) -> None:
    section = _section_module()
    assert section.darts_space_section(tmp_path / "none.jsonl", tmp_path / "none.md") == []
    records = [
        _record("darts-v1", "full", 0, test_acc=0.450, skip_connect_normal=2),
        _record("darts-v1", "bdp", 0, test_acc=0.445, skip_connect_normal=1),
        _record("darts-v1", "full", 1, test_acc=0.460, skip_connect_normal=1),
        _record("darts-v1", "bdp", 1, test_acc=0.455, skip_connect_normal=1),
        _record("pc-darts", "full", 0, test_acc=0.50),
        _record("pc-darts", "bdp", 0, test_acc=0.47),  # 3 points worse: (b) fails
    ]
    path = tmp_path / "darts_space_cpu.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    step = tmp_path / "step.md"
    step.write_text("# title\n\n## C=4\n\n| implementation | x |\n\nVerdict: passes (2/2 configurations).\n")
    items = section.darts_space_section(path, step)
    verdicts = {v.subject.split(",")[0]: v for v in items if not isinstance(v, str)}
    text = "\n".join(item for item in items if isinstance(item, str))
    assert "CPU-scale runs, not the paper's setting" in text and "1/200 of the paper's" in text
    assert text.index("Rule (stated before the numbers)") < text.index("| algorithm | method |")
    # hand: darts-v1 differences -0.5 and -0.5 points, skips 1.0 (BDP) vs 1.5 (full); identical
    # differences above the -1 margin: the non-inferiority test's p is 0 (no spread, inside H1)
    v1 = verdicts["DARTS-V1"]
    assert v1.claim == "T5 DARTS" and v1.holds and v1.seeds == 2 and v1.p == 0.0
    assert "-0.50 ± 0.00 over 2 seeds" in v1.detail and "skips 1.00 (BDP) vs 1.50 (full)" in v1.detail
    assert v1.status == "insufficient seeds: 2 of 8"  # fewer than 8 pairs: undecided, whatever the means
    pc = verdicts["PC-DARTS"]
    assert not pc.holds and "-3.00 points, below −1" in pc.outcome and pc.p is None  # one pair: no test
    assert "| DARTS-V1 | BDP / full, paired | 2 | | 60% | 67% |" in text
    assert "sep_conv_3x3@0 skip_connect@1" in text and "max_pool_3x3@0" in text
    assert "### The supernet's step against DARTS's MixedOp" in text and "\n#### C=4" in text
    assert "# title" not in text.splitlines()
    # a BDP run that processed more samples than its pair fails (a)
    records[1]["samples"] = 60000
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    v1 = next(v for v in section.darts_space_section(path, step) if not isinstance(v, str))
    assert not v1.holds and "fewer samples in only 1 of 2 pairs" in v1.outcome


def test_darts_space_verdict_tests_non_inferiority_by_one_point() -> None:
    """8 seed pairs, mean difference -0.125 points: H0 mean ≤ -1 rejected, t computed by hand."""
    section = _section_module()
    records = []
    for seed, diff in enumerate([-0.02, 0.0, -0.01, 0.01, -0.005, 0.005, 0.0, 0.01]):
        records += [_record("darts-v1", "full", seed, test_acc=0.40),
                    _record("darts-v1", "bdp", seed, test_acc=0.40 + diff)]  # fmt: skip
    v = section.verdict(records, "darts-v1")
    d = [-2.0, 0.0, -1.0, 1.0, -0.5, 0.5, 0.0, 1.0]  # points; mean -0.125, shifted +1 → mean 0.875
    mean = sum(d) / 8 + 1.0
    sd = (sum((x + 1.0 - mean) ** 2 for x in d) / 7) ** 0.5
    t = mean / (sd / 8**0.5)
    assert v.seeds == 8 and v.holds and v.status == "holds"
    assert abs(v.p - stats.t.sf(t, 7)) < 1e-9 and v.p < 0.05
