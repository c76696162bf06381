"""The reference search loop: DARTS-V1, DARTS-V2 and GDAS on the NAS-Bench-201 supernet.

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

from .._validation import check_bool, check_choice, check_device, check_float, check_int, check_seed
from .regularizers import beta_decay_loss, dominant_hessian_eigenvalue
from .schedules import beta_decay_weight, cosine_lr, gdas_tau
from .search_space import ALGO_MODES, SearchNetwork

__all__ = ["ALGORITHMS", "SearchResult", "gdas_tau", "search", "unrolled_arch_grad"]

#: The search algorithms of :func:`search` (the one list: the CLI, the experiment
#: runner and the benchmarks import it).
ALGORITHMS: tuple[str, ...] = ("darts-v1", "darts-v2", "beta-darts", "gdas")


@dataclass
class SearchResult:
    """What :func:`search` returns; every list has one entry per completed epoch.

    Attributes
    ----------
    algo : str
        ``"darts-v1"``, ``"darts-v2"`` or ``"gdas"``.
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
        raise ValueError(
            f"{which} batches must be (x, y) or (x, y, index) tuples, got {type(batch).__name__}"
        )
    if len(batch) == 2:
        if need_index:
            raise ValueError(
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
            raise ValueError("val_loader yielded no batches")


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


def _check_pruner(pruner: Any) -> None:
    if pruner is None:
        return
    for name in ("observe", "step"):
        if not callable(getattr(pruner, name, None)):
            raise TypeError(
                f"pruner must have observe() and step() (a BiLevelPruner), got {type(pruner).__name__}"
            )


def _check_hessian_batch(batch: Any, algo: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    if batch is None:
        return None
    if (
        not isinstance(batch, (tuple, list))
        or len(batch) != 2
        or not all(isinstance(t, torch.Tensor) for t in batch)
    ):
        raise TypeError(f"hessian_batch must be an (x, y) pair of tensors, got {type(batch).__name__}")
    if batch[0].shape[0] != batch[1].shape[0] or batch[0].shape[0] == 0:
        raise ValueError(
            f"hessian_batch must hold the same number (> 0) of images and labels, "
            f"got {batch[0].shape[0]} and {batch[1].shape[0]}"
        )
    if ALGO_MODES[algo] != "darts":
        raise ValueError(
            f"hessian_batch needs a DARTS algorithm (the GDAS loss is sampled), got algo={algo!r}"
        )
    return batch[0], batch[1]


def _hessian_eigenvalue(
    network: SearchNetwork,
    batch: tuple[torch.Tensor, torch.Tensor],
    device: torch.device,
    iterations: int,
    seed: int,
    init: torch.Tensor | None,
) -> tuple[float, torch.Tensor]:
    """Dominant eigenvalue of ``∇²_alpha CE(network(x), y)`` on the fixed batch (weights frozen)."""
    x, y = batch[0].to(device), batch[1].to(device)
    weights = network.weight_parameters()
    flags = [p.requires_grad for p in weights]
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
        Anything with ``observe(indices, logits)`` and ``step()``.
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
    if not isinstance(network, SearchNetwork):
        raise TypeError(f"network must be a proxydata.nas.SearchNetwork, got {type(network).__name__}")
    algo = check_choice(algo, "algo", ALGORITHMS)
    if ALGO_MODES[algo] != network.algo:
        raise ValueError(
            f"algo={algo!r} needs a SearchNetwork built with algo={ALGO_MODES[algo]!r}, "
            f"got a network with algo={network.algo!r}"
        )
    epochs = check_int(epochs, "epochs", minimum=1)
    _check_pruner(pruner)
    dev = check_device(device)
    seed = check_seed(seed)
    w_lr = check_float(w_lr, "w_lr", strictly_positive=True)
    w_lr_min = check_float(w_lr_min, "w_lr_min", minimum=0.0)
    w_momentum = check_float(w_momentum, "w_momentum", minimum=0.0)
    w_weight_decay = check_float(w_weight_decay, "w_weight_decay", minimum=0.0)
    w_nesterov = check_bool(w_nesterov, "w_nesterov") and w_momentum > 0
    a_lr = check_float(a_lr, "a_lr", strictly_positive=True)
    if not isinstance(a_betas, (tuple, list)) or len(a_betas) != 2:
        raise TypeError(f"a_betas must be a pair of floats, got {a_betas!r}")
    betas = tuple(check_float(b, "a_betas", minimum=0.0) for b in a_betas)
    if any(b >= 1.0 for b in betas):
        raise ValueError(f"a_betas must lie in [0, 1), got {a_betas!r}")
    a_weight_decay = check_float(a_weight_decay, "a_weight_decay", minimum=0.0)
    clip = 0.0 if grad_clip is None else check_float(grad_clip, "grad_clip", minimum=0.0)
    tau_max = check_float(tau_max, "tau_max", strictly_positive=True)
    tau_min = check_float(tau_min, "tau_min", strictly_positive=True)
    if tau_min > tau_max:
        raise ValueError(f"tau_min must be <= tau_max={tau_max}, got {tau_min}")
    hvp_eps = check_float(hvp_eps, "hvp_eps", strictly_positive=True)
    beta_lambda_max = check_float(beta_lambda_max, "beta_lambda_max", minimum=0.0)
    hessian_iterations = check_int(hessian_iterations, "hessian_iterations", minimum=1)
    hessian_batch = _check_hessian_batch(hessian_batch, algo)
    callbacks = tuple(callbacks)
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"callbacks must be callables, got {cb!r}")
    progress = check_bool(progress, "progress")

    fork_devices = [dev] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        return _run(
            network, train_loader, val_loader, algo=algo, epochs=epochs, pruner=pruner, device=dev,
            seed=seed, w_lr=w_lr, w_lr_min=w_lr_min, w_momentum=w_momentum,
            w_weight_decay=w_weight_decay, w_nesterov=w_nesterov, a_lr=a_lr, a_betas=betas,
            a_weight_decay=a_weight_decay, clip=clip, tau_max=tau_max, tau_min=tau_min,
            hvp_eps=hvp_eps, beta_lambda_max=beta_lambda_max, hessian_batch=hessian_batch,
            hessian_iterations=hessian_iterations, callbacks=callbacks, progress=progress,
        )  # fmt: skip


def _run(
    network: SearchNetwork,
    train_loader: Iterable[Any],
    val_loader: Iterable[Any],
    *,
    algo: str,
    epochs: int,
    pruner: Any,
    device: torch.device,
    seed: int,
    w_lr: float,
    w_lr_min: float,
    w_momentum: float,
    w_weight_decay: float,
    w_nesterov: bool,
    a_lr: float,
    a_betas: tuple[float, ...],
    a_weight_decay: float,
    clip: float,
    tau_max: float,
    tau_min: float,
    hvp_eps: float,
    beta_lambda_max: float,
    hessian_batch: tuple[torch.Tensor, torch.Tensor] | None,
    hessian_iterations: int,
    callbacks: tuple[Callable[..., Any], ...],
    progress: bool,
) -> SearchResult:
    from tqdm.auto import tqdm

    network.to(device)
    network.train()
    weights = network.weight_parameters()
    alpha = network.arch_parameters
    w_opt = torch.optim.SGD(
        weights, lr=w_lr, momentum=w_momentum, weight_decay=w_weight_decay, nesterov=w_nesterov
    )
    a_opt = torch.optim.Adam([alpha], lr=a_lr, betas=a_betas, weight_decay=a_weight_decay)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    result = SearchResult(algo=algo)
    need_index = pruner is not None
    eigvec: torch.Tensor | None = None
    start = time.perf_counter()

    for epoch in range(epochs):
        t0 = time.perf_counter()
        lr = cosine_lr(epoch, epochs, w_lr, w_lr_min)
        beta_weight = beta_decay_weight(epoch, epochs, beta_lambda_max)
        if algo == "beta-darts":
            result.beta_weights.append(beta_weight)
        for group in w_opt.param_groups:
            group["lr"] = lr
        if algo == "gdas":
            network.tau = gdas_tau(epoch, epochs, tau_max, tau_min)
            result.taus.append(network.tau)
        _set_epoch(train_loader, epoch, pruner)
        _set_epoch(val_loader, epoch, pruner)
        result.train_set_sizes.append(_sampler_size(train_loader))
        result.val_set_sizes.append(_sampler_size(val_loader))
        val_batches = _cycle(val_loader)
        # train loss, train hits, val loss, val hits: summed on the device (no sync per step)
        sums = torch.zeros(4, dtype=torch.float64, device=device)
        n_train = n_val = 0
        bar = tqdm(
            train_loader,
            desc=f"{algo} epoch {epoch + 1}/{epochs}",
            disable=not progress,
            leave=False,
            unit="batch",
        )
        for batch in bar:
            x, y, idx = _unpack(batch, need_index, "train_loader")
            xv, yv, idx_v = _unpack(next(val_batches), need_index, "val_loader")
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            xv, yv = xv.to(device, non_blocking=True), yv.to(device, non_blocking=True)

            # 1. architecture step on the validation batch
            if algo == "darts-v2":
                buffers = [w_opt.state[p].get("momentum_buffer") for p in weights]
                dalpha, loss_v, logits_v = unrolled_arch_grad(
                    network, x, y, xv, yv, lr=lr, momentum=w_momentum, weight_decay=w_weight_decay,
                    momentum_buffers=buffers, hvp_eps=hvp_eps,
                )  # fmt: skip
            else:
                logits_v = network(xv, generator)
                loss_v = F.cross_entropy(logits_v, yv)
                objective = loss_v
                if algo == "beta-darts":
                    objective = loss_v + beta_weight * beta_decay_loss(alpha)
                (dalpha,) = torch.autograd.grad(objective, alpha)  # no weight gradients needed
                logits_v, loss_v = logits_v.detach(), loss_v.detach()
            alpha.grad = dalpha
            a_opt.step()
            if pruner is not None:
                pruner.observe(idx_v, logits_v)

            # 2. weight step on the training batch (alpha frozen: no alpha gradients)
            alpha.requires_grad_(False)
            try:
                logits = network(x, generator)
                loss = F.cross_entropy(logits, y)
                grads = torch.autograd.grad(loss, weights, allow_unused=True)
            finally:
                alpha.requires_grad_(True)
            for p, g in zip(weights, grads):
                p.grad = g  # None for weights the sampled GDAS cell did not use: SGD skips them
            if clip > 0:
                torch.nn.utils.clip_grad_norm_([p for p in weights if p.grad is not None], clip)
            w_opt.step()
            logits = logits.detach()
            if pruner is not None:
                pruner.observe(idx, logits)

            b, bv = int(y.shape[0]), int(yv.shape[0])
            n_train += b
            n_val += bv
            sums += torch.stack(
                [
                    loss.detach().double() * b,
                    (logits.argmax(1) == y).sum().double(),
                    loss_v.double() * bv,
                    (logits_v.argmax(1) == yv).sum().double(),
                ]
            )
        bar.close()
        val_batches.close()  # releases the validation loader's iterator (and its workers)
        if n_train == 0:
            raise ValueError(f"train_loader yielded no batches in epoch {epoch}")
        if pruner is not None:
            pruner.step()
        totals = sums.tolist()
        result.train_loss.append(totals[0] / n_train)
        result.train_acc.append(totals[1] / n_train)
        result.val_loss.append(totals[2] / n_val)
        result.val_acc.append(totals[3] / n_val)
        result.train_sizes.append(n_train)
        result.val_sizes.append(n_val)
        result.genotypes.append(str(network.genotype()))
        result.genotype = result.genotypes[-1]
        result.alphas = alpha.detach().cpu().double().numpy().copy()
        if hessian_batch is not None:
            eigenvalue, eigvec = _hessian_eigenvalue(
                network, hessian_batch, device, hessian_iterations, seed, eigvec
            )
            result.hessian_eigenvalues.append(eigenvalue)
        result.epoch_seconds.append(time.perf_counter() - t0)
        result.search_seconds = time.perf_counter() - start
        if progress:
            bar.write(
                f"{algo} epoch {epoch + 1}/{epochs}: train loss {result.train_loss[-1]:.3f} "
                f"acc {result.train_acc[-1]:.3f}, val loss {result.val_loss[-1]:.3f} "
                f"acc {result.val_acc[-1]:.3f}, {n_train} train samples, "
                f"{result.epoch_seconds[-1]:.1f} s, {result.genotype}"
            )
        stop = False
        for cb in callbacks:
            stop = bool(cb(epoch, result, network)) or stop
        if stop:
            break
    return result
