"""Deprecation helpers for the pruner's signature (keyword-only arguments since 0.2)."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from ..exceptions import ProxydataTypeError

__all__ = ["keyword_only_after"]

F = TypeVar("F", bound=Callable[..., Any])


def keyword_only_after(count: int, names: tuple[str, ...]) -> Callable[[F], F]:
    """Let ``names`` (now keyword-only) still be passed positionally, with a DeprecationWarning.

    ``count`` is the number of positional parameters after ``self``; ``names``
    the old positional order of the parameters that followed them.
    """

    def wrap(func: F) -> F:
        @functools.wraps(func)
        def inner(self: Any, *args: Any, **kwargs: Any) -> Any:
            extra = args[count:]
            if extra:
                if len(extra) > len(names):
                    raise ProxydataTypeError(
                        f"{type(self).__name__}() takes {count} positional arguments after self, "
                        f"got {len(args)}"
                    )
                passed = names[: len(extra)]
                for name in passed:
                    if name in kwargs:
                        raise ProxydataTypeError(f"{type(self).__name__}() got two values for {name!r}")
                warnings.warn(
                    f"passing {', '.join(passed)} positionally to {type(self).__name__}() is deprecated "
                    "and will stop working in the next release; pass them by keyword",
                    DeprecationWarning,
                    stacklevel=2,
                )
                kwargs.update(zip(passed, extra))
            return func(self, *args[:count], **kwargs)

        return inner  # type: ignore[return-value]

    return wrap
