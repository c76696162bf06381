"""Search-time augmentation: random crop with zero padding and a horizontal flip, seeded."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .._validation import check_bool, check_int, check_seed

__all__ = ["CropFlipDataset", "crop_flip"]


def crop_flip(image: torch.Tensor, padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad ``image`` (C, H, W) by ``padding``, crop a random H×W window, flip with p = 1/2.

    The NAS-Bench-201 (and DARTS) search pipeline: ``RandomCrop(32, padding=4)``
    and ``RandomHorizontalFlip()`` at 32 px.
    """
    _, h, w = image.shape
    if padding > 0:
        image = F.pad(image, (padding, padding, padding, padding))
        top = int(torch.randint(0, 2 * padding + 1, (1,), generator=generator))
        left = int(torch.randint(0, 2 * padding + 1, (1,), generator=generator))
        image = image[:, top : top + h, left : left + w]
    if flip and bool(torch.rand((), generator=generator) < 0.5):
        image = image.flip(-1)
    return image


class CropFlipDataset(Dataset):
    """A dataset of ``(image, label, ...)`` items whose images are randomly cropped and flipped.

    Every draw is seeded: the ``k``-th time item ``i`` is read, its generator is
    seeded with ``(seed, i, k)``, so a search with the same seed and the same
    order of reads sees the same augmented images (with ``num_workers=0``; a
    worker process counts its own reads).

    Parameters
    ----------
    dataset : map-style dataset whose items start with a (C, H, W) tensor
    padding : int >= 0
        Zero padding before the crop. NAS-Bench-201 pads 4 at 32 px; the
        16-px protocol of ``benchmarks/reproduce.py`` pads 2 (the same share of
        the image).
    flip : bool
        Horizontal flip with probability 1/2.
    seed : int
    """

    def __init__(self, dataset: Any, padding: int = 4, flip: bool = True, seed: int = 0) -> None:
        self.dataset = dataset
        self.padding = check_int(padding, "padding", minimum=0)
        self.flip = check_bool(flip, "flip")
        self.seed = check_seed(seed)
        self._reads: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        item = self.dataset[index]
        key = int(index)
        visit = self._reads.get(key, 0)
        self._reads[key] = visit + 1
        gen = torch.Generator().manual_seed(((self.seed * 1_000_003 + key) * 1_000_003 + visit) % 2**63)
        image = crop_flip(torch.as_tensor(item[0]), self.padding, self.flip, gen)
        return (image, *tuple(item[1:]))
