"""proxydata: search on less data — proxy datasets and bi-level data pruning for NAS.

Static proxy samplers (Moser et al., 2022) choose a subset before a search;
:class:`BiLevelPruner` (Tu et al., 2023) prunes the DARTS training and
validation splits during it.
"""

from ._version import __version__
from .data import IndexedDataset, get_targets, split_indices
from .datasets import ArrayDataset, load_digits
from .exceptions import (
    CorruptStateError,
    ListenerError,
    MissingWeightsError,
    ProxydataError,
    ProxydataTypeError,
    ProxydataValueError,
    RankMismatchError,
)
from .fingerprint import dataset_fingerprint
from .pruning import BiLevelPruner
from .samplers import (
    AutoencoderProxy,
    ClassOutlierProxy,
    ClassRandomProxy,
    KMeansOutlierProxy,
    ProxySampler,
    RandomProxy,
    TransferProxy,
    make_proxy,
)

__all__ = [
    "ArrayDataset",
    "AutoencoderProxy",
    "BiLevelPruner",
    "ClassOutlierProxy",
    "ClassRandomProxy",
    "CorruptStateError",
    "IndexedDataset",
    "KMeansOutlierProxy",
    "ListenerError",
    "MissingWeightsError",
    "ProxySampler",
    "ProxydataError",
    "ProxydataTypeError",
    "ProxydataValueError",
    "RandomProxy",
    "RankMismatchError",
    "TransferProxy",
    "__version__",
    "dataset_fingerprint",
    "get_targets",
    "load_digits",
    "make_proxy",
    "split_indices",
]
