"""Hugging Face ``datasets`` (dict items, lazy ``Column``s) wherever a dataset is accepted.

Every test builds an in-memory ``datasets.Dataset`` (no download) in the plain
and the ``torch`` format and compares with the same data as a ``TensorDataset``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Subset, TensorDataset

import proxydata
from proxydata.batches import ImageBatches
from proxydata.data import IndexedDataset, get_targets
from proxydata.exceptions import ProxydataValueError
from proxydata.features import is_array_backed, model_features, pixel_batches, pixel_features
from proxydata.fingerprint import dataset_fingerprint, fingerprint_differences

datasets = pytest.importorskip("datasets", reason="the hf extra (datasets) is not installed")

N = 60
RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, size=(N, 3, 6, 6), dtype=np.uint8)
LABELS = RNG.integers(0, 4, size=N)


def tensors() -> TensorDataset:
    return TensorDataset(torch.from_numpy(IMAGES), torch.from_numpy(LABELS))


@pytest.fixture(scope="module", params=["plain", "torch"])
def hf(request):
    ds = datasets.Dataset.from_dict({"image": IMAGES, "label": LABELS})
    return ds if request.param == "plain" else ds.with_format("torch")


def test_labels_from_the_dataset_and_its_column(hf) -> None:
    np.testing.assert_array_equal(get_targets(hf), LABELS)
    # 0.1: hf["label"] (a lazy Column in datasets >= 4) raised IndexError (issue 10).
    np.testing.assert_array_equal(get_targets(hf["label"]), LABELS)
    np.testing.assert_array_equal(get_targets(list(hf["label"])), LABELS)
    np.testing.assert_array_equal(get_targets(IndexedDataset(hf)), LABELS)
    np.testing.assert_array_equal(get_targets(Subset(hf, [5, 2])), LABELS[[5, 2]])
    assert get_targets(hf).dtype == np.int64


def test_indexed_dataset_items_equal_the_tensor_dataset_items(hf) -> None:
    ds, ref = IndexedDataset(hf), IndexedDataset(tensors())
    for i in (0, 17, N - 1):
        (x, y, j), (rx, ry, rj) = ds[i], ref[i]
        assert isinstance(x, torch.Tensor) and torch.equal(x.to(torch.uint8), rx)
        assert int(y) == int(ry) and j == rj == i
    x, y, idx = next(iter(DataLoader(ds, batch_size=8, sampler=[3, 9, 1])))
    assert torch.equal(x.to(torch.uint8), torch.from_numpy(IMAGES[[3, 9, 1]]))
    assert y.tolist() == LABELS[[3, 9, 1]].tolist() and idx.tolist() == [3, 9, 1]


def test_pixel_and_model_features_equal_the_tensor_dataset_ones(hf) -> None:
    expected = pixel_features(tensors(), progress=False)
    assert float(expected.max()) <= 1.0  # uint8 pixels scaled by 1/255, as ArrayDataset does
    assert is_array_backed(hf) and is_array_backed(IndexedDataset(hf))
    for ds in (hf, IndexedDataset(hf)):
        np.testing.assert_array_equal(pixel_features(ds, batch_size=7, progress=False), expected)
    np.testing.assert_array_equal(pixel_features(Subset(hf, [9, 4]), progress=False), expected[[9, 4]])
    streamed = torch.cat(list(pixel_batches(hf, batch_size=16))).numpy()
    np.testing.assert_array_equal(streamed, expected)
    net = torch.nn.Flatten()
    np.testing.assert_array_equal(model_features(hf, net, progress=False), expected)


def test_a_set_transform_is_applied_item_by_item(hf) -> None:
    def to_float(batch: dict) -> dict:
        return {
            "image": [torch.as_tensor(np.asarray(x)).float() / 255 for x in batch["image"]],
            "label": batch["label"],
        }

    transformed = hf.with_transform(to_float)
    assert not is_array_backed(transformed)
    np.testing.assert_allclose(
        pixel_features(transformed, progress=False),
        pixel_features(tensors(), progress=False),
        rtol=0,
        atol=1e-7,
    )


def test_image_columns_are_read_channels_first() -> None:
    pil = pytest.importorskip("PIL.Image")
    hwc = IMAGES.transpose(0, 2, 3, 1)[:10]
    features = datasets.Features({"img": datasets.Image(), "label": datasets.Value("int64")})
    ds = datasets.Dataset.from_dict(
        {"img": [pil.fromarray(a) for a in hwc], "label": LABELS[:10].tolist()}, features=features
    )
    expected = pixel_features(TensorDataset(torch.from_numpy(IMAGES[:10])), progress=False)
    for form in (ds, ds.with_format("torch"), ds.with_transform(lambda b: b)):  # array path, then PIL items
        np.testing.assert_array_equal(pixel_features(form, progress=False), expected)
    np.testing.assert_array_equal(get_targets(ds), LABELS[:10])


def test_image_batches_for_ae_and_tl(hf) -> None:
    idx = np.array([7, 0, 33])
    expected = ImageBatches(tensors(), "t").get(idx)
    got = ImageBatches(hf, "t")
    assert got.shape == (3, 6, 6)
    assert torch.equal(got.get(idx), expected)


def test_static_samplers_select_the_same_samples(hf) -> None:
    ref = tensors()
    for method, kwargs in (("cc-or", {}), ("cc-rs", {}), ("km-or", {"n_clusters": 4})):
        got = proxydata.make_proxy(method, hf, ratio=0.4, seed=1, progress=False, **kwargs)
        want = proxydata.make_proxy(method, ref, ratio=0.4, seed=1, progress=False, **kwargs)
        np.testing.assert_array_equal(got.indices, want.indices, err_msg=method)


def test_autoencoder_proxy_on_hf_equals_tensor_dataset(hf) -> None:
    common = {"ratio": 0.5, "epochs": 1, "batch_size": 32, "progress": False}
    got = proxydata.AutoencoderProxy(hf, **common)
    want = proxydata.AutoencoderProxy(tensors(), **common)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-6)


def test_bilevel_pruner_takes_hf_targets(hf) -> None:
    train, val = proxydata.split_indices(N, 0.5, seed=0, stratify=LABELS)
    kwargs = {"epochs": 4, "interval": 2, "train_prune_ratio": 0.2, "val_prune_ratio": 0.2, "seed": 0}
    for targets in (get_targets(hf), hf["label"]):
        pruner = proxydata.BiLevelPruner(get_targets(targets), train, val, **kwargs)
        np.testing.assert_array_equal(pruner.targets, LABELS)


def test_fingerprint_is_the_same_in_every_format(hf) -> None:
    fp = dataset_fingerprint(hf)
    assert fp == dataset_fingerprint(tensors())
    assert fp == dataset_fingerprint(hf.with_transform(lambda b: b))  # stored content, not the transform
    changed = datasets.Dataset.from_dict({"image": 255 - IMAGES, "label": LABELS})
    assert fingerprint_differences(fp, dataset_fingerprint(changed)) == ["content"]


def test_other_key_names_go_through_indexed_dataset() -> None:
    ds = datasets.Dataset.from_dict({"pixels": IMAGES, "y": LABELS, "label_text": ["a"] * N})
    with pytest.raises(ProxydataValueError, match="no input key found"):
        pixel_features(ds, progress=False)
    with pytest.raises(ProxydataValueError, match="no label key found"):
        get_targets(ds)
    wrapped = IndexedDataset(ds, input_key="pixels", label_key="y")
    np.testing.assert_array_equal(get_targets(wrapped), LABELS)
    np.testing.assert_array_equal(
        pixel_features(wrapped, progress=False), pixel_features(tensors(), progress=False)
    )
    proxy = proxydata.ClassOutlierProxy(wrapped, ratio=0.5, progress=False)
    want = proxydata.ClassOutlierProxy(tensors(), ratio=0.5, progress=False)
    np.testing.assert_array_equal(proxy.indices, want.indices)
    with pytest.raises(ProxydataValueError, match="label_key='target' is not a key"):
        IndexedDataset(ds, input_key="pixels", label_key="target")


def test_images_of_different_sizes_are_an_error() -> None:
    ragged = datasets.Dataset.from_dict(
        {"image": [np.zeros((1, 2, 2)), np.zeros((1, 3, 3))], "label": [0, 1]}
    )
    with pytest.raises(ProxydataValueError, match="shape"):
        pixel_features(ragged, progress=False)


def test_row_order_of_a_shuffled_or_selected_dataset_is_kept() -> None:
    base = datasets.Dataset.from_dict({"image": IMAGES, "label": LABELS})
    expected = pixel_features(tensors(), progress=False)
    order = np.array([7, 3, 59, 0, 12])
    picked = base.select(order.tolist())
    np.testing.assert_array_equal(pixel_features(picked, progress=False), expected[order])
    np.testing.assert_array_equal(get_targets(picked), LABELS[order])
    shuffled = base.shuffle(seed=0)
    perm = np.array(
        [int(np.flatnonzero((IMAGES == np.asarray(r["image"])).all(axis=(1, 2, 3)))[0]) for r in shuffled]
    )
    np.testing.assert_array_equal(pixel_features(shuffled, progress=False), expected[perm])


def test_fixed_shape_array_columns_are_read_too() -> None:
    features = datasets.Features(
        {"image": datasets.Array3D(shape=(3, 6, 6), dtype="uint8"), "label": datasets.Value("int64")}
    )
    ds = datasets.Dataset.from_dict({"image": IMAGES, "label": LABELS}, features=features)
    np.testing.assert_array_equal(
        pixel_features(ds, progress=False), pixel_features(tensors(), progress=False)
    )
