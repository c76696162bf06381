"""The static proxies' contracts: sampler state, transactional load, parameters, bad input.

Each test here reproduced a defect of issue 9 / 11 on 99a5f1a before the fix.
"""

from __future__ import annotations

import json
import warnings
import zipfile

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DistributedSampler, TensorDataset

from proxydata import (
    ClassOutlierProxy,
    ClassRandomProxy,
    EL2NProxy,
    EntropyProxy,
    ForgettingProxy,
    GraNdProxy,
    HerdingProxy,
    KCenterProxy,
    KMeansOutlierProxy,
    ProxySampler,
    RandomProxy,
)
from proxydata.exceptions import CorruptStateError, ProxydataError

FAST = {
    "rs": (RandomProxy, {}),
    "cc-rs": (ClassRandomProxy, {}),
    "km-or": (KMeansOutlierProxy, {"n_clusters": 10, "n_iter": 10}),
    "cc-or": (ClassOutlierProxy, {}),
    # the baselines of issue 31 (a linear classifier on the 8x8 digits keeps them fast)
    "entropy": (EntropyProxy, {"epochs": 1, "model": nn.Sequential(nn.Flatten(), nn.Linear(64, 10))}),
    "forgetting": (ForgettingProxy, {"epochs": 2, "model": nn.Sequential(nn.Flatten(), nn.Linear(64, 10))}),
    "grand": (GraNdProxy, {"n_seeds": 2, "model": nn.Sequential(nn.Flatten(), nn.Linear(64, 10))}),
    "el2n": (EL2NProxy, {"epochs": 1, "n_seeds": 2, "model": nn.Sequential(nn.Flatten(), nn.Linear(64, 10))}),
    "herding": (HerdingProxy, {}),
    "k-center": (KCenterProxy, {}),
}


def build(name: str, dataset, ratio: float = 0.3, **kwargs) -> ProxySampler:
    cls, defaults = FAST[name]
    return cls(dataset, ratio, progress=False, **{**defaults, **kwargs})


def small(labels, d: int = 4, seed: int = 0) -> TensorDataset:
    y = torch.as_tensor(labels, dtype=torch.long)
    x = torch.from_numpy(np.random.default_rng(seed).random((y.numel(), d), dtype=np.float32))
    return TensorDataset(x, y)


# -- the sampler contract: iterating changes no state ----------------------------------------------


@pytest.mark.parametrize("name", list(FAST))
def test_an_extra_pass_on_one_rank_keeps_the_shards_in_step(digits, name: str) -> None:
    ranks = [build(name, digits, 0.1, num_replicas=2, rank=r, seed=4) for r in range(2)]
    list(ranks[1])  # rank 1 runs one extra pass (an evaluation, say); rank 0 does not
    kept = ranks[0].indices
    padding = -kept.size % 2
    for _ in range(2):  # passes without set_epoch: the ranks still split one order
        first, second = (list(s) for s in ranks)
        assert set(first) | set(second) == set(kept.tolist())
        assert len(set(first) & set(second)) <= padding
    for epoch in range(3):
        for s in ranks:
            s.set_epoch(epoch)
        first, second = (list(s) for s in ranks)
        # exactly DistributedSampler's shards of this epoch, whatever rank 1 did before
        for got, rank in ((first, 0), (second, 1)):
            ref = DistributedSampler(range(kept.size), num_replicas=2, rank=rank, seed=4)
            ref.set_epoch(epoch)
            assert got == kept[list(ref)].tolist()
        assert set(first) | set(second) == set(kept.tolist())


def test_iterating_twice_gives_the_same_pass_until_set_epoch(digits) -> None:
    proxy = build("rs", digits, 0.2, seed=1)
    assert list(proxy) == list(proxy)
    assert proxy.epoch == 0
    before = list(proxy)
    proxy.set_epoch(1)
    assert list(proxy) != before


# -- ProxySampler.load validates everything first ---------------------------------------------------


@pytest.fixture(scope="module")
def saved(digits, tmp_path_factory):
    """A CC-OR proxy saved as JSON and npz (paths), with the proxy itself."""
    proxy = build("cc-or", digits, 0.3)
    folder = tmp_path_factory.mktemp("saved")
    proxy.save(folder / "p.json")
    proxy.save(folder / "p.npz")
    return proxy, folder / "p.json", folder / "p.npz"


def _edited_json(src, dst, edit) -> None:
    record = json.loads(src.read_text())
    edit(record)
    dst.write_text(json.dumps(record))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda r: r["indices"].__setitem__(0, -1), "indices"),
        (lambda r: r["indices"].__setitem__(0, 1797), "indices"),
        (lambda r: r["indices"].__setitem__(1, r["indices"][0]), "indices"),
        (lambda r: r["indices"].reverse(), "indices"),
        (lambda r: r["indices"].__setitem__(0, 0.5), "indices"),
        (lambda r: r.__setitem__("method", "rs"), "method"),
        (lambda r: r.__setitem__("method", "nope"), "method"),
        (lambda r: r["params"].__setitem__("ratio", 5), "ratio"),
        (lambda r: r["params"].__setitem__("standardize", "yes"), "standardize"),
        (lambda r: r["params"].__setitem__("unknown", 1), "unknown"),
        (lambda r: r["params"].pop("standardize"), "standardize"),
        (lambda r: r.__setitem__("scores", r["scores"][:-1]), "scores"),
        (lambda r: r.__setitem__("seed", -3), "seed"),
        (lambda r: r.pop("indices"), "indices"),
        (lambda r: r.__setitem__("fingerprint", "n=1797;labels=0000"), "fingerprint"),
        (lambda r: r["indices"].pop(), "ratio"),  # fewer kept than the ratio keeps
    ],
)
@pytest.mark.filterwarnings("ignore:the saved proxy's fingerprint covers length and labels only")
def test_load_rejects_an_edited_json(digits, saved, tmp_path, edit, match: str) -> None:
    _, path, _ = saved
    bad = tmp_path / "bad.json"
    _edited_json(path, bad, edit)
    with pytest.raises(CorruptStateError, match=match) as info:
        ProxySampler.load(bad, digits)
    assert str(bad) in str(info.value)


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b"[1, 2]", b"\x00\x01garbage", b'{"method": "cc-or"}'],
)
@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_load_rejects_truncated_or_garbage_files(digits, saved, tmp_path, content: bytes, suffix) -> None:
    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(content)
    with pytest.raises(CorruptStateError, match="bad") as info:
        ProxySampler.load(bad, digits)
    assert str(bad) in str(info.value)


def test_load_rejects_a_truncated_npz(digits, saved, tmp_path) -> None:
    _, _, npz = saved
    bad = tmp_path / "cut.npz"
    bad.write_bytes(npz.read_bytes()[:-40])
    with pytest.raises(CorruptStateError, match=r"cut\.npz"):
        ProxySampler.load(bad, digits)


def test_load_rejects_npz_with_float_or_negative_indices(digits, saved, tmp_path) -> None:
    _, _, npz = saved
    with np.load(npz) as z:
        arrays = {k: z[k] for k in z.files}
    for name, indices in [("float", arrays["indices"] + 0.5), ("negative", arrays["indices"] - 1)]:
        bad = tmp_path / f"{name}.npz"
        np.savez(bad, **{**arrays, "indices": indices})
        with pytest.raises(CorruptStateError, match="indices"):
            ProxySampler.load(bad, digits)


def test_a_missing_file_is_an_os_error_not_corruption(digits, tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        ProxySampler.load(tmp_path / "absent.json", digits)


def test_a_format_1_file_still_loads(digits, saved, tmp_path) -> None:
    from proxydata.data import array_digest

    proxy, path, _ = saved
    record = json.loads(path.read_text())
    for key in ("format", "resolved"):
        record.pop(key)
    record["params"] = {"ratio": 0.3, "seed": 0, "features": "pixels", "standardize": False}
    record["fingerprint"] = f"n=1797;labels={array_digest(digits.targets)}"  # 0.1: labels only
    old = tmp_path / "old.json"
    old.write_text(json.dumps(record))
    with pytest.warns(UserWarning, match="content was not checked"):
        loaded = ClassOutlierProxy.load(old, digits)
    np.testing.assert_array_equal(loaded.indices, proxy.indices)
    assert loaded.feature_batch_size == 512 and loaded.batch_size is None  # defaults filled in


def test_load_still_round_trips(digits, saved) -> None:
    proxy, path, npz = saved
    for p in (path, npz):
        loaded = ClassOutlierProxy.load(p, digits)
        np.testing.assert_array_equal(loaded.indices, proxy.indices)
        np.testing.assert_allclose(loaded.scores, proxy.scores)


# -- parameters kept as given; get_params rebuilds the same selection -------------------------------


@pytest.mark.parametrize("name", list(FAST))
def test_get_params_rebuilds_the_same_selection(digits, name: str) -> None:
    proxy = build(name, digits, 0.25, seed=2)
    again = type(proxy)(digits, **proxy.get_params())
    np.testing.assert_array_equal(again.indices, proxy.indices)


def test_feature_array_is_kept_as_given(digits) -> None:
    from proxydata.features import pixel_features

    x = pixel_features(digits, progress=False)
    for name in ("km-or", "cc-or"):
        proxy = build(name, digits, 0.25, features=x)
        assert proxy.get_params()["features"] is x
        again = type(proxy)(digits, **proxy.get_params())
        np.testing.assert_array_equal(again.indices, proxy.indices)


def test_get_params_is_read_from_the_signature() -> None:
    import inspect

    for cls, _ in FAST.values():
        names = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "dataset")]
        assert sorted(cls.get_param_names()) == sorted(names)
        kinds = [p.kind for p in inspect.signature(cls.__init__).parameters.values()]
        assert inspect.Parameter.VAR_KEYWORD not in kinds  # shared parameters spelled out


def test_kmor_records_the_backend_that_ran(digits, tmp_path) -> None:
    proxy = build("km-or", digits, 0.25, backend="sklearn")
    assert proxy.backend == "sklearn" and proxy.resolved["backend"] == "sklearn"
    auto = build("km-or", digits, 0.25)
    assert auto.backend == "auto" and auto.resolved["backend"] in ("faiss", "sklearn")
    assert auto.resolved["device"] == "cpu"
    auto.save(tmp_path / "k.json")
    record = json.loads((tmp_path / "k.json").read_text())
    assert record["resolved"]["backend"] == auto.resolved["backend"]
    loaded = KMeansOutlierProxy.load(tmp_path / "k.json", digits)
    assert loaded.resolved == auto.resolved and loaded.backend == "auto"


def test_feature_batch_size_and_its_deprecated_alias(digits) -> None:
    new = build("cc-or", digits, 0.25, feature_batch_size=100)
    assert new.feature_batch_size == 100
    with pytest.warns(DeprecationWarning, match="feature_batch_size"):
        old = build("cc-or", digits, 0.25, batch_size=100)
    np.testing.assert_array_equal(old.indices, new.indices)
    with pytest.warns(DeprecationWarning, match="feature_batch_size"):
        build("km-or", digits, 0.25, batch_size=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        type(new)(digits, **new.get_params())  # rebuilding warns about nothing


def test_shared_parameters_are_keyword_only(digits) -> None:
    with pytest.raises(TypeError):
        RandomProxy(digits, 0.5, 3)  # seed must be named


# -- silent wrong results become errors or warnings -------------------------------------------------


def test_ccor_with_a_nan_pixel_raises_like_kmor() -> None:
    ds = small([0, 0, 0, 1, 1, 1])
    ds.tensors[0][1, 2] = float("nan")
    for name in ("cc-or", "km-or"):
        kwargs = {"n_clusters": 2} if name == "km-or" else {}
        with pytest.raises(ValueError, match="finite"):
            build(name, ds, 0.5, **kwargs)


@pytest.mark.parametrize("name", list(FAST))
def test_a_ratio_that_keeps_nothing_raises_naming_ratio(name: str) -> None:
    ds = small([0] * 5 + [1] * 5)
    kwargs = {"n_clusters": 2} if name == "km-or" else {}
    with pytest.raises(ValueError, match=r"ratio.*0\.01"):
        build(name, ds, 0.01, **kwargs)


@pytest.mark.parametrize("name", ["cc-rs", "cc-or"])
def test_a_class_dropped_to_zero_warns(name: str) -> None:
    ds = small([0] * 20 + [1])  # class 1 has one sample: round(0.3 * 1) = 0
    with pytest.warns(RuntimeWarning, match="class"):
        proxy = build(name, ds, 0.3)
    assert proxy.kept_class_counts().tolist() == [6, 0]


@pytest.mark.parametrize("name", list(FAST))
def test_a_seed_of_2_64_is_refused_at_construction(digits, name: str) -> None:
    with pytest.raises(ValueError, match="seed"):
        build(name, digits, 0.3, seed=2**64)


def test_a_huge_label_iterates_present_classes_only() -> None:
    ds = small([0, 0, 1, 1, 10**9, 10**9])
    for name in ("cc-rs", "cc-or"):
        proxy = build(name, ds, 0.5)  # used to loop / allocate over 10**9 classes
        assert proxy.indices.size == 3
        assert proxy.balance_degree() == 1.0


def test_balance_degree_counts_present_classes_only() -> None:
    ds = small([3, 3, 7, 7])
    proxy = build("cc-rs", ds, 0.5)
    assert proxy.balance_degree() == 1.0
    assert proxy.classes.tolist() == [3, 7]


def test_errors_are_the_library_family(digits) -> None:
    with pytest.raises(ProxydataError):
        build("rs", digits, 0.0)
    with pytest.raises(ProxydataError):
        build("km-or", digits, 0.3, backend="gpu")


def test_bad_zip_is_not_raw(digits, tmp_path) -> None:
    bad = tmp_path / "z.npz"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("meta.npy", b"not numpy")
    with pytest.raises(CorruptStateError):
        ProxySampler.load(bad, digits)
