"""The NAS-Bench-201 search space (Dong & Yang, ICLR 2020).

- :data:`NB201_OPS`, :data:`EDGES`, :class:`Genotype` — the cell space and its string format;
- :class:`SearchNetwork` — the supernet (DARTS mixed ops / GDAS sampling);
- :class:`PCDartsNetwork` — PC-DARTS's supernet (partial channels, edge normalisation);
- :class:`CellNetwork`, :func:`train_genotype`, :func:`train_network`, :func:`evaluate`,
  :class:`TrainResult` — one cell, trained from scratch, and its record;
- :class:`NB201Table` — accuracy look-up in a NAS-Bench-201 table file.
"""

from .genotype import EDGES, NB201_OPS, Genotype
from .network import CellNetwork
from .pcdarts import PCDartsNetwork
from .search_space import SearchNetwork
from .table import NB201Table
from .train import TrainResult, evaluate, train_genotype, train_network

__all__ = [
    "EDGES",
    "NB201_OPS",
    "CellNetwork",
    "Genotype",
    "NB201Table",
    "PCDartsNetwork",
    "SearchNetwork",
    "TrainResult",
    "evaluate",
    "train_genotype",
    "train_network",
]
