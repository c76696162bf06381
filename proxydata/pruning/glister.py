"""Adaptive subset selection during a search by GLISTER (Killamsetty et al., AAAI 2021).

Adaptive-NAS (Prasad et al., AutoML-Conf LBW 2022; the "Adaptive-NAS" row of
BDP's Table 4) trains the supernet's weights on a subset of the training split
that is chosen again every ``T`` epochs by GLISTER-ONLINE. :class:`GlisterSelector`
does that beside :class:`~proxydata.BiLevelPruner`, with the same contract: the
loop draws batches through ``train_sampler`` (the current
subset) and ``val_sampler``, calls
``observe(indices, logits)`` after every forward pass and ``step()`` at the end
of every epoch. At the end of epochs ``T, 2T, … < epochs`` it re-selects.

**What is computed** (formulas in ``docs/methods/glister.md``). GLISTER-ONLINE
picks the subset ``S`` (``|S| = k``) that minimises the validation loss after one
gradient step on ``S``, ``L_V(θ − η ∇L_T(θ, S))``, with the Taylor
approximation ``L_V(θ) − η ∇L_T(θ, S) · ∇L_V(θ)`` and a greedy maximisation
(paper Sec. 4; the ``glister`` strategy of the authors' library
decile-team/cords). We use the gradients of the **last layer's bias**, which
for the cross-entropy are the logit-space gradients and need nothing but the
logits the loop already has:

* ``g_i = softmax(z_i) − onehot(y_i)`` for every sample of the training split
  (``z_i`` its mean logits over its observations in the selection epoch);
* ``g_V(s) = (1/|V|) Σ_{j∈V} [softmax(z_j − η s) − onehot(y_j)]``, the validation
  gradient after the one-step update ``b ← b − η s`` of the bias by the sum
  ``s = Σ_{i∈S} g_i`` of the gradients picked so far (``s = 0`` at the start);
* greedy (GLISTER's "Naive" greedy): ``k`` times, pick the remaining training
  sample of largest gain ``gain(i) = η · g_i · g_V(s)``, add it to ``S`` and
  ``g_i`` to ``s``, and update ``g_V`` (as GLISTER does after every pick).

This is cords' GLISTER with ``linear_layer=False`` (bias gradients only),
``selection_type="Supervised"`` (the whole training split at once) and
``greedy="Naive"``. **Our choices where the paper is silent or we differ**:

* *logits*: a sample's logits are the mean of those observed for it in the
  selection epoch (the loop's own forward passes, in training mode); GLISTER
  recomputes all of them with the model at selection time. The training
  samples outside the current subset, and validation samples the epoch did not
  reach, are never observed by the training loop: ``scoring_sampler``
  yields them (only in a selection epoch), and the loop passes them through
  the network under ``torch.no_grad()`` and calls ``observe`` before
  ``step()``; these passes are the selection's cost (``selection_cost``);
* *the first subset*: uniformly random with the seed (cords starts from a
  random subset too), kept for the first ``T`` epochs;
* *ties*: the candidate first in a random order seeded by ``seed + epoch``
  (cords takes ``torch.sort``'s unspecified order);
* *η*: ``eta`` (default 0.025, DARTS' weight learning rate; cords passes the
  model's learning rate). η scales every gain and sets how far each pick
  moves the validation logits;
* no per-class or per-batch selection, no stochastic greedy (cords' other options).

**Distributed.** Every rank observes its own shard; ``step()`` sums the logit
sums and counts of the epoch across ranks (one ``all_reduce``), so every rank
runs the same greedy on the same numbers and picks the same subset. Before
changing anything the ranks compare a digest of the epoch and the new subset
(one ``all_gather``); a difference, or a failure on some ranks only, raises
:class:`~proxydata.RankMismatchError` on every rank.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from .._ranks import group_size
from .._validation import check_device, check_float, check_int, check_ratio, check_seed
from ..data import get_targets
from ..exceptions import ProxydataValueError
from ..samplers.sharding import epoch_order, resolve_replicas, shard
from .config import checked_splits
from .glister_checks import (
    STATE_VERSION,
    SelectorShape,
    check_selector_config,
    check_selector_decisions,
    collective_device,
    digest,
    parse_selector_state,
)
from .glister_math import glister_greedy, logit_gradients
from .recorder import check_logits
from .samplers import KeptSetSampler
from .tracked import TrackedSet

__all__ = ["GlisterSelector", "ScoringSampler"]


# -- the samplers ----------------------------------------------------------------------------
class ScoringSampler(Sampler[int]):
    """The samples a selection epoch still needs logits of; empty in every other epoch.

    In an epoch that ends with a selection, an iterator yields this rank's share
    (the epoch's seeded order of the training and validation splits, sharded
    like ``DistributedSampler``) of the samples this rank has not observed in
    the epoch; otherwise nothing. Passing them through the network and calling
    ``observe`` before ``step()`` gives every sample logits; what it yields is
    counted in the selector's ``selection_cost``. The
    iterator stops at ``set_epoch`` (``step()``) like the other samplers.
    """

    def __init__(self, owner: GlisterSelector) -> None:
        self._owner = owner
        self.epoch = 0
        self._generation = 0

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch (``step()`` calls it; setting the current one again changes nothing)."""
        epoch = check_int(epoch, "epoch", minimum=0)
        if epoch != self.epoch:
            self.epoch = epoch
            self._generation += 1

    def iteration_order(self) -> np.ndarray:
        """What a new iterator yields now."""
        owner = self._owner
        if not owner.selection_due():
            return np.empty(0, dtype=np.int64)
        order = epoch_order(owner._tracked.indices, shuffle=True, seed=owner.seed, epoch=self.epoch)
        mine = shard(order, owner.num_replicas, owner.rank, False)
        return mine[owner._observed[owner._tracked.positions(mine)] == 0]

    def __iter__(self) -> Iterator[int]:
        order, generation = self.iteration_order(), self._generation
        for index in order.tolist():
            if self._generation != generation:
                return
            self._owner._scored_here += 1
            yield index

    def __len__(self) -> int:
        return int(self.iteration_order().size)

    def __repr__(self) -> str:
        return f"ScoringSampler(epoch={self.epoch}, due={self._owner.selection_due()})"


# -- the selector ------------------------------------------------------------------------------
class GlisterSelector:
    """Re-select the training subset every ``T`` epochs by GLISTER-ONLINE (Adaptive-NAS).

    See the module notes (and ``docs/methods/glister.md``) for the formulas and
    our choices.

    Parameters
    ----------
    targets : 1-D labels (tensor, array, list) or a map-style dataset
        Labels of the whole dataset the indices refer to.
    train_indices, val_indices : 1-D integer sequences
        The training split (the ground set the subset is chosen from) and the
        validation split (GLISTER's validation set); disjoint, non-empty, unique.
    epochs : int >= 1
        Length of the search; ``observe``/``step`` after the last epoch raise.
    ratio : float in (0, 1]
        Subset size ``k = max(1, round(ratio · n_train))``, fixed for the run.
    interval : int >= 1
        ``T``: re-select at the end of epochs ``T, 2T, … < epochs``.
    eta : float > 0
        ``η`` of the one-step update (see the module notes).
    seed : int >= 0
        Seeds the first subset, the samplers' epoch shuffles and the tie-breaks.
    num_replicas, rank : int, optional
        Shard the samplers like ``DistributedSampler``; read from an initialised
        process group when None.
    device : str or torch.device, optional
        Where the epoch's logit sums are kept (None: the first logits' device).
    num_classes : int, optional
        Columns of the logits; defaults to ``max(targets) + 1``.

    Attributes
    ----------
    train_sampler : KeptSetSampler
        Over the current subset (with the coverage guarantee of
        :mod:`proxydata.pruning.samplers`); replaced in place at every selection.
    val_sampler : KeptSetSampler
        Over the validation split.
    scoring_sampler : ScoringSampler
        The samples still lacking logits in a selection epoch (see the notes).
    epoch : int
        Completed epochs (``step()`` calls).
    history : list of dict
        One entry per completed epoch: ``epoch``, ``selected`` (bool),
        ``subset_size``, ``entered`` (samples new in the subset), ``gain`` (the
        sum of the picks' gains), ``scored`` (scoring passes, all ranks),
        ``cpu_seconds``, ``wall_seconds`` (this rank's choosing time).
    selection_cost : dict
        What choosing cost so far (the names of
        ``ProxySampler.selection_cost``):
        ``samples`` — forward passes made for the selection only (what
        ``scoring_sampler`` yielded, all ranks), ``cpu_seconds`` and
        ``wall_seconds`` — this process's time in the greedy and the reduction,
        ``selections`` — how many selections ran.

    Examples
    --------
    >>> import torch
    >>> sel = GlisterSelector([0, 1] * 10, range(12), range(12, 20), epochs=2, ratio=0.5, interval=1)
    >>> for i in list(sel.train_sampler) + list(sel.val_sampler):
    ...     sel.observe([i], torch.zeros(1, 2))
    >>> for i in list(sel.scoring_sampler):  # the training samples outside the subset
    ...     sel.observe([i], torch.zeros(1, 2))
    >>> _ = sel.step()
    >>> len(sel.subset), sel.history[-1]["selected"]
    (6, True)
    """

    def __init__(
        self,
        targets: Any,
        train_indices: Any,
        val_indices: Any,
        *,
        epochs: int,
        ratio: float = 0.25,
        interval: int = 5,
        eta: float = 0.025,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        device: str | torch.device | None = None,
        num_classes: int | None = None,
    ) -> None:
        y = get_targets(targets, progress=False).astype(np.int64)
        train, val = checked_splits(train_indices, val_indices, int(y.shape[0]))
        self.epochs = check_int(epochs, "epochs", minimum=1)
        self.ratio = check_ratio(ratio)
        self.interval = check_int(interval, "interval", minimum=1)
        self.eta = check_float(eta, "eta", strictly_positive=True)
        self.seed = check_seed(seed)
        self.num_replicas, self.rank = resolve_replicas(num_replicas, rank)
        self.device = None if device is None else check_device(device)
        max_label = int(y.max())
        if num_classes is None:
            num_classes = max_label + 1
        self.num_classes = check_int(num_classes, "num_classes", minimum=max(2, max_label + 1))
        self.targets = y
        self.targets.setflags(write=False)
        self.k = max(1, round(self.ratio * train.size))
        self._tracked = TrackedSet(y, [("train", train), ("val", val)])
        self._train, self._val = train, val
        self._is_train = np.zeros(len(self._tracked), dtype=bool)
        self._is_train[self._tracked.positions(train)] = True
        self._observed = np.zeros(len(self._tracked), dtype=np.int32)  # this rank, this epoch
        self._sums: torch.Tensor | None = None  # (n_tracked, C + 1): logit sums, count (selection epochs)
        self._scored_here = 0
        counts = self._observed_counts
        self.train_sampler = KeptSetSampler(
            train, seed=self.seed, num_replicas=self.num_replicas, rank=self.rank, observed=counts
        )
        self.val_sampler = KeptSetSampler(
            val, seed=self.seed, num_replicas=self.num_replicas, rank=self.rank, observed=counts
        )
        self.scoring_sampler = ScoringSampler(self)
        rng = np.random.default_rng(self.seed)
        self.train_sampler.restore(np.sort(rng.choice(train, size=self.k, replace=False)))
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self.selection_cost: dict[str, Any] = {
            "samples": 0,
            "cpu_seconds": 0.0,
            "wall_seconds": 0.0,
            "selections": 0,
        }
        self._agreed = False
        if group_size() > 1:
            self._check_config()

    # -- introspection ---------------------------------------------------------------
    @property
    def subset(self) -> np.ndarray:
        """The current training subset (sorted int64 dataset indices, a copy)."""
        return self.train_sampler.indices.copy()

    @property
    def kept_train(self) -> np.ndarray:
        """:attr:`subset` (the name :class:`~proxydata.BiLevelPruner` uses)."""
        return self.subset

    @property
    def kept_val(self) -> np.ndarray:
        """The validation split (never reduced; sorted int64 copy)."""
        return self._val.copy()

    @property
    def select_epochs(self) -> list[int]:
        """The epochs after which a selection runs: ``T, 2T, … < epochs``."""
        return list(range(self.interval, self.epochs, self.interval))

    def selection_due(self) -> bool:
        """Whether the running epoch ends with a selection (logits are recorded for it)."""
        return self.epoch + 1 in self.select_epochs

    def _observed_counts(self, indices: np.ndarray) -> np.ndarray:
        return self._observed[self._tracked.positions(indices)]

    def __repr__(self) -> str:
        return (
            f"GlisterSelector(epoch={self.epoch}/{self.epochs}, interval={self.interval}, "
            f"subset={self.k}/{self._train.size}, val={self._val.size})"
        )

    # -- observing -------------------------------------------------------------------
    def observe(self, indices: Any, logits: torch.Tensor) -> None:
        """Record a batch's logits (training, validation or scoring batches alike).

        Counts the observation for the samplers' coverage; in a selection epoch
        also adds the logits to the sample's sum (gradients are ignored).

        Parameters
        ----------
        indices : 1-D integer tensor, array or sequence of length b
            Dataset indices of the batch (in the training or validation split).
        logits : torch.Tensor of shape (b, num_classes)

        Raises
        ------
        ProxydataTypeError, ProxydataValueError
            Bad types or shapes, an index in neither split, NaN/inf logits, a
            call after the last epoch; nothing is recorded then.
        """
        self._check_running("observe")
        idx = self._tracked.check_observed(indices)
        check_logits(logits, idx.size, self.num_classes)
        if not idx.size:
            return
        pos = self._tracked.positions(idx)
        if self.selection_due():
            z = logits.detach()
            if not bool(torch.isfinite(z).all()):
                raise ProxydataValueError("logits must be finite, got NaN or inf; nothing was recorded")
            if self._sums is None:
                device = self.device or z.device
                self._sums = torch.zeros(
                    len(self._tracked), self.num_classes + 1, dtype=torch.float64, device=device
                )
            rows = torch.cat(
                [z.to(torch.float64), torch.ones(idx.size, 1, dtype=torch.float64, device=z.device)], dim=1
            )
            self._sums.index_add_(0, torch.from_numpy(pos).to(self._sums.device), rows.to(self._sums.device))
        np.add.at(self._observed, pos, 1)

    def _check_running(self, what: str) -> None:
        if self.epoch >= self.epochs:
            raise ProxydataValueError(
                f"{what}() after the last epoch: the selector was built with epochs={self.epochs} and "
                f"step() has been called {self.epoch} times"
            )

    # -- stepping --------------------------------------------------------------------
    def step(self) -> dict[str, Any] | None:
        """End an epoch; at ``T, 2T, … < epochs`` choose the next subset by GLISTER.

        Returns
        -------
        dict or None
            At a selection ``{"epoch", "subset", "order", "gains", "entered"}``:
            the new subset (sorted), the picks in greedy order with their gains,
            and how many samples are new in it; else None.

        Raises
        ------
        ProxydataValueError
            After the last epoch; at a selection when a training or validation
            sample has no logits from the epoch (pass
            ``scoring_sampler``'s batches to ``observe``). Nothing changes then.
        RankMismatchError
            With several ranks, when their epochs or subsets differ, or the
            selection failed on some ranks only; on every rank, nothing changes.
        """
        distributed = group_size() > 1
        if distributed:
            if not self._agreed:
                self._check_config()
            check_selector_decisions(
                {"epoch": self.epoch, "subset": self.train_sampler.indices}, "at its start"
            )
        self._check_running("step")
        new_epoch = self.epoch + 1
        selecting = new_epoch in self.select_epochs
        result: dict[str, Any] | None = None
        failure: Exception | None = None
        spent = (0.0, 0.0, 0)
        if selecting:
            try:
                result, spent = self._select(new_epoch, distributed)
            except Exception as exc:  # with several ranks, raised after the others have heard of it
                if not distributed:
                    raise
                failure = exc
        if distributed:
            subset = self.train_sampler.indices if result is None else result["subset"]
            check_selector_decisions(
                {"epoch": new_epoch, "subset": subset}, f"at the end of epoch {new_epoch}", failure
            )
        # Commit: nothing above changed the selector.
        cpu, wall, scored = spent
        entry = {
            "epoch": new_epoch,
            "selected": selecting,
            "subset_size": self.k,
            "entered": 0 if result is None else int(result["entered"]),
            "gain": 0.0 if result is None else float(result["gains"].sum()),
            "scored": int(scored),
            "cpu_seconds": float(cpu),
            "wall_seconds": float(wall),
        }
        if result is not None:
            self.train_sampler.restore(result["subset"])
            cost = self.selection_cost
            cost["samples"] += int(scored)
            cost["cpu_seconds"] += float(cpu)
            cost["wall_seconds"] += float(wall)
            cost["selections"] += 1
        self.epoch = new_epoch
        self._observed[:] = 0
        self._sums = None
        self._scored_here = 0
        for sampler in (self.train_sampler, self.val_sampler, self.scoring_sampler):
            sampler.set_epoch(new_epoch)
        self.history.append(entry)
        return result

    def _select(self, new_epoch: int, distributed: bool) -> tuple[dict[str, Any], tuple[float, float, int]]:
        """The reduction and the greedy; changes nothing. Returns the result and (cpu, wall, scored)."""
        cpu0, wall0 = time.process_time(), time.perf_counter()
        n_tracked, c = len(self._tracked), self.num_classes
        sums = self._sums if self._sums is not None else torch.zeros(n_tracked, c + 1, dtype=torch.float64)
        scored = torch.tensor([float(self._scored_here)], dtype=torch.float64)
        if distributed:
            both = torch.cat([sums.reshape(-1).to(collective_device()), scored.to(collective_device())])
            dist.all_reduce(both, op=dist.ReduceOp.SUM)
            sums, scored = both[:-1].reshape(n_tracked, c + 1), both[-1:]
        result = _choose(sums.cpu(), self._tracked, (self._train, self._val), self, new_epoch)
        result["entered"] = int(np.setdiff1d(result["subset"], self.train_sampler.indices).size)
        spent = (time.process_time() - cpu0, time.perf_counter() - wall0, round(float(scored.item())))
        return result, spent

    # -- distributed -----------------------------------------------------------------------
    def _fields(self) -> dict[str, Any]:
        """The settings every rank must share (and a state dict must match)."""
        names = ("epochs", "ratio", "interval", "eta", "seed", "num_classes")
        return {"targets": self.targets, "train_indices": self._train, "val_indices": self._val,
                **{name: getattr(self, name) for name in names}}  # fmt: skip

    def _check_config(self) -> None:
        check_selector_config(self._fields(), self.num_replicas, self.rank)
        self._agreed = True

    # -- persistence -------------------------------------------------------------------------
    def _shape(self) -> SelectorShape:
        fields = self._fields()
        identity = {k: digest(v) if isinstance(v, np.ndarray) else v for k, v in fields.items()}
        return SelectorShape(
            identity={"method": "glister", **identity, "num_replicas": self.num_replicas},
            k=self.k, train=self._train, n_tracked=len(self._tracked), num_classes=self.num_classes,
            epochs=self.epochs, select_epochs=tuple(self.select_epochs),
        )  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly; plain data for ``torch.load(weights_only=True)``.

        Format (version 1)::

            {"version": 1, "config": {...}, "epoch": int, "subset": int64 (k,),
             "observed": int32 (n_tracked,) this rank's observations in the running epoch,
             "sums": float64 (n_tracked, C + 1) or None, "scored": int,
             "samplers": {"train": int, "val": int, "scoring": int},
             "history": [dict per epoch], "selection_cost": dict}
        """
        samplers = {"train": self.train_sampler, "val": self.val_sampler, "scoring": self.scoring_sampler}
        return {
            "version": STATE_VERSION,
            "config": self._shape().identity,
            "epoch": self.epoch,
            "subset": torch.from_numpy(self.train_sampler.indices.copy()),
            "observed": torch.from_numpy(self._observed.copy()),
            "sums": None if self._sums is None else self._sums.detach().cpu().clone(),
            "scored": int(self._scored_here),
            "samplers": {name: sampler.epoch for name, sampler in samplers.items()},
            "history": [dict(h) for h in self.history],
            "selection_cost": dict(self.selection_cost),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; later decisions equal the uninterrupted run's.

        Every field is checked first (:func:`.glister_checks.parse_selector_state`:
        :class:`~proxydata.CorruptStateError` naming it, ``ProxydataTypeError``
        for a non-dict), so a bad state changes nothing.
        """
        loaded = parse_selector_state(state_dict, self._shape())
        device = self._sums.device if self._sums is not None else self.device
        self.epoch = loaded.epoch
        self.train_sampler.restore(loaded.subset)
        self._observed = loaded.observed
        self._sums = None if loaded.sums is None else loaded.sums.clone().to(device or "cpu")
        self._scored_here = loaded.scored
        for sampler in (self.train_sampler, self.val_sampler, self.scoring_sampler):
            sampler.set_epoch(loaded.epoch)
        self.history = loaded.history
        self.selection_cost = loaded.selection_cost


def _choose(
    sums: torch.Tensor,
    tracked: TrackedSet,
    splits: tuple[np.ndarray, np.ndarray],
    sel: GlisterSelector,
    epoch: int,
) -> dict[str, Any]:
    """The greedy on the epoch's mean logits (``sums`` summed over the ranks): the step's result."""
    train, val = splits
    c = sums.shape[1] - 1
    counts = sums[:, c]
    missing = counts == 0
    if bool(missing.any()):
        where = tracked.indices[missing.numpy()]
        n_train = int(np.isin(where, train).sum())
        raise ProxydataValueError(
            f"step() at the end of epoch {epoch} must select a subset, but {n_train} training and "
            f"{where.size - n_train} validation samples have no logits from this epoch (e.g. index "
            f"{int(where[0])}); pass the batches of selector.scoring_sampler through the network and "
            "to observe() before step() (torch.no_grad() is enough). Nothing was changed."
        )
    mean = sums[:, :c] / counts[:, None]
    labels = torch.from_numpy(tracked.labels)
    train_pos = torch.from_numpy(tracked.positions(train))
    val_pos = torch.from_numpy(tracked.positions(val))
    grads = logit_gradients(mean[train_pos], labels[train_pos])
    gen = torch.Generator().manual_seed((sel.seed + epoch) % 2**63)
    tiebreak = torch.randperm(train.size, generator=gen).numpy()
    picked = glister_greedy(grads, mean[val_pos], labels[val_pos], sel.k, eta=sel.eta, tiebreak=tiebreak)
    order = train[picked.order]
    return {"epoch": epoch, "subset": np.sort(order), "order": order, "gains": picked.gains}
