"""extract_features across 2 and 3 gloo processes on the CPU: same file as one process, kill and resume.

Each test spawns the ranks (``torch.multiprocessing``) with a deadline, as in
``test_pruning_distributed.py``: a rank that hangs in a collective fails the
test instead of blocking the suite.
"""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import TensorDataset

from proxydata.feature_files import progress_paths, sidecar_path
from proxydata.features import extract_features, model_features

N, BATCH, CHUNK = 61, 4, 8  # 8 chunks, the last one of 5 rows
DEADLINE_S = 150


class Embed(nn.Module):
    """A deterministic embedding; ``exit_after`` forward calls, the process dies (``os._exit``)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 3))
        self.exit_after: int | None = None
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.exit_after is not None and self.calls > self.exit_after:
            os._exit(3)  # a killed process: no exception handler, no cleanup
        return self.net(x)


def _dataset() -> TensorDataset:
    g = torch.Generator().manual_seed(7)
    return TensorDataset(torch.rand(N, 3, 2, 2, generator=g), torch.arange(N) % 5)


def _worker(rank: int, world: int, init_file: str, out_dir: str, plan: dict) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world, timeout=timedelta(seconds=60)
    )
    if plan.get("pretend_nccl"):
        # The coordination an NCCL job gets (a gloo group made for it), run on gloo.
        dist.get_backend = lambda group=None: "nccl"
    try:
        model = Embed(seed=plan.get("seeds", {}).get(str(rank), 0))
        if plan.get("exit_rank") == rank:
            model.exit_after = plan["exit_after"]
        record: dict = {"rank": rank}
        try:
            out = extract_features(
                _dataset(), model, Path(out_dir) / "f.npy", batch_size=BATCH, chunk_size=CHUNK, progress=False
            )
            record.update(calls=model.calls, returned=np.asarray(out).tolist())
        except ValueError as exc:
            record.update(error=type(exc).__name__, message=str(exc))
        (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps(record))
    finally:
        dist.destroy_process_group()


def _spawn(tmp_path: Path, world: int, plan: dict, expect_failure: bool = False) -> None:
    init = tmp_path / f"init-{time.monotonic_ns()}"
    ctx = mp.spawn(_worker, args=(world, str(init), str(tmp_path), plan), nprocs=world, join=False)
    deadline = time.monotonic() + DEADLINE_S
    try:
        while not ctx.join(timeout=1):
            if time.monotonic() > deadline:
                for p in ctx.processes:
                    p.kill()
                pytest.fail(f"the ranks did not finish within {DEADLINE_S} s (a hang in a collective?)")
    except mp.ProcessExitedException:
        if not expect_failure:
            raise
        for p in ctx.processes:  # the survivors are terminated by join; make sure
            p.join(timeout=30)
        return
    assert not expect_failure, "a rank was expected to die"


def _reference() -> np.ndarray:
    return model_features(_dataset(), Embed(), batch_size=BATCH, progress=False)


def _records(tmp_path: Path, world: int) -> list[dict]:
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(world)]


@pytest.mark.parametrize(("world", "plan"), [(2, {}), (3, {}), (2, {"pretend_nccl": True})])
def test_ranks_write_the_file_one_process_would(tmp_path: Path, world: int, plan: dict) -> None:
    _spawn(tmp_path, world, plan)
    reference = _reference()
    np.testing.assert_array_equal(np.load(tmp_path / "f.npy"), reference)
    records = _records(tmp_path, world)
    for rec in records:  # every rank returns the whole finished file
        np.testing.assert_array_equal(np.asarray(rec["returned"], dtype=np.float32), reference)
    # The 8 chunks (2 batches each, the last one 2 batches too) are dealt out, none twice:
    # every rank probes once, then runs 2 batches per chunk it was dealt.
    dealt = [len(range(r, 8, world)) for r in range(world)]
    assert [rec["calls"] for rec in records] == [1 + 2 * c for c in dealt]
    meta = json.loads(sidecar_path(tmp_path / "f.npy").read_text())
    assert meta["complete"] and progress_paths(tmp_path / "f.npy") == []


def test_a_killed_run_resumes_with_another_number_of_ranks(tmp_path: Path) -> None:
    # Two ranks: rank 0 is dealt chunks 0, 2, 4, 6 and rank 1 chunks 1, 3, 5, 7.
    # Rank 1 dies in its fourth batch: chunk 1 is recorded, chunk 3 half written.
    _spawn(tmp_path, 2, {"exit_rank": 1, "exit_after": 1 + 3}, expect_failure=True)
    path = tmp_path / "f.npy"
    assert not json.loads(sidecar_path(path).read_text())["complete"]
    recorded = set()
    for p in progress_paths(path):
        recorded |= set(json.loads(p.read_text())["chunks"])
    assert 1 in recorded and not {3, 5, 7} & recorded
    assert recorded <= {0, 1, 2, 4, 6}  # rank 0 may have been stopped anywhere in its share

    # Three ranks finish the job: only the chunks nobody recorded are computed.
    _spawn(tmp_path, 3, {})
    np.testing.assert_array_equal(np.load(path), _reference())
    records = _records(tmp_path, 3)
    batches = sum(rec["calls"] - 1 for rec in records)  # minus each rank's probe
    assert batches == 2 * (8 - len(recorded))
    assert json.loads(sidecar_path(path).read_text())["complete"]
    assert progress_paths(path) == []


def test_ranks_with_different_models_fail_on_every_rank(tmp_path: Path) -> None:
    _spawn(tmp_path, 2, {"seeds": {"1": 5}})
    records = _records(tmp_path, 2)
    for rec in records:
        assert rec["error"] == "RankMismatchError" and "model" in rec["message"]
    assert not (tmp_path / "f.npy").exists()  # nothing was created
