"""The supernet each search algorithm runs on, built by name."""

from __future__ import annotations

from typing import Any

from .._validation import check_choice
from .enas import EnasNetwork
from .search_options import SPACE_ALGORITHMS
from .spaces.darts.supernet import DartsSupernet
from .spaces.mobilenet.supernet import MobileNetSupernet
from .spaces.nb201.pcdarts import PCDartsNetwork
from .spaces.nb201.search_space import SearchNetwork
from .supernet import ALGO_MODES, Supernet

__all__ = ["make_supernet"]


def make_supernet(
    algo: str,
    C: int = 16,
    N: int | None = None,
    num_classes: int = 10,
    in_channels: int = 3,
    *,
    space: str = "nb201",
    seed: int | None = None,
    **kwargs: Any,
) -> Supernet:
    """The supernet of ``algo`` (any of :data:`~proxydata.nas.ALGORITHMS`).

    ``SearchNetwork(algo="darts")`` for DARTS-V1/V2 and β-DARTS,
    ``SearchNetwork(algo="gdas")`` for GDAS, :class:`~proxydata.nas.PCDartsNetwork`
    for PC-DARTS and :class:`~proxydata.nas.EnasNetwork` for ENAS; ``kwargs`` go
    to that class (e.g. ``K=4, edge_norm=True`` for PC-DARTS). Under the same
    seed all of them start from the same skeleton and cell weights (PC-DARTS
    only when ``K=1``: its kernels are smaller).

    ``space="darts"``: :class:`~proxydata.nas.spaces.darts.DartsSupernet` with ``N``
    cells (default 8; NAS-Bench-201's ``N`` is cells per stage, default 5) for any of
    :data:`~proxydata.nas.search_options.DARTS_SPACE_ALGORITHMS` (``kwargs``: e.g.
    ``K``, ``edge_norm``, ``steps``).

    ``space="mobilenet"``: :class:`~proxydata.nas.spaces.mobilenet.MobileNetSupernet` (BDP's
    Table 6 chain) for ``"darts-v1"`` or ``"beta-darts"``; its widths and depth are the space's,
    so ``C`` and ``N`` are not used; ``kwargs`` are
    :class:`~proxydata.nas.spaces.mobilenet.MobileNetSpace` fields (``input_size``,
    ``stem_stride``, ``width_mult``, ``head_channels``).
    """
    space = check_choice(space, "space", tuple(SPACE_ALGORITHMS))
    algo = check_choice(algo, "algo", SPACE_ALGORITHMS[space])
    if space == "mobilenet":
        return MobileNetSupernet(num_classes=num_classes, in_channels=in_channels, seed=seed, **kwargs)
    if space == "darts":
        return DartsSupernet(
            C=C, layers=8 if N is None else N, num_classes=num_classes, in_channels=in_channels,
            algo=algo, seed=seed, **kwargs,
        )  # fmt: skip
    mode = ALGO_MODES[algo]
    sizes = dict(C=C, N=5 if N is None else N, num_classes=num_classes, in_channels=in_channels, seed=seed)
    if mode == "pc-darts":
        return PCDartsNetwork(**sizes, **kwargs)
    if mode == "enas":
        return EnasNetwork(**sizes, **kwargs)
    return SearchNetwork(**sizes, algo=mode, **kwargs)
