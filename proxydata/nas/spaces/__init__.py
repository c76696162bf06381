"""Search spaces of :mod:`proxydata.nas`, one sub-package per space.

- :mod:`proxydata.nas.spaces.darts` — the DARTS space (Liu et al., ICLR 2019): normal and
  reduction cells of 4 intermediate nodes and 14 edges, 8 candidate operations.
"""
