"""BiLevelPruner across two gloo processes on the CPU agrees with one process."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from proxydata import BiLevelPruner

N, K = 90, 3
TRAIN = np.arange(0, 51)  # 51 and 39: odd sizes, so the shards are padded (one sample seen twice)
VAL = np.arange(51, 90)
CONFIG = dict(epochs=7, interval=2, train_prune_ratio=0.1, val_prune_ratio=0.1, seed=5)


def _targets() -> np.ndarray:
    return (np.arange(N) * 7) % K


def _logits(indices: np.ndarray, epoch: int) -> torch.Tensor:
    # Deterministic logits per (sample, epoch): identical on every rank and in the reference.
    i = torch.from_numpy(indices.astype(np.float64))[:, None]
    k = torch.arange(1, K + 1, dtype=torch.float64)[None, :]
    return (2.5 * torch.sin(0.37 * i * k + epoch * (0.5 + 0.11 * k) + (i % 4))).float()


def _run(pruner: BiLevelPruner, batch: int = 8) -> None:
    for epoch in range(CONFIG["epochs"]):
        for sampler in (pruner.train_sampler, pruner.val_sampler):
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


def _worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        pruner = BiLevelPruner(_targets(), TRAIN, VAL, **CONFIG)  # num_replicas/rank from the group
        assert (pruner.num_replicas, pruner.rank) == (world, rank)
        assert len(pruner.train_sampler) == 26  # ceil(51 / 2): each rank observes its own shard
        _run(pruner)
        np.savez(os.path.join(out_dir, f"rank{rank}.npz"), **_result(pruner))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_ranks_keep_the_single_process_result(tmp_path):
    world = 2
    mp.spawn(_worker, args=(world, str(tmp_path / "init"), str(tmp_path)), nprocs=world, join=True)
    reference = BiLevelPruner(_targets(), TRAIN, VAL, **CONFIG)
    _run(reference)
    expected = _result(reference)
    assert len(reference.kept_train) < TRAIN.size  # something was pruned
    for rank in range(world):
        with np.load(tmp_path / f"rank{rank}.npz") as got:
            assert sorted(got.files) == sorted(expected)
            for key, value in expected.items():
                np.testing.assert_array_equal(got[key], value, err_msg=f"rank {rank}: {key}")
