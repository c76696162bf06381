"""Static proxies across two gloo processes on the CPU (issue 19, item 4).

Every rank must serve the same selection: a proxy built differently on the
ranks (a rank-dependent seed, another split, another file) raises
``RankMismatchError`` on every rank, never a hang or overlapping shards. Each
test spawns two ranks with a deadline, so a rank stuck in a collective fails
the test instead of blocking the suite.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import TensorDataset

from proxydata import ProxySampler, RandomProxy, RankMismatchError

N = 41  # odd: shards are padded
DEADLINE_S = 120


def _data() -> TensorDataset:
    return TensorDataset(torch.arange(N, dtype=torch.float32).view(N, 1), torch.arange(N) % 3)


def _outcome(build) -> str | None:
    try:
        build()
    except RankMismatchError as exc:
        return str(exc)
    return None


def _worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    data = _data()
    # built before the process group exists: sharding and the agreement check wait for it
    early_same = RandomProxy(data, 0.5, seed=1, progress=False)
    early_differ = RandomProxy(data, 0.5, seed=rank, progress=False)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        record: dict = {}
        same = RandomProxy(data, 0.5, seed=1, progress=False)
        shards = [None] * world
        dist.all_gather_object(shards, same.epoch_indices().tolist())
        record["same"] = {"kept": same.indices.tolist(), "shards": shards, "replicas": same.num_replicas}
        early = [None] * world
        dist.all_gather_object(early, list(early_same))
        record["early_same"] = {"kept": early_same.indices.tolist(), "shards": early, "len": len(early_same)}
        record["seed"] = _outcome(lambda: RandomProxy(data, 0.5, seed=rank, progress=False))
        split = np.arange(rank, N - 1)  # another split on each rank
        record["split"] = _outcome(lambda: RandomProxy(data, 0.5, indices=split, progress=False))
        record["own"] = _outcome(  # a rank-local proxy that does not shard: no collective, no error
            lambda: RandomProxy(data, 0.5, seed=rank, num_replicas=1, rank=0, progress=False)
        )
        own = RandomProxy(data, 0.5, seed=rank, num_replicas=1, rank=0, progress=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            record["own_len"] = len(list(own))
        record["own_warns"] = [str(w.message) for w in caught]
        record["early_differ"] = _outcome(lambda: list(early_differ))
        path = os.path.join(out_dir, f"proxy{rank}.json")
        RandomProxy(data, 0.5, seed=rank, num_replicas=1, rank=0, progress=False).save(path)
        record["load"] = _outcome(lambda: ProxySampler.load(path, data))
        dist.barrier()
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump(record, f)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("static_gloo")
    ctx = mp.spawn(_worker, args=(2, str(out / "init"), str(out)), nprocs=2, join=False)
    deadline = time.monotonic() + DEADLINE_S
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f"the ranks did not finish within {DEADLINE_S} s (a hang in a collective?)")
    return out


def _records(out: Path) -> list[dict]:
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.mark.slow
def test_agreeing_ranks_split_the_kept_set_between_them(two_ranks) -> None:
    for key in ("same", "early_same"):
        records = [r[key] for r in _records(two_ranks)]
        kept = records[0]["kept"]
        assert records[1]["kept"] == kept and len(kept) == 21
        a, b = records[0]["shards"]
        assert len(a) == len(b) == 11  # ceil(21 / 2), one padded
        assert sorted(set(a) | set(b)) == kept
    assert _records(two_ranks)[0]["same"]["replicas"] == 2
    assert _records(two_ranks)[0]["early_same"]["len"] == 11  # built before the group, sharded by it


@pytest.mark.slow
@pytest.mark.parametrize(
    ("key", "what"),
    [
        ("seed", "the kept indices"),
        ("split", "the split"),
        ("early_differ", "the kept indices"),
        ("load", ""),
    ],
)
def test_ranks_that_disagree_fail_on_every_rank(two_ranks, key: str, what: str) -> None:
    for rank, record in enumerate(_records(two_ranks)):
        message = record[key]
        assert message is not None, f"rank {rank}: no error for {key}"
        assert what in message and f"this is rank {rank}" in message and "RandomProxy" in message


@pytest.mark.slow
def test_a_proxy_that_does_not_shard_is_not_compared_and_warns(two_ranks) -> None:
    records = _records(two_ranks)
    assert [r["own"] for r in records] == [None, None]
    for record in records:  # every rank iterates all 21 kept samples, and is told so
        assert record["own_len"] == 21
        assert len(record["own_warns"]) == 1 and "does not shard" in record["own_warns"][0]
