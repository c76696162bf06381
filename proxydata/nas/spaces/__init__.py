"""Search spaces of :mod:`proxydata.nas`, one sub-package per space.

- :mod:`proxydata.nas.spaces.darts` — the DARTS space (Liu et al., ICLR 2019): normal and
  reduction cells of 4 intermediate nodes and 14 edges, 8 candidate operations.
- :mod:`proxydata.nas.spaces.mobilenet` — the MobileNet-like chain of BDP's Table 6 (ProxylessNAS
  style): 21 layers, each an MBConv (kernel 3/5/7, expansion 3/6) or a skip where shapes match.
"""
