"""BiLevelPruner across two gloo processes on the CPU: agreement with one process, and mismatch errors.

Each test spawns two ranks (``torch.multiprocessing``) with a deadline: a rank
that hangs in a collective fails the test instead of blocking the suite.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from proxydata import BiLevelPruner, RankMismatchError
from proxydata.metrics import class_prune_limits

N, K = 90, 3
TRAIN = np.arange(0, 51)  # 51 and 39: odd sizes, so the shards are padded (one sample seen twice)
VAL = np.arange(51, 90)
CONFIG = dict(epochs=7, interval=2, train_prune_ratio=0.1, val_prune_ratio=0.1, seed=5)
DEADLINE_S = 120


def _targets() -> np.ndarray:
    return (np.arange(N) * 7) % K


def _logits(indices: np.ndarray, epoch: int) -> torch.Tensor:
    # Deterministic logits per (sample, epoch): identical on every rank and in the reference.
    i = torch.from_numpy(indices.astype(np.float64))[:, None]
    k = torch.arange(1, K + 1, dtype=torch.float64)[None, :]
    return (2.5 * torch.sin(0.37 * i * k + epoch * (0.5 + 0.11 * k) + (i % 4))).float()


def _run(pruner: BiLevelPruner, batch: int = 8, extra_passes: int = 0) -> None:
    for epoch in range(CONFIG["epochs"]):
        for sampler in (pruner.train_sampler, pruner.val_sampler):
            for _ in range(extra_passes):  # e.g. an evaluation pass on one rank only
                list(sampler)
            order = np.fromiter(iter(sampler), dtype=np.int64)
            for start in range(0, order.size, batch):
                idx = order[start : start + batch]
                pruner.observe(torch.from_numpy(idx), _logits(idx, epoch))
        pruner.step()


def _result(pruner: BiLevelPruner) -> dict[str, np.ndarray]:
    out = {"kept_train": pruner.kept_train, "kept_val": pruner.kept_val}
    for h in pruner.history:
        if h["pruning_step"]:
            for s in ("train", "val"):
                out[f"{s}_{h['epoch']}"] = h[s]["indices"]
                out[f"{s}_voe_{h['epoch']}"] = h[s]["voe"]
    return out


def _spawn(worker, tmp_path, world: int = 2) -> None:
    ctx = mp.spawn(worker, args=(world, str(tmp_path / "init"), str(tmp_path)), nprocs=world, join=False)
    deadline = time.monotonic() + DEADLINE_S
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f"the ranks did not finish within {DEADLINE_S} s (a hang in a collective?)")


def _init(rank: int, world: int, init_file: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)


def _worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    _init(rank, world, init_file)
    try:
        _agreeing_run(rank, world, out_dir)
        _mismatches(rank, out_dir)
        _divergences(rank, out_dir)
    finally:
        dist.destroy_process_group()


def _agreeing_run(rank: int, world: int, out_dir: str) -> None:
    pruner = BiLevelPruner(_targets(), TRAIN, VAL, **CONFIG)  # num_replicas/rank from the group
    assert (pruner.num_replicas, pruner.rank) == (world, rank)
    assert len(pruner.train_sampler) == 26  # ceil(51 / 2): each rank observes its own shard
    shards = [None] * world
    dist.all_gather_object(shards, pruner.train_sampler.epoch_indices().tolist())
    assert sorted(set(shards[0]) | set(shards[1])) == TRAIN.tolist()
    _run(pruner, extra_passes=rank)  # rank 1 iterates every sampler once more than rank 0
    np.savez(os.path.join(out_dir, f"rank{rank}.npz"), **_result(pruner))
    assert all(h["n_unobserved_train"] == h["n_unobserved_val"] == 0 for h in pruner.history)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> Path:
    """One spawn of two gloo ranks: the agreeing run, then every mismatch; results in files."""
    out = tmp_path_factory.mktemp("gloo")
    _spawn(_worker, out)
    return out


@pytest.mark.slow
def test_two_gloo_ranks_keep_the_single_process_result_even_when_one_iterates_more(two_ranks):
    tmp_path = two_ranks
    reference = BiLevelPruner(_targets(), TRAIN, VAL, **CONFIG)
    _run(reference)
    expected = _result(reference)
    assert len(reference.kept_train) < TRAIN.size  # something was pruned
    for rank in range(2):
        with np.load(tmp_path / f"rank{rank}.npz") as got:
            assert sorted(got.files) == sorted(expected)
            for key, value in expected.items():
                np.testing.assert_array_equal(got[key], value, err_msg=f"rank {rank}: {key}")


MISMATCHES = {
    "seed": lambda rank: dict(seed=5 + rank),
    "val_indices": lambda rank: dict(val_indices=VAL[: VAL.size - 3 * rank]),  # different sizes
    "train_prune_ratio": lambda rank: dict(train_prune_ratio=0.1 + 0.05 * rank),
    "num_replicas": lambda rank: dict(num_replicas=1, rank=0),  # not the world size
    "score": lambda rank: dict(score=("voe", "el2n")[rank]),
    "pruning": lambda rank: dict(pruning=("progressive", "once")[rank]),
}


def _mismatches(rank: int, out_dir: str) -> None:
    messages = {}
    for name, change in MISMATCHES.items():
        kw = {**CONFIG, "train_indices": TRAIN, "val_indices": VAL, **change(rank)}
        try:
            BiLevelPruner(_targets(), **kw)
            messages[name] = None
        except RankMismatchError as exc:
            messages[name] = str(exc)
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(messages, f)


@pytest.mark.slow
def test_ranks_built_differently_fail_on_every_rank_naming_the_field(two_ranks):
    tmp_path = two_ranks
    for rank in range(2):
        got = json.loads((tmp_path / f"rank{rank}.json").read_text())
        for name in MISMATCHES:
            assert got[name] is not None, f"rank {rank}: no error for a different {name}"
            assert name in got[name] and f"this is rank {rank}" in got[name]
        assert "not the world size 2" in got["num_replicas"]


def _divergent_run(pruner: BiLevelPruner) -> dict:
    """Run the schedule; what each rank saw when (if) the ranks' decisions were found to differ."""
    try:
        _run(pruner)
    except RankMismatchError as exc:
        return {
            "message": str(exc),
            "cause": repr(exc.__cause__),
            "epoch": pruner.epoch,
            "kept_train": int(pruner.kept_train.size),
            "history": len(pruner.history),
        }
    return {"message": None, "kept_train": int(pruner.kept_train.size)}


def _divergences(rank: int, out_dir: str) -> None:
    """Ranks whose configurations agree but whose decisions do not."""
    out = {}
    # Two lambdas share a __qualname__, so the configuration check cannot tell them apart.
    rank_limit = lambda counts, num_steps, balance: np.full(len(counts), 1 if rank == 0 else 100)  # noqa: E731
    out["limit_fn"] = _divergent_run(BiLevelPruner(_targets(), TRAIN, VAL, limit_fn=rank_limit, **CONFIG))

    def fails_on_rank_1(counts, num_steps, balance):
        if rank == 1:
            raise RuntimeError("limit_fn failed here")
        return class_prune_limits(counts, num_steps, balance)

    out["raises"] = _divergent_run(BiLevelPruner(_targets(), TRAIN, VAL, limit_fn=fails_on_rank_1, **CONFIG))
    # A state dict loaded on one rank only: caught at the start of the next step.
    pruner = BiLevelPruner(_targets(), TRAIN, VAL, **CONFIG)
    early = pruner.state_dict()
    for epoch in range(3):
        for sampler in (pruner.train_sampler, pruner.val_sampler):
            idx = np.fromiter(iter(sampler), dtype=np.int64)
            pruner.observe(torch.from_numpy(idx), _logits(idx, epoch))
        pruner.step()
    if rank == 1:
        pruner.load_state_dict(early)
    out["loaded on one rank"] = _divergent_run(pruner)
    with open(os.path.join(out_dir, f"diverge{rank}.json"), "w") as f:
        json.dump(out, f)


@pytest.mark.slow
def test_ranks_that_decide_differently_fail_on_every_rank_before_anything_changes(two_ranks):
    got = [json.loads((two_ranks / f"diverge{rank}.json").read_text()) for rank in range(2)]
    for rank, runs in enumerate(got):
        limit = runs["limit_fn"]  # used to keep 18 and 30 samples, silently
        assert limit["message"] is not None, f"rank {rank}: a rank-dependent limit_fn went unnoticed"
        assert "at the end of epoch 2" in limit["message"] and "kept train set (ranks [1]" in limit["message"]
        assert f"this is rank {rank}" in limit["message"]
        assert (limit["epoch"], limit["history"], limit["kept_train"]) == (
            1,
            1,
            TRAIN.size,
        )  # nothing changed
        raises = runs["raises"]  # one rank raising must not leave the other waiting
        assert raises["message"] is not None and "deciding raised on ranks [1] only" in raises["message"]
        assert raises["epoch"] == 1
        loaded = runs["loaded on one rank"]
        assert loaded["message"] is not None and "at its start" in loaded["message"]
        assert "the epoch (ranks [1]" in loaded["message"]
    assert (
        "limit_fn failed here" in got[1]["raises"]["message"] and "RuntimeError" in got[1]["raises"]["cause"]
    )
