"""The DARTS search space (Liu et al., ICLR 2019): operations, genotypes, evaluation networks.

- :data:`DARTS_OPS`, :data:`OPS`, :func:`make_op` and the operation modules — the 8 candidate
  operations (:mod:`.ops`);
- :class:`DartsGenotype`, :func:`as_darts_genotype`, :data:`GENOTYPES` — derived cells, the DARTS
  repository's text form, and the published cells (:mod:`.genotypes`);
- :class:`NetworkCIFAR`, :class:`NetworkImageNet` — the evaluation networks of a cell, with
  :class:`EvaluationCell`, the auxiliary heads and :func:`drop_path` (:mod:`.evaluation`);
- :class:`DartsSupernet`, :func:`derive_genotype` — the search network of every DARTS-space
  algorithm (:mod:`.supernet`, cells in :mod:`.search_cells`) and DARTS's genotype derivation;
- :func:`train_darts_network`, :class:`DartsTrainResult` — DARTS's evaluation recipe, with
  :func:`cutout` and :class:`DartsAugmentedDataset` (:mod:`.train`).

Sizes are counted with :func:`proxydata.nas.counting.count_parameters` and
:func:`proxydata.nas.counting.count_flops`.
"""

from .evaluation import (
    AuxiliaryHeadCIFAR,
    AuxiliaryHeadImageNet,
    EvaluationCell,
    NetworkCIFAR,
    NetworkImageNet,
    drop_path,
    reduction_layers,
)
from .genotypes import GENOTYPES, DartsGenotype, as_darts_genotype
from .ops import DARTS_OPS, OPS, DilConv, FactorizedReduce, Identity, ReLUConvBN, SepConv, Zero, make_op
from .search_cells import DartsSearchCell, MixedEdge
from .supernet import DartsSupernet, derive_genotype, edge_softmax
from .train import DartsAugmentedDataset, DartsTrainResult, cutout, train_darts_network

__all__ = [
    "DARTS_OPS",
    "GENOTYPES",
    "OPS",
    "AuxiliaryHeadCIFAR",
    "AuxiliaryHeadImageNet",
    "DartsAugmentedDataset",
    "DartsGenotype",
    "DartsSearchCell",
    "DartsSupernet",
    "DartsTrainResult",
    "DilConv",
    "EvaluationCell",
    "FactorizedReduce",
    "Identity",
    "MixedEdge",
    "NetworkCIFAR",
    "NetworkImageNet",
    "ReLUConvBN",
    "SepConv",
    "Zero",
    "as_darts_genotype",
    "cutout",
    "derive_genotype",
    "drop_path",
    "edge_softmax",
    "make_op",
    "reduction_layers",
    "train_darts_network",
]
