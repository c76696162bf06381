"""The evaluation networks of the DARTS space: a found cell stacked and trained from scratch.

As the DARTS repository's evaluation models (Liu et al., ICLR 2019, Sec. 3.2 and App. A.2;
``cnn/model.py``), which PC-DARTS, P-DARTS and β-DARTS reuse unchanged:

- :class:`EvaluationCell` — the cell of a :class:`~.genotypes.DartsGenotype`: the two inputs
  preprocessed to ``C`` channels (a 1×1 :class:`~.ops.ReLUConvBN`, or a
  :class:`~.ops.FactorizedReduce` when the previous cell halved the size), each intermediate
  node the sum of its two operations (stride 2 on the edges from the inputs in a reduction
  cell), the output the concatenation of the ``concat`` states; drop path on every operation
  but the identity, in training mode.
- :class:`NetworkCIFAR` — a 3×3 convolution stem of ``3C`` channels, ``layers`` cells with
  reduction cells (channels doubled, size halved) at ``layers // 3`` and ``2 * layers // 3``,
  global average pooling and a linear classifier; the auxiliary head
  (:class:`AuxiliaryHeadCIFAR`) reads the output of cell ``2 * layers // 3``.
- :class:`NetworkImageNet` — the same body behind two stems of total stride 8 (two stride-2
  convolutions to ``C / 2`` and ``C`` channels, then a third of stride 2), auxiliary head
  :class:`AuxiliaryHeadImageNet`.

API. ``forward(x)`` returns the logits only, in both modes, so the networks are ordinary
classifiers (a loss, a sampler or a pruner can observe them unchanged). Training with the
auxiliary loss calls ``forward_with_aux(x)``, which returns ``(logits, logits_aux)`` —
``logits_aux`` is ``None`` unless the network has an auxiliary head *and* is in training mode,
as the DARTS repository's ``forward`` returns. The auxiliary head therefore never runs in eval
mode, and :func:`~proxydata.nas.counting.count_flops` does not count it;
:func:`~proxydata.nas.counting.count_parameters` leaves out its parameters (their names start
with ``auxiliary_head``).

Module names (``stem``, ``stem0``, ``stem1``, ``cells.i.preprocess0``, ``cells.i._ops.k``,
``auxiliary_head``, ``classifier``) and layer order are those of the DARTS repository, so its
state dicts load into these networks.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...._validation import check_bool, check_float, check_int, show
from ....exceptions import ProxydataValueError
from .genotypes import DartsGenotype, as_darts_genotype
from .ops import OPS, FactorizedReduce, Identity, ReLUConvBN

__all__ = [
    "AuxiliaryHeadCIFAR",
    "AuxiliaryHeadImageNet",
    "EvaluationCell",
    "NetworkCIFAR",
    "NetworkImageNet",
    "drop_path",
    "reduction_layers",
]


def reduction_layers(layers: int) -> tuple[int, int]:
    """Indices of the two reduction cells among ``layers`` cells: ``layers // 3`` and ``2 * layers // 3``.

    The auxiliary head reads the output of the second one.
    """
    return layers // 3, 2 * layers // 3


def drop_path(x: torch.Tensor, drop_prob: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero whole samples of ``x`` with probability ``drop_prob``, scale the others by ``1 / (1 − p)``.

    The drop path of DARTS's evaluation networks (from FractalNet and NASNet): one Bernoulli
    draw per sample (``x.shape[0]``), shared by all channels and positions, so
    ``E[drop_path(x)] = x``.

    Parameters
    ----------
    x : torch.Tensor
        A batch, samples along the first dimension.
    drop_prob : float in [0, 1)
        Probability of dropping a sample's path; 0 returns ``x`` unchanged.
    generator : torch.Generator, optional
        Draws the mask (on ``x``'s device); default the global RNG.
    """
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.dim() - 1)
    mask = torch.rand(shape, generator=generator, device=x.device, dtype=x.dtype) < keep
    return x * mask.to(x.dtype) / keep


class EvaluationCell(nn.Module):
    """One normal or reduction cell of a :class:`~.genotypes.DartsGenotype`, as DARTS's ``Cell``.

    Parameters
    ----------
    genotype : DartsGenotype
    c_prev_prev, c_prev : int
        Channels of the outputs of the cell before last and the last cell (the two inputs).
    c : int
        Channels of every node of this cell; the output has ``len(concat) * c``.
    reduction : bool
        A reduction cell (``genotype.reduce``; stride 2 on the edges from the inputs).
    reduction_prev : bool
        The previous cell halved the size: the first input is brought down by a
        :class:`~.ops.FactorizedReduce`.

    Attributes
    ----------
    multiplier : int
        ``len(concat)``: the output has ``multiplier * c`` channels.
    """

    def __init__(
        self,
        genotype: DartsGenotype,
        c_prev_prev: int,
        c_prev: int,
        c: int,
        reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__()
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(c_prev_prev, c)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, c, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_prev, c, 1, 1, 0)
        pairs = genotype.reduce if reduction else genotype.normal
        self.reduction = reduction
        self._concat = genotype.reduce_concat if reduction else genotype.normal_concat
        self._indices = tuple(index for _, index in pairs)
        self._steps = len(pairs) // 2
        self.multiplier = len(self._concat)
        self._ops = nn.ModuleList(
            OPS[name](c, 2 if reduction and index < 2 else 1, True) for name, index in pairs
        )

    def forward(
        self,
        s0: torch.Tensor,
        s1: torch.Tensor,
        drop_prob: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The cell's output from the two previous cells' outputs ``s0`` and ``s1``.

        ``drop_prob`` applies :func:`drop_path` to the output of every operation that is not the
        identity, in training mode only.
        """
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        dropping = self.training and drop_prob > 0.0
        for step in range(self._steps):
            total = None
            for k in (2 * step, 2 * step + 1):
                op = self._ops[k]
                h = op(states[self._indices[k]])
                if dropping and not isinstance(op, Identity):
                    h = drop_path(h, drop_prob, generator)
                total = h if total is None else total + h
            states.append(total)
        return torch.cat([states[i] for i in self._concat], dim=1)


class AuxiliaryHeadCIFAR(nn.Module):
    """DARTS's auxiliary classifier for CIFAR, on the 8×8 output of cell ``2 * layers // 3``.

    ``ReLU → AvgPool 5×5 stride 3 (→ 2×2) → Conv 1×1 to 128 → BN → ReLU → Conv 2×2 to 768
    → BN → ReLU → Linear(768, num_classes)``. Needs an input of at least 5×5 (from images of
    at least 20 px); 32-px CIFAR images give 8×8.
    """

    def __init__(self, c: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_aux_input(x, type(self).__name__)
        h = self.features(x)
        return self.classifier(h.flatten(1))


class AuxiliaryHeadImageNet(nn.Module):
    """DARTS's auxiliary classifier for ImageNet, on the output of cell ``2 * layers // 3`` (7×7 at 224 px).

    ``ReLU → AvgPool 5×5 stride 2 (→ 2×2) → Conv 1×1 to 128 → BN → ReLU → Conv 2×2 to 768
    → ReLU → Linear(768, num_classes)``: no BatchNorm after the 2×2 convolution, as in the
    DARTS repository, whose authors left it out of the experiments of the paper.
    """

    def __init__(self, c: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=2, padding=0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_aux_input(x, type(self).__name__)
        h = self.features(x)
        return self.classifier(h.flatten(1))


def _check_aux_input(x: torch.Tensor, head: str) -> None:
    if x.shape[-1] < 5 or x.shape[-2] < 5:
        raise ProxydataValueError(
            f"{head} pools 5×5 windows and needs at least 5×5 features, got "
            f"{tuple(x.shape[-2:])}: use larger images or auxiliary=False"
        )


def _check_network_args(
    genotype: Any, C: Any, layers: Any, auxiliary: Any, num_classes: Any, drop_path_prob: Any
):
    cell = as_darts_genotype(genotype)
    return (
        cell,
        check_int(C, "C", minimum=1),
        check_int(layers, "layers", minimum=1),
        check_bool(auxiliary, "auxiliary"),
        check_int(num_classes, "num_classes", minimum=1),
        _check_drop_prob(drop_path_prob),
    )


def _check_drop_prob(value: Any) -> float:
    prob = check_float(value, "drop_path_prob", minimum=0.0)
    if prob >= 1.0:
        raise ProxydataValueError(f"drop_path_prob must be in [0, 1), got {show(value)}")
    return prob


class _DartsNetwork(nn.Module):
    """The shared body: cells, auxiliary head, pooling, classifier, and the forward API."""

    genotype: DartsGenotype
    layers: int
    auxiliary: bool
    cells: nn.ModuleList

    def _build_cells(self, c_prev_prev: int, c_prev: int, c: int, reduction_prev: bool) -> int:
        self.cells = nn.ModuleList()
        reductions = reduction_layers(self.layers)
        c_curr = c
        c_aux = c_prev
        for i in range(self.layers):
            reduction = i in reductions
            if reduction:
                c_curr *= 2
            cell = EvaluationCell(self.genotype, c_prev_prev, c_prev, c_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, cell.multiplier * c_curr
            if i == reductions[1]:
                c_aux = c_prev
        self._c_aux = c_aux
        return c_prev

    @property
    def drop_path_prob(self) -> float:
        """Drop-path probability of the cells' operations in training mode (settable)."""
        return self._drop_path_prob

    @drop_path_prob.setter
    def drop_path_prob(self, value: float) -> None:
        self._drop_path_prob = _check_drop_prob(value)

    def _stem(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_with_aux(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(logits, logits_aux)``; ``logits_aux`` is None unless ``auxiliary`` and in training mode.

        ``generator`` draws the drop-path masks (default the global RNG).
        """
        s0, s1 = self._stem(x)
        aux_at = reduction_layers(self.layers)[1]
        logits_aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self._drop_path_prob, generator)
            if i == aux_at and self.auxiliary and self.training:
                logits_aux = self.auxiliary_head(s1)
        logits = self.classifier(self.global_pooling(s1).flatten(1))
        return logits, logits_aux

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The logits (the auxiliary head does not run; see :meth:`forward_with_aux`)."""
        s0, s1 = self._stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, self._drop_path_prob, generator)
        return self.classifier(self.global_pooling(s1).flatten(1))


class NetworkCIFAR(_DartsNetwork):
    """DARTS's CIFAR evaluation network of a genotype (Liu et al., 2019, App. A.2).

    Stem ``Conv 3×3 (3 → 3C) → BN``; ``layers`` :class:`EvaluationCell` s with reduction cells
    at :func:`reduction_layers`; global average pooling; ``Linear``. DARTS's CIFAR-10 setting is
    ``C=36, layers=20, auxiliary=True, drop_path_prob=0.2`` (the defaults): 3.3 M parameters
    with the DARTS-V2 cell.

    Parameters
    ----------
    genotype : DartsGenotype, str or genotype-like
        Anything :func:`~.genotypes.as_darts_genotype` accepts (``"DARTS_V2"``, the text form,
        the repositories' named tuple).
    C : int, default 36
        Channels of the first cells (the stem has ``3C``).
    layers : int, default 20
        Number of cells.
    auxiliary : bool, default True
        Build the auxiliary head (:class:`AuxiliaryHeadCIFAR`; needs images of at least 20 px).
    drop_path_prob : float in [0, 1), default 0.2
        Drop-path probability in training mode; the training recipe raises it linearly from 0
        over the epochs (:func:`~.train.train_darts_network`). Settable attribute.
    num_classes : int, default 10

    Notes
    -----
    ``forward(x)`` returns the logits; ``forward_with_aux(x)`` returns ``(logits, logits_aux)``
    (module docstring of :mod:`~proxydata.nas.spaces.darts.evaluation`).
    """

    def __init__(
        self,
        genotype: DartsGenotype | str | Any,
        C: int = 36,
        layers: int = 20,
        auxiliary: bool = True,
        drop_path_prob: float = 0.2,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        genotype, C, layers, auxiliary, num_classes, drop_path_prob = _check_network_args(
            genotype, C, layers, auxiliary, num_classes, drop_path_prob
        )
        self.genotype, self.C, self.layers, self.auxiliary = genotype, C, layers, auxiliary
        self.num_classes = num_classes
        self._drop_path_prob = drop_path_prob
        c_stem = 3 * C
        self.stem = nn.Sequential(nn.Conv2d(3, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))
        c_last = self._build_cells(c_stem, c_stem, C, reduction_prev=False)
        if auxiliary:
            self.auxiliary_head = AuxiliaryHeadCIFAR(self._c_aux, num_classes)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_last, num_classes)

    def _stem(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.stem(x)
        return s, s


class NetworkImageNet(_DartsNetwork):
    """DARTS's ImageNet (mobile setting) evaluation network of a genotype (Liu et al., 2019, Sec. 3.3).

    ``stem0 = Conv 3×3 s2 (3 → C/2) → BN → ReLU → Conv 3×3 s2 (C/2 → C) → BN`` and
    ``stem1 = ReLU → Conv 3×3 s2 (C → C) → BN`` (224 → 56 → 28 px), ``layers``
    :class:`EvaluationCell` s (the first preprocesses ``stem0``'s output with a
    :class:`~.ops.FactorizedReduce`), reduction cells at :func:`reduction_layers` (28 → 14 → 7),
    global average pooling and ``Linear``. DARTS's setting is ``C=48, layers=14,
    auxiliary=True`` (the defaults): 4.7 M parameters and 574 M multiply-adds at 224 px with the
    DARTS-V2 cell.

    Deviation, for other input sizes only: the global pooling is adaptive (DARTS pools a fixed
    7×7 window, the same numbers at 224 px).

    Parameters
    ----------
    genotype : DartsGenotype, str or genotype-like
        As :class:`NetworkCIFAR`.
    C : int, default 48
        Channels of the first cells; even (the first cell's :class:`~.ops.FactorizedReduce`).
    layers : int, default 14
    auxiliary : bool, default True
        Build the auxiliary head (:class:`AuxiliaryHeadImageNet`).
    num_classes : int, default 1000
    drop_path_prob : float in [0, 1), default 0.0
        DARTS trains its ImageNet network without drop path.
    """

    def __init__(
        self,
        genotype: DartsGenotype | str | Any,
        C: int = 48,
        layers: int = 14,
        auxiliary: bool = True,
        num_classes: int = 1000,
        drop_path_prob: float = 0.0,
    ) -> None:
        super().__init__()
        genotype, C, layers, auxiliary, num_classes, drop_path_prob = _check_network_args(
            genotype, C, layers, auxiliary, num_classes, drop_path_prob
        )
        if C % 2:
            raise ProxydataValueError(f"C must be even for NetworkImageNet, got {C}")
        self.genotype, self.C, self.layers, self.auxiliary = genotype, C, layers, auxiliary
        self.num_classes = num_classes
        self._drop_path_prob = drop_path_prob
        self.stem0 = nn.Sequential(
            nn.Conv2d(3, C // 2, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C),
        )
        self.stem1 = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C),
        )
        c_last = self._build_cells(C, C, C, reduction_prev=True)
        if auxiliary:
            self.auxiliary_head = AuxiliaryHeadImageNet(self._c_aux, num_classes)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_last, num_classes)

    def _stem(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s0 = self.stem0(x)
        return s0, self.stem1(s0)
