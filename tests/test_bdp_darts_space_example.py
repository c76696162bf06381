"""examples/bdp_darts_space.py (DARTS's train_search.py layout, BDP added) prunes along the schedule."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from proxydata.nas.spaces.darts import DartsGenotype

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bdp_darts_space.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("bdp_darts_space", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_darts_space_example_follows_the_pruning_schedule(capsys) -> None:
    example = _load_example()
    pruner = example.main(epochs=3, interval=2, ratio=0.3, batch_size=256, seed=0)
    ((epoch, n_train, _n_val),) = pruner.pruning_schedule()
    # history entry e holds the sizes kept after (1-based) epoch e: the step at the end of epoch 2 shows there
    assert epoch == 2 and [h["epoch"] for h in pruner.history] == [1, 2, 3]
    assert [h["n_train"] for h in pruner.history] == [pruner.n_train_initial] + [n_train] * 2
    assert all(h["n_unobserved_train"] == h["n_unobserved_val"] == 0 for h in pruner.history)
    lines = [line for line in capsys.readouterr().out.splitlines() if re.match(r"epoch +\d+ ", line)]
    assert len(lines) == 3 and f"kept train {n_train:4d}" in lines[-1]
    DartsGenotype.parse(lines[-1][lines[-1].index("Genotype(") :])


def test_the_example_adds_bdp_in_at_most_ten_lines() -> None:
    lines = [
        line
        for line in EXAMPLE.read_text().splitlines()
        if line.rstrip().endswith(("# BDP", "# fmt: skip")) and "# BDP" in line
    ]
    assert 0 < len(lines) <= 10
