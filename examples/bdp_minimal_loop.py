"""The smallest honest DARTS-style search with bi-level data pruning (BDP).

A tiny supernet (a stem, one cell of three mixed-op edges, a linear head) with
architecture weights ``alphas`` (a softmax mixture over four operations per
edge) is searched on scikit-learn's digits (1,797 images 1×8×8) with
first-order DARTS: for every training batch, one architecture step on a
validation batch (Adam on ``alphas``), then one weight step on the training
batch (SGD on the weights).

The four additions a user makes to such a loop are marked ``# (1)`` … ``# (4)``:

1. build a :class:`proxydata.BiLevelPruner` for the two splits;
2. pass its ``train_sampler`` / ``val_sampler`` to the two DataLoaders (over an
   :class:`proxydata.IndexedDataset`, which adds the index to every item);
3. ``pruner.observe(indices, logits)`` after both forward passes;
4. ``pruner.step()`` at the end of every epoch.

Run::

    python examples/bdp_minimal_loop.py            # 10 epochs, prune every 2 (~5 s on a CPU, 1 thread)
    python examples/bdp_minimal_loop.py --epochs 20 --interval 4 --ratio 0.05
    python examples/bdp_minimal_loop.py --workers 2 --log-dir runs/bdp   # TensorBoard curves

Threads: run from the command line, the example uses one torch thread
(``--threads 1``, the default; ``--threads 0`` keeps torch's own choice, one
per core). Its convolutions on 8×8 images are far too small to split across
threads: with torch's default on a busy 2-core machine the search was reported
to run about 5× slower than with one thread, the threads mostly waiting on
each other. Larger
models and images are another matter; set ``torch.set_num_threads`` for your
own loop by timing both.

The loop may use DataLoader workers, draw validation batches however it likes
(here: a persistent iterator renewed when it runs out) and must only draw at
least as many batches per epoch as each split has, so every kept sample is
observed (the pruner warns otherwise).
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from proxydata import BiLevelPruner, IndexedDataset, load_digits, split_indices

OPS = ("skip", "conv3x3", "conv1x1", "avgpool3x3")


def make_op(name: str, channels: int) -> nn.Module:
    """One candidate operation of an edge (shape-preserving)."""
    if name == "skip":
        return nn.Identity()
    if name == "avgpool3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    k = 3 if name == "conv3x3" else 1
    return nn.Sequential(
        nn.ReLU(),
        nn.Conv2d(channels, channels, k, padding=k // 2, bias=False),
        nn.BatchNorm2d(channels, affine=False),
    )


class MixedOp(nn.Module):
    """DARTS edge: ``Σ_o softmax(α)_o · o(x)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(make_op(name, channels) for name in OPS)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self.ops))


class TinySupernet(nn.Module):
    """Stem → cell with nodes 1 ← 0 and 2 ← {0, 1} (three mixed edges) → head."""

    def __init__(self, channels: int = 8, num_classes: int = 10, seed: int = 0) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        self.edges = nn.ModuleList(MixedOp(channels) for _ in range(3))
        g = torch.Generator().manual_seed(seed)
        self.alphas = nn.Parameter(1e-3 * torch.randn(3, len(OPS), generator=g))
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = F.softmax(self.alphas, dim=-1)
        s0 = self.stem(x)
        s1 = self.edges[0](s0, w[0])
        s2 = self.edges[1](s0, w[1]) + self.edges[2](s1, w[2])
        return self.head(s2.mean(dim=(2, 3)))

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if name != "alphas"]

    def genotype(self) -> str:
        best = self.alphas.argmax(dim=-1).tolist()
        return "|".join(f"{OPS[b]}~{src}" for b, src in zip(best, (0, 0, 1)))


def main(
    epochs: int = 10,
    interval: int = 2,
    ratio: float = 0.1,
    batch_size: int = 64,
    seed: int = 0,
    verbose: bool = True,
    num_workers: int = 0,
    log_dir: str | None = None,
) -> BiLevelPruner:
    """Search for ``epochs`` epochs with pruning every ``interval``; return the pruner.

    ``log_dir`` writes the pruner's history to TensorBoard there (needs the
    ``tensorboard`` package).
    """
    torch.manual_seed(seed)
    data = load_digits()
    train_idx, val_idx = split_indices(len(data), 0.5, seed=seed, stratify=data.targets)

    pruner = BiLevelPruner(  # (1)
        data.targets,
        train_idx,
        val_idx,
        epochs=epochs,
        interval=interval,
        train_prune_ratio=ratio,
        val_prune_ratio=ratio,
        seed=seed,
    )
    logger = None
    if log_dir is not None:  # optional: kept sizes, balance, VoE histograms per epoch
        from proxydata.integrations.tensorboard import TensorBoardLogger

        logger = TensorBoardLogger.to_logdir(log_dir).attach(pruner)
    dataset = IndexedDataset(data)
    loader_kw = {"batch_size": batch_size, "num_workers": num_workers, "persistent_workers": num_workers > 0}
    train_loader = DataLoader(dataset, sampler=pruner.train_sampler, **loader_kw)  # (2)
    val_loader = DataLoader(dataset, sampler=pruner.val_sampler, **loader_kw)  # (2)

    model = TinySupernet(seed=seed)
    w_opt = torch.optim.SGD(model.weight_parameters(), lr=0.05, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam([model.alphas], lr=3e-3, betas=(0.5, 0.999), weight_decay=1e-3)
    start = time.perf_counter()
    for epoch in range(epochs):
        val_iter = iter(val_loader)
        total_loss, batches = 0.0, 0
        for x, y, index in train_loader:
            try:
                xv, yv, index_v = next(val_iter)
            except StopIteration:  # the validation split ran out first: a fresh pass
                val_iter = iter(val_loader)
                xv, yv, index_v = next(val_iter)

            a_opt.zero_grad()  # architecture step (first-order DARTS) on a validation batch
            logits_v = model(xv)
            F.cross_entropy(logits_v, yv).backward()
            a_opt.step()
            pruner.observe(index_v, logits_v)  # (3)

            w_opt.zero_grad()  # weight step on the training batch
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            loss.backward()
            nn.utils.clip_grad_norm_(model.weight_parameters(), 5.0)
            w_opt.step()
            pruner.observe(index, logits)  # (3)
            total_loss += loss.item()
            batches += 1

        pruner.step()  # (4)
        if verbose:
            print(
                f"epoch {epoch + 1:2d}  kept train {len(pruner.kept_train):4d}  kept val "
                f"{len(pruner.kept_val):4d}  train loss {total_loss / max(batches, 1):.3f}  "
                f"genotype {model.genotype()}"
            )
    if logger is not None:
        logger.close()
    if verbose:
        print(f"search took {time.perf_counter() - start:.1f} s\n")
        print(pruner.summary())
    return pruner


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--interval", type=int, default=2)
    parser.add_argument("--ratio", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    parser.add_argument("--log-dir", default=None, help="write TensorBoard events here")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: faster for this tiny model; 0: torch's)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = _parse()
    if args.threads < 0:
        raise SystemExit(f"--threads must be >= 0, got {args.threads}")
    if args.threads:
        torch.set_num_threads(args.threads)
    main(
        args.epochs, args.interval, args.ratio, args.batch_size, args.seed,
        num_workers=args.workers, log_dir=args.log_dir,
    )  # fmt: skip
