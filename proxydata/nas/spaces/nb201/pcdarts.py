"""PC-DARTS on the NAS-Bench-201 supernet: partial channel connections and edge normalisation.

PC-DARTS (Xu et al., "PC-DARTS: Partial Channel Connections for
Memory-Efficient Architecture Search", ICLR 2020) changes DARTS's mixed edge in
two ways:

- **Partial channel connections** (Sec. 3.2, Eq. 2): on edge ``(j<-i)`` only
  the first ``C/K`` channels of ``x_i`` go through the mixed operation, the
  other ``C - C/K`` bypass it, and the two parts are concatenated and
  channel-shuffled with ``K`` groups:

      f_ij(x_i) = shuffle_K( [ sum_o softmax(alpha_ij)_o · o(x_i[:C/K]) ,  x_i[C/K:] ] ).

  The operations' kernels have ``C/K`` input and output channels. The channels
  that go through are fixed (the first ``C/K``, as PC-DARTS's code); the
  shuffle makes every cell pass a different share of the previous cell's
  channels.
- **Edge normalisation** (Sec. 3.3, Eq. 4): every node weights its incoming
  edges by a softmax over a second set of architecture parameters ``beta``
  (one per edge): ``x_j = sum_{i<j} s_ij · f_ij(x_i)`` with
  ``s_ij = softmax_i(beta_j)`` (the weights of a node sum to 1), ``beta``
  initialised ``1e-3 · N(0, 1)`` — exactly as PC-DARTS. Node 1 has one input, so
  ``s_10 = 1`` and ``beta_10`` never receives a gradient.

  ``rescale=True`` keeps this library's earlier variant, for comparison with
  records made with it: ``s_ij = j · softmax_i(beta_j)`` and ``beta`` starting at
  0. Its reason: in a NAS-Bench-201 cell node ``j`` (``j`` inputs) enters the next
  nodes and the next cell directly, as a plain sum in the derived cell, so the
  factor ``j`` keeps the DARTS sum's scale (at ``beta = 0`` the cell is DARTS's);
  in PC-DARTS's own space the nodes are concatenated and re-normalised by the
  next cell's preprocessing, where the scale does not matter.

The genotype is derived from ``alpha`` alone (argmax per edge,
:meth:`~proxydata.nas.SearchNetwork.genotype`). In PC-DARTS's DARTS space
``beta`` decides which two inputs each node keeps (edges ranked by
``s_ij · softmax(alpha_ij)_o``); a NAS-Bench-201 cell keeps every edge, and
``s_ij > 0`` scales all operations of one edge alike, so ``beta`` cannot change
any edge's argmax: it only shapes the search through the forward pass.

Search (:func:`~proxydata.nas.search` with ``algo="pc-darts"``): first-order
DARTS (as PC-DARTS) on ``alpha`` and ``beta`` together, one Adam over both with
the loop's architecture settings. PC-DARTS's own schedule (batch 256, weight
learning rate 0.1, architecture learning rate 6e-4, architecture frozen for the
first 15 of 50 epochs) is not applied: the loop's NAS-Bench-201 settings are
shared by every algorithm, so the algorithms compare at equal budgets.

With ``K = 1`` and ``edge_norm=False`` the network computes DARTS's supernet
exactly (the shuffle of one group is the identity), and a seeded
:class:`PCDartsNetwork` has the weights of the :class:`~proxydata.nas.SearchNetwork`
built with the same seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ...._validation import check_bool, check_int
from ....exceptions import ProxydataValueError
from ...partial_channels import channel_shuffle
from .genotype import EDGES, NUM_NODES
from .network import seeded_init
from .search_space import SearchEdge, SearchNetwork, fused_mixed_ops

__all__ = ["PCDartsCell", "PCDartsNetwork", "edge_normalisation"]

_EDGE_ID = {edge: k for k, edge in enumerate(EDGES)}


def edge_normalisation(beta: torch.Tensor, *, rescale: bool = False) -> torch.Tensor:
    """The edge weights ``s_ij = softmax_i(beta_j)`` of every node ``j`` (6 values, ``EDGES`` order).

    ``beta`` holds one logit per edge in :data:`~proxydata.nas.EDGES` order; the
    softmax runs over the edges that enter the same node (PC-DARTS, Eq. 4).
    ``rescale=True``: ``j · softmax_i(beta_j)``, the earlier variant (see the module notes).
    """
    parts = []
    start = 0
    for j in range(1, NUM_NODES):
        weights = torch.softmax(beta[start : start + j], dim=0)
        parts.append(j * weights if rescale else weights)
        start += j
    return torch.cat(parts)


class PCDartsCell(nn.Module):
    """A NAS-Bench-201 search cell with partial channel connections (see the module notes).

    Parameters
    ----------
    channels : int
        Channels of the cell's input and output.
    K : int
        ``channels / K`` channels go through the mixed operations; ``K`` divides ``channels``.
    """

    def __init__(self, channels: int, K: int) -> None:
        super().__init__()
        if channels % K:
            raise ProxydataValueError(
                f"K must divide C (every stage's channels), got K={K} for {channels} channels"
            )
        self.channels = channels
        self.K = K
        self.edges = nn.ModuleList(SearchEdge(channels // K) for _ in EDGES)

    def forward(
        self, x: torch.Tensor, weights: torch.Tensor, edge_weights: torch.Tensor | None
    ) -> torch.Tensor:
        """The cell's output; ``weights`` softmax(alpha) (6×5), ``edge_weights`` ``s_ij`` (6) or None."""
        part = self.channels // self.K
        sums: list[Any] = [None] * NUM_NODES
        nodes = [x]
        for i in range(NUM_NODES - 1):
            h = nodes[i]
            targets = range(i + 1, NUM_NODES)
            ids = [_EDGE_ID[(j, i)] for j in targets]
            mixed = fused_mixed_ops([self.edges[e] for e in ids], h[:, :part], weights[ids])
            rest = h[:, part:]
            for k, j in enumerate(targets):
                out = channel_shuffle(torch.cat([mixed[:, k], rest], dim=1), self.K)
                if edge_weights is not None:
                    out = out * edge_weights[ids[k]]
                sums[j] = out if sums[j] is None else sums[j] + out
            nodes.append(sums[i + 1])
        return nodes[-1]


class PCDartsNetwork(SearchNetwork):
    """The NAS-Bench-201 supernet of PC-DARTS (``algo="pc-darts"``).

    :class:`~proxydata.nas.SearchNetwork`'s skeleton with :class:`PCDartsCell` s;
    the architecture parameters are ``alpha`` (``arch_parameters``, 6×5,
    ``1e-3 · N(0, 1)``) and, with edge normalisation, ``beta``
    (``edge_parameters``, 6, ``1e-3 · N(0, 1)``; zeros with ``rescale``). See the
    module notes for the formulas.

    Parameters
    ----------
    C, N, num_classes, in_channels : int
        As :class:`~proxydata.nas.SearchNetwork`.
    K : int >= 1
        Partial-channel ratio: ``1/K`` of every edge's channels go through its
        mixed operation (PC-DARTS: 4); ``K`` must divide ``C``.
    edge_norm : bool
        Weight each node's incoming edges by ``softmax(beta_j)``.
    rescale : bool
        The earlier variant (``j · softmax(beta_j)``, ``beta`` from 0), kept as a named
        option for comparison with records made with it (module notes give its reason).
    seed : int, optional
        Seed of the initialisation (global RNG untouched).
    """

    modes = ("pc-darts",)

    def __init__(
        self,
        C: int = 16,
        N: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
        *,
        K: int = 4,
        edge_norm: bool = True,
        rescale: bool = False,
        seed: int | None = None,
    ) -> None:
        K = check_int(K, "K", minimum=1)
        edge_norm = check_bool(edge_norm, "edge_norm")
        rescale = check_bool(rescale, "rescale")
        self._pending_K = K  # read by _search_cell during the base constructor
        super().__init__(C, N, num_classes, in_channels, algo="pc-darts", seed=seed)
        del self._pending_K
        self.K = K
        self.edge_norm = edge_norm
        self.rescale = rescale
        if rescale:
            self.edge_parameters = nn.Parameter(torch.zeros(len(EDGES)))
        else:  # its own seed (seed + 1): alpha and the weights stay those of the SearchNetwork
            with seeded_init(None if seed is None else seed + 1):
                self.edge_parameters = nn.Parameter(1e-3 * torch.randn(len(EDGES)))

    def _search_cell(self, channels: int) -> nn.Module:
        return PCDartsCell(channels, self._pending_K)

    # -- parameters -------------------------------------------------------------------
    def named_weight_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """``(name, parameter)`` of every network weight (all but ``alpha`` and ``beta``)."""
        return [(n, p) for n, p in self.named_parameters() if n not in ("arch_parameters", "edge_parameters")]

    def arch_parameter_list(self) -> list[nn.Parameter]:
        """``[alpha, beta]`` with edge normalisation, else ``[alpha]`` (``beta`` is then unused)."""
        return [self.arch_parameters, self.edge_parameters] if self.edge_norm else [self.arch_parameters]

    def edge_weights(self) -> np.ndarray:
        """The edge weights ``s_ij`` (6, ``EDGES`` order) as float64; all 1 without edge normalisation."""
        if not self.edge_norm:
            return np.ones(len(EDGES))
        return edge_normalisation(self.edge_parameters.detach().double(), rescale=self.rescale).cpu().numpy()

    # -- forward ------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Logits of a batch (``generator`` is unused: the forward pass is deterministic)."""
        weights = torch.softmax(self.arch_parameters, dim=-1)
        edge_weights = (
            edge_normalisation(self.edge_parameters, rescale=self.rescale) if self.edge_norm else None
        )
        feature = self.stem(x)
        for cell in self.cells:
            if isinstance(cell, PCDartsCell):
                feature = cell(feature, weights, edge_weights)
            else:
                feature = cell(feature)
        feature = self.lastact(feature)
        return self.classifier(feature.mean(dim=(2, 3)))
