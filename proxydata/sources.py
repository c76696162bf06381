"""The data sources the ``proxydata`` command line accepts, as strings.

``"digits"`` (scikit-learn's bundled digits), ``"npz:PATH"`` (arrays ``x_train``,
``y_train``) and ``"cifar10:ROOT"`` / ``"cifar100:ROOT"`` (torchvision folders),
each resolved to an :class:`~proxydata.datasets.ArrayDataset`.
"""

from __future__ import annotations

from .datasets import ArrayDataset, load_digits, load_npz, load_torchvision
from .exceptions import ProxydataTypeError, ProxydataValueError

__all__ = ["SOURCE_FORMS", "load_source"]

#: The accepted forms, for messages and ``--help`` texts.
SOURCE_FORMS = ("digits", "npz:PATH", "cifar10:ROOT", "cifar100:ROOT")


def load_source(spec: str, *, download: bool = False) -> ArrayDataset:
    """Resolve a data source string of the command line.

    ``"digits"`` — scikit-learn digits; ``"npz:PATH"`` — arrays ``x_train``,
    ``y_train``; ``"cifar10:ROOT"`` / ``"cifar100:ROOT"`` — torchvision folders.
    """
    if not isinstance(spec, str):
        raise ProxydataTypeError(f"data must be a source string, got {type(spec).__name__}")
    kind, _, rest = spec.partition(":")
    if kind == "digits" and not rest:
        return load_digits()
    if kind == "npz" and rest:
        return load_npz(rest)
    if kind in ("cifar10", "cifar100") and rest:
        return load_torchvision(kind, rest, download=download)
    forms = ", ".join(repr(f) for f in SOURCE_FORMS)
    raise ProxydataValueError(f"data must be one of {forms}, got {spec!r}")
