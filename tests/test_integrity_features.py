"""Feature files: an edited, unfinished or replaced file is refused (issue 29, cases 4, 8 and 9).

The sidecar and the progress files are sealed by digests; completeness is the
sidecar's list of chunk digests (checked against the rows), never a flag; the
matrix is ``<path>.partial`` until every chunk is written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from proxydata import ClassOutlierProxy, KMeansOutlierProxy
from proxydata.datasets import ArrayDataset
from proxydata.exceptions import CorruptStateError, ProxydataError, ProxydataTypeError, ProxydataValueError
from proxydata.feature_files import progress_paths, sidecar_path
from proxydata.features import extract_features, load_features


class Embed(nn.Module):
    def __init__(
        self, seed: int = 0, out: int = 5, fail_after: int | None = None, scale: float = 1.0
    ) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(12, out), nn.Tanh())
        self.fail_after, self.calls, self.scale = fail_after, 0, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("simulated crash")
        return self.net(x) * self.scale


def dataset(n: int = 40, seed: int = 0, labels_seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.rand(n, 3, 2, 2, generator=g), torch.arange(n) % 4)


def _finished(tmp_path) -> tuple[TensorDataset, Path]:
    ds, path = dataset(), tmp_path / "f.npy"
    extract_features(ds, Embed(), path, batch_size=4, chunk_size=8, progress=False)
    return ds, path


def _unfinished(tmp_path) -> tuple[TensorDataset, Path]:
    """An extraction killed after chunks 0 and 1 (of 5)."""
    ds, path = dataset(), tmp_path / "f.npy"
    with pytest.raises(RuntimeError, match="simulated crash"):
        extract_features(ds, Embed(fail_after=1 + 5), path, batch_size=4, chunk_size=8, progress=False)
    return ds, path


def _matrix_file(path: Path) -> Path:
    """Where the unfinished matrix lies (``<path>.partial`` now; ``path`` before)."""
    partial = Path(f"{path}.partial")
    return partial if partial.exists() else path


def _edit_json(p: Path, **changes) -> None:
    record = json.loads(p.read_text())
    for k, v in changes.items():
        if v is _DROP:
            record.pop(k, None)
        else:
            record[k] = v
    p.write_text(json.dumps(record))


_DROP = object()


# --- case 4 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", [True, "yes", 1, "false"])
def test_an_unfinished_file_flagged_complete_is_refused(tmp_path, flag):
    ds, path = _unfinished(tmp_path)
    _edit_json(sidecar_path(path), complete=flag)
    if not path.exists():
        shutil.copy(_matrix_file(path), path)  # even with the matrix put in place by hand
    with pytest.raises(ProxydataError):
        load_features(path)
    with pytest.raises(ProxydataError):
        KMeansOutlierProxy(ds, 0.5, n_clusters=3, features=str(path), progress=False)


@pytest.mark.parametrize("chunk_rows", [4, 16, 0, None, "8"])
def test_a_changed_chunk_size_is_refused_on_resume(tmp_path, chunk_rows):
    ds, path = _unfinished(tmp_path)
    _edit_json(sidecar_path(path), chunk_rows=chunk_rows)
    with pytest.raises(ProxydataError):
        extract_features(ds, Embed(), path, batch_size=4, progress=False)


@pytest.mark.parametrize("claim", [[0, 1, 2, 3], [0, 1, 4], [2]])
def test_a_progress_file_claiming_unwritten_chunks_is_refused(tmp_path, claim):
    ds, path = _unfinished(tmp_path)
    _edit_json(progress_paths(path)[0], chunks=claim)
    with pytest.raises(CorruptStateError):
        extract_features(ds, Embed(), path, batch_size=4, progress=False)


def test_rows_of_a_recorded_chunk_changed_are_refused_on_resume(tmp_path):
    ds, path = _unfinished(tmp_path)
    m = np.lib.format.open_memmap(_matrix_file(path), mode="r+")
    m[3] = 0.0  # chunk 0 was recorded; its rows no longer match
    m.flush()
    del m
    with pytest.raises(CorruptStateError, match="chunks"):
        extract_features(ds, Embed(), path, batch_size=4, progress=False)


def test_a_progress_file_of_another_extraction_is_refused(tmp_path):
    _ds, path = _unfinished(tmp_path)
    # a progress file sealed for another sidecar (another batch size recorded) is refused
    ds3, path3 = dataset(), tmp_path / "h.npy"
    with pytest.raises(RuntimeError, match="simulated crash"):
        extract_features(ds3, Embed(fail_after=1 + 3), path3, batch_size=2, chunk_size=8, progress=False)
    shutil.copy(progress_paths(path)[0], Path(f"{path3}.progress-1.json"))
    with pytest.raises(CorruptStateError, match="progress file"):
        extract_features(ds3, Embed(), path3, batch_size=2, progress=False)


def test_a_deleted_sidecar_leaves_nothing_loadable(tmp_path):
    ds, path = _unfinished(tmp_path)
    sidecar_path(path).unlink()
    with pytest.raises(ProxydataValueError, match="unfinished"):
        load_features(path)
    for p in progress_paths(path):
        p.unlink()
    with pytest.raises((ProxydataValueError, FileNotFoundError)):
        load_features(path)  # the unfinished matrix is not at path: never a plain .npy
    with pytest.raises(ProxydataError):
        extract_features(ds, Embed(), path, batch_size=4, chunk_size=8, progress=False)


def test_a_fingerprint_without_content_is_refused(tmp_path):
    _ds, path = _finished(tmp_path)
    meta = json.loads(sidecar_path(path).read_text())
    stripped = ";".join(p for p in meta["dataset"].split(";") if not p.startswith("content="))
    _edit_json(sidecar_path(path), dataset=stripped)
    same_labels = dataset(seed=5)
    with pytest.raises(ProxydataError):
        load_features(path, dataset=same_labels)
    with pytest.raises(ProxydataError):
        ClassOutlierProxy(same_labels, 0.5, features=str(path), progress=False)


def test_another_dataset_with_the_same_labels_is_refused(tmp_path):
    _, path = _finished(tmp_path)
    with pytest.raises(ProxydataValueError, match="content"):
        load_features(path, dataset=dataset(seed=5))


@pytest.mark.parametrize(
    "damage",
    ["zero-rows", "one-value", "float64", "transposed", "truncated", "empty"],
)
def test_a_changed_matrix_is_refused(tmp_path, damage):
    ds, path = _finished(tmp_path)
    original = np.load(path)
    if damage == "zero-rows":
        m = np.lib.format.open_memmap(path, mode="r+")
        m[10:30] = 0
        m.flush()
        del m
    elif damage == "one-value":
        m = np.lib.format.open_memmap(path, mode="r+")
        m[39, 4] += 1e-3
        m.flush()
        del m
    elif damage == "float64":
        np.save(path, original.astype(np.float64))
    elif damage == "transposed":
        np.save(path, np.ascontiguousarray(original.T).reshape(original.shape))
    elif damage == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - 17])
    else:
        path.write_bytes(b"")
    with pytest.raises(CorruptStateError):
        load_features(path)
    with pytest.raises(CorruptStateError):
        KMeansOutlierProxy(ds, 0.5, n_clusters=3, features=str(path), progress=False)


def test_verify_false_skips_only_the_content_check(tmp_path):
    _, path = _finished(tmp_path)
    m = np.lib.format.open_memmap(path, mode="r+")
    m[0, 0] += 1
    m.flush()
    del m
    assert load_features(path, verify=False).shape == (40, 5)
    np.save(path, np.zeros((40, 5)))  # float64: refused even so
    with pytest.raises(CorruptStateError):
        load_features(path, verify=False)


def test_a_memmap_of_an_unfinished_extraction_is_refused_as_features(tmp_path):
    ds, path = _unfinished(tmp_path)
    mm = np.load(_matrix_file(path), mmap_mode="r")  # as docs/scale.md says a file can be read
    with pytest.raises(ProxydataValueError, match="unfinished"):
        KMeansOutlierProxy(ds, 0.5, n_clusters=3, features=mm, progress=False)
    with pytest.raises(ProxydataValueError, match="unfinished"):
        ClassOutlierProxy(ds, 0.5, features=mm[:], progress=False)  # a view too
    if not path.exists():
        shutil.copy(_matrix_file(path), path)  # the matrix copied beside its unfinished sidecar
    with pytest.raises(ProxydataValueError, match="unfinished"):
        KMeansOutlierProxy(ds, 0.5, n_clusters=3, features=np.load(path, mmap_mode="r"), progress=False)


def test_a_memmap_of_a_finished_file_is_taken(tmp_path):
    ds, path = _finished(tmp_path)
    proxy = KMeansOutlierProxy(ds, 0.5, n_clusters=3, features=np.load(path, mmap_mode="r"), progress=False)
    again = KMeansOutlierProxy(ds, 0.5, n_clusters=3, features=str(path), progress=False)
    np.testing.assert_array_equal(proxy.indices, again.indices)


# --- every field edited in turn ----------------------------------------------------------------------


def _variants(value):
    if isinstance(value, bool):
        return [not value, str(value), 1]
    if isinstance(value, int):
        return [value + 1, 0, str(value), float(value), None]
    if isinstance(value, str):
        return [value + "x", value[:-1], None]
    if isinstance(value, list):
        return [value[:-1], [*value, value[0]], value[::-1]]
    if isinstance(value, dict):
        return [{**value, "zz": 1}, {}]
    return [None]


@pytest.mark.parametrize("finished", [True, False], ids=["finished", "unfinished"])
def test_every_sidecar_field_edited_in_turn_is_refused(tmp_path, finished):
    ds, path = _finished(tmp_path) if finished else _unfinished(tmp_path)
    side = sidecar_path(path)
    original = side.read_text()
    meta = json.loads(original)
    assert meta["version"] == 2 and isinstance(meta["digest"], str)
    for key, value in meta.items():
        for new in [*_variants(value), _DROP]:
            side.write_text(original)
            _edit_json(side, **{key: new})
            with pytest.raises(ProxydataError):
                load_features(path, dataset=ds)
            with pytest.raises(ProxydataError):
                extract_features(ds, Embed(), path, batch_size=4, progress=False)
    side.write_text(original)
    _edit_json(side, extra=1)
    with pytest.raises(CorruptStateError):
        load_features(path)
    side.write_text(original)
    if finished:
        assert load_features(path, dataset=ds).shape == (40, 5)


def test_every_progress_field_edited_in_turn_is_refused(tmp_path):
    ds, path = _unfinished(tmp_path)
    progress = progress_paths(path)[0]
    original = progress.read_text()
    record = json.loads(original)
    assert set(record) >= {"chunks", "digest"}
    for key, value in record.items():
        for new in [*_variants(value), _DROP]:
            progress.write_text(original)
            _edit_json(progress, **{key: new})
            with pytest.raises(CorruptStateError):
                extract_features(ds, Embed(), path, batch_size=4, progress=False)
    progress.write_text(original)
    resumed = Embed()
    out = extract_features(ds, resumed, path, batch_size=4, progress=False)
    assert resumed.calls == 1 + 6  # the probe, then 3 chunks of 2 batches
    assert out.shape == (40, 5)


@pytest.mark.parametrize("version", [1, 3, "2", None])
def test_another_sidecar_version_is_refused_with_the_fix(tmp_path, version):
    _ds, path = _finished(tmp_path)
    _edit_json(sidecar_path(path), version=version)
    with pytest.raises(CorruptStateError, match="extract"):
        load_features(path)


# --- cases 8 and 9: files and inputs outside the family ---------------------------------------------


@pytest.mark.parametrize("content", [b"", b"\x93NUMPY", b"not an array at all"])
def test_a_plain_npy_that_is_no_array_is_refused(tmp_path, content):
    path = tmp_path / "plain.npy"
    path.write_bytes(content)
    with pytest.raises(CorruptStateError):
        load_features(path)


def test_a_truncated_plain_npy_is_refused(tmp_path):
    path = tmp_path / "plain.npy"
    np.save(path, np.ones((40, 5), dtype=np.float32))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(CorruptStateError):
        load_features(path)


def test_a_truncated_partial_matrix_is_refused_on_resume(tmp_path):
    ds, path = _unfinished(tmp_path)
    matrix = _matrix_file(path)
    matrix.write_bytes(matrix.read_bytes()[:100])
    with pytest.raises(CorruptStateError):
        extract_features(ds, Embed(), path, batch_size=4, progress=False)


def test_input_key_on_tuple_items_is_refused_before_work(tmp_path):
    ds = ArrayDataset(np.random.default_rng(0).random((12, 3, 2, 2), dtype=np.float32), np.arange(12) % 3)
    model = Embed()
    with pytest.raises(ProxydataTypeError, match="input_key"):
        extract_features(ds, model, tmp_path / "f.npy", input_key="image", progress=False)
    assert model.calls == 0 and not any(tmp_path.iterdir())


def test_outputs_beyond_float32_are_refused(tmp_path):
    ds = dataset()

    class Huge(Embed):
        def forward(self, x):
            return super().forward(x).double() * 1e300

    with pytest.raises(ProxydataValueError, match="float32"):
        extract_features(ds, Huge(), tmp_path / "f.npy", batch_size=4, progress=False)


def test_an_interrupted_resume_still_finishes(tmp_path):
    ds, path = _unfinished(tmp_path)
    with pytest.raises(RuntimeError, match="simulated crash"):
        extract_features(ds, Embed(fail_after=1 + 2), path, batch_size=4, progress=False)
    out = extract_features(ds, Embed(), path, batch_size=4, progress=False)
    fresh = extract_features(ds, Embed(), tmp_path / "g.npy", batch_size=4, chunk_size=8, progress=False)
    np.testing.assert_array_equal(out, fresh)
    assert load_features(path, dataset=ds).shape == (40, 5)
