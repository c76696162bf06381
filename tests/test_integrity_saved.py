"""Saved proxies: an edited file is refused whatever format it claims (issue 29, case 3).

A format-3 file is sealed by its digest; setting its ``format`` back to 2 or
removing it (read as format 1) used to skip the digest check. Now a file that
claims an older format but carries a field only format 3 writes is refused, and
a genuinely old file (no digest) loads only with ``verify=False``, which warns.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from torch import nn

from proxydata import (
    AutoencoderProxy,
    ClassOutlierProxy,
    CorruptStateError,
    ProxySampler,
    TransferProxy,
    make_proxy,
)
from proxydata.datasets import ArrayDataset

Y = np.arange(40) % 4


@pytest.fixture(scope="module")
def data() -> ArrayDataset:
    rng = np.random.default_rng(0)
    return ArrayDataset(rng.random((40, 1, 8, 8), dtype=np.float32), Y)


def _build(method, data):
    if method == "ae":
        return AutoencoderProxy(data, 0.5, epochs=1, batch_size=8, progress=False)
    if method == "tl":
        return TransferProxy(data, 0.5, backbone=nn.Flatten(), epochs=1, batch_size=8, progress=False)
    return make_proxy(method, data, ratio=0.5, seed=1, progress=False)


@pytest.fixture(scope="module", params=["rs", "cc-rs", "cc-or", "ae", "tl"])
def saved(request, data, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    proxy = _build(request.param, data)
    proxy.save(folder / "p.json")
    proxy.save(folder / "p.npz")
    return proxy, folder


def _json(folder):
    return json.loads((folder / "p.json").read_text())


def _npz(folder):
    with np.load(folder / "p.npz") as z:
        return {k: z[k] for k in z.files}


def _write_npz(path, arrays, meta):
    np.savez(path, **{**arrays, "meta": np.array(json.dumps(meta))})


@pytest.mark.parametrize("claim", [2, 1, None], ids=["format-2", "format-1", "no-format"])
def test_edited_file_with_an_older_format_claim_refused(data, saved, tmp_path, claim):
    _, folder = saved
    record = _json(folder)
    record["indices"] = [*record["indices"][1:], record["indices"][0]]  # any edit at all
    record["fit_seconds"] = 123.0
    if claim is None:
        del record["format"]
    else:
        record["format"] = claim
    path = tmp_path / "old.json"
    path.write_text(json.dumps(record))
    for verify in (True, False):
        with pytest.raises(CorruptStateError, match="format"):
            ProxySampler.load(path, data, verify=verify)
    # also unedited: a format-3 file calling itself older is refused
    record = _json(folder)
    record["format"] = 2
    path.write_text(json.dumps(record))
    with pytest.raises(CorruptStateError, match="only format 3 writes"):
        ProxySampler.load(path, data, verify=False)


@pytest.mark.parametrize("claim", [2, 1, None])
def test_npz_with_an_older_format_claim_refused(data, saved, tmp_path, claim):
    _, folder = saved
    arrays = _npz(folder)
    meta = json.loads(str(arrays.pop("meta")))
    meta.pop("digest")
    if claim is None:
        meta.pop("format")
    else:
        meta["format"] = claim
    arrays["split"] = np.arange(40)
    _write_npz(tmp_path / "old.npz", arrays, meta)
    with pytest.raises(CorruptStateError, match="split"):
        ProxySampler.load(tmp_path / "old.npz", data, verify=False)


def _strip_to_format(record, version):
    old = {k: v for k, v in record.items() if k not in ("digest", "split")}
    if version == 1:
        del old["format"]
    else:
        old["format"] = version
    return old


@pytest.mark.parametrize("version", [1, 2])
def test_genuinely_old_files_need_verify_false(data, saved, tmp_path, version):
    proxy, folder = saved
    if version == 1 and proxy.method not in ("rs", "cc-rs"):
        pytest.skip(
            "format 1 named these methods' parameters otherwise (tests/test_sampler_*.py build those)"
        )
    path = tmp_path / "old.json"
    path.write_text(json.dumps(_strip_to_format(_json(folder), version)))
    with pytest.raises(CorruptStateError, match="verify=False"):
        ProxySampler.load(path, data)
    with pytest.warns(UserWarning, match=f"format {version}"):
        loaded = ProxySampler.load(path, data, verify=False)
    np.testing.assert_array_equal(loaded.indices, proxy.indices)


def _variants(value):
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, str(value)]
    if isinstance(value, float):
        return [value + 0.25, str(value)]
    if isinstance(value, str):
        return [value + "x"]
    if isinstance(value, list):
        return [value[:-1]] if value else [[0]]
    if isinstance(value, dict):
        return [{**value, "zz": 1}]
    return [1]


def test_every_field_edited_in_turn_is_refused(data, saved, tmp_path):
    """Each field of a JSON and an npz saved proxy, changed or removed, makes the file fail to load."""
    proxy, folder = saved
    record = _json(folder)
    path = tmp_path / "e.json"
    for key, value in record.items():
        for new in [*_variants(value), _MISSING]:
            edited = {k: v for k, v in record.items() if k != key}
            if new is not _MISSING:
                edited[key] = new
            path.write_text(json.dumps(edited))
            with pytest.raises(CorruptStateError):
                ProxySampler.load(path, data)
    arrays = _npz(folder)
    meta = json.loads(str(arrays.pop("meta")))
    npz = tmp_path / "e.npz"
    for key, value in meta.items():
        for new in [*_variants(value), _MISSING]:
            edited = {k: v for k, v in meta.items() if k != key}
            if new is not _MISSING:
                edited[key] = new
            _write_npz(npz, arrays, edited)
            with pytest.raises(CorruptStateError):
                ProxySampler.load(npz, data)
    for name, arr in arrays.items():
        changed = dict(arrays)
        changed[name] = arr[::-1].copy() if arr.size > 1 else arr + 1
        if name == "scores" and np.array_equal(changed[name], arr, equal_nan=True):
            changed[name] = arr + 1
        _write_npz(npz, changed, meta)
        with pytest.raises(CorruptStateError):
            ProxySampler.load(npz, data)
    # the untouched files still load
    for p in (folder / "p.json", folder / "p.npz"):
        np.testing.assert_array_equal(ProxySampler.load(p, data).indices, proxy.indices)


_MISSING = object()


def _single_array(path):
    with open(path, "wb") as fh:
        np.save(fh, np.arange(5))


@pytest.mark.parametrize(
    "content",
    [
        _single_array,  # one array, no archive
        lambda p: p.write_bytes(b""),
        lambda p: p.write_bytes(b"PK\x03\x04 torn"),
        lambda p: np.savez(p, meta=np.array("[]"), indices=np.arange(3)),
        lambda p: np.savez(p, meta=np.arange(3), indices=np.arange(3)),
        lambda p: np.savez(p, indices=np.arange(3)),
    ],
    ids=["single-array", "empty", "torn-zip", "meta-list", "meta-numbers", "no-meta"],
)
def test_npz_that_is_no_saved_proxy_refused(data, tmp_path, content):
    path = tmp_path / "x.npz"
    content(path)
    with pytest.raises(CorruptStateError):
        ProxySampler.load(path, data)


def test_save_is_atomic(data, saved, tmp_path, monkeypatch):
    """A save that fails half-way leaves the previous file as it was."""
    proxy, _ = saved
    for name in ("p.json", "p.npz"):
        target = tmp_path / name
        proxy.save(target)
        before = target.read_bytes()
        import proxydata._files as files

        def broken(fd):
            raise OSError("disk full")

        monkeypatch.setattr(files.os, "fsync", broken)
        with pytest.raises(OSError, match="disk full"):
            proxy.save(target)
        monkeypatch.undo()
        assert target.read_bytes() == before
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
        ProxySampler.load(target, data)


def test_verify_must_be_a_bool(data, saved):
    _, folder = saved
    with pytest.raises(TypeError, match="verify"):
        ClassOutlierProxy.load(folder / "p.json", data, verify="no")
