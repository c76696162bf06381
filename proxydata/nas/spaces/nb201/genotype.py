"""NAS-Bench-201 cell genotypes: the string format, parsing and derivation.

A NAS-Bench-201 cell (Dong & Yang, ICLR 2020, Sec. 2.1) is a DAG of 4 nodes;
node ``j`` is the sum of one operation applied to every earlier node ``i < j``,
so a cell is fixed by the 6 operations on the edges

    (1<-0), (2<-0), (2<-1), (3<-0), (3<-1), (3<-2)

each chosen from :data:`NB201_OPS` — ``5**6 = 15,625`` cells. The benchmark
writes a cell as ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (one ``+``-separated
group per node 1..3, ``op~i`` = operation on the edge from node ``i``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ....exceptions import ProxydataTypeError, ProxydataValueError

__all__ = ["EDGES", "NB201_OPS", "NUM_NODES", "Genotype", "as_genotype"]

#: The operation set of NAS-Bench-201, in the benchmark's order (the columns of the
#: architecture weights).
NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")

#: Number of nodes of a cell (input node 0, output node 3).
NUM_NODES = 4

#: The 6 edges as ``(to, from)`` pairs, in the order of the architecture-weight rows.
EDGES: tuple[tuple[int, int], ...] = tuple((j, i) for j in range(1, NUM_NODES) for i in range(j))


@dataclass(frozen=True)
class Genotype:
    """One NAS-Bench-201 cell: an operation name for each of the 6 edges.

    Parameters
    ----------
    ops : sequence of 6 str
        Operations of the edges in :data:`EDGES` order ``(1<-0), (2<-0),
        (2<-1), (3<-0), (3<-1), (3<-2)``; each one of :data:`NB201_OPS`.

    Examples
    --------
    >>> g = Genotype.parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|skip_connect~0|none~1|avg_pool_3x3~2|")
    >>> g.ops[0], g.ops[5]
    ('nor_conv_3x3', 'avg_pool_3x3')
    >>> str(g) == "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"
    True
    """

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if isinstance(self.ops, str) or not isinstance(self.ops, Sequence):
            raise ProxydataTypeError(
                f"ops must be a sequence of {len(EDGES)} operation names, got {self.ops!r}"
            )
        ops = tuple(self.ops)
        if len(ops) != len(EDGES):
            raise ProxydataValueError(f"ops must name {len(EDGES)} operations (one per edge), got {len(ops)}")
        for op in ops:
            if op not in NB201_OPS:
                raise ProxydataValueError(f"ops must be drawn from {NB201_OPS}, got {op!r}")
        object.__setattr__(self, "ops", ops)

    # -- conversions ------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> Genotype:
        """Parse a NAS-Bench-201 string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``.

        Every node group must list its inputs in order ``0, 1, ..., j-1``, as the
        benchmark writes them; anything else raises ``ValueError``.
        """
        if not isinstance(text, str):
            raise ProxydataTypeError(f"genotype must be a NAS-Bench-201 string, got {type(text).__name__}")
        groups = text.strip().split("+")
        if len(groups) != NUM_NODES - 1:
            raise ProxydataValueError(
                f"genotype must have {NUM_NODES - 1} '+'-separated node groups, got {len(groups)} in {text!r}"
            )
        ops: list[str] = []
        for node, group in enumerate(groups, start=1):
            if len(group) < 2 or not (group.startswith("|") and group.endswith("|")):
                raise ProxydataValueError(
                    f"node group {group!r} of genotype {text!r} must look like '|op~0|...|'"
                )
            items = group[1:-1].split("|")
            if len(items) != node:
                raise ProxydataValueError(
                    f"node {node} of genotype {text!r} must have {node} inputs, got {len(items)}"
                )
            for source, item in enumerate(items):
                op, sep, src = item.partition("~")
                if not sep or src != str(source):
                    raise ProxydataValueError(
                        f"edge {item!r} of genotype {text!r} must read 'op~{source}' (inputs in order)"
                    )
                if op not in NB201_OPS:
                    raise ProxydataValueError(
                        f"unknown operation {op!r} in genotype {text!r}; expected one of {NB201_OPS}"
                    )
                ops.append(op)
        return cls(tuple(ops))

    def __str__(self) -> str:
        groups, k = [], 0
        for node in range(1, NUM_NODES):
            groups.append("|" + "|".join(f"{self.ops[k + i]}~{i}" for i in range(node)) + "|")
            k += node
        return "+".join(groups)

    @classmethod
    def from_alphas(cls, alphas: Any) -> Genotype:
        """Derive the cell from architecture weights: argmax over all 5 ops per edge.

        NAS-Bench-201 convention: ``none`` takes part in the argmax (unlike the
        DARTS space, where it is excluded). Ties go to the earlier operation of
        :data:`NB201_OPS`.

        Parameters
        ----------
        alphas : array-like or tensor of shape (6, 5)
            Rows in :data:`EDGES` order, columns in :data:`NB201_OPS` order.
            Logits or probabilities give the same cell (softmax is monotone).
        """
        if isinstance(alphas, torch.Tensor):
            arr = alphas.detach().cpu().double().numpy()
        else:
            arr = np.asarray(alphas, dtype=np.float64)
        if arr.shape != (len(EDGES), len(NB201_OPS)):
            raise ProxydataValueError(
                f"alphas must have shape ({len(EDGES)}, {len(NB201_OPS)}), got {tuple(arr.shape)}"
            )
        if not np.all(np.isfinite(arr)):
            raise ProxydataValueError("alphas must be finite, got NaN or inf")
        return cls(tuple(NB201_OPS[k] for k in np.argmax(arr, axis=1)))

    @classmethod
    def all(cls) -> Iterator[Genotype]:
        """Every one of the 15,625 cells, in ``itertools.product`` order of :data:`NB201_OPS`.

        This is not NAS-Bench-201's index order (see :class:`~proxydata.nas.NB201Table`).
        """
        for ops in itertools.product(NB201_OPS, repeat=len(EDGES)):
            yield cls(ops)

    # -- structure ----------------------------------------------------------------
    @property
    def edges(self) -> tuple[tuple[int, int, str], ...]:
        """``(to, from, op)`` for the 6 edges."""
        return tuple((j, i, op) for (j, i), op in zip(EDGES, self.ops))


def as_genotype(value: Any, name: str = "genotype") -> Genotype:
    """Accept a :class:`Genotype`, a NAS-Bench-201 string or a sequence of 6 op names."""
    if isinstance(value, Genotype):
        return value
    if isinstance(value, str):
        return Genotype.parse(value)
    if isinstance(value, Sequence):
        return Genotype(tuple(value))
    raise ProxydataTypeError(
        f"{name} must be a Genotype, a NAS-Bench-201 string or 6 op names, got {value!r}"
    )
