"""The MobileNet-like (ProxylessNAS) chain of BDP's Table 6 (Tu et al., 2023, Sec. 4.3).

- :class:`MobileNetSpace`, :data:`MOBILENET_OPS` — the skeleton's sizes and each layer's candidates;
- :class:`MobileNetArch` — a derived architecture (21 choices), its text and JSON forms;
- :class:`MobileNetNetwork` — the stand-alone network of an architecture;
- :class:`MobileNetSupernet` — the supernet searched by DARTS (first order) and β-DARTS;
- :class:`MBConv` — the inverted-bottleneck block.
"""

from .arch import MobileNetArch
from .network import MobileNetNetwork, as_arch
from .ops import MBConv
from .space import (
    MOBILENET_OPS,
    NUM_LAYERS,
    STAGE_DEPTHS,
    STAGE_STRIDES,
    STAGE_WIDTHS,
    LayerSpec,
    MobileNetSpace,
    make_divisible,
)
from .supernet import MixedLayer, MobileNetSupernet

__all__ = [
    "MOBILENET_OPS",
    "NUM_LAYERS",
    "STAGE_DEPTHS",
    "STAGE_STRIDES",
    "STAGE_WIDTHS",
    "LayerSpec",
    "MBConv",
    "MixedLayer",
    "MobileNetArch",
    "MobileNetNetwork",
    "MobileNetSpace",
    "MobileNetSupernet",
    "as_arch",
    "make_divisible",
]
