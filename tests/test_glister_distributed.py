"""GlisterSelector across two gloo processes on the CPU: the same subsets as one process, and mismatches.

Each rank observes its own shards (training, validation, scoring) and ``step()``
sums the epoch's logits across the ranks, so both pick the single-process
subsets; ranks built or resumed differently raise ``RankMismatchError`` on
every rank. Spawned as in ``tests/test_pruning_distributed.py``, with a deadline.
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

from proxydata import GlisterSelector, RankMismatchError

N, K = 61, 3
TRAIN = np.arange(0, 41)  # odd sizes: the shards are padded (a sample observed on both ranks)
VAL = np.arange(41, 61)
CONFIG = dict(epochs=7, ratio=0.3, interval=2, eta=0.5, seed=3)
DEADLINE_S = 300  # generous: the shared CI machine can be heavily loaded; a hang still fails


def _targets() -> np.ndarray:
    return (np.arange(N) * 7) % K


def _logits(indices: np.ndarray, epoch: int) -> torch.Tensor:
    i = torch.from_numpy(indices.astype(np.float64))[:, None]
    k = torch.arange(1, K + 1, dtype=torch.float64)[None, :]
    return (2.5 * torch.sin(0.37 * i * k + epoch * (0.5 + 0.11 * k) + (i % 4))).float()


def _run(sel: GlisterSelector, epochs: int, batch: int = 5, extra_passes: int = 0) -> list[np.ndarray]:
    subsets = []
    for _ in range(epochs):
        e = sel.epoch
        for sampler in (sel.train_sampler, sel.val_sampler, sel.scoring_sampler):
            for _ in range(extra_passes):  # an extra iterator that is created and dropped
                iter(sampler)
            order = np.fromiter(iter(sampler), dtype=np.int64)
            for start in range(0, order.size, batch):
                idx = order[start : start + batch]
                sel.observe(torch.from_numpy(idx), _logits(idx, e))
        sel.step()
        subsets.append(sel.subset)
    return subsets


def _spawn(worker, tmp_path, world: int = 2) -> None:
    ctx = mp.spawn(worker, args=(world, str(tmp_path / "init"), str(tmp_path)), nprocs=world, join=False)
    deadline = time.monotonic() + DEADLINE_S
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f"the ranks did not finish within {DEADLINE_S} s (a hang in a collective?)")


def _worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        out: dict = {}
        sel = GlisterSelector(_targets(), TRAIN, VAL, **CONFIG)  # num_replicas/rank from the group
        assert (sel.num_replicas, sel.rank) == (world, rank)
        subsets = _run(sel, CONFIG["epochs"], extra_passes=rank)
        np.savez(os.path.join(out_dir, f"rank{rank}.npz"), *subsets)
        out["scored"] = [h["scored"] for h in sel.history]
        out["samples"] = sel.selection_cost["samples"]
        try:  # built differently: eta
            GlisterSelector(_targets(), TRAIN, VAL, **{**CONFIG, "eta": 0.5 + rank})
            out["eta"] = None
        except RankMismatchError as exc:
            out["eta"] = str(exc)
        # a state dict loaded on one rank only: caught at the start of the next step, on both ranks
        sel = GlisterSelector(_targets(), TRAIN, VAL, **CONFIG)
        early = sel.state_dict()
        _run(sel, 3)
        if rank == 1:
            sel.load_state_dict(early)
        try:
            _run(sel, 1)
            out["loaded"] = None
        except RankMismatchError as exc:
            out["loaded"] = str(exc)
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump(out, f)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gloo_glister")
    _spawn(_worker, out)
    return out


@pytest.mark.slow
def test_two_gloo_ranks_pick_the_single_process_subsets(two_ranks) -> None:
    reference = GlisterSelector(_targets(), TRAIN, VAL, **CONFIG)
    expected = _run(reference, CONFIG["epochs"])
    assert not np.array_equal(expected[0], expected[-1])  # something was re-selected
    for rank in range(2):
        with np.load(two_ranks / f"rank{rank}.npz") as got:
            assert len(got.files) == len(expected)
            for j, subset in enumerate(expected):
                np.testing.assert_array_equal(got[f"arr_{j}"], subset, err_msg=f"rank {rank}, epoch {j + 1}")
        info = json.loads((two_ranks / f"rank{rank}.json").read_text())
        # every sample outside the subset scored once over the ranks (plus the padding's repeat)
        assert info["samples"] >= reference.selection_cost["samples"]
        assert info["scored"] == json.loads((two_ranks / "rank0.json").read_text())["scored"]


@pytest.mark.slow
def test_ranks_built_or_resumed_differently_fail_on_every_rank(two_ranks) -> None:
    for rank in range(2):
        info = json.loads((two_ranks / f"rank{rank}.json").read_text())
        assert info["eta"] is not None and "eta" in info["eta"] and f"this is rank {rank}" in info["eta"]
        assert info["loaded"] is not None and "at its start" in info["loaded"]
