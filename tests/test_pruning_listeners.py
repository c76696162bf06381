"""Listeners receive every history entry as plain Python data; the TensorBoard writer logs it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from proxydata import BiLevelPruner

Y = np.arange(40) % 2


def _run(pruner: BiLevelPruner) -> BiLevelPruner:
    g = torch.Generator().manual_seed(0)
    for _ in range(pruner.epochs):
        idx = torch.from_numpy(np.concatenate([pruner.kept_train, pruner.kept_val]))
        pruner.observe(idx, torch.randn(len(idx), 2, generator=g))
        pruner.step()
    return pruner


def _pruner() -> BiLevelPruner:
    return BiLevelPruner(Y, range(20), range(20, 40), epochs=5, interval=2, train_prune_ratio=0.25)


def _plain(obj) -> bool:
    if isinstance(obj, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in obj.items())
    if isinstance(obj, list):
        return all(_plain(v) for v in obj)
    return obj is None or type(obj) in (bool, int, float, str)


def test_a_listener_receives_every_entry_as_plain_python_numbers():
    pruner = _pruner()
    got = []
    listener = got.append
    assert pruner.add_listener(listener) is listener
    _run(pruner)
    assert [e["epoch"] for e in got] == [1, 2, 3, 4, 5]
    assert all(_plain(e) for e in got)  # no numpy scalars or arrays
    assert got[1]["pruned_train"] == 5 and got[0]["pruned_train"] == 0 and got[2]["held_back_val"] == 0
    assert got[1]["train"]["indices"] == pruner.history[1]["train"]["indices"].tolist()
    assert [e["n_train"] for e in got] == [h["n_train"] for h in pruner.history]
    assert got[0]["n_observed_train"] == 20 and got[0]["n_unobserved_val"] == 0
    got[1]["train"]["indices"].clear()  # a copy: the pruner's history is untouched
    assert pruner.history[1]["train"]["indices"].size == 5


def test_listeners_can_be_removed_and_must_be_callable():
    pruner = _pruner()
    got = []
    pruner.add_listener(got.append)
    pruner.remove_listener(got.append)
    _run(pruner)
    assert got == []
    with pytest.raises(TypeError, match="listener must be callable"):
        pruner.add_listener(3)


def test_tensorboard_logger_writes_scalars_and_voe_histograms(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from proxydata.integrations.tensorboard import TensorBoardLogger

    pruner = _pruner()
    logger = TensorBoardLogger.to_logdir(str(tmp_path)).attach(pruner)
    _run(pruner)
    logger.close()
    events = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    tags = events.Tags()
    kept = events.Scalars("bdp/kept/train")
    assert [(e.step, e.value) for e in kept] == [(h["epoch"], h["n_train"]) for h in pruner.history]
    pruned = events.Scalars("bdp/pruned/train")
    assert [e.value for e in pruned] == [0, 5, 0, 5, 0]
    assert {"bdp/balance/val", "bdp/observed/val", "bdp/unobserved/train", "bdp/held_back/val"} <= set(
        tags["scalars"]
    )
    assert {"bdp/voe_pruned/train", "bdp/voe_kept/train", "bdp/voe_pruned/val"} <= set(tags["histograms"])
    protected = events.Scalars("bdp/protected_by_limit/val")  # written at pruning steps only
    steps = [h for h in pruner.history if h["pruning_step"]]
    assert [(e.step, e.value) for e in protected] == [
        (h["epoch"], h["val"]["protected_by"]["class_limit"]) for h in steps
    ]
    first = events.Histograms("bdp/voe_pruned/train")[0]
    assert first.step == 2 and first.histogram_value.num == 5
    assert first.histogram_value.max == pytest.approx(
        float(pruner.history[1]["train"]["voe"].max()), rel=1e-6
    )


def test_tensorboard_logger_refuses_a_non_writer():
    from proxydata.integrations.tensorboard import TensorBoardLogger

    with pytest.raises(TypeError, match="add_scalar"):
        TensorBoardLogger(object())


def test_a_raising_listener_leaves_the_others_served_and_says_the_step_completed():
    from proxydata import ListenerError

    pruner = _pruner()
    got_first, got_last = [], []

    def broken(entry):
        raise KeyError("no such scalar")

    pruner.add_listener(got_first.append)
    pruner.add_listener(broken)
    pruner.add_listener(got_last.append)
    g = torch.Generator().manual_seed(0)
    for _ in range(2):  # epoch 2 is a pruning step
        idx = torch.from_numpy(np.concatenate([pruner.kept_train, pruner.kept_val]))
        pruner.observe(idx, torch.randn(len(idx), 2, generator=g))
        with pytest.raises(
            ListenerError, match=r"step\(\) completed epoch \d.*do not call step\(\) again"
        ) as err:
            pruner.step()
        assert "broken" in str(err.value) and "KeyError" in str(err.value) and "1 of 3" in str(err.value)
        assert isinstance(err.value.__cause__, KeyError) and err.value.failures[0][0] is broken
    assert [e["epoch"] for e in got_first] == [1, 2] == [e["epoch"] for e in got_last]
    assert pruner.epoch == 2 and len(pruner.history) == 2
    assert err.value.result["epoch"] == 2 and err.value.result["train"]["pruned"] == 5
    assert len(pruner.kept_train) == 15  # pruned once, not twice
