"""proxydata.nas: genotypes, the NAS-Bench-201 networks, the search loop and the table (issue 5)."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch.func import functional_call
from torch.utils.data import DataLoader, Dataset, Subset

import proxydata
from proxydata.nas import (
    EDGES,
    NB201_OPS,
    CellNetwork,
    Genotype,
    NB201Table,
    SearchNetwork,
    SearchResult,
    search,
    train_genotype,
)
from proxydata.nas.search import gdas_tau, unrolled_arch_grad
from proxydata.nas.spaces.nb201.ops import avg_pool_3x3

ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ----------------------------------------------------------------------------- genotypes
def test_parse_format_round_trip_over_all_cells() -> None:
    seen = set()
    for g in Genotype.all():
        text = str(g)
        assert Genotype.parse(text) == g
        seen.add(text)
    assert len(seen) == 5**6 == 15625


def test_format_matches_the_benchmark_string() -> None:
    g = Genotype(
        ("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_3x3", "nor_conv_1x1")
    )
    assert str(g) == BEST_C10
    assert g.edges[3] == (3, 0, "skip_connect")
    assert EDGES == ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


@pytest.mark.parametrize(
    "text",
    [
        "|skip_connect~0|+|skip_connect~0|skip_connect~1|",  # two groups
        "|skip_connect~0|+|skip_connect~1|skip_connect~0|+|none~0|none~1|none~2|",  # inputs out of order
        "|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|",  # unknown op
        "skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|",  # missing bar
        "|none~0|+|none~0|+|none~0|none~1|none~2|",  # wrong number of inputs
    ],
)
def test_parse_rejects_malformed_strings(text: str) -> None:
    with pytest.raises(ValueError):
        Genotype.parse(text)


def test_genotype_rejects_bad_ops() -> None:
    with pytest.raises(ValueError, match="6 operations"):
        Genotype(("none",) * 5)
    with pytest.raises(ValueError, match="conv_7x7"):
        Genotype(("none",) * 5 + ("conv_7x7",))


def test_from_alphas_by_hand() -> None:
    alphas = np.zeros((6, 5))
    alphas[0, 3] = 1.0  # nor_conv_3x3
    alphas[1, 0] = 2.0  # none takes part in the argmax (NB201 convention)
    alphas[2, 4] = 0.5  # avg_pool
    alphas[3, 1] = 0.1  # skip
    alphas[4, 2] = 3.0  # conv 1x1
    alphas[5] = [1.0, 1.0, 0.0, 0.0, 0.0]  # tie: first wins
    g = Genotype.from_alphas(torch.tensor(alphas))
    assert g.ops == ("nor_conv_3x3", "none", "avg_pool_3x3", "skip_connect", "nor_conv_1x1", "none")
    with pytest.raises(ValueError, match="shape"):
        Genotype.from_alphas(np.zeros((5, 5)))


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, (6, 5), elements=st.floats(-5, 5, allow_nan=False)))
def test_from_alphas_picks_the_argmax_of_every_edge(alphas: np.ndarray) -> None:
    g = Genotype.from_alphas(alphas)
    for e, op in enumerate(g.ops):
        k = NB201_OPS.index(op)
        assert alphas[e, k] == alphas[e].max()
        assert np.all(alphas[e, :k] < alphas[e, k])  # the first maximum


# ----------------------------------------------------------------------------- networks
def skeleton_params(C: int, in_channels: int, num_classes: int) -> int:
    """Stem + two ResNet blocks + last BN + classifier, counted by hand."""
    stem = in_channels * C * 9 + 2 * C
    block1 = C * 2 * C * 9 + 2 * 2 * C + 2 * C * 2 * C * 9 + 2 * 2 * C + C * 2 * C
    block2 = 2 * C * 4 * C * 9 + 2 * 4 * C + 4 * C * 4 * C * 9 + 2 * 4 * C + 2 * C * 4 * C
    return stem + block1 + block2 + 2 * 4 * C + 4 * C * num_classes + num_classes


def test_parameter_counts_of_known_cells() -> None:
    # all-skip cell: no cell parameters; NAS-Bench-201's smallest network (0.073 MB)
    assert skeleton_params(16, 3, 10) == 73306
    assert n_params(CellNetwork(ALL_SKIP, C=16, N=5)) == 73306
    all_none = str(Genotype(("none",) * 6))
    assert n_params(CellNetwork(all_none, C=16, N=5)) == 73306
    pools = str(Genotype(("avg_pool_3x3",) * 6))
    assert n_params(CellNetwork(pools, C=8, N=2, in_channels=1)) == skeleton_params(8, 1, 10)
    # best CIFAR-10 cell: four 3x3 and one 1x1 ReLU-Conv-BN per cell
    # per cell of width c: 4 (9c^2 + 2c) + (c^2 + 2c) = 37 c^2 + 10 c; N = 5 cells of 16, 32, 64
    per_stage = sum(37 * c * c + 10 * c for c in (16, 32, 64))
    assert n_params(CellNetwork(BEST_C10, C=16, N=5)) == 73306 + 5 * per_stage == 1073466


@pytest.mark.parametrize("size,in_channels", [(8, 1), (16, 3), (32, 3)])
def test_output_shapes(size: int, in_channels: int) -> None:
    x = torch.randn(4, in_channels, size, size)
    net = CellNetwork(BEST_C10, C=4, N=1, num_classes=7, in_channels=in_channels, seed=0)
    assert net(x).shape == (4, 7)
    for algo in ("darts", "gdas"):
        sup = SearchNetwork(C=4, N=1, num_classes=7, in_channels=in_channels, algo=algo, seed=0)
        assert sup(x).shape == (4, 7)
        assert sup.arch_parameters.shape == (6, 5)


def test_cell_with_a_dead_node_runs_and_matches_zero_input() -> None:
    # node 1 only has 'none' in: it is a zero map, and conv(1->3) then sees zeros (BN -> its bias)
    g = Genotype(("none", "skip_connect", "none", "none", "nor_conv_3x3", "none"))
    net = CellNetwork(g, C=2, N=1, in_channels=1, seed=0)
    out = net(torch.randn(3, 1, 8, 8))
    assert out.shape == (3, 10) and torch.isfinite(out).all()
    cell = net.cells[0]
    y = cell(torch.randn(5, 2, 4, 4))
    bn = cell.edge_ops["3<-1"].op[2]
    expected = bn.bias.view(1, 2, 1, 1).expand_as(y)  # BN of an all-zero map in training mode
    torch.testing.assert_close(y, expected)


def test_seeded_networks_are_identical_and_leave_the_global_rng_alone() -> None:
    state = torch.random.get_rng_state()
    a = SearchNetwork(C=4, N=1, seed=3)
    b = SearchNetwork(C=4, N=1, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    assert len(a.weight_parameters()) == len(list(a.parameters())) - 1


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 9),
    st.integers(1, 9),
)
def test_box_filter_pooling_equals_avg_pool2d(c: int, h: int, w: int) -> None:
    x = torch.randn(2, c, h, w, dtype=torch.float64)
    expected = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    torch.testing.assert_close(avg_pool_3x3(x), expected)


def _random_supernet(algo: str = "darts", **kwargs) -> SearchNetwork:
    net = SearchNetwork(C=3, N=1, num_classes=5, in_channels=2, algo=algo, seed=1, **kwargs).double()
    with torch.no_grad():
        net.arch_parameters.copy_(
            torch.randn(6, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        )
    return net


def _loss_and_grads(net: SearchNetwork, x: torch.Tensor, y: torch.Tensor) -> tuple[float, list[torch.Tensor]]:
    net.zero_grad()
    loss = F.cross_entropy(net(x), y)
    loss.backward()
    return loss.item(), [p.grad.clone() for p in net.parameters()]


def test_pruned_darts_forward_equals_the_naive_mixed_op() -> None:
    # fused edges, 'none' dropped and the box filter vs sum_k softmax(alpha)_k op_k(x), none as 0 * x
    net = _random_supernet()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 2, 8, 8, generator=g, dtype=torch.float64)
    y = torch.randint(0, 5, (6,), generator=g)
    loss_fast, grads_fast = _loss_and_grads(net, x, y)
    net.reference = True
    loss_ref, grads_ref = _loss_and_grads(net, x, y)
    assert loss_fast == pytest.approx(loss_ref, rel=1e-12)
    for a, b in zip(grads_fast, grads_ref):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    names = [n for n, _ in net.named_parameters()]
    alpha_grad = grads_fast[names.index("arch_parameters")]
    assert alpha_grad[:, 0].abs().max() > 0  # alpha_none still gets its softmax gradient


def test_gdas_forward_equals_the_sampled_mixed_op() -> None:
    net = _random_supernet("gdas")
    cell = net.cells[0]
    x = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    hardwts, index = net.gumbel_weights(torch.Generator().manual_seed(0))
    assert torch.equal(hardwts.detach(), F.one_hot(torch.tensor(index), 5).double())
    fast = cell.forward_gdas(x, hardwts, index, net._others(hardwts, index))
    torch.testing.assert_close(fast, cell.forward_darts_reference(x, hardwts))
    # the non-sampled weights receive the straight-through gradient sum(dL/d node)
    (grad,) = torch.autograd.grad(fast.sum(), net.arch_parameters)
    assert torch.isfinite(grad).all() and grad.abs().max() > 0


def test_gumbel_sampling_follows_the_generator_and_tau() -> None:
    net = SearchNetwork(C=2, N=1, algo="gdas", seed=0)
    _, a = net.gumbel_weights(torch.Generator().manual_seed(5))
    _, b = net.gumbel_weights(torch.Generator().manual_seed(5))
    assert a == b
    assert gdas_tau(0, 5, 10.0, 0.1) == 10.0
    assert gdas_tau(4, 5, 10.0, 0.1) == pytest.approx(0.1)
    assert gdas_tau(2, 5, 10.0, 0.1) == pytest.approx(5.05)
    assert gdas_tau(0, 1, 10.0, 0.1) == 10.0


# ----------------------------------------------------------------------------- DARTS-V2
def test_darts_v2_hypergradient_matches_finite_differences() -> None:
    net = _random_supernet()
    g = torch.Generator().manual_seed(2)
    x = torch.randn(8, 2, 8, 8, generator=g, dtype=torch.float64)
    y = torch.randint(0, 5, (8,), generator=g)
    xv = torch.randn(8, 2, 8, 8, generator=g, dtype=torch.float64)
    yv = torch.randint(0, 5, (8,), generator=g)
    lr, mom, wd = 0.1, 0.9, 5e-4
    names = [n for n, _ in net.named_weight_parameters()]
    weights = [p.detach().clone() for p in net.weight_parameters()]
    buffers = [0.1 * torch.randn(p.shape, generator=g, dtype=torch.float64) for p in weights]

    def unrolled_objective(alpha: torch.Tensor) -> float:
        """L_val(w - lr (mom m + grad_w L_train(w, alpha) + wd w), alpha), computed directly."""
        params = {n: w.clone().requires_grad_(True) for n, w in zip(names, weights)}
        params["arch_parameters"] = alpha
        loss = F.cross_entropy(functional_call(net, params, (x,)), y)
        grads = torch.autograd.grad(loss, [params[n] for n in names])
        stepped = {n: w - lr * (mom * m + gr + wd * w) for n, w, m, gr in zip(names, weights, buffers, grads)}
        stepped["arch_parameters"] = alpha
        with torch.no_grad():
            return F.cross_entropy(functional_call(net, stepped, (xv,)), yv).item()

    alpha0 = net.arch_parameters.detach().clone()
    h = 1e-5
    numeric = torch.zeros_like(alpha0)
    for e in range(6):
        for k in range(5):
            d = torch.zeros_like(alpha0)
            d[e, k] = h
            numeric[e, k] = (unrolled_objective(alpha0 + d) - unrolled_objective(alpha0 - d)) / (2 * h)
    dalpha, loss_val, _ = unrolled_arch_grad(
        net, x, y, xv, yv, lr=lr, momentum=mom, weight_decay=wd, momentum_buffers=buffers, hvp_eps=1e-4
    )
    assert loss_val.item() == pytest.approx(unrolled_objective(alpha0), rel=1e-10)
    torch.testing.assert_close(dalpha, numeric, rtol=1e-4, atol=1e-7)
    # the second-order term matters: the first-order gradient differs
    first = torch.autograd.grad(F.cross_entropy(net(xv), yv), net.arch_parameters)[0]
    assert (first - dalpha).abs().max() > 100 * (dalpha - numeric).abs().max()
    # weights restored exactly
    for p, w in zip(net.weight_parameters(), weights):
        assert torch.equal(p.detach(), w)


# ----------------------------------------------------------------------------- the loop
class Recording(Dataset):
    """Records every index read (num_workers=0)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.reads: list[int] = []

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        self.reads.append(int(i))
        return self.dataset[i]


@pytest.fixture(scope="module")
def tiny_digits():
    ds = proxydata.load_digits()
    idx = np.random.default_rng(0).permutation(len(ds))[:240]
    train, val = Subset(ds, idx[:120].tolist()), Subset(ds, idx[120:].tolist())
    return train, val


def _loaders(tiny_digits, batch_size: int = 32):
    train, val = tiny_digits
    gen = torch.Generator().manual_seed(0)
    return (
        DataLoader(train, batch_size=batch_size, shuffle=True, generator=gen),
        DataLoader(val, batch_size=batch_size, shuffle=True, generator=gen),
    )


@pytest.mark.parametrize("algo", ["darts-v1", "darts-v2", "gdas"])
def test_one_epoch_of_each_algorithm_changes_alpha(tiny_digits, algo: str) -> None:
    net = SearchNetwork(C=4, N=1, num_classes=10, in_channels=1, algo=algo, seed=0)
    before = net.arch_parameters.detach().clone()
    weights_before = [p.detach().clone() for p in net.weight_parameters()]
    train_loader, val_loader = _loaders(tiny_digits)
    result = search(net, train_loader, val_loader, algo=algo, epochs=1, seed=0, progress=False)
    assert isinstance(result, SearchResult)
    assert not torch.equal(net.arch_parameters.detach(), before)
    assert any(not torch.equal(p.detach(), w) for p, w in zip(net.weight_parameters(), weights_before))
    assert Genotype.parse(result.genotype) == net.genotype()
    assert result.genotypes == [result.genotype]
    np.testing.assert_array_equal(result.alphas, net.arch_parameters.detach().double().numpy())
    assert result.train_sizes == [120] and result.val_sizes == [120]
    assert result.train_set_sizes == [120] and result.val_set_sizes == [120]
    assert 0.0 <= result.train_acc[0] <= 1.0 and 0.0 <= result.val_acc[0] <= 1.0
    assert math.isfinite(result.train_loss[0]) and math.isfinite(result.val_loss[0])
    assert len(result.epoch_seconds) == 1 and result.search_seconds >= result.epoch_seconds[0] > 0
    assert result.taus == ([10.0] if algo == "gdas" else [])
    json.dumps(result.to_dict())  # JSON-able


def test_search_is_deterministic_under_a_seed_and_restores_the_rng(tiny_digits) -> None:
    outs = []
    for _ in range(2):
        net = SearchNetwork(C=2, N=1, num_classes=10, in_channels=1, algo="gdas", seed=0)
        train, val = tiny_digits
        state = torch.random.get_rng_state()
        # shuffle=True without a generator draws from the global RNG, which search() seeds
        r = search(
            net,
            DataLoader(train, batch_size=40, shuffle=True),
            DataLoader(val, batch_size=40, shuffle=True),
            algo="gdas",
            epochs=2,
            seed=7,
            progress=False,
        )
        assert torch.equal(torch.random.get_rng_state(), state)
        outs.append((r.alphas, r.train_loss))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    assert outs[0][1] == outs[1][1]


def test_static_proxy_sampler_processes_exactly_the_proxy(tiny_digits) -> None:
    train, val = tiny_digits
    recording = Recording(train)
    proxy = proxydata.ClassRandomProxy(train, ratio=0.5, seed=0)
    train_loader = DataLoader(recording, batch_size=16, sampler=proxy)
    val_loader = DataLoader(val, batch_size=16, shuffle=False)
    net = SearchNetwork(C=2, N=1, num_classes=10, in_channels=1, seed=0)
    r = search(net, train_loader, val_loader, epochs=2, progress=False)
    m = len(proxy.indices)
    assert m < len(train)
    assert r.train_sizes == [m, m] and r.train_set_sizes == [m, m]
    assert sorted(recording.reads) == sorted(proxy.indices.tolist() * 2)
    # one validation batch per training batch
    assert r.val_sizes == [16 * math.ceil(m / 16)] * 2
    # the loop pins the shuffle with set_epoch(0), set_epoch(1); iterating never advances it
    assert proxy.epoch == 1


class FakePruner:
    """Implements the BiLevelPruner contract: drops 10 training / 5 validation samples every 2 epochs."""

    def __init__(self, train_idx: np.ndarray, val_idx: np.ndarray) -> None:
        self.kept_train, self.kept_val = list(train_idx), list(val_idx)
        self.train_sampler = self._Sampler(self, "kept_train")
        self.val_sampler = self._Sampler(self, "kept_val")
        self.observed: list[np.ndarray] = []
        self.epoch = 0

    class _Sampler(torch.utils.data.Sampler):
        def __init__(self, owner: FakePruner, attr: str) -> None:
            self.owner, self.attr = owner, attr

        def __iter__(self):
            return iter(getattr(self.owner, self.attr))

        def __len__(self) -> int:
            return len(getattr(self.owner, self.attr))

    def observe(self, indices, logits: torch.Tensor) -> None:
        assert not logits.requires_grad and logits.shape == (len(indices), 10)
        self.observed.append(np.asarray(indices))

    def step(self) -> None:
        self.epoch += 1
        if self.epoch % 2 == 0:
            self.kept_train = self.kept_train[10:]
            self.kept_val = self.kept_val[5:]


def test_loop_drives_a_pruner_through_observe_and_step() -> None:
    ds = proxydata.IndexedDataset(proxydata.load_digits())
    train_idx, val_idx = np.arange(0, 60), np.arange(60, 100)
    pruner = FakePruner(train_idx, val_idx)
    train_loader = DataLoader(ds, batch_size=20, sampler=pruner.train_sampler)
    val_loader = DataLoader(ds, batch_size=20, sampler=pruner.val_sampler)
    net = SearchNetwork(C=2, N=1, num_classes=10, in_channels=1, seed=0)
    r = search(net, train_loader, val_loader, epochs=5, pruner=pruner, progress=False)
    assert pruner.epoch == 5
    assert r.train_sizes == [60, 60, 50, 50, 40]
    assert r.train_set_sizes == [60, 60, 50, 50, 40]
    assert r.val_set_sizes == [40, 40, 35, 35, 30]
    # observe alternates: validation batch (architecture step), then training batch (weight step)
    assert set(np.concatenate(pruner.observed[0::2]).tolist()) <= set(val_idx.tolist())
    assert set(np.concatenate(pruner.observed[1::2]).tolist()) <= set(train_idx.tolist())
    assert sum(len(o) for o in pruner.observed[1::2]) == sum(r.train_sizes)


def test_loop_needs_indices_with_a_pruner(tiny_digits) -> None:
    train, val = tiny_digits  # (x, y) items
    pruner = FakePruner(np.arange(10), np.arange(10, 20))
    net = SearchNetwork(C=2, N=1, in_channels=1, seed=0)
    with pytest.raises(ValueError, match="IndexedDataset"):
        search(net, DataLoader(train, batch_size=8), DataLoader(val, batch_size=8), epochs=1, pruner=pruner,
               progress=False)  # fmt: skip


def test_real_pruner_epoch_sizes_follow_its_schedule() -> None:
    pruner_cls = proxydata.BiLevelPruner
    if not hasattr(pruner_cls, "pruning_schedule"):
        pytest.skip("BiLevelPruner (issue 4) is not implemented yet")
    digits = proxydata.load_digits()
    ds = proxydata.IndexedDataset(digits)
    train_idx, val_idx = proxydata.split_indices(300, 0.5, seed=0, stratify=digits.targets[:300])
    pruner = pruner_cls(digits.targets, train_idx, val_idx, epochs=5, interval=2,
                        train_prune_ratio=0.2, val_prune_ratio=0.2, seed=0)  # fmt: skip
    train_loader = DataLoader(ds, batch_size=50, sampler=pruner.train_sampler)
    val_loader = DataLoader(ds, batch_size=50, sampler=pruner.val_sampler)
    net = SearchNetwork(C=2, N=1, num_classes=10, in_channels=1, seed=0)
    r = search(net, train_loader, val_loader, epochs=5, pruner=pruner, progress=False)
    n_t, n_v = len(train_idx), len(val_idx)
    hist = pruner.history
    assert pruner.epoch == 5 and len(hist) == 5
    # the loaders served the kept sets: full in epochs 0-1, pruned after epochs 2 and 4
    assert r.train_set_sizes == [n_t] + [h["n_train"] for h in hist[:-1]]
    assert r.val_set_sizes == [n_v] + [h["n_val"] for h in hist[:-1]]
    assert r.train_sizes == r.train_set_sizes
    schedule = pruner.pruning_schedule()
    assert [epoch for epoch, _, _ in schedule] == [2, 4]
    for epoch, ideal_train, ideal_val in schedule:
        entry = hist[epoch - 1]
        assert entry["pruning_step"]
        # the ideal sizes, unless class caps / missing VoEs held samples back (recorded)
        assert entry["n_train"] == ideal_train + sum(
            h["train"]["held_back"] for h in hist[:epoch] if h["train"]
        )
        assert entry["n_val"] == ideal_val + sum(h["val"]["held_back"] for h in hist[:epoch] if h["val"])
    assert r.train_set_sizes[2] < n_t and r.train_set_sizes[4] < r.train_set_sizes[2]
    assert pruner.epoch == 5


def test_callbacks_see_each_epoch_and_can_stop(tiny_digits) -> None:
    seen = []

    def cb(epoch: int, result: SearchResult, network: SearchNetwork) -> bool:
        seen.append((epoch, result.epochs, result.genotype == str(network.genotype())))
        return epoch == 1

    net = SearchNetwork(C=2, N=1, num_classes=10, in_channels=1, seed=0)
    r = search(net, *_loaders(tiny_digits, 60), epochs=4, callbacks=[cb], progress=False)
    assert seen == [(0, 1, True), (1, 2, True)]
    assert r.epochs == 2


def test_search_argument_errors(tiny_digits) -> None:
    loaders = _loaders(tiny_digits)
    net = SearchNetwork(C=2, N=1, in_channels=1, seed=0)
    with pytest.raises(ValueError, match="algo='gdas'"):
        search(net, *loaders, algo="gdas", epochs=1, progress=False)
    with pytest.raises(ValueError, match="algo"):
        search(net, *loaders, algo="not-an-algorithm", epochs=1, progress=False)
    with pytest.raises(ValueError, match="epochs"):
        search(net, *loaders, epochs=0, progress=False)
    with pytest.raises(TypeError, match="network"):
        search(torch.nn.Linear(2, 2), *loaders, epochs=1, progress=False)
    with pytest.raises(TypeError, match="pruner"):
        search(net, *loaders, epochs=1, pruner=object(), progress=False)
    with pytest.raises(ValueError, match="tau_min"):
        search(net, *loaders, epochs=1, tau_min=20.0, progress=False)
    with pytest.raises(ValueError, match="w_lr"):
        search(net, *loaders, epochs=1, w_lr=-1.0, progress=False)


def test_train_genotype_learns_digits() -> None:
    ds = proxydata.load_digits()
    idx = np.random.default_rng(1).permutation(len(ds))
    train = DataLoader(Subset(ds, idx[:400].tolist()), batch_size=50, shuffle=True)
    test = DataLoader(Subset(ds, idx[400:600].tolist()), batch_size=100)
    out = train_genotype(BEST_C10, train, test, epochs=4, C=4, N=1, in_channels=1, lr=0.05, progress=False)
    assert out.genotype == BEST_C10
    assert len(out.train_loss) == 4 and out.train_loss[-1] < out.train_loss[0]
    assert out.test_acc > 0.3  # 10 classes: chance is 0.1
    assert out.params == n_params(CellNetwork(BEST_C10, C=4, N=1, in_channels=1))


# ----------------------------------------------------------------------------- the table
@pytest.fixture(scope="module")
def nb201_path(shared_data_dir: Path) -> Path:
    path = shared_data_dir / "nb201_accuracies.csv.gz"
    if not path.is_file():
        pytest.skip(f"nb201_accuracies.csv.gz not found in {str(shared_data_dir)!r}")
    return path


def test_table_returns_the_published_optima(nb201_path: Path) -> None:
    table = NB201Table(nb201_path)
    assert len(table) == 15625
    assert "cifar10_test_200ep" in table.columns and "index" not in table.columns
    arch, best = table.best("cifar10_test_200ep")
    assert arch == BEST_C10 and round(best, 2) == 94.37
    assert table.index_of(arch) == 6111
    skip = table.lookup(ALL_SKIP)
    assert round(skip["cifar10_test_200ep"], 2) == 54.30
    assert round(skip["cifar100_test_200ep"], 2) == 15.61
    assert table.index_of(Genotype.parse(ALL_SKIP)) == 1835
    assert round(table.best("cifar100_test_200ep")[1], 2) == 73.51


def test_table_from_the_environment(nb201_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PROXYDATA_NB201_TABLE", str(nb201_path))
    assert len(NB201Table()) == 15625


def test_table_errors(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PROXYDATA_NB201_TABLE", raising=False)
    with pytest.raises(ValueError, match="PROXYDATA_NB201_TABLE"):
        NB201Table()
    with pytest.raises(ValueError, match="does not name a file"):
        NB201Table(tmp_path / "missing.csv.gz")
    bad = tmp_path / "bad.csv"
    bad.write_text("genotype,acc\nx,1\n")
    with pytest.raises(ValueError, match="arch_str"):
        NB201Table(bad)
    small = tmp_path / "small.csv.gz"
    with gzip.open(small, "wt") as fh:
        fh.write(f"arch_str,acc,note\n{ALL_SKIP},54.3,a\n{BEST_C10},94.37,b\n")
    table = NB201Table(small)
    assert table.columns == ("acc",)  # 'note' is not numeric
    assert table.lookup(BEST_C10) == {"acc": 94.37}
    assert table.best("acc") == (BEST_C10, 94.37)
    unknown = str(Genotype(("none",) * 6))
    assert unknown not in table
    with pytest.raises(ValueError, match="not in table"):
        table.lookup(unknown)
    with pytest.raises(ValueError, match="unknown operation"):
        table.lookup("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(ValueError, match="column"):
        table.best("cifar10")
    with pytest.raises(ValueError, match="index"):
        table.index_of(BEST_C10)
