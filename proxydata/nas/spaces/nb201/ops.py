"""The operations and the macro skeleton of NAS-Bench-201 (Dong & Yang, 2020, Sec. 2.1).

Cell operations (all keep the shape, stride 1):

- ``none``: the zero map;
- ``skip_connect``: the identity;
- ``nor_conv_1x1`` / ``nor_conv_3x3``: ReLU → Conv (no bias) → BatchNorm;
- ``avg_pool_3x3``: 3×3 average pooling, stride 1, padding 1, padding not counted.

Between the three stages sits a ResNet basic block of stride 2:
``out = ReLUConvBN_b(ReLUConvBN_a(x)) + Conv1x1(AvgPool2x2(x))``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from ....exceptions import ProxydataValueError

__all__ = [
    "AvgPool3x3",
    "Identity",
    "ReLUConvBN",
    "ResNetBasicBlock",
    "Zero",
    "avg_pool_3x3",
    "make_op",
    "stage_channels",
    "stem",
]


class ReLUConvBN(nn.Module):
    """ReLU → Conv2d (no bias) → BatchNorm2d, the convolution of NAS-Bench-201.

    The convolution has no bias: BatchNorm subtracts the batch mean right after,
    so a bias would have no effect in training.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int = 1,
        *,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track_running_stats),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


@lru_cache(maxsize=64)
def _box_filter(channels: int, height: int, width: int, device: torch.device, dtype: torch.dtype):
    """Ones 3×3 depthwise kernel and ``1 / (number of in-image cells of each window)``."""
    kernel = torch.ones(channels, 1, 3, 3, device=device, dtype=dtype)
    rows = torch.arange(height)
    cols = torch.arange(width)
    n_rows = (rows + 1).clamp(max=height - 1) - (rows - 1).clamp(min=0) + 1
    n_cols = (cols + 1).clamp(max=width - 1) - (cols - 1).clamp(min=0) + 1
    inv = (1.0 / (n_rows[:, None] * n_cols[None, :]).double()).to(device=device, dtype=dtype)
    return kernel, inv


def avg_pool_3x3(x: torch.Tensor) -> torch.Tensor:
    """``F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)``, faster on CPU.

    Computed as a depthwise 3×3 box sum (a grouped convolution with a ones kernel)
    times the inverse count of in-image cells per window: the same numbers up to
    float rounding, several times faster than PyTorch's CPU pooling kernel for
    ``count_include_pad=False`` (see ``benchmarks/search_time.py``).
    """
    c, h, w = x.shape[1], x.shape[2], x.shape[3]
    kernel, inv = _box_filter(c, h, w, x.device, x.dtype)
    return F.conv2d(x, kernel, padding=1, groups=c) * inv


class AvgPool3x3(nn.Module):
    """3×3 average pooling, stride 1, padding 1, ``count_include_pad=False``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return avg_pool_3x3(x)


class Identity(nn.Module):
    """The ``skip_connect`` operation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Zero(nn.Module):
    """The ``none`` operation: zeros of the input's shape."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def make_op(name: str, channels: int, *, affine: bool = True, track_running_stats: bool = True) -> nn.Module:
    """The NAS-Bench-201 operation ``name`` on ``channels`` channels (stride 1)."""
    builders: dict[str, Callable[[], nn.Module]] = {
        "none": Zero,
        "skip_connect": Identity,
        "nor_conv_1x1": lambda: ReLUConvBN(
            channels, channels, 1, affine=affine, track_running_stats=track_running_stats
        ),
        "nor_conv_3x3": lambda: ReLUConvBN(
            channels, channels, 3, affine=affine, track_running_stats=track_running_stats
        ),
        "avg_pool_3x3": AvgPool3x3,
    }
    if name not in builders:
        raise ProxydataValueError(f"name must be one of {tuple(builders)}, got {name!r}")
    return builders[name]()


class ResNetBasicBlock(nn.Module):
    """The stride-2 reduction block between two stages.

    ``out = b(a(x)) + shortcut(x)`` with ``a = ReLUConvBN(c_in, c_out, 3, stride 2)``,
    ``b = ReLUConvBN(c_out, c_out, 3)`` and ``shortcut = AvgPool2d(2, 2) → Conv1x1``
    (no bias, no BN), as in NAS-Bench-201's ``ResNetBasicblock``.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, kernel_size=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.downsample(x)


def stem(in_channels: int, channels: int) -> nn.Sequential:
    """The stem: Conv3×3 (``in_channels → channels``, no bias) + BatchNorm."""
    return nn.Sequential(
        nn.Conv2d(in_channels, channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(channels),
    )


def stage_channels(C: int, N: int) -> list[tuple[int, bool]]:
    """Layer plan of the skeleton: ``(channels, is_reduction)`` for each layer.

    ``N`` cells of ``C`` channels, a reduction to ``2C``, ``N`` cells of ``2C``,
    a reduction to ``4C``, ``N`` cells of ``4C``.
    """
    plan: list[tuple[int, bool]] = []
    for stage, mult in enumerate((1, 2, 4)):
        if stage:
            plan.append((C * mult, True))
        plan.extend((C * mult, False) for _ in range(N))
    return plan
