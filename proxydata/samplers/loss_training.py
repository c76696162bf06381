"""What AE and TL share: the keep rule, the device, the seeded training loop and the scoring loop.

Both proxies of :mod:`proxydata.samplers.autoencoder` and
:mod:`proxydata.samplers.transfer` train a network on the candidates, score
every candidate ``i`` by its loss ``ℓ_i`` under the trained network and keep
the ``m = round(r·n)`` samples with the lowest loss (``keep="easy"``, the
paper's choice) or the highest (``keep="hard"``); ties are broken by index
(Moser et al., 2022, Sec. 3.3). The training loop and the scoring loop are
written once, here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .._threads import warn_if_threads_oversubscribe
from .._validation import check_choice, check_device, check_float, check_int
from ..batches import ImageBatches, batch_slices
from ..exceptions import ProxydataValueError
from .base import ProxySampler, highest, lowest

__all__ = ["KEEP_CHOICES", "TrainedLossProxy", "rng_devices"]

KEEP_CHOICES = ("easy", "hard")


def rng_devices(device: torch.device) -> list[int]:
    """CUDA devices whose RNG state :func:`torch.random.fork_rng` must save and restore."""
    if device.type == "cuda" and torch.cuda.is_available():
        return list(range(torch.cuda.device_count()))
    return []


class TrainedLossProxy(ProxySampler):
    """Shared parts of AE and TL: keep rule, device, seeding, scoring helpers.

    Fitted results (None on a proxy loaded from a file): ``trained_model``,
    ``history`` (mean training loss per epoch), ``epoch_seconds``,
    ``score_seconds``.
    """

    @classmethod
    def check_params(cls, params: dict[str, Any], *, loading: bool = False) -> None:
        super().check_params(params, loading=loading)
        check_choice(params["keep"], "keep", KEEP_CHOICES)
        check_int(params["epochs"], "epochs", minimum=1)
        check_int(params["batch_size"], "batch_size", minimum=1)
        check_float(params["lr"], "lr", strictly_positive=True)
        check_int(params["eval_batch_size"], "eval_batch_size", minimum=1)
        if params["device"] is not None:  # a proxy loaded from a file runs nothing there
            check_device(params["device"], available=not loading)

    def _forget_fitted(self) -> None:
        self.trained_model: nn.Module | None = None
        self.history: list[float] | None = None
        self.epoch_seconds: list[float] | None = None
        self.score_seconds: float | None = None

    def run_device(self) -> torch.device:
        """Where training and scoring run: ``device``, or the CPU when None."""
        return torch.device("cpu") if self.device is None else check_device(self.device)

    def _image_source(self) -> ImageBatches:
        """The candidates' images by position; items read one by one must not change between reads."""
        data = self.pool_dataset()
        source = ImageBatches(data, type(self).__name__)
        if source.source is None:  # not read from a stored array: a transform runs on every read
            self._refuse_changing_items(
                data,
                "pass the dataset without its random transforms (the same data with a deterministic "
                "transform, or none; Hugging Face: dataset.with_format(None) or the dataset before "
                f".with_transform): {type(self).__name__} trains and scores on the items as read",
            )
        return source

    def _keep(self, scores: np.ndarray) -> np.ndarray:
        if not np.all(np.isfinite(scores)):
            raise ProxydataValueError(
                f"{type(self).__name__}: training diverged (non-finite losses); "
                f"try a smaller lr, got lr={self.lr}"
            )
        pick = lowest if self.keep == "easy" else highest
        return pick(scores, int(self.quota()[0]))

    def _bar(self, order: np.ndarray, batch_size: int, desc: str) -> Any:
        """Progress bar over the batches of ``order``."""
        batches = list(batch_slices(order, batch_size))
        return tqdm(batches, desc=desc, disable=not self.progress, leave=False)

    def _fit(
        self,
        epochs: int,
        optimizer: torch.optim.Optimizer,
        batch_loss: Callable[[np.ndarray], torch.Tensor],
        train_mode: Callable[[], Any],
        name: str,
    ) -> list[float]:
        """Minimise ``batch_loss(indices)`` for ``epochs`` epochs; return the epoch means.

        The batch order of every epoch is a permutation drawn from a local
        ``torch.Generator`` seeded with ``seed`` (global RNG state untouched).
        """
        warn_if_threads_oversubscribe(f"{name} training", self.run_device())
        gen = torch.Generator().manual_seed(self.seed)
        history = []
        self.epoch_seconds = []
        for epoch in range(epochs):
            start = time.perf_counter()
            train_mode()
            order = torch.randperm(self.pool_size, generator=gen).numpy()
            bar = self._bar(order, self.batch_size, f"{name} epoch {epoch + 1}/{epochs}")
            total, seen = 0.0, 0
            for idx in bar:
                loss = batch_loss(idx)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.item() * idx.size
                seen += idx.size
                self.spend_samples(idx.size)
                bar.set_postfix(loss=f"{total / seen:.4f}")
            history.append(total / seen)
            self.epoch_seconds.append(time.perf_counter() - start)
        return history

    def _score_all(self, per_sample: Callable[[np.ndarray], torch.Tensor], desc: str) -> np.ndarray:
        """``per_sample(positions)`` in eval batches over the candidates ``0..pool_size-1`` (``no_grad``)."""
        start = time.perf_counter()
        out = np.empty(self.pool_size, dtype=np.float64)
        with torch.no_grad():
            for idx in self._bar(np.arange(self.pool_size, dtype=np.int64), self.eval_batch_size, desc):
                out[idx] = per_sample(idx).double().cpu().numpy()
                self.spend_samples(idx.size)
        self.score_seconds = time.perf_counter() - start
        return out
