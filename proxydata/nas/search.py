"""The reference search loop: DARTS-V1/V2, β-DARTS, GDAS, PC-DARTS and ENAS on the NAS-Bench-201 supernet.

Written the way a user's loop is written: for every training batch, an
architecture step on the paired validation batch, then a weight step on the
training batch; ``pruner.observe`` after each forward pass and ``pruner.step()``
at the end of each epoch (see :class:`~proxydata.BiLevelPruner`).

- **DARTS-V1** (Liu et al., ICLR 2019, Sec. 2.3, first order):
  ``alpha <- alpha - eta_a · ∇_alpha L_val(w, alpha)``.
- **DARTS-V2** (second order, Liu et al., Eq. 6-8): the gradient of the
  unrolled objective ``L_val(w', alpha)``, ``w' = w - xi · (mu · m + ∇_w L_train(w, alpha) + lambda · w)``
  (one step of the weight optimiser: learning rate ``xi``, momentum ``mu`` with buffer ``m``,
  weight decay ``lambda``; Nesterov is ignored as in DARTS):
  ``∇_alpha L_val(w', alpha) - xi · ∇²_{alpha,w} L_train(w, alpha) · ∇_{w'} L_val(w', alpha)``,
  the Hessian-vector product by central finite differences,
  ``(∇_alpha L_train(w+, alpha) - ∇_alpha L_train(w-, alpha)) / (2 eps')``,
  ``w± = w ± eps' · v``, ``v = ∇_{w'} L_val``, ``eps' = hvp_eps / ||v||`` (DARTS: 0.01).
- **β-DARTS** (Ye et al., CVPR 2022): DARTS-V1 whose architecture loss adds the
  beta-decay regulariser, ``L_val(w, alpha) + lambda_e · L_beta(alpha)`` with
  ``L_beta`` the mean over edges of ``logsumexp(alpha_e)``
  (:func:`~proxydata.nas.beta_decay_loss`) and ``lambda_e = lambda_max · e / E``
  (:func:`~proxydata.nas.schedules.beta_decay_weight`, ``lambda_max`` 25).
- **GDAS** (Dong & Yang, CVPR 2019): both steps on Gumbel-softmax samples
  (:meth:`~proxydata.nas.SearchNetwork.gumbel_weights`), temperature annealed
  linearly from ``tau_max`` (first epoch) to ``tau_min`` (last epoch) as
  NAS-Bench-201's GDAS: ``tau_e = tau_max - (tau_max - tau_min) · e / (E - 1)``.
- **PC-DARTS** (Xu et al., ICLR 2020): DARTS-V1 on :class:`~proxydata.nas.PCDartsNetwork`
  (partial channel connections, edge normalisation), the architecture step
  updating ``alpha`` and the edge parameters ``beta`` together (:mod:`.pcdarts`).
- **ENAS** (Pham et al., ICML 2018, as NAS-Bench-201's ENAS): on
  :class:`~proxydata.nas.EnasNetwork`, the architecture step is one sample of
  the LSTM controller scored on the validation batch and a REINFORCE update
  (:class:`~proxydata.nas.enas.EnasArchStep`), the weight step trains the
  shared weights on a fresh sample (:mod:`.enas`).

Optimisers (NAS-Bench-201 configs): weights SGD (lr 0.025 → 0.001 by a cosine
over the epochs, momentum 0.9, weight decay 5e-4, Nesterov, gradient norm
clipped at 5); architecture Adam (lr 3e-4, betas (0.5, 0.999), weight decay 1e-3).
The learning rate of epoch ``e`` is ``lr_min + (lr - lr_min)(1 + cos(pi e / E)) / 2``.
NAS-Bench-201's code runs the weight step first for DARTS-V1 and GDAS; this loop
runs the architecture step first for all three algorithms (as DARTS), which is
what the pruner's contract describes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call
from tqdm.auto import tqdm

from .._validation import check_bool, check_choice, check_device, check_float, check_int, check_seed, show
from ..exceptions import ProxydataTypeError, ProxydataValueError
from .enas import EnasArchStep, EnasNetwork
from .optim import AdamSettings, SGDSettings
from .regularizers import beta_decay_loss, dominant_hessian_eigenvalue
from .schedules import beta_decay_weight, gdas_tau
from .search_space import ALGO_MODES, SearchNetwork

__all__ = ["ALGORITHMS", "SearchResult", "gdas_tau", "search", "unrolled_arch_grad"]

#: The search algorithms of :func:`search` (the one list: the CLI, the experiment
#: runner and the benchmarks import it).
ALGORITHMS: tuple[str, ...] = ("darts-v1", "darts-v2", "beta-darts", "gdas", "pc-darts", "enas")


@dataclass
class SearchResult:
    """What :func:`search` returns; every list has one entry per completed epoch.

    Attributes
    ----------
    algo : str
        One of :data:`ALGORITHMS`.
    genotype : str
        The cell derived after the last epoch (NAS-Bench-201 string).
    genotypes : list of str
        The cell derived after every epoch.
    alphas : np.ndarray, shape (6, 5)
        Final architecture parameters (logits; rows edges, columns ``NB201_OPS``).
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


def _grads_or_zeros(
    grads: Sequence[torch.Tensor | None], params: Sequence[torch.Tensor]
) -> list[torch.Tensor]:
    return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]


def unrolled_arch_grad(
    network: SearchNetwork,
    x: torch.Tensor,
    y: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    momentum_buffers: Sequence[torch.Tensor | None] | None = None,
    hvp_eps: float = 0.01,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """DARTS-V2's architecture gradient (second order, finite-difference Hessian-vector product).

    Returns ``(d alpha, L_val(w', alpha), logits of the validation batch under w')``
    where ``w' = w - lr · (momentum · m + ∇_w L_train(w, alpha) + weight_decay · w)``
    and ``d alpha = ∇_alpha L_val(w', alpha) - lr · (∇_alpha L_train(w+) - ∇_alpha L_train(w-)) / (2 eps')``
    with ``w± = w ± eps' · ∇_{w'} L_val(w', alpha)``, ``eps' = hvp_eps / ||∇_{w'} L_val||``
    (Liu et al., 2019, Eq. 7-8). The network's weights are restored exactly afterwards.

    Parameters
    ----------
    network : SearchNetwork (DARTS mode)
    x, y : training batch; x_val, y_val : validation batch
    lr, momentum, weight_decay : the weight optimiser's current settings
    momentum_buffers : per weight (``network.weight_parameters()`` order), optional
    hvp_eps : float
        Numerator of the finite-difference step (DARTS: 0.01).
    """
    names_params = network.named_weight_parameters()
    names = [n for n, _ in names_params]
    weights = [p for _, p in names_params]
    alpha = network.arch_parameters
    loss = F.cross_entropy(network(x), y)
    grads = _grads_or_zeros(torch.autograd.grad(loss, weights, allow_unused=True), weights)
    with torch.no_grad():
        unrolled = []
        for k, (p, g) in enumerate(zip(weights, grads)):
            step = g + weight_decay * p
            buf = None if momentum_buffers is None else momentum_buffers[k]
            if buf is not None and momentum:
                step = step + momentum * buf
            unrolled.append((p - lr * step).requires_grad_(True))
    logits_val = functional_call(network, dict(zip(names, unrolled)), (x_val,))
    loss_val = F.cross_entropy(logits_val, y_val)
    out = torch.autograd.grad(loss_val, [alpha, *unrolled], allow_unused=True)
    dalpha = torch.zeros_like(alpha) if out[0] is None else out[0]
    vector = _grads_or_zeros(out[1:], unrolled)
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(v) for v in vector]))
    if float(norm) > 0.0:
        r = hvp_eps / norm
        saved = [p.detach().clone() for p in weights]
        with torch.no_grad():
            for p, v in zip(weights, vector):
                p.add_(v * r)
        grad_plus = torch.autograd.grad(F.cross_entropy(network(x), y), alpha)[0]
        with torch.no_grad():
            for p, v in zip(weights, vector):
                p.sub_(v * (2 * r))
        grad_minus = torch.autograd.grad(F.cross_entropy(network(x), y), alpha)[0]
        with torch.no_grad():
            for p, s in zip(weights, saved):
                p.copy_(s)
        dalpha = dalpha - lr * (grad_plus - grad_minus) / (2 * r)
    return dalpha, loss_val.detach(), logits_val.detach()


def _check_pruner(pruner: Any, epochs: int) -> None:
    if pruner is None:
        return
    for name in ("observe", "step"):
        if not callable(getattr(pruner, name, None)):
            raise ProxydataTypeError(
                f"pruner must have observe() and step() (a BiLevelPruner), got {type(pruner).__name__}"
            )
    total, done = getattr(pruner, "epochs", None), getattr(pruner, "epoch", 0)
    if isinstance(total, int) and isinstance(done, int) and epochs > total - done:
        raise ProxydataValueError(
            f"epochs={epochs} but the pruner has {total - done} epoch(s) left (built with "
            f"epochs={total}, {done} done): it would be used up before the search ends; "
            f"pass epochs={total - done} or build the pruner with epochs={done + epochs}"
        )


def _check_hessian_batch(batch: Any, algo: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    if batch is None:
        return None
    if (
        not isinstance(batch, (tuple, list))
        or len(batch) != 2
        or not all(isinstance(t, torch.Tensor) for t in batch)
    ):
        raise ProxydataTypeError(
            f"hessian_batch must be an (x, y) pair of tensors, got {type(batch).__name__}"
        )
    if batch[0].shape[0] != batch[1].shape[0] or batch[0].shape[0] == 0:
        raise ProxydataValueError(
            f"hessian_batch must hold the same number (> 0) of images and labels, "
            f"got {batch[0].shape[0]} and {batch[1].shape[0]}"
        )
    if ALGO_MODES[algo] != "darts":
        raise ProxydataValueError(
            f"hessian_batch needs a DARTS algorithm (the GDAS loss is sampled), got algo={algo!r}"
        )
    return batch[0], batch[1]


def _check_network(network: Any, algo: str) -> SearchNetwork:
    if not isinstance(network, SearchNetwork):
        raise ProxydataTypeError(
            f"network must be a proxydata.nas.SearchNetwork, got {type(network).__name__}"
        )
    if ALGO_MODES[algo] != network.algo:
        raise ProxydataValueError(
            f"algo={algo!r} needs a SearchNetwork built with algo={ALGO_MODES[algo]!r}, "
            f"got a network with algo={network.algo!r}"
        )
    return network


def _check_callbacks(callbacks: Any) -> tuple[Callable[..., Any], ...]:
    if callable(callbacks) or not isinstance(callbacks, Iterable):
        raise ProxydataTypeError(f"callbacks must be a sequence of callables, got {show(callbacks)}")
    callbacks = tuple(callbacks)
    for cb in callbacks:
        if not callable(cb):
            raise ProxydataTypeError(f"callbacks must be callables, got {show(cb)}")
    return callbacks


def _hessian_eigenvalue(
    network: SearchNetwork,
    batch: tuple[torch.Tensor, torch.Tensor],
    device: torch.device,
    iterations: int,
    seed: int,
    init: torch.Tensor | None,
) -> tuple[float, torch.Tensor]:
    """Dominant eigenvalue of ``∇²_alpha CE(network(x), y)`` on the fixed batch (weights frozen).

    The network is left exactly as it was: its buffers (batch-norm running
    statistics, updated by the probe's forward passes in training mode) are restored.
    """
    x, y = batch[0].to(device), batch[1].to(device)
    weights = network.weight_parameters()
    flags = [p.requires_grad for p in weights]
    buffers = [(b, b.detach().clone()) for b in network.buffers()]
    for p in weights:
        p.requires_grad_(False)  # only alpha's second derivatives are needed
    try:
        return dominant_hessian_eigenvalue(
            lambda: F.cross_entropy(network(x), y),
            network.arch_parameters,
            iterations=iterations,
            seed=seed,
            init=init,
        )
    finally:
        for p, flag in zip(weights, flags):
            p.requires_grad_(flag)
        with torch.no_grad():
            for buf, saved in buffers:
                buf.copy_(saved)


@dataclass(frozen=True)
class _SearchOptions:
    """The checked keyword arguments of :func:`search`, one record for the loop."""

    algo: str
    epochs: int
    device: torch.device
    seed: int
    weights: SGDSettings
    arch: AdamSettings
    tau_max: float
    tau_min: float
    hvp_eps: float
    beta_lambda_max: float
    hessian_batch: tuple[torch.Tensor, torch.Tensor] | None
    hessian_iterations: int
    callbacks: tuple[Callable[..., Any], ...]
    progress: bool

    @classmethod
    def from_arguments(cls, args: dict[str, Any]) -> _SearchOptions:
        """Check :func:`search`'s arguments (``network`` and ``pruner`` included, not kept)."""
        algo = check_choice(args["algo"], "algo", ALGORITHMS)
        _check_network(args["network"], algo)
        epochs = check_int(args["epochs"], "epochs", minimum=1)
        _check_pruner(args["pruner"], epochs)
        tau_max = check_float(args["tau_max"], "tau_max", strictly_positive=True)
        tau_min = check_float(args["tau_min"], "tau_min", strictly_positive=True)
        if tau_min > tau_max:
            raise ProxydataValueError(f"tau_min must be <= tau_max={tau_max}, got {tau_min}")
        return cls(
            algo=algo,
            epochs=epochs,
            device=check_device(args["device"]),
            seed=check_seed(args["seed"]),
            weights=SGDSettings.checked(
                **{k: args[f"w_{k}"] for k in ("lr", "lr_min", "momentum", "weight_decay", "nesterov")},
                grad_clip=args["grad_clip"],
                prefix="w_",
            ),
            arch=AdamSettings.checked(
                lr=args["a_lr"], betas=args["a_betas"], weight_decay=args["a_weight_decay"], prefix="a_"
            ),
            tau_max=tau_max,
            tau_min=tau_min,
            hvp_eps=check_float(args["hvp_eps"], "hvp_eps", strictly_positive=True),
            beta_lambda_max=check_float(args["beta_lambda_max"], "beta_lambda_max", minimum=0.0),
            hessian_batch=_check_hessian_batch(args["hessian_batch"], algo),
            hessian_iterations=check_int(args["hessian_iterations"], "hessian_iterations", minimum=1),
            callbacks=_check_callbacks(args["callbacks"]),
            progress=check_bool(args["progress"], "progress"),
        )


def search(
    network: SearchNetwork,
    train_loader: Iterable[Any],
    val_loader: Iterable[Any],
    *,
    algo: str = "darts-v1",
    epochs: int,
    pruner: Any = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
    w_lr: float = 0.025,
    w_lr_min: float = 0.001,
    w_momentum: float = 0.9,
    w_weight_decay: float = 5e-4,
    w_nesterov: bool = True,
    a_lr: float = 3e-4,
    a_betas: tuple[float, float] = (0.5, 0.999),
    a_weight_decay: float = 1e-3,
    grad_clip: float | None = 5.0,
    tau_max: float = 10.0,
    tau_min: float = 0.1,
    hvp_eps: float = 0.01,
    beta_lambda_max: float = 25.0,
    hessian_batch: tuple[torch.Tensor, torch.Tensor] | None = None,
    hessian_iterations: int = 20,
    callbacks: Sequence[Callable[[int, SearchResult, SearchNetwork], Any]] = (),
    progress: bool = True,
) -> SearchResult:
    """Search a NAS-Bench-201 cell with DARTS-V1, DARTS-V2, β-DARTS or GDAS (see the module notes).

    Per training batch ``(x, y[, i])``, paired with the next batch ``(xv, yv[, iv])``
    of ``val_loader`` (cycled: a fresh iterator when it runs out, and one per epoch):

    1. architecture step on ``(xv, yv)`` — ``pruner.observe(iv, logits_v)``;
    2. weight step on ``(x, y)`` — ``pruner.observe(i, logits)``.

    At the end of an epoch: ``pruner.step()``, the derived genotype is recorded,
    then every callback is called.

    Parameters
    ----------
    network : SearchNetwork
        The supernet, built with ``algo="darts"`` for DARTS-V1/V2 and ``"gdas"`` for GDAS.
        It is moved to ``device`` and trained in place.
    train_loader, val_loader : iterables of batches
        Usually :class:`torch.utils.data.DataLoader` s; a static proxy goes in as
        the training loader's ``sampler``, the pruner's ``train_sampler`` /
        ``val_sampler`` as the two loaders' samplers. Batches are ``(x, y)`` or
        ``(x, y, index)`` (:class:`~proxydata.IndexedDataset`); the index is
        required when a pruner is given. A sampler with ``set_epoch`` (a proxy,
        a ``DistributedSampler``) is given the epoch number before each epoch,
        except the pruner's own samplers, which the pruner manages.
    algo : {"darts-v1", "darts-v2", "beta-darts", "gdas"}
    epochs : int >= 1
    pruner : BiLevelPruner, optional
        Anything with ``observe(indices, logits)`` and ``step()``. A pruner with
        ``epochs`` / ``epoch`` must have at least ``epochs`` epochs left
        (checked before the first batch).
    device : str or torch.device
    seed : int
        Seeds the Gumbel noise (a ``torch.Generator`` on ``device``) and, inside
        the call only, the global torch RNG (used e.g. by a ``DataLoader`` with
        ``shuffle=True``); the caller's RNG state is restored afterwards.
    w_lr, w_lr_min, w_momentum, w_weight_decay, w_nesterov : weight optimiser (SGD, cosine schedule)
    a_lr, a_betas, a_weight_decay : architecture optimiser (Adam)
    grad_clip : float or None
        Max gradient norm of the weight step (None or 0 disables).
    tau_max, tau_min : float
        GDAS temperature range (linear annealing over the epochs).
    hvp_eps : float
        DARTS-V2 finite-difference step numerator.
    beta_lambda_max : float >= 0
        β-DARTS: the regulariser weight reached at the end of the search.
    hessian_batch : (x, y) tensors, optional
        A fixed validation batch: after every epoch the dominant eigenvalue of
        the Hessian of its cross-entropy with respect to ``alpha`` is recorded
        (:func:`~proxydata.nas.dominant_hessian_eigenvalue`, warm-started from
        the previous epoch's eigenvector). DARTS modes only.
    hessian_iterations : int >= 1
        Power-iteration budget of each eigenvalue.
    callbacks : sequence of callables ``f(epoch, result, network)``
        Called at the end of every epoch (``epoch`` counts from 0, ``result``
        holds the epochs so far); a callback returning ``True`` stops the search.
    progress : bool
        A tqdm bar per epoch.

    Returns
    -------
    SearchResult
    """
    # every keyword argument goes into one checked record (read before any other local exists)
    options = _SearchOptions.from_arguments(dict(locals()))
    fork_devices = [options.device] if options.device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(options.seed)
        return _SearchLoop(network, train_loader, val_loader, pruner, options).run()


class _SearchLoop:
    """One call of :func:`search`: the optimisers, the epoch loop and its record."""

    def __init__(
        self,
        network: SearchNetwork,
        train_loader: Iterable[Any],
        val_loader: Iterable[Any],
        pruner: Any,
        options: _SearchOptions,
    ) -> None:
        self.network = network.to(options.device)
        network.train()
        self.train_loader, self.val_loader = train_loader, val_loader
        self.pruner = pruner
        self.options = options
        self.weights = network.weight_parameters()
        self.alpha = network.arch_parameters
        self.arch = network.arch_parameter_list()  # alpha (PC-DARTS: and beta; ENAS: the controller)
        self.w_opt = options.weights.optimizer(self.weights)
        self.a_opt = options.arch.optimizer(self.arch)
        self.generator = torch.Generator(device=options.device)
        self.generator.manual_seed(options.seed)
        # ENAS trains its controller by REINFORCE with its own optimiser (not a_opt)
        self.enas = EnasArchStep(network, self.generator) if isinstance(network, EnasNetwork) else None
        self.result = SearchResult(algo=options.algo)
        self.eigvec: torch.Tensor | None = None  # warm start of the next Hessian eigenvalue

    def run(self) -> SearchResult:
        """Every epoch: the batches, ``pruner.step()``, the record, the callbacks."""
        start = time.perf_counter()
        for epoch in range(self.options.epochs):
            t0 = time.perf_counter()
            lr, beta_weight = self._start_epoch(epoch)
            sums, n_train, n_val = self._batches(epoch, lr, beta_weight)
            if self.pruner is not None:
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

    def _start_epoch(self, epoch: int) -> tuple[float, float]:
        """Set this epoch's schedules and samplers; return ``(weight lr, beta-decay weight)``."""
        opts, result = self.options, self.result
        lr = opts.weights.start_epoch(self.w_opt, epoch, opts.epochs)
        beta_weight = beta_decay_weight(epoch, opts.epochs, opts.beta_lambda_max)
        if opts.algo == "beta-darts":
            result.beta_weights.append(beta_weight)
        if opts.algo == "gdas":
            self.network.tau = gdas_tau(epoch, opts.epochs, opts.tau_max, opts.tau_min)
            result.taus.append(self.network.tau)
        _set_epoch(self.train_loader, epoch, self.pruner)
        _set_epoch(self.val_loader, epoch, self.pruner)
        result.train_set_sizes.append(_sampler_size(self.train_loader))
        result.val_set_sizes.append(_sampler_size(self.val_loader))
        return lr, beta_weight

    def _batches(self, epoch: int, lr: float, beta_weight: float) -> tuple[torch.Tensor, int, int]:
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
            logits_v, loss_v = self._arch_step(x, y, xv, yv, lr, beta_weight)
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

    def _arch_step(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        xv: torch.Tensor,
        yv: torch.Tensor,
        lr: float,
        beta_weight: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Update alpha on the validation batch; return its (detached) logits and loss."""
        opts, network, alpha = self.options, self.network, self.alpha
        if self.enas is not None:
            return self.enas.step(xv, yv)
        if opts.algo == "darts-v2":
            buffers = [self.w_opt.state[p].get("momentum_buffer") for p in self.weights]
            dalpha, loss_v, logits_v = unrolled_arch_grad(
                network, x, y, xv, yv, lr=lr, momentum=opts.weights.momentum,
                weight_decay=opts.weights.weight_decay, momentum_buffers=buffers, hvp_eps=opts.hvp_eps,
            )  # fmt: skip
            grads = [dalpha]
        else:
            logits_v = network(xv, self.generator)
            loss_v = F.cross_entropy(logits_v, yv)
            objective = loss_v
            if opts.algo == "beta-darts":
                objective = loss_v + beta_weight * beta_decay_loss(alpha)
            grads = torch.autograd.grad(objective, self.arch)  # no weight gradients needed
            logits_v, loss_v = logits_v.detach(), loss_v.detach()
        for p, g in zip(self.arch, grads):
            p.grad = g
        self.a_opt.step()
        return logits_v, loss_v

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
        result, opts = self.result, self.options
        totals = sums.tolist()
        result.train_loss.append(totals[0] / n_train)
        result.train_acc.append(totals[1] / n_train)
        result.val_loss.append(totals[2] / n_val)
        result.val_acc.append(totals[3] / n_val)
        result.train_sizes.append(n_train)
        result.val_sizes.append(n_val)
        result.genotypes.append(str(self.network.genotype()))
        result.genotype = result.genotypes[-1]
        result.alphas = self.alpha.detach().cpu().double().numpy().copy()
        if opts.hessian_batch is not None:
            start = time.process_time()
            eigenvalue, self.eigvec = _hessian_eigenvalue(
                self.network, opts.hessian_batch, opts.device, opts.hessian_iterations, opts.seed, self.eigvec
            )
            result.hessian_eigenvalues.append(eigenvalue)
            result.hessian_seconds.append(time.process_time() - start)

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
