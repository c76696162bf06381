"""The search loop's sharpness probe: the top eigenvalue of ``∇²_alpha L_val`` on a fixed batch, every epoch.

:func:`~proxydata.nas.search` takes a ``hessian_batch``; after every epoch
:class:`HessianProbe` measures the dominant eigenvalue of the Hessian of that
batch's cross-entropy with respect to the architecture parameters
(:func:`~proxydata.nas.dominant_hessian_eigenvalue`, power iteration on
Hessian-vector products), warm-started from the previous epoch's eigenvector,
with the weights frozen and the network left exactly as it was.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F

from ..exceptions import ProxydataTypeError, ProxydataValueError
from .regularizers import dominant_hessian_eigenvalue
from .supernet import Supernet

__all__ = ["HessianProbe", "check_hessian_batch"]


def check_hessian_batch(batch: Any, algo: str, mode: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``batch`` as an ``(x, y)`` pair of tensors (or None); ``mode`` (the supernet's) must be DARTS's.

    Raises
    ------
    ProxydataTypeError
        If ``batch`` is not a pair of tensors.
    ProxydataValueError
        If the pair is empty or of unequal length, or the algorithm ``algo`` samples its loss (GDAS).
    """
    if batch is None:
        return None
    if (
        not isinstance(batch, (tuple, list))
        or len(batch) != 2
        or not all(isinstance(t, torch.Tensor) for t in batch)
    ):
        raise ProxydataTypeError(
            f"hessian_batch must be an (x, y) pair of tensors, got {type(batch).__name__}"
        )
    if batch[0].shape[0] != batch[1].shape[0] or batch[0].shape[0] == 0:
        raise ProxydataValueError(
            f"hessian_batch must hold the same number (> 0) of images and labels, "
            f"got {batch[0].shape[0]} and {batch[1].shape[0]}"
        )
    if mode != "darts":
        raise ProxydataValueError(
            f"hessian_batch needs a DARTS algorithm (the GDAS loss is sampled), got algo={algo!r}"
        )
    return batch[0], batch[1]


class HessianProbe:
    """Measures ``λ_max(∇²_alpha CE(network(x), y))`` on one fixed batch, epoch after epoch.

    Parameters
    ----------
    network : Supernet
        With one group of operation logits (``len(network.alphas()) == 1``).
    batch : (x, y) tensors
        Checked by :func:`check_hessian_batch`; moved to ``device`` at each measurement.
    device : torch.device
    iterations : int
        Power-iteration budget of each eigenvalue.
    seed : int
        Seeds the first start vector; later ones start from the last eigenvector.
    """

    def __init__(
        self,
        network: Supernet,
        batch: tuple[torch.Tensor, torch.Tensor],
        device: torch.device,
        iterations: int,
        seed: int,
    ) -> None:
        self.network = network
        self.batch = batch
        self.device = device
        self.iterations = iterations
        self.seed = seed
        self.eigvec: torch.Tensor | None = None  # warm start of the next eigenvalue

    def measure(self) -> tuple[float, float]:
        """``(eigenvalue, CPU seconds of this process it took)``; the network is left exactly as it was.

        The weights are frozen during the measurement (only alpha's second
        derivatives are needed) and the buffers (batch-norm running statistics,
        updated by the probe's forward passes in training mode) restored.
        """
        start = time.process_time()
        network = self.network
        x, y = self.batch[0].to(self.device), self.batch[1].to(self.device)
        weights = network.weight_parameters()
        flags = [p.requires_grad for p in weights]
        buffers = [(b, b.detach().clone()) for b in network.buffers()]
        for p in weights:
            p.requires_grad_(False)
        try:
            eigenvalue, self.eigvec = dominant_hessian_eigenvalue(
                lambda: F.cross_entropy(network(x), y),
                network.alphas()[0],
                iterations=self.iterations,
                seed=self.seed,
                init=self.eigvec,
            )
        finally:
            for p, flag in zip(weights, flags):
                p.requires_grad_(flag)
            with torch.no_grad():
                for buf, saved in buffers:
                    buf.copy_(saved)
        return eigenvalue, time.process_time() - start
