"""The coreset baselines and the entropy proxy against reference code and hand-computed values (issue 31)."""

from __future__ import annotations

import copy
import json
import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from proxydata import (
    EL2NProxy,
    EntropyProxy,
    ForgettingProxy,
    GraNdProxy,
    HerdingProxy,
    KCenterProxy,
    ProxySampler,
    make_proxy,
)
from proxydata.datasets import ArrayDataset
from proxydata.exceptions import CorruptStateError
from proxydata.samplers.dynamics import forgetting_counts, grand_scores
from proxydata.samplers.entropy import entropy_bins, entropy_sample, softmax_entropy


def tiny_images(n: int = 60, classes: int = 3, seed: int = 0) -> ArrayDataset:
    """``n`` random 1×3×3 images in [0, 1] with labels ``i mod classes``."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 3, 3), dtype=np.float32)
    return ArrayDataset(x, np.arange(n) % classes)


def images_of(ds: ArrayDataset) -> torch.Tensor:
    return torch.stack([torch.as_tensor(ds[i][0]) for i in range(len(ds))]).float()


def linear(classes: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), nn.Linear(9, classes))


# -- herding and k-center greedy: the same indices as straightforward code ------------------------


def reference_herding(x: np.ndarray, labels: np.ndarray, ratio: float) -> np.ndarray:
    kept = []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        xc = x[rows].astype(np.float64)
        mu = xc.mean(axis=0)
        m = math.floor(ratio * rows.size + 0.5)
        chosen: list[int] = []
        total = np.zeros(x.shape[1])
        for t in range(m):
            best, best_i = np.inf, -1
            for i in range(rows.size):
                if i in chosen:
                    continue
                gap = np.linalg.norm(mu - (total + xc[i]) / (t + 1))
                if gap < best:
                    best, best_i = gap, i
            chosen.append(best_i)
            total += xc[best_i]
        kept += rows[chosen].tolist()
    return np.sort(kept)


def reference_kcenter(x: np.ndarray, m: int, first: int) -> np.ndarray:
    x = x.astype(np.float64)
    chosen = [first]
    for _ in range(m - 1):
        dist = np.array([min(np.linalg.norm(x[i] - x[c]) for c in chosen) for i in range(len(x))])
        dist[chosen] = -1.0
        chosen.append(int(np.argmax(dist)))
    return np.sort(chosen)


def features_and_labels(
    n: int = 90, d: int = 5, seed: int = 1
) -> tuple[np.ndarray, np.ndarray, ArrayDataset]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    labels = np.arange(n) % 3
    return x, labels, ArrayDataset(rng.random((n, 1, 2, 2), dtype=np.float32), labels)


@pytest.mark.parametrize("budget", [2**30, 0])  # held in memory / re-read every step
def test_herding_equals_a_straightforward_reference(budget: int, tmp_path) -> None:
    x, labels, ds = features_and_labels()
    np.save(tmp_path / "f.npy", x)
    mapped = np.load(tmp_path / "f.npy", mmap_mode="r")
    proxy = HerdingProxy(ds, 0.3, features=mapped, standardize=False, memory_budget=budget, progress=False)
    np.testing.assert_array_equal(proxy.indices, reference_herding(x, labels, 0.3))
    assert proxy.kept_class_counts().tolist() == [9, 9, 9]


@pytest.mark.parametrize("budget", [2**30, 0])
def test_kcenter_equals_a_straightforward_reference(budget: int, tmp_path) -> None:
    x, _, ds = features_and_labels()
    np.save(tmp_path / "f.npy", x)
    mapped = np.load(tmp_path / "f.npy", mmap_mode="r")
    proxy = KCenterProxy(
        ds, 0.2, features=mapped, standardize=False, memory_budget=budget, seed=3, progress=False
    )
    first = int(np.random.default_rng(3).integers(90))
    np.testing.assert_array_equal(proxy.indices, reference_kcenter(x, 18, first))
    # scores: every sample's distance to its nearest kept sample
    dist = np.linalg.norm(x[:, None, :].astype(np.float64) - x[None, proxy.indices], axis=2).min(axis=1)
    np.testing.assert_allclose(proxy.scores, dist, atol=1e-5)


def test_herding_on_standardised_pixels_uses_kmors_features(digits) -> None:
    from proxydata.features import pixel_features, standardize_

    sub = np.arange(0, 1797, 10)  # a split of 180 samples: standardised over the split, as KM-OR
    x = np.ascontiguousarray(pixel_features(digits, progress=False)[sub])
    standardize_(x)
    proxy = HerdingProxy(digits, 0.1, indices=sub, progress=False)
    expected = sub[reference_herding(x, digits.targets[sub], 0.1)]
    np.testing.assert_array_equal(proxy.indices, np.sort(expected))


# -- forgetting events: a hand-computed sequence ----------------------------------------------------


def test_forgetting_counts_a_hand_sequence() -> None:
    correct = np.array(
        [
            [1, 0, 1, 0],
            [0, 0, 1, 1],
            [1, 0, 0, 0],
            [0, 0, 1, 1],
            [1, 0, 1, 1],
        ],
        dtype=bool,
    )
    # sample 0: 1→0 at t=1 and t=3 → 2; sample 1: never correct → inf;
    # sample 2: 1→0 at t=2 → 1; sample 3: 1→0 at t=2 → 1
    assert forgetting_counts(correct).tolist() == [2.0, math.inf, 1.0, 1.0]


def test_forgetting_proxy_counts_recorded_predictions() -> None:
    ds = tiny_images(6, classes=2)  # labels 0 1 0 1 0 1
    preds = np.array(
        [
            [0, 1, 1, 0, 0, 1],
            [1, 1, 0, 1, 0, 0],
            [0, 0, 0, 0, 0, 1],
        ]
    )
    # correct: s0 1 0 1 → 1; s1 1 1 0 → 1; s2 0 1 1 → 0; s3 0 1 0 → 1; s4 1 1 1 → 0; s5 1 0 1 → 1
    proxy = ForgettingProxy(ds, 0.5, predictions=preds, progress=False)
    assert proxy.scores.tolist() == [1, 1, 0, 1, 0, 1]
    assert set(proxy.indices.tolist()) < {0, 1, 3, 5} and proxy.indices.size == 3
    assert proxy.selection_cost["samples"] == 0
    logits = np.eye(2, dtype=np.float32)[preds] * 3.0  # (T, n, K): argmax gives the same labels
    again = ForgettingProxy(ds, 0.5, predictions=logits, progress=False)
    np.testing.assert_array_equal(again.indices, proxy.indices)
    easy = ForgettingProxy(ds, 0.34, predictions=preds, keep="easy", progress=False)
    assert easy.indices.tolist() == [2, 4]


def test_forgetting_training_run_records_every_presentation(digits) -> None:
    sub = np.arange(0, 1797, 20)
    proxy = ForgettingProxy(
        digits,
        0.5,
        indices=sub,
        epochs=3,
        model=nn.Sequential(nn.Flatten(), nn.Linear(64, 10)),
        progress=False,
    )
    assert proxy.selection_cost["samples"] == 3 * sub.size
    assert np.isnan(proxy.scores[np.setdiff1d(np.arange(1797), sub)]).all()
    assert set(proxy.indices.tolist()) <= set(sub.tolist())


# -- GraNd and EL2N: hand-computed values on a tiny network ----------------------------------------


def hand_grand(model: nn.Module, ds: ArrayDataset, seeds: list[int]) -> np.ndarray:
    x = images_of(ds)
    y = torch.from_numpy(ds.targets)
    out = np.zeros((len(seeds), len(ds)))
    for row, s in enumerate(seeds):
        torch.manual_seed(s)
        net = copy.deepcopy(model)
        net[1].reset_parameters()
        for i in range(len(ds)):
            loss = F.cross_entropy(net(x[i : i + 1]), y[i : i + 1])
            grads = torch.autograd.grad(loss, list(net.parameters()))
            out[row, i] = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads))
    return out.mean(axis=0)


@pytest.mark.parametrize("gradient", ["full", "last-layer"])
def test_grand_equals_hand_computed_gradient_norms(gradient: str) -> None:
    ds = tiny_images(24)
    model = linear()
    proxy = GraNdProxy(ds, 0.25, model=model, n_seeds=3, seed=5, gradient=gradient, progress=False)
    np.testing.assert_allclose(proxy.scores, hand_grand(model, ds, [5, 6, 7]), rtol=1e-5)
    assert proxy.selection_cost["samples"] == 3 * 24
    top = np.argsort(-proxy.scores, kind="stable")[:6]
    assert sorted(top.tolist()) == proxy.indices.tolist()


def test_grand_last_layer_closed_form_matches_autograd_on_a_deeper_net() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(9, 4), nn.Tanh(), nn.Linear(4, 3))
    x, y = torch.rand(5, 1, 3, 3), torch.tensor([0, 1, 2, 0, 1])
    got = grand_scores(net, x, y, "last-layer")
    for i in range(5):
        loss = F.cross_entropy(net(x[i : i + 1]), y[i : i + 1])
        g = torch.autograd.grad(loss, [net[3].weight, net[3].bias])
        assert got[i].item() == pytest.approx(math.sqrt(sum(float((t**2).sum()) for t in g)), rel=1e-5)


def test_el2n_equals_hand_computed_values_after_one_full_batch_step() -> None:
    ds = tiny_images(30)
    model = linear()
    lr = 0.5
    proxy = EL2NProxy(
        ds,
        0.4,
        model=model,
        epochs=1,
        n_seeds=2,
        seed=1,
        batch_size=30,
        lr=lr,
        momentum=0.0,
        weight_decay=0.0,
        progress=False,
    )
    x = images_of(ds).flatten(1).double()
    onehot = F.one_hot(torch.from_numpy(ds.targets), 3).double()
    expected = np.zeros(30)
    for s in (1, 2):
        torch.manual_seed(s)
        layer = copy.deepcopy(model)[1]
        layer.reset_parameters()
        w, b = layer.weight.detach().double(), layer.bias.detach().double()
        p = F.softmax(x @ w.T + b, dim=1)
        # one SGD step on the mean cross-entropy: ∇W = (1/n) Σ (p − e_y) xᵀ, ∇b = (1/n) Σ (p − e_y)
        w1 = w - lr * (p - onehot).T @ x / 30
        b1 = b - lr * (p - onehot).mean(dim=0)
        expected += torch.linalg.vector_norm(F.softmax(x @ w1.T + b1, dim=1) - onehot, dim=1).numpy() / 2
    np.testing.assert_allclose(proxy.scores, expected, rtol=1e-5)
    assert proxy.selection_cost["samples"] == 2 * (30 + 30)  # a training epoch and a scoring pass per run


# -- the entropy proxy: bins and sampled counts of a hand case ---------------------------------------


def test_entropy_bins_of_a_hand_case() -> None:
    log_h = np.array([-2.9, -2.6, -1.2, -1.1, -1.05, -0.3])
    bins = entropy_bins(10.0**log_h, 0.5, "p1")
    # low edge: round(-2.9) = -3; high edge: round(-0.3) = 0 → 6 bins of 0.5
    np.testing.assert_allclose(bins.edges, [-3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0])
    assert bins.bin_of.tolist() == [0, 0, 3, 3, 3, 5]
    assert bins.counts.tolist() == [2, 0, 0, 3, 0, 1]
    # P1: (max c − c + 1) on filled bins = [2, 0, 0, 1, 0, 3] / 6
    np.testing.assert_allclose(bins.bin_probability, [2 / 6, 0, 0, 1 / 6, 0, 3 / 6])
    np.testing.assert_allclose(bins.sample_probability, [1 / 6, 1 / 6, 1 / 18, 1 / 18, 1 / 18, 1 / 2])
    p3 = entropy_bins(10.0**log_h, 0.5, "p3")  # ∝ 1/c: [1/2, 1/3, 1] → per sample [1/4, 1/9, 1]
    np.testing.assert_allclose(
        p3.sample_probability, np.array([1 / 4, 1 / 4, 1 / 9, 1 / 9, 1 / 9, 1]) / (11 / 6)
    )
    p2 = entropy_bins(10.0**log_h, 0.5, "p2")  # bins equal: per sample [1/2, 1/3, 1] normalised
    np.testing.assert_allclose(p2.sample_probability, np.array([1 / 2, 1 / 2, 1 / 3, 1 / 3, 1 / 3, 1]) / 3)


def test_entropy_sampled_counts_follow_the_bin_probabilities() -> None:
    bins = entropy_bins(10.0 ** np.array([-2.9, -2.6, -1.2, -1.1, -1.05, -0.3]), 0.5)
    draws = 6000
    per_bin = np.zeros(6)
    for seed in range(draws):
        per_bin[bins.bin_of[entropy_sample(bins, 1, seed)]] += 1
    # one draw lands in bin j with probability bin_probability[j]: 1/3, 1/6, 1/2 (3-sigma bounds)
    for j, p in ((0, 1 / 3), (3, 1 / 6), (5, 1 / 2)):
        assert abs(per_bin[j] / draws - p) < 3 * math.sqrt(p * (1 - p) / draws)
    assert per_bin[[1, 2, 4]].sum() == 0
    assert entropy_sample(bins, 6, 0).tolist() == list(range(6))


def test_entropy_proxy_scores_a_given_reference_model() -> None:
    ds = tiny_images(40)
    torch.manual_seed(0)
    reference = linear()
    proxy = EntropyProxy(ds, 0.25, model=reference, bin_width=0.25, seed=2, progress=False)
    with torch.no_grad():
        expected = softmax_entropy(reference(images_of(ds))).numpy()
    np.testing.assert_allclose(proxy.scores, expected, rtol=1e-6)
    bins = entropy_bins(expected, 0.25, "p1")
    np.testing.assert_array_equal(proxy.indices, entropy_sample(bins, 10, 2))
    assert proxy.selection_cost["samples"] == 40  # one scoring pass, nothing trained
    assert proxy.resolved["reference"] == "given"


def test_softmax_entropy_by_hand() -> None:
    z = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    h = softmax_entropy(z).tolist()
    assert h[0] == pytest.approx(math.log(2))
    assert h[1] == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))


# -- the registry, the saved files and the selection cost ------------------------------------------


BASELINES = {
    "entropy": {"epochs": 1},
    "forgetting": {"epochs": 1},
    "grand": {"n_seeds": 1},
    "el2n": {"epochs": 1, "n_seeds": 1},
    "herding": {},
    "k-center": {},
}


@pytest.mark.parametrize("name", list(BASELINES))
def test_every_baseline_is_registered_saved_and_loaded(name: str, tmp_path) -> None:
    ds = tiny_images(45)
    kwargs = dict(BASELINES[name])
    if name not in ("herding", "k-center"):
        kwargs["model"] = linear()
    proxy = make_proxy(name, ds, ratio=0.2, seed=1, progress=False, **kwargs)
    assert proxy.method == name and proxy.indices.size == 9
    cost = proxy.selection_cost
    assert set(cost) == {"samples", "cpu_seconds", "wall_seconds"} and cost["cpu_seconds"] >= 0
    for suffix in (".json", ".npz"):
        path = tmp_path / f"p{suffix}"
        proxy.save(path)
        loaded = ProxySampler.load(path, ds)
        assert type(loaded) is type(proxy)
        np.testing.assert_array_equal(loaded.indices, proxy.indices)
        assert loaded.selection_cost == cost
    record = json.loads((tmp_path / "p.json").read_text())
    assert record["selection_cost"]["samples"] == cost["samples"]


def test_an_edited_selection_cost_is_refused(tmp_path) -> None:
    ds = tiny_images(30)
    proxy = make_proxy("herding", ds, ratio=0.3, progress=False)
    proxy.save(tmp_path / "p.json")
    record = json.loads((tmp_path / "p.json").read_text())
    record["selection_cost"]["samples"] = -1
    (tmp_path / "bad.json").write_text(json.dumps(record))
    with pytest.raises(CorruptStateError, match="selection_cost"):
        ProxySampler.load(tmp_path / "bad.json", ds)


def test_old_samplers_report_their_cost(digits) -> None:
    from proxydata import AutoencoderProxy

    sub = np.arange(0, 1797, 30)
    ae = AutoencoderProxy(digits, 0.5, epochs=2, indices=sub, progress=False)
    assert ae.selection_cost["samples"] == 2 * sub.size + sub.size  # two epochs, one scoring pass
    rs = make_proxy("rs", digits, ratio=0.5, progress=False)
    assert rs.selection_cost["samples"] == 0 and rs.selection_cost["wall_seconds"] == rs.fit_seconds


def test_baselines_refuse_bad_arguments_by_name() -> None:
    ds = tiny_images(30)
    with pytest.raises(ValueError, match="gradient"):
        GraNdProxy(ds, 0.5, gradient="half", progress=False)
    with pytest.raises(ValueError, match="bin_width"):
        EntropyProxy(ds, 0.5, bin_width=0.0, progress=False)
    with pytest.raises(ValueError, match="probability"):
        EntropyProxy(ds, 0.5, probability="p4", progress=False)
    with pytest.raises(ValueError, match="n_seeds"):
        EL2NProxy(ds, 0.5, n_seeds=0, progress=False)
    with pytest.raises(TypeError, match="model"):
        EL2NProxy(ds, 0.5, model="resnet", progress=False)
    with pytest.raises(ValueError, match="predictions"):
        ForgettingProxy(ds, 0.5, predictions=np.zeros((2, 7), dtype=int), progress=False)
    with pytest.raises(ValueError, match="memory_budget"):
        KCenterProxy(ds, 0.5, memory_budget=-1, progress=False)


@pytest.mark.parametrize("name", list(BASELINES))
def test_every_baseline_selects_within_a_split(name: str) -> None:
    ds = tiny_images(60)
    split = np.arange(1, 60, 2)  # 30 odd indices: classes 1, 0, 2, ...
    kwargs = dict(BASELINES[name])
    if name not in ("herding", "k-center"):
        kwargs["model"] = linear()
    proxy = make_proxy(name, ds, ratio=0.4, seed=2, indices=split, progress=False, **kwargs)
    assert set(proxy.indices.tolist()) <= set(split.tolist()) and proxy.indices.size == 12
    assert set(iter(proxy)) == set(proxy.indices.tolist())
    if proxy.scores is not None:
        assert np.isnan(proxy.scores[np.setdiff1d(np.arange(60), split)]).all()
    again = type(proxy)(ds, **proxy.get_params())
    np.testing.assert_array_equal(again.indices, proxy.indices)


def test_run_search_records_the_proxys_selection_cost(digits) -> None:
    from proxydata.experiment import SearchConfig, run_search

    config = SearchConfig(epochs=1, C=2, N=1, batch_size=30, proxy="herding", ratio=0.5, progress=False)
    record = run_search(digits, np.arange(0, 90), np.arange(90, 150), config)
    cost = record.proxy_selection_cost
    assert cost is not None and cost["samples"] == 0 and cost["cpu_seconds"] >= 0
    assert record.to_dict()["proxy_selection_cost"] == cost
    none = run_search(
        digits, np.arange(0, 90), np.arange(90, 150), SearchConfig(epochs=1, C=2, N=1, progress=False)
    )
    assert none.proxy_selection_cost is None


def test_the_cli_offers_every_baseline_and_reports_its_cost(capsys, tmp_path) -> None:
    from proxydata.cli import main
    from proxydata.cli.options import METHODS

    assert set(BASELINES) <= set(METHODS)
    out_file = tmp_path / "g.json"
    argv = ["select", "grand", "--data", "digits", "--ratio", "0.2", "--seeds", "1"]
    code = main([*argv, "--gradient", "last-layer", "--no-progress", "-o", str(out_file)])
    out = capsys.readouterr().out
    assert code == 0 and "selection cost: 1797 sample passes" in out
    assert json.loads(out_file.read_text())["params"]["gradient"] == "last-layer"
    code = main(["select", "herding", "--data", "digits", "--ratio", "0.2", "--seeds", "2", "--no-progress"])
    assert code == 2 and "--seeds applies only to EL2N/GRAND" in capsys.readouterr().err


def test_forgetting_from_recorded_predictions_saves_and_loads(tmp_path) -> None:
    from proxydata.samplers import SavedObject

    ds = tiny_images(6, classes=2)
    preds = np.array([[0, 1, 1, 0, 0, 1], [1, 1, 0, 1, 0, 0], [0, 0, 0, 0, 0, 1]])
    proxy = ForgettingProxy(ds, 0.5, predictions=preds, progress=False)
    proxy.save(tmp_path / "f.json")
    loaded = ProxySampler.load(tmp_path / "f.json", ds)
    np.testing.assert_array_equal(loaded.indices, proxy.indices)
    assert isinstance(loaded.predictions, SavedObject) and "(3, 6)" in loaded.predictions.description


# No optimizer and no torch.func: each rank would spend most of the test importing torch._dynamo.
DDP_KWARGS = {
    "herding": {},
    "k-center": {},
    "grand": {"n_seeds": 2, "gradient": "last-layer"},
    "entropy": {},
    "forgetting": {"predictions": np.random.default_rng(0).integers(0, 3, size=(4, 41))},
}


def _ddp_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        ds = tiny_images(41)
        record = {}
        for name, kwargs in DDP_KWARGS.items():
            if name in ("grand", "entropy"):
                torch.manual_seed(0)  # the entropy proxy's reference is used as given: the same on every rank
                kwargs = {**kwargs, "model": linear()}
            proxy = make_proxy(name, ds, ratio=0.5, seed=3, progress=False, **kwargs)
            shards = [None] * world
            dist.all_gather_object(shards, proxy.epoch_indices().tolist())
            record[name] = {"kept": proxy.indices.tolist(), "shards": shards, "replicas": proxy.num_replicas}
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump(record, f)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_every_baseline_shards_across_two_gloo_ranks(tmp_path) -> None:
    import time

    import torch.multiprocessing as mp

    ctx = mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=False)
    deadline = time.monotonic() + 300
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail("the ranks did not finish within 300 s (a hang in a collective?)")
    records = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for name in DDP_KWARGS:
        kept = records[0][name]["kept"]
        assert records[1][name]["kept"] == kept and len(kept) == 21  # same selection on both ranks
        a, b = records[0][name]["shards"]
        assert len(a) == len(b) == 11 and sorted(set(a) | set(b)) == kept
        assert records[0][name]["replicas"] == 2
