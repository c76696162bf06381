"""TL: the transfer-learning proxy (Moser et al., 2022, Sec. 3.3).

``ℓ_i`` is the cross-entropy ``-log softmax(h(g(x_i)))_{y_i}`` of a new head
``h`` trained on the features of a frozen pretrained backbone ``g``; the
training and scoring loops are those of :mod:`proxydata.samplers.loss_training`,
the networks those of :mod:`proxydata.samplers._loss_models`.
"""

from __future__ import annotations

import copy
import numbers
import os
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_bool, check_choice, check_float, check_int, show
from ..exceptions import ProxydataTypeError, ProxydataValueError
from ._loss_models import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Preprocess,
    ScratchBackbone,
    TransferHead,
    backbone_config,
    backbone_name,
    resnet18_backbone,
    weights_digest,
)
from .base import shared_args
from .loss_training import TrainedLossProxy, rng_devices
from .saved import SavedObject

__all__ = ["TransferProxy"]


def _as_size(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        side = check_int(value, "input_size", minimum=1)
        return side, side
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return check_int(value[0], "input_size", minimum=1), check_int(value[1], "input_size", minimum=1)
    raise ProxydataTypeError(f"input_size must be None, an int or a (height, width) pair, got {value!r}")


def _as_stats(value: Any, name: str, positive: bool) -> tuple[float, ...] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray, torch.Tensor)):
        raise ProxydataTypeError(
            f"{name} must be a sequence of floats (one per channel) or None, got {value!r}"
        )
    vals = tuple(float(check_float(v, name)) for v in np.asarray(value, dtype=object).ravel().tolist())
    if not vals:
        raise ProxydataValueError(f"{name} must hold one value per channel, got an empty sequence")
    if positive and min(vals) <= 0:
        raise ProxydataValueError(f"{name} must be > 0 for every channel, got {value!r}")
    return vals


def _check_backbone(backbone: Any, weights_path: Any, loading: bool) -> None:
    if isinstance(backbone, str):
        check_choice(backbone, "backbone", ("resnet18", "scratch"))
    elif not (isinstance(backbone, nn.Module) or (loading and isinstance(backbone, SavedObject))):
        raise ProxydataTypeError(
            f"backbone must be 'resnet18', 'scratch' or an nn.Module, got {show(backbone)}"
        )
    if weights_path is not None:
        if not isinstance(weights_path, (str, os.PathLike)):
            raise ProxydataTypeError(f"weights_path must be a file path or None, got {show(weights_path)}")
        if isinstance(backbone, str) and backbone == "resnet18":
            return
        if isinstance(backbone, nn.Module):
            raise ProxydataValueError(
                f"weights_path applies only to backbone='resnet18', got it with a {type(backbone).__name__} "
                "module: load the weights into the module first (module.load_state_dict(torch.load(path))) "
                "and leave weights_path=None"
            )
        raise ProxydataValueError(
            f"weights_path applies only to backbone='resnet18', got backbone={show(backbone)}"
        )


def _warn_if_logits(backbone: Any, width: int) -> None:
    """Warn when a module backbone's output width equals its own ``num_classes`` (a head attached)."""
    classes = getattr(backbone, "num_classes", None)
    if isinstance(backbone, nn.Module) and isinstance(classes, int) and 0 < classes == width:
        warnings.warn(
            f"backbone {backbone_name(backbone)!r} outputs {width} values = its num_classes: these look "
            "like classifier logits, not features; remove the head (timm: create_model(..., num_classes=0) "
            "or model.reset_classifier(0))",
            RuntimeWarning,
            stacklevel=4,
        )


class TransferProxy(TrainedLossProxy):
    """TL: keep the samples a transferred classifier finds easiest.

    A new head ``h`` (default ``d→256``, BatchNorm, ReLU, dropout 0.5 ``→K``)
    is trained on top of a frozen backbone ``g`` with SGD (lr 1e-3, momentum
    0.9, weight decay 3e-4, mini-batches reshuffled each epoch). After
    ``epochs`` epochs every sample is scored in eval mode by its
    cross-entropy ``ℓ_i = -log softmax(h(g(x_i)))_{y_i}``, and the
    ``round(r·n)`` lowest (``keep="easy"``) or highest (``keep="hard"``) are
    kept. Moser et al. (2022), Sec. 3.3.

    **Feature caching.** The backbone is frozen (eval mode, no gradients), so
    ``g(x_i)`` never changes: it is computed once for the whole dataset and
    cached in memory (float32, ``n × d``, on ``device``), and every epoch trains
    only the head on the cached features. Head training then costs a few
    matrix products per batch instead of a backbone forward pass
    (``cache_features=False`` recomputes the backbone every epoch, with the same
    result up to float rounding; ``benchmarks/loss_samplers.py`` measures both).

    **Epochs.** The paper's code trains 75 epochs and takes the scores after
    epoch 50; later epochs cannot influence the scores, so ``epochs`` (default
    50) is the number trained and scored after. ``score_epoch`` is a deprecated
    alias of it (``epochs=75, score_epoch=50`` trains 50 epochs, with a
    ``DeprecationWarning``).

    **timm and other model zoos.** A backbone module carrying a timm
    ``pretrained_cfg`` (or ``default_cfg``) supplies ``mean``, ``std`` and
    ``input_size`` when they are not given; a backbone whose output width
    equals its own ``num_classes`` (a classifier head still attached) draws a
    ``RuntimeWarning``. The backbone's architecture (timm's name without a
    pretrained tag: timm attaches the default tag's config even to
    ``pretrained=False`` models), its parameter count and a digest of the weights
    it holds (``backbone_weights``, :func:`weights_digest`:
    what was actually loaded) are recorded in ``resolved`` and saved.

    Parameters
    ----------
    dataset : map-style dataset of images
        Items ``(x, y, ...)``, ``x`` a ``(C, H, W)`` (or ``(H, W)``) image in
        ``[0, 1]``; labels as :func:`~proxydata.data.get_targets` finds them.
    ratio : float in (0, 1]
        ``r``; the proxy keeps ``round(r·n)`` samples.
    keep : {"easy", "hard"}
        Keep the lowest (``"easy"``) or the highest (``"hard"``) losses.
    backbone : "resnet18", "scratch" or nn.Module
        ``"resnet18"`` (default, the paper's): torchvision's ImageNet ResNet-18
        without ``fc`` (needs the ``vision`` extra), loaded from
        ``weights_path`` or torch.hub's local cache; nothing is downloaded and
        missing weights raise :class:`MissingWeightsError` (never random
        weights). Grey images are repeated to 3 channels for it.
        ``"scratch"``: a small CNN (:class:`~proxydata.samplers._loss_models.ScratchBackbone`)
        trained from scratch jointly with the head — nothing frozen, nothing
        cached; the offline choice. An ``nn.Module``: any network mapping
        ``(b, C, H, W)`` images to ``(b, d)`` feature vectors, used frozen (a
        deep copy; the module passed is left untouched). ``d`` is found by a
        dummy forward.
    weights_path : str, optional
        A local ResNet-18 ``state_dict`` file (``fc`` weights are ignored); only
        with ``backbone="resnet18"``.
    epochs : int
        Epochs trained before scoring (the paper scores after epoch 50).
    score_epoch : int, optional
        Deprecated: trains ``score_epoch`` epochs instead of ``epochs``.
    batch_size : int >= 2
        Training batch size (a trailing batch of one sample joins the previous
        batch, since BatchNorm cannot train on one sample).
    lr, momentum, weight_decay : float
        SGD parameters.
    hidden : int
        Width of the head's hidden layer (256).
    dropout : float in [0, 1)
        Dropout probability of the head (0.5).
    input_size : int or (int, int), optional
        Resize images (bilinear) to this size before the backbone, for
        backbones that need larger inputs (e.g. 224 for ImageNet models, at
        ~49× the compute of 32×32). Default: a timm backbone's
        ``pretrained_cfg["input_size"]``, else no resizing.
    mean, std : sequence of float, optional
        Per-channel normalisation ``(x - mean) / std`` before the backbone.
        Default: ImageNet statistics for ``"resnet18"``, the backbone's
        ``pretrained_cfg`` for a timm model, none otherwise.
    cache_features : bool
        Cache the frozen backbone's features (ignored for ``"scratch"``).
    eval_batch_size : int
        Batch size of feature extraction and scoring.
    device : str or torch.device, optional
        Where to train and score; None is the CPU.
    seed, shuffle, num_replicas, rank, drop_last, progress, targets, indices
        See :class:`~proxydata.samplers.base.ProxySampler`; with ``indices=``
        (a split) the network is trained and scored on the split only.
        ``seed`` seeds initialisation and dropout (under
        :func:`torch.random.fork_rng`) and the batch order (a local generator).

    Attributes
    ----------
    indices, scores : np.ndarray
        Sorted kept indices; ``ℓ_i`` for every sample.
    trained_model : nn.Sequential
        ``Preprocess → backbone → head`` in eval mode: ``trained_model(images)``
        gives the logits the scores were computed from (``model`` is a
        deprecated alias).
    head : nn.Module
        The trained head.
    resolved : dict
        ``device``, ``backbone`` (name), ``backbone_parameters``,
        ``backbone_weights`` (digest of the frozen weights; None for
        ``"scratch"``), ``epochs`` trained, and the ``mean``/``std``/``input_size`` used.
    history : list of float
        Mean training cross-entropy of each trained epoch.
    epoch_seconds : list of float
        Wall time of each trained epoch.
    feature_seconds, score_seconds : float
        Wall time of the feature cache (0 when not cached) and of scoring.

    Examples
    --------
    >>> from proxydata.datasets import load_digits
    >>> proxy = TransferProxy(load_digits(), ratio=0.25, backbone="scratch",
    ...                       epochs=1, progress=False)
    >>> len(proxy.indices)
    449
    """

    method = "tl"

    def __init__(
        self,
        dataset: Any,
        ratio: float,
        *,
        keep: str = "easy",
        backbone: str | nn.Module = "resnet18",
        weights_path: str | os.PathLike[str] | None = None,
        epochs: int = 50,
        score_epoch: int | None = None,
        batch_size: int = 64,
        lr: float = 1e-3,
        momentum: float = 0.9,
        weight_decay: float = 3e-4,
        hidden: int = 256,
        dropout: float = 0.5,
        input_size: int | tuple[int, int] | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        cache_features: bool = True,
        eval_batch_size: int = 256,
        device: str | torch.device | None = None,
        seed: int = 0,
        shuffle: bool = True,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
        progress: bool = True,
        targets: Any = None,
        indices: Any = None,
    ) -> None:
        self.keep, self.backbone, self.weights_path = keep, backbone, weights_path
        self.epochs, self.score_epoch, self.batch_size, self.lr = epochs, score_epoch, batch_size, lr
        self.momentum, self.weight_decay, self.hidden, self.dropout = momentum, weight_decay, hidden, dropout
        self.input_size, self.mean, self.std = input_size, mean, std
        self.cache_features, self.eval_batch_size, self.device = cache_features, eval_batch_size, device
        if score_epoch is not None:
            warnings.warn(
                "TransferProxy(score_epoch=...) is deprecated: epochs after the scoring epoch never "
                f"changed the scores; pass epochs={score_epoch!r} (trains and scores after that many)",
                DeprecationWarning,
                stacklevel=2,
            )
        self._forget_fitted()
        super().__init__(dataset, ratio, **shared_args(locals()))

    @classmethod
    def check_params(cls, params: dict[str, Any], *, loading: bool = False) -> None:
        super().check_params(params, loading=loading)
        if params["score_epoch"] is not None:
            check_int(params["score_epoch"], "score_epoch", minimum=1)
        if check_int(params["batch_size"], "batch_size", minimum=1) < 2:
            raise ProxydataValueError(
                f"batch_size must be >= 2 (the head has BatchNorm), got {params['batch_size']}"
            )
        check_float(params["momentum"], "momentum", minimum=0.0)
        check_float(params["weight_decay"], "weight_decay", minimum=0.0)
        check_int(params["hidden"], "hidden", minimum=1)
        if check_float(params["dropout"], "dropout", minimum=0.0) >= 1.0:
            raise ProxydataValueError(f"dropout must be in [0, 1), got {params['dropout']!r}")
        _check_backbone(params["backbone"], params["weights_path"], loading)
        _as_size(params["input_size"])
        mean, std = _as_stats(params["mean"], "mean", False), _as_stats(params["std"], "std", True)
        if (mean is None) != (std is None):
            raise ProxydataValueError(
                f"mean and std must be given together, got mean={params['mean']!r}, std={params['std']!r}"
            )
        if mean is not None and std is not None and len(mean) != len(std):
            raise ProxydataValueError(
                f"mean and std must have the same length, got {len(mean)} and {len(std)}"
            )
        check_bool(params["cache_features"], "cache_features")

    def _forget_fitted(self) -> None:
        super()._forget_fitted()
        self.head: nn.Module | None = None
        self.feature_seconds: float | None = None

    @property
    def model(self) -> nn.Module | None:
        """Deprecated alias of ``trained_model``."""
        warnings.warn(
            "TransferProxy.model is deprecated; use trained_model", DeprecationWarning, stacklevel=2
        )
        return self.trained_model

    def epochs_trained(self) -> int:
        """Epochs trained before scoring: ``score_epoch`` if given (deprecated), else ``epochs``."""
        return int(self.epochs if self.score_epoch is None else self.score_epoch)

    # -- building blocks ----------------------------------------------------------
    def _build_backbone(self, channels: int) -> tuple[nn.Module, Preprocess]:
        """The backbone to use and the preprocessing in front of it."""
        repeat_to = None
        config: dict[str, Any] = {}
        if self.backbone == "resnet18":
            if channels not in (1, 3):
                raise ProxydataValueError(
                    f"backbone='resnet18' needs 1- or 3-channel images, got {channels} channels"
                )
            net = resnet18_backbone(self.weights_path)
            repeat_to = 3
            config = {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}
        elif self.backbone == "scratch":
            net = ScratchBackbone(channels)
        else:
            assert isinstance(self.backbone, nn.Module)
            config = backbone_config(self.backbone)
            net = copy.deepcopy(self.backbone)
        mean = _as_stats(self.mean, "mean", False) or config.get("mean")
        std = _as_stats(self.std, "std", True) or config.get("std")
        size = _as_size(self.input_size) or config.get("input_size")
        width = repeat_to or channels
        if mean is not None and len(mean) not in (1, width):
            raise ProxydataValueError(
                f"mean/std must have 1 or {width} values (one per channel), got {len(mean)}"
            )
        self.resolved.update(
            backbone=self.backbone if isinstance(self.backbone, str) else backbone_name(self.backbone),
            backbone_parameters=sum(p.numel() for p in net.parameters()),
            # what was loaded (not trained here): None for "scratch", trained from scratch with the head
            backbone_weights=None if self.backbone == "scratch" else weights_digest(net),
            mean=None if mean is None else list(mean),
            std=None if std is None else list(std),
            input_size=None if size is None else list(size),
        )
        return net, Preprocess(size, mean, std, repeat_to)

    @staticmethod
    def _feature_width(backbone: nn.Module, x: torch.Tensor) -> int:
        mode = backbone.training
        backbone.eval()
        try:
            with torch.no_grad():
                out = backbone(x)
        except RuntimeError as exc:
            raise ValueError(
                f"backbone cannot process the dataset's images (preprocessed shape {tuple(x.shape)}): {exc}"
            ) from exc
        backbone.train(mode)
        if not isinstance(out, torch.Tensor) or out.ndim != 2:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                "backbone must map images (b, C, H, W) to 2-D features (b, d), got output "
                f"{got}; end it with e.g. nn.Flatten() or global pooling"
            )
        return int(out.shape[1])

    def _cache(self, features: Callable[[np.ndarray], torch.Tensor], width: int) -> torch.Tensor:
        """Backbone features of every sample, computed once (float32, on ``device``)."""
        start = time.perf_counter()
        cached = torch.empty(self.pool_size, width, dtype=torch.float32, device=self.run_device())
        with torch.no_grad():
            for idx in self._bar(
                np.arange(self.pool_size, dtype=np.int64), self.eval_batch_size, "TL features"
            ):
                cached[torch.from_numpy(idx).to(self.run_device())] = features(idx).float()
                self.spend_samples(idx.size)
        self.feature_seconds = time.perf_counter() - start
        return cached

    # -- selection -------------------------------------------------------------------
    def _select(self) -> tuple[np.ndarray, np.ndarray]:
        if self.pool_size < 2:
            raise ProxydataValueError(
                f"TransferProxy needs at least 2 samples (BatchNorm head), got {self.pool_size}"
            )
        source = self._image_source()
        dev = self.run_device()
        labels = torch.from_numpy(self.pool_targets()).to(dev)
        frozen = self.backbone != "scratch"
        self.feature_seconds = 0.0
        self.resolved.update(device=str(dev), epochs=self.epochs_trained())
        with torch.random.fork_rng(devices=rng_devices(dev)):
            torch.manual_seed(self.seed)  # initialisation and dropout
            backbone, pre = self._build_backbone(source.shape[0])
            backbone, pre = backbone.to(dev), pre.to(dev)
            width = self._feature_width(backbone, pre(source.get(np.arange(2)).to(dev)))
            _warn_if_logits(self.backbone, width)
            head = TransferHead(width, self.num_classes, self.hidden, self.dropout).to(dev)
            if frozen:
                backbone.eval().requires_grad_(False)
                params = list(head.parameters())
            else:
                params = list(backbone.parameters()) + list(head.parameters())

            def features(idx: np.ndarray) -> torch.Tensor:
                return backbone(pre(source.get(idx).to(dev)))

            cached = self._cache(features, width) if frozen and self.cache_features else None

            def per_sample(idx: np.ndarray) -> torch.Tensor:
                if cached is not None:
                    feats = cached[torch.from_numpy(idx).to(dev)]
                elif frozen:
                    with torch.no_grad():
                        feats = features(idx)
                else:
                    feats = features(idx)
                y = labels[torch.from_numpy(idx).to(dev)]
                return F.cross_entropy(head(feats), y, reduction="none")

            def train_mode() -> None:
                head.train()
                if not frozen:
                    backbone.train()

            optimizer = torch.optim.SGD(
                params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay
            )
            history = self._fit(
                self.epochs_trained(), optimizer, lambda idx: per_sample(idx).mean(), train_mode, "TL"
            )
            head.eval()
            backbone.eval()
            scores = self._score_all(per_sample, "TL scoring")
        self.head = head
        self.trained_model = nn.Sequential(pre, backbone, head).eval()
        self.history = history
        return self._keep(scores), scores
