"""GLISTER-ONLINE's greedy on logit-space gradients: the formulas of :mod:`.glister`.

Pure functions of tensors (no selector state), so the hand-computed checks and
the benchmark call them directly:

* :func:`logit_gradients` — ``g = softmax(z) − onehot(y)``, the cross-entropy's
  gradient w.r.t. the logits (= w.r.t. the last layer's bias);
* :func:`glister_val_gradient` — ``g_V(s)``, the validation gradient after the
  one-step update ``b ← b − η s``;
* :func:`glister_gains` — the Taylor gains ``η · g_i · g_V``;
* :func:`glister_greedy` — ``k`` picks of the largest gain, ``g_V`` updated after each.

The formulas, their source (Killamsetty et al., AAAI 2021; decile-team/cords)
and our choices are in ``docs/methods/glister.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .._validation import check_float, check_int, show
from ..exceptions import ProxydataValueError

__all__ = ["GlisterResult", "glister_gains", "glister_greedy", "glister_val_gradient", "logit_gradients"]


def logit_gradients(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``softmax(z) − onehot(y)`` row by row, in float64: the cross-entropy's gradient w.r.t. the logits.

    It is also the gradient of the sample's loss w.r.t. the last layer's bias.
    """
    g = torch.softmax(logits.to(torch.float64), dim=1)
    g[torch.arange(g.shape[0]), labels] -= 1.0
    return g


def glister_val_gradient(
    val_logits: torch.Tensor, val_labels: torch.Tensor, s: torch.Tensor, eta: float
) -> torch.Tensor:
    """``g_V(s) = (1/|V|) Σ_j [softmax(z_j − η s) − onehot(y_j)]`` (float64, shape ``(C,)``).

    The validation loss gradient (w.r.t. the last layer's bias) after the
    one-step update ``b ← b − η s``, computed directly (the reference the
    greedy's faster form is checked against).
    """
    return logit_gradients(val_logits.to(torch.float64) - eta * s, val_labels).mean(dim=0)


def glister_gains(train_grads: torch.Tensor, val_grad: torch.Tensor, eta: float) -> torch.Tensor:
    """GLISTER's Taylor gains ``gain(i) = η · g_i · g_V`` (float64, shape ``(n,)``).

    ``train_grads`` are the candidates' ``g_i`` (``(n, C)``), ``val_grad`` is ``g_V``.
    """
    return eta * (train_grads.to(torch.float64) @ val_grad.to(torch.float64))


@dataclass(frozen=True)
class GlisterResult:
    """What :func:`glister_greedy` picked.

    Attributes
    ----------
    order : np.ndarray of int64
        The picked candidates (rows of ``train_grads``) in the order picked.
    gains : np.ndarray of float64
        Each pick's gain ``η · g_i · g_V(s)`` when it was picked.
    """

    order: np.ndarray
    gains: np.ndarray


class _ValGradient:
    """``g_V(s)`` per pick in ``O(|V| C)`` without an exponential per validation sample.

    With ``P_j = softmax(z_j)`` and ``w = exp(−η (s − min s))``,
    ``softmax(z_j − η s) = P_j ⊙ w / (P_j · w)``, so
    ``g_V = w ⊙ (Pᵀ (1 / (P w))) / |V| − ȳ`` with ``ȳ`` the mean one-hot label.
    Falls back to the direct formula where ``P_j · w`` underflows.
    """

    def __init__(self, logits: torch.Tensor, labels: torch.Tensor, eta: float) -> None:
        self.logits = logits.to(torch.float64)
        self.labels = labels
        self.eta = eta
        self.p = torch.softmax(self.logits, dim=1)
        self.mean_onehot = (
            torch.bincount(labels, minlength=logits.shape[1]).to(torch.float64) / labels.numel()
        )

    def __call__(self, s: torch.Tensor) -> torch.Tensor:
        w = torch.exp(-self.eta * (s - s.min()))
        den = self.p @ w
        if bool((den > 0).all()) and bool(torch.isfinite(den).all()):
            return w * (self.p.T @ den.reciprocal()) / self.p.shape[0] - self.mean_onehot
        return glister_val_gradient(self.logits, self.labels, s, self.eta)


def glister_greedy(
    train_grads: torch.Tensor,
    val_logits: torch.Tensor,
    val_labels: torch.Tensor,
    budget: int,
    *,
    eta: float,
    tiebreak: np.ndarray | None = None,
) -> GlisterResult:
    """GLISTER-ONLINE's greedy with the Taylor gains on logit-space (last-layer bias) gradients.

    ``budget`` times: ``g_V = g_V(s)`` (:func:`glister_val_gradient`), pick the
    remaining candidate ``i`` of largest ``η · g_i · g_V``, ``s ← s + g_i``.

    Parameters
    ----------
    train_grads : tensor (n, C)
        ``g_i = softmax(z_i) − onehot(y_i)`` of the candidates.
    val_logits : tensor (m, C)
        Logits of the validation samples; ``val_labels`` (m,) their labels.
    budget : int in [1, n]
        ``k``, the number of picks.
    eta : float > 0
        ``η``, the step size of the one-step update.
    tiebreak : permutation of ``range(n)``, optional
        Among candidates of equal gain the one first in this order is picked;
        None: the lowest row.

    Returns
    -------
    GlisterResult
    """
    g = train_grads.detach().to(device="cpu", dtype=torch.float64)
    n = int(g.shape[0])
    check_int(budget, "budget", minimum=1, maximum=max(n, 1))
    eta = check_float(eta, "eta", strictly_positive=True)
    perm = np.arange(n) if tiebreak is None else np.asarray(tiebreak, dtype=np.int64)
    if perm.shape != (n,) or not np.array_equal(np.sort(perm), np.arange(n)):
        raise ProxydataValueError(f"tiebreak must be a permutation of range({n}), got {show(tiebreak)}")
    gp = g[torch.from_numpy(perm)].numpy()  # rows in tie-break order: argmax takes the first
    val_grad = _ValGradient(val_logits.detach().cpu(), val_labels.detach().cpu(), eta)
    s = np.zeros(gp.shape[1])
    taken = np.zeros(n)  # -inf once picked
    order = np.empty(budget, dtype=np.int64)
    gains = np.empty(budget)
    for t in range(budget):
        gv = val_grad(torch.from_numpy(s)).numpy()
        scores = gp @ gv
        scores += taken
        j = int(np.argmax(scores))
        order[t], gains[t] = perm[j], eta * scores[j]
        taken[j] = -np.inf
        s += gp[j]
    return GlisterResult(order=order, gains=gains)
