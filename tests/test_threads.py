"""Long CPU builds warn once when torch's threads outnumber the cores the process may use (issue 30)."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import proxydata._threads as threads
from proxydata import make_proxy
from proxydata.datasets import ArrayDataset
from proxydata.features import model_features


@pytest.fixture
def two_threads_on_one_core(monkeypatch):
    """torch at 2 threads, the process allowed 1 core (patched ``os.sched_getaffinity``), no warning yet."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.setattr(threads, "_warned", False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _tiny() -> ArrayDataset:
    rng = np.random.default_rng(0)
    return ArrayDataset(rng.random((40, 1, 8, 8), dtype=np.float32), np.repeat(np.arange(2), 20))


def _our_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if "os.sched_getaffinity" in str(w.message)]


def test_ae_training_warns_once_naming_the_fix(two_threads_on_one_core) -> None:
    assert threads.available_cores() == 1
    with pytest.warns(RuntimeWarning, match=r"AE training: torch uses 2 CPU threads .* 1 cores") as record:
        make_proxy("ae", _tiny(), ratio=0.5, epochs=1, seed=0, progress=False)
    assert "torch.set_num_threads(1)" in str(record[0].message)
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        make_proxy("ae", _tiny(), ratio=0.5, epochs=1, seed=0, progress=False)
        model_features(_tiny(), nn.Flatten(), progress=False)
    assert _our_warnings(again) == []  # once per process


def test_feature_extraction_warns(two_threads_on_one_core) -> None:
    with pytest.warns(RuntimeWarning, match="feature extraction: torch uses 2 CPU threads"):
        features = model_features(_tiny(), nn.Flatten(), progress=False)
    assert features.shape == (40, 64)


def test_no_warning_within_the_cores_or_off_the_cpu(monkeypatch) -> None:
    monkeypatch.setattr(threads, "_warned", False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            assert not threads.warn_if_threads_oversubscribe("AE training")  # 2 threads, 2 cores
            monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
            assert not threads.warn_if_threads_oversubscribe("AE training", "cuda")  # not a CPU build
        assert _our_warnings(record) == []
    finally:
        torch.set_num_threads(before)
