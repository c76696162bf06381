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

The baselines the papers compare against, under the same contract:

==============  ========================  ==============================================
acronym         class                     keeps
==============  ========================  ==============================================
``entropy``     :class:`EntropyProxy`     drawn across the entropy histogram (Na et al.)
``forgetting``  :class:`ForgettingProxy`  most forgetting events (Toneva et al.)
``grand``       :class:`GraNdProxy`       largest gradient norm at initialisation
``el2n``        :class:`EL2NProxy`        largest error norm after a few epochs
``herding``     :class:`HerdingProxy`     per class, greedy class-mean matching
``k-center``    :class:`KCenterProxy`     greedy farthest-first cover of the features
==============  ========================  ==============================================
"""

from __future__ import annotations

from typing import Any

from .autoencoder import AutoencoderProxy
from .base import ProxySampler, method_class, proxy_size, registered_methods
from .dynamics import EL2NProxy, ForgettingProxy, GraNdProxy
from .entropy import EntropyProxy
from .greedy import HerdingProxy, KCenterProxy
from .outliers import ClassOutlierProxy, KMeansOutlierProxy
from .random import ClassRandomProxy, RandomProxy
from .saved import SavedObject
from .transfer import TransferProxy

__all__ = [
    "AutoencoderProxy",
    "ClassOutlierProxy",
    "ClassRandomProxy",
    "EL2NProxy",
    "EntropyProxy",
    "ForgettingProxy",
    "GraNdProxy",
    "HerdingProxy",
    "KCenterProxy",
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
    name : str
        A registered acronym (:func:`registered_methods`): ``"rs"``, ``"cc-rs"``,
        ``"km-or"``, ``"cc-or"``, ``"ae"``, ``"tl"``, and the baselines
        ``"entropy"``, ``"forgetting"``, ``"grand"``, ``"el2n"``, ``"herding"``,
        ``"k-center"``.
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
