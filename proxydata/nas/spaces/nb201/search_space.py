"""The NAS-Bench-201 supernet: every edge a mixed operation weighted by architecture parameters.

Two forward modes share the same weights (Dong & Yang, 2020, Sec. 5 and their
reference code):

- ``"darts"`` (DARTS, Liu et al., 2019, Eq. 2): edge ``(j<-i)`` computes the
  mixed operation ``o(x) = sum_k softmax(alpha_e)_k · op_k(x)`` over all 5
  operations.
- ``"gdas"`` (GDAS, Dong & Yang, CVPR 2019, Eq. 5-7): one Gumbel-softmax sample
  per edge and forward pass, ``h = one_hot(argmax p) - stopgrad(p) + p`` with
  ``p = softmax((log_softmax(alpha) + g) / tau)``, ``g ~ Gumbel(0, 1)``; only the
  sampled operation is computed, ``o(x) = h_k · op_k(x) + sum_{o != k} h_o``
  (the second sum is zero in value and carries the straight-through gradient to
  the other weights, as NAS-Bench-201's GDAS does).

Search cells use BatchNorm without affine parameters and with batch statistics
only (NAS-Bench-201's search setting with ``track_running_stats=0``).

How the DARTS forward saves work, exactly (up to float rounding):

- ``none`` outputs zeros, so its term ``w_none · 0`` is dropped; ``alpha_none``
  still receives its gradient through the softmax normalisation of the others.
- The convolutions of all edges leaving the same node read the same ``ReLU(x)``;
  they run as one 1×1 and one 3×3 convolution with the edges' kernels stacked
  along the output channels (a convolution treats output channels independently).
- BatchNorm is per channel, so one ``batch_norm`` call normalises the stacked
  output; the mixing weight ``w_e`` is passed as BatchNorm's per-channel scale.
- The pooling of a node is computed once and shared by all its outgoing edges.

``reference=True`` computes the straightforward formula instead (all 5
operations, ``none`` as zeros, one call per operation and edge): slower, kept
for tests and the benchmark.
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
from .genotype import EDGES, NB201_OPS, NUM_NODES, Genotype
from .network import seeded_init
from .ops import ResNetBasicBlock, avg_pool_3x3, stage_channels, stem

__all__ = ["ALGO_MODES", "SearchCell", "SearchEdge", "SearchNetwork", "fused_mixed_ops"]

_NONE, _SKIP, _CONV1, _CONV3, _POOL = (NB201_OPS.index(op) for op in NB201_OPS)
_EDGE_ID = {edge: k for k, edge in enumerate(EDGES)}
_BN_EPS = 1e-5


def _bn(x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
    """BatchNorm with batch statistics, no running stats, optional per-channel scale."""
    return F.batch_norm(x, None, None, weight=scale, bias=None, training=True, eps=_BN_EPS)


def _pool(x: torch.Tensor) -> torch.Tensor:
    return avg_pool_3x3(x)


def _pool_reference(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class SearchEdge(nn.Module):
    """The learnable weights of one mixed edge: a 1×1 and a 3×3 kernel (no bias).

    ``skip_connect``, ``avg_pool_3x3`` and ``none`` have no parameters and the
    search BatchNorm has no affine parameters.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_1x1 = nn.Conv2d(channels, channels, 1, bias=False)
        self.conv_3x3 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)

    def op(
        self, k: int, x: torch.Tensor, scale: torch.Tensor | None = None, *, reference: bool = False
    ) -> torch.Tensor:
        """Operation ``NB201_OPS[k]`` on ``x`` (BatchNorm scaled by ``scale`` for the convs).

        ``reference=True`` pools with PyTorch's ``avg_pool2d`` instead of the box filter.
        """
        if k == _SKIP:
            return x
        if k == _POOL:
            return _pool_reference(x) if reference else _pool(x)
        if k == _CONV1:
            return _bn(F.conv2d(F.relu(x), self.conv_1x1.weight), scale)
        if k == _CONV3:
            return _bn(F.conv2d(F.relu(x), self.conv_3x3.weight, padding=1), scale)
        return x.mul(0.0)


def fused_mixed_ops(edges: list[SearchEdge], h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The mixed operations of the ``t`` edges leaving one node, computed together.

    Returns ``(b, t, c, H, W)``: for edge ``k``, ``sum_o w[k, o] · op_o(h)`` over
    the 5 operations (``none`` dropped, it adds zeros), with the edges' 1×1 and
    3×3 kernels stacked along the output channels, one BatchNorm call whose
    per-channel scale carries the mixing weight, and one shared pooling (see the
    module notes).

    Parameters
    ----------
    edges : list of t SearchEdge
        The edges' weights (kernels of ``c`` channels).
    h : tensor (b, c, H, W)
        The node's output.
    w : tensor (t, 5)
        The edges' mixing weights (columns :data:`~proxydata.nas.NB201_OPS`).
    """
    c, t = h.shape[1], len(edges)
    relu = F.relu(h)
    w3 = torch.cat([edge.conv_3x3.weight for edge in edges]) if t > 1 else edges[0].conv_3x3.weight
    w1 = torch.cat([edge.conv_1x1.weight for edge in edges]) if t > 1 else edges[0].conv_1x1.weight
    conv = _bn(F.conv2d(relu, w3, padding=1), w[:, _CONV3].repeat_interleave(c))
    conv = conv + _bn(F.conv2d(relu, w1), w[:, _CONV1].repeat_interleave(c))
    b, _, hh, ww = h.shape
    conv = conv.view(b, t, c, hh, ww)
    # skip and pooling terms of all t edges at once
    mixed = conv + h.unsqueeze(1) * w[:, _SKIP].view(1, t, 1, 1, 1)
    return mixed + _pool(h).unsqueeze(1) * w[:, _POOL].view(1, t, 1, 1, 1)


class SearchCell(nn.Module):
    """A NAS-Bench-201 cell whose 6 edges are mixed operations (see the module notes)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.edges = nn.ModuleList(SearchEdge(channels) for _ in EDGES)

    # -- DARTS ----------------------------------------------------------------------
    def forward_darts(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Mixed-op cell, ``weights`` = softmax of the architecture parameters (6×5)."""
        sums: list[Any] = [None] * NUM_NODES
        nodes = [x]
        for i in range(NUM_NODES - 1):
            ids = [_EDGE_ID[(j, i)] for j in range(i + 1, NUM_NODES)]
            mixed = fused_mixed_ops([self.edges[e] for e in ids], nodes[i], weights[ids])
            for k, j in enumerate(range(i + 1, NUM_NODES)):
                sums[j] = mixed[:, k] if sums[j] is None else sums[j] + mixed[:, k]
            nodes.append(sums[i + 1])
        return nodes[-1]

    def forward_darts_reference(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The straightforward mixed op: ``sum_k w_k · op_k(x)`` over all 5 ops, per edge."""
        nodes = [x]
        for j in range(1, NUM_NODES):
            total = None
            for i in range(j):
                e = _EDGE_ID[(j, i)]
                edge = self.edges[e]
                out = sum(weights[e, k] * edge.op(k, nodes[i], reference=True) for k in range(len(NB201_OPS)))
                total = out if total is None else total + out
            nodes.append(total)
        return nodes[-1]

    # -- GDAS -----------------------------------------------------------------------
    def forward_gdas(
        self, x: torch.Tensor, hardwts: torch.Tensor, index: list[int], others: torch.Tensor
    ) -> torch.Tensor:
        """Sampled cell: only operation ``index[e]`` runs on edge ``e`` (see module notes).

        ``others[e]`` is the sum of edge ``e``'s non-sampled weights (0 in value).
        """
        c = self.channels
        nodes = [x]
        for j in range(1, NUM_NODES):
            total = None
            extra = None
            for i in range(j):
                e = _EDGE_ID[(j, i)]
                k = index[e]
                extra = others[e] if extra is None else extra + others[e]
                if k == _NONE:
                    continue
                wk = hardwts[e, k]
                if k in (_CONV1, _CONV3):
                    out = self.edges[e].op(k, nodes[i], wk.expand(c))
                else:
                    out = wk * self.edges[e].op(k, nodes[i])
                total = out if total is None else total + out
            if total is None:
                total = torch.zeros_like(x)
            nodes.append(total + extra)
        return nodes[-1]


class SearchNetwork(Supernet):
    """The NAS-Bench-201 supernet for DARTS-V1/V2 and GDAS.

    The macro skeleton of :class:`~proxydata.nas.CellNetwork` (stem, three
    stages of ``N`` cells joined by two ResNet reduction blocks, BN-ReLU,
    global pooling, linear classifier) with :class:`SearchCell` s sharing one
    set of architecture parameters ``alpha`` of shape ``(6, 5)`` (rows: edges
    in :data:`~proxydata.nas.spaces.nb201.genotype.EDGES` order, columns:
    :data:`~proxydata.nas.NB201_OPS`), initialised ``1e-3 · N(0, 1)`` as in
    NAS-Bench-201.

    Parameters
    ----------
    C, N, num_classes, in_channels : int
        As :class:`~proxydata.nas.CellNetwork` (NAS-Bench-201: C=16, N=5).
    algo : {"darts", "gdas"}
        Forward mode (``"darts-v1"``/``"darts-v2"`` are accepted for ``"darts"``).
    tau : float
        Gumbel-softmax temperature of the GDAS mode (the search loop anneals it).
    reference : bool
        DARTS mode only: compute the straightforward mixed op (slower; see the
        module notes). GDAS always computes only the sampled operations.
    seed : int, optional
        Seed of the initialisation (global RNG untouched); None uses the global RNG.
    """

    def __init__(
        self,
        C: int = 16,
        N: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
        algo: str = "darts",
        *,
        tau: float = 10.0,
        reference: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.C = check_int(C, "C", minimum=1)
        self.N = check_int(N, "N", minimum=1)
        self.num_classes = check_int(num_classes, "num_classes", minimum=2)
        self.in_channels = check_int(in_channels, "in_channels", minimum=1)
        self.algo = ALGO_MODES[check_choice(algo, "algo", tuple(ALGO_MODES))]
        if self.algo not in self.modes:
            raise ProxydataValueError(
                f"algo={algo!r} needs its own supernet class (proxydata.nas.make_supernet builds it); "
                f"{type(self).__name__} computes the modes {self.modes}"
            )
        self.tau = check_float(tau, "tau", strictly_positive=True)
        self.reference = check_bool(reference, "reference")
        with seeded_init(seed):
            self.stem = stem(self.in_channels, self.C)
            layers: list[nn.Module] = []
            c_prev = self.C
            for channels, reduction in stage_channels(self.C, self.N):
                cell = ResNetBasicBlock(c_prev, channels) if reduction else self._search_cell(channels)
                layers.append(cell)
                c_prev = channels
            self.cells = nn.ModuleList(layers)
            self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
            self.classifier = nn.Linear(c_prev, self.num_classes)
            self.arch_parameters = nn.Parameter(1e-3 * torch.randn(len(EDGES), len(NB201_OPS)))

    space = "nb201"
    #: The forward modes this class computes (PC-DARTS and ENAS have their own subclasses).
    modes: tuple[str, ...] = ("darts", "gdas")

    def _search_cell(self, channels: int) -> nn.Module:
        """One search cell of ``channels`` channels (a subclass may build another kind)."""
        return SearchCell(channels)

    # -- parameters -------------------------------------------------------------------
    def named_weight_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """``(name, parameter)`` of every network weight (all but ``arch_parameters``)."""
        return [(n, p) for n, p in self.named_parameters() if n != "arch_parameters"]

    def arch_parameter_list(self) -> list[nn.Parameter]:
        """The parameters the architecture step optimises: ``[arch_parameters]``."""
        return [self.arch_parameters]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every network weight, without the architecture parameters."""
        return [p for _, p in self.named_weight_parameters()]

    def alphas(self) -> list[torch.Tensor]:
        """The operation logits: ``[arch_parameters]`` (one (6, 5) group)."""
        return [self.arch_parameters]

    def arch_weights(self) -> np.ndarray:
        """``softmax(alpha)`` per edge, as a (6, 5) float64 array."""
        return torch.softmax(self.arch_parameters.detach().double(), dim=-1).cpu().numpy()

    def genotype(self) -> Genotype:
        """The derived cell: argmax over the 5 operations per edge (NAS-Bench-201 convention)."""
        return Genotype.from_alphas(self.arch_parameters)

    # -- forward ------------------------------------------------------------------------
    def gumbel_weights(self, generator: torch.Generator | None = None) -> tuple[torch.Tensor, list[int]]:
        """One GDAS sample: straight-through one-hot weights (6, 5) and the sampled op per edge.

        ``h = one_hot(argmax p) - stopgrad(p) + p``, ``p = softmax((log_softmax(alpha) + g) / tau)``
        with ``g = -log(E)``, ``E ~ Exp(1)`` (a Gumbel(0, 1) sample); redrawn if not finite.
        """
        alpha = self.arch_parameters
        while True:
            noise = torch.empty_like(alpha).exponential_(generator=generator)
            gumbels = -noise.log()
            probs = torch.softmax((torch.log_softmax(alpha, dim=1) + gumbels) / self.tau, dim=1)
            if torch.isfinite(gumbels).all() and torch.isfinite(probs).all():
                break
        index = probs.argmax(dim=1)
        one_hot = F.one_hot(index, len(NB201_OPS)).to(probs.dtype)
        return one_hot - probs.detach() + probs, index.tolist()

    @staticmethod
    def _others(hardwts: torch.Tensor, index: list[int]) -> torch.Tensor:
        # per edge, the sum of the non-sampled weights: 0 in value, straight-through gradient
        mask = torch.ones_like(hardwts)
        mask[torch.arange(len(index)), torch.tensor(index)] = 0.0
        return (hardwts * mask).sum(1)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits of a batch; ``generator`` seeds the Gumbel noise of the GDAS mode."""
        if self.algo == "gdas":
            hardwts, index = self.gumbel_weights(generator)
            others = self._others(hardwts, index)
        else:
            weights = torch.softmax(self.arch_parameters, dim=-1)
        feature = self.stem(x)
        for cell in self.cells:
            if not isinstance(cell, SearchCell):
                feature = cell(feature)
            elif self.algo == "gdas":
                feature = cell.forward_gdas(feature, hardwts, index, others)
            elif self.reference:
                feature = cell.forward_darts_reference(feature, weights)
            else:
                feature = cell.forward_darts(feature, weights)
        feature = self.lastact(feature)
        return self.classifier(feature.mean(dim=(2, 3)))
