"""Training-dynamics coreset baselines: forgetting events, GraNd and EL2N.

* **Forgetting events** (Toneva et al., "An Empirical Study of Example
  Forgetting during Deep Neural Network Learning", ICLR 2019): a sample is
  *forgotten* at presentation ``t`` when it was classified correctly at
  presentation ``t - 1`` and wrongly at ``t``; its score is the number of such
  events, infinite for a sample never classified correctly.
* **GraNd** (Paul et al., "Deep Learning on a Data Diet", NeurIPS 2021): the
  expected norm of the loss gradient at initialisation,
  ``χ(x, y) = E_θ0 ||∇_θ ℓ(f_θ0(x), y)||_2``, averaged over ``n_seeds``
  initialisations.
* **EL2N** (the same paper): the expected error norm after a few epochs,
  ``E ||softmax(f(x)) − onehot(y)||_2`` over ``n_seeds`` training runs.

All three keep the ``round(r·n)`` highest scores by default (``keep="hard"``:
the papers prune the low-scoring, "easy" samples), ties broken by a seeded
random order (:func:`~proxydata.samplers.classifier.keep_ranked`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_choice, show
from ..batches import batch_slices
from ..exceptions import ProxydataTypeError, ProxydataValueError
from ..metrics import el2n
from .base import shared_args
from .classifier import ClassifierProxy
from .saved import SavedObject, describe

__all__ = [
    "GRADIENT_CHOICES",
    "EL2NProxy",
    "ForgettingProxy",
    "GraNdProxy",
    "forgetting_counts",
    "grand_scores",
    "predictions_correct",
]

#: How :class:`GraNdProxy` computes the gradient norm.
GRADIENT_CHOICES = ("full", "last-layer")


def forgetting_counts(correct: np.ndarray) -> np.ndarray:
    """Forgetting events per sample from its correctness at successive presentations.

    ``correct[t, i]`` is whether sample ``i`` was classified correctly at its
    ``t``-th presentation. The count is ``Σ_t [correct[t-1, i] ∧ ¬correct[t, i]]``
    (Toneva et al., 2019, Sec. 3); a sample never classified correctly gets
    ``inf`` (their "never learned" samples, ranked above every forgettable one).

    Parameters
    ----------
    correct : array of bool, shape (T, n)

    Returns
    -------
    np.ndarray of float64, shape (n,)

    Examples
    --------
    >>> forgetting_counts(np.array([[1, 0, 0], [0, 0, 1], [1, 0, 0]], dtype=bool)).tolist()
    [1.0, inf, 1.0]
    """
    c = np.asarray(correct, dtype=bool)
    if c.ndim != 2 or c.shape[0] == 0:
        raise ProxydataValueError(f"correct must have shape (T, n) with T >= 1, got {c.shape}")
    events = (c[:-1] & ~c[1:]).sum(axis=0).astype(np.float64)
    events[~c.any(axis=0)] = np.inf
    return events


def _as_numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def predictions_correct(predictions: Any, labels: np.ndarray, name: str = "predictions") -> np.ndarray:
    """Correctness ``(T, n)`` of recorded predictions: labels ``(T, n)`` or logits ``(T, n, K)`` (argmax).

    ``labels`` has one label per column. NaN or inf logits are refused.
    """
    arr = _as_numpy(predictions)
    if arr.ndim not in (2, 3) or arr.shape[0] == 0 or arr.shape[1] != labels.shape[0]:
        raise ProxydataValueError(
            f"{name} must have shape (T, n) (predicted labels) or (T, n, K) (logits) with T >= 1 and "
            f"n = {labels.shape[0]}, got {arr.shape}"
        )
    if arr.ndim == 3:
        if arr.dtype.kind != "f" or not np.isfinite(arr).all():
            raise ProxydataValueError(f"{name} logits must be finite floats, got dtype {arr.dtype}")
        arr = arr.argmax(axis=2)
    elif arr.dtype.kind not in "iu":
        raise ProxydataTypeError(f"{name} of shape (T, n) must hold integer labels, got dtype {arr.dtype}")
    return arr == labels[None, :]


def _output_layer(net: nn.Module) -> nn.Linear:
    layers = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if not layers:
        raise ProxydataValueError(
            "gradient='last-layer' needs an nn.Linear output layer (the last nn.Linear of the model, in "
            "module order, must produce the logits); use gradient='full'"
        )
    return layers[-1]


def grand_scores(
    net: nn.Module, images: torch.Tensor, labels: torch.Tensor, gradient: str = "full"
) -> torch.Tensor:
    """Per-sample gradient norm ``||∇_θ ℓ(f_θ(x_i), y_i)||_2`` of one network (float64, CPU).

    ``ℓ`` is the cross-entropy; ``net`` runs in eval mode (BatchNorm uses its
    running statistics, so a sample's gradient does not depend on its batch).

    ``gradient="full"``: over every parameter that requires a gradient,
    per-sample gradients by :func:`torch.func.vmap` over :func:`torch.func.grad`.
    ``gradient="last-layer"``: over the output layer's weight and bias only, in
    closed form: with ``h`` the layer's input and ``p = softmax(z)``,
    ``∇_W ℓ = (p − e_y) hᵀ`` and ``∇_b ℓ = p − e_y``, so the norm is
    ``||p − e_y||_2 · sqrt(||h||² + 1)`` (``+ 1`` only with a bias).
    """
    check_choice(gradient, "gradient", GRADIENT_CHOICES)
    net.eval()
    if gradient == "last-layer":
        layer = _output_layer(net)
        captured: list[torch.Tensor] = []
        handle = layer.register_forward_hook(lambda _m, args, _out: captured.append(args[0].detach()))
        try:
            with torch.no_grad():
                logits = net(images)
        finally:
            handle.remove()
        h = captured[-1].double().flatten(1)
        err = F.softmax(logits.double(), dim=1) - F.one_hot(labels, logits.shape[1]).double()
        scale = (h * h).sum(dim=1) + (1.0 if layer.bias is not None else 0.0)
        return (torch.linalg.vector_norm(err, dim=1) * scale.sqrt()).cpu()
    from torch.func import functional_call, grad, vmap

    params = {k: v.detach() for k, v in net.named_parameters() if v.requires_grad}
    buffers = {k: v.detach() for k, v in net.named_buffers()}

    def loss(p: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = functional_call(net, (p, buffers), (x.unsqueeze(0),))
        return F.cross_entropy(out, y.unsqueeze(0))

    grads = vmap(grad(loss), in_dims=(None, 0, 0))(params, images, labels)
    total = torch.zeros(images.shape[0], dtype=torch.float64, device=images.device)
    for g in grads.values():
        total += g.flatten(1).double().pow(2).sum(dim=1)
    return total.sqrt().cpu()


class ForgettingProxy(ClassifierProxy):
    """Forgetting events (Toneva et al., 2019): keep the samples forgotten most often.

    The score of sample ``i`` is its number of forgetting events,
    ``Σ_t [acc_i(t-1) = 1 ∧ acc_i(t) = 0]`` over its successive presentations
    (:func:`forgetting_counts`), ``inf`` for a sample never classified
    correctly. Keeps the ``round(r·n)`` highest (``keep="hard"``, the paper's:
    unforgettable samples are the ones it removes) or lowest (``"easy"``), ties
    in a seeded random order.

    **Where the predictions come from.** ``predictions=None``: a short training
    run here — a classifier (``model``, re-initialised with ``seed``, or the
    default small CNN) is trained ``epochs`` epochs with SGD, and ``acc_i(t)``
    is whether the training batch's forward pass classified sample ``i``
    correctly in epoch ``t`` (as the paper records it, during training, not in a
    separate pass). Or the predictions a user recorded in their own training,
    one row per epoch: ``predictions`` of shape ``(T, len(dataset))`` holding
    predicted labels, or ``(T, len(dataset), K)`` holding logits (argmax taken);
    then nothing is trained (``epochs`` and the training parameters are unused)
    and ``selection_cost["samples"]`` is 0 — the passes were spent by the user's
    run. The paper counts over a full training run (200 epochs on CIFAR-10);
    ``epochs=20`` is our default for a short run.

    Parameters
    ----------
    dataset : map-style dataset of images
        Items ``(x, y, ...)``, ``x`` an image ``(C, H, W)``.
    ratio : float in (0, 1]
    keep : {"hard", "easy"}
    predictions : array of shape (T, n) or (T, n, K), optional
        Recorded predictions (see above), one column per dataset sample (with
        ``indices=``, the split's columns are used). Kept as given.
    model : nn.Module, optional
        A classifier ``(b, C, H, W) → (b, K)`` logits; a re-initialised deep
        copy is trained (:mod:`proxydata.samplers.classifier`). None: the small
        CNN of ``backbone="scratch"`` with a linear output layer.
    epochs : int >= 1
        Epochs of the training run.
    batch_size, lr, momentum, weight_decay : training settings (SGD)
    device : str or torch.device, optional
        Where to train; None is the CPU.
    seed, shuffle, num_replicas, rank, drop_last, progress, targets, indices
        See :class:`~proxydata.samplers.base.ProxySampler`.

    Attributes
    ----------
    scores : np.ndarray of float64
        Forgetting events per sample (``inf``: never learned).
    history : list of float or None
        Mean training loss per epoch of the run (None with ``predictions``).
    """

    method = "forgetting"

    def __init__(
        self,
        dataset: Any,
        ratio: float,
        *,
        keep: str = "hard",
        predictions: Any = None,
        model: nn.Module | None = None,
        epochs: int = 20,
        batch_size: int = 128,
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
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
        self.keep, self.predictions, self.model, self.epochs = keep, predictions, model, epochs
        self.batch_size, self.lr, self.momentum, self.weight_decay = batch_size, lr, momentum, weight_decay
        self.device = device
        self.history: list[float] | None = None
        super().__init__(dataset, ratio, **shared_args(locals()))

    @classmethod
    def check_params(cls, params: dict[str, Any], *, loading: bool = False) -> None:
        super().check_params(params, loading=loading)
        given = params["predictions"]
        if not (
            given is None
            or isinstance(given, (np.ndarray, torch.Tensor, list))
            or (loading and isinstance(given, SavedObject))
        ):
            raise ProxydataTypeError(
                f"predictions must be an array of shape (T, n) or (T, n, K), got {show(given)}"
            )

    def _forget_fitted(self) -> None:
        self.history = None

    def _select(self) -> tuple[np.ndarray, np.ndarray]:
        labels = self.pool_targets()
        if self.predictions is not None:
            given = self.predictions
            arr = _as_numpy(given)
            if arr.ndim >= 2 and arr.shape[1] == self.n and self.has_split():
                arr = arr[:, self.split]
            correct = predictions_correct(arr, labels)
            self.resolved["source"] = f"predictions {describe(given)}"
        else:
            source = self._image_source()
            net = self._network(source, 0)
            correct = np.zeros((self.epochs, self.pool_size), dtype=bool)
            y = torch.from_numpy(labels)

            def record(epoch: int, idx: np.ndarray, logits: torch.Tensor) -> None:
                hit = logits.argmax(dim=1).cpu() == y[torch.from_numpy(idx)]
                correct[epoch, idx] = hit.numpy()

            self.history = self._train(net, source, self.epochs, 0, on_batch=record)
            self.resolved["source"] = "training run"
        scores = forgetting_counts(correct)
        return self._ranked(scores), scores


class GraNdProxy(ClassifierProxy):
    """GraNd at initialisation (Paul et al., 2021): keep the samples with the largest gradient norm.

    ``χ_i = (1/S) Σ_s ||∇_θ ℓ(f_{θ_s}(x_i), y_i)||_2`` over ``S = n_seeds``
    initialisations ``θ_s`` (run ``s`` seeded ``seed + s``), ``ℓ`` the
    cross-entropy, networks in eval mode (:func:`grand_scores`). The paper
    scores at initialisation averaged over 10 seeds (its Sec. 2; CIFAR-10 with
    ResNet-18), over all parameters.

    ``gradient="full"`` (default): the gradient over every parameter, per
    sample, by ``torch.func.vmap`` — one forward and backward pass per sample
    and seed, affordable for the default small CNN (about the cost of one
    training epoch per seed). ``gradient="last-layer"``: the closed form over
    the output layer only, ``||p − e_y||·sqrt(||h||² + 1)`` (one forward pass per
    sample and seed; a common cheap approximation, not the paper's score).

    Parameters
    ----------
    dataset : map-style dataset of images
    ratio : float in (0, 1]
    keep : {"hard", "easy"}
        Keep the highest scores (``"hard"``, the paper's) or the lowest.
    gradient : {"full", "last-layer"}
    n_seeds : int >= 1
        Initialisations averaged over (the paper: 10).
    model : nn.Module, optional
        A classifier ``(b, C, H, W) → (b, K)``; re-initialised per seed (a deep
        copy; every submodule's ``reset_parameters``). None: the default small CNN.
    eval_batch_size : int
        Samples per vectorised gradient batch.
    device : str or torch.device, optional
    seed, shuffle, num_replicas, rank, drop_last, progress, targets, indices
        See :class:`~proxydata.samplers.base.ProxySampler`.

    Attributes
    ----------
    scores : np.ndarray of float64
        ``χ_i`` for every sample.
    seed_scores : np.ndarray of float64, shape (n_seeds, pool_size), or None
        The norms of each initialisation (None on a loaded proxy).
    """

    method = "grand"

    def __init__(
        self,
        dataset: Any,
        ratio: float,
        *,
        keep: str = "hard",
        gradient: str = "full",
        n_seeds: int = 10,
        model: nn.Module | None = None,
        eval_batch_size: int = 128,
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
        self.keep, self.gradient, self.n_seeds, self.model = keep, gradient, n_seeds, model
        self.eval_batch_size, self.device = eval_batch_size, device
        self.seed_scores: np.ndarray | None = None
        super().__init__(dataset, ratio, **shared_args(locals()))

    @classmethod
    def check_params(cls, params: dict[str, Any], *, loading: bool = False) -> None:
        super().check_params(params, loading=loading)
        check_choice(params["gradient"], "gradient", GRADIENT_CHOICES)

    def _forget_fitted(self) -> None:
        self.seed_scores = None

    def _select(self) -> tuple[np.ndarray, np.ndarray]:
        source = self._image_source()
        labels = torch.from_numpy(self.pool_targets())
        dev = self.run_device()
        per_seed = np.empty((self.n_seeds, self.pool_size), dtype=np.float64)
        for s in range(self.n_seeds):
            net = self._network(source, s)
            for idx in batch_slices(np.arange(self.pool_size, dtype=np.int64), self.eval_batch_size):
                x = source.get(idx).to(dev)
                per_seed[s, idx] = grand_scores(net, x, labels[idx].to(dev), self.gradient).numpy()
                self.spend_samples(idx.size)
        self.seed_scores = per_seed
        self.resolved["gradient"] = self.gradient
        scores = per_seed.mean(axis=0)
        return self._ranked(scores), scores


class EL2NProxy(ClassifierProxy):
    """EL2N after a few epochs (Paul et al., 2021): keep the samples with the largest error norm.

    ``EL2N_i = (1/S) Σ_s ||softmax(f_{θ_s}(x_i)) − onehot(y_i)||_2`` over
    ``S = n_seeds`` training runs (run ``s`` seeded ``seed + s``), each
    ``epochs`` epochs of SGD, scored in eval mode
    (:func:`proxydata.metrics.el2n`, the formula the pruner uses). The paper
    scores after 20 epochs, averaged over 10 runs (CIFAR-10, ResNet-18), and
    keeps the highest scores; those are the defaults here.

    Parameters
    ----------
    dataset : map-style dataset of images
    ratio : float in (0, 1]
    keep : {"hard", "easy"}
    epochs : int >= 1
        Epochs trained before scoring (the paper: 20).
    n_seeds : int >= 1
        Runs averaged over (the paper: 10).
    model : nn.Module, optional
        A classifier; a re-initialised deep copy is trained per run. None: the
        default small CNN.
    batch_size, lr, momentum, weight_decay : training settings (SGD)
    eval_batch_size : int
    device : str or torch.device, optional
    seed, shuffle, num_replicas, rank, drop_last, progress, targets, indices
        See :class:`~proxydata.samplers.base.ProxySampler`.

    Attributes
    ----------
    scores : np.ndarray of float64
        ``EL2N_i`` for every sample.
    seed_scores : np.ndarray, shape (n_seeds, pool_size), or None
    history : list of list of float or None
        Mean training loss per epoch of every run.
    """

    method = "el2n"

    def __init__(
        self,
        dataset: Any,
        ratio: float,
        *,
        keep: str = "hard",
        epochs: int = 20,
        n_seeds: int = 10,
        model: nn.Module | None = None,
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
        self.keep, self.epochs, self.n_seeds, self.model = keep, epochs, n_seeds, model
        self.batch_size, self.lr, self.momentum, self.weight_decay = batch_size, lr, momentum, weight_decay
        self.eval_batch_size, self.device = eval_batch_size, device
        self.seed_scores: np.ndarray | None = None
        self.history: list[list[float]] | None = None
        super().__init__(dataset, ratio, **shared_args(locals()))

    def _forget_fitted(self) -> None:
        self.seed_scores = None
        self.history = None

    def _select(self) -> tuple[np.ndarray, np.ndarray]:
        source = self._image_source()
        labels = torch.from_numpy(self.pool_targets())
        per_seed = np.empty((self.n_seeds, self.pool_size), dtype=np.float64)
        history = []
        for s in range(self.n_seeds):
            net = self._network(source, s)
            history.append(self._train(net, source, self.epochs, s))
            per_seed[s] = el2n(self._eval_logits(net, source), labels).numpy()
        self.seed_scores, self.history = per_seed, history
        scores = per_seed.mean(axis=0)
        return self._ranked(scores), scores
