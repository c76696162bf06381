"""The checked arguments of :func:`~proxydata.nas.search`: the algorithms' names, one record for the loop."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

from .._validation import check_bool, check_choice, check_device, check_float, check_int, check_seed, show
from ..exceptions import ProxydataTypeError, ProxydataValueError
from .hessian_probe import check_hessian_batch
from .optim import AdamSettings, SGDSettings
from .supernet import ALGO_MODES, Supernet

__all__ = [
    "ALGORITHMS",
    "DARTS_SPACE_ALGORITHMS",
    "MOBILENET_SPACE_ALGORITHMS",
    "SPACE_ALGORITHMS",
    "SearchOptions",
]

#: The search algorithms of :func:`~proxydata.nas.search` (the one list: the CLI,
#: the experiment runner and the benchmarks import it).
ALGORITHMS: tuple[str, ...] = ("darts-v1", "darts-v2", "beta-darts", "gdas", "pc-darts", "enas")

#: The search algorithms of the DARTS space (:class:`~proxydata.nas.spaces.darts.DartsSupernet`);
#: ``"p-darts"`` is one P-DARTS stage in :func:`~proxydata.nas.search` (skip-connection dropout,
#: architecture warm-up) and the three stages in :func:`~proxydata.nas.pdarts.pdarts_search`.
DARTS_SPACE_ALGORITHMS: tuple[str, ...] = (
    "darts-v1",
    "darts-v2",
    "beta-darts",
    "gdas",
    "pc-darts",
    "p-darts",
)

#: The search algorithms of the MobileNet-like space
#: (:class:`~proxydata.nas.spaces.mobilenet.MobileNetSupernet`; BDP's Table 6 searches it with these two).
MOBILENET_SPACE_ALGORITHMS: tuple[str, ...] = ("darts-v1", "beta-darts")

#: Every algorithm name :func:`~proxydata.nas.search` accepts, by space.
SPACE_ALGORITHMS: dict[str, tuple[str, ...]] = {
    "nb201": ALGORITHMS,
    "darts": DARTS_SPACE_ALGORITHMS,
    "mobilenet": MOBILENET_SPACE_ALGORITHMS,
}


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


def _check_network(network: Any, algo: str, space: Any) -> Supernet:
    if not isinstance(network, Supernet):
        raise ProxydataTypeError(
            f"network must be a proxydata.nas.supernet.Supernet (e.g. a SearchNetwork), "
            f"got {type(network).__name__}"
        )
    if space is not None:
        space = check_choice(space, "space", tuple(SPACE_ALGORITHMS))
        if network.space != space:
            raise ProxydataValueError(
                f"space={space!r} but the network is a {network.space!r} supernet ({type(network).__name__})"
            )
    allowed = SPACE_ALGORITHMS.get(network.space, ALGORITHMS)
    if algo not in allowed:
        raise ProxydataValueError(
            f"algo={algo!r} does not run on the {network.space!r} space; choose from {allowed}"
        )
    if ALGO_MODES[algo] != network.algo:
        raise ProxydataValueError(
            f"algo={algo!r} needs a supernet built with algo={ALGO_MODES[algo]!r}, "
            f"got a network with algo={network.algo!r}"
        )
    return network


def _check_skip_dropout(value: Any, algo: str) -> float:
    rate = check_float(value, "skip_dropout", minimum=0.0)
    if rate >= 1.0:
        raise ProxydataValueError(f"skip_dropout must be in [0, 1), got {rate}")
    if rate and algo != "p-darts":
        raise ProxydataValueError(f"skip_dropout is P-DARTS's (algo='p-darts'), got algo={algo!r}")
    return rate


def _check_hessian_groups(batch: Any, network: Supernet) -> Any:
    if batch is not None and len(network.alphas()) != 1:
        raise ProxydataValueError(
            f"hessian_batch needs a supernet with one group of operation logits; the {network.space!r} "
            f"supernet has {len(network.alphas())}"
        )
    return batch


def _check_callbacks(callbacks: Any) -> tuple[Callable[..., Any], ...]:
    if callable(callbacks) or not isinstance(callbacks, Iterable):
        raise ProxydataTypeError(f"callbacks must be a sequence of callables, got {show(callbacks)}")
    callbacks = tuple(callbacks)
    for cb in callbacks:
        if not callable(cb):
            raise ProxydataTypeError(f"callbacks must be callables, got {show(cb)}")
    return callbacks


@dataclass(frozen=True)
class SearchOptions:
    """The checked keyword arguments of :func:`~proxydata.nas.search`, one record for the loop.

    ``weights`` and ``arch`` are the two optimisers' settings; the other fields
    are :func:`~proxydata.nas.search`'s arguments of the same names, checked.
    """

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
    skip_dropout: float
    arch_warmup_epochs: int
    callbacks: tuple[Callable[..., Any], ...]
    progress: bool

    @classmethod
    def from_arguments(cls, args: dict[str, Any]) -> SearchOptions:
        """Check :func:`~proxydata.nas.search`'s arguments (``network`` and ``pruner`` included, not kept)."""
        algo = check_choice(args["algo"], "algo", tuple(dict.fromkeys(ALGORITHMS + DARTS_SPACE_ALGORITHMS)))
        network = _check_network(args["network"], algo, args["space"])
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
            hessian_batch=_check_hessian_groups(
                check_hessian_batch(args["hessian_batch"], algo, ALGO_MODES[algo]), network
            ),
            hessian_iterations=check_int(args["hessian_iterations"], "hessian_iterations", minimum=1),
            skip_dropout=_check_skip_dropout(args["skip_dropout"], algo),
            arch_warmup_epochs=check_int(args["arch_warmup_epochs"], "arch_warmup_epochs", minimum=0),
            callbacks=_check_callbacks(args["callbacks"]),
            progress=check_bool(args["progress"], "progress"),
        )
