"""The supernet interface every search algorithm of :mod:`proxydata.nas` is written against.

A search space (:mod:`proxydata.nas.spaces`) provides its search network as a
subclass of :class:`Supernet`; the loop (:mod:`.loop`) and the architecture
steps (:mod:`.darts`, :mod:`.gdas`, :mod:`.pcdarts`, :mod:`.pdarts`,
:mod:`.enas`) only use what this class declares:

- ``weight_parameters()`` / ``named_weight_parameters()`` — what the weight
  optimiser updates;
- ``arch_parameter_list()`` — everything the architecture optimiser updates
  (DARTS's ``alpha``; PC-DARTS's ``alpha`` and ``beta``; ENAS's controller);
- ``alphas()`` — the operation logits, one 2-D tensor (rows edges or layers,
  columns operations) per group: NAS-Bench-201 ``[alpha]``, DARTS
  ``[normal, reduce]``; β-DARTS's regulariser sums over them and every record
  keeps them;
- ``genotype()`` — the derived architecture, ``str(g)`` its text form;
- ``forward(x, generator=None)`` — the logits (``generator`` seeds any sampling,
  e.g. GDAS's Gumbel noise);
- ``algo`` — the forward mode the network computes (one of ``modes``; see
  :data:`ALGO_MODES`), and for GDAS ``gumbel_weights(generator)`` and ``tau``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

__all__ = ["ALGO_MODES", "Supernet", "alphas_array"]

#: The forward mode each search algorithm needs of a supernet (``Supernet.algo``).
ALGO_MODES = {
    "darts": "darts",
    "darts-v1": "darts",
    "darts-v2": "darts",
    "beta-darts": "darts",
    "gdas": "gdas",
    "pc-darts": "pc-darts",
    "p-darts": "darts",
    "enas": "enas",
}


class Supernet(nn.Module):
    """Abstract base of every space's search network (see the module notes for the contract).

    Subclasses set the class attributes ``space`` (``"nb201"``, ``"darts"``, ...)
    and ``modes`` (the forward modes they compute) and the instance attribute
    ``algo`` (the mode this network was built for), and implement
    :meth:`arch_parameter_list`, :meth:`alphas`, :meth:`genotype` and
    :meth:`torch.nn.Module.forward`.
    """

    #: The search space's name.
    space: ClassVar[str] = ""
    #: The forward modes this class computes (values of :data:`ALGO_MODES`).
    modes: ClassVar[tuple[str, ...]] = ()
    algo: str

    def arch_parameter_list(self) -> list[nn.Parameter]:
        """The parameters the architecture optimiser updates."""
        raise NotImplementedError

    def alphas(self) -> list[torch.Tensor]:
        """The operation logits, one 2-D tensor per group (see the module notes)."""
        raise NotImplementedError

    def genotype(self) -> Any:
        """The derived architecture; ``str()`` of it is the record's text form."""
        raise NotImplementedError

    def named_weight_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """``(name, parameter)`` of every parameter that is not an architecture parameter."""
        arch = {id(p) for p in self.arch_parameter_list()}
        return [(n, p) for n, p in self.named_parameters() if id(p) not in arch]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every network weight, without the architecture parameters."""
        return [p for _, p in self.named_weight_parameters()]


def alphas_array(network: Supernet) -> np.ndarray:
    """The network's :meth:`~Supernet.alphas` as float64: the one group's 2-D array, or the groups stacked.

    NAS-Bench-201: shape (6, 5); DARTS: (2, 14, 8) (normal, reduce).
    """
    groups = [a.detach().cpu().double().numpy().copy() for a in network.alphas()]
    if len(groups) == 1:
        return groups[0]
    return np.stack(groups)
