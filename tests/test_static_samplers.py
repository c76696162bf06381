"""RS, CC-RS, KM-OR and CC-OR: the behaviour issue 2 requires of the static proxy samplers."""

from __future__ import annotations

import json
import math
import sys
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset, TensorDataset

from proxydata import (
    ClassOutlierProxy,
    ClassRandomProxy,
    KMeansOutlierProxy,
    ProxySampler,
    RandomProxy,
    make_proxy,
)
from proxydata.cluster import faiss_available
from proxydata.datasets import ArrayDataset
from proxydata.exceptions import ProxydataValueError
from proxydata.samplers import proxy_size
from proxydata.samplers.saved import SavedObject

# Small k-means settings keep KM-OR fast on digits (1,797 samples).
FAST_KMOR = {"n_clusters": 10, "n_iter": 10}
METHODS = {
    "rs": (RandomProxy, {}),
    "cc-rs": (ClassRandomProxy, {}),
    "km-or": (KMeansOutlierProxy, FAST_KMOR),
    "cc-or": (ClassOutlierProxy, {}),
}
GLOBAL = ("rs", "km-or")
PER_CLASS = ("cc-rs", "cc-or")


def build(name: str, dataset, ratio: float, **kwargs) -> ProxySampler:
    cls, defaults = METHODS[name]
    return cls(dataset, ratio, progress=False, **{**defaults, **kwargs})


class ItemsOnly(Dataset):
    """A dataset reachable only item by item (exercises the generic code paths)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.targets = dataset.targets

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        return self.dataset[i]


# -- numpy references ------------------------------------------------------------------------------


def raw_pixels(dataset: ArrayDataset, exact: bool = False) -> np.ndarray:
    """Pixels in [0, 1] as float64, computed independently of proxydata.features.

    Features are float32 by design, so by default every pixel is first rounded to
    float32 as the library does (``v / 255`` is not exact in float32); ``exact=True``
    keeps the float64 quotient.
    """
    flat = dataset.images.reshape(len(dataset), -1)
    if exact:
        return flat.astype(np.float64) / dataset.scale
    return (flat.astype(np.float32) / np.float32(dataset.scale)).astype(np.float64)


def reference_kmor(x: np.ndarray, centroids: np.ndarray, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """KM-OR by hand: distance to the nearest centroid, keep the round(r n) smallest."""
    c = centroids.astype(np.float64)
    sq = (x**2).sum(1)[:, None] - 2 * x @ c.T + (c**2).sum(1)[None]
    nearest = sq.argmin(axis=1)
    dist = np.linalg.norm(x - c[nearest], axis=1)
    keep = np.argsort(dist, kind="stable")[: proxy_size(len(x), ratio)]
    return np.sort(keep), dist


def reference_ccor(x: np.ndarray, y: np.ndarray, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """CC-OR by hand: per class, distance to the class mean, keep the round(r n_c) smallest."""
    dist = np.empty(len(x))
    keep = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        mean = x[members].mean(axis=0)
        dist[members] = np.linalg.norm(x[members] - mean, axis=1)
        order = members[np.argsort(dist[members], kind="stable")]
        keep.append(order[: proxy_size(members.size, ratio)])
    return np.sort(np.concatenate(keep)), dist


def standardized(x: np.ndarray) -> np.ndarray:
    std = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(std == 0, 1.0, std)


# -- kept counts, r = 1, seeds ---------------------------------------------------------------------


@pytest.mark.parametrize("name", GLOBAL)
@pytest.mark.parametrize("ratio", [0.05, 0.25, 0.5, 0.999])
def test_global_methods_keep_round_r_n(digits, name: str, ratio: float) -> None:
    proxy = build(name, digits, ratio)
    n = len(digits)
    assert len(proxy.indices) == proxy_size(n, ratio) == math.floor(ratio * n + 0.5)
    assert proxy.indices.dtype == np.int64
    assert np.all(np.diff(proxy.indices) > 0)  # sorted, unique
    assert 0 <= proxy.indices[0] and proxy.indices[-1] < n
    assert len(proxy) == len(proxy.indices)


@pytest.mark.parametrize("name", PER_CLASS)
@pytest.mark.parametrize("ratio", [0.05, 0.25, 0.5, 0.999])
def test_class_methods_keep_every_class_share(digits, name: str, ratio: float) -> None:
    proxy = build(name, digits, ratio)
    counts = np.bincount(digits.targets)
    expected = [proxy_size(int(c), ratio) for c in counts]
    np.testing.assert_array_equal(proxy.kept_class_counts(), expected)
    assert np.all(np.diff(proxy.indices) > 0)


def test_rounding_is_half_up() -> None:
    # r = 0.5 of 5 samples keeps 3 (floor(2.5 + 0.5)); Python's round would give 2.
    ds = TensorDataset(torch.arange(5.0).view(5, 1), torch.zeros(5, dtype=torch.long))
    assert len(RandomProxy(ds, 0.5, progress=False).indices) == 3
    assert len(ClassOutlierProxy(ds, 0.5, progress=False).indices) == 3


@pytest.mark.parametrize("name", list(METHODS))
def test_ratio_one_keeps_everything(digits, name: str) -> None:
    proxy = build(name, digits, 1.0)
    np.testing.assert_array_equal(proxy.indices, np.arange(len(digits)))


@pytest.mark.parametrize("name", list(METHODS))
def test_same_seed_same_indices(digits, name: str) -> None:
    a = build(name, digits, 0.3, seed=7)
    b = build(name, digits, 0.3, seed=7)
    np.testing.assert_array_equal(a.indices, b.indices)
    if a.scores is not None:
        np.testing.assert_array_equal(a.scores, b.scores)


@pytest.mark.parametrize("name", ["rs", "cc-rs"])
def test_different_seeds_differ_for_random_methods(digits, name: str) -> None:
    a = build(name, digits, 0.3, seed=0)
    b = build(name, digits, 0.3, seed=1)
    assert not np.array_equal(a.indices, b.indices)
    assert a.scores is None


def test_cc_or_does_not_depend_on_the_seed(digits) -> None:
    a = build("cc-or", digits, 0.3, seed=0)
    b = build("cc-or", digits, 0.3, seed=1)
    np.testing.assert_array_equal(a.indices, b.indices)


# -- KM-OR / CC-OR against a direct numpy computation ----------------------------------------------


def test_kmor_equals_numpy_on_digits(digits) -> None:
    proxy = build("km-or", digits, 0.3)
    x = standardized(raw_pixels(digits))  # the paper code's StandardScaler on raw pixels
    keep, dist = reference_kmor(x, proxy.kmeans_result.centroids, 0.3)
    np.testing.assert_allclose(proxy.scores, dist, rtol=1e-5)
    np.testing.assert_array_equal(proxy.indices, keep)
    res = proxy.kmeans_result
    assert res.centroids.shape == (10, 64)
    assert res.objective == pytest.approx(float(np.sum(proxy.scores**2)))
    assert res.objective == pytest.approx(float(np.sum(dist**2)), rel=1e-5)


def test_kmor_keeps_the_globally_closest_not_per_class(digits) -> None:
    proxy = build("km-or", digits, 0.5)
    dropped = np.setdiff1d(np.arange(len(digits)), proxy.indices)
    assert proxy.scores[proxy.indices].max() <= proxy.scores[dropped].min()


def test_ccor_equals_numpy_on_digits(digits) -> None:
    proxy = build("cc-or", digits, 0.3)
    keep, dist = reference_ccor(raw_pixels(digits), digits.targets, 0.3)
    np.testing.assert_allclose(proxy.scores, dist, rtol=1e-9)
    np.testing.assert_array_equal(proxy.indices, keep)


@pytest.mark.shared_data
def test_kmor_and_ccor_equal_numpy_on_lossless_cifar(cifar10_lossless) -> None:
    ds = cifar10_lossless
    x = raw_pixels(ds)
    ccor = ClassOutlierProxy(ds, 0.25, progress=False)
    keep, dist = reference_ccor(x, ds.targets, 0.25)
    np.testing.assert_allclose(ccor.scores, dist, rtol=1e-9)
    np.testing.assert_array_equal(ccor.indices, keep)
    # Against exact float64 pixels only the float32 rounding of the features shows.
    _, exact = reference_ccor(raw_pixels(ds, exact=True), ds.targets, 0.25)
    np.testing.assert_allclose(ccor.scores, exact, rtol=1e-6)

    kmor = KMeansOutlierProxy(ds, 0.25, n_clusters=20, n_iter=5, progress=False)
    keep, dist = reference_kmor(standardized(x), kmor.kmeans_result.centroids, 0.25)
    np.testing.assert_allclose(kmor.scores, dist, rtol=1e-5)
    np.testing.assert_array_equal(kmor.indices, keep)


def test_feature_sources_agree(digits) -> None:
    from proxydata.features import pixel_features

    pixels = pixel_features(digits, progress=False)
    base = build("cc-or", digits, 0.4)
    for features in (pixels, torch.from_numpy(pixels), nn.Flatten()):
        other = build("cc-or", digits, 0.4, features=features)
        np.testing.assert_array_equal(other.indices, base.indices)
        np.testing.assert_allclose(other.scores, base.scores, rtol=1e-12)
    generic = build("cc-or", ItemsOnly(digits), 0.4)  # not array-backed: materialised path
    np.testing.assert_array_equal(generic.indices, base.indices)
    # KM-OR on a given (unstandardised) array standardises a copy, never the array itself.
    before = pixels.copy()
    kmor_arr = build("km-or", digits, 0.4, features=pixels)
    np.testing.assert_array_equal(pixels, before)
    np.testing.assert_array_equal(kmor_arr.indices, build("km-or", digits, 0.4).indices)


def test_ccor_on_a_subset_and_standardised(digits) -> None:
    rows = np.arange(0, len(digits), 3)
    sub = Subset(digits, rows.tolist())
    proxy = ClassOutlierProxy(sub, 0.5, progress=False)
    keep, _ = reference_ccor(raw_pixels(digits)[rows], digits.targets[rows], 0.5)
    np.testing.assert_array_equal(proxy.indices, keep)
    std = ClassOutlierProxy(digits, 0.5, standardize=True, progress=False)
    keep, _ = reference_ccor(standardized(raw_pixels(digits)), digits.targets, 0.5)
    np.testing.assert_array_equal(std.indices, keep)


@pytest.mark.skipif(not faiss_available(), reason="faiss is not installed")
def test_kmor_faiss_and_sklearn_backends_agree(digits) -> None:
    a = build("km-or", digits, 0.3, backend="faiss")
    b = build("km-or", digits, 0.3, backend="sklearn")
    assert a.kmeans_result.backend == "faiss" and b.kmeans_result.backend == "sklearn"
    assert a.kmeans_result.objective == pytest.approx(b.kmeans_result.objective, rel=1e-5)
    overlap = np.intersect1d(a.indices, b.indices).size / a.indices.size
    assert overlap >= 0.99


def test_kmor_auto_backend_without_faiss(digits, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)
    proxy = build("km-or", digits, 0.3)
    assert proxy.kmeans_result.backend == "sklearn"
    assert len(proxy.indices) == proxy_size(len(digits), 0.3)


# -- property tests --------------------------------------------------------------------------------


labelled = st.integers(min_value=1, max_value=60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 4), min_size=n, max_size=n),
        st.floats(min_value=1e-3, max_value=1.0),
        st.integers(0, 2**16),
    )
)


def build_or_refuse(name: str, ds, ratio: float, **kwargs) -> ProxySampler | None:
    """The proxy, or None after checking that a ratio keeping nothing is refused naming ratio."""
    y = np.asarray(ds.tensors[1])
    shares = np.unique(y, return_counts=True)[1] if METHODS[name][0].class_conditional else [y.size]
    if sum(proxy_size(int(c), ratio) for c in shares) == 0:
        with pytest.raises(ProxydataValueError, match="ratio"):
            build(name, ds, ratio, **kwargs)
        return None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "ratio=.* keeps no sample of", RuntimeWarning)
        return build(name, ds, ratio, **kwargs)


def tensor_dataset(labels: list[int], seed: int) -> TensorDataset:
    rng = np.random.default_rng(seed)
    # Integer-valued features make ties common, which exercises the tie-break by index.
    x = torch.from_numpy(rng.integers(0, 4, size=(len(labels), 3)).astype(np.float32))
    return TensorDataset(x, torch.tensor(labels))


@settings(max_examples=40, deadline=None)
@given(labelled)
def test_property_counts_and_class_shares(case) -> None:
    labels, ratio, seed = case
    ds = tensor_dataset(labels, seed)
    y = np.array(labels)
    n = len(labels)
    counts = np.bincount(y)
    for name in METHODS:
        kwargs = {"n_clusters": min(3, n), "n_iter": 3} if name == "km-or" else {}
        proxy = build_or_refuse(name, ds, ratio, seed=seed, **kwargs)
        if proxy is None:
            continue
        idx = proxy.indices
        assert np.all(np.diff(idx) > 0) and (idx.size == 0 or 0 <= idx[0] <= idx[-1] < n)
        if name in GLOBAL:
            assert idx.size == proxy_size(n, ratio)
        else:
            kept = np.bincount(y[idx], minlength=counts.size)
            np.testing.assert_array_equal(kept, [proxy_size(int(c), ratio) for c in counts])
        if ratio == 1.0:
            np.testing.assert_array_equal(idx, np.arange(n))


@settings(max_examples=40, deadline=None)
@given(labelled)
def test_property_outlier_methods_keep_the_lowest_scores(case) -> None:
    labels, ratio, seed = case
    ds = tensor_dataset(labels, seed)
    y = np.array(labels)
    n = len(labels)
    kmor = build_or_refuse("km-or", ds, ratio, seed=seed, n_clusters=min(3, n), n_iter=3)
    ccor = build_or_refuse("cc-or", ds, ratio)
    for proxy, groups in ((kmor, [np.arange(n)]), (ccor, [np.flatnonzero(y == c) for c in np.unique(y)])):
        if proxy is None:
            continue
        kept = np.zeros(n, dtype=bool)
        kept[proxy.indices] = True
        for members in groups:
            # Every kept score <= every dropped one; on a tie, the lower index is kept.
            order = members[np.lexsort((members, proxy.scores[members]))]
            m = int(kept[members].sum())
            assert kept[order[:m]].all() and not kept[order[m:]].any()


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(METHODS))
@pytest.mark.parametrize(
    ("ratio", "error"),
    [
        (0.0, ValueError),
        (-0.2, ValueError),
        (1.01, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        ("0.5", TypeError),
        (True, TypeError),
        (None, TypeError),
    ],
)
def test_bad_ratio(digits, name: str, ratio, error) -> None:
    with pytest.raises(error, match="ratio"):
        build(name, digits, ratio)


@pytest.mark.parametrize("name", list(METHODS))
def test_labels_of_the_wrong_length(digits, name: str) -> None:
    with pytest.raises(ValueError, match=r"targets must have length len\(dataset\)=1797, got 1796"):
        build(name, digits, 0.5, targets=digits.targets[:-1])


@pytest.mark.parametrize("name", list(METHODS))
def test_empty_dataset(name: str) -> None:
    empty = TensorDataset(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="dataset must not be empty"):
        build(name, empty, 0.5)
    with pytest.raises(TypeError, match="dataset"):
        build(name, 42, 0.5)


def test_kmor_more_clusters_than_samples() -> None:
    ds = TensorDataset(torch.rand(5, 2), torch.tensor([0, 1, 0, 1, 0]))
    with pytest.raises(ValueError, match="n_clusters must be <= the number of samples n=5, got 6"):
        KMeansOutlierProxy(ds, 0.5, n_clusters=6, progress=False)
    KMeansOutlierProxy(ds, 0.5, n_clusters=5, progress=False)  # K = n is allowed


@pytest.mark.parametrize(
    ("cls", "kwargs", "error", "match"),
    [
        (KMeansOutlierProxy, {"n_clusters": 0}, ValueError, "n_clusters"),
        (KMeansOutlierProxy, {"n_clusters": 2.5}, TypeError, "n_clusters"),
        (KMeansOutlierProxy, {"backend": "cuml"}, ValueError, "backend"),
        (KMeansOutlierProxy, {"n_iter": 0}, ValueError, "n_iter"),
        (KMeansOutlierProxy, {"standardize": "yes"}, TypeError, "standardize"),
        (ClassOutlierProxy, {"features": "embeddings"}, ValueError, "features"),
        (ClassOutlierProxy, {"features": [[0.0]]}, TypeError, "features"),
        (ClassOutlierProxy, {"features": np.zeros((3, 2))}, ValueError, "features"),
        (ClassOutlierProxy, {"features": np.full((1797, 2), np.nan)}, ValueError, "finite"),
        (KMeansOutlierProxy, {"features": np.zeros((1797, 0))}, ValueError, "features"),
        (ClassOutlierProxy, {"feature_batch_size": 0}, ValueError, "feature_batch_size"),
        (KMeansOutlierProxy, {"device": 3}, TypeError, "device"),
        (ClassOutlierProxy, {"device": "gpu0"}, ValueError, "device"),
        (RandomProxy, {"seed": -1}, ValueError, "seed"),
        (RandomProxy, {"num_replicas": 2, "rank": 2}, ValueError, "rank"),
    ],
)
def test_bad_parameters(digits, cls, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        cls(digits, 0.5, progress=False, **kwargs)


def test_make_proxy_names(digits) -> None:
    assert isinstance(make_proxy("km-or", digits, ratio=0.2, progress=False, **FAST_KMOR), KMeansOutlierProxy)
    assert isinstance(make_proxy("CC_OR", digits, ratio=0.2, progress=False), ClassOutlierProxy)
    assert isinstance(make_proxy("rs", digits, ratio=0.2), RandomProxy)
    assert isinstance(make_proxy("ClassRandomProxy", digits, ratio=0.2), ClassRandomProxy)
    with pytest.raises(ValueError, match=r"name must be one of .* got 'kmeans'"):
        make_proxy("kmeans", digits, ratio=0.2)
    with pytest.raises(TypeError, match="name"):
        make_proxy(3, digits, ratio=0.2)


# -- save / load -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(METHODS))
@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_save_load_round_trip(digits, tmp_path, name: str, suffix: str) -> None:
    proxy = build(name, digits, 0.3, seed=3)
    path = tmp_path / f"proxy{suffix}"
    proxy.save(path)
    for loader in (type(proxy), ProxySampler):
        loaded = loader.load(path, digits)
        assert type(loaded) is type(proxy)
        np.testing.assert_array_equal(loaded.indices, proxy.indices)
        assert loaded.get_params() == proxy.get_params()
        assert loaded.seed == 3 and loaded.ratio == 0.3
        if proxy.scores is None:
            assert loaded.scores is None
        else:
            np.testing.assert_allclose(loaded.scores, proxy.scores, rtol=1e-15)
        loaded.set_epoch(2)
        proxy.set_epoch(2)
        assert list(loaded) == list(proxy)
    if suffix == ".json":
        record = json.loads(path.read_text())
        assert record["method"] == name
        assert record["fingerprint"].startswith("n=1797;labels=")
        assert "version" in record


def test_saved_parameters_describe_features(digits, tmp_path) -> None:
    from proxydata.features import pixel_features

    x = pixel_features(digits, progress=False)
    proxy = build("km-or", digits, 0.3, features=x)
    assert proxy.get_params()["features"] is x  # kept as given
    assert proxy.resolved["features"] == "ndarray float32 (1797, 64)"
    proxy.save(tmp_path / "p.json")
    loaded = KMeansOutlierProxy.load(tmp_path / "p.json", digits)
    assert loaded.features == SavedObject("ndarray float32 (1797, 64)")  # described, not saved
    assert loaded.kmeans_result is None  # the clustering is not saved, only its outcome
    with pytest.raises(TypeError, match="features"):
        KMeansOutlierProxy(digits, **loaded.get_params())


def test_load_on_another_dataset_raises(digits, tmp_path) -> None:
    proxy = build("cc-or", digits, 0.3)
    proxy.save(tmp_path / "p.json")
    other = Subset(digits, list(range(1000)))
    with pytest.raises(ValueError, match="dataset does not match"):
        ClassOutlierProxy.load(tmp_path / "p.json", other)
    shuffled_labels = ArrayDataset(digits.images, np.roll(digits.targets, 1), scale=16.0)
    with pytest.raises(ValueError, match="fingerprint"):
        ClassOutlierProxy.load(tmp_path / "p.json", shuffled_labels)
    with pytest.raises(ValueError, match="not a 'km-or' one"):
        KMeansOutlierProxy.load(tmp_path / "p.json", digits)


# -- subset and iteration --------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(METHODS))
def test_subset(digits, name: str) -> None:
    proxy = build(name, digits, 0.2)
    sub = proxy.subset()
    assert len(sub) == len(proxy.indices)
    for pos in (0, len(sub) // 2, len(sub) - 1):
        x, y = sub[pos]
        x_ref, y_ref = digits[int(proxy.indices[pos])]
        assert torch.equal(x, x_ref) and y == y_ref


def test_iteration_shuffles_per_epoch(digits) -> None:
    proxy = build("cc-or", digits, 0.2, seed=5)
    first = list(proxy)  # epoch 0
    assert sorted(first) == proxy.indices.tolist()
    assert list(proxy) == first  # iterating changes no state: the same epoch, the same order
    proxy.set_epoch(1)  # set_epoch is the one mutator, as with DistributedSampler
    second = list(proxy)
    assert sorted(second) == sorted(first) and second != first
    proxy.set_epoch(0)
    assert list(proxy) == first
    assert list(build("cc-or", digits, 0.2, seed=5)) == first  # a fresh sampler repeats epoch 0
    assert list(build("cc-or", digits, 0.2, seed=6)) != first  # same kept set, other shuffle


def test_iteration_without_shuffle_is_index_order(digits) -> None:
    proxy = build("km-or", digits, 0.2, shuffle=False)
    assert list(proxy) == proxy.indices.tolist()
    proxy.set_epoch(3)
    assert list(proxy) == proxy.indices.tolist()


def test_dataloader_visits_exactly_the_kept_samples(digits) -> None:
    proxy = build("cc-rs", digits, 0.1)
    from proxydata import IndexedDataset

    loader = DataLoader(IndexedDataset(digits), batch_size=32, sampler=proxy)
    seen = torch.cat([batch[2] for batch in loader]).numpy()
    np.testing.assert_array_equal(np.sort(seen), proxy.indices)


# -- distributed sharding --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rs", "cc-or"])
@pytest.mark.parametrize("world", [2, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("shuffle", [True, False])
def test_sharding_matches_distributed_sampler(digits, name, world, drop_last, shuffle) -> None:
    full = build(name, digits, 0.25, seed=11)
    kept = full.indices
    shards = []
    for rank in range(world):
        proxy = build(
            name, digits, 0.25, seed=11, num_replicas=world, rank=rank, drop_last=drop_last, shuffle=shuffle
        )
        proxy.set_epoch(4)
        ref = DistributedSampler(
            range(kept.size), num_replicas=world, rank=rank, shuffle=shuffle, seed=11, drop_last=drop_last
        )
        ref.set_epoch(4)
        expected = kept[list(ref)].tolist()
        got = list(proxy)
        assert got == expected
        assert len(proxy) == len(ref)
        shards.append(got)
    union = set().union(*map(set, shards))
    if not drop_last:
        assert union == set(kept.tolist())  # together the ranks cover the kept set
    sizes = {len(s) for s in shards}
    assert len(sizes) == 1  # every rank gets the same number of samples


@pytest.mark.parametrize("world", [2, 3, 4, 5, 6])
def test_shards_are_disjoint_when_divisible(digits, world: int) -> None:
    ds = Subset(digits, list(range(1200)))
    kept = build("rs", ds, 0.5).indices
    assert kept.size == 600  # divisible by every world size here: no padding
    shards = [list(build("rs", ds, 0.5, num_replicas=world, rank=r)) for r in range(world)]
    assert all(len(s) == 600 // world for s in shards)
    assert sum(len(set(s)) for s in shards) == 600  # no repeats within or across ranks
    assert set().union(*map(set, shards)) == set(kept.tolist())


def test_padding_repeats_like_distributed_sampler() -> None:
    # 5 kept samples over 4 ranks: 8 slots, 3 of them padding taken from the start of the order.
    ds = TensorDataset(torch.zeros(10, 1), torch.zeros(10, dtype=torch.long))
    shards = [list(RandomProxy(ds, 0.5, seed=0, num_replicas=4, rank=r, shuffle=False)) for r in range(4)]
    kept = RandomProxy(ds, 0.5, seed=0).indices.tolist()
    order = kept + kept[:3]
    assert shards == [order[r::4] for r in range(4)]
