"""Old module paths of :mod:`proxydata.nas` moved into :mod:`proxydata.nas.spaces`: FutureWarning shims."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["moved"]


def moved(
    old: str, new: str, names: tuple[str, ...] | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the module ``old`` whose contents now live in ``new``.

    Reading a name of ``new`` (or only of ``names`` when given) through ``old``
    warns once per read with a ``FutureWarning`` naming the new path and returns
    the object of ``new``.
    """

    def __getattr__(name: str) -> Any:
        if name.startswith("__") or (names is not None and name not in names):
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        module = importlib.import_module(new)
        try:
            value = getattr(module, name)
        except AttributeError:
            raise AttributeError(f"module {old!r} has no attribute {name!r}") from None
        warnings.warn(
            f"{old}.{name} moved to {new}.{name}; the old path will be removed in a future release",
            FutureWarning,
            stacklevel=2,
        )
        return value

    def __dir__() -> list[str]:
        if names is not None:
            return sorted(names)
        return sorted(n for n in dir(importlib.import_module(new)) if not n.startswith("__"))

    return __getattr__, __dir__
