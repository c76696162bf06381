"""BDP's MobileNet-space search setting (Sec. 4.3) on any ImageNet-style folder, for a stated number of steps.

The paper's settings, stated in every record: 12.5 % of the ImageNet training set
(a class-stratified sample), split 4 : 1 into the DARTS training and validation
splits, 30 epochs, batch 640, 224-px images, the 21-layer chain at width
multiplier 1, DARTS-V1 (``--algo beta-darts`` for β-DARTS), optionally with
``BiLevelPruner`` (``--bdp``). The search runs for ``--steps`` steps of its first
epoch (each step an architecture step and a weight step) and the record gives
the seconds per step, images per second, peak GPU memory and the time a full
30-epoch search at that rate would take without pruning (an extrapolation,
labelled as such). Any ``torchvision.datasets.ImageFolder`` works
(``<root>/train`` is used when it exists).

    python benchmarks/gpu_mobilenet_space.py --imagenet /data/imagenet --steps 50
    python benchmarks/gpu_mobilenet_space.py --smoke   # CPU, a tiny generated folder (the tests run this)

On one GPU, batch 640 of the full supernet (all six MBConvs of every layer run)
may not fit: the paper used 8 GPUs. ``--batch-size`` changes it (the record
says which ran); an out-of-memory error is recorded, not hidden.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _path in (str(HERE), str(REPO)):
    if _path in sys.path:
        sys.path.remove(_path)
    sys.path.insert(0, _path)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from provenance import code_version, environment  # noqa: E402

DEFAULT_OUT = REPO / "benchmarks" / "results" / "gpu_mobilenet_space.jsonl"
#: The paper's search settings (BDP Sec. 4.3, following β-DARTS).
PAPER = {"fraction": 0.125, "train_share": 0.8, "epochs": 30, "batch_size": 640, "image_size": 224}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class FirstSteps:
    """A loader cut to its first ``steps`` batches (keeps ``sampler`` for the loop's bookkeeping)."""

    def __init__(self, loader: Any, steps: int) -> None:
        self.loader, self.steps = loader, steps
        self.sampler = loader.sampler

    def __iter__(self) -> Any:
        for k, batch in enumerate(self.loader):
            if k >= self.steps:
                return
            yield batch

    def __len__(self) -> int:
        return min(self.steps, len(self.loader))


def make_tiny_folder(root: Path, classes: int = 3, per_class: int = 12, size: int = 40) -> Path:
    """A tiny ImageFolder of seeded random PNG images (for the smoke mode and the tests)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(classes):
        folder = root / f"class{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            pixels[..., c % 3] //= 2  # a little class signal
            Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def build_data(args: argparse.Namespace) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    """The folder dataset, its labels and the stratified sample's training and validation indices."""
    from torchvision import datasets, transforms

    from proxydata.data import split_indices

    root = Path(args.imagenet)
    if (root / "train").is_dir():
        root = root / "train"
    size = args.image_size
    transform = transforms.Compose(
        [
            transforms.RandomResizedCrop(size),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    folder = datasets.ImageFolder(str(root), transform=transform)
    targets = np.asarray(folder.targets, dtype=np.int64)
    if args.fraction < 1.0:
        sample, _ = split_indices(len(targets), args.fraction, seed=args.seed, stratify=targets)
    else:
        sample = np.arange(len(targets))
    first, second = split_indices(sample.size, args.train_share, seed=args.seed + 1, stratify=targets[sample])
    return folder, targets, sample[first], sample[second]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """One timed search of ``args.steps`` steps; the record."""
    from torch.utils.data import DataLoader

    from proxydata import BiLevelPruner, IndexedDataset
    from proxydata.nas import search
    from proxydata.nas.spaces.mobilenet import MobileNetSpace, MobileNetSupernet
    from proxydata.samplers.sharding import ShardedIndexSampler

    folder, targets, train_idx, val_idx = build_data(args)
    device = torch.device(args.device)
    space = MobileNetSpace(
        num_classes=int(targets.max()) + 1, input_size=args.image_size, width_mult=args.width_mult
    )
    network = MobileNetSupernet(space, seed=args.seed)
    pruner = None
    if args.bdp:
        pruner = BiLevelPruner(
            targets,
            train_idx,
            val_idx,
            epochs=args.epochs,
            interval=args.bdp_interval,
            train_prune_ratio=args.bdp_ratio,
            val_prune_ratio=args.bdp_ratio,
            train_criterion="low",
            val_criterion="high",
            seed=args.seed,
        )
        samplers = pruner.train_sampler, pruner.val_sampler
    else:
        samplers = (
            ShardedIndexSampler(train_idx, seed=args.seed),
            ShardedIndexSampler(val_idx, seed=args.seed + 1),
        )
    indexed = IndexedDataset(folder)
    loaders = [
        DataLoader(indexed, batch_size=args.batch_size, sampler=s, num_workers=args.workers,
                   pin_memory=device.type == "cuda", drop_last=False, persistent_workers=args.workers > 0)
        for s in samplers
    ]  # fmt: skip
    steps_per_epoch = math.ceil(train_idx.size / args.batch_size)
    steps = min(args.steps, steps_per_epoch)
    record: dict[str, Any] = {
        "settings": {**PAPER, "stated": "the paper's search settings (BDP Sec. 4.3)"},
        "ran": {
            "images": args.imagenet, "fraction": args.fraction, "train_share": args.train_share,
            "batch_size": args.batch_size, "image_size": args.image_size, "width_mult": args.width_mult,
            "algo": args.algo, "bdp": args.bdp, "steps": steps, "device": str(device),
            "workers": args.workers, "smoke": args.smoke,
        },
        "train_size": int(train_idx.size), "val_size": int(val_idx.size), "classes": space.num_classes,
        "steps_per_epoch": steps_per_epoch,
    }  # fmt: skip
    if device.type == "cuda":
        record["gpu"] = torch.cuda.get_device_name(device)
        torch.cuda.reset_peak_memory_stats(device)
    kwargs = {"beta_lambda_max": 25.0} if args.algo == "beta-darts" else {}
    try:
        start, cpu = time.perf_counter(), time.process_time()
        result = search(
            network,
            FirstSteps(loaders[0], steps),
            loaders[1],
            algo=args.algo,
            epochs=1,
            pruner=pruner,
            device=device,
            seed=args.seed,
            progress=args.progress,
            **kwargs,
        )
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        per_step = seconds / steps
        record.update(
            status="ok",
            seconds=seconds,
            cpu_seconds=time.process_time() - cpu,
            seconds_per_step=per_step,
            images_per_second=(result.train_sizes[0] + result.val_sizes[0]) / seconds,
            extrapolated_full_search_hours=per_step * steps_per_epoch * PAPER["epochs"] / 3600,
            extrapolation="seconds per step × steps of one full-data epoch × 30 epochs (no pruning; "
            "first steps include warm-up)",
            genotype=result.genotype,
            train_loss=result.train_loss,
        )
        if device.type == "cuda":
            record["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    except torch.cuda.OutOfMemoryError:
        record.update(status="out of memory", error=traceback.format_exc(limit=2))
    record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    env = environment(REPO)
    record["code"] = code_version(env["git"])
    record["environment"] = env
    return record


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--imagenet", help="an ImageFolder root (its train/ sub-folder when present)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="JSON-lines file (appended)")
    p.add_argument("--steps", type=int, default=50, help="steps of the first epoch to time")
    p.add_argument("--fraction", type=float, default=PAPER["fraction"])
    p.add_argument("--train-share", type=float, default=PAPER["train_share"], help="4 : 1 = 0.8")
    p.add_argument(
        "--epochs", type=int, default=PAPER["epochs"], help="the search length the pruner plans for"
    )
    p.add_argument("--batch-size", type=int, default=PAPER["batch_size"])
    p.add_argument("--image-size", type=int, default=PAPER["image_size"])
    p.add_argument("--width-mult", type=float, default=1.0)
    p.add_argument("--algo", choices=("darts-v1", "beta-darts"), default="darts-v1")
    p.add_argument("--bdp", action="store_true", help="search with BiLevelPruner")
    p.add_argument("--bdp-interval", type=int, default=5)
    p.add_argument(
        "--bdp-ratio", type=float, default=0.16, help="per step; 30 epochs, T=5: 5 steps, 100 %% -> 20 %%"
    )
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--progress", action="store_true")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="CPU smoke test: a tiny generated folder (unless --imagenet), 32 px, multiplier 0.25, "
        "batch 4, 2 steps, no workers, the whole folder",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.smoke:
            if args.imagenet is None:
                args.imagenet = str(make_tiny_folder(Path(tmp) / "images"))
            args.image_size, args.width_mult, args.batch_size, args.steps = 32, 0.25, 4, 2
            args.workers, args.device, args.fraction = 0, "cpu", 1.0
        if args.imagenet is None:
            raise SystemExit("--imagenet is required (or --smoke)")
        record = run(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k not in ("environment", "train_loss")}, indent=1))
    return 0 if record["status"] == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
