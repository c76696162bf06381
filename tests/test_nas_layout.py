"""proxydata.nas organised by search space (issue 25, item 1): old paths warn, new paths give the same."""

from __future__ import annotations

import importlib
import warnings

import pytest

import proxydata.nas as nas
from proxydata.nas.spaces import nb201
from proxydata.nas.supernet import Supernet

MOVED = [
    ("genotype", "Genotype"),
    ("ops", "avg_pool_3x3"),
    ("network", "CellNetwork"),
    ("search_space", "SearchNetwork"),
    ("table", "NB201Table"),
    ("train", "train_genotype"),
    ("pcdarts", "PCDartsNetwork"),
]


@pytest.mark.parametrize("module,name", MOVED)
def test_old_paths_warn_and_give_the_moved_object(module: str, name: str) -> None:
    old = importlib.import_module(f"proxydata.nas.{module}")
    new_module = "pcdarts" if module == "pcdarts" else module
    new = importlib.import_module(f"proxydata.nas.spaces.nb201.{new_module}")
    with pytest.warns(
        FutureWarning, match=rf"proxydata\.nas\.{module}\.{name} moved to proxydata\.nas\.spaces\.nb201"
    ):
        obj = getattr(old, name)
    assert obj is getattr(new, name)
    assert name in dir(old)
    with pytest.raises(AttributeError):
        old.no_such_name  # noqa: B018


def test_public_names_of_proxydata_nas_are_the_space_objects_and_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in nb201.__all__:
            assert getattr(nas, name) is getattr(nb201, name)
        from proxydata.nas.pcdarts import channel_shuffle  # the algorithm part stays

        assert callable(channel_shuffle)


def test_every_supernet_is_a_supernet_of_its_space() -> None:
    for algo in nas.ALGORITHMS:
        net = nas.make_supernet(algo, C=4, N=1, in_channels=1, seed=0)
        assert isinstance(net, Supernet) and net.space == "nb201"
        assert [a.shape for a in net.alphas()] == [(6, 5)]
        ids = {id(p) for p in net.arch_parameter_list()}
        assert not ids & {id(p) for p in net.weight_parameters()}
