"""DARTS's evaluation recipe: train a found cell's :class:`~.evaluation.NetworkCIFAR` from scratch.

The recipe of the DARTS repository's ``cnn/train.py`` (Liu et al., ICLR 2019, App. A.2), which
PC-DARTS, P-DARTS and β-DARTS reuse:

- SGD, momentum 0.9, weight decay 3e-4, learning rate 0.025 annealed per epoch by a cosine to 0
  (``lr_e = lr (1 + cos(pi e / E)) / 2``), gradient norm clipped at 5;
- loss ``CE(logits) + 0.4 · CE(logits_aux)`` with the auxiliary head;
- drop path with probability ``drop_path_prob · e / E`` in epoch ``e`` (raised linearly from 0);
- augmentation: random crop after zero padding of 4 px, horizontal flip with p = 1/2, then
  cutout of a 16×16 square (:func:`cutout`);
- 600 epochs, batch size 96, ``C=36``, 20 cells at CIFAR-10 scale.

Every one of these is a parameter of :func:`train_darts_network`, so the same function trains
at the paper's scale on a GPU and at a tiny scale on a CPU.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from ...._validation import check_bool, check_device, check_float, check_int, check_seed, show
from ....exceptions import ProxydataTypeError, ProxydataValueError
from ...augment import crop_flip
from ...counting import count_flops, count_parameters
from ...schedules import cosine_lr
from .evaluation import NetworkCIFAR
from .genotypes import DartsGenotype, as_darts_genotype

__all__ = ["DartsAugmentedDataset", "DartsTrainResult", "cutout", "train_darts_network"]


def cutout(image: torch.Tensor, length: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero a ``length × length`` square of ``image`` (C, H, W) centred at a uniform random pixel.

    Cutout (DeVries & Taylor, 2017) as DARTS applies it: the centre ``(y, x)`` is uniform over
    the pixels, the square ``[y − length/2, y + length/2) × [x − length/2, x + length/2)`` is
    clipped to the image (so a square near the border zeroes fewer pixels), every channel is
    zeroed. ``length = 0`` returns the image unchanged. Returns a new tensor.
    """
    if length <= 0:
        return image
    h, w = image.shape[-2], image.shape[-1]
    y = int(torch.randint(0, h, (1,), generator=generator))
    x = int(torch.randint(0, w, (1,), generator=generator))
    y0, y1 = max(0, y - length // 2), min(h, y + length // 2)
    x0, x1 = max(0, x - length // 2), min(w, x + length // 2)
    out = image.clone()
    out[..., y0:y1, x0:x1] = 0
    return out


class DartsAugmentedDataset(Dataset):
    """A dataset of ``(image, label, ...)`` items seen through DARTS's training augmentation.

    Random crop after zero padding of ``padding`` pixels, horizontal flip with p = 1/2 (when
    ``flip``), then :func:`cutout` of ``cutout_length``. Each draw is a pure function of
    ``(seed, epoch, index)``: call :meth:`set_epoch` at the start of every epoch (as with
    ``DistributedSampler``); the same epoch reads the same images whatever the loader order or
    number of workers.

    Parameters
    ----------
    dataset : map-style dataset whose items start with a (C, H, W) tensor
    padding : int >= 0, default 4
    flip : bool, default True
    cutout_length : int >= 0, default 16
    seed : int, default 0
    """

    def __init__(
        self, dataset: Any, padding: int = 4, flip: bool = True, cutout_length: int = 16, seed: int = 0
    ) -> None:
        self.dataset = dataset
        self.padding = check_int(padding, "padding", minimum=0)
        self.flip = check_bool(flip, "flip")
        self.cutout_length = check_int(cutout_length, "cutout_length", minimum=0)
        self.seed = check_seed(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose augmentation item reads draw from now on."""
        self.epoch = check_int(epoch, "epoch", minimum=0)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        item = self.dataset[index]
        key = ((self.seed * 1_000_003 + self.epoch) * 1_000_003 + int(index)) % 2**63
        gen = torch.Generator().manual_seed(key)
        image = crop_flip(torch.as_tensor(item[0]), self.padding, self.flip, gen)
        image = cutout(image, self.cutout_length, gen)
        return (image, *tuple(item[1:]))


@dataclass
class DartsTrainResult:
    """What :func:`train_darts_network` returns.

    Attributes
    ----------
    genotype : str
        The cell, in the DARTS repository's text form.
    test_acc, test_loss : float
        Accuracy in [0, 1] and mean cross-entropy on the test data after the last epoch, in
        eval mode (no auxiliary head, no drop path, no augmentation).
    train_acc, train_loss : list of float
        Per epoch, running means over the batches (``train_loss`` includes the auxiliary term).
    train_samples : int
        Training samples processed, all epochs.
    params : int
        :func:`~proxydata.nas.counting.count_parameters` (auxiliary head left out).
    flops : int
        :func:`~proxydata.nas.counting.count_flops` of one test image.
    seconds, cpu_seconds : float
        Wall time and CPU time of this process.
    device : str
        Where it ran.
    settings : dict
        Every argument of the recipe (sizes, optimiser, augmentation, seed), to rerun it.
    """

    genotype: str
    test_acc: float
    test_loss: float
    train_acc: list[float]
    train_loss: list[float]
    train_samples: int
    params: int
    flops: int
    seconds: float
    cpu_seconds: float
    device: str
    settings: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of the attributes."""
        return dataclasses.asdict(self)


def _xy(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(batch, tuple | list) or len(batch) < 2:
        raise ProxydataValueError(
            f"batches must be (x, y) or (x, y, index) tuples, got {type(batch).__name__}"
        )
    return batch[0], batch[1]


def _check_dataset(data: Any, name: str) -> Any:
    if not (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
        raise ProxydataTypeError(
            f"{name} must be a map-style dataset of (image, label) items, got {show(data)}"
        )
    if len(data) == 0:
        raise ProxydataValueError(f"{name} must not be empty")
    return data


def train_darts_network(
    genotype: DartsGenotype | str | Any,
    train_data: Any,
    test_data: Any,
    *,
    epochs: int = 600,
    batch_size: int = 96,
    C: int = 36,
    layers: int = 20,
    num_classes: int = 10,
    auxiliary: bool = True,
    auxiliary_weight: float = 0.4,
    drop_path_prob: float = 0.2,
    lr: float = 0.025,
    momentum: float = 0.9,
    weight_decay: float = 3e-4,
    grad_clip: float = 5.0,
    padding: int = 4,
    flip: bool = True,
    cutout_length: int = 16,
    device: str | torch.device = "cpu",
    seed: int = 0,
    num_workers: int = 0,
    eval_batch_size: int = 256,
) -> DartsTrainResult:
    """Train :class:`~.evaluation.NetworkCIFAR` of ``genotype`` from scratch with DARTS's recipe and test it.

    Per epoch ``e`` of ``E``: learning rate ``lr (1 + cos(pi e / E)) / 2``, drop-path
    probability ``drop_path_prob · e / E``; per batch: loss ``CE(logits) + auxiliary_weight ·
    CE(logits_aux)`` (the second term only with ``auxiliary``), backward, gradient norm clipped
    at ``grad_clip``, SGD step (momentum, weight decay). Training images pass through
    :class:`DartsAugmentedDataset` (crop, flip, cutout). The test accuracy is measured once,
    after the last epoch, in eval mode. Defaults are DARTS's CIFAR-10 setting (module docstring);
    every size is a parameter.

    Parameters
    ----------
    genotype : DartsGenotype, str or genotype-like
        Anything :func:`~.genotypes.as_darts_genotype` accepts (``"DARTS_V2"``, the text form).
    train_data, test_data : map-style datasets
        Items ``(image, label, ...)`` with ``image`` a float (C=3, H, W) tensor (already
        normalised: padding and cutout write zeros).
    epochs, batch_size : int >= 1
    C, layers, num_classes : int >= 1
        Network size (:class:`~.evaluation.NetworkCIFAR`).
    auxiliary : bool
        Train with the auxiliary head (needs images of at least 20 px).
    auxiliary_weight : float >= 0
    drop_path_prob : float in [0, 1)
    lr, momentum, weight_decay : float
    grad_clip : float >= 0
        Max gradient norm; 0 disables clipping.
    padding, flip, cutout_length
        Augmentation (:class:`DartsAugmentedDataset`); ``cutout_length=0`` disables cutout.
    device : str or torch.device
        Where to train (``"cuda"`` for a GPU); checked to exist.
    seed : int
        Seeds the initialisation, the shuffling, the augmentation and the drop-path masks,
        inside the call only (the caller's RNG state is restored afterwards).
    num_workers : int >= 0
        Loader worker processes (the augmentation is the same for any number).
    eval_batch_size : int >= 1

    Returns
    -------
    DartsTrainResult
    """
    arguments = {name: value for name, value in locals().items() if name in _SETTING_CHECKS}
    cell = as_darts_genotype(genotype)
    train_data = _check_dataset(train_data, "train_data")
    test_data = _check_dataset(test_data, "test_data")
    settings = _check_settings(arguments)
    dev = check_device(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(settings["seed"])
        net = _build_network(cell, settings, dev)
        params = count_parameters(net)
        history = _train(net, train_data, settings, dev)
        test_loader = DataLoader(test_data, batch_size=settings["eval_batch_size"], shuffle=False)
        test_loss, test_acc = _evaluate(net, test_loader, dev)
        flops = count_flops(net, tuple(torch.as_tensor(test_data[0][0]).shape))
    return DartsTrainResult(
        genotype=str(cell),
        test_acc=test_acc,
        test_loss=test_loss,
        train_acc=history.acc,
        train_loss=history.loss,
        train_samples=history.samples,
        params=params,
        flops=flops,
        seconds=time.perf_counter() - start,
        cpu_seconds=time.process_time() - cpu_start,
        device=str(dev),
        settings=settings,
    )


#: Each recipe argument of :func:`train_darts_network` with its check, in the record's order.
_SETTING_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "epochs": lambda v, n: check_int(v, n, minimum=1),
    "batch_size": lambda v, n: check_int(v, n, minimum=1),
    "C": lambda v, n: check_int(v, n, minimum=1),
    "layers": lambda v, n: check_int(v, n, minimum=1),
    "num_classes": lambda v, n: check_int(v, n, minimum=1),
    "auxiliary": check_bool,
    "auxiliary_weight": lambda v, n: check_float(v, n, minimum=0.0),
    "drop_path_prob": lambda v, n: check_float(v, n, minimum=0.0),
    "lr": lambda v, n: check_float(v, n, strictly_positive=True),
    "momentum": lambda v, n: check_float(v, n, minimum=0.0),
    "weight_decay": lambda v, n: check_float(v, n, minimum=0.0),
    "grad_clip": lambda v, n: check_float(v, n, minimum=0.0),
    "padding": lambda v, n: check_int(v, n, minimum=0),
    "flip": check_bool,
    "cutout_length": lambda v, n: check_int(v, n, minimum=0),
    "seed": check_seed,
    "num_workers": lambda v, n: check_int(v, n, minimum=0),
    "eval_batch_size": lambda v, n: check_int(v, n, minimum=1),
}


def _check_settings(arguments: dict[str, Any]) -> dict[str, Any]:
    """The recipe arguments checked, in :data:`_SETTING_CHECKS`'s order (the record's ``settings``)."""
    settings = {name: check(arguments[name], name) for name, check in _SETTING_CHECKS.items()}
    if settings["drop_path_prob"] >= 1.0:
        raise ProxydataValueError(
            f"drop_path_prob must be in [0, 1), got {show(arguments['drop_path_prob'])}"
        )
    return settings


def _build_network(cell: DartsGenotype, settings: dict[str, Any], device: torch.device) -> NetworkCIFAR:
    """The evaluation network of ``cell`` at the recipe's size, drop path off until training sets it."""
    return NetworkCIFAR(
        cell,
        C=settings["C"],
        layers=settings["layers"],
        auxiliary=settings["auxiliary"],
        drop_path_prob=0.0,
        num_classes=settings["num_classes"],
    ).to(device)


def _train_loader(
    train_data: Any, settings: dict[str, Any], device: torch.device
) -> tuple[DartsAugmentedDataset, DataLoader]:
    """The augmented training set and its shuffling loader, both seeded by ``settings["seed"]``."""
    augmented = DartsAugmentedDataset(
        train_data, settings["padding"], settings["flip"], settings["cutout_length"], settings["seed"]
    )
    loader = DataLoader(
        augmented,
        batch_size=settings["batch_size"],
        shuffle=True,
        generator=torch.Generator().manual_seed(settings["seed"]),
        num_workers=settings["num_workers"],
        pin_memory=device.type == "cuda",
    )
    return augmented, loader


@dataclass
class _History:
    """Per-epoch training means and the samples processed (the record's ``train_*`` fields)."""

    loss: list[float] = dataclasses.field(default_factory=list)
    acc: list[float] = dataclasses.field(default_factory=list)
    samples: int = 0


def _train(net: NetworkCIFAR, train_data: Any, settings: dict[str, Any], device: torch.device) -> _History:
    """All epochs of the recipe: per epoch the cosine learning rate, the drop-path ramp, one pass."""
    augmented, loader = _train_loader(train_data, settings, device)
    masks = torch.Generator(device=device).manual_seed(settings["seed"])
    optimizer = torch.optim.SGD(
        net.parameters(),
        lr=settings["lr"],
        momentum=settings["momentum"],
        weight_decay=settings["weight_decay"],
    )
    epochs = settings["epochs"]
    history = _History()
    for epoch in range(epochs):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(epoch, epochs, settings["lr"], 0.0)
        net.drop_path_prob = settings["drop_path_prob"] * epoch / epochs
        augmented.set_epoch(epoch)
        loss, acc, n = _train_epoch(
            net, optimizer, loader, device, masks, settings["auxiliary_weight"], settings["grad_clip"]
        )
        history.loss.append(loss)
        history.acc.append(acc)
        history.samples += n
    return history


def _train_epoch(
    net: NetworkCIFAR,
    optimizer: torch.optim.Optimizer,
    loader: Iterable[Any],
    device: torch.device,
    masks: torch.Generator,
    auxiliary_weight: float,
    grad_clip: float,
) -> tuple[float, float, int]:
    net.train()
    sums = torch.zeros(2, dtype=torch.float64, device=device)
    n = 0
    for batch in loader:
        x, y = _xy(batch)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        logits, logits_aux = net.forward_with_aux(x, masks)
        loss = F.cross_entropy(logits, y)
        if logits_aux is not None and auxiliary_weight > 0:
            loss = loss + auxiliary_weight * F.cross_entropy(logits_aux, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
        optimizer.step()
        b = int(y.shape[0])
        n += b
        sums += torch.stack([loss.detach().double() * b, (logits.argmax(1) == y).sum().double()])
    totals = sums.tolist()
    return totals[0] / n, totals[1] / n, n


@torch.no_grad()
def _evaluate(net: torch.nn.Module, loader: Iterable[Any], device: torch.device) -> tuple[float, float]:
    net.eval()
    loss_sum, hits, n = 0.0, 0, 0
    for batch in loader:
        x, y = _xy(batch)
        x, y = x.to(device), y.to(device)
        logits = net(x)
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        hits += int((logits.argmax(1) == y).sum())
        n += int(y.shape[0])
    return loss_sum / n, hits / n
