"""DARTS-space searches at CPU scale, full data vs BDP, each found cell trained from scratch (issue 25).

**CPU scale, not the paper's**: CIFAR-10 downsampled to 16×16, a stratified
5,000 + 5,000 split of the training images (one split, seed 0, for every run),
a small search network (``--C 4``, ``--layers 5``), a few epochs. DARTS-V1 and
PC-DARTS (K = 4, edge normalisation as the original), each on the full split and
with :class:`~proxydata.BiLevelPruner` at the paper's strength (progressive, both
splits pruned to about 4 % of their size: ``--interval 2`` and a ratio of
``0.96 / steps`` per step), for every seed. The optimisers are DARTS's
(SGD lr 0.025 → 0.001 cosine, momentum 0.9, weight decay 3e-4, no Nesterov, clip 5;
Adam 3e-4, (0.5, 0.999), 1e-3) for both algorithms; PC-DARTS's larger batch and
learning rates and its 15-epoch warm-up are not used at this scale.

Every run appends one JSON record to ``--out`` as soon as it ends (resumable: a
key already in the file is skipped): the genotype, the number of ``skip_connect``
in the normal cell, the samples processed, CPU seconds (this process), the whole
search record, the found cell trained from scratch (NetworkCIFAR ``--eval-C``,
``--eval-layers``, ``--eval-epochs`` on the 10,000 search images, DARTS's recipe
without the auxiliary head, cutout 8) and tested on the 10,000 CIFAR-10 test
images, and the environment (``provenance.environment``).

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/darts_space_cpu.py \\
        --out benchmarks/results/darts_space_cpu.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
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
from proxydata.nas.spaces.darts import DartsGenotype, train_darts_network  # noqa: E402

MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)
DARTS_OPTIMISERS = dict(
    w_lr=0.025, w_lr_min=0.001, w_momentum=0.9, w_weight_decay=3e-4, w_nesterov=False, grad_clip=5.0,
    a_lr=3e-4, a_betas=(0.5, 0.999), a_weight_decay=1e-3,
)  # fmt: skip


def data_path(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("PROXYDATA_SHARED_DATA")
    base = Path(env) if env else REPO.parent / "shared" / "data"
    if not base.is_dir():
        base = Path("/work/shared/data")
    return base / "cifar10_16x16.npz"


def load(
    path: Path, split_seed: int, n_per_split: int
) -> tuple[TensorDataset, TensorDataset, np.ndarray, np.ndarray]:
    """(search dataset of the 2·n sampled images, test dataset, train and val indices into the former)."""
    with np.load(path) as z:
        xtr, ytr, xte, yte = z["x_train"], z["y_train"], z["x_test"], z["y_test"]

    def tensor(x: np.ndarray) -> torch.Tensor:
        x = (x.astype(np.float32) / 255.0 - MEAN) / STD
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))

    ytr = np.asarray(ytr).astype(np.int64).ravel()
    pool, _ = split_indices(len(ytr), 2 * n_per_split / len(ytr), seed=split_seed, stratify=ytr)
    search_set = TensorDataset(tensor(xtr[pool]), torch.from_numpy(ytr[pool]))
    tr, va = split_indices(len(pool), 0.5, seed=split_seed, stratify=ytr[pool])
    test = TensorDataset(tensor(xte), torch.from_numpy(np.asarray(yte).astype(np.int64).ravel()))
    return search_set, test, tr, va


def run_one(args: argparse.Namespace, algo: str, method: str, seed: int, data: tuple) -> dict:
    search_set, test, tr, va = data
    torch.manual_seed(seed)
    targets = search_set.tensors[1].numpy()
    indexed = IndexedDataset(search_set)
    gen = torch.Generator().manual_seed(seed)
    pruner = None
    if method == "bdp":
        steps = (args.epochs - 1) // args.interval
        ratio = round(0.96 / steps, 4)
        pruner = BiLevelPruner(targets, tr, va, epochs=args.epochs, interval=args.interval,
                               train_prune_ratio=ratio, val_prune_ratio=ratio, seed=seed)  # fmt: skip
        train_loader = DataLoader(indexed, batch_size=args.batch_size, sampler=pruner.train_sampler)
        val_loader = DataLoader(indexed, batch_size=args.batch_size, sampler=pruner.val_sampler)
    else:
        train_loader = DataLoader(
            Subset(indexed, tr.tolist()), batch_size=args.batch_size, shuffle=True, generator=gen
        )
        val_loader = DataLoader(
            Subset(indexed, va.tolist()), batch_size=args.batch_size, shuffle=True, generator=gen
        )
    net = make_supernet(algo, C=args.C, N=args.layers, space="darts", seed=seed)
    t_cpu, t_wall = time.process_time(), time.perf_counter()
    res = search(net, train_loader, val_loader, algo=algo, epochs=args.epochs, seed=seed, pruner=pruner,
                 space="darts", progress=False, **DARTS_OPTIMISERS)  # fmt: skip
    search_cpu, search_wall = time.process_time() - t_cpu, time.perf_counter() - t_wall
    genotype = DartsGenotype.parse(res.genotype)
    trained = train_darts_network(
        genotype, search_set, test, epochs=args.eval_epochs, batch_size=96, C=args.eval_C,
        layers=args.eval_layers, auxiliary=False, drop_path_prob=0.2, padding=2, cutout_length=8, seed=seed,
    )  # fmt: skip
    return {
        "key": f"{algo}/{method}/seed{seed}",
        "scale": "cpu",
        "algo": algo,
        "method": method,
        "seed": seed,
        "genotype": res.genotype,
        "skip_connect_normal": genotype.count("skip_connect"),
        "train_samples": int(sum(res.train_sizes)),
        "val_samples": int(sum(res.val_sizes)),
        "samples": int(sum(res.train_sizes) + sum(res.val_sizes)),
        "search_cpu_seconds": search_cpu,
        "search_wall_seconds": search_wall,
        "test_acc": trained.test_acc,
        "eval": trained.to_dict(),
        "search": res.to_dict(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out",)}
        | {"optimisers": DARTS_OPTIMISERS},
        "pruner_schedule": None if pruner is None else [list(s) for s in pruner.pruning_schedule()],
        "environment": environment(REPO),
        "code": code_version(environment(REPO)["git"]),
    }


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "darts_space_cpu.jsonl"))
    p.add_argument("--data", default=None, help="cifar10_16x16.npz (default: the shared data folder)")
    p.add_argument("--algos", nargs="+", default=["darts-v1", "pc-darts"])
    p.add_argument("--methods", nargs="+", default=["full", "bdp"], choices=["full", "bdp"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--n-per-split", type=int, default=5000)
    p.add_argument("--C", type=int, default=4)
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--interval", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--eval-C", type=int, default=8)
    p.add_argument("--eval-layers", type=int, default=5)
    p.add_argument("--eval-epochs", type=int, default=3)
    args = p.parse_args(argv)
    if args.epochs <= args.interval:
        p.error(f"--epochs {args.epochs} leaves no pruning step at --interval {args.interval}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    done = set()
    if out.exists():
        done = {json.loads(line)["key"] for line in out.read_text().splitlines() if line.strip()}
    data = load(data_path(args.data), 0, args.n_per_split)
    for seed in args.seeds:
        for algo in args.algos:
            for method in args.methods:
                key = f"{algo}/{method}/seed{seed}"
                if key in done:
                    print(f"{key}: done, skipped", flush=True)
                    continue
                record = run_one(args, algo, method, seed, data)
                with out.open("a") as fh:
                    fh.write(json.dumps(record) + "\n")
                print(
                    f"{key}: {record['samples']} samples, {record['search_cpu_seconds']:.0f} CPU s, "
                    f"{record['skip_connect_normal']} skips, test acc {record['test_acc']:.4f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
