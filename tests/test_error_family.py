"""Where the docs promise the library's own errors, a user gets them (issue 19, item 13).

Each case used to surface as a bare ``RuntimeError``/``TypeError``/``ValueError``/
``AttributeError`` from torch or Python, or not at all; now it is a
:class:`~proxydata.ProxydataError` (``ProxydataValueError``/``ProxydataTypeError``,
so also the built-in a Python user expects), raised before any work, naming
the argument or the value.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from proxydata import (
    AutoencoderProxy,
    BiLevelPruner,
    ClassOutlierProxy,
    CorruptStateError,
    ProxydataError,
    ProxydataTypeError,
    ProxydataValueError,
    ProxySampler,
    TransferProxy,
    get_targets,
)
from proxydata._validation import check_device
from proxydata.datasets import ArrayDataset
from proxydata.features import extract_features
from proxydata.items import first_unstable_item
from proxydata.metrics import (
    class_means,
    class_prune_limits,
    distances_to_centroids,
    distances_to_class_means,
    el2n,
    ranking_agreement,
)

# A device torch cannot use here: plain "cuda" without CUDA, an index past the last GPU with it.
MISSING_DEVICE = "cuda:99" if torch.cuda.is_available() else "cuda"
Y = np.arange(40) % 4


def _data() -> ArrayDataset:
    rng = np.random.default_rng(0)
    return ArrayDataset(rng.random((40, 1, 8, 8), dtype=np.float32), Y)


def _pruner() -> BiLevelPruner:
    return BiLevelPruner(Y, range(20), range(20, 40), epochs=3, interval=2)


class _Writer:
    def add_scalar(self, *args) -> None:  # pragma: no cover - never reached
        raise AssertionError

    add_histogram = add_scalar


def _search_on_missing_device() -> None:
    from torch.utils.data import DataLoader

    from proxydata.nas import SearchNetwork, search

    loader = DataLoader(_data(), batch_size=8)
    search(SearchNetwork(C=2, N=1, in_channels=1, seed=0), loader, loader, epochs=1, device=MISSING_DEVICE)


def _tensorboard_attach_int() -> None:
    from proxydata.integrations.tensorboard import TensorBoardLogger

    TensorBoardLogger(_Writer()).attach(3)


def _load_non_json(tmp_path) -> None:
    path = tmp_path / "proxy.json"
    path.write_bytes(b"\x80\x81 this is no JSON")
    ProxySampler.load(path, _data())


def _tl(**kw):
    return TransferProxy(_data(), 0.5, backbone=nn.Flatten(), epochs=1, progress=False, **kw)


DEVICE = "no cuda device|cuda device\\(s\\)"
CASES = {
    "pruner device": (
        lambda tmp: BiLevelPruner(Y, range(20), range(20, 40), epochs=3, device=MISSING_DEVICE),
        ProxydataValueError, DEVICE),
    "AE device": (
        lambda tmp: AutoencoderProxy(_data(), 0.5, epochs=1, device=MISSING_DEVICE, progress=False),
        ProxydataValueError, DEVICE),
    "TL device": (lambda tmp: _tl(device=MISSING_DEVICE), ProxydataValueError, DEVICE),
    "CC-OR module device": (
        lambda tmp: ClassOutlierProxy(
            _data(), 0.5, features=nn.Flatten(), device=MISSING_DEVICE, progress=False),
        ProxydataValueError, DEVICE),
    "search device": (lambda tmp: _search_on_missing_device(), ProxydataValueError, DEVICE),
    "TL input_size": (lambda tmp: _tl(input_size="abc"), ProxydataTypeError, "input_size"),
    "load non-JSON": (_load_non_json, CorruptStateError, "not a JSON file"),
    "TensorBoard attach": (
        lambda tmp: _tensorboard_attach_int(), ProxydataTypeError, "pruner must be a BiLevelPruner"),
    "remove unknown listener": (
        lambda tmp: _pruner().remove_listener(print), ProxydataValueError, "not a listener"),
    "el2n without classes": (
        lambda tmp: el2n(torch.zeros(0, 0), torch.zeros(0, dtype=torch.long)),
        ProxydataValueError, "at least one class column"),
    "get_targets True in a list": (lambda tmp: get_targets([0, True, 2]), ProxydataTypeError, "bool True"),
    "get_targets True as an item's label": (
        lambda tmp: get_targets([(torch.zeros(1), 1), (torch.zeros(1), True)], progress=False),
        ProxydataTypeError, "item 1 .*bool"),
    # issue 29: the newer features' errors
    "ranking_agreement beyond float64": (
        lambda tmp: ranking_agreement([10**400, 1, 2], [1, 2, 3], top_k=2), ProxydataValueError, "finite"),
    "ranking_agreement dict": (
        lambda tmp: ranking_agreement({1: 2, 2: 3, 3: 4}, [1, 2, 3], top_k=2),
        ProxydataTypeError, "scores_a"),
    "ranking_agreement complex": (
        lambda tmp: ranking_agreement([1j, 2, 3], [1, 2, 3], top_k=2), ProxydataTypeError, "real"),
    "class_means label out of range": (
        lambda tmp: class_means([np.ones((2, 2))], np.array([0, 3]), 2), ProxydataValueError, "labels"),
    "distances_to_class_means width": (
        lambda tmp: distances_to_class_means([np.ones((2, 3))], np.array([0, 1]), np.zeros((2, 2))),
        ProxydataValueError, "columns"),
    "class_prune_limits balance list": (
        lambda tmp: class_prune_limits([4, 4], 2, balance=[0.5]), ProxydataTypeError, "balance"),
    "distances_to_centroids NaN centroid": (
        lambda tmp: distances_to_centroids(np.zeros((2, 2)), np.array([[0.0, np.nan]])),
        ProxydataValueError, "centroids"),
    "first_unstable_item k": (lambda tmp: first_unstable_item(_data(), -3), ProxydataValueError, "k must"),
    "load_features empty file": (lambda tmp: _empty_npy(tmp), CorruptStateError, "not a readable"),
    "load npz of one array": (lambda tmp: _load_single_array(tmp), CorruptStateError, "not an npz"),
    "AE bce outside [0, 1]": (
        lambda tmp: AutoencoderProxy(ArrayDataset(np.full((8, 1, 4, 4), 3.0, dtype=np.float32), Y[:8]), 0.5,
                                     epochs=1, batch_size=4, progress=False),
        ProxydataValueError, "loss='bce'"),
    "study train_fn percentage": (lambda tmp: _study(tmp, lambda *a, **k: {"test_acc": 85.0}),
                                  ProxydataValueError, "test_acc"),
    "study train_fn None": (lambda tmp: _study(tmp, lambda *a, **k: {"test_acc": None}),
                            ProxydataTypeError, "test_acc"),
    "study top_k": (lambda tmp: _study(tmp, None, top_k=0), ProxydataValueError, "top_k"),
    "read_study empty": (lambda tmp: _empty_study(tmp), CorruptStateError, "empty"),
    "extract_features input_key on tuples": (
        lambda tmp: extract_features(_data(), nn.Flatten(), tmp / "f.npy", input_key="image", progress=False),
        ProxydataTypeError, "input_key"),
}  # fmt: skip


def _empty_npy(tmp) -> None:
    from proxydata.features import load_features

    (tmp / "e.npy").write_bytes(b"")
    load_features(tmp / "e.npy")


def _load_single_array(tmp) -> None:
    with open(tmp / "one.npz", "wb") as fh:
        np.save(fh, np.arange(3))
    ProxySampler.load(tmp / "one.npz", _data())


def _study(tmp, train_fn, **kw) -> None:
    from torch.utils.data import TensorDataset

    from proxydata.fidelity import ranking_study

    data = TensorDataset(torch.randn(12, 4), torch.arange(12) % 2)
    archs = {
        f"m{h}": (lambda h=h: nn.Sequential(nn.Linear(4, h), nn.ReLU(), nn.Linear(h, 2))) for h in (1, 2, 3)
    }
    ranking_study(
        data,
        data,
        {"full": None},
        archs,
        epochs=1,
        train_fn=train_fn,
        progress=False,
        n_bootstrap=0,
        out=tmp / "s.jsonl",
        **kw,
    )


def _empty_study(tmp) -> None:
    from proxydata.fidelity import read_study

    (tmp / "s.jsonl").write_text("")
    read_study(tmp / "s.jsonl")


@pytest.mark.parametrize("case", list(CASES))
def test_the_documented_errors_are_the_library_family(case, tmp_path):
    make, error, match = CASES[case]
    with pytest.raises(error, match=match) as info:
        make(tmp_path)
    assert isinstance(info.value, ProxydataError)


def test_an_empty_batch_with_classes_has_an_empty_el2n():
    assert el2n(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)).shape == (0,)


def test_a_device_read_back_from_a_file_is_checked_for_spelling_only(tmp_path):
    assert check_device(MISSING_DEVICE, available=False).type == "cuda"
    with pytest.raises(ProxydataValueError, match="not a valid device"):
        check_device("gpu-please", available=False)
    # a proxy made on a GPU machine loads on one without (it runs nothing there)
    data = _data()
    path = tmp_path / "proxy.json"
    with pytest.MonkeyPatch.context() as mp:  # "a GPU machine": pixel features never touch the device
        mp.setattr(torch.cuda, "is_available", lambda: True)
        mp.setattr(torch.cuda, "device_count", lambda: 100)
        ClassOutlierProxy(data, 0.5, device=MISSING_DEVICE, progress=False).save(path)
    assert json.loads(path.read_text())["params"]["device"] == MISSING_DEVICE
    assert ProxySampler.load(path, data).device == MISSING_DEVICE
