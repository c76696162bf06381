"""Networks of the loss-value proxies (AE, TL): autoencoder, TL head, backbones.

* :class:`ConvAutoencoder` — the AE of Moser et al. (2022): four stride-2
  convolutions ``C→16→32→64→64`` with ReLU, a mirrored transposed-convolution
  decoder and a sigmoid output.
* :class:`TransferHead` — the TL head ``d→256`` (BatchNorm, ReLU, dropout 0.5)
  ``→K``.
* :class:`ScratchBackbone` — a small CNN trained from scratch, the offline
  stand-in for a pretrained backbone (``backbone="scratch"``).
* :class:`Preprocess` — resize / channel repeat / normalisation in front of a
  backbone, so that ``model(images in [0, 1])`` is the whole TL network.
* :func:`resnet18_backbone` — torchvision's ResNet-18 without ``fc``, loaded from
  local weights only (never downloads).
* :func:`backbone_config`, :func:`backbone_name` — what a model zoo (timm)
  records about a backbone: its preprocessing and its name.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_int
from ..exceptions import MissingWeightsError

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ConvAutoencoder",
    "MissingWeightsError",
    "Preprocess",
    "ScratchBackbone",
    "TransferHead",
    "backbone_config",
    "backbone_name",
    "resnet18_backbone",
    "resnet18_weights_file",
    "weights_digest",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ConvAutoencoder(nn.Module):
    """Convolutional autoencoder of the AE proxy (Moser et al., 2022, Sec. 3.3).

    Encoder: ``len(widths)`` convolutions, kernel 3, stride 2, padding 1, each
    followed by ReLU (default widths ``16, 32, 64, 64``: the paper code's
    ``3→16→32→64→64`` for RGB). Decoder: the mirror image with transposed
    convolutions (kernel 3, stride 2, padding 1, output padding 1), ReLU between
    them and a sigmoid at the end, so outputs lie in ``(0, 1)`` like the inputs.

    Every stride-2 layer halves the spatial size, so the network maps an
    ``H×W`` image exactly back to ``H×W`` when both are multiples of
    ``2**len(widths)`` (16 by default; CIFAR's 32×32 passes untouched). Other
    sizes (8×8 digits, 28×28 MNIST, ...) are zero-padded on the bottom/right
    to the next multiple and the output is cropped back to ``H×W``: the layers
    stay those of the paper and the loss only ever sees the real pixels.

    Parameters
    ----------
    in_channels : int
        Channels of the images (1 for grey, 3 for RGB, any other count works).
    widths : sequence of int
        Encoder widths; the decoder mirrors them.
    """

    def __init__(self, in_channels: int = 3, widths: Sequence[int] = (16, 32, 64, 64)) -> None:
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels", minimum=1)
        widths = [check_int(w, "widths", minimum=1) for w in widths]
        if not widths:
            raise ValueError("widths must name at least one layer, got an empty sequence")
        chans = [self.in_channels, *widths]
        enc: list[nn.Module] = []
        for c_in, c_out in itertools.pairwise(chans):
            enc += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
        dec: list[nn.Module] = []
        back = chans[::-1]
        for i, (c_in, c_out) in enumerate(itertools.pairwise(back)):
            dec.append(nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1))
            dec.append(nn.ReLU(inplace=True) if i < len(back) - 2 else nn.Sigmoid())
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)
        self.multiple = 2 ** len(widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct ``x`` (``(b, C, H, W)``); the output has the shape of ``x``."""
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % self.multiple, -w % self.multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        out = self.decoder(self.encoder(x))
        return out[..., :h, :w]


class TransferHead(nn.Module):
    """TL head: ``Linear(d, hidden) → BatchNorm1d → ReLU → Dropout(p) → Linear(hidden, K)``.

    The paper code's head on ResNet-18 features is ``512→256→K``; ``d`` is the
    backbone's feature width, found by a dummy forward.
    """

    def __init__(self, in_features: int, num_classes: int, hidden: int = 256, dropout: float = 0.5) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)


class ScratchBackbone(nn.Module):
    """Small CNN trained from scratch with the TL head (``backbone="scratch"``).

    Three ``conv3×3 → BatchNorm → ReLU`` blocks (32, 64, 128 channels), the first
    two followed by 2×2 max pooling, then global average pooling: any image size
    ≥ 1×1 maps to a 128-d feature vector.
    """

    out_features = 128

    def __init__(self, in_channels: int) -> None:
        super().__init__()

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]

        self.features = nn.Sequential(
            *block(in_channels, 32),
            nn.MaxPool2d(2, ceil_mode=True),
            *block(32, 64),
            nn.MaxPool2d(2, ceil_mode=True),
            *block(64, self.out_features),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class Preprocess(nn.Module):
    """Image preprocessing in front of a TL backbone, as a module.

    ``x`` (``(b, C, H, W)`` in ``[0, 1]``) → repeat a single channel to
    ``repeat_to`` channels (grey images on an RGB backbone) → bilinear resize to
    ``size`` → ``(x - mean) / std`` per channel. Each step is skipped when its
    parameter is None.
    """

    def __init__(
        self,
        size: tuple[int, int] | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        repeat_to: int | None = None,
    ) -> None:
        super().__init__()
        self.size = size
        self.repeat_to = repeat_to
        self.normalize = mean is not None
        if mean is not None and std is not None:
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.repeat_to is not None and x.shape[1] == 1:
            x = x.expand(-1, self.repeat_to, -1, -1)
        if self.size is not None and tuple(x.shape[-2:]) != tuple(self.size):
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        if self.normalize:
            x = (x - self.mean) / self.std
        return x

    def extra_repr(self) -> str:
        return f"size={self.size}, repeat_to={self.repeat_to}, normalize={self.normalize}"


def resnet18_weights_file() -> str:
    """Where torch.hub would cache torchvision's ImageNet ResNet-18 weights.

    ``<torch.hub.get_dir()>/checkpoints/<file name of ResNet18_Weights.IMAGENET1K_V1.url>``;
    computed without touching the network.
    """
    from torchvision.models import ResNet18_Weights

    name = os.path.basename(ResNet18_Weights.IMAGENET1K_V1.url)
    return os.path.join(torch.hub.get_dir(), "checkpoints", name)


def resnet18_backbone(weights_path: str | os.PathLike[str] | None = None) -> nn.Module:
    """torchvision's ImageNet ResNet-18 with ``fc`` replaced by identity (512-d output).

    Weights come from ``weights_path`` (a ``state_dict`` file) or, when None,
    from torch.hub's checkpoint cache (:func:`resnet18_weights_file`). Nothing
    is ever downloaded, and random weights are never used silently.

    Raises
    ------
    ImportError
        torchvision is not installed (the ``vision`` extra).
    MissingWeightsError
        No local weights (a ``FileNotFoundError`` and ``ValueError``): the
        message says how to provide them, or which other backbone to use.
    ValueError
        The file is not a ResNet-18 state_dict.
    """
    try:
        import torchvision
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "backbone='resnet18' needs torchvision: pip install 'proxydata[vision]', "
            "or pass backbone='scratch' or your own nn.Module"
        ) from exc
    if weights_path is None:
        path = resnet18_weights_file()
        if not os.path.isfile(path):
            raise MissingWeightsError(
                "backbone='resnet18' needs torchvision's ImageNet ResNet-18 weights, which are not "
                f"available locally (looked for {path!r}; proxydata never downloads them). Either copy "
                "the file there (torchvision.models.resnet18(weights='IMAGENET1K_V1') on a machine with "
                "network access caches it), pass weights_path='/path/to/resnet18_state_dict.pth', pass "
                "backbone=<your pretrained nn.Module>, or use backbone='scratch' to train a small CNN "
                "from scratch instead."
            )
    else:
        path = os.fspath(weights_path)
        if not os.path.isfile(path):
            raise MissingWeightsError(f"weights_path does not name a file: {path!r}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"weights_path must hold a ResNet-18 state_dict, got a {type(state).__name__}")
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    net = torchvision.models.resnet18(weights=None)
    net.fc = nn.Identity()
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{path!r} is not a torchvision ResNet-18 state_dict: {exc}") from exc
    return net


def _zoo_config(module: nn.Module) -> dict:
    for attr in ("pretrained_cfg", "default_cfg"):
        cfg = getattr(module, attr, None)
        if isinstance(cfg, dict) and cfg:
            return cfg
    return {}


def backbone_config(module: nn.Module) -> dict:
    """Preprocessing a model zoo recorded for ``module`` (timm's ``pretrained_cfg``).

    Returns the keys found among ``mean``, ``std`` (tuples of floats) and
    ``input_size`` (``(height, width)``, from timm's ``(C, H, W)``); empty for a
    module without such a record.
    """
    cfg = _zoo_config(module)
    out: dict = {}
    if cfg.get("mean") is not None and cfg.get("std") is not None:
        out["mean"] = tuple(float(v) for v in cfg["mean"])
        out["std"] = tuple(float(v) for v in cfg["std"])
    size = cfg.get("input_size")
    if isinstance(size, (tuple, list)) and len(size) >= 2:
        out["input_size"] = (int(size[-2]), int(size[-1]))
    return out


def backbone_name(module: nn.Module) -> str:
    """``module``'s architecture: timm's ``pretrained_cfg`` architecture, else its class name.

    The pretrained tag (``resnet10t.c3_in1k``) is left out: timm attaches the
    default tag's config to every model, ``pretrained=False`` included, and does
    not record whether those weights were loaded. What was loaded is identified
    by :func:`weights_digest`.
    """
    cfg = _zoo_config(module)
    name = cfg.get("architecture") or cfg.get("name")
    if isinstance(name, str) and name:
        return name
    return type(module).__name__


def weights_digest(module: nn.Module) -> str:
    """First 16 hex digits of sha256 over ``module``'s ``state_dict``: the weights actually in it.

    Every entry in key order is hashed as its name, dtype, shape and raw bytes,
    so two modules share a digest exactly when they hold the same weights
    (pretrained ones, or a random initialisation).
    """
    h = hashlib.sha256()
    for key, value in sorted(module.state_dict().items()):
        if not isinstance(value, torch.Tensor):
            continue
        t = value.detach().to("cpu").contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]
