"""The ``proxydata`` command: select a proxy, run a search, run the demo.

``proxydata select METHOD --data SRC --ratio R``
    Choose a static proxy (RS, CC-RS, KM-OR, CC-OR, AE, TL), print what it kept
    and save it with :meth:`ProxySampler.save`.
``proxydata search --data SRC --algo darts-v1 [--proxy M --ratio R] [--bdp]``
    One NAS-Bench-201 search (see :func:`proxydata.experiment.run_search`),
    optionally scored by a benchmark table and/or by training the found cell.
``proxydata demo``
    Full data, a CC-OR proxy and the bi-level pruner side by side on
    scikit-learn's digits (see :mod:`proxydata.demo`).

Exit status: ``0`` success; ``2`` an error the user can fix (one line
``proxydata: error: ...`` on stderr, checked before any work where it can be);
``1`` an unexpected error, a bug, shown with its traceback; ``130`` interrupted.
See :func:`main`.

Modules: :mod:`.parser` (the options), :mod:`.options` (proxy-method options),
:mod:`.checks` (up-front checks), one module per command, :mod:`.command`
(``main``).
"""

from .checks import UsageError
from .command import main
from .parser import build_parser

__all__ = ["UsageError", "build_parser", "main"]
