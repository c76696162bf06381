"""``python -m proxydata.cli``: the ``proxydata`` command."""

import sys

from .command import main

sys.exit(main())
