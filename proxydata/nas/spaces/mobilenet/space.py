"""The MobileNet-like (ProxylessNAS) chain of BDP's Table 6: its skeleton, candidates and sizes.

The space of Tu et al. (BDP, 2023, Sec. 4.3), which follows ProxylessNAS (Cai et
al., ICLR 2019) as searched by β-DARTS (Ye et al., CVPR 2022):

- a stem: 3×3 convolution to 32 channels, stride 2 (``stem_stride``), BN, ReLU6;
- a fixed MBConv of expansion 1, kernel 3, stride 1, to 16 channels;
- 21 searchable layers in six stages of widths 24, 40, 80, 96, 192, 320 with
  4, 4, 4, 4, 4, 1 layers; the first layer of a stage has the stride 2, 2, 2,
  1, 2, 1, the others stride 1;
- a 1×1 convolution to 1280 channels, BN, ReLU6, global average pooling and a
  linear classifier.

Each searchable layer chooses one of :data:`MOBILENET_OPS`: an MBConv with
kernel 3, 5 or 7 and expansion 3 or 6, or ``"skip"`` — offered only where the
layer's input and output shapes match (stride 1, equal widths), as in
ProxylessNAS, where such a layer's MBConv also has an identity residual. At
width multiplier 1 these are the 15 layers that are not the first of a stage.

Widths are scaled by the width multiplier and rounded to a multiple of 8
(ProxylessNAS's rule: ``max(8, int(c + 4) // 8 · 8)``, raised by 8 when that
loses more than 10 %); the 1280 of the last convolution is scaled only for a
multiplier above 1, as in ProxylessNAS. At multipliers below 1 two adjacent
stages can round to one width, and then the first layer of the later stage (if
its stride is 1) offers skip too: the rule is the shapes, not the position.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...._validation import check_float, check_int, show
from ....exceptions import ProxydataTypeError, ProxydataValueError

__all__ = [
    "FIRST_CHANNELS",
    "HEAD_CHANNELS",
    "MB_CHOICES",
    "MOBILENET_OPS",
    "NUM_LAYERS",
    "STAGE_DEPTHS",
    "STAGE_STRIDES",
    "STAGE_WIDTHS",
    "STEM_CHANNELS",
    "LayerSpec",
    "MobileNetSpace",
    "make_divisible",
    "op_kernel_expansion",
]

#: Output widths of the six searchable stages (multiplier 1).
STAGE_WIDTHS: tuple[int, ...] = (24, 40, 80, 96, 192, 320)
#: Searchable layers per stage (21 in all).
STAGE_DEPTHS: tuple[int, ...] = (4, 4, 4, 4, 4, 1)
#: Stride of each stage's first layer (the others have stride 1).
STAGE_STRIDES: tuple[int, ...] = (2, 2, 2, 1, 2, 1)
#: Stem output channels and the fixed expansion-1 MBConv's channels (multiplier 1).
STEM_CHANNELS, FIRST_CHANNELS = 32, 16
#: Channels of the last 1×1 convolution (multiplier <= 1).
HEAD_CHANNELS = 1280
NUM_LAYERS = sum(STAGE_DEPTHS)

#: ``(kernel, expansion)`` of every MBConv candidate, in :data:`MOBILENET_OPS` order.
MB_CHOICES: tuple[tuple[int, int], ...] = tuple((k, e) for k in (3, 5, 7) for e in (3, 6))
#: The candidates of a searchable layer: the six MBConvs, then ``"skip"`` (last: ties go to an MBConv).
MOBILENET_OPS: tuple[str, ...] = (*(f"mb_k{k}_e{e}" for k, e in MB_CHOICES), "skip")
SKIP = MOBILENET_OPS.index("skip")


def op_kernel_expansion(op: str) -> tuple[int, int]:
    """``(kernel, expansion)`` of an MBConv candidate name such as ``"mb_k5_e6"``."""
    if op not in MOBILENET_OPS or op == "skip":
        raise ProxydataValueError(
            f"op must be one of the MBConv candidates {MOBILENET_OPS[:-1]}, got {show(op)}"
        )
    return MB_CHOICES[MOBILENET_OPS.index(op)]


def make_divisible(value: float, divisor: int = 8) -> int:
    """The nearest multiple of ``divisor`` to ``value``, at least ``divisor``, losing at most 10 %.

    ``v = max(divisor, int(value + divisor / 2) // divisor · divisor)``, plus
    ``divisor`` when ``v < 0.9 · value`` (the rounding of MobileNetV2 and
    ProxylessNAS, which scale every width by the multiplier this way).
    """
    value = check_float(value, "value", strictly_positive=True)
    divisor = check_int(divisor, "divisor", minimum=1)
    out = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if out < 0.9 * value:
        out += divisor
    return out


@dataclass(frozen=True)
class LayerSpec:
    """One searchable layer: its position, stage, widths, stride and whether skip is offered.

    Attributes
    ----------
    index : int
        0 … 20, the layer's position in the chain.
    stage : int
        0 … 5.
    in_channels, out_channels, stride : int
    skip_allowed : bool
        Input and output shapes match (``stride == 1`` and equal widths): the
        MBConv has an identity residual and ``"skip"`` is a candidate.
    """

    index: int
    stage: int
    in_channels: int
    out_channels: int
    stride: int
    skip_allowed: bool

    @property
    def ops(self) -> tuple[str, ...]:
        """The candidates offered at this layer."""
        return MOBILENET_OPS if self.skip_allowed else MOBILENET_OPS[:SKIP]


@dataclass(frozen=True)
class MobileNetSpace:
    """The sizes of one instance of the space: resolution, stem stride, width multiplier, classes.

    Parameters
    ----------
    num_classes : int >= 2
        1000 for ImageNet, 10 for CIFAR-10.
    input_size : int >= 1
        Side of the (square) input images in pixels: 224 for ImageNet, 16–32 for
        CPU-scale CIFAR-10. The networks accept any size; this one is what
        :meth:`feature_sizes` and the counters assume.
    stem_stride : {1, 2}
        Stride of the stem convolution (2 as ProxylessNAS at 224 px; 1 keeps
        small CIFAR images from shrinking to nothing: with 32 px and stride 1 the
        last stage sees 2×2).
    width_mult : float > 0
        Scales every width (see the module notes for the rounding).
    in_channels : int >= 1
    head_channels : int, optional
        Channels of the last 1×1 convolution; by default 1280, or
        ``make_divisible(1280 · width_mult)`` when ``width_mult > 1`` (ProxylessNAS).
    """

    num_classes: int = 1000
    input_size: int = 224
    stem_stride: int = 2
    width_mult: float = 1.0
    in_channels: int = 3
    head_channels: int | None = None

    def __post_init__(self) -> None:
        check_int(self.num_classes, "num_classes", minimum=2)
        check_int(self.input_size, "input_size", minimum=1)
        check_int(self.stem_stride, "stem_stride", minimum=1, maximum=2)
        check_float(self.width_mult, "width_mult", strictly_positive=True)
        check_int(self.in_channels, "in_channels", minimum=1)
        if self.head_channels is not None:
            check_int(self.head_channels, "head_channels", minimum=1)

    @classmethod
    def coerce(cls, space: MobileNetSpace | None, **overrides: object) -> MobileNetSpace:
        """``space`` itself, or a space built from ``overrides`` when ``space`` is None."""
        if space is None:
            return cls(**overrides)  # type: ignore[arg-type]
        if not isinstance(space, cls):
            raise ProxydataTypeError(f"space must be a MobileNetSpace, got {show(space)}")
        if overrides:
            raise ProxydataValueError(
                f"give either space= or its fields ({', '.join(sorted(overrides))}), not both"
            )
        return space

    def to_dict(self) -> dict[str, object]:
        """The fields as a plain dict (JSON-serialisable)."""
        return {
            "num_classes": self.num_classes,
            "input_size": self.input_size,
            "stem_stride": self.stem_stride,
            "width_mult": self.width_mult,
            "in_channels": self.in_channels,
            "head_channels": self.head_channels,
        }

    # -- widths ----------------------------------------------------------------------------
    def width(self, channels: int) -> int:
        """``make_divisible(channels · width_mult)``."""
        return make_divisible(channels * self.width_mult)

    @property
    def stem_channels(self) -> int:
        return self.width(STEM_CHANNELS)

    @property
    def first_channels(self) -> int:
        return self.width(FIRST_CHANNELS)

    @property
    def last_channels(self) -> int:
        """Channels of the last 1×1 convolution (the classifier's input)."""
        if self.head_channels is not None:
            return self.head_channels
        return self.width(HEAD_CHANNELS) if self.width_mult > 1 else HEAD_CHANNELS

    def layers(self) -> list[LayerSpec]:
        """The 21 searchable layers in order."""
        out: list[LayerSpec] = []
        c_in = self.first_channels
        for stage, (width, depth, first_stride) in enumerate(zip(STAGE_WIDTHS, STAGE_DEPTHS, STAGE_STRIDES)):
            c_out = self.width(width)
            for i in range(depth):
                stride = first_stride if i == 0 else 1
                skip = stride == 1 and c_in == c_out
                out.append(LayerSpec(len(out), stage, c_in, c_out, stride, skip))
                c_in = c_out
        return out

    def skip_mask(self) -> list[bool]:
        """Per layer, whether ``"skip"`` is offered."""
        return [spec.skip_allowed for spec in self.layers()]

    def feature_sizes(self) -> list[int]:
        """Side of the feature map after the stem (first entry) and after every searchable layer.

        Convolutions with ``padding = k // 2`` give ``ceil(s / stride)``.
        """
        size = -(-self.input_size // self.stem_stride)
        sizes = [size]
        for spec in self.layers():
            size = -(-size // spec.stride)
            sizes.append(size)
        return sizes
