"""proxydata.data: indexed items, cheap label look-up, fingerprints, splits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import ConcatDataset, Dataset, Subset, TensorDataset

from proxydata.data import IndexedDataset, dataset_fingerprint, get_targets, split_indices


class PlainDataset(Dataset):
    """Labels reachable only by reading the items (no .targets attribute)."""

    def __init__(self, labels: list[int]) -> None:
        self._labels = labels
        self.reads = 0

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.reads += 1
        return torch.full((2,), float(i)), torch.tensor(self._labels[i])


class WithTargets(Dataset):
    def __init__(self, targets, attr: str = "targets") -> None:
        setattr(self, attr, targets)
        self._n = len(targets)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int):
        raise AssertionError("labels must be found without reading items")


# -- IndexedDataset ------------------------------------------------------------------------------


def test_indexed_dataset_appends_the_index() -> None:
    base = TensorDataset(torch.arange(6.0).view(3, 2), torch.tensor([2, 0, 1]))
    ds = IndexedDataset(base)
    assert len(ds) == 3
    x, y, i = ds[2]
    assert torch.equal(x, torch.tensor([4.0, 5.0]))
    assert int(y) == 1
    assert i == 2 and isinstance(i, int)
    np.testing.assert_array_equal(ds.targets, [2, 0, 1])


def test_indexed_dataset_in_a_dataloader_yields_index_batches() -> None:
    base = TensorDataset(torch.arange(5.0).view(5, 1), torch.tensor([0, 1, 0, 1, 0]))
    loader = torch.utils.data.DataLoader(IndexedDataset(base), batch_size=2, sampler=[4, 1, 3])
    batches = list(loader)
    assert [b[2].tolist() for b in batches] == [[4, 1], [3]]
    assert batches[0][0].flatten().tolist() == [4.0, 1.0]


def test_indexed_dataset_rejects_bad_input() -> None:
    with pytest.raises(TypeError, match="dataset"):
        IndexedDataset(42)

    class Bare(Dataset):
        def __len__(self) -> int:
            return 1

        def __getitem__(self, i: int) -> torch.Tensor:
            return torch.zeros(2)

    with pytest.raises(TypeError, match=r"\(x, y, \.\.\.\)"):
        IndexedDataset(Bare())[0]


# -- get_targets -----------------------------------------------------------------------------------


def test_get_targets_from_attributes() -> None:
    np.testing.assert_array_equal(get_targets(WithTargets([1, 0, 2])), [1, 0, 2])
    np.testing.assert_array_equal(get_targets(WithTargets(torch.tensor([3, 1]))), [3, 1])
    np.testing.assert_array_equal(get_targets(WithTargets(np.array([0, 0, 1]), attr="labels")), [0, 0, 1])
    assert get_targets(WithTargets([1, 0])).dtype == np.int64


def test_get_targets_from_subset_tensordataset_concat() -> None:
    parent = WithTargets([5, 6, 7, 8, 9])
    np.testing.assert_array_equal(get_targets(Subset(parent, [4, 0, 2])), [9, 5, 7])
    tensors = TensorDataset(torch.zeros(3, 2), torch.tensor([[1], [0], [1]]))
    np.testing.assert_array_equal(get_targets(tensors), [1, 0, 1])
    concat = ConcatDataset([parent, tensors])
    np.testing.assert_array_equal(get_targets(concat), [5, 6, 7, 8, 9, 1, 0, 1])
    nested = Subset(ConcatDataset([tensors, Subset(parent, [1, 3])]), [4, 0])
    np.testing.assert_array_equal(get_targets(nested), [8, 1])
    np.testing.assert_array_equal(get_targets(IndexedDataset(parent)), [5, 6, 7, 8, 9])


def test_get_targets_falls_back_to_reading_every_item_once() -> None:
    ds = PlainDataset([2, 0, 1, 1])
    np.testing.assert_array_equal(get_targets(ds, progress=False), [2, 0, 1, 1])
    assert ds.reads == 4


def test_get_targets_from_arrays_and_bad_input() -> None:
    np.testing.assert_array_equal(get_targets(np.array([1, 2])), [1, 2])
    with pytest.raises(ValueError, match="TensorDataset"):
        get_targets(TensorDataset(torch.zeros(3)))
    with pytest.raises(ValueError, match="length"):
        get_targets(_wrong_length())
    with pytest.raises(TypeError, match="dataset"):
        get_targets(3.5)
    with pytest.raises(ValueError, match="non-negative"):
        get_targets(WithTargets([0, -1]))
    with pytest.raises(TypeError, match="progress"):
        get_targets([0, 1], progress="yes")


def _wrong_length() -> Dataset:
    ds = WithTargets([0, 1, 2])
    ds._n = 4  # three labels for four items
    return ds


# -- fingerprint -------------------------------------------------------------------------------------


def test_dataset_fingerprint_depends_on_length_and_labels_only() -> None:
    a = dataset_fingerprint(WithTargets([0, 1, 2, 1]))
    assert a.startswith("n=4;labels=")
    assert a == dataset_fingerprint(TensorDataset(torch.ones(4, 3), torch.tensor([0, 1, 2, 1])))
    assert a == dataset_fingerprint(np.array([0, 1, 2, 1], dtype=np.uint8))  # dtype does not matter
    assert a != dataset_fingerprint(WithTargets([0, 1, 1, 2]))  # same counts, other order
    assert a != dataset_fingerprint(WithTargets([0, 1, 2]))


# -- split_indices -----------------------------------------------------------------------------------


def test_split_indices_stratified_proportions_and_disjointness() -> None:
    labels = np.array([0] * 40 + [1] * 20 + [2] * 8)
    first, second = split_indices(labels.size, 0.25, seed=1, stratify=labels)
    # round(0.25 * n_c) per class: 10, 5, 2.
    np.testing.assert_array_equal(np.bincount(labels[first], minlength=3), [10, 5, 2])
    np.testing.assert_array_equal(np.bincount(labels[second], minlength=3), [30, 15, 6])
    assert np.intersect1d(first, second).size == 0
    np.testing.assert_array_equal(np.union1d(first, second), np.arange(labels.size))
    assert np.all(np.diff(first) > 0) and np.all(np.diff(second) > 0)
    assert first.dtype == np.int64


def test_split_indices_unstratified_and_seeded() -> None:
    first, second = split_indices(10, 0.3, seed=0)
    assert first.size == 3 and second.size == 7
    again, _ = split_indices(10, 0.3, seed=0)
    np.testing.assert_array_equal(first, again)
    others = {tuple(split_indices(10, 0.3, seed=s)[0]) for s in range(10)}
    assert len(others) > 1


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 1}, ValueError, "n"),
        ({"n": 10, "fraction": 0.0}, ValueError, "fraction"),
        ({"n": 10, "fraction": 1.0}, ValueError, "fraction"),
        ({"n": 10, "fraction": float("nan")}, ValueError, "fraction"),
        ({"n": 10, "seed": -1}, ValueError, "seed"),
        ({"n": 4, "stratify": [0, 1, 0]}, ValueError, "stratify"),
        ({"n": 4.0}, TypeError, "n"),
    ],
)
def test_split_indices_rejects_bad_input(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        split_indices(**kwargs)


@settings(max_examples=40, deadline=None)
@given(
    labels=st.lists(st.integers(0, 4), min_size=2, max_size=80),
    fraction=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**16),
)
def test_split_indices_partition_property(labels: list[int], fraction: float, seed: int) -> None:
    y = np.array(labels)
    first, second = split_indices(y.size, fraction, seed=seed, stratify=y)
    assert np.intersect1d(first, second).size == 0
    assert first.size + second.size == y.size
    for c in np.unique(y):
        n_c = int(np.sum(y == c))
        assert int(np.sum(y[first] == c)) == int(np.floor(fraction * n_c + 0.5))  # halves round up
