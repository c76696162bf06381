"""Train a found cell from scratch: the evaluation for datasets without a benchmark table."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ...._records import DictAccess
from ...._validation import check_bool, check_device, check_int, check_seed
from ....exceptions import ProxydataTypeError, ProxydataValueError
from ...optim import SGDSettings
from .genotype import Genotype, as_genotype
from .network import CellNetwork

__all__ = ["TrainResult", "evaluate", "train_genotype", "train_network"]


@dataclass
class TrainResult(DictAccess):
    """What :func:`train_network` and :func:`train_genotype` return.

    Reading it as the dict these functions returned up to 0.2 (``result["test_acc"]``)
    still works until 0.4, with a ``FutureWarning``; :meth:`to_dict` gives that dict.

    Attributes
    ----------
    test_acc, test_loss : float
        Accuracy (in [0, 1]) and mean cross-entropy on the test loader, after the
        last epoch, in eval mode.
    train_loss, train_acc : list of float
        One per epoch: running means over the epoch's batches.
    train_samples : int
        Training samples processed, all epochs.
    params : int
        Number of parameters of the network.
    seconds, cpu_seconds : float
        Wall time, and CPU time of this process.
    genotype : str or None
        The cell :func:`train_genotype` trained (NAS-Bench-201 string); None for
        :func:`train_network`.
    """

    test_acc: float
    test_loss: float
    train_loss: list[float]
    train_acc: list[float]
    train_samples: int
    params: int
    seconds: float
    cpu_seconds: float
    genotype: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict: ``genotype`` first (when set), then the other attributes."""
        body = dataclasses.asdict(self)
        genotype = body.pop("genotype")
        return body if genotype is None else {"genotype": genotype, **body}


def _xy(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise ProxydataValueError(
            f"batches must be (x, y) or (x, y, index) tuples, got {type(batch).__name__}"
        )
    return batch[0], batch[1]


@torch.no_grad()
def evaluate(
    network: torch.nn.Module, loader: Iterable[Any], device: str | torch.device = "cpu"
) -> dict[str, float]:
    """Mean cross-entropy and accuracy (in [0, 1]) of ``network`` in eval mode over ``loader``."""
    dev = check_device(device)
    was_training = network.training
    network.eval()
    loss_sum, hits, n = 0.0, 0, 0
    try:
        for batch in loader:
            x, y = _xy(batch)
            x, y = x.to(dev), y.to(dev)
            logits = network(x)
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            hits += int((logits.argmax(1) == y).sum())
            n += int(y.shape[0])
    finally:
        network.train(was_training)
    if n == 0:
        raise ProxydataValueError("loader yielded no batches")
    return {"loss": loss_sum / n, "acc": hits / n}


def train_genotype(
    genotype: Genotype | str,
    train_loader: Iterable[Any],
    test_loader: Iterable[Any],
    epochs: int,
    C: int = 16,
    N: int = 5,
    num_classes: int = 10,
    in_channels: int = 3,
    device: str | torch.device = "cpu",
    seed: int = 0,
    *,
    progress: bool = True,
    **recipe: Any,
) -> TrainResult:
    """Train :class:`~proxydata.nas.CellNetwork` of ``genotype`` from scratch and test it.

    NAS-Bench-201's training recipe (Dong & Yang, 2020, Sec. 2.3; :data:`~proxydata.nas.optim.NB201_SGD`),
    shortened: SGD with Nesterov momentum 0.9, weight decay 5e-4, learning rate 0.1
    annealed by a cosine to ``lr_min`` (0) over the epochs (per epoch:
    ``lr_min + (lr - lr_min)(1 + cos(pi e / E)) / 2``), no gradient clipping, plain
    cross-entropy.
    The test accuracy is measured once, after the last epoch, in eval mode.

    Parameters
    ----------
    genotype : Genotype or str
    train_loader, test_loader : iterables of ``(x, y)`` or ``(x, y, index)`` batches
    epochs : int >= 1
    C, N, num_classes, in_channels : network size (see :class:`~proxydata.nas.CellNetwork`)
    device : str or torch.device
    seed : int
        Seeds the initialisation and, inside the call only, the global torch RNG
        (data-loader shuffling); the caller's RNG state is restored afterwards.
    progress : bool
        A tqdm bar over the epochs.
    **recipe
        Settings of the optimiser that differ from NAS-Bench-201's: ``lr``,
        ``lr_min``, ``momentum``, ``weight_decay``, ``nesterov``, ``grad_clip``
        (max gradient norm; None, the default, for no clipping). See
        :meth:`~proxydata.nas.optim.SGDSettings.nb201`.

    Returns
    -------
    TrainResult
        With ``genotype`` set to the cell's string.
    """
    cell = as_genotype(genotype)
    seed = check_seed(seed)
    dev = check_device(device)
    sgd = SGDSettings.nb201(recipe, name="train_genotype's recipe keywords")
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        net = CellNetwork(cell, C=C, N=N, num_classes=num_classes, in_channels=in_channels)
        # seed=None: training continues the RNG stream right after the initialisation
        record = train_network(
            net,
            train_loader,
            test_loader,
            epochs,
            sgd=sgd,
            device=dev,
            seed=None,
            progress=progress,
            desc=f"training {cell}",
        )
    return dataclasses.replace(record, genotype=str(cell))


def train_network(
    network: torch.nn.Module,
    train_loader: Iterable[Any],
    test_loader: Iterable[Any],
    epochs: int,
    *,
    sgd: SGDSettings | None = None,
    device: str | torch.device = "cpu",
    seed: int | None = 0,
    progress: bool = True,
    desc: str = "training",
) -> TrainResult:
    """Train any classifier ``network`` with :func:`train_genotype`'s recipe and test it.

    SGD, learning rate annealed per epoch by
    ``lr_min + (lr - lr_min)(1 + cos(pi e / E)) / 2``, plain cross-entropy; the
    test accuracy is measured once, after the last epoch, in eval mode. The
    network is moved to ``device`` and trained in place.

    Parameters
    ----------
    network : torch.nn.Module
        Maps a batch of inputs to ``(batch, classes)`` logits.
    train_loader, test_loader : iterables of ``(x, y)`` or ``(x, y, index)`` batches
    epochs : int >= 1
    sgd : SGDSettings, optional
        The optimiser (:meth:`SGDSettings.checked`); default NAS-Bench-201's
        (:data:`~proxydata.nas.optim.NB201_SGD`: lr 0.1 to 0, Nesterov momentum 0.9, weight decay 5e-4).
    device : str or torch.device
    seed : int or None
        Seeds, inside the call only, the global torch RNG (data-loader shuffling,
        dropout); the caller's RNG state is restored afterwards. None uses the
        caller's RNG as it stands (and advances it).
    progress : bool
        A tqdm bar over the epochs.
    desc : str
        The bar's label.

    Returns
    -------
    TrainResult
        Without a ``genotype``.
    """
    if not isinstance(network, torch.nn.Module):
        raise ProxydataTypeError(f"network must be a torch.nn.Module, got {type(network).__name__}")
    epochs = check_int(epochs, "epochs", minimum=1)
    dev = check_device(device)
    if seed is not None:
        seed = check_seed(seed)
    if sgd is None:
        sgd = SGDSettings.nb201()
    if not isinstance(sgd, SGDSettings):
        raise ProxydataTypeError(f"sgd must be an SGDSettings, got {type(sgd).__name__}")
    progress = check_bool(progress, "progress")

    start, cpu_start = time.perf_counter(), time.process_time()
    fork_devices = [dev] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices, enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        net = network.to(dev)
        opt = sgd.optimizer(net.parameters())
        train_loss: list[float] = []
        train_acc: list[float] = []
        samples = 0
        for epoch in tqdm(range(epochs), desc=desc, disable=not progress, leave=False):
            sgd.start_epoch(opt, epoch, epochs)
            loss, acc, n = _train_epoch(net, opt, sgd, train_loader, dev)
            train_loss.append(loss)
            train_acc.append(acc)
            samples += n
        test = evaluate(net, test_loader, dev)
    return TrainResult(
        test_acc=test["acc"],
        test_loss=test["loss"],
        train_loss=train_loss,
        train_acc=train_acc,
        train_samples=samples,
        params=int(sum(p.numel() for p in net.parameters())),
        seconds=time.perf_counter() - start,
        cpu_seconds=time.process_time() - cpu_start,
    )


def _train_epoch(
    net: torch.nn.Module,
    opt: torch.optim.Optimizer,
    sgd: SGDSettings,
    loader: Iterable[Any],
    device: torch.device,
) -> tuple[float, float, int]:
    """One pass of plain cross-entropy training; the running mean loss and accuracy, the samples seen."""
    net.train()
    sums = torch.zeros(2, dtype=torch.float64, device=device)  # summed on the device: no sync per step
    n = 0
    for batch in loader:
        x, y = _xy(batch)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        logits = net(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        sgd.clip(net.parameters())
        opt.step()
        b = int(y.shape[0])
        n += b
        sums += torch.stack([loss.detach().double() * b, (logits.argmax(1) == y).sum().double()])
    if n == 0:
        raise ProxydataValueError("train_loader yielded no batches")
    totals = sums.tolist()
    return totals[0] / n, totals[1] / n, n
