"""k-means with one API over three backends: proxydata's own chunked Lloyd, faiss and scikit-learn.

Every run starts from the same seeded initial centroids (k-means++ seeding
computed here) and is given the same number of Lloyd iterations. The final
assignments, distances and objective are computed by one shared pass whatever
backend ran, and the result records the backend and device that ran.

The ``"numpy"`` and ``"faiss"`` backends share one implementation of Lloyd's
algorithm that reads the features a chunk of rows at a time
(:class:`~proxydata.features.FeatureMatrix`: in memory, memory-mapped, or
standardised on the fly), so clustering never copies the matrix; they differ in
who finds the nearest centroids: numpy's BLAS on the CPU, or a faiss flat index
(on the CPU, one GPU, or every GPU of the node). It skips the points that
provably keep their centroid (Hamerly, 2010), which changes no assignment.
"""

from __future__ import annotations

import importlib
import math
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ._validation import check_bool, check_choice, check_device, check_int, check_seed
from .exceptions import ProxydataTypeError, ProxydataValueError
from .features import FeatureMatrix
from .metrics import distances_to_class_means

__all__ = ["KMeansResult", "auto_backend", "faiss_available", "faiss_gpus", "kmeans", "kmeans_plusplus"]

BACKENDS = ("auto", "numpy", "faiss", "sklearn")
INITS = ("k-means++", "random")
# k-means++ seeding looks at a random sample of at most this many points per
# cluster: seeding is inherently sequential (K passes over the data), and a
# sample keeps it well below the cost of the Lloyd iterations.
INIT_POINTS_PER_CLUSTER = 64


@dataclass
class KMeansResult:
    """Outcome of :func:`kmeans`.

    Attributes
    ----------
    centroids : np.ndarray of float32, shape (k, d)
    assignments : np.ndarray of int64, shape (n,)
        Index of every sample's nearest centroid.
    distances : np.ndarray of float64, shape (n,)
        Euclidean distance of every sample to its nearest centroid.
    objective : float
        ``sum_i distances_i ** 2`` (the k-means inertia).
    backend : str
        ``"numpy"``, ``"faiss"`` or ``"sklearn"``.
    device : str
        ``"cpu"``, or the faiss GPUs ``"cuda:<i>"`` (``"cuda:0,1,..."`` for several).
    n_iter : int
        Lloyd iterations asked for (scikit-learn stops earlier on convergence).
    seconds : float
        Wall time of the whole call.
    """

    centroids: np.ndarray
    assignments: np.ndarray
    distances: np.ndarray
    objective: float
    backend: str
    device: str
    n_iter: int
    seconds: float


def faiss_available() -> bool:
    """Whether ``import faiss`` succeeds."""
    try:
        importlib.import_module("faiss")
    except ImportError:
        return False
    return True


def faiss_gpus() -> int:
    """How many GPUs faiss can use (0 without faiss, without a faiss GPU build, or without a GPU)."""
    try:
        faiss = importlib.import_module("faiss")
    except ImportError:
        return 0
    return int(faiss.get_num_gpus()) if hasattr(faiss, "get_num_gpus") else 0


def auto_backend(device: str | torch.device | None = None) -> str:
    """The backend ``backend="auto"`` runs: ``"faiss"`` where faiss has a GPU to use, else ``"numpy"``.

    faiss is chosen when faiss sees a GPU and ``device`` is None or a CUDA
    device. On the CPU the library's own Lloyd runs (``"numpy"``): measured
    side by side on the same machine (``benchmarks/results/static_samplers.md``)
    it was faster than faiss's CPU index, whose bundled BLAS is slower than
    numpy's, at every size, dimension and thread count we tried, and it streams
    memory-mapped features. The rule depends only on what is installed and
    visible, never on a timing, so the same machine always clusters the same way.
    """
    dev = None if device is None else check_device(device)
    if (dev is None or dev.type == "cuda") and faiss_gpus() > 0:
        return "faiss"
    return "numpy"


def kmeans(
    x: Any,
    n_clusters: int,
    *,
    backend: str = "auto",
    seed: int = 0,
    n_iter: int = 25,
    n_init: int = 1,
    init: str | np.ndarray = "k-means++",
    device: str | torch.device | None = None,
    copy_x: bool = True,
    progress: bool = True,
) -> KMeansResult:
    """Cluster the rows of ``x`` into ``n_clusters`` groups with Lloyd's k-means.

    Minimises ``sum_i min_k ||x_i - c_k||^2``. Every run starts from
    :func:`kmeans_plusplus` seeding (Arthur & Vassilvitskii, 2007) on a random
    sample of at most ``64 * n_clusters`` rows (or ``init``), then performs
    ``n_iter`` Lloyd iterations (assign every point to its nearest centroid,
    move every centroid to its points' mean) and a last assignment:

    * ``"numpy"`` — proxydata's Lloyd, reading ``x`` a chunk of rows at a time
      (a memory-mapped or standardised :class:`~proxydata.features.FeatureMatrix`
      is never copied); nearest centroids by a float32 matrix product on numpy's
      BLAS. Points whose centroid provably cannot change are skipped with
      Hamerly's bounds (an upper bound on the distance to the own centroid, a
      lower bound on the second nearest, moved by how far the centroids move;
      bounds carry a margin for float32 rounding, so a doubtful point is always
      recomputed). Stops early once no assignment changes (the centroids would
      not move). An empty cluster is re-seeded by splitting the most populated
      one (its centroid perturbed by ``±1/1024`` per coordinate, as faiss does).
    * ``"faiss"`` — the same Lloyd, with a faiss exact L2 index finding the
      nearest centroids: ``IndexFlatL2`` on the CPU, or on GPUs
      (``faiss.index_cpu_to_gpu`` for one, ``faiss.index_cpu_to_all_gpus`` for
      every GPU of the node, the chunk of rows split among them).
    * ``"sklearn"`` — ``sklearn.cluster.KMeans(algorithm="lloyd", tol=0)`` on
      the whole matrix, held in memory (a memory-mapped or standardised input is
      materialised first); CPU only.
    * ``"auto"`` — :func:`auto_backend`: faiss where it has a GPU, else numpy.

    With ``n_init > 1`` the run is repeated from differently seeded starts and
    the one of lowest objective is returned.

    Parameters
    ----------
    x : array, memmap, tensor of shape (n, d), or FeatureMatrix
        Features; read as float32 a chunk at a time (never copied whole, except
        by the scikit-learn backend).
    n_clusters : int
        ``K``, in ``[1, n]``.
    backend : {"auto", "numpy", "faiss", "sklearn"}
    seed : int
        Seeds the initialisation.
    n_iter : int
        Lloyd iterations.
    n_init : int
        Independent runs; the best objective wins.
    init : {"k-means++", "random"} or array of shape (n_clusters, d)
        ``"random"`` picks ``K`` distinct rows uniformly.
    device : str or torch.device, optional
        For faiss: ``None`` uses every GPU faiss sees (else the CPU), ``"cpu"``
        the CPU, ``"cuda"`` every GPU, ``"cuda:i"`` GPU ``i``; a GPU request
        without a faiss GPU build, or for the numpy or scikit-learn backend,
        warns and runs on the CPU.
    copy_x : bool
        ``False`` lets scikit-learn centre an in-memory float32 ``x`` in place
        and restore it afterwards (values may change by float rounding) instead
        of holding a copy.
    progress : bool
        Show a tqdm progress bar over the iterations.

    Returns
    -------
    KMeansResult

    Raises
    ------
    ValueError
        If ``n_clusters > n``, ``x`` is empty or not finite, or an argument is
        out of its domain.
    ImportError
        If ``backend="faiss"`` and faiss is not installed.
    """
    start = time.perf_counter()
    matrix = _as_matrix(x)
    n, d = matrix.shape
    k = check_int(n_clusters, "n_clusters", minimum=1)
    if k > n:
        raise ProxydataValueError(f"n_clusters must be <= the number of samples n={n}, got {k}")
    name = check_choice(backend, "backend", BACKENDS)
    seed = check_seed(seed)
    iters = check_int(n_iter, "n_iter", minimum=1)
    runs = check_int(n_init, "n_init", minimum=1)
    copy_x = check_bool(copy_x, "copy_x")
    progress = check_bool(progress, "progress")
    init_array = _check_init(init, k, d)
    dev = None if device is None else check_device(device)
    if not matrix.standardized:  # a standardised matrix was checked by its moments pass
        matrix.check_finite("x")

    name, faiss, gpus = _resolve_backend(name, dev)
    where = "cpu" if not gpus else "cuda:" + ",".join(str(g) for g in gpus)
    best: KMeansResult | None = None
    seeds = np.random.SeedSequence(seed).spawn(runs)
    for run in range(runs):
        rng = np.random.default_rng(seeds[run])
        if init_array is not None:
            start_centroids = init_array
        elif init == "random":
            start_centroids = matrix.take(np.sort(rng.choice(n, size=k, replace=False)))
        else:
            start_centroids = kmeans_plusplus(matrix, k, seed=rng)
        run_seed = int(rng.integers(0, 2**31 - 1))
        label = f"k-means ({name}, K={k}, run {run + 1}/{runs})"
        search = _FaissSearch(faiss, d, gpus) if name == "faiss" else _BlasSearch()
        if name == "sklearn":
            centroids = _sklearn_lloyd(matrix, start_centroids, iters, run_seed, copy_x)
            assign = _assign_all(matrix, centroids, search)
        else:
            centroids, assign = _lloyd(matrix, start_centroids, iters, search, label, progress)
        dist = distances_to_class_means(
            (block for _, block in matrix.chunks()), assign, centroids.astype(np.float64)
        )
        objective = float(np.dot(dist, dist))
        if best is None or objective < best.objective:
            best = KMeansResult(centroids, assign, dist, objective, name, where, iters, 0.0)
    assert best is not None
    best.seconds = time.perf_counter() - start
    return best


def kmeans_plusplus(x: Any, n_clusters: int, *, seed: int | np.random.Generator = 0) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii, 2007) on a random sample of the rows.

    The first centroid is a uniformly drawn row; every next one is drawn with
    probability ``D(x)^2 / sum D^2``, ``D(x)`` being the distance to the nearest
    centroid chosen so far. Only a seeded random sample of
    ``min(n, 64 * n_clusters)`` rows takes part (read from ``x``, which may be
    memory-mapped or a standardised :class:`~proxydata.features.FeatureMatrix`).
    Where fewer distinct rows than clusters remain (duplicates), the rest are
    drawn uniformly among unchosen rows.

    Returns
    -------
    np.ndarray of float32, shape (n_clusters, d)
    """
    if isinstance(x, FeatureMatrix):
        matrix = x
    elif isinstance(x, np.ndarray) and x.ndim == 2:
        matrix = FeatureMatrix(x)
    else:
        raise ProxydataTypeError(f"x must be a 2-D numpy array or FeatureMatrix, got {type(x).__name__}")
    n = matrix.n
    k = check_int(n_clusters, "n_clusters", minimum=1, maximum=n)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(check_seed(seed))
    m = min(n, INIT_POINTS_PER_CLUSTER * k)
    rows = np.arange(n) if m == n else np.sort(rng.choice(n, size=m, replace=False))
    sample = torch.from_numpy(matrix.take(rows))
    sq_norms = torch.empty(m, dtype=torch.float64)
    for start in range(0, m, 256):  # small blocks: no float64 copy of the sample
        block = sample[start : start + 256].double()
        sq_norms[start : start + 256] = (block * block).sum(dim=1)
    chosen = np.empty(k, dtype=np.int64)
    chosen[0] = rng.integers(m)
    best = torch.full((m,), math.inf, dtype=torch.float64)
    with torch.no_grad():
        for j in range(k):
            if j > 0:
                weights = best.numpy()
                total = weights.sum()
                if total > 0:
                    cdf = np.cumsum(weights)
                    pick = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
                    chosen[j] = min(pick, m - 1)
                else:
                    free = np.setdiff1d(np.arange(m), chosen[:j])
                    chosen[j] = free[rng.integers(free.size)]
            c = sample[chosen[j]]
            # ||s - c||^2 = |s|^2 - 2 s.c + |c|^2, clamped: rounding may dip below 0.
            d2 = (sq_norms - 2.0 * (sample @ c).double() + sq_norms[chosen[j]]).clamp_min_(0.0)
            torch.minimum(best, d2, out=best)
            best[torch.from_numpy(chosen[: j + 1])] = 0.0
    return sample[chosen].numpy().copy()


# -- Lloyd's algorithm over chunks, with Hamerly's bounds ---------------------------------

#: Relative margin on squared distances from a float32 search: a bound is moved
#: by ``BOUND_SLACK * (|x|^2 + max_k |c_k|^2)`` so that float32 rounding of the
#: matrix product can never make a point look safer than it is.
BOUND_SLACK = 1e-4
#: faiss's perturbation when it splits a cluster to re-seed an empty one.
SPLIT_EPS = 1.0 / 1024.0


class _BlasSearch:
    """Nearest and second-nearest centroid by a float32 matrix product on numpy's BLAS."""

    def set_centroids(self, centroids: np.ndarray) -> None:
        self.centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        self.sq = np.einsum("ij,ij->i", self.centroids, self.centroids)

    def nearest2(self, rows: np.ndarray, rows_sq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Index of the nearest centroid and the squared distances to the nearest and second nearest."""
        scores = rows @ self.centroids.T
        scores *= -2.0
        scores += self.sq
        b = np.arange(rows.shape[0])
        first = scores.argmin(axis=1)
        d1 = scores[b, first].astype(np.float64)
        if scores.shape[1] == 1:
            d2 = np.full(rows.shape[0], np.inf)
        else:
            scores[b, first] = np.inf
            d2 = scores.min(axis=1).astype(np.float64)
        return first.astype(np.int64), d1 + rows_sq, d2 + rows_sq


class _FaissSearch:
    """Nearest and second-nearest centroid from a faiss exact L2 index (CPU, one GPU, or all GPUs)."""

    def __init__(self, faiss: Any, d: int, gpus: list[int] | None) -> None:
        self.faiss, self.d = faiss, d
        index = faiss.IndexFlatL2(d)
        if not gpus:
            self.index = index
        elif len(gpus) == 1:  # pragma: no cover - needs faiss-gpu and a GPU
            self.resources = faiss.StandardGpuResources()
            self.index = faiss.index_cpu_to_gpu(self.resources, gpus[0], index)
        elif len(gpus) == int(faiss.get_num_gpus()):  # pragma: no cover - needs several GPUs
            # Every GPU of the node holds the centroids; a search splits its rows among them.
            self.index = faiss.index_cpu_to_all_gpus(index)
        else:  # pragma: no cover - needs faiss-gpu and several GPUs
            self.index = faiss.index_cpu_to_gpus_list(index, gpus=gpus)

    def set_centroids(self, centroids: np.ndarray) -> None:
        self.index.reset()
        self.index.add(np.ascontiguousarray(centroids, dtype=np.float32))
        self.k = int(centroids.shape[0])

    def nearest2(self, rows: np.ndarray, rows_sq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        dist, idx = self.index.search(np.ascontiguousarray(rows, dtype=np.float32), min(2, self.k))
        d1 = dist[:, 0].astype(np.float64)
        d2 = dist[:, 1].astype(np.float64) if self.k > 1 else np.full(rows.shape[0], np.inf)
        return idx[:, 0].astype(np.int64), d1, d2


def _bounds(d1: np.ndarray, d2: np.ndarray, slack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper bound on the nearest distance and lower bound on the second nearest, from squared distances."""
    upper = np.sqrt(np.maximum(d1, 0.0) + slack)
    lower = np.sqrt(np.maximum(d2 - slack, 0.0))
    return upper, lower


def _lloyd(
    matrix: FeatureMatrix,
    init: np.ndarray,
    n_iter: int,
    search: Any,
    label: str,
    progress: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """``n_iter`` Lloyd iterations from ``init`` and a final assignment: (centroids, assignments).

    State per point (O(n)): its centroid ``a``, ``|x|^2``, an upper bound ``u``
    on ``||x - c_a||`` and a lower bound ``l`` on its distance to every other
    centroid. After centroid ``k`` moves by ``delta_k``, ``u += delta_a`` and
    ``l -= max_{j != a} delta_j``; a point with ``u <= max(l, s_a)``, where
    ``s_a`` is half the distance from ``c_a`` to its nearest other centroid,
    keeps ``a`` (triangle inequality) and is not read. The others get ``u``
    recomputed exactly and, if still above the bound, a full nearest-centroid
    search. Cluster sums (float64) follow the points that change centroid.
    """
    from tqdm.auto import tqdm

    n, d = matrix.shape
    k = init.shape[0]
    centroids = np.array(init, dtype=np.float64)
    assign = np.empty(n, dtype=np.int64)
    x_sq = np.empty(n, dtype=np.float64)
    upper = np.empty(n, dtype=np.float64)
    lower = np.empty(n, dtype=np.float64)
    sums = torch.zeros((k, d), dtype=torch.float64)
    counts = np.zeros(k, dtype=np.int64)

    # First assignment: every point, one pass over the chunks.
    search.set_centroids(centroids)
    c_max = float(np.max(np.einsum("ij,ij->i", centroids, centroids)))
    partial = torch.empty((k, d), dtype=torch.float32)
    for start, block in matrix.chunks():
        stop = start + block.shape[0]
        x_sq[start:stop] = np.einsum("ij,ij->i", block, block, dtype=np.float64)
        a, d1, d2 = search.nearest2(block, x_sq[start:stop])
        assign[start:stop] = a
        upper[start:stop], lower[start:stop] = _bounds(d1, d2, BOUND_SLACK * (x_sq[start:stop] + c_max))
        partial.zero_()
        partial.index_add_(0, torch.from_numpy(a), _tensor(block))
        sums += partial
    counts += np.bincount(assign, minlength=k)

    for _ in tqdm(range(n_iter), desc=label, disable=not progress, leave=False):
        new = sums.numpy() / np.maximum(counts, 1)[:, None]
        empty = np.flatnonzero(counts == 0)
        new[empty] = centroids[empty]  # a centroid without points stays where it was ...
        split = _split_for_empty(new, counts.copy(), empty)  # ... unless a large cluster lends it half
        shift = np.sqrt(np.einsum("ij,ij->i", new - centroids, new - centroids))
        centroids = new
        if not split and not shift.any():
            break  # converged: no assignment changed, so the centroids did not move
        search.set_centroids(centroids)
        c_sq = np.einsum("ij,ij->i", centroids, centroids)
        c_max = float(c_sq.max())
        # Move the bounds by how far the centroids moved.
        order = np.argsort(shift)
        top, runner = order[-1], (order[-2] if k > 1 else order[-1])
        upper += shift[assign]
        lower -= np.where(assign == top, shift[runner], shift[top])
        half_gap = _half_gaps(centroids)
        bound = np.maximum(lower, half_gap[assign])
        moved_any = _reassign(
            matrix, np.flatnonzero(upper > bound), bound, centroids, search, assign, x_sq, upper, lower,
            sums, counts, c_max,
        )  # fmt: skip
        if not moved_any and not split:
            # No point changed centroid: the next update would reproduce these centroids.
            break
    return centroids.astype(np.float32), assign


def _reassign(
    matrix: FeatureMatrix,
    candidates: np.ndarray,
    bound: np.ndarray,
    centroids: np.ndarray,
    search: Any,
    assign: np.ndarray,
    x_sq: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
    sums: torch.Tensor,
    counts: np.ndarray,
    c_max: float,
) -> bool:
    """Re-examine the candidate points; update their bounds, assignments and the cluster sums.

    Returns whether any point changed centroid.
    """
    moved_any = False
    for idx in _index_blocks(candidates, matrix.chunk_rows):
        rows = matrix.take(idx)
        own = assign[idx]
        diff = rows.astype(np.float64)
        diff -= centroids[own]
        exact = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        upper[idx] = exact
        doubt = exact > bound[idx]
        if not doubt.any():
            continue
        sub, sub_rows = idx[doubt], rows[doubt]
        a, d1, d2 = search.nearest2(sub_rows, x_sq[sub])
        upper[sub], lower[sub] = _bounds(d1, d2, BOUND_SLACK * (x_sq[sub] + c_max))
        old = assign[sub]
        moved = a != old
        if moved.any():
            moved_any = True
            wide = torch.from_numpy(sub_rows[moved].astype(np.float64))
            sums.index_add_(0, torch.from_numpy(old[moved]), wide, alpha=-1.0)
            sums.index_add_(0, torch.from_numpy(a[moved]), wide)
            np.subtract.at(counts, old[moved], 1)
            np.add.at(counts, a[moved], 1)
            assign[sub[moved]] = a[moved]
    return moved_any


def _assign_all(matrix: FeatureMatrix, centroids: np.ndarray, search: Any) -> np.ndarray:
    """Nearest centroid of every row (one pass)."""
    search.set_centroids(centroids)
    assign = np.empty(matrix.n, dtype=np.int64)
    for start, block in matrix.chunks():
        sq = np.einsum("ij,ij->i", block, block, dtype=np.float64)
        assign[start : start + block.shape[0]] = search.nearest2(block, sq)[0]
    return assign


def _half_gaps(centroids: np.ndarray) -> np.ndarray:
    """``s_k``: half the distance from every centroid to its nearest other centroid (inf for K = 1)."""
    k = centroids.shape[0]
    if k == 1:
        return np.array([np.inf])
    sq = np.einsum("ij,ij->i", centroids, centroids)
    d2 = sq[:, None] + sq[None, :] - 2.0 * centroids @ centroids.T
    np.fill_diagonal(d2, np.inf)
    return 0.5 * np.sqrt(np.maximum(d2.min(axis=1), 0.0))


def _split_for_empty(centroids: np.ndarray, counts: np.ndarray, empty: np.ndarray) -> bool:
    """Re-seed every empty cluster by splitting the most populated one (in place); whether any was."""
    if empty.size == 0:
        return False
    d = centroids.shape[1]
    sign = np.where(np.arange(d) % 2 == 0, 1.0, -1.0)
    for e in empty:
        big = int(np.argmax(counts))  # ties: the lowest index
        if counts[big] <= 1:
            break  # nothing left to split (duplicates): the centroid stays empty
        centroids[e] = centroids[big] * (1.0 + SPLIT_EPS * sign)
        centroids[big] = centroids[big] * (1.0 - SPLIT_EPS * sign)
        counts[e] = counts[big] // 2
        counts[big] -= counts[e]
    return True


def _tensor(rows: np.ndarray) -> torch.Tensor:
    """A tensor sharing ``rows`` (read-only rows of a memory-mapped file included; nothing writes to it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(rows)


def _index_blocks(index: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, index.size, size):
        yield index[start : start + size]


# -- backends ---------------------------------------------------------------------


def _resolve_backend(name: str, device: torch.device | None) -> tuple[str, Any, list[int] | None]:
    """The backend that will run (``"auto"`` resolved), the faiss module or None, the faiss GPUs or None."""
    if name == "auto":
        name = auto_backend(device)
    if name == "faiss":
        try:
            faiss = importlib.import_module("faiss")
        except ImportError as exc:
            raise ImportError(
                "backend='faiss' needs faiss: pip install 'proxydata[faiss]' (or [gpu]), "
                "or use backend='numpy'"
            ) from exc
        return name, faiss, _faiss_devices(faiss, device)
    if device is not None and device.type != "cpu":
        warnings.warn(f"backend={name!r} runs on the CPU only; ignoring device={str(device)!r}", stacklevel=3)
    return name, None, None


def _faiss_devices(faiss: Any, device: torch.device | None) -> list[int] | None:
    """GPU ordinals faiss should use, or None for the CPU."""
    ngpu = int(faiss.get_num_gpus()) if hasattr(faiss, "get_num_gpus") else 0
    if device is not None and device.type == "cpu":
        return None
    if ngpu == 0 or (device is not None and device.type != "cuda"):
        if device is not None:
            warnings.warn(
                f"faiss has no GPU support here (faiss-gpu not installed or no GPU); "
                f"running k-means on the CPU instead of device={str(device)!r}",
                stacklevel=4,
            )
        return None
    if device is None or device.index is None:
        return list(range(ngpu))
    if device.index >= ngpu:
        raise ProxydataValueError(f"device must name one of faiss's {ngpu} GPUs, got {str(device)!r}")
    return [device.index]


def _sklearn_lloyd(
    matrix: FeatureMatrix, init: np.ndarray, n_iter: int, seed: int, copy_x: bool
) -> np.ndarray:
    from sklearn.cluster import KMeans

    x = matrix.materialize()
    owned = x is not matrix.x  # a private copy may be centred in place whatever copy_x says
    model = KMeans(
        n_clusters=init.shape[0],
        init=np.asarray(init, dtype=np.float32),
        n_init=1,
        max_iter=n_iter,
        tol=0.0,
        algorithm="lloyd",
        random_state=seed,
        copy_x=(copy_x and not owned) or not x.flags.writeable,
    )
    model.fit(x)
    return np.ascontiguousarray(model.cluster_centers_, dtype=np.float32)


# -- validation -----------------------------------------------------------------------


def _as_matrix(x: Any) -> FeatureMatrix:
    if isinstance(x, FeatureMatrix):
        return x
    if not isinstance(x, (np.ndarray, torch.Tensor)):
        raise ProxydataTypeError(f"x must be a numpy array or torch.Tensor, got {type(x).__name__}")
    return FeatureMatrix(x)


def _check_init(init: Any, k: int, d: int) -> np.ndarray | None:
    if isinstance(init, str):
        check_choice(init, "init", INITS)
        return None
    if isinstance(init, torch.Tensor):
        init = init.detach().cpu().numpy()
    if not isinstance(init, np.ndarray):
        raise ProxydataTypeError(f"init must be one of {INITS} or an array of shape ({k}, {d}), got {init!r}")
    if init.shape != (k, d):
        raise ProxydataValueError(f"init must have shape ({k}, {d}), got {tuple(init.shape)}")
    out = np.ascontiguousarray(init, dtype=np.float32)
    if not np.isfinite(out).all():
        raise ProxydataValueError("init must be finite")
    return out
