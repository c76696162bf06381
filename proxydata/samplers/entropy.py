"""The entropy proxy of Na et al., "Accelerating Neural Architecture Search via Proxy Data" (IJCAI 2021).

Every candidate's entropy ``H_i = −Σ_k p_ik log p_ik`` (natural log) under a
reference classifier's softmax ``p_i``; a histogram of ``log10 H_i`` in bins of
a fixed width; then ``round(r·n)`` samples drawn without replacement with a
probability that favours the sparse bins — the low- and high-entropy tails —
over the crowded middle (the paper's probabilistic selection, "P1").
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_choice, check_float
from .base import shared_args
from .classifier import ClassifierProxy

__all__ = [
    "BIN_WIDTHS",
    "ENTROPY_FLOOR",
    "PROBABILITY_CHOICES",
    "EntropyBins",
    "EntropyProxy",
    "entropy_bins",
    "entropy_sample",
    "softmax_entropy",
]

#: The authors' bin width of ``log10 H`` per dataset (their public code).
BIN_WIDTHS = {"cifar10": 0.5, "cifar100": 0.25, "svhn": 0.2, "imagenet": 0.25}
#: The per-bin selection probabilities of the paper: P1 (default), P2, P3.
PROBABILITY_CHOICES = ("p1", "p2", "p3")
#: Smallest entropy used (float64's smallest normal number): ``log10`` of an
#: exactly one-hot softmax would be ``-inf``.
ENTROPY_FLOOR = 2.2250738585072014e-308


def softmax_entropy(logits: torch.Tensor) -> torch.Tensor:
    """``H = −Σ_k softmax(z)_k · log_softmax(z)_k`` per row, in float64 (natural log)."""
    z = logits.double()
    return -(F.softmax(z, dim=1) * F.log_softmax(z, dim=1)).sum(dim=1)


@dataclass(frozen=True)
class EntropyBins:
    """The histogram of ``log10 H`` the entropy proxy draws from.

    Attributes
    ----------
    edges : np.ndarray of float64, shape (B + 1,)
        Bin edges ``low + j·w``; bin ``j`` is ``[edges[j], edges[j+1])`` (the last one closed).
    bin_of : np.ndarray of int64, shape (n,)
        The bin of every sample.
    counts : np.ndarray of int64, shape (B,)
        Samples per bin.
    bin_probability : np.ndarray of float64, shape (B,)
        The probability of each bin (P1, P2 or P3, normalised; 0 for an empty bin).
    sample_probability : np.ndarray of float64, shape (n,)
        ``bin_probability[bin_of[i]] / counts[bin_of[i]]``, normalised to sum to 1.
    """

    edges: np.ndarray
    bin_of: np.ndarray
    counts: np.ndarray
    bin_probability: np.ndarray
    sample_probability: np.ndarray


def entropy_bins(entropy: np.ndarray, bin_width: float, probability: str = "p1") -> EntropyBins:
    """Bin ``L_i = log10 max(H_i, floor)`` and give every sample its selection probability.

    Edges (the authors' rule): the low edge starts at ``round(min L)`` and steps
    down by ``w`` until it is ``<= min L``; the high edge starts at
    ``round(max L)`` and steps up by ``w`` until it is ``>= max L``; the bins
    are ``w`` wide in between. Per-bin probability, with ``c_j`` the bin counts:

    * ``"p1"`` (the paper's choice): ``∝ (max_j c_j − c_j + 1)`` for a non-empty bin;
    * ``"p2"``: ``∝ 1`` for every bin (empty ones included: their share is lost
      when normalising the per-sample probabilities);
    * ``"p3"``: ``∝ 1 / c_j`` for a non-empty bin.

    A sample's probability is its bin's divided by ``c_j`` (uniform within a bin).

    Our choices where the authors' code is silent or raises: a value on an
    inner edge goes to the bin above it (half-open bins; their code raises on
    an exact edge), and ``H`` is floored at :data:`ENTROPY_FLOOR` before the
    logarithm.
    """
    w = check_float(bin_width, "bin_width", strictly_positive=True)
    check_choice(probability, "probability", PROBABILITY_CHOICES)
    h = np.asarray(entropy, dtype=np.float64)
    log_h = np.log10(np.maximum(h, ENTROPY_FLOOR))
    lo_val, hi_val = float(log_h.min()), float(log_h.max())
    low = float(np.round(lo_val))
    while lo_val < low:
        low -= w
    high = float(np.round(hi_val))
    while hi_val > high:
        high += w
    n_bins = max(1, math.ceil((high - low) / w - 1e-9))
    edges = low + w * np.arange(n_bins + 1, dtype=np.float64)
    bin_of = np.clip(np.floor((log_h - low) / w).astype(np.int64), 0, n_bins - 1)
    counts = np.bincount(bin_of, minlength=n_bins).astype(np.int64)
    filled = counts > 0
    if probability == "p1":
        weight = np.where(filled, counts.max() - counts + 1, 0).astype(np.float64)
    elif probability == "p2":
        weight = np.ones(n_bins, dtype=np.float64)
    else:
        weight = np.where(filled, 1.0 / np.maximum(counts, 1), 0.0)
    bin_probability = weight / weight.sum()
    per_sample = bin_probability[bin_of] / counts[bin_of]
    return EntropyBins(edges, bin_of, counts, bin_probability, per_sample / per_sample.sum())


def entropy_sample(bins: EntropyBins, m: int, seed: int) -> np.ndarray:
    """``m`` distinct positions drawn with ``bins.sample_probability`` (sorted).

    ``np.random.default_rng(seed).choice(n, m, replace=False, p=...)``: draws
    one after another, each with the probabilities of the samples not yet drawn
    renormalised (as the authors' ``np.random.choice`` call does).
    """
    p = bins.sample_probability
    n = p.shape[0]
    positive = int(np.count_nonzero(p > 0))
    rng = np.random.default_rng(seed)
    if m <= positive:
        return np.sort(rng.choice(n, size=m, replace=False, p=p))
    # fewer samples with a positive probability than asked for cannot happen with P1-P3 on
    # non-empty bins; kept as a guard: take them all, then the rest uniformly
    chosen = np.flatnonzero(p > 0)
    rest = rng.choice(np.flatnonzero(p == 0), size=m - positive, replace=False)
    return np.sort(np.concatenate([chosen, rest]))


class EntropyProxy(ClassifierProxy):
    """The entropy proxy of Na et al. (IJCAI 2021): sample across the entropy histogram.

    1. **Entropy.** ``H_i = −Σ_k p_ik ln p_ik`` with ``p_i`` the softmax of a
       reference classifier's logits (:func:`softmax_entropy`). The reference
       is ``model`` (a trained classifier, used as given in eval mode: neither
       trained nor re-initialised), or — with ``model=None`` — the default
       small CNN trained here for ``epochs`` epochs (SGD, seeded like the other
       baselines; :mod:`proxydata.samplers.classifier`). The authors use a
       ResNet-20 (ResNet-56 for CIFAR-100) trained fully (200 epochs);
       training briefly on the data itself is our default, as AE and TL do.
    2. **Histogram.** ``log10 H_i`` in bins of width ``bin_width``
       (:func:`entropy_bins`; the authors' widths are :data:`BIN_WIDTHS`:
       0.5 for CIFAR-10, our default, 0.25 for CIFAR-100 and ImageNet, 0.2 for SVHN).
    3. **Sampling.** Each bin gets a probability — the paper's P1 by default,
       ``∝ max_j c_j − c_j + 1``, so the sparse low- and high-entropy tails are
       sampled far more densely than the crowded middle — shared uniformly by
       its samples; ``round(r·n)`` samples are drawn without replacement
       (:func:`entropy_sample`, seeded with ``seed``). ``probability="p2"``
       (bins equally likely) and ``"p3"`` (``∝ 1/c_j``) are the paper's
       alternatives.

    From the authors' public code: natural-log entropy, ``log10`` histogram,
    edge rule, widths, P1-P3, sampling without replacement. Our choices: the
    kept count ``round(r·n)`` (theirs ``floor(r·n)``), half-open bins, the
    entropy floor, the default reference network. Not class-conditional (nor
    is theirs).

    Parameters
    ----------
    dataset : map-style dataset of images
    ratio : float in (0, 1]
        The paper's default sampling portion is 0.1.
    model : nn.Module, optional
        A trained reference classifier ``(b, C, H, W) → (b, K)`` logits; a deep
        copy is run, the module passed is untouched.
    bin_width : float > 0
        Width of a bin of ``log10 H``.
    probability : {"p1", "p2", "p3"}
    epochs : int >= 1
        Training epochs of the default reference (unused with ``model``).
    batch_size, lr, momentum, weight_decay : training settings of the default reference
    eval_batch_size : int
    device : str or torch.device, optional
    seed, shuffle, num_replicas, rank, drop_last, progress, targets, indices
        See :class:`~proxydata.samplers.base.ProxySampler`.

    Attributes
    ----------
    scores : np.ndarray of float64
        ``H_i`` for every sample.
    bins : EntropyBins or None
        The histogram and probabilities (None on a loaded proxy).
    """

    method = "entropy"

    def __init__(
        self,
        dataset: Any,
        ratio: float,
        *,
        model: nn.Module | None = None,
        bin_width: float = 0.5,
        probability: str = "p1",
        epochs: int = 10,
        batch_size: int = 128,
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        eval_batch_size: int = 256,
        device: str | torch.device | None = None,
        seed: int = 0,
        shuffle: bool = True,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
        progress: bool = True,
        targets: Any = None,
        indices: Any = None,
    ) -> None:
        self.model, self.bin_width, self.probability, self.epochs = model, bin_width, probability, epochs
        self.batch_size, self.lr, self.momentum, self.weight_decay = batch_size, lr, momentum, weight_decay
        self.eval_batch_size, self.device = eval_batch_size, device
        self.bins: EntropyBins | None = None
        super().__init__(dataset, ratio, **shared_args(locals()))

    @classmethod
    def check_params(cls, params: dict[str, Any], *, loading: bool = False) -> None:
        super().check_params(params, loading=loading)
        check_float(params["bin_width"], "bin_width", strictly_positive=True)
        check_choice(params["probability"], "probability", PROBABILITY_CHOICES)

    def _forget_fitted(self) -> None:
        self.bins = None

    def _select(self) -> tuple[np.ndarray, np.ndarray]:
        source = self._image_source()
        if self.model is None:
            net = self._network(source, 0)
            self._train(net, source, self.epochs, 0)
            self.resolved["reference"] = f"trained {self.epochs} epochs here"
        else:
            net = copy.deepcopy(self.model).to(self.run_device())
            self.resolved.update(
                reference="given", model=type(self.model).__name__, device=str(self.run_device())
            )
        entropy = softmax_entropy(self._eval_logits(net, source)).numpy()
        self.bins = entropy_bins(entropy, self.bin_width, self.probability)
        self.resolved["bins"] = int(self.bins.counts.size)
        return entropy_sample(self.bins, int(self.quota()[0]), self.seed), entropy
