"""A stand-alone NAS-Bench-201 network built from one genotype, for training from scratch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ...._validation import check_int, check_seed
from .genotype import EDGES, NUM_NODES, Genotype, as_genotype
from .ops import ResNetBasicBlock, make_op, stage_channels, stem

__all__ = ["CellNetwork", "InferCell", "seeded_init"]


@contextmanager
def seeded_init(seed: int | None) -> Iterator[None]:
    """Build modules under ``torch.manual_seed(seed)``, leaving the global RNG as it was.

    ``seed=None`` does nothing (the global RNG is used and advanced).
    """
    if seed is None:
        yield
        return
    seed = check_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class InferCell(nn.Module):
    """A NAS-Bench-201 cell with fixed operations (affine BatchNorm, running statistics).

    Node ``j`` is ``sum_{i<j} op_(j<-i)(node_i)``; ``none`` edges are skipped (they
    add zeros), and a node whose inputs are all ``none`` is a zero map.
    """

    def __init__(self, genotype: Genotype, channels: int) -> None:
        super().__init__()
        self.genotype = genotype
        self.edge_ops = nn.ModuleDict()
        self.inputs: list[list[int]] = [[] for _ in range(NUM_NODES)]
        for (j, i), op in zip(EDGES, genotype.ops):
            if op == "none":
                continue
            self.edge_ops[f"{j}<-{i}"] = make_op(op, channels)
            self.inputs[j].append(i)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in range(1, NUM_NODES):
            terms = [self.edge_ops[f"{j}<-{i}"](nodes[i]) for i in self.inputs[j]]
            if not terms:
                nodes.append(torch.zeros_like(x))
                continue
            out = terms[0]
            for t in terms[1:]:
                out = out + t
            nodes.append(out)
        return nodes[-1]


class CellNetwork(nn.Module):
    """The NAS-Bench-201 macro skeleton with every cell set to ``genotype``.

    stem (Conv3×3 + BN) → ``N`` cells (C) → ResNet block (stride 2, 2C) → ``N``
    cells (2C) → ResNet block (stride 2, 4C) → ``N`` cells (4C) → BN → ReLU →
    global average pooling → linear classifier (Dong & Yang, 2020, Fig. 1).

    Parameters
    ----------
    genotype : Genotype or str
        The cell (a :class:`Genotype` or a NAS-Bench-201 string).
    C : int
        Channels of the first stage (NAS-Bench-201: 16).
    N : int
        Cells per stage (NAS-Bench-201: 5).
    num_classes : int
    in_channels : int
        Image channels (3 for CIFAR, 1 for digits).
    seed : int, optional
        Seed of the weight initialisation (the global RNG is left untouched);
        None uses the global RNG.

    Examples
    --------
    >>> net = CellNetwork("|skip_connect~0|+|skip_connect~0|skip_connect~1|+"
    ...                   "|skip_connect~0|skip_connect~1|skip_connect~2|", C=16, N=5)
    >>> sum(p.numel() for p in net.parameters())
    73306
    """

    def __init__(
        self,
        genotype: Genotype | str,
        C: int = 16,
        N: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
        *,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.genotype = as_genotype(genotype)
        self.C = check_int(C, "C", minimum=1)
        self.N = check_int(N, "N", minimum=1)
        self.num_classes = check_int(num_classes, "num_classes", minimum=2)
        self.in_channels = check_int(in_channels, "in_channels", minimum=1)
        with seeded_init(seed):
            self.stem = stem(self.in_channels, self.C)
            layers: list[nn.Module] = []
            c_prev = self.C
            for channels, reduction in stage_channels(self.C, self.N):
                if reduction:
                    layers.append(ResNetBasicBlock(c_prev, channels))
                else:
                    layers.append(InferCell(self.genotype, channels))
                c_prev = channels
            self.cells = nn.ModuleList(layers)
            self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
            self.classifier = nn.Linear(c_prev, self.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch ``x`` of shape ``(b, in_channels, H, W)``."""
        feature = self.stem(x)
        for cell in self.cells:
            feature = cell(feature)
        feature = self.lastact(feature)
        return self.classifier(feature.mean(dim=(2, 3)))
