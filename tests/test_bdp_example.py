"""examples/bdp_minimal_loop.py runs and prunes along the schedule."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bdp_minimal_loop.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("bdp_minimal_loop", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_minimal_loop_sizes_follow_the_pruning_schedule(capsys):
    example = _load_example()
    pruner = example.main(epochs=5, interval=2, ratio=0.1, batch_size=128, seed=0)
    schedule = pruner.pruning_schedule()
    assert [e for e, _, _ in schedule] == [2, 4]
    ideal = {e: (t, v) for e, t, v in schedule}
    sizes = (pruner.n_train_initial, pruner.n_val_initial)
    for h in pruner.history:
        sizes = ideal.get(h["epoch"], sizes)
        assert (h["n_train"], h["n_val"]) == sizes
        # every sample kept during the epoch was observed (the loaders were consumed fully)
        pruned = h["train"]["pruned"] if h["pruning_step"] else 0
        assert h["n_observed_train"] == h["n_train"] + pruned
    out = capsys.readouterr().out
    # one line per epoch (the summary table's header and legend also name "kept train")
    assert len(re.findall(r"^epoch +\d+  kept train", out, flags=re.MULTILINE)) == 5
    assert f"epoch  5  kept train {schedule[-1][1]:4d}  kept val {schedule[-1][2]:4d}" in out
    assert "4 pruning steps" not in out and "2 pruning steps" in out  # the summary table is printed


def test_minimal_loop_with_workers_covers_every_sample_and_logs_to_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    example = _load_example()
    pruner = example.main(
        epochs=3,
        interval=2,
        ratio=0.1,
        batch_size=256,
        seed=0,
        verbose=False,
        num_workers=2,
        log_dir=str(tmp_path),
    )
    assert all(h["n_unobserved_train"] == h["n_unobserved_val"] == 0 for h in pruner.history)
    assert pruner.history[1]["pruned_train"] == round(0.1 * pruner.n_train_initial)
    assert any(p.name.startswith("events.out.tfevents") for p in tmp_path.iterdir())
