"""proxydata: search on less data — proxy datasets and bi-level data pruning for NAS.

Static proxy samplers (Moser et al., 2022) choose a subset before a search;
:class:`BiLevelPruner` (Tu et al., 2023) prunes the DARTS training and
validation splits during it.

Layers
------
The modules and subpackages below, lowest first. A module imports only from its
own layer or lower ones, never from a higher one (not even inside a function),
and no two modules import each other, directly or around a circle. This
package's ``__init__`` is the facade above them all; no module imports it.
``tests/test_layers.py`` reads this list and checks every import against it.

1. _version, exceptions, _validation, _records, _ranks, _threads, _files — errors, checks, records, ranks,
   threads, file digests and atomic writes
2. metrics — pure formulas (EL2N, VoE, class balance, ranking agreement)
3. items, indexed, datasets, batches — reading items, labels and batches; array datasets and loaders
4. data, fingerprint, sources — splits, dataset identity, the command line's source strings
5. feature_files, features — feature files (extracted across ranks, memory-mapped); pixel and model features
6. cluster — k-means backends
7. samplers — the static proxies
8. pruning — BiLevelPruner and its parts; GlisterSelector (adaptive selection)
9. nas — the NAS-Bench-201 space, the search algorithms and loop, training from scratch
10. fidelity — ranking studies
11. experiment — one configured search run
12. demo — the bundled demo, built on the experiment
13. integrations — adapters to Lightning, TensorBoard and NNI
14. plots — optional figures
15. cli — the ``proxydata`` command
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
    RankFailedError,
    RankMismatchError,
)
from .fingerprint import dataset_fingerprint
from .pruning import BiLevelPruner, GlisterSelector
from .samplers import (
    AutoencoderProxy,
    ClassOutlierProxy,
    ClassRandomProxy,
    EL2NProxy,
    EntropyProxy,
    ForgettingProxy,
    GraNdProxy,
    HerdingProxy,
    KCenterProxy,
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
    "EL2NProxy",
    "EntropyProxy",
    "ForgettingProxy",
    "GlisterSelector",
    "GraNdProxy",
    "HerdingProxy",
    "IndexedDataset",
    "KCenterProxy",
    "KMeansOutlierProxy",
    "ListenerError",
    "MissingWeightsError",
    "ProxySampler",
    "ProxydataError",
    "ProxydataTypeError",
    "ProxydataValueError",
    "RandomProxy",
    "RankFailedError",
    "RankMismatchError",
    "TransferProxy",
    "__version__",
    "dataset_fingerprint",
    "get_targets",
    "load_digits",
    "make_proxy",
    "split_indices",
]
