"""proxydata.features: pixel and model features."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset

from proxydata.batches import ImageBatches, array_source
from proxydata.data import IndexedDataset
from proxydata.datasets import ArrayDataset
from proxydata.exceptions import ProxydataTypeError
from proxydata.features import (
    is_array_backed,
    model_features,
    pixel_batches,
    pixel_features,
    standardize_,
)
from proxydata.items import pixels_to_float


class ItemsOnly(Dataset):
    """Hides the array behind a dataset so that the generic DataLoader path runs."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        return self.dataset[i]


@pytest.fixture(scope="module")
def small_rgb() -> ArrayDataset:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(50, 6, 5, 3), dtype=np.uint8)  # channels last, like CIFAR
    return ArrayDataset(images, rng.integers(0, 3, 50))


def test_pixel_features_are_the_flattened_items(small_rgb: ArrayDataset) -> None:
    x = pixel_features(small_rgb, progress=False)
    assert x.shape == (50, 3 * 6 * 5) and x.dtype == np.float32
    for i in (0, 17, 49):
        np.testing.assert_array_equal(x[i], small_rgb[i][0].numpy().ravel())
    # (C, H, W) order: the first 30 values are the red channel of image 0.
    np.testing.assert_array_equal(x[0, :30], small_rgb.images[0, 0].ravel() / np.float32(255))


def test_array_fast_path_equals_generic_path(small_rgb: ArrayDataset, digits: ArrayDataset) -> None:
    for ds in (small_rgb, digits):
        assert is_array_backed(ds) and not is_array_backed(ItemsOnly(ds))
        fast = pixel_features(ds, batch_size=7, progress=False)
        slow = pixel_features(ItemsOnly(ds), batch_size=64, progress=False)
        np.testing.assert_array_equal(fast, slow)  # bit-identical, not merely close
    rows = [9, 3, 3, 40, 0]
    sub = Subset(Subset(small_rgb, list(range(45, -1, -1))), rows)
    assert is_array_backed(sub)
    np.testing.assert_array_equal(
        pixel_features(sub, progress=False), pixel_features(ItemsOnly(sub), progress=False)
    )


def test_pixel_batches_stream_the_same_rows(small_rgb: ArrayDataset) -> None:
    full = pixel_features(small_rgb, progress=False)
    for ds in (small_rgb, ItemsOnly(small_rgb)):
        blocks = list(pixel_batches(ds, batch_size=16))
        assert [b.shape[0] for b in blocks] == [16, 16, 16, 2]
        np.testing.assert_array_equal(torch.cat(blocks).numpy(), full)


def test_generic_path_accepts_bare_and_numpy_items() -> None:
    class Bare(Dataset):
        def __len__(self) -> int:
            return 3

        def __getitem__(self, i: int) -> np.ndarray:
            return np.full((2, 2), i, dtype=np.float64)

    x = pixel_features(Bare(), progress=False)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, np.repeat(np.arange(3.0), 4).reshape(3, 4))


def test_standardize_matches_standard_scaler(digits: ArrayDataset) -> None:
    from sklearn.preprocessing import StandardScaler

    raw = pixel_features(digits, progress=False)
    z = pixel_features(digits, standardize=True, batch_size=100, progress=False)
    expected = StandardScaler().fit_transform(raw.astype(np.float64))
    assert z.dtype == np.float32
    np.testing.assert_allclose(z, expected, atol=1e-5)
    constant = raw.std(axis=0) == 0
    assert constant.any()  # digits has always-blank corner pixels: they must become 0, not NaN
    assert np.all(z[:, constant] == 0)


def test_standardize_in_place_returns_the_moments() -> None:
    x = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]], dtype=np.float32)
    mean, std = standardize_(x, batch_size=2)
    # Column 0: mean 3, population std sqrt(8/3); column 1 is constant: std taken as 1.
    np.testing.assert_allclose(mean, [3.0, 5.0])
    np.testing.assert_allclose(std, [np.sqrt(8.0 / 3.0), 1.0])
    np.testing.assert_allclose(x[:, 0], np.array([-2.0, 0.0, 2.0]) / np.sqrt(8.0 / 3.0), rtol=1e-6)
    np.testing.assert_array_equal(x[:, 1], [0.0, 0.0, 0.0])
    with pytest.raises(TypeError, match="float32"):
        standardize_(np.zeros((2, 2)))
    readonly = np.zeros((2, 2), dtype=np.float32)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        standardize_(readonly)


def test_pixel_features_hold_no_float64_copy() -> None:
    rng = np.random.default_rng(1)
    ds = ArrayDataset(rng.integers(0, 256, size=(4000, 3, 16, 16), dtype=np.uint8), np.zeros(4000, int))
    out_bytes = 4000 * 768 * 4
    pixel_features(ds, standardize=True, batch_size=128, progress=False)  # warm-up: imports
    tracemalloc.start()
    try:
        pixel_features(ds, standardize=True, batch_size=128, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The float32 result plus a few float64 chunks; a float64 copy would add 2x the result.
    assert peak < 1.5 * out_bytes


def test_model_features_run_in_eval_mode_without_grad(digits: ArrayDataset) -> None:
    torch.manual_seed(0)
    seen: list[tuple[bool, bool]] = []

    class Probe(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 5), nn.Dropout(0.9))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append((self.training, torch.is_grad_enabled()))
            return self.body(x)

    model = Probe().train()
    feats = model_features(digits, model, batch_size=500, progress=False)
    assert feats.shape == (len(digits), 5) and feats.dtype == np.float32
    assert seen and all(not training and not grad for training, grad in seen)
    assert model.training  # restored
    # Eval mode: dropout is off, so the rows are the linear map of the pixels.
    pixels = torch.from_numpy(pixel_features(digits, progress=False))
    with torch.no_grad():
        expected = model.body[1](pixels).numpy()
    np.testing.assert_allclose(feats, expected, rtol=1e-5, atol=1e-6)


def test_model_features_identity_equals_pixels(small_rgb: ArrayDataset) -> None:
    np.testing.assert_array_equal(
        model_features(ItemsOnly(small_rgb), nn.Flatten(), batch_size=8, progress=False),
        pixel_features(small_rgb, progress=False),
    )


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: pixel_features([]), ValueError, "empty"),
        (lambda: pixel_features(42), TypeError, "dataset"),
        (lambda: pixel_features(TensorDataset(torch.zeros(0, 2)), progress=False), ValueError, "empty"),
        (lambda: pixel_features(TensorDataset(torch.zeros(3, 2)), batch_size=0), ValueError, "batch_size"),
        (lambda: pixel_features(TensorDataset(torch.zeros(3, 2)), standardize=1), TypeError, "standardize"),
        (
            lambda: pixel_features([("a", 0)], progress=False),
            ProxydataTypeError,
            "tensor, a numpy array, a PIL image",
        ),
        (lambda: model_features(TensorDataset(torch.zeros(3, 2)), "net"), TypeError, "model"),
        (
            lambda: model_features(TensorDataset(torch.zeros(3, 2)), nn.Flatten(), device=3),
            TypeError,
            "device",
        ),
    ],
)
def test_features_reject_bad_input(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()


def test_images_of_different_shapes_are_rejected() -> None:
    items = [(torch.zeros(2, 2), 0), (torch.zeros(3, 3), 1)]
    with pytest.raises(ValueError, match="shape"):
        pixel_features(items, progress=False)


def test_indexed_dataset_keeps_the_fast_path(small_rgb: ArrayDataset) -> None:
    # 0.1: features.py and the AE/TL batch reader had drifted apart; IndexedDataset hid the array.
    for ds in (IndexedDataset(small_rgb), Subset(IndexedDataset(Subset(small_rgb, range(40))), [3, 1])):
        assert is_array_backed(ds)
        np.testing.assert_array_equal(
            pixel_features(ds, progress=False), pixel_features(ItemsOnly(ds), progress=False)
        )
        idx = np.arange(len(ds))[::-1].copy()
        assert torch.equal(ImageBatches(ds, "t").get(idx), ImageBatches(ItemsOnly(ds), "t").get(idx))
    assert not is_array_backed(ArrayDataset(small_rgb.images, small_rgb.targets, transform=lambda x: x))
    assert array_source(ArrayDataset(small_rgb.images, small_rgb.targets, transform=lambda x: x), raw=True)


def test_uint8_tensor_dataset_is_scaled_like_an_array_dataset(small_rgb: ArrayDataset) -> None:
    tensors = TensorDataset(torch.from_numpy(small_rgb.images), torch.from_numpy(small_rgb.targets))
    assert is_array_backed(tensors)
    expected = pixel_features(small_rgb, progress=False)
    np.testing.assert_array_equal(pixel_features(tensors, progress=False), expected)
    np.testing.assert_array_equal(pixel_features(ItemsOnly(tensors), progress=False), expected)
    assert float(expected.max()) <= 1.0
    batches = ImageBatches(tensors, "t").get(np.array([4, 0]))
    assert torch.equal(batches, torch.from_numpy(expected[[4, 0]]).reshape(2, *small_rgb.image_shape))


def test_pixels_to_float_is_one_rounded_division() -> None:
    raw = np.arange(256, dtype=np.uint8)
    out = pixels_to_float(raw)
    assert out.dtype == torch.float32
    np.testing.assert_array_equal(out.numpy(), raw.astype(np.float32) / np.float32(255))
    assert torch.equal(pixels_to_float(torch.from_numpy(raw)), out)  # torch and numpy agree bit for bit
    np.testing.assert_array_equal(pixels_to_float(np.array([16.0]), 16.0).numpy(), [1.0])
    np.testing.assert_array_equal(pixels_to_float(np.array([300], dtype=np.int64)).numpy(), [300.0])
