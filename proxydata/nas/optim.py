"""The optimiser settings of the search and training loops, checked once.

:func:`~proxydata.nas.search` (its weight and architecture optimisers) and
:func:`~proxydata.nas.train_genotype` take the same kind of settings; these
frozen records check them, name the argument that is wrong, and build the
optimisers. The weight learning rate follows a cosine over the epochs
(:func:`~proxydata.nas.cosine_lr`):
``lr_e = lr_min + (lr - lr_min)(1 + cos(pi e / E)) / 2``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .._validation import check_bool, check_float, check_fraction, show
from ..exceptions import ProxydataTypeError, ProxydataValueError
from .schedules import cosine_lr

__all__ = ["NB201_SGD", "AdamSettings", "SGDSettings"]

#: NAS-Bench-201's training optimiser (Dong & Yang, 2020, Sec. 2.3): SGD, learning
#: rate 0.1 annealed by a cosine to 0, Nesterov momentum 0.9, weight decay 5e-4, no clipping.
NB201_SGD: dict[str, Any] = {
    "lr": 0.1,
    "lr_min": 0.0,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "nesterov": True,
    "grad_clip": None,
}


@dataclass(frozen=True)
class SGDSettings:
    """SGD with a cosine learning-rate schedule and optional gradient-norm clipping.

    Attributes
    ----------
    lr, lr_min : float
        Learning rate of the first epoch and the floor of the cosine.
    momentum, weight_decay : float
    nesterov : bool
        Nesterov momentum (only ever True with a positive momentum, as SGD requires).
    grad_clip : float
        Max gradient norm; 0 disables clipping.
    """

    lr: float
    lr_min: float
    momentum: float
    weight_decay: float
    nesterov: bool
    grad_clip: float

    @classmethod
    def checked(
        cls,
        *,
        lr: Any,
        lr_min: Any,
        momentum: Any,
        weight_decay: Any,
        nesterov: Any,
        grad_clip: Any,
        prefix: str = "",
    ) -> SGDSettings:
        """Check the arguments; errors name them as ``prefix + name`` (``grad_clip`` unprefixed).

        ``grad_clip`` None means no clipping (stored as 0).
        """
        momentum = check_float(momentum, f"{prefix}momentum", minimum=0.0)
        return cls(
            lr=check_float(lr, f"{prefix}lr", strictly_positive=True),
            lr_min=check_float(lr_min, f"{prefix}lr_min", minimum=0.0),
            momentum=momentum,
            weight_decay=check_float(weight_decay, f"{prefix}weight_decay", minimum=0.0),
            nesterov=check_bool(nesterov, f"{prefix}nesterov") and momentum > 0,
            grad_clip=0.0 if grad_clip is None else check_float(grad_clip, "grad_clip", minimum=0.0),
        )

    @classmethod
    def nb201(cls, overrides: Mapping[str, Any] | None = None, *, name: str = "recipe") -> SGDSettings:
        """NAS-Bench-201's recipe (:data:`NB201_SGD`) with the settings of ``overrides`` replaced, checked.

        Parameters
        ----------
        overrides : mapping, optional
            Any of :data:`NB201_SGD`'s keys (``lr``, ``lr_min``, ``momentum``,
            ``weight_decay``, ``nesterov``, ``grad_clip``).
        name : str
            What ``overrides`` is called in an error message.

        Raises
        ------
        ProxydataValueError
            Naming the keys of ``overrides`` that are not settings, or a bad value.
        """
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(NB201_SGD))
        if unknown:
            raise ProxydataValueError(f"{name} may set {sorted(NB201_SGD)}, got {unknown}")
        return cls.checked(**{**NB201_SGD, **overrides})

    def optimizer(self, params: Iterable[torch.Tensor]) -> torch.optim.SGD:
        """A ``torch.optim.SGD`` over ``params`` at the first epoch's learning rate."""
        return torch.optim.SGD(
            params,
            lr=self.lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            nesterov=self.nesterov,
        )

    def start_epoch(self, optimizer: torch.optim.Optimizer, epoch: int, epochs: int) -> float:
        """Set the cosine learning rate of ``epoch`` (of ``epochs``) on ``optimizer``; return it."""
        lr = cosine_lr(epoch, epochs, self.lr, self.lr_min)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def clip(self, params: Iterable[torch.Tensor]) -> None:
        """Clip the gradient norm of ``params`` (those with a gradient) to ``grad_clip``, if set."""
        if self.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], self.grad_clip)


@dataclass(frozen=True)
class AdamSettings:
    """Adam's learning rate, betas and weight decay (the architecture optimiser of the search).

    Attributes
    ----------
    lr : float > 0
    betas : tuple of two floats in [0, 1)
    weight_decay : float >= 0
    """

    lr: float
    betas: tuple[float, float]
    weight_decay: float

    @classmethod
    def checked(cls, *, lr: Any, betas: Any, weight_decay: Any, prefix: str = "") -> AdamSettings:
        """Check the arguments; errors name them as ``prefix + name``."""
        lr = check_float(lr, f"{prefix}lr", strictly_positive=True)
        if not isinstance(betas, Sequence) or isinstance(betas, str) or len(betas) != 2:
            raise ProxydataTypeError(f"{prefix}betas must be a pair of floats in [0, 1), got {show(betas)}")
        pair = tuple(check_fraction(b, f"{prefix}betas", high_open=True) for b in betas)
        weight_decay = check_float(weight_decay, f"{prefix}weight_decay", minimum=0.0)
        return cls(lr=lr, betas=(pair[0], pair[1]), weight_decay=weight_decay)

    def optimizer(self, params: Iterable[torch.Tensor]) -> torch.optim.Adam:
        """A ``torch.optim.Adam`` over ``params``."""
        return torch.optim.Adam(params, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay)
