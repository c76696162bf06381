"""proxydata.cluster: one k-means API over faiss and scikit-learn."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch

from proxydata.cluster import KMeansResult, auto_backend, faiss_available, faiss_gpus, kmeans, kmeans_plusplus

needs_faiss = pytest.mark.skipif(not faiss_available(), reason="faiss is not installed")


def blobs(seed: int = 0, per_blob: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Four tight blobs 50 units apart in 6-D: any sane k-means finds them exactly."""
    rng = np.random.default_rng(seed)
    centres = 50.0 * np.eye(4, 6)
    labels = np.repeat(np.arange(4), per_blob)
    x = centres[labels] + rng.standard_normal((labels.size, 6))
    return x.astype(np.float32), labels


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two label vectors describe the same partition (up to renaming)."""
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.mark.parametrize("backend", ["numpy", "sklearn", pytest.param("faiss", marks=needs_faiss)])
def test_kmeans_result_fields(backend: str) -> None:
    x, truth = blobs()
    res = kmeans(x, 4, backend=backend, seed=0, progress=False)
    assert isinstance(res, KMeansResult)
    assert res.backend == backend and res.device == "cpu" and res.n_iter == 25
    assert res.centroids.shape == (4, 6) and res.centroids.dtype == np.float32
    assert res.assignments.dtype == np.int64 and res.distances.dtype == np.float64
    assert same_partition(res.assignments, truth)
    # Distances: Euclidean to the nearest centroid, objective = sum of their squares.
    full = np.linalg.norm(x[:, None, :].astype(np.float64) - res.centroids[None].astype(np.float64), axis=2)
    np.testing.assert_array_equal(res.assignments, full.argmin(axis=1))
    np.testing.assert_allclose(res.distances, full.min(axis=1), rtol=1e-10)
    assert res.objective == pytest.approx(float(np.sum(full.min(axis=1) ** 2)), rel=1e-10)
    # The centroids are the blob means (Lloyd has converged).
    for k in range(4):
        np.testing.assert_allclose(res.centroids[k], x[res.assignments == k].mean(axis=0), atol=1e-4)
    assert res.seconds > 0


@needs_faiss
def test_faiss_and_sklearn_agree_on_well_separated_clusters() -> None:
    x, truth = blobs(seed=5)
    a = kmeans(x, 4, backend="faiss", seed=3, progress=False)
    b = kmeans(x, 4, backend="sklearn", seed=3, progress=False)
    assert same_partition(a.assignments, truth) and same_partition(b.assignments, truth)
    # Same seeded start, same Lloyd iterations: even the cluster numbering agrees.
    np.testing.assert_array_equal(a.assignments, b.assignments)
    np.testing.assert_allclose(a.centroids, b.centroids, atol=1e-4)
    assert a.objective == pytest.approx(b.objective, rel=1e-6)


@pytest.mark.parametrize("backend", ["numpy", pytest.param("faiss", marks=needs_faiss)])
def test_backends_agree_step_by_step_on_real_data(digits, backend: str) -> None:
    from proxydata.features import pixel_features

    x = pixel_features(digits, standardize=True, progress=False)
    for n_iter in (1, 2, 5, 30):
        a = kmeans(x, 10, backend=backend, n_iter=n_iter, seed=1, progress=False)
        b = kmeans(x, 10, backend="sklearn", n_iter=n_iter, seed=1, progress=False)
        np.testing.assert_array_equal(a.assignments, b.assignments)
        np.testing.assert_allclose(a.centroids, b.centroids, atol=1e-4)
        assert a.objective == pytest.approx(b.objective, rel=1e-6)


def plain_lloyd(x: np.ndarray, init: np.ndarray, n_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """Textbook Lloyd in float64: assign, update (an empty cluster keeps its centroid), assign."""
    c = init.astype(np.float64)
    x64 = x.astype(np.float64)
    for _ in range(n_iter):
        a = ((x64[:, None, :] - c[None]) ** 2).sum(axis=2).argmin(axis=1)
        for k in range(c.shape[0]):
            if np.any(a == k):
                c[k] = x64[a == k].mean(axis=0)
    a = ((x64[:, None, :] - c[None]) ** 2).sum(axis=2).argmin(axis=1)
    return c, a


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numpy_backend_equals_textbook_lloyd_every_iteration(seed: int) -> None:
    # Overlapping clusters, so that points keep changing centroid for many
    # iterations: the bounds that skip points must never skip one that moves.
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((400, 5)) + 1.5 * rng.integers(0, 3, (400, 1))).astype(np.float32)
    init = x[rng.choice(400, 7, replace=False)]
    for n_iter in (1, 2, 3, 8, 40):
        res = kmeans(x, 7, init=init, backend="numpy", n_iter=n_iter, progress=False)
        centroids, assign = plain_lloyd(x, init, n_iter)
        np.testing.assert_array_equal(res.assignments, assign)
        np.testing.assert_allclose(res.centroids, centroids, atol=1e-5)


def test_chunked_lloyd_is_independent_of_the_chunk_size(digits) -> None:
    from proxydata.features import FeatureMatrix

    x = digits.images.reshape(len(digits), -1).astype(np.float32)
    results = [
        kmeans(FeatureMatrix(x, chunk_rows=rows), 10, backend="numpy", seed=3, n_iter=6, progress=False)
        for rows in (7, 100, 5000)
    ]
    for other in results[1:]:
        np.testing.assert_array_equal(other.assignments, results[0].assignments)
        np.testing.assert_allclose(other.centroids, results[0].centroids, atol=1e-5)


def test_memmap_and_standardised_matrix_equal_the_in_memory_standardised_array(tmp_path, digits) -> None:
    from proxydata.features import FeatureMatrix, standardize_

    x = digits.images.reshape(len(digits), -1).astype(np.float32) * 3.0 + 1.0
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    streamed = kmeans(FeatureMatrix.standardize(mapped), 10, seed=2, n_iter=8, progress=False)
    copy = x.copy()
    standardize_(copy)
    in_memory = kmeans(copy, 10, seed=2, n_iter=8, progress=False)
    # Same partition; the numpy backend folds the standardisation into the
    # centroids, so the values agree to float32 rounding, not bit for bit.
    np.testing.assert_array_equal(streamed.assignments, in_memory.assignments)
    np.testing.assert_allclose(streamed.distances, in_memory.distances, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(mapped, x)  # read, never written


def test_an_empty_cluster_is_reseeded_by_splitting_the_largest() -> None:
    x, _truth = blobs(per_blob=30)
    # Centroid 3 starts far from every point: it is empty after the first assignment.
    init = np.stack([x[0], x[30], x[60], np.full(6, 1e4, dtype=np.float32)])
    res = kmeans(x, 4, init=init, backend="numpy", n_iter=10, progress=False)
    counts = np.bincount(res.assignments, minlength=4)
    assert counts.min() > 0  # no cluster left empty
    assert np.isfinite(res.centroids).all() and np.abs(res.centroids).max() < 100


def test_a_single_cluster_is_the_mean() -> None:
    x, _ = blobs()
    res = kmeans(x, 1, backend="numpy", progress=False)
    np.testing.assert_allclose(res.centroids[0], x.astype(np.float64).mean(axis=0), atol=1e-4)
    assert (res.assignments == 0).all()


needs_faiss_gpu = pytest.mark.skipif(
    faiss_gpus() == 0, reason="needs faiss with GPU support and a GPU (faiss-gpu); none here"
)


@needs_faiss_gpu
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_faiss_gpu_agrees_with_the_cpu(device: str) -> None:  # pragma: no cover - needs a GPU
    from proxydata.features import FeatureMatrix

    rng = np.random.default_rng(0)
    x = (rng.standard_normal((20_000, 32)) + 4 * rng.integers(0, 5, (20_000, 1))).astype(np.float32)
    gpu = kmeans(FeatureMatrix(x, chunk_rows=4096), 20, backend="faiss", device=device, progress=False)
    cpu = kmeans(x, 20, backend="numpy", device="cpu", progress=False)
    assert gpu.device.startswith("cuda:")
    assert gpu.objective == pytest.approx(cpu.objective, rel=1e-4)


def test_auto_on_the_cpu_runs_sklearn_in_memory_and_numpy_on_a_memmap(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    x, truth = blobs()
    if faiss_gpus() == 0:
        assert auto_backend() == "sklearn" and kmeans(x, 4, progress=False).backend == "sklearn"
        np.save(tmp_path / "x.npy", x)
        mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
        assert auto_backend(memory_mapped=True) == "numpy"
        assert kmeans(mapped, 4, progress=False).backend == "numpy"
    assert auto_backend("cpu") == "sklearn" and auto_backend("cpu", memory_mapped=True) == "numpy"
    monkeypatch.setitem(sys.modules, "faiss", None)  # makes `import faiss` raise ImportError
    assert not faiss_available() and faiss_gpus() == 0
    res = kmeans(x, 4, backend="auto", progress=False)
    assert res.backend == "sklearn" and res.device == "cpu"
    assert same_partition(res.assignments, truth)
    with pytest.raises(ImportError, match="faiss"):
        kmeans(x, 4, backend="faiss", progress=False)


def test_auto_picks_faiss_where_faiss_has_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import proxydata.cluster as cluster

    monkeypatch.setattr(cluster, "faiss_gpus", lambda: 2)
    assert cluster.auto_backend() == "faiss"
    assert cluster.auto_backend("cuda") == "faiss"
    assert cluster.auto_backend("cuda:1") == "faiss"
    assert cluster.auto_backend("cpu") == "sklearn"
    assert cluster.auto_backend("cuda", memory_mapped=True) == "faiss"


@pytest.mark.parametrize("backend", ["numpy", "sklearn", pytest.param("faiss", marks=needs_faiss)])
def test_kmeans_is_seeded(backend: str, digits) -> None:
    x = digits.images.reshape(len(digits), -1).astype(np.float32)
    a = kmeans(x, 12, backend=backend, seed=4, n_iter=5, progress=False)
    b = kmeans(torch.from_numpy(x), 12, backend=backend, seed=4, n_iter=5, progress=False)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    c = kmeans(x, 12, backend=backend, seed=5, n_iter=5, progress=False)
    assert not np.array_equal(a.centroids, c.centroids)


def test_more_restarts_never_do_worse(digits) -> None:
    x = digits.images.reshape(len(digits), -1).astype(np.float32)
    one = kmeans(x, 10, backend="sklearn", seed=2, n_iter=3, n_init=1, progress=False)
    three = kmeans(x, 10, backend="sklearn", seed=2, n_iter=3, n_init=3, progress=False)
    # Run 0 of the three starts from the same seed as the single run.
    assert three.objective <= one.objective


def test_random_and_explicit_init() -> None:
    x, truth = blobs()
    start = x[[0, 60, 120, 180]]
    res = kmeans(x, 4, init=start, backend="sklearn", n_iter=1, progress=False)
    np.testing.assert_array_equal(res.assignments, truth)  # each start lies in its own blob
    res = kmeans(x, 4, init="random", backend="sklearn", seed=0, progress=False)
    assert res.centroids.shape == (4, 6)


def test_kmeans_plusplus_picks_distinct_data_rows() -> None:
    x, _ = blobs()
    c = kmeans_plusplus(x, 4, seed=0)
    rows = {tuple(r) for r in x.tolist()}
    assert all(tuple(r) in rows for r in c.tolist())
    # D^2 sampling from a first point puts the other three in the three far blobs.
    assert len({int(np.argmax(np.abs(r))) for r in c}) == 4
    np.testing.assert_array_equal(c, kmeans_plusplus(x, 4, seed=0))


@pytest.mark.filterwarnings("ignore:Number of distinct clusters")
def test_kmeans_plusplus_with_duplicate_rows() -> None:
    x = np.zeros((10, 3), dtype=np.float32)
    x[0] = 1.0  # only two distinct rows, four clusters asked
    c = kmeans_plusplus(x, 4, seed=0)
    assert c.shape == (4, 3)
    res = kmeans(x, 4, backend="sklearn", progress=False)
    np.testing.assert_allclose(res.distances, 0.0, atol=1e-6)


def test_device_requests_that_cannot_be_met_warn() -> None:
    x, _ = blobs()
    with pytest.warns(UserWarning, match="CPU"):
        res = kmeans(x, 4, backend="sklearn", device="cuda", progress=False)
    assert res.device == "cpu"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kmeans(x, 4, backend="sklearn", device="cpu", progress=False).device == "cpu"


@pytest.mark.parametrize(
    ("x", "k", "kwargs", "error", "match"),
    [
        (np.zeros((3, 2), np.float32), 4, {}, ValueError, "n_clusters"),
        (np.zeros((3, 2), np.float32), 0, {}, ValueError, "n_clusters"),
        (np.zeros((3, 2), np.float32), 2.0, {}, TypeError, "n_clusters"),
        ([[0.0, 1.0]], 1, {}, TypeError, "x"),
        (np.zeros(3), 1, {}, ValueError, "2-D"),
        (np.zeros((0, 2)), 1, {}, ValueError, "empty"),
        (np.array([[0.0, np.nan]]), 1, {}, ValueError, "finite"),
        (np.array([["a"]]), 1, {}, TypeError, "numeric"),
        (np.zeros((3, 2)), 1, {"backend": "cuml"}, ValueError, "backend"),
        (np.zeros((3, 2)), 1, {"n_iter": 0}, ValueError, "n_iter"),
        (np.zeros((3, 2)), 1, {"n_init": 0}, ValueError, "n_init"),
        (np.zeros((3, 2)), 1, {"seed": -1}, ValueError, "seed"),
        (np.zeros((3, 2)), 1, {"init": "kmeans"}, ValueError, "init"),
        (np.zeros((3, 2)), 1, {"init": np.zeros((2, 2))}, ValueError, "init"),
        (np.zeros((3, 2)), 1, {"device": 0}, TypeError, "device"),
    ],
)
def test_kmeans_rejects_bad_input(x, k, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        kmeans(x, k, progress=False, **kwargs)


def test_sklearn_in_place_centring_restores_the_data() -> None:
    x, _ = blobs()
    before = x.copy()
    kmeans(x, 4, backend="sklearn", copy_x=False, progress=False)
    np.testing.assert_allclose(x, before, atol=1e-4)
    readonly = before.copy()
    readonly.flags.writeable = False
    assert kmeans(readonly, 4, backend="sklearn", copy_x=False, progress=False).centroids.shape == (4, 6)


class FakeGpuFaiss:
    """faiss's GPU entry points over its CPU index: runs the GPU code path's CPU side."""

    def __init__(self, ngpu: int) -> None:
        import faiss

        self.faiss, self.ngpu, self.calls = faiss, ngpu, []

    def __getattr__(self, name: str):
        return getattr(self.faiss, name)

    def get_num_gpus(self) -> int:
        return self.ngpu

    def StandardGpuResources(self):
        return object()

    def index_cpu_to_gpu(self, resources, device, index):
        self.calls.append(("one", device))
        return index

    def index_cpu_to_all_gpus(self, index):
        self.calls.append(("all", self.ngpu))
        return index

    def index_cpu_to_gpus_list(self, index, gpus):
        self.calls.append(("list", tuple(gpus)))
        return index


@needs_faiss
def test_gpu_device_choice_and_index_placement_with_a_stand_in_for_faiss_gpu(monkeypatch) -> None:
    import proxydata.cluster as cluster

    fake = FakeGpuFaiss(ngpu=3)
    monkeypatch.setattr(cluster.importlib, "import_module", lambda name: fake)
    assert cluster._faiss_devices(fake, None) == [0, 1, 2]
    assert cluster._faiss_devices(fake, torch.device("cuda")) == [0, 1, 2]
    assert cluster._faiss_devices(fake, torch.device("cuda:1")) == [1]
    assert cluster._faiss_devices(fake, torch.device("cpu")) is None
    with pytest.raises(ValueError, match="device"):
        cluster._faiss_devices(fake, torch.device("cuda:3"))
    x, _truth = blobs()
    cpu = kmeans(x, 4, backend="numpy", seed=1, progress=False)
    for device, call in (("cuda", ("all", 3)), ("cuda:2", ("one", 2))):
        res = kmeans(x, 4, backend="faiss", device=device, seed=1, progress=False)
        assert fake.calls[-1] == call
        assert res.device == ("cuda:0,1,2" if device == "cuda" else "cuda:2")
        np.testing.assert_array_equal(res.assignments, cpu.assignments)
    fake.ngpu = 4  # three of four GPUs: an explicit list
    assert cluster._FaissSearch(fake, 6, [0, 1, 2]) and fake.calls[-1] == ("list", (0, 1, 2))
