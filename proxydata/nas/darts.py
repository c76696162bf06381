"""DARTS's architecture steps: first order (DARTS-V1, PC-DARTS), β-DARTS's regularised one, second order (V2).

Each step updates the architecture parameters on a validation batch and
returns that batch's detached logits and loss (for ``pruner.observe`` and the
record); :func:`~proxydata.nas.search` calls one per training batch, before the
weight step.

- **DARTS-V1** (Liu et al., ICLR 2019, Sec. 2.3, first order):
  ``alpha <- alpha - eta_a · ∇_alpha L_val(w, alpha)`` (:class:`FirstOrderArchStep`).
  **PC-DARTS** (Xu et al., ICLR 2020) is the same step on
  :class:`~proxydata.nas.PCDartsNetwork`, over ``alpha`` and the edge
  parameters ``beta`` together (its ``arch_parameter_list()``).
- **β-DARTS** (Ye et al., CVPR 2022): DARTS-V1 whose architecture loss adds the
  beta-decay regulariser, ``L_val(w, alpha) + lambda_e · L_beta(alpha)`` with
  ``L_beta`` the mean over edges of ``logsumexp(alpha_e)``
  (:func:`~proxydata.nas.beta_decay_loss`) and ``lambda_e = lambda_max · e / E``
  (:func:`~proxydata.nas.schedules.beta_decay_weight`).
- **DARTS-V2** (second order, Liu et al., Eq. 6-8; :class:`UnrolledArchStep`):
  the gradient of the unrolled objective ``L_val(w', alpha)``,
  ``w' = w - xi · (mu · m + ∇_w L_train(w, alpha) + lambda · w)`` (one step of
  the weight optimiser: learning rate ``xi``, momentum ``mu`` with buffer ``m``,
  weight decay ``lambda``; Nesterov is ignored as in DARTS), computed by
  :func:`unrolled_arch_grads` (one gradient per architecture parameter: DARTS
  space's normal and reduce logits alike).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.func import functional_call

from .._validation import check_float
from ..exceptions import ProxydataValueError
from .optim import SGDSettings
from .regularizers import beta_decay_loss
from .schedules import beta_decay_weight, skip_dropout_rate
from .supernet import Supernet

__all__ = [
    "FirstOrderArchStep",
    "PDartsArchStep",
    "UnrolledArchStep",
    "unrolled_arch_grad",
    "unrolled_arch_grads",
]


def _grads_or_zeros(
    grads: Sequence[torch.Tensor | None], params: Sequence[torch.Tensor]
) -> list[torch.Tensor]:
    return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]


def unrolled_arch_grads(
    network: Supernet,
    x: torch.Tensor,
    y: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    momentum_buffers: Sequence[torch.Tensor | None] | None = None,
    hvp_eps: float = 0.01,
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """DARTS-V2's architecture gradients (second order, finite-difference Hessian-vector product).

    Returns ``([d alpha per parameter of network.arch_parameter_list()], L_val(w', alpha),
    logits of the validation batch under w')``
    where ``w' = w - lr · (momentum · m + ∇_w L_train(w, alpha) + weight_decay · w)``
    and ``d alpha = ∇_alpha L_val(w', alpha) - lr · (∇_alpha L_train(w+) - ∇_alpha L_train(w-)) / (2 eps')``
    with ``w± = w ± eps' · ∇_{w'} L_val(w', alpha)``, ``eps' = hvp_eps / ||∇_{w'} L_val||``
    (Liu et al., 2019, Eq. 7-8). The network's weights are restored exactly afterwards.

    Parameters
    ----------
    network : Supernet (DARTS mode)
    x, y : training batch; x_val, y_val : validation batch
    lr, momentum, weight_decay : the weight optimiser's current settings
    momentum_buffers : per weight (``network.weight_parameters()`` order), optional
    hvp_eps : float
        Numerator of the finite-difference step (DARTS: 0.01).
    """
    names_params = network.named_weight_parameters()
    names = [n for n, _ in names_params]
    weights = [p for _, p in names_params]
    arch = network.arch_parameter_list()
    loss = F.cross_entropy(network(x), y)
    grads = _grads_or_zeros(torch.autograd.grad(loss, weights, allow_unused=True), weights)
    with torch.no_grad():
        unrolled = []
        for k, (p, g) in enumerate(zip(weights, grads)):
            step = g + weight_decay * p
            buf = None if momentum_buffers is None else momentum_buffers[k]
            if buf is not None and momentum:
                step = step + momentum * buf
            unrolled.append((p - lr * step).requires_grad_(True))
    logits_val = functional_call(network, dict(zip(names, unrolled)), (x_val,))
    loss_val = F.cross_entropy(logits_val, y_val)
    out = torch.autograd.grad(loss_val, [*arch, *unrolled], allow_unused=True)
    dalphas = _grads_or_zeros(out[: len(arch)], arch)
    vector = _grads_or_zeros(out[len(arch) :], unrolled)
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(v) for v in vector]))
    if float(norm) > 0.0:
        r = hvp_eps / norm
        diffs = _gradient_difference(network, x, y, weights, vector, r)
        dalphas = [d - lr * diff / (2 * r) for d, diff in zip(dalphas, diffs)]
    return dalphas, loss_val.detach(), logits_val.detach()


def unrolled_arch_grad(
    network: Supernet,
    x: torch.Tensor,
    y: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    **settings: Any,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`unrolled_arch_grads` of a network with one architecture parameter: ``(d alpha, loss, logits)``.

    Raises :class:`~proxydata.exceptions.ProxydataValueError` for a network with
    several (DARTS space: normal and reduce; use :func:`unrolled_arch_grads`).
    """
    if len(network.arch_parameter_list()) != 1:
        raise ProxydataValueError(
            f"unrolled_arch_grad needs one architecture parameter, the network has "
            f"{len(network.arch_parameter_list())}; use unrolled_arch_grads"
        )
    grads, loss_val, logits_val = unrolled_arch_grads(network, x, y, x_val, y_val, **settings)
    return grads[0], loss_val, logits_val


def _gradient_difference(
    network: Supernet,
    x: torch.Tensor,
    y: torch.Tensor,
    weights: Sequence[torch.Tensor],
    vector: Sequence[torch.Tensor],
    r: torch.Tensor,
) -> list[torch.Tensor]:
    """``∇_alpha L_train(w + r·v) - ∇_alpha L_train(w - r·v)`` per architecture parameter (HVP times ``2 r``).

    The weights are restored exactly afterwards.
    """
    alpha = network.arch_parameter_list()
    saved = [p.detach().clone() for p in weights]
    with torch.no_grad():
        for p, v in zip(weights, vector):
            p.add_(v * r)
    grad_plus = _grads_or_zeros(
        torch.autograd.grad(F.cross_entropy(network(x), y), alpha, allow_unused=True), alpha
    )
    with torch.no_grad():
        for p, v in zip(weights, vector):
            p.sub_(v * (2 * r))
    grad_minus = _grads_or_zeros(
        torch.autograd.grad(F.cross_entropy(network(x), y), alpha, allow_unused=True), alpha
    )
    with torch.no_grad():
        for p, s in zip(weights, saved):
            p.copy_(s)
    return [p - m for p, m in zip(grad_plus, grad_minus)]


class FirstOrderArchStep:
    """DARTS-V1's architecture step (PC-DARTS's too); β-DARTS's with ``beta_lambda_max``.

    ``update(x, y, xv, yv, lr)``: the gradient of ``L_val`` (β-DARTS: plus
    ``lambda_e · L_beta(alpha)``) with respect to ``network.arch_parameter_list()``,
    then one step of ``optimizer``; returns the validation batch's detached
    logits and loss. The training batch and ``lr`` are not used (first order).

    Parameters
    ----------
    network : Supernet
    optimizer : torch.optim.Optimizer
        Over ``network.arch_parameter_list()`` (the search's Adam).
    generator : torch.Generator, optional
        Passed to the network's forward (GDAS's Gumbel noise; unused by DARTS).
    beta_lambda_max : float, optional
        β-DARTS: the regulariser weight reached at the end of the search; None
        for no regulariser.
    """

    def __init__(
        self,
        network: Supernet,
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator | None = None,
        *,
        beta_lambda_max: float | None = None,
    ) -> None:
        self.network = network
        self.optimizer = optimizer
        self.generator = generator
        self.params = network.arch_parameter_list()
        self.beta_lambda_max = beta_lambda_max
        self.beta_weight = 0.0

    def start_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        """Set the epoch's schedules; return what the record keeps of them (β-DARTS: ``beta_weights``)."""
        if self.beta_lambda_max is None:
            return {}
        self.beta_weight = beta_decay_weight(epoch, epochs, self.beta_lambda_max)
        return {"beta_weights": self.beta_weight}

    def update(
        self, x: torch.Tensor, y: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor, lr: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Update the architecture on ``(xv, yv)``; return its detached logits and loss."""
        logits_v = self.network(xv, self.generator)
        loss_v = F.cross_entropy(logits_v, yv)
        objective = loss_v
        if self.beta_lambda_max is not None:
            groups = self.network.alphas()
            penalty = beta_decay_loss(groups[0])
            for alpha in groups[1:]:
                penalty = penalty + beta_decay_loss(alpha)
            objective = loss_v + self.beta_weight * penalty
        # no weight gradients needed; a group no cell uses (no normal cell) gets zeros
        grads = _grads_or_zeros(torch.autograd.grad(objective, self.params, allow_unused=True), self.params)
        self.apply(grads)
        return logits_v.detach(), loss_v.detach()

    def apply(self, grads: Sequence[torch.Tensor]) -> None:
        """Set the architecture parameters' gradients and step the optimiser."""
        for p, g in zip(self.params, grads):
            p.grad = g
        self.optimizer.step()


class UnrolledArchStep(FirstOrderArchStep):
    """DARTS-V2's architecture step: :func:`unrolled_arch_grads` under the weight optimiser's current state.

    Parameters
    ----------
    network : Supernet (DARTS mode)
    optimizer : torch.optim.Optimizer
        The architecture optimiser.
    weight_optimizer : torch.optim.Optimizer
        The weight optimiser (its momentum buffers enter the unrolled step).
    weights : SGDSettings
        Its settings (momentum, weight decay).
    hvp_eps : float
        Numerator of the finite-difference step.
    """

    def __init__(
        self,
        network: Supernet,
        optimizer: torch.optim.Optimizer,
        weight_optimizer: torch.optim.Optimizer,
        weights: SGDSettings,
        hvp_eps: float,
    ) -> None:
        super().__init__(network, optimizer)
        self.weight_optimizer = weight_optimizer
        self.weights = weights
        self.hvp_eps = hvp_eps
        self.weight_params = network.weight_parameters()

    def update(
        self, x: torch.Tensor, y: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor, lr: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Update alpha by the unrolled gradient at weight learning rate ``lr``; return logits and loss."""
        buffers = [self.weight_optimizer.state[p].get("momentum_buffer") for p in self.weight_params]
        dalphas, loss_v, logits_v = unrolled_arch_grads(
            self.network, x, y, xv, yv, lr=lr, momentum=self.weights.momentum,
            weight_decay=self.weights.weight_decay, momentum_buffers=buffers, hvp_eps=self.hvp_eps,
        )  # fmt: skip
        self.apply(dalphas)
        return logits_v, loss_v


class PDartsArchStep(FirstOrderArchStep):
    """One P-DARTS stage's architecture step: DARTS's first order, the skip dropout set every epoch.

    Parameters
    ----------
    network : Supernet
        With a ``skip_dropout`` attribute (:class:`~proxydata.nas.spaces.darts.DartsSupernet`).
    optimizer : torch.optim.Optimizer
    generator : torch.Generator, optional
    rate : float
        The stage's dropout rate.
    warmup : int
        The stage's epochs without architecture steps (the loop skips them).
    grad_clip : float
        Max norm of the architecture gradient (0: none). The authors' ``train_search.py``
        clips the architecture gradient with the weights' ``grad_clip`` (5) before Adam's
        step, which DARTS does not.
    """

    def __init__(
        self,
        network: Supernet,
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator | None = None,
        *,
        rate: float,
        warmup: int,
        grad_clip: float = 0.0,
    ) -> None:
        super().__init__(network, optimizer, generator)
        self.rate, self.warmup = rate, warmup
        self.grad_clip = check_float(grad_clip, "grad_clip", minimum=0.0)

    def apply(self, grads: Sequence[torch.Tensor]) -> None:
        """Set the architecture gradients, clip their joint norm to ``grad_clip``, step the optimiser."""
        for p, g in zip(self.params, grads):
            p.grad = g
        if self.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        self.optimizer.step()

    def start_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        """Set the network's ``skip_dropout`` for the epoch; the record keeps it (``skip_dropouts``)."""
        p = skip_dropout_rate(epoch, epochs, self.rate, self.warmup)
        self.network.skip_dropout = p
        return {"skip_dropouts": p}
