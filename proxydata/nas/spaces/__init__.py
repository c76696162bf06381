"""The search spaces of :mod:`proxydata.nas`, one sub-package each.

- :mod:`proxydata.nas.spaces.nb201` — the NAS-Bench-201 cell (Dong & Yang, ICLR 2020):
  its supernets, the cell trained from scratch, the benchmark table;
- :mod:`proxydata.nas.spaces.darts` — the DARTS space (Liu et al., ICLR 2019): normal and
  reduction cells of 14 edges and 8 operations;
- :mod:`proxydata.nas.spaces.mobilenet` — the MobileNet-like chain of BDP's Table 6 (ProxylessNAS
  style): 21 layers, each an MBConv (kernel 3/5/7, expansion 3/6) or a skip where shapes match.

Every space's search network subclasses :class:`~proxydata.nas.supernet.Supernet`, so the
algorithms of :func:`~proxydata.nas.search` run on any of them.
"""

#: The spaces by name (``Supernet.space``).
SPACES: tuple[str, ...] = ("nb201", "darts", "mobilenet")

__all__ = ["SPACES"]
