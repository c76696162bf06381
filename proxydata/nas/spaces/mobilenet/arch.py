"""A derived architecture of the MobileNet-like space: one candidate per layer, and its JSON form."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ...._validation import show
from ....exceptions import ProxydataTypeError, ProxydataValueError
from .space import MOBILENET_OPS, NUM_LAYERS, STAGE_DEPTHS, MobileNetSpace

__all__ = ["MobileNetArch"]

_SPACE = "mobilenet"


@dataclass(frozen=True)
class MobileNetArch:
    """The candidate chosen at each of the 21 searchable layers (names of :data:`MOBILENET_OPS`).

    ``str(arch)`` is the text a search record keeps: the layers' names, stages
    separated by ``" | "`` (``"mb_k3_e6 skip skip mb_k5_e3 | …"``); :meth:`parse`
    reads it back. :meth:`to_json` / :meth:`from_json` give the plain JSON form,
    one entry per layer::

        {"space": "mobilenet",
         "layers": [{"layer": 0, "op": "mb_k3_e6"}, {"layer": 1, "op": "skip"}, …]}

    Parameters
    ----------
    ops : sequence of 21 str
        Each one of :data:`MOBILENET_OPS`. Whether ``"skip"`` is allowed at a
        layer depends on the space's widths: :meth:`check` tests it against a
        :class:`MobileNetSpace` (the networks do so when built).
    """

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        ops = self.ops
        if isinstance(ops, str) or not isinstance(ops, Sequence):
            raise ProxydataTypeError(
                f"ops must be a sequence of {NUM_LAYERS} operation names, got {show(ops)}"
            )
        ops = tuple(ops)
        if len(ops) != NUM_LAYERS:
            raise ProxydataValueError(f"ops must hold {NUM_LAYERS} operation names, got {len(ops)}")
        for i, op in enumerate(ops):
            if op not in MOBILENET_OPS:
                raise ProxydataValueError(f"ops[{i}] must be one of {MOBILENET_OPS}, got {show(op)}")
        object.__setattr__(self, "ops", ops)

    # -- derived from the supernet --------------------------------------------------------
    @classmethod
    def from_alphas(cls, alphas: torch.Tensor | Any) -> MobileNetArch:
        """Each layer's argmax over its offered candidates (ties: the first in :data:`MOBILENET_OPS`).

        ``alphas`` has shape ``(21, 7)``; a candidate that is not offered holds
        ``-inf`` (as :meth:`MobileNetSupernet.alphas` returns it).
        """
        a = torch.as_tensor(alphas).detach().cpu().double()
        if a.shape != (NUM_LAYERS, len(MOBILENET_OPS)):
            raise ProxydataValueError(
                f"alphas must have shape ({NUM_LAYERS}, {len(MOBILENET_OPS)}), got {tuple(a.shape)}"
            )
        return cls(tuple(MOBILENET_OPS[int(k)] for k in a.argmax(dim=1)))

    # -- checks and summaries ------------------------------------------------------------
    def check(self, space: MobileNetSpace) -> MobileNetArch:
        """Raise unless ``"skip"`` is chosen only where ``space`` offers it; return ``self``."""
        for spec, op in zip(space.layers(), self.ops):
            if op == "skip" and not spec.skip_allowed:
                raise ProxydataValueError(
                    f"layers[{spec.index}].op is 'skip', but layer {spec.index} changes the shape "
                    f"({spec.in_channels} -> {spec.out_channels} channels, stride {spec.stride}): "
                    f"one of {spec.ops} is needed"
                )
        return self

    @property
    def num_skips(self) -> int:
        """How many layers are ``"skip"`` (the depth the search removed)."""
        return sum(op == "skip" for op in self.ops)

    @property
    def depth(self) -> int:
        """How many searchable layers are MBConvs."""
        return NUM_LAYERS - self.num_skips

    def stages(self) -> list[tuple[str, ...]]:
        """The ops grouped by stage (4, 4, 4, 4, 4, 1)."""
        out, start = [], 0
        for depth in STAGE_DEPTHS:
            out.append(self.ops[start : start + depth])
            start += depth
        return out

    def __str__(self) -> str:
        return " | ".join(" ".join(stage) for stage in self.stages())

    @classmethod
    def parse(cls, text: str) -> MobileNetArch:
        """Read :func:`str`'s form back (stage separators ``|`` are optional)."""
        if not isinstance(text, str):
            raise ProxydataTypeError(f"text must be a str, got {show(text)}")
        return cls(tuple(text.replace("|", " ").split()))

    # -- JSON ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """``{"space": "mobilenet", "layers": [{"layer": i, "op": name}, …]}``."""
        return {"space": _SPACE, "layers": [{"layer": i, "op": op} for i, op in enumerate(self.ops)]}

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as JSON text (``kwargs`` go to :func:`json.dumps`, e.g. ``indent=1``)."""
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: Any, space: MobileNetSpace | None = None) -> MobileNetArch:
        """Read :meth:`to_dict`'s form; errors name the bad field (``layers[5].op``).

        Parameters
        ----------
        data : dict
        space : MobileNetSpace, optional
            Also check that ``"skip"`` appears only where this space offers it.
        """
        if not isinstance(data, dict):
            raise ProxydataTypeError(f"an architecture must be a JSON object, got {show(data)}")
        if data.get("space") != _SPACE:
            raise ProxydataValueError(f"space must be {_SPACE!r}, got {show(data.get('space'))}")
        extra = sorted(set(data) - {"space", "layers"})
        if extra:
            raise ProxydataValueError(f"unknown field(s) {extra}; an architecture has 'space' and 'layers'")
        layers = data.get("layers")
        if not isinstance(layers, list):
            raise ProxydataTypeError(f"layers must be a list of {NUM_LAYERS} objects, got {show(layers)}")
        if len(layers) != NUM_LAYERS:
            raise ProxydataValueError(f"layers must hold {NUM_LAYERS} entries, got {len(layers)}")
        ops = []
        for i, entry in enumerate(layers):
            if not isinstance(entry, dict) or set(entry) != {"layer", "op"}:
                raise ProxydataValueError(
                    f"layers[{i}] must be an object with the fields 'layer' and 'op', got {show(entry)}"
                )
            if isinstance(entry["layer"], bool) or entry["layer"] != i:
                raise ProxydataValueError(f"layers[{i}].layer must be {i}, got {show(entry['layer'])}")
            if entry["op"] not in MOBILENET_OPS:
                raise ProxydataValueError(
                    f"layers[{i}].op must be one of {MOBILENET_OPS}, got {show(entry['op'])}"
                )
            ops.append(entry["op"])
        arch = cls(tuple(ops))
        return arch if space is None else arch.check(space)

    @classmethod
    def from_json(cls, text: str, space: MobileNetSpace | None = None) -> MobileNetArch:
        """Read :meth:`to_json`'s text (see :meth:`from_dict`)."""
        if not isinstance(text, (str, bytes)):
            raise ProxydataTypeError(f"text must be JSON text, got {show(text)}")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProxydataValueError(f"not JSON: {exc}") from exc
        return cls.from_dict(data, space)

    @classmethod
    def uniform(cls, op: str, space: MobileNetSpace | None = None) -> MobileNetArch:
        """Every layer ``op``; ``op="skip"``: skip wherever ``space`` offers it, ``mb_k3_e3`` elsewhere."""
        if op != "skip":
            return cls((op,) * NUM_LAYERS)
        mask = (space or MobileNetSpace()).skip_mask()
        return cls(tuple("skip" if m else MOBILENET_OPS[0] for m in mask))
