"""PC-DARTS's partial channel connections, shared by every space: the channel shuffle (Xu et al.)."""

from __future__ import annotations

import torch

__all__ = ["channel_shuffle"]


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle: ``(b, g·m, H, W)`` viewed as ``(b, g, m)``, transposed, flattened.

    Channel ``a·m + r`` (group ``a``, position ``r``) moves to ``r·g + a``;
    ``groups=1`` is the identity.
    """
    b, c, h, w = x.shape
    if groups == 1:
        return x
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)
