"""DARTS-space searches at the paper's scale, for a GPU machine (issue 25, item 7).

The BDP paper's DARTS-space setting (Sec. 4.2, following DARTS): CIFAR-10 at
32×32, the 50,000 training images split 25,000 + 25,000 (stratified, seed 0),
the search network ``C=16``, 8 cells, batch 64, DARTS's optimisers, 50 epochs;
with ``--method bdp`` the pruner progressively to about 4 % (``--interval 5``,
``0.96 / steps`` per step). ``--epochs`` runs fewer epochs of that schedule (the
learning-rate and pruning schedules are those of ``--schedule-epochs``, 50, cut
short), so a partial run times the real thing. ``--limit-batches`` keeps the
first batches of each split only (a smoke test: ``--epochs 1 --limit-batches 2``
runs on a CPU in seconds with ``--data synthetic``).

One JSON record per run is appended to ``--out``: the genotype, the number of
``skip_connect`` in the normal cell, samples processed, seconds per epoch (wall;
CUDA synchronised), CPU seconds, the device, the whole search record and the
environment.

    python benchmarks/gpu_darts_space.py --algo darts-v1 --method full --epochs 2 --device cuda \\
        --out benchmarks/results/gpu_darts_space.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _path in (str(HERE), str(REPO)):
    if _path in sys.path:
        sys.path.remove(_path)
    sys.path.insert(0, _path)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from provenance import code_version, environment  # noqa: E402
from torch.utils.data import DataLoader, Subset, TensorDataset  # noqa: E402

from proxydata import BiLevelPruner, IndexedDataset, split_indices  # noqa: E402
from proxydata.nas import make_supernet, search  # noqa: E402
from proxydata.nas.search_options import DARTS_SPACE_ALGORITHMS  # noqa: E402
from proxydata.nas.spaces.darts import DartsGenotype  # noqa: E402

MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)
DARTS_OPTIMISERS = dict(
    w_lr=0.025, w_lr_min=0.001, w_momentum=0.9, w_weight_decay=3e-4, w_nesterov=False, grad_clip=5.0,
    a_lr=3e-4, a_betas=(0.5, 0.999), a_weight_decay=1e-3,
)  # fmt: skip


def load(args: argparse.Namespace) -> tuple[TensorDataset, np.ndarray, np.ndarray]:
    """The training images (normalised, NCHW) and the stratified split into two halves."""
    if args.data == "synthetic":
        g = torch.Generator().manual_seed(0)
        n = 2 * args.n_per_split
        x = torch.randn(n, 3, args.size, args.size, generator=g)
        y = torch.arange(n) % 10
    else:
        with np.load(args.data) as z:
            xs, ys = z["x_train"], np.asarray(z["y_train"]).astype(np.int64).ravel()
        xs = (xs.astype(np.float32) / 255.0 - MEAN) / STD
        x, y = torch.from_numpy(np.ascontiguousarray(xs.transpose(0, 3, 1, 2))), torch.from_numpy(ys)
    labels = y.numpy()
    pool = np.arange(len(labels))
    if 2 * args.n_per_split < len(labels):
        pool, _ = split_indices(len(labels), 2 * args.n_per_split / len(labels), seed=0, stratify=labels)
    tr, va = split_indices(len(pool), 0.5, seed=0, stratify=labels[pool])
    return TensorDataset(x[pool], y[pool]), tr, va


def run(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    data, tr, va = load(args)
    if args.limit_batches:
        tr, va = tr[: args.limit_batches * args.batch_size], va[: args.limit_batches * args.batch_size]
    targets = data.tensors[1].numpy()
    indexed = IndexedDataset(data)
    pruner = None
    if args.method == "bdp":
        steps = (args.schedule_epochs - 1) // args.interval
        ratio = round(0.96 / steps, 4)
        pruner = BiLevelPruner(targets, tr, va, epochs=args.schedule_epochs, interval=args.interval,
                               train_prune_ratio=ratio, val_prune_ratio=ratio, seed=args.seed)  # fmt: skip
        loaders = [DataLoader(indexed, batch_size=args.batch_size, sampler=s, num_workers=args.workers)
                   for s in (pruner.train_sampler, pruner.val_sampler)]  # fmt: skip
    else:
        gen = torch.Generator().manual_seed(args.seed)
        loaders = [DataLoader(Subset(indexed, idx.tolist()), batch_size=args.batch_size, shuffle=True,
                              generator=gen, num_workers=args.workers) for idx in (tr, va)]  # fmt: skip
    net = make_supernet(args.algo, C=args.C, N=args.layers, space="darts", seed=args.seed)
    marks: list[float] = []

    def stop(epoch: int, result, network) -> bool:  # the schedule is the full one, cut short
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        marks.append(time.perf_counter())
        return epoch + 1 >= args.epochs

    start, cpu = time.perf_counter(), time.process_time()
    res = search(
        net, *loaders, algo=args.algo, epochs=args.schedule_epochs, seed=args.seed, pruner=pruner,
        device=args.device, space="darts", progress=False, callbacks=[stop], **DARTS_OPTIMISERS,
    )  # fmt: skip
    epoch_seconds = np.diff([start, *marks]).tolist()
    genotype = DartsGenotype.parse(res.genotype)
    env = environment(REPO)
    return {
        "key": f"{args.algo}/{args.method}/seed{args.seed}/epochs{args.epochs}of{args.schedule_epochs}",
        "scale": "paper" if not args.limit_batches and args.data != "synthetic" else "smoke",
        "algo": args.algo,
        "method": args.method,
        "seed": args.seed,
        "epochs_run": len(res.genotypes),
        "genotype": res.genotype,
        "skip_connect_normal": genotype.count("skip_connect"),
        "samples": int(sum(res.train_sizes) + sum(res.val_sizes)),
        "epoch_seconds": epoch_seconds,
        "cpu_seconds": time.process_time() - cpu,
        "device": args.device,
        "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None,
        "settings": {k: v for k, v in vars(args).items() if k != "out"} | {"optimisers": DARTS_OPTIMISERS},
        "search": res.to_dict(),
        "environment": env,
        "code": code_version(env["git"]),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "gpu_darts_space.jsonl"))
    p.add_argument("--data", default="/work/shared/data/cifar10.npz", help="cifar10.npz, or 'synthetic'")
    p.add_argument("--algo", choices=DARTS_SPACE_ALGORITHMS, default="darts-v1")
    p.add_argument("--method", choices=["full", "bdp"], default="full")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=50, help="epochs to run (of --schedule-epochs)")
    p.add_argument("--schedule-epochs", type=int, default=50)
    p.add_argument("--interval", type=int, default=5)
    p.add_argument("--n-per-split", type=int, default=25000)
    p.add_argument("--size", type=int, default=32, help="image size of --data synthetic")
    p.add_argument("--C", type=int, default=16)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--limit-batches", type=int, default=0, help="keep only this many batches per split")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    if not 1 <= args.epochs <= args.schedule_epochs:
        p.error(f"--epochs must be in [1, --schedule-epochs={args.schedule_epochs}], got {args.epochs}")
    record = run(args)
    with open(args.out, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    print(
        f"{record['key']}: {record['epochs_run']} epochs, {record['epoch_seconds']} s, {record['genotype']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
