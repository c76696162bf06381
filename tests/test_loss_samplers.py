"""AutoencoderProxy (AE) and TransferProxy (TL): selection, scores, errors, persistence."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import Subset, TensorDataset

from proxydata import AutoencoderProxy, TransferProxy, make_proxy
from proxydata.datasets import ArrayDataset, load_digits
from proxydata.samplers._image_batches import ImageBatches, batch_slices
from proxydata.samplers._loss_models import (
    ConvAutoencoder,
    Preprocess,
    ScratchBackbone,
    TransferHead,
    resnet18_weights_file,
)
from proxydata.samplers.base import proxy_size
from proxydata.samplers.losses import MissingWeightsError

FAST = {"progress": False, "batch_size": 64}


def _digits_subset(n: int) -> ArrayDataset:
    d = load_digits()
    return ArrayDataset(d.images[:n], d.targets[:n], scale=d.scale)


SMALL = _digits_subset(200)  # 1x8x8, 10 classes, even n


def _bce_by_hand(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-(x log o + (1 - x) log(1 - o)), logs clamped at -100 as torch documents; pixel mean."""
    log_o = torch.clamp(torch.log(out), min=-100)
    log_1mo = torch.clamp(torch.log(1 - out), min=-100)
    return (-(x * log_o + (1 - x) * log_1mo)).flatten(1).mean(1)


def _images(ds: ArrayDataset) -> torch.Tensor:
    return torch.from_numpy(ds.images.astype(np.float32)) / ds.scale


class TinyBackbone(nn.Module):
    """A frozen random feature extractor: conv → global pooling → 12-d."""

    def __init__(self, channels: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 12, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)).mean(dim=(2, 3))


@pytest.fixture(scope="module")
def ae_digits() -> AutoencoderProxy:
    return AutoencoderProxy(load_digits(), ratio=0.5, epochs=2, seed=3, **FAST)


# -- networks ---------------------------------------------------------------------------
@pytest.mark.parametrize(("c", "h", "w"), [(3, 32, 32), (1, 28, 28), (1, 8, 8), (3, 16, 16), (4, 5, 7)])
def test_conv_autoencoder_keeps_any_image_shape(c: int, h: int, w: int) -> None:
    net = ConvAutoencoder(c)
    x = torch.rand(2, c, h, w)
    with torch.no_grad():
        out = net(x)
    assert out.shape == x.shape
    assert float(out.min()) > 0 and float(out.max()) < 1  # sigmoid output


def test_conv_autoencoder_is_the_paper_network() -> None:
    net = ConvAutoencoder(3)
    convs = [m for m in net.encoder if isinstance(m, nn.Conv2d)]
    deconvs = [m for m in net.decoder if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels) for m in convs] == [(3, 16), (16, 32), (32, 64), (64, 64)]
    assert [(m.in_channels, m.out_channels) for m in deconvs] == [(64, 64), (64, 32), (32, 16), (16, 3)]
    assert all(m.stride == (2, 2) for m in convs + deconvs)
    assert isinstance(net.decoder[-1], nn.Sigmoid)
    # 32x32 needs no padding: the bottleneck is 32 / 2**4 = 2 pixels wide
    assert net.encoder(torch.rand(1, 3, 32, 32)).shape == (1, 64, 2, 2)


def test_transfer_head_layout() -> None:
    head = TransferHead(512, 10)
    kinds = [type(m) for m in head.layers]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout, nn.Linear]
    assert (head.layers[0].in_features, head.layers[0].out_features) == (512, 256)
    assert head.layers[3].p == 0.5 and head.layers[4].out_features == 10


def test_preprocess_by_hand() -> None:
    pre = Preprocess(size=(4, 6), mean=(0.25, 0.5, 0.0), std=(0.5, 0.25, 2.0), repeat_to=3)
    x = torch.full((1, 1, 2, 3), 0.5)
    out = pre(x)
    assert out.shape == (1, 3, 4, 6)
    # (0.5 - 0.25) / 0.5 = 0.5; (0.5 - 0.5) / 0.25 = 0; (0.5 - 0) / 2 = 0.25
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([0.5, 0.0, 0.25]))


def test_scratch_backbone_width() -> None:
    assert ScratchBackbone(1)(torch.rand(3, 1, 8, 8)).shape == (3, ScratchBackbone.out_features)


@given(n=st.integers(1, 300), b=st.integers(1, 70))
def test_batch_slices_cover_once_without_singletons(n: int, b: int) -> None:
    order = np.random.default_rng(n).permutation(n)
    parts = list(batch_slices(order, b))
    assert np.array_equal(np.concatenate(parts), order)
    assert all(p.size == b for p in parts[:-1])
    assert parts[-1].size <= b + 1
    if len(parts) > 1:
        assert parts[-1].size >= 2  # a trailing single sample joins the previous batch


def test_image_batches_subset_and_generic_agree() -> None:
    sub = Subset(Subset(SMALL, list(range(50, 150))), list(range(10, 60)))
    idx = np.array([0, 7, 3, 49])
    fast = ImageBatches(sub, "t").get(idx)
    expected = _images(SMALL)[np.array([60, 67, 63, 109])]
    assert torch.equal(fast, expected)
    generic = TensorDataset(expected[:, 0], torch.zeros(4))  # (H, W) items get a channel axis
    assert torch.equal(ImageBatches(generic, "t").get(np.arange(4)), expected)


# -- AE ------------------------------------------------------------------------------------
@settings(max_examples=8, deadline=None)
@given(ratio=st.floats(0.02, 1.0), keep=st.sampled_from(["easy", "hard"]))
def test_ae_kept_count_exact(ratio: float, keep: str) -> None:
    data = _digits_subset(37)
    proxy = AutoencoderProxy(data, ratio=ratio, keep=keep, epochs=1, **FAST)
    assert proxy.indices.size == proxy_size(37, ratio)
    assert np.all(np.diff(proxy.indices) > 0)
    assert proxy.scores.shape == (37,)


def test_ae_scores_equal_independent_bce(ae_digits: AutoencoderProxy) -> None:
    x = _images(load_digits())
    with torch.no_grad():
        # one image at a time for the first 64, and a batch of another size for all
        single = torch.cat(
            [_bce_by_hand(ae_digits.trained_model(x[i : i + 1]), x[i : i + 1]) for i in range(64)]
        )
        batched = torch.cat(
            [
                _bce_by_hand(ae_digits.trained_model(x[s : s + 100]), x[s : s + 100])
                for s in range(0, len(x), 100)
            ]
        )
    np.testing.assert_allclose(ae_digits.scores[:64], single.double().numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ae_digits.scores, batched.double().numpy(), rtol=1e-5, atol=1e-7)
    assert len(ae_digits.history) == 2 and ae_digits.history[1] < ae_digits.history[0]


def test_ae_keeps_lowest_losses(ae_digits: AutoencoderProxy) -> None:
    m = proxy_size(1797, 0.5)
    assert ae_digits.indices.size == m == 899
    kept = np.zeros(1797, bool)
    kept[ae_digits.indices] = True
    assert ae_digits.scores[kept].max() <= ae_digits.scores[~kept].min()


def test_ae_mse_scores_equal_squared_error() -> None:
    proxy = AutoencoderProxy(SMALL, ratio=0.3, loss="mse", epochs=1, **FAST)
    x = _images(SMALL)
    with torch.no_grad():
        expected = ((proxy.trained_model(x) - x) ** 2).flatten(1).mean(1)
    np.testing.assert_allclose(proxy.scores, expected.double().numpy(), rtol=1e-5, atol=1e-8)


def test_ae_easy_and_hard_are_complements() -> None:
    easy = AutoencoderProxy(SMALL, ratio=0.5, keep="easy", epochs=1, seed=1, **FAST)
    hard = AutoencoderProxy(SMALL, ratio=0.5, keep="hard", epochs=1, seed=1, **FAST)
    assert np.unique(easy.scores).size == 200  # no ties
    assert np.array_equal(easy.scores, hard.scores)
    assert np.intersect1d(easy.indices, hard.indices).size == 0
    assert np.array_equal(np.union1d(easy.indices, hard.indices), np.arange(200))


def test_ae_seed_reproducible_and_rng_untouched() -> None:
    torch.manual_seed(1234)
    state = torch.random.get_rng_state()
    a = AutoencoderProxy(SMALL, ratio=0.4, epochs=1, seed=5, **FAST)
    assert torch.equal(state, torch.random.get_rng_state())
    b = AutoencoderProxy(SMALL, ratio=0.4, epochs=1, seed=5, **FAST)
    c = AutoencoderProxy(SMALL, ratio=0.4, epochs=1, seed=6, **FAST)
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.scores, b.scores)
    assert not np.array_equal(a.scores, c.scores)


def test_ae_ranks_a_noise_image_among_the_highest_losses() -> None:
    d = load_digits()
    images = d.images.copy()
    noisy = 123
    images[noisy] = np.random.default_rng(0).uniform(0, 16, size=images[noisy].shape)
    data = ArrayDataset(images, d.targets, scale=16.0)
    proxy = AutoencoderProxy(data, ratio=0.5, epochs=2, **FAST)
    rank = int((proxy.scores > proxy.scores[noisy]).sum())  # samples with a higher loss
    assert rank < 0.01 * len(data)
    assert noisy not in proxy.indices


def test_ae_user_model_is_copied_not_modified() -> None:
    user = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.Sigmoid(), nn.Unflatten(1, (1, 8, 8)))
    before = [p.detach().clone() for p in user.parameters()]
    proxy = AutoencoderProxy(SMALL, ratio=0.5, model=user, epochs=1, **FAST)
    assert proxy.model is user and proxy.trained_model is not user
    assert proxy.resolved["model"] == "Sequential"
    assert all(torch.equal(p, q) for p, q in zip(before, user.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(before, proxy.trained_model.parameters()))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"loss": "l1"}, ValueError, "loss"),
        ({"keep": "medium"}, ValueError, "keep"),
        ({"ratio": 0.0}, ValueError, "ratio"),
        ({"ratio": 1.5}, ValueError, "ratio"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"lr": -1.0}, ValueError, "lr"),
        ({"model": "ae"}, TypeError, "model"),
        ({"device": 3}, TypeError, "device"),
    ],
)
def test_ae_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    args = {"ratio": 0.5, "epochs": 1, **FAST, **kwargs}
    with pytest.raises(error, match=match):
        AutoencoderProxy(SMALL, **args)


def test_ae_rejects_non_images() -> None:
    features = TensorDataset(torch.rand(20, 64), torch.arange(20) % 2)
    with pytest.raises(ValueError, match="image"):
        AutoencoderProxy(features, ratio=0.5, epochs=1, **FAST)
    unscaled = ArrayDataset(load_digits().images[:20], np.arange(20) % 2, scale=1.0)  # values up to 16
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        AutoencoderProxy(unscaled, ratio=0.5, epochs=1, **FAST)
    with pytest.raises(ValueError, match="shape"):
        AutoencoderProxy(
            SMALL,
            ratio=0.5,
            model=nn.Sequential(nn.Flatten(), nn.Linear(64, 9)),
            loss="mse",
            epochs=1,
            **FAST,
        )


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_ae_save_load_round_trip(ae_digits: AutoencoderProxy, tmp_path, suffix: str) -> None:
    path = tmp_path / f"ae{suffix}"
    ae_digits.save(path)
    loaded = AutoencoderProxy.load(path, load_digits())
    assert isinstance(loaded, AutoencoderProxy)
    assert np.array_equal(loaded.indices, ae_digits.indices)
    np.testing.assert_allclose(loaded.scores, ae_digits.scores, rtol=0, atol=0)
    got, want = loaded.get_params(), {**ae_digits.get_params(), "progress": False}
    np.testing.assert_array_equal(got.pop("targets"), want.pop("targets"))
    assert got == want
    assert loaded.trained_model is None and loaded.history is None
    assert sorted(loaded) == ae_digits.indices.tolist()


def test_make_proxy_ae_and_tl() -> None:
    direct = AutoencoderProxy(SMALL, ratio=0.25, epochs=1, seed=2, **FAST)
    made = make_proxy("ae", SMALL, ratio=0.25, epochs=1, seed=2, **FAST)
    assert isinstance(made, AutoencoderProxy) and np.array_equal(made.indices, direct.indices)
    tl = make_proxy("TL", SMALL, ratio=0.25, backbone="scratch", epochs=1, **FAST)
    assert isinstance(tl, TransferProxy) and tl.indices.size == 50


# -- TL ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tl_scratch() -> TransferProxy:
    return TransferProxy(load_digits(), ratio=0.5, backbone="scratch", epochs=3, **FAST)


def test_tl_scratch_offline_loss_decreases(tl_scratch: TransferProxy) -> None:
    assert len(tl_scratch.history) == 3 == tl_scratch.resolved["epochs"]  # epochs trained, then scored
    assert tl_scratch.history[-1] < tl_scratch.history[0]
    assert tl_scratch.indices.size == 899
    assert tl_scratch.get_params()["backbone"] == "scratch" == tl_scratch.resolved["backbone"]


def test_tl_scores_equal_independent_cross_entropy(tl_scratch: TransferProxy) -> None:
    d = load_digits()
    x, y = _images(d), torch.from_numpy(d.targets)
    with torch.no_grad():
        logits = tl_scratch.trained_model(x).double()
    ce = -(logits.log_softmax(1).gather(1, y[:, None])[:, 0])  # -log softmax(z)_y
    np.testing.assert_allclose(tl_scratch.scores, ce.numpy(), rtol=1e-4, atol=1e-6)
    kept = np.zeros(len(d), bool)
    kept[tl_scratch.indices] = True
    assert tl_scratch.scores[kept].max() <= tl_scratch.scores[~kept].min()


def test_tl_frozen_backbone_cached_equals_recomputed() -> None:
    backbone = TinyBackbone()
    before = [p.detach().clone() for p in backbone.parameters()]
    common = {"ratio": 0.5, "backbone": backbone, "epochs": 2, "seed": 4, **FAST}
    cached = TransferProxy(SMALL, cache_features=True, **common)
    fresh = TransferProxy(SMALL, cache_features=False, **common)
    np.testing.assert_allclose(cached.scores, fresh.scores, rtol=1e-4, atol=1e-6)
    assert cached.feature_seconds > 0 and fresh.feature_seconds == 0
    # frozen: neither the user's module nor the copy that was used changed
    assert all(torch.equal(p, q) for p, q in zip(before, backbone.parameters()))
    assert all(torch.equal(p, q) for p, q in zip(before, cached.trained_model[1].parameters()))
    assert cached.head.layers[0].in_features == 12  # width found by a dummy forward
    assert cached.history[-1] < cached.history[0]


def test_tl_easy_hard_complements_and_seed() -> None:
    common = {"ratio": 0.5, "backbone": TinyBackbone(), "epochs": 2, "seed": 7, **FAST}
    state = torch.random.get_rng_state()
    easy = TransferProxy(SMALL, keep="easy", **common)
    assert torch.equal(state, torch.random.get_rng_state())
    hard = TransferProxy(SMALL, keep="hard", **common)
    again = TransferProxy(SMALL, keep="easy", **common)
    assert np.unique(easy.scores).size > 190  # real per-sample losses, not a constant
    assert np.array_equal(easy.scores, again.scores) and np.array_equal(easy.indices, again.indices)
    assert np.array_equal(np.sort(np.concatenate([easy.indices, hard.indices])), np.arange(200))


def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a network call was attempted")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def test_tl_default_backbone_without_weights_raises(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    pytest.importorskip("torchvision")
    _no_network(monkeypatch)
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    with pytest.raises(MissingWeightsError) as info:
        TransferProxy(SMALL, ratio=0.5, epochs=1, **FAST)
    message = str(info.value)
    assert "weights_path" in message and "scratch" in message and str(tmp_path) in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, FileNotFoundError)


def test_tl_resnet18_from_local_weights(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    torchvision = pytest.importorskip("torchvision")
    _no_network(monkeypatch)
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    torch.manual_seed(0)
    state = torchvision.models.resnet18(weights=None).state_dict()
    cache = resnet18_weights_file()
    assert cache.startswith(str(tmp_path)) and cache.endswith(".pth")
    os.makedirs(os.path.dirname(cache))
    torch.save(state, cache)
    data = _digits_subset(40)
    for kwargs in ({}, {"weights_path": cache}, {"weights_path": Path(cache)}):
        proxy = TransferProxy(data, ratio=0.5, epochs=1, **FAST, **kwargs)
        assert torch.equal(proxy.trained_model[1].conv1.weight, state["conv1.weight"])
        assert proxy.head.layers[0].in_features == 512
        assert proxy.get_params()["mean"] is None  # as given
        assert proxy.resolved["mean"] == [0.485, 0.456, 0.406]  # ImageNet statistics by default
        assert proxy.indices.size == 20
    bad = tmp_path / "bad.pth"
    torch.save({"weight": torch.zeros(2)}, bad)
    with pytest.raises(ValueError, match="ResNet-18"):
        TransferProxy(data, ratio=0.5, weights_path=str(bad), epochs=1, **FAST)


def test_tl_input_size_resizes_for_the_backbone() -> None:
    seen = []

    class Recorder(TinyBackbone):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(tuple(x.shape[-2:]))
            return super().forward(x)

    TransferProxy(SMALL, ratio=0.5, backbone=Recorder(), input_size=12, epochs=1, **FAST)
    assert set(seen) == {(12, 12)}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epochs": 0}, ValueError, "epochs"),
        ({"backbone": "vgg"}, ValueError, "backbone"),
        ({"backbone": 5}, TypeError, "backbone"),
        ({"backbone": nn.Conv2d(1, 4, 3)}, ValueError, "2-D"),
        ({"backbone": nn.Sequential(nn.Flatten(), nn.Linear(3, 4))}, ValueError, "backbone"),
        ({"weights_path": "w.pth"}, ValueError, "weights_path"),
        ({"mean": (0.5,)}, ValueError, "mean"),
        ({"mean": (0.5, 0.5), "std": (1.0, 1.0)}, ValueError, "mean"),
        ({"mean": (0.5,), "std": (0.0,)}, ValueError, "std"),
        ({"input_size": "big"}, TypeError, "input_size"),
        ({"input_size": 0}, ValueError, "input_size"),
        ({"dropout": 1.0}, ValueError, "dropout"),
        ({"keep": "all"}, ValueError, "keep"),
        ({"ratio": -0.1}, ValueError, "ratio"),
        ({"cache_features": 1}, TypeError, "cache_features"),
        ({"batch_size": 1}, ValueError, "batch_size"),
    ],
)
def test_tl_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    args = {"ratio": 0.5, "backbone": "scratch", "epochs": 1, **FAST, **kwargs}
    with pytest.raises(error, match=match):
        TransferProxy(SMALL, **args)


def test_tl_rejects_non_images() -> None:
    features = TensorDataset(torch.rand(20, 64), torch.arange(20) % 2)
    with pytest.raises(ValueError, match="image"):
        TransferProxy(features, ratio=0.5, backbone="scratch", epochs=1, **FAST)


def test_tl_save_load_round_trip(tl_scratch: TransferProxy, tmp_path) -> None:
    path = tmp_path / "tl.json"
    tl_scratch.save(path)
    loaded = TransferProxy.load(path, load_digits())
    assert np.array_equal(loaded.indices, tl_scratch.indices)
    np.testing.assert_allclose(loaded.scores, tl_scratch.scores, rtol=0, atol=0)
    assert loaded.epochs == 3 and loaded.backbone == "scratch" and loaded.trained_model is None
    assert loaded.resolved == json.loads(json.dumps(tl_scratch.resolved))
    with pytest.raises(ValueError, match="not a 'ae'"):
        AutoencoderProxy.load(path, load_digits())


# -- real CIFAR-10 pixels ------------------------------------------------------------------
@pytest.mark.shared_data
def test_cifar_ae_and_tl(cifar10_lossless: ArrayDataset) -> None:
    data = ArrayDataset(cifar10_lossless.images[:300], cifar10_lossless.targets[:300])
    ae = AutoencoderProxy(data, ratio=0.5, epochs=1, **FAST)
    hard = AutoencoderProxy(data, ratio=0.5, epochs=1, keep="hard", **FAST)
    assert ae.indices.size == 150 and np.unique(ae.scores).size == 300
    assert np.array_equal(np.sort(np.concatenate([ae.indices, hard.indices])), np.arange(300))
    x = _images(data)
    with torch.no_grad():
        expected = _bce_by_hand(ae.trained_model(x), x)
    np.testing.assert_allclose(ae.scores, expected.double().numpy(), rtol=1e-5, atol=1e-7)
    tl = TransferProxy(data, ratio=0.3, backbone="scratch", epochs=2, **FAST)
    assert tl.indices.size == 90 and tl.history[-1] < tl.history[0]
