"""``proxydata rank``: the ranking study from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proxydata.cli import main
from proxydata.cli.rank_command import QUICK
from proxydata.fidelity import read_study


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_rank_quick_writes_every_run_and_the_agreement(capsys, tmp_path: Path) -> None:
    out = tmp_path / "study.jsonl"
    code, text, err = run(capsys, "rank", "--quick", "--no-progress", "-o", str(out))
    assert code == 0, err
    settings, rows = read_study(out)
    selections = 1 + len(QUICK["methods"]) * len(QUICK["ratios"])
    assert len(rows) == selections * QUICK["sample"] * QUICK["seeds"]
    assert settings["epochs"] == QUICK["epochs"] and settings["data"] == "digits"
    # one agreement line per selection, the reference first
    lines = text.splitlines()
    table = [line for line in lines if line.startswith(("full", "rs r=", "cc-or r="))]
    assert [line.split()[0] for line in table] == ["full", "rs", "cc-or"]
    assert "ceil" in text and f"wrote {out}" in text
    # a rerun trains nothing: the file is unchanged
    before = out.read_text()
    assert run(capsys, "rank", "--quick", "--no-progress", "-o", str(out))[0] == 0
    assert out.read_text() == before
    # other settings are refused, not mixed (exit 2, one line)
    code, _, err = run(capsys, "rank", "--quick", "--epochs", "3", "--no-progress", "-o", str(out))
    assert code == 2 and "other settings" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--quick", "--methods", "xx"], "--methods"),
        (["--quick", "--ratios", "1.5"], "--ratios"),
        (["--quick", "--sample", "2"], "--sample"),
        (["--quick", "--epochs", "0"], "--epochs"),
        (["--quick", "-o", "study.json"], ".jsonl"),
        (["--quick", "--architectures", "/nonexistent/cells.txt"], "--architectures"),
        (["--quick", "--table", "/nonexistent/table.csv"], "--table"),
        (["--methods", "rs"], "--data is required"),
    ],
)
def test_rank_usage_errors_exit_2_before_any_work(capsys, argv, message) -> None:
    code, out, err = run(capsys, "rank", *argv)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert "ranking" not in out  # refused before any work


def test_rank_reads_an_architecture_file(capsys, tmp_path: Path) -> None:
    cells = tmp_path / "cells.json"
    cells.write_text(json.dumps({"cells": [{"arch": "|x~0|+|none~0|none~1|+|none~0|none~1|none~2|"}]}))
    code, _, err = run(capsys, "rank", "--quick", "--architectures", str(cells))
    assert code == 2 and "--architectures" in err
