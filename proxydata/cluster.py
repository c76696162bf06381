"""k-means with one API over two backends: faiss (GPU or CPU) and scikit-learn.

Both backends start from the same seeded initial centroids (k-means++ seeding
computed here) and are given the same number of Lloyd iterations; faiss always
runs all of them, scikit-learn stops early once the assignments no longer
change (``tol=0``), so on a converged run both end at the same partition. The
final assignments, distances and objective are computed by one shared routine
(:func:`~proxydata.metrics.distances_to_centroids`) whatever backend ran, and
the result records the backend that ran.
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
from .metrics import distances_to_centroids

__all__ = ["KMeansResult", "faiss_available", "kmeans", "kmeans_plusplus"]

BACKENDS = ("auto", "faiss", "sklearn")
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
        ``"faiss"`` or ``"sklearn"``.
    device : str
        ``"cpu"`` or ``"cuda:<i>"`` (faiss GPU).
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
    move every centroid to its points' mean) with the chosen backend:

    * ``"faiss"`` — ``faiss.Clustering`` on all points (no sub-sampling), on a
      GPU when faiss sees one and ``device`` allows it, else on the CPU;
      empty clusters are re-seeded by splitting large ones.
    * ``"sklearn"`` — ``sklearn.cluster.KMeans(algorithm="lloyd", tol=0)``
      (full-batch Lloyd, stopping early only when the assignments no longer
      change); CPU only. Chosen over ``MiniBatchKMeans`` so that both backends
      optimise the same objective with the same algorithm.
    * ``"auto"`` — faiss when it can be imported, scikit-learn otherwise.

    With ``n_init > 1`` the run is repeated from differently seeded starts and
    the one of lowest objective is returned.

    Parameters
    ----------
    x : array or tensor of shape (n, d)
        Features; used as float32 (copied only if it is not float32 and C-contiguous).
    n_clusters : int
        ``K``, in ``[1, n]``.
    backend : {"auto", "faiss", "sklearn"}
    seed : int
        Seeds the initialisation (and faiss's own random choices).
    n_iter : int
        Lloyd iterations.
    n_init : int
        Independent runs; the best objective wins.
    init : {"k-means++", "random"} or array of shape (n_clusters, d)
        ``"random"`` picks ``K`` distinct rows uniformly.
    device : str or torch.device, optional
        ``None``: faiss uses a GPU when it sees one. ``"cpu"`` forces the CPU.
        ``"cuda[:i]"`` asks for GPU ``i``; without a faiss GPU build (or with
        the scikit-learn backend) this warns and runs on the CPU.
    copy_x : bool
        ``False`` lets scikit-learn centre ``x`` in place and restore it
        afterwards (values may change by float rounding) instead of holding a
        copy; faiss never copies a float32 C-contiguous ``x``.
    progress : bool
        Show a tqdm progress bar over the runs.

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
    data, owned = _as_float32_matrix(x)
    n, d = data.shape
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
    if device is not None:  # a device this machine lacks falls back to the CPU with a warning (below)
        device = check_device(device, available=False)

    name, faiss, gpu = _resolve_backend(name, device)
    from tqdm.auto import tqdm

    best: KMeansResult | None = None
    seeds = np.random.SeedSequence(seed).spawn(runs)
    for run in tqdm(range(runs), desc=f"k-means ({name}, K={k})", disable=not progress, leave=False):
        rng = np.random.default_rng(seeds[run])
        if init_array is not None:
            start_centroids = init_array
        elif init == "random":
            start_centroids = data[np.sort(rng.choice(n, size=k, replace=False))].copy()
        else:
            start_centroids = kmeans_plusplus(data, k, seed=rng)
        run_seed = int(rng.integers(0, 2**31 - 1))
        if name == "faiss":
            centroids = _faiss_lloyd(faiss, data, start_centroids, iters, run_seed, gpu)
        else:
            # A private copy made above may be centred in place whatever copy_x says.
            centroids = _sklearn_lloyd(data, start_centroids, iters, run_seed, copy_x and not owned)
        dist, assign = distances_to_centroids(data, centroids, batch_size=_distance_rows(d))
        objective = float(np.dot(dist, dist))
        if best is None or objective < best.objective:
            where = "cpu" if gpu is None else f"cuda:{gpu}"
            best = KMeansResult(centroids, assign, dist, objective, name, where, iters, 0.0)
    assert best is not None
    best.seconds = time.perf_counter() - start
    return best


def kmeans_plusplus(x: np.ndarray, n_clusters: int, *, seed: int | np.random.Generator = 0) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii, 2007) on a random sample of the rows.

    The first centroid is a uniformly drawn row; every next one is drawn with
    probability ``D(x)^2 / sum D^2``, ``D(x)`` being the distance to the nearest
    centroid chosen so far. Only a seeded random sample of
    ``min(n, 64 * n_clusters)`` rows takes part. Where fewer distinct rows than
    clusters remain (duplicates), the rest are drawn uniformly among unchosen rows.

    Returns
    -------
    np.ndarray of float32, shape (n_clusters, d)
    """
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        raise ProxydataTypeError(f"x must be a 2-D numpy array, got {type(x).__name__}")
    n = x.shape[0]
    k = check_int(n_clusters, "n_clusters", minimum=1, maximum=n)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(check_seed(seed))
    m = min(n, INIT_POINTS_PER_CLUSTER * k)
    rows = np.arange(n) if m == n else np.sort(rng.choice(n, size=m, replace=False))
    # No copy when all rows take part and x is already float32 and C-contiguous
    # (then possibly read-only: fine, nothing here writes into it).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        sample = torch.from_numpy(np.ascontiguousarray(x if m == n else x[rows], dtype=np.float32))
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


def _distance_rows(d: int) -> int:
    # About 8 MB of float64 per block: big blocks of temporaries cost more (fresh
    # pages each time) than the per-block overhead they save.
    return int(min(4096, max(64, 2**20 // max(d, 1))))


# -- backends ---------------------------------------------------------------------


def _resolve_backend(name: str, device: torch.device | None) -> tuple[str, Any, int | None]:
    """The backend that will run (``"auto"`` resolved), the faiss module or None, the faiss GPU or None."""
    if name == "auto":
        name = "faiss" if faiss_available() else "sklearn"
    if name == "faiss":
        try:
            faiss = importlib.import_module("faiss")
        except ImportError as exc:
            raise ImportError(
                "backend='faiss' needs faiss: pip install 'proxydata[faiss]' (or [gpu]), "
                "or use backend='sklearn'"
            ) from exc
        return name, faiss, _faiss_gpu(faiss, device)
    if device is not None and device.type != "cpu":
        warnings.warn(
            f"backend='sklearn' runs on the CPU only; ignoring device={str(device)!r}", stacklevel=3
        )
    return name, None, None


def _faiss_gpu(faiss: Any, device: torch.device | None) -> int | None:
    """GPU ordinal faiss should use, or None for the CPU."""
    ngpu = int(faiss.get_num_gpus()) if hasattr(faiss, "get_num_gpus") else 0
    if device is None:
        return 0 if ngpu > 0 else None
    if device.type == "cpu":
        return None
    if device.type != "cuda" or ngpu == 0:
        warnings.warn(
            f"faiss has no GPU support here (faiss-gpu not installed or no GPU); "
            f"running k-means on the CPU instead of device={str(device)!r}",
            stacklevel=3,
        )
        return None
    index = device.index or 0
    if index >= ngpu:
        raise ProxydataValueError(f"device must name one of faiss's {ngpu} GPUs, got {str(device)!r}")
    return index


def _faiss_lloyd(
    faiss: Any, x: np.ndarray, init: np.ndarray, n_iter: int, seed: int, gpu: int | None
) -> np.ndarray:
    n, d = x.shape
    k = init.shape[0]
    params = faiss.ClusteringParameters()
    params.niter = n_iter
    params.seed = seed
    params.verbose = False
    # Use every point (faiss samples 256 per centroid by default) and do not warn
    # about small data: the caller decides how many clusters make sense.
    params.max_points_per_centroid = math.ceil(n / k) + 1
    params.min_points_per_centroid = 1
    clus = faiss.Clustering(d, k, params)
    faiss.copy_array_to_vector(np.ascontiguousarray(init, dtype=np.float32).ravel(), clus.centroids)
    if gpu is None:
        index = faiss.IndexFlatL2(d)
        clus.train(x, index)
    else:  # pragma: no cover - needs faiss-gpu and a GPU
        resources = faiss.StandardGpuResources()
        config = faiss.GpuIndexFlatConfig()
        config.device = gpu
        index = faiss.GpuIndexFlatL2(resources, d, config)
        clus.train(x, index)
    return faiss.vector_float_to_array(clus.centroids).reshape(k, d).astype(np.float32, copy=False)


def _sklearn_lloyd(x: np.ndarray, init: np.ndarray, n_iter: int, seed: int, copy_x: bool) -> np.ndarray:
    from sklearn.cluster import KMeans

    model = KMeans(
        n_clusters=init.shape[0],
        init=np.asarray(init, dtype=x.dtype),
        n_init=1,
        max_iter=n_iter,
        tol=0.0,
        algorithm="lloyd",
        random_state=seed,
        copy_x=copy_x or not x.flags.writeable,
    )
    model.fit(x)
    return np.ascontiguousarray(model.cluster_centers_, dtype=np.float32)


# -- validation -----------------------------------------------------------------------


def _as_float32_matrix(x: Any) -> tuple[np.ndarray, bool]:
    """``x`` as a C-contiguous float32 matrix, and whether that is a private copy."""
    if isinstance(x, torch.Tensor):
        arr = x.detach().cpu().numpy()
    elif isinstance(x, np.ndarray):
        arr = x
    else:
        raise ProxydataTypeError(f"x must be a numpy array or torch.Tensor, got {type(x).__name__}")
    if arr.ndim != 2:
        raise ProxydataValueError(f"x must be 2-D (n, d), got shape {tuple(arr.shape)}")
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise ProxydataTypeError(f"x must be numeric, got dtype {arr.dtype}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ProxydataValueError(f"x must not be empty, got shape {tuple(arr.shape)}")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    owned = not np.shares_memory(out, arr)
    for begin in range(0, out.shape[0], 4096):
        if not np.isfinite(out[begin : begin + 4096]).all():
            raise ProxydataValueError("x must be finite, got NaN or inf values")
    return out, owned


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
