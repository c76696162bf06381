"""``main``: parse the command line, run the command, map its outcome to an exit status."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..exceptions import ProxydataError
from .demo_command import cmd_demo
from .parser import PROG, build_parser
from .rank_command import cmd_rank
from .search_command import cmd_search
from .select_command import cmd_select

__all__ = ["COMMANDS", "EXIT_BUG", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "main"]

EXIT_OK = 0
#: Not returned: an unexpected exception propagates, and Python exits with 1.
EXIT_BUG = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shell's convention

COMMANDS = {"select": cmd_select, "search": cmd_search, "demo": cmd_demo, "rank": cmd_rank}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``proxydata`` command line; return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        ``0`` on success (``--help`` and ``--version`` included).
        ``2`` for an error the user can fix — a bad argument, a missing or
        unreadable input file, an unwritable ``-o``, a device this machine does
        not have, a missing optional extra, bad data: one line
        ``proxydata: error: ...`` on stderr, no traceback. These are the
        :class:`~proxydata.ProxydataError` family; the command checks what it
        can before any work starts.
        ``130`` when interrupted (Ctrl-C).

    Raises
    ------
    Exception
        Anything else is a bug (in proxydata or below it) and propagates with its
        traceback; run as a command, Python then exits with status ``1``.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
        return COMMANDS[args.command](args)
    except SystemExit as exc:  # --help / --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ProxydataError as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
