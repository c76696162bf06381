"""The score a pruning step ranks samples by: VoE (BDP) or mean EL2N (Paul et al.).

Both are computed from the window of the last ``T`` epochs that the
:class:`~proxydata.pruning.ScoreRecorder` keeps, one per-epoch mean EL2N per
sample and epoch (NaN where the sample was not observed in that epoch):

* ``"voe"`` — :func:`proxydata.metrics.voe`, the population variance of the
  sample's values in the window; none below two observed epochs (BDP, Tu et al.
  2023, Sec. 3.2);
* ``"el2n"`` — :func:`mean_el2n`, their mean over the ``T'`` observed epochs,
  ``(1/T') Σ_t e_t``; none when the sample was observed in no epoch of the
  window. This is the EL2N score of Paul et al. ("Deep Learning on a Data Diet",
  NeurIPS 2021), averaged over the epochs of one run instead of over runs.
"""

from __future__ import annotations

import numpy as np
import torch

from .recorder import ScoreRecorder

__all__ = ["mean_el2n", "window_scores"]


def mean_el2n(window: np.ndarray) -> np.ndarray:
    """Mean EL2N of every sample over a window, in float64.

    ``EL2N_i = (1/T'_i) Σ_t e_{i,t}`` over the ``T'_i`` epochs (rows) in which
    sample ``i`` has a value; NaN where ``T'_i = 0``.

    Parameters
    ----------
    window : np.ndarray of shape (T, n)
        Per-epoch mean EL2N, one row per epoch, NaN where unobserved.

    Returns
    -------
    np.ndarray of float64, shape (n,)

    Examples
    --------
    >>> mean_el2n(np.array([[0.25, np.nan, np.nan], [0.75, 0.5, np.nan]])).tolist()
    [0.5, 0.5, nan]
    """
    w = np.asarray(window, dtype=np.float64)
    seen = ~np.isnan(w)
    count = seen.sum(axis=0)
    total = np.where(seen, w, 0.0).sum(axis=0)
    out = np.full(w.shape[1], np.nan)
    np.divide(total, count, out=out, where=count > 0)
    return out


def window_scores(score: str, recorder: ScoreRecorder, slot: int, column: torch.Tensor) -> np.ndarray:
    """Score of every tracked sample over the window with ring row ``slot`` replaced by ``column``.

    ``score`` is ``"voe"`` or ``"el2n"``; ``recorder`` gives the window (its
    ``voe`` and ``window`` views). NaN marks a sample without a score; it is
    never pruned.
    """
    if score == "voe":
        return recorder.voe(slot, column)
    window = recorder.window().astype(np.float64)
    window[slot] = column.detach().to("cpu", torch.float64).numpy()
    return mean_el2n(window)
