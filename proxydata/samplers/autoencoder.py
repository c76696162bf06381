"""AE: the autoencoder proxy (Moser et al., 2022, Sec. 3.3).

``ℓ_i`` is the reconstruction loss of a convolutional autoencoder,
``ℓ_i = mean_pixels loss(AE(x_i), x_i)``; the training and scoring loops are
those of :mod:`proxydata.samplers.loss_training`, the network that of
:mod:`proxydata.samplers._loss_models`.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_choice
from ..exceptions import ProxydataTypeError, ProxydataValueError
from ._loss_models import (
    ConvAutoencoder,
)
from .base import shared_args
from .loss_training import TrainedLossProxy, rng_devices
from .saved import SavedObject

__all__ = ["AutoencoderProxy"]


class AutoencoderProxy(TrainedLossProxy):
    """AE: keep the samples a convolutional autoencoder reconstructs best.

    Trains an autoencoder on every sample of ``dataset`` (Adam, ``epochs``
    epochs, mini-batches of ``batch_size`` reshuffled each epoch), then scores
    sample ``i`` by its per-sample training loss

    ``ℓ_i = (1 / (C·H·W)) Σ_pixels loss(AE(x_i), x_i)``

    with ``loss`` the binary cross-entropy (the paper's code) or the squared
    error (the paper's text), output first and input second as in training.
    Keeps the ``round(r·n)`` lowest losses (``keep="easy"``) or the highest
    (``keep="hard"``). Moser et al. (2022), Sec. 3.3.

    Parameters
    ----------
    dataset : map-style dataset of images
        Items ``(x, y, ...)`` with ``x`` a ``(C, H, W)`` (or ``(H, W)``) image
        with values in ``[0, 1]`` (as :class:`~proxydata.datasets.ArrayDataset`
        serves them). An ``ArrayDataset`` is read straight from its array.
    ratio : float in (0, 1]
        ``r``; the proxy keeps ``round(r·n)`` samples.
    keep : {"easy", "hard"}
        Keep the lowest (``"easy"``) or the highest (``"hard"``) losses.
    loss : {"bce", "mse"}
        Per-pixel reconstruction loss.
    model : nn.Module, optional
        An autoencoder mapping ``(b, C, H, W)`` to the same shape (outputs in
        ``[0, 1]`` for ``"bce"``). A deep copy is trained; the module passed is
        left untouched and stays ``proxy.model`` (the trained copy is
        ``proxy.trained_model``). Default: :class:`~proxydata.samplers._loss_models.ConvAutoencoder`
        (four stride-2 convolutions ``C→16→32→64→64``, mirrored transposed
        convolutions, sigmoid), built for the dataset's channel count; image
        sizes that are not multiples of 16 are zero-padded on the bottom/right
        and the output cropped back, so the loss covers exactly the real pixels.
    epochs : int
        Training epochs (paper: 50).
    batch_size : int
        Training batch size (paper: 64).
    lr : float
        Adam learning rate.
    eval_batch_size : int
        Batch size of the scoring pass.
    device : str or torch.device, optional
        Where to train and score (``"cpu"``, ``"cuda"``, ...); None is the CPU.
        Kept as given; the device used is ``resolved["device"]``.
    seed, shuffle, num_replicas, rank, drop_last, progress, targets, indices
        See :class:`~proxydata.samplers.base.ProxySampler`; with ``indices=``
        (a split) the network is trained and scored on the split only.
        ``seed`` seeds the initialisation (under :func:`torch.random.fork_rng`,
        so the global RNG state is left as it was) and the batch order (a local
        ``torch.Generator``): results are identical run to run on CPU.

    Attributes
    ----------
    indices : np.ndarray of int64
        Sorted kept indices.
    scores : np.ndarray of float64
        ``ℓ_i`` for every sample.
    trained_model : nn.Module
        The trained autoencoder, in eval mode.
    resolved : dict
        ``device``, ``model`` (class name) and ``model_parameters`` (count).
    history : list of float
        Mean training loss of each epoch.
    epoch_seconds : list of float
        Wall time of each training epoch.
    score_seconds : float
        Wall time of the scoring pass.

    Examples
    --------
    >>> from proxydata.datasets import load_digits
    >>> proxy = AutoencoderProxy(load_digits(), ratio=0.5, epochs=1, progress=False)
    >>> len(proxy.indices), proxy.scores.shape
    (899, (1797,))
    """

    method = "ae"

    def __init__(
        self,
        dataset: Any,
        ratio: float,
        *,
        keep: str = "easy",
        loss: str = "bce",
        model: nn.Module | None = None,
        epochs: int = 50,
        batch_size: int = 64,
        lr: float = 1e-3,
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
        self.keep = keep
        self.loss = loss
        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.eval_batch_size = eval_batch_size
        self.device = device
        self._forget_fitted()
        super().__init__(dataset, ratio, **shared_args(locals()))

    @classmethod
    def check_params(cls, params: dict[str, Any], *, loading: bool = False) -> None:
        super().check_params(params, loading=loading)
        check_choice(params["loss"], "loss", ("bce", "mse"))
        model = params["model"]
        if not (
            model is None or isinstance(model, nn.Module) or (loading and isinstance(model, SavedObject))
        ):
            raise ProxydataTypeError(
                f"model must be an nn.Module autoencoder or None, got {type(model).__name__}"
            )

    def per_sample_loss(self, output: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """``ℓ = mean over pixels of loss(output, images)``, one value per sample."""
        fn = F.binary_cross_entropy if self.loss == "bce" else F.mse_loss
        return fn(output, images, reduction="none").flatten(1).mean(1)

    def _forward(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.loss == "bce" and (x.min() < 0 or x.max() > 1):
            raise ProxydataValueError(
                "AutoencoderProxy needs images with values in [0, 1] for loss='bce', got values in "
                f"[{x.min().item():.3g}, {x.max().item():.3g}] (scale the dataset, or use loss='mse')"
            )
        out = net(x)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ProxydataValueError(
                f"model must return a reconstruction of the input's shape {tuple(x.shape)}, got {got}"
            )
        if self.loss == "bce" and (out.min() < 0 or out.max() > 1):
            raise ProxydataValueError(
                "model outputs must lie in [0, 1] for loss='bce' (end with a sigmoid), or use loss='mse'"
            )
        return out

    def _select(self) -> tuple[np.ndarray, np.ndarray]:
        source = self._image_source()
        dev = self.run_device()
        with torch.random.fork_rng(devices=rng_devices(dev)):
            torch.manual_seed(self.seed)  # initialisation of the default network
            if self.model is None:
                net = ConvAutoencoder(source.shape[0])
            else:
                net = copy.deepcopy(self.model)
            net = net.to(dev)

            def batch_loss(idx: np.ndarray) -> torch.Tensor:
                x = source.get(idx).to(dev)
                return self.per_sample_loss(self._forward(net, x), x)

            optimizer = torch.optim.Adam(net.parameters(), lr=self.lr)
            history = self._fit(self.epochs, optimizer, lambda idx: batch_loss(idx).mean(), net.train, "AE")
            net.eval()
            scores = self._score_all(batch_loss, "AE scoring")
        self.trained_model = net
        self.history = history
        self.resolved.update(
            device=str(dev),
            model=type(net).__name__,
            model_parameters=sum(p.numel() for p in net.parameters()),
        )
        return self._keep(scores), scores
