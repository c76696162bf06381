"""What the README and the integration pages claim matches what the code does (issue 19, item 17)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np

from proxydata import RandomProxy, load_digits
from proxydata.demo import format_table

REPO = Path(__file__).resolve().parents[1]


def _readme() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


def test_the_readme_demo_table_is_the_demo_output_of_the_committed_record() -> None:
    # The table used to be edited by hand and went stale (another cell and accuracy than the demo's).
    record = json.loads((REPO / "docs" / "demo_record.json").read_text(encoding="utf-8"))
    printed = format_table(record).splitlines()
    start = next(k for k, line in enumerate(printed) if line.startswith("run "))
    rows = printed[start : start + 2 + len(record["runs"])]
    readme = _readme()
    block = readme[readme.index("The demo ends with a side-by-side table") :]
    block = block[block.index("```text\n") + len("```text\n") :]
    assert block[: block.index("```")].splitlines() == rows
    assert "proxydata demo --threads 1 -o docs/demo_record.json" in readme
    names = [run["name"] for run in record["runs"]]
    assert names == ["full data", "CC-OR r=0.5", "BiLevelPruner"]
    assert record["runs"][2]["record"]["final_train"] < record["settings"]["train_split"]


def test_the_readme_says_precisely_when_ddp_shards_overlap() -> None:
    text = " ".join(_readme().split())
    assert "never overlap" not in text
    assert "seen by two ranks" in text and "drop_last=True" in text
    # the behaviour it describes: 5 samples on 2 ranks, padded with the first one of the order
    data = load_digits()
    shards = [RandomProxy(data, ratio=5 / len(data), seed=0, num_replicas=2, rank=r) for r in range(2)]
    parts = [np.fromiter(iter(s), dtype=np.int64) for s in shards]
    assert [p.size for p in parts] == [3, 3]
    assert set(parts[0]) | set(parts[1]) == set(shards[0].indices.tolist())
    assert len(set(parts[0]) & set(parts[1])) == 1  # fewer than num_replicas samples, seen twice
    cut = [
        RandomProxy(data, ratio=5 / len(data), seed=0, num_replicas=2, rank=r, drop_last=True)
        for r in range(2)
    ]
    assert not set(iter(cut[0])) & set(iter(cut[1]))


def test_the_lightning_page_counts_the_set_ups_it_lists() -> None:
    text = (REPO / "docs" / "integrations" / "lightning.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (?!set-up|---)(.*?) \| (.*?) \|$", text, re.M)
    wrong_pruner_rows = [r for r in rows if r[0].startswith("pruner") and "right" not in r[1]]
    assert len(wrong_pruner_rows) == 2
    assert "refuses the two wrong pruner set-ups" in " ".join(text.split())
    assert "first three" not in text


def test_the_tensorboard_page_states_one_naming_scheme_and_both_x_axes() -> None:
    text = " ".join((REPO / "docs" / "integrations" / "tensorboard.md").read_text(encoding="utf-8").split())
    assert "logs the same entries" not in text
    assert (
        "same names" in text
        and "trainer.global_step" in text
        and "The x-axis (global step) is the epoch" in text
    )


def test_the_shared_data_variable_is_documented_next_to_the_tests() -> None:
    readme = _readme()
    tests_section = readme[readme.index("<!-- test-command -->") : readme.index("## Quick start")]
    assert "PROXYDATA_SHARED_DATA" in tests_section
    assert "PROXYDATA_SHARED_DATA" in (REPO / "docs" / "user_guide.md").read_text(encoding="utf-8")


def test_the_minimal_example_runs_with_one_thread_from_the_command_line() -> None:
    spec = importlib.util.spec_from_file_location(
        "bdp_minimal_loop", REPO / "examples" / "bdp_minimal_loop.py"
    )
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert example._parse([]).threads == 1
    assert example._parse(["--threads", "0"]).threads == 0
    assert "--threads 1" in example.__doc__ and "torch.set_num_threads" in example.__doc__
