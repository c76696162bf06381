"""benchmarks/gpu_darts_space.py runs its smoke setting on the CPU and writes one record (issue 25)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

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
