"""Random proxies: RS and CC-RS (Moser et al., 2022, Sec. 3.1)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import ProxySampler, proxy_size

__all__ = ["ClassRandomProxy", "RandomProxy"]


class RandomProxy(ProxySampler):
    """RS: ``m = round(r * n)`` samples drawn uniformly without replacement.

    The draw uses ``numpy.random.default_rng(seed)``; see
    :class:`~proxydata.samplers.base.ProxySampler` for the shared parameters.
    ``scores`` is None.
    """

    method = "rs"

    def __init__(self, dataset: Any, ratio: float, **kwargs: Any) -> None:
        super().__init__(dataset, ratio, **kwargs)

    def _select(self) -> tuple[np.ndarray, None]:
        m = proxy_size(self.n, self.ratio)
        rng = np.random.default_rng(self.seed)
        return rng.choice(self.n, size=m, replace=False), None


class ClassRandomProxy(ProxySampler):
    """CC-RS: ``round(r * n_c)`` samples drawn uniformly within every class ``c``.

    Keeps the class proportions of the dataset exactly (up to rounding).
    ``scores`` is None.
    """

    method = "cc-rs"

    def __init__(self, dataset: Any, ratio: float, **kwargs: Any) -> None:
        super().__init__(dataset, ratio, **kwargs)

    def _select(self) -> tuple[np.ndarray, None]:
        rng = np.random.default_rng(self.seed)
        kept = []
        for c in range(self.num_classes):
            members = np.flatnonzero(self.targets == c)
            m = proxy_size(members.size, self.ratio)
            if m:
                kept.append(rng.choice(members, size=m, replace=False))
        return (np.concatenate(kept) if kept else np.empty(0, dtype=np.int64)), None
