"""proxydata.datasets: ArrayDataset and the npz / source loaders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from proxydata.datasets import ArrayDataset, load_npz, load_source
from proxydata.exceptions import ProxydataTypeError, ProxydataValueError


def _npz(tmp_path: Path, x: np.ndarray, y: np.ndarray) -> str:
    path = tmp_path / "data.npz"
    np.savez(path, x_train=x, y_train=y)
    return str(path)


def test_load_npz_uint8_channels_last(tmp_path: Path) -> None:
    x = np.arange(2 * 5 * 5 * 3, dtype=np.uint8).reshape(2, 5, 5, 3)
    ds = load_npz(_npz(tmp_path, x, np.array([1, 0], dtype=np.uint8)))
    assert ds.image_shape == (3, 5, 5)
    img, label = ds[1]
    assert torch.equal(img, torch.from_numpy(x[1].transpose(2, 0, 1).astype(np.float32)) / 255)
    assert label == 0 and ds.targets.dtype == np.int64


def test_load_npz_rejects_fractional_labels(tmp_path: Path) -> None:
    # 0.1 cast y to int64 first: labels 0.5 ... 9.5 became 0 ... 9 (issue 9).
    path = _npz(tmp_path, np.zeros((10, 2, 2), np.uint8), np.arange(10) + 0.5)
    with pytest.raises(ProxydataTypeError, match=r"y_train of .*non-integral"):
        load_npz(path)
    ok = load_npz(_npz(tmp_path, np.zeros((3, 2, 2), np.uint8), np.array([2.0, 0.0, 1.0])))
    np.testing.assert_array_equal(ok.targets, [2, 0, 1])


def test_load_npz_float_images_outside_unit_range_need_a_scale(tmp_path: Path) -> None:
    # 0.1 used float 0-255 images unscaled (issue 9); now an error naming the fix.
    x = np.full((2, 1, 2, 2), 200.0, dtype=np.float32)
    path = _npz(tmp_path, x, np.array([0, 1]))
    with pytest.raises(ProxydataValueError, match=r"values in \[200, 200\], not \[0, 1\].*scale="):
        load_npz(path)
    ds = load_npz(path, scale=255)
    assert torch.allclose(ds[0][0], torch.full((1, 2, 2), 200 / 255))
    unit = load_npz(_npz(tmp_path, x / 255, np.array([0, 1])))
    assert float(unit[0][0].max()) <= 1.0


def test_load_npz_bad_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ProxydataValueError, match="does not name an npz file"):
        load_npz(str(tmp_path / "missing.npz"))
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ProxydataValueError, match=r"cannot read npz file .*garbage\.npz"):
        load_npz(str(garbage))
    path = _npz(tmp_path, np.zeros((2, 2, 2), np.uint8), np.array([0, 1]))
    with pytest.raises(ProxydataValueError, match="lacks arrays 'x_test'/'y_test'"):
        load_npz(path, split="test")


def test_array_dataset_checks_scale_and_shape() -> None:
    with pytest.raises(ProxydataValueError, match="scale"):
        ArrayDataset(np.zeros((2, 2, 2)), [0, 1], scale=0)
    with pytest.raises(ProxydataValueError, match="3-D or 4-D"):
        ArrayDataset(np.zeros((2, 2)), [0, 1])
    with pytest.raises(ProxydataTypeError, match="numeric"):
        ArrayDataset(np.full((2, 2, 2), "a"), [0, 1])


def test_load_source_strings() -> None:
    assert len(load_source("digits")) == 1797
    with pytest.raises(ProxydataValueError, match="'digits', 'npz:PATH'"):
        load_source("mnist")
    with pytest.raises(ProxydataTypeError, match="source string"):
        load_source(3)
