"""Pure, vectorised scoring and geometry functions used by the samplers and the pruner.

Every function here is side-effect free. Each docstring states its formula; the
method pages in ``docs/methods/`` (``bdp.md`` for EL2N, VoE, the class balance
degree and the class-balance limit; ``km-or.md`` and ``cc-or.md`` for the
distances) derive them and cite the papers.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable
from typing import Any, overload

import numpy as np
import torch

from ._validation import as_int_array, check_fraction, check_int, check_labels
from .exceptions import ProxydataTypeError, ProxydataValueError

__all__ = [
    "EL2N_MAX",
    "EL2N_TOLERANCE",
    "NASLIB_K",
    "class_balance_degree",
    "class_counts",
    "class_means",
    "class_prune_limits",
    "distances_to_centroids",
    "distances_to_class_means",
    "el2n",
    "el2n_unchecked",
    "kendall_tau_b",
    "naslib_ranking_metrics",
    "ranking_agreement",
    "voe",
]

#: The largest EL2N: ``‖p − onehot(y)‖₂² = (1 − p_y)² + Σ_{j≠y} p_j² ≤ 2 (1 − p_y)² ≤ 2``, so
#: ``e ∈ [0, √2]``, the maximum reached when all probability lies on one wrong class.
EL2N_MAX = math.sqrt(2.0)
#: Relative slack for rounding when stored EL2N values are checked against ``[0, EL2N_MAX]``
#: (float32 arithmetic may land a few units in the last place above ``√2``).
EL2N_TOLERANCE = 1e-5


def el2n(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Error L2-norm of every sample.

    ``e_i = || softmax(f(x_i)) - onehot(y_i) ||_2`` (Paul et al., 2021; the
    per-epoch error used by BDP, Tu et al. 2023, Sec. 3.2).

    Parameters
    ----------
    logits : torch.Tensor of shape (n, K)
        Unnormalised class scores. Computed in float32 at least.
    targets : torch.Tensor of shape (n,)
        Integer class labels in ``[0, K)``, on any device (moved to the logits').

    Returns
    -------
    torch.Tensor of shape (n,)
        EL2N in ``[0, sqrt(2)]`` (:data:`EL2N_MAX`), on the logits' device, no
        gradient; empty for an empty batch (``n = 0``).

    Raises
    ------
    ProxydataTypeError
        If either argument is not a tensor or the targets are not integers.
    ProxydataValueError
        On shape mismatch, logits without a class column (``K = 0``),
        out-of-range labels or non-finite logits.
    """
    if not isinstance(logits, torch.Tensor):
        raise ProxydataTypeError(f"logits must be a torch.Tensor, got {type(logits).__name__}")
    if not isinstance(targets, torch.Tensor):
        raise ProxydataTypeError(f"targets must be a torch.Tensor, got {type(targets).__name__}")
    if logits.ndim != 2:
        raise ProxydataValueError(f"logits must have shape (n, K), got {tuple(logits.shape)}")
    if logits.shape[1] == 0:
        raise ProxydataValueError(
            f"logits must have at least one class column, got shape {tuple(logits.shape)}"
        )
    if targets.ndim != 1 or targets.shape[0] != logits.shape[0]:
        raise ProxydataValueError(f"targets must have shape ({logits.shape[0]},), got {tuple(targets.shape)}")
    if targets.dtype.is_floating_point or targets.dtype == torch.bool:
        raise ProxydataTypeError(f"targets must be an integer tensor, got dtype {targets.dtype}")
    with torch.no_grad():
        z = logits.detach()
        if not z.dtype.is_floating_point:
            raise ProxydataTypeError(f"logits must be floating point, got dtype {z.dtype}")
        if z.dtype in (torch.float16, torch.bfloat16):
            z = z.float()
        if not bool(torch.isfinite(z).all()):
            raise ProxydataValueError("logits must be finite, got NaN or inf")
        t = targets.to(device=z.device, dtype=torch.long)
        k = z.shape[1]
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= k):
            raise ProxydataValueError(f"targets must lie in [0, {k}), got values outside it")
        return el2n_unchecked(z, t)


def el2n_unchecked(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """EL2N per row, from the wrong classes alone: :func:`el2n` without its checks.

    For callers that validated ``logits`` (floating point, finite, 2-D) and
    ``targets`` (long, in range, on the logits' device) themselves, e.g. the
    pruner's hot path; the caller holds ``torch.no_grad``.

    With ``w_j = exp(z_j - max z)`` and ``s = sum_j w_j``: ``1 - p_y = sum_{j!=y} w_j / s``
    and ``||p - onehot(y)||^2 = (1 - p_y)^2 + sum_{j!=y} p_j^2``, so
    ``e = hypot(sum_{j!=y} w_j, ||w_{j!=y}||_2) / s``. The textbook expansion
    ``sqrt(||p||^2 - 2 p_y + 1)`` cancels in float32 for confident samples
    (it returns 0 for a true EL2N of 6e-5), and those are the low-VoE samples
    the pruner removes first.
    """
    z = logits if logits.dtype == torch.float64 else logits.float()
    w = (z - z.amax(dim=1, keepdim=True)).exp_()
    total = w.sum(dim=1)
    w.scatter_(1, targets.view(-1, 1), 0.0)
    return torch.hypot(w.sum(dim=1), torch.linalg.vector_norm(w, dim=1)) / total


@overload
def voe(history: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray: ...
@overload
def voe(history: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor: ...


def voe(history: Any, mask: Any = None) -> Any:
    """Variance of Error over a window of epochs.

    ``VoE_i = (1/T'_i) * sum_t (e_{i,t} - mean_i)^2`` over the ``T'_i`` epochs of
    the window in which sample ``i`` was observed (population variance; BDP,
    Tu et al. 2023, Sec. 3.2). Samples observed in fewer than two epochs get NaN:
    they have no VoE.

    Parameters
    ----------
    history : array or tensor of shape (n, T)
        EL2N per sample (row) and epoch (column) of the window.
    mask : bool array or tensor of shape (n, T), optional
        ``True`` where the sample was observed in that epoch. ``None`` means all
        observed. Unobserved entries of ``history`` are ignored (may hold anything).

    Returns
    -------
    array or tensor of shape (n,)
        Same type (numpy or torch) as ``history``; float64 for numpy.
    """
    is_numpy = isinstance(history, np.ndarray)
    if not is_numpy and not isinstance(history, torch.Tensor):
        raise ProxydataTypeError(
            f"history must be a numpy array or torch.Tensor, got {type(history).__name__}"
        )
    h = torch.from_numpy(np.asarray(history, dtype=np.float64)) if is_numpy else history
    if h.ndim != 2:
        raise ProxydataValueError(f"history must have shape (n, T), got {tuple(h.shape)}")
    if mask is None:
        m = torch.ones_like(h, dtype=torch.bool)
    else:
        m = torch.as_tensor(np.asarray(mask)) if isinstance(mask, np.ndarray) else mask
        if not isinstance(m, torch.Tensor):
            raise ProxydataTypeError(f"mask must be an array or tensor, got {type(mask).__name__}")
        if tuple(m.shape) != tuple(h.shape):
            raise ProxydataValueError(f"mask must have shape {tuple(h.shape)}, got {tuple(m.shape)}")
        m = m.to(device=h.device, dtype=torch.bool)
    h = h if h.dtype.is_floating_point else h.double()
    out = _voe_unchecked(h, m)
    return out.cpu().numpy() if is_numpy else out


def _voe_unchecked(h: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    w = m.to(h.dtype)
    count = w.sum(dim=1)
    safe = torch.where(m, h, torch.zeros((), dtype=h.dtype, device=h.device))
    mean = safe.sum(dim=1) / count.clamp_min(1)
    dev = (safe - mean[:, None]) * w
    var = (dev * dev).sum(dim=1) / count.clamp_min(1)
    return torch.where(count >= 2, var, torch.full_like(var, float("nan")))


def class_counts(labels: Any, num_classes: int | None = None, *, classes: Any = None) -> np.ndarray:
    """Number of samples of every class: ``n_c = |{i : y_i = c}|``.

    Parameters
    ----------
    labels : 1-D integer array, tensor or sequence
    num_classes : int, optional
        Count classes ``0..num_classes-1``; defaults to ``max(labels) + 1``.
    classes : 1-D integer array, optional
        Count exactly these class ids, in this order (e.g. ``np.unique`` of a
        dataset's labels, so that unused ids do not appear); excludes
        ``num_classes``. Labels outside ``classes`` are an error.

    Returns
    -------
    np.ndarray of int64, shape (num_classes,) or (len(classes),)
    """
    y = check_labels(labels, "labels")
    if classes is not None:
        if num_classes is not None:
            raise ProxydataValueError("give num_classes or classes, not both")
        ids = check_labels(classes, "classes")
        order = np.argsort(ids, kind="stable")
        pos = np.searchsorted(ids, y, sorter=order)
        pos = np.minimum(pos, max(ids.size - 1, 0))
        if y.size and (ids.size == 0 or not np.array_equal(ids[order][pos], y)):
            raise ProxydataValueError("classes must contain every label, got labels outside it")
        return np.bincount(order[pos], minlength=ids.size).astype(np.int64)
    if num_classes is None:
        k = int(y.max()) + 1 if y.size else 0
    else:
        k = check_int(num_classes, "num_classes", minimum=0)
        if y.size and int(y.max()) >= k:
            raise ProxydataValueError(f"num_classes must exceed the largest label {int(y.max())}, got {k}")
    return np.bincount(y, minlength=k).astype(np.int64)


def class_balance_degree(counts: Any) -> float:
    """Class balance degree of a split.

    ``B = 2 / (K (K - 1)) * sum_{i<j} min(n_i, n_j) / max(n_i, n_j)``
    (BDP, Tu et al. 2023, Sec. 3.3). ``B = 1`` for a balanced split and tends to
    0 as it becomes imbalanced. A pair involving an empty class contributes 0;
    with fewer than two classes the split is balanced by definition (``B = 1``).

    Every entry of ``counts`` is a class: pass the counts of the classes that
    belong to the problem (a class given by ``num_classes``, or present in the
    dataset) and leave out ids no sample uses — ``class_counts(y, classes=np.unique(y))``
    — or an unused id counts as an empty class.

    Parameters
    ----------
    counts : 1-D array of non-negative integers
        Samples per class ``n_1..n_K`` (classes of the problem, including empty ones).

    Returns
    -------
    float in [0, 1]
    """
    c = as_int_array(counts, "counts")
    if c.size and c.min() < 0:
        raise ProxydataValueError(f"counts must be non-negative, got minimum {int(c.min())}")
    k = c.size
    if k < 2:
        return 1.0
    s = np.sort(c).astype(np.float64)
    # For sorted counts the pair (i<j) has min = s_i and max = s_j.
    ratio = np.divide(s[:, None], s[None, :], out=np.zeros((k, k)), where=s[None, :] > 0)
    total = np.triu(ratio, k=1).sum()
    return float(2.0 * total / (k * (k - 1)))


def class_prune_limits(counts: Any, num_steps: int, balance: float | None = None) -> np.ndarray:
    """Per-class pruning limit of one step (the automatic class-balance limit).

    ``N_k = floor(n_k / S^(1 - B))`` where ``n_k`` is the class's current count,
    ``S`` BDP's ``E / T`` (epochs over the pruning interval; the pruner passes
    it, see its ``limit_steps``) and ``B`` the split's current
    :func:`class_balance_degree`. ``B = 1`` lets a class be pruned freely
    (``N_k = n_k``); ``B -> 0`` allows at most ``n_k / S`` per step.

    BDP (Tu et al. 2023, Sec. 3.2.4) describes this behaviour without giving the
    formula; this one is proxydata's own choice. The pruner takes any function of
    the same signature in its place.

    Parameters
    ----------
    counts : 1-D array of non-negative integers
    num_steps : int >= 1
        ``S``.
    balance : float in [0, 1], optional
        ``B``; computed from ``counts`` when omitted.

    Returns
    -------
    np.ndarray of int64, same shape as ``counts``
    """
    c = as_int_array(counts, "counts")
    if c.size and c.min() < 0:
        raise ProxydataValueError(f"counts must be non-negative, got minimum {int(c.min())}")
    s = check_int(num_steps, "num_steps", minimum=1)
    if balance is None:
        b = class_balance_degree(c)
    else:
        b = check_fraction(balance, "balance")
    divisor = float(s) ** (1.0 - b)
    # A relative epsilon keeps exact quotients (e.g. 6 / 2.0) from flooring down.
    return np.floor(c / divisor * (1.0 + 1e-12)).astype(np.int64)


def distances_to_centroids(
    x: Any,
    centroids: Any,
    assignments: Any = None,
    *,
    batch_size: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distance of every sample to its (nearest or given) centroid.

    ``d_i = || x_i - c_{a_i} ||_2`` with ``a_i = argmin_k || x_i - c_k ||_2``
    unless ``assignments`` are given. The nearest centroid is searched in float32
    with the expansion ``|x|^2 - 2 x.c + |c|^2``; the returned distance is then
    recomputed exactly in float64 from the difference vector, in batches, so no
    float64 copy of ``x`` is ever held.

    Parameters
    ----------
    x : array or tensor of shape (n, d)
    centroids : array or tensor of shape (k, d)
    assignments : 1-D integer array of length n, optional
    batch_size : int
        Rows processed at a time.

    Returns
    -------
    distances : np.ndarray of float64, shape (n,)
    assignments : np.ndarray of int64, shape (n,)
    """
    xt = _as_float_tensor(x, "x")
    ct = _as_float_tensor(centroids, "centroids")
    if xt.ndim != 2 or ct.ndim != 2:
        raise ProxydataValueError(f"x and centroids must be 2-D, got {tuple(xt.shape)} and {tuple(ct.shape)}")
    if xt.shape[1] != ct.shape[1]:
        raise ProxydataValueError(f"centroids must have {xt.shape[1]} columns, got {ct.shape[1]}")
    if ct.shape[0] == 0:
        raise ProxydataValueError("centroids must not be empty")
    if not bool(torch.isfinite(ct).all()):
        raise ProxydataValueError("centroids must be finite, got NaN or inf values")
    bs = check_int(batch_size, "batch_size", minimum=1)
    n = xt.shape[0]
    given = None
    if assignments is not None:
        given = as_int_array(assignments, "assignments")
        if given.shape[0] != n:
            raise ProxydataValueError(f"assignments must have length {n}, got {given.shape[0]}")
        if given.size and (given.min() < 0 or given.max() >= ct.shape[0]):
            raise ProxydataValueError(f"assignments must lie in [0, {ct.shape[0]})")
    dist = np.empty(n, dtype=np.float64)
    assign = np.empty(n, dtype=np.int64)
    c32 = ct.float()
    c64 = ct.double()
    c_sq = (c32 * c32).sum(dim=1)
    with torch.no_grad():
        for start in range(0, n, bs):
            xb = xt[start : start + bs]
            if given is None:
                xb32 = xb.float()
                scores = c_sq[None, :] - 2.0 * xb32 @ c32.T
                a = scores.argmin(dim=1)
            else:
                a = torch.from_numpy(given[start : start + bs])
            diff = xb.double() - c64[a]
            dist[start : start + bs] = diff.norm(dim=1).numpy()
            assign[start : start + bs] = a.numpy()
    return dist, assign


def _as_float_tensor(value: Any, name: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu()
    elif isinstance(value, np.ndarray):
        with warnings.catch_warnings():
            # Read-only arrays (np.load, memmaps) are fine: nothing here writes into them.
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            t = torch.from_numpy(value)
    else:
        raise ProxydataTypeError(f"{name} must be a numpy array or torch.Tensor, got {type(value).__name__}")
    if not (t.dtype.is_floating_point or t.dtype in (torch.uint8, torch.int32, torch.int64)):
        raise ProxydataTypeError(f"{name} must be numeric, got dtype {t.dtype}")
    if not t.dtype.is_floating_point:
        t = t.float()
    return t


def class_means(
    batches: Iterable[torch.Tensor | np.ndarray], labels: np.ndarray, num_classes: int
) -> np.ndarray:
    """``mu_c = (1/n_c) sum_{y_i = c} x_i`` for every class, accumulated in float64.

    ``batches`` yields consecutive blocks of rows of the feature matrix (in
    dataset order, together covering ``labels``, dense codes ``0..num_classes-1``).
    Every block is converted to float64 a slice of at most ``CLASS_BLOCK``
    rows at a time and added to its classes' sums (a sparse 0/1 class matrix
    times the slice), so memory holds one small float64 slice and the cost does
    not grow with the number of classes. Empty classes get a zero mean.

    Returns
    -------
    np.ndarray of float64, shape (num_classes, d)

    Raises
    ------
    ValueError
        If a row holds NaN or inf (it would turn its whole class's mean into NaN).
    """
    import scipy.sparse

    num_classes = check_int(num_classes, "num_classes", minimum=1)
    y = _codes(labels, num_classes, "labels")
    sums: np.ndarray | None = None
    buf: np.ndarray | None = None
    start = 0
    for block in batches:
        rows = _finite_rows(block, start)
        b = rows.shape[0]
        flat = rows.reshape(b, -1)
        if start + b > y.shape[0]:
            raise ProxydataValueError(f"features must have {y.shape[0]} rows, got more")
        if sums is not None and flat.shape[1] != sums.shape[1]:
            raise ProxydataValueError(
                f"feature blocks must share one width, got {sums.shape[1]} and {flat.shape[1]} "
                f"(at row {start})"
            )
        if sums is None or buf is None:
            sums = np.zeros((num_classes, flat.shape[1]), dtype=np.float64)
            buf = np.empty((CLASS_BLOCK, flat.shape[1]), dtype=np.float64)
        for s in range(0, b, CLASS_BLOCK):
            part = flat[s : s + CLASS_BLOCK]
            m = part.shape[0]
            wide = buf[:m]
            wide[...] = part
            codes = y[start + s : start + s + m]
            # A (classes x m) 0/1 matrix times the slice: each row added once, in float64,
            # single-threaded (a threaded index_add stalls on a busy machine).
            members = np.argsort(codes, kind="stable")
            indptr = np.zeros(num_classes + 1, dtype=np.int64)
            np.cumsum(np.bincount(codes, minlength=num_classes), out=indptr[1:])
            onehot = scipy.sparse.csr_matrix((np.ones(m), members, indptr), shape=(num_classes, m))
            sums += onehot @ wide
        start += b
    if sums is None or start != y.shape[0]:
        raise ProxydataValueError(f"features must have {y.shape[0]} rows, got {start}")
    counts = np.maximum(np.bincount(y, minlength=num_classes), 1)
    return sums / counts[:, None]


def distances_to_class_means(
    batches: Iterable[torch.Tensor | np.ndarray], labels: np.ndarray, means: np.ndarray
) -> np.ndarray:
    """``d_i = ||x_i - mu_{y_i}||_2`` in float64, one block of rows at a time.

    ``batches`` yields consecutive blocks of rows of the feature matrix, as in
    :func:`class_means` (``labels`` may equally be k-means assignments and
    ``means`` the centroids). Plain numpy (single-threaded), in float64 slices of
    at most ``CLASS_BLOCK`` rows: the work is memory-bound.

    Returns
    -------
    np.ndarray of float64, shape (n,)
    """
    mu = np.ascontiguousarray(means, dtype=np.float64)
    if mu.ndim != 2 or mu.shape[0] == 0:
        raise ProxydataValueError(f"means must be a non-empty 2-D array, got shape {mu.shape}")
    if not np.isfinite(mu).all():
        raise ProxydataValueError("means must be finite")
    y = _codes(labels, mu.shape[0], "labels")
    out = np.empty(y.shape[0], dtype=np.float64)
    diff = np.empty((CLASS_BLOCK, mu.shape[1]), dtype=np.float64)
    gathered = np.empty_like(diff)
    start = 0
    for block in batches:
        rows = block.numpy() if isinstance(block, torch.Tensor) else np.asarray(block)
        rows = rows.reshape(rows.shape[0], -1)
        stop = start + rows.shape[0]
        if rows.shape[1] != mu.shape[1]:
            raise ProxydataValueError(
                f"features must have {mu.shape[1]} columns (the means'), got {rows.shape[1]} (at row {start})"
            )
        if stop > y.shape[0]:
            raise ProxydataValueError(f"features must have {y.shape[0]} rows, got more")
        for s in range(0, rows.shape[0], CLASS_BLOCK):
            part = rows[s : s + CLASS_BLOCK]
            b = part.shape[0]
            np.take(mu, y[start + s : start + s + b], axis=0, out=gathered[:b])
            np.subtract(part, gathered[:b], out=diff[:b])
            out[start + s : start + s + b] = np.einsum("ij,ij->i", diff[:b], diff[:b])
        if not np.isfinite(out[start:stop]).all():
            _finite_rows(rows, start)  # raises, naming the first non-finite sample
        start = stop
    if start != y.shape[0]:
        raise ProxydataValueError(f"features must have {y.shape[0]} rows, got {start}")
    return np.sqrt(out, out=out)


def _codes(labels: Any, k: int, name: str) -> np.ndarray:
    """``labels`` as contiguous int64 codes in ``[0, k)``, or raise naming ``name``."""
    y = np.ascontiguousarray(as_int_array(labels, name), dtype=np.int64)
    if y.size and (y.min() < 0 or y.max() >= k):
        bad = int(y.min()) if y.min() < 0 else int(y.max())
        raise ProxydataValueError(f"{name} must be codes in [0, {k}), got {bad}")
    return y


#: Rows converted to float64 at a time by :func:`class_means` and
#: :func:`distances_to_class_means` (2 MB of float64 for 1,024 features).
CLASS_BLOCK = 256


def _finite_rows(block: torch.Tensor | np.ndarray, start: int) -> np.ndarray:
    """``block`` as a numpy array, checked finite (a cheap sum first, the exact test only if it fails)."""
    rows = block.numpy() if isinstance(block, torch.Tensor) else np.asarray(block)
    if rows.dtype.kind == "f" and not np.isfinite(rows.sum()) and not np.isfinite(rows).all():
        bad = start + int(np.flatnonzero(~np.isfinite(rows).all(axis=tuple(range(1, rows.ndim))))[0])
        raise ProxydataValueError(f"features must be finite, got NaN or inf values (first at sample {bad})")
    return rows


def _finite_scores(values: Any, name: str) -> np.ndarray:
    """``values`` as a 1-D float64 array of finite numbers, or raise naming ``name``.

    Accepts a list, tuple, range, numpy array or tensor (any real dtype,
    bfloat16 included) of real numbers; refuses strings, bytes, mappings, sets
    (no order), bools and complex numbers, and numbers beyond float64's range.
    """
    if isinstance(values, torch.Tensor):
        t = values.detach().cpu()
        if t.is_complex() or t.dtype == torch.bool:
            raise ProxydataTypeError(f"{name} must contain real numbers, got a {t.dtype} tensor")
        values = t.double().numpy() if t.is_floating_point() else t.numpy()
    if not isinstance(values, (np.ndarray, list, tuple, range)):
        raise ProxydataTypeError(
            f"{name} must be a 1-D list, tuple, array or tensor of real numbers, got {type(values).__name__}"
        )
    if not isinstance(values, np.ndarray) and any(
        isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Real, np.number)) for v in values
    ):
        bad = next(
            v
            for v in values
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Real, np.number))
        )
        if isinstance(bad, (list, tuple, np.ndarray, torch.Tensor)):
            raise ProxydataValueError(f"{name} must be 1-D, got a nested {type(bad).__name__}")
        raise ProxydataTypeError(
            f"{name} must contain real numbers only, got {type(bad).__name__} {bad!r:.40}"
        )
    raw = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    if raw.dtype.kind not in "iufO" or raw.dtype == bool:
        raise ProxydataTypeError(f"{name} must contain real numbers, got dtype {raw.dtype}")
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except OverflowError:
        raise ProxydataValueError(f"{name} must be finite, got a number beyond float64's range") from None
    except (TypeError, ValueError):
        raise ProxydataTypeError(f"{name} must contain real numbers only") from None
    if arr.ndim != 1:
        raise ProxydataValueError(f"{name} must be 1-D, got shape {tuple(arr.shape)}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ProxydataValueError(f"{name} must be finite, got {arr[bad[0]]} at position {int(bad[0])}")
    return arr


def _top_k(scores: np.ndarray, k: int) -> set[int]:
    """Positions of the ``k`` highest scores; ties broken by position (the earlier item first)."""
    order = np.lexsort((np.arange(scores.size), -scores))
    return set(order[:k].tolist())


def kendall_tau_b(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b of two equal-length 1-D float arrays, without a p-value.

    ``tau_b = (P - Q) / sqrt((n0 - T_a)(n0 - T_b))`` with ``P - Q = sum_{i<j}
    sign(a_i - a_j) sign(b_i - b_j)``, ``n0 = n(n-1)/2`` and ``T_a``/``T_b`` the
    pairs tied in ``a``/``b`` — the statistic of
    ``scipy.stats.kendalltau(a, b, variant="b")`` (tested equal), computed on the
    ``n x n`` sign matrices so that a bootstrap of thousands of resamples of a few
    hundred items stays fast. NaN when either input is constant. Inputs are not
    checked (see :func:`ranking_agreement` for the checked entry point).
    """
    n = a.shape[0]
    upper = np.triu(np.ones((n, n), dtype=bool), k=1)
    sa = np.sign(a[:, None] - a[None, :])[upper]
    sb = np.sign(b[:, None] - b[None, :])[upper]
    untied_a, untied_b = np.count_nonzero(sa), np.count_nonzero(sb)
    if untied_a == 0 or untied_b == 0:
        return float("nan")
    return float(np.dot(sa, sb) / math.sqrt(untied_a * untied_b))


def ranking_agreement(scores_a: Any, scores_b: Any, *, top_k: int = 10) -> dict[str, float]:
    """How well two scorings of the same items agree on their order.

    Used to judge a data selection: ``scores_a`` are the accuracies the
    architectures reach with full data (or a ground truth), ``scores_b`` those
    they reach with the selection, item ``i`` being the same architecture in both.

    - Kendall's tau-b (ties handled as :func:`scipy.stats.kendalltau` does):
      ``tau_b = (P - Q) / sqrt((P + Q + T_a) (P + Q + T_b))`` with ``P``/``Q`` the
      concordant/discordant pairs and ``T_a``/``T_b`` the pairs tied in only one
      of the scorings;
    - Spearman's rho (:func:`scipy.stats.spearmanr`): Pearson's correlation of the
      ranks, ties given their average rank;
    - their two-sided p-values against "no association";
    - ``top_k_overlap = |top_k(a) ∩ top_k(b)| / k``: the share of the ``k`` best
      items by ``a`` that are also among the ``k`` best by ``b`` (ties broken by
      position, so the value is deterministic);
    - NASLib's ranking metrics (White et al., 2021, "How powerful are
      performance predictors in NAS?", Sec. 3) at ``k = 5`` and ``k = 10``
      (:data:`NASLIB_K`), see :func:`naslib_ranking_metrics`:
      ``precision_at_k`` (the same share at that fixed ``k``) and
      ``tau_top_k``, Kendall's tau-b over the ``k`` best items by ``a`` only;
      NaN when ``k > n``.

    Parameters
    ----------
    scores_a, scores_b : 1-D sequences of finite numbers, same length ``n >= 3``
        Higher is better.
    top_k : int
        ``1 <= top_k <= n``.

    Returns
    -------
    dict
        ``kendall_tau``, ``kendall_p``, ``spearman``, ``spearman_p``,
        ``top_k_overlap``, ``precision_at_5``, ``precision_at_10``,
        ``tau_top_5``, ``tau_top_10`` (floats) and ``top_k``, ``n`` (ints). A
        constant scoring has no order: its correlations and p-values are NaN.

    Raises
    ------
    ProxydataValueError
        On different lengths, fewer than 3 items, NaN or infinite scores, or
        ``top_k`` outside ``[1, n]``.
    ProxydataTypeError
        If a scoring is not a sequence of numbers or ``top_k`` not an integer.

    Examples
    --------
    >>> r = ranking_agreement([1, 2, 3, 4], [1, 2, 4, 3], top_k=2)
    >>> round(r["kendall_tau"], 4), r["top_k_overlap"]
    (0.6667, 1.0)
    """
    from scipy import stats

    a = _finite_scores(scores_a, "scores_a")
    b = _finite_scores(scores_b, "scores_b")
    if a.size != b.size:
        raise ProxydataValueError(
            f"scores_a and scores_b must have the same length, got {a.size} and {b.size}"
        )
    if a.size < 3:
        raise ProxydataValueError(f"scores_a and scores_b need at least 3 items, got {a.size}")
    k = check_int(top_k, "top_k", minimum=1, maximum=int(a.size))
    with warnings.catch_warnings():  # a constant input: scipy warns and returns NaN, as documented
        warnings.simplefilter("ignore")
        tau = stats.kendalltau(a, b, variant="b")
        rho = stats.spearmanr(a, b)
    return {
        "kendall_tau": float(tau.statistic),
        "kendall_p": float(tau.pvalue),
        "spearman": float(rho.statistic),
        "spearman_p": float(rho.pvalue),
        "top_k_overlap": len(_top_k(a, k) & _top_k(b, k)) / k,
        **naslib_ranking_metrics(a, b),
        "top_k": k,
        "n": int(a.size),
    }


#: The ``k`` of NASLib's precision@k and top-k Kendall tau reported by :func:`ranking_agreement`.
NASLIB_K: tuple[int, ...] = (5, 10)


def naslib_ranking_metrics(
    scores_a: np.ndarray, scores_b: np.ndarray, ks: tuple[int, ...] = NASLIB_K
) -> dict[str, float]:
    """Precision@k and Kendall's tau within ``scores_a``'s top k, for each ``k`` of ``ks``.

    White et al. (2021, Sec. 3), as NASLib reports them for performance predictors:

    - ``precision_at_k = |top_k(a) ∩ top_k(b)| / k``;
    - ``tau_top_k``: Kendall's tau-b of ``a`` and ``b`` over the items of
      ``top_k(a)`` only (how well ``b`` orders the ``k`` best items by ``a``).

    ``top_k`` breaks ties by position (the earlier item first), so the values are
    deterministic. Both are NaN when ``k`` exceeds the number of items, and
    ``tau_top_k`` is NaN when either scoring is constant over those items.

    Parameters
    ----------
    scores_a, scores_b : 1-D float arrays of the same length
        Finite; higher is better (``scores_a`` the reference).
    ks : tuple of int

    Returns
    -------
    dict
        ``precision_at_<k>`` and ``tau_top_<k>`` for every ``k``.

    Examples
    --------
    >>> m = naslib_ranking_metrics(np.arange(6.0), np.array([0, 1, 2, 3, 5, 4.0]), ks=(2, 3))
    >>> m["precision_at_2"], round(m["tau_top_3"], 4)
    (1.0, 0.3333)
    """
    a = np.asarray(scores_a, dtype=np.float64)
    b = np.asarray(scores_b, dtype=np.float64)
    out: dict[str, float] = {}
    for k in ks:
        if k > a.size:
            out[f"precision_at_{k}"] = out[f"tau_top_{k}"] = float("nan")
            continue
        top_a = _top_k(a, k)
        out[f"precision_at_{k}"] = len(top_a & _top_k(b, k)) / k
        pick = np.array(sorted(top_a))
        out[f"tau_top_{k}"] = kendall_tau_b(a[pick], b[pick]) if k >= 2 else float("nan")
    return out
