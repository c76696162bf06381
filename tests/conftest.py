"""Shared fixtures: the real-data folder lookup and small cached datasets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

import proxydata
from proxydata.datasets import ArrayDataset

REPO_ROOT = Path(__file__).resolve().parents[1]

# One torch thread per test process: on a shared 2-core CI machine torch's default
# thread count makes the suite several times slower, and results never depend on it.
torch.set_num_threads(1)

# "ci": derandomized, no example database, so a run can neither pass nor fail by chance.
# "thorough": more examples, random, for local bug hunting. Select with HYPOTHESIS_PROFILE.
settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def shared_data_path() -> Path:
    """``$PROXYDATA_SHARED_DATA``, else ``<repo>/../shared/data`` (may not exist)."""
    env = os.environ.get("PROXYDATA_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The folder of real datasets; skips the test when it is absent."""
    path = shared_data_path()
    if not path.is_dir():
        pytest.skip(
            f"shared data folder not found at {str(path)!r} "
            "(set PROXYDATA_SHARED_DATA to the folder holding cifar10.npz etc.)"
        )
    return path


@pytest.fixture(scope="session")
def digits() -> ArrayDataset:
    """scikit-learn's bundled digits (1,797 images 1x8x8, 10 classes), loaded once."""
    return proxydata.load_digits()


@pytest.fixture(scope="session")
def cifar10_lossless(shared_data_dir: Path) -> ArrayDataset:
    """The first 4,000 CIFAR-10 training images with their exact original pixels."""
    path = shared_data_dir / "cifar10_train_first4000_lossless.npz"
    if not path.is_file():
        pytest.skip(f"{path.name} not found in {str(shared_data_dir)!r}")
    with np.load(path, allow_pickle=False) as z:
        return ArrayDataset(z["x"], z["y"].astype(np.int64))
