"""Importing an integration's framework: the module, or one ImportError that says what to install."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["import_optional"]


def import_optional(names: str | tuple[str, ...], hint: str) -> ModuleType:
    """The first module of ``names`` that imports (a dotted name, or alternatives in order of preference).

    Raises
    ------
    ImportError
        With the message ``hint`` (what to install), chained to the last module's
        own ImportError, when none of them imports.
    """
    failure: ImportError | None = None
    for name in (names,) if isinstance(names, str) else names:
        try:
            return importlib.import_module(name)
        except ImportError as exc:  # pragma: no cover - depends on what is installed
            failure = exc
    raise ImportError(hint) from failure
