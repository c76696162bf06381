"""GDAS's architecture step (Dong & Yang, CVPR 2019): DARTS's first-order step on Gumbel-softmax samples.

Both steps of the search run on one sampled operation per edge
(the supernet's ``gumbel_weights``, e.g. :meth:`~proxydata.nas.SearchNetwork.gumbel_weights`, straight-through
one-hot weights), the noise drawn from the search's seeded generator. The
temperature is annealed linearly from ``tau_max`` (first epoch) to ``tau_min``
(last epoch) as NAS-Bench-201's GDAS:
``tau_e = tau_max - (tau_max - tau_min) · e / (E - 1)``
(:func:`~proxydata.nas.gdas_tau`).
"""

from __future__ import annotations

import torch

from .darts import FirstOrderArchStep
from .schedules import gdas_tau
from .supernet import Supernet

__all__ = ["GdasArchStep"]


class GdasArchStep(FirstOrderArchStep):
    """The first-order step on the sampled cell, with the temperature set at every epoch's start.

    Parameters
    ----------
    network : Supernet (GDAS mode: ``gumbel_weights`` and ``tau``)
    optimizer : torch.optim.Optimizer
        Over the architecture parameters.
    generator : torch.Generator
        The Gumbel noise's.
    tau_max, tau_min : float
        The temperature of the first and of the last epoch.
    """

    def __init__(
        self,
        network: Supernet,
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator,
        *,
        tau_max: float,
        tau_min: float,
    ) -> None:
        super().__init__(network, optimizer, generator)
        self.tau_max = tau_max
        self.tau_min = tau_min

    def start_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        """Set the network's temperature ``tau_e``; the record keeps it (``taus``)."""
        self.network.tau = gdas_tau(epoch, epochs, self.tau_max, self.tau_min)
        return {"taus": self.network.tau}
