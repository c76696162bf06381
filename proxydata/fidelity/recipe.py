"""A short training recipe that converges: a per-step learning-rate schedule and label smoothing.

:func:`~proxydata.nas.train_genotype` anneals the learning rate once per epoch,
which for a proxy of a few epochs is a staircase of three or four steps. A
ranking study trains each cell for only a few hundred SGD steps, so
:class:`TrainRecipe` sets the learning rate at every step instead, by one of two
schedules over the run's ``T`` steps (``t = 0 .. T - 1``):

``"cosine"``
    a linear warm-up over the first ``w = ceil(warmup * T)`` steps, then
    ``lr_t = lr (1 + cos(pi (t - w) / (T - w))) / 2`` (to 0 at the end);
``"onecycle"``
    Smith & Topin's one-cycle policy (``torch.optim.lr_scheduler.OneCycleLR``,
    cosine annealing): from ``lr / 25`` up to ``lr`` over the first
    ``warmup * T`` steps, then down to ``lr / 25e4``.

The loss is cross-entropy with label smoothing ``label_smoothing``
(Szegedy et al., 2016, Sec. 7). The optimiser is NAS-Bench-201's (SGD, Nesterov
momentum 0.9, weight decay 5e-4). A :class:`TrainRecipe` is a ``train_fn`` for
:func:`~proxydata.fidelity.ranking_study`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .._validation import check_choice, check_float, check_fraction, check_int, check_seed
from ..nas.spaces.nb201.network import CellNetwork
from ..nas.spaces.nb201.train import evaluate

__all__ = ["TrainRecipe"]


def _xy(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return batch[0], batch[1]


@dataclass(frozen=True)
class TrainRecipe:
    """Train a NAS-Bench-201 cell with a per-step schedule; a ``train_fn`` for :func:`ranking_study`.

    Attributes
    ----------
    C, N : int
        Channels of the first stage and cells per stage of
        :class:`~proxydata.nas.CellNetwork`.
    num_classes, in_channels : int
    lr : float
        Peak learning rate.
    schedule : {"cosine", "onecycle"}
        See the module's text.
    warmup : float in [0, 1)
        Share of the steps spent warming up.
    label_smoothing : float in [0, 1)
    momentum, weight_decay : float
        SGD's (Nesterov when ``momentum > 0``).
    """

    C: int = 8
    N: int = 1
    num_classes: int = 10
    in_channels: int = 3
    lr: float = 0.1
    schedule: str = "cosine"
    warmup: float = 0.05
    label_smoothing: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 5e-4

    def __post_init__(self) -> None:
        check_int(self.C, "C", minimum=1)
        check_int(self.N, "N", minimum=1)
        check_int(self.num_classes, "num_classes", minimum=2)
        check_int(self.in_channels, "in_channels", minimum=1)
        check_float(self.lr, "lr", strictly_positive=True)
        check_choice(self.schedule, "schedule", ("cosine", "onecycle"))
        check_fraction(self.warmup, "warmup", high_open=True)
        check_fraction(self.label_smoothing, "label_smoothing", high_open=True)
        check_float(self.momentum, "momentum", minimum=0.0)
        check_float(self.weight_decay, "weight_decay", minimum=0.0)

    def to_dict(self) -> dict[str, Any]:
        """The recipe's fields (JSON-able), for a study file's settings."""
        return asdict(self)

    def lr_at(self, step: int, total: int) -> float:
        """The learning rate of step ``step`` (0-based) of ``total`` under the ``"cosine"`` schedule."""
        w = math.ceil(self.warmup * total)
        if step < w:
            return self.lr * (step + 1) / w
        span = max(1, total - w)
        return self.lr * (1.0 + math.cos(math.pi * (step - w) / span)) / 2.0

    def __call__(
        self,
        architecture: str,
        train_loader: Iterable[Any],
        test_loader: Iterable[Any],
        *,
        epochs: int,
        seed: int,
        device: torch.device | str = "cpu",
    ) -> dict[str, Any]:
        """Train ``architecture`` for ``epochs`` passes of ``train_loader``; its record.

        Returns ``test_acc`` (in [0, 1]), ``test_loss``, ``train_samples``,
        ``sgd_steps``, ``seconds`` and ``cpu_seconds``.
        """
        epochs = check_int(epochs, "epochs", minimum=1)
        seed = check_seed(seed)
        dev = torch.device(device)
        steps_per_epoch = len(train_loader)  # type: ignore[arg-type]
        total = epochs * steps_per_epoch
        start, cpu_start = time.perf_counter(), time.process_time()
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(seed)
            net = CellNetwork(
                architecture, C=self.C, N=self.N, num_classes=self.num_classes, in_channels=self.in_channels
            ).to(dev)
            opt = torch.optim.SGD(
                net.parameters(),
                lr=self.lr,
                momentum=self.momentum,
                weight_decay=self.weight_decay,
                nesterov=self.momentum > 0,
            )
            sched = None
            if self.schedule == "onecycle":
                sched = torch.optim.lr_scheduler.OneCycleLR(
                    opt, max_lr=self.lr, total_steps=total, pct_start=max(self.warmup, 1e-3)
                )
            net.train()
            step, samples = 0, 0
            for _ in range(epochs):
                for batch in train_loader:
                    x, y = _xy(batch)
                    x, y = x.to(dev), y.to(dev)
                    if sched is None:
                        for group in opt.param_groups:
                            group["lr"] = self.lr_at(step, total)
                    loss = F.cross_entropy(net(x), y, label_smoothing=self.label_smoothing)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    if sched is not None:
                        sched.step()
                    step += 1
                    samples += int(y.shape[0])
            test = evaluate(net, test_loader, dev)
        return {
            "test_acc": test["acc"],
            "test_loss": test["loss"],
            "train_samples": samples,
            "sgd_steps": step,
            "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu_start,
        }
