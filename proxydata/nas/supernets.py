"""The supernet each search algorithm runs on, built by name."""

from __future__ import annotations

from typing import Any

from .._validation import check_choice
from .enas import EnasNetwork
from .spaces.nb201.pcdarts import PCDartsNetwork
from .spaces.nb201.search_space import SearchNetwork
from .supernet import ALGO_MODES

__all__ = ["make_supernet"]


def make_supernet(
    algo: str,
    C: int = 16,
    N: int = 5,
    num_classes: int = 10,
    in_channels: int = 3,
    *,
    seed: int | None = None,
    **kwargs: Any,
) -> SearchNetwork:
    """The supernet of ``algo`` (any of :data:`~proxydata.nas.ALGORITHMS`).

    ``SearchNetwork(algo="darts")`` for DARTS-V1/V2 and β-DARTS,
    ``SearchNetwork(algo="gdas")`` for GDAS, :class:`~proxydata.nas.PCDartsNetwork`
    for PC-DARTS and :class:`~proxydata.nas.EnasNetwork` for ENAS; ``kwargs`` go
    to that class (e.g. ``K=4, edge_norm=True`` for PC-DARTS). Under the same
    seed all of them start from the same skeleton and cell weights (PC-DARTS
    only when ``K=1``: its kernels are smaller).
    """
    mode = ALGO_MODES[check_choice(algo, "algo", tuple(ALGO_MODES))]
    sizes = dict(C=C, N=N, num_classes=num_classes, in_channels=in_channels, seed=seed)
    if mode == "pc-darts":
        return PCDartsNetwork(**sizes, **kwargs)
    if mode == "enas":
        return EnasNetwork(**sizes, **kwargs)
    return SearchNetwork(**sizes, algo=mode, **kwargs)
