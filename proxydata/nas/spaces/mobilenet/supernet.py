"""The supernet of the MobileNet-like space: every searchable layer a softmax mixture of its candidates.

DARTS's continuous relaxation (Liu et al., ICLR 2019, Eq. 2) applied per layer
of the chain, as β-DARTS (Ye et al., CVPR 2022) and BDP (Tu et al., 2023,
Sec. 4.3) search this space. Layer ``l`` holds one row ``alpha_l`` of the
architecture logits, shape ``(21, 7)`` (columns :data:`MOBILENET_OPS`); a layer
that does not offer ``"skip"`` has ``-inf`` in that column, so its weight is 0.
With ``w_l = softmax(alpha_l)``:

- a layer whose shapes differ (no skip): ``y = Σ_k w_{l,k} · MB_k(x)``;
- a layer whose shapes match: each MBConv candidate carries ProxylessNAS's
  identity residual and skip is the identity, so
  ``y = Σ_k w_{l,k} · (x + MB_k(x)) + w_{l,skip} · x = x + Σ_k w_{l,k} · MB_k(x)``
  (the weights sum to 1); the supernet computes the right-hand side.

The six MBConvs of a layer have their own weights and BatchNorm without affine
parameters (DARTS's search convention); the stem, the fixed first MBConv, the
head and the classifier are as in :class:`MobileNetNetwork`. The derived
architecture takes each layer's argmax (:meth:`MobileNetSupernet.genotype`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ....exceptions import ProxydataValueError
from ...supernet import Supernet
from ..nb201.network import seeded_init
from .arch import MobileNetArch
from .ops import MBConv, conv_bn_relu6
from .space import MB_CHOICES, MOBILENET_OPS, NUM_LAYERS, SKIP, LayerSpec, MobileNetSpace

__all__ = ["MixedLayer", "MobileNetSupernet"]


class MixedLayer(nn.Module):
    """One searchable layer: the six MBConv candidates (no residual of their own; see the module notes).

    Parameters
    ----------
    spec : LayerSpec
    """

    def __init__(self, spec: LayerSpec) -> None:
        super().__init__()
        self.spec = spec
        self.candidates = nn.ModuleList(
            MBConv(spec.in_channels, spec.out_channels, k, e, spec.stride, affine=False, residual=False)
            for k, e in MB_CHOICES
        )

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        """``Σ_k weights[k] · MB_k(x)``, plus ``x`` where skip is offered (``weights``: the softmax row)."""
        out = sum(weights[k] * op(x) for k, op in enumerate(self.candidates))
        return x + out if self.spec.skip_allowed else out  # type: ignore[return-value]


class MobileNetSupernet(Supernet):
    """The MobileNet-like space's supernet for DARTS (first order) and β-DARTS.

    Parameters
    ----------
    space : MobileNetSpace, optional
        Sizes; or give its fields as keyword arguments
        (``num_classes=10, input_size=16, stem_stride=1, width_mult=0.25``).
        Default: ImageNet's.
    seed : int, optional
        Seed of the initialisation (weights and ``alpha``; the global RNG is
        untouched); None uses the global RNG.

    Notes
    -----
    :func:`~proxydata.nas.search`'s Hessian probe (``hessian_batch=``) is not supported: it
    differentiates ``alphas()[0]``, which this class recomputes from ``arch_logits`` (masked)
    at every call, so the probe's tensor is not the one the forward pass uses.

    Attributes
    ----------
    arch_logits : nn.Parameter, shape (21, 7)
        The raw architecture parameters (``1e-3 · N(0, 1)`` at start, as DARTS);
        entries of candidates not offered are 0 and ignored (masked to ``-inf``
        by :meth:`alphas`, so they get no gradient and never change).
    offered : Tensor of bool, shape (21, 7)
        The mask of offered candidates (a buffer).
    """

    #: The space's name (:data:`proxydata.nas.spaces.SPACES`).
    space: ClassVar[str] = "mobilenet"
    #: Forward modes: DARTS's softmax mixture (DARTS-V1, β-DARTS); GDAS's sampling is not implemented here.
    modes: ClassVar[tuple[str, ...]] = ("darts",)

    def __init__(
        self, space: MobileNetSpace | None = None, *, seed: int | None = None, **space_fields: Any
    ) -> None:
        super().__init__()
        self.space_config = MobileNetSpace.coerce(space, **space_fields)
        self.algo = "darts"
        sp = self.space_config
        specs = sp.layers()
        offered = torch.ones(NUM_LAYERS, len(MOBILENET_OPS), dtype=torch.bool)
        offered[:, SKIP] = torch.tensor([s.skip_allowed for s in specs])
        self.register_buffer("offered", offered, persistent=False)
        with seeded_init(seed):
            self.stem = conv_bn_relu6(sp.in_channels, sp.stem_channels, 3, sp.stem_stride)
            self.first = MBConv(sp.stem_channels, sp.first_channels, 3, 1)
            self.layers = nn.ModuleList(MixedLayer(spec) for spec in specs)
            self.head = conv_bn_relu6(specs[-1].out_channels, sp.last_channels, 1)
            self.classifier = nn.Linear(sp.last_channels, sp.num_classes)
            alpha = 1e-3 * torch.randn(NUM_LAYERS, len(MOBILENET_OPS))
        # entries not offered stay 0: no gradient, and Adam's weight decay of 0 is 0
        self.arch_logits = nn.Parameter(alpha.masked_fill(~offered, 0.0))

    # -- the supernet interface (named_weight_parameters / weight_parameters: the base class's) ----
    def arch_parameter_list(self) -> list[nn.Parameter]:
        """What the architecture optimiser updates: ``[arch_logits]``."""
        return [self.arch_logits]

    def alphas(self) -> list[Tensor]:
        """``[alpha]``: the ``(21, 7)`` logits, ``-inf`` where a candidate is not offered (differentiable)."""
        return [self.arch_logits.masked_fill(~self.offered, float("-inf"))]

    @property
    def arch_parameters(self) -> Tensor:
        """The masked logits (``alphas()[0]``), for code that reads one architecture tensor."""
        return self.alphas()[0]

    def arch_weights(self) -> Tensor:
        """``softmax(alpha)`` per layer, shape ``(21, 7)`` (detached, float64); 0 where not offered."""
        return torch.softmax(self.alphas()[0].detach().double(), dim=-1).cpu()

    def genotype(self) -> MobileNetArch:
        """The derived architecture: each layer's argmax over its offered candidates."""
        return MobileNetArch.from_alphas(self.alphas()[0])

    def derive(self, *, seed: int | None = None) -> nn.Module:
        """A fresh :class:`MobileNetNetwork` of :meth:`genotype` on this supernet's space."""
        from .network import MobileNetNetwork

        return MobileNetNetwork(self.genotype(), self.space_config, seed=seed)

    def set_arch(self, alphas: Tensor) -> None:
        """Copy ``(21, 7)`` logits (e.g. hand-set ones) into ``arch_logits``; entries not offered become 0."""
        a = torch.as_tensor(alphas, dtype=self.arch_logits.dtype)
        if tuple(a.shape) != tuple(self.arch_logits.shape):
            raise ProxydataValueError(
                f"alphas must have shape {tuple(self.arch_logits.shape)}, got {tuple(a.shape)}"
            )
        with torch.no_grad():
            self.arch_logits.copy_(torch.where(self.offered, a, torch.zeros_like(a)))

    # -- forward -----------------------------------------------------------------------------
    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Logits ``(N, num_classes)``; ``generator`` is accepted for the interface and unused (DARTS)."""
        weights = torch.softmax(self.alphas()[0], dim=-1)
        x = self.first(self.stem(x))
        for layer, w in zip(self.layers, weights):
            x = layer(x, w)
        x = self.head(x).mean(dim=(2, 3))
        return self.classifier(x)
