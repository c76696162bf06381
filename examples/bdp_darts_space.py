"""A DARTS-space search laid out as the DARTS repository's ``train_search.py``, with BDP added.

The structure is DARTS's: a ``main`` that builds the search network
(:class:`proxydata.nas.spaces.darts.DartsSupernet`, normal and reduction cells
of 14 mixed edges over the 8 DARTS operations), two loaders over the two halves
of the training images (``train_queue``, ``valid_queue``), an SGD weight
optimiser with a cosine schedule, an ``Architect`` whose ``step`` updates the
architecture on a validation batch (first order, Adam), and a ``train``
function that, per training batch, calls the architect and then takes a weight
step. The genotype is printed after every epoch.

The lines that add :class:`proxydata.BiLevelPruner` are marked ``# BDP`` (8 lines of code):
build the pruner, give the loaders its samplers (over an
:class:`proxydata.IndexedDataset`, which adds the index to every batch),
``pruner.observe`` after both forward passes, ``pruner.step()`` per epoch.

Run (scikit-learn's digits, 8×8, one channel; seconds on a CPU)::

    python examples/bdp_darts_space.py --epochs 6 --interval 2 --ratio 0.3
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from proxydata import BiLevelPruner, IndexedDataset, load_digits, split_indices
from proxydata.nas.spaces.darts import DartsSupernet


class Architect:
    """DARTS's architect, first order: ``alpha <- Adam(∇_alpha L_val(w, alpha))``."""

    def __init__(self, model: DartsSupernet, lr: float = 3e-4, weight_decay: float = 1e-3) -> None:
        self.model = model
        self.optimizer = torch.optim.Adam(
            model.arch_parameter_list(), lr=lr, betas=(0.5, 0.999), weight_decay=weight_decay
        )

    def step(self, input_valid: torch.Tensor, target_valid: torch.Tensor) -> torch.Tensor:
        self.optimizer.zero_grad()
        logits = self.model(input_valid)
        F.cross_entropy(logits, target_valid).backward()
        self.optimizer.step()
        return logits.detach()


def train(
    train_queue: DataLoader,
    valid_queue: DataLoader,
    model: DartsSupernet,
    architect: Architect,
    optimizer: torch.optim.Optimizer,
    pruner: BiLevelPruner,
) -> float:
    """One epoch: per training batch, an architecture step on a validation batch, then a weight step."""
    valid_iter = iter(valid_queue)
    hits = total = 0
    for input, target, index in train_queue:
        try:
            input_search, target_search, index_search = next(valid_iter)
        except StopIteration:
            valid_iter = iter(valid_queue)
            input_search, target_search, index_search = next(valid_iter)
        logits_search = architect.step(input_search, target_search)
        pruner.observe(index_search, logits_search)  # BDP
        optimizer.zero_grad()
        logits = model(input)
        F.cross_entropy(logits, target).backward()
        torch.nn.utils.clip_grad_norm_(model.weight_parameters(), 5.0)
        optimizer.step()
        for p in model.arch_parameter_list():
            p.grad = None  # the weight step's gradient of alpha is not the architect's
        pruner.observe(index, logits.detach())  # BDP
        hits += int((logits.argmax(1) == target).sum())
        total += int(target.shape[0])
    return hits / max(total, 1)


def main(
    epochs: int = 6,
    interval: int = 2,
    ratio: float = 0.3,
    batch_size: int = 64,
    seed: int = 0,
    verbose: bool = True,
) -> BiLevelPruner:
    torch.manual_seed(seed)
    data = load_digits()
    train_idx, valid_idx = split_indices(len(data), 0.5, seed=seed, stratify=data.targets)
    pruner = BiLevelPruner(data.targets, train_idx, valid_idx, epochs=epochs, interval=interval,  # BDP
                           train_prune_ratio=ratio, val_prune_ratio=ratio, seed=seed)  # BDP # fmt: skip
    dataset = IndexedDataset(data)  # BDP
    train_queue = DataLoader(dataset, batch_size=batch_size, sampler=pruner.train_sampler)  # BDP
    valid_queue = DataLoader(dataset, batch_size=batch_size, sampler=pruner.val_sampler)  # BDP
    model = DartsSupernet(C=4, layers=3, num_classes=10, in_channels=1, seed=seed)
    optimizer = torch.optim.SGD(model.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs, eta_min=0.001)
    architect = Architect(model)
    for epoch in range(epochs):
        train_acc = train(train_queue, valid_queue, model, architect, optimizer, pruner)
        scheduler.step()
        pruner.step()  # BDP
        if verbose:
            kept = f"kept train {len(pruner.train_sampler):4d}  kept valid {len(pruner.val_sampler):4d}"
            print(f"epoch {epoch + 1:2d}  train acc {train_acc:.3f}  {kept}  {model.genotype()}")
    return pruner


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--interval", type=int, default=2)
    parser.add_argument("--ratio", type=float, default=0.3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    np.set_printoptions(precision=3)
    main(args.epochs, args.interval, args.ratio, args.batch_size, args.seed)
