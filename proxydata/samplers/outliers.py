"""Placeholder: KM-OR and CC-OR are being written (issue 2)."""

from .base import ProxySampler


class KMeansOutlierProxy(ProxySampler):
    method = "km-or"


class ClassOutlierProxy(ProxySampler):
    method = "cc-or"
