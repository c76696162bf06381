"""The proxy-method options shared by ``select`` and ``search``.

One table maps each option to the sampler keyword it sets. Which methods an
option applies to is read from the samplers' own constructor signatures, so the
command line cannot drift from them: ``--clusters`` is refused for CC-OR
because ``ClassOutlierProxy`` takes no ``n_clusters``.
"""

from __future__ import annotations

import argparse
import inspect
from dataclasses import dataclass, field
from typing import Any

from ..cluster import BACKENDS
from ..samplers import registered_methods
from ..samplers.base import method_class
from .arrays import check_features_file
from .checks import (
    UsageError,
    check_device_available,
    check_resnet18_cache,
    check_weights_file,
    require_module,
)

__all__ = [
    "METHODS",
    "METHOD_OPTIONS",
    "MethodOption",
    "add_method_options",
    "check_proxy_inputs",
    "method_kwargs",
    "methods_accepting",
    "normalize_method",
    "rank_method_kwargs",
]

#: The proxy methods the command line offers: every registered sampler acronym.
METHODS: tuple[str, ...] = tuple(registered_methods())


@dataclass(frozen=True)
class MethodOption:
    """One proxy-method option of the command line.

    Attributes
    ----------
    dest : str
        The argparse destination.
    name : str
        The option without dashes, as ``select`` spells it.
    keyword : str
        The sampler constructor keyword it sets.
    help : str
    prefixed : bool
        ``search`` and ``rank`` spell it ``--proxy-<name>`` (they have their own option of that name).
    argparse_kwargs : dict
        ``type`` / ``choices`` of the option.
    superseded_by : str, optional
        A keyword that replaces ``keyword`` in the samplers that take both (there
        ``keyword`` is a deprecated alias, which the command line never uses).
    prefixed_in : tuple of str
        Further commands that spell it ``--proxy-<name>`` (``rank`` has its own ``--seeds``).
    commands : tuple of str
        The commands that offer it (``--features`` only ``select``: a features
        file has one row per sample of ``--data``, while ``search`` and ``rank``
        build their proxies on a part of it).
    """

    dest: str
    name: str
    keyword: str
    help: str
    prefixed: bool = False
    argparse_kwargs: dict[str, Any] = field(default_factory=dict)
    superseded_by: str | None = None
    commands: tuple[str, ...] = ("select", "search", "rank")
    prefixed_in: tuple[str, ...] = ()

    def flag(self, command: str) -> str:
        """The option as ``command`` spells it."""
        prefixed = (self.prefixed and command in ("search", "rank")) or command in self.prefixed_in
        return f"--proxy-{self.name}" if prefixed else f"--{self.name}"


METHOD_OPTIONS: tuple[MethodOption, ...] = (
    MethodOption("clusters", "clusters", "n_clusters", "number of k-means clusters K", False, {"type": int}),
    MethodOption("backend", "backend", "backend", "k-means backend", False, {"choices": list(BACKENDS)}),
    MethodOption(
        "features",
        "features",
        "features",
        "features the method reads: 'pixels' (default) or an (n, d) .npy file of one row per sample "
        "of --data, memory-mapped",
        commands=("select",),
    ),
    MethodOption("proxy_epochs", "epochs", "epochs", "training epochs of the model", True, {"type": int}),
    MethodOption(
        "keep",
        "keep",
        "keep",
        "keep the lowest-loss (easy) or highest-loss (hard) samples",
        False,
        {"choices": ["easy", "hard"]},
    ),
    MethodOption("loss", "loss", "loss", "reconstruction loss", False, {"choices": ["bce", "mse"]}),
    MethodOption(
        "n_seeds",
        "seeds",
        "n_seeds",
        "initialisations / runs averaged",
        False,
        {"type": int},
        prefixed_in=("rank",),  # rank has its own --seeds (training seeds per cell)
    ),
    MethodOption(
        "gradient", "gradient", "gradient", "gradient norm over", False, {"choices": ["full", "last-layer"]}
    ),
    MethodOption(
        "bin_width", "bin-width", "bin_width", "width of a log10-entropy bin", False, {"type": float}
    ),
    MethodOption(
        "probability",
        "probability",
        "probability",
        "bin probabilities",
        False,
        {"choices": ["p1", "p2", "p3"]},
    ),
    MethodOption(
        "backbone",
        "backbone",
        "backbone",
        "'scratch' trains a small CNN offline; default: ResNet-18 ImageNet weights",
        False,
        {"choices": ["resnet18", "scratch"]},
    ),
    MethodOption(
        "weights_path", "weights-path", "weights_path", "local ResNet-18 state_dict file (never downloaded)"
    ),
    MethodOption(
        "score_epoch",
        "score-epoch",
        "score_epoch",
        "deprecated: TL trains --epochs epochs and scores the last",
        False,
        {"type": int},
        commands=("select", "search"),
    ),
    MethodOption(
        "proxy_batch_size",
        "batch-size",
        "batch_size",
        "training batch size",
        True,
        {"type": int},
        superseded_by="feature_batch_size",
    ),
    MethodOption(
        "feature_batch_size",
        "feature-batch-size",
        "feature_batch_size",
        "images per feature-extraction batch",
        True,
        {"type": int},
    ),
    MethodOption("proxy_device", "device", "device", "device of the method, e.g. cuda", True),
)


def normalize_method(text: str) -> str:
    """A method name as the samplers register it: ``CC_OR`` -> ``cc-or`` (argparse ``type``)."""
    return text.strip().lower().replace("_", "-")


def methods_accepting(option: MethodOption) -> tuple[str, ...]:
    """The methods whose sampler constructor takes ``option``'s keyword by name (not as an alias)."""
    out = []
    for method in METHODS:
        parameters = inspect.signature(method_class(method)).parameters
        if option.keyword in parameters and option.superseded_by not in parameters:
            out.append(method)
    return tuple(out)


def _label(methods: tuple[str, ...]) -> str:
    return "/".join(m.upper() for m in methods) or "no method"


def add_method_options(parser: argparse.ArgumentParser, command: str) -> None:
    """Add every proxy-method option to ``parser``, as ``command`` spells them."""
    group = parser.add_argument_group("proxy method options (only for the methods named)")
    for option in METHOD_OPTIONS:
        if command not in option.commands:
            continue
        extra = dict(option.argparse_kwargs)
        if "choices" not in extra:
            extra["metavar"] = option.name.upper().replace("-", "_")
        group.add_argument(
            option.flag(command),
            dest=option.dest,
            default=None,
            help=f"{_label(methods_accepting(option))}: {option.help}",
            **extra,
        )


def method_kwargs(args: argparse.Namespace, method: str | None) -> dict[str, Any]:
    """Sampler keywords from the method options given, refusing those ``method`` does not take."""
    kwargs: dict[str, Any] = {}
    for option in METHOD_OPTIONS:
        value = getattr(args, option.dest, None)
        if value is None:
            continue
        applies = methods_accepting(option)
        if method not in applies:
            raise UsageError(
                f"{option.flag(args.command)} applies only to {_label(applies)}, "
                f"not to {method.upper() if method else 'a search without --proxy'}"
            )
        kwargs[option.keyword] = value
    return kwargs


def rank_method_kwargs(args: argparse.Namespace, methods: list[str]) -> dict[str, dict[str, Any]]:
    """``rank``'s sampler keywords per method of ``--methods``: each option given goes to the methods
    that take it, and one that none of them takes is refused."""
    kwargs: dict[str, dict[str, Any]] = {method: {} for method in methods}
    for option in METHOD_OPTIONS:
        value = getattr(args, option.dest, None)
        if value is None:
            continue
        applies = methods_accepting(option)
        used = [method for method in methods if method in applies]
        if not used:
            raise UsageError(
                f"{option.flag('rank')} applies only to {_label(applies)}, "
                f"none of --methods {' '.join(methods)}"
            )
        for method in used:
            kwargs[method][option.keyword] = value
    return kwargs


def check_proxy_inputs(method: str | None, kwargs: dict[str, Any], command: str) -> None:
    """Check the device, weights file and extras a proxy method will need, before any work."""
    by_keyword = {option.keyword: option for option in METHOD_OPTIONS}
    if "device" in kwargs:
        check_device_available(kwargs["device"], by_keyword["device"].flag(command))
    backbone = kwargs.get("backbone", "resnet18")
    if method == "tl" and backbone == "resnet18":
        require_module("torchvision", "vision", "TL with the ResNet-18 backbone")
        if "weights_path" not in kwargs:
            check_resnet18_cache(
                by_keyword["weights_path"].flag(command), by_keyword["backbone"].flag(command)
            )
    if "weights_path" in kwargs:
        if backbone != "resnet18":
            raise UsageError(f"--weights-path applies only to --backbone resnet18, not to {backbone}")
        check_weights_file(kwargs["weights_path"], "--weights-path")
    if kwargs.get("backend") == "faiss":
        require_module("faiss", "faiss", "--backend faiss")
    if isinstance(kwargs.get("features"), str) and kwargs["features"] != "pixels":
        check_features_file(kwargs["features"], by_keyword["features"].flag(command))
