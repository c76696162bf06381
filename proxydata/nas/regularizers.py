"""Architecture-parameter analysis: β-DARTS's beta-decay loss, the Hessian's top eigenvalue."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .._validation import check_float, check_int, check_seed
from ..exceptions import ProxydataTypeError, ProxydataValueError

__all__ = ["beta_decay_loss", "dominant_hessian_eigenvalue"]


def beta_decay_loss(alpha: torch.Tensor) -> torch.Tensor:
    """β-DARTS's beta-decay regulariser of the architecture logits.

    ``L_beta(alpha) = (1 / |E|) · Σ_{e ∈ E} log Σ_k exp(alpha_{e,k})`` — the mean
    over edges of the smooth maximum (logsumexp) of each edge's logits (Ye et
    al., "β-DARTS: Beta-Decay Regularization for Differentiable Architecture
    Search", CVPR 2022, Eq. 7). Its gradient is ``softmax(alpha_e) / |E|``:
    minimising it decays the mixing weights' logits towards each other, which
    keeps the softmax weights ``beta`` from saturating.

    Parameters
    ----------
    alpha : torch.Tensor, shape (edges, ops)

    Returns
    -------
    torch.Tensor
        A scalar, differentiable in ``alpha``.
    """
    if not isinstance(alpha, torch.Tensor):
        raise ProxydataTypeError(f"alpha must be a torch.Tensor, got {type(alpha).__name__}")
    if alpha.ndim != 2 or alpha.shape[0] == 0 or alpha.shape[1] == 0:
        raise ProxydataValueError(
            f"alpha must have shape (edges, ops) with both > 0, got {tuple(alpha.shape)}"
        )
    return torch.logsumexp(alpha, dim=-1).mean()


def dominant_hessian_eigenvalue(
    loss_fn: Callable[[], torch.Tensor],
    params: torch.Tensor,
    *,
    iterations: int = 20,
    tol: float = 1e-4,
    seed: int = 0,
    init: torch.Tensor | None = None,
) -> tuple[float, torch.Tensor]:
    """The eigenvalue of largest magnitude of ``∇²_params loss`` by power iteration.

    Power iteration on Hessian-vector products ``H v = ∇_p (∇_p L · v)`` (two
    calls of :func:`torch.autograd.grad`, the graph of ``∇_p L`` kept):
    ``v <- H v / ||H v||``; the estimate is the Rayleigh quotient ``v·Hv`` of the
    unit vector ``v``. It stops after ``iterations`` products or when the
    estimate changes by less than ``tol`` (relative). BDP (Tu et al. 2023,
    Fig. 3c) tracks this value for the validation loss with respect to the
    architecture parameters: a large dominant eigenvalue marks a sharp
    architecture landscape, which correlates with DARTS's collapse (Zela et al.,
    ICLR 2020).

    Parameters
    ----------
    loss_fn : callable returning a scalar tensor
        Evaluated once; it must depend on ``params`` differentiably (twice).
    params : torch.Tensor with ``requires_grad``
    iterations : int >= 1
    tol : float >= 0
    seed : int
        Seeds the random start vector (a ``torch.Generator``).
    init : torch.Tensor, optional
        Start vector (e.g. the previous epoch's eigenvector); random when None
        or zero.

    Returns
    -------
    eigenvalue : float
    vector : torch.Tensor
        The unit eigenvector estimate, shaped like ``params`` (detached).
    """
    if not isinstance(params, torch.Tensor) or not params.requires_grad:
        raise ProxydataTypeError("params must be a torch.Tensor with requires_grad=True")
    iterations = check_int(iterations, "iterations", minimum=1)
    tol = check_float(tol, "tol", minimum=0.0)
    seed = check_seed(seed)
    loss = loss_fn()
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise ProxydataValueError("loss_fn must return a scalar tensor")
    (grad,) = torch.autograd.grad(loss, params, create_graph=True)
    if init is not None and tuple(init.shape) == tuple(params.shape) and float(init.norm()) > 0:
        v = init.detach().to(params.device, params.dtype).clone()
    else:
        gen = torch.Generator(device="cpu").manual_seed(seed)
        v = torch.randn(params.shape, generator=gen, dtype=params.dtype).to(params.device)
    v = v / v.norm()
    estimate = float("nan")
    for k in range(iterations):
        (hv,) = torch.autograd.grad(grad, params, grad_outputs=v, retain_graph=k < iterations - 1)
        hv = hv.detach()
        new = float((v * hv).sum())
        norm = float(hv.norm())
        if norm == 0.0:
            return 0.0, v
        v = hv / norm
        if abs(new - estimate) <= tol * max(abs(new), 1e-12):
            return new, v
        estimate = new
    return estimate, v
