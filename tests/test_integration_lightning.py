"""proxydata.integrations.lightning: BiLevelPrunerCallback in a tiny DARTS LightningModule, and
static proxies in a LightningDataModule, on one device and under ``ddp_spawn`` (gloo, CPU)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

pl = pytest.importorskip("lightning.pytorch", reason="lightning is not installed (extra [lightning])")

from proxydata import BiLevelPruner, IndexedDataset, RandomProxy  # noqa: E402
from proxydata.exceptions import ProxydataValueError  # noqa: E402
from proxydata.integrations.lightning import BiLevelPrunerCallback, history_metrics  # noqa: E402
from proxydata.integrations.tensorboard import TensorBoardLogger  # noqa: E402

N_TRAIN, N_VAL, FEATURES, CLASSES = 120, 120, 16, 4
PRUNER = dict(epochs=6, interval=2, train_prune_ratio=0.2, val_prune_ratio=0.2, seed=3)


def _data() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(N_TRAIN + N_VAL) % CLASSES
    x = torch.randn(N_TRAIN + N_VAL, FEATURES, generator=g) + 0.8 * F.one_hot(y, FEATURES).float()
    return TensorDataset(x, y)


def _make_pruner(**overrides: object) -> BiLevelPruner:
    y = _data().tensors[1]
    config = {**PRUNER, **overrides}
    return BiLevelPruner(y, range(N_TRAIN), range(N_TRAIN, N_TRAIN + N_VAL), **config)


class TinyDarts(pl.LightningModule):
    """Two candidate operations mixed by softmax(alpha); weights and alpha have their own optimiser."""

    def __init__(self, pruner: BiLevelPruner | None = None, out_dir: str | None = None) -> None:
        super().__init__()
        self.automatic_optimization = False
        torch.manual_seed(0)
        self.ops = nn.ModuleList(
            [
                nn.Linear(FEATURES, CLASSES),
                nn.Sequential(nn.Linear(FEATURES, 8), nn.ReLU(), nn.Linear(8, CLASSES)),
            ]
        )
        self.alpha = nn.Parameter(torch.zeros(2))
        self.pruner = pruner
        self.out_dir = out_dir
        self.seen: list[list[int]] = []
        self.record: list[dict[str, object]] = []

    def setup(self, stage: str) -> None:
        if self.pruner is None:  # under DDP: built here, where the process group exists
            self.pruner = _make_pruner()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(self.alpha, 0)
        return w[0] * self.ops[0](x) + w[1] * self.ops[1](x)

    def train_dataloader(self) -> dict[str, DataLoader]:
        ds = IndexedDataset(_data())
        return {
            "train": DataLoader(ds, batch_size=16, sampler=self.pruner.train_sampler),
            "val": DataLoader(ds, batch_size=16, sampler=self.pruner.val_sampler),
        }

    def training_step(self, batch: dict, batch_idx: int) -> None:
        w_opt, a_opt = self.optimizers()
        xv, yv, iv = batch["val"]
        logits_v = self(xv)
        a_opt.zero_grad()
        self.manual_backward(F.cross_entropy(logits_v, yv))
        a_opt.step()
        self.pruner.observe(iv, logits_v)
        x, y, i = batch["train"]
        logits = self(x)
        w_opt.zero_grad()
        self.manual_backward(F.cross_entropy(logits, y))
        w_opt.step()
        self.pruner.observe(i, logits)
        if not self.seen:  # resumed mid-epoch: Lightning does not call on_train_epoch_start
            self.seen.append([])
        self.seen[-1].extend(i.tolist())

    def on_train_epoch_start(self) -> None:
        self.seen.append([])

    def on_train_epoch_end(self) -> None:  # runs after the callback's step()
        self.record.append(
            {
                "epoch": self.current_epoch,
                "seen_train": self.seen[-1],
                "kept_train": self.pruner.kept_train.tolist(),
                "kept_val": self.pruner.kept_val.tolist(),
            }
        )

    def on_train_end(self) -> None:
        if self.out_dir is not None:
            path = Path(self.out_dir) / f"rank{self.global_rank}.json"
            path.write_text(json.dumps(self.record))

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return [torch.optim.SGD(self.ops.parameters(), lr=0.2), torch.optim.Adam([self.alpha], lr=0.05)]


class ListLogger(pl.loggers.Logger):
    """Keeps every log_metrics call in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[dict[str, float], int | None]] = []

    @property
    def name(self) -> str:
        return "list"

    @property
    def version(self) -> int:
        return 0

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.calls.append((dict(metrics), step))

    def log_hyperparams(self, params: object, *args: object, **kwargs: object) -> None:
        pass


def _trainer(**kwargs: object) -> pl.Trainer:
    options = dict(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    options.update(kwargs)
    return pl.Trainer(**options)


def _quiet_fit(trainer: pl.Trainer, model: pl.LightningModule, **kwargs: object) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
        warnings.filterwarnings("ignore", message=".*callbacks used to create the checkpoint.*")
        trainer.fit(model, **kwargs)


# -- one device ----------------------------------------------------------------------------
def test_callback_prunes_each_interval_and_logs_plain_floats() -> None:
    pruner = _make_pruner()
    model = TinyDarts(pruner)
    logger = ListLogger()
    tensorboard = _TagWriter()
    TensorBoardLogger(tensorboard, histograms=False).attach(pruner)
    _quiet_fit(_trainer(max_epochs=6, logger=logger, callbacks=[BiLevelPrunerCallback(pruner)]), model)
    assert pruner.epoch == 6 and len(pruner.history) == 6
    sizes = [len(r["seen_train"]) for r in model.record]
    # prunes after epochs 2 and 4: 24 training samples each time (20 % of 120)
    assert sizes == [120, 120, 96, 96, 72, 72]
    assert [len(r["kept_val"]) for r in model.record] == [120, 96, 96, 72, 72, 72]
    ours = [(metrics, step) for metrics, step in logger.calls if "bdp/kept/train" in metrics]
    assert [m["bdp/kept/train"] for m, _ in ours] == [120.0, 96.0, 96.0, 72.0, 72.0, 72.0]
    assert ours[1][0]["bdp/pruned/train"] == 24.0 and ours[0][0]["bdp/pruned/train"] == 0.0
    assert all(type(v) is float for m, _ in ours for v in m.values())
    # One naming scheme: per epoch, the callback logs what TensorBoardLogger writes (x-axes differ:
    # the callback's is Lightning's global step, TensorBoardLogger's the epoch).
    for epoch, (metrics, _) in enumerate(ours, start=1):
        assert metrics == tensorboard.scalars[epoch]
    steps = [step for _, step in ours]
    assert steps == sorted(set(steps)) and steps[0] >= 8  # global steps (8 batches in epoch 1), not epochs
    assert "bdp/protected_by_limit/train" in ours[1][0] and "bdp/protected_by_limit/train" not in ours[0][0]


class _TagWriter:
    """A SummaryWriter stand-in: the scalars written at each global step."""

    def __init__(self) -> None:
        self.scalars: dict[int, dict[str, float]] = {}

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.setdefault(step, {})[tag] = value

    def add_histogram(self, *args: object) -> None:
        pass


def test_the_names_of_proxydata_0_2_are_deprecated_but_still_available() -> None:
    entry = {
        "epoch": 4,
        "n_train": np.int64(7),
        "pruning_step": True,
        "train_class_counts": [3, 4],
        "train": {"pruned": 2, "voe": np.zeros(2), "limits": None},
        "val": None,
    }
    with pytest.warns(FutureWarning, match="entry_scalars"):
        got = history_metrics(entry)
    assert got == {"pruner/n_train": 7.0, "pruner/pruning_step": 1.0, "pruner/train/pruned": 2.0}
    assert all(type(v) is float for v in got.values())
    pruner = _make_pruner()
    with pytest.warns(FutureWarning, match="legacy_names"):
        callback = BiLevelPrunerCallback(pruner, legacy_names=True)
    logger = ListLogger()
    _quiet_fit(_trainer(max_epochs=6, logger=logger, callbacks=[callback]), TinyDarts(pruner))
    ours = [metrics for metrics, _ in logger.calls if "pruner/n_train" in metrics]
    assert [m["pruner/n_train"] for m in ours] == [120.0, 96.0, 96.0, 72.0, 72.0, 72.0]


@pytest.mark.slow
def test_resume_from_every_epoch_checkpoint_matches_the_uninterrupted_run(tmp_path: Path) -> None:
    ckpt = pl.callbacks.ModelCheckpoint(dirpath=tmp_path, filename="{epoch}", save_top_k=-1, every_n_epochs=1)
    pruner = _make_pruner()
    model = TinyDarts(pruner)
    _quiet_fit(
        _trainer(max_epochs=6, enable_checkpointing=True, callbacks=[BiLevelPrunerCallback(pruner), ckpt]),
        model,
    )
    assert pruner.kept_train.size == 72
    for done in range(1, 6):  # the checkpoint written at the end of epoch `done - 1`
        fresh = _make_pruner()
        resumed = TinyDarts(fresh)
        trainer = _trainer(max_epochs=6, callbacks=[BiLevelPrunerCallback(fresh)])
        _quiet_fit(trainer, resumed, ckpt_path=str(tmp_path / f"epoch={done - 1}.ckpt"))
        assert fresh.epoch == 6, done
        np.testing.assert_array_equal(fresh.kept_train, pruner.kept_train, err_msg=f"resumed after {done}")
        np.testing.assert_array_equal(fresh.kept_val, pruner.kept_val, err_msg=f"resumed after {done}")
        torch.testing.assert_close(resumed.alpha, model.alpha, rtol=0, atol=0, msg=f"resumed after {done}")
        assert resumed.record[0]["seen_train"] == model.record[done]["seen_train"], done


class TinyDartsWithValidation(TinyDarts):
    """A validation loop too: Lightning's checkpoints then follow validation."""

    def val_dataloader(self) -> DataLoader:
        return DataLoader(IndexedDataset(_data()), batch_size=64)

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        x, y, _ = batch
        self.log("val_loss", F.cross_entropy(self(x), y))


def test_resume_is_exact_with_a_validation_loop(tmp_path: Path) -> None:
    ckpt = pl.callbacks.ModelCheckpoint(dirpath=tmp_path, filename="{epoch}", save_top_k=-1, every_n_epochs=1)
    pruner = _make_pruner()
    model = TinyDartsWithValidation(pruner)
    trainer = _trainer(
        max_epochs=6, enable_checkpointing=True, callbacks=[BiLevelPrunerCallback(pruner), ckpt]
    )
    _quiet_fit(trainer, model)
    for done in (2, 3):  # right after a pruning step, and one epoch later
        fresh = _make_pruner()
        resumed = TinyDartsWithValidation(fresh)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # an epoch-end checkpoint: no mid-epoch warning
            trainer = _trainer(max_epochs=6, callbacks=[BiLevelPrunerCallback(fresh)])
            _quiet_fit(trainer, resumed, ckpt_path=str(tmp_path / f"epoch={done - 1}.ckpt"))
        np.testing.assert_array_equal(fresh.kept_train, pruner.kept_train)
        np.testing.assert_array_equal(fresh.kept_val, pruner.kept_val)
        torch.testing.assert_close(resumed.alpha, model.alpha, rtol=0, atol=0)


def test_resuming_from_a_mid_epoch_checkpoint_warns(tmp_path: Path) -> None:
    ckpt = pl.callbacks.ModelCheckpoint(
        dirpath=tmp_path,
        filename="{step}",
        save_top_k=-1,
        every_n_train_steps=6,
        save_on_train_epoch_end=False,
    )
    pruner = _make_pruner()
    trainer = _trainer(
        max_epochs=1, enable_checkpointing=True, callbacks=[BiLevelPrunerCallback(pruner), ckpt]
    )
    _quiet_fit(trainer, TinyDarts(pruner))
    mid_epoch = sorted(tmp_path.glob("*.ckpt"))[0]
    fresh = _make_pruner()
    with pytest.warns(RuntimeWarning, match="written in the middle of an epoch"):
        _quiet_fit(
            _trainer(max_epochs=2, callbacks=[BiLevelPrunerCallback(fresh)]),
            TinyDarts(fresh),
            ckpt_path=str(mid_epoch),
        )


def test_a_pruner_reused_across_fits_is_refused() -> None:
    pruner = _make_pruner(epochs=3)
    _quiet_fit(_trainer(max_epochs=1, callbacks=[BiLevelPrunerCallback(pruner)]), TinyDarts(pruner))
    with pytest.raises(ProxydataValueError, match="completed 1 epochs but the trainer starts epoch 0"):
        _quiet_fit(_trainer(max_epochs=1, callbacks=[BiLevelPrunerCallback(pruner)]), TinyDarts(pruner))


def test_max_epochs_beyond_the_schedule_is_refused_at_fit_start() -> None:
    pruner = _make_pruner()
    with pytest.raises(ProxydataValueError, match=r"max_epochs=7\).*epochs=6"):
        _quiet_fit(_trainer(max_epochs=7, callbacks=[BiLevelPrunerCallback(pruner)]), TinyDarts(pruner))
    assert pruner.epoch == 0


def test_callback_named_attribute_must_hold_a_pruner() -> None:
    model = TinyDarts(_make_pruner())
    with pytest.raises(ProxydataValueError, match=r"TinyDarts.search_pruner must be a BiLevelPruner"):
        _quiet_fit(_trainer(max_epochs=6, callbacks=[BiLevelPrunerCallback("search_pruner")]), model)


def test_callback_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="pruner must be a BiLevelPruner"):
        BiLevelPrunerCallback(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="attribute name, got 'not a name'"):
        BiLevelPrunerCallback("not a name")
    with pytest.raises(TypeError, match="log must be a bool"):
        BiLevelPrunerCallback(_make_pruner(), log=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"not known before Trainer\.fit"):
        _ = BiLevelPrunerCallback("pruner").pruner


# -- two processes (ddp_spawn, gloo) -------------------------------------------------------
def _ddp_trainer(**kwargs: object) -> pl.Trainer:
    return _trainer(strategy="ddp_spawn", devices=2, **kwargs)


@pytest.mark.slow
def test_ddp_spawn_ranks_keep_identical_sets_and_epochs_shrink(tmp_path: Path) -> None:
    model = TinyDarts(out_dir=str(tmp_path))  # the pruner is built in setup(), once per rank
    _quiet_fit(
        _ddp_trainer(
            max_epochs=4, use_distributed_sampler=False, callbacks=[BiLevelPrunerCallback("pruner")]
        ),
        model,
    )
    records = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for epoch in range(4):
        r0, r1 = records[0][epoch], records[1][epoch]
        assert r0["kept_train"] == r1["kept_train"] and r0["kept_val"] == r1["kept_val"], epoch
        # each rank sees its own half of the kept training set, and together all of it
        assert not set(r0["seen_train"]) & set(r1["seen_train"]), epoch
        before = records[0][epoch - 1]["kept_train"] if epoch else list(range(N_TRAIN))
        assert sorted(r0["seen_train"] + r1["seen_train"]) == before, epoch
    assert [len(records[0][e]["seen_train"]) for e in range(4)] == [60, 60, 48, 48]


@pytest.mark.slow
def test_ddp_spawn_with_lightnings_distributed_sampler_is_refused_at_fit_start(tmp_path: Path) -> None:
    model = TinyDarts(out_dir=str(tmp_path))
    with pytest.raises(Exception, match=r"use_distributed_sampler=False"):
        _quiet_fit(_ddp_trainer(max_epochs=4, callbacks=[BiLevelPrunerCallback("pruner")]), model)
    assert not list(tmp_path.glob("rank*.json"))  # no epoch ran


def _stand_in_trainer(world: int, rank: int, use_distributed_sampler: bool) -> SimpleNamespace:
    # what the callback reads from a Trainer at fit start, without spawning processes
    connector = SimpleNamespace(use_distributed_sampler=use_distributed_sampler)
    return SimpleNamespace(world_size=world, global_rank=rank, max_epochs=4, _accelerator_connector=connector)


def test_pruner_built_before_a_multi_process_fit_is_refused() -> None:
    pruner = _make_pruner()  # num_replicas=1: no process group when it was built
    callback = BiLevelPrunerCallback(pruner)
    with pytest.raises(ProxydataValueError, match=r"num_replicas=1, rank=0, but this process is rank 1 of 2"):
        callback.on_fit_start(_stand_in_trainer(2, 1, use_distributed_sampler=False), TinyDarts(pruner))
    with pytest.raises(ProxydataValueError, match=r"use_distributed_sampler=False"):
        callback.on_fit_start(_stand_in_trainer(2, 1, use_distributed_sampler=True), TinyDarts(pruner))
    callback.on_fit_start(_stand_in_trainer(1, 0, use_distributed_sampler=True), TinyDarts(pruner))


# -- static proxy in a LightningDataModule --------------------------------------------------
class ProxyDataModule(pl.LightningDataModule):
    """The recipe of docs/integrations/lightning.md: the proxy shards by rank itself."""

    def __init__(self) -> None:
        super().__init__()
        self.proxy: RandomProxy | None = None

    def setup(self, stage: str) -> None:
        self.dataset = IndexedDataset(_data())
        self.proxy = RandomProxy(
            self.dataset,
            ratio=0.3,
            seed=1,
            num_replicas=self.trainer.world_size,
            rank=self.trainer.global_rank,
        )

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.dataset, batch_size=8, sampler=self.proxy)


class IndexRecorder(pl.LightningModule):
    def __init__(self, out_dir: str) -> None:
        super().__init__()
        self.layer = nn.Linear(FEATURES, CLASSES)
        self.out_dir = out_dir
        self.seen: list[list[int]] = []

    def on_train_epoch_start(self) -> None:
        self.seen.append([])

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y, i = batch
        self.seen[-1].extend(i.tolist())
        return F.cross_entropy(self.layer(x), y)

    def on_train_end(self) -> None:
        record = {"seen": self.seen, "proxy": self.trainer.datamodule.proxy.indices.tolist()}
        (Path(self.out_dir) / f"rank{self.global_rank}.json").write_text(json.dumps(record))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _proxy_run(tmp_path: Path, **trainer_kwargs: object) -> list[dict]:
    _quiet_fit(
        _trainer(max_epochs=2, **trainer_kwargs), IndexRecorder(str(tmp_path)), datamodule=ProxyDataModule()
    )
    world = trainer_kwargs.get("devices", 1)
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(world)]


def test_static_proxy_datamodule_on_one_device(tmp_path: Path) -> None:
    (record,) = _proxy_run(tmp_path)
    proxy = record["proxy"]
    assert len(proxy) == round(0.3 * (N_TRAIN + N_VAL))
    for seen in record["seen"]:
        assert sorted(seen) == proxy
    assert record["seen"][0] != record["seen"][1]  # Lightning's set_epoch reshuffles


@pytest.mark.slow
def test_static_proxy_datamodule_under_ddp_spawn_splits_the_proxy_once(tmp_path: Path) -> None:
    records = _proxy_run(tmp_path, strategy="ddp_spawn", devices=2, use_distributed_sampler=False)
    proxy = records[0]["proxy"]
    assert records[1]["proxy"] == proxy and len(proxy) == 72
    for epoch in range(2):
        a, b = (set(records[r]["seen"][epoch]) for r in range(2))
        assert len(records[0]["seen"][epoch]) == len(records[1]["seen"][epoch]) == 36
        assert not a & b and sorted(a | b) == proxy, epoch


def test_proxydata_imports_without_lightning_and_the_integration_says_what_to_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['lightning'] = sys.modules['pytorch_lightning'] = None  # as if not installed\n"
        "import proxydata, proxydata.integrations\n"
        "try:\n"
        "    import proxydata.integrations.lightning\n"
        "except ImportError as e:\n"
        "    print('ImportError:', e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "pip install 'proxydata[lightning]'" in done.stdout


def test_an_unsharded_proxy_wrapped_by_lightning_is_split_once() -> None:
    # What Lightning's default use_distributed_sampler=True does to a training DataLoader's
    # custom sampler: DistributedSamplerWrapper(sampler, shuffle=True, seed=0), set_epoch forwarded.
    from lightning.fabric.utilities.distributed import DistributedSamplerWrapper

    data = IndexedDataset(_data())
    proxy = RandomProxy(data, ratio=0.3, seed=1, num_replicas=1, rank=0)  # unsharded on purpose
    ranks = [DistributedSamplerWrapper(proxy, num_replicas=2, rank=r, shuffle=True, seed=0) for r in range(2)]
    orders = []
    for epoch in range(2):
        parts = []
        for wrapper in ranks:
            wrapper.set_epoch(epoch)
            parts.append(list(wrapper))
        assert len(parts[0]) == len(parts[1]) == 36
        assert not set(parts[0]) & set(parts[1]) and sorted(parts[0] + parts[1]) == proxy.indices.tolist()
        orders.append(parts[0])
    assert orders[0] != orders[1]  # a new shuffle each epoch
