"""Static proxy samplers of *Less is More: Proxy Datasets in NAS approaches*.

=========  ===========================  =============================================
acronym    class                        keeps
=========  ===========================  =============================================
``rs``     :class:`RandomProxy`         ``round(r n)`` uniformly at random
``cc-rs``  :class:`ClassRandomProxy`    ``round(r n_c)`` at random per class
``km-or``  :class:`KMeansOutlierProxy`  smallest distance to nearest k-means centroid
``cc-or``  :class:`ClassOutlierProxy`   per class, closest to the class mean
``ae``     :class:`AutoencoderProxy`    lowest autoencoder reconstruction loss
``tl``     :class:`TransferProxy`       lowest cross-entropy of a transferred model
=========  ===========================  =============================================
"""

from __future__ import annotations

from typing import Any

from .autoencoder import AutoencoderProxy
from .base import ProxySampler, method_class, proxy_size, registered_methods
from .outliers import ClassOutlierProxy, KMeansOutlierProxy
from .random import ClassRandomProxy, RandomProxy
from .saved import SavedObject
from .transfer import TransferProxy

__all__ = [
    "AutoencoderProxy",
    "ClassOutlierProxy",
    "ClassRandomProxy",
    "KMeansOutlierProxy",
    "ProxySampler",
    "RandomProxy",
    "SavedObject",
    "TransferProxy",
    "make_proxy",
    "proxy_size",
    "registered_methods",
]


def make_proxy(name: str, dataset: Any, **kwargs: Any) -> ProxySampler:
    """Build a proxy sampler by the paper's acronym.

    Parameters
    ----------
    name : {"rs", "cc-rs", "km-or", "cc-or", "ae", "tl"}
        Case-insensitive; ``_`` may stand for ``-``; class names are accepted too.
    dataset : map-style dataset
    **kwargs
        Passed to the sampler's constructor (``ratio`` is required; everything
        after ``ratio`` is keyword-only, see each class for its parameters;
        ``indices=`` selects within a split and yields dataset indices).

    Examples
    --------
    >>> from proxydata.datasets import load_digits
    >>> proxy = make_proxy("cc-rs", load_digits(), ratio=0.5, seed=0)
    >>> len(proxy.indices)
    899
    """
    return method_class(name)(dataset, **kwargs)
