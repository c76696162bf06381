"""Model size and cost as NAS papers report them: parameters and multiply-adds.

Two counters, independent of the search space:

- :func:`count_parameters` — the number of parameters, leaving out the auxiliary head as the
  DARTS repository's ``count_parameters_in_MB`` does (the head is used in training only);
- :func:`count_flops` — the multiply-adds of one forward pass of one input ("FLOPs" / "mult-adds"
  in DARTS, PC-DARTS, P-DARTS and ProxylessNAS tables, which count a multiply-add once).

What :func:`count_flops` counts, per call of a module's ``forward`` during one forward pass of
one input in eval mode (``N = 1``):

================================  ===========================================================
``nn.Conv1d/2d/3d``               ``out.numel() · (in_channels / groups) · prod(kernel_size)``
                                  (a depthwise convolution has ``groups = in_channels``, so it
                                  costs ``out.numel() · prod(kernel_size)``)
``nn.Linear``                     ``out.numel() · in_features``
everything else                   0 — BatchNorm, activations, pooling, the additions of a
                                  cell's nodes and of biases, concatenation, dropout
================================  ===========================================================

Transposed convolutions and functions called outside a module (``F.conv2d`` in a ``forward``)
are not counted. Modules that run only in training mode (DARTS's auxiliary head) do not run in
eval mode and so are not counted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from .._validation import show
from ..exceptions import ProxydataTypeError, ProxydataValueError

__all__ = ["count_flops", "count_parameters"]


def _check_model(model: Any) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise ProxydataTypeError(f"model must be a torch.nn.Module, got {show(model)}")
    return model


def count_parameters(model: nn.Module, *, exclude: Iterable[str] = ("auxiliary",)) -> int:
    """Number of parameters of ``model``, leaving out those whose name contains an ``exclude`` word.

    The default, ``exclude=("auxiliary",)``, is the convention of the DARTS papers and
    repositories (``utils.count_parameters_in_MB``): the auxiliary classifier, trained alongside
    the network but dropped at test time, is not counted. Pass ``exclude=()`` to count
    everything. A parameter shared by several modules is counted once; buffers (BatchNorm's
    running statistics) are not parameters and are not counted.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    exclude : iterable of str, default ("auxiliary",)
        Substrings of the qualified parameter names (``model.named_parameters()``) to leave out.

    Returns
    -------
    int
        ``sum(p.numel())`` over the parameters kept. Divide by ``1e6`` for the papers' "M".

    Examples
    --------
    >>> count_parameters(nn.Linear(3, 2))
    8
    """
    model = _check_model(model)
    if isinstance(exclude, str) or not isinstance(exclude, Iterable):
        raise ProxydataTypeError(f"exclude must be an iterable of str (not a str), got {show(exclude)}")
    words = tuple(exclude)
    for word in words:
        if not isinstance(word, str) or not word:
            raise ProxydataTypeError(f"exclude must hold non-empty str, got {show(word)} in {show(words)}")
    return sum(p.numel() for name, p in model.named_parameters() if not any(w in name for w in words))


def _conv_macs(module: nn.modules.conv._ConvNd, output: torch.Tensor) -> int:
    per_output = (module.in_channels // module.groups) * math.prod(module.kernel_size)
    return output.numel() * per_output


def count_flops(model: nn.Module, input_size: Sequence[int]) -> int:
    """Multiply-adds of one forward pass of one input of shape ``input_size`` (no batch dimension).

    Runs ``model`` once in eval mode under ``torch.no_grad()`` on a zero input of shape
    ``(1, *input_size)`` (on the device and in the floating dtype of the model's first
    parameter) with forward hooks on every convolution and linear layer, and sums their
    multiply-adds (table in :mod:`proxydata.nas.counting`). The training flags of all modules
    are restored afterwards. Conventions as DARTS's and ProxylessNAS's tables: a multiply-add
    counts once; BatchNorm, activations, pooling, bias and node additions count zero; modules
    that run only in training (DARTS's auxiliary head) are not run.

    Parameters
    ----------
    model : torch.nn.Module
        The network; its ``forward`` must accept one tensor.
    input_size : sequence of int
        Shape of one input without the batch dimension, e.g. ``(3, 224, 224)``.

    Returns
    -------
    int
        Multiply-adds. Divide by ``1e6`` for the papers' "M".

    Examples
    --------
    >>> count_flops(nn.Conv2d(3, 8, 3, padding=1, bias=False), (3, 4, 4))  # 4·4·8 outputs × 3·3·3
    3456
    """
    model = _check_model(model)
    if isinstance(input_size, str) or not isinstance(input_size, Sequence) or not input_size:
        raise ProxydataTypeError(f"input_size must be a non-empty sequence of int, got {show(input_size)}")
    for dim in input_size:
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise ProxydataTypeError(f"input_size must hold ints, got {show(dim)} in {show(input_size)}")
        if dim < 1:
            raise ProxydataValueError(f"input_size must hold positive sizes, got {show(tuple(input_size))}")
    first = next((p for p in model.parameters() if p.is_floating_point()), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None else torch.get_default_dtype()

    total = 0

    def conv_hook(module: nn.Module, args: Any, output: torch.Tensor) -> None:
        nonlocal total
        total += _conv_macs(module, output)  # type: ignore[arg-type]

    def linear_hook(module: nn.Module, args: Any, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * module.in_features  # type: ignore[operator]

    handles = []
    modes = {m: m.training for m in model.modules()}
    try:
        for module in model.modules():
            if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d):
                handles.append(module.register_forward_hook(conv_hook))
            elif isinstance(module, nn.Linear):
                handles.append(module.register_forward_hook(linear_hook))
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1, *input_size), device=device, dtype=dtype))
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in modes.items():
            module.training = mode
    return int(total)
