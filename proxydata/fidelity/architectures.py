"""The architectures of a ranking study: NAS-Bench-201 cells or model factories, sampled, checked, trained.

:func:`sample_nb201_architectures` draws cells stratified over a table's
accuracy range; :func:`train_architecture` trains one architecture on one
selection with one seed — :func:`~proxydata.nas.train_genotype` for a cell,
:func:`~proxydata.nas.train_network` for a factory's model (both on
NAS-Bench-201's recipe, :data:`~proxydata.nas.optim.NB201_SGD`), or the user's
``train_fn``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from .._validation import check_int, check_seed, show
from ..exceptions import ProxydataTypeError, ProxydataValueError
from ..nas.optim import SGDSettings
from ..nas.spaces.nb201.genotype import as_genotype
from ..nas.spaces.nb201.table import NB201Table
from ..nas.spaces.nb201.train import train_genotype, train_network

__all__ = ["check_architectures", "sample_nb201_architectures", "train_architecture"]


def sample_nb201_architectures(
    table: NB201Table, k: int, *, column: str = "cifar10_test_200ep", seed: int = 0
) -> list[str]:
    """``k`` NAS-Bench-201 cells stratified over the whole range of ``column``.

    The table's cells with a value in ``column`` are sorted by it (ties by
    genotype string) and cut into ``k`` strata of (almost) equal count, stratum
    ``j`` holding ranks ``[floor(j·n/k), floor((j+1)·n/k))``; one cell is drawn
    uniformly at random from each (``numpy.random.default_rng(seed)``). The
    sample thus spans every percentile, the broken bottom of the space included,
    as the zero-cost-proxy literature samples.

    Parameters
    ----------
    table : NB201Table
    k : int
        ``1 <= k <=`` the number of cells with a value.
    column : str
        A numeric column of the table.
    seed : int

    Returns
    -------
    list of str
        Genotype strings, from the lowest stratum to the highest.
    """
    if not isinstance(table, NB201Table):
        raise ProxydataTypeError(f"table must be an NB201Table, got {show(table)}")
    if column not in table.columns:
        raise ProxydataValueError(f"column must be one of {list(table.columns)}, got {column!r}")
    seed = check_seed(seed)
    cells = sorted(
        ((value, key) for key in table.genotypes() if np.isfinite(value := table.lookup(key)[column])),
    )
    k = check_int(k, "k", minimum=1, maximum=len(cells))
    rng = np.random.default_rng(seed)
    n = len(cells)
    out = []
    for j in range(k):
        lo, hi = (j * n) // k, ((j + 1) * n) // k
        out.append(cells[int(rng.integers(lo, hi))][1])
    return out


def check_architectures(architectures: Any) -> dict[str, Any]:
    """``{name: genotype string or model factory}``."""
    if isinstance(architectures, Mapping):
        out = {}
        for name, make in architectures.items():
            if not isinstance(name, str) or not callable(make):
                raise ProxydataTypeError(
                    f"architectures must map str names to callables returning an nn.Module, got {show(name)}"
                )
            out[name] = make
        if len(out) < 3:
            raise ProxydataValueError(f"architectures must hold at least 3 items to rank, got {len(out)}")
        return out
    if isinstance(architectures, (str, bytes)) or not isinstance(architectures, Sequence):
        raise ProxydataTypeError(
            f"architectures must be a sequence of NAS-Bench-201 genotypes or a mapping of "
            f"name to model factory, got {show(architectures)}"
        )
    names = [str(as_genotype(a, "architectures[i]")) for a in architectures]
    if len(set(names)) != len(names):
        raise ProxydataValueError("architectures must not repeat a genotype")
    if len(names) < 3:
        raise ProxydataValueError(f"architectures must hold at least 3 items to rank, got {len(names)}")
    return {name: name for name in names}


def train_architecture(
    arch: Any,
    train_loader: DataLoader,
    test_loader: DataLoader,
    epochs: int,
    seed: int,
    device: torch.device,
    train_fn: Callable[..., Any] | None,
    network_kwargs: dict[str, Any],
    train_kwargs: dict[str, Any],
) -> dict[str, Any]:
    """Train one architecture (a genotype string or a model factory) and return its record as a dict.

    ``train_fn``, when given, is called instead and must return a mapping with
    ``test_acc`` or a :class:`~proxydata.nas.TrainResult`; otherwise a genotype goes
    to :func:`~proxydata.nas.train_genotype` (``network_kwargs`` and ``train_kwargs``
    passed on), a factory is called under ``torch.manual_seed(seed)`` and its model
    trained by :func:`~proxydata.nas.train_network` with NAS-Bench-201's recipe
    where ``train_kwargs`` does not replace it.
    """
    if train_fn is not None:
        out = train_fn(arch, train_loader, test_loader, epochs=epochs, seed=seed, device=device)
        if callable(getattr(out, "to_dict", None)):
            out = out.to_dict()
        if not isinstance(out, Mapping) or "test_acc" not in out:
            raise ProxydataTypeError(f"train_fn must return a mapping with 'test_acc', got {show(out)}")
        return dict(out)
    if isinstance(arch, str):
        return train_genotype(
            arch,
            train_loader,
            test_loader,
            epochs,
            device=device,
            seed=seed,
            progress=False,
            **network_kwargs,
            **train_kwargs,
        ).to_dict()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = arch()
    if not isinstance(model, torch.nn.Module):
        raise ProxydataTypeError(f"an architecture factory must return an nn.Module, got {show(model)}")
    sgd = SGDSettings.nb201(train_kwargs, name="train_kwargs for model factories")
    return train_network(
        model, train_loader, test_loader, epochs, sgd=sgd, device=device, seed=seed, progress=False
    ).to_dict()
