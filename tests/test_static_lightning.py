"""Static proxies under Lightning DDP with its default ``use_distributed_sampler=True`` (issue 19, item 3).

A proxy is a ``DistributedSampler`` by type, so Lightning leaves it unwrapped
(its shards are not split a second time) and calls its ``set_epoch``. Run with
``ddp_spawn`` on two CPU processes (gloo): one proxy built in the DataModule's
``setup`` (the process group exists: sharded from the start), one built in its
``__init__`` before the group exists (sharded by the group at its first pass).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

pl = pytest.importorskip("lightning.pytorch", reason="lightning is not installed (extra [lightning])")

from proxydata import IndexedDataset, RandomProxy  # noqa: E402

N, FEATURES, CLASSES, BATCH = 120, 6, 3, 8


def _data() -> IndexedDataset:
    g = torch.Generator().manual_seed(0)
    return IndexedDataset(TensorDataset(torch.randn(N, FEATURES, generator=g), torch.arange(N) % CLASSES))


class TwoProxies(pl.LightningDataModule):
    def __init__(self) -> None:
        super().__init__()
        self.dataset = _data()
        self.early = RandomProxy(self.dataset, ratio=0.6, seed=2, progress=False)  # no process group yet
        self.late: RandomProxy | None = None

    def setup(self, stage: str) -> None:
        self.late = RandomProxy(self.dataset, ratio=0.6, seed=1, progress=False)  # reads the group

    def train_dataloader(self) -> dict[str, DataLoader]:
        return {
            "early": DataLoader(self.dataset, batch_size=BATCH, sampler=self.early),
            "late": DataLoader(self.dataset, batch_size=BATCH, sampler=self.late),
        }


class Recorder(pl.LightningModule):
    def __init__(self, out_dir: str) -> None:
        super().__init__()
        self.layer = nn.Linear(FEATURES, CLASSES)
        self.out_dir = out_dir
        self.seen: list[dict[str, list[int]]] = []
        self.batches: list[int] = []

    def on_train_epoch_start(self) -> None:
        self.seen.append({"early": [], "late": []})
        self.batches.append(0)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        self.batches[-1] += 1
        loss = torch.zeros(())
        for key, (x, y, i) in batch.items():
            self.seen[-1][key].extend(i.tolist())
            loss = loss + F.cross_entropy(self.layer(x), y)
        return loss

    def on_train_end(self) -> None:
        dm = self.trainer.datamodule
        record = {
            "seen": self.seen,
            "batches": self.batches,
            "kept": {"early": dm.early.indices.tolist(), "late": dm.late.indices.tolist()},
        }
        (Path(self.out_dir) / f"rank{self.global_rank}.json").write_text(json.dumps(record))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.slow
def test_proxies_under_ddp_spawn_with_the_default_distributed_sampler(tmp_path: Path) -> None:
    trainer = pl.Trainer(
        accelerator="cpu",
        strategy="ddp_spawn",
        devices=2,
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )  # use_distributed_sampler left at its default, True
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer.fit(Recorder(str(tmp_path)), datamodule=TwoProxies())
    records = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for key, kept_size in (("early", 72), ("late", 72)):
        kept = records[0]["kept"][key]
        assert records[1]["kept"][key] == kept and len(kept) == kept_size
        for epoch in range(2):
            a, b = (records[r]["seen"][epoch][key] for r in range(2))
            # each rank sees its half of the proxy: not a quarter (sharded twice), not all of it
            assert len(a) == len(b) == kept_size // 2, (key, epoch)
            assert not set(a) & set(b) and sorted(set(a) | set(b)) == kept, (key, epoch)
        assert records[0]["seen"][0][key] != records[0]["seen"][1][key]  # Lightning calls set_epoch
    assert records[0]["batches"] == [5, 5]  # ceil(36 / 8) batches of the longer loader per epoch
