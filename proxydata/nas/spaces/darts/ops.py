"""The 8 candidate operations of the DARTS search space (Liu et al., ICLR 2019, Sec. 3.1).

Every operation maps ``C`` channels to ``C`` channels; with ``stride=2`` (the edges that leave
the two input nodes of a reduction cell) it halves the spatial size.

==================  =======================================================================
``none``            the zero map (:class:`Zero`; subsamples the shape when ``stride=2``)
``max_pool_3x3``    3×3 max pooling, padding 1
``avg_pool_3x3``    3×3 average pooling, padding 1, padding not counted in the mean
``skip_connect``    the identity; :class:`FactorizedReduce` when ``stride=2``
``sep_conv_3x3``    :class:`SepConv`, kernel 3, padding 1
``sep_conv_5x5``    :class:`SepConv`, kernel 5, padding 2
``dil_conv_3x3``    :class:`DilConv`, kernel 3, dilation 2, padding 2 (5×5 receptive field)
``dil_conv_5x5``    :class:`DilConv`, kernel 5, dilation 2, padding 4 (9×9 receptive field)
==================  =======================================================================

A separable convolution is two stacked ``ReLU → depthwise conv → pointwise conv → BN`` blocks
(the first carries the stride); a dilated convolution is one ``ReLU → dilated depthwise conv →
pointwise conv → BN`` block. No convolution has a bias (BatchNorm follows each one).
``affine`` is passed to every BatchNorm: DARTS's search networks use ``affine=False``, its
evaluation networks ``affine=True``. The search networks' extra non-affine BatchNorm after the
pooling operations belongs to the supernet, not to these operations.

:data:`OPS` maps each name to a builder ``(C, stride, affine) -> nn.Module``, the form of the
DARTS repository's ``operations.py``; :func:`make_op` is the checked entry point.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ...._validation import check_int, show
from ....exceptions import ProxydataTypeError, ProxydataValueError

__all__ = [
    "DARTS_OPS",
    "OPS",
    "DilConv",
    "FactorizedReduce",
    "Identity",
    "ReLUConvBN",
    "SepConv",
    "Zero",
    "make_op",
]

#: The candidate operations of the DARTS space, in the DARTS repository's ``PRIMITIVES`` order
#: (the columns of the architecture weights).
DARTS_OPS: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)


class ReLUConvBN(nn.Module):
    """``ReLU → Conv2d (no bias) → BatchNorm2d``; the cells' 1×1 preprocessing of their inputs.

    Parameters
    ----------
    c_in, c_out : int
        Input and output channels.
    kernel_size, stride, padding : int
        Of the convolution.
    affine : bool, default True
        Learnable scale and shift of the BatchNorm.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        *,
        affine: bool = True,
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DilConv(nn.Module):
    """``ReLU → dilated depthwise Conv2d → pointwise Conv2d → BatchNorm2d`` (DARTS's ``dil_conv``).

    The depthwise convolution has ``groups = c_in``; its receptive field is
    ``dilation · (kernel_size − 1) + 1``.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        dilation: int,
        *,
        affine: bool = True,
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                c_in,
                c_in,
                kernel_size,
                stride=stride,
                padding=padding,
                dilation=dilation,
                groups=c_in,
                bias=False,
            ),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """Two stacked ``ReLU → depthwise → pointwise → BN`` blocks of dilation 1 (DARTS's ``sep_conv``).

    ``ReLU → depthwise (stride) → pointwise (c_in → c_in) → BN → ReLU → depthwise (stride 1)
    → pointwise (c_in → c_out) → BN``. The layers sit in one ``nn.Sequential`` named ``op``
    in that order, so the state-dict keys are those of the DARTS repository.
    """

    def __init__(
        self, c_in: int, c_out: int, kernel_size: int, stride: int, padding: int, *, affine: bool = True
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel_size, stride=stride, padding=padding, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_in, 1, bias=False),
            nn.BatchNorm2d(c_in, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel_size, stride=1, padding=padding, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Identity(nn.Module):
    """The ``skip_connect`` operation of stride 1 (its type tells the cells not to drop-path it)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Zero(nn.Module):
    """The ``none`` operation: zeros of the shape of ``x[:, :, ::stride, ::stride]``.

    The output is a fresh zero tensor (DARTS multiplies the input by 0, which also gives zeros
    but turns an infinite input into NaN).
    """

    def __init__(self, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return torch.zeros_like(x)
        return torch.zeros_like(x[:, :, :: self.stride, :: self.stride])


class FactorizedReduce(nn.Module):
    """Halve the spatial size without losing every other pixel: ``skip_connect`` at stride 2.

    ``out = BN(cat[conv_1(relu(x)), conv_2(relu(x) shifted by one pixel)])``, two 1×1 convolutions
    of stride 2 with ``c_out / 2`` output channels each, the second applied to the input shifted
    one pixel right and down, so the two halves sample the even and the odd pixel grid.

    Deviation from DARTS, for odd sizes only: the shifted input is zero-padded by one pixel on
    the bottom and right, so an odd height or width gives ``ceil(H / 2)`` rows in both halves
    (DARTS's version fails on odd sizes); even sizes give DARTS's numbers exactly.

    Raises
    ------
    ValueError
        If ``c_out`` is odd.
    """

    def __init__(self, c_in: int, c_out: int, *, affine: bool = True) -> None:
        super().__init__()
        if c_out % 2:
            raise ProxydataValueError(f"c_out must be even for FactorizedReduce, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def _skip(c: int, stride: int, affine: bool) -> nn.Module:
    return Identity() if stride == 1 else FactorizedReduce(c, c, affine=affine)


#: ``name -> builder(C, stride, affine)`` for the 8 operations of :data:`DARTS_OPS`, as the
#: DARTS repository's ``OPS``. Builders do not check their arguments; use :func:`make_op`.
OPS: dict[str, Callable[[int, int, bool], nn.Module]] = {
    "none": lambda c, stride, affine: Zero(stride),
    "max_pool_3x3": lambda c, stride, affine: nn.MaxPool2d(3, stride=stride, padding=1),
    "avg_pool_3x3": lambda c, stride, affine: nn.AvgPool2d(
        3, stride=stride, padding=1, count_include_pad=False
    ),
    "skip_connect": _skip,
    "sep_conv_3x3": lambda c, stride, affine: SepConv(c, c, 3, stride, 1, affine=affine),
    "sep_conv_5x5": lambda c, stride, affine: SepConv(c, c, 5, stride, 2, affine=affine),
    "dil_conv_3x3": lambda c, stride, affine: DilConv(c, c, 3, stride, 2, 2, affine=affine),
    "dil_conv_5x5": lambda c, stride, affine: DilConv(c, c, 5, stride, 4, 2, affine=affine),
}


def make_op(name: str, channels: int, stride: int = 1, *, affine: bool = True) -> nn.Module:
    """The DARTS operation ``name`` on ``channels`` channels, checked.

    Parameters
    ----------
    name : str
        One of :data:`DARTS_OPS`.
    channels : int
        Input and output channels (even when ``name == "skip_connect"`` and ``stride == 2``).
    stride : {1, 2}, default 1
        2 on the edges leaving the input nodes of a reduction cell.
    affine : bool, default True
        Learnable BatchNorm scale and shift (``False`` in DARTS's search networks).

    Returns
    -------
    torch.nn.Module
        Maps ``(N, channels, H, W)`` to ``(N, channels, ceil(H / stride), ceil(W / stride))``.
    """
    if not isinstance(name, str):
        raise ProxydataTypeError(f"name must be a str, one of {DARTS_OPS}, got {show(name)}")
    if name not in OPS:
        raise ProxydataValueError(f"name must be one of {DARTS_OPS}, got {show(name)}")
    channels = check_int(channels, "channels", minimum=1)
    stride = check_int(stride, "stride", minimum=1)
    if stride not in (1, 2):
        raise ProxydataValueError(f"stride must be 1 or 2, got {stride}")
    if not isinstance(affine, bool):
        raise ProxydataTypeError(f"affine must be a bool, got {show(affine)}")
    if name == "skip_connect" and stride == 2 and channels % 2:
        raise ProxydataValueError(
            f"channels must be even for skip_connect with stride 2 (FactorizedReduce), got {channels}"
        )
    return OPS[name](channels, stride, affine)
