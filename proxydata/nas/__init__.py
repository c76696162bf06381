"""A compact NAS-Bench-201 search space with DARTS-V1/V2 and GDAS search loops.

For examples, benchmarks and tests: the loop :func:`search` is written the way a
user's own loop is, with a static proxy as a loader's sampler or a
:class:`~proxydata.BiLevelPruner` observing every forward pass.

- :data:`NB201_OPS`, :class:`Genotype` — the cell space and its string format;
- :class:`SearchNetwork` — the supernet (DARTS mixed ops / GDAS sampling);
- :class:`CellNetwork`, :func:`train_genotype` — one cell, trained from scratch;
- :func:`search`, :class:`SearchResult` — the search loop and its record;
- :class:`NB201Table` — accuracy look-up in a NAS-Bench-201 table file.
"""

from .genotype import EDGES, NB201_OPS, Genotype
from .network import CellNetwork
from .search import ALGORITHMS, SearchResult, search
from .search_space import SearchNetwork
from .table import NB201Table
from .train import evaluate, train_genotype

__all__ = [
    "ALGORITHMS",
    "EDGES",
    "NB201_OPS",
    "CellNetwork",
    "Genotype",
    "NB201Table",
    "SearchNetwork",
    "SearchResult",
    "evaluate",
    "search",
    "train_genotype",
]
