"""Recording scores: EL2N of every observed batch into the ring buffer, and coverage.

:class:`ScoreRecorder` turns the logits a loop already has into EL2N
(:func:`proxydata.metrics.el2n`'s formula, from the wrong classes alone),
adds them to the running epoch of the :class:`~.score_buffer.ScoreBuffer` and
counts, on the host, how often this rank observed each sample in the epoch —
the input of the samplers' coverage guarantee. ``observe`` never waits for an
accelerator: on the CPU the logits are checked at once; elsewhere NaN/inf are
detected on the device and reported by the next ``step()``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._validation import show
from ..exceptions import ProxydataTypeError, ProxydataValueError
from ..metrics import EL2N_MAX, EL2N_TOLERANCE
from ..metrics import el2n_unchecked as el2n_from_logits
from .score_buffer import BufferState, ScoreBuffer
from .tracked import TrackedSet

__all__ = ["ScoreRecorder", "check_el2n", "check_logits", "el2n_slack"]


def el2n_slack(dtype: torch.dtype) -> float:
    """Relative rounding slack of EL2N values of ``dtype`` around ``[0, √2]``.

    :data:`~proxydata.metrics.EL2N_TOLERANCE`, or four units in the last place of
    a coarser float type (``float16``, ``bfloat16``).
    """
    return max(EL2N_TOLERANCE, 4.0 * torch.finfo(dtype).eps)


def check_el2n(el2n: object, rows: int) -> None:
    """Raise unless ``el2n`` is a 1-D float tensor of ``rows`` EL2N values: finite, in ``[0, √2]``.

    ``√2`` is :data:`~proxydata.metrics.EL2N_MAX`, the largest
    ``‖softmax(z) − onehot(y)‖₂``; values within :func:`el2n_slack` of the range
    are rounding and pass (they are clamped when recorded).
    """
    if not isinstance(el2n, torch.Tensor) or el2n.ndim != 1 or el2n.shape[0] != rows:
        raise ProxydataValueError(f"el2n must be a 1-D tensor of length {rows}, got {show(el2n)}")
    if not el2n.dtype.is_floating_point:
        raise ProxydataTypeError(f"el2n must be floating point, got dtype {el2n.dtype}")
    if not rows:
        return
    values = el2n.detach()
    if not bool(torch.isfinite(values).all()):
        raise ProxydataValueError("el2n must be finite, got NaN or inf; nothing was recorded from this call")
    low, high = (float(v) for v in torch.stack(torch.aminmax(values.to(torch.float64))).tolist())
    slack = EL2N_MAX * el2n_slack(el2n.dtype)
    if low < -slack or high > EL2N_MAX + slack:
        bad = low if low < -slack else high
        raise ProxydataValueError(
            f"el2n must hold EL2N values, which lie in [0, sqrt(2)] (‖softmax(z) − onehot(y)‖₂), "
            f"got {bad!r}; nothing was recorded from this call"
        )


def check_logits(logits: object, rows: int, num_classes: int) -> None:
    """Raise unless ``logits`` is a real float tensor of shape ``(rows, num_classes)``."""
    if not isinstance(logits, torch.Tensor):
        raise ProxydataTypeError(f"logits must be a torch.Tensor, got {type(logits).__name__}")
    if logits.ndim != 2:
        raise ProxydataValueError(f"logits must have shape (batch, classes), got {tuple(logits.shape)}")
    if not logits.dtype.is_floating_point:
        raise ProxydataTypeError(f"logits must be floating point, got dtype {logits.dtype}")
    if logits.device.type == "meta":
        raise ProxydataValueError("logits are on the 'meta' device and hold no values; pass real logits")
    if logits.shape[0] != rows:
        raise ProxydataValueError(
            f"logits must have one row per index ({rows}), got shape {tuple(logits.shape)}"
        )
    if logits.shape[1] != num_classes:
        raise ProxydataValueError(
            f"logits must have {num_classes} columns (one per class), got shape {tuple(logits.shape)}; "
            "pass num_classes= to the pruner if the model has classes the targets lack"
        )


class ScoreRecorder:
    """EL2N ring buffer of the tracked samples plus this rank's observation counts.

    Parameters
    ----------
    tracked : TrackedSet
    window : int
        ``T``.
    device : torch.device, optional
        Fixes the buffers' device; None takes the first logits' device.
    """

    def __init__(self, tracked: TrackedSet, window: int, device: torch.device | None) -> None:
        self.tracked = tracked
        self.fixed_device = device
        self.buffer = ScoreBuffer(len(tracked), window, device)
        self.host_counts = np.zeros(len(tracked), dtype=np.int32)

    # -- public views ------------------------------------------------------------------
    @property
    def allocated(self) -> bool:
        """Whether the buffers exist (they are made on the first observation)."""
        return self.buffer.ring is not None

    @property
    def device(self) -> torch.device | None:
        return self.buffer.device

    def nbytes(self) -> int:
        """Bytes held on the buffers' device."""
        return self.buffer.nbytes()

    def window(self) -> np.ndarray:
        """The ring, ``(T, n_tracked)`` float32 copy: row ``e % T`` = completed epoch ``e`` (0-based)."""
        ring = self.buffer.ring
        shape = (self.buffer.window, self.buffer.n)
        return np.full(shape, np.nan, np.float32) if ring is None else ring.detach().cpu().numpy().copy()

    def running(self) -> tuple[np.ndarray, np.ndarray]:
        """The running epoch's EL2N sums and observation counts per tracked sample (copies)."""
        cur = self.buffer.current
        if cur is None:
            zeros = np.zeros(self.buffer.n, np.float32)
            return zeros, zeros.copy()
        both = cur.detach().cpu().numpy()
        return both[0].copy(), both[1].copy()

    def observed_counts(self, indices: np.ndarray) -> np.ndarray:
        """How often this rank observed each of ``indices`` (tracked) in the running epoch."""
        return self.host_counts[self.tracked.positions(indices)]

    # -- recording ---------------------------------------------------------------------
    @staticmethod
    def defers_checks(device: torch.device) -> bool:
        """An eager finiteness check needs the value on the host: a sync on accelerators."""
        return device.type != "cpu"

    def add_logits(self, idx: np.ndarray, logits: torch.Tensor) -> None:
        """Record the EL2N of checked ``logits`` (one row per tracked index in ``idx``)."""
        device = logits.device
        eager = not self.defers_checks(device)
        with torch.no_grad():
            z = logits.detach()
            # A finite sum proves finite logits (NaN and ±inf propagate); only an overflowing
            # sum of finite logits needs the element-wise check.
            if (
                eager
                and not math.isfinite(z.sum(dtype=torch.float64).item())
                and not bool(torch.isfinite(z).all())
            ):
                raise ProxydataValueError(
                    "logits must be finite, got NaN or inf; nothing was recorded from this call"
                )
            buffer_device = self.buffer.ensure(self.fixed_device or device, fix=True)
            pos = self.tracked.pos[idx]
            labels, positions = self._to_devices(pos, device, buffer_device)
            e = el2n_from_logits(z, labels)
            ok = None if eager else torch.isfinite(z).all()
            if e.device != buffer_device:
                e = e.to(buffer_device)
                ok = None if ok is None else ok.to(buffer_device)
            self.buffer.add(positions, e, ok)
        self._count(pos)

    def add_el2n(self, idx: np.ndarray, el2n: torch.Tensor) -> None:
        """Record precomputed EL2N values (checked by :func:`check_el2n`) of the tracked ``idx``.

        Values within rounding of ``[0, √2]`` are clamped into it, so the window
        only ever holds EL2N values.
        """
        pos = self.tracked.positions(idx)
        with torch.no_grad():
            device = self.buffer.ensure(self.fixed_device or el2n.device, fix=True)
            positions = torch.from_numpy(pos).to(device)
            values = el2n.detach().to(device=device, dtype=torch.float32).clamp(0.0, EL2N_MAX)
            self.buffer.add(positions, values)
        self._count(pos)

    def _count(self, pos: np.ndarray) -> None:
        # Every occurrence counts: an index twice in one batch is two observations, as in
        # the buffer's counts (``index_add_``), which is what a state dict saves.
        self.host_counts[pos] += 1  # once per distinct position
        if pos.size > 1:
            ordered = np.sort(pos)
            repeats = ordered[1:][ordered[1:] == ordered[:-1]]
            if repeats.size:  # rare: np.add.at is several times slower than the line above
                np.add.at(self.host_counts, repeats, 1)

    def _to_devices(
        self, pos: np.ndarray, logits_device: torch.device, buffer_device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        lab = self.tracked.labels[pos]
        if logits_device.type == "cpu":
            labels = torch.from_numpy(lab)
        else:
            # One pinned host-to-device copy of (positions, labels): asynchronous, no sync.
            meta = torch.from_numpy(np.stack((pos, lab)))
            if logits_device.type == "cuda":
                meta = meta.pin_memory()
            meta = meta.to(logits_device, non_blocking=True)
            labels = meta[1]
            if buffer_device == logits_device:
                return labels, meta[0]
        positions = torch.from_numpy(pos)
        if buffer_device.type != "cpu":
            positions = positions.to(buffer_device)
        return labels, positions

    # -- end of epoch ------------------------------------------------------------------
    def close_epoch(self, distributed: bool) -> torch.Tensor:
        """The epoch's mean EL2N per tracked sample (NaN where unobserved), summed over ranks.

        Raises ``ProxydataValueError`` (once) when observe calls were dropped for
        NaN/inf logits on an accelerator; nothing changes then.
        """
        buf = self.buffer
        if buf.ring is None:
            buf.ensure(self.fixed_device or torch.device("cpu"), fix=self.fixed_device is not None)
        rejected = buf.take_rejected(distributed)
        if rejected:
            raise ProxydataValueError(
                f"{rejected} observe() call(s) since the last step() had NaN or inf logits on "
                f"{buf.device}; nothing was recorded from them (checked here to avoid a host "
                "synchronisation per batch). Call step() again to continue without them."
            )
        if distributed:
            buf.reduce_current()
        return buf.epoch_column()

    def voe(self, slot: int | None = None, column: torch.Tensor | None = None) -> np.ndarray:
        """VoE of every tracked sample (NaN: no VoE), optionally with ring row ``slot`` replaced."""
        if self.buffer.ring is None:
            return np.full(self.buffer.n, np.nan)
        return self.buffer.voe(slot, column)

    def commit(self, slot: int, column: torch.Tensor) -> None:
        """Fold the epoch into ring row ``slot`` and start a new epoch."""
        self.buffer.commit(slot, column)
        self.host_counts[:] = 0

    # -- persistence -------------------------------------------------------------------
    def state(self) -> dict[str, torch.Tensor | bool | int | None]:
        return self.buffer.state()

    def load(self, saved: BufferState) -> None:
        """Restore validated buffers; this rank's counts are taken from the running epoch's."""
        self.buffer.load(saved)
        counts = np.zeros(len(self.tracked), dtype=np.int32)
        if saved.current is not None:
            counts[:] = np.rint(saved.current[1].detach().cpu().numpy()).astype(np.int32)
        self.host_counts = counts
