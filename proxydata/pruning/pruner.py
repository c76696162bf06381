"""Bi-level data pruning during a DARTS search (Tu et al., 2023, "BDP").

:class:`BiLevelPruner` wraps an existing DARTS-style loop. The user passes its
two samplers to the training and validation ``DataLoader``\\ s, calls
``observe(indices, logits)`` after every forward pass (architecture step and
weight step alike) and ``step()`` at the end of every epoch. Every ``T``
epochs the pruner removes the training samples with the lowest Variance of
Error (VoE) and the validation samples with the highest, under an automatic
class-balance limit. The formulas are in ``docs/methods/bdp.md``:

* EL2N ``e = ‖softmax(f(x)) − onehot(y)‖₂`` per observation, averaged within an
  epoch; VoE the population variance of a sample's EL2N over the epochs of the
  last ``T`` in which it was observed (no VoE below two such epochs);
* ``round(p · n_initial)`` samples per split at the end of epochs ``T, 2T, … <
  epochs`` (``S`` steps), taken in VoE order, ties broken by dataset index;
* at most ``N_k = floor(n_k / S^(1−B))`` per class and step (our formula,
  :func:`proxydata.metrics.class_prune_limits`), ``B`` the split's class
  balance degree; never below ``min_per_class``.

For BDP's comparison with one-shot pruning, ``score="el2n"`` ranks by the mean
EL2N over the window instead (Paul et al. 2021; :mod:`.scores`) and
``pruning="once"`` removes the progressive schedule's whole amount in one step
at the end of epoch ``T`` (:mod:`.schedule`).

The facade wires the parts of this package: the schedule
(:mod:`.schedule`), the tracked samples (:mod:`.tracked`), one state per split
(:mod:`.split`), the score recorder (:mod:`.recorder`), the selection
(:mod:`.selection`), the history (:mod:`.history`), the state dict
(:mod:`.state`) and the rank agreement check (:mod:`.distributed`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch

from .._records import data_frame
from .._validation import check_choice, show
from ..data import get_targets
from ..exceptions import ListenerError, ProxydataTypeError, ProxydataValueError
from .compat import keyword_only_after
from .config import PrunerConfig, checked_splits
from .distributed import RankGuard, group_size
from .history import format_summary, history_table, make_entry, to_plain
from .recorder import ScoreRecorder, check_el2n, check_logits
from .schedule import PruningSchedule
from .scores import mean_el2n, window_scores
from .split import SplitState, build_splits
from .state import STATE_VERSION, convert, parse_state
from .tracked import TrackedSet

__all__ = ["BiLevelPruner"]

_SPLITS = ("train", "val")
_OLD_POSITIONAL = ("epochs", "interval", "train_prune_ratio", "val_prune_ratio", "train_criterion",
                   "val_criterion", "class_balance", "min_per_class", "seed", "num_replicas", "rank",
                   "limit_fn", "device")  # fmt: skip


def _describe(listener: Callable[..., Any]) -> str:
    """A listener's name for messages: its qualified name, else its repr."""
    name = getattr(listener, "__qualname__", None)
    return name if isinstance(name, str) else type(listener).__qualname__


class BiLevelPruner:
    """Progressive bi-level pruning of a DARTS search's training and validation splits.

    Parameters
    ----------
    targets : 1-D labels (tensor, array, list) or a map-style dataset
        Labels of the whole dataset the indices refer to.
    train_indices, val_indices : 1-D integer sequences
        The DARTS training split (weights) and validation split (architecture);
        disjoint, non-empty, without duplicates.
    epochs : int >= 1
        Length of the search. ``observe``/``step`` after the last epoch raise.
    interval : int >= 2
        ``T``: prune every ``T`` epochs, VoE over the last ``T`` epochs. A
        schedule without any pruning step (``epochs <= interval``) while a prune
        ratio is positive warns: the run is valid but prunes nothing.
    train_prune_ratio, val_prune_ratio : float in [0, 1)
        ``p_t``, ``p_v``: the share of the *initial* split removed per step.
    train_criterion, val_criterion : {"low", "high"}
        Prune the lowest or the highest score first (BDP's best: "low", "high").
    class_balance : bool
        Apply the automatic class-balance limit.
    min_per_class : int >= 1
        No class of a split is pruned below this many samples.
    seed : int in [0, 2**63)
        Seeds the epoch shuffles of both samplers.
    num_replicas, rank : int, optional
        Shard the samplers like ``DistributedSampler``; read from an initialised
        process group when None. With a group of several ranks the pruner checks
        once that all ranks agree (:class:`~proxydata.RankMismatchError`) and
        sums the score buffers across them before it decides.
    limit_fn : callable ``(counts, num_steps, balance) -> limits``, optional
        Replaces :func:`proxydata.metrics.class_prune_limits`; ``inf`` = no limit.
    device : str or torch.device, optional
        Device of the score buffers (None: that of the first logits observed).
    num_classes : int, optional
        Columns of the logits; defaults to ``max(targets) + 1``.
    score : {"voe", "el2n"}
        What a step ranks samples by: ``"voe"`` (BDP) the variance of a sample's
        EL2N over the last ``T`` epochs, ``"el2n"`` its mean over them,
        ``(1/T') Σ_t e_t`` over the ``T'`` epochs it was observed in (Paul et al.
        2021; a sample observed in one epoch has one).
    pruning : {"progressive", "once"}
        ``"progressive"`` (BDP): ``round(p · n_initial)`` per split at the end of
        epochs ``T, 2T, … < epochs``. ``"once"``: a single step at the end of
        epoch ``T`` removing ``S_p · round(p · n_initial)``, the progressive
        schedule's total (``S_p`` its number of steps), so both modes end at the
        same size.
    limit_steps : {"paper", "taken"}
        ``S`` of the class-balance limit ``N_k = floor(n_k / S^(1 - B))``:
        ``"paper"`` (default) BDP's ``S = E / T`` (Sec. 3.2.4; ``epochs // interval``),
        the same for both pruning modes; ``"taken"`` the number of steps the
        schedule makes (one fewer when ``T`` divides ``E``, 1 when pruning once:
        then the limit allows whole classes and only ``min_per_class`` binds),
        the rule of proxydata up to 0.2.

    Attributes
    ----------
    train_sampler, val_sampler : KeptSetSampler
        Samplers over the kept sets, shrinking in place; see :mod:`.samplers`
        for the coverage guarantee.
    epoch : int
        Completed epochs (``step()`` calls).
    history : list of dict
        One entry per completed epoch (:mod:`.history`).
    schedule : PruningSchedule
    num_steps, prune_epochs
        The number of pruning steps and the epochs after which a step prunes.
    limit_s : int
        ``S`` of the class-balance limit (see ``limit_steps``).
    recorder : ScoreRecorder
        The EL2N window and the running epoch (read-only views).

    Examples
    --------
    The four additions to a DARTS loop are in ``docs/methods/bdp.md`` and
    ``examples/bdp_minimal_loop.py``.
    """

    @keyword_only_after(3, _OLD_POSITIONAL)
    def __init__(
        self,
        targets: Any,
        train_indices: Any,
        val_indices: Any,
        *,
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
        num_classes: int | None = None,
        score: str = "voe",
        pruning: str = "progressive",
        limit_steps: str = "paper",
    ) -> None:
        y = get_targets(targets, progress=False)
        train, val = checked_splits(train_indices, val_indices, int(y.shape[0]))
        self.config = PrunerConfig.from_arguments(
            max_label=int(y.max()), epochs=epochs, interval=interval, train_prune_ratio=train_prune_ratio,
            val_prune_ratio=val_prune_ratio, train_criterion=train_criterion, val_criterion=val_criterion,
            class_balance=class_balance, min_per_class=min_per_class, seed=seed, num_replicas=num_replicas,
            rank=rank, limit_fn=limit_fn, device=device, num_classes=num_classes, score=score,
            pruning=pruning, limit_steps=limit_steps,
        )  # fmt: skip
        for field in dataclasses.fields(self.config):  # the settings as plain attributes, as given
            setattr(self, field.name, getattr(self.config, field.name))
        ratios = (self.config.train_prune_ratio, self.config.val_prune_ratio)
        self.schedule = PruningSchedule.build(
            self.config.epochs, self.config.interval, (train.size, val.size), ratios,
            ("train_prune_ratio", "val_prune_ratio"), self.config.pruning,
        )  # fmt: skip
        self.targets = y.astype(np.int64)
        self.targets.setflags(write=False)
        self._build_parts(train, val)

    def _build_parts(self, train: np.ndarray, val: np.ndarray) -> None:
        self._tracked = TrackedSet(self.targets, [("train", train), ("val", val)])
        self.recorder = ScoreRecorder(self._tracked, self.interval, self.device)
        self._splits = build_splits(
            (train, val), self.config, self.schedule, self._tracked, self.recorder.observed_counts
        )
        self.train_sampler, self.val_sampler = (s.sampler for s in self._splits)
        self.n_train_initial, self.n_val_initial = int(train.size), int(val.size)
        self.prune_epochs, self.num_steps = list(self.schedule.prune_epochs), self.schedule.num_steps
        self.limit_s = self.config.limit_steps_count(self.num_steps)
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self._listeners: list[Callable[[dict[str, Any]], Any]] = []
        fingerprint = partial(self.config.fingerprint, self.targets, train, val)
        self._ranks = RankGuard(fingerprint, self.num_replicas, self.rank)
        if group_size() > 1:
            self._ranks.check()

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

    def _split(self, split: str) -> SplitState:
        return self._splits[_SPLITS.index(check_choice(split, "split", _SPLITS))]

    def class_counts(self, split: str) -> np.ndarray:
        """Kept samples per class of ``split`` ("train" or "val"), length ``num_classes``."""
        return self._split(split).class_counts()

    def balance_degree(self, split: str) -> float:
        """Class balance degree ``B`` of ``split``'s kept set (over its initial classes)."""
        return self._split(split).balance_degree()

    def voe(self, split: str) -> np.ndarray:
        """VoE (float64) of ``split``'s kept samples over the last ``T`` completed epochs.

        Aligned with :attr:`kept_train` / :attr:`kept_val`; NaN for samples
        observed in fewer than 2 of those epochs. Right after a pruning step it
        holds the scores that step ranked the (still) kept samples by.
        """
        s = self._split(split)
        return self.recorder.voe()[s.kept_positions()]

    def scores(self, split: str) -> np.ndarray:
        """The score steps rank ``split``'s kept samples by, over the last ``T`` completed epochs.

        :meth:`voe` with ``score="voe"``; with ``score="el2n"`` the mean EL2N
        ``(1/T') Σ_t e_t`` over the epochs of the window in which the sample was
        observed (NaN when in none). Aligned with :attr:`kept_train` / :attr:`kept_val`.
        """
        if self.score == "voe":
            return self.voe(split)
        return mean_el2n(self.recorder.window())[self._split(split).kept_positions()]

    def pruning_schedule(self) -> list[tuple[int, int, int]]:
        """The ideal sizes ``(epoch, n_train_after, n_val_after)`` of every pruning step.

        ``n_after = n_initial − s · round(p · n_initial)`` after the ``s``-th step;
        actual sizes are larger by any recorded shortfall.
        """
        return [tuple(x) for x in self.schedule.ideal_sizes()]  # type: ignore[misc]

    def __repr__(self) -> str:
        return (
            f"BiLevelPruner(epoch={self.epoch}/{self.epochs}, interval={self.interval}, "
            f"kept_train={self.train_sampler.indices.size}/{self.n_train_initial}, "
            f"kept_val={self.val_sampler.indices.size}/{self.n_val_initial})"
        )

    # -- observing -------------------------------------------------------------------
    def observe(self, indices: Any, logits: torch.Tensor) -> None:
        """Record the EL2N of a batch from logits the loop already computed.

        ``e_i = ‖softmax(logits_i) − onehot(y_i)‖₂`` under ``no_grad`` on the logits'
        device, added to the running epoch (several observations of a sample in
        an epoch are averaged); for validation and training batches alike. An index
        repeated within the batch is observed as often as it appears (in the mean
        and in the samplers' coverage counts alike, before and after a resume).
        Never waits for an accelerator: there NaN/inf logits are reported by ``step()``.

        Parameters
        ----------
        indices : 1-D integer tensor, array or sequence of length b
            Dataset indices of the batch (the third item of :class:`proxydata.IndexedDataset`).
        logits : torch.Tensor of shape (b, num_classes)
            Unnormalised class scores (any float dtype; gradients are ignored).

        Raises
        ------
        ProxydataTypeError, ProxydataValueError
            Bad types or shapes; an index outside the dataset, in neither split, or
            pruned; NaN/inf logits (CPU); the ``meta`` device; a call after the
            last epoch. Nothing is recorded then.
        """
        self._check_running("observe")
        if isinstance(logits, torch.Tensor) and logits.device.type == "meta":
            check_logits(logits, -1, self.num_classes)  # names the meta device before the indices
        idx = self._tracked.check_observed(indices)
        check_logits(logits, idx.size, self.num_classes)
        if idx.size:
            self.recorder.add_logits(idx, logits)

    def observe_el2n(self, indices: Any, el2n: torch.Tensor) -> None:
        """Record precomputed EL2N values ``e_i ∈ [0, √2]`` (same index checks as :meth:`observe`).

        Raises ``ProxydataValueError``, recording nothing, for values that are not
        finite or lie outside EL2N's range (beyond a rounding slack, which is
        clamped into it; :func:`.recorder.check_el2n`).
        """
        self._check_running("observe_el2n")
        idx = self._tracked.check_observed(indices)
        check_el2n(el2n, idx.size)
        if idx.size:
            self.recorder.add_el2n(idx, el2n)

    def _check_running(self, what: str) -> None:
        if self.epoch >= self.epochs:
            raise ProxydataValueError(
                f"{what}() after the last epoch: the pruner was built with epochs={self.epochs} and "
                f"step() has been called {self.epoch} times"
            )

    # -- stepping --------------------------------------------------------------------
    def step(self) -> dict[str, Any] | None:
        """End an epoch: fold its scores into the window and, at the schedule's epochs, prune.

        With a process group of several ranks the first call checks that all ranks
        agree, and every call sums the epoch's scores across them. At a pruning
        epoch (``T, 2T, …``, or ``T`` alone when pruning once) each split loses the
        samples chosen by their score (VoE or mean EL2N) under the class caps and
        the samplers shrink in place; then both move to the new epoch. A split
        whose kept samples were not all observed warns once (``RuntimeWarning``).
        The history entry (keys in :mod:`proxydata.pruning.history`) goes to
        :attr:`history` and to every listener.

        Returns
        -------
        dict or None
            At a pruning step ``{"epoch", "train", "val"}`` with each split's step
            record (``asked``, ``pruned``, ``held_back``, ``held_back_by``,
            ``limits``, the pruned ``indices`` and their ``voe`` — the scores the
            step ranked by, named by ``score`` —, ``protected`` and
            ``protected_by``, ...); else None.

        Raises
        ------
        ProxydataValueError
            After the last epoch; when observe calls were dropped for NaN/inf logits
            on an accelerator (once); when ``limit_fn`` returns invalid limits.
            Nothing changes then.
        RankMismatchError
            With several ranks, when their decisions (kept sets, epoch) differ;
            on every rank, and nothing changes then.
        ListenerError
            When listeners raised: the step *has* completed, every listener got
            the entry; the error names the failed listeners.
        """
        distributed = self._ranks.distributed()
        if distributed:  # e.g. a state dict loaded on one rank only: caught before any other collective
            self._ranks.agree(self._decisions(self.epoch), "at its start")
        self._check_running("step")
        column = self.recorder.close_epoch(distributed)
        slot, new_epoch = self.epoch % self.interval, self.epoch + 1
        pruning = self.schedule.prunes_after(new_epoch)
        seen = (~torch.isnan(column)).cpu().numpy()
        kept = [int(s.kept.size) for s in self._splits]
        observed = [int(seen[s.kept_positions()].sum()) for s in self._splits]
        infos: list[dict[str, Any] | None] = [None] * len(self._splits)
        failure: Exception | None = None
        if pruning:
            scores = window_scores(self.score, self.recorder, slot, column)
            limit_fn = self.limit_fn if self.class_balance else None
            try:
                infos = [
                    s.select(scores, self.limit_s, limit_fn, self.min_per_class, self.score)
                    for s in self._splits
                ]
            except Exception as exc:  # with several ranks, raised after the others have heard of it
                if not distributed:
                    raise
                failure = exc
        if distributed:
            self._ranks.agree(self._decisions(new_epoch, infos), f"at the end of epoch {new_epoch}", failure)
            if failure is not None:  # not reached: agree() raises when any rank failed
                raise failure
        # Commit: nothing above changed the pruner.
        self.recorder.commit(slot, column)
        self.epoch = new_epoch
        for split, info in zip(self._splits, infos):
            if info is not None:
                split.remove(info["indices"], new_epoch)
            split.sampler.set_epoch(new_epoch)
        facts = []
        for split, info, n_before, n_seen in zip(self._splits, infos, kept, observed):
            split.warn_if_uncovered(new_epoch, n_before, n_seen, self.interval, info)
            facts.append(split.facts(info, n_before, n_seen))
        entry = make_entry(new_epoch, pruning, facts)
        self.history.append(entry)
        result = {"epoch": new_epoch, "train": infos[0], "val": infos[1]} if pruning else None
        self._notify(entry, result)
        return result

    def _notify(self, entry: dict[str, Any], result: dict[str, Any] | None) -> None:
        """Give every listener its copy of ``entry``; then one error if any of them raised."""
        failures: list[tuple[Callable[..., Any], BaseException]] = []
        for listener in list(self._listeners):
            try:
                listener(to_plain(entry))
            except Exception as exc:  # the step is committed: the other listeners still get it
                failures.append((listener, exc))
        if failures:
            names = "; ".join(f"{_describe(f)}: {type(e).__name__}: {e}" for f, e in failures)
            raise ListenerError(
                f"step() completed epoch {entry['epoch']} (its history entry is recorded and the samplers "
                f"have moved on; do not call step() again for it), and every listener received the "
                f"entry, but {len(failures)} of {len(self._listeners)} listener(s) raised: {names}",
                epoch=int(entry["epoch"]),
                failures=failures,
                result=result,
            ) from failures[0][1]

    def _decisions(self, epoch: int, infos: list[dict[str, Any] | None] | None = None) -> dict[str, Any]:
        """What every rank must agree on: ``epoch`` and the kept sets (after ``infos``' pruning)."""
        facts: dict[str, Any] = {"epoch": epoch}
        for split, info in zip(self._splits, infos or [None] * len(self._splits)):
            kept = split.kept
            if info is not None and info["indices"].size:
                kept = kept[~np.isin(kept, info["indices"])]
            facts[f"kept {split.name} set"] = kept
        return facts

    def add_listener(self, listener: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
        """Call ``listener(entry)`` with every history entry as ``step()`` makes it.

        The entry is a copy of plain Python numbers, lists and dicts (no numpy),
        ready for a logger; see :mod:`proxydata.pruning.history` for its keys and
        :class:`proxydata.integrations.tensorboard.TensorBoardLogger` for a
        ready one. Returns ``listener`` (usable as a decorator).

        Listeners run after the step has committed, in the order added. If any
        raise, the others still get the entry, and ``step()`` then raises one
        :class:`~proxydata.ListenerError` that says the step completed and names
        the listeners that failed (do not repeat the step).
        """
        if not callable(listener):
            raise ProxydataTypeError(f"listener must be callable (entry) -> None, got {show(listener)}")
        self._listeners.append(listener)
        return listener

    def remove_listener(self, listener: Callable[[dict[str, Any]], Any]) -> None:
        """Stop calling ``listener``; a listener that was never added is a ``ProxydataValueError``."""
        if listener not in self._listeners:
            raise ProxydataValueError(
                f"listener {show(listener)} is not a listener of this pruner "
                f"({len(self._listeners)} added with add_listener)"
            )
        self._listeners.remove(listener)

    # -- reporting and persistence --------------------------------------------------
    def summary(self) -> str:
        """A readable table of the run so far: kept sizes, balance and pruning per epoch.

        One labelled reading per column (a legend under the table says what each
        counts): kept sizes, class balance degrees, samples observed, per split
        ``pruned/asked`` at a pruning step and the samples the class-balance limit
        protected (``history[i][split]["protected_by"]["class_limit"]``).
        """
        return format_summary(self.config, self.schedule, self._splits, self.epoch, self.history)

    def to_pandas(self) -> Any:
        """:attr:`history` as a ``pandas.DataFrame``: one row per epoch, one column per number.

        Columns as :func:`~proxydata.pruning.history.history_table` names them
        (``epoch``, ``n_train``, ``pruned_train``, ``asked_train``,
        ``protected_by_limit_train``, ...; the step's indices and VoE stay in
        :attr:`history`). Needs pandas (an optional dependency): ``ImportError``
        naming it when it is absent.
        """
        return data_frame(history_table(self.history), "BiLevelPruner")

    def _config(self) -> dict[str, Any]:
        return self.config.identity(self.targets, self._splits[0].initial, self._splits[1].initial)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly (format in :mod:`proxydata.pruning.state`).

        Only tensors, Python scalars, strings, lists and dicts, so ``torch.save`` /
        ``torch.load(weights_only=True)`` round-trip it. Tensors are CPU copies.
        """
        return {
            "version": STATE_VERSION,
            "config": self._config(),
            "epoch": self.epoch,
            "pruned_at": torch.from_numpy(self._tracked.pruned_at.copy()),
            **self.recorder.state(),
            "samplers": {s.name: {"epoch": s.sampler.epoch} for s in self._splits},
            "history": convert(self.history, to_torch=True),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (format 1 or 2); later decisions equal the uninterrupted run's.

        Raises :class:`~proxydata.CorruptStateError` (``ProxydataTypeError`` for a
        non-dict), naming the field, if it was made for another pruner or breaks
        any invariant; everything is checked first, so nothing changes then.
        """
        loaded = parse_state(
            state_dict, config=self._config(), schedule=self.schedule, splits=self._splits,
            n_tracked=len(self._tracked), min_per_class=self.min_per_class,
        )  # fmt: skip
        self.recorder.load(loaded.buffers)
        self._tracked.set_pruned_at(loaded.pruned_at)
        for split in self._splits:
            split.restore(loaded.pruned_at)
            split.sampler.set_epoch(loaded.sampler_epochs[split.name])
        self.epoch = loaded.epoch
        self.history = loaded.history
