"""Up-front checks of the command line: everything a user can get wrong is refused
before any work starts, as a :class:`UsageError` (one line, exit status 2).

Each check looks only at what the user named (a file, a folder, a device, an
optional extra) and converts the few exceptions that reading it can raise; it
never wraps library code, so a bug elsewhere keeps its traceback.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import tempfile
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .._validation import check_int
from ..exceptions import ProxydataValueError
from ..nas.spaces.nb201.table import TABLE_ENV

__all__ = [
    "SOURCE_FORMS",
    "UsageError",
    "check_device_available",
    "check_int_flags",
    "check_output",
    "check_resnet18_cache",
    "check_run_inputs",
    "check_source",
    "check_table",
    "check_weights_file",
    "require_module",
]

SOURCE_FORMS = "'digits', 'npz:PATH', 'cifar10:ROOT' or 'cifar100:ROOT'"


class UsageError(ProxydataValueError):
    """A bad command line (argument, file, device, missing extra); one line, exit status 2."""


def check_output(path: str | None, *, flag: str = "-o", suffixes: tuple[str, ...] = ()) -> None:
    """Refuse an output path that cannot be written, before the work that fills it.

    A probe file is created and removed in the target's directory, so a
    read-only file system or a directory without write permission is caught
    even when ``os.access`` would say yes (as it does for root).
    """
    if path is None:
        return
    if suffixes and not path.endswith(suffixes):
        raise UsageError(f"{flag} must end in {' or '.join(suffixes)}, got {path!r}")
    target = os.path.abspath(path)
    parent = os.path.dirname(target)
    if os.path.isdir(target):
        raise UsageError(f"{flag} {path!r} is a directory, not a file")
    if not os.path.exists(parent):
        raise UsageError(f"{flag} {path!r}: directory {parent!r} does not exist")
    if not os.path.isdir(parent):
        raise UsageError(f"{flag} {path!r}: {parent!r} is not a directory")
    if os.path.exists(target) and not os.access(target, os.W_OK):
        raise UsageError(f"{flag} {path!r}: the file exists and is not writable")
    try:
        handle, probe = tempfile.mkstemp(dir=parent, prefix=".proxydata-write-test-")
    except OSError as exc:
        raise UsageError(f"{flag} {path!r}: cannot write in {parent!r} ({exc.strerror})") from None
    os.close(handle)
    os.remove(probe)


def check_device_available(text: str | None, flag: str) -> None:
    """Refuse a device string torch cannot parse or a device this machine does not have."""
    if text is None:
        return
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise UsageError(f"{flag} {text!r} is not a device (e.g. cpu, cuda, cuda:1, mps)") from None
    if device.type == "cpu":
        return
    backend = getattr(torch, device.type, None)
    is_available = getattr(backend, "is_available", None)
    if device.type == "mps":
        is_available = torch.backends.mps.is_available
    if is_available is None or not is_available():
        raise UsageError(
            f"{flag} {text}: no {device.type} device is available on this machine; use {flag} cpu"
        )
    count = getattr(backend, "device_count", None)
    if device.index is not None and callable(count) and device.index >= count():
        raise UsageError(f"{flag} {text}: this machine has {count()} {device.type} device(s)")


def check_weights_file(path: str, flag: str = "--weights-path") -> None:
    """Refuse a weights file that is missing or is not a torch ``state_dict``.

    The file is read with ``torch.load(weights_only=True)``: no code in it runs.
    """
    if not os.path.isfile(path):
        raise UsageError(f"{flag}: no such file {path!r}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile) as exc:
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise UsageError(f"{flag} {path!r} is not a torch state_dict file ({reason})") from None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UsageError(f"{flag} {path!r} holds a {type(state).__name__}, not a state_dict of tensors")


def check_int_flags(args: Any, minimums: Mapping[str, int]) -> None:
    """Refuse an integer flag below its minimum: ``minimums`` maps each flag (``"--batch-size"``) to it.

    The value is read from the flag's ``argparse`` destination (``batch_size``).
    """
    for flag, minimum in minimums.items():
        check_int(getattr(args, flag.lstrip("-").replace("-", "_")), flag, minimum=minimum)


def check_resnet18_cache(weights_flag: str = "--weights-path", backbone_flag: str = "--backbone") -> None:
    """Refuse TL's default backbone when its ImageNet weights are not in torch.hub's local cache.

    The same condition the sampler raises :class:`~proxydata.MissingWeightsError`
    for, checked before any work and worded with the command line's flags.
    """
    from ..samplers.losses import resnet18_weights_file

    path = resnet18_weights_file()
    if not os.path.isfile(path):
        raise UsageError(
            f"TL's default backbone (ResNet-18) needs torchvision's ImageNet weights, which are not "
            f"available locally (looked for {path!r}; proxydata never downloads them): pass "
            f"{weights_flag} FILE (a ResNet-18 state_dict), copy the file there, or pass "
            f"{backbone_flag} scratch to train a small CNN from scratch instead"
        )


def require_module(module: str, extra: str, what: str) -> None:
    """Refuse an option that needs an optional extra which is not installed."""
    if importlib.util.find_spec(module) is None:
        raise UsageError(f"{what} needs {module}, which is not installed: pip install 'proxydata[{extra}]'")


def check_source(spec: str, download: bool = False) -> None:
    """Refuse a ``--data`` source that is malformed or names a missing file or folder."""
    kind, _, rest = spec.partition(":")
    if spec == "digits":
        return
    if kind == "npz" and rest:
        _check_npz(spec, rest)
        return
    if kind in ("cifar10", "cifar100") and rest:
        require_module("torchvision", "vision", f"--data {kind}:ROOT")
        if not download and not os.path.isdir(rest):
            raise UsageError(
                f"--data {spec}: no folder {rest!r} (pass --download to let torchvision fetch it)"
            )
        return
    raise UsageError(f"--data must be {SOURCE_FORMS}, got {spec!r}")


def _check_npz(spec: str, path: str) -> None:
    if not os.path.isfile(path):
        raise UsageError(f"--data {spec}: no such file {path!r}")
    try:
        archive: Any = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise UsageError(f"--data {spec}: not an npz archive ({reason})") from None
    if not hasattr(archive, "files"):
        raise UsageError(f"--data {spec}: a single .npy array, not an npz archive with x_train/y_train")
    with archive:
        missing = sorted({"x_train", "y_train"} - set(archive.files))
        if missing:
            raise UsageError(f"--data {spec}: the archive lacks {missing}; it has {sorted(archive.files)}")


def check_table(path: str | None) -> str | None:
    """The NAS-Bench-201 table file to use (``--table``, else ``$PROXYDATA_NB201_TABLE``), checked."""
    if path is None:
        path = os.environ.get(TABLE_ENV) or None
        flag = f"${TABLE_ENV}"
    else:
        flag = "--table"
    if path is not None and not os.path.isfile(path):
        raise UsageError(f"{flag}: no such file {path!r}")
    return path


def check_run_inputs(args: Any, *, output_suffixes: tuple[str, ...] = ()) -> str | None:
    """What every command that trains on a data source checks last: ``-o``, ``--device``, ``--data``.

    Returns the table's path (``--table``, else the environment's, see
    :func:`check_table`), or None.
    """
    check_output(args.output, suffixes=output_suffixes)
    check_device_available(args.device, "--device")
    check_source(args.data, args.download)
    return check_table(args.table)
