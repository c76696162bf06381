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
  channels), their pointwise convolutions as one convolution with ``t`` groups, and
  each BatchNorm as one call whose per-channel scale carries the mixing weight (the
  last BatchNorm of every operation is non-affine, so ``w · BN(x)`` is ``BN(x)``
  with scale ``w``);
- the edges' sums are kept as (batch, H, W, edge, channel), which is a view of the
  channels_last tensors the convolutions produce: the state-only terms are added by
  broadcasting, and no gradient reaches a convolution as a strided slice (PyTorch's
  CPU convolutions are several times slower on such layouts);
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


def _edge_last(y: torch.Tensor, t: int) -> torch.Tensor:
    """(b, t·C, H, W) edge-major channels as (b, H, W, t, C): a view when ``y`` is channels_last."""
    n, tc, h, wd = y.shape
    return y.permute(0, 2, 3, 1).reshape(n, h, wd, t, tc // t)


def _factorized_reduce(edges: Sequence[MixedEdge], r: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``w_e · FactorizedReduce_e(x)`` of ``t`` edges on ``r = ReLU(x)``: (b, H/2, W/2, t, C)."""
    t = len(edges)
    frs = [e.ops[_SKIP] for e in edges]
    a = F.conv2d(r, torch.cat([f.conv_1.weight for f in frs]), stride=2)
    shifted = F.pad(r, (0, 1, 0, 1))[:, :, 1:, 1:]
    b = F.conv2d(shifted, torch.cat([f.conv_2.weight for f in frs]), stride=2)
    both = torch.cat([_edge_last(a, t), _edge_last(b, t)], dim=4)  # each edge: [conv_1, conv_2]
    n, h, wd, _t, c = both.shape
    out = _bn(both.reshape(n, h, wd, t * c).permute(0, 3, 1, 2), w.repeat_interleave(c))
    return _edge_last(out, t)


def _depthwise(edge_kernels: list[torch.Tensor], k: int, x: torch.Tensor, stride: int) -> torch.Tensor:
    _size, pad, dil = _GEOMETRY[k]
    return F.conv2d(x, torch.cat(edge_kernels), stride=stride, padding=pad, dilation=dil, groups=x.shape[1])


def _convolutions(
    edges: Sequence[MixedEdge], r: torch.Tensor, w: torch.Tensor, kinds: list[int]
) -> torch.Tensor:
    """The summed, weighted separable and dilated convolutions of ``kinds``: (b, t·C, H', W').

    One kind at a time over all ``t`` edges (edge-major channels): a depthwise
    convolution with ``t · C`` groups and a pointwise one with ``t`` groups. Each
    intermediate stays channels_last (no slicing or concatenation along channels,
    whose gradients would reach the convolutions in a slow layout).
    """
    t, c, stride = len(edges), r.shape[1], edges[0].stride
    rr = torch.cat([r] * t, dim=1) if t > 1 else r  # cat keeps channels_last; repeat does not
    total: Any = None
    for k in kinds:
        ops = [e.ops[k].op for e in edges]
        y = _depthwise([op[1].weight for op in ops], k, rr, stride)
        y = F.conv2d(y, torch.cat([op[2].weight for op in ops]), groups=t)
        if k in _SEP:
            y = F.relu(_bn(y))
            y = _depthwise([op[5].weight for op in ops], k, y, 1)
            y = F.conv2d(y, torch.cat([op[6].weight for op in ops]), groups=t)
        y = _bn(y, w[:, k].repeat_interleave(c))  # the last BatchNorm is non-affine: w · BN = BN scaled
        total = y if total is None else total + y
    return total


def fused_edges(
    edges: Sequence[MixedEdge], x: torch.Tensor, w: torch.Tensor, skip_dropout: float = 0.0
) -> list[torch.Tensor]:
    """The mixed operations of the ``t`` edges leaving one state, computed together: ``t`` × (b, C, H', W').

    ``w`` (t, 8) holds the edges' mixing weights (columns
    :data:`~proxydata.nas.spaces.darts.ops.DARTS_OPS`); an operation whose column is
    all zero (dropped by P-DARTS) is not computed. See the module notes. The outputs
    are views of one (b, H', W', t, C) tensor (channels_last strides each), taken with
    ``unbind`` so that their gradients are stacked back without a copy into a strided layout.
    """
    t, stride = len(edges), edges[0].stride
    used = (w != 0).any(0).tolist()
    r = F.relu(x)
    kinds = [k for k in (*_SEP, *_DIL) if used[k]]
    total: Any = _edge_last(_convolutions(edges, r, w, kinds), t) if kinds else None

    def add(term: torch.Tensor) -> None:
        nonlocal total
        total = term if total is None else total + term

    def per_edge(state: torch.Tensor, k: int) -> torch.Tensor:  # (b, C, H, W) weighted per edge
        return state.permute(0, 2, 3, 1).unsqueeze(3) * w[:, k].view(t, 1)

    for k, pool in ((_MAX, F.max_pool2d), (_AVG, None)):
        if used[k]:
            if pool is None:
                p = F.avg_pool2d(x, 3, stride=stride, padding=1, count_include_pad=False)
            else:
                p = pool(x, 3, stride=stride, padding=1)
            add(per_edge(_bn(p), k))
    if used[_SKIP]:
        if stride == 2:
            add(_factorized_reduce(edges, r, w[:, _SKIP]))
        elif skip_dropout > 0 and edges[0].training:
            n, c, h, wd = x.shape
            spread = x.permute(0, 2, 3, 1).unsqueeze(3).expand(n, h, wd, t, c)
            add(F.dropout(spread, skip_dropout, training=True) * w[:, _SKIP].view(t, 1))
        else:
            add(per_edge(x, _SKIP))
    if total is None:  # only `none` left
        n, c = x.shape[:2]
        h, wd = -(-x.shape[2] // stride), -(-x.shape[3] // stride)
        total = x.new_zeros(n, h, wd, t, c) * w[:, _NONE].view(t, 1)
    return [out.permute(0, 3, 1, 2) for out in total.unbind(3)]


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
            outs = fused_edges(edges, h, weights[ids], skip_dropout)
        elif mode == "reference":
            outs = [edge.reference(h, weights[e], skip_dropout) for edge, e in zip(edges, ids)]
        else:
            assert sample is not None
            outs = [edge.sampled(h, sample[0][e], sample[1][e]) for edge, e in zip(edges, ids)]
        return [self._partial_out(out, rest) for out in outs]
