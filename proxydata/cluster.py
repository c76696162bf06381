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
(on the CPU, one GPU, or every GPU of the node).
"""

from __future__ import annotations

import importlib
import math
import time
import warnings
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


def auto_backend(device: str | torch.device | None = None, *, memory_mapped: bool = False) -> str:
    """The backend ``backend="auto"`` runs, from what the machine has and where the features live.

    * ``"faiss"`` where faiss sees a GPU and ``device`` is None or a CUDA device;
    * else ``"numpy"`` for memory-mapped features (proxydata's chunked Lloyd
      streams them; scikit-learn would load the whole matrix into memory);
    * else ``"sklearn"``: on features in memory it was the fastest CPU backend
      measured side by side (``benchmarks/results/static_samplers.md``: its
      Lloyd runs one BLAS call per 256-row chunk per thread, without competing
      thread pools), at the price of one in-memory copy of the standardised matrix.

    The rule depends only on what is installed and visible and on the input,
    never on a timing, so the same call always clusters the same way.
    """
    dev = None if device is None else check_device(device, available=False)
    if (dev is None or dev.type == "cuda") and faiss_gpus() > 0:
        return "faiss"
    return "numpy" if memory_mapped else "sklearn"


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

    * ``"numpy"`` — proxydata's Lloyd, one pass over ``x`` per iteration, a
      chunk of rows at a time (a memory-mapped or standardised
      :class:`~proxydata.features.FeatureMatrix` is never copied): nearest
      centroids by a float32 matrix product on numpy's BLAS, cluster sums in
      float32 per chunk and float64 across chunks. Stops early once no
      assignment changes (the centroids would not move). An empty cluster is
      re-seeded by splitting the most populated one (its centroid perturbed by
      ``±1/1024`` per coordinate, as faiss does).
    * ``"faiss"`` — the same Lloyd, with a faiss exact L2 index finding the
      nearest centroids: ``IndexFlatL2`` on the CPU, or on GPUs
      (``faiss.index_cpu_to_gpu`` for one, ``faiss.index_cpu_to_all_gpus`` for
      every GPU of the node, the chunk of rows split among them).
    * ``"sklearn"`` — ``sklearn.cluster.KMeans(algorithm="lloyd", tol=0)`` on
      the whole matrix, held in memory (a memory-mapped or standardised input is
      materialised first); CPU only.
    * ``"auto"`` — :func:`auto_backend`: faiss where it has a GPU, else numpy
      for memory-mapped features, else scikit-learn.

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
    dev = None if device is None else check_device(device, available=False)  # absent: CPU, with a warning
    if not matrix.standardized:  # a standardised matrix was checked by its moments pass
        matrix.check_finite("x")
    name, faiss, gpus = _resolve_backend(name, dev, isinstance(matrix.x, np.memmap))
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
            centroids, assign = _sklearn_lloyd(matrix, start_centroids, iters, run_seed, copy_x)
            c64 = centroids.astype(np.float64)
            dist = distances_to_class_means((block for _, block in matrix.chunks()), assign, c64)
        else:
            centroids, assign, found = _lloyd(matrix, start_centroids, iters, search, label, progress)
            if found is None:  # converged early: one more pass for the exact distances
                assign, dist = _assign_and_measure(matrix, centroids, search)
            else:
                dist = found
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


# -- Lloyd's algorithm over chunks --------------------------------------------------------

#: faiss's perturbation when it splits a cluster to re-seed an empty one.
SPLIT_EPS = 1.0 / 1024.0


class _BlasSearch:
    """Nearest centroid by a float32 matrix product on numpy's BLAS: ``argmin_k |c_k|^2 - 2 x.c_k``.

    With ``shift``/``factor`` it takes raw rows ``x`` of standardised ones
    ``z = (x - shift) * factor`` and folds the standardisation into the
    centroids: ``z.c = x.(factor*c) - shift.(factor*c)``, so no standardised
    copy of a chunk is ever made.
    """

    #: Whether :meth:`nearest` takes raw rows of a standardised matrix.
    folds = True

    def set_centroids(
        self, centroids: np.ndarray, shift: np.ndarray | None = None, factor: np.ndarray | None = None
    ) -> None:
        c = np.asarray(centroids, dtype=np.float64)
        bias = np.einsum("ij,ij->i", c, c)
        if shift is not None and factor is not None:
            c = c * factor.astype(np.float64)
            bias += 2.0 * (c @ shift.astype(np.float64))
        self.weights = np.ascontiguousarray(c, dtype=np.float32)
        self.bias = bias.astype(np.float32)

    def nearest(self, rows: np.ndarray) -> np.ndarray:
        scores = rows @ self.weights.T
        scores *= -2.0
        scores += self.bias
        return scores.argmin(axis=1).astype(np.int64)


class _FaissSearch:
    """Nearest centroid from a faiss exact L2 index (CPU, one GPU, or all GPUs)."""

    def __init__(self, faiss: Any, d: int, gpus: list[int] | None) -> None:
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

    #: :meth:`nearest` takes standardised rows.
    folds = False

    def set_centroids(self, centroids: np.ndarray) -> None:
        self.index.reset()
        self.index.add(np.ascontiguousarray(centroids, dtype=np.float32))

    def nearest(self, rows: np.ndarray) -> np.ndarray:
        _, idx = self.index.search(np.ascontiguousarray(rows, dtype=np.float32), 1)
        return idx[:, 0].astype(np.int64)


def _lloyd(
    matrix: FeatureMatrix,
    init: np.ndarray,
    n_iter: int,
    search: Any,
    label: str,
    progress: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``n_iter`` Lloyd iterations from ``init`` and a final assignment.

    One pass over the chunks per iteration: every chunk is assigned to its
    nearest centroids and added to its clusters' sums (float32 within a chunk,
    float64 across chunks). A standardised matrix is read raw when the search
    folds the standardisation into the centroids (the numpy backend): the sums
    of raw rows then give the standardised ones as ``(sum x - n_k shift) * factor``.
    The pass after the last update also computes the exact distances. Stops
    early once no assignment changes (the next update would reproduce the
    same centroids).

    Returns
    -------
    centroids (float32), assignments, distances (None after an early stop)
    """
    from tqdm.auto import tqdm

    n, d = matrix.shape
    k = init.shape[0]
    fold = matrix.standardized and search.folds
    shift = None if matrix.shift is None else matrix.shift.astype(np.float64)
    factor = None if matrix.factor is None else matrix.factor.astype(np.float64)
    centroids = np.array(init, dtype=np.float64)
    assign = np.full(n, -1, dtype=np.int64)
    with tqdm(total=n_iter, desc=label, disable=not progress, leave=False) as bar:
        for _ in range(n_iter):
            if fold:
                search.set_centroids(centroids, matrix.shift, matrix.factor)
            else:
                search.set_centroids(centroids)
            sums = np.zeros((k, d), dtype=np.float64)
            counts = np.zeros(k, dtype=np.int64)
            changed = 0
            for start, block in matrix.raw_chunks() if fold else matrix.chunks():
                stop = start + block.shape[0]
                a = search.nearest(block)
                changed += int(np.count_nonzero(assign[start:stop] != a))
                assign[start:stop] = a
                block_sums, block_counts = _cluster_sums(block, a, k)
                sums += block_sums
                counts += block_counts
            if changed == 0:
                return centroids.astype(np.float32), assign, None  # converged
            if fold and shift is not None and factor is not None:
                sums = (sums - counts[:, None] * shift) * factor
            empty = np.flatnonzero(counts == 0)
            new = sums / np.maximum(counts, 1)[:, None]
            new[empty] = centroids[empty]  # a centroid without points stays where it was ...
            _split_for_empty(new, counts, empty)  # ... unless a large cluster lends it half
            centroids = new
            bar.update(1)
    assign, dist = _assign_and_measure(matrix, centroids.astype(np.float32), search)
    return centroids.astype(np.float32), assign, dist


def _cluster_sums(rows: np.ndarray, assign: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``sum_{i : a_i = j} x_i`` (float32) and the count of every cluster ``j`` in one chunk.

    A ``(k, b)`` 0/1 sparse matrix times the rows: single-threaded, one
    multiply-add per value, so it does not compete with the BLAS threads of
    the search.
    """
    import scipy.sparse

    counts = np.bincount(assign, minlength=k)
    indptr = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    members = np.argsort(assign, kind="stable")
    onehot = scipy.sparse.csr_matrix(
        (np.ones(rows.shape[0], dtype=np.float32), members, indptr), shape=(k, rows.shape[0])
    )
    return onehot @ rows, counts


def _assign_and_measure(
    matrix: FeatureMatrix, centroids: np.ndarray, search: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of every row and the exact (float64) distance to it: one pass."""
    search.set_centroids(centroids)  # on standardised rows: the exact distances need them anyway
    c64 = centroids.astype(np.float64)
    assign = np.empty(matrix.n, dtype=np.int64)
    dist = np.empty(matrix.n, dtype=np.float64)
    for start, block in matrix.chunks():
        stop = start + block.shape[0]
        assign[start:stop] = search.nearest(block)
        dist[start:stop] = distances_to_class_means([block], assign[start:stop], c64)
    return assign, dist


def _split_for_empty(centroids: np.ndarray, counts: np.ndarray, empty: np.ndarray) -> None:
    """Re-seed every empty cluster by splitting the most populated one (in place)."""
    d = centroids.shape[1]
    sign = np.where(np.arange(d) % 2 == 0, 1.0, -1.0)
    counts = counts.copy()
    for e in empty:
        big = int(np.argmax(counts))  # ties: the lowest index
        if counts[big] <= 1:
            break  # nothing left to split (duplicate rows): the centroid stays empty
        centroids[e] = centroids[big] * (1.0 + SPLIT_EPS * sign)
        centroids[big] = centroids[big] * (1.0 - SPLIT_EPS * sign)
        counts[e] = counts[big] // 2
        counts[big] -= counts[e]


# -- backends ---------------------------------------------------------------------


def _resolve_backend(
    name: str, device: torch.device | None, memory_mapped: bool
) -> tuple[str, Any, list[int] | None]:
    """The backend that will run (``"auto"`` resolved), the faiss module or None, the faiss GPUs or None."""
    if name == "auto":
        name = auto_backend(device, memory_mapped=memory_mapped)
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
) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's Lloyd on the materialised matrix: the centroids and the labels of its
    last assignment step, which scikit-learn runs for the final centroids."""
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
    centroids = np.ascontiguousarray(model.cluster_centers_, dtype=np.float32)
    return centroids, np.asarray(model.labels_, dtype=np.int64)


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
