"""CPU-scale searches of the MobileNet-like space (BDP's Table 6) on CIFAR-10: DARTS-V1 with and without BDP.

CPU-SCALE, NOT THE PAPER'S SETTING. The paper searches 12.5 % of ImageNet
(224 px, width multiplier 1, split 4 : 1, 30 epochs, batch 640) on 8 GPUs; these
runs search 16-px CIFAR-10 with a narrow width multiplier, a
5,000 + 5,000 split (stratified, drawn once with ``--split-seed``) and 3
epochs (about 30 CPU-minutes for the six runs; they ran as six processes on a
2-core machine shared with ~30 other processes). BDP prunes at the end of epoch 2
(the only step a 3-epoch schedule with ``T = 2`` has) 96 % of each split, so the
last epoch sees 4 % — the final size of BDP's Table 4 schedule, reached at once. The stem keeps
its stride 2, so the six stages see 4, 2, 1, 1, 1, 1 pixels: from the third
stage on a depthwise kernel of 3, 5 or 7 computes the same function (only its
centre meets the 1×1 map), so the kernel choice of those 13 layers is not
informative here; expansions and skips are. What they can show
is the search's behaviour on this space — how many layers become skip (the
collapse BDP's Sec. 4.3 reports for DARTS), which kernels and expansions win,
the derived network's multiply-adds and parameters, and how many samples and
CPU seconds a search takes with and without the pruner — not ImageNet accuracy.

One JSON record per run is appended to ``--out`` when the run ends (resumable:
a run whose key is in the file is skipped); each record carries the settings,
the derived architecture (text and JSON forms), per-epoch genotypes and skip
counts, its multiply-adds and parameters at the run's scale and at ImageNet
scale (224 px, multiplier 1, 1000 classes), the samples processed, the CPU
seconds, the pruner's final sizes, and the provenance environment.

    python benchmarks/mobilenet_space.py --out /work/runs/i26-mobilenet/mobilenet_space.jsonl

``--report`` prints the results-page section from ``--out`` instead of running.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
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

DEFAULT_OUT = REPO / "benchmarks" / "results" / "mobilenet_space.jsonl"
#: CIFAR-10 channel means and standard deviations (the usual constants).
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
METHODS = ("darts", "bdp")


def shared_data_dir(arg: str | None) -> Path:
    import os

    env = os.environ.get("PROXYDATA_SHARED_DATA")
    path = Path(arg) if arg else Path(env) if env else REPO.parent / "shared" / "data"
    if not path.is_dir():
        raise SystemExit(f"shared data not found at {path}: pass --data-dir or set PROXYDATA_SHARED_DATA")
    return path


def load_split(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
    """The searched images (normalised), their labels, and the train / val positions in them.

    A stratified sample of ``train_size + val_size`` images of CIFAR-10's training set,
    split stratified into the two parts (``--split-seed``; the same for every run).
    """
    from proxydata.data import split_indices

    name = "cifar10_16x16.npz" if args.resolution == 16 else "cifar10.npz"
    with np.load(shared_data_dir(args.data_dir) / name) as z:
        x_all, y_all = z["x_train"], z["y_train"].astype(np.int64)
    total = args.train_size + args.val_size
    chosen, _ = split_indices(len(y_all), total / len(y_all), seed=args.split_seed, stratify=y_all)
    chosen = chosen[:total] if chosen.size > total else chosen
    x = torch.from_numpy(x_all[chosen]).permute(0, 3, 1, 2).float().div_(255.0)
    x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    y = torch.from_numpy(y_all[chosen])
    train_pos, val_pos = split_indices(
        len(chosen), args.train_size / len(chosen), seed=args.split_seed + 1, stratify=y.numpy()
    )
    return x.contiguous(), y, train_pos, val_pos


def run_key(run: dict[str, Any]) -> str:
    return f"{run['algo']}|{run['method']}|seed={run['seed']}"


def done_keys(path: Path) -> set[str]:
    if not path.exists():
        return set()
    with open(path, encoding="utf-8") as fh:
        return {json.loads(line)["key"] for line in fh if line.strip()}


def arch_costs(arch: Any, space: Any) -> dict[str, int] | None:
    """Multiply-adds and parameters of ``arch`` on ``space`` (a fresh network; counting only).

    None when ``arch`` has a skip where ``space`` offers none: at width multiplier 0.25 the
    first layer of stage 4 offers skip (stages 3 and 4 round to one width), at 1 it does not.
    """
    from proxydata.exceptions import ProxydataValueError
    from proxydata.nas.spaces.mobilenet import MobileNetNetwork

    try:
        return MobileNetNetwork(arch, space, seed=0).cost()
    except ProxydataValueError:
        return None


def execute(run: dict[str, Any], data: tuple, args: argparse.Namespace) -> dict[str, Any]:
    """One search (``run``: algo, method, seed) and its record."""
    from torch.utils.data import DataLoader, TensorDataset

    from proxydata import BiLevelPruner, IndexedDataset
    from proxydata.nas import search
    from proxydata.nas.spaces.mobilenet import MobileNetArch, MobileNetSpace, MobileNetSupernet
    from proxydata.samplers.sharding import ShardedIndexSampler

    x, y, train_pos, val_pos = data
    seed = run["seed"]
    space = MobileNetSpace(
        num_classes=10, input_size=args.resolution, stem_stride=args.stem_stride, width_mult=args.width_mult
    )
    network = MobileNetSupernet(space, seed=seed)
    pruner = None
    bdp = None
    if run["method"] == "bdp":
        bdp = {
            "interval": args.bdp_interval,
            "train_prune_ratio": args.bdp_ratio,
            "val_prune_ratio": args.bdp_ratio,
            "train_criterion": "low",
            "val_criterion": "high",
            "class_balance": True,
        }
        pruner = BiLevelPruner(y, train_pos, val_pos, epochs=args.epochs, seed=seed, **bdp)
        train_sampler, val_sampler = pruner.train_sampler, pruner.val_sampler
    else:
        train_sampler = ShardedIndexSampler(train_pos, seed=seed)
        val_sampler = ShardedIndexSampler(val_pos, seed=seed + 1)
    dataset = IndexedDataset(TensorDataset(x, y))
    train = DataLoader(dataset, batch_size=args.batch_size, sampler=train_sampler)
    val = DataLoader(dataset, batch_size=args.batch_size, sampler=val_sampler)
    kwargs = {"beta_lambda_max": args.beta_lambda} if run["algo"] == "beta-darts" else {}
    wall, cpu = time.perf_counter(), time.process_time()
    result = search(
        network,
        train,
        val,
        algo=run["algo"],
        epochs=args.epochs,
        pruner=pruner,
        seed=seed,
        progress=args.progress,
        **kwargs,
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    arch = MobileNetArch.parse(result.genotype)
    paper = MobileNetSpace()
    record = result.to_dict()
    record["alphas"] = [[None if not np.isfinite(v) else v for v in row] for row in record["alphas"]]
    record.update(run)
    record.update(
        key=run_key(run),
        scale="CPU-scale (not the paper's setting): CIFAR-10 at "
        f"{args.resolution} px, width multiplier {args.width_mult}, {args.train_size} + {args.val_size} "
        f"images, {args.epochs} epochs, batch {args.batch_size}",
        space=space.to_dict(),
        arch=arch.to_dict(),
        num_skips=arch.num_skips,
        skips_per_epoch=[MobileNetArch.parse(g).num_skips for g in result.genotypes],
        skip_offered=sum(space.skip_mask()),
        cost_run_scale=arch_costs(arch, space),
        cost_imagenet=arch_costs(arch, paper),
        samples=int(sum(result.train_sizes) + sum(result.val_sizes)),
        cpu_seconds=cpu,
        wall_seconds=wall,
        bdp=bdp,
        final_train=None if pruner is None else int(pruner.kept_train.size),
        final_val=None if pruner is None else int(pruner.kept_val.size),
        config={k: v for k, v in vars(args).items() if k not in ("out", "report", "progress", "limit")},
        finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    env = environment(REPO)
    record["code"] = code_version(env["git"])
    record["environment"] = env
    return record


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(DEFAULT_OUT), help="JSON-lines file (appended; resumable)")
    p.add_argument("--data-dir", default=None, help="folder of cifar10_16x16.npz (default: ../shared/data)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--algo", choices=("darts-v1", "beta-darts"), default="darts-v1")
    p.add_argument("--beta-lambda", type=float, default=25.0, help="β-DARTS's lambda_max")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--train-size", type=int, default=5000)
    p.add_argument("--val-size", type=int, default=5000)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--resolution", type=int, choices=(16, 32), default=16)
    p.add_argument("--stem-stride", type=int, choices=(1, 2), default=2)
    p.add_argument("--width-mult", type=float, default=0.25)
    p.add_argument("--bdp-interval", type=int, default=2)
    p.add_argument(
        "--bdp-ratio",
        type=float,
        default=0.96,
        help="share of each initial split pruned per step (3 epochs, T=2: 1 step, 100 %% -> 4 %%)",
    )
    p.add_argument("--limit", type=int, default=None, help="stop after this many runs")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--report", action="store_true", help="print the results-page section and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    if args.report:
        from report.mobilenet import mobilenet_section

        print("\n".join(mobilenet_section(out)))
        return 0
    torch.set_num_threads(1)
    runs = [{"algo": args.algo, "method": m, "seed": s} for s in args.seeds for m in args.methods]
    todo = [r for r in runs if run_key(r) not in done_keys(out)]
    if not todo:
        print("every run is in", out)
        return 0
    data = load_split(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    for n, run in enumerate(todo):
        if args.limit is not None and n >= args.limit:
            break
        record = execute(run, data, args)
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        print(
            f"[{n + 1}/{len(todo)}] {record['key']}: {record['num_skips']} skips, "
            f"{record['cost_imagenet']['flops'] / 1e6:.0f} M MACs at 224 px, {record['samples']} samples, "
            f"{record['cpu_seconds']:.0f} CPU s  {record['genotype']}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
