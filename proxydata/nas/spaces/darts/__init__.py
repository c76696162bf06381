"""The DARTS search space (Liu et al., ICLR 2019): operations, genotypes, evaluation networks.

- :data:`DARTS_OPS`, :data:`OPS`, :func:`make_op` and the operation modules — the 8 candidate
  operations (:mod:`.ops`);
- :class:`DartsGenotype`, :func:`as_darts_genotype`, :data:`GENOTYPES` — derived cells, the DARTS
  repository's text form, and the published cells (:mod:`.genotypes`).
"""

from .genotypes import GENOTYPES, DartsGenotype, as_darts_genotype
from .ops import DARTS_OPS, OPS, DilConv, FactorizedReduce, Identity, ReLUConvBN, SepConv, Zero, make_op

__all__ = [
    "DARTS_OPS",
    "GENOTYPES",
    "OPS",
    "DartsGenotype",
    "DilConv",
    "FactorizedReduce",
    "Identity",
    "ReLUConvBN",
    "SepConv",
    "Zero",
    "as_darts_genotype",
    "make_op",
]
