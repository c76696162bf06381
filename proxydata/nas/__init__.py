"""A compact NAS-Bench-201 search space with DARTS-V1/V2, β-DARTS, GDAS, PC-DARTS and ENAS search loops.

For examples, benchmarks and tests: the loop :func:`search` is written the way a
user's own loop is, with a static proxy as a loader's sampler or a
:class:`~proxydata.BiLevelPruner` observing every forward pass.

- :data:`NB201_OPS`, :class:`Genotype` — the cell space and its string format;
- :class:`SearchNetwork` — the supernet (DARTS mixed ops / GDAS sampling);
- :class:`PCDartsNetwork` — PC-DARTS's supernet (partial channels, edge normalisation);
- :class:`EnasNetwork`, :class:`EnasController` — ENAS's shared weights and LSTM controller;
- :func:`make_supernet` — the supernet of an algorithm, by name;
- :class:`CellNetwork`, :func:`train_genotype`, :class:`TrainResult` — one cell, trained from scratch,
  and its record;
- :func:`search`, :class:`SearchResult` — the search loop (every algorithm of :data:`ALGORITHMS`)
  and its record; one module per algorithm family (:mod:`.darts`, :mod:`.gdas`,
  :mod:`.pcdarts`, :mod:`.enas`), the loop (:mod:`.loop`), the Hessian probe
  (:mod:`.hessian_probe`);
- :func:`beta_decay_loss`, :func:`dominant_hessian_eigenvalue` — β-DARTS's regulariser and
  the sharpness of the architecture landscape;
- :mod:`.optim` — the optimiser settings both loops share, checked once;
- :class:`CropFlipDataset` — seeded search-time augmentation;
- :class:`NB201Table` — accuracy look-up in a NAS-Bench-201 table file.
"""

from .augment import CropFlipDataset
from .enas import EnasController, EnasNetwork, ReinforceSettings
from .regularizers import beta_decay_loss, dominant_hessian_eigenvalue
from .schedules import beta_decay_weight, cosine_lr, gdas_tau
from .search import ALGORITHMS, SearchResult, search
from .spaces.nb201.genotype import EDGES, NB201_OPS, Genotype
from .spaces.nb201.network import CellNetwork
from .spaces.nb201.pcdarts import PCDartsNetwork
from .spaces.nb201.search_space import SearchNetwork
from .spaces.nb201.table import NB201Table
from .spaces.nb201.train import TrainResult, evaluate, train_genotype, train_network
from .supernets import make_supernet

__all__ = [
    "ALGORITHMS",
    "EDGES",
    "NB201_OPS",
    "CellNetwork",
    "CropFlipDataset",
    "EnasController",
    "EnasNetwork",
    "Genotype",
    "NB201Table",
    "PCDartsNetwork",
    "ReinforceSettings",
    "SearchNetwork",
    "SearchResult",
    "TrainResult",
    "beta_decay_loss",
    "beta_decay_weight",
    "cosine_lr",
    "dominant_hessian_eigenvalue",
    "evaluate",
    "gdas_tau",
    "make_supernet",
    "search",
    "train_genotype",
    "train_network",
]
