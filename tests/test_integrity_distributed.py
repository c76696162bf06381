"""A rank dying during a distributed extraction: the survivors get the library's error (issue 29, case 8).

gloo reports a dead peer with its own ``RuntimeError``; :func:`extract_features`
now raises :class:`~proxydata.RankFailedError` (a ``ProxydataError`` and a
``RuntimeError``) on the surviving ranks, and the run resumes afterwards.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import TensorDataset

N, BATCH, CHUNK = 40, 4, 4
DEADLINE_S = 120


class Embed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
        self.exit_after: int | None = None
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.exit_after is not None and self.calls > self.exit_after:
            os._exit(3)  # a killed process
        if self.exit_after is None:
            time.sleep(0.05)  # the survivor is still working when its peer dies
        return self.net(x)


def _dataset() -> TensorDataset:
    g = torch.Generator().manual_seed(7)
    return TensorDataset(torch.rand(N, 3, 2, 2, generator=g), torch.arange(N) % 4)


def _worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    from proxydata.features import extract_features

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world, timeout=timedelta(seconds=8)
    )
    model = Embed()
    if rank == 1:
        model.exit_after = 1 + 2
    record: dict = {"rank": rank}
    try:
        extract_features(_dataset(), model, Path(out_dir) / "f.npy", batch_size=BATCH, chunk_size=CHUNK,
                         progress=False)  # fmt: skip
        record["error"] = None
    except Exception as exc:  # recorded for the test to judge
        from proxydata import ProxydataError

        record.update(error=type(exc).__name__, family=isinstance(exc, ProxydataError), message=str(exc))
    (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps(record))
    os._exit(0)  # no teardown collective with a dead peer


def test_a_dying_rank_gives_the_survivor_a_library_error_then_resumes(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    init = tmp_path / "init"
    procs = [ctx.Process(target=_worker, args=(r, 2, str(init), str(tmp_path))) for r in range(2)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + DEADLINE_S
    for p in procs:
        p.join(timeout=max(1.0, deadline - time.monotonic()))
    alive = [p for p in procs if p.is_alive()]
    for p in alive:
        p.kill()
    assert not alive, "a rank hung after its peer died"
    assert procs[1].exitcode == 3
    record = json.loads((tmp_path / "rank0.json").read_text())
    assert record["error"] == "RankFailedError" and record["family"], record
    assert "run extract_features again" in record["message"]

    from proxydata.features import extract_features, load_features, model_features

    out = extract_features(_dataset(), Embed(), tmp_path / "f.npy", batch_size=BATCH, progress=False)
    reference = model_features(_dataset(), Embed(), batch_size=BATCH, progress=False)
    np.testing.assert_allclose(out, reference, rtol=1e-6, atol=1e-7)
    assert load_features(tmp_path / "f.npy", dataset=_dataset()).shape == (N, 3)


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])
