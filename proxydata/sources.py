"""The data sources the ``proxydata`` command line accepts, as strings.

``"digits"`` (scikit-learn's bundled digits), ``"npz:PATH"`` (arrays ``x_train``,
``y_train``) and ``"cifar10:ROOT"`` / ``"cifar100:ROOT"`` (torchvision folders),
each resolved to an :class:`~proxydata.datasets.ArrayDataset` by
:func:`proxydata.datasets.load_source`, which lives with the loaders it calls;
this module keeps the old import path.
"""

from __future__ import annotations

from .datasets import SOURCE_FORMS, load_source

__all__ = ["SOURCE_FORMS", "load_source"]
