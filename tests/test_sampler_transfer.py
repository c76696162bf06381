"""TL's parameter contract: ``epochs`` is what trains, ``score_epoch`` deprecated, timm backbones."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from proxydata import TransferProxy
from proxydata.datasets import ArrayDataset, load_digits

FAST = {"progress": False, "batch_size": 8, "backbone": "scratch"}


@pytest.fixture(scope="module")
def tiny() -> ArrayDataset:
    d = load_digits()
    keep = np.arange(24)
    return ArrayDataset(d.images[keep], d.targets[keep], scale=16.0)


def test_epochs_is_what_trains(tiny) -> None:
    proxy = TransferProxy(tiny, ratio=0.5, epochs=2, **FAST)
    assert len(proxy.history) == 2 == proxy.resolved["epochs"]


def test_score_epoch_is_a_deprecated_alias_that_trains_that_many(tiny) -> None:
    with pytest.warns(DeprecationWarning, match="score_epoch"):
        old = TransferProxy(tiny, ratio=0.5, epochs=75, score_epoch=2, **FAST)
    new = TransferProxy(tiny, ratio=0.5, epochs=2, **FAST)
    assert len(old.history) == 2
    np.testing.assert_array_equal(old.indices, new.indices)
    np.testing.assert_allclose(old.scores, new.scores)


def test_get_params_rebuilds_tl_and_ae(tiny) -> None:
    from proxydata import AutoencoderProxy

    for proxy in (
        TransferProxy(tiny, ratio=0.5, epochs=1, **FAST),
        AutoencoderProxy(tiny, ratio=0.5, epochs=1, progress=False, batch_size=8),
    ):
        again = type(proxy)(tiny, **proxy.get_params())
        np.testing.assert_array_equal(again.indices, proxy.indices)
        assert proxy.get_params()["device"] is None and proxy.resolved["device"] == "cpu"


def test_trained_model_and_the_deprecated_model_alias(tiny) -> None:
    proxy = TransferProxy(tiny, ratio=0.5, epochs=1, **FAST)
    with pytest.warns(DeprecationWarning, match="trained_model"):
        assert proxy.model is proxy.trained_model


def test_missing_weights_error_is_importable_from_both_places() -> None:
    from proxydata.exceptions import MissingWeightsError
    from proxydata.samplers.losses import MissingWeightsError as again

    assert again is MissingWeightsError


# -- timm backbones (issue 10, item 5) --------------------------------------------------------------

timm = pytest.importorskip("timm", reason="timm is not installed")


def _rgb(tiny: ArrayDataset) -> ArrayDataset:
    images = np.asarray(tiny.images, dtype=np.float32).reshape(len(tiny), 1, 8, 8) / 16.0
    images = np.repeat(images, 3, axis=1)
    return ArrayDataset(images, tiny.targets)


def test_timm_backbone_preprocessing_name_and_size_are_recorded(tiny, tmp_path) -> None:
    torch.manual_seed(0)
    backbone = timm.create_model("resnet10t", pretrained=False, num_classes=0)
    data = _rgb(tiny)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a headless backbone draws no logits warning
        proxy = TransferProxy(
            data,
            ratio=0.5,
            backbone=backbone,
            epochs=1,
            input_size=32,
            **{k: v for k, v in FAST.items() if k != "backbone"},
        )
    cfg = backbone.pretrained_cfg
    assert proxy.resolved["mean"] == pytest.approx(list(cfg["mean"]))  # the model's own statistics
    assert proxy.resolved["std"] == pytest.approx(list(cfg["std"]))
    assert proxy.resolved["input_size"] == [32, 32]  # given, so not the model's 224
    assert proxy.resolved["backbone"].startswith("resnet10t")
    assert proxy.resolved["backbone_parameters"] == sum(p.numel() for p in backbone.parameters())
    assert proxy.get_params()["backbone"] is backbone  # kept as given
    proxy.save(tmp_path / "tl.json")
    saved = json.loads((tmp_path / "tl.json").read_text())
    assert saved["resolved"]["backbone"].startswith("resnet10t")
    assert saved["resolved"]["backbone_parameters"] == proxy.resolved["backbone_parameters"]
    assert saved["params"]["backbone"] == {"object": "module ResNet"}


def test_timm_input_size_is_used_when_none_is_given(tiny) -> None:
    class Probe(nn.Module):
        """A zoo-style backbone that records the size it receives."""

        def __init__(self) -> None:
            super().__init__()
            self.pretrained_cfg = {
                "architecture": "probe",
                "input_size": (3, 12, 10),
                "mean": (0.5,),
                "std": (0.25,),
            }
            self.sizes: set = set()
            self.proj = nn.Linear(1, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.sizes.add(tuple(x.shape[-2:]))
            return self.proj(x.mean(dim=(2, 3)))

    probe = Probe()
    proxy = TransferProxy(tiny, ratio=0.5, backbone=probe, epochs=1, progress=False, batch_size=8)
    assert proxy.resolved["input_size"] == [12, 10] and proxy.resolved["backbone"] == "probe"
    assert proxy.resolved["mean"] == [0.5] and proxy.resolved["std"] == [0.25]


def test_a_classifier_head_left_on_warns(tiny) -> None:
    backbone = timm.create_model("resnet10t", pretrained=False, num_classes=7)
    with pytest.warns(RuntimeWarning, match="logits"):
        TransferProxy(
            _rgb(tiny), ratio=0.5, backbone=backbone, epochs=1, input_size=16, progress=False, batch_size=8
        )


def test_format_1_ae_and_tl_files_load(tiny, tmp_path) -> None:
    from proxydata import AutoencoderProxy, ProxySampler
    from proxydata.data import array_digest

    made = [
        (TransferProxy(tiny, ratio=0.5, epochs=1, **FAST), {"backbone": "backbone_name"}),
        (AutoencoderProxy(tiny, ratio=0.5, epochs=1, progress=False, batch_size=8), {"model": "model_name"}),
    ]
    for proxy, renamed in made:
        proxy.save(tmp_path / "new.json")
        record = json.loads((tmp_path / "new.json").read_text())
        del record["format"], record["resolved"], record["digest"], record["split"]
        for new, old in renamed.items():
            record["params"][old] = record["params"].pop(new) or "ConvAutoencoder"
        record["fingerprint"] = f"n={len(tiny)};labels={array_digest(tiny.targets)}"
        (tmp_path / "old.json").write_text(json.dumps(record))
        with (
            pytest.warns(UserWarning, match="content was not checked"),
            pytest.warns(UserWarning, match="format 1"),
        ):
            loaded = ProxySampler.load(tmp_path / "old.json", tiny, verify=False)
        assert type(loaded) is type(proxy)
        np.testing.assert_array_equal(loaded.indices, proxy.indices)
        assert loaded.get_params()[next(iter(renamed))] == proxy.get_params()[next(iter(renamed))]
