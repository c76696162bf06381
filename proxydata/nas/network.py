"""Deprecated path: moved to :mod:`proxydata.nas.spaces.nb201.network` (reading a name here warns)."""

from ._moved import moved

__getattr__, __dir__ = moved(__name__, "proxydata.nas.spaces.nb201.network")
