"""proxydata.cluster: one k-means API over faiss and scikit-learn."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch

from proxydata.cluster import KMeansResult, faiss_available, kmeans, kmeans_plusplus

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


@pytest.mark.parametrize("backend", ["sklearn", pytest.param("faiss", marks=needs_faiss)])
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


@needs_faiss
def test_backends_agree_step_by_step_on_real_data(digits) -> None:
    from proxydata.features import pixel_features

    x = pixel_features(digits, standardize=True, progress=False)
    for n_iter in (1, 5):
        a = kmeans(x, 10, backend="faiss", n_iter=n_iter, seed=1, progress=False)
        b = kmeans(x, 10, backend="sklearn", n_iter=n_iter, seed=1, progress=False)
        np.testing.assert_allclose(a.centroids, b.centroids, atol=1e-4)
        assert a.objective == pytest.approx(b.objective, rel=1e-6)


def test_auto_uses_sklearn_when_faiss_cannot_be_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)  # makes `import faiss` raise ImportError
    assert not faiss_available()
    x, truth = blobs()
    res = kmeans(x, 4, backend="auto", progress=False)
    assert res.backend == "sklearn"
    assert same_partition(res.assignments, truth)
    with pytest.raises(ImportError, match="faiss"):
        kmeans(x, 4, backend="faiss", progress=False)


@needs_faiss
def test_auto_prefers_faiss_when_installed() -> None:
    x, _ = blobs()
    assert kmeans(x, 4, progress=False).backend == "faiss"


@pytest.mark.parametrize("backend", ["sklearn", pytest.param("faiss", marks=needs_faiss)])
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
