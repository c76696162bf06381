"""Moved to :mod:`proxydata.batches` (one batch source for features, AE/TL and the fingerprint).

Kept so that ``from proxydata.samplers._image_batches import ImageBatches, batch_slices`` still works.
"""

from __future__ import annotations

from ..batches import ImageBatches, batch_slices

__all__ = ["ImageBatches", "batch_slices"]
