"""The DARTS-space search network (Liu et al., ICLR 2019, ``model_search.py``) and its genotype.

``DartsSupernet(C=16, layers=8)``: a 3×3 stem to ``3C`` channels, ``layers``
:class:`~proxydata.nas.spaces.darts.search_cells.DartsSearchCell` s with
reduction cells (channels doubled, resolution halved) at ``layers // 3`` and
``2 · layers // 3``, global average pooling and a linear classifier. All normal
cells share ``alpha_normal`` and all reduction cells ``alpha_reduce`` (14 × 8
each, ``1e-3 · N(0, 1)``).

Forward modes (``algo``):

- ``"darts"`` — DARTS-V1/V2, β-DARTS, P-DARTS: mixing weights ``softmax(alpha)``
  per edge (operations P-DARTS dropped are masked out of the softmax);
- ``"gdas"`` — GDAS (Dong & Yang, CVPR 2019): one Gumbel-softmax sample per edge
  and forward pass, straight-through (:meth:`DartsSupernet.gumbel_weights`);
  both cells are searched;
- ``"pc-darts"`` — PC-DARTS (Xu et al., ICLR 2020) as the original: the edges'
  operations see the first ``C / K`` channels (``K = 4``), the other channels
  bypass (max-pooled 2×2 on reduction edges), the two parts concatenated and
  channel-shuffled with ``K`` groups; with ``edge_norm`` node ``i`` weights its
  inputs by ``softmax(beta_i)`` over its ``2 + i`` edges — no rescaling — with
  ``beta`` initialised ``1e-3 · N(0, 1)``.

Genotype (:func:`derive_genotype`, DARTS's ``genotype()``): per node, the two
incoming edges with the largest strongest non-``none`` weight, each with its
argmax operation without ``none``; PC-DARTS multiplies every edge's weights by
its edge weight first.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...._validation import check_bool, check_choice, check_float, check_int
from ....exceptions import ProxydataValueError
from ...supernet import ALGO_MODES, Supernet
from ..nb201.network import seeded_init
from .genotypes import DartsGenotype
from .ops import DARTS_OPS
from .search_cells import DartsSearchCell, node_edges

__all__ = ["DartsSupernet", "derive_genotype", "edge_softmax"]

_NONE = DARTS_OPS.index("none")


def edge_softmax(beta: torch.Tensor, steps: int = 4) -> torch.Tensor:
    """PC-DARTS's edge weights: ``softmax`` of ``beta`` over each node's ``2 + i`` incoming edges."""
    return torch.cat([torch.softmax(beta[a:b], dim=0) for a, b in node_edges(steps)])


def _cell_genes(weights: np.ndarray, steps: int) -> list[tuple[str, int]]:
    gene = []
    for a, b in node_edges(steps):
        w = weights[a:b]
        strength = [max(w[j][k] for k in range(len(w[j])) if k != _NONE) for j in range(b - a)]
        for j in sorted(range(b - a), key=lambda j: -strength[j])[:2]:
            best = max((k for k in range(len(w[j])) if k != _NONE), key=lambda k: w[j][k])
            gene.append((DARTS_OPS[best], j))
    return gene


def derive_genotype(
    weights_normal: Any,
    weights_reduce: Any,
    *,
    steps: int = 4,
    multiplier: int = 4,
    edge_weights: tuple[Any, Any] | None = None,
) -> DartsGenotype:
    """DARTS's genotype from the mixing weights of both cells (each (edges, 8), softmax rows).

    Per node ``i``: the edges are ranked by ``max_{o != none} w_{e,o}`` and the two
    strongest kept (earlier input first on ties, as DARTS's stable sort); each kept
    edge gets ``argmax_{o != none} w_{e,o}``. ``edge_weights`` (PC-DARTS: one per
    edge per cell) multiply the rows first. Concatenations ``range(2 + steps -
    multiplier, 2 + steps)``.
    """
    wn = np.asarray(torch.as_tensor(weights_normal).detach().double().cpu(), dtype=np.float64)
    wr = np.asarray(torch.as_tensor(weights_reduce).detach().double().cpu(), dtype=np.float64)
    n_edges = steps * (steps + 3) // 2
    for name, w in (("weights_normal", wn), ("weights_reduce", wr)):
        if w.shape != (n_edges, len(DARTS_OPS)):
            raise ProxydataValueError(f"{name} must have shape ({n_edges}, 8), got {w.shape}")
    if edge_weights is not None:
        wn = wn * np.asarray(torch.as_tensor(edge_weights[0]).detach().double().cpu())[:, None]
        wr = wr * np.asarray(torch.as_tensor(edge_weights[1]).detach().double().cpu())[:, None]
    concat = range(2 + steps - multiplier, 2 + steps)
    return DartsGenotype(
        normal=_cell_genes(wn, steps),
        normal_concat=concat,
        reduce=_cell_genes(wr, steps),
        reduce_concat=concat,
    )


class DartsSupernet(Supernet):
    """The DARTS-space supernet (see the module notes).

    Parameters
    ----------
    C : int
        Channels of the first cells (DARTS: 16).
    layers : int
        Cells (DARTS: 8; reduction cells at ``layers // 3`` and ``2 · layers // 3``).
    num_classes, in_channels : int
    algo : str
        Forward mode or a search algorithm's name (``"darts-v1"``, ``"gdas"``,
        ``"pc-darts"``, ...; see :data:`~proxydata.nas.supernet.ALGO_MODES`).
    steps, multiplier, stem_multiplier : int
        DARTS's 4, 4, 3.
    K : int
        PC-DARTS's partial-channel ratio (4); ignored by the other modes.
    edge_norm : bool
        PC-DARTS's edge normalisation; ignored by the other modes.
    tau : float
        GDAS's temperature (the search loop anneals it).
    skip_dropout : float in [0, 1)
        P-DARTS's dropout after every stride-1 ``skip_connect`` (the loop sets it per epoch).
    reference : bool
        Compute DARTS's straightforward ``MixedOp`` (slower; tests and benchmark).
    channels_last : bool
        Run the cells in ``torch.channels_last`` memory format (the input is converted
        once): PyTorch's CPU depthwise convolutions are several times faster in it. The
        values are the same up to rounding.
    seed : int, optional
        Seed of the initialisation (global RNG untouched).
    """

    space = "darts"
    modes = ("darts", "gdas", "pc-darts")

    def __init__(
        self,
        C: int = 16,
        layers: int = 8,
        num_classes: int = 10,
        in_channels: int = 3,
        *,
        algo: str = "darts",
        steps: int = 4,
        multiplier: int = 4,
        stem_multiplier: int = 3,
        K: int = 4,
        edge_norm: bool = True,
        tau: float = 10.0,
        skip_dropout: float = 0.0,
        reference: bool = False,
        channels_last: bool = True,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.C = check_int(C, "C", minimum=1)
        self.layers = check_int(layers, "layers", minimum=1)
        self.num_classes = check_int(num_classes, "num_classes", minimum=2)
        self.in_channels = check_int(in_channels, "in_channels", minimum=1)
        self.steps = check_int(steps, "steps", minimum=1)
        self.multiplier = check_int(multiplier, "multiplier", minimum=1, maximum=self.steps)
        self.algo = ALGO_MODES[check_choice(algo, "algo", tuple(ALGO_MODES))]
        if self.algo not in self.modes:
            raise ProxydataValueError(
                f"algo={algo!r}: the DARTS-space supernet computes the modes {self.modes}"
            )
        self.K = check_int(K, "K", minimum=1) if self.algo == "pc-darts" else 1
        self.edge_norm = check_bool(edge_norm, "edge_norm") and self.algo == "pc-darts"
        self.tau = check_float(tau, "tau", strictly_positive=True)
        self.skip_dropout = check_float(skip_dropout, "skip_dropout", minimum=0.0)
        self.reference = check_bool(reference, "reference")
        self.channels_last = check_bool(channels_last, "channels_last")
        n_edges = self.steps * (self.steps + 3) // 2
        with seeded_init(seed):
            self._build(check_int(stem_multiplier, "stem_multiplier", minimum=1))
            self.alpha_normal = nn.Parameter(1e-3 * torch.randn(n_edges, len(DARTS_OPS)))
            self.alpha_reduce = nn.Parameter(1e-3 * torch.randn(n_edges, len(DARTS_OPS)))
            if self.edge_norm:
                self.beta_normal = nn.Parameter(1e-3 * torch.randn(n_edges))
                self.beta_reduce = nn.Parameter(1e-3 * torch.randn(n_edges))
        # P-DARTS: the operations still on offer, per cell kind and edge
        self.register_buffer("op_mask", torch.ones(2, n_edges, len(DARTS_OPS), dtype=torch.bool))

    def _build(self, stem_multiplier: int) -> None:
        c_curr = stem_multiplier * self.C
        self.stem = nn.Sequential(
            nn.Conv2d(self.in_channels, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr)
        )
        c_pp, c_p, c_curr = c_curr, c_curr, self.C
        cells, reduction_prev = [], False
        for i in range(self.layers):
            reduction = i in (self.layers // 3, 2 * self.layers // 3)
            if reduction:
                c_curr *= 2
            cells.append(
                DartsSearchCell(
                    self.steps, self.multiplier, c_pp, c_p, c_curr, reduction, reduction_prev, self.K
                )
            )
            reduction_prev = reduction
            c_pp, c_p = c_p, self.multiplier * c_curr
        self.cells = nn.ModuleList(cells)
        self.classifier = nn.Linear(c_p, self.num_classes)

    # -- the interface ------------------------------------------------------------------
    def arch_parameter_list(self) -> list[nn.Parameter]:
        """``[alpha_normal, alpha_reduce]`` (and PC-DARTS's ``[beta_normal, beta_reduce]``)."""
        out = [self.alpha_normal, self.alpha_reduce]
        if self.edge_norm:
            out += [self.beta_normal, self.beta_reduce]
        return out

    def alphas(self) -> list[torch.Tensor]:
        """``[alpha_normal, alpha_reduce]``, each (14, 8) (columns ``DARTS_OPS``)."""
        return [self.alpha_normal, self.alpha_reduce]

    def mixing_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``softmax(alpha)`` per edge of both cells, operations P-DARTS dropped at exactly 0."""
        out = []
        for k, alpha in enumerate(self.alphas()):
            mask = self.op_mask[k]
            out.append(
                torch.softmax(alpha if bool(mask.all()) else alpha.masked_fill(~mask, -torch.inf), dim=-1)
            )
        return out[0], out[1]

    def edge_weights(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """PC-DARTS's edge weights of both cells (``softmax`` of ``beta`` per node), or None."""
        if not self.edge_norm:
            return None
        return edge_softmax(self.beta_normal, self.steps), edge_softmax(self.beta_reduce, self.steps)

    def genotype(self) -> DartsGenotype:
        """The derived cells (:func:`derive_genotype`)."""
        with torch.no_grad():
            wn, wr = self.mixing_weights()
            edges = self.edge_weights()
        return derive_genotype(wn, wr, steps=self.steps, multiplier=self.multiplier, edge_weights=edges)

    def gumbel_weights(
        self, generator: torch.Generator | None = None
    ) -> tuple[tuple[torch.Tensor, list[int]], tuple[torch.Tensor, list[int]]]:
        """One GDAS sample per cell kind: straight-through one-hot weights (14, 8) and the sampled ops.

        ``h = one_hot(argmax p) - stopgrad(p) + p``, ``p = softmax((log_softmax(alpha) + g) / tau)``,
        ``g = -log(E)``, ``E ~ Exp(1)``; redrawn if not finite.
        """
        out = []
        for alpha in self.alphas():
            while True:
                gumbels = -torch.empty_like(alpha).exponential_(generator=generator).log()
                probs = torch.softmax((torch.log_softmax(alpha, dim=1) + gumbels) / self.tau, dim=1)
                if torch.isfinite(gumbels).all() and torch.isfinite(probs).all():
                    break
            index = probs.argmax(dim=1)
            hard = F.one_hot(index, len(DARTS_OPS)).to(probs.dtype) - probs.detach() + probs
            out.append((hard, index.tolist()))
        return out[0], out[1]

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits of a batch; ``generator`` seeds GDAS's Gumbel noise."""
        sample: Any = None
        if self.algo == "gdas":
            sample = self.gumbel_weights(generator)
            weights: Any = (None, None)
        else:
            weights = self.mixing_weights()
        edges = self.edge_weights()
        mode = "sampled" if self.algo == "gdas" else ("reference" if self.reference else "fused")
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            k = 1 if cell.reduction else 0
            s0, s1 = (
                s1,
                cell(
                    s0,
                    s1,
                    weights[k],
                    None if edges is None else edges[k],
                    mode=mode,
                    skip_dropout=self.skip_dropout,
                    sample=None if sample is None else sample[k],
                ),
            )
        return self.classifier(s1.mean(dim=(2, 3)))
