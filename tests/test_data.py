"""proxydata.data: indexed items, cheap label look-up, fingerprints, splits."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import ConcatDataset, Dataset, Subset, TensorDataset

from proxydata.data import IndexedDataset, array_digest, get_targets, split_indices
from proxydata.datasets import ArrayDataset
from proxydata.exceptions import CorruptStateError, ProxydataTypeError, ProxydataValueError
from proxydata.fingerprint import dataset_fingerprint, fingerprint_differences, fingerprint_positions


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


class ItemsOnly(Dataset):
    """Hides how a dataset stores its items: only ``__getitem__`` and ``__len__``."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        return self.dataset[i]


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


def test_get_targets_of_a_list_of_pairs_reads_the_items() -> None:
    # 0.1 took any list as labels and failed with a numpy error on (x, y) pairs (issue 11).
    pairs = [(torch.zeros(2), 1), (torch.zeros(2), 0), (torch.ones(2), 2)]
    np.testing.assert_array_equal(get_targets(pairs, progress=False), [1, 0, 2])
    dicts = [{"image": torch.zeros(2), "label": 1}, {"image": torch.zeros(2), "label": 0}]
    np.testing.assert_array_equal(get_targets(dicts, progress=False), [1, 0])
    np.testing.assert_array_equal(get_targets((2, 0, 1)), [2, 0, 1])  # a tuple of integers: labels


def test_get_targets_never_truncates_a_fractional_label() -> None:
    with pytest.raises(ProxydataTypeError, match="non-integral"):
        get_targets([(torch.zeros(1), 0.5), (torch.zeros(1), 1.0)], progress=False)
    np.testing.assert_array_equal(
        get_targets([(torch.zeros(1), 1.0), (torch.zeros(1), 0.0)], progress=False), [1, 0]
    )
    with pytest.raises(ProxydataTypeError, match="one class index"):
        get_targets([(torch.zeros(1), torch.tensor([0, 1]))], progress=False)  # one-hot


class DictItems(Dataset):
    """``{"img": x, "fine_label": y, "coarse_label": z}`` items, as CIFAR-100 on the Hugging Face hub."""

    def __init__(self, n: int = 6, **extra) -> None:
        self.n = n
        self.extra = extra

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {"img": torch.full((1, 2, 2), float(i)), "fine_label": i % 3, "coarse_label": 0, **self.extra}


def test_dict_items_are_read_by_key() -> None:
    ds = DictItems()
    np.testing.assert_array_equal(get_targets(ds, progress=False), [0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(get_targets(ds, progress=False, label_key="coarse_label"), [0] * 6)
    x, y, i = IndexedDataset(ds)[4]
    assert torch.equal(x, torch.full((1, 2, 2), 4.0)) and y == 1 and i == 4
    assert IndexedDataset(ds, label_key="coarse_label")[4][1] == 0
    np.testing.assert_array_equal(IndexedDataset(ds, label_key="coarse_label").targets, [0] * 6)
    x, y, i = next(iter(torch.utils.data.DataLoader(IndexedDataset(ds), batch_size=3)))
    assert x.shape == (3, 1, 2, 2) and y.tolist() == [0, 1, 2] and i.tolist() == [0, 1, 2]


def test_dict_items_with_nested_lists_become_tensors() -> None:
    items = [{"image": [[0, 1], [2, 3]], "label": 1}, {"image": [[4, 5], [6, 7]], "label": 0}]
    x, y, i = IndexedDataset(items)[1]
    assert torch.equal(x, torch.tensor([[4, 5], [6, 7]])) and y == 0 and i == 1


@pytest.mark.parametrize(
    ("dataset", "kwargs", "match"),
    [
        (DictItems(label=1), {}, r"several possible label_keys \['label', 'fine_label'\]"),
        (
            DictItems(),
            {"label_key": "y"},
            r"label_key='y' is not a key .*'coarse_label', 'fine_label', 'img'",
        ),
        ([{"x": 1, "label": 0}], {}, "no input key found .*tried \\['image', 'img', 'pixel_values'\\]"),
        ([{"image": 1, "y": 0}], {}, "no label key found"),
    ],
)
def test_dict_item_keys_that_cannot_be_resolved_are_named(dataset, kwargs, match) -> None:
    with pytest.raises(ProxydataValueError, match=match):
        IndexedDataset(dataset, **kwargs)[0]


def test_unsupported_items_say_what_is_supported() -> None:
    with pytest.raises(ProxydataTypeError, match=r"\(x, y, \.\.\.\) tuples, or dicts with an input key"):
        IndexedDataset([torch.zeros(2)])[0]
    with pytest.raises(ProxydataTypeError, match="apply to dict items"):
        IndexedDataset(TensorDataset(torch.zeros(2, 1), torch.zeros(2)), label_key="label")[0]
    with pytest.raises(ProxydataTypeError, match="input_key must be a str"):
        IndexedDataset(DictItems(), input_key=3)


def test_old_import_path_of_the_fingerprint_still_works() -> None:
    from proxydata.data import dataset_fingerprint as old

    assert old is dataset_fingerprint


def _wrong_length() -> Dataset:
    ds = WithTargets([0, 1, 2])
    ds._n = 4  # three labels for four items
    return ds


# -- fingerprint -------------------------------------------------------------------------------------


def _images_dataset(seed: int, labels: list[int]) -> ArrayDataset:
    rng = np.random.default_rng(seed)
    return ArrayDataset(rng.integers(0, 256, size=(len(labels), 3, 4, 4), dtype=np.uint8), labels)


def test_fingerprint_of_labels_alone_keeps_the_label_only_form() -> None:
    expected = "n=4;labels=" + hashlib.sha256(np.array([0, 1, 2, 1], dtype="<i8").tobytes()).hexdigest()[:16]
    assert dataset_fingerprint(np.array([0, 1, 2, 1], dtype=np.uint8)) == expected  # dtype does not matter
    assert dataset_fingerprint(torch.tensor([0, 1, 2, 1])) == expected
    assert dataset_fingerprint([0, 1, 2, 1]) == expected
    assert dataset_fingerprint(np.array([0, 1, 1, 2])) != expected  # same counts, other order


def test_fingerprint_covers_length_labels_and_content() -> None:
    labels = [0, 1, 2, 1] * 50
    a = dataset_fingerprint(_images_dataset(0, labels))
    assert a.startswith("n=200;labels=") and ";content=" in a
    assert a == dataset_fingerprint(_images_dataset(0, labels))
    # Every image replaced, same length and labels: the 0.1 fingerprint could not tell (issue 9).
    assert dataset_fingerprint(_images_dataset(1, labels).targets) == dataset_fingerprint(labels)
    assert fingerprint_differences(a, dataset_fingerprint(_images_dataset(1, labels))) == ["content"]
    assert fingerprint_differences(a, dataset_fingerprint(_images_dataset(0, labels[1:] + labels[:1]))) == [
        "labels"
    ]
    shorter = dataset_fingerprint(_images_dataset(0, labels[:-1]))
    assert fingerprint_differences(a, shorter) == ["n", "labels", "content"]  # other sampled positions


def test_fingerprint_content_reads_the_sampled_positions_only() -> None:
    base = _images_dataset(0, [0, 1] * 100)
    changed = ArrayDataset(base.images.copy(), base.targets)
    sampled = set(fingerprint_positions(200).tolist())
    unsampled = next(i for i in range(200) if i not in sampled)
    changed.images[unsampled] ^= 1
    assert dataset_fingerprint(changed) == dataset_fingerprint(base)  # the documented blind spot
    changed.images[min(sampled - {0})] ^= 1
    assert dataset_fingerprint(changed) != dataset_fingerprint(base)


def test_fingerprint_positions_are_evenly_spaced() -> None:
    assert fingerprint_positions(1).tolist() == [0]
    assert fingerprint_positions(5).tolist() == [0, 1, 2, 3, 4]
    pos = fingerprint_positions(50_000)
    assert pos.size == 64 and pos[0] == 0 and pos[-1] == 49_999
    assert np.all(np.diff(pos) >= 793)  # floor(49_999 / 63) = 793
    assert pos.dtype == np.int64


def test_fingerprint_is_the_same_through_wrappers_and_paths() -> None:
    ds = _images_dataset(3, [0, 1, 2] * 30)
    a = dataset_fingerprint(ds)
    assert dataset_fingerprint(IndexedDataset(ds)) == a
    assert dataset_fingerprint(ItemsOnly(ds)) == a  # items read one by one: same float32 values
    as_tensors = TensorDataset(torch.from_numpy(ds.images), torch.from_numpy(ds.targets))
    assert dataset_fingerprint(as_tensors) == a
    # A transform (augmentation) does not change what is stored.
    flipped = ArrayDataset(ds.images, ds.targets, transform=lambda x: torch.flip(x, dims=[-1]))
    assert dataset_fingerprint(flipped) == a
    sub = Subset(ds, [5, 1, 70])
    assert dataset_fingerprint(sub) == dataset_fingerprint(
        ArrayDataset(ds.images[[5, 1, 70]], ds.targets[[5, 1, 70]])
    )


def test_fingerprint_with_explicit_targets() -> None:
    ds = TensorDataset(torch.zeros(4, 2))  # no labels in the dataset
    fp = dataset_fingerprint(ds, targets=[1, 0, 1, 0])
    assert fp.startswith("n=4;labels=" + array_digest(np.array([1, 0, 1, 0])))
    with pytest.raises(ValueError, match="length"):
        dataset_fingerprint(ds, targets=[1, 0, 1])


class Augmented(Dataset):
    """Items change on every read (a random transform), with no stored array to hash."""

    def __init__(self) -> None:
        self.targets = [0, 1, 0, 1]
        self.gen = torch.Generator().manual_seed(0)

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int):
        return torch.rand(3, generator=self.gen), self.targets[i]


def test_fingerprint_of_unstable_items_warns_and_is_not_compared() -> None:
    with pytest.warns(RuntimeWarning, match="change from one read to the next"):
        fp = dataset_fingerprint(Augmented())
    assert fp.endswith(";content=unstable")
    stable = fp.replace("unstable", "0123456789abcdef")
    assert fingerprint_differences(stable, fp) == []


def test_label_only_fingerprint_of_an_old_save_is_accepted_with_a_warning() -> None:
    ds = _images_dataset(0, [0, 1, 2, 1])
    old = dataset_fingerprint(ds.targets)  # what proxydata 0.1 saved
    with pytest.warns(UserWarning, match="content was not checked"):
        assert fingerprint_differences(old, dataset_fingerprint(ds)) == []
    with pytest.warns(UserWarning):
        assert fingerprint_differences(old, dataset_fingerprint(_images_dataset(0, [0, 1, 1, 2]))) == [
            "labels"
        ]


@pytest.mark.parametrize("bad", ["", "n=4", "garbage", None, 12])
def test_fingerprint_differences_rejects_what_is_not_a_fingerprint(bad) -> None:
    good = dataset_fingerprint([0, 1])
    with pytest.raises(CorruptStateError, match="saved fingerprint"):
        fingerprint_differences(bad, good)
    with pytest.raises(CorruptStateError, match="found fingerprint"):
        fingerprint_differences(good, bad)


def test_array_digest_is_the_int64_sha256_prefix() -> None:
    values = np.array([3, 1, 2], dtype=np.int32)
    expected = hashlib.sha256(np.array([3, 1, 2], dtype="<i8").tobytes()).hexdigest()[:16]
    assert (
        array_digest(values) == expected == array_digest([3, 1, 2]) == array_digest(torch.tensor([3, 1, 2]))
    )
    assert array_digest([1, 2, 3]) != expected


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


def test_a_saved_proxy_refuses_a_dataset_whose_images_were_replaced(tmp_path) -> None:
    from proxydata import ClassRandomProxy

    labels = [0, 1, 2] * 40
    proxy = ClassRandomProxy(_images_dataset(0, labels), ratio=0.5, seed=0, progress=False)
    path = tmp_path / "proxy.json"
    proxy.save(path)
    again = ClassRandomProxy.load(path, _images_dataset(0, labels))
    np.testing.assert_array_equal(again.indices, proxy.indices)
    with pytest.raises(ValueError, match="content"):
        ClassRandomProxy.load(path, _images_dataset(1, labels))


def test_fingerprint_of_text_items() -> None:
    texts = [("a cat", 0), ("a dog", 1), ("a bird", 0)]
    fp = dataset_fingerprint(texts)
    assert fp == dataset_fingerprint([("a cat", 0), ("a dog", 1), ("a bird", 0)])
    assert fingerprint_differences(fp, dataset_fingerprint([("a cow", 0), ("a dog", 1), ("a bird", 0)])) == [
        "content"
    ]
