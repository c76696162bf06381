"""Loss-value proxies: AE and TL (Moser et al., 2022, Sec. 3.3), under their old import path.

Both train a network on the whole dataset ``D``, score every sample ``i`` by
its loss ``ℓ_i`` under the trained network and keep the ``m = round(r·n)``
samples with the lowest loss (``keep="easy"``, the paper's choice) or the
highest (``keep="hard"``); ties are broken by index.

* **AE** (:class:`~proxydata.samplers.autoencoder.AutoencoderProxy`) lives in
  :mod:`proxydata.samplers.autoencoder`;
* **TL** (:class:`~proxydata.samplers.transfer.TransferProxy`) in
  :mod:`proxydata.samplers.transfer`;
* their shared training and scoring loops in :mod:`proxydata.samplers.loss_training`,
  the networks in :mod:`proxydata.samplers._loss_models`.

This module re-exports the names it used to define.
"""

from __future__ import annotations

from ..exceptions import MissingWeightsError
from ._loss_models import resnet18_weights_file, weights_digest
from .autoencoder import AutoencoderProxy
from .transfer import TransferProxy

__all__ = [
    "AutoencoderProxy",
    "MissingWeightsError",
    "TransferProxy",
    "resnet18_weights_file",
    "weights_digest",
]
