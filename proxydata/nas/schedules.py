"""Per-epoch schedules of the search and training loops (one definition each)."""

from __future__ import annotations

import math

__all__ = ["beta_decay_weight", "cosine_lr", "gdas_tau", "skip_dropout_rate"]


def cosine_lr(epoch: int, epochs: int, lr: float, lr_min: float) -> float:
    """Cosine-annealed learning rate of epoch ``epoch`` (counting from 0).

    ``lr_min + (lr - lr_min) · (1 + cos(pi · epoch / epochs)) / 2`` — the
    per-epoch ``CosineAnnealingLR`` of DARTS and NAS-Bench-201.
    """
    return lr_min + (lr - lr_min) * (1.0 + math.cos(math.pi * epoch / epochs)) / 2.0


def gdas_tau(epoch: int, epochs: int, tau_max: float, tau_min: float) -> float:
    """Linear GDAS temperature ``tau_max - (tau_max - tau_min) · epoch / (epochs - 1)``.

    A single-epoch search uses ``tau_max``.
    """
    if epochs <= 1:
        return float(tau_max)
    return float(tau_max - (tau_max - tau_min) * epoch / (epochs - 1))


def beta_decay_weight(epoch: int, epochs: int, lambda_max: float) -> float:
    """Weight ``lambda_e`` of β-DARTS's beta-decay loss in epoch ``epoch``.

    ``lambda_e = lambda_max · epoch / epochs``: a linear ramp from 0 (Ye et al.,
    CVPR 2022, Sec. 3.3 use a linearly increasing weight; their NAS-Bench-201
    code uses ``50 · epoch / 100``, which reaches 24.5 at the end of a 50-epoch
    search). Scaling by the search length keeps the ramp's end point for
    shorter searches; ``lambda_max=25`` reproduces that end point.
    """
    return float(lambda_max) * epoch / epochs


def skip_dropout_rate(epoch: int, epochs: int, rate: float, warmup: int, decay: float = 0.2) -> float:
    """P-DARTS's dropout rate after ``skip_connect`` in ``epoch``: linear during warm-up, then exponential.

    ``rate · (E - e - 1) / E`` for ``e < warmup``, else ``rate · exp(-decay · (e - warmup))``.
    """
    if epoch < warmup:
        return rate * (epochs - epoch - 1) / epochs
    return rate * math.exp(-(epoch - warmup) * decay)
