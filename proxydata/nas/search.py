"""The reference search loop: DARTS-V1/V2, β-DARTS, GDAS, PC-DARTS and ENAS on the NAS-Bench-201 supernet.

Written the way a user's loop is written: for every training batch, an
architecture step on the paired validation batch, then a weight step on the
training batch; ``pruner.observe`` after each forward pass and ``pruner.step()``
at the end of each epoch (see :class:`~proxydata.BiLevelPruner`).

The algorithms' architecture steps live in one module per family (:mod:`.darts`,
:mod:`.gdas`, :mod:`.pcdarts`, :mod:`.enas`), the loop in :mod:`.loop`, the
Hessian probe in :mod:`.hessian_probe` and the checked arguments in
:mod:`.search_options`; this module wires them and keeps the public names.

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

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from .darts import FirstOrderArchStep, PDartsArchStep, UnrolledArchStep, unrolled_arch_grad
from .enas import EnasArchStep
from .gdas import GdasArchStep
from .loop import ArchStep, SearchLoop, SearchResult
from .schedules import gdas_tau
from .search_options import ALGORITHMS, SearchOptions
from .supernet import Supernet

__all__ = ["ALGORITHMS", "SearchResult", "gdas_tau", "search", "unrolled_arch_grad"]


def search(
    network: Supernet,
    train_loader: Iterable[Any],
    val_loader: Iterable[Any],
    *,
    algo: str = "darts-v1",
    epochs: int,
    space: str | None = None,
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
    skip_dropout: float = 0.0,
    arch_warmup_epochs: int = 0,
    callbacks: Sequence[Callable[[int, SearchResult, Supernet], Any]] = (),
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
    network : Supernet
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
    algo : str
        NAS-Bench-201: one of :data:`~proxydata.nas.ALGORITHMS`; DARTS space: one of
        :data:`~proxydata.nas.search_options.DARTS_SPACE_ALGORITHMS` (``"p-darts"`` is one
        P-DARTS stage: DARTS-V1 with ``skip_dropout``; :func:`~proxydata.nas.pdarts.pdarts_search`
        runs the three stages).
    epochs : int >= 1
    space : {"nb201", "darts"}, optional
        When given, the network must be of this space (a check; the space is the network's).
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
    skip_dropout : float in [0, 1)
        P-DARTS only: the dropout rate after ``skip_connect`` of this stage, decayed as P-DARTS:
        ``rate · (E - e - 1) / E`` in warm-up epochs, ``rate · exp(-0.2 (e - warm-up))`` after.
    arch_warmup_epochs : int >= 0
        Epochs at the start with no architecture step (the validation batch is still
        forwarded, without gradients, for the pruner and the record): PC-DARTS 15 of 50,
        P-DARTS 10 of 25; DARTS 0.
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
    options = SearchOptions.from_arguments(dict(locals()))
    fork_devices = [options.device] if options.device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(options.seed)
        network = network.to(options.device)
        network.train()
        w_opt = options.weights.optimizer(network.weight_parameters())
        a_opt = options.arch.optimizer(network.arch_parameter_list())
        generator = torch.Generator(device=options.device)
        generator.manual_seed(options.seed)
        loop = SearchLoop(
            network,
            train_loader,
            val_loader,
            pruner,
            options,
            arch_step=_arch_step(options, network, a_opt, w_opt, generator),
            weight_optimizer=w_opt,
            generator=generator,
        )
        return loop.run()


def _arch_step(
    options: SearchOptions,
    network: Supernet,
    arch_optimizer: torch.optim.Optimizer,
    weight_optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
) -> ArchStep:
    """The architecture step of ``options.algo`` (ENAS trains its controller with its own optimiser)."""
    algo = options.algo
    if algo == "enas":
        return EnasArchStep(network, generator)  # type: ignore[arg-type]
    if algo == "darts-v2":
        return UnrolledArchStep(network, arch_optimizer, weight_optimizer, options.weights, options.hvp_eps)
    if algo == "gdas":
        return GdasArchStep(
            network, arch_optimizer, generator, tau_max=options.tau_max, tau_min=options.tau_min
        )
    if algo == "p-darts":
        return PDartsArchStep(
            network,
            arch_optimizer,
            generator,
            rate=options.skip_dropout,
            warmup=options.arch_warmup_epochs,
            grad_clip=options.weights.grad_clip,
        )
    beta = options.beta_lambda_max if algo == "beta-darts" else None
    return FirstOrderArchStep(network, arch_optimizer, generator, beta_lambda_max=beta)
