"""Checks a ranking study makes before its first run, and on every run's result.

:func:`preflight` builds every architecture once and runs it on two training
items, so that a network that cannot take the data (another channel count, too
few logits for the labels of the training or the test data) is refused with a
:class:`~proxydata.exceptions.ProxydataValueError` before hours of training
rather than by torch after them. :func:`check_result` checks what a run
returned (a user's ``train_fn`` above all) before it is written.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .._validation import show
from ..exceptions import ProxydataError, ProxydataTypeError, ProxydataValueError
from ..indexed import get_targets
from ..items import ItemReader, input_tensor, pixels_to_float

__all__ = ["check_result", "preflight"]

#: :func:`~proxydata.nas.train_genotype`'s network size defaults.
_CELL_DEFAULTS = {"C": 16, "N": 5, "num_classes": 10, "in_channels": 3}


def _labels(dataset: Any, name: str) -> np.ndarray:
    try:
        labels = np.asarray(get_targets(dataset, progress=False), dtype=np.int64)
    except ProxydataError as exc:
        raise ProxydataValueError(f"{name}: its labels cannot be read ({exc})") from None
    if labels.size and labels.min() < 0:
        raise ProxydataValueError(f"{name} holds a negative label ({int(labels.min())})")
    return labels


def _inputs(dataset: Any, count: int, name: str) -> torch.Tensor:
    reader = ItemReader()
    try:
        xs = [
            pixels_to_float(input_tensor(reader.input(dataset[i], i)))
            for i in range(min(count, len(dataset)))
        ]
        return torch.stack(xs)
    except (ProxydataError, RuntimeError, TypeError, IndexError, KeyError) as exc:
        raise ProxydataValueError(f"{name}: its first items cannot be read as inputs ({exc})") from None


def preflight(
    dataset: Any,
    test_dataset: Any,
    archs: Mapping[str, Any],
    network_kwargs: Mapping[str, Any],
    device: torch.device,
) -> None:
    """Refuse data and architectures that training would reject only after it started.

    Checks, before any run: training and test inputs of one shape; every
    architecture built (a cell as :class:`~proxydata.nas.CellNetwork` with
    ``network_kwargs``, a factory called) and run on two training items
    returning ``(2, C)`` logits with ``C`` above every training and test label.
    """
    from ..nas.spaces.nb201.network import CellNetwork

    if len(test_dataset) == 0:
        raise ProxydataValueError("test_dataset must not be empty")
    x = _inputs(dataset, 2, "dataset")
    x_test = _inputs(test_dataset, 1, "test_dataset")
    if x_test.shape[1:] != x.shape[1:]:
        raise ProxydataValueError(
            f"test_dataset's inputs have shape {tuple(x_test.shape[1:])}, the training data's "
            f"{tuple(x.shape[1:])}: a network trained on one cannot be tested on the other"
        )
    needed = 1 + max(
        int(_labels(dataset, "dataset").max(initial=0)),
        int(_labels(test_dataset, "test_dataset").max(initial=0)),
    )
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
        torch.manual_seed(0)
        for name, make in archs.items():
            try:
                if isinstance(make, str):  # as train_genotype builds it, with its defaults
                    size = {
                        **_CELL_DEFAULTS,
                        **{k: v for k, v in network_kwargs.items() if k in _CELL_DEFAULTS},
                    }
                    model = CellNetwork(make, **size)
                else:
                    model = make()
                if not isinstance(model, torch.nn.Module):
                    raise ProxydataTypeError(
                        f"an architecture factory must return an nn.Module, got {show(model)}"
                    )
                if not any(p.requires_grad for p in model.parameters()):
                    raise ProxydataValueError(f"architecture {name!r} has no trainable parameters")
                model = model.to(device).eval()
                out = model(x.to(device))
            except ProxydataError:
                raise
            except Exception as exc:  # torch's error about shapes, channels, kwargs: the user's to fix
                raise ProxydataValueError(
                    f"architecture {name!r} cannot run on the data's inputs of shape {tuple(x.shape[1:])} "
                    f"(network_kwargs={dict(network_kwargs)!r}): {type(exc).__name__}: {exc}"
                ) from None
            if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != x.shape[0]:
                got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise ProxydataValueError(
                    f"architecture {name!r} must return logits of shape (batch, classes), got {got}"
                )
            if out.shape[1] < needed:
                raise ProxydataValueError(
                    f"architecture {name!r} returns {out.shape[1]} logits, but the training or test "
                    f"labels go up to {needed - 1} (set num_classes={needed} in network_kwargs, or "
                    "give a factory with that many outputs)"
                )


def _number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_result(
    result: Mapping[str, Any], default_samples: int, *, custom: bool, default_steps: int = 0
) -> dict[str, Any]:
    """A run's result with ``test_acc`` a finite fraction in ``[0, 1]`` and the other fields numbers.

    ``test_loss``, ``cpu_seconds`` and ``seconds`` may be missing (NaN);
    ``train_samples`` defaults to ``default_samples``, ``sgd_steps`` to ``default_steps``.

    Raises
    ------
    ProxydataTypeError, ProxydataValueError
        Naming ``train_fn`` (when ``custom``) and the value.
    """
    who = "train_fn's result" if custom else "the training result"
    acc = result.get("test_acc")
    if not _number(acc):
        raise ProxydataTypeError(f"{who}: test_acc must be a real number in [0, 1], got {show(acc)}")
    acc = float(acc)
    if not math.isfinite(acc) or not 0.0 <= acc <= 1.0:
        raise ProxydataValueError(
            f"{who}: test_acc must be a finite fraction in [0, 1] (0.85, not 85), "
            f"got {show(result.get('test_acc'))}"
        )
    out: dict[str, Any] = {"test_acc": acc}
    for key in ("test_loss", "cpu_seconds", "seconds"):
        value = result.get(key, math.nan)
        if value is None:
            value = math.nan
        if not _number(value):
            raise ProxydataTypeError(f"{who}: {key} must be a real number, got {show(value)}")
        value = float(value)
        if key != "test_loss" and value < 0:
            raise ProxydataValueError(f"{who}: {key} must be >= 0, got {show(value)}")
        out[key] = value
    for key, default in (("train_samples", default_samples), ("sgd_steps", default_steps)):
        count = result.get(key, default)
        if isinstance(count, (bool, np.bool_)) or not isinstance(count, numbers.Integral) or count < 0:
            raise ProxydataValueError(f"{who}: {key} must be an integer >= 0, got {show(count)}")
        out[key] = int(count)
    return out
