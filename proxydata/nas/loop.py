"""The search loop of :func:`~proxydata.nas.search`: batches, the weight step, the record, the callbacks.

Written the way a user's loop is written: for every training batch, an
architecture step on the paired validation batch (the algorithm's: :mod:`.darts`,
:mod:`.gdas`, :mod:`.enas`), then a weight step on the training batch;
``pruner.observe`` after each forward pass and ``pruner.step()`` at the end of
each epoch (see :class:`~proxydata.BiLevelPruner`). A pruner with a
``scoring_sampler`` (:class:`~proxydata.GlisterSelector`) also gets, before
``step()``, the logits of the samples that sampler yields: one pass under
``torch.no_grad()`` with the training loader's dataset and batch size. The loop
knows no algorithm: it calls an :class:`ArchStep`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..exceptions import ProxydataValueError
from .hessian_probe import HessianProbe
from .search_options import SearchOptions
from .supernet import Supernet, alphas_array

__all__ = ["ArchStep", "SearchLoop", "SearchResult"]


@dataclass
class SearchResult:
    """What :func:`~proxydata.nas.search` returns; every list has one entry per completed epoch.

    Attributes
    ----------
    algo : str
        One of :data:`~proxydata.nas.ALGORITHMS`.
    genotype : str
        The architecture derived after the last epoch (``str`` of the supernet's genotype:
        the NAS-Bench-201 string, or the DARTS repository's ``Genotype(...)`` text).
    genotypes : list of str
        The cell derived after every epoch.
    alphas : np.ndarray
        Final operation logits (:func:`~proxydata.nas.supernet.alphas_array`): NAS-Bench-201
        (6, 5), rows edges, columns ``NB201_OPS``; DARTS space (2, 14, 8), normal and reduce.
    epoch_seconds : list of float
        Wall time of every epoch (including ``pruner.step()``).
    train_loss, train_acc, val_loss, val_acc : list of float
        Mean cross-entropy and accuracy (in [0, 1]) of the weight steps' training
        batches and of the architecture steps' validation batches (for DARTS-V2
        the unrolled model's), before each update.
    train_sizes, val_sizes : list of int
        Training and validation samples processed in every epoch (the validation
        loader is cycled, one batch per training batch).
    train_set_sizes, val_set_sizes : list of int or None
        ``len(loader.sampler)`` of both loaders at the start of every epoch (the
        size of a static proxy, or of the pruner's kept sets); None where the
        loader has no sized sampler.
    taus : list of float
        GDAS temperature of every epoch (empty for DARTS).
    beta_weights : list of float
        β-DARTS's regulariser weight ``lambda_e`` of every epoch (empty otherwise).
    skip_dropouts : list of float
        P-DARTS's dropout rate after ``skip_connect`` of every epoch (empty otherwise).
    hessian_eigenvalues : list of float
        Dominant eigenvalue of ``∇²_alpha L_val`` on the fixed ``hessian_batch``
        after every epoch (empty when no batch was given).
    hessian_seconds : list of float
        CPU seconds (this process) each of those measurements took: they are part
        of ``epoch_seconds`` but not of the search.
    search_seconds : float
        Wall time of the whole search.
    """

    algo: str
    genotype: str = ""
    genotypes: list[str] = field(default_factory=list)
    alphas: np.ndarray = field(default_factory=lambda: np.zeros((6, 5)))
    epoch_seconds: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    train_sizes: list[int] = field(default_factory=list)
    val_sizes: list[int] = field(default_factory=list)
    train_set_sizes: list[int | None] = field(default_factory=list)
    val_set_sizes: list[int | None] = field(default_factory=list)
    taus: list[float] = field(default_factory=list)
    beta_weights: list[float] = field(default_factory=list)
    skip_dropouts: list[float] = field(default_factory=list)
    hessian_eigenvalues: list[float] = field(default_factory=list)
    hessian_seconds: list[float] = field(default_factory=list)
    search_seconds: float = 0.0

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.genotypes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (``alphas`` as nested lists)."""
        out = asdict(self)
        out["alphas"] = np.asarray(self.alphas, dtype=np.float64).tolist()
        return out


class ArchStep(Protocol):
    """What the loop asks of an algorithm's architecture step."""

    def start_epoch(self, epoch: int, epochs: int) -> dict[str, float]:
        """Set the epoch's schedules; return ``{SearchResult list name: this epoch's value}``."""
        ...

    def update(
        self, x: torch.Tensor, y: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor, lr: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Update the architecture on ``(xv, yv)``; return that batch's detached logits and loss."""
        ...


def _unpack(batch: Any, need_index: bool, which: str) -> tuple[torch.Tensor, torch.Tensor, Any]:
    if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
        raise ProxydataValueError(
            f"{which} batches must be (x, y) or (x, y, index) tuples, got {type(batch).__name__}"
        )
    if len(batch) == 2:
        if need_index:
            raise ProxydataValueError(
                f"{which} batches must be (x, y, index) when a pruner is given; "
                "wrap the dataset in proxydata.IndexedDataset"
            )
        return batch[0], batch[1], None
    return batch[0], batch[1], batch[2]


def _cycle(loader: Iterable[Any]) -> Iterator[Any]:
    """Iterate ``loader`` forever, starting a fresh iterator each time it is exhausted."""
    while True:
        empty = True
        for item in loader:
            empty = False
            yield item
        if empty:
            raise ProxydataValueError("val_loader yielded no batches")


def _sampler_size(loader: Any) -> int | None:
    sampler = getattr(loader, "sampler", None)
    try:
        return len(sampler) if sampler is not None else None
    except TypeError:
        return None


def _set_epoch(loader: Any, epoch: int, pruner: Any) -> None:
    """Reshuffle a loader's sampler like ``DistributedSampler`` (the pruner's set their own)."""
    sampler = getattr(loader, "sampler", None)
    if sampler is None or (
        pruner is not None
        and sampler
        in (
            getattr(pruner, "train_sampler", None),
            getattr(pruner, "val_sampler", None),
        )
    ):
        return
    if callable(getattr(sampler, "set_epoch", None)):
        sampler.set_epoch(epoch)


class SearchLoop:
    """One call of :func:`~proxydata.nas.search`: the weight optimiser, the epoch loop and its record.

    Parameters
    ----------
    network : Supernet
        Moved to ``options.device`` and put in training mode.
    train_loader, val_loader : iterables of batches
    pruner : BiLevelPruner or None
    options : SearchOptions
    arch_step : ArchStep
        The algorithm's architecture step (over the same network).
    weight_optimizer : torch.optim.Optimizer
        Over ``network.weight_parameters()``.
    generator : torch.Generator
        Passed to the network's forward in the weight step (GDAS's Gumbel noise).
    """

    def __init__(
        self,
        network: Supernet,
        train_loader: Iterable[Any],
        val_loader: Iterable[Any],
        pruner: Any,
        options: SearchOptions,
        *,
        arch_step: ArchStep,
        weight_optimizer: torch.optim.Optimizer,
        generator: torch.Generator,
    ) -> None:
        self.network = network
        self.train_loader, self.val_loader = train_loader, val_loader
        self.pruner = pruner
        self.options = options
        self.arch_step = arch_step
        self.w_opt = weight_optimizer
        self.generator = generator
        self.weights = network.weight_parameters()
        self.arch = network.arch_parameter_list()  # alpha (PC-DARTS: and beta; ENAS: the controller)
        self.result = SearchResult(algo=options.algo)
        self.probe = None
        if options.hessian_batch is not None:
            self.probe = HessianProbe(
                network, options.hessian_batch, options.device, options.hessian_iterations, options.seed
            )

    def run(self) -> SearchResult:
        """Every epoch: the batches, ``pruner.step()``, the record, the callbacks."""
        start = time.perf_counter()
        for epoch in range(self.options.epochs):
            t0 = time.perf_counter()
            lr = self._start_epoch(epoch)
            sums, n_train, n_val = self._batches(epoch, lr)
            if self.pruner is not None:
                self._score()
                self.pruner.step()
            self._record(sums, n_train, n_val)
            self.result.epoch_seconds.append(time.perf_counter() - t0)
            self.result.search_seconds = time.perf_counter() - start
            self._report(epoch, n_train)
            stop = False
            for cb in self.options.callbacks:
                stop = bool(cb(epoch, self.result, self.network)) or stop
            if stop:
                break
        return self.result

    def _start_epoch(self, epoch: int) -> float:
        """Set this epoch's schedules and samplers; return the weight learning rate."""
        opts, result = self.options, self.result
        lr = opts.weights.start_epoch(self.w_opt, epoch, opts.epochs)
        for name, value in self.arch_step.start_epoch(epoch, opts.epochs).items():
            getattr(result, name).append(value)
        _set_epoch(self.train_loader, epoch, self.pruner)
        _set_epoch(self.val_loader, epoch, self.pruner)
        result.train_set_sizes.append(_sampler_size(self.train_loader))
        result.val_set_sizes.append(_sampler_size(self.val_loader))
        return lr

    def _batches(self, epoch: int, lr: float) -> tuple[torch.Tensor, int, int]:
        """One pass over the training loader, each batch paired with the next validation batch.

        Returns the sums (train loss, train hits, val loss, val hits) and the two sample counts.
        """
        opts, pruner, device = self.options, self.pruner, self.options.device
        need_index = pruner is not None
        val_batches = _cycle(self.val_loader)
        # summed on the device: no host sync per step
        sums = torch.zeros(4, dtype=torch.float64, device=device)
        n_train = n_val = 0
        bar = tqdm(
            self.train_loader,
            desc=f"{opts.algo} epoch {epoch + 1}/{opts.epochs}",
            disable=not opts.progress,
            leave=False,
            unit="batch",
        )
        for batch in bar:
            x, y, idx = _unpack(batch, need_index, "train_loader")
            xv, yv, idx_v = _unpack(next(val_batches), need_index, "val_loader")
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            xv, yv = xv.to(device, non_blocking=True), yv.to(device, non_blocking=True)
            if epoch < opts.arch_warmup_epochs:
                with torch.no_grad():
                    logits_v = self.network(xv, self.generator)
                    loss_v = F.cross_entropy(logits_v, yv)
            else:
                logits_v, loss_v = self.arch_step.update(x, y, xv, yv, lr)
            if pruner is not None:
                pruner.observe(idx_v, logits_v)
            logits, loss = self._weight_step(x, y)
            if pruner is not None:
                pruner.observe(idx, logits)
            b, bv = int(y.shape[0]), int(yv.shape[0])
            n_train += b
            n_val += bv
            sums += torch.stack(
                [
                    loss.double() * b,
                    (logits.argmax(1) == y).sum().double(),
                    loss_v.double() * bv,
                    (logits_v.argmax(1) == yv).sum().double(),
                ]
            )
        bar.close()
        val_batches.close()  # releases the validation loader's iterator (and its workers)
        if n_train == 0:
            raise ProxydataValueError(f"train_loader yielded no batches in epoch {epoch}")
        return sums, n_train, n_val

    def _score(self) -> None:
        """Pass what the pruner's ``scoring_sampler`` yields through the network (no gradients)."""
        sampler = getattr(self.pruner, "scoring_sampler", None)
        if sampler is None or len(sampler) == 0:
            return
        dataset = getattr(self.train_loader, "dataset", None)
        if dataset is None:
            raise ProxydataValueError(
                "the pruner asks for a scoring pass (scoring_sampler), which needs a train_loader with a "
                "dataset (a torch DataLoader)"
            )
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=getattr(self.train_loader, "batch_size", None) or 64,
            sampler=sampler,
            collate_fn=getattr(self.train_loader, "collate_fn", None),
        )
        device = self.options.device
        with torch.no_grad():
            for batch in loader:
                x, _, idx = _unpack(batch, True, "train_loader")
                self.pruner.observe(idx, self.network(x.to(device, non_blocking=True), self.generator))

    def _weight_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Update the weights on the training batch (alpha frozen); return detached logits and loss."""
        for p in self.arch:
            p.requires_grad_(False)  # no architecture gradients in the weight step
        try:
            logits = self.network(x, self.generator)
            loss = F.cross_entropy(logits, y)
            grads = torch.autograd.grad(loss, self.weights, allow_unused=True)
        finally:
            for p in self.arch:
                p.requires_grad_(True)
        for p, g in zip(self.weights, grads):
            p.grad = g  # None for weights the sampled GDAS cell did not use: SGD skips them
        self.options.weights.clip(self.weights)
        self.w_opt.step()
        return logits.detach(), loss.detach()

    def _record(self, sums: torch.Tensor, n_train: int, n_val: int) -> None:
        """Append the epoch's means, sizes, genotype and (optionally) Hessian eigenvalue."""
        result = self.result
        totals = sums.tolist()
        result.train_loss.append(totals[0] / n_train)
        result.train_acc.append(totals[1] / n_train)
        result.val_loss.append(totals[2] / n_val)
        result.val_acc.append(totals[3] / n_val)
        result.train_sizes.append(n_train)
        result.val_sizes.append(n_val)
        result.genotypes.append(str(self.network.genotype()))
        result.genotype = result.genotypes[-1]
        result.alphas = alphas_array(self.network)
        if self.probe is not None:
            eigenvalue, seconds = self.probe.measure()
            result.hessian_eigenvalues.append(eigenvalue)
            result.hessian_seconds.append(seconds)

    def _report(self, epoch: int, n_train: int) -> None:
        if not self.options.progress:
            return
        r, opts = self.result, self.options
        tqdm.write(
            f"{opts.algo} epoch {epoch + 1}/{opts.epochs}: train loss {r.train_loss[-1]:.3f} "
            f"acc {r.train_acc[-1]:.3f}, val loss {r.val_loss[-1]:.3f} "
            f"acc {r.val_acc[-1]:.3f}, {n_train} train samples, "
            f"{r.epoch_seconds[-1]:.1f} s, {r.genotype}"
        )
