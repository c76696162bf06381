"""Issue 19, static-proxy items: proxies of a split, unstable items, Lightning DDP, rank
agreement, edited files, counts, NaN images and timm records."""

from __future__ import annotations

import json
from contextlib import nullcontext

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, Subset

from proxydata import (
    AutoencoderProxy,
    ClassOutlierProxy,
    ClassRandomProxy,
    IndexedDataset,
    KMeansOutlierProxy,
    ProxySampler,
    RandomProxy,
    TransferProxy,
    make_proxy,
)
from proxydata.data import share_count, split_indices
from proxydata.datasets import ArrayDataset
from proxydata.exceptions import CorruptStateError, ProxydataValueError
from proxydata.samplers import proxy_size

# -- item 11: counts as a person computes them -------------------------------------------------------


def test_counts_are_computed_from_the_decimal_ratio() -> None:
    # 0.145 * 100 is 14.499999999999998 in floats; floor(14.5 + 0.5) = 15 by hand
    assert proxy_size(100, 0.145) == 15
    assert share_count(100, 0.145) == 15
    assert share_count(5, 0.5) == 3 and share_count(10, 0.04) == 0 and share_count(0, 0.3) == 0
    first, _ = split_indices(100, 0.145, seed=0)
    assert first.size == 15


def test_the_pruner_counts_with_the_same_rule() -> None:
    from proxydata import BiLevelPruner

    labels = np.repeat(np.arange(2), 100)
    train, val = np.arange(0, 200, 2), np.arange(1, 200, 2)
    pruner = BiLevelPruner(
        labels, train, val, epochs=4, interval=2, train_prune_ratio=0.145, val_prune_ratio=0.145, seed=0
    )
    assert pruner.schedule.asked == (15, 15)


def test_share_count_refuses_bad_input() -> None:
    with pytest.raises(ProxydataValueError, match="n must"):
        share_count(-1, 0.5)
    with pytest.raises(ProxydataValueError, match="share must"):
        share_count(3, float("nan"))


# -- item 1: a proxy of one split yields dataset indices of that split only ---------------------------

SPLIT_METHODS = {
    "rs": (RandomProxy, {}),
    "cc-rs": (ClassRandomProxy, {}),
    "km-or": (KMeansOutlierProxy, {"n_clusters": 10, "n_iter": 5}),
    "cc-or": (ClassOutlierProxy, {}),
    "ae": (AutoencoderProxy, {"epochs": 1, "batch_size": 128}),
    "tl": (TransferProxy, {"backbone": "scratch", "epochs": 1, "batch_size": 128}),
}


@pytest.fixture(scope="module")
def small(digits) -> ArrayDataset:
    """400 digits: every method (AE and TL too) selects in well under a second."""
    return ArrayDataset(digits.images[:400], digits.targets[:400], channels_last=False, scale=digits.scale)


@pytest.fixture(scope="module")
def halves(small):
    return split_indices(len(small), 0.5, seed=0, stratify=small.targets)


def _build(name: str, dataset, ratio: float, **kwargs) -> ProxySampler:
    cls, defaults = SPLIT_METHODS[name]
    return cls(dataset, ratio, progress=False, seed=3, **{**defaults, **kwargs})


@pytest.mark.parametrize("name", list(SPLIT_METHODS))
def test_a_loader_over_the_whole_dataset_never_yields_a_validation_index(small, halves, name) -> None:
    train_idx, val_idx = halves
    proxy = _build(name, small, 0.5, indices=train_idx)
    assert set(proxy.indices.tolist()) <= set(train_idx.tolist())
    loader = DataLoader(IndexedDataset(small), batch_size=32, sampler=proxy)
    for epoch in range(2):
        proxy.set_epoch(epoch)
        seen = torch.cat([i for _, _, i in loader]).numpy()
        assert not set(seen.tolist()) & set(val_idx.tolist())
        np.testing.assert_array_equal(np.sort(seen), proxy.indices)  # each kept sample once


@pytest.mark.parametrize("name", list(SPLIT_METHODS))
def test_a_proxy_of_a_split_equals_the_proxy_of_its_subset_mapped_back(small, halves, name) -> None:
    train_idx, _ = halves
    proxy = _build(name, small, 0.3, indices=train_idx[::-1])  # any order: the set counts
    ref = _build(name, Subset(small, train_idx.tolist()), 0.3, targets=small.targets[train_idx])
    np.testing.assert_array_equal(proxy.indices, train_idx[ref.indices])
    np.testing.assert_array_equal(proxy.split, train_idx)
    if ref.scores is None:
        assert proxy.scores is None
    else:  # one score per dataset sample: the split's, NaN elsewhere
        assert proxy.scores.shape == (len(small),)
        np.testing.assert_allclose(proxy.scores[train_idx], ref.scores, rtol=1e-6)
        outside = np.setdiff1d(np.arange(len(small)), train_idx)
        assert np.isnan(proxy.scores[outside]).all()
        assert np.isfinite(proxy.scores[proxy.indices]).all()


def test_quotas_come_from_the_split_labels(small) -> None:
    # a split holding only classes 0 and 1, unevenly: CC-RS keeps round(r * n_c) of each
    y = small.targets
    split = np.concatenate([np.flatnonzero(y == 0)[:9], np.flatnonzero(y == 1)[:25]])
    for name in ("cc-rs", "cc-or"):
        proxy = _build(name, small, 0.5, indices=split)
        np.testing.assert_array_equal(proxy.classes, [0, 1])
        np.testing.assert_array_equal(proxy.kept_class_counts(), [5, 13])  # floor(4.5 + .5), floor(12.5 + .5)
    assert _build("rs", small, 0.5, indices=split).indices.size == 17


def test_make_proxy_and_a_feature_array_with_indices(small, halves) -> None:
    from proxydata.features import pixel_features

    train_idx, _ = halves
    by_name = make_proxy("cc-or", small, ratio=0.25, indices=train_idx, progress=False)
    x = pixel_features(small, progress=False)  # one row per dataset sample
    given = ClassOutlierProxy(small, 0.25, features=x, indices=train_idx, progress=False)
    np.testing.assert_array_equal(given.indices, by_name.indices)
    again = type(given)(small, **given.get_params())
    np.testing.assert_array_equal(again.indices, given.indices)
    assert given.get_params()["indices"] is train_idx


def test_shards_of_a_split_proxy_cover_its_kept_set(small, halves) -> None:
    train_idx, _ = halves
    shards = [_build("rs", small, 0.5, indices=train_idx, num_replicas=3, rank=r) for r in range(3)]
    seen = np.concatenate([s.epoch_indices() for s in shards])
    assert set(seen.tolist()) == set(shards[0].indices.tolist())
    assert len({len(s) for s in shards}) == 1


split_cases = st.integers(min_value=2, max_value=50).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 3), min_size=n, max_size=n),
        st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True),
        st.sampled_from([0.1, 0.145, 0.25, 0.5, 0.75, 1.0]),
        st.integers(0, 2**16),
    )
)


@settings(max_examples=40, deadline=None)
@given(split_cases)
def test_property_a_split_proxy_keeps_its_share_of_the_split_only(case) -> None:
    labels, split, ratio, seed = case
    y = np.array(labels)
    x = torch.from_numpy(np.random.default_rng(seed).integers(0, 4, size=(y.size, 3)).astype(np.float32))
    ds = torch.utils.data.TensorDataset(x, torch.from_numpy(y))
    members = np.sort(np.array(split))
    classes, counts = np.unique(y[members], return_counts=True)
    for cls in (RandomProxy, ClassRandomProxy, ClassOutlierProxy):
        quota = [share_count(int(c), ratio) for c in counts] if cls.class_conditional else None
        if (sum(quota) if quota else share_count(members.size, ratio)) == 0:
            with pytest.raises(ProxydataValueError, match="ratio"):
                cls(ds, ratio, seed=seed, indices=split, progress=False)
            continue
        dropped = quota is not None and 0 in quota
        with pytest.warns(RuntimeWarning, match="keeps no sample") if dropped else nullcontext():
            proxy = cls(ds, ratio, seed=seed, indices=split, progress=False)
        assert np.isin(proxy.indices, members).all() and np.all(np.diff(proxy.indices) > 0)
        if quota:
            np.testing.assert_array_equal(proxy.kept_class_counts(), quota)
            np.testing.assert_array_equal(proxy.classes, classes)
        else:
            assert proxy.indices.size == share_count(members.size, ratio)
        assert sorted(proxy.epoch_indices().tolist()) == proxy.indices.tolist()


@pytest.mark.parametrize(
    ("indices", "match"),
    [([0, 0, 1], "duplicates"), ([0, 400], r"\[0, 400\)"), ([], "at least one"), ([0.5], "integers")],
)
def test_bad_indices_are_refused(small, indices, match) -> None:
    with pytest.raises((ProxydataValueError, TypeError), match=match) as info:
        RandomProxy(small, 0.5, indices=indices, progress=False)
    assert "indices" in str(info.value)


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_save_and_load_keep_the_split_and_refuse_another(small, halves, tmp_path, suffix) -> None:
    train_idx, val_idx = halves
    proxy = _build("cc-or", small, 0.4, indices=train_idx)
    path = tmp_path / f"p{suffix}"
    proxy.save(path)
    loaded = ProxySampler.load(path, small)
    np.testing.assert_array_equal(loaded.split, train_idx)
    np.testing.assert_array_equal(loaded.indices, proxy.indices)
    np.testing.assert_array_equal(np.isnan(loaded.scores), np.isnan(proxy.scores))
    np.testing.assert_array_equal(loaded.get_params()["indices"], train_idx)
    same = ProxySampler.load(path, small, indices=train_idx[::-1])
    np.testing.assert_array_equal(same.indices, proxy.indices)
    for other in (val_idx, np.arange(len(small))):
        with pytest.raises(CorruptStateError, match="another split"):
            ProxySampler.load(path, small, indices=other)
    whole = _build("cc-or", small, 0.4)
    whole.save(tmp_path / f"w{suffix}")
    with pytest.raises(CorruptStateError, match="another split"):
        ProxySampler.load(tmp_path / f"w{suffix}", small, indices=train_idx)


# -- item 10: an edited file is refused --------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_ccor(small, tmp_path_factory):
    proxy = _build("cc-or", small, 0.3)
    folder = tmp_path_factory.mktemp("edited")
    proxy.save(folder / "p.json")
    proxy.save(folder / "p.npz")
    return proxy, folder


def _swap_same_class(indices: list[int], labels: np.ndarray) -> list[int]:
    kept = set(indices)
    first = indices[0]
    other = next(i for i in range(labels.size) if labels[i] == labels[first] and i not in kept)
    return sorted([other, *indices[1:]])


def test_a_kept_index_swapped_within_its_class_is_refused(small, saved_ccor, tmp_path) -> None:
    _, folder = saved_ccor
    record = json.loads((folder / "p.json").read_text())
    record["indices"] = _swap_same_class(record["indices"], small.targets)
    bad = tmp_path / "swapped.json"
    bad.write_text(json.dumps(record))
    with pytest.raises(CorruptStateError, match="digest"):
        ProxySampler.load(bad, small)
    with np.load(folder / "p.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["indices"] = np.array(_swap_same_class(arrays["indices"].tolist(), small.targets))
    np.savez(tmp_path / "swapped.npz", **arrays)
    with pytest.raises(CorruptStateError, match="digest"):
        ProxySampler.load(tmp_path / "swapped.npz", small)


@pytest.mark.parametrize("version", [99, 0, "3", None, 2.5])
def test_an_unknown_format_is_refused(small, saved_ccor, tmp_path, version) -> None:
    _, folder = saved_ccor
    record = json.loads((folder / "p.json").read_text())
    record["format"] = version
    bad = tmp_path / "format.json"
    bad.write_text(json.dumps(record))
    with pytest.raises(CorruptStateError, match="format"):
        ProxySampler.load(bad, small)


def test_an_unedited_file_and_an_edited_score_or_seed(small, saved_ccor, tmp_path) -> None:
    proxy, folder = saved_ccor
    for name in ("p.json", "p.npz"):
        np.testing.assert_array_equal(ProxySampler.load(folder / name, small).indices, proxy.indices)
    for edit in (lambda r: r["scores"].__setitem__(3, 0.0), lambda r: r["resolved"].__setitem__("x", 1)):
        record = json.loads((folder / "p.json").read_text())
        edit(record)
        (tmp_path / "e.json").write_text(json.dumps(record))
        with pytest.raises(CorruptStateError, match="digest"):
            ProxySampler.load(tmp_path / "e.json", small)


# -- item 2: items that change between reads are refused before the work -----------------------------


class RandomFlip:
    """A torchvision-style random transform (torch's global RNG, seeded by the tests)."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(-1) if torch.rand(()) < 0.5 else x


def _augmented(small: ArrayDataset, transform) -> ArrayDataset:
    return ArrayDataset(
        small.images, small.targets, channels_last=False, scale=small.scale, transform=transform
    )


@pytest.mark.parametrize("name", ["km-or", "cc-or", "ae", "tl"])
def test_a_random_transform_is_refused_naming_the_fix(small, halves, name) -> None:
    torch.manual_seed(0)
    data = _augmented(small, RandomFlip())
    for kwargs in ({}, {"indices": halves[0]}):
        with pytest.raises(ProxydataValueError, match="differs between two reads") as info:
            _build(name, data, 0.5, **kwargs)
        assert "without its random transforms" in str(info.value)
        if name in ("km-or", "cc-or"):
            assert "features=" in str(info.value)


@pytest.mark.parametrize("name", ["km-or", "cc-or", "ae", "tl"])
def test_a_deterministic_transform_is_read_as_it_is(small, name) -> None:
    plain = _build(name, small, 0.5)
    same = _build(name, _augmented(small, lambda x: x.clone()), 0.5)  # read item by item
    np.testing.assert_array_equal(same.indices, plain.indices)


def test_outlier_proxies_with_given_features_and_random_proxies_need_no_stable_items(small) -> None:
    from proxydata.features import pixel_features

    torch.manual_seed(0)
    data = _augmented(small, RandomFlip())
    x = pixel_features(small, progress=False)
    for name in ("km-or", "cc-or"):
        np.testing.assert_array_equal(
            _build(name, data, 0.5, features=x).indices, _build(name, small, 0.5).indices
        )
    for name in ("rs", "cc-rs"):
        np.testing.assert_array_equal(_build(name, data, 0.5).indices, _build(name, small, 0.5).indices)


def test_a_hugging_face_random_transform_is_refused_and_its_stored_view_works(small) -> None:
    datasets = pytest.importorskip("datasets", reason="the hf extra (datasets) is not installed")
    hf = datasets.Dataset.from_dict({"image": small.images[:120], "label": small.targets[:120]})

    def jitter(batch: dict) -> dict:
        images = [torch.as_tensor(np.asarray(x, dtype=np.float32)) / 16 for x in batch["image"]]
        return {"image": [x + 0.01 * torch.rand(x.shape) for x in images], "label": batch["label"]}

    torch.manual_seed(0)
    with pytest.raises(ProxydataValueError, match=r"with_format\(None\)"):
        ClassOutlierProxy(hf.with_transform(jitter), 0.5, progress=False)
    stored = ClassOutlierProxy(hf.with_transform(jitter).with_format(None), 0.5, progress=False)
    ref = ClassOutlierProxy(Subset(small, list(range(120))), 0.5, progress=False)  # pixels / 16: same order
    np.testing.assert_array_equal(stored.indices, ref.indices)


# -- item 14: float images holding NaN are refused before any work ------------------------------------


def _nan_npz(tmp_path, small) -> str:
    images = small.images[:40].astype(np.float32) / 16.0
    images[7, 0, 3, 3] = np.nan
    path = tmp_path / "nan.npz"
    np.savez(path, x_train=images, y_train=small.targets[:40])
    return str(path)


def test_load_npz_and_array_dataset_refuse_nan_images(tmp_path, small) -> None:
    from proxydata.datasets import load_npz

    path = _nan_npz(tmp_path, small)
    with pytest.raises(ProxydataValueError, match=r"x_train .* NaN or inf .*image 7"):
        load_npz(path)
    images = small.images[:10].astype(np.float64)
    images[2] = np.inf
    with pytest.raises(ProxydataValueError, match="images must be finite"):
        ArrayDataset(images, small.targets[:10], scale=16.0)


@pytest.mark.parametrize(
    "argv",
    [
        ["select", "ae", "--epochs", "1"],
        ["select", "tl", "--backbone", "scratch", "--epochs", "1"],
        ["search", "--epochs", "1", "--C", "2", "--N", "1"],
    ],
)
def test_the_command_line_exits_2_on_nan_images(tmp_path, small, capsys, argv) -> None:
    from proxydata.cli import main

    path = _nan_npz(tmp_path, small)
    extra = ["--ratio", "0.5"] if argv[0] == "select" else []
    code = main([*argv, "--data", f"npz:{path}", *extra, "--no-progress"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1 and "NaN" in err and "Traceback" not in err


# -- item 16: timm records, weights_path with a module, the CLI's TL message ---------------------------


def test_a_module_with_weights_path_is_one_short_line(small) -> None:
    from torchvision.models import resnet18

    with pytest.raises(ProxydataValueError, match="weights_path applies only") as info:
        TransferProxy(small, 0.5, backbone=resnet18(), weights_path="w.pth", progress=False)
    message = str(info.value)
    assert "\n" not in message and len(message) < 300 and "ResNet module" in message


def test_timm_records_the_architecture_and_the_weights_it_holds(small) -> None:
    timm = pytest.importorskip("timm", reason="timm is not installed")
    from proxydata.samplers.losses import weights_digest

    rgb = np.repeat(small.images[:48].astype(np.float32) / 16.0, 3, axis=1)
    data = ArrayDataset(rgb, small.targets[:48])
    digests = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        backbone = timm.create_model("resnet10t", pretrained=False, num_classes=0)
        proxy = TransferProxy(
            data, 0.5, backbone=backbone, input_size=16, epochs=1, batch_size=16, progress=False
        )
        assert proxy.resolved["backbone"] == "resnet10t"  # not the pretrained tag resnet10t.c3_in1k
        assert proxy.resolved["backbone_weights"] == weights_digest(backbone)
        digests.append(proxy.resolved["backbone_weights"])
    assert digests[0] != digests[1]  # two random initialisations are told apart
    scratch = TransferProxy(small, 0.5, backbone="scratch", epochs=1, batch_size=128, progress=False)
    assert scratch.resolved["backbone_weights"] is None


def test_select_tl_names_its_flags_when_the_resnet18_weights_are_missing(capsys, monkeypatch, tmp_path):
    from proxydata.cli import main

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # an empty cache
    code = main(["select", "tl", "--data", "digits", "--ratio", "0.5", "--no-progress"])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1
    assert "--weights-path FILE" in err and "--backbone scratch" in err
    assert "weights_path=" not in err and "backbone=" not in err
