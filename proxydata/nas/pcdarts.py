"""PC-DARTS (Xu et al., "PC-DARTS: Partial Channel Connections for Memory-Efficient Architecture Search").

The algorithm is DARTS's first-order architecture step
(:class:`~proxydata.nas.darts.FirstOrderArchStep`) over the architecture
parameters of a PC-DARTS supernet, ``alpha`` and the edge-normalisation
parameters ``beta`` together (its ``arch_parameter_list()``). The supernets
live with their spaces: :class:`~proxydata.nas.spaces.nb201.PCDartsNetwork`
(NAS-Bench-201) and :class:`~proxydata.nas.spaces.darts.DartsSupernet` with
``algo="pc-darts"`` (DARTS space); both use :func:`channel_shuffle`.

``PCDartsCell``, ``PCDartsNetwork`` and ``edge_normalisation`` moved to
:mod:`proxydata.nas.spaces.nb201.pcdarts`; reading them here warns with a
``FutureWarning``.
"""

from __future__ import annotations

from ._moved import moved
from .partial_channels import channel_shuffle

__all__ = ["channel_shuffle"]

__getattr__, _dir = moved(
    __name__, "proxydata.nas.spaces.nb201.pcdarts", ("PCDartsCell", "PCDartsNetwork", "edge_normalisation")
)


def __dir__() -> list[str]:
    return sorted([*_dir(), "channel_shuffle"])
