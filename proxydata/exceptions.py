"""The exceptions proxydata raises on purpose.

Everything here derives from :class:`ProxydataError`, so a caller (the
``proxydata`` command included) can tell an error the user can fix — a bad
argument, bad data, a corrupt file, ranks that disagree — from a bug, which
keeps its own exception type and traceback.  Each class also derives from the
built-in exception a Python user would expect (``ValueError``, ``TypeError``,
``FileNotFoundError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "CorruptStateError",
    "ListenerError",
    "MissingWeightsError",
    "ProxydataError",
    "ProxydataTypeError",
    "ProxydataValueError",
    "RankFailedError",
    "RankMismatchError",
]


class ProxydataError(Exception):
    """Base of every error proxydata raises about its inputs (never about its own bugs)."""


class ProxydataValueError(ProxydataError, ValueError):
    """An argument or data value of the right kind but outside its domain; the message names both."""


class ProxydataTypeError(ProxydataError, TypeError):
    """An argument of the wrong kind; the message names the argument and the value received."""


class CorruptStateError(ProxydataValueError):
    """A saved proxy, a state dict or a file that fails validation; nothing was changed."""


class RankMismatchError(ProxydataValueError):
    """Distributed ranks were configured differently; raised on every rank, naming the fields."""


class RankFailedError(ProxydataError, RuntimeError):
    """Another rank of a distributed group failed or left mid-way; this rank stops too (never hangs).

    Work recorded so far is kept: run the same call again to resume.
    """


class MissingWeightsError(ProxydataError, FileNotFoundError, ValueError):
    """Pretrained weights that are not available locally (proxydata never downloads)."""


class ListenerError(ProxydataError, RuntimeError):
    """Listeners of a pruner raised after ``step()`` had completed the epoch.

    Every listener was called with the entry; the step itself is done (do not
    repeat it). ``epoch`` is the completed epoch, ``failures`` the
    ``(listener, exception)`` pairs and ``result`` what ``step()`` would have
    returned. The first listener's exception is the ``__cause__``.
    """

    def __init__(self, message: str, *, epoch: int, failures: list, result: object = None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.failures = failures
        self.result = result
