"""Bi-level data pruning during a DARTS search (Tu et al., 2023, "BDP").

:class:`BiLevelPruner` wraps an existing DARTS-style loop. The user passes its
two samplers to the training and validation ``DataLoader``\\ s, calls
``observe(indices, logits)`` after every forward pass (architecture step and
weight step alike) and ``step()`` at the end of every epoch. Every ``T``
epochs the pruner removes the training samples with the lowest Variance of
Error (VoE) and the validation samples with the highest, under an automatic
class-balance limit. See ``DESIGN.md`` ("The methods, precisely") for the
formulas; the docstrings below repeat them.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from .samplers import KeptSetSampler
from .selection import Selection, compute_class_limits, select_for_pruning
from .score_buffer import ScoreBuffer
from .._sharding import resolve_replicas
from .._validation import (
    show,
    check_bool,
    check_choice,
    check_device,
    check_fraction,
    check_indices,
    check_int,
    check_seed,
)
from ..data import get_targets
from ..metrics import _el2n_unchecked, class_balance_degree, class_prune_limits
from ..samplers.base import proxy_size

__all__ = ["BiLevelPruner"]

_CRITERIA = ("low", "high")
_SPLITS = ("train", "val")
# The validation sampler's shuffles are seeded apart from the training sampler's
# (both add the epoch to their seed, so a small offset would make them collide).
_VAL_SEED_OFFSET = 2**32
_STATE_VERSION = 1


def _sha(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype="<i8").tobytes()).hexdigest()[:16]


def _readonly(array: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(array, dtype=np.int64)
    out.setflags(write=False)
    return out


class BiLevelPruner:
    """Progressive bi-level pruning of a DARTS search's training and validation splits.

    BDP (Tu et al., 2023, "Efficient Architecture Search via Bi-level Data
    Pruning"), as specified in ``DESIGN.md``:

    * **EL2N** of sample ``i`` in an epoch: ``e = ‖softmax(f(x_i)) − onehot(y_i)‖₂``
      (BDP Sec. 3.2), computed from the logits the loop already has, from the
      wrong classes' probabilities alone (the textbook expansion
      ``‖p‖² − 2p_y + 1`` loses confident samples to float32 cancellation);
      several observations of a sample in one epoch are averaged.
    * **VoE** over the window of the last ``T`` epochs: the population variance
      ``VoE_i = (1/T'_i) Σ_t (e_{i,t} − ē_i)²`` over the ``T'_i`` window epochs in
      which sample ``i`` was observed (:func:`proxydata.metrics.voe`). A sample
      observed in fewer than 2 of them has no VoE and is not pruned at that step.
    * **Progressive pruning**: at the end of epochs ``T, 2T, …`` while at least
      one epoch remains (``S`` such steps), remove ``round(p_t · n_train_initial)``
      training samples with the lowest VoE and ``round(p_v · n_val_initial)``
      validation samples with the highest (rounding halves up, as
      :func:`proxydata.samplers.base.proxy_size`). Candidates are taken in VoE
      order, ties broken by dataset index.
    * **Automatic class-balance limit** (BDP Sec. 3.3): at each step at most
      ``N_k = floor(n_k / S^(1−B))`` samples of class ``k`` may be pruned, ``n_k``
      its current count and ``B`` the split's current class balance degree
      ``B = 2/(K(K−1)) Σ_{i<j} min(n_i, n_j)/max(n_i, n_j)``. The paper describes
      this behaviour but not the formula; **this formula is proxydata's own**
      (:func:`proxydata.metrics.class_prune_limits`) and ``limit_fn`` replaces
      it. A class that reached its limit is skipped; no class is ever taken
      below ``min_per_class``. When the limits (or missing VoEs) leave fewer
      candidates than asked, fewer are pruned and the shortfall is recorded; it
      is not carried over to later steps.

    Choices of ours beyond the paper: the limit formula above; ``B`` and the
    limits are computed over the classes present in the split when the pruner is
    built; the window holds the per-epoch *mean* EL2N; the VoE is computed in
    float64 from float32 EL2N; a shortfall is not carried over; ``interval >= 2``
    (a VoE needs two epochs).

    Cost: the score buffers take ``n·T·4`` bytes (the window) plus ``8·n`` (the
    running epoch) on the logits' device, ``n`` the tracked samples; ``observe``
    never waits for an accelerator; ``step()`` synchronises once per epoch.

    Parameters
    ----------
    targets : 1-D labels (tensor, array, list) or a map-style dataset
        Labels of the whole dataset the indices refer to (found with
        :func:`proxydata.get_targets` for a dataset).
    train_indices, val_indices : 1-D integer sequences
        The DARTS training split (weights) and validation split (architecture);
        disjoint, non-empty, without duplicates.
    epochs : int >= 1
        Length of the search; no step prunes once no epoch remains.
    interval : int >= 2
        ``T``: prune every ``T`` epochs, VoE over the last ``T`` epochs.
    train_prune_ratio, val_prune_ratio : float in [0, 1)
        ``p_t``, ``p_v``: the share of the *initial* split removed per step.
        ``S · round(p · n_initial)`` must stay below the split's size.
    train_criterion, val_criterion : {"low", "high"}
        Prune the lowest or the highest VoE first (BDP's best: train "low",
        val "high").
    class_balance : bool
        Apply the automatic class-balance limit.
    min_per_class : int >= 1
        No class of a split is pruned below this many samples.
    seed : int
        Seeds the epoch shuffles of both samplers (the pruning itself is
        deterministic).
    num_replicas, rank : int, optional
        Shard the samplers like ``DistributedSampler``; read from an initialised
        ``torch.distributed`` process group when None. With more than one
        replica and an initialised group, ``step()`` sums the score buffers
        across ranks (``all_reduce``) so every rank decides identically.
    limit_fn : callable ``(counts, num_steps, balance) -> limits``, optional
        Replaces :func:`proxydata.metrics.class_prune_limits` (same signature:
        counts of the split's classes, ``S``, ``B``; returns one non-negative
        integer per class).
    device : str or torch.device, optional
        Device of the score buffers. None: the device of the first logits
        observed (so on the GPU when the model is).

    Attributes
    ----------
    train_sampler, val_sampler : torch.utils.data.Sampler
        Samplers over the current kept sets, reshuffled every epoch (``step()``
        calls their ``set_epoch``), shrinking in place after each pruning step.
        An iterator started mid-epoch continues the epoch's pass (so
        ``next(iter(val_loader))`` walks the whole split).
    epoch : int
        Number of completed epochs (``step()`` calls).
    history : list of dict
        One entry per completed epoch (see :meth:`step`).
    num_steps : int
        ``S``, the number of pruning steps of the schedule.
    prune_epochs : list of int
        The epochs after which a pruning step happens: ``T, 2T, … < epochs``.

    Examples
    --------
    >>> import torch
    >>> from proxydata import BiLevelPruner
    >>> y = torch.arange(40) % 2
    >>> pruner = BiLevelPruner(y, range(0, 20), range(20, 40), epochs=5, interval=2,
    ...                        train_prune_ratio=0.25, val_prune_ratio=0.25)
    >>> pruner.pruning_schedule()
    [(2, 15, 15), (4, 10, 10)]
    >>> g = torch.Generator().manual_seed(0)
    >>> for epoch in range(5):
    ...     idx = torch.cat([torch.from_numpy(pruner.kept_train), torch.from_numpy(pruner.kept_val)])
    ...     pruner.observe(idx, torch.randn(len(idx), 2, generator=g))  # the model's logits
    ...     info = pruner.step()
    >>> len(pruner.kept_train), len(pruner.kept_val)
    (10, 10)
    """

    def __init__(
        self,
        targets: Any,
        train_indices: Any,
        val_indices: Any,
        epochs: int,
        interval: int = 5,
        train_prune_ratio: float = 0.1,
        val_prune_ratio: float = 0.1,
        train_criterion: str = "low",
        val_criterion: str = "high",
        class_balance: bool = True,
        min_per_class: int = 1,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        limit_fn: Callable[..., Any] | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        y = get_targets(targets, progress=False)
        n = int(y.shape[0])
        train = np.sort(check_indices(train_indices, n, "train_indices"))
        val = np.sort(check_indices(val_indices, n, "val_indices"))
        for name, part in (("train_indices", train), ("val_indices", val)):
            if part.size == 0:
                raise ValueError(f"{name} must not be empty")
        overlap = np.intersect1d(train, val)
        if overlap.size:
            raise ValueError(
                f"train_indices and val_indices must be disjoint, both contain {overlap[:5].tolist()}"
                + (" ..." if overlap.size > 5 else "")
            )
        self.epochs = check_int(epochs, "epochs", minimum=1)
        self.interval = check_int(interval, "interval", minimum=2)
        self.train_prune_ratio = check_fraction(train_prune_ratio, "train_prune_ratio", high_open=True)
        self.val_prune_ratio = check_fraction(val_prune_ratio, "val_prune_ratio", high_open=True)
        self.train_criterion = check_choice(train_criterion, "train_criterion", _CRITERIA)
        self.val_criterion = check_choice(val_criterion, "val_criterion", _CRITERIA)
        self.class_balance = check_bool(class_balance, "class_balance")
        self.min_per_class = check_int(min_per_class, "min_per_class", minimum=1)
        self.seed = check_seed(seed)
        self.num_replicas, self.rank = resolve_replicas(num_replicas, rank)
        if limit_fn is None:
            limit_fn = class_prune_limits
        if not callable(limit_fn):
            raise TypeError(f"limit_fn must be callable (counts, num_steps, balance), got {show(limit_fn)}")
        self.limit_fn = limit_fn
        self.device = None if device is None else check_device(device)

        self.prune_epochs = list(range(self.interval, self.epochs, self.interval))
        self.num_steps = len(self.prune_epochs)
        self.n_train_initial = int(train.size)
        self.n_val_initial = int(val.size)
        self._asked = {
            "train": proxy_size(self.n_train_initial, self.train_prune_ratio),
            "val": proxy_size(self.n_val_initial, self.val_prune_ratio),
        }
        sizes = (("train", train.size, "train_prune_ratio"), ("val", val.size, "val_prune_ratio"))
        for split, size, ratio in sizes:
            total = self.num_steps * self._asked[split]
            if total and total >= size:
                raise ValueError(
                    f"{ratio}={getattr(self, ratio)} removes {self._asked[split]} samples at each of the "
                    f"{self.num_steps} pruning steps ({total} in all), but the {split} split has only {size}"
                )

        self.targets = _readonly(y)
        self.num_classes = int(y.max()) + 1
        tracked = np.sort(np.concatenate((train, val)))
        self._tracked = _readonly(tracked)
        self._pos = np.full(n, -1, dtype=np.int64)
        self._pos[tracked] = np.arange(tracked.size, dtype=np.int64)
        self._tracked_labels = _readonly(y[tracked])
        self._is_val = np.zeros(tracked.size, dtype=bool)
        self._is_val[self._pos[val]] = True
        # 0 while kept, else the epoch after which the sample was pruned.
        self._pruned_at = np.zeros(tracked.size, dtype=np.int32)
        # Fast validity check in observe(): True for kept tracked samples.
        self._observable = np.zeros(n, dtype=bool)
        self._observable[tracked] = True
        self._present = {
            "train": np.flatnonzero(np.bincount(y[train], minlength=self.num_classes)),
            "val": np.flatnonzero(np.bincount(y[val], minlength=self.num_classes)),
        }
        self._initial_sha = {"train": _sha(train), "val": _sha(val)}
        self.train_sampler = KeptSetSampler(
            _readonly(train), shuffle=True, seed=self.seed, num_replicas=self.num_replicas, rank=self.rank
        )
        self.val_sampler = KeptSetSampler(
            _readonly(val),
            shuffle=True,
            seed=self.seed + _VAL_SEED_OFFSET,
            num_replicas=self.num_replicas,
            rank=self.rank,
        )
        self._buffer = ScoreBuffer(int(tracked.size), self.interval, self.device)
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self._warned_no_group = False

    # -- introspection ---------------------------------------------------------------
    @property
    def n(self) -> int:
        """Size of the dataset the indices refer to."""
        return int(self.targets.shape[0])

    @property
    def kept_train(self) -> np.ndarray:
        """Kept training indices (a sorted int64 copy)."""
        return self.train_sampler.indices.copy()

    @property
    def kept_val(self) -> np.ndarray:
        """Kept validation indices (a sorted int64 copy)."""
        return self.val_sampler.indices.copy()

    def _sampler(self, split: str) -> KeptSetSampler:
        return self.train_sampler if split == "train" else self.val_sampler

    def _criterion(self, split: str) -> str:
        return self.train_criterion if split == "train" else self.val_criterion

    def _ratio(self, split: str) -> float:
        return self.train_prune_ratio if split == "train" else self.val_prune_ratio

    def class_counts(self, split: str) -> np.ndarray:
        """Kept samples per class of ``split`` ("train" or "val"), length ``num_classes``."""
        check_choice(split, "split", _SPLITS)
        kept = self._sampler(split).indices
        return np.bincount(self.targets[kept], minlength=self.num_classes).astype(np.int64)

    def balance_degree(self, split: str) -> float:
        """Class balance degree ``B`` of ``split``'s kept set (over its initial classes)."""
        return class_balance_degree(self.class_counts(split)[self._present[split]])

    def voe(self, split: str) -> np.ndarray:
        """VoE of ``split``'s kept samples over the last ``T`` completed epochs.

        Aligned with :attr:`kept_train` / :attr:`kept_val`; NaN for samples
        observed in fewer than 2 of those epochs. Right after a pruning step it
        holds the scores that step ranked the (still) kept samples by.

        Returns
        -------
        np.ndarray of float64
        """
        check_choice(split, "split", _SPLITS)
        mask = self._split_mask(split)
        if self._buffer.ring is None:
            return np.full(int(mask.sum()), np.nan)
        return self._buffer.voe()[mask]

    def pruning_schedule(self) -> list[tuple[int, int, int]]:
        """The ideal sizes: ``(epoch, n_train_after, n_val_after)`` for every pruning step.

        ``n_after = n_initial − s · round(p · n_initial)`` after the ``s``-th step.
        Actual sizes are larger by the recorded shortfall when class caps or
        missing VoEs held samples back.
        """
        out = []
        for s, epoch in enumerate(self.prune_epochs, start=1):
            out.append(
                (
                    epoch,
                    self.n_train_initial - s * self._asked["train"],
                    self.n_val_initial - s * self._asked["val"],
                )
            )
        return out

    def __repr__(self) -> str:
        return (
            f"BiLevelPruner(epoch={self.epoch}/{self.epochs}, interval={self.interval}, "
            f"kept_train={self.kept_train.size}/{self.n_train_initial}, "
            f"kept_val={self.kept_val.size}/{self.n_val_initial})"
        )

    # -- observing -------------------------------------------------------------------
    def observe(self, indices: Any, logits: torch.Tensor) -> None:
        """Record the EL2N of a batch from logits the loop already computed.

        ``e_i = ‖softmax(logits_i) − onehot(y_i)‖₂`` is computed under
        ``torch.no_grad()`` on the logits' device and added to the running
        epoch's per-sample sum and count (a sample seen several times in an
        epoch gets the mean). Call it for validation batches (architecture step)
        and training batches (weight step) alike: the split is known from the
        index.

        Nothing synchronises the host with an accelerator, provided the indices
        are on the CPU (as the DataLoader yields them; indices on an accelerator
        are copied to the host, which waits for it). For logits on the CPU every
        check is immediate. For logits on an accelerator, NaN/inf logits are
        detected without waiting: the call records nothing, and the next
        ``step()`` raises ``ValueError`` saying how many calls were dropped.

        Parameters
        ----------
        indices : 1-D integer tensor, array or sequence of length b
            Dataset indices of the batch (the third item of
            :class:`proxydata.IndexedDataset`).
        logits : torch.Tensor of shape (b, C), C >= number of classes
            Unnormalised class scores (any float dtype; gradients are ignored).

        Raises
        ------
        TypeError
            Non-tensor logits, non-integer indices or non-float logits.
        ValueError
            Wrong shapes; an index outside the dataset, in neither split, or
            already pruned; NaN/inf logits (CPU). Nothing is recorded then.
        """
        if not isinstance(logits, torch.Tensor):
            raise TypeError(f"logits must be a torch.Tensor, got {type(logits).__name__}")
        if logits.ndim != 2:
            raise ValueError(f"logits must have shape (batch, classes), got {tuple(logits.shape)}")
        if not logits.dtype.is_floating_point:
            raise TypeError(f"logits must be floating point, got dtype {logits.dtype}")
        idx = self._check_observed_indices(indices)
        if logits.shape[0] != idx.size:
            raise ValueError(
                f"logits must have one row per index ({idx.size}), got shape {tuple(logits.shape)}"
            )
        if logits.shape[1] < self.num_classes:
            raise ValueError(
                f"logits must have at least {self.num_classes} columns (one per class), "
                f"got shape {tuple(logits.shape)}"
            )
        if idx.size == 0:
            return
        device = logits.device
        eager = not self._defers_checks(device)
        with torch.no_grad():
            z = logits.detach()
            # A finite sum proves finite logits (NaN and ±inf propagate); only an overflowing
            # sum of finite logits needs the element-wise check.
            if (
                eager
                and not math.isfinite(z.sum(dtype=torch.float64).item())
                and not bool(torch.isfinite(z).all())
            ):
                raise ValueError("logits must be finite, got NaN or inf; nothing was recorded from this call")
            buffer_device = self._buffer.ensure(device)
            labels, positions = self._to_devices(idx, device, buffer_device)
            e = _el2n_unchecked(z, labels)
            ok = None if eager else torch.isfinite(z).all()
            if e.device != buffer_device:
                e = e.to(buffer_device)
                ok = None if ok is None else ok.to(buffer_device)
            self._buffer.add(positions, e, ok)

    def _observe_el2n(self, indices: Any, el2n: torch.Tensor) -> None:
        """Record EL2N values directly (tests and custom scores; same checks as observe)."""
        idx = self._check_observed_indices(indices)
        if not isinstance(el2n, torch.Tensor) or el2n.ndim != 1 or el2n.shape[0] != idx.size:
            raise ValueError(f"el2n must be a 1-D tensor of length {idx.size}")
        if not el2n.dtype.is_floating_point:
            raise TypeError(f"el2n must be floating point, got dtype {el2n.dtype}")
        if idx.size == 0:
            return
        with torch.no_grad():
            if not bool(torch.isfinite(el2n).all()):
                raise ValueError("el2n must be finite, got NaN or inf; nothing was recorded from this call")
            buffer_device = self._buffer.ensure(el2n.device)
            positions = torch.from_numpy(self._pos[idx]).to(buffer_device)
            self._buffer.add(positions, el2n.detach().to(buffer_device))

    @staticmethod
    def _defers_checks(device: torch.device) -> bool:
        # An eager finiteness check needs the value on the host: a sync on accelerators.
        return device.type != "cpu"

    def _to_devices(
        self, idx: np.ndarray, logits_device: torch.device, buffer_device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        pos = self._pos[idx]
        lab = self.targets[idx]
        if logits_device.type == "cpu":
            labels = torch.from_numpy(lab)
        else:
            # One pinned host-to-device copy of (positions, labels): asynchronous, no sync.
            meta = torch.from_numpy(np.stack((pos, lab)))
            if logits_device.type == "cuda":
                meta = meta.pin_memory()
            meta = meta.to(logits_device, non_blocking=True)
            labels = meta[1]
            if buffer_device == logits_device:
                return labels, meta[0]
        positions = torch.from_numpy(pos)
        if buffer_device.type != "cpu":
            positions = positions.to(buffer_device)
        return labels, positions

    def _check_observed_indices(self, indices: Any) -> np.ndarray:
        if isinstance(indices, torch.Tensor):
            if indices.dtype.is_floating_point or indices.dtype.is_complex or indices.dtype == torch.bool:
                raise TypeError(f"indices must be an integer tensor, got dtype {indices.dtype}")
            arr = indices.numpy() if indices.device.type == "cpu" else indices.cpu().numpy()
        elif isinstance(indices, np.ndarray):
            arr = indices
        elif isinstance(indices, (list, tuple, range)):
            arr = np.asarray(indices)
            if arr.size == 0:
                arr = arr.astype(np.int64)
        else:
            raise TypeError(
                f"indices must be a 1-D integer tensor, array or sequence, got {type(indices).__name__}"
            )
        if arr.ndim != 1:
            raise ValueError(f"indices must be 1-D, got shape {tuple(arr.shape)}")
        if arr.dtype.kind not in "iu":
            raise TypeError(f"indices must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64, copy=False)
        if arr.size:
            lo, hi = int(arr.min()), int(arr.max())
            if lo < 0 or hi >= self.n:
                bad = lo if lo < 0 else hi
                raise ValueError(f"indices must be dataset indices in [0, {self.n}), got {bad}")
            ok = self._observable[arr]
            if not ok.all():
                raise ValueError(self._why_not_observable(int(arr[np.argmin(ok)])))
        return arr

    def _why_not_observable(self, index: int) -> str:
        pos = int(self._pos[index])
        if pos < 0:
            return f"indices: index {index} is in neither train_indices nor val_indices of this pruner"
        split = "val" if self._is_val[pos] else "train"
        return (
            f"indices: index {index} was pruned from the {split} split after epoch "
            f"{int(self._pruned_at[pos])}; draw batches through pruner.{split}_sampler, "
            "which shrinks in place"
        )

    # -- stepping --------------------------------------------------------------------
    def _distributed(self) -> bool:
        if self.num_replicas <= 1:
            return False
        if dist.is_available() and dist.is_initialized():
            return True
        if not self._warned_no_group:
            warnings.warn(
                f"num_replicas={self.num_replicas} but torch.distributed is not initialised: the score "
                "buffers are not summed across ranks, so ranks may keep different samples",
                RuntimeWarning,
                stacklevel=3,
            )
            self._warned_no_group = True
        return False

    def _split_mask(self, split: str) -> np.ndarray:
        kept = self._pruned_at == 0
        return kept & self._is_val if split == "val" else kept & ~self._is_val

    def step(self) -> dict[str, Any] | None:
        """End an epoch: fold its scores into the window and, at epochs T, 2T, …, prune.

        1. With several ranks and an initialised process group, the epoch's
           EL2N sums and counts are summed across ranks (``all_reduce``).
        2. The epoch's mean EL2N per sample (NaN if unobserved) enters the
           window of the last ``T`` epochs; ``epoch`` grows by one.
        3. If ``epoch`` is a multiple of ``T`` and ``epoch < epochs``, each split
           loses the samples chosen by VoE under the class caps (see the class
           docstring); the samplers shrink in place.
        4. Both samplers move to the new epoch (a new shuffle).

        Returns
        -------
        dict or None
            At a pruning step ``{"epoch", "train", "val"}`` where each split's
            entry holds ``criterion``, ``asked``, ``pruned``, ``held_back``,
            ``held_back_by`` (``no_voe``/``class_limit``/``min_per_class``),
            ``n_candidates``, ``n_without_voe``, ``counts_before``,
            ``balance_before``, ``limits`` (None without class balance or when
            nothing is asked),
            ``indices`` and ``voe`` of the pruned samples (VoE order) and
            ``protected`` (samples VoE order alone would have pruned). The same
            dicts are stored in :attr:`history`, whose entries also hold the
            kept sizes, class counts and balance degrees of both splits and how
            many kept samples were observed in the epoch. None otherwise.

        Raises
        ------
        ValueError
            If ``observe`` dropped calls with NaN/inf logits on an accelerator
            since the last step (reported once; calling ``step()`` again
            proceeds without them), or if ``limit_fn`` returns invalid limits.
            Nothing changes in either case.
        """
        distributed = self._distributed()
        buf = self._buffer
        if buf.ring is None:
            buf.ensure(self.device or torch.device("cpu"), fix=self.device is not None)
        rejected = buf.take_rejected(distributed)
        if rejected:
            raise ValueError(
                f"{rejected} observe() call(s) since the last step() had NaN or inf logits on "
                f"{buf.device}; nothing was recorded from them (checked here to avoid a host "
                "synchronisation per batch). Call step() again to continue without them."
            )
        if distributed:
            buf.reduce_current()
        column = buf.epoch_column()
        slot = self.epoch % self.interval
        new_epoch = self.epoch + 1
        pruning = new_epoch % self.interval == 0 and new_epoch < self.epochs
        seen = (~torch.isnan(column)).cpu().numpy()
        observed = {s: int(seen[self._split_mask(s)].sum()) for s in _SPLITS}
        infos: dict[str, dict[str, Any]] = {}
        if pruning:
            voe = buf.voe(slot, column)
            for split in _SPLITS:
                infos[split] = self._select(split, voe)

        # Commit: nothing above changed the pruner.
        buf.commit(slot, column)
        self.epoch = new_epoch
        for split, info in infos.items():
            pruned = info["indices"]
            if pruned.size:
                self._pruned_at[self._pos[pruned]] = new_epoch
                self._observable[pruned] = False
                kept = self._sampler(split).indices
                self._sampler(split)._indices = _readonly(kept[~np.isin(kept, pruned)])
        for split in _SPLITS:
            self._sampler(split).set_epoch(new_epoch)
            if split in infos:
                self._warn_if_unobserved(split, infos[split])
        entry: dict[str, Any] = {"epoch": new_epoch, "pruning_step": pruning}
        for split in _SPLITS:
            counts = self.class_counts(split)
            entry[f"n_{split}"] = int(self._sampler(split).indices.size)
            entry[f"{split}_class_counts"] = counts.tolist()
            entry[f"{split}_balance"] = class_balance_degree(counts[self._present[split]])
            entry[f"n_observed_{split}"] = observed[split]
        entry["train"] = infos.get("train")
        entry["val"] = infos.get("val")
        self.history.append(entry)
        if not pruning:
            return None
        return {"epoch": new_epoch, "train": infos["train"], "val": infos["val"]}

    def _warn_if_unobserved(self, split: str, info: dict[str, Any]) -> None:
        if info["asked"] and info["n_candidates"] == 0:
            warnings.warn(
                f"no sample of the {split} split had a VoE at epoch {self.epoch} (observed in fewer "
                f"than 2 of the last {self.interval} epochs): nothing was pruned from it. Is observe() "
                f"called for the {split} batches?",
                RuntimeWarning,
                stacklevel=3,
            )

    def _select(self, split: str, voe_all: np.ndarray) -> dict[str, Any]:
        mask = self._split_mask(split)
        positions = np.flatnonzero(mask)
        indices = self._tracked[positions]
        labels = self._tracked_labels[positions]
        counts = np.bincount(labels, minlength=self.num_classes).astype(np.int64)
        balance = class_balance_degree(counts[self._present[split]])
        limits = None
        if self.class_balance and self._asked[split]:
            limits, balance = compute_class_limits(
                counts, self._present[split], self.num_steps, self.limit_fn
            )
        sel: Selection = select_for_pruning(
            indices,
            labels,
            voe_all[positions],
            self._asked[split],
            self._criterion(split),
            self.num_classes,
            self.min_per_class,
            limits,
        )
        return {
            "criterion": self._criterion(split),
            "asked": sel.asked,
            "pruned": sel.pruned,
            "held_back": sel.held_back,
            "held_back_by": sel.held_back_by,
            "n_candidates": sel.n_candidates,
            "n_without_voe": int(indices.size - sel.n_candidates),
            "counts_before": counts.tolist(),
            "balance_before": balance,
            "limits": None if limits is None else limits.tolist(),
            "indices": sel.indices,
            "voe": sel.voe,
            "protected": sel.protected,
        }

    # -- reporting -------------------------------------------------------------------
    def summary(self) -> str:
        """A readable table of the run so far: kept sizes, balance and pruning per epoch."""
        limit = getattr(self.limit_fn, "__name__", type(self.limit_fn).__name__)
        head = [
            f"BiLevelPruner: {self.epochs} epochs, T={self.interval}, {self.num_steps} pruning steps "
            f"(after epochs {self.prune_epochs}), {self.epoch} epochs done",
            f"  train: {self.n_train_initial} samples, {self._asked['train']} "
            f"({self.train_prune_ratio:.0%}) per step, {self.train_criterion} VoE first",
            f"  val:   {self.n_val_initial} samples, {self._asked['val']} "
            f"({self.val_prune_ratio:.0%}) per step, {self.val_criterion} VoE first",
            f"  class balance limit: {limit if self.class_balance else 'off'}; "
            f"min_per_class={self.min_per_class}",
        ]
        cols = (
            "epoch",
            "train",
            "val",
            "B train",
            "B val",
            "seen train",
            "seen val",
            "pruned train",
            "pruned val",
            "held back",
        )
        rows = [cols]
        tb = class_balance_degree(
            np.bincount(self.targets[self._tracked[~self._is_val]], minlength=self.num_classes)[
                self._present["train"]
            ]
        )
        vb = class_balance_degree(
            np.bincount(self.targets[self._tracked[self._is_val]], minlength=self.num_classes)[
                self._present["val"]
            ]
        )
        rows.append(
            (
                "0",
                str(self.n_train_initial),
                str(self.n_val_initial),
                f"{tb:.3f}",
                f"{vb:.3f}",
                "",
                "",
                "",
                "",
                "",
            )
        )
        for h in self.history:
            t, v = h["train"], h["val"]
            rows.append(
                (
                    str(h["epoch"]),
                    str(h["n_train"]),
                    str(h["n_val"]),
                    f"{h['train_balance']:.3f}",
                    f"{h['val_balance']:.3f}",
                    str(h["n_observed_train"]),
                    str(h["n_observed_val"]),
                    f"{t['pruned']}/{t['asked']}" if t else "",
                    f"{v['pruned']}/{v['asked']}" if v else "",
                    f"{t['held_back']}/{v['held_back']}" if t else "",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
        lines = ["  ".join(cell.rjust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(head + lines)

    # -- persistence -----------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "targets": _sha(self.targets),
            "train_indices": self._initial_sha["train"],
            "val_indices": self._initial_sha["val"],
            "epochs": self.epochs,
            "interval": self.interval,
            "train_prune_ratio": self.train_prune_ratio,
            "val_prune_ratio": self.val_prune_ratio,
            "train_criterion": self.train_criterion,
            "val_criterion": self.val_criterion,
            "class_balance": self.class_balance,
            "min_per_class": self.min_per_class,
            "seed": self.seed,
            "limit_fn": getattr(self.limit_fn, "__qualname__", type(self.limit_fn).__qualname__),
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: window, running epoch, kept sets, history.

        Holds only tensors, Python scalars, strings, lists and dicts, so
        ``torch.save`` / ``torch.load`` (``weights_only=True``) round-trip it.
        Tensors are CPU copies.
        """
        buffers = self._buffer.state()
        return {
            "version": _STATE_VERSION,
            "config": self._config(),
            "epoch": self.epoch,
            "pruned_at": torch.from_numpy(self._pruned_at.copy()),
            "ring": buffers["ring"],
            "current": buffers["current"],
            "rejected": buffers["rejected"],
            "reduced": buffers["reduced"],
            "samplers": {s: self._sampler(s).state() for s in _SPLITS},
            "history": _convert(self.history, to_torch=True),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; later decisions equal those of the uninterrupted run.

        Raises
        ------
        TypeError, ValueError
            If ``state_dict`` is not one, or was made for other targets, splits
            or settings (the message names each mismatch). Nothing changes then.
        """
        sd = state_dict
        if not isinstance(sd, dict):
            raise TypeError(f"state_dict must be a dict, got {type(sd).__name__}")
        required = ("version", "config", "epoch", "pruned_at", "ring", "current", "samplers", "history")
        missing = [k for k in required if k not in sd]
        if missing:
            raise ValueError(f"state_dict lacks the keys {missing}; it is not a BiLevelPruner state_dict")
        if sd["version"] != _STATE_VERSION:
            raise ValueError(f"state_dict has version {sd['version']!r}, expected {_STATE_VERSION}")
        mine = self._config()
        theirs = sd["config"]
        if not isinstance(theirs, dict):
            raise TypeError(f"state_dict['config'] must be a dict, got {type(theirs).__name__}")
        diffs = [
            f"{k} is {theirs.get(k)!r} in the state_dict, {v!r} here"
            for k, v in mine.items()
            if theirs.get(k) != v
        ]
        if diffs:
            raise ValueError("state_dict was made for another pruner: " + "; ".join(diffs))
        n_tr = self._tracked.size
        epoch = sd["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
            raise ValueError(f"state_dict['epoch'] must be a non-negative int, got {epoch!r}")
        epoch = int(epoch)
        pruned_at = _tensor(sd["pruned_at"], "pruned_at", (n_tr,)).numpy().astype(np.int32)
        allowed = set(self.prune_epochs) | {0}
        bad = set(np.unique(pruned_at).tolist()) - {e for e in allowed if e <= epoch}
        if bad:
            raise ValueError(
                f"state_dict['pruned_at'] holds epochs {sorted(bad)} that are no pruning step so far"
            )
        ring = current = rejected = None
        if sd["ring"] is not None:
            ring = _tensor(sd["ring"], "ring", (self.interval, n_tr))
            current = _tensor(sd["current"], "current", (2, n_tr))
            if sd.get("rejected") is not None:
                rejected = _tensor(sd["rejected"], "rejected", ())
        history = sd["history"]
        if not isinstance(history, list) or len(history) != epoch:
            raise ValueError(f"state_dict['history'] must be a list of {epoch} entries (one per epoch)")
        samplers = sd["samplers"]
        for s in _SPLITS:
            st = samplers.get(s) if isinstance(samplers, dict) else None
            if not isinstance(st, dict) or any(k not in st for k in ("epoch", "pass_number", "cursor")):
                raise ValueError(f"state_dict['samplers'][{s!r}] is missing or incomplete")

        # Everything checked: apply.
        self._buffer.load(ring, current, rejected, bool(sd.get("reduced", False)))
        self._pruned_at = pruned_at
        self._observable[:] = False
        kept_pos = np.flatnonzero(pruned_at == 0)
        self._observable[self._tracked[kept_pos]] = True
        for s in _SPLITS:
            sampler = self._sampler(s)
            sampler._indices = _readonly(self._tracked[np.flatnonzero(self._split_mask(s))])
            sampler.load(samplers[s])
        self.epoch = epoch
        self.history = _convert(history, to_torch=False)


def _tensor(value: Any, name: str, shape: tuple[int, ...]) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"state_dict[{name!r}] must be a tensor, got {type(value).__name__}")
    if tuple(value.shape) != shape:
        raise ValueError(f"state_dict[{name!r}] must have shape {shape}, got {tuple(value.shape)}")
    return value.detach().cpu()


def _convert(obj: Any, *, to_torch: bool) -> Any:
    """Deep copy of a history with numpy arrays as tensors (``to_torch``) or back."""
    if isinstance(obj, dict):
        return {k: _convert(v, to_torch=to_torch) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_convert(v, to_torch=to_torch) for v in obj]
    if to_torch and isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if not to_torch and isinstance(obj, torch.Tensor):
        return obj.detach().cpu().numpy().copy()
    return obj
