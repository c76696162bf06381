"""Placeholder: AE and TL are being written (issue 3)."""

from .base import ProxySampler


class AutoencoderProxy(ProxySampler):
    method = "ae"


class TransferProxy(ProxySampler):
    method = "tl"
