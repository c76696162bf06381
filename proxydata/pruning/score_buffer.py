"""The EL2N ring buffer behind :class:`~proxydata.BiLevelPruner`.

Memory layout (``n`` tracked samples, window ``T`` epochs):

* ``ring`` — ``(T, n)`` float32: the per-epoch mean EL2N of every sample for
  the last ``T`` completed epochs, ``NaN`` where the sample was not observed in
  that epoch. Row ``e % T`` holds completed epoch ``e`` (0-based), so one epoch
  is one contiguous row (cheap to write, cheap to scan).
* ``current`` — ``(2, n)`` float32: row 0 the running epoch's EL2N sum of every
  sample, row 1 its number of observations. Several observations of a sample in
  one epoch are averaged (``sum / count``) when the epoch is folded into the
  ring. One tensor, so that ranks sum it with a single ``all_reduce``.
* ``rejected`` — one int64 on the buffer's device: ``observe`` calls whose
  logits held NaN/inf on a device where checking them eagerly would
  synchronise the host (their contribution was masked to zero).

Total: ``4·n·T`` bytes for the ring plus ``8·n`` bytes for ``current`` (and a
cached row of ones as long as the largest batch); a pruning step briefly needs
a float64 copy of the window (``8·n·T`` bytes). Every buffer lives on one
device, the device of the first logits observed unless one was fixed in advance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from ..metrics import voe

__all__ = ["BufferState", "ScoreBuffer"]


@dataclass(frozen=True)
class BufferState:
    """A :class:`ScoreBuffer`'s saved contents, already validated (:mod:`proxydata.pruning.state`).

    ``ring`` and ``current`` are None when nothing was recorded; ``rejected`` counts
    the running epoch's calls dropped for NaN/inf logits, ``deferred`` those whose
    check was deferred, ``reduced`` whether the running epoch was summed across ranks.
    """

    ring: torch.Tensor | None
    current: torch.Tensor | None
    rejected: torch.Tensor | None
    reduced: bool
    deferred: int = 0


class ScoreBuffer:
    """Per-epoch EL2N of ``n`` samples over a window of ``window`` epochs.

    Parameters
    ----------
    n : int
        Number of tracked samples (positions ``0..n-1``).
    window : int
        ``T``, the number of epochs the ring keeps.
    device : torch.device, optional
        Fixes the buffers' device now. ``None`` allocates them lazily on the
        device of the first observation.
    """

    def __init__(self, n: int, window: int, device: torch.device | None = None) -> None:
        self.n = int(n)
        self.window = int(window)
        self._ones = torch.ones(0, dtype=torch.float32)
        self.ring: torch.Tensor | None = None
        self.current: torch.Tensor | None = None
        self.rejected: torch.Tensor | None = None
        # True once the device is settled (given, or taken from an observation);
        # buffers restored from a state dict before that wait on the CPU.
        self.device_fixed = device is not None
        # True when ``current`` already holds the sum over all ranks (a step that
        # failed after the reduction must not reduce a second time on retry).
        self.reduced = False
        # add() calls of the running epoch with a deferred check (``ok`` given): a host
        # count, the bound of ``rejected`` that a loaded state is checked against.
        self.deferred = 0
        if device is not None:
            self._allocate(device)

    # -- allocation --------------------------------------------------------------
    def _allocate(self, device: torch.device) -> None:
        self.ring = torch.full((self.window, self.n), float("nan"), dtype=torch.float32, device=device)
        self.current = torch.zeros((2, self.n), dtype=torch.float32, device=device)
        self.rejected = torch.zeros((), dtype=torch.int64, device=device)
        self._ones = torch.ones(0, dtype=torch.float32, device=device)
        self._rows()

    def _rows(self) -> None:
        # Views made once: index_add_ into a ready view is several times cheaper than cur[0].
        self._sum, self._count = self.current[0], self.current[1]  # type: ignore[index]

    @property
    def device(self) -> torch.device | None:
        """Device of the buffers (None before they exist)."""
        return None if self.ring is None else self.ring.device

    def ensure(self, device: torch.device, fix: bool = True) -> torch.device:
        """Allocate (or move unsettled buffers) to ``device``; ``fix`` settles the device."""
        if self.ring is None:
            self._allocate(device)
        elif not self.device_fixed and self.ring.device != device:
            self.ring = self.ring.to(device)
            self.current = self.current.to(device)  # type: ignore[union-attr]
            self.rejected = self.rejected.to(device)  # type: ignore[union-attr]
            self._ones = self._ones.to(device)
            self._rows()
        self.device_fixed = self.device_fixed or fix
        return self.ring.device  # type: ignore[union-attr]

    def nbytes(self) -> int:
        """Bytes held by the buffers."""
        total = 0
        for t in (self.ring, self.current, self.rejected):
            if t is not None:
                total += t.element_size() * t.numel()
        return total

    # -- recording ---------------------------------------------------------------
    def add(self, positions: torch.Tensor, el2n: torch.Tensor, ok: torch.Tensor | None = None) -> None:
        """Add one batch of EL2N values at ``positions`` to the running epoch.

        ``ok`` (a 0-d bool tensor) masks the whole batch: when False nothing is
        recorded and ``rejected`` grows by one. No host synchronisation.
        """
        cur = self.current
        assert cur is not None  # allocated by ensure()
        b = el2n.shape[0]
        if self._ones.shape[0] < b:  # a cached row of ones: no allocation per call
            self._ones = torch.ones(max(b, 2 * self._ones.shape[0]), dtype=torch.float32, device=cur.device)
        values, counts = el2n.to(torch.float32), self._ones[:b]
        if ok is not None:
            self.deferred += 1
            okf = ok.to(torch.float32)
            values = torch.where(ok, values, torch.zeros((), dtype=torch.float32, device=cur.device))
            counts = counts * okf
            self.rejected.add_((~ok).to(torch.int64))  # type: ignore[union-attr]
        self._sum.index_add_(0, positions, values)
        self._count.index_add_(0, positions, counts)

    # -- end of epoch ----------------------------------------------------------
    def take_rejected(self, distributed: bool) -> int:
        """Number of masked calls since the last epoch (summed over ranks); resets it."""
        rej = self.rejected
        assert rej is not None
        if distributed and not self.reduced:
            dist.all_reduce(rej, op=dist.ReduceOp.SUM)
        count = int(rej.item())
        rej.zero_()
        return count

    def reduce_current(self) -> None:
        """Sum the running epoch's buffers over all ranks (once per epoch)."""
        if not self.reduced:
            dist.all_reduce(self.current, op=dist.ReduceOp.SUM)  # type: ignore[arg-type]
            self.reduced = True

    def epoch_column(self) -> torch.Tensor:
        """The running epoch's mean EL2N per sample, NaN where unobserved."""
        cur = self.current
        assert cur is not None
        total, count = cur[0], cur[1]
        return torch.where(count > 0, total / count.clamp_min(1.0), torch.full_like(total, float("nan")))

    def commit(self, slot: int, column: torch.Tensor) -> None:
        """Write ``column`` into ring row ``slot`` and start a new epoch."""
        self.ring[slot].copy_(column)  # type: ignore[index]
        self.current.zero_()  # type: ignore[union-attr]
        self.reduced = False
        self.deferred = 0

    def voe(self, slot: int | None = None, column: torch.Tensor | None = None) -> np.ndarray:
        """VoE of every sample over the ring (with row ``slot`` replaced by ``column``).

        :func:`proxydata.metrics.voe` of the window, in float64:
        ``VoE_i = (1/T'_i) Σ_t (e_{i,t} − ē_i)²`` over the ``T'_i`` rows where
        sample ``i`` has a value; NaN when ``T'_i < 2``.

        Returns
        -------
        np.ndarray of float64, shape (n,)
        """
        ring = self.ring
        assert ring is not None
        window = ring.to(torch.float64, copy=True).T  # (n, T): a float64 copy, one column per epoch
        if slot is not None and column is not None:
            window[:, slot] = column.to(torch.float64)
        seen = ~torch.isnan(window)
        return voe(window, seen).cpu().numpy()

    # -- persistence -------------------------------------------------------------
    def state(self) -> dict[str, torch.Tensor | bool | int | None]:
        """CPU copies of the buffers (None before allocation), ``deferred`` and ``reduced``."""

        def cpu(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.detach().to("cpu", copy=True)

        return {
            "ring": cpu(self.ring),
            "current": cpu(self.current),
            "rejected": cpu(self.rejected),
            "deferred": self.deferred,
            "reduced": self.reduced,
        }

    def load(self, saved: BufferState) -> None:
        """Restore buffers (already validated) onto the settled device, else the CPU."""
        ring, current, rejected = saved.ring, saved.current, saved.rejected
        settled = self.ring.device if (self.device_fixed and self.ring is not None) else None
        self.reduced = False
        self.deferred = int(saved.deferred)
        if ring is None:
            # Nothing was recorded in the saved run: fresh buffers (where settled) or none yet.
            self.ring = self.current = self.rejected = None
            if settled is not None:
                self._allocate(settled)
            return
        device = settled if settled is not None else torch.device("cpu")
        self.ring = ring.to(device=device, dtype=torch.float32, copy=True)
        self.current = current.to(device=device, dtype=torch.float32, copy=True)  # type: ignore[union-attr]
        rej = torch.zeros((), dtype=torch.int64) if rejected is None else rejected
        self.rejected = rej.to(device=device, dtype=torch.int64, copy=True).reshape(())
        self._ones = torch.ones(0, dtype=torch.float32, device=device)
        self._rows()
        self.reduced = bool(saved.reduced)
