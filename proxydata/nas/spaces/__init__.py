"""The search spaces of :mod:`proxydata.nas`, one sub-package each."""
