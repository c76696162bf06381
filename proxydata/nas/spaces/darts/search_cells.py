"""The DARTS-space search cell: 4 intermediate nodes, 14 mixed edges of the 8 operations.

A cell (Liu et al., ICLR 2019, Sec. 2.1 and the repository's ``model_search.py``)
takes the outputs of the two previous cells, preprocesses them to ``C``
channels (``ReLU-1×1 conv-BN``, or :class:`~proxydata.nas.spaces.darts.ops.FactorizedReduce`
when the previous cell reduced), and computes node ``i`` (``i = 0..3``) as the sum
of mixed edges from every earlier state (the two inputs and nodes ``< i``); the
output is the concatenation of the 4 nodes. Edges are numbered node by node
(node ``i``'s ``2 + i`` edges follow node ``i - 1``'s), as DARTS. In a reduction
cell the edges leaving the two inputs have stride 2.

The mixed edge is ``sum_k w_k · op_k(x)`` over :data:`~proxydata.nas.spaces.darts.ops.DARTS_OPS`,
every BatchNorm non-affine, and the two poolings followed by a non-affine BatchNorm
(DARTS's search setting). BatchNorm uses batch statistics only (no running
statistics: the search never evaluates in inference mode; DARTS keeps running
statistics only for the accuracy it prints).

**The fused forward** (``fused_edges``) computes the same sum, for all the edges
that leave one state at once (they read the same input), in float64 equal to the
straightforward sum up to rounding:

- ``none`` adds zeros and is dropped (its weight still shapes the softmax);
- the poolings with their BatchNorm, and ``skip_connect``, depend only on the
  state: computed once per state and weighted per edge;
- the ReLU is shared; the depthwise convolutions of the ``t`` edges of one kind run
  as one grouped convolution over the input repeated ``t`` times (edge-major
  channels), the pointwise convolutions of every kind and edge as one grouped
  convolution, and each BatchNorm stage as one call whose per-channel scale carries
  the mixing weight (the last BatchNorm of every operation is non-affine, so
  ``w · BN(x)`` is ``BN(x)`` with scale ``w``);
- ``FactorizedReduce`` of the ``t`` edges: its two 1×1 convolutions read the same
  input, so they run with the edges' kernels stacked along the output channels.

``reference`` calls every operation module on every edge (DARTS's ``MixedOp``),
for tests and the benchmark; ``sampled`` runs only one operation per edge (GDAS).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ....exceptions import ProxydataValueError
from ...partial_channels import channel_shuffle
from .ops import DARTS_OPS, OPS, FactorizedReduce, ReLUConvBN

__all__ = ["DartsSearchCell", "MixedEdge", "edge_index", "fused_edges", "node_edges"]

_IDX = {op: k for k, op in enumerate(DARTS_OPS)}
_NONE, _MAX, _AVG, _SKIP = _IDX["none"], _IDX["max_pool_3x3"], _IDX["avg_pool_3x3"], _IDX["skip_connect"]
_SEP = (_IDX["sep_conv_3x3"], _IDX["sep_conv_5x5"])
_DIL = (_IDX["dil_conv_3x3"], _IDX["dil_conv_5x5"])
#: kernel size, padding, dilation of each convolution kind
_GEOMETRY = {
    _SEP[0]: (3, 1, 1),
    _SEP[1]: (5, 2, 1),
    _DIL[0]: (3, 2, 2),
    _DIL[1]: (5, 4, 2),
}
_EPS = 1e-5


def edge_index(node: int, state: int) -> int:
    """The number of the edge from ``state`` (0, 1 the inputs, ``k + 2`` node ``k``) into ``node``."""
    return 2 * node + node * (node - 1) // 2 + state


def node_edges(steps: int) -> list[tuple[int, int]]:
    """``(start, end)`` of every node's edges in the edge numbering (node ``i`` has ``2 + i``)."""
    out, start = [], 0
    for i in range(steps):
        out.append((start, start + 2 + i))
        start += 2 + i
    return out


def _bn(x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
    return F.batch_norm(x, None, None, weight=scale, bias=None, training=True, eps=_EPS)


def _batch_stats_only(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.track_running_stats = False
            m.register_buffer("running_mean", None)
            m.register_buffer("running_var", None)
            m.register_buffer("num_batches_tracked", None)


class MixedEdge(nn.Module):
    """One edge's 8 operations (DARTS's ``MixedOp``), non-affine, poolings followed by BatchNorm.

    Parameters
    ----------
    channels : int
        Channels of the operations (``C / K`` with PC-DARTS's partial channels).
    stride : {1, 2}
    """

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        ops = []
        for name in DARTS_OPS:
            op = OPS[name](channels, stride, False)
            if "pool" in name:
                op = nn.Sequential(op, nn.BatchNorm2d(channels, affine=False))
            ops.append(op)
        self.ops = nn.ModuleList(ops)
        _batch_stats_only(self)

    def reference(self, x: torch.Tensor, w: torch.Tensor, skip_dropout: float = 0.0) -> torch.Tensor:
        """``sum_k w_k · op_k(x)`` over every operation (DARTS's ``MixedOp``)."""
        total: Any = None
        for k, op in enumerate(self.ops):
            out = op(x)
            if k == _SKIP and self.stride == 1 and skip_dropout > 0:
                out = F.dropout(out, skip_dropout, training=self.training)
            term = w[k] * out
            total = term if total is None else total + term
        return total

    def sampled(self, x: torch.Tensor, hardwts: torch.Tensor, k: int) -> torch.Tensor:
        """GDAS: ``h_k · op_k(x) + sum_{o != k} h_o`` (the others are 0 in value, straight-through)."""
        others = torch.cat([hardwts[:k], hardwts[k + 1 :]]).sum()  # exactly 0 in value
        if k == _NONE:
            out = torch.zeros_like(self.ops[_NONE](x))
        else:
            out = hardwts[k] * self.ops[k](x)
        return out + others


def _factorized_reduce(edges: Sequence[MixedEdge], r: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``w_e · FactorizedReduce_e(x)`` of ``t`` edges on ``r = ReLU(x)``: (b, t·C, H/2, W/2)."""
    t = len(edges)
    frs = [e.ops[_SKIP] for e in edges]
    a = F.conv2d(r, torch.cat([f.conv_1.weight for f in frs]), stride=2)
    shifted = F.pad(r, (0, 1, 0, 1))[:, :, 1:, 1:]
    b = F.conv2d(shifted, torch.cat([f.conv_2.weight for f in frs]), stride=2)
    n, half, h, wd = a.shape[0], a.shape[1] // t, a.shape[2], a.shape[3]
    out = torch.cat([a.view(n, t, half, h, wd), b.view(n, t, half, h, wd)], dim=2)
    return _bn(out.reshape(n, t * 2 * half, h, wd), w.repeat_interleave(2 * half))


def _depthwise(edges: Sequence[MixedEdge], k: int, layer: int, x: torch.Tensor, stride: int) -> torch.Tensor:
    _size, pad, dil = _GEOMETRY[k]
    weight = torch.cat([e.ops[k].op[layer].weight for e in edges])
    return F.conv2d(x, weight, stride=stride, padding=pad, dilation=dil, groups=x.shape[1])


def _pointwise(edges: Sequence[MixedEdge], kinds: Sequence[int], layer: int, x: torch.Tensor) -> torch.Tensor:
    weight = torch.cat([e.ops[k].op[layer].weight for k in kinds for e in edges])
    return F.conv2d(x, weight, groups=len(kinds) * len(edges))


def _convolutions(
    edges: Sequence[MixedEdge], r: torch.Tensor, w: torch.Tensor, kinds: list[int]
) -> torch.Tensor:
    """The summed, weighted separable and dilated convolutions of ``kinds``: (b, t, C, H', W')."""
    t, c, stride = len(edges), r.shape[1], edges[0].stride
    rr = r.repeat(1, t, 1, 1) if t > 1 else r
    first = torch.cat([_depthwise(edges, k, 1, rr, stride) for k in kinds], dim=1)
    first = _pointwise(edges, kinds, 2, first)
    ones = torch.ones(t * c, dtype=r.dtype, device=r.device)
    scale = torch.cat([ones if k in _SEP else w[:, k].repeat_interleave(c) for k in kinds])
    first = _bn(first, scale)
    n, _, h, wd = first.shape
    seps = [k for k in kinds if k in _SEP]
    parts = []
    if seps:
        mid = F.relu(first[:, : len(seps) * t * c])
        second = torch.cat(
            [_depthwise(edges, k, 5, mid[:, i * t * c : (i + 1) * t * c], 1) for i, k in enumerate(seps)],
            dim=1,
        )
        second = _pointwise(edges, seps, 6, second)
        second = _bn(second, torch.cat([w[:, k].repeat_interleave(c) for k in seps]))
        parts.append(second.reshape(n, len(seps), t, c, h, wd).sum(1))
    if len(seps) < len(kinds):
        dil = first[:, len(seps) * t * c :]
        parts.append(dil.reshape(n, len(kinds) - len(seps), t, c, h, wd).sum(1))
    return parts[0] if len(parts) == 1 else parts[0] + parts[1]


def fused_edges(
    edges: Sequence[MixedEdge], x: torch.Tensor, w: torch.Tensor, skip_dropout: float = 0.0
) -> torch.Tensor:
    """The mixed operations of the ``t`` edges leaving one state, together: (b, t, C, H', W').

    ``w`` (t, 8) holds the edges' mixing weights (columns
    :data:`~proxydata.nas.spaces.darts.ops.DARTS_OPS`); an operation whose column is
    all zero (dropped by P-DARTS) is not computed. See the module notes.
    """
    t, stride = len(edges), edges[0].stride
    used = (w != 0).any(0).tolist()
    r = F.relu(x)
    kinds = [k for k in (*_SEP, *_DIL) if used[k]]
    total = _convolutions(edges, r, w, kinds) if kinds else None
    n = x.shape[0]

    def add(term: torch.Tensor) -> None:
        nonlocal total
        total = term if total is None else total + term

    for k, pool in ((_MAX, F.max_pool2d), (_AVG, None)):
        if used[k]:
            if pool is None:
                p = F.avg_pool2d(x, 3, stride=stride, padding=1, count_include_pad=False)
            else:
                p = pool(x, 3, stride=stride, padding=1)
            add(_bn(p).unsqueeze(1) * w[:, k].view(1, t, 1, 1, 1))
    if used[_SKIP]:
        if stride == 2:
            fr = _factorized_reduce(edges, r, w[:, _SKIP])
            add(fr.reshape(n, t, -1, fr.shape[2], fr.shape[3]))
        elif skip_dropout > 0 and edges[0].training:
            dropped = F.dropout(x.unsqueeze(1).expand(n, t, *x.shape[1:]), skip_dropout, training=True)
            add(dropped * w[:, _SKIP].view(1, t, 1, 1, 1))
        else:
            add(x.unsqueeze(1) * w[:, _SKIP].view(1, t, 1, 1, 1))
    if total is None:  # only `none` left
        h, wd = -(-x.shape[2] // stride), -(-x.shape[3] // stride)
        total = x.new_zeros(n, t, x.shape[1], h, wd) * w[:, _NONE].view(1, t, 1, 1, 1)
    return total


class DartsSearchCell(nn.Module):
    """A DARTS search cell (see the module notes).

    Parameters
    ----------
    steps : int
        Intermediate nodes (DARTS: 4; ``steps · (steps + 3) / 2`` edges).
    multiplier : int
        How many of the last nodes are concatenated (DARTS: 4).
    c_prev_prev, c_prev, c : int
        Channels of the two inputs and of every node.
    reduction, reduction_prev : bool
        Whether this cell, and the one before it, halve the resolution.
    partial : int
        PC-DARTS's ``K``: the edges' operations see ``c / K`` channels (1: all).
    """

    def __init__(
        self,
        steps: int,
        multiplier: int,
        c_prev_prev: int,
        c_prev: int,
        c: int,
        reduction: bool,
        reduction_prev: bool,
        partial: int = 1,
    ) -> None:
        super().__init__()
        if c % partial:
            raise ProxydataValueError(f"K must divide every cell's channels, got K={partial} for {c}")
        self.steps, self.multiplier, self.reduction, self.partial = steps, multiplier, reduction, partial
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(c_prev_prev, c, affine=False)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, c, 1, 1, 0, affine=False)
        self.preprocess1 = ReLUConvBN(c_prev, c, 1, 1, 0, affine=False)
        self.edges = nn.ModuleList(
            MixedEdge(c // partial, 2 if reduction and j < 2 else 1)
            for i in range(steps)
            for j in range(2 + i)
        )
        _batch_stats_only(self)

    def _partial_out(self, mixed: torch.Tensor, rest: torch.Tensor | None) -> torch.Tensor:
        if rest is None:
            return mixed
        return channel_shuffle(torch.cat([mixed, rest], dim=1), self.partial)

    def forward(
        self,
        s0: torch.Tensor,
        s1: torch.Tensor,
        weights: torch.Tensor,
        edge_weights: torch.Tensor | None = None,
        *,
        mode: str = "fused",
        skip_dropout: float = 0.0,
        sample: tuple[torch.Tensor, list[int]] | None = None,
    ) -> torch.Tensor:
        """The cell's output; ``weights`` (14, 8) the mixing weights, ``edge_weights`` (14) PC-DARTS's.

        ``mode``: ``"fused"`` (default), ``"reference"`` (every operation module on every
        edge) or ``"sampled"`` (GDAS: ``sample = (hardwts, index)``).
        """
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        sums: list[Any] = [None] * self.steps
        for j in range(self.steps + 1):
            if j >= 2:
                states.append(sums[j - 2])
            targets = [i for i in range(self.steps) if j < i + 2]
            ids = [edge_index(i, j) for i in targets]
            outs = self._edge_outputs(states[j], ids, weights, mode, skip_dropout, sample)
            for i, e, out in zip(targets, ids, outs):
                if edge_weights is not None:
                    out = out * edge_weights[e]
                sums[i] = out if sums[i] is None else sums[i] + out
        states.append(sums[-1])
        return torch.cat(states[-self.multiplier :], dim=1)

    def _edge_outputs(
        self,
        h: torch.Tensor,
        ids: list[int],
        weights: torch.Tensor,
        mode: str,
        skip_dropout: float,
        sample: tuple[torch.Tensor, list[int]] | None,
    ) -> list[torch.Tensor]:
        rest = None
        if self.partial > 1:
            part = h.shape[1] // self.partial
            h, rest = h[:, :part], h[:, part:]
            if self.edges[ids[0]].stride == 2:
                rest = F.max_pool2d(rest, 2, 2)
        edges = [self.edges[e] for e in ids]
        if mode == "fused":
            mixed = fused_edges(edges, h, weights[ids], skip_dropout)
            outs = [mixed[:, k] for k in range(len(ids))]
        elif mode == "reference":
            outs = [edge.reference(h, weights[e], skip_dropout) for edge, e in zip(edges, ids)]
        else:
            assert sample is not None
            outs = [edge.sampled(h, sample[0][e], sample[1][e]) for edge, e in zip(edges, ids)]
        return [self._partial_out(out, rest) for out in outs]
