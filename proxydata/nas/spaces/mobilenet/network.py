"""The network of one architecture of the MobileNet-like space (what a search derives)."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ...._validation import check_float, show
from ....exceptions import ProxydataTypeError
from ...counting import count_flops, count_parameters
from ..nb201.network import seeded_init
from .arch import MobileNetArch
from .ops import MBConv, conv_bn_relu6
from .space import MobileNetSpace, op_kernel_expansion

__all__ = ["MobileNetNetwork", "as_arch"]


def as_arch(arch: Any, space: MobileNetSpace | None = None) -> MobileNetArch:
    """``arch`` as a :class:`MobileNetArch`: an instance, its text or JSON form, or 21 names."""
    if isinstance(arch, MobileNetArch):
        out = arch
    elif isinstance(arch, str):
        out = MobileNetArch.from_json(arch) if arch.lstrip().startswith("{") else MobileNetArch.parse(arch)
    elif isinstance(arch, dict):
        out = MobileNetArch.from_dict(arch)
    elif isinstance(arch, (list, tuple)):
        out = MobileNetArch(tuple(arch))
    else:
        raise ProxydataTypeError(
            f"arch must be a MobileNetArch, its text or JSON form or 21 operation names, got {show(arch)}"
        )
    return out if space is None else out.check(space)


class MobileNetNetwork(nn.Module):
    """A stand-alone network of the space: stem, the fixed MBConv, 21 chosen layers, head, classifier.

    A layer whose choice is ``"skip"`` is an identity; an MBConv layer has its
    identity residual where its shapes match (ProxylessNAS). BatchNorm is affine
    with running statistics (evaluation convention).

    Parameters
    ----------
    arch : MobileNetArch, or what :func:`as_arch` reads
    space : MobileNetSpace, optional
        Sizes (classes, stem stride, width multiplier …); by default ImageNet's
        (1000 classes, 224 px, stem stride 2, multiplier 1). Alternatively give
        its fields as keyword arguments (``num_classes=10, stem_stride=1``).
    dropout : float in [0, 1)
        Dropout before the classifier (0: none; ProxylessNAS trains with 0.1 on ImageNet).
    seed : int, optional
        Seed of the initialisation (the global RNG is untouched); None uses the global RNG.
    """

    def __init__(
        self,
        arch: Any,
        space: MobileNetSpace | None = None,
        *,
        dropout: float = 0.0,
        seed: int | None = None,
        **space_fields: Any,
    ) -> None:
        super().__init__()
        self.space = MobileNetSpace.coerce(space, **space_fields)
        self.arch = as_arch(arch, self.space)
        self.dropout_rate = check_float(dropout, "dropout", minimum=0.0)
        sp = self.space
        with seeded_init(seed):
            self.stem = conv_bn_relu6(sp.in_channels, sp.stem_channels, 3, sp.stem_stride)
            self.first = MBConv(sp.stem_channels, sp.first_channels, 3, 1)
            layers: list[nn.Module] = []
            for spec, op in zip(sp.layers(), self.arch.ops):
                if op == "skip":
                    layers.append(nn.Identity())
                else:
                    k, e = op_kernel_expansion(op)
                    layers.append(MBConv(spec.in_channels, spec.out_channels, k, e, spec.stride))
            self.layers = nn.ModuleList(layers)
            self.head = conv_bn_relu6(sp.layers()[-1].out_channels, sp.last_channels, 1)
            self.dropout = nn.Dropout(self.dropout_rate) if self.dropout_rate > 0 else nn.Identity()
            self.classifier = nn.Linear(sp.last_channels, sp.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(N, num_classes)`` of images ``(N, in_channels, H, W)``."""
        x = self.first(self.stem(x))
        for layer in self.layers:
            x = layer(x)
        x = self.head(x).mean(dim=(2, 3))
        return self.classifier(self.dropout(x))

    def cost(self) -> dict[str, int]:
        """``{"flops": multiply-adds, "params": parameters}`` at the space's input size.

        :func:`~proxydata.nas.counting.count_flops` of one ``(in_channels,
        input_size, input_size)`` image and :func:`~proxydata.nas.counting.count_parameters`
        (the numbers BDP's Table 6 reports, in M after dividing by ``1e6``).
        """
        sp = self.space
        return {
            "flops": count_flops(self, (sp.in_channels, sp.input_size, sp.input_size)),
            "params": count_parameters(self),
        }
