"""Feature files: extract_features / load_features in one process, and the samplers reading them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from proxydata import ClassOutlierProxy, KMeansOutlierProxy
from proxydata.exceptions import CorruptStateError
from proxydata.feature_files import progress_paths, sidecar_path
from proxydata.features import (
    FeatureMatrix,
    extract_features,
    load_features,
    model_features,
    model_identity,
)


class Embed(nn.Module):
    """A small deterministic embedding; ``fail_after`` batches, it raises (a simulated crash)."""

    def __init__(self, seed: int = 0, out: int = 5) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(12, out), nn.Tanh())
        self.fail_after: int | None = None  # not state: the identity ignores it
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("simulated crash")
        return self.net(x)


def dataset(n: int = 53, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.rand(n, 3, 2, 2, generator=g), torch.arange(n) % 4)


def test_extraction_equals_model_features_and_records_its_identity(tmp_path) -> None:
    ds, model = dataset(), Embed()
    path = tmp_path / "f.npy"
    out = extract_features(ds, model, path, batch_size=4, chunk_size=8, progress=False)
    assert isinstance(out, np.memmap) and out.shape == (53, 5) and out.dtype == np.float32
    assert not out.flags.writeable
    # Chunks are multiples of the batch: the same batches as one model_features pass.
    np.testing.assert_array_equal(out, model_features(ds, model, batch_size=4, progress=False))
    meta = json.loads(sidecar_path(path).read_text())
    assert meta["complete"] and meta["chunk_rows"] == 8 and (meta["n"], meta["d"]) == (53, 5)
    assert meta["model"] == model_identity(model) and meta["model"]["class"].endswith("Embed")
    assert meta["dataset"].startswith("n=53;labels=")
    assert progress_paths(path) == []  # removed once complete
    np.testing.assert_array_equal(load_features(path, dataset=ds), out)
    assert model.training  # the training flag is restored


def test_a_finished_file_is_returned_without_running_the_model(tmp_path) -> None:
    ds, model = dataset(), Embed()
    first = np.array(extract_features(ds, model, tmp_path / "f.npy", batch_size=8, progress=False))
    model.calls = 0
    again = extract_features(ds, model, tmp_path / "f.npy", batch_size=8, progress=False)
    np.testing.assert_array_equal(again, first)
    assert model.calls == 1  # only the one-item probe of the output size


def test_an_interrupted_extraction_resumes_where_it_stopped(tmp_path) -> None:
    ds, path = dataset(), tmp_path / "f.npy"
    reference = model_features(ds, Embed(), batch_size=4, progress=False)
    crashing = Embed()
    crashing.fail_after = 1 + 5  # the probe, then 5 batches: chunk 0 and 1 (2 batches each) finish
    with pytest.raises(RuntimeError, match="simulated crash"):
        extract_features(ds, crashing, path, batch_size=4, chunk_size=8, progress=False)
    meta = json.loads(sidecar_path(path).read_text())
    assert not meta["complete"]
    recorded = json.loads(progress_paths(path)[0].read_text())["chunks"]
    assert recorded == [0, 1]
    with pytest.raises(ValueError, match="unfinished extraction"):
        load_features(path)
    with pytest.raises(ValueError, match="unfinished"):
        KMeansOutlierProxy(ds, 0.5, n_clusters=3, features=str(path), progress=False)

    resumed = Embed()
    out = extract_features(ds, resumed, path, batch_size=4, progress=False)
    # 7 chunks of 8 rows; 2 were done: 5 chunks, 10 batches of 4 (+ the probe).
    assert resumed.calls == 1 + 10
    np.testing.assert_array_equal(out, reference)
    assert json.loads(sidecar_path(path).read_text())["complete"]


def test_a_file_of_another_model_or_dataset_is_refused(tmp_path) -> None:
    ds, path = dataset(), tmp_path / "f.npy"
    extract_features(ds, Embed(seed=0), path, batch_size=8, progress=False)
    with pytest.raises(ValueError, match="another model"):
        extract_features(ds, Embed(seed=1), path, batch_size=8, progress=False)
    other = dataset(seed=1)  # same length and labels, other images
    with pytest.raises(ValueError, match="another dataset"):
        extract_features(other, Embed(seed=0), path, batch_size=8, progress=False)
    with pytest.raises(ValueError, match="another dataset"):
        load_features(path, dataset=other)
    with pytest.raises(ValueError, match="another dataset"):
        ClassOutlierProxy(other, 0.5, features=str(path), progress=False)
    with pytest.raises(ValueError, match="chunk_size"):
        extract_features(ds, Embed(seed=0), path, batch_size=8, chunk_size=3, progress=False)


def test_a_foreign_npy_is_not_overwritten(tmp_path) -> None:
    path = tmp_path / "mine.npy"
    np.save(path, np.zeros((53, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="not written by extract_features"):
        extract_features(dataset(), Embed(), path, progress=False)
    assert load_features(path).shape == (53, 5)  # a plain .npy is read as it is


def test_bad_arguments_are_named(tmp_path) -> None:
    ds = dataset()
    with pytest.raises(ValueError, match="path"):
        extract_features(ds, Embed(), tmp_path / "f.txt", progress=False)
    with pytest.raises(TypeError, match="model"):
        extract_features(ds, "resnet", tmp_path / "f.npy", progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        extract_features(ds, Embed(), tmp_path / "f.npy", batch_size=0, progress=False)
    with pytest.raises(FileNotFoundError, match="path"):
        load_features(tmp_path / "absent.npy")
    sidecar_path(tmp_path / "g.npy").write_text("{}")
    np.save(tmp_path / "g.npy", np.zeros((2, 2), np.float32))
    with pytest.raises(CorruptStateError, match="sidecar"):
        load_features(tmp_path / "g.npy")


def test_samplers_take_the_file_as_features(tmp_path) -> None:
    ds, model = dataset(n=80), Embed()
    path = extract_features(ds, model, tmp_path / "f.npy", batch_size=16, progress=False).filename
    x = model_features(ds, model, batch_size=16, progress=False)
    for cls, kwargs in ((ClassOutlierProxy, {}), (KMeansOutlierProxy, {"n_clusters": 4})):
        from_file = cls(ds, 0.5, features=str(path), progress=False, **kwargs)
        from_array = cls(ds, 0.5, features=x, progress=False, **kwargs)
        np.testing.assert_array_equal(from_file.indices, from_array.indices)
        np.testing.assert_allclose(from_file.scores, from_array.scores, rtol=1e-6)
        assert from_file.get_params()["features"] == str(path)  # kept as given


def test_feature_matrix_standardises_on_the_fly_without_touching_the_file(tmp_path) -> None:
    from proxydata.features import column_moments, standardize_

    rng = np.random.default_rng(0)
    x = (rng.standard_normal((300, 7)) * [1, 2, 3, 4, 5, 6, 7] + 10).astype(np.float32)
    x[:, 3] = 2.5  # a constant column: std 1, as StandardScaler
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    mean, std = column_moments(mapped, chunk_rows=17)
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(axis=0), rtol=1e-12)
    expected_std = x.astype(np.float64).std(axis=0)
    expected_std[3] = 1.0
    np.testing.assert_allclose(std, expected_std, rtol=1e-10)
    matrix = FeatureMatrix.standardize(mapped, chunk_rows=17)
    streamed = np.concatenate([block.copy() for _, block in matrix.chunks()])
    in_place = x.copy()
    standardize_(in_place)
    np.testing.assert_array_equal(streamed, in_place)  # the same float32 arithmetic
    np.testing.assert_array_equal(matrix.take(np.array([4, 250])), in_place[[4, 250]])
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), x)


def test_non_finite_values_are_named_by_sample(tmp_path) -> None:
    from proxydata.features import column_moments

    x = np.ones((50, 3), dtype=np.float32)
    x[37, 1] = np.nan
    with pytest.raises(ValueError, match="sample 37"):
        column_moments(x, chunk_rows=8)
    with pytest.raises(ValueError, match="sample 37"):
        FeatureMatrix(x, chunk_rows=8).check_finite()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; none here")
def test_extraction_on_a_gpu_equals_the_cpu(tmp_path) -> None:  # pragma: no cover - needs a GPU
    ds, model = dataset(), Embed()
    cpu = np.array(extract_features(ds, model, tmp_path / "cpu.npy", batch_size=8, progress=False))
    model.cuda()
    gpu = extract_features(ds, model, tmp_path / "gpu.npy", batch_size=8, device="cuda", progress=False)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-6)
