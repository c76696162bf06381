"""What the classifier-based baselines share: the network, its seeded runs, training and logits.

The entropy proxy (Na et al., 2021), forgetting events (Toneva et al., 2019),
GraNd and EL2N (Paul et al., 2021) all score every candidate through a
classifier ``f`` over the images: a network the user passes (``model=``) or the
default :func:`default_classifier` (the small CNN of ``backbone="scratch"``,
:class:`~proxydata.samplers._loss_models.ScratchBackbone`, with a linear layer
``128 → K``). The parts written once here:

* **Runs.** Run ``k`` (``k = 0, 1, ...``) builds its network under
  :func:`torch.random.fork_rng` seeded ``(seed + k) mod 2**64``: the default
  network is constructed there; a user's module is deep-copied and every
  submodule that has ``reset_parameters`` is re-initialised, in module order
  (the module passed is left untouched). The global RNG state is unchanged.
* **Training.** SGD (``lr``, momentum, weight decay) on the cross-entropy, in
  mini-batches of ``batch_size`` whose order each epoch is a permutation drawn
  from a local ``torch.Generator`` seeded like the run. A callback sees every
  training batch's positions and logits (forgetting events count on them).
* **Logits.** The network in eval mode, in batches of ``eval_batch_size``.

Every pass a sample makes through the network (forward, or forward and
backward) is counted in the proxy's ``selection_cost["samples"]``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_choice, check_device, check_float, check_int, show
from ..batches import ImageBatches, batch_slices
from ..exceptions import ProxydataTypeError, ProxydataValueError
from ._loss_models import ScratchBackbone
from .base import ProxySampler
from .loss_training import KEEP_CHOICES, rng_devices
from .saved import SavedObject

__all__ = ["ClassifierProxy", "default_classifier", "keep_ranked", "reinitialised", "run_seed"]


def default_classifier(in_channels: int, num_classes: int) -> nn.Sequential:
    """The default network: :class:`~proxydata.samplers._loss_models.ScratchBackbone`, ``Linear(128, K)``."""
    backbone = ScratchBackbone(in_channels)
    return nn.Sequential(backbone, nn.Linear(backbone.out_features, num_classes))


def run_seed(seed: int, run: int) -> int:
    """The seed of run ``run``: ``(seed + run) mod 2**64``."""
    return (int(seed) + int(run)) % 2**64


def reinitialised(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with every submodule's ``reset_parameters()`` called, in module order.

    Uses the global torch RNG (callers seed it under :func:`torch.random.fork_rng`).
    """
    net = copy.deepcopy(model)
    for module in net.modules():
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()
    return net


def keep_ranked(scores: np.ndarray, m: int, keep: str, seed: int) -> np.ndarray:
    """Positions of the ``m`` highest (``keep="hard"``) or lowest (``"easy"``) scores.

    Ties are broken by a seeded random order (``np.random.default_rng(seed)``)
    rather than by position, since counts such as forgetting events tie for
    most samples and a dataset stored class by class would otherwise lose
    whole classes to the order of its files.
    """
    values = np.asarray(scores, dtype=np.float64)
    tiebreak = np.random.default_rng(seed).permutation(values.shape[0])
    key = -values if keep == "hard" else values
    order = np.lexsort((tiebreak, key))
    return np.sort(order[:m])


class ClassifierProxy(ProxySampler):
    """Shared parts of the classifier-based baselines (entropy, forgetting, GraNd, EL2N).

    Subclasses store ``model``, ``batch_size``, ``lr``, ``momentum``,
    ``weight_decay``, ``eval_batch_size`` and ``device`` (and whatever else
    they take) before calling ``super().__init__``.
    """

    #: Whether ``epochs=0`` is allowed (a proxy that can score without training).
    may_skip_training: bool = False

    @classmethod
    def check_params(cls, params: dict[str, Any], *, loading: bool = False) -> None:
        super().check_params(params, loading=loading)
        model = params["model"]
        saved = loading and isinstance(model, SavedObject)
        if not (model is None or isinstance(model, nn.Module) or saved):
            raise ProxydataTypeError(f"model must be an nn.Module classifier or None, got {show(model)}")
        for name in ("batch_size", "eval_batch_size", "n_seeds"):
            if name in params:
                check_int(params[name], name, minimum=1)
        if "epochs" in params:
            check_int(params["epochs"], "epochs", minimum=0 if cls.may_skip_training else 1)
        if "lr" in params:
            check_float(params["lr"], "lr", strictly_positive=True)
        for name in ("momentum", "weight_decay"):
            if name in params:
                check_float(params[name], name, minimum=0.0)
        if "keep" in params:
            check_choice(params["keep"], "keep", KEEP_CHOICES)
        if params["device"] is not None:  # a proxy loaded from a file runs nothing there
            check_device(params["device"], available=not loading)

    def run_device(self) -> torch.device:
        """Where the networks run: ``device``, or the CPU when None."""
        return torch.device("cpu") if self.device is None else check_device(self.device)

    def _image_source(self) -> ImageBatches:
        """The candidates' images by position; items read one by one must not change between reads."""
        data = self.pool_dataset()
        source = ImageBatches(data, type(self).__name__)
        if source.source is None:
            self._refuse_changing_items(
                data,
                "pass the dataset without its random transforms (the same data with a deterministic "
                f"transform, or none): {type(self).__name__} scores the items as read",
            )
        return source

    def _network(self, source: ImageBatches, run: int) -> nn.Module:
        """The network of run ``run``: built or re-initialised under that run's seed, on the device."""
        dev = self.run_device()
        with torch.random.fork_rng(devices=rng_devices(dev)):
            torch.manual_seed(run_seed(self.seed, run))
            if self.model is None:
                net = default_classifier(source.shape[0], self.num_classes)
            else:
                net = reinitialised(self.model)
        self.resolved.setdefault("model", type(net).__name__ if self.model is not None else "scratch-cnn")
        self.resolved.setdefault("model_parameters", sum(p.numel() for p in net.parameters()))
        self.resolved.setdefault("device", str(dev))
        return net.to(dev)

    def _logits(self, net: nn.Module, source: ImageBatches, idx: np.ndarray) -> torch.Tensor:
        """``net``'s logits for candidate positions ``idx``, checked to be ``(b, K)``."""
        out = net(source.get(idx).to(self.run_device()))
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[1] < self.num_classes:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ProxydataValueError(
                f"model must map images to logits of shape (b, K) with K >= {self.num_classes} "
                f"(the largest label + 1), got {got}"
            )
        return out

    def _train(
        self,
        net: nn.Module,
        source: ImageBatches,
        epochs: int,
        run: int,
        on_batch: Callable[[int, np.ndarray, torch.Tensor], None] | None = None,
    ) -> list[float]:
        """Train ``net`` for ``epochs`` epochs (SGD, cross-entropy); return the epoch mean losses.

        ``on_batch(epoch, positions, logits)`` sees every training batch's
        logits (detached) in the order they were computed.
        """
        dev = self.run_device()
        labels = torch.from_numpy(self.pool_targets()).to(dev)
        gen = torch.Generator().manual_seed(run_seed(self.seed, run))
        opt = torch.optim.SGD(
            net.parameters(), lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay
        )
        history = []
        with torch.random.fork_rng(devices=rng_devices(dev)):
            torch.manual_seed(run_seed(self.seed, run))  # dropout, if the model has any
            for epoch in range(epochs):
                net.train()
                order = torch.randperm(self.pool_size, generator=gen).numpy()
                total = 0.0
                for idx in batch_slices(order, self.batch_size):
                    logits = self._logits(net, source, idx)
                    loss = F.cross_entropy(logits, labels[torch.from_numpy(idx).to(dev)])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    if not torch.isfinite(loss):
                        raise ProxydataValueError(
                            f"{type(self).__name__}: training diverged (non-finite loss); try a smaller lr, "
                            f"got lr={self.lr}"
                        )
                    total += loss.item() * idx.size
                    self.spend_samples(idx.size)
                    if on_batch is not None:
                        on_batch(epoch, idx, logits.detach())
                history.append(total / self.pool_size)
        return history

    def _eval_logits(self, net: nn.Module, source: ImageBatches) -> torch.Tensor:
        """Logits of every candidate in eval mode, float64 on the CPU, ``(pool_size, K)``."""
        net.eval()
        parts = []
        with torch.no_grad():
            for idx in batch_slices(np.arange(self.pool_size, dtype=np.int64), self.eval_batch_size):
                parts.append(self._logits(net, source, idx).double().cpu())
                self.spend_samples(idx.size)
        return torch.cat(parts)

    def _ranked(self, scores: np.ndarray) -> np.ndarray:
        """The kept positions by ``keep`` (:func:`keep_ranked`; ties by a seeded random order)."""
        if not np.all(np.isfinite(scores) | np.isposinf(scores)):
            raise ProxydataValueError(f"{type(self).__name__}: scores must not be NaN (training diverged?)")
        return keep_ranked(scores, int(self.quota()[0]), self.keep, self.seed)
