"""One warning, once per process, when torch's CPU threads outnumber the cores this process may use.

Torch starts as many intra-op threads as the machine has cores, also when the
process may run on fewer of them (a CPU set of a container or a batch job, see
``os.sched_getaffinity``). The long CPU-bound builds of the library (AE's and
TL's training, feature extraction) then run their threads in turns, several
times slower, and far slower still when other processes share the cores. The
fix is one call before the build: ``torch.set_num_threads(n)`` with ``n`` at
most the cores the process may use (the user guide's *Threads* section).
"""

from __future__ import annotations

import os
import warnings

import torch

__all__ = ["available_cores", "warn_if_threads_oversubscribe"]

_warned = False


def available_cores() -> int | None:
    """The number of CPU cores this process may run on (``os.sched_getaffinity``); None where unknown."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    if getaffinity is None:  # pragma: no cover - macOS, Windows
        return None
    try:
        return len(getaffinity(0))
    except OSError:  # pragma: no cover - unusual platforms
        return None


def warn_if_threads_oversubscribe(what: str, device: torch.device | str = "cpu") -> bool:
    """Warn once (``RuntimeWarning``) if ``what`` runs on the CPU with more torch threads than cores.

    ``what`` names the build (``"AE training"``). Nothing is checked for another
    device. Returns whether this call warned; after the first warning of the
    process, no later call warns.
    """
    global _warned
    if _warned or torch.device(device).type != "cpu":
        return False
    cores, threads = available_cores(), torch.get_num_threads()
    if cores is None or threads <= cores:
        return False
    _warned = True
    warnings.warn(
        f"{what}: torch uses {threads} CPU threads but this process may run on {cores} cores "
        f"(os.sched_getaffinity), so the threads run in turns and the build is several times slower; "
        f"call torch.set_num_threads({cores}) (or fewer if other jobs share the cores) first. "
        "This warning is shown once per process.",
        RuntimeWarning,
        stacklevel=3,
    )
    return True
