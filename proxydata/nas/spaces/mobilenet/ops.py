"""The building blocks of the MobileNet-like space: the MBConv (inverted bottleneck), stem and head.

The MBConv of MobileNetV2 / ProxylessNAS (Cai et al., ICLR 2019; checked against
the public ``mit-han-lab/proxylessnas`` code, ``MBInvertedConvLayer`` and
``MobileInvertedResidualBlock``), for input ``x`` of ``C_in`` channels:

1. expand: 1×1 convolution to ``e · C_in`` channels, BN, ReLU6 (absent when ``e = 1``);
2. depthwise: ``k×k`` convolution with ``groups`` = channels, stride ``s``,
   padding ``k // 2``, BN, ReLU6;
3. project: 1×1 convolution to ``C_out`` channels, BN (no activation: a linear bottleneck);
4. residual: ``x + MBConv(x)`` when the shapes match (``s = 1``, ``C_in = C_out``).

No convolution has a bias (BN follows each).
"""

from __future__ import annotations

from torch import Tensor, nn

from ...._validation import check_bool, check_int

__all__ = ["MBConv", "conv_bn_relu6"]


def conv_bn_relu6(
    c_in: int, c_out: int, kernel: int, stride: int = 1, *, affine: bool = True
) -> nn.Sequential:
    """``k×k`` convolution (no bias, padding ``k // 2``), BatchNorm, ReLU6: the stem and the head."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(c_out, affine=affine),
        nn.ReLU6(inplace=False),
    )


class MBConv(nn.Module):
    """The inverted-bottleneck block (see the module notes), with its residual when shapes match.

    Parameters
    ----------
    c_in, c_out : int >= 1
    kernel : odd int >= 1
        Depthwise kernel size (the space: 3, 5, 7).
    expansion : int >= 1
        Hidden width ``expansion · c_in`` (the space: 3, 6; the fixed first block: 1).
    stride : int >= 1
    affine : bool
        Learnable BatchNorm scale and shift. The supernet's candidates use
        ``affine=False`` (DARTS's search convention), derived networks ``True``.
    residual : bool, optional
        Add the input; default: exactly when the shapes match. Passing ``False``
        computes the bare MBConv (the supernet adds the input once for the
        whole mixture).
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        expansion: int,
        stride: int = 1,
        *,
        affine: bool = True,
        residual: bool | None = None,
    ) -> None:
        super().__init__()
        self.c_in = check_int(c_in, "c_in", minimum=1)
        self.c_out = check_int(c_out, "c_out", minimum=1)
        self.kernel = check_int(kernel, "kernel", minimum=1)
        self.expansion = check_int(expansion, "expansion", minimum=1)
        self.stride = check_int(stride, "stride", minimum=1)
        affine = check_bool(affine, "affine")
        shapes_match = self.stride == 1 and self.c_in == self.c_out
        self.residual = (
            shapes_match if residual is None else check_bool(residual, "residual") and shapes_match
        )
        hidden = self.c_in * self.expansion
        layers: list[nn.Module] = []
        if self.expansion > 1:
            layers += [
                nn.Conv2d(self.c_in, hidden, 1, bias=False),
                nn.BatchNorm2d(hidden, affine=affine),
                nn.ReLU6(inplace=False),
            ]
        layers += [
            nn.Conv2d(hidden, hidden, self.kernel, self.stride, self.kernel // 2, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden, affine=affine),
            nn.ReLU6(inplace=False),
            nn.Conv2d(hidden, self.c_out, 1, bias=False),
            nn.BatchNorm2d(self.c_out, affine=affine),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        out = self.body(x)
        return x + out if self.residual else out

    def extra_repr(self) -> str:
        return (
            f"{self.c_in}->{self.c_out}, k={self.kernel}, e={self.expansion}, s={self.stride}, "
            f"residual={self.residual}"
        )
