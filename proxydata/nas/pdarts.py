"""P-DARTS (Chen et al., "Progressive Differentiable Architecture Search", ICCV 2019) on the DARTS space.

The search runs in three stages on ever deeper DARTS-space supernets
(:class:`~proxydata.nas.spaces.darts.DartsSupernet`) with ever fewer candidate
operations per edge (the paper's Sec. 3.2 and the authors' ``train_search.py``):

- stage ``s`` has ``5 + (0, 6, 12)[s]`` cells (5, 11, 17) and offers 8, 5 and 3
  operations per edge; after a stage the ``(3, 2, 2)`` weakest operations of every
  edge (by ``softmax(alpha)`` over the operations still offered) are dropped
  (:func:`drop_operations`), ``none`` first in the last stage, which leaves one;
- each stage is a first-order DARTS search (``algo="p-darts"`` in
  :func:`~proxydata.nas.search`: :class:`PDartsArchStep`) from fresh weights and
  architecture parameters with the authors' optimiser settings
  (:data:`PDARTS_OPTIMISERS`: Adam at 6e-4 rather than DARTS's 3e-4, the
  architecture gradient clipped to norm 5 like the weights', SGD's cosine down to 0),
  the architecture frozen for the first 10 of 25 epochs,
  with dropout after every ``skip_connect`` at rate ``(0.1, 0.4, 0.7)[s]`` (CIFAR-10),
  decayed ``rate · (E - e - 1) / E`` during the warm-up and ``rate · exp(-0.2 (e - 10))``
  after it (Sec. 3.3, "search stability");
- the final cell (:func:`pdarts_genotype`): per node the two incoming edges with
  the largest remaining non-``none`` weight (node 0 keeps both of its inputs),
  each with that operation; then, while the normal cell has more than
  ``max_skip = 2`` skip connections, the skip connection of lowest weight is
  removed from the offer and the cell derived again (Sec. 3.3, "architecture
  refinement").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .._validation import check_float, check_int
from ..exceptions import ProxydataValueError
from .darts import PDartsArchStep
from .schedules import skip_dropout_rate
from .search import search
from .spaces.darts.genotypes import DartsGenotype
from .spaces.darts.ops import DARTS_OPS
from .spaces.darts.search_cells import node_edges
from .spaces.darts.supernet import DartsSupernet

__all__ = [
    "PDARTS_OPTIMISERS",
    "PDartsArchStep",
    "PDartsResult",
    "drop_operations",
    "pdarts_genotype",
    "pdarts_search",
    "skip_dropout_rate",
]

_NONE, _SKIP = DARTS_OPS.index("none"), DARTS_OPS.index("skip_connect")

#: The optimiser settings of the authors' ``train_search.py`` (chenxin061/pdarts), which
#: :func:`pdarts_search` uses unless told otherwise: weights SGD 0.025 cosine to 0,
#: momentum 0.9, weight decay 3e-4, gradient norm clipped to 5; architecture Adam 6e-4,
#: betas (0.5, 0.999), weight decay 1e-3, its gradient clipped to the same norm 5
#: (:class:`PDartsArchStep`). Their batch size, 96, is the loaders'.
PDARTS_OPTIMISERS: dict[str, Any] = {
    "w_lr": 0.025,
    "w_lr_min": 0.0,
    "w_momentum": 0.9,
    "w_weight_decay": 3e-4,
    "w_nesterov": False,
    "grad_clip": 5.0,
    "a_lr": 6e-4,
    "a_betas": (0.5, 0.999),
    "a_weight_decay": 1e-3,
}


def drop_operations(weights: Any, mask: Any, n_drop: int, *, last: bool = False) -> np.ndarray:
    """The offer after a stage: per edge, the ``n_drop`` operations of lowest weight removed.

    Parameters
    ----------
    weights : array (edges, 8)
        ``softmax(alpha)`` over the offered operations (0 elsewhere).
    mask : bool array (edges, 8)
        The operations offered during the stage.
    n_drop : int
        How many to remove per edge (P-DARTS: 3, 2, 2).
    last : bool
        The last stage: ``none``, when offered, is removed first (P-DARTS's ``get_min_k_no_zero``).

    Returns
    -------
    np.ndarray of bool, (edges, 8)
        Ties go to the earlier operation (removed first), as ``np.argsort``'s stable order.
    """
    w = np.asarray(torch.as_tensor(weights).detach().double().cpu(), dtype=np.float64)
    out = np.asarray(mask, dtype=bool).copy()
    n_drop = check_int(n_drop, "n_drop", minimum=0)
    for e in range(out.shape[0]):
        offered = np.flatnonzero(out[e])
        if n_drop >= len(offered):
            raise ProxydataValueError(f"edge {e} offers {len(offered)} operations; cannot drop {n_drop}")
        drop: list[int] = []
        if last and out[e, _NONE]:
            drop.append(_NONE)
        rest = [k for k in offered if k not in drop]
        order = sorted(rest, key=lambda k: w[e, k])  # stable: earlier op first on ties
        drop += order[: n_drop - len(drop)]
        out[e, drop] = False
    return out


def _keep_two(strength: np.ndarray, steps: int) -> list[int]:
    keep = []
    for i, (a, b) in enumerate(node_edges(steps)):
        if i == 0:
            keep += [a, a + 1]
            continue
        order = sorted(range(b - a), key=lambda j: strength[a + j])  # ascending; last two kept
        keep += sorted([a + order[-1], a + order[-2]])
    return keep


def _cell(probs: np.ndarray, steps: int) -> tuple[list[tuple[str, int]], list[int]]:
    p = probs.copy()
    p[:, _NONE] = 0.0
    strength = p.max(1)
    keep = _keep_two(strength, steps)
    gene, ops = [], []
    for a, _b in node_edges(steps):
        for e in [k for k in keep if a <= k < _b]:
            best = int(np.argmax(p[e]))
            gene.append((DARTS_OPS[best], e - a))
            ops.append(best)
    return gene, ops


def pdarts_genotype(
    weights_normal: Any, weights_reduce: Any, *, steps: int = 4, max_skip: int = 2
) -> DartsGenotype:
    """P-DARTS's final cells from the last stage's weights (each (edges, 8), 0 where not offered).

    See the module notes; the normal cell keeps at most ``max_skip`` ``skip_connect`` s
    (the one of lowest weight goes first, its weight set to 0 and the cell derived again).
    """
    max_skip = check_int(max_skip, "max_skip", minimum=0)
    wn = np.asarray(torch.as_tensor(weights_normal).detach().double().cpu(), dtype=np.float64).copy()
    wr = np.asarray(torch.as_tensor(weights_reduce).detach().double().cpu(), dtype=np.float64)
    normal, ops = _cell(wn, steps)
    while sum(op == _SKIP for op in ops) > max_skip:
        kept = _kept_edges(normal, steps)
        skips = [e for e, op in zip(kept, ops) if op == _SKIP]
        weakest = min(skips, key=lambda e: wn[e, _SKIP])
        wn[weakest, _SKIP] = 0.0
        normal, ops = _cell(wn, steps)
    reduce, _ = _cell(wr, steps)
    concat = range(2, 2 + steps)
    return DartsGenotype(normal=normal, normal_concat=concat, reduce=reduce, reduce_concat=concat)


def _kept_edges(gene: list[tuple[str, int]], steps: int) -> list[int]:
    out = []
    for i, (a, _b) in enumerate(node_edges(steps)):
        out += [a + j for _op, j in gene[2 * i : 2 * i + 2]]
    return out


@dataclass
class PDartsResult:
    """What :func:`pdarts_search` returns.

    Attributes
    ----------
    genotype : str
        The final cells (DARTS text form).
    stages : list of SearchResult
        Each stage's record.
    masks : list of np.ndarray
        The operations offered in each stage, (2, 14, 8) bool (normal, reduce).
    """

    genotype: str = ""
    stages: list[Any] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable."""
        return {
            "genotype": self.genotype,
            "stages": [s.to_dict() for s in self.stages],
            "masks": [m.astype(int).tolist() for m in self.masks],
        }


def pdarts_search(
    train_loader: Iterable[Any],
    val_loader: Iterable[Any],
    *,
    C: int = 16,
    layers: tuple[int, int, int] = (5, 11, 17),
    drops: tuple[int, int, int] = (3, 2, 2),
    rates: tuple[float, float, float] = (0.1, 0.4, 0.7),
    epochs: int = 25,
    warmup: int = 10,
    max_skip: int = 2,
    num_classes: int = 10,
    in_channels: int = 3,
    seed: int = 0,
    pruner: Any = None,
    **search_kwargs: Any,
) -> PDartsResult:
    """P-DARTS's three stages (see the module notes), each a :func:`~proxydata.nas.search` call.

    ``pruner`` (e.g. a :class:`~proxydata.BiLevelPruner` built with ``3 · epochs``
    epochs) observes every stage in turn; ``search_kwargs`` go to every stage's
    :func:`~proxydata.nas.search` (``progress``, ``device``, and optimiser settings,
    which replace those of :data:`PDARTS_OPTIMISERS`). Stage ``s`` builds its
    supernet with seed ``seed + s``.
    """
    epochs = check_int(epochs, "epochs", minimum=1)
    warmup = check_int(warmup, "warmup", minimum=0)
    for r in rates:
        check_float(r, "rates", minimum=0.0)
    if not (len(layers) == len(drops) == len(rates)):
        raise ProxydataValueError(
            f"layers, drops and rates need one entry per stage, got {layers}, {drops}, {rates}"
        )
    search_kwargs = {**PDARTS_OPTIMISERS, **search_kwargs}
    result = PDartsResult()
    mask = None
    for s, (n_cells, n_drop, rate) in enumerate(zip(layers, drops, rates)):
        net = DartsSupernet(
            C=C, layers=n_cells, num_classes=num_classes, in_channels=in_channels, seed=seed + s
        )
        if mask is not None:
            net.op_mask.copy_(torch.as_tensor(mask))
        result.masks.append(net.op_mask.cpu().numpy().copy())
        stage = search(
            net, train_loader, val_loader, algo="p-darts", epochs=epochs, seed=seed + s, pruner=pruner,
            skip_dropout=rate, arch_warmup_epochs=min(warmup, epochs - 1), **search_kwargs,
        )  # fmt: skip
        result.stages.append(stage)
        with torch.no_grad():
            wn, wr = net.mixing_weights()
        last = s == len(layers) - 1
        if last:
            result.genotype = str(pdarts_genotype(wn, wr, steps=net.steps, max_skip=max_skip))
        else:
            mask = np.stack(
                [drop_operations(w, m, n_drop) for w, m in zip((wn, wr), net.op_mask.cpu().numpy())]
            )
    return result
